//! User identity: RS256 tokens from the project's issuer, every forgery refused with the
//! documented code, the leeway setting, jose-made tokens, and the development issuer.

use dream_client::types;

use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Verdict};
use crate::tokens::Forgery;
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "identity.valid-token",
            Core,
            ["IDENT-001"],
            "a token from the configured issuer is accepted and names the user",
            valid_token
        ),
        case!(
            "identity.expired-and-not-yet-valid",
            Core,
            ["IDENT-002"],
            "expired and not-yet-valid tokens are refused with their codes",
            expired_and_not_yet_valid
        ),
        case!(
            "identity.forged-claims-and-keys",
            Core,
            ["IDENT-003", "IDENT-005"],
            "wrong issuer, azp, key or payload is refused and records nothing",
            forged_claims_and_keys
        ),
        case!(
            "identity.algorithm-attacks",
            Core,
            ["IDENT-004", "IDENT-005"],
            "alg none and HS256-with-the-public-key are refused",
            algorithm_attacks
        ),
        case!(
            "identity.leeway",
            Core,
            ["IDENT-006", "SET-001"],
            "the leeway setting decides how long past exp a token lives",
            leeway
        ),
        case!(
            "identity.jose-tokens",
            Core,
            ["IDENT-007", "IDENT-001"],
            "tokens made by jose verify, and jose's forgeries are refused",
            jose_tokens
        ),
        case!(
            "dev-issuer.tokens-verify",
            Core,
            ["DEV-001"],
            "the development issuer's tokens verify against its JWKS and are accepted",
            dev_tokens_verify
        ),
        case!(
            "dev-issuer.test-mode-only",
            Core,
            ["DEV-002"],
            "the development issuer never serves live mode or other projects",
            dev_test_mode_only
        ),
        case!(
            "dev-issuer.opt-in",
            Core,
            ["DEV-003"],
            "a project that turns the development issuer off gets 403 and its tokens stop working",
            dev_opt_in
        ),
        case!(
            "dev-issuer.browser-sessions",
            Core,
            ["DEV-004"],
            "the test publishable key starts development sessions for a project that opted in",
            dev_sessions
        ),
    ]
}

async fn valid_token(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("valid");
    let me = ctx
        .user(&project.test, &ctx.token(&user))
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState")?;
    ensure_eq!(me.user_id, user, "the user is the token's sub");
    Ok(())
}

async fn expired_and_not_yet_valid(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("timing");
    let issuer = ctx.issuer();
    for (forgery, code) in [
        (Forgery::Expired, "token_expired"),
        (Forgery::NotYetValid, "token_not_yet_valid"),
    ] {
        ctx.user(&project.test, &issuer.forge(forgery, &user))
            .get_customer_state()
            .send()
            .await
            .refused(&format!("{forgery:?} token"), 401, code)?;
    }
    Ok(())
}

async fn refuse_all(ctx: &Ctx, keys: &Keys, forgeries: &[Forgery], user: &str) -> CaseResult {
    for forgery in forgeries {
        let token = ctx.issuer().forge(*forgery, user);
        let client = ctx.user(keys, &token);
        client.get_customer_state().send().await.refused(
            &format!("{forgery:?} token on getCustomerState"),
            401,
            "invalid_token",
        )?;
        client.track_usage().send().await.refused(
            &format!("{forgery:?} token on trackUsage"),
            401,
            "invalid_token",
        )?;
    }
    Ok(())
}

async fn nothing_recorded(ctx: &Ctx, keys: &Keys, user: &str) -> CaseResult {
    let listed = ctx
        .secret(keys)
        .list_customers()
        .query(user)
        .send()
        .await
        .succeeds("listCustomers")?;
    let ids: Vec<&str> = listed.data.iter().map(|c| c.user_id.as_str()).collect();
    ensure!(ids.is_empty(), "refused tokens created customers: {ids:?}");
    Ok(())
}

async fn forged_claims_and_keys(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("forged");
    refuse_all(
        &ctx,
        &project.test,
        &[
            Forgery::WrongIssuer,
            Forgery::DisallowedAzp,
            Forgery::UnknownKid,
            Forgery::OtherKeySameKid,
            Forgery::TamperedPayload,
        ],
        &user,
    )
    .await?;
    nothing_recorded(&ctx, &project.test, &user).await
}

async fn algorithm_attacks(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let user = ctx.user_id("alg");
    refuse_all(
        &ctx,
        &project.test,
        &[Forgery::AlgNone, Forgery::Hs256WithPublicKey],
        &user,
    )
    .await?;
    nothing_recorded(&ctx, &project.test, &user).await
}

async fn set_leeway(ctx: &Ctx, keys: &Keys, seconds: i32) -> Result<types::Settings, Verdict> {
    ctx.secret(keys)
        .update_settings()
        .body(types::SettingsUpdate {
            jwt: Some(types::JwtSettingsUpdate {
                issuer: None,
                jwks_url: None,
                allowed_origins: None,
                leeway_seconds: Some(seconds),
            }),
            dev_issuer_enabled: None,
            billing: None,
        })
        .send()
        .await
        .succeeds("updateSettings leewaySeconds")
}

async fn leeway(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let admin = ctx.secret(&project.test);
    let before = admin.get_settings().send().await.succeeds("getSettings")?;
    ensure_eq!(before.jwt.leeway_seconds, 5, "the default leeway");
    let user = ctx.user_id("leeway");
    let issuer = ctx.issuer();
    let mut claims = issuer.claims(&user);
    claims.exp = claims.iat - 60;
    claims.nbf = claims.iat - 600;
    let late = issuer.sign(&claims);
    let client = ctx.user(&project.test, &late);
    client.get_customer_state().send().await.refused(
        "a token 60 s past exp with 5 s leeway",
        401,
        "token_expired",
    )?;
    let after = set_leeway(&ctx, &project.test, 120).await?;
    ensure_eq!(
        after.jwt.leeway_seconds,
        120,
        "leewaySeconds after the update"
    );
    ensure_eq!(
        after.jwt.issuer,
        before.jwt.issuer,
        "the issuer, which the update did not name"
    );
    ensure_eq!(
        after.jwt.allowed_origins,
        before.jwt.allowed_origins,
        "allowedOrigins, which the update did not name"
    );
    client
        .get_customer_state()
        .send()
        .await
        .succeeds("a token 60 s past exp with 120 s leeway")?;
    // Settings are per mode: live kept its default.
    let live = ctx
        .secret(&project.live)
        .get_settings()
        .send()
        .await
        .succeeds("getSettings in live")?;
    ensure_eq!(live.jwt.leeway_seconds, 5, "the live leeway");
    let raw = ctx
        .raw_admin(
            http::Method::PATCH,
            "/v1/settings",
            &project.test,
            Some(r#"{"jwt": {"leewaySeconds": 301}}"#),
        )
        .await?;
    ensure_eq!(
        (raw.status, raw.code()),
        (422, "validation_failed"),
        "a leeway of 301 s"
    );
    Ok(())
}

async fn jose_tokens(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let jose = ctx.jose().clone();
    let text = |key: &str| jose[key].as_str().unwrap_or_default().to_owned();
    ctx.secret(&project.test)
        .update_settings()
        .body(types::SettingsUpdate {
            jwt: Some(types::JwtSettingsUpdate {
                issuer: Some(text("issuer").parse().expect("issuer")),
                jwks_url: Some(ctx.jwks_url("jose").parse().expect("JWKS URL")),
                allowed_origins: Some(vec![text("allowedOrigin").parse().expect("origin")]),
                leeway_seconds: Some(5),
            }),
            dev_issuer_enabled: None,
            billing: None,
        })
        .send()
        .await
        .succeeds("updateSettings to the jose issuer")?;
    let token = |name: &str| jose["tokens"][name].as_str().unwrap_or_default().to_owned();
    let me = ctx
        .user(&project.test, &token("valid"))
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState with jose's valid token")?;
    ensure_eq!(me.user_id, text("validUserId"), "the user of jose's token");
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
        ctx.user(&project.test, &token(name))
            .track_usage()
            .send()
            .await
            .refused(&format!("jose's {name} token"), 401, code)?;
    }
    let customers = ctx
        .secret(&project.test)
        .list_customers()
        .send()
        .await
        .succeeds("listCustomers")?;
    let ids: Vec<&str> = customers.data.iter().map(|c| c.user_id.as_str()).collect();
    let valid_user = text("validUserId");
    ensure_eq!(
        ids,
        vec![valid_user.as_str()],
        "customers after jose's tokens"
    );
    Ok(())
}

async fn enable_dev_issuer(ctx: &Ctx, keys: &Keys, on: bool) -> CaseResult {
    ctx.secret(keys)
        .update_settings()
        .body_map(move |b| b.dev_issuer_enabled(Some(on)))
        .send()
        .await
        .succeeds("updateSettings devIssuerEnabled")?;
    Ok(())
}

async fn dev_token(ctx: &Ctx, keys: &Keys, user: &str) -> Result<types::DevToken, Verdict> {
    ctx.secret(keys)
        .create_dev_token()
        .body_map(|b| b.user_id(user.to_owned()))
        .send()
        .await
        .succeeds("createDevToken")
}

async fn dev_tokens_verify(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    enable_dev_issuer(&ctx, &project.test, true).await?;
    let user = ctx.user_id("dev");
    let minted = dev_token(&ctx, &project.test, &user).await?;
    ensure_eq!(minted.user_id, user, "the dev token's user");
    let jwks = ctx
        .anonymous()
        .get_dev_jwks()
        .send()
        .await
        .succeeds("getDevJwks")?;
    // The suite checks the signature itself, against the published key set.
    let header = jsonwebtoken::decode_header(&minted.token)
        .map_err(|e| Verdict::Fail(format!("the dev token's header: {e}")))?;
    ensure_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "the dev token's algorithm"
    );
    let key = jwks
        .keys
        .iter()
        .find(|k| Some(k.kid.as_str()) == header.kid.as_deref())
        .ok_or_else(|| {
            Verdict::Fail(format!("getDevJwks does not publish kid {:?}", header.kid))
        })?;
    let (n, e) = (
        key.n.clone().unwrap_or_default(),
        key.e.clone().unwrap_or_default(),
    );
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e)
        .map_err(|e| Verdict::Fail(format!("the published key: {e}")))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[minted.issuer.as_str()]);
    validation.validate_aud = false;
    let verified = jsonwebtoken::decode::<serde_json::Value>(&minted.token, &decoding, &validation)
        .map_err(|e| {
            Verdict::Fail(format!(
                "the dev token does not verify against getDevJwks: {e}"
            ))
        })?;
    ensure_eq!(
        verified.claims["sub"].as_str(),
        Some(user.as_str()),
        "the dev token's sub"
    );
    let me = ctx
        .user(&project.test, &minted.token)
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState with a dev token")?;
    ensure_eq!(me.user_id, user, "the user of the dev token");
    Ok(())
}

async fn dev_test_mode_only(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    enable_dev_issuer(&ctx, &project.test, true).await?;
    ctx.secret(&project.live)
        .create_dev_token()
        .body_map(|b| b.user_id("user_live".to_owned()))
        .send()
        .await
        .refused(
            "createDevToken with a live key",
            403,
            "live_mode_not_allowed",
        )?;
    let token = dev_token(&ctx, &project.test, &ctx.user_id("dev-live"))
        .await?
        .token;
    ctx.user(&project.live, &token)
        .get_customer_state()
        .send()
        .await
        .refused(
            "a dev token with the live publishable key",
            401,
            "invalid_token",
        )?;
    let other = ctx.fresh_project().await?;
    enable_dev_issuer(&ctx, &other.test, true).await?;
    ctx.user(&other.test, &token)
        .get_customer_state()
        .send()
        .await
        .refused(
            "a dev token with another project's publishable key",
            401,
            "invalid_token",
        )?;
    Ok(())
}

async fn dev_opt_in(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    enable_dev_issuer(&ctx, &project.test, true).await?;
    let token = dev_token(&ctx, &project.test, &ctx.user_id("dev-off"))
        .await?
        .token;
    ctx.user(&project.test, &token)
        .get_customer_state()
        .send()
        .await
        .succeeds("a dev token while enabled")?;
    enable_dev_issuer(&ctx, &project.test, false).await?;
    let settings = ctx
        .secret(&project.test)
        .get_settings()
        .send()
        .await
        .succeeds("getSettings")?;
    ensure!(
        !settings.dev_issuer_enabled,
        "devIssuerEnabled after turning it off"
    );
    ctx.secret(&project.test)
        .create_dev_token()
        .body_map(|b| b.user_id("user_x".to_owned()))
        .send()
        .await
        .refused(
            "createDevToken with the issuer off",
            403,
            "dev_issuer_disabled",
        )?;
    ctx.user(&project.test, &token)
        .get_customer_state()
        .send()
        .await
        .refused(
            "a dev token after the issuer was turned off",
            401,
            "invalid_token",
        )?;
    Ok(())
}

async fn dev_sessions(ctx: Ctx) -> CaseResult {
    let project = ctx.fresh_project().await?;
    let public = ctx.publishable(&project.test);
    public.create_dev_session().send().await.refused(
        "createDevSession before opting in",
        403,
        "dev_issuer_disabled",
    )?;
    enable_dev_issuer(&ctx, &project.test, true).await?;
    let user = ctx.user_id("session");
    let named = public
        .create_dev_session()
        .body_map(|b| b.user_id(Some(user.parse().unwrap())))
        .send()
        .await
        .succeeds("createDevSession for a user id")?;
    ensure_eq!(named.user_id, user, "the session's user");
    let me = ctx
        .user(&project.test, &named.token)
        .get_customer_state()
        .send()
        .await
        .succeeds("getCustomerState with a session token")?;
    ensure_eq!(me.user_id, user, "the user of the session token");
    let anonymous = public
        .create_dev_session()
        .send()
        .await
        .succeeds("createDevSession without a user id")?;
    ensure!(
        anonymous.user_id.starts_with("dev_") && anonymous.user_id.len() > 8,
        "an anonymous session's user id starts with dev_: {}",
        anonymous.user_id
    );
    let again = public
        .create_dev_session()
        .send()
        .await
        .succeeds("a second anonymous session")?;
    ensure!(
        again.user_id != anonymous.user_id,
        "two anonymous sessions share a user id"
    );
    ctx.publishable(&project.live)
        .create_dev_session()
        .send()
        .await
        .refused(
            "createDevSession with the live publishable key",
            403,
            "live_mode_not_allowed",
        )?;
    Ok(())
}
