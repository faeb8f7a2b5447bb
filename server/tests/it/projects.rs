//! Deleting a project removes every row it owns and its assets' bytes, and nothing of any
//! other project; the list of tables it deletes from covers every table with a `project_id`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sqlx::Row;

use crate::harness::{Backend, fresh_database, operator_project, spawn_serve_on};

crate::on_both_stores!(
    deleting_a_project_leaves_no_row_of_it,
    a_project_stripe_still_bills_live_is_not_deleted
);

/// The smallest valid PNG: a 1×1 transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// Fills a project's tables through the API: settings, a tier, a product with a price and
/// an image, a user with tracked usage (with an idempotency key), an ingested event, and the
/// audit entries all of that writes. Returns the project's id and the image's public URL.
async fn populate(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let (pk, sk) = operator_project(http, base, name).await;
    let ok = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    let settings = ok(http
        .patch(format!("{base}/v1/settings"))
        .bearer_auth(&sk)
        .json(&json!({ "devIssuerEnabled": true }))
        .send()
        .await
        .unwrap())
    .await;
    let project_id = settings["project"]["id"].as_str().unwrap().to_string();
    ok(http
        .post(format!("{base}/v1/tiers"))
        .bearer_auth(&sk)
        .json(
            &json!({ "name": "basic", "displayName": "Basic", "isDefault": true,
                       "limits": [{ "metric": "requests", "limit": 100, "enforcement": "hard" }] }),
        )
        .send()
        .await
        .unwrap())
    .await;
    let image = ok(http
        .post(format!("{base}/v1/assets?filename=pixel.png"))
        .bearer_auth(&sk)
        .header("content-type", "image/png")
        .body(PNG)
        .send()
        .await
        .unwrap())
    .await;
    ok(http
        .post(format!("{base}/v1/products"))
        .bearer_auth(&sk)
        .json(&json!({ "name": "Mug", "images": [image["id"]],
                       "prices": [{ "unitAmount": 1200, "currency": "usd" }] }))
        .send()
        .await
        .unwrap())
    .await;
    let token = ok(http
        .post(format!("{base}/v1/dev/tokens"))
        .bearer_auth(&sk)
        .json(&json!({ "userId": "user_1" }))
        .send()
        .await
        .unwrap())
    .await;
    ok(http
        .post(format!("{base}/v1/usage/track"))
        .header("x-publishable-key", &pk)
        .header("idempotency-key", "once")
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({ "amount": 2 }))
        .send()
        .await
        .unwrap())
    .await;
    ok(http
        .post(format!("{base}/v1/usage/events"))
        .bearer_auth(&sk)
        .json(&json!({ "events": [{ "id": "evt_1", "userId": "user_2" }] }))
        .send()
        .await
        .unwrap())
    .await;
    (project_id, image["url"].as_str().unwrap().to_string())
}

/// Every table with a `project_id` column, read from the schema.
async fn tables_with_project_id(db: &mut sqlx::AnyConnection, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.columns \
             WHERE column_name = 'project_id' AND table_schema = current_schema()"
        }
        Backend::Sqlite => {
            "SELECT m.name AS t FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name = 'project_id'"
        }
    };
    sqlx::query(sql)
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("t").unwrap())
        .collect()
}

/// Files in a folder and its subfolders (0 when it does not exist).
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => files_under(&e.path()),
                    _ => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn rows_of(db: &mut sqlx::AnyConnection, table: &str, project: &str) -> i64 {
    sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE project_id = $1"
    ))
    .bind(project)
    .fetch_one(db)
    .await
    .unwrap()
    .try_get("n")
    .unwrap()
}

async fn deleting_a_project_leaves_no_row_of_it(backend: Backend) {
    use sqlx::Connection;
    let (database, dir) = fresh_database(backend).await;
    let assets = dir.path().join("assets");
    let assets_url = assets.display().to_string();
    let (mut server, address) =
        spawn_serve_on(&database, &[("DREAM_ASSETS_URL", assets_url.as_str())]);
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let (doomed, doomed_image) = populate(&http, &base, "Doomed").await;
    let (kept, kept_image) = populate(&http, &base, "Kept").await;
    assert_eq!(
        files_under(&assets.join(&doomed)),
        1,
        "the upload is stored"
    );

    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database).await.unwrap();
    let tables = tables_with_project_id(&mut db, backend).await;
    let listed: BTreeSet<&str> = dream_server::store::projects::PROJECT_TABLES
        .iter()
        .copied()
        .collect();
    let found: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    assert_eq!(
        listed, found,
        "store::projects::PROJECT_TABLES must name every table with a project_id column"
    );
    let mut filled = Vec::new();
    for table in &tables {
        if rows_of(&mut db, table, &doomed).await > 0 {
            filled.push(table.clone());
        }
    }
    // The populated project has rows in most tables (not the billing ones: no Stripe here).
    assert!(filled.len() >= 10, "only {filled:?} hold rows");

    let deleted = http
        .delete(format!("{base}/v1/projects/{doomed}"))
        .bearer_auth("op_test")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let body: Value = deleted.json().await.unwrap();
    assert_eq!(body, json!({ "id": doomed, "deleted": true }));

    for table in &tables {
        assert_eq!(rows_of(&mut db, table, &doomed).await, 0, "{table}");
    }
    let projects: i64 = sqlx::query("SELECT COUNT(*) AS n FROM projects WHERE id = $1")
        .bind(&doomed)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(projects, 0);
    for table in &filled {
        assert!(
            rows_of(&mut db, table, &kept).await > 0,
            "{table} of the other project"
        );
    }
    assert_eq!(files_under(&assets.join(&doomed)), 0, "the bytes are gone");
    assert_eq!(
        files_under(&assets.join(&kept)),
        1,
        "the other project's bytes stay"
    );
    assert_eq!(http.get(&doomed_image).send().await.unwrap().status(), 404);
    assert_eq!(http.get(&kept_image).send().await.unwrap().status(), 200);
    server.kill().unwrap();
    let _ = server.wait();
}

/// A live-mode subscription that is still live keeps its project: Stripe would go on billing
/// a customer the server no longer knows. Once it is canceled, the project can go.
async fn a_project_stripe_still_bills_live_is_not_deleted(backend: Backend) {
    use dream_server::store::projects::ProjectDeletion;
    use sqlx::Connection;
    let (store, url, _dir) = crate::harness::fresh_store(backend).await;
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ('proj_billed', 'Billed', 0)")
        .execute(&mut db)
        .await
        .unwrap();
    let subscription = |mode: &str, id: &str, status: &str| {
        format!(
            "INSERT INTO subscriptions (project_id, mode, id, user_id, tier_id, status, period_start, \
             period_end, cancel_at_period_end, event_created, updated_at) \
             VALUES ('proj_billed', '{mode}', '{id}', 'user_1', 'tier_1', '{status}', 0, 1, 0, 0, 0)"
        )
    };
    for (mode, id, status) in [
        ("live", "sub_live", "active"),
        ("test", "sub_test", "active"),
        ("live", "sub_old", "canceled"),
    ] {
        sqlx::query(&subscription(mode, id, status))
            .execute(&mut db)
            .await
            .unwrap();
    }
    assert_eq!(
        store.project_delete("proj_billed").await.unwrap(),
        ProjectDeletion::LiveSubscriptions(1)
    );
    assert!(store.project_get("proj_billed").await.unwrap().is_some());
    sqlx::query("UPDATE subscriptions SET status = 'canceled' WHERE id = 'sub_live'")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        store.project_delete("proj_billed").await.unwrap(),
        ProjectDeletion::Deleted
    );
    assert!(store.project_get("proj_billed").await.unwrap().is_none());
    assert_eq!(
        store.project_delete("proj_billed").await.unwrap(),
        ProjectDeletion::NotFound
    );
}
