-- Per-partner send limits shared by every API replica (issue #19). The token bucket of a partner
-- (rate_per_s a second, at most one second's worth held) was kept in each API process, so the
-- limit multiplied with the replicas. Now one row per partner holds it, taken from in one
-- atomic INSERT ... ON CONFLICT DO UPDATE per accepted request (SendLimitRepository.take):
-- refilled for the time since refilled_at, then n taken if it holds n; `granted` says whether
-- the last take was. A change of the partner's rate starts a full bucket, as before.
CREATE TABLE partner_send_buckets (
    partner_id  uuid             PRIMARY KEY,
    rate_per_s  integer          NOT NULL,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL,
    granted     boolean          NOT NULL
);
