//! Liveness, readiness and the spec itself.

use super::{Caller, Server};
use crate::app::AppError;
use crate::generated::{self as api, types};

pub(super) async fn health_check(
    _server: &Server,
    _caller: Caller,
    _request: api::HealthCheckRequest,
) -> api::HealthCheckResponse {
    api::HealthCheckResponse::Ok(types::Health {
        status: "ok".into(),
    })
}

pub(super) async fn readiness_check(
    server: &Server,
    caller: Caller,
    _request: api::ReadinessCheckRequest,
) -> api::ReadinessCheckResponse {
    if server.app.ready().await {
        api::ReadinessCheckResponse::Ok(types::Health {
            status: "ok".into(),
        })
    } else {
        let (_, body) = super::errors::render(&AppError::NotReady, &caller.request_id);
        api::ReadinessCheckResponse::ServiceUnavailable(body)
    }
}

pub(super) async fn get_open_api_document(
    server: &Server,
    _caller: Caller,
    _request: api::GetOpenApiDocumentRequest,
) -> api::GetOpenApiDocumentResponse {
    let document = match server.spec.as_ref() {
        serde_json::Value::Object(map) => map.clone().into_iter().collect(),
        _ => Default::default(),
    };
    api::GetOpenApiDocumentResponse::Ok(document)
}
