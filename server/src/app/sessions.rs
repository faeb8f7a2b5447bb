//! Dashboard sessions, kept in the database so any replica serves any session. The dashboard
//! reaches them, and the project a session shows, only through these calls.

use super::{App, AppResult};
use crate::domain::{DashboardSession, Project};

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

    pub async fn dashboard_session_update(&self, session: &DashboardSession) -> AppResult<()> {
        Ok(self.store.session_update(session).await?)
    }

    pub async fn dashboard_session_delete(&self, token_hash: &str) -> AppResult<()> {
        Ok(self.store.session_delete(token_hash).await?)
    }

    /// A project by id, for an operator's session.
    pub async fn project_get(&self, id: &str) -> AppResult<Option<Project>> {
        Ok(self.store.project_get(id).await?)
    }
}
