//! Usage counters: atomic, limit-checked increments, and idempotent retries.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::domain::{IdempotentOutcome, Tenant, TrackOutcome};

/// One usage counter key.
pub struct Counter<'a> {
    pub tenant: &'a Tenant,
    pub user_id: &'a str,
    pub metric: &'a str,
    pub period: &'a str,
}

/// The one statement that counts. With a hard limit the increment happens only when the new
/// count stays within it, decided by the database row lock, so concurrent requests can never
/// push the count past the limit.
pub(super) async fn increment<'e, E>(
    ex: E,
    c: &Counter<'_>,
    amount: i64,
    hard_limit: Option<i64>,
) -> StoreResult<Option<i64>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = match hard_limit {
        Some(limit) => {
            sqlx::query(
                "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE $6 <= $7 \
                 ON CONFLICT (project_id, mode, user_id, metric, period) \
                 DO UPDATE SET count = usage_counters.count + excluded.count \
                 WHERE usage_counters.count + excluded.count <= $7 \
                 RETURNING count",
            )
            .bind(&c.tenant.project_id)
            .bind(c.tenant.mode.as_str())
            .bind(c.user_id)
            .bind(c.metric)
            .bind(c.period)
            .bind(amount)
            .bind(limit)
            .fetch_optional(ex)
            .await?
        }
        None => Some(
            sqlx::query(
                "INSERT INTO usage_counters (project_id, mode, user_id, metric, period, count) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (project_id, mode, user_id, metric, period) \
                 DO UPDATE SET count = usage_counters.count + excluded.count \
                 RETURNING count",
            )
            .bind(&c.tenant.project_id)
            .bind(c.tenant.mode.as_str())
            .bind(c.user_id)
            .bind(c.metric)
            .bind(c.period)
            .bind(amount)
            .fetch_one(ex)
            .await?,
        ),
    };
    row.map(|r| r.try_get::<i64, _>("count").map_err(StoreError::from))
        .transpose()
}

impl Store {
    /// Adds `amount` unless that would pass `hard_limit`.
    /// Concurrent increments of the same counter are written together (`coalesce`).
    pub async fn usage_increment(
        &self,
        c: &Counter<'_>,
        amount: i64,
        hard_limit: Option<i64>,
    ) -> StoreResult<TrackOutcome> {
        let key = super::coalesce::Key {
            project_id: c.tenant.project_id.clone(),
            mode: c.tenant.mode.as_str(),
            user_id: c.user_id.to_string(),
            metric: c.metric.to_string(),
            period: c.period.to_string(),
        };
        self.usage_increment_coalesced(key, amount, hard_limit)
            .await
    }

    /// [`Store::usage_increment`] under an idempotency key, in one transaction: the key is
    /// claimed first (so a concurrent duplicate waits on it), the increment runs, and the
    /// response is stored with it. A refused increment stores nothing, so a retry is judged
    /// afresh.
    #[allow(clippy::too_many_arguments)] // each is one column of the claimed key or the count
    pub async fn usage_increment_idempotent(
        &self,
        c: &Counter<'_>,
        amount: i64,
        hard_limit: Option<i64>,
        key: &str,
        request_hash: &str,
        now: i64,
        render: impl FnOnce(i64) -> String,
    ) -> StoreResult<IdempotentOutcome> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (project_id, mode, user_id, idem_key, request_hash, response_json, created_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&c.tenant.project_id)
        .bind(c.tenant.mode.as_str())
        .bind(c.user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            let row = sqlx::query(
                "SELECT request_hash, response_json FROM idempotency_keys \
                 WHERE project_id = $1 AND mode = $2 AND user_id = $3 AND idem_key = $4",
            )
            .bind(&c.tenant.project_id)
            .bind(c.tenant.mode.as_str())
            .bind(c.user_id)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            let stored_hash: String = row.try_get("request_hash")?;
            let response: Option<String> = row.try_get("response_json")?;
            return match (stored_hash == request_hash, response) {
                (false, _) => Ok(IdempotentOutcome::Mismatch),
                (true, Some(response)) => Ok(IdempotentOutcome::Replayed(response)),
                (true, None) => Err(StoreError::Corrupt(
                    "idempotency key without response".into(),
                )),
            };
        }
        match increment(&mut *tx, c, amount, hard_limit).await? {
            Some(count) => {
                sqlx::query(
                    "UPDATE idempotency_keys SET response_json = $1 \
                     WHERE project_id = $2 AND mode = $3 AND user_id = $4 AND idem_key = $5",
                )
                .bind(render(count))
                .bind(&c.tenant.project_id)
                .bind(c.tenant.mode.as_str())
                .bind(c.user_id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(IdempotentOutcome::Fresh(TrackOutcome::Counted(count)))
            }
            None => {
                tx.rollback().await?;
                Ok(IdempotentOutcome::Fresh(TrackOutcome::LimitExceeded(
                    self.usage_get(c).await?,
                )))
            }
        }
    }

    pub async fn usage_get(&self, c: &Counter<'_>) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT count FROM usage_counters WHERE project_id = $1 AND mode = $2 AND user_id = $3 AND metric = $4 AND period = $5",
        )
        .bind(&c.tenant.project_id)
        .bind(c.tenant.mode.as_str())
        .bind(c.user_id)
        .bind(c.metric)
        .bind(c.period)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => r.try_get("count")?,
            None => 0,
        })
    }

    /// Every metric the user has counted in `period`, by name.
    pub async fn usage_for_user(
        &self,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT metric, count FROM usage_counters WHERE project_id = $1 AND mode = $2 AND user_id = $3 AND period = $4 \
             ORDER BY metric",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .bind(period)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("metric")?, r.try_get("count")?)))
            .collect()
    }

    /// Sets every counter of the user in `period` back to zero.
    pub async fn usage_reset(
        &self,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE usage_counters SET count = 0 \
             WHERE project_id = $1 AND mode = $2 AND user_id = $3 AND period = $4",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .bind(period)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
