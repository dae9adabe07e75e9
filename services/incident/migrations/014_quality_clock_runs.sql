-- Service quality (incident.quality): complaint clock attainment from complaint.events. Each run
-- of a clock is a row under its natural key: complaint.sla_breached makes it 'breached' (unless
-- it was told stopped already), complaint.clock_stopped makes it 'met' or 'met_late' whatever came
-- before, so redelivery and either order give the same row. A run belongs to the Asia/Shanghai
-- day of its due time, or of its start when it stopped with none (paused), as the complaints
-- service's attainment report counts it. Rows, not per-minute roll-ups: a month has thousands of
-- runs, not billions.
CREATE TABLE quality_clock_runs (
    complaint_id  uuid        NOT NULL,
    clock         text        NOT NULL,
    started_at    timestamptz NOT NULL,
    day           date        NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('met', 'met_late', 'breached')),
    PRIMARY KEY (complaint_id, clock, started_at)
);
CREATE INDEX quality_clock_runs_day ON quality_clock_runs (day);

-- The breaches per day that this table replaces: they named no run, so they cannot become rows;
-- the complaints service's own report (GET /v1/reports/attainment) covers the months before.
DROP TABLE quality_complaint_breaches;
