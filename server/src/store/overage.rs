//! Usage-based billing: what each subscription period's overage came to, recorded once.

use sqlx::Row;

use super::billing::{SUBSCRIPTION_COLUMNS, subscription_row};
use super::{Store, StoreResult};
use crate::domain::{Subscription, Tenant};

/// One metric's overage in one subscription period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverageCharge {
    pub subscription: String,
    pub period_start: i64,
    pub metric: String,
    pub user_id: String,
    pub included: i64,
    pub used: i64,
    pub units: i64,
    pub amount: i64,
    pub currency: String,
    /// The draft invoice it goes on, or empty for a pending item (the next invoice).
    pub invoice: String,
    /// Stripe's invoice item, once Stripe has confirmed it.
    pub invoice_item: Option<String>,
}

const COLUMNS: &str = "subscription, period_start, metric, user_id, included, used, units, amount, currency, invoice, invoice_item";

impl Store {
    /// A subscription by its Stripe id.
    pub async fn subscription_get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> StoreResult<Option<Subscription>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE project_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(subscription_row).transpose()
    }

    /// Whether a Stripe event was recorded already.
    pub async fn stripe_event_known(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS known FROM stripe_events WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Records `charge` unless its subscription, period and metric already have one, and
    /// returns the one that stands: a second attempt bills the first one's figures.
    pub async fn overage_claim(
        &self,
        tenant: &Tenant,
        charge: &OverageCharge,
        now: i64,
    ) -> StoreResult<OverageCharge> {
        sqlx::query(
            "INSERT INTO overage_charges (project_id, mode, subscription, period_start, metric, user_id, included, used, \
             units, amount, currency, invoice, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (project_id, mode, subscription, period_start, metric) DO NOTHING",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&charge.subscription)
        .bind(charge.period_start)
        .bind(&charge.metric)
        .bind(&charge.user_id)
        .bind(charge.included)
        .bind(charge.used)
        .bind(charge.units)
        .bind(charge.amount)
        .bind(&charge.currency)
        .bind(&charge.invoice)
        .bind(now)
        .execute(self.pool())
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM overage_charges WHERE project_id = $1 AND mode = $2 AND subscription = $3 \
             AND period_start = $4 AND metric = $5"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&charge.subscription)
        .bind(charge.period_start)
        .bind(&charge.metric)
        .fetch_one(self.pool())
        .await?;
        charge_row(&row)
    }

    /// Notes Stripe's invoice item for a recorded charge.
    pub async fn overage_billed(
        &self,
        tenant: &Tenant,
        charge: &OverageCharge,
        invoice_item: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE overage_charges SET invoice_item = $1 WHERE project_id = $2 AND mode = $3 AND subscription = $4 \
             AND period_start = $5 AND metric = $6",
        )
        .bind(invoice_item)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&charge.subscription)
        .bind(charge.period_start)
        .bind(&charge.metric)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn charge_row(r: &sqlx::any::AnyRow) -> StoreResult<OverageCharge> {
    Ok(OverageCharge {
        subscription: r.try_get("subscription")?,
        period_start: r.try_get("period_start")?,
        metric: r.try_get("metric")?,
        user_id: r.try_get("user_id")?,
        included: r.try_get("included")?,
        used: r.try_get("used")?,
        units: r.try_get("units")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        invoice: r.try_get("invoice")?,
        invoice_item: r.try_get("invoice_item")?,
    })
}
