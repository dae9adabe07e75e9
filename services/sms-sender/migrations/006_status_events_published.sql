-- sms.status is published from status_events itself, not from an outbox row of its own: one
-- row per status change instead of two, and nothing to delete. The relay reads, in (xid, id)
-- order, the rows of transactions that have ended, and keeps in status_relay how far it got.
-- Rows written before this migration have no xid and were published through the outbox.
ALTER TABLE status_events ADD COLUMN xid xid8;
ALTER TABLE status_events ADD COLUMN event bytea;
ALTER TABLE status_events ADD COLUMN trace jsonb;
CREATE INDEX status_events_relay ON status_events (xid, id) WHERE xid IS NOT NULL;

CREATE TABLE status_relay (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid       xid8    NOT NULL,
    id        bigint  NOT NULL
);
INSERT INTO status_relay (xid, id) VALUES (pg_current_xact_id(), 0);
