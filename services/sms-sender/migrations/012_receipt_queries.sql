-- Receipt reconciliation: a segment still 'submitted' long after its submit is asked about
-- (query_sm); queried_at spaces the questions. The partial index holds only segments awaiting
-- their receipt, so the sweep reads few rows however many messages are kept.
ALTER TABLE segments ADD COLUMN queried_at timestamptz;
CREATE INDEX segments_awaiting_receipt ON segments (submitted_at) WHERE status = 'submitted';
