//! Usage time series, revenue and the figures of the metrics overview.
//!
//! Usage reaches this file in batches from the in-memory recorder (`app/metrics.rs`), never on
//! the track path: one transaction adds each (metric, hour) sum to its bucket and records which
//! users were active in which hour, a few hundred rows per statement.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::Tenant;

/// Rows per multi-row statement: well under both backends' limits on bound parameters.
const CHUNK: usize = 400;

/// Usage to add, as the recorder collected it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsageBatch {
    /// (tenant, metric, hour start, amount)
    pub counts: Vec<(Tenant, String, i64, i64)>,
    /// (tenant, hour start, user id)
    pub active: Vec<(Tenant, i64, String)>,
}

impl UsageBatch {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.active.is_empty()
    }
}

/// `($1, $2, …, $n), (…)`: placeholders for `rows` rows of `width` values.
fn values(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sql` with the tenant and the range `[from, to)` bound as `$1` to `$4`.
fn in_range<'q>(
    sql: &'q str,
    tenant: &'q Tenant,
    from: i64,
    to: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(from)
        .bind(to)
}

impl Store {
    /// Adds a batch of usage to the time series, in one transaction.
    pub async fn usage_series_add(&self, batch: &UsageBatch) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in batch.counts.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO usage_buckets (project_id, mode, metric, bucket, count) VALUES {} \
                 ON CONFLICT (project_id, mode, bucket, metric) \
                 DO UPDATE SET count = usage_buckets.count + excluded.count",
                values(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (tenant, metric, bucket, amount) in chunk {
                query = query
                    .bind(&tenant.project_id)
                    .bind(tenant.mode.as_str())
                    .bind(metric)
                    .bind(*bucket)
                    .bind(*amount);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in batch.active.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO usage_active (project_id, mode, bucket, user_id) VALUES {} \
                 ON CONFLICT (project_id, mode, bucket, user_id) DO NOTHING",
                values(chunk.len(), 4)
            );
            let mut query = sqlx::query(&sql);
            for (tenant, bucket, user_id) in chunk {
                query = query
                    .bind(&tenant.project_id)
                    .bind(tenant.mode.as_str())
                    .bind(*bucket)
                    .bind(user_id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Hourly usage rows in `[from, to)`: (metric, hour start, count).
    pub async fn usage_series(
        &self,
        tenant: &Tenant,
        from: i64,
        to: i64,
        metric: Option<&str>,
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        let rows = in_range(
            "SELECT metric, bucket, count FROM usage_buckets \
             WHERE project_id = $1 AND mode = $2 AND bucket >= $3 AND bucket < $4 \
             AND ($5 IS NULL OR metric = $5) ORDER BY metric, bucket",
            tenant,
            from,
            to,
        )
        .bind(metric.map(str::to_string))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("metric")?,
                    r.try_get("bucket")?,
                    r.try_get("count")?,
                ))
            })
            .collect()
    }

    /// Distinct active users per bucket of `width` seconds in `[from, to)`: (bucket, users).
    pub async fn active_users_series(
        &self,
        tenant: &Tenant,
        from: i64,
        to: i64,
        width: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let rows = in_range(
            "SELECT bucket - (bucket % $5) AS start, COUNT(DISTINCT user_id) AS users FROM usage_active \
             WHERE project_id = $1 AND mode = $2 AND bucket >= $3 AND bucket < $4 \
             GROUP BY bucket - (bucket % $5)",
            tenant,
            from,
            to,
        )
        .bind(width)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("start")?, r.try_get("users")?)))
            .collect()
    }

    /// Distinct users active in `[from, to)`.
    pub async fn active_users_between(
        &self,
        tenant: &Tenant,
        from: i64,
        to: i64,
    ) -> StoreResult<i64> {
        let row = in_range(
            "SELECT COUNT(DISTINCT user_id) AS users FROM usage_active \
             WHERE project_id = $1 AND mode = $2 AND bucket >= $3 AND bucket < $4",
            tenant,
            from,
            to,
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("users")?)
    }

    /// Payments in `[from, to)` per currency and bucket of `width` seconds:
    /// (currency, bucket start, amount).
    pub async fn revenue_series(
        &self,
        tenant: &Tenant,
        from: i64,
        to: i64,
        width: i64,
    ) -> StoreResult<Vec<(String, i64, i64)>> {
        let rows = in_range(
            // Summed as floating point, which cannot overflow: amounts are capped when
            // recorded, but a sum must never turn the revenue page into an error.
            "SELECT currency, paid_at - (paid_at % $5) AS start, \
             SUM(CAST(amount AS DOUBLE PRECISION)) AS amount \
             FROM payments WHERE project_id = $1 AND mode = $2 AND paid_at >= $3 AND paid_at < $4 \
             GROUP BY currency, paid_at - (paid_at % $5)",
            tenant,
            from,
            to,
        )
        .bind(width)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let amount: f64 = r.try_get("amount")?;
                // `as` saturates at i64's bounds.
                Ok((r.try_get("currency")?, r.try_get("start")?, amount as i64))
            })
            .collect()
    }

    /// The tier of every live subscription (`active`, `trialing`, `past_due`).
    pub async fn live_subscription_tiers(&self, tenant: &Tenant) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT tier_id FROM subscriptions WHERE project_id = $1 AND mode = $2 \
             AND status IN ('active', 'trialing', 'past_due')",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("tier_id")?)).collect()
    }

    /// Customers grouped by what their plan rests on: (override tier, live subscription's
    /// tier, customers). The caller resolves each pair as the plan does.
    pub async fn customers_by_plan(
        &self,
        tenant: &Tenant,
    ) -> StoreResult<Vec<(Option<String>, Option<String>, i64)>> {
        let rows = sqlx::query(
            "SELECT tier_override_id AS override_id, sub_tier, COUNT(*) AS customers FROM ( \
               SELECT c.tier_override_id, \
                 (SELECT s.tier_id FROM subscriptions s \
                   WHERE s.project_id = c.project_id AND s.mode = c.mode AND s.user_id = c.user_id \
                   AND s.status IN ('active', 'trialing', 'past_due') \
                   ORDER BY s.period_end DESC, s.id LIMIT 1) AS sub_tier \
               FROM customers c WHERE c.project_id = $1 AND c.mode = $2) plans \
             GROUP BY tier_override_id, sub_tier",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("override_id")?,
                    r.try_get("sub_tier")?,
                    r.try_get("customers")?,
                ))
            })
            .collect()
    }
}
