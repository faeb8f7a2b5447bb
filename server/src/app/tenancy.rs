//! Projects, keys, settings and who a credential belongs to.

use std::sync::Arc;

use super::{App, AppError, AppResult, Identity, UserContext, now};
use crate::domain::{
    ApiKey, AuthSettings, BillingSettings, Enforcement, KeyKind, LimitRule, Mode, Project, Tenant,
    ids,
};
use crate::store::StoreError;
use crate::store::keys::NewKey;
use crate::store::projects::ProjectDeletion;
use crate::store::tiers::NewTier;

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
        if ids::same_secret(presented, expected) {
            Ok(())
        } else {
            Err(AppError::InvalidOperatorToken)
        }
    }

    /// The tenant of a presented key, if the key is live and of `kind`.
    pub async fn resolve_key(&self, key: &str, kind: KeyKind) -> AppResult<Tenant> {
        if kind == KeyKind::Publishable && key.starts_with("sk_") {
            return Err(AppError::InvalidApiKey(
                "A secret key was sent as the publishable key (X-Publishable-Key): send the publishable key (pk_…) there, and the secret key only from your backend, as `Authorization: Bearer sk_…`.".into(),
            ));
        }
        let unknown = || {
            AppError::InvalidApiKey(format!(
                "The {} key is not valid: it is not a key of this server, or it was revoked or has expired.",
                match kind {
                    KeyKind::Publishable => "publishable",
                    KeyKind::Secret => "secret",
                }
            ))
        };
        let digest = ids::key_digest(key);
        // Publishable keys never expire or get revoked, so their rows may be reused.
        let cached = match kind {
            KeyKind::Publishable => self.caches.key(&digest),
            KeyKind::Secret => None,
        };
        let row = match cached {
            Some(row) => row,
            None => {
                let row = Arc::new(
                    self.store
                        .api_key_find(&hex::encode(digest), now())
                        .await?
                        .ok_or_else(unknown)?,
                );
                if row.kind == KeyKind::Publishable && row.expires_at.is_none() {
                    self.caches.put_key(digest, row.clone());
                }
                row
            }
        };
        // The prefix must agree with what is stored: `pk_live_…` is never a test key.
        let prefixed = key
            .strip_prefix(kind.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.strip_prefix(row.tenant.mode.as_str()))
            .is_some_and(|rest| rest.starts_with('_'));
        if row.kind != kind || !prefixed {
            return Err(unknown());
        }
        Ok(row.tenant.clone())
    }

    /// Verifies a user token for the tenant of a publishable key.
    pub async fn resolve_user(&self, tenant: Tenant, token: &str) -> AppResult<UserContext> {
        let settings = match self.caches.settings(&tenant) {
            Some(settings) => settings,
            None => {
                let epoch = self.caches.epoch();
                let settings = Arc::new(self.store.settings_get(&tenant).await?);
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
                kind: KeyKind::Publishable,
                token_hash: pk_hash,
                display: pk,
            });
            keys.push(NewKey {
                id: sk_id,
                mode: *mode,
                kind: KeyKind::Secret,
                token_hash: sk_hash,
                display: sk_display,
            });
        }
        let settings: Vec<(Mode, AuthSettings)> = [Mode::Test, Mode::Live]
            .into_iter()
            .map(|mode| {
                (
                    mode,
                    AuthSettings {
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
                trial: None,
                limits: vec![LimitRule {
                    metric: "requests".into(),
                    limit: Some(DEFAULT_FREE_REQUESTS),
                    enforcement: Enforcement::Hard,
                    overage: None,
                }],
                rate_limit: None,
                features: Vec::new(),
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

    pub async fn api_key_list(&self, tenant: &Tenant) -> AppResult<Vec<ApiKey>> {
        Ok(self.store.api_key_list(tenant, now()).await?)
    }

    /// Issues a new secret key; older ones expire after `overlap_seconds`.
    /// Rotates the tenant's secret key. Only the newest key may rotate (`rotating`: the hash
    /// of the key the request carried; `None` for a dashboard session): a key inside its
    /// overlap window is on its way out, and letting it rotate would let a leaked key revoke
    /// its owner's newer one.
    pub async fn secret_key_rotate(
        &self,
        tenant: &Tenant,
        overlap_seconds: i64,
        rotating: Option<&str>,
    ) -> AppResult<(String, String, i64)> {
        let at = now();
        if let Some(hash) = rotating
            && let Some(key) = self.store.api_key_find(hash, at).await?
            && key.expires_at.is_some()
        {
            return Err(AppError::KeySuperseded);
        }
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
                    kind: KeyKind::Secret,
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
    pub async fn project_list(&self) -> AppResult<Vec<Project>> {
        Ok(self.store.project_list().await?)
    }

    /// Deletes a project with every row it owns (both modes), unless Stripe still bills
    /// live-mode subscriptions of it; then its stored asset bytes. Every replica drops its
    /// copies, so its keys are refused at once everywhere.
    pub async fn project_delete(&self, id: &str) -> AppResult<()> {
        match self.store.project_delete(id).await? {
            ProjectDeletion::Deleted => {}
            ProjectDeletion::NotFound => {
                return Err(AppError::NotFound {
                    what: "project",
                    param: "projectId",
                    id: id.to_string(),
                });
            }
            ProjectDeletion::LiveSubscriptions(n) => return Err(AppError::LiveSubscriptions(n)),
        }
        self.forget(super::replica::Forget::Project(id.to_string()))
            .await;
        // What this replica recorded while the delete ran. (A request already past its key
        // check on another replica at this moment may still write a counter or series row;
        // nothing reads it, as no key of the project resolves any more.)
        self.recorder.forget_project(id);
        match self.assets_purge(id).await {
            Ok(n) => tracing::info!(project = %id, assets = n, "project deleted"),
            Err(e) => {
                tracing::warn!(project = %id, error = %e, "project deleted; some of its asset bytes could not be removed")
            }
        }
        Ok(())
    }

    /// The tenant's project.
    pub async fn project_of(&self, tenant: &Tenant) -> AppResult<Project> {
        self.project_get(&tenant.project_id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("tenant {tenant:?} has no project")))
    }

    pub async fn settings_get(&self, tenant: &Tenant) -> AppResult<AuthSettings> {
        Ok(self.store.settings_get(tenant).await?)
    }

    /// Changes a tenant's settings: reads them, applies `changes`, checks every rule, and
    /// only then writes both halves (JWT and billing) in one statement. Every replica drops
    /// its copy of the tenant's settings.
    pub async fn settings_update(
        &self,
        tenant: &Tenant,
        changes: SettingsChanges,
    ) -> AppResult<(AuthSettings, BillingSettings)> {
        let mut settings = self.store.settings_get(tenant).await?;
        let mut billing = self.store.billing_settings_get(tenant).await?;
        let keys_moved = changes.jwt_issuer.is_some() || changes.jwks_url.is_some();
        changes.apply(&mut settings, &mut billing)?;
        settings_check(tenant, &settings)?;
        // Where keys come from is checked when it changes; a fetch checks it again.
        if keys_moved
            && let Some(url) = super::identity::jwks_url(&settings)
            && let Some(why) = self.identity.jwks.refuses(&url)
        {
            let param = if settings.jwks_url.is_some() {
                "jwt.jwksUrl"
            } else {
                "jwt.issuer"
            };
            return Err(AppError::validation(param, why));
        }
        match self.store.settings_put(tenant, &settings, &billing).await {
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::AlreadyExists {
                    message: "Another project already uses this connected account in this mode."
                        .into(),
                    param: "billing.connectedAccount",
                });
            }
            other => other?,
        }
        self.forget(super::replica::Forget::settings(tenant)).await;
        Ok((settings, billing))
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

/// Refuses settings that break a rule, before anything is stored.
fn settings_check(tenant: &Tenant, settings: &AuthSettings) -> AppResult<()> {
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

/// A change to a tenant's settings; `None` leaves a field as it is. An empty connected
/// account or site URL removes it.
#[derive(Debug, Clone, Default)]
pub struct SettingsChanges {
    pub jwt_issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub leeway_seconds: Option<i64>,
    pub dev_issuer_enabled: Option<bool>,
    pub connected_account: Option<String>,
    pub platform_fee_percent: Option<f64>,
    pub site_url: Option<String>,
}

impl SettingsChanges {
    /// Applies the changes to the stored settings, refusing an invalid fee or site URL.
    fn apply(self, settings: &mut AuthSettings, billing: &mut BillingSettings) -> AppResult<()> {
        if let Some(issuer) = self.jwt_issuer {
            settings.jwt_issuer = Some(issuer);
        }
        if let Some(url) = self.jwks_url {
            settings.jwks_url = Some(url);
        }
        if let Some(origins) = self.allowed_origins {
            settings.allowed_origins = origins;
        }
        if let Some(leeway) = self.leeway_seconds {
            settings.leeway_seconds = leeway;
        }
        if let Some(enabled) = self.dev_issuer_enabled {
            settings.dev_issuer_enabled = enabled;
        }
        if let Some(account) = self.connected_account {
            billing.stripe_account = Some(account).filter(|a| !a.is_empty());
        }
        if let Some(percent) = self.platform_fee_percent {
            let bps = percent * 100.0;
            if !(0.0..=10_000.0).contains(&bps) || (bps - bps.round()).abs() > 1e-6 {
                return Err(AppError::validation(
                    "billing.platformFeePercent",
                    "The platform fee is a percentage from 0 to 100 with at most two decimals.",
                ));
            }
            billing.platform_fee_bps = bps.round() as i64;
        }
        if let Some(site) = self.site_url {
            if site.is_empty() {
                billing.site_url = None;
            } else {
                match url::Url::parse(&site) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                        billing.site_url = Some(site);
                    }
                    _ => {
                        return Err(AppError::validation(
                            "billing.siteUrl",
                            "The site URL must be an absolute http:// or https:// URL.",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
