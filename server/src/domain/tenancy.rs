//! Projects, their API keys and settings, and the dashboard's sessions.

use super::{Mode, Tenant, words};

words! {
    /// A publishable key is safe in a browser; a secret key is the backend's full access.
    KeyKind { Publishable = "publishable", Secret = "secret" }
}

impl KeyKind {
    /// The key's prefix before its mode: `pk` or `sk`.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Publishable => "pk",
            KeyKind::Secret => "sk",
        }
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// An API key as stored: never the key itself, only its hash.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub tenant: Tenant,
    pub kind: KeyKind,
    pub display: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// How user JWTs are verified for one tenant.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub allowed_origins: Vec<String>,
    pub leeway_seconds: i64,
    pub dev_issuer_enabled: bool,
}

/// A signed-in dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
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
    /// The hash of each secret key the session signed in with, by mode; none for the
    /// operator. The session ends when one of them stops working (revoked, or rotated away
    /// and past its overlap).
    pub secret_keys: Vec<(Mode, String)>,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}
