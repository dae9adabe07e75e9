-- The public status page's own data: the catalogue as subscription.events announce it, and the
-- provider's published commitments (data, changed through the admin API).

CREATE TABLE published_products (
    product_id          uuid        PRIMARY KEY,
    product_code        text        NOT NULL UNIQUE,
    partner_id          uuid        NOT NULL,
    listing             jsonb       NOT NULL,   -- the terms as the catalogue shows them
    published_at        timestamptz NOT NULL,
    discontinue_at      timestamptz,            -- announced end (30 days' notice)
    discontinue_reason  text,
    discontinued_at     timestamptz,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE commitments (
    key         text        PRIMARY KEY,
    position    integer     NOT NULL,
    topic       text        NOT NULL,           -- sms | subscription | complaints | availability | maintenance | records
    title       text        NOT NULL,           -- Chinese, as published
    promise     text        NOT NULL,           -- Chinese, as published
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL
);

INSERT INTO commitments (key, position, topic, title, promise, updated_at, updated_by) VALUES
    ('sms_send_delay', 10, 'sms', '短信发送时延', '受理后4秒内提交至运营商短信中心', now(), 'seed'),
    ('sms_capacity', 20, 'sms', '短信处理能力', '上行、下行各每秒500条', now(), 'seed'),
    ('availability', 30, 'availability', '服务可用性', '每月服务可用性不低于99.6%', now(), 'seed'),
    ('repair', 40, 'availability', '故障处理', '7×24小时监控，故障时备用通道立即接管；平均修复时间不超过2小时', now(), 'seed'),
    ('maintenance_notice', 50, 'maintenance', '维护通知', '影响用户的维护至少提前72小时短信通知受影响用户；影响超过24小时的同时报告通信管理部门', now(), 'seed'),
    ('unsubscribe', 60, 'subscription', '退订', '回复TD加业务代码、0000或00000即时退订，免费', now(), 'seed'),
    ('complaint_phone', 70, 'complaints', '电话投诉', '15分钟内提出解决方案；当场未能解决的，30分钟内回复', now(), 'seed'),
    ('complaint_web', 80, 'complaints', '网上投诉', '4小时内首次书面答复', now(), 'seed'),
    ('complaint_answer', 90, 'complaints', '投诉答复', '所有投诉15日内答复处理结果', now(), 'seed'),
    ('records', 100, 'records', '记录保存', '订购、扣费和短信原始记录保存6个月，用户可查询', now(), 'seed');
