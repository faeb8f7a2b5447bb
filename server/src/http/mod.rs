//! The HTTP layer: the generated [`Api`] trait implemented on the [`App`]. Each method takes
//! the typed request, calls the domain, and returns the typed response; nothing here touches
//! the database.

pub mod auth;
mod billing;
mod convert;
pub mod errors;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;

use crate::app::catalog::{ProductChanges, ProductInput, TierChanges, TierInput};
use crate::app::metrics::{Interval, Range};
use crate::app::{Actor, App, AppError, AppResult, Principal, UserContext};
use crate::generated::{self as api, Api, ErrorResponse, Rejection, Security, types};
use crate::store::Tenant;
use crate::store::tiers::{LimitRule, RateLimitRule, TierPriceRule};

/// The server: the domain behind the generated interface.
#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
    spec: Arc<serde_json::Value>,
}

impl Server {
    pub fn new(app: Arc<App>, spec: Arc<serde_json::Value>) -> Server {
        Server { app, spec }
    }
}

impl Server {
    /// Applies the caller's rate limit, leaving the decision for the response headers.
    async fn limit(
        &self,
        principal: Principal,
        parts: &http::request::Parts,
    ) -> AppResult<Principal> {
        let Some(decision) = self.app.rate_limit(&principal).await? else {
            return Ok(principal);
        };
        if let Some(slot) = parts.extensions.get::<crate::serve::RateLimitSlot>() {
            *slot.0.lock().expect("rate-limit slot") = Some(decision);
        }
        if decision.allowed {
            Ok(principal)
        } else {
            Err(AppError::RateLimited {
                retry_after_seconds: decision.retry_after_ms.div_ceil(1000).max(1),
            })
        }
    }
}

/// An authenticated request's caller.
pub struct Caller {
    request_id: String,
    principal: Principal,
    /// Who changes are recorded as: the secret key (redacted) or the dashboard session.
    actor: Option<Actor>,
}

impl Caller {
    /// Records a change this caller made, when it was made with a secret key.
    async fn audit(&self, app: &App, action: &str, target: &str, summary: Option<String>) {
        if let (Principal::Secret(tenant), Some(actor)) = (&self.principal, &self.actor) {
            app.audit(tenant, actor, action, Some(target), summary)
                .await;
        }
    }

    fn fail<R: ErrorResponse<types::Error>>(&self, e: AppError) -> R {
        let (status, body) = errors::render(&e, &self.request_id);
        R::from_error(status, body)
    }

    fn secret(&self) -> AppResult<&Tenant> {
        match &self.principal {
            Principal::Secret(t) => Ok(t),
            _ => Err(AppError::SecretKeyRequired),
        }
    }

    /// The tenant of a publishable or secret key, and whether it is secret.
    fn reader(&self) -> AppResult<(&Tenant, bool)> {
        match &self.principal {
            Principal::Secret(t) => Ok((t, true)),
            Principal::Publishable(t) => Ok((t, false)),
            _ => Err(AppError::MissingCredentials(
                "Send a publishable or secret key.".into(),
            )),
        }
    }

    fn user(&self) -> AppResult<&UserContext> {
        match &self.principal {
            Principal::User(u) => Ok(u),
            _ => Err(AppError::UserTokenRequired),
        }
    }
}

/// How long a development session's token lives.
const DEV_SESSION_SECONDS: i64 = 3600;

/// Runs a domain call and maps its error into the operation's documented responses.
macro_rules! respond {
    ($caller:expr, $resp:ident :: $variant:ident, $body:expr) => {{
        let result: AppResult<_> = async { $body }.await;
        match result {
            Ok(value) => api::$resp::$variant(value),
            Err(e) => $caller.fail(e),
        }
    }};
}

fn limits(input: Vec<types::TierLimit>) -> Vec<LimitRule> {
    input
        .into_iter()
        .map(|l| LimitRule {
            metric: l.metric.to_string(),
            limit: l.limit,
            enforcement: l.enforcement.to_string(),
        })
        .collect()
}

fn tier_price(p: Option<types::TierPrice>) -> Option<TierPriceRule> {
    p.map(|p| TierPriceRule {
        currency: p.currency.to_string(),
        unit_amount: p.unit_amount,
        interval: p.interval.to_string(),
    })
}

fn rate_limit(r: Option<types::RateLimit>) -> Option<RateLimitRule> {
    r.map(|r| RateLimitRule {
        requests: i64::from(r.requests.get()),
        per_seconds: i64::from(r.per_seconds.get()),
    })
}

/// `changed: a, b` for the fields a request set, or `None` when it set none.
fn changed(fields: &[(&str, bool)]) -> Option<String> {
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
    (!set.is_empty()).then(|| format!("changed: {}", set.join(", ")))
}

/// A metrics range from the query: the interval asked for (else `default`), and by default
/// the last 24 hours or 30 days.
fn range(
    interval: Option<types::MetricsInterval>,
    default: Interval,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> AppResult<Range> {
    let interval = match interval {
        Some(types::MetricsInterval::Hour) => Interval::Hour,
        Some(types::MetricsInterval::Day) => Interval::Day,
        None => default,
    };
    let buckets = match interval {
        Interval::Hour => 24,
        Interval::Day => 30,
    };
    Range::new(
        interval,
        from.map(|t| t.timestamp()),
        to.map(|t| t.timestamp()),
        buckets,
    )
}

fn metadata(m: types::Metadata) -> BTreeMap<String, String> {
    m.0.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

impl Api for Server {
    type Caller = Caller;

    async fn authenticate(
        &self,
        security: Security,
        parts: &http::request::Parts,
    ) -> Result<Caller, Rejection> {
        let request_id = errors::request_id(parts);
        let principal = match auth::principal(&self.app, security, parts).await {
            Ok(principal) => self.limit(principal, parts).await,
            Err(e) => Err(e),
        };
        let actor = match parts.extensions.get::<auth::DashboardGrant>() {
            Some(grant) => Some(Actor::dashboard(&grant.label)),
            None => auth::secret_key(parts).map(Actor::secret_key),
        };
        match principal {
            Ok(principal) => Ok(Caller {
                request_id,
                principal,
                actor,
            }),
            Err(e) => {
                let (status, code, _) = e.describe();
                if status >= 500 {
                    errors::render(&e, &request_id);
                }
                Err(Rejection {
                    status: http::StatusCode::from_u16(status)
                        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
                    code,
                    message: e.to_string(),
                    param: e.param(),
                })
            }
        }
    }

    fn reject(&self, rejection: Rejection, parts: &http::request::Parts) -> Response {
        use axum::response::IntoResponse;
        let request_id = errors::request_id(parts);
        let class = match rejection.status.as_u16() {
            401 => crate::app::ErrorClass::Authentication,
            403 => crate::app::ErrorClass::Permission,
            409 if rejection.code == "idempotency_key_reused" => {
                crate::app::ErrorClass::Idempotency
            }
            429 => crate::app::ErrorClass::RateLimit,
            500.. => crate::app::ErrorClass::Api,
            _ => crate::app::ErrorClass::InvalidRequest,
        };
        let body = types::Error {
            type_: errors::error_type(class),
            code: rejection.code.to_string(),
            message: rejection.message,
            param: rejection.param,
            request_id,
        };
        (rejection.status, axum::Json(body)).into_response()
    }

    async fn health_check(
        &self,
        _caller: Caller,
        _request: api::HealthCheckRequest,
    ) -> api::HealthCheckResponse {
        api::HealthCheckResponse::Ok(types::Health {
            status: "ok".into(),
        })
    }

    async fn readiness_check(
        &self,
        caller: Caller,
        _request: api::ReadinessCheckRequest,
    ) -> api::ReadinessCheckResponse {
        if self.app.store.ping().await {
            api::ReadinessCheckResponse::Ok(types::Health {
                status: "ok".into(),
            })
        } else {
            let (_, body) = errors::render(&AppError::NotReady, &caller.request_id);
            api::ReadinessCheckResponse::ServiceUnavailable(body)
        }
    }

    async fn get_open_api_document(
        &self,
        _caller: Caller,
        _request: api::GetOpenApiDocumentRequest,
    ) -> api::GetOpenApiDocumentResponse {
        let document = match self.spec.as_ref() {
            serde_json::Value::Object(map) => map.clone().into_iter().collect(),
            _ => Default::default(),
        };
        api::GetOpenApiDocumentResponse::Ok(document)
    }

    async fn create_project(
        &self,
        caller: Caller,
        request: api::CreateProjectRequest,
    ) -> api::CreateProjectResponse {
        respond!(caller, CreateProjectResponse::Created, {
            let created = self.app.project_create(&request.body.name, false).await?;
            let pair = |mode| {
                let (_, pk, sk) = created
                    .keys
                    .iter()
                    .find(|(m, _, _)| *m == mode)
                    .expect("both modes have keys");
                types::KeyPair {
                    publishable_key: pk.clone(),
                    secret_key: sk.clone(),
                }
            };
            Ok(types::ProjectCreated {
                project: types::Project {
                    id: created.id.clone(),
                    name: created.name.clone(),
                    created_at: convert::ts(created.created_at),
                },
                keys: types::ProjectKeys {
                    test: pair(crate::store::Mode::Test),
                    live: pair(crate::store::Mode::Live),
                },
            })
        })
    }

    async fn get_customer_state(
        &self,
        caller: Caller,
        _request: api::GetCustomerStateRequest,
    ) -> api::GetCustomerStateResponse {
        respond!(caller, GetCustomerStateResponse::Ok, {
            let state = self.app.customer_state(caller.user()?).await?;
            Ok(convert::customer_state(&state))
        })
    }

    async fn track_usage(
        &self,
        caller: Caller,
        request: api::TrackUsageRequest,
    ) -> api::TrackUsageResponse {
        respond!(caller, TrackUsageResponse::Ok, {
            let body = request.body.unwrap_or_default();
            let amount = i64::try_from(body.amount.get())
                .map_err(|_| AppError::validation("amount", "`amount` is too large."))?;
            let metric = body.metric.map(|m| m.to_string());
            let key = request.idempotency_key.map(|k| k.to_string());
            let report = self
                .app
                .usage_track(caller.user()?, metric.as_deref(), amount, key.as_deref())
                .await?;
            Ok(convert::usage(&report))
        })
    }

    async fn check_usage(
        &self,
        caller: Caller,
        request: api::CheckUsageRequest,
    ) -> api::CheckUsageResponse {
        respond!(caller, CheckUsageResponse::Ok, {
            let metric = request.metric.map(|m| m.to_string());
            let report = self
                .app
                .usage_check(caller.user()?, metric.as_deref())
                .await?;
            Ok(convert::usage(&report))
        })
    }

    async fn create_dev_token(
        &self,
        caller: Caller,
        request: api::CreateDevTokenRequest,
    ) -> api::CreateDevTokenResponse {
        respond!(caller, CreateDevTokenResponse::Created, {
            let tenant = caller.secret()?;
            let body = request.body;
            let email = body.email.map(|e| e.to_string());
            let (token, issuer, expires_at) = self
                .app
                .dev_token_create(
                    tenant,
                    &body.user_id,
                    email.as_deref(),
                    i64::from(body.expires_in_seconds.get()),
                )
                .await?;
            Ok(types::DevToken {
                token,
                user_id: body.user_id.to_string(),
                issuer,
                expires_at: convert::ts(expires_at),
            })
        })
    }

    async fn create_dev_session(
        &self,
        caller: Caller,
        request: api::CreateDevSessionRequest,
    ) -> api::CreateDevSessionResponse {
        respond!(caller, CreateDevSessionResponse::Created, {
            let (tenant, _) = caller.reader()?;
            let user_id = match request.body.and_then(|b| b.user_id) {
                Some(user_id) => user_id.to_string(),
                None => format!("dev_{}", crate::app::ids::random(16)),
            };
            let (token, issuer, expires_at) = self
                .app
                .dev_token_create(tenant, &user_id, None, DEV_SESSION_SECONDS)
                .await?;
            Ok(types::DevToken {
                token,
                user_id,
                issuer,
                expires_at: convert::ts(expires_at),
            })
        })
    }

    async fn get_dev_jwks(
        &self,
        _caller: Caller,
        _request: api::GetDevJwksRequest,
    ) -> api::GetDevJwksResponse {
        let jwks = serde_json::from_value(self.app.identity.dev_jwks())
            .unwrap_or(types::Jwks { keys: Vec::new() });
        api::GetDevJwksResponse::Ok(jwks)
    }

    async fn list_products(
        &self,
        caller: Caller,
        request: api::ListProductsRequest,
    ) -> api::ListProductsResponse {
        respond!(caller, ListProductsResponse::Ok, {
            let (tenant, secret) = caller.reader()?;
            let products = self
                .app
                .product_list(tenant, secret && request.include_archived)
                .await?;
            Ok(types::ProductList {
                products: products
                    .iter()
                    .map(convert::product)
                    .collect::<AppResult<_>>()?,
            })
        })
    }

    async fn create_product(
        &self,
        caller: Caller,
        request: api::CreateProductRequest,
    ) -> api::CreateProductResponse {
        respond!(caller, CreateProductResponse::Created, {
            let body = request.body;
            let input = ProductInput {
                name: body.name.to_string(),
                description: body.description.map(|d| d.to_string()),
                metadata: body.metadata.map(metadata).unwrap_or_default(),
                prices: body
                    .prices
                    .into_iter()
                    .map(|p| (p.currency.to_string(), p.unit_amount))
                    .collect(),
            };
            let product = self.app.product_create(caller.secret()?, input).await?;
            let summary = format!("name: {}", product.name);
            caller
                .audit(&self.app, "createProduct", &product.id, Some(summary))
                .await;
            convert::product(&product)
        })
    }

    async fn get_product(
        &self,
        caller: Caller,
        request: api::GetProductRequest,
    ) -> api::GetProductResponse {
        respond!(caller, GetProductResponse::Ok, {
            let (tenant, secret) = caller.reader()?;
            convert::product(
                &self
                    .app
                    .product_get(tenant, &request.product_id, secret)
                    .await?,
            )
        })
    }

    async fn update_product(
        &self,
        caller: Caller,
        request: api::UpdateProductRequest,
    ) -> api::UpdateProductResponse {
        respond!(caller, UpdateProductResponse::Ok, {
            let body = request.body;
            let changed = changed(&[
                ("name", body.name.is_some()),
                ("description", body.description.is_some()),
                ("metadata", body.metadata.is_some()),
                ("active", body.active.is_some()),
            ]);
            let changes = ProductChanges {
                name: body.name.map(|n| n.to_string()),
                description: body.description.map(|d| d.to_string()),
                metadata: body.metadata.map(metadata),
                active: body.active,
            };
            let product = self
                .app
                .product_update(caller.secret()?, &request.product_id, changes)
                .await?;
            caller
                .audit(&self.app, "updateProduct", &product.id, changed)
                .await;
            convert::product(&product)
        })
    }

    async fn archive_product(
        &self,
        caller: Caller,
        request: api::ArchiveProductRequest,
    ) -> api::ArchiveProductResponse {
        respond!(caller, ArchiveProductResponse::Ok, {
            let changes = ProductChanges {
                active: Some(false),
                ..Default::default()
            };
            let product = self
                .app
                .product_update(caller.secret()?, &request.product_id, changes)
                .await?;
            let summary = format!("archived {}", product.name);
            caller
                .audit(&self.app, "archiveProduct", &product.id, Some(summary))
                .await;
            convert::product(&product)
        })
    }

    async fn list_tiers(
        &self,
        caller: Caller,
        request: api::ListTiersRequest,
    ) -> api::ListTiersResponse {
        respond!(caller, ListTiersResponse::Ok, {
            let (tenant, secret) = caller.reader()?;
            let tiers = self
                .app
                .tier_list(tenant, secret && request.include_archived)
                .await?;
            Ok(types::TierList {
                tiers: tiers.iter().map(convert::tier).collect::<AppResult<_>>()?,
            })
        })
    }

    async fn create_tier(
        &self,
        caller: Caller,
        request: api::CreateTierRequest,
    ) -> api::CreateTierResponse {
        respond!(caller, CreateTierResponse::Created, {
            let body = request.body;
            let input = TierInput {
                name: body.name.to_string(),
                display_name: body.display_name.to_string(),
                is_default: body.is_default,
                price: tier_price(body.price),
                limits: limits(body.limits),
                rate_limit: rate_limit(body.rate_limit),
            };
            let tier = self.app.tier_create(caller.secret()?, input).await?;
            let summary = format!("name: {}", tier.name);
            caller
                .audit(&self.app, "createTier", &tier.id, Some(summary))
                .await;
            convert::tier(&tier)
        })
    }

    async fn get_tier(&self, caller: Caller, request: api::GetTierRequest) -> api::GetTierResponse {
        respond!(caller, GetTierResponse::Ok, {
            let (tenant, secret) = caller.reader()?;
            convert::tier(&self.app.tier_get(tenant, &request.tier_id, secret).await?)
        })
    }

    async fn update_tier(
        &self,
        caller: Caller,
        request: api::UpdateTierRequest,
    ) -> api::UpdateTierResponse {
        respond!(caller, UpdateTierResponse::Ok, {
            let body = request.body;
            let changed = changed(&[
                ("displayName", body.display_name.is_some()),
                ("isDefault", body.is_default.is_some()),
                ("price", body.price.is_some()),
                ("limits", body.limits.is_some()),
                ("rateLimit", body.rate_limit.is_some()),
                ("active", body.active.is_some()),
            ]);
            let changes = TierChanges {
                display_name: body.display_name.map(|d| d.to_string()),
                is_default: body.is_default,
                price: tier_price(body.price),
                limits: body.limits.map(limits),
                rate_limit: rate_limit(body.rate_limit),
                active: body.active,
            };
            let tier = self
                .app
                .tier_update(caller.secret()?, &request.tier_id, changes)
                .await?;
            caller
                .audit(&self.app, "updateTier", &tier.id, changed)
                .await;
            convert::tier(&tier)
        })
    }

    async fn archive_tier(
        &self,
        caller: Caller,
        request: api::ArchiveTierRequest,
    ) -> api::ArchiveTierResponse {
        respond!(caller, ArchiveTierResponse::Ok, {
            let tier = self
                .app
                .tier_archive(caller.secret()?, &request.tier_id)
                .await?;
            let summary = format!("archived {}", tier.name);
            caller
                .audit(&self.app, "archiveTier", &tier.id, Some(summary))
                .await;
            convert::tier(&tier)
        })
    }

    async fn list_customers(
        &self,
        caller: Caller,
        request: api::ListCustomersRequest,
    ) -> api::ListCustomersResponse {
        respond!(caller, ListCustomersResponse::Ok, {
            let starting_after = request.starting_after.map(|s| s.to_string());
            let query = request.query.map(|q| q.to_string());
            let (views, has_more) = self
                .app
                .customer_list(
                    caller.secret()?,
                    i64::from(request.limit.get()),
                    starting_after.as_deref(),
                    query.as_deref(),
                )
                .await?;
            let next_cursor = if has_more {
                views.last().map(|v| v.customer.user_id.clone())
            } else {
                None
            };
            Ok(types::CustomerList {
                data: views.iter().map(convert::customer).collect(),
                has_more,
                next_cursor,
            })
        })
    }

    async fn get_customer(
        &self,
        caller: Caller,
        request: api::GetCustomerRequest,
    ) -> api::GetCustomerResponse {
        respond!(caller, GetCustomerResponse::Ok, {
            convert::customer_detail(
                &self
                    .app
                    .customer_get(caller.secret()?, &request.user_id)
                    .await?,
            )
        })
    }

    async fn update_customer(
        &self,
        caller: Caller,
        request: api::UpdateCustomerRequest,
    ) -> api::UpdateCustomerResponse {
        respond!(caller, UpdateCustomerResponse::Ok, {
            let tier = request.body.tier.map(|t| t.to_string());
            let view = self
                .app
                .customer_override(caller.secret()?, &request.user_id, tier.as_deref())
                .await?;
            let summary = match &tier {
                Some(name) => format!("tier: {name}"),
                None => "override removed".to_string(),
            };
            caller
                .audit(&self.app, "updateCustomer", &request.user_id, Some(summary))
                .await;
            convert::customer_detail(&view)
        })
    }

    async fn list_api_keys(
        &self,
        caller: Caller,
        _request: api::ListApiKeysRequest,
    ) -> api::ListApiKeysResponse {
        respond!(caller, ListApiKeysResponse::Ok, {
            let keys = self.app.api_key_list(caller.secret()?).await?;
            Ok(types::ApiKeyList {
                keys: keys.iter().map(convert::api_key).collect(),
            })
        })
    }

    async fn rotate_secret_key(
        &self,
        caller: Caller,
        request: api::RotateSecretKeyRequest,
    ) -> api::RotateSecretKeyResponse {
        respond!(caller, RotateSecretKeyResponse::Created, {
            let overlap = request.body.map(|b| b.expires_in_seconds).unwrap_or(3600);
            let (id, secret_key, expire_at) = self
                .app
                .secret_key_rotate(caller.secret()?, i64::from(overlap))
                .await?;
            let summary = format!(
                "new key {}; older keys expire in {overlap} s",
                crate::app::ids::redact(&secret_key)
            );
            caller
                .audit(&self.app, "rotateSecretKey", &id, Some(summary))
                .await;
            Ok(types::SecretKeyRotated {
                id,
                secret_key,
                previous_keys_expire_at: convert::ts(expire_at),
            })
        })
    }

    async fn get_settings(
        &self,
        caller: Caller,
        _request: api::GetSettingsRequest,
    ) -> api::GetSettingsResponse {
        respond!(caller, GetSettingsResponse::Ok, {
            let tenant = caller.secret()?;
            Ok(convert::settings(
                &self.app.project_of(tenant).await?,
                tenant.mode,
                &self.app.settings_get(tenant).await?,
                &self.app.billing_settings_get(tenant).await?,
            ))
        })
    }

    async fn update_settings(
        &self,
        caller: Caller,
        request: api::UpdateSettingsRequest,
    ) -> api::UpdateSettingsResponse {
        respond!(caller, UpdateSettingsResponse::Ok, {
            let tenant = caller.secret()?;
            let mut settings = self.app.settings_get(tenant).await?;
            let body = request.body;
            let (jwt, billing) = (body.jwt.as_ref(), body.billing.as_ref());
            let summary = changed(&[
                ("jwt.issuer", jwt.is_some_and(|j| j.issuer.is_some())),
                ("jwt.jwksUrl", jwt.is_some_and(|j| j.jwks_url.is_some())),
                (
                    "jwt.allowedOrigins",
                    jwt.is_some_and(|j| j.allowed_origins.is_some()),
                ),
                (
                    "jwt.leewaySeconds",
                    jwt.is_some_and(|j| j.leeway_seconds.is_some()),
                ),
                (
                    "billing.connectedAccount",
                    billing.is_some_and(|b| b.connected_account.is_some()),
                ),
                (
                    "billing.platformFeePercent",
                    billing.is_some_and(|b| b.platform_fee_percent.is_some()),
                ),
                (
                    "billing.siteUrl",
                    billing.is_some_and(|b| b.site_url.is_some()),
                ),
                ("devIssuerEnabled", body.dev_issuer_enabled.is_some()),
            ]);
            if let Some(jwt) = body.jwt {
                if let Some(issuer) = jwt.issuer {
                    settings.jwt_issuer = Some(issuer.to_string());
                }
                if let Some(url) = jwt.jwks_url {
                    settings.jwks_url = Some(url.to_string());
                }
                if let Some(origins) = jwt.allowed_origins {
                    settings.allowed_origins = origins.into_iter().map(|o| o.to_string()).collect();
                }
                if let Some(leeway) = jwt.leeway_seconds {
                    settings.leeway_seconds = i64::from(leeway);
                }
            }
            if let Some(enabled) = body.dev_issuer_enabled {
                settings.dev_issuer_enabled = enabled;
            }
            let mut billing = self.app.billing_settings_get(tenant).await?;
            if let Some(update) = body.billing {
                billing::apply_settings(&mut billing, update)?;
            }
            // Everything is validated before anything is written.
            self.app.settings_check(tenant, &settings)?;
            self.app.billing_settings_put(tenant, &billing).await?;
            let saved = self.app.settings_put(tenant, settings).await?;
            caller
                .audit(&self.app, "updateSettings", "settings", summary)
                .await;
            Ok(convert::settings(
                &self.app.project_of(tenant).await?,
                tenant.mode,
                &saved,
                &billing,
            ))
        })
    }

    async fn create_checkout(
        &self,
        caller: Caller,
        request: api::CreateCheckoutRequest,
    ) -> api::CreateCheckoutResponse {
        respond!(caller, CreateCheckoutResponse::Ok, {
            let body = request.body;
            let link = self
                .app
                .checkout_create(
                    caller.user()?,
                    &body.tier,
                    body.success_url.as_ref().map(|u| u.as_str()),
                    body.cancel_url.as_ref().map(|u| u.as_str()),
                )
                .await?;
            Ok(convert::checkout(link))
        })
    }

    async fn create_portal_session(
        &self,
        caller: Caller,
        request: api::CreatePortalSessionRequest,
    ) -> api::CreatePortalSessionResponse {
        respond!(caller, CreatePortalSessionResponse::Ok, {
            let return_url = request.body.and_then(|b| b.return_url);
            let url = self
                .app
                .portal_create(caller.user()?, return_url.as_ref().map(|u| u.as_str()))
                .await?;
            Ok(types::PortalSession { url })
        })
    }

    async fn cart_checkout(
        &self,
        caller: Caller,
        request: api::CartCheckoutRequest,
    ) -> api::CartCheckoutResponse {
        respond!(caller, CartCheckoutResponse::Ok, {
            let (tenant, _) = caller.reader()?;
            let body = request.body;
            let items: Vec<(String, i64)> = body
                .items
                .iter()
                .map(|i| (i.price_id.to_string(), i64::from(i.quantity.get())))
                .collect();
            let email = body.customer_email.map(|e| e.to_string());
            let link = self
                .app
                .cart_checkout(
                    tenant,
                    &items,
                    email.as_deref(),
                    &body.success_url,
                    &body.cancel_url,
                )
                .await?;
            Ok(convert::checkout(link))
        })
    }

    async fn receive_stripe_webhook(
        &self,
        caller: Caller,
        request: api::ReceiveStripeWebhookRequest,
    ) -> api::ReceiveStripeWebhookResponse {
        respond!(caller, ReceiveStripeWebhookResponse::Ok, {
            let payload = std::str::from_utf8(&request.raw_body)
                .map_err(|_| AppError::validation("body", "The body is not UTF-8."))?;
            let receipt = self
                .app
                .webhook_receive(payload, &request.stripe_signature)
                .await?;
            Ok(types::WebhookReceipt {
                received: true,
                event_id: receipt.event_id,
                duplicate: receipt.duplicate,
            })
        })
    }

    async fn list_billing_events(
        &self,
        caller: Caller,
        request: api::ListBillingEventsRequest,
    ) -> api::ListBillingEventsResponse {
        respond!(caller, ListBillingEventsResponse::Ok, {
            let starting_after = request.starting_after.map(|s| s.to_string());
            let (events, has_more) = self
                .app
                .store
                .stripe_event_list(
                    caller.secret()?,
                    i64::from(request.limit.get()),
                    starting_after.as_deref(),
                )
                .await?;
            Ok(types::BillingEventList {
                next_cursor: has_more
                    .then(|| events.last().map(|e| e.id.clone()))
                    .flatten(),
                data: events
                    .iter()
                    .map(convert::billing_event)
                    .collect::<AppResult<_>>()?,
                has_more,
            })
        })
    }

    async fn list_payments(
        &self,
        caller: Caller,
        request: api::ListPaymentsRequest,
    ) -> api::ListPaymentsResponse {
        respond!(caller, ListPaymentsResponse::Ok, {
            let starting_after = request.starting_after.map(|s| s.to_string());
            let (payments, has_more) = self
                .app
                .store
                .payment_list(
                    caller.secret()?,
                    i64::from(request.limit.get()),
                    starting_after.as_deref(),
                )
                .await?;
            Ok(types::PaymentList {
                next_cursor: has_more
                    .then(|| payments.last().map(|p| p.id.clone()))
                    .flatten(),
                data: payments
                    .iter()
                    .map(convert::payment)
                    .collect::<AppResult<_>>()?,
                has_more,
            })
        })
    }

    async fn list_projects(
        &self,
        caller: Caller,
        _request: api::ListProjectsRequest,
    ) -> api::ListProjectsResponse {
        respond!(caller, ListProjectsResponse::Ok, {
            let projects = self.app.project_list().await?;
            Ok(types::ProjectList {
                data: projects.iter().map(convert::project).collect(),
            })
        })
    }

    async fn reset_customer_usage(
        &self,
        caller: Caller,
        request: api::ResetCustomerUsageRequest,
    ) -> api::ResetCustomerUsageResponse {
        respond!(caller, ResetCustomerUsageResponse::Ok, {
            let view = self
                .app
                .customer_usage_reset(caller.secret()?, &request.user_id)
                .await?;
            let summary = view
                .usage
                .as_ref()
                .map(|(_, period)| format!("period starting {}", period.start.format("%Y-%m-%d")));
            caller
                .audit(&self.app, "resetCustomerUsage", &request.user_id, summary)
                .await;
            convert::customer_detail(&view)
        })
    }

    async fn get_usage_metrics(
        &self,
        caller: Caller,
        request: api::GetUsageMetricsRequest,
    ) -> api::GetUsageMetricsResponse {
        respond!(caller, GetUsageMetricsResponse::Ok, {
            let range = range(request.interval, Interval::Hour, request.from, request.to)?;
            let metric = request.metric.map(|m| m.to_string());
            let metrics = self
                .app
                .metrics_usage(caller.secret()?, range, metric.as_deref())
                .await?;
            Ok(convert::usage_metrics(&metrics))
        })
    }

    async fn get_revenue_metrics(
        &self,
        caller: Caller,
        request: api::GetRevenueMetricsRequest,
    ) -> api::GetRevenueMetricsResponse {
        respond!(caller, GetRevenueMetricsResponse::Ok, {
            let range = range(request.interval, Interval::Day, request.from, request.to)?;
            convert::revenue_metrics(&self.app.metrics_revenue(caller.secret()?, range).await?)
        })
    }

    async fn get_metrics_overview(
        &self,
        caller: Caller,
        _request: api::GetMetricsOverviewRequest,
    ) -> api::GetMetricsOverviewResponse {
        respond!(caller, GetMetricsOverviewResponse::Ok, {
            Ok(convert::overview(
                &self.app.metrics_overview(caller.secret()?).await?,
            ))
        })
    }

    async fn list_audit_log(
        &self,
        caller: Caller,
        request: api::ListAuditLogRequest,
    ) -> api::ListAuditLogResponse {
        respond!(caller, ListAuditLogResponse::Ok, {
            let starting_after = request.starting_after.map(|s| s.to_string());
            let (entries, has_more) = self
                .app
                .audit_list(
                    caller.secret()?,
                    i64::from(request.limit.get()),
                    starting_after.as_deref(),
                )
                .await?;
            Ok(types::AuditEntryList {
                next_cursor: has_more
                    .then(|| entries.last().map(|e| e.id.clone()))
                    .flatten(),
                data: entries
                    .iter()
                    .map(convert::audit_entry)
                    .collect::<AppResult<_>>()?,
                has_more,
            })
        })
    }
}
