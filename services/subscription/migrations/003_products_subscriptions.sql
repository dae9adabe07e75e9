-- Products with clear tariffs (资费明确), double-confirmed subscriptions, charges, raw records,
-- legal holds and scheduled notices.

CREATE TABLE products (
    id                  uuid        PRIMARY KEY,
    partner_id          uuid        NOT NULL REFERENCES partners (id),
    code                text        NOT NULL UNIQUE,      -- the SMS keyword, upper case
    name                text        NOT NULL,
    billing_type        text        NOT NULL CHECK (billing_type IN ('monthly', 'per_message')),
    price_fen           integer     NOT NULL CHECK (price_fen >= 0),
    description         text        NOT NULL DEFAULT '',  -- what it does
    availability        text        NOT NULL DEFAULT '',  -- where it is available
    how_to_cancel       text        NOT NULL DEFAULT '',
    charge_rule         text        NOT NULL DEFAULT '',  -- the fee and when it is charged
    fault_hotline       text        NOT NULL DEFAULT '',
    consult_hotline     text        NOT NULL DEFAULT '',
    first_month         text        NOT NULL DEFAULT 'full' CHECK (first_month IN ('full', 'free')),
    last_month          text        NOT NULL DEFAULT 'full' CHECK (last_month IN ('full', 'none')),
    status              text        NOT NULL DEFAULT 'draft'
                                    CHECK (status IN ('draft', 'published', 'discontinuing', 'discontinued')),
    discontinue_at      timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE subscriptions (
    id              uuid        PRIMARY KEY,
    msisdn          text        NOT NULL,
    product_id      uuid        NOT NULL REFERENCES products (id),
    status          text        NOT NULL
                                CHECK (status IN ('pending', 'active', 'expired', 'cancelled', 'suspended', 'ended')),
    channel         text        NOT NULL,                 -- sms | partner_api | operator_api
    requested_at    timestamptz NOT NULL,
    confirm_by      timestamptz NOT NULL,
    confirmed_at    timestamptz,
    ended_at        timestamptz,                          -- cancelled, expired or ended
    end_channel     text,                                 -- sms_td | sms_0000 | sms_00000 | partner_api | operator_api | discontinued | expiry
    last_content_at timestamptz,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX subscriptions_one_open ON subscriptions (msisdn, product_id) WHERE status IN ('pending', 'active', 'suspended');
CREATE INDEX subscriptions_msisdn ON subscriptions (msisdn, status);
CREATE INDEX subscriptions_pending_due ON subscriptions (confirm_by) WHERE status = 'pending';

-- The numbered list a "0000" reply showed, so that the user's "2" cancels the right one.
CREATE TABLE mo_menus (
    msisdn       text        PRIMARY KEY,
    items        uuid[]      NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- MO messages already handled (sms.mo is at-least-once).
CREATE TABLE processed_mo (
    mo_id        uuid        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Money is integer fen. Monthly: one row per subscription and period; per message: one per message.
CREATE TABLE charges (
    id              uuid        PRIMARY KEY,
    msisdn          text        NOT NULL,
    subscription_id uuid        NOT NULL REFERENCES subscriptions (id),
    product_id      uuid        NOT NULL,
    period          text,                                 -- 'YYYY-MM' (Asia/Shanghai) for monthly charges
    message_id      uuid,                                 -- for per-message charges
    refund_of       uuid        REFERENCES charges (id),  -- refunds are negative charges
    amount_fen      integer     NOT NULL,
    reason          text        NOT NULL,
    charged_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX charges_monthly_once ON charges (subscription_id, period) WHERE period IS NOT NULL AND refund_of IS NULL;
CREATE UNIQUE INDEX charges_message_once ON charges (message_id) WHERE message_id IS NOT NULL AND refund_of IS NULL;
CREATE INDEX charges_msisdn ON charges (msisdn, charged_at);

-- Every order action and every SMS exchanged, raw, with its time; kept 6 months (partitions by
-- month) unless the user is under a legal hold.
CREATE TABLE order_records (
    id              bigserial   NOT NULL,
    occurred_at     timestamptz NOT NULL,
    msisdn          text        NOT NULL,
    kind            text        NOT NULL,  -- requested | confirmation_sent | confirmed | expired | cancelled | charged | refunded | sms_in | sms_out | notice_sent | suspended | ended
    subscription_id uuid,
    product_code    text,
    channel         text,
    detail          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE order_records_default PARTITION OF order_records DEFAULT;
CREATE INDEX order_records_msisdn ON order_records (msisdn, occurred_at);

CREATE TABLE legal_holds (
    msisdn      text        PRIMARY KEY,
    reason      text        NOT NULL,
    placed_at   timestamptz NOT NULL
);

-- Notices with a date: product discontinuation (>= 30 days), user suspension (>= 24 h).
CREATE TABLE scheduled_changes (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('discontinue_product', 'suspend_user')),
    product_id   uuid,
    msisdn       text,
    effective_at timestamptz NOT NULL,
    reason       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    applied_at   timestamptz
);
CREATE INDEX scheduled_changes_due ON scheduled_changes (effective_at) WHERE applied_at IS NULL;
