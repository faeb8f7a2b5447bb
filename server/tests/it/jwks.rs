//! Where a project's JWT keys may be fetched from: a secret key must not be able to point the
//! server at its own network (blind SSRF). Without `DREAM_JWKS_ALLOW_INSECURE` a JWKS address
//! that is plain http or a private, loopback or link-local address is refused when it is set,
//! with `422 validation_failed` naming the field; with it, a developer's local issuer is
//! accepted.

use serde_json::{Value, json};

/// A new project's test secret key, through the operator route.
async fn secret_key(http: &reqwest::Client, base: &str) -> String {
    crate::harness::operator_project(http, &format!("http://{base}"), "JWKS")
        .await
        .1
}

/// `PATCH /v1/settings` with `jwt`: the status, and the error's code and field.
async fn set_jwt(http: &reqwest::Client, base: &str, sk: &str, jwt: Value) -> (u16, Value) {
    let response = http
        .patch(format!("http://{base}/v1/settings"))
        .bearer_auth(sk)
        .json(&json!({ "jwt": jwt }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, json!([body["code"], body["param"]]))
}

#[tokio::test]
async fn jwks_addresses_inside_the_servers_network_are_refused_unless_allowed() {
    dream_server::install_crypto();
    let (mut child, base, _dir) = crate::harness::spawn_serve(&[]);
    let http = reqwest::Client::new();
    let sk = secret_key(&http, &base).await;
    let refused = json!(["validation_failed", "jwt.jwksUrl"]);
    for url in [
        "http://issuer.example.com/.well-known/jwks.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:8787/jwks.json",
        "https://[::1]/jwks.json",
        "https://10.0.0.5/jwks.json",
    ] {
        let answer = set_jwt(
            &http,
            &base,
            &sk,
            json!({ "issuer": "https://issuer.example.com", "jwksUrl": url }),
        )
        .await;
        assert_eq!(answer, (422, refused.clone()), "{url}");
    }
    // Without a JWKS address, the issuer's well-known address is where keys come from.
    let answer = set_jwt(
        &http,
        &base,
        &sk,
        json!({ "issuer": "http://192.168.0.10" }),
    )
    .await;
    assert_eq!(answer, (422, json!(["validation_failed", "jwt.issuer"])));
    let answer = set_jwt(
        &http,
        &base,
        &sk,
        json!({ "issuer": "https://clerk.example.clerk.accounts.dev" }),
    )
    .await;
    assert_eq!(answer.0, 200, "{answer:?}");
    let _ = child.kill();

    let (mut child, base, _dir) =
        crate::harness::spawn_serve(&[("DREAM_JWKS_ALLOW_INSECURE", "true")]);
    let sk = secret_key(&http, &base).await;
    let answer = set_jwt(
        &http,
        &base,
        &sk,
        json!({ "issuer": "http://127.0.0.1:3000", "jwksUrl": "http://127.0.0.1:3000/jwks.json" }),
    )
    .await;
    assert_eq!(answer.0, 200, "{answer:?}");
    let _ = child.kill();
}
