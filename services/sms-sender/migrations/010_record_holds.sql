-- Holds per (number, holder), from user.legal_hold_changed (legal holds: `legal`, `legal:<name>`)
-- and complaint.hold_placed/released (a complaint's dispute hold: `complaint:<complaint id>`). A
-- user's records are kept past the retention horizon while any holder remains, so releasing one
-- never lifts another. The one hold a number could have so far becomes the holder `legal`.
CREATE TABLE record_holds (
    msisdn      text        NOT NULL,
    holder      text        NOT NULL,
    reason      text,
    placed_at   timestamptz NOT NULL,
    PRIMARY KEY (msisdn, holder)
);
INSERT INTO record_holds (msisdn, holder, placed_at)
SELECT msisdn, 'legal', updated_at FROM legal_holds;
DROP TABLE legal_holds;
