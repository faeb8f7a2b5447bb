//! Webhooks the server missed: while it was down, or while its endpoint failed, Stripe's
//! deliveries went nowhere. On start and then periodically, the server lists the events
//! Stripe created since a bound (`GET /v1/events` with `created[gte]`, on the platform account
//! and on every connected account a project names, in each mode with a Stripe client) and
//! applies the ones it has not seen, through the same exactly-once path as a delivery
//! (`webhooks.rs`): an event already applied is a duplicate and changes nothing. Listed
//! events need no signature: they come from Stripe's API, asked with the platform key.
//!
//! Each account is caught up on its own: one that cannot be listed (a disconnected account)
//! is reported and keeps its bound for the next run, and the others go on.

use serde::Serialize;
use stripe::AccountId;
use stripe_client_core::{RequestBuilder, StripeMethod};

use super::{App, AppError, AppResult, now};
use crate::domain::Mode;

/// Events listed per request (Stripe's most).
const PAGE: u8 = 100;
/// The most events held at once: past it, the newest ones read are applied (oldest first)
/// and the listing goes on below them, so a long outage is caught up in batches.
const BATCH: usize = 10_000;
/// On start, events are looked for from this long before the newest one stored (deliveries
/// in flight when the server stopped).
pub const START_MARGIN: i64 = 3600;
/// Stripe lists events of the last 30 days.
const LISTED_FOR: i64 = 30 * 86_400;
/// With no event stored yet, the first catch-up looks back a day.
const FIRST_LOOK_BACK: i64 = 86_400;

/// Where Stripe's events are listed: a mode, and the platform account (`None`) or a
/// connected one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventSource {
    pub mode: Mode,
    pub account: Option<String>,
}

/// What a catch-up found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaughtUp {
    /// Events listed by Stripe.
    pub listed: usize,
    /// Of them, events this server had not applied, applied now.
    pub applied: usize,
    /// Listed events that could not be read; left for their webhook (a delivery carries the
    /// endpoint's API version, which may read where the account's did not).
    pub unreadable: usize,
}

impl std::ops::AddAssign for CaughtUp {
    fn add_assign(&mut self, other: CaughtUp) {
        self.listed += other.listed;
        self.applied += other.applied;
        self.unreadable += other.unreadable;
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    lte: Option<i64>,
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

    /// Every place events are listed from: the platform account and each connected account
    /// of each mode this server bills in.
    pub async fn webhook_event_sources(&self) -> AppResult<Vec<EventSource>> {
        let mut sources = Vec::new();
        for mode in [Mode::Test, Mode::Live] {
            if self.payments.client(mode).is_err() {
                continue;
            }
            sources.push(EventSource {
                mode,
                account: None,
            });
            for account in self.store.stripe_accounts(mode).await? {
                sources.push(EventSource {
                    mode,
                    account: Some(account),
                });
            }
        }
        Ok(sources)
    }

    /// Lists the events `source` has from `since` on and applies the unseen ones: in batches
    /// of at most [`BATCH`], newest batch first, each batch oldest first.
    pub async fn webhook_catch_up_source(
        &self,
        source: &EventSource,
        since: i64,
    ) -> AppResult<CaughtUp> {
        let client = self.payments.client(source.mode)?;
        let mut caught = CaughtUp::default();
        let mut until = None;
        loop {
            let (events, more) =
                list_events(client, source.account.as_deref(), since, until).await?;
            caught.listed += events.len();
            // An event that fails is tried again on the next run (the caller's bound does not
            // move); the others are applied meanwhile.
            let mut failed = None;
            for raw in events.iter().rev() {
                let payload = raw.to_string();
                match serde_json::from_str::<stripe_webhook::Event>(&payload) {
                    Ok(event) => match self.webhook_apply(&payload, raw, Ok(event)).await {
                        Ok(receipt) if !receipt.duplicate => caught.applied += 1,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(event = %raw["id"], error = %e.cause(), "a listed Stripe event could not be applied; trying again on the next run");
                            failed.get_or_insert(e);
                        }
                    },
                    Err(e) => {
                        tracing::warn!(event = %raw["id"], error = %e, "a listed Stripe event could not be read; leaving it to its webhook");
                        caught.unreadable += 1;
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            // The batch was full: go on below its oldest second (events of that second seen
            // again are duplicates). A second with more events than a batch ends the run.
            let oldest = events.last().and_then(|e| e["created"].as_i64());
            match oldest {
                Some(oldest) if more && until != Some(oldest) => until = Some(oldest),
                _ => return Ok(caught),
            }
        }
    }

    /// Catches every source up from `since`; a source that fails is reported and skipped.
    pub async fn webhook_catch_up(&self, since: i64) -> AppResult<CaughtUp> {
        let mut caught = CaughtUp::default();
        for source in self.webhook_event_sources().await? {
            match self.webhook_catch_up_source(&source, since).await {
                Ok(more) => caught += more,
                Err(e) => {
                    tracing::warn!(?source, error = %e.cause(), "catching up on Stripe events failed for this account");
                }
            }
        }
        Ok(caught)
    }
}

/// The account's events created from `since` (to `until`, if given), newest first, page after
/// page, at most [`BATCH`]; and whether there are more below them.
async fn list_events(
    client: &stripe::Client,
    account: Option<&str>,
    since: i64,
    until: Option<i64>,
) -> AppResult<(Vec<serde_json::Value>, bool)> {
    let mut events: Vec<serde_json::Value> = Vec::new();
    loop {
        let last = events.last().and_then(|e| e["id"].as_str());
        let mut request = RequestBuilder::new(StripeMethod::Get, "/events")
            .query(&ListEvents {
                created: Created {
                    gte: since,
                    lte: until,
                },
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
        if !more || events.len() >= BATCH {
            return Ok((events, more));
        }
    }
}
