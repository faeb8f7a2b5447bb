//! Projects, keys, settings and who a credential belongs to.

use super::{App, AppError, AppResult, Identity, UserContext, ids, now};
use crate::store::keys::NewKey;
use crate::store::tiers::{LimitRule, NewTier};
use crate::store::{KeyRow, Mode, SettingsRow, Tenant};

/// Who is calling, once credentials are checked.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    Operator,
    Publishable(Tenant),
    Secret(Tenant),
    User(UserContext),
}

/// A new project and its keys, shown once.
#[derive(Debug, Clone)]
pub struct CreatedProject {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// (mode, publishable key, secret key)
    pub keys: Vec<(Mode, String, String)>,
}

/// The leeway used when a project sets none: Clerk's own, not the 300 s maximum.
pub const DEFAULT_LEEWAY_SECONDS: i64 = 5;

/// The limit of the `free` tier every new project starts with.
pub const DEFAULT_FREE_REQUESTS: i64 = 1000;

impl App {
    /// Checks the operator token in constant time.
    pub fn check_operator(&self, presented: &str) -> AppResult<()> {
        let Some(expected) = &self.operator_token else {
            return Err(AppError::InvalidOperatorToken);
        };
        let a = ids::key_hash(presented);
        let b = ids::key_hash(expected);
        if a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
        {
            Ok(())
        } else {
            Err(AppError::InvalidOperatorToken)
        }
    }

    /// The key row for a presented key, if it is live.
    pub async fn resolve_key(&self, key: &str, kind: &str) -> AppResult<KeyRow> {
        let hash = ids::key_hash(key);
        // Publishable keys never expire or get revoked, so their rows may be reused.
        let cached = match kind {
            "publishable" => self.caches.key(&hash),
            _ => None,
        };
        let row = match cached {
            Some(row) => row,
            None => {
                let row = self
                    .store
                    .api_key_find(&hash, now())
                    .await?
                    .ok_or(AppError::InvalidApiKey)?;
                if row.kind == "publishable" && row.expires_at.is_none() {
                    self.caches.put_key(hash, row.clone());
                }
                row
            }
        };
        // The prefix must agree with what is stored: `pk_live_…` is never a test key.
        let expected_prefix = format!(
            "{}_{}_",
            if kind == "secret" { "sk" } else { "pk" },
            row.tenant.mode.as_str()
        );
        if row.kind != kind || !key.starts_with(&expected_prefix) {
            return Err(AppError::InvalidApiKey);
        }
        Ok(row)
    }

    /// Verifies a user token for the tenant of a publishable key.
    pub async fn resolve_user(&self, tenant: Tenant, token: &str) -> AppResult<UserContext> {
        let settings = match self.caches.settings(&tenant) {
            Some(settings) => settings,
            None => {
                let epoch = self.caches.epoch();
                let settings = self.store.settings_get(&tenant).await?;
                self.caches
                    .put_settings(epoch, tenant.clone(), settings.clone());
                settings
            }
        };
        let user = self
            .identity
            .verify(&tenant, &settings, token, now())
            .await?;
        Ok(UserContext {
            tenant,
            user,
            plan: Default::default(),
        })
    }

    /// Creates a project: both modes, their keys, settings, and a default `free` tier each.
    pub async fn project_create(&self, name: &str, dev_issuer: bool) -> AppResult<CreatedProject> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::validation("name", "`name` must not be blank."));
        }
        let id = ids::id("proj");
        let created_at = now();
        let mut secrets = Vec::new();
        for mode in [Mode::Test, Mode::Live] {
            let pk = format!("pk_{}_{}", mode.as_str(), ids::random(24));
            let sk = format!("sk_{}_{}", mode.as_str(), ids::random(32));
            secrets.push((mode, pk, sk, ids::id("key"), ids::id("key")));
        }
        let hashes: Vec<(String, String, String)> = secrets
            .iter()
            .map(|(_, pk, sk, _, _)| (ids::key_hash(pk), ids::key_hash(sk), ids::redact(sk)))
            .collect();
        let mut keys = Vec::new();
        for ((mode, pk, _, pk_id, sk_id), (pk_hash, sk_hash, sk_display)) in
            secrets.iter().zip(&hashes)
        {
            keys.push(NewKey {
                id: pk_id,
                mode: *mode,
                kind: "publishable",
                token_hash: pk_hash,
                display: pk,
            });
            keys.push(NewKey {
                id: sk_id,
                mode: *mode,
                kind: "secret",
                token_hash: sk_hash,
                display: sk_display,
            });
        }
        let settings: Vec<(Mode, SettingsRow)> = [Mode::Test, Mode::Live]
            .into_iter()
            .map(|mode| {
                (
                    mode,
                    SettingsRow {
                        jwt_issuer: None,
                        jwks_url: None,
                        allowed_origins: Vec::new(),
                        leeway_seconds: DEFAULT_LEEWAY_SECONDS,
                        dev_issuer_enabled: dev_issuer && mode == Mode::Test,
                    },
                )
            })
            .collect();
        let tier_ids = [ids::id("tier"), ids::id("tier")];
        let tiers: Vec<NewTier> = [Mode::Test, Mode::Live]
            .into_iter()
            .zip(&tier_ids)
            .map(|(mode, id)| NewTier {
                id,
                mode,
                name: "free",
                display_name: "Free",
                is_default: true,
                price: None,
                limits: vec![LimitRule {
                    metric: "requests".into(),
                    limit: Some(DEFAULT_FREE_REQUESTS),
                    enforcement: "hard".into(),
                }],
                rate_limit: None,
            })
            .collect();
        self.store
            .project_create(&id, name, created_at, &keys, &settings, &tiers)
            .await?;
        Ok(CreatedProject {
            id,
            name: name.to_string(),
            created_at,
            keys: secrets
                .into_iter()
                .map(|(mode, pk, sk, _, _)| (mode, pk, sk))
                .collect(),
        })
    }

    pub async fn api_key_list(&self, tenant: &Tenant) -> AppResult<Vec<KeyRow>> {
        Ok(self.store.api_key_list(tenant, now()).await?)
    }

    /// Issues a new secret key; older ones expire after `overlap_seconds`.
    pub async fn secret_key_rotate(
        &self,
        tenant: &Tenant,
        overlap_seconds: i64,
    ) -> AppResult<(String, String, i64)> {
        let at = now();
        let sk = format!("sk_{}_{}", tenant.mode.as_str(), ids::random(32));
        let id = ids::id("key");
        let hash = ids::key_hash(&sk);
        let display = ids::redact(&sk);
        let expire_at = at + overlap_seconds;
        self.store
            .api_key_rotate(
                tenant,
                &NewKey {
                    id: &id,
                    mode: tenant.mode,
                    kind: "secret",
                    token_hash: &hash,
                    display: &display,
                },
                at,
                expire_at,
            )
            .await?;
        Ok((id, sk, expire_at))
    }

    /// Every project, for the operator.
    pub async fn project_list(&self) -> AppResult<Vec<crate::store::ProjectRow>> {
        Ok(self.store.project_list().await?)
    }

    /// The tenant's project.
    pub async fn project_of(&self, tenant: &Tenant) -> AppResult<crate::store::ProjectRow> {
        self.store
            .project_get(&tenant.project_id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("tenant {tenant:?} has no project")))
    }

    pub async fn settings_get(&self, tenant: &Tenant) -> AppResult<SettingsRow> {
        Ok(self.store.settings_get(tenant).await?)
    }

    /// Refuses settings that break a rule, without storing anything.
    pub fn settings_check(&self, tenant: &Tenant, settings: &SettingsRow) -> AppResult<()> {
        if settings.dev_issuer_enabled && tenant.mode == Mode::Live {
            return Err(AppError::validation(
                "devIssuerEnabled",
                "The development issuer can only be enabled in test mode.",
            ));
        }
        if !(0..=300).contains(&settings.leeway_seconds) {
            return Err(AppError::validation(
                "jwt.leewaySeconds",
                "`jwt.leewaySeconds` must be between 0 and 300.",
            ));
        }
        Ok(())
    }

    pub async fn settings_put(
        &self,
        tenant: &Tenant,
        settings: SettingsRow,
    ) -> AppResult<SettingsRow> {
        self.settings_check(tenant, &settings)?;
        self.store.settings_put(tenant, &settings).await?;
        self.forget(super::cache::Forget::settings(tenant)).await;
        Ok(settings)
    }

    /// Mints a development token: test mode and an opted-in project only.
    pub async fn dev_token_create(
        &self,
        tenant: &Tenant,
        user_id: &str,
        email: Option<&str>,
        ttl: i64,
    ) -> AppResult<(String, String, i64)> {
        if tenant.mode != Mode::Test {
            return Err(AppError::LiveModeNotAllowed);
        }
        if !self.store.settings_get(tenant).await?.dev_issuer_enabled {
            return Err(AppError::DevIssuerDisabled);
        }
        self.identity
            .dev_mint(&tenant.project_id, user_id, email, now(), ttl)
    }

    /// The development issuer for a project, for display.
    pub fn dev_issuer(project_id: &str) -> String {
        Identity::dev_issuer(project_id)
    }
}

impl App {
    /// On a database without projects, creates the development project (test-mode dev issuer
    /// on) and returns it; otherwise `None`.
    pub async fn development_project(&self) -> AppResult<Option<CreatedProject>> {
        if self.store.project_count().await? > 0 {
            return Ok(None);
        }
        Ok(Some(self.project_create("Development", true).await?))
    }
}
