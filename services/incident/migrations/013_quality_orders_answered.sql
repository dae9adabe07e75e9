-- Service quality: whether an expired order's user had answered while it waited
-- (subscription.expired's `answered`): true = failed, on us (an answer we could not read, a Y<n>
-- we could not match); false = never answered (counted apart); NULL = not known (the order did
-- not expire, or its event came before the field existed: then the rate is a lower bound).
ALTER TABLE quality_orders ADD COLUMN answered boolean;
