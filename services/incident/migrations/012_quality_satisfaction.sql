-- Service quality (incident.quality): the satisfaction replies (1-5) users send the complaints
-- service (complaint.updated with change satisfaction_recorded), per day (Asia/Shanghai) and
-- score, for the SERVQUAL gap 5 (what users expected vs what they perceived). Counted once per
-- record by the watermark in quality_offsets.

CREATE TABLE quality_satisfaction_days (
    day      date     NOT NULL,
    score    smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    replies  bigint   NOT NULL,
    PRIMARY KEY (day, score)
);

-- Records kept 6 months: no event says what the other services' stores still hold, so a
-- supervisor reports each one's oldest record (read from that service), with who and when; the
-- latest report per store is the report's figure (and says it is reported, not measured).
CREATE TABLE quality_records_reported (
    store             text         PRIMARY KEY,
    oldest_record_at  timestamptz  NOT NULL,
    note              text         NOT NULL,
    reported_by       text         NOT NULL,
    reported_at       timestamptz  NOT NULL
);
