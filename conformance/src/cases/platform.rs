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
        case!(
            "platform.project-list",
            Core,
            ["PLAT-004"],
            "the operator lists every project; secret keys may not",
            project_list
        ),
        case!(
            "platform.project-delete",
            Core,
            ["PLAT-005"],
            "the operator deletes a project: its keys are refused at once, it leaves the list, and a second delete is 404",
            project_delete
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

async fn project_list(ctx: Ctx) -> CaseResult {
    let Some(token) = ctx.settings().operator_token.clone() else {
        return Err(crate::harness::Verdict::Skip(
            "lists every project: needs an operator token".into(),
        ));
    };
    let project = ctx.fresh_project().await?;
    let operator = ctx.client(&[("authorization", &format!("Bearer {token}"))]);
    let listed = operator
        .list_projects()
        .send()
        .await
        .succeeds("listProjects")?;
    let keys = ctx
        .secret(&project.test)
        .get_settings()
        .send()
        .await
        .succeeds("getSettings")?;
    let found = listed.data.iter().find(|p| p.id == keys.project.id);
    ensure!(
        found.is_some(),
        "the new project {} is not listed",
        keys.project.id
    );
    ensure!(
        listed
            .data
            .windows(2)
            .all(|w| w[0].created_at.0 <= w[1].created_at.0),
        "projects are listed oldest first"
    );
    ctx.secret(&project.test)
        .list_projects()
        .send()
        .await
        .refused(
            "listProjects with a secret key",
            401,
            "invalid_operator_token",
        )?;
    Ok(())
}

async fn project_delete(ctx: Ctx) -> CaseResult {
    let Some(token) = ctx.settings().operator_token.clone() else {
        return Err(crate::harness::Verdict::Skip(
            "deletes a project: needs an operator token".into(),
        ));
    };
    let project = ctx.fresh_project().await?;
    let other = ctx.fresh_project().await?;
    let id = ctx
        .secret(&project.test)
        .get_settings()
        .send()
        .await
        .succeeds("getSettings")?
        .project
        .id;
    // The project has a user with counted usage, so there is data to delete.
    let user = ctx.user(&project.test, &ctx.token(&ctx.user_id("deleted")));
    user.track_usage()
        .send()
        .await
        .succeeds("trackUsage before the delete")?;
    ctx.secret(&other.test)
        .delete_project()
        .project_id(id.as_str())
        .send()
        .await
        .refused(
            "deleteProject with another project's secret key",
            401,
            "invalid_operator_token",
        )?;
    let operator = ctx.client(&[("authorization", &format!("Bearer {token}"))]);
    let deleted = operator
        .delete_project()
        .project_id(id.as_str())
        .send()
        .await
        .succeeds("deleteProject")?;
    ensure_eq!(
        (deleted.id.as_str(), deleted.deleted),
        (id.as_str(), true),
        "deleteProject's answer"
    );
    for (what, keys) in [("test", &project.test), ("live", &project.live)] {
        ctx.secret(keys).get_settings().send().await.refused(
            &format!("getSettings with the deleted project's {what} secret key"),
            401,
            "invalid_api_key",
        )?;
    }
    user.check_usage().send().await.refused(
        "checkUsage with the deleted project's publishable key",
        401,
        "invalid_api_key",
    )?;
    let listed = operator
        .list_projects()
        .send()
        .await
        .succeeds("listProjects")?;
    ensure!(
        listed.data.iter().all(|p| p.id != id),
        "the deleted project {id} is still listed"
    );
    operator
        .delete_project()
        .project_id(id.as_str())
        .send()
        .await
        .refused("deleteProject again", 404, "not_found")?;
    // The other project is untouched.
    ctx.secret(&other.test)
        .get_settings()
        .send()
        .await
        .succeeds("getSettings of another project after the delete")?;
    Ok(())
}
