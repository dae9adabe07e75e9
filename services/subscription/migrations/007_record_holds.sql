-- Holds per (number, holder). A user's records are kept past the retention horizon while any
-- holder remains: a legal hold (`legal`, or `legal:<name>` when the operator keeps several apart)
-- or an open billing or subscription complaint's dispute hold (`complaint:<complaint id>`, from
-- complaint.events), so releasing one never lifts another. The one legal hold a number could
-- have so far becomes the holder `legal`.
CREATE TABLE record_holds (
    msisdn      text        NOT NULL,
    holder      text        NOT NULL,
    reason      text        NOT NULL,
    placed_at   timestamptz NOT NULL,
    PRIMARY KEY (msisdn, holder)
);
INSERT INTO record_holds (msisdn, holder, reason, placed_at)
SELECT msisdn, 'legal', reason, placed_at FROM legal_holds;
DROP TABLE legal_holds;

-- Refunds a complaint asked for (complaint.refund_requested), each handled once by its request
-- id whatever the redeliveries: the refund made (refund_id) or why it was refused. Kept as long
-- as the user's other records.
CREATE TABLE refund_requests (
    id              uuid        PRIMARY KEY,
    complaint_id    uuid        NOT NULL,
    msisdn          text        NOT NULL,
    charge_id       uuid        NOT NULL,
    amount_fen      integer     NOT NULL,
    refund_id       uuid,       -- the negative charge; NULL when refused
    refused_code    text,
    handled_at      timestamptz NOT NULL
);
CREATE INDEX refund_requests_handled ON refund_requests (handled_at);
