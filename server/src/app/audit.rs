//! The audit log: who changed what, with a secret key, from the API or the dashboard.

use super::{App, AppResult, now};
use crate::domain::{ActorKind, AuditEntry, Tenant, ids};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An API call made with a secret key, or a dashboard session.
    pub kind: ActorKind,
    /// The key, redacted, or what the dashboard session signed in with.
    pub label: String,
}

impl Actor {
    /// An API call made with `secret_key`.
    pub fn secret_key(secret_key: &str) -> Actor {
        Actor {
            kind: ActorKind::SecretKey,
            label: ids::redact(secret_key),
        }
    }

    /// A dashboard session signed in as `label`.
    pub fn dashboard(label: &str) -> Actor {
        Actor {
            kind: ActorKind::Dashboard,
            label: label.to_string(),
        }
    }
}

impl App {
    /// Records a change that has been made. A failure to record is logged, not returned: the
    /// change stands, and the caller has already been told it succeeded.
    pub async fn audit(
        &self,
        tenant: &Tenant,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        summary: Option<String>,
    ) {
        let row = AuditEntry {
            id: ids::id("aud"),
            action: action.to_string(),
            target: target.map(str::to_string),
            actor_kind: actor.kind,
            actor_label: actor.label.clone(),
            summary,
            created_at: now(),
        };
        let seq = chrono::Utc::now().timestamp_micros();
        if let Err(e) = self.store.audit_append(tenant, &row, seq).await {
            tracing::error!(error = %e, action, "recording an audit entry failed");
        }
    }

    pub async fn audit_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> AppResult<(Vec<AuditEntry>, bool)> {
        Ok(self.store.audit_list(tenant, limit, starting_after).await?)
    }
}
