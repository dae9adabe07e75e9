-- The quality report: every run of every SLA clock, and the subscribers per product that the
-- complaint rate is counted against.

-- complaint_clocks holds a clock's current run only: a reopening starts every clock again and
-- each contact starts a new follow-up run, replacing the row. These triggers copy every
-- computation of complaint_clocks here, keyed by the run's start, so a run that was replaced
-- keeps its outcome: it ended where the next run of the same clock began (a contact met the
-- follow-up it ended), unless it had stopped before. A clock that no longer applies to a
-- complaint (its policy retired) takes its undecided run with it; a run already stopped stays.
CREATE TABLE clock_runs (
    complaint_id    uuid        NOT NULL REFERENCES complaints (id),
    clock           text        NOT NULL,
    started_at      timestamptz NOT NULL,
    due_at          timestamptz,             -- NULL: paused (waiting on the user) before its target ran out
    stopped_at      timestamptz,
    superseded      boolean     NOT NULL DEFAULT false,  -- stopped by the clock's next run
    computed_at     timestamptz NOT NULL,    -- when the service last computed it (picks the policy it ran under)
    PRIMARY KEY (complaint_id, clock, started_at)
);
-- A run belongs to the report period that holds its due time, or its start when it has none.
CREATE INDEX clock_runs_period ON clock_runs ((coalesce(due_at, started_at)));

-- Each statement on complaint_clocks touches a few runs by their key. The functions never scan
-- clock_runs whole, whatever its statistics say: planned while the table was new and empty (a
-- plan is kept per connection), the join chose a sequential scan and intake slowed down as the
-- table grew (0.5 ms and rising per statement, against 0.01 ms by the index).
CREATE FUNCTION clock_runs_record() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO clock_runs AS r (complaint_id, clock, started_at, due_at, stopped_at, computed_at)
    SELECT complaint_id, clock, started_at, due_at, stopped_at, computed_at FROM computed
    ON CONFLICT (complaint_id, clock, started_at) DO UPDATE
       SET due_at = EXCLUDED.due_at, stopped_at = EXCLUDED.stopped_at, superseded = false,
           computed_at = EXCLUDED.computed_at;
    IF TG_OP = 'UPDATE' THEN
        -- A clock whose run began later than the stored one: the stored run ended there.
        UPDATE clock_runs r SET stopped_at = c.started_at, superseded = true
          FROM previous p JOIN computed c ON c.complaint_id = p.complaint_id AND c.clock = p.clock
         WHERE c.started_at > p.started_at
           AND r.complaint_id = p.complaint_id AND r.clock = p.clock AND r.started_at = p.started_at
           AND r.stopped_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION clock_runs_withdraw() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    DELETE FROM clock_runs r USING removed g
     WHERE r.complaint_id = g.complaint_id AND r.clock = g.clock AND r.started_at = g.started_at
       AND r.stopped_at IS NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER clock_runs_on_insert AFTER INSERT ON complaint_clocks
    REFERENCING NEW TABLE AS computed FOR EACH STATEMENT EXECUTE FUNCTION clock_runs_record();
CREATE TRIGGER clock_runs_on_update AFTER UPDATE ON complaint_clocks
    REFERENCING OLD TABLE AS previous NEW TABLE AS computed
    FOR EACH STATEMENT EXECUTE FUNCTION clock_runs_record();
CREATE TRIGGER clock_runs_on_delete AFTER DELETE ON complaint_clocks
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION clock_runs_withdraw();

INSERT INTO clock_runs (complaint_id, clock, started_at, due_at, stopped_at, computed_at)
SELECT complaint_id, clock, started_at, due_at, stopped_at, computed_at FROM complaint_clocks;

-- Satisfaction is reported by when it was recorded.
CREATE INDEX complaint_events_satisfaction ON complaint_events (occurred_at)
    WHERE kind = 'satisfaction_recorded';
-- The complaint rate counts complaints about a product by when they were made.
CREATE INDEX complaints_product ON complaints (product_code, created_at) WHERE product_code IS NOT NULL;

-- Subscribers per product, learnt from subscription.events (event-carried state). Each change of
-- a subscription's status is kept once under its natural key: a redelivered event adds nothing,
-- and an older event arriving after a newer one takes its place in the history instead of
-- overwriting the newer status. A subscription's status at an instant is its latest change
-- at or before it.
CREATE TABLE subscription_changes (
    subscription_id uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    status          text        NOT NULL,   -- active | cancelled | expired | suspended | ended
    product_code    text        NOT NULL,
    partner_id      uuid        NOT NULL,
    msisdn          text        NOT NULL,
    event_id        uuid        NOT NULL,   -- the first event that told it
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, occurred_at, status)
);
CREATE INDEX subscription_changes_product ON subscription_changes (product_code, occurred_at);
