//! The dashboard's only way to data: requests to the API's own router, in process, as the
//! session's tenant.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::Dashboard;
use crate::generated::types;

pub use crate::http::auth::DashboardGrant;

/// An API answer other than success, as the API's error body says it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    /// The message a person reads: the API's, naming the field it is about.
    pub fn explain(&self) -> String {
        match &self.param {
            Some(param) if !param.is_empty() && !self.message.contains(param.as_str()) => {
                format!("{} ({param})", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// A page that cannot show what the API refused shows the API's message instead.
impl From<ApiError> for axum::response::Response {
    fn from(e: ApiError) -> Self {
        super::layout::api_failure(&e)
    }
}

/// `path?name=value&…` with the present values, encoded.
pub fn with_query(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A path segment, encoded.
pub fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Dashboard {
    /// Every product of the tenant, archived ones too.
    pub(super) async fn products(
        &self,
        grant: &DashboardGrant,
    ) -> Result<types::ProductList, ApiError> {
        self.call(
            grant,
            Method::GET,
            "/v1/products?includeArchived=true",
            None,
        )
        .await
    }

    /// Sends one API request as `grant`, with a JSON body, and reads the answer as `T`.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        grant: &DashboardGrant,
        method: Method,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        match body {
            Some(body) => {
                let body = Body::from(body.to_string());
                self.send(grant, method, uri, Some("application/json"), body)
                    .await
            }
            None => self.send(grant, method, uri, None, Body::empty()).await,
        }
    }

    /// Sends one API request as `grant` with `body` (streamed as it comes) of `content_type`,
    /// and reads the answer as `T`.
    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        grant: &DashboardGrant,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<T, ApiError> {
        let request_id = format!("req_dash_{}", crate::domain::ids::random(16));
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-request-id", &request_id);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let mut request = request.body(body).map_err(|e| internal(&e))?;
        request.extensions_mut().insert(grant.clone());
        let response = self
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| internal(&e))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| internal(&e))?;
        if status.is_success() {
            // A 204 has no body: it reads as JSON `null`, for `()`.
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(bytes).map_err(|e| internal(&e));
        }
        match serde_json::from_slice::<types::Error>(&bytes) {
            Ok(error) => Err(ApiError {
                status: status.as_u16(),
                message: error.message,
                param: error.param,
            }),
            Err(e) => Err(internal(&e)),
        }
    }
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "a dashboard call to the API failed");
    ApiError {
        status: 500,
        message: "Something went wrong on our side. Try again.".into(),
        param: None,
    }
}
