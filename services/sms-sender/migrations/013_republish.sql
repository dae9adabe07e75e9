-- Republishing (issue #17): a message still `accepted` (no segment recorded) some minutes after
-- its accept lost its submit record (a broker that lost its data, a topic made again); the
-- republish sweep writes its submit record to the outbox again and notes when and how often
-- here, so that concurrent sweeps never republish one message twice in a round and each next
-- republish waits longer. The partial index holds only the messages not yet sent (a handful
-- when all is well): the sweep and the oldest-accepted gauge read it instead of the months.
ALTER TABLE messages ADD COLUMN republished_at timestamptz,
                     ADD COLUMN republish_count integer NOT NULL DEFAULT 0;
CREATE INDEX messages_awaiting_dispatch ON messages (accepted_at) WHERE status = 'accepted';
