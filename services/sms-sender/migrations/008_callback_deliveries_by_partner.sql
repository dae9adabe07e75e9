-- The callback worker claims due deliveries partner by partner (each up to its free slots), so
-- one partner's backlog never hides another's: it walks the partners that have pending
-- deliveries and, for each, its earliest due ones.
CREATE INDEX callback_deliveries_partner_due ON callback_deliveries (partner_id, next_attempt_at)
    WHERE state = 'pending';
