//! Stripe's webhook endpoint: signatures, exactly-once processing, and Connect routing. The
//! suite signs events itself with the secret the run was given (`--stripe-webhook-secret`),
//! and routes them to a case's project through a connected account the case sets.

use dream_client::types;

use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Raw, Verdict};
use crate::stripe::{self, hmac_hex, now, signature};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "webhooks.signatures",
            Webhooks,
            ["WH-001", "WH-002"],
            "only events signed with a configured secret within 300 s are accepted",
            signatures
        ),
        case!(
            "webhooks.exactly-once",
            Webhooks,
            ["WH-003"],
            "the same event, replayed or delivered concurrently, is applied once",
            exactly_once
        ),
        case!(
            "webhooks.connect-routing",
            Webhooks,
            ["WH-005"],
            "a Connect event reaches only the project with that connected account",
            connect_routing
        ),
    ]
}

/// Connects a fresh project's test mode to a connected account unique to the case.
async fn connected(ctx: &Ctx, what: &str) -> Result<(Keys, String), Verdict> {
    let project = ctx.fresh_project().await?;
    let account = format!("acct_{}", ctx.user_id(what).replace('_', ""));
    ctx.secret(&project.test)
        .update_settings()
        .body(types::SettingsUpdate {
            billing: Some(types::BillingSettingsUpdate {
                connected_account: Some(account.parse().expect("account id")),
                ..Default::default()
            }),
            ..Default::default()
        })
        .send()
        .await
        .succeeds("updateSettings with a connected account")?;
    Ok((project.test, account))
}

/// A paid cart on `account`, as Stripe would announce it.
fn cart_event(ctx: &Ctx, n: usize, account: &str, amount: i64) -> (String, String) {
    let tag = ctx.user_id(&format!("e{n}")).replace('_', "");
    let (event_id, session_id) = (format!("evt_{tag}"), format!("cs_test_{tag}"));
    let payload = stripe::event(
        &event_id,
        "checkout.session.completed",
        Some(account),
        now(),
        stripe::paid_session(&session_id, amount, "buyer@example.com"),
    );
    (session_id, payload)
}

async fn payment_ids(ctx: &Ctx, keys: &Keys) -> Result<Vec<String>, Verdict> {
    Ok(ctx
        .secret(keys)
        .list_payments()
        .send()
        .await
        .succeeds("listPayments")?
        .data
        .into_iter()
        .map(|p| p.id)
        .collect())
}

fn accepted(raw: &Raw, what: &str) -> Result<bool, Verdict> {
    ensure_eq!(raw.status, 200, "{what}: {}", raw.body);
    raw.body["duplicate"]
        .as_bool()
        .ok_or_else(|| Verdict::Fail(format!("{what}: no `duplicate` in {}", raw.body)))
}

async fn signatures(ctx: Ctx) -> CaseResult {
    let secret = ctx.webhook_secret()?;
    let (keys, account) = connected(&ctx, "sig").await?;
    let (session, payload) = cart_event(&ctx, 1, &account, 4200);
    let t = now();
    let good = hmac_hex(&payload, &secret, t);
    let altered = payload.replace("4200", "4201");
    let attempts = [
        (
            "a signature of another body",
            format!("t={t},v1={}", hmac_hex(&altered, &secret, t)),
        ),
        (
            "a signature with the wrong secret",
            signature(&payload, "whsec_not_the_secret", t),
        ),
        (
            "a timestamp 301 s old",
            signature(&payload, &secret, t - 301),
        ),
        (
            // Ahead by more than the window plus the seconds the request may take to arrive.
            "a timestamp 330 s ahead",
            signature(&payload, &secret, t + 330),
        ),
        ("a v0 signature only", format!("t={t},v0={good}")),
        ("a header with no timestamp", format!("v1={good}")),
        (
            "a signature that is not hex",
            format!("t={t},v1=zz{}", &good[2..]),
        ),
    ];
    for (what, header) in &attempts {
        let raw = ctx.deliver(&payload, Some(header)).await?;
        ensure_eq!(
            (raw.status, raw.code()),
            (400, "invalid_signature"),
            "an event with {what}"
        );
    }
    let raw = ctx
        .deliver(&altered, Some(&format!("t={t},v1={good}")))
        .await?;
    ensure_eq!(
        (raw.status, raw.code()),
        (400, "invalid_signature"),
        "a body altered after signing"
    );
    let raw = ctx.deliver(&payload, None).await?;
    ensure_eq!(raw.status, 400, "an event without Stripe-Signature");
    ensure!(
        payment_ids(&ctx, &keys).await?.is_empty(),
        "refused deliveries recorded no payment"
    );
    let events = ctx
        .secret(&keys)
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents")?;
    ensure!(
        events.data.is_empty(),
        "refused deliveries left no event in the log"
    );

    // Several v1 signatures: any one that verifies is enough (Stripe sends one per secret).
    let bogus = "0".repeat(64);
    let raw = ctx
        .deliver(&payload, Some(&format!("t={t},v1={bogus},v1={good}")))
        .await?;
    ensure!(
        !accepted(&raw, "an event with a bogus and a good v1")?,
        "a first delivery is not a duplicate"
    );
    ensure_eq!(
        payment_ids(&ctx, &keys).await?,
        vec![session],
        "the payments after the accepted event"
    );
    Ok(())
}

async fn exactly_once(ctx: Ctx) -> CaseResult {
    ctx.webhook_secret()?;
    let (keys, account) = connected(&ctx, "once").await?;
    let (first, payload) = cart_event(&ctx, 1, &account, 1000);
    ensure!(
        !accepted(&ctx.deliver_signed(&payload).await?, "the first delivery")?,
        "the first delivery is fresh"
    );
    ensure!(
        accepted(&ctx.deliver_signed(&payload).await?, "a replay")?,
        "a replay is a duplicate"
    );

    let (second, payload) = cart_event(&ctx, 2, &account, 2000);
    let deliveries = (0..8).map(|_| {
        let ctx = ctx.clone();
        let payload = payload.clone();
        async move { ctx.deliver_signed(&payload).await }
    });
    let mut fresh = 0;
    for raw in futures::future::join_all(deliveries).await {
        if !accepted(&raw?, "a concurrent delivery")? {
            fresh += 1;
        }
    }
    ensure_eq!(fresh, 1, "concurrent deliveries of one event applied");
    let mut ids = payment_ids(&ctx, &keys).await?;
    ids.sort();
    let mut want = vec![first, second];
    want.sort();
    ensure_eq!(ids, want, "the payments, each once");
    let events = ctx
        .secret(&keys)
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents")?;
    ensure_eq!(events.data.len(), 2, "events in the log");
    ensure!(
        events
            .data
            .iter()
            .all(|e| e.status == types::BillingEventStatus::Processed),
        "both events processed: {:?}",
        events
            .data
            .iter()
            .map(|e| (&e.id, e.status))
            .collect::<Vec<_>>()
    );
    Ok(())
}

async fn connect_routing(ctx: Ctx) -> CaseResult {
    ctx.webhook_secret()?;
    let (a, account_a) = connected(&ctx, "a").await?;
    let (b, _) = connected(&ctx, "b").await?;
    let (session, payload) = cart_event(&ctx, 1, &account_a, 700);
    ensure!(
        !accepted(
            &ctx.deliver_signed(&payload).await?,
            "an event on account A"
        )?,
        "fresh"
    );
    let unknown = format!("acct_{}", ctx.user_id("nobody").replace('_', ""));
    let (_, stray) = cart_event(&ctx, 2, &unknown, 800);
    accepted(
        &ctx.deliver_signed(&stray).await?,
        "an event on an account no project has",
    )?;
    ensure_eq!(
        payment_ids(&ctx, &a).await?,
        vec![session],
        "project A's payments"
    );
    ensure!(
        payment_ids(&ctx, &b).await?.is_empty(),
        "project B sees no payment"
    );
    let b_events = ctx
        .secret(&b)
        .list_billing_events()
        .send()
        .await
        .succeeds("listBillingEvents on B")?;
    ensure!(b_events.data.is_empty(), "project B's event log is empty");
    // A second project may not claim an account another one has.
    let taken = ctx
        .secret(&b)
        .update_settings()
        .body(types::SettingsUpdate {
            billing: Some(types::BillingSettingsUpdate {
                connected_account: Some(account_a.parse().expect("account id")),
                ..Default::default()
            }),
            ..Default::default()
        })
        .send()
        .await
        .refused(
            "connecting an account another project has",
            409,
            "already_exists",
        )?;
    ensure_eq!(
        taken.param.as_deref(),
        Some("billing.connectedAccount"),
        "its param"
    );
    Ok(())
}
