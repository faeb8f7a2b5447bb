//! Keys and settings: the project's keys, secret-key rotation (the new key shown once, on the
//! page that answers the rotation), JWT verification settings, billing settings, and where
//! Stripe's webhooks go.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::forms::{self, Posted, Signed};
use super::{Dash, Page, layout};
use crate::domain::Mode;
use crate::generated::types;

pub async fn page(State(dash): State<Dash>, signed: Signed, headers: HeaderMap) -> Page {
    render(&dash, &signed, None, &headers).await
}

async fn render(
    dash: &Dash,
    signed: &Signed,
    rotated: Option<&types::SecretKeyRotated>,
    headers: &HeaderMap,
) -> Page {
    let (tenant, grant) = signed.scope()?;
    let keys: types::ApiKeyList = dash.call(&grant, Method::GET, "/v1/keys", None).await?;
    let settings: types::Settings = dash.call(&grant, Method::GET, "/v1/settings", None).await?;
    let session = &signed.session;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("your-server");
    let scheme = match headers.get("x-forwarded-proto") {
        Some(p) if p.as_bytes().eq_ignore_ascii_case(b"https") => "https",
        _ => "http",
    };
    let body = html! {
        div.page-head { h1 { "Keys & settings" } }
        @if let Some(r) = rotated {
            section.card.reveal role="alert" {
                h2 { "Your new secret key" }
                p { "Copy it now: it is shown this once, and only its hash is kept. Older secret keys stop working at " strong { (layout::datetime(&r.previous_keys_expire_at)) } "." }
                pre.secret #new-secret-key { (r.secret_key) }
            }
        }
        section.card #keys {
            div.card-head { h2 { "API keys" } span.muted { (tenant.mode.as_str()) " mode" } }
            table {
                thead { tr { th { "Kind" } th { "Key" } th { "Created" } th { "Expires" } } }
                tbody {
                    @for key in &keys.keys {
                        tr {
                            td { (key.kind.to_string()) }
                            td.mono { (key.token) }
                            td.muted { (layout::date(&key.created_at)) }
                            td.muted { @if let Some(at) = &key.expires_at { (layout::datetime(at)) } @else { "—" } }
                        }
                    }
                }
            }
            form.inline method="post" action="/dashboard/keys/rotate" data-confirm="Make a new secret key? Your servers will need it before the old one expires." {
                (layout::csrf(session))
                label for="overlap" { "Old secret keys keep working for" }
                select #overlap name="overlap" {
                    option value="3600" selected { "1 hour" }
                    option value="86400" { "24 hours" }
                    option value="604800" { "7 days" }
                    option value="0" { "no time: revoke them now" }
                }
                button.primary type="submit" { "Rotate secret key" }
            }
        }
        form.card.stack method="post" action="/dashboard/settings" #settings {
            (layout::csrf(session))
            div.card-head { h2 { "User tokens (JWT)" } }
            p.muted { "Tokens of your users are RS256 JWTs, verified against the issuer's keys (Clerk: https://<slug>.clerk.accounts.dev)." }
            div.row {
                label { "Issuer" input type="url" name="issuer" value=[settings.jwt.issuer.as_deref()] placeholder="https://example.clerk.accounts.dev"; }
                label { "JWKS URL (blank: <issuer>/.well-known/jwks.json)" input type="url" name="jwksUrl" value=[settings.jwt.jwks_url.as_deref()]; }
            }
            div.row {
                label { "Allowed origins (azp), one per line"
                    textarea name="allowedOrigins" rows="2" { (settings.jwt.allowed_origins.join("\n")) }
                }
                label { "Clock-skew leeway, seconds (0–300)" input type="number" name="leewaySeconds" min="0" max="300" value=(settings.jwt.leeway_seconds); }
            }
            @if tenant.mode == Mode::Test {
                label.check { input type="checkbox" name="devIssuerEnabled" checked[settings.dev_issuer_enabled]; " Development issuer: let the server mint test tokens for this project" }
            }
            div.card-head { h2 { "Billing" } }
            div.row {
                label { "Stripe connected account" input type="text" name="connectedAccount" value=[settings.billing.connected_account.as_deref()] placeholder="acct_… (blank: the platform account)"; }
                label { "Platform fee, %" input type="number" name="platformFeePercent" step="0.01" min="0" max="100" value=(settings.billing.platform_fee_percent); }
            }
            label { "Site URL (where checkouts return)" input type="url" name="siteUrl" value=[settings.billing.site_url.as_deref()] placeholder="https://app.example.com"; }
            button.primary type="submit" { "Save settings" }
        }
        section.card #webhooks {
            div.card-head { h2 { "Stripe webhooks" } }
            (webhooks(scheme, host, dash.app.webhook_secret_count()))
        }
    };
    Ok(layout::page(
        signed,
        None,
        "Keys & settings",
        "settings",
        body,
        headers,
    ))
}

fn webhooks(scheme: &str, host: &str, secrets: usize) -> Markup {
    html! {
        dl {
            dt { "Endpoint" }
            dd.mono { (scheme) "://" (host) "/v1/webhooks/stripe" }
            dt { "Signing secrets" }
            dd {
                (secrets) " configured on the server (STRIPE_WEBHOOK_SECRETS). All are accepted, so a rotation adds the new secret, then removes the old one once Stripe signs with the new."
            }
        }
    }
}

pub async fn update(State(dash): State<Dash>, posted: Posted) -> Page {
    let (tenant, grant) = posted.signed.scope()?;
    let back = "/dashboard/settings";
    let mut jwt = serde_json::Map::new();
    for field in ["issuer", "jwksUrl"] {
        if let Some(value) = posted.get(field) {
            jwt.insert(field.into(), json!(value));
        }
    }
    let origins: Vec<&str> = posted
        .get("allowedOrigins")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    jwt.insert("allowedOrigins".into(), json!(origins));
    if let Some(leeway) = posted.get("leewaySeconds") {
        match leeway.parse::<i64>() {
            Ok(n) => jwt.insert("leewaySeconds".into(), json!(n)),
            Err(_) => {
                return Ok(forms::redirect_with(
                    &posted.headers,
                    back,
                    true,
                    "Leeway: enter a number of seconds from 0 to 300.",
                ));
            }
        };
    }
    let mut billing = serde_json::Map::new();
    billing.insert(
        "connectedAccount".into(),
        json!(posted.get("connectedAccount").unwrap_or("")),
    );
    billing.insert("siteUrl".into(), json!(posted.get("siteUrl").unwrap_or("")));
    if let Some(fee) = posted.get("platformFeePercent") {
        match fee.parse::<f64>() {
            Ok(n) => billing.insert("platformFeePercent".into(), json!(n)),
            Err(_) => {
                return Ok(forms::redirect_with(
                    &posted.headers,
                    back,
                    true,
                    "Platform fee: enter a percentage, like 2.5.",
                ));
            }
        };
    }
    let mut body = json!({ "jwt": jwt, "billing": billing });
    if tenant.mode == Mode::Test {
        body["devIssuerEnabled"] = json!(posted.checked("devIssuerEnabled"));
    }
    let saved = dash
        .call::<Value>(&grant, Method::PATCH, "/v1/settings", Some(body))
        .await;
    Ok(match saved {
        Ok(_) => forms::redirect_with(&posted.headers, back, false, "Settings saved."),
        Err(e) => forms::redirect_with(&posted.headers, back, true, &e.explain()),
    })
}

/// Rotates the secret key and answers with the page that shows the new key, once.
pub async fn rotate_key(State(dash): State<Dash>, posted: Posted) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let overlap: i64 = posted
        .get("overlap")
        .and_then(|o| o.parse().ok())
        .unwrap_or(3600);
    let rotated: types::SecretKeyRotated = match dash
        .call(
            &grant,
            Method::POST,
            "/v1/keys/secret/rotate",
            Some(json!({ "expiresInSeconds": overlap })),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Ok(forms::redirect_with(
                &posted.headers,
                "/dashboard/settings",
                true,
                &e.explain(),
            ));
        }
    };
    // A key's session goes on with the key it was just shown: its old one may be revoked
    // now. (The operator's session rests on the operator token, never on a project's key.)
    if !posted.signed.session.operator {
        let mut session = posted.signed.session.clone();
        session.keep_secret_key(session.mode, &rotated.secret_key);
        if let Err(e) = dash.app.dashboard_session_update(&session).await {
            // The new key is shown all the same: it exists now, and this is its one showing.
            tracing::error!(error = %e.cause(), "the dashboard session could not move to the rotated key");
        }
    }
    render(&dash, &posted.signed, Some(&rotated), &posted.headers).await
}
