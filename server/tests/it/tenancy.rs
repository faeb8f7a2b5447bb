//! Projects, keys and isolation between tenants and between test and live.

use dream_client::types;

use crate::harness::{Backend, OPERATOR_TOKEN, TestApp, error_of};

crate::on_both_stores!(
    tenants_and_modes_are_isolated,
    secret_keys_rotate_with_an_overlap,
    operator_creates_projects_and_catalogue_round_trips
);

async fn create_product(client: &dream_client::Client, name: &str) -> types::Product {
    client
        .create_product()
        .body_map(|b| {
            b.name(name.parse::<types::ProductCreateName>().unwrap())
                .prices(vec![types::PriceCreate {
                    currency: "usd".parse().unwrap(),
                    unit_amount: 1500,
                }])
        })
        .send()
        .await
        .expect("product")
        .into_inner()
}

async fn tenants_and_modes_are_isolated(backend: Backend) {
    let t = TestApp::start(backend).await;
    let test_product = create_product(&t.secret(&t.test), "Test mug").await;
    // Live sees nothing of test.
    assert!(
        t.publishable(&t.live)
            .list_products()
            .send()
            .await
            .unwrap()
            .into_inner()
            .products
            .is_empty()
    );
    let (status, code) = error_of(
        t.secret(&t.live)
            .get_product()
            .product_id(test_product.id.as_str())
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "not_found"));
    // Another project sees nothing either, and cannot change it.
    let other = t.app.project_create("Other", false).await.unwrap();
    let (_, _, other_sk) = other
        .keys
        .iter()
        .find(|(m, _, _)| m.as_str() == "test")
        .unwrap()
        .clone();
    let intruder = t.client_with(&[("authorization", &format!("Bearer {other_sk}"))]);
    let (status, code) = error_of(
        intruder
            .archive_product()
            .product_id(test_product.id.as_str())
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(
        intruder
            .list_products()
            .send()
            .await
            .unwrap()
            .into_inner()
            .products
            .is_empty()
    );
    // Users are per tenant too.
    let token = t.dev_token("user_iso").await;
    t.user(&t.test, &token).track_usage().send().await.unwrap();
    let (status, _) = error_of(intruder.get_customer().user_id("user_iso").send().await);
    assert_eq!(status, 404);
    assert_eq!(
        t.publishable(&t.test)
            .list_products()
            .send()
            .await
            .unwrap()
            .into_inner()
            .products
            .len(),
        1
    );
}

async fn secret_keys_rotate_with_an_overlap(backend: Backend) {
    let t = TestApp::start(backend).await;
    let old = t.secret(&t.test);
    let rotated = old
        .rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(3600))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(rotated.secret_key.starts_with("sk_test_"));
    let new = t.client_with(&[("authorization", &format!("Bearer {}", rotated.secret_key))]);
    old.list_tiers()
        .send()
        .await
        .expect("the old key works during the overlap");
    new.list_tiers().send().await.expect("the new key works");
    let keys = new.list_api_keys().send().await.unwrap().into_inner().keys;
    assert!(
        keys.iter().all(|k| k.kind == types::KeyKind::Publishable
            || !k.token.contains(&rotated.secret_key[8..])),
        "secret keys are never shown again"
    );
    // Rotating again with no overlap revokes every older key at once.
    let third = new
        .rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(0))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        error_of(old.list_tiers().send().await),
        (401, "invalid_api_key".to_string())
    );
    assert_eq!(
        error_of(new.list_tiers().send().await),
        (401, "invalid_api_key".to_string())
    );
    let newest = t.client_with(&[("authorization", &format!("Bearer {}", third.secret_key))]);
    newest
        .list_tiers()
        .send()
        .await
        .expect("the newest key works");
}

async fn operator_creates_projects_and_catalogue_round_trips(backend: Backend) {
    let t = TestApp::start(backend).await;
    let operator = t.client_with(&[("authorization", &format!("Bearer {OPERATOR_TOKEN}"))]);
    let created = operator
        .create_project()
        .body_map(|b| b.name("Shop".parse::<types::ProjectCreateName>().unwrap()))
        .send()
        .await
        .expect("project")
        .into_inner();
    assert!(created.keys.test.publishable_key.starts_with("pk_test_"));
    assert!(created.keys.live.secret_key.starts_with("sk_live_"));
    let shop = t.client_with(&[(
        "authorization",
        &format!("Bearer {}", created.keys.test.secret_key),
    )]);
    let mug = create_product(&shop, "Mug").await;
    let renamed = shop
        .update_product()
        .product_id(mug.id.as_str())
        .body_map(|b| b.name(Some("Big mug".parse().unwrap())))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (renamed.name.as_str(), renamed.prices.len()),
        ("Big mug", 1)
    );
    shop.archive_product()
        .product_id(mug.id.as_str())
        .send()
        .await
        .unwrap();
    let public = t.client_with(&[("x-publishable-key", &created.keys.test.publishable_key)]);
    assert!(
        public
            .list_products()
            .send()
            .await
            .unwrap()
            .into_inner()
            .products
            .is_empty(),
        "archived products are not public"
    );
    assert_eq!(
        shop.list_products()
            .include_archived(true)
            .send()
            .await
            .unwrap()
            .into_inner()
            .products
            .len(),
        1
    );
    // Tier names are unique per tenant.
    let pro = || {
        shop.create_tier().body_map(|b| {
            b.name("pro".parse::<types::TierName>().unwrap())
                .display_name("Pro".parse::<types::TierCreateDisplayName>().unwrap())
        })
    };
    pro().send().await.expect("tier");
    assert_eq!(
        error_of(pro().send().await),
        (409, "already_exists".to_string())
    );
    let tiers = public.list_tiers().send().await.unwrap().into_inner().tiers;
    let names: Vec<_> = tiers
        .iter()
        .map(|t| (t.name.as_str(), t.is_default))
        .collect();
    assert_eq!(names, vec![("free", true), ("pro", false)]);
}
