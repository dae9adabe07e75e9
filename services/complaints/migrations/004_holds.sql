-- The dispute hold of each billing or subscription complaint: placed when it is opened (and when
-- it is reopened after being closed), released when it is closed. One row per complaint, so each
-- transition is announced once (complaint.hold_placed / complaint.hold_released, written to the
-- outbox with it) whatever the retries.
CREATE TABLE complaint_holds (
    complaint_id    uuid        PRIMARY KEY REFERENCES complaints (id),
    msisdn          text        NOT NULL,
    holder          text        NOT NULL,       -- complaint:<complaint id>, as the other services know it
    placed_at       timestamptz NOT NULL,       -- the latest placement
    released_at     timestamptz,                -- NULL while held
    placements      integer     NOT NULL DEFAULT 1
);
CREATE INDEX complaint_holds_msisdn ON complaint_holds (msisdn) WHERE released_at IS NULL;

-- Refunds asked for by resolving a billing complaint (complaint.refund_requested), and what the
-- subscription service answered (billing.refunded / billing.refund_failed), settled once.
CREATE TABLE complaint_refunds (
    request_id          uuid        PRIMARY KEY,   -- the idempotency key the subscription service keeps
    complaint_id        uuid        NOT NULL REFERENCES complaints (id),
    event_id            uuid        NOT NULL UNIQUE REFERENCES complaint_events (id),  -- the resolution
    msisdn              text        NOT NULL,
    charge_id           uuid        NOT NULL,
    amount_fen          integer     NOT NULL CHECK (amount_fen > 0),
    reason              text        NOT NULL,
    requested_at        timestamptz NOT NULL,
    outcome             text        CHECK (outcome IN ('refunded', 'failed')),  -- NULL while waiting
    refund_charge_id    uuid,       -- the negative charge the subscription service made
    failure_code        text,
    settled_at          timestamptz
);
CREATE INDEX complaint_refunds_complaint ON complaint_refunds (complaint_id);
