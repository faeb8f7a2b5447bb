//! Billing as only the implementation can see it: what the server sends Stripe (asserted at
//! the emulator's request log) and which webhook secrets it accepts. The API-level billing
//! behaviour is in the conformance suite's billing and webhooks profiles.

use std::collections::BTreeMap;
use std::sync::Arc;

use dream_server::app::catalog::{ProductInput, TierInput};
use dream_server::app::{App, AppError, SettingsChanges, UserContext};
use dream_server::config::{Config, Secret};
use dream_server::domain::{
    Enforcement, KeyKind, LimitRule, Mode, PriceInterval, Tenant, TierPrice,
};
use dream_server::store::Store;
use stripe_emulator::store::LoggedRequest;

use crate::harness::{Backend, fresh_database};

crate::on_both_stores!(
    every_stripe_call_carries_the_connected_account_and_the_platform_fee,
    a_refused_cart_sends_nothing_to_stripe,
    every_configured_webhook_secret_verifies,
    events_of_one_second_move_a_subscription_forward_only,
    events_whose_webhooks_never_arrived_are_applied_by_the_catch_up,
);

const ACCOUNT: &str = "acct_1ConnectedShop";

struct Billing {
    app: Arc<App>,
    /// The same database, for what only the implementation can see.
    store: Store,
    emulator: Arc<stripe_emulator::Emulator>,
    tenant: Tenant,
    user: UserContext,
    _dir: tempfile::TempDir,
}

/// A project whose test mode bills on `ACCOUNT` with a 2.5 % fee through an in-process
/// emulator, a `pro` tier, and a user.
async fn billing(backend: Backend, secrets: &[&str]) -> Billing {
    dream_server::install_crypto();
    let (url, dir) = fresh_database(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = stripe_emulator::start(listener).await.unwrap();
    let store = Store::connect(&url).await.unwrap();
    let config = Config {
        database_url: url,
        stripe_api_base: running.base_url.clone(),
        stripe_test_secret_key: Some(Secret::new("sk_test_billing_it")),
        stripe_webhook_secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
        // The tests below list the emulator's requests exactly, and catch up themselves.
        webhook_catch_up_seconds: 0,
        ..Config::default()
    };
    let app = App::build(&config, "http://127.0.0.1:9").await.unwrap().app;
    let created = app.project_create("Shop", true).await.unwrap();
    let (_, _, sk) = created
        .keys
        .iter()
        .find(|(mode, _, _)| *mode == Mode::Test)
        .unwrap()
        .clone();
    let tenant = app.resolve_key(&sk, KeyKind::Secret).await.unwrap();
    app.settings_update(
        &tenant,
        SettingsChanges {
            connected_account: Some(ACCOUNT.into()),
            platform_fee_percent: Some(2.5),
            site_url: Some("https://shop.example.com".into()),
            ..SettingsChanges::default()
        },
    )
    .await
    .unwrap();
    app.tier_create(
        &tenant,
        TierInput {
            name: "pro".into(),
            display_name: "Pro".into(),
            is_default: false,
            price: Some(TierPrice {
                currency: "usd".into(),
                unit_amount: 2900,
                interval: PriceInterval::Month,
            }),
            trial: None,
            limits: vec![LimitRule {
                metric: "requests".into(),
                limit: Some(10_000),
                enforcement: Enforcement::Hard,
                overage: None,
            }],
            rate_limit: None,
            features: Vec::new(),
        },
    )
    .await
    .unwrap();
    let (token, _, _) = app
        .dev_token_create(&tenant, "user_billing", None, 600)
        .await
        .unwrap();
    let user = app.resolve_user(tenant.clone(), &token).await.unwrap();
    Billing {
        app,
        store,
        emulator: running.emulator,
        tenant,
        user,
        _dir: dir,
    }
}

fn requests(emulator: &stripe_emulator::Emulator) -> Vec<LoggedRequest> {
    emulator.store.lock().unwrap().requests.clone()
}

async fn product(b: &Billing, name: &str, currency: &str, amount: i64) -> String {
    b.app
        .product_create(
            &b.tenant,
            ProductInput {
                name: name.into(),
                description: None,
                metadata: BTreeMap::new(),
                prices: vec![(currency.into(), amount)],
                images: Vec::new(),
            },
        )
        .await
        .unwrap()
        .prices[0]
        .id
        .clone()
}

async fn every_stripe_call_carries_the_connected_account_and_the_platform_fee(backend: Backend) {
    let b = billing(backend, &["whsec_it"]).await;
    b.app
        .checkout_create(&b.user, "pro", Some("/done"), None)
        .await
        .expect("a subscription checkout");
    // A second checkout reuses the customer and the tier's Stripe price.
    b.app
        .checkout_create(&b.user, "pro", None, None)
        .await
        .expect("another subscription checkout");
    b.app
        .portal_create(&b.user, None)
        .await
        .expect("a portal session");
    let mug = product(&b, "Mug", "usd", 1500).await;
    let cap = product(&b, "Cap", "usd", 2000).await;
    b.app
        .cart_checkout(
            &b.tenant,
            &[(mug, 3), (cap, 1)],
            Some("buyer@example.com"),
            "/thanks",
            "/cart",
        )
        .await
        .expect("a cart checkout");

    let sent = requests(&b.emulator);
    let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/products",
            "/v1/prices",
            "/v1/customers",
            "/v1/checkout/sessions",
            "/v1/checkout/sessions",
            "/v1/billing_portal/sessions",
            "/v1/products",
            "/v1/prices",
            "/v1/products",
            "/v1/prices",
            "/v1/checkout/sessions",
        ],
        "the calls the server made, in order"
    );
    for request in &sent {
        assert_eq!(
            request.stripe_account.as_deref(),
            Some(ACCOUNT),
            "{} {} on the connected account",
            request.method,
            request.path
        );
        if matches!(
            request.path.as_str(),
            "/v1/products" | "/v1/prices" | "/v1/customers"
        ) {
            assert!(
                request.idempotency_key.is_some(),
                "{} is idempotent",
                request.path
            );
        }
    }
    let subscription = &sent[3].params;
    assert_eq!(subscription["mode"], "subscription");
    assert_eq!(subscription["client_reference_id"], "user_billing");
    assert_eq!(subscription["success_url"], "https://shop.example.com/done");
    assert_eq!(subscription["cancel_url"], "https://shop.example.com/");
    assert_eq!(
        subscription["subscription_data"]["application_fee_percent"],
        "2.5"
    );
    assert_eq!(
        subscription["subscription_data"]["metadata"]["dream_user"],
        "user_billing"
    );
    let cart = &sent[10].params;
    assert_eq!(cart["mode"], "payment");
    assert_eq!(cart["customer_email"], "buyer@example.com");
    assert_eq!(cart["line_items"][0]["quantity"], "3");
    // 2.5 % of 3 × 15.00 + 20.00 = 65.00 is 1.62 (rounded down, in cents).
    assert_eq!(cart["payment_intent_data"]["application_fee_amount"], "162");
}

async fn a_refused_cart_sends_nothing_to_stripe(backend: Backend) {
    let b = billing(backend, &["whsec_it"]).await;
    let mug = product(&b, "Mug", "usd", 1500).await;
    let euro = product(&b, "Euro mug", "eur", 1400).await;
    for items in [
        vec![(mug.clone(), 1), ("price_unknown".to_string(), 1)],
        vec![(mug.clone(), 1), (euro, 1)],
        vec![(mug.clone(), 1), (mug.clone(), 1)],
    ] {
        let refused = b
            .app
            .cart_checkout(&b.tenant, &items, None, "/thanks", "/cart")
            .await;
        assert!(
            matches!(refused, Err(AppError::Validation { ref param, .. }) if param == "items[1].priceId"),
            "{items:?}: {refused:?}"
        );
    }
    let refused = b
        .app
        .cart_checkout(&b.tenant, &[(mug, 1)], None, "javascript:alert(1)", "/cart")
        .await;
    assert!(
        matches!(refused, Err(AppError::Validation { .. })),
        "{refused:?}"
    );
    assert!(requests(&b.emulator).is_empty(), "Stripe was not called");
}

async fn every_configured_webhook_secret_verifies(backend: Backend) {
    let b = billing(backend, &["whsec_old", "whsec_new"]).await;
    let payload = |id: &str| {
        serde_json::json!({
            "id": id,
            "object": "event",
            "created": chrono::Utc::now().timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "request": null,
            "type": "customer.deleted",
            "data": { "object": { "id": "cus_x", "object": "customer" } },
        })
        .to_string()
    };
    let now = chrono::Utc::now().timestamp();
    for (id, secret) in [("evt_old", "whsec_old"), ("evt_new", "whsec_new")] {
        let body = payload(id);
        let header = stripe_emulator::webhooks::signature_header(&body, secret, now);
        let receipt = b
            .app
            .webhook_receive(&body, &header)
            .await
            .unwrap_or_else(|e| panic!("signed with {secret}: {e}"));
        assert_eq!((receipt.event_id.as_str(), receipt.duplicate), (id, false));
    }
    let body = payload("evt_other");
    let header = stripe_emulator::webhooks::signature_header(&body, "whsec_other", now);
    let refused = b.app.webhook_receive(&body, &header).await;
    assert!(
        matches!(refused, Err(AppError::InvalidSignature(_))),
        "{refused:?}"
    );
}

async fn events_of_one_second_move_a_subscription_forward_only(backend: Backend) {
    let b = billing(backend, &["whsec_it"]).await;
    // A checkout makes the user's Stripe customer, which routes the events below.
    b.app
        .checkout_create(&b.user, "pro", None, None)
        .await
        .expect("a checkout");
    let customer = b
        .store
        .customer_get(&b.tenant, "user_billing")
        .await
        .unwrap()
        .and_then(|c| c.stripe_customer_id)
        .expect("a Stripe customer");
    let pro = b
        .store
        .tier_by_name(&b.tenant, "pro")
        .await
        .unwrap()
        .unwrap();
    let second = chrono::Utc::now().timestamp();
    let deliver = |id: &str, kind: &str, status: &str| {
        let mut sub: serde_json::Value = serde_json::from_str(include_str!(
            "../../../conformance/fixtures/stripe/subscription.json"
        ))
        .unwrap();
        sub["id"] = "sub_same_second".into();
        sub["customer"] = customer.clone().into();
        sub["status"] = status.into();
        sub["metadata"] = serde_json::json!({ "dream_tier": pro.id });
        let body = serde_json::json!({
            "id": id, "object": "event", "created": second, "livemode": false,
            "pending_webhooks": 1, "request": null, "type": kind, "account": ACCOUNT,
            "data": { "object": sub },
        })
        .to_string();
        let header = stripe_emulator::webhooks::signature_header(&body, "whsec_it", second);
        let app = b.app.clone();
        async move { app.webhook_receive(&body, &header).await.unwrap() }
    };
    let tier = || async {
        b.app
            .customer_get(&b.tenant, "user_billing")
            .await
            .unwrap()
            .tier
            .name
            .clone()
    };
    // Stripe sends created (incomplete) and updated (active) in the same second; here the
    // update arrives first.
    deliver("evt_updated", "customer.subscription.updated", "active").await;
    deliver("evt_created", "customer.subscription.created", "incomplete").await;
    assert_eq!(
        tier().await,
        "pro",
        "a same-second incomplete does not undo active"
    );
    deliver("evt_deleted", "customer.subscription.deleted", "canceled").await;
    deliver("evt_late", "customer.subscription.updated", "active").await;
    assert_eq!(
        tier().await,
        "free",
        "a same-second update does not revive a canceled one"
    );
}

/// Webhooks that never arrived (the emulator here has no endpoint, as if the server had been
/// down through every retry): the catch-up lists the events from Stripe, on the platform and
/// on the connected account, and applies each unseen one once; the user is on the plan they
/// paid for. A second run applies nothing.
async fn events_whose_webhooks_never_arrived_are_applied_by_the_catch_up(backend: Backend) {
    let b = billing(backend, &["whsec_it"]).await;
    let since = dream_server::app::now() - 5;
    let checkout = b
        .app
        .checkout_create(&b.user, "pro", Some("/done"), None)
        .await
        .expect("a subscription checkout");
    assert!(
        stripe_emulator::lifecycle::complete_session(&b.emulator, &checkout.id).is_ok(),
        "paid"
    );
    let tier = |b: &Billing| {
        let app = b.app.clone();
        let tenant = b.tenant.clone();
        async move {
            app.customer_get(&tenant, "user_billing")
                .await
                .unwrap()
                .tier
                .name
                .clone()
        }
    };
    assert_ne!(tier(&b).await, "pro", "nothing was delivered");

    let caught = b.app.webhook_catch_up(since).await.expect("a catch-up");
    assert!(caught.applied >= 1, "{caught:?}");
    assert_eq!(caught.applied, caught.listed, "{caught:?}");
    assert_eq!(tier(&b).await, "pro");
    let listed: Vec<String> = requests(&b.emulator)
        .into_iter()
        .filter(|r| r.path == "/v1/events")
        .map(|r| r.stripe_account.unwrap_or_else(|| "platform".into()))
        .collect();
    assert_eq!(listed, ["platform", ACCOUNT]);

    let again = b.app.webhook_catch_up(since).await.expect("a catch-up");
    assert_eq!((again.listed, again.applied), (caught.listed, 0));
    let (stored, _) = b
        .store
        .stripe_event_list(&b.tenant, 100, None)
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        caught.listed,
        "each event once, in the tenant's log"
    );
}
