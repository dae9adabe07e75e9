-- Legal holds on the incident service's records: an incident (with everything merged into it,
-- its timeline and faults) or a maintenance window (with its notices and regulator task) is never
-- deleted while a hold on it is in force, whatever the retention period. One hold per holder.

CREATE TABLE record_holds (
    id           uuid        PRIMARY KEY,
    incident_id  uuid        REFERENCES incidents (id),
    window_id    uuid        REFERENCES maintenance_windows (id),
    holder       text        NOT NULL,      -- who asked: "regulator", "legal", a complaint id ...
    reason       text        NOT NULL,
    placed_at    timestamptz NOT NULL,
    placed_by    text        NOT NULL,
    released_at  timestamptz,
    released_by  text,
    CHECK ((incident_id IS NULL) <> (window_id IS NULL))
);
CREATE UNIQUE INDEX record_holds_one_per_holder_incident ON record_holds (incident_id, holder)
    WHERE released_at IS NULL AND incident_id IS NOT NULL;
CREATE UNIQUE INDEX record_holds_one_per_holder_window ON record_holds (window_id, holder)
    WHERE released_at IS NULL AND window_id IS NOT NULL;

-- Each retention run, for the records: when, the cut-off, what it deleted and what holds kept.
CREATE TABLE retention_runs (
    id                  uuid        PRIMARY KEY,
    ran_at              timestamptz NOT NULL,
    cutoff              timestamptz NOT NULL,
    incidents_deleted   integer     NOT NULL,
    windows_deleted     integer     NOT NULL,
    incidents_held      integer     NOT NULL,
    windows_held        integer     NOT NULL
);
