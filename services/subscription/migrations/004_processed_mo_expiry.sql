-- An MO id is kept while the MO could be delivered again; the retention job deletes older ids
-- through this index (one row per MO: 43 M a day at 500 MO/s).
CREATE INDEX processed_mo_processed_at ON processed_mo (processed_at);
