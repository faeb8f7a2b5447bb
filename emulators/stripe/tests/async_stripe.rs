//! The emulator as the server will meet it: through async-stripe 1.0, whose types refuse any
//! object missing a required field. Every object and event of a subscription's checkout must
//! deserialize, on a connected account, and webhooks must verify with `stripe_webhook`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, RetrieveCheckoutSession,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::{AccountId, CheckoutSessionMode};

const SECRET: &str = "whsec_async_stripe";

#[tokio::test]
async fn async_stripe_reads_every_object_and_event_of_a_checkout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = stripe_emulator::start(listener).await.unwrap();

    // Webhooks, parsed by stripe_webhook as the server will parse them.
    let parsed: Arc<Mutex<Vec<Result<String, String>>>> = Arc::default();
    let sink = parsed.clone();
    let router = axum::Router::new().route(
        "/webhooks",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let signature = headers["stripe-signature"].to_str().unwrap();
                let outcome = stripe_webhook::Webhook::construct_event(&body, signature, SECRET)
                    .map(|event| format!("{:?}", event.type_))
                    .map_err(|e| format!("{e:?} in {body}"));
                sink.lock().unwrap().push(outcome);
                http::StatusCode::OK
            }
        }),
    );
    let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/webhooks", hooks.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(hooks, router).await });
    running.emulator.add_endpoint(&hook_url, SECRET);

    let account = AccountId::from("acct_1AsyncStripe".to_string());
    let client = stripe::ClientBuilder::new("sk_test_async_stripe")
        .url(format!("{}/", running.base_url))
        .account_id(account)
        .build()
        .unwrap();

    let customer = CreateCustomer::new()
        .email("ada@example.com")
        .send(&client)
        .await
        .unwrap();
    let product = CreateProduct::new("Pro").send(&client).await.unwrap();
    let price = CreatePrice::new(stripe_types::Currency::USD)
        .product(product.id.as_str())
        .unit_amount(2900)
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ))
        .send(&client)
        .await
        .unwrap();
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(price.id.to_string());
    line.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .line_items(vec![line])
        .success_url("https://app.example/ok")
        .client_reference_id("user_ada")
        .send(&client)
        .await
        .unwrap();
    let url = session.url.clone().unwrap();
    assert!(url.starts_with(&running.base_url));

    let completed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "{}/checkout/{}/complete",
            running.base_url, session.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status().as_u16(), 303);

    let session = RetrieveCheckoutSession::new(session.id.clone())
        .send(&client)
        .await
        .unwrap();
    let subscription_id = match session.subscription.clone().unwrap() {
        stripe_types::Expandable::Id(id) => id,
        stripe_types::Expandable::Object(subscription) => subscription.id,
    };
    let subscription = RetrieveSubscription::new(subscription_id)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(subscription.items.data[0].price.id, price.id);
    let portal = CreateBillingPortalSession::new()
        .customer(customer.id.as_str())
        .return_url("https://app.example/account")
        .send(&client)
        .await
        .unwrap();
    assert!(portal.url.starts_with(&running.base_url));

    for _ in 0..200 {
        if parsed.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let parsed = parsed.lock().unwrap().clone();
    assert_eq!(parsed.len(), 4, "{parsed:?}");
    for outcome in &parsed {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}

#[test]
fn the_emulator_speaks_the_api_version_the_client_is_built_for() {
    // Events of another version make the client warn on every delivery.
    assert_eq!(
        stripe_emulator::API_VERSION,
        stripe_shared::version::VERSION.as_str()
    );
}
