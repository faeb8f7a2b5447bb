//! Tiers: per-tenant plans with per-metric limits.

use sqlx::Row;

use super::{Store, StoreError, StoreResult, flag, from_json, to_json};
use crate::domain::{LimitRule, Mode, RateLimitRule, Tenant, Tier, TierPrice, Trial};

/// A tier to insert.
pub struct NewTier<'a> {
    pub id: &'a str,
    pub mode: Mode,
    pub name: &'a str,
    pub display_name: &'a str,
    pub is_default: bool,
    pub price: Option<TierPrice>,
    pub trial: Option<Trial>,
    pub limits: Vec<LimitRule>,
    pub rate_limit: Option<RateLimitRule>,
    pub features: Vec<String>,
}

const COLUMNS: &str = "id, name, display_name, is_default, active, price_json, trial_json, limits_json, rate_limit_json, features_json, created_at, updated_at";

pub(super) async fn insert(
    tx: &mut super::tx::Tx,
    tenant: &Tenant,
    tier: &NewTier<'_>,
    now: i64,
) -> StoreResult<()> {
    if tier.is_default {
        sqlx::query("UPDATE tiers SET is_default = 0, updated_at = $1 WHERE project_id = $2 AND mode = $3 AND is_default = 1")
            .bind(now)
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO tiers (id, project_id, mode, name, display_name, is_default, active, price_json, limits_json, rate_limit_json, features_json, trial_json, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(tier.id)
    .bind(&tenant.project_id)
    .bind(tenant.mode.as_str())
    .bind(tier.name)
    .bind(tier.display_name)
    .bind(flag(tier.is_default))
    .bind(tier.price.as_ref().map(to_json))
    .bind(to_json(&tier.limits))
    .bind(tier.rate_limit.as_ref().map(to_json))
    .bind(to_json(&tier.features))
    .bind(tier.trial.as_ref().map(to_json))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(())
}

impl Store {
    pub async fn tier_create(
        &self,
        tenant: &Tenant,
        tier: &NewTier<'_>,
        now: i64,
    ) -> StoreResult<Tier> {
        let mut tx = self.begin().await?;
        insert(&mut tx, tenant, tier, now).await?;
        tx.commit().await?;
        self.tier_get(tenant, tier.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("tier vanished after insert".into()))
    }

    pub async fn tier_list(
        &self,
        tenant: &Tenant,
        include_archived: bool,
    ) -> StoreResult<Vec<Tier>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tiers WHERE project_id = $1 AND mode = $2 AND (active = 1 OR $3 = 1) \
             ORDER BY is_default DESC, created_at, id"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(flag(include_archived))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tier_row).collect()
    }

    pub async fn tier_get(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<Tier>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tiers WHERE project_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tier_row).transpose()
    }

    pub async fn tier_by_name(&self, tenant: &Tenant, name: &str) -> StoreResult<Option<Tier>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tiers WHERE project_id = $1 AND mode = $2 AND name = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tier_row).transpose()
    }

    pub async fn tier_default(&self, tenant: &Tenant) -> StoreResult<Option<Tier>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tiers WHERE project_id = $1 AND mode = $2 AND is_default = 1 LIMIT 1"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tier_row).transpose()
    }

    /// Writes back a changed tier; making it the default clears the flag elsewhere in the
    /// same transaction.
    pub async fn tier_update(&self, tenant: &Tenant, tier: &Tier, now: i64) -> StoreResult<Tier> {
        let mut tx = self.begin().await?;
        if tier.is_default {
            sqlx::query(
                "UPDATE tiers SET is_default = 0, updated_at = $1 WHERE project_id = $2 AND mode = $3 AND is_default = 1 AND id <> $4",
            )
            .bind(now)
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(&tier.id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE tiers SET display_name = $1, is_default = $2, active = $3, price_json = $4, limits_json = $5, \
             rate_limit_json = $6, features_json = $7, trial_json = $8, updated_at = $9 WHERE project_id = $10 AND mode = $11 AND id = $12",
        )
        .bind(&tier.display_name)
        .bind(flag(tier.is_default))
        .bind(flag(tier.active))
        .bind(tier.price.as_ref().map(to_json))
        .bind(to_json(&tier.limits))
        .bind(tier.rate_limit.as_ref().map(to_json))
        .bind(to_json(&tier.features))
        .bind(tier.trial.as_ref().map(to_json))
        .bind(now)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&tier.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.tier_get(tenant, &tier.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("tier vanished after update".into()))
    }
}

fn tier_row(r: &sqlx::any::AnyRow) -> StoreResult<Tier> {
    let price: Option<String> = r.try_get("price_json")?;
    let rate: Option<String> = r.try_get("rate_limit_json")?;
    let trial: Option<String> = r.try_get("trial_json")?;
    Ok(Tier {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        active: r.try_get::<i64, _>("active")? != 0,
        price: price.map(|p| from_json("price_json", &p)).transpose()?,
        trial: trial.map(|t| from_json("trial_json", &t)).transpose()?,
        limits: from_json("limits_json", &r.try_get::<String, _>("limits_json")?)?,
        rate_limit: rate.map(|p| from_json("rate_limit_json", &p)).transpose()?,
        features: from_json("features_json", &r.try_get::<String, _>("features_json")?)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}
