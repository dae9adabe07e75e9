-- The business calendar's data that is not in the packaged official schedule: an administrator's
-- overrides of single days, years declared complete, and the working hours. `calendar_settings`
-- holds one row; its `revision` goes up with every change, so each replica can tell that its
-- cached calendar is out of date with one small read.

CREATE TABLE calendar_days (
    day        date        PRIMARY KEY CHECK (day BETWEEN DATE '2000-01-01' AND DATE '2999-12-31'),
    kind       text        NOT NULL CHECK (kind IN ('workday', 'holiday')),
    note       text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL
);

CREATE TABLE calendar_years (
    year       integer     PRIMARY KEY CHECK (year BETWEEN 2000 AND 2999),
    complete   boolean     NOT NULL,
    note       text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    updated_by text        NOT NULL
);

CREATE TABLE calendar_settings (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    work_start time        NOT NULL,
    work_end   time        NOT NULL,
    revision   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text        NOT NULL,
    CHECK (work_start < work_end)
);

INSERT INTO calendar_settings (work_start, work_end, revision, updated_by)
VALUES ('09:00', '18:00', 1, 'migration');
