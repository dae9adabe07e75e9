-- One monthly fee per user, product and Asia/Shanghai month, however many subscriptions the user
-- had in it (cancel and re-subscribe, suspend and resume).
--
-- Charges made before this rule may hold two fees for one user, product and month; they would stop
-- the unique index from being built. Each such extra fee is marked with the charge that is kept
-- (the earliest) in duplicate_of, and the index covers only unmarked rows. The marked fees are left
-- as they are, to be refunded through POST /v1/charges/{id}/refunds, so that each refund has its
-- raw record and its billing.refunded event:
--   SELECT id, msisdn, period, amount_fen FROM charges WHERE duplicate_of IS NOT NULL;
-- No foreign key: retention may delete the kept charge before its duplicate.
ALTER TABLE charges ADD COLUMN duplicate_of uuid;

UPDATE charges c
   SET duplicate_of = d.kept
  FROM (
        SELECT id,
               first_value(id) OVER (PARTITION BY msisdn, product_id, period ORDER BY charged_at, id) AS kept
          FROM charges
         WHERE period IS NOT NULL AND refund_of IS NULL
       ) d
 WHERE c.id = d.id AND d.id <> d.kept;

CREATE UNIQUE INDEX charges_monthly_user_once ON charges (msisdn, product_id, period)
    WHERE period IS NOT NULL AND refund_of IS NULL AND duplicate_of IS NULL;
-- Implied by charges_monthly_user_once: a subscription belongs to one user and one product.
DROP INDEX charges_monthly_once;
