//! Credentials and keys: which credential may call what, project creation, listing and
//! rotating keys.

use dream_client::{Client, types};

use crate::harness::{Case, CaseResult, Ctx, Expect as _, Project, Verdict};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "auth.no-credential",
            Core,
            ["AUTH-001"],
            "operations needing a credential refuse a request with none",
            no_credential
        ),
        case!(
            "auth.unknown-keys",
            Core,
            ["AUTH-002"],
            "unknown and malformed keys are refused with invalid_api_key",
            unknown_keys
        ),
        case!(
            "auth.publishable-key-on-admin-routes",
            Core,
            ["AUTH-003"],
            "publishable keys, with or without a user token, cannot administer",
            publishable_key_on_admin_routes
        ),
        case!(
            "auth.secret-key-on-user-routes",
            Core,
            ["AUTH-004"],
            "user operations need a user token, not a secret key",
            secret_key_on_user_routes
        ),
        case!(
            "auth.operator-token",
            Core,
            ["AUTH-005"],
            "project creation needs the operator token",
            operator_token
        ),
        case!(
            "auth.mixed-credentials",
            Core,
            ["AUTH-006"],
            "a bad publishable key is refused even beside a good secret key",
            mixed_credentials
        ),
        case!(
            "auth.duplicate-credentials",
            Core,
            ["AUTH-007"],
            "two credential headers of one kind are refused, never served with the first",
            duplicate_credentials
        ),
        case!(
            "keys.project-keys",
            Core,
            ["KEYS-001"],
            "a new project has both keys for both modes",
            project_keys
        ),
        case!(
            "keys.list-hides-secrets",
            Core,
            ["KEYS-002"],
            "listing keys never shows a secret key",
            list_hides_secrets
        ),
        case!(
            "keys.rotation-overlap",
            Core,
            ["KEYS-003"],
            "rotation keeps the old key for the overlap; no overlap revokes at once",
            rotation_overlap
        ),
        case!(
            "keys.only-newest-rotates",
            Core,
            ["KEYS-004"],
            "a key inside its overlap window cannot rotate away the key that replaced it",
            only_newest_rotates
        ),
    ]
}

async fn no_credential(ctx: Ctx) -> CaseResult {
    let anonymous = ctx.anonymous();
    anonymous.get_customer_state().send().await.refused(
        "getCustomerState with no credential",
        401,
        "missing_credentials",
    )?;
    anonymous.list_customers().send().await.refused(
        "listCustomers with no credential",
        401,
        "missing_credentials",
    )?;
    anonymous.track_usage().send().await.refused(
        "trackUsage with no credential",
        401,
        "missing_credentials",
    )?;
    Ok(())
}

async fn unknown_keys(ctx: Ctx) -> CaseResult {
    for key in [
        "sk_test_0000000000000000000000",
        "sk_live_unknown",
        "not-a-key",
    ] {
        ctx.client(&[("authorization", &format!("Bearer {key}"))])
            .list_customers()
            .send()
            .await
            .refused(
                &format!("listCustomers with secret key {key:?}"),
                401,
                "invalid_api_key",
            )?;
    }
    for key in ["pk_test_0000000000000000000000", "pk_nonsense"] {
        ctx.client(&[("x-publishable-key", key)])
            .list_tiers()
            .send()
            .await
            .refused(
                &format!("listTiers with publishable key {key:?}"),
                401,
                "invalid_api_key",
            )?;
    }
    Ok(())
}

async fn publishable_key_on_admin_routes(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let token = ctx.token(&ctx.user_id("pk"));
    for client in [
        ctx.publishable(&project.test),
        ctx.user(&project.test, &token),
    ] {
        client.list_customers().send().await.refused(
            "listCustomers with a publishable key",
            403,
            "secret_key_required",
        )?;
        client.get_settings().send().await.refused(
            "getSettings with a publishable key",
            403,
            "secret_key_required",
        )?;
        client.list_api_keys().send().await.refused(
            "listApiKeys with a publishable key",
            403,
            "secret_key_required",
        )?;
        client
            .create_product()
            .body_map(|b| {
                b.name("Mug".parse::<types::ProductCreateName>().unwrap())
                    .prices(vec![types::PriceCreate {
                        currency: "usd".parse().unwrap(),
                        unit_amount: 100,
                    }])
            })
            .send()
            .await
            .refused(
                "createProduct with a publishable key",
                403,
                "secret_key_required",
            )?;
        client
            .create_tier()
            .body_map(|b| {
                b.name("sneaky".parse::<types::TierName>().unwrap())
                    .display_name("Sneaky".parse::<types::TierCreateDisplayName>().unwrap())
            })
            .send()
            .await
            .refused(
                "createTier with a publishable key",
                403,
                "secret_key_required",
            )?;
    }
    let tiers = ctx
        .secret(&project.test)
        .list_tiers()
        .send()
        .await
        .succeeds("listTiers")?;
    ensure!(
        tiers.tiers.iter().all(|t| t.name.as_str() != "sneaky"),
        "a refused createTier created a tier"
    );
    Ok(())
}

async fn secret_key_on_user_routes(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    admin.get_customer_state().send().await.refused(
        "getCustomerState with a secret key",
        403,
        "user_token_required",
    )?;
    admin.track_usage().send().await.refused(
        "trackUsage with a secret key",
        403,
        "user_token_required",
    )?;
    ctx.publishable(&project.test)
        .get_customer_state()
        .send()
        .await
        .refused(
            "getCustomerState with a publishable key and no token",
            401,
            "missing_credentials",
        )?;
    Ok(())
}

async fn operator_token(ctx: Ctx) -> CaseResult {
    let create = |client: dream_client::Client| async move {
        client
            .create_project()
            .body_map(|b| b.name("intruder".parse::<types::ProjectCreateName>().unwrap()))
            .send()
            .await
    };
    create(ctx.anonymous()).await.refused(
        "createProject with no token",
        401,
        "invalid_operator_token",
    )?;
    create(ctx.client(&[("authorization", "Bearer wrong-operator-token")]))
        .await
        .refused(
            "createProject with a wrong token",
            401,
            "invalid_operator_token",
        )?;
    let project = ctx.project().await?;
    create(ctx.secret(&project.live)).await.refused(
        "createProject with a secret key",
        401,
        "invalid_operator_token",
    )?;
    Ok(())
}

async fn mixed_credentials(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let both = |pk: &str| {
        ctx.client(&[
            ("authorization", &format!("Bearer {}", project.test.secret)),
            ("x-publishable-key", pk),
        ])
    };
    both(&project.test.publishable)
        .list_tiers()
        .send()
        .await
        .succeeds("listTiers with the project's own two test keys")?;
    for (what, pk) in [
        ("an empty publishable key header", ""),
        (
            "an unknown publishable key",
            "pk_test_0000000000000000000000",
        ),
        (
            "the live publishable key",
            project.live.publishable.as_str(),
        ),
    ] {
        both(pk).list_tiers().send().await.refused(
            &format!("listTiers with the test secret key and {what}"),
            401,
            "invalid_api_key",
        )?;
        both(pk).list_products().send().await.refused(
            &format!("listProducts with the test secret key and {what}"),
            401,
            "invalid_api_key",
        )?;
    }
    // An Authorization header that is not a bearer credential is refused, not ignored.
    ctx.client(&[
        ("x-publishable-key", &project.test.publishable),
        ("authorization", "Basic dXNlcjpwYXNz"),
    ])
    .list_products()
    .send()
    .await
    .refused(
        "listProducts with a Basic Authorization header",
        401,
        "invalid_api_key",
    )?;
    // A user token sent with the publishable key on a public read must be valid too.
    let user = ctx.user_id("mixed");
    let forged = ctx
        .issuer()
        .forge(crate::tokens::Forgery::OtherKeySameKid, &user);
    ctx.user(&project.test, &forged)
        .list_products()
        .send()
        .await
        .refused(
            "listProducts with the publishable key and a forged user token",
            401,
            "invalid_token",
        )?;
    ctx.user(&project.test, &ctx.token(&user))
        .list_products()
        .send()
        .await
        .succeeds("listProducts with the publishable key and a valid user token")?;
    Ok(())
}

async fn project_keys(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    for (key, prefix) in [
        (&project.test.publishable, "pk_test_"),
        (&project.test.secret, "sk_test_"),
        (&project.live.publishable, "pk_live_"),
        (&project.live.secret, "sk_live_"),
    ] {
        ensure!(
            key.starts_with(prefix) && key.len() > prefix.len() + 8,
            "key {key:?} should start with {prefix}"
        );
    }
    // Each key works, in its own mode.
    for keys in [&project.test, &project.live] {
        let settings = ctx
            .secret(keys)
            .get_settings()
            .send()
            .await
            .succeeds("getSettings")?;
        let want = if keys.secret.starts_with("sk_test_") {
            types::Mode::Test
        } else {
            types::Mode::Live
        };
        ensure_eq!(settings.mode, want, "the mode a secret key administers");
        ctx.publishable(keys)
            .list_tiers()
            .send()
            .await
            .succeeds("listTiers with the publishable key")?;
    }
    Ok(())
}

async fn list_hides_secrets(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let keys = ctx
        .secret(&project.test)
        .list_api_keys()
        .send()
        .await
        .succeeds("listApiKeys")?
        .keys;
    let publishable: Vec<_> = keys
        .iter()
        .filter(|k| k.kind == types::KeyKind::Publishable)
        .collect();
    ensure!(
        publishable
            .iter()
            .any(|k| k.token == project.test.publishable),
        "the publishable key is listed in full"
    );
    let secret_body = &project.test.secret["sk_test_".len()..];
    for key in &keys {
        // Any five characters of the secret in a row is too much of it (the spec shows at most
        // the last four).
        let chars: Vec<char> = secret_body.chars().collect();
        let leaked = chars
            .windows(5)
            .any(|w| key.token.contains(&w.iter().collect::<String>()));
        ensure!(
            !leaked,
            "listApiKeys revealed part of a secret key ({}: {})",
            key.id,
            key.token
        );
        ensure_eq!(
            key.mode,
            types::Mode::Test,
            "mode of a key listed with a test secret key"
        );
    }
    ensure!(
        keys.iter().any(|k| k.kind == types::KeyKind::Secret),
        "the secret key is listed (redacted)"
    );
    Ok(())
}

/// A fresh project whose test secret key was rotated with an hour of overlap: the project,
/// a client with the old key, the rotation, and a client with the new key.
async fn rotated_with_overlap(
    ctx: &Ctx,
) -> Result<(Project, Client, types::SecretKeyRotated, Client), Verdict> {
    let project = ctx.fresh_project().await?;
    let old = ctx.secret(&project.test);
    let rotated = old
        .rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(3600))
        .send()
        .await
        .succeeds("rotateSecretKey with an hour of overlap")?;
    let new = ctx.client(&[("authorization", &format!("Bearer {}", rotated.secret_key))]);
    Ok((project, old, rotated, new))
}

async fn rotation_overlap(ctx: Ctx) -> CaseResult {
    let (project, old, rotated, new) = rotated_with_overlap(&ctx).await?;
    ensure!(
        rotated.secret_key.starts_with("sk_test_"),
        "the new key is a test secret key"
    );
    ensure!(
        rotated.secret_key != project.test.secret,
        "the new key differs from the old"
    );
    old.list_tiers()
        .send()
        .await
        .succeeds("the old key during the overlap")?;
    new.list_tiers().send().await.succeeds("the new key")?;
    let third = new
        .rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(0))
        .send()
        .await
        .succeeds("rotateSecretKey with no overlap")?;
    old.list_tiers().send().await.refused(
        "the first key after a rotation without overlap",
        401,
        "invalid_api_key",
    )?;
    new.list_tiers().send().await.refused(
        "the second key after a rotation without overlap",
        401,
        "invalid_api_key",
    )?;
    ctx.client(&[("authorization", &format!("Bearer {}", third.secret_key))])
        .list_tiers()
        .send()
        .await
        .succeeds("the newest key")?;
    // The live key was never touched.
    ctx.secret(&project.live)
        .list_tiers()
        .send()
        .await
        .succeeds("the live key after test rotations")?;
    Ok(())
}

async fn only_newest_rotates(ctx: Ctx) -> CaseResult {
    let (_, old, _, new) = rotated_with_overlap(&ctx).await?;
    old.rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(0))
        .send()
        .await
        .refused(
            "rotateSecretKey with the key inside its overlap window",
            403,
            "key_superseded",
        )?;
    new.list_tiers()
        .send()
        .await
        .succeeds("the newer key after the older one tried to rotate")?;
    old.list_tiers()
        .send()
        .await
        .succeeds("the older key, still inside its overlap window")?;
    new.rotate_secret_key()
        .body_map(|b| b.expires_in_seconds(0))
        .send()
        .await
        .succeeds("rotateSecretKey with the newest key")?;
    Ok(())
}

async fn duplicate_credentials(ctx: Ctx) -> CaseResult {
    let a = ctx.project().await?;
    let b = ctx.fresh_project().await?;
    let request = ctx
        .raw(http::Method::GET, "/v1/customers")
        .header("authorization", format!("Bearer {}", a.test.secret))
        .header("authorization", format!("Bearer {}", b.test.secret));
    let raw = crate::harness::send_raw(request, "listCustomers with two secret keys").await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (401, "invalid_api_key", Some("Authorization")),
        "listCustomers with two Authorization headers"
    );
    let request = ctx
        .raw(http::Method::GET, "/v1/tiers")
        .header("x-publishable-key", &a.test.publishable)
        .header("x-publishable-key", &b.test.publishable);
    let raw = crate::harness::send_raw(request, "listTiers with two publishable keys").await?;
    ensure_eq!(
        (raw.status, raw.code(), raw.param()),
        (401, "invalid_api_key", Some("X-Publishable-Key")),
        "listTiers with two X-Publishable-Key headers"
    );
    Ok(())
}
