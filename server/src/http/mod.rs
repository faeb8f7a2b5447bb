//! The HTTP layer: the generated [`Api`] trait implemented on the [`App`]. Each method takes
//! the typed request, calls the domain, and returns the typed response; nothing here touches
//! the database.

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

pub mod assets;
mod audit;
pub mod auth;
mod billing;
mod catalog;
mod convert;
mod customers;
pub mod errors;
mod metering;
mod metrics;
mod platform;
mod tenancy;
mod usage;

use std::sync::Arc;

use axum::response::Response;

use crate::app::{Actor, App, AppError, AppResult, Principal, UserContext};
use crate::domain::Tenant;
use crate::generated::{self as api, Api, ErrorResponse, Rejection, Security, types};

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
        if let Some(log) = parts.extensions.get::<crate::logging::RequestLog>() {
            log.rate_limit(decision);
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
    /// The hash of the secret key the request carried, or its dashboard session signed in with.
    secret_key_hash: Option<String>,
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

/// `changed: a, b` for the fields a request set, or `None` when it set none.
pub(super) fn changed(fields: &[(&str, bool)]) -> Option<String> {
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
    (!set.is_empty()).then(|| format!("changed: {}", set.join(", ")))
}

impl Api for Server {
    type Caller = Caller;

    async fn authenticate(
        &self,
        security: Security,
        parts: &http::request::Parts,
    ) -> Result<Caller, Response> {
        let request_id = errors::request_id(parts);
        let principal = auth::principal(&self.app, security, parts).await;
        if let (Ok(principal), Some(log)) = (
            &principal,
            parts.extensions.get::<crate::logging::RequestLog>(),
        ) {
            let dashboard = parts.extensions.get::<auth::DashboardGrant>().is_some();
            log.caller(principal, dashboard);
        }
        let principal = match principal {
            Ok(principal) => self.limit(principal, parts).await,
            Err(e) => Err(e),
        };
        let (actor, secret_key_hash) = match parts.extensions.get::<auth::DashboardGrant>() {
            Some(grant) => (
                Some(Actor::dashboard(&grant.label)),
                grant.secret_key_hash.clone(),
            ),
            // Only a secret key's caller has a key to record (the bearer of any other is a
            // user's token or none), so only its request's header is read again.
            None if matches!(principal, Ok(Principal::Secret(_))) => {
                let key = auth::secret_key(parts);
                (
                    key.map(Actor::secret_key),
                    key.map(crate::domain::ids::key_hash),
                )
            }
            None => (None, None),
        };
        match principal {
            Ok(principal) => Ok(Caller {
                request_id,
                principal,
                actor,
                secret_key_hash,
            }),
            Err(e) => Err(errors::response(&e, &request_id)),
        }
    }

    fn reject(&self, rejection: Rejection, parts: &http::request::Parts) -> Response {
        errors::response(&AppError::from(rejection), &errors::request_id(parts))
    }

    async fn health_check(
        &self,
        caller: Caller,
        request: api::HealthCheckRequest,
    ) -> api::HealthCheckResponse {
        platform::health_check(self, caller, request).await
    }

    async fn readiness_check(
        &self,
        caller: Caller,
        request: api::ReadinessCheckRequest,
    ) -> api::ReadinessCheckResponse {
        platform::readiness_check(self, caller, request).await
    }

    async fn get_open_api_document(
        &self,
        caller: Caller,
        request: api::GetOpenApiDocumentRequest,
    ) -> api::GetOpenApiDocumentResponse {
        platform::get_open_api_document(self, caller, request).await
    }

    async fn create_project(
        &self,
        caller: Caller,
        request: api::CreateProjectRequest,
    ) -> api::CreateProjectResponse {
        tenancy::create_project(self, caller, request).await
    }

    async fn get_customer_state(
        &self,
        caller: Caller,
        request: api::GetCustomerStateRequest,
    ) -> api::GetCustomerStateResponse {
        usage::get_customer_state(self, caller, request).await
    }

    async fn track_usage(
        &self,
        caller: Caller,
        request: api::TrackUsageRequest,
    ) -> api::TrackUsageResponse {
        usage::track_usage(self, caller, request).await
    }

    async fn check_usage(
        &self,
        caller: Caller,
        request: api::CheckUsageRequest,
    ) -> api::CheckUsageResponse {
        usage::check_usage(self, caller, request).await
    }

    async fn check_entitlement(
        &self,
        caller: Caller,
        request: api::CheckEntitlementRequest,
    ) -> api::CheckEntitlementResponse {
        metering::check_entitlement(self, caller, request).await
    }

    async fn ingest_usage_events(
        &self,
        caller: Caller,
        request: api::IngestUsageEventsRequest,
    ) -> api::IngestUsageEventsResponse {
        metering::ingest_usage_events(self, caller, request).await
    }

    async fn track_customer_usage(
        &self,
        caller: Caller,
        request: api::TrackCustomerUsageRequest,
    ) -> api::TrackCustomerUsageResponse {
        metering::track_customer_usage(self, caller, request).await
    }

    async fn check_customer_usage(
        &self,
        caller: Caller,
        request: api::CheckCustomerUsageRequest,
    ) -> api::CheckCustomerUsageResponse {
        metering::check_customer_usage(self, caller, request).await
    }

    async fn check_customer_entitlement(
        &self,
        caller: Caller,
        request: api::CheckCustomerEntitlementRequest,
    ) -> api::CheckCustomerEntitlementResponse {
        metering::check_customer_entitlement(self, caller, request).await
    }

    async fn create_dev_token(
        &self,
        caller: Caller,
        request: api::CreateDevTokenRequest,
    ) -> api::CreateDevTokenResponse {
        tenancy::create_dev_token(self, caller, request).await
    }

    async fn create_dev_session(
        &self,
        caller: Caller,
        request: api::CreateDevSessionRequest,
    ) -> api::CreateDevSessionResponse {
        tenancy::create_dev_session(self, caller, request).await
    }

    async fn get_dev_jwks(
        &self,
        caller: Caller,
        request: api::GetDevJwksRequest,
    ) -> api::GetDevJwksResponse {
        tenancy::get_dev_jwks(self, caller, request).await
    }

    async fn list_products(
        &self,
        caller: Caller,
        request: api::ListProductsRequest,
    ) -> api::ListProductsResponse {
        catalog::list_products(self, caller, request).await
    }

    async fn create_product(
        &self,
        caller: Caller,
        request: api::CreateProductRequest,
    ) -> api::CreateProductResponse {
        catalog::create_product(self, caller, request).await
    }

    async fn get_product(
        &self,
        caller: Caller,
        request: api::GetProductRequest,
    ) -> api::GetProductResponse {
        catalog::get_product(self, caller, request).await
    }

    async fn update_product(
        &self,
        caller: Caller,
        request: api::UpdateProductRequest,
    ) -> api::UpdateProductResponse {
        catalog::update_product(self, caller, request).await
    }

    async fn archive_product(
        &self,
        caller: Caller,
        request: api::ArchiveProductRequest,
    ) -> api::ArchiveProductResponse {
        catalog::archive_product(self, caller, request).await
    }

    async fn list_assets(
        &self,
        caller: Caller,
        request: api::ListAssetsRequest,
    ) -> api::ListAssetsResponse {
        assets::list_assets(self, caller, request).await
    }

    async fn upload_asset(
        &self,
        caller: Caller,
        request: api::UploadAssetRequest,
    ) -> api::UploadAssetResponse {
        assets::upload_asset(self, caller, request).await
    }

    async fn get_asset(
        &self,
        caller: Caller,
        request: api::GetAssetRequest,
    ) -> api::GetAssetResponse {
        assets::get_asset(self, caller, request).await
    }

    async fn delete_asset(
        &self,
        caller: Caller,
        request: api::DeleteAssetRequest,
    ) -> api::DeleteAssetResponse {
        assets::delete_asset(self, caller, request).await
    }

    async fn list_tiers(
        &self,
        caller: Caller,
        request: api::ListTiersRequest,
    ) -> api::ListTiersResponse {
        catalog::list_tiers(self, caller, request).await
    }

    async fn create_tier(
        &self,
        caller: Caller,
        request: api::CreateTierRequest,
    ) -> api::CreateTierResponse {
        catalog::create_tier(self, caller, request).await
    }

    async fn get_tier(&self, caller: Caller, request: api::GetTierRequest) -> api::GetTierResponse {
        catalog::get_tier(self, caller, request).await
    }

    async fn update_tier(
        &self,
        caller: Caller,
        request: api::UpdateTierRequest,
    ) -> api::UpdateTierResponse {
        catalog::update_tier(self, caller, request).await
    }

    async fn archive_tier(
        &self,
        caller: Caller,
        request: api::ArchiveTierRequest,
    ) -> api::ArchiveTierResponse {
        catalog::archive_tier(self, caller, request).await
    }

    async fn list_customers(
        &self,
        caller: Caller,
        request: api::ListCustomersRequest,
    ) -> api::ListCustomersResponse {
        customers::list_customers(self, caller, request).await
    }

    async fn get_customer(
        &self,
        caller: Caller,
        request: api::GetCustomerRequest,
    ) -> api::GetCustomerResponse {
        customers::get_customer(self, caller, request).await
    }

    async fn update_customer(
        &self,
        caller: Caller,
        request: api::UpdateCustomerRequest,
    ) -> api::UpdateCustomerResponse {
        customers::update_customer(self, caller, request).await
    }

    async fn list_api_keys(
        &self,
        caller: Caller,
        request: api::ListApiKeysRequest,
    ) -> api::ListApiKeysResponse {
        tenancy::list_api_keys(self, caller, request).await
    }

    async fn rotate_secret_key(
        &self,
        caller: Caller,
        request: api::RotateSecretKeyRequest,
    ) -> api::RotateSecretKeyResponse {
        tenancy::rotate_secret_key(self, caller, request).await
    }

    async fn get_settings(
        &self,
        caller: Caller,
        request: api::GetSettingsRequest,
    ) -> api::GetSettingsResponse {
        tenancy::get_settings(self, caller, request).await
    }

    async fn update_settings(
        &self,
        caller: Caller,
        request: api::UpdateSettingsRequest,
    ) -> api::UpdateSettingsResponse {
        tenancy::update_settings(self, caller, request).await
    }

    async fn create_checkout(
        &self,
        caller: Caller,
        request: api::CreateCheckoutRequest,
    ) -> api::CreateCheckoutResponse {
        billing::create_checkout(self, caller, request).await
    }

    async fn create_portal_session(
        &self,
        caller: Caller,
        request: api::CreatePortalSessionRequest,
    ) -> api::CreatePortalSessionResponse {
        billing::create_portal_session(self, caller, request).await
    }

    async fn cart_checkout(
        &self,
        caller: Caller,
        request: api::CartCheckoutRequest,
    ) -> api::CartCheckoutResponse {
        billing::cart_checkout(self, caller, request).await
    }

    async fn get_cart_checkout(
        &self,
        caller: Caller,
        request: api::GetCartCheckoutRequest,
    ) -> api::GetCartCheckoutResponse {
        billing::get_cart_checkout(self, caller, request).await
    }

    async fn receive_stripe_webhook(
        &self,
        caller: Caller,
        request: api::ReceiveStripeWebhookRequest,
    ) -> api::ReceiveStripeWebhookResponse {
        billing::receive_stripe_webhook(self, caller, request).await
    }

    async fn list_billing_events(
        &self,
        caller: Caller,
        request: api::ListBillingEventsRequest,
    ) -> api::ListBillingEventsResponse {
        billing::list_billing_events(self, caller, request).await
    }

    async fn list_payments(
        &self,
        caller: Caller,
        request: api::ListPaymentsRequest,
    ) -> api::ListPaymentsResponse {
        billing::list_payments(self, caller, request).await
    }

    async fn delete_project(
        &self,
        caller: Caller,
        request: api::DeleteProjectRequest,
    ) -> api::DeleteProjectResponse {
        tenancy::delete_project(self, caller, request).await
    }

    async fn list_projects(
        &self,
        caller: Caller,
        request: api::ListProjectsRequest,
    ) -> api::ListProjectsResponse {
        tenancy::list_projects(self, caller, request).await
    }

    async fn reset_customer_usage(
        &self,
        caller: Caller,
        request: api::ResetCustomerUsageRequest,
    ) -> api::ResetCustomerUsageResponse {
        customers::reset_customer_usage(self, caller, request).await
    }

    async fn get_usage_metrics(
        &self,
        caller: Caller,
        request: api::GetUsageMetricsRequest,
    ) -> api::GetUsageMetricsResponse {
        metrics::get_usage_metrics(self, caller, request).await
    }

    async fn get_revenue_metrics(
        &self,
        caller: Caller,
        request: api::GetRevenueMetricsRequest,
    ) -> api::GetRevenueMetricsResponse {
        metrics::get_revenue_metrics(self, caller, request).await
    }

    async fn get_metrics_overview(
        &self,
        caller: Caller,
        request: api::GetMetricsOverviewRequest,
    ) -> api::GetMetricsOverviewResponse {
        metrics::get_metrics_overview(self, caller, request).await
    }

    async fn list_audit_log(
        &self,
        caller: Caller,
        request: api::ListAuditLogRequest,
    ) -> api::ListAuditLogResponse {
        audit::list_audit_log(self, caller, request).await
    }
}
