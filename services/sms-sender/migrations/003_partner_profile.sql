ALTER TABLE partners
    ADD COLUMN signature           text,
    ADD COLUMN signature_placement text NOT NULL DEFAULT 'prepend',
    ADD COLUMN access_number       text,
    ADD COLUMN rate_limit_per_s    integer;
