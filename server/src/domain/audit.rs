//! The audit log's entries: who changed what.

use super::words;

words! {
    /// What made a change: a secret key over the API, or a dashboard session.
    ActorKind { SecretKey = "secret_key", Dashboard = "dashboard" }
}

/// One change: what, on what, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    pub target: Option<String>,
    pub actor_kind: ActorKind,
    pub actor_label: String,
    pub summary: Option<String>,
    pub created_at: i64,
}
