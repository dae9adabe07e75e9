-- Service quality: whether an expired order's user had answered while it waited
-- (subscription.expired's `answered`): true = failed, on us (an answer we could not read, a Y<n>
-- we could not match); false = never answered (counted apart); NULL = not known (the order did
-- not expire, or its event came before the field existed: then the rate is a lower bound).
ALTER TABLE quality_orders ADD COLUMN answered boolean;

-- What the sms-sender's content review blocked (sms.content_rejected on sms.status: no text, no
-- numbers), per Shanghai day, partner, message category and the review rule's category that
-- matched: refused requests and the recipients they named. Counted once per record by the
-- watermark in quality_offsets (the sums are added, as the other roll-ups are).
CREATE TABLE quality_content_blocked (
    day            date    NOT NULL,
    partner_id     uuid    NOT NULL,
    category       text    NOT NULL,
    rule_category  text    NOT NULL,
    requests       bigint  NOT NULL,
    recipients     bigint  NOT NULL,
    PRIMARY KEY (day, partner_id, category, rule_category)
);
