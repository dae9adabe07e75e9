-- Each clock run that stops is published once (complaint.clock_stopped), as the warnings and
-- breaches are: the service quality report counts attainment from the events (met on time, met
-- late, breached) without reading this database. The stop is kept in sla_alerts under the alert
-- 'stopped', whose fell_due_at is the instant the run stopped; a run stopped while paused, before
-- its target ran out, has no due time.
ALTER TABLE sla_alerts ALTER COLUMN due_at DROP NOT NULL;

-- The runs stopped before this version are marked as told, without an event: the report's
-- figures from the events start with the runs that stop from now on (the complaints service's
-- own attainment report, GET /v1/reports/attainment, covers every run).
INSERT INTO sla_alerts (complaint_id, clock, started_at, alert, due_at, fell_due_at, emitted_at)
SELECT complaint_id, clock, started_at, 'stopped', due_at, stopped_at, now()
  FROM clock_runs WHERE stopped_at IS NOT NULL
ON CONFLICT DO NOTHING;
