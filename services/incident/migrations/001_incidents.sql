-- Incidents with their separate times, the timeline of each (who, when, what), and the faults
-- the health signals (sms.health) opened incidents for. Nothing here is ever deleted by the
-- service: incidents are records kept at least 6 months.

CREATE TABLE incidents (
    id                  uuid        PRIMARY KEY,
    seq                 bigserial   NOT NULL UNIQUE,    -- list order and page cursor
    title               text        NOT NULL,
    summary             text        NOT NULL DEFAULT '',
    severity            text        NOT NULL CHECK (severity IN ('minor', 'major', 'critical', 'major_outage')),
    impact              text        NOT NULL CHECK (impact IN ('full', 'partial', 'maintenance')),
    status              text        NOT NULL CHECK (status IN ('open', 'mitigated', 'resolved', 'merged')),
    origin              text        NOT NULL CHECK (origin IN ('manual', 'signal')),
    services            text[]      NOT NULL,
    products            text[]      NOT NULL DEFAULT '{}',
    impact_started_at   timestamptz NOT NULL,   -- when users were first affected
    detected_at         timestamptz NOT NULL,   -- when we knew (a signal fired, a person noticed)
    reported_at         timestamptz,            -- when it was first told outside the team
    mitigated_at        timestamptz,            -- when the impact ended
    resolved_at         timestamptz,            -- when the incident was closed
    commander           text,
    communications      text,
    merged_into         uuid        REFERENCES incidents (id),
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);
CREATE INDEX incidents_open ON incidents (impact_started_at) WHERE status IN ('open', 'mitigated');
CREATE INDEX incidents_impact ON incidents (impact_started_at);
CREATE INDEX incidents_services ON incidents USING gin (services);

CREATE TABLE incident_timeline (
    id              uuid        PRIMARY KEY,
    incident_id     uuid        NOT NULL REFERENCES incidents (id),
    kind            text        NOT NULL,
    at              timestamptz NOT NULL,   -- when it happened
    recorded_at     timestamptz NOT NULL,   -- when it was written down
    actor           text        NOT NULL,
    text            text        NOT NULL DEFAULT '',
    public          boolean     NOT NULL DEFAULT false,  -- a status update the status page shows
    detail          jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, at);

-- One row per fault a health check found; at most one open per (check, subject): the key that
-- makes "one incident per ongoing fault" hold with several replicas and redelivered reports.
CREATE TABLE signal_faults (
    id              uuid        PRIMARY KEY,
    check_name      text        NOT NULL,
    subject         text        NOT NULL,
    incident_id     uuid        NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    started_at      timestamptz NOT NULL,   -- the condition's start, as the reporter saw it
    opened_at       timestamptz NOT NULL,
    last_failing_at timestamptz NOT NULL,   -- the latest failing report's time
    healthy_since   timestamptz,            -- the first healthy report after the last failing one
    closed_at       timestamptz,
    evidence        jsonb       NOT NULL,   -- the latest failing result, with its numbers
    reporters       text[]      NOT NULL DEFAULT '{}'  -- the dispatcher instances that reported it
);
CREATE UNIQUE INDEX signal_faults_one_open ON signal_faults (check_name, subject) WHERE closed_at IS NULL;
CREATE INDEX signal_faults_incident ON signal_faults (incident_id) WHERE closed_at IS NULL;

-- Keys the service keeps for itself (the incident list's page cursor, vas_common.cursors).
CREATE TABLE service_keys (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO service_keys (name, value)
VALUES ('incident_cursor', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
