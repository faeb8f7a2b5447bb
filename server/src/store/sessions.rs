//! Dashboard sessions. The cookie carries a random token; only its SHA-256 hash is stored, so
//! a copy of the database signs nobody in.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::domain::{DashboardSession, Mode, ids};

impl DashboardSession {
    /// The hash of the secret key this session signed in with for `mode`.
    pub fn secret_key(&self, mode: Mode) -> Option<&str> {
        self.secret_keys
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, hash)| hash.as_str())
    }

    /// Records `key`, a secret key of `mode` the session signed in with or rotated to, in
    /// place of any earlier one: its hash, so the session ends when the key stops working,
    /// and its redacted form, which names the session's changes in the audit log.
    pub fn keep_secret_key(&mut self, mode: Mode, key: &str) {
        self.secret_keys.retain(|(m, _)| *m != mode);
        self.secret_keys.push((mode, ids::key_hash(key)));
        let prefix = format!("sk_{}_", mode.as_str());
        let mut labels: Vec<&str> = self
            .label
            .split(',')
            .filter(|l| !l.is_empty() && !l.starts_with(&prefix))
            .collect();
        let redacted = ids::redact(key);
        labels.push(&redacted);
        self.label = labels.join(",");
    }

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

/// `test:<hash>,live:<hash>`.
fn keys_text(keys: &[(Mode, String)]) -> String {
    keys.iter()
        .map(|(mode, hash)| format!("{}:{hash}", mode.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn keys_parse(text: &str) -> super::StoreResult<Vec<(Mode, String)>> {
    text.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.split_once(':')
                .and_then(|(mode, hash)| Some((Mode::parse(mode)?, hash.to_string())))
                .ok_or_else(|| super::StoreError::Corrupt(format!("session key {k}")))
        })
        .collect()
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
            "INSERT INTO dashboard_sessions (token_hash, project_id, project_name, operator, modes, mode, label, secret_keys, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&row.token_hash)
        .bind(row.project_id.clone())
        .bind(row.project_name.clone())
        .bind(super::flag(row.operator))
        .bind(modes_text(&row.modes))
        .bind(row.mode.as_str())
        .bind(&row.label)
        .bind(keys_text(&row.secret_keys))
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
            "SELECT token_hash, project_id, project_name, operator, modes, mode, label, secret_keys, csrf, created_at, expires_at \
             FROM dashboard_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let modes: String = r.try_get("modes")?;
        let mode: String = r.try_get("mode")?;
        let keys: String = r.try_get("secret_keys")?;
        Ok(Some(DashboardSession {
            token_hash: r.try_get("token_hash")?,
            project_id: r.try_get("project_id")?,
            project_name: r.try_get("project_name")?,
            operator: r.try_get::<i64, _>("operator")? != 0,
            modes: modes.split(',').filter_map(Mode::parse).collect(),
            mode: Mode::parse(&mode)
                .ok_or_else(|| super::StoreError::Corrupt(format!("session mode {mode}")))?,
            label: r.try_get("label")?,
            secret_keys: keys_parse(&keys)?,
            csrf: r.try_get("csrf")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
    }

    /// Changes what a session shows and may see.
    pub async fn session_update(&self, row: &DashboardSession) -> StoreResult<()> {
        sqlx::query(
            "UPDATE dashboard_sessions SET project_id = $2, project_name = $3, modes = $4, mode = $5, label = $6, secret_keys = $7 \
             WHERE token_hash = $1",
        )
        .bind(&row.token_hash)
        .bind(row.project_id.clone())
        .bind(row.project_name.clone())
        .bind(modes_text(&row.modes))
        .bind(row.mode.as_str())
        .bind(&row.label)
        .bind(keys_text(&row.secret_keys))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Leaves `sealed` for the session's next page to take, and gives the session a new form
    /// token (the one just used is spent).
    pub async fn session_reveal_put(
        &self,
        token_hash: &str,
        sealed: &str,
        csrf: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE dashboard_sessions SET reveal = $2, csrf = $3 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(sealed)
            .bind(csrf)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes what waits for the session to show, once: of two pages asking at the same time,
    /// one gets it (the clear only succeeds while the value is still the one read).
    pub async fn session_reveal_take(&self, token_hash: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT reveal FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(sealed) = row.map(|r| r.try_get::<String, _>("reveal")).transpose()? else {
            return Ok(None);
        };
        if sealed.is_empty() {
            return Ok(None);
        }
        let taken = sqlx::query(
            "UPDATE dashboard_sessions SET reveal = '' WHERE token_hash = $1 AND reveal = $2",
        )
        .bind(token_hash)
        .bind(&sealed)
        .execute(self.pool())
        .await?;
        Ok((taken.rows_affected() == 1).then_some(sealed))
    }

    pub async fn session_delete(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
