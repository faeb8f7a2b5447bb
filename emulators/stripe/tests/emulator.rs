//! The emulator over HTTP, as a Stripe client would use it: form-encoded calls, Stripe's error
//! shapes, connected accounts, idempotency, the hosted checkout, and signed webhook deliveries
//! (with retries) through a subscription's life.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const KEY: &str = "sk_test_emulator_tests";
const SECRET: &str = "whsec_emulator_tests";

struct Received {
    events: Vec<Value>,
    /// Deliveries to refuse with a 500 before accepting.
    refuse: usize,
}

/// A webhook endpoint that checks every signature and keeps the events.
async fn endpoint(refuse: usize) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received {
        events: vec![],
        refuse,
    }));
    let state = received.clone();
    let router = axum::Router::new().route(
        "/webhooks",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let header = headers["stripe-signature"].to_str().unwrap().to_owned();
                let (t, v1) = header.split_once(",v1=").unwrap();
                let t = t.strip_prefix("t=").unwrap();
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{t}.{body}").as_bytes());
                assert_eq!(
                    hex::encode(mac.finalize().into_bytes()),
                    v1,
                    "the signature verifies"
                );
                let mut state = state.lock().unwrap();
                if state.refuse > 0 {
                    state.refuse -= 1;
                    return http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                state.events.push(serde_json::from_str(&body).unwrap());
                http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

struct Stripe {
    base: String,
    http: reqwest::Client,
}

impl Stripe {
    async fn start() -> (Stripe, Arc<stripe_emulator::Emulator>) {
        // Stripe's retry schedule, a thousand times faster: a minute becomes 60 ms.
        let running = stripe_emulator::start_with(stripe_emulator::Options {
            retry_scale: 0.001,
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        (
            Stripe {
                base: running.base_url,
                http,
            },
            running.emulator,
        )
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], account: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            path,
            form,
            &[("stripe-account", account)],
        )
        .await
    }
}

async fn wait_for(received: &Arc<Mutex<Received>>, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        if received.lock().unwrap().events.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    received.lock().unwrap().events.clone()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_subscription_from_checkout_to_cancellation() {
    let (stripe, emulator) = Stripe::start().await;
    let (url, received) = endpoint(0).await;
    emulator.add_endpoint(&url, SECRET);
    let account = "acct_1Connected";

    let (_, product) = stripe
        .post("/v1/products", &[("name", "Pro")], account)
        .await;
    let product = product["id"].as_str().unwrap();
    let (status, price) = stripe
        .post(
            "/v1/prices",
            &[
                ("product", product),
                ("unit_amount", "2900"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
            account,
        )
        .await;
    assert_eq!(status, 200, "{price}");
    let price = price["id"].as_str().unwrap();
    let (status, session) = stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", price),
                ("line_items[0][quantity]", "1"),
                (
                    "success_url",
                    "https://app.example/ok?session={CHECKOUT_SESSION_ID}",
                ),
                ("cancel_url", "https://app.example/pricing"),
                ("customer_email", "ada@example.com"),
                ("client_reference_id", "user_ada"),
                ("metadata[user_id]", "user_ada"),
                ("subscription_data[metadata][user_id]", "user_ada"),
            ],
            account,
        )
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(
        (session["status"].as_str(), session["amount_total"].as_i64()),
        (Some("open"), Some(2900))
    );
    let id = session["id"].as_str().unwrap();
    assert!(id.starts_with("cs_test_"));

    // The hosted page, then paying on it.
    let page = stripe
        .http
        .get(session["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("Pay"));
    let paid = stripe
        .http
        .post(format!("{}/checkout/{id}/complete", stripe.base))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 303);
    assert_eq!(
        paid.headers()["location"],
        format!("https://app.example/ok?session={id}").as_str()
    );

    let events = wait_for(&received, 4).await;
    assert_eq!(
        types(&events)
            .iter()
            .filter(|t| *t != "customer.created")
            .count(),
        3,
        "{:?}",
        types(&events)
    );
    for kind in [
        "customer.created",
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ] {
        assert!(
            types(&events).contains(&kind.to_owned()),
            "{kind} in {:?}",
            types(&events)
        );
    }
    assert!(
        events
            .iter()
            .all(|e| e["account"] == account && e["livemode"] == false)
    );
    let subscription = events
        .iter()
        .find(|e| e["type"] == "customer.subscription.created")
        .unwrap();
    let subscription = &subscription["data"]["object"];
    assert_eq!(subscription["metadata"]["user_id"], "user_ada");
    assert_eq!(subscription["items"]["data"][0]["price"]["id"], price);
    let sub_id = subscription["id"].as_str().unwrap();
    let first_end = subscription["current_period_end"].as_i64().unwrap();

    // Retrieve works for the owning account only.
    let (status, _) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/subscriptions/{sub_id}?expand[]=latest_invoice"),
            &[],
            &[("stripe-account", account)],
        )
        .await;
    assert_eq!(status, 200, "GET parameters come in the query string");
    let (status, error) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/subscriptions/{sub_id}"),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );

    // Renewal, a failed payment, cancellation.
    let renew = stripe
        .http
        .post(format!(
            "{}/_emulator/subscriptions/{sub_id}/renew",
            stripe.base
        ))
        .send()
        .await
        .unwrap();
    let renewed: Value = renew.json().await.unwrap();
    assert_eq!(renewed["current_period_start"].as_i64(), Some(first_end));
    stripe
        .http
        .post(format!(
            "{}/_emulator/subscriptions/{sub_id}/fail_payment",
            stripe.base
        ))
        .send()
        .await
        .unwrap();
    stripe
        .http
        .post(format!(
            "{}/_emulator/subscriptions/{sub_id}/cancel",
            stripe.base
        ))
        .send()
        .await
        .unwrap();
    let events = wait_for(&received, 14).await;
    // Each renewal: the new period, its draft announced, finalized, then charged; a failed
    // charge leaves the subscription past due.
    assert_eq!(
        types(&events[4..]),
        [
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        ]
    );
    let draft = &events[5]["data"]["object"];
    assert_eq!(draft["status"], "draft");
    assert_eq!(
        (draft["period_start"].as_i64(), draft["period_end"].as_i64()),
        (
            subscription["current_period_start"].as_i64(),
            Some(first_end)
        ),
        "a renewal's invoice covers the period that ended"
    );
    assert_eq!(events[7]["data"]["object"]["amount_paid"], 2900);
    assert_eq!(events[12]["data"]["object"]["status"], "past_due");
    let deleted = events
        .iter()
        .find(|e| e["type"] == "customer.subscription.deleted")
        .unwrap();
    assert_eq!(deleted["data"]["object"]["status"], "canceled");
    // Events reach the endpoint in the order they happened.
    let created: Vec<i64> = events
        .iter()
        .map(|e| e["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert_eq!(
        types(&events).last().map(String::as_str),
        Some("customer.subscription.deleted")
    );
    // A canceled subscription cannot be canceled or renewed again.
    for action in ["cancel", "renew"] {
        let again = stripe
            .http
            .post(format!(
                "{}/_emulator/subscriptions/{sub_id}/{action}",
                stripe.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 400, "{action} after cancellation");
    }

    // Every API call carried the connected account, as the request log shows.
    let log: Vec<Value> = stripe
        .http
        .get(format!("{}/_emulator/requests", stripe.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posts: Vec<&Value> = log.iter().filter(|r| r["method"] == "POST").collect();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|r| r["stripe_account"] == account));
}

/// Form parameters, and the status, error code and `param` Stripe answers them with.
type ErrorCase<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);

#[tokio::test]
async fn errors_look_like_stripes() {
    let (stripe, _) = Stripe::start().await;
    let (_, product) = stripe
        .post("/v1/products", &[("name", "Mug")], "platform")
        .await;
    let (_, monthly) = stripe
        .call(
            reqwest::Method::POST,
            "/v1/prices",
            &[
                ("product", product["id"].as_str().unwrap()),
                ("unit_amount", "500"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
            &[],
        )
        .await;
    let cases: Vec<ErrorCase> = vec![
        (
            vec![("mode", "payment"), ("success_url", "https://a/ok")],
            400,
            "parameter_missing",
            "line_items",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", "https://a/ok"),
                ("line_items[0][price]", "price_nope"),
            ],
            404,
            "resource_missing",
            "line_items[0][price]",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", "https://a/ok"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
            ],
            400,
            "parameter_invalid",
            "line_items[0][price]",
        ),
        (
            vec![
                ("mode", "subscription"),
                ("success_url", "https://a/ok"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "0"),
            ],
            400,
            "parameter_invalid",
            "line_items[0][quantity]",
        ),
    ];
    for (form, status, code, param) in cases {
        let (got, body) = stripe
            .call(reqwest::Method::POST, "/v1/checkout/sessions", &form, &[])
            .await;
        assert_eq!(
            (
                got,
                body["error"]["type"].as_str(),
                body["error"]["code"].as_str(),
                body["error"]["param"].as_str()
            ),
            (
                status,
                Some("invalid_request_error"),
                Some(code),
                Some(param)
            ),
            "{form:?}: {body}"
        );
    }
    // A connected account cannot see the platform's prices.
    let (status, _) = stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("success_url", "https://a/ok"),
                ("line_items[0][price]", monthly["id"].as_str().unwrap()),
            ],
            "acct_other",
        )
        .await;
    assert_eq!(status, 404);
    // Live keys are refused: the emulator is test mode only.
    let live = stripe
        .http
        .get(format!("{}/v1/customers/cus_x", stripe.base))
        .header("authorization", "Bearer sk_live_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 401);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_parameters() {
    let (stripe, _) = Stripe::start().await;
    let key = [("idempotency-key", "key-1")];
    let (_, first) = stripe
        .call(
            reqwest::Method::POST,
            "/v1/customers",
            &[("email", "a@example.com")],
            &key,
        )
        .await;
    let (_, again) = stripe
        .call(
            reqwest::Method::POST,
            "/v1/customers",
            &[("email", "a@example.com")],
            &key,
        )
        .await;
    assert_eq!(
        first["id"], again["id"],
        "the same key and parameters replay the first answer"
    );
    let (status, error) = stripe
        .call(
            reqwest::Method::POST,
            "/v1/customers",
            &[("email", "b@example.com")],
            &key,
        )
        .await;
    assert_eq!(
        (status, error["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
}

#[tokio::test]
async fn deliveries_are_retried_until_accepted() {
    let (stripe, emulator) = Stripe::start().await;
    let (url, received) = endpoint(2).await;
    emulator.add_endpoint(&url, SECRET);
    let (_, customer) = stripe
        .call(reqwest::Method::POST, "/v1/customers", &[], &[])
        .await;
    let events = wait_for(&received, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["object"]["id"], customer["id"]);
    let log: Vec<Value> = stripe
        .http
        .get(format!("{}/_emulator/events", stripe.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log[0]["delivery"]["attempts"], 3,
        "two refusals, then delivered"
    );
    assert_eq!(log[0]["delivery"]["delivered"], true);
}

#[tokio::test]
async fn a_failed_payment_is_settled_by_the_next_attempt() {
    let (stripe, _) = Stripe::start().await;
    let (_, product) = stripe
        .post("/v1/products", &[("name", "Team")], "platform")
        .await;
    let (_, price) = stripe
        .post(
            "/v1/prices",
            &[
                ("product", product["id"].as_str().unwrap()),
                ("unit_amount", "1000"),
                ("currency", "eur"),
                ("recurring[interval]", "month"),
                ("recurring[interval_count]", "3"),
            ],
            "platform",
        )
        .await;
    let (_, session) = stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", price["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "2"),
                ("success_url", "https://app.example/ok"),
            ],
            "platform",
        )
        .await;
    let id = session["id"].as_str().unwrap();
    stripe
        .http
        .post(format!("{}/checkout/{id}/complete", stripe.base))
        .send()
        .await
        .unwrap();
    let (_, session) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/checkout/sessions/{id}"),
            &[],
            &[],
        )
        .await;
    let sub_id = session["subscription"].as_str().unwrap();
    let (_, subscription) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/subscriptions/{sub_id}"),
            &[],
            &[],
        )
        .await;
    let first = (
        subscription["current_period_start"].as_i64().unwrap(),
        subscription["current_period_end"].as_i64().unwrap(),
    );
    assert_eq!(
        first.1 - first.0,
        3 * 30 * 86_400,
        "interval_count 3 makes a quarterly period"
    );

    let advance = |action: &'static str| {
        let url = format!("{}/_emulator/subscriptions/{sub_id}/{action}", stripe.base);
        let http = stripe.http.clone();
        async move {
            http.post(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let failed = advance("fail_payment").await;
    assert_eq!(failed["status"], "past_due");
    assert_eq!(
        failed["current_period_start"].as_i64(),
        Some(first.1),
        "the period moved on"
    );
    let open_invoice = failed["latest_invoice"].as_str().unwrap().to_owned();
    let (_, invoice) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/invoices/{open_invoice}"),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        (invoice["status"].as_str(), invoice["amount_due"].as_i64()),
        (Some("open"), Some(2000))
    );

    let settled = advance("renew").await;
    assert_eq!(settled["status"], "active");
    assert_eq!(
        settled["latest_invoice"].as_str(),
        Some(open_invoice.as_str()),
        "the same invoice was paid"
    );
    assert_eq!(
        settled["current_period_start"].as_i64(),
        Some(first.1),
        "and the period did not move twice"
    );
    let (_, invoice) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/invoices/{open_invoice}"),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        (invoice["status"].as_str(), invoice["amount_paid"].as_i64()),
        (Some("paid"), Some(2000))
    );
}

impl Stripe {
    /// `GET /v1/events?{query}` on `account` (the platform when `None`).
    async fn events(&self, query: &str, account: Option<&str>) -> (u16, Value) {
        let headers: Vec<(&str, &str)> =
            account.map(|a| ("stripe-account", a)).into_iter().collect();
        self.call(
            reqwest::Method::GET,
            &format!("/v1/events?{query}"),
            &[],
            &headers,
        )
        .await
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn events_are_listed_as_stripe_lists_them() {
    let (stripe, _emulator) = Stripe::start().await;
    let mut customers = Vec::new();
    for _ in 0..3 {
        let (_, customer) = stripe
            .call(reqwest::Method::POST, "/v1/customers", &[], &[])
            .await;
        customers.push(customer["id"].clone());
    }
    for _ in 0..2 {
        stripe.post("/v1/customers", &[], "acct_listed").await;
    }

    // The platform's own events, newest first.
    let (status, all) = stripe.events("limit=100", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (all["object"].as_str(), all["has_more"].as_bool()),
        (Some("list"), Some(false))
    );
    let objects: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"]["object"]["id"])
        .collect();
    assert_eq!(objects, customers.iter().rev().collect::<Vec<_>>());
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["account"].is_null())
    );
    // A connected account's, only.
    let (_, connected) = stripe.events("", Some("acct_listed")).await;
    assert_eq!(ids(&connected).len(), 2);
    assert!(
        connected["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["account"] == "acct_listed")
    );

    // Pages.
    let (_, first) = stripe.events("limit=2", None).await;
    assert_eq!(first["has_more"], true);
    let last = ids(&first)[1].clone();
    let (_, second) = stripe
        .events(&format!("limit=2&starting_after={last}"), None)
        .await;
    assert_eq!(second["has_more"], false);
    assert_eq!([ids(&first), ids(&second)].concat(), ids(&all));
    let (_, newer) = stripe.events(&format!("ending_before={last}"), None).await;
    assert_eq!(ids(&newer), ids(&all)[..1]);

    // Bounds on `created`, and types.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (query, count) in [
        (format!("created[gte]={}", now - 60), 3),
        (format!("created[gt]={}", now + 60), 0),
        ("created[lte]=1000".to_string(), 0),
        (
            format!("created[gte]={}&created[lt]={}", now - 60, now + 60),
            3,
        ),
        ("type=customer.*".to_string(), 3),
        (
            "types[]=invoice.paid&types[]=customer.created".to_string(),
            3,
        ),
        ("type=invoice.paid".to_string(), 0),
    ] {
        let (status, list) = stripe.events(&query, None).await;
        assert_eq!((status, ids(&list).len()), (200, count), "{query}: {list}");
    }
    let (status, error) = stripe.events("limit=0", None).await;
    assert_eq!(
        (status, error["error"]["param"].as_str()),
        (400, Some("limit"))
    );
    let (status, _) = stripe.events("starting_after=evt_nope", None).await;
    assert_eq!(status, 404);
}

/// With a state file, a stopped emulator comes back on the same port with its objects and
/// events, and resumes delivering what it had not delivered.
#[tokio::test]
async fn a_restarted_emulator_keeps_its_state_its_port_and_its_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let options = stripe_emulator::Options {
        state_file: Some(dir.path().join("stripe.json")),
        retry_scale: 0.001,
    };
    let first = stripe_emulator::start_with(options.clone()).await.unwrap();
    let (refusing, _) = endpoint(usize::MAX).await;
    first.emulator.add_endpoint(&refusing, SECRET);
    let stripe = Stripe {
        base: first.base_url.clone(),
        http: reqwest::Client::new(),
    };
    let (_, customer) = stripe
        .call(
            reqwest::Method::POST,
            "/v1/customers",
            &[("email", "kept@example.com")],
            &[],
        )
        .await;
    // Refused on the first attempt and the first retry (60 ms later).
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.stop().await;

    let second = stripe_emulator::start_with(options).await.unwrap();
    assert_eq!(second.base_url, stripe.base, "the same port");
    let (status, kept) = stripe
        .call(
            reqwest::Method::GET,
            &format!("/v1/customers/{}", customer["id"].as_str().unwrap()),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        (status, &kept["email"]),
        (200, &Value::from("kept@example.com"))
    );
    let (_, events) = stripe.events("", None).await;
    assert_eq!(ids(&events).len(), 1);
    // The endpoint works now: the pending delivery resumes on the schedule and arrives.
    let (working, received) = endpoint(0).await;
    second.emulator.add_endpoint(&working, SECRET);
    let delivered = wait_for(&received, 1).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["data"]["object"]["id"], customer["id"]);
}
