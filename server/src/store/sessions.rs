//! Dashboard sessions. The cookie carries a random token; only its SHA-256 hash is stored, so
//! a copy of the database signs nobody in.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::{DashboardSession, Mode};

impl DashboardSession {
    /// What this session acts as in the mode it shows: that mode's key, redacted.
    pub fn actor(&self) -> &str {
        let prefix = format!("sk_{}_", self.mode.as_str());
        self.label
            .split(',')
            .find(|l| l.starts_with(&prefix))
            .or_else(|| self.label.split(',').next())
            .unwrap_or_default()
    }
}

fn modes_text(modes: &[Mode]) -> String {
    modes
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Stores a new session, dropping expired ones on the way.
    pub async fn session_create(&self, row: &DashboardSession) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
            .bind(row.created_at)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, project_id, project_name, operator, modes, mode, label, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.token_hash)
        .bind(row.project_id.clone())
        .bind(row.project_name.clone())
        .bind(super::flag(row.operator))
        .bind(modes_text(&row.modes))
        .bind(row.mode.as_str())
        .bind(&row.label)
        .bind(&row.csrf)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session with this token hash, expired or not.
    pub async fn session_get(&self, token_hash: &str) -> StoreResult<Option<DashboardSession>> {
        let row = sqlx::query(
            "SELECT token_hash, project_id, project_name, operator, modes, mode, label, csrf, created_at, expires_at \
             FROM dashboard_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let modes: String = r.try_get("modes")?;
        let mode: String = r.try_get("mode")?;
        Ok(Some(DashboardSession {
            token_hash: r.try_get("token_hash")?,
            project_id: r.try_get("project_id")?,
            project_name: r.try_get("project_name")?,
            operator: r.try_get::<i64, _>("operator")? != 0,
            modes: modes.split(',').filter_map(Mode::parse).collect(),
            mode: Mode::parse(&mode)
                .ok_or_else(|| super::StoreError::Corrupt(format!("session mode {mode}")))?,
            label: r.try_get("label")?,
            csrf: r.try_get("csrf")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
    }

    /// Changes what a session shows and may see.
    pub async fn session_update(&self, row: &DashboardSession) -> StoreResult<()> {
        sqlx::query(
            "UPDATE dashboard_sessions SET project_id = $2, project_name = $3, modes = $4, mode = $5, label = $6 \
             WHERE token_hash = $1",
        )
        .bind(&row.token_hash)
        .bind(row.project_id.clone())
        .bind(row.project_name.clone())
        .bind(modes_text(&row.modes))
        .bind(row.mode.as_str())
        .bind(&row.label)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn session_delete(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
