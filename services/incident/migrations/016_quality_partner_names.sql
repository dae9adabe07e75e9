-- Service quality (incident.quality): partners' names, learnt from subscription.events (the
-- partner events carry the whole state with a growing revision), so the staff report names a
-- partner instead of showing its id. The newest revision wins whatever the delivery order.
CREATE TABLE quality_partners (
    partner_id  uuid    PRIMARY KEY,
    name        text    NOT NULL,
    revision    bigint  NOT NULL
);
