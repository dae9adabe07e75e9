-- Users whose records are kept past the 6-month retention (from user.legal_hold_changed).
CREATE TABLE legal_holds (
    msisdn     text        PRIMARY KEY,
    updated_at timestamptz NOT NULL
);
