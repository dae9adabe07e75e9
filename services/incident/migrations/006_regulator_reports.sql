-- Regulator reports of major outages: the rules that set their deadlines (data, changed through the
-- admin API), one report per incident with the rule's figures as they were when it applied, its two
-- stages (the first report, the final one) with who sent each, when and how, the warnings and
-- overdue alerts raised once each, and the messages an outage delayed or failed (from sms.status),
-- which the report's impact figures are counted from. Nothing here is ever deleted by the service:
-- reports are records kept at least 6 months.

CREATE TABLE regulator_report_rules (
    id                    text        PRIMARY KEY,
    severity              text        NOT NULL UNIQUE
                                      CHECK (severity IN ('minor', 'major', 'critical', 'major_outage')),
    first_within_s        integer     NOT NULL CHECK (first_within_s > 0),    -- after detection
    first_warn_before_s   integer     NOT NULL CHECK (first_warn_before_s >= 0),
    final_within_s        integer     NOT NULL CHECK (final_within_s > 0),    -- after resolution
    final_warn_before_s   integer     NOT NULL CHECK (final_warn_before_s >= 0),
    basis                 text        NOT NULL,   -- what the figures follow (the regulation, in words)
    revision              integer     NOT NULL DEFAULT 1,
    updated_at            timestamptz NOT NULL,
    updated_by            text        NOT NULL
);

-- Defaults to be confirmed by the provider's compliance officer (PUT /v1/regulator-report-rules/{id}).
INSERT INTO regulator_report_rules
    (id, severity, first_within_s, first_warn_before_s, final_within_s, final_warn_before_s, basis,
     updated_at, updated_by)
VALUES
    ('major_outage', 'major_outage', 3600, 1800, 5 * 86400, 86400,
     '重大通信故障：发现后1小时内首报，故障处理完毕后5日内终报（默认值，以通信管理部门要求为准）',
     now(), 'seed');

CREATE TABLE regulator_reports (
    id              uuid        PRIMARY KEY,
    incident_id     uuid        NOT NULL REFERENCES incidents (id),
    rule_id         text        NOT NULL REFERENCES regulator_report_rules (id),
    rule            jsonb       NOT NULL,   -- the rule's figures and revision when it applied
    withdrawn_at    timestamptz,            -- the incident lost the duty before the first report was sent
    cause           text        NOT NULL DEFAULT '',   -- written by staff, in Chinese
    actions         text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
-- Exactly one report per incident, whatever the replicas and the changes that raise the severity.
CREATE UNIQUE INDEX regulator_reports_one_per_incident ON regulator_reports (incident_id);

CREATE TABLE regulator_report_stages (
    report_id   uuid        NOT NULL REFERENCES regulator_reports (id),
    stage       text        NOT NULL CHECK (stage IN ('first', 'final')),
    due_at      timestamptz,            -- NULL: not yet known (the final one, until resolution)
    warn_at     timestamptz,
    sent_at     timestamptz,
    sent_by     text,                   -- who marked it sent
    sent_via    text,                   -- how: the channel, in words
    reference   text,                   -- the regulator's or the letter's reference
    recorded_at timestamptz,
    PRIMARY KEY (report_id, stage),
    CHECK ((sent_at IS NULL) = (sent_by IS NULL))
);
CREATE INDEX regulator_report_stages_unsent ON regulator_report_stages (warn_at) WHERE sent_at IS NULL;

-- A warning or an overdue alert, once per (report, stage, due time, alert) whatever the replicas.
CREATE TABLE regulator_report_alerts (
    report_id   uuid        NOT NULL REFERENCES regulator_reports (id),
    stage       text        NOT NULL,
    due_at      timestamptz NOT NULL,
    alert       text        NOT NULL CHECK (alert IN ('due_soon', 'overdue')),
    fell_due_at timestamptz NOT NULL,
    emitted_at  timestamptz NOT NULL,
    PRIMARY KEY (report_id, stage, due_at, alert)
);

-- Messages the sms-sender delayed (accept -> submit over the threshold) or failed, from sms.status:
-- what a report's impact figures are counted from. Only such messages are kept, never the text; the
-- recipient as a keyed hash, enough to count distinct users.
CREATE TABLE message_impacts (
    message_id      uuid        PRIMARY KEY,
    recipient_hash  bytea       NOT NULL,
    product_code    text,
    accepted_at     timestamptz NOT NULL,
    delay_s         double precision,   -- accept -> submit, when submitted
    delayed         boolean     NOT NULL DEFAULT false,
    failed          boolean     NOT NULL DEFAULT false
);
CREATE INDEX message_impacts_accepted ON message_impacts (accepted_at);

INSERT INTO service_keys (name, value) VALUES ('recipient_hash', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
