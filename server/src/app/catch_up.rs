//! Webhooks the server missed: while it was down, or while its endpoint failed, Stripe's
//! deliveries went nowhere. On start and then periodically, the server lists the events
//! Stripe created since a bound (`GET /v1/events` with `created[gte]`, on the platform account
//! and on every connected account a project names, in each mode with a Stripe client) and
//! applies the ones it has not seen, oldest first, through the same exactly-once path as a
//! delivery (`webhooks.rs`): an event already applied is a duplicate and changes nothing.
//! Listed events need no signature: they come from Stripe's API, asked with the platform key.

use serde::Serialize;
use stripe::AccountId;
use stripe_client_core::{RequestBuilder, StripeMethod};

use super::{App, AppError, AppResult, now};
use crate::domain::Mode;

/// Events listed per request (Stripe's most).
const PAGE: u8 = 100;
/// The most events one account's catch-up reads in one run, newest first; older ones wait for
/// the next run with a later bound.
const MOST: usize = 10_000;
/// On start, events are looked for from this long before the newest one stored (deliveries
/// in flight when the server stopped).
pub const START_MARGIN: i64 = 3600;
/// Stripe lists events of the last 30 days.
const LISTED_FOR: i64 = 30 * 86_400;
/// With no event stored yet, the first catch-up looks back a day.
const FIRST_LOOK_BACK: i64 = 86_400;

/// What a catch-up found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaughtUp {
    /// Events listed by Stripe.
    pub listed: usize,
    /// Of them, events this server had not applied, applied now.
    pub applied: usize,
}

#[derive(Serialize)]
struct ListEvents<'a> {
    created: Created,
    limit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<&'a str>,
}

#[derive(Serialize)]
struct Created {
    gte: i64,
}

impl App {
    /// Where the first catch-up after start begins: an hour before the newest event stored
    /// (a day ago without one), and never more than Stripe's 30 days back.
    pub async fn webhook_catch_up_start(&self) -> AppResult<i64> {
        let at = now();
        let since = match self.store.stripe_event_newest().await? {
            Some(newest) => newest - START_MARGIN,
            None => at - FIRST_LOOK_BACK,
        };
        Ok(since.max(at - LISTED_FOR))
    }

    /// Lists the events Stripe created from `since` on and applies the unseen ones, oldest
    /// first, in every mode this server bills in.
    pub async fn webhook_catch_up(&self, since: i64) -> AppResult<CaughtUp> {
        let mut caught = CaughtUp::default();
        for mode in [Mode::Test, Mode::Live] {
            let Ok(client) = self.payments.client(mode) else {
                continue;
            };
            let mut accounts = vec![None];
            accounts.extend(
                self.store
                    .stripe_accounts(mode)
                    .await?
                    .into_iter()
                    .map(Some),
            );
            for account in accounts {
                let events = list_events(client, account.as_deref(), since).await?;
                caught.listed += events.len();
                for raw in events.iter().rev() {
                    let payload = raw.to_string();
                    let event = serde_json::from_str::<stripe_webhook::Event>(&payload)
                        .map_err(|e| e.to_string());
                    if !self.webhook_apply(&payload, raw, event).await?.duplicate {
                        caught.applied += 1;
                    }
                }
            }
        }
        Ok(caught)
    }
}

/// The account's events created from `since` on, newest first, page after page.
async fn list_events(
    client: &stripe::Client,
    account: Option<&str>,
    since: i64,
) -> AppResult<Vec<serde_json::Value>> {
    let mut events: Vec<serde_json::Value> = Vec::new();
    loop {
        let last = events.last().and_then(|e| e["id"].as_str());
        let mut request = RequestBuilder::new(StripeMethod::Get, "/events")
            .query(&ListEvents {
                created: Created { gte: since },
                limit: PAGE,
                starting_after: last,
            })
            .customize::<miniserde::json::Value>();
        if let Some(account) = account {
            request = request.account_id(AccountId::from(account.to_string()));
        }
        let page = request.send(client).await.map_err(|e| {
            AppError::Internal(anyhow::anyhow!("listing Stripe events failed: {e}"))
        })?;
        // The page as Stripe sent it, for the event log and the same parser as a delivery.
        let page: serde_json::Value = serde_json::from_str(&miniserde::json::to_string(&page))
            .map_err(|e| AppError::Internal(e.into()))?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        let more = page["has_more"].as_bool() == Some(true) && !data.is_empty();
        events.extend(data);
        if !more || events.len() >= MOST {
            return Ok(events);
        }
    }
}
