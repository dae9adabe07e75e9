-- Maintenance windows: what is affected (product codes of the subscription catalogue, services),
-- when (UTC; users are told Asia/Shanghai time), the Chinese text users read, and the emergency
-- flag with its reason when the notice period (72 h by default) was not given.
CREATE TABLE maintenance_windows (
    id                uuid        PRIMARY KEY,
    status            text        NOT NULL
                                  CHECK (status IN ('scheduled', 'in_progress', 'completed', 'cancelled')),
    product_codes     text[]      NOT NULL,
    services          text[]      NOT NULL,
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL CHECK (ends_at > starts_at),  -- the expected end
    text_zh           text        NOT NULL,
    emergency         boolean     NOT NULL DEFAULT false,
    emergency_reason  text        CHECK (NOT emergency OR emergency_reason IS NOT NULL),
    notice            integer     NOT NULL DEFAULT 1,   -- the number of the latest notice to users
    remind_at         timestamptz,                      -- when the reminder falls due; NULL: none due
    created_at        timestamptz NOT NULL,
    created_by        text        NOT NULL,
    updated_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    cancelled_at      timestamptz,
    cancel_reason     text
);
CREATE INDEX maintenance_windows_starts ON maintenance_windows (starts_at);
-- What the tick looks for: reminders, starts and ends that have fallen due.
CREATE INDEX maintenance_windows_remind ON maintenance_windows (remind_at)
    WHERE status = 'scheduled' AND remind_at IS NOT NULL;
CREATE INDEX maintenance_windows_open ON maintenance_windows (status) WHERE status IN ('scheduled', 'in_progress');

-- Every notice users were sent about a window, once each (window, notice): the time they were
-- told, who caused it, and how many subscribers the subscription service sent it to (its
-- maintenance.notices_sent answer; NULL until it has answered).
CREATE TABLE maintenance_notices (
    window_id             uuid        NOT NULL REFERENCES maintenance_windows (id),
    notice                integer     NOT NULL,
    kind                  text        NOT NULL CHECK (kind IN ('scheduled', 'rescheduled', 'cancelled', 'reminder')),
    starts_at             timestamptz NOT NULL,
    ends_at               timestamptz NOT NULL,
    emergency             boolean     NOT NULL,
    reason                text,                  -- the emergency reason, or the cancellation's
    actor                 text        NOT NULL,  -- who changed the window ("system" for a reminder)
    published_at          timestamptz NOT NULL,
    subscribers_notified  integer,
    counted_at            timestamptz,
    PRIMARY KEY (window_id, notice)
);
CREATE INDEX maintenance_notices_published ON maintenance_notices (published_at);

-- Things the provider must tell the regulator, each with a due time: for now maintenance whose
-- impact is longer than 24 h (one task per window). Regulator reports of major outages build on it.
CREATE TABLE regulator_tasks (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('maintenance_over_24h')),
    window_id   uuid        REFERENCES maintenance_windows (id),
    status      text        NOT NULL CHECK (status IN ('open', 'done', 'withdrawn')),
    summary     text        NOT NULL,  -- what to report, in Chinese
    due_at      timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    done_at     timestamptz,
    done_by     text,
    note        text
);
CREATE UNIQUE INDEX regulator_tasks_once_per_window ON regulator_tasks (kind, window_id);
CREATE INDEX regulator_tasks_due ON regulator_tasks (due_at) WHERE status = 'open';
