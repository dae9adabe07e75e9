-- Maintenance notices (incident.events) sent to subscribers: one row per (window, notice,
-- subscriber), written with the SMS request in one transaction, so a notice redelivered, or
-- handled by two replicas, reaches each subscriber once. Kept as a record of who was told what.
CREATE TABLE maintenance_notices_sent (
    window_id   uuid        NOT NULL,
    notice      integer     NOT NULL,   -- the incident service's notice number of the window
    msisdn      text        NOT NULL,
    request_id  uuid        NOT NULL,   -- the sms.send-requests id (the message id at the sms-sender)
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (window_id, notice, msisdn)
);

-- The active subscribers of a product in number order: a notice pages through them.
CREATE INDEX subscriptions_active_by_product ON subscriptions (product_id, msisdn) WHERE status = 'active';
