-- Service quality (incident.quality): the notices of the subscription service's scheduled
-- changes, from subscription.events: a product's discontinuation (product.discontinuation_scheduled,
-- at least 30 days' notice) and a user's suspension (subscription.suspension_scheduled, at least
-- 24 hours'; only those that told someone). One row per change under its natural key, so a copy
-- of the event adds nothing; the report judges each change that takes effect in the period by
-- its notice time. `subject`: the product id, or the number's keyed hash (never the MSISDN).
CREATE TABLE quality_notices (
    kind          text         NOT NULL CHECK (kind IN ('discontinuation', 'suspension')),
    subject       text         NOT NULL,
    effective_at  timestamptz  NOT NULL,
    noticed_at    timestamptz  NOT NULL,
    PRIMARY KEY (kind, subject, effective_at)
);
CREATE INDEX quality_notices_effective ON quality_notices (effective_at);
