-- Service quality (incident.quality): the complaint clocks breached, from complaint.events
-- (complaint.sla_breached), per day (Asia/Shanghai, when the breach fell due) and clock. The
-- clocks met are not in the events: the attainment share is the complaints service's report.
-- Counted once per record by the watermark in quality_offsets, as the other roll-ups.

CREATE TABLE quality_complaint_breaches (
    day       date    NOT NULL,
    clock     text    NOT NULL,
    breaches  bigint  NOT NULL,
    PRIMARY KEY (day, clock)
);
