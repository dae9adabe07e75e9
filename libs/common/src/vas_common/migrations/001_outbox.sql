-- Transactional outbox: a row written in the same transaction as the state change it announces.
-- The relay publishes rows in id order and deletes them once the broker has acknowledged them.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea,
    value      bytea       NOT NULL,
    headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
