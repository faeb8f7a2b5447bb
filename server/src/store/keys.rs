//! Projects, API keys, per-mode settings and the development issuer's signing keys.

use sqlx::Row;

use super::word;
use super::{Store, StoreError, StoreResult, flag, from_json, to_json};
use crate::domain::{ApiKey, AuthSettings, BillingSettings, KeyKind, Mode, Project, Tenant};

/// A new key to insert.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub mode: Mode,
    pub kind: KeyKind,
    pub token_hash: &'a str,
    pub display: &'a str,
}

impl Store {
    /// Creates a project with its keys, settings and default tiers, all or nothing.
    pub async fn project_create(
        &self,
        id: &str,
        name: &str,
        now: i64,
        keys: &[NewKey<'_>],
        settings: &[(Mode, AuthSettings)],
        tiers: &[super::tiers::NewTier<'_>],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        for key in keys {
            sqlx::query(
                "INSERT INTO api_keys (id, project_id, mode, kind, token_hash, display, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
            )
            .bind(key.id)
            .bind(id)
            .bind(key.mode.as_str())
            .bind(key.kind.as_str())
            .bind(key.token_hash)
            .bind(key.display)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for (mode, s) in settings {
            sqlx::query(
                "INSERT INTO settings (project_id, mode, jwt_issuer, jwks_url, allowed_origins, leeway_seconds, dev_issuer_enabled) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(mode.as_str())
            .bind(s.jwt_issuer.clone())
            .bind(s.jwks_url.clone())
            .bind(to_json(&s.allowed_origins))
            .bind(s.leeway_seconds)
            .bind(flag(s.dev_issuer_enabled))
            .execute(&mut *tx)
            .await?;
        }
        for tier in tiers {
            super::tiers::insert(
                &mut tx,
                &Tenant {
                    project_id: id.to_string(),
                    mode: tier.mode,
                },
                tier,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The key with this hash, if it exists and has not expired at `now`.
    pub async fn api_key_find(&self, token_hash: &str, now: i64) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, project_id, mode, kind, display, created_at, expires_at FROM api_keys \
             WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| key_row(&r)).transpose()
    }

    pub async fn api_key_list(&self, tenant: &Tenant, now: i64) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, project_id, mode, kind, display, created_at, expires_at FROM api_keys \
             WHERE project_id = $1 AND mode = $2 AND (expires_at IS NULL OR expires_at > $3) \
             ORDER BY kind, created_at, id",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_row).collect()
    }

    /// Adds a secret key and makes every other live secret key of the tenant expire at
    /// `previous_expire_at`, in one transaction.
    pub async fn api_key_rotate(
        &self,
        tenant: &Tenant,
        key: &NewKey<'_>,
        now: i64,
        previous_expire_at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE api_keys SET expires_at = $1 WHERE project_id = $2 AND mode = $3 AND kind = 'secret' \
             AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(previous_expire_at)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO api_keys (id, project_id, mode, kind, token_hash, display, created_at, expires_at) \
             VALUES ($1, $2, $3, 'secret', $4, $5, $6, NULL)",
        )
        .bind(key.id)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(key.token_hash)
        .bind(key.display)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn settings_get(&self, tenant: &Tenant) -> StoreResult<AuthSettings> {
        let row = sqlx::query(
            "SELECT jwt_issuer, jwks_url, allowed_origins, leeway_seconds, dev_issuer_enabled FROM settings \
             WHERE project_id = $1 AND mode = $2",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(AuthSettings {
            jwt_issuer: row.try_get("jwt_issuer")?,
            jwks_url: row.try_get("jwks_url")?,
            allowed_origins: from_json(
                "allowed_origins",
                &row.try_get::<String, _>("allowed_origins")?,
            )?,
            leeway_seconds: row.try_get("leeway_seconds")?,
            dev_issuer_enabled: row.try_get::<i64, _>("dev_issuer_enabled")? != 0,
        })
    }

    /// Writes a tenant's settings, the JWT and the billing half, in one statement: both or
    /// neither. A connected account another project uses in this mode is a conflict.
    pub async fn settings_put(
        &self,
        tenant: &Tenant,
        s: &AuthSettings,
        b: &BillingSettings,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE settings SET jwt_issuer = $1, jwks_url = $2, allowed_origins = $3, leeway_seconds = $4, \
             dev_issuer_enabled = $5, stripe_account = $6, platform_fee_bps = $7, site_url = $8 \
             WHERE project_id = $9 AND mode = $10",
        )
        .bind(s.jwt_issuer.clone())
        .bind(s.jwks_url.clone())
        .bind(to_json(&s.allowed_origins))
        .bind(s.leeway_seconds)
        .bind(flag(s.dev_issuer_enabled))
        .bind(b.stripe_account.clone())
        .bind(b.platform_fee_bps)
        .bind(b.site_url.clone())
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The development issuer's signing key, if one was made.
    pub async fn dev_key_get(&self) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT kid, private_pem FROM dev_signing_keys ORDER BY created_at, kid LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get("kid")?, r.try_get("private_pem")?)))
            .transpose()
    }

    /// Stores a signing key unless one exists; returns whichever key won, so concurrent
    /// replicas agree on one.
    pub async fn dev_key_init(
        &self,
        kid: &str,
        pem: &str,
        now: i64,
    ) -> StoreResult<(String, String)> {
        sqlx::query(
            "INSERT INTO dev_signing_keys (kid, private_pem, created_at) \
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM dev_signing_keys)",
        )
        .bind(kid)
        .bind(pem)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        self.dev_key_get()
            .await?
            .ok_or_else(|| StoreError::Corrupt("dev signing key vanished".into()))
    }
}

fn key_row(r: &sqlx::any::AnyRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        tenant: Tenant {
            project_id: r.try_get("project_id")?,
            mode: word(r, "mode", Mode::parse)?,
        },
        kind: word(r, "kind", KeyKind::parse)?,
        display: r.try_get("display")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn project_count(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM projects")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Every project, oldest first: (id, name, created_at).
    pub async fn project_list(&self) -> StoreResult<Vec<Project>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM projects ORDER BY created_at, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(project_row).collect()
    }

    pub async fn project_get(&self, id: &str) -> StoreResult<Option<Project>> {
        let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(project_row).transpose()
    }
}

fn project_row(r: &sqlx::any::AnyRow) -> StoreResult<Project> {
    Ok(Project {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}
