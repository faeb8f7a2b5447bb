-- Billing through Stripe: per-tenant Stripe settings, the Stripe objects each tier, price and
-- customer maps to, subscriptions, the webhook event log, and payments.

ALTER TABLE settings ADD COLUMN stripe_account TEXT;
ALTER TABLE settings ADD COLUMN platform_fee_bps BIGINT NOT NULL DEFAULT 0;
ALTER TABLE settings ADD COLUMN site_url TEXT;
-- One connected account serves one project per mode: its events must route to one tenant.
CREATE UNIQUE INDEX settings_stripe_account ON settings (mode, stripe_account);

-- The Stripe price a tier (or catalogue price) was last synced to, and the account it lives
-- on ('' for the platform account). A changed price or account makes a new Stripe price.
ALTER TABLE tiers ADD COLUMN stripe_price_id TEXT;
ALTER TABLE tiers ADD COLUMN stripe_price_key TEXT;
ALTER TABLE prices ADD COLUMN stripe_price_id TEXT;
ALTER TABLE prices ADD COLUMN stripe_account TEXT;

ALTER TABLE customers ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE customers ADD COLUMN stripe_account TEXT;
CREATE INDEX customers_stripe ON customers (mode, stripe_customer_id);

-- One row per Stripe subscription. `event_created` is the `created` time of the newest event
-- applied to it: an older event never overwrites newer state.
CREATE TABLE subscriptions (
    project_id            TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    id                    TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    tier_id               TEXT NOT NULL,
    status                TEXT NOT NULL,
    period_start          BIGINT NOT NULL,
    period_end            BIGINT NOT NULL,
    cancel_at_period_end  BIGINT NOT NULL,
    event_created         BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, id)
);
CREATE INDEX subscriptions_user ON subscriptions (project_id, mode, user_id);

-- Every verified Stripe event, once: the primary key is what makes a replay a no-op, and it is
-- written in the same transaction as the event's effect. Events no tenant claims keep a NULL
-- project and are visible to none.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    project_id   TEXT,
    mode         TEXT,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    message      TEXT,
    user_id      TEXT,
    created      BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX stripe_events_tenant ON stripe_events (project_id, mode, seq);

-- Money received: paid invoices and completed carts.
CREATE TABLE payments (
    project_id      TEXT NOT NULL,
    mode            TEXT NOT NULL,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT,
    customer_email  TEXT,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    paid_at         BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, id)
);
CREATE INDEX payments_tenant ON payments (project_id, mode, seq);
