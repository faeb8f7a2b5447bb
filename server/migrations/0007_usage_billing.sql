-- Trials: a tier's free trial, as JSON (`{"days": 14, "payment_method": "required"}`), or NULL.
ALTER TABLE tiers ADD COLUMN trial_json TEXT;

-- When a subscription's trial ends (or ended), from Stripe; NULL without a trial. The period
-- that ends at the trial's end bills no overage.
ALTER TABLE subscriptions ADD COLUMN trial_end BIGINT;

-- Usage-based billing: one row per subscription, period and metric whose overage was billed
-- (or is being billed). The primary key is what makes a period billed once, across replayed
-- events, replicas and restarts; `invoice_item` is NULL until Stripe has confirmed the item,
-- and a later attempt sends the same figures with the same idempotency key.
CREATE TABLE overage_charges (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    mode          TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    subscription  TEXT NOT NULL,
    period_start  BIGINT NOT NULL,
    metric        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    included      BIGINT NOT NULL,
    used          BIGINT NOT NULL,
    units         BIGINT NOT NULL,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    invoice       TEXT NOT NULL,
    invoice_item  TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, subscription, period_start, metric)
);
