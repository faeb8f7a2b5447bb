//! Keys and settings: the project's keys, secret-key rotation (the new key shown once, on the
//! page the rotation redirects to), JWT verification settings, billing settings, and where
//! Stripe's webhooks go.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde_json::{Value, json};

use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};

use super::forms::{self, Draft, Posted, Signed};
use super::{Dash, Page, layout, reveal};
use crate::domain::{Mode, ids};
use crate::generated::types;

pub async fn page(State(dash): State<Dash>, signed: Signed, headers: HeaderMap) -> Page {
    let reveal = reveal(&dash, &signed, &headers).await;
    render(&dash, &signed, reveal.as_ref(), None, &headers).await
}

/// The page; `rotated` shows a new secret key (once), `draft` the settings form as it was
/// sent and refused.
async fn render(
    dash: &Dash,
    signed: &Signed,
    rotated: Option<&Revealed>,
    draft: Option<&Draft>,
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
                p { "Copy it now: it is shown this once, and only its hash is kept. " (r.older) }
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
        @let typed = Draft::of(draft, "settings");
        @let shown = |name: &str, now: Option<String>| Draft::shown(typed, name, now);
        form.card.stack method="post" action="/dashboard/settings" #settings {
            (layout::csrf(session))
            div.card-head { h2 { "User tokens (JWT)" } }
            p.muted { "Tokens of your users are RS256 JWTs, verified against the issuer's keys (Clerk: https://<slug>.clerk.accounts.dev)." }
            div.row {
                label { "Issuer" input type="url" name="issuer" value=[shown("issuer", settings.jwt.issuer.clone())] placeholder="https://example.clerk.accounts.dev"; }
                label { "JWKS URL (blank: <issuer>/.well-known/jwks.json)" input type="url" name="jwksUrl" value=[shown("jwksUrl", settings.jwt.jwks_url.clone())]; }
            }
            div.row {
                label { "Allowed origins (azp), one per line"
                    textarea name="allowedOrigins" rows="2" { (shown("allowedOrigins", Some(settings.jwt.allowed_origins.join("\n"))).unwrap_or_default()) }
                }
                label { "Clock-skew leeway, seconds (0–300)" input type="number" name="leewaySeconds" min="0" max="300" value=[shown("leewaySeconds", Some(settings.jwt.leeway_seconds.to_string()))]; }
            }
            @if tenant.mode == Mode::Test {
                label.check { input type="checkbox" name="devIssuerEnabled" checked[Draft::ticked(typed, "devIssuerEnabled", settings.dev_issuer_enabled)]; " Development issuer: let the server mint test tokens for this project" }
            }
            div.card-head { h2 { "Billing" } }
            div.row {
                label { "Stripe connected account" input type="text" name="connectedAccount" value=[shown("connectedAccount", settings.billing.connected_account.clone())] placeholder="acct_… (blank: the platform account)"; }
                label { "Platform fee, %" input type="number" name="platformFeePercent" step="0.01" min="0" max="100" value=[shown("platformFeePercent", Some(settings.billing.platform_fee_percent.to_string()))]; }
            }
            label { "Site URL (where checkouts return)" input type="url" name="siteUrl" value=[shown("siteUrl", settings.billing.site_url.clone())] placeholder="https://app.example.com"; }
            button.primary type="submit" { "Save settings" }
        }
        section.card #webhooks {
            div.card-head { h2 { "Stripe webhooks" } }
            (webhooks(scheme, host, dash.app.webhook_secret_count()))
        }
    };
    Ok(forms::page_with_draft(
        signed,
        draft,
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
    let refused = |message: &str| posted.draft("settings", message.to_string());
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
    let mut billing = serde_json::Map::new();
    billing.insert(
        "connectedAccount".into(),
        json!(posted.get("connectedAccount").unwrap_or("")),
    );
    billing.insert("siteUrl".into(), json!(posted.get("siteUrl").unwrap_or("")));
    let leeway = posted.get("leewaySeconds").map(str::parse::<i64>);
    let fee = posted.get("platformFeePercent").map(str::parse::<f64>);
    let draft = match (leeway, fee) {
        (Some(Err(_)), _) => Some(refused("Leeway: enter a number of seconds from 0 to 300.")),
        (_, Some(Err(_))) => Some(refused("Platform fee: enter a percentage, like 2.5.")),
        (leeway, fee) => {
            if let Some(Ok(n)) = leeway {
                jwt.insert("leewaySeconds".into(), json!(n));
            }
            if let Some(Ok(n)) = fee {
                billing.insert("platformFeePercent".into(), json!(n));
            }
            let mut body = json!({ "jwt": jwt, "billing": billing });
            if tenant.mode == Mode::Test {
                body["devIssuerEnabled"] = json!(posted.checked("devIssuerEnabled"));
            }
            dash.call::<Value>(&grant, Method::PATCH, "/v1/settings", Some(body))
                .await
                .err()
                .map(|e| refused(&e.explain()))
        }
    };
    match draft {
        None => Ok(forms::redirect_with(
            &posted.headers,
            "/dashboard/settings",
            false,
            "Settings saved.",
        )),
        Some(draft) => render(&dash, &posted.signed, None, Some(&draft), &posted.headers).await,
    }
}

/// A new secret key on its way to the one page that shows it.
#[derive(Serialize, Deserialize)]
pub struct Revealed {
    secret_key: String,
    /// What became of the older keys, in words.
    older: String,
}

/// Rotates the secret key, then redirects to the settings page, which shows the new key once
/// (post/redirect/get): reloading that page shows the settings, and sending the rotation form
/// again is refused, its form token spent, so a reload or a double click never rotates twice.
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
    let revealed = Revealed {
        secret_key: rotated.secret_key.clone(),
        older: if overlap == 0 {
            "Older secret keys were revoked.".to_string()
        } else {
            format!(
                "Older secret keys stop working at {}.",
                layout::datetime(&rotated.previous_keys_expire_at)
            )
        },
    };
    let mut session = posted.signed.session.clone();
    // A key's session goes on with the key it was just shown: its old one may be revoked
    // now. (The operator's session rests on the operator token, never on a project's key.)
    if !session.operator {
        session.keep_secret_key(session.mode, &rotated.secret_key);
    }
    let stashed = async {
        if !session.operator {
            dash.app.dashboard_session_update(&session).await?;
        }
        let token = forms::cookie(&posted.headers, forms::COOKIE).unwrap_or_default();
        let plain = serde_json::to_string(&revealed).unwrap_or_default();
        let Some(sealed) = reveal::seal(token, &plain) else {
            return Ok(false);
        };
        dash.app
            .dashboard_session_reveal_put(&session.token_hash, &sealed, &ids::random(32))
            .await?;
        Ok::<_, crate::app::AppError>(true)
    }
    .await;
    match stashed {
        Ok(true) => Ok(Redirect::to("/dashboard/settings").into_response()),
        // The new key exists now, and this is its one showing: it is shown on this answer.
        Ok(false) | Err(_) => {
            if let Err(e) = stashed {
                tracing::error!(error = %e.cause(), "the rotated key could not wait for the next page; shown on this one");
            }
            render(
                &dash,
                &posted.signed,
                Some(&revealed),
                None,
                &posted.headers,
            )
            .await
        }
    }
}

/// The new secret key waiting for this session, taken (so shown once).
async fn reveal(dash: &Dash, signed: &Signed, headers: &HeaderMap) -> Option<Revealed> {
    let sealed = dash
        .app
        .dashboard_session_reveal_take(&signed.session.token_hash)
        .await
        .inspect_err(
            |e| tracing::error!(error = %e.cause(), "a waiting secret key could not be read"),
        )
        .ok()??;
    let token = forms::cookie(headers, forms::COOKIE)?;
    serde_json::from_str(&reveal::open(token, &sealed)?).ok()
}
