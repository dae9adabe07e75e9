-- An Idempotency-Key answers replays for 24 hours; after that the retention job deletes it,
-- oldest first through this index (every request with a key adds a row: 43 M a day at 500/s).
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
