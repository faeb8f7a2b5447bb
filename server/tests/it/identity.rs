//! User JWTs made by an independent implementation (`jose`, see tools/jwt-fixtures.mjs),
//! verified against a JWKS served over HTTP, and every way a token can be wrong.

use dream_client::types;

use crate::harness::{Backend, TestApp, error_of};

crate::on_both_stores!(
    jose_tokens_verify_and_every_bad_token_is_refused,
    dev_issuer_is_test_mode_and_opt_in_only,
    credentials_of_the_wrong_kind_are_refused
);

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Serves the fixture JWKS; returns its URL.
async fn jwks_server() -> String {
    let jwks = fixture("jwks.json");
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn jose_tokens_verify_and_every_bad_token_is_refused(backend: Backend) {
    let t = TestApp::start(backend).await;
    let tokens: serde_json::Value = serde_json::from_str(&fixture("tokens.json")).unwrap();
    let jwks_url = jwks_server().await;
    let issuer = tokens["issuer"].as_str().unwrap().to_string();
    let origin = tokens["allowedOrigin"].as_str().unwrap().to_string();
    t.secret(&t.test)
        .update_settings()
        .body(types::SettingsUpdate {
            jwt: Some(types::JwtSettingsUpdate {
                issuer: Some(issuer.parse().unwrap()),
                jwks_url: Some(jwks_url.parse().unwrap()),
                allowed_origins: Some(vec![origin.parse().unwrap()]),
                leeway_seconds: Some(5),
            }),
            dev_issuer_enabled: None,
        })
        .send()
        .await
        .expect("settings");

    let valid = tokens["valid"].as_str().unwrap();
    let me = t
        .user(&t.test, valid)
        .get_customer_state()
        .send()
        .await
        .expect("a jose token verifies")
        .into_inner();
    assert_eq!(me.user_id, tokens["validUserId"].as_str().unwrap());

    for (name, code) in [
        ("expired", "token_expired"),
        ("notYetValid", "token_not_yet_valid"),
        ("wrongIssuer", "invalid_token"),
        ("disallowedAzp", "invalid_token"),
        ("unknownKid", "invalid_token"),
        ("otherKeySameKid", "invalid_token"),
        ("algNone", "invalid_token"),
        ("hs256WithPublicKey", "invalid_token"),
        ("tampered", "invalid_token"),
    ] {
        let token = tokens[name].as_str().unwrap();
        let (status, got) = error_of(t.user(&t.test, token).track_usage().send().await);
        assert_eq!((status, got.as_str()), (401, code), "{name}");
    }
    // Nothing the refused tokens claimed was counted.
    let admin = t.secret(&t.test);
    let customers = admin.list_customers().send().await.unwrap().into_inner();
    let ids: Vec<_> = customers.data.iter().map(|c| c.user_id.as_str()).collect();
    assert_eq!(ids, vec!["user_fixture"]);

    // The same valid token means nothing to the live mode, which has no issuer configured.
    let (status, code) = error_of(t.user(&t.live, valid).get_customer_state().send().await);
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
}

async fn dev_issuer_is_test_mode_and_opt_in_only(backend: Backend) {
    let t = TestApp::start(backend).await;
    let (status, code) = error_of(
        t.secret(&t.live)
            .create_dev_token()
            .body_map(|b| b.user_id("u".to_string()))
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "live_mode_not_allowed"));
    let token = t.dev_token("user_dev").await;
    // A test token is no use with the live publishable key.
    let (status, code) = error_of(t.user(&t.live, &token).get_customer_state().send().await);
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
    // Another project's keys refuse this project's development tokens.
    let other = t.app.project_create("Other", true).await.unwrap();
    let (_, other_pk, _) = other
        .keys
        .iter()
        .find(|(m, _, _)| m.as_str() == "test")
        .unwrap()
        .clone();
    let foreign = t.client_with(&[
        ("x-publishable-key", &other_pk),
        ("authorization", &format!("Bearer {token}")),
    ]);
    let (status, code) = error_of(foreign.get_customer_state().send().await);
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
    // Opting out stops both minting and accepting.
    t.secret(&t.test)
        .update_settings()
        .body_map(|b| b.dev_issuer_enabled(Some(false)))
        .send()
        .await
        .unwrap();
    let (status, code) = error_of(
        t.secret(&t.test)
            .create_dev_token()
            .body_map(|b| b.user_id("u".to_string()))
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "dev_issuer_disabled"));
    let (status, code) = error_of(t.user(&t.test, &token).get_customer_state().send().await);
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
    // The published JWKS verifies what the issuer signs.
    let jwks = t
        .anonymous()
        .get_dev_jwks()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].alg.as_deref(), Some("RS256"));
}

async fn credentials_of_the_wrong_kind_are_refused(backend: Backend) {
    let t = TestApp::start(backend).await;
    let token = t.dev_token("user_kinds").await;
    let cases: Vec<(&str, (u16, String))> = vec![
        (
            "no credential on a user route",
            error_of(t.anonymous().get_customer_state().send().await),
        ),
        (
            "publishable key without a token",
            error_of(t.publishable(&t.test).get_customer_state().send().await),
        ),
        (
            "secret key on a user route",
            error_of(t.secret(&t.test).get_customer_state().send().await),
        ),
        (
            "publishable key on an admin route",
            error_of(t.publishable(&t.test).list_customers().send().await),
        ),
        (
            "user token on an admin route",
            error_of(t.user(&t.test, &token).list_customers().send().await),
        ),
        (
            "no credential on an admin route",
            error_of(t.anonymous().list_customers().send().await),
        ),
        (
            "unknown secret key",
            error_of(
                t.client_with(&[("authorization", "Bearer sk_test_unknown")])
                    .list_customers()
                    .send()
                    .await,
            ),
        ),
        (
            "unknown publishable key",
            error_of(
                t.client_with(&[("x-publishable-key", "pk_test_unknown")])
                    .list_tiers()
                    .send()
                    .await,
            ),
        ),
        (
            "no operator token",
            error_of(
                t.anonymous()
                    .create_project()
                    .body_map(|b| b.name("x".parse::<types::ProjectCreateName>().unwrap()))
                    .send()
                    .await,
            ),
        ),
    ];
    let got: Vec<(&str, u16, &str)> = cases
        .iter()
        .map(|(name, (s, c))| (*name, *s, c.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("no credential on a user route", 401, "missing_credentials"),
            (
                "publishable key without a token",
                401,
                "missing_credentials"
            ),
            ("secret key on a user route", 403, "user_token_required"),
            (
                "publishable key on an admin route",
                403,
                "secret_key_required"
            ),
            ("user token on an admin route", 403, "secret_key_required"),
            (
                "no credential on an admin route",
                401,
                "missing_credentials"
            ),
            ("unknown secret key", 401, "invalid_api_key"),
            ("unknown publishable key", 401, "invalid_api_key"),
            ("no operator token", 401, "invalid_operator_token"),
        ]
    );
}
