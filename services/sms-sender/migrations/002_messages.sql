-- Messages, their segments and their status history, range-partitioned by month so that
-- retention is a partition drop. Monthly partitions are created ahead by the service at
-- start-up; the DEFAULT partitions only catch what falls outside them.

CREATE TABLE messages (
    id             uuid        NOT NULL,
    accepted_at    timestamptz NOT NULL,
    partner_id     uuid,                       -- NULL: the provider's own system message
    recipient      text        NOT NULL,
    source_addr    text        NOT NULL,
    content        text        NOT NULL,
    category       text        NOT NULL,
    product_code   text,
    client_ref     text,
    callback_url   text,
    notify_submitted boolean   NOT NULL DEFAULT false,
    encoding       text        NOT NULL,
    segments_total smallint    NOT NULL,
    status         text        NOT NULL DEFAULT 'accepted',
    error          text,
    submitted_at   timestamptz,
    done_at        timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, accepted_at)
) PARTITION BY RANGE (accepted_at);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;
CREATE INDEX messages_partner_client_ref ON messages (partner_id, client_ref, accepted_at) WHERE client_ref IS NOT NULL;
CREATE INDEX messages_partner_accepted ON messages (partner_id, accepted_at);

CREATE TABLE segments (
    message_id      uuid        NOT NULL,
    seq             smallint    NOT NULL,
    accepted_at     timestamptz NOT NULL,
    status          text        NOT NULL,      -- submitted | delivered | failed
    smsc_message_id text,
    smpp_status     integer,
    receipt_stat    text,
    attempts        integer     NOT NULL DEFAULT 1,
    submitted_at    timestamptz,
    done_at         timestamptz,
    PRIMARY KEY (message_id, seq, accepted_at)
) PARTITION BY RANGE (accepted_at);
CREATE TABLE segments_default PARTITION OF segments DEFAULT;
CREATE INDEX segments_smsc_id ON segments (smsc_message_id);

-- Receipts that arrived before we had recorded the submit_sm_resp they belong to.
CREATE TABLE early_receipts (
    smsc_message_id text        PRIMARY KEY,
    stat            text        NOT NULL,
    err             text,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- The partner pull API (GET /v1/status-events?cursor=) reads this; id is the cursor.
CREATE TABLE status_events (
    id          bigserial   NOT NULL,
    occurred_at timestamptz NOT NULL,
    partner_id  uuid,
    message_id  uuid        NOT NULL,
    status      text        NOT NULL,
    body        jsonb       NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE status_events_default PARTITION OF status_events DEFAULT;
CREATE INDEX status_events_partner_cursor ON status_events (partner_id, id);

CREATE TABLE idempotency_keys (
    partner_id     uuid        NOT NULL,
    key            text        NOT NULL,
    request_sha256 text        NOT NULL,
    response       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, key)
);

CREATE TABLE callback_secrets (
    partner_id uuid        PRIMARY KEY,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE callback_deliveries (
    id              bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    partner_id      uuid        NOT NULL,
    message_id      uuid        NOT NULL,
    url             text        NOT NULL,
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callback_deliveries_partner_dead ON callback_deliveries (partner_id, id) WHERE state = 'dead';

-- Who may receive what, kept from subscription.events (filled by the subscription issue).
CREATE TABLE opt_outs (
    msisdn     text        PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE active_subscriptions (
    msisdn       text NOT NULL,
    product_code text NOT NULL,
    PRIMARY KEY (msisdn, product_code)
);

-- Parts of concatenated MO messages until all have arrived.
CREATE TABLE mo_parts (
    msisdn      text        NOT NULL,
    destination text        NOT NULL,
    reference   integer     NOT NULL,
    total       smallint    NOT NULL,
    seq         smallint    NOT NULL,
    data_coding smallint    NOT NULL,
    payload     bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (msisdn, destination, reference, total, seq)
);
