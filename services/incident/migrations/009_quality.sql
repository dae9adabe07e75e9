-- Service quality (incident.quality): per-minute roll-ups of the event stream, never raw rows, so
-- that a month of 1.3 billion messages still reports in well under 2 s.
--
-- Idempotent under redelivery: each consumed (group, topic, partition) has a watermark, the next
-- offset not yet counted, moved in the same transaction as the roll-ups it fed. A record below
-- the watermark (a redelivery after a lost commit or a rebalance) changes nothing.

CREATE TABLE quality_offsets (
    group_id     text    NOT NULL,
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- accept -> submit_sm_resp of each message, per minute of its acceptance and partner (the nil
-- uuid: the provider's own system messages). The histogram is DDSketch's logarithmic mapping
-- (relative accuracy 2 %): bucket_keys[i] holds bucket_counts[i] messages, sorted, only the
-- non-empty buckets (-32768: a delay of 0). Count, the share within the target, the sum and the
-- max are exact.
CREATE TABLE quality_delay_minutes (
    minute         timestamptz      NOT NULL,
    partner_id     uuid             NOT NULL,
    messages       bigint           NOT NULL,
    within_target  bigint           NOT NULL,   -- delay below the target (4 s) when recorded
    sum_delay_s    double precision NOT NULL,
    max_delay_s    double precision NOT NULL,
    bucket_keys    smallint[]       NOT NULL,
    bucket_counts  bigint[]         NOT NULL,
    PRIMARY KEY (minute, partner_id)
);

-- The same per day (Asia/Shanghai), kept in the same transaction: a month report merges 31 rows
-- per partner instead of 43,200.
CREATE TABLE quality_delay_days (
    day            date             NOT NULL,
    partner_id     uuid             NOT NULL,
    messages       bigint           NOT NULL,
    within_target  bigint           NOT NULL,
    sum_delay_s    double precision NOT NULL,
    max_delay_s    double precision NOT NULL,
    bucket_keys    smallint[]       NOT NULL,
    bucket_counts  bigint[]         NOT NULL,
    PRIMARY KEY (day, partner_id)
);

-- Messages per second, per minute, both ways: 'mt' counted at submit_sm_resp (submitted_at),
-- 'mo' at reception. per_second[1..60] are the minute's seconds; peak is their max.
CREATE TABLE quality_traffic_minutes (
    direction   text      NOT NULL CHECK (direction IN ('mt', 'mo')),
    minute      timestamptz NOT NULL,
    messages    bigint    NOT NULL,
    per_second  integer[] NOT NULL,
    peak        integer   NOT NULL,
    PRIMARY KEY (direction, minute)
);

-- Element-wise sum of two per-second arrays (of 60).
CREATE FUNCTION quality_add_seconds(a integer[], b integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
      FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;
