-- The fate of each order's confirmation SMS, learnt from sms.status while the order waits, and why
-- an order expired (subscription.expired's `reason`): the registration success rate counts the
-- failures on our side by it. Nullable columns without a default: adding them rewrites nothing.
--   confirmation_request_id: the sms.send-requests id of the confirmation SMS (the sms-sender's
--     message id); NULL for orders placed before it was kept (their delivery is not known).
--   confirmation_outcome: the strongest final outcome seen of it (delivered > failed > expired >
--     unknown: a delivered receipt wins over a give-up however the statuses were ordered);
--     NULL while no final status came.
--   confirmation_outcome_at: when that outcome happened (the sms-sender's done time).
--   expiry_reason: set when the order expires; NULL for other orders and those expired before.
ALTER TABLE subscriptions
    ADD COLUMN confirmation_request_id uuid,
    ADD COLUMN confirmation_outcome    text CHECK (confirmation_outcome IN ('delivered', 'failed', 'expired', 'unknown')),
    ADD COLUMN confirmation_outcome_at timestamptz,
    ADD COLUMN expiry_reason           text CHECK (expiry_reason IN ('answer_unmatched', 'confirmation_undelivered',
                                                                     'confirmation_late', 'never_answered'));

-- Statuses of system messages are matched against waiting orders only: the index holds those.
CREATE INDEX subscriptions_pending_confirmation ON subscriptions (confirmation_request_id)
    WHERE status = 'pending' AND confirmation_request_id IS NOT NULL;
