//! The error contract: unknown routes, unparseable and invalid input, each answered in the
//! Error schema with the documented code. (Every response of every case is also checked
//! against the spec by the proxy; these cases provoke the errors on purpose.)

use http::Method;

use crate::harness::{Case, CaseResult, Ctx, Expect as _, send_raw};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "errors.unknown-path-and-method",
            Core,
            ["ERR-005", "ERR-001", "ERR-002"],
            "unknown paths answer 404 and wrong methods 405, in the Error schema",
            unknown_path_and_method
        ),
        case!(
            "errors.unparseable-bodies",
            Core,
            ["ERR-003", "ERR-002"],
            "bodies that are not JSON are refused with 400 invalid_request and count nothing",
            unparseable_bodies
        ),
        case!(
            "errors.validation-names-the-input",
            Core,
            ["ERR-004", "ERR-001"],
            "input breaking the spec is refused with 422 validation_failed naming the input",
            validation_names_the_input
        ),
        case!(
            "errors.nul-characters",
            Core,
            ["ERR-006", "ERR-001"],
            "strings with NUL are refused as invalid input, naming it, on every store",
            nul_characters
        ),
    ]
}

async fn unknown_path_and_method(ctx: Ctx) -> CaseResult {
    let missing = send_raw(
        ctx.raw(Method::GET, "/v1/no-such-thing"),
        "GET /v1/no-such-thing",
    )
    .await?;
    ensure_eq!(
        (missing.status, missing.code()),
        (404, "not_found"),
        "GET /v1/no-such-thing"
    );
    let wrong = send_raw(ctx.raw(Method::PUT, "/v1/products"), "PUT /v1/products").await?;
    ensure_eq!(
        (wrong.status, wrong.code()),
        (405, "method_not_allowed"),
        "PUT /v1/products"
    );
    for raw in [&missing, &wrong] {
        ensure!(raw.request_id.is_some(), "an error without x-request-id");
        ensure_eq!(
            raw.body["requestId"].as_str(),
            raw.request_id.as_deref(),
            "requestId"
        );
    }
    Ok(())
}

async fn unparseable_bodies(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("unparseable");
    let token = ctx.token(&user);
    for (body, content_type) in [
        ("{not json", "application/json"),
        ("amount=1", "application/x-www-form-urlencoded"),
        ("[1, 2", "application/json"),
    ] {
        let raw = ctx
            .raw_track(&project.test, &token, content_type, body)
            .await?;
        ensure_eq!(
            (raw.status, raw.code()),
            (400, "invalid_request"),
            "trackUsage with body {body:?} as {content_type}"
        );
    }
    let check = ctx
        .user(&project.test, &token)
        .check_usage()
        .send()
        .await
        .succeeds("checkUsage")?;
    ensure_eq!(check.usage_count, 0, "usage after refused tracks");
    Ok(())
}

async fn validation_names_the_input(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = ctx.token(&ctx.user_id("invalid"));
    for (body, param) in [
        (r#"{"amount": 0}"#, "amount"),
        (r#"{"amount": 1000000001}"#, "amount"),
        (r#"{"amount": "two"}"#, "amount"),
        (r#"{"metric": "Bad Metric"}"#, "metric"),
        (r#"{"surprise": 1}"#, "surprise"),
    ] {
        let raw = ctx
            .raw_track(&project.test, &token, "application/json", body)
            .await?;
        ensure_eq!(
            (raw.status, raw.code(), raw.param()),
            (422, "validation_failed", Some(param)),
            "trackUsage {body}"
        );
    }
    let raw = ctx
        .raw_admin(
            Method::POST,
            "/v1/products",
            &project.test,
            Some(r#"{"prices": []}"#),
        )
        .await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (422, "validation_failed", Some("name")),
        "createProduct without a name"
    );
    // getProduct documents 400 but not 422: a path parameter breaking its schema is a 400.
    let long_id = format!("/v1/products/prod_{}", "0".repeat(70));
    let raw = ctx
        .raw_admin(Method::GET, &long_id, &project.test, None)
        .await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (400, "invalid_request", Some("productId")),
        "getProduct with a 75-character id"
    );
    let raw = ctx
        .raw_admin(Method::GET, "/v1/customers?limit=500", &project.test, None)
        .await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (422, "validation_failed", Some("limit")),
        "listCustomers?limit=500"
    );
    let check = ctx
        .user(&project.test, &token)
        .check_usage()
        .send()
        .await
        .succeeds("checkUsage")?;
    ensure_eq!(check.usage_count, 0, "usage after refused tracks");
    Ok(())
}

async fn nul_characters(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    for (body, param) in [
        (
            r#"{"name": "Mug\u0000", "prices": [{"currency": "usd", "unitAmount": 1500}]}"#,
            "name",
        ),
        (
            r#"{"name": "Mug", "metadata": {"sku": "a\u0000b"}, "prices": [{"currency": "usd", "unitAmount": 1500}]}"#,
            "metadata.sku",
        ),
    ] {
        let raw = ctx
            .raw_admin(Method::POST, "/v1/products", &project.test, Some(body))
            .await?;
        ensure_eq!(
            (raw.status, raw.code(), raw.param()),
            (422, "validation_failed", Some(param)),
            "createProduct {body}"
        );
    }
    // getProduct documents 400, not 422.
    let raw = ctx
        .raw_admin(Method::GET, "/v1/products/prod_a%00b", &project.test, None)
        .await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (400, "invalid_request", Some("productId")),
        "getProduct with NUL in its id"
    );
    let raw = ctx
        .raw_admin(
            Method::GET,
            "/v1/customers?query=a%00b",
            &project.test,
            None,
        )
        .await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (422, "validation_failed", Some("query")),
        "listCustomers with NUL in a query parameter"
    );
    let products = ctx
        .secret(&project.test)
        .list_products()
        .send()
        .await
        .succeeds("listProducts")?;
    ensure!(
        products.products.iter().all(|p| !p.name.contains('\0')),
        "a product with NUL in its name was stored"
    );
    Ok(())
}
