-- Complaints, their event history, SLA policies (data, not code), the clocks computed from
-- history and calendar, and the alerts emitted once each.

CREATE TABLE complaints (
    id                  uuid        PRIMARY KEY,
    tracking_code       text        NOT NULL UNIQUE,
    channel             text        NOT NULL CHECK (channel IN ('phone', 'web', 'sms', 'operator')),
    category            text        NOT NULL
                                    CHECK (category IN ('billing', 'subscription', 'content', 'service', 'feedback', 'other')),
    msisdn              text        NOT NULL,
    summary             text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('open', 'waiting_on_user', 'resolved', 'closed')),
    partner_id          uuid,
    product_code        text,
    subscription_id     uuid,       -- what it is about, ids in the other services
    message_id          uuid,
    charge_id           uuid,
    solved_on_call      boolean     NOT NULL DEFAULT false,
    operator_reference  text,
    operator_deadline   timestamptz,
    satisfaction        smallint    CHECK (satisfaction BETWEEN 1 AND 5),
    source_address      inet,       -- web: the client address, for the per-address intake limit
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX complaints_msisdn ON complaints (msisdn, created_at);
CREATE INDEX complaints_source_address ON complaints (source_address, created_at) WHERE source_address IS NOT NULL;
CREATE INDEX complaints_open ON complaints (created_at) WHERE status IN ('open', 'waiting_on_user');

CREATE TABLE complaint_events (
    id              uuid        PRIMARY KEY,
    complaint_id    uuid        NOT NULL REFERENCES complaints (id),
    kind            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,   -- when it happened
    recorded_at     timestamptz NOT NULL,   -- when it was logged
    actor           text        NOT NULL,
    note            text        NOT NULL DEFAULT '',
    detail          jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX complaint_events_complaint ON complaint_events (complaint_id, occurred_at);

CREATE TABLE sla_policies (
    id                          uuid        PRIMARY KEY,
    clock                       text        NOT NULL,
    target_seconds              bigint      NOT NULL CHECK (target_seconds >= 0),
    basis                       text        NOT NULL
                                            CHECK (basis IN ('calendar', 'working_hours', 'working_days', 'shanghai_days')),
    channel                     text,
    category                    text,
    partner_id                  uuid,
    msisdn                      text,
    pausable                    boolean     NOT NULL,
    warn_at                     real[]      NOT NULL,
    only_if_not_solved_on_call  boolean     NOT NULL DEFAULT false,
    note                        text        NOT NULL DEFAULT '',
    retired_at                  timestamptz,
    created_at                  timestamptz NOT NULL
);
CREATE UNIQUE INDEX sla_policies_one_live ON sla_policies
    (clock, coalesce(channel, ''), coalesce(category, ''), coalesce(partner_id::text, ''), coalesce(msisdn, ''))
    WHERE retired_at IS NULL;

-- The seed's promises (complaints.sla.domain.STANDARD_TARGETS).
INSERT INTO sla_policies (id, clock, target_seconds, basis, channel, category, pausable, warn_at,
                          only_if_not_solved_on_call, note, created_at) VALUES
 ('6f1c0e1a-0001-4000-8000-000000000001', 'solution',          900,     'calendar',      'phone', NULL,       false, '{0.5,0.8}', false, '电话投诉15分钟内提出解决方案', now()),
 ('6f1c0e1a-0001-4000-8000-000000000002', 'first_reply',       1800,    'calendar',      'phone', NULL,       false, '{0.5,0.8}', true,  '电话中未解决的，30分钟内回复', now()),
 ('6f1c0e1a-0001-4000-8000-000000000003', 'first_reply',       14400,   'calendar',      'web',   NULL,       false, '{0.5,0.8}', false, '网站投诉4小时内书面回复', now()),
 ('6f1c0e1a-0001-4000-8000-000000000004', 'answered',          1296000, 'shanghai_days', NULL,    NULL,       true,  '{0.5,0.8}', false, '15日内答复用户', now()),
 ('6f1c0e1a-0001-4000-8000-000000000005', 'closure',           172800,  'working_days',  NULL,    NULL,       true,  '{0.5,0.8}', false, '2个工作日内内部办结', now()),
 ('6f1c0e1a-0001-4000-8000-000000000006', 'feedback_reply',    86400,   'calendar',      NULL,    'feedback', true,  '{0.5,0.8}', false, '意见建议1日内回复', now()),
 ('6f1c0e1a-0001-4000-8000-000000000007', 'follow_up',         86400,   'calendar',      NULL,    NULL,       true,  '{0.5,0.8}', false, '处理期间至少每24小时联系用户一次', now()),
 ('6f1c0e1a-0001-4000-8000-000000000008', 'operator_deadline', 0,       'calendar',      'operator', NULL,    false, '{0.5,0.8}', false, '运营商转办投诉按其时限', now());

-- Each clock of each complaint as last computed, and when the scheduler must look at it next.
CREATE TABLE complaint_clocks (
    complaint_id    uuid        NOT NULL REFERENCES complaints (id),
    clock           text        NOT NULL,
    started_at      timestamptz NOT NULL,
    due_at          timestamptz,
    stopped_at      timestamptz,
    state           text        NOT NULL,
    next_alert_at   timestamptz,
    computed_at     timestamptz NOT NULL,
    PRIMARY KEY (complaint_id, clock)
);
CREATE INDEX complaint_clocks_due ON complaint_clocks (next_alert_at) WHERE next_alert_at IS NOT NULL;

-- A warning or breach, once per (complaint, clock, run, alert) whatever the replicas and restarts.
CREATE TABLE sla_alerts (
    complaint_id    uuid        NOT NULL,
    clock           text        NOT NULL,
    started_at      timestamptz NOT NULL,
    alert           text        NOT NULL,
    due_at          timestamptz NOT NULL,
    fell_due_at     timestamptz NOT NULL,
    emitted_at      timestamptz NOT NULL,
    PRIMARY KEY (complaint_id, clock, started_at, alert)
);
