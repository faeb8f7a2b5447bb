//! Dashboard sessions. The cookie carries a random token; only its SHA-256 hash is stored, so
//! a copy of the database signs nobody in.

use sqlx::Row;

use super::{Mode, Store, StoreResult};

/// A signed-in dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    /// The project shown; `None` for an operator who has not picked one.
    pub project_id: Option<String>,
    /// Its name, for the page header.
    pub project_name: Option<String>,
    /// Signed in with the operator token: may pick any project, both modes.
    pub operator: bool,
    /// The modes this session may see.
    pub modes: Vec<Mode>,
    /// The mode shown now.
    pub mode: Mode,
    /// What the session signed in with, redacted (`sk_test_…c3Po`, `operator`); one per mode,
    /// comma-separated, once the other mode's key has been added.
    pub label: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionRow {
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
    pub async fn session_create(&self, row: &SessionRow) -> StoreResult<()> {
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
    pub async fn session_get(&self, token_hash: &str) -> StoreResult<Option<SessionRow>> {
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
        Ok(Some(SessionRow {
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
    pub async fn session_update(&self, row: &SessionRow) -> StoreResult<()> {
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
