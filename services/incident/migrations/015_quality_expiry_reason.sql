-- Service quality: why an expired order expired (subscription.expired's `reason`):
-- answer_unmatched, confirmation_undelivered, confirmation_late (failures on our side) or
-- never_answered (counted apart). NULL for an order that did not expire, or whose expiry event came
-- before the field existed: then `answered` judges it as before (true: failed, false: apart).
ALTER TABLE quality_orders ADD COLUMN expiry_reason text;
