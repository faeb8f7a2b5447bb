//! What survives a restart: migrations re-run cleanly on an existing database, keys still
//! resolve, counts are kept, and the development issuer signs with the same key, so tokens it
//! issued before stay valid.

use std::sync::Arc;

use dream_server::app::App;
use dream_server::config::Config;
use dream_server::domain::{KeyKind, Mode};

use crate::harness::{Backend, fresh_database};

crate::on_both_stores!(a_restart_keeps_keys_counts_and_the_signing_key);

async fn a_restart_keeps_keys_counts_and_the_signing_key(backend: Backend) {
    dream_server::install_crypto();
    let (url, _dir) = fresh_database(backend).await;
    let config = Config {
        database_url: url.clone(),
        ..Config::default()
    };
    let first = Arc::new(App::open(&config).await.unwrap());
    let created = first.project_create("Survivor", true).await.unwrap();
    let (_, pk, sk) = created
        .keys
        .iter()
        .find(|(mode, _, _)| *mode == Mode::Test)
        .unwrap()
        .clone();
    let jwks_before = first.identity.dev_jwks();
    let tenant = first.resolve_key(&sk, KeyKind::Secret).await.unwrap();
    let (token, _, _) = first
        .dev_token_create(&tenant, "user_restart", None, 600)
        .await
        .unwrap();
    let user = first.resolve_user(tenant.clone(), &token).await.unwrap();
    first
        .usage_track(&user, Some("requests"), 7, None)
        .await
        .unwrap();
    drop(first);

    let second = App::open(&config).await.unwrap();
    assert_eq!(
        second.identity.dev_jwks(),
        jwks_before,
        "the same signing key"
    );
    second
        .resolve_key(&pk, KeyKind::Publishable)
        .await
        .expect("the publishable key resolves");
    let again = second
        .resolve_key(&sk, KeyKind::Secret)
        .await
        .expect("the secret key resolves");
    let user = second
        .resolve_user(again, &token)
        .await
        .expect("a token issued before the restart verifies");
    let report = second.usage_check(&user, Some("requests")).await.unwrap();
    assert_eq!(report.count, 7);
}
