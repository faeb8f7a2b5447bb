//! Health, readiness and the served spec.

use crate::harness::{Case, CaseResult, Ctx, Expect as _};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "platform.health",
            Core,
            ["PLAT-001"],
            "GET /healthz answers ok without a credential",
            health
        ),
        case!(
            "platform.readiness",
            Core,
            ["PLAT-002"],
            "GET /readyz answers ok while the database is reachable",
            readiness
        ),
        case!(
            "platform.openapi-document",
            Core,
            ["PLAT-003"],
            "GET /openapi.json serves the spec this suite certifies",
            openapi_document
        ),
    ]
}

async fn health(ctx: Ctx) -> CaseResult {
    let health = ctx
        .anonymous()
        .health_check()
        .send()
        .await
        .succeeds("healthCheck")?;
    ensure_eq!(health.status, "ok", "healthCheck status");
    Ok(())
}

async fn readiness(ctx: Ctx) -> CaseResult {
    let ready = ctx
        .anonymous()
        .readiness_check()
        .send()
        .await
        .succeeds("readinessCheck")?;
    ensure_eq!(ready.status, "ok", "readinessCheck status");
    Ok(())
}

async fn openapi_document(ctx: Ctx) -> CaseResult {
    let document = ctx
        .anonymous()
        .get_open_api_document()
        .send()
        .await
        .succeeds("getOpenApiDocument")?;
    let spec = crate::spec::Spec::load().expect("embedded spec");
    ensure_eq!(
        document
            .get("info")
            .and_then(|i| i.get("version"))
            .and_then(|v| v.as_str()),
        Some(spec.version.as_str()),
        "info.version of /openapi.json"
    );
    let served: Vec<String> = document
        .get("paths")
        .and_then(|p| p.as_object())
        .map(|paths| {
            paths
                .values()
                .filter_map(|item| item.as_object())
                .flat_map(|item| item.values())
                .filter_map(|op| op.get("operationId")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for op in spec.operations() {
        ensure!(
            served.contains(&op.id),
            "/openapi.json lacks operation {}",
            op.id
        );
    }
    Ok(())
}
