-- Service quality (incident.quality), from subscription.events and sms.mo: registration success
-- per order and the unsubscription path (TD / 0000 / 00000 -> cancellation effective, and what
-- reached the user after it). Counted once per record by the watermark in quality_offsets; the
-- rows below are also keyed so that a record seen twice changes nothing.
--
-- These are per order / per unsubscription rows, not per message: orders and cancellations are
-- user actions (thousands a day), not the 500 msg/s the delay roll-ups absorb. Numbers are a
-- keyed hash (HMAC-SHA256, the service key below), never the MSISDN.

INSERT INTO service_keys (name, value)
VALUES ('quality_msisdn_hash', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

-- An order (subscription.requested) and what became of it: confirmed, expired (no Y within the
-- window: the events do not say whether the user answered), withdrawn (cancelled or ended
-- before a Y). requested_at NULL: the order's request was not seen (not counted).
CREATE TABLE quality_orders (
    subscription_id  uuid        PRIMARY KEY,
    msisdn_hash      bytea       NOT NULL,
    product_code     text        NOT NULL,
    requested_at     timestamptz,
    outcome          text        CHECK (outcome IN ('confirmed', 'expired', 'withdrawn')),
    confirmed_at     timestamptz,
    decided_at       timestamptz
);
CREATE INDEX quality_orders_requested ON quality_orders (requested_at);
CREATE INDEX quality_orders_confirmed ON quality_orders (msisdn_hash, product_code, confirmed_at)
    WHERE confirmed_at IS NOT NULL;

-- A user's unsubscription request by SMS (TD…, 退订…, 取消…, 0000, 00000, or a menu number),
-- at its reception.
CREATE TABLE quality_unsub_requests (
    msisdn_hash  bytea        NOT NULL,
    received_at  timestamptz  NOT NULL,
    PRIMARY KEY (msisdn_hash, received_at)
);

-- A subscription cancelled (subscription.cancelled), when it took effect.
CREATE TABLE quality_cancellations (
    subscription_id  uuid         PRIMARY KEY,
    msisdn_hash      bytea        NOT NULL,
    product_code     text         NOT NULL,
    cancelled_at     timestamptz  NOT NULL
);
CREATE INDEX quality_cancellations_user ON quality_cancellations (msisdn_hash, product_code, cancelled_at);
CREATE INDEX quality_cancellations_at ON quality_cancellations (cancelled_at);

-- What reached a user after an unsubscription (the promise: none): a message of the product
-- (sms.status, submitted) accepted after the cancellation with no new subscription between, or a
-- charge of the cancelled subscription for a later month (or per message) after it. Keyed by the
-- message or charge: a copy of the event adds nothing.
CREATE TABLE quality_unsub_violations (
    kind             text         NOT NULL CHECK (kind IN ('message', 'charge')),
    ref              uuid         NOT NULL,
    subscription_id  uuid         NOT NULL,
    at               timestamptz  NOT NULL,
    PRIMARY KEY (kind, ref)
);
CREATE INDEX quality_unsub_violations_at ON quality_unsub_violations (at);
