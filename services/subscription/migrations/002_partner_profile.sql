-- The partner's sending profile, carried to the sms-sender in partner.* events.
ALTER TABLE partners
    ADD COLUMN signature           text,
    ADD COLUMN signature_placement text    NOT NULL DEFAULT 'prepend' CHECK (signature_placement IN ('prepend', 'require')),
    ADD COLUMN access_number       text,
    ADD COLUMN rate_limit_per_s    integer CHECK (rate_limit_per_s > 0);
