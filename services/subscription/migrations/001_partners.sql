CREATE TABLE partners (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    status         text        NOT NULL CHECK (status IN ('active', 'suspended')),
    api_key_id     text        NOT NULL,
    api_key_sha256 text        NOT NULL UNIQUE,
    revision       integer     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL
);
