//! Dashboard sessions, kept in the database so any replica serves any session. The dashboard
//! reaches them, and the project a session shows, only through these calls.

use super::{App, AppResult, now};
use crate::domain::{DashboardSession, KeyKind, Project};

impl App {
    pub async fn dashboard_session_create(&self, session: &DashboardSession) -> AppResult<()> {
        Ok(self.store.session_create(session).await?)
    }

    /// The session whose cookie token hashes to `token_hash`, expired or not.
    pub async fn dashboard_session_get(
        &self,
        token_hash: &str,
    ) -> AppResult<Option<DashboardSession>> {
        Ok(self.store.session_get(token_hash).await?)
    }

    /// Whether every secret key the session signed in with still works: a session lasts no
    /// longer than the keys it was opened with (the operator's, as long as it expires).
    pub async fn dashboard_session_keys_live(&self, session: &DashboardSession) -> AppResult<bool> {
        if session.operator {
            return Ok(true);
        }
        let at = now();
        for (mode, hash) in &session.secret_keys {
            let live = self.store.api_key_find(hash, at).await?.is_some_and(|key| {
                key.kind == KeyKind::Secret
                    && key.tenant.mode == *mode
                    && session.project_id.as_ref() == Some(&key.tenant.project_id)
            });
            if !live {
                return Ok(false);
            }
        }
        Ok(!session.secret_keys.is_empty())
    }

    pub async fn dashboard_session_update(&self, session: &DashboardSession) -> AppResult<()> {
        Ok(self.store.session_update(session).await?)
    }

    /// Leaves a sealed value for the session's next page, and spends its form token.
    pub async fn dashboard_session_reveal_put(
        &self,
        token_hash: &str,
        sealed: &str,
        csrf: &str,
    ) -> AppResult<()> {
        Ok(self
            .store
            .session_reveal_put(token_hash, sealed, csrf)
            .await?)
    }

    /// Takes the sealed value waiting for the session, once.
    pub async fn dashboard_session_reveal_take(
        &self,
        token_hash: &str,
    ) -> AppResult<Option<String>> {
        Ok(self.store.session_reveal_take(token_hash).await?)
    }

    pub async fn dashboard_session_delete(&self, token_hash: &str) -> AppResult<()> {
        Ok(self.store.session_delete(token_hash).await?)
    }

    /// A project by id, for an operator's session.
    pub async fn project_get(&self, id: &str) -> AppResult<Option<Project>> {
        Ok(self.store.project_get(id).await?)
    }
}
