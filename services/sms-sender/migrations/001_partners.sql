-- sms-sender's own copy of the partners, kept from subscription.events (partner.*).
CREATE TABLE partners (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL,
    status         text        NOT NULL,
    api_key_sha256 text        NOT NULL UNIQUE,
    revision       integer     NOT NULL,
    updated_at     timestamptz NOT NULL
);
