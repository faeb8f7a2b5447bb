//! The replica cache: each server process (a replica) keeps copies of what every request
//! reads, and replicas sharing one Postgres tell each other when to drop them.
//!
//! What is kept (`copies`): a publishable key's row, a tenant's JWT settings, a user's plan
//! basis (tier and subscription) and a user's usage counters. Without them a check costs four
//! database round trips and a track five; with them, none and one (the increment).
//!
//! **The invariant.** A copy is never newer than the database, and never older than the last
//! change this replica *heard of*:
//! 1. The replica that makes a change drops its own copy before it answers (so one server is
//!    exact, read-your-writes included), then tells the others with a notice ([`Forget`]) on
//!    the database's channel (`store/notify.rs`); each drops its copy when it hears it,
//!    milliseconds later. The one exception is the change made most often: a counted
//!    increment, whose new count the replica knows at commit, updates its own copy in place
//!    (a counter only grows within a period, so the larger count wins whatever order
//!    increments arrive in; anything else that touched the user's counters meanwhile — a
//!    reset, another replica's change — makes it drop the copy instead: a `CountTicket`).
//!    The others are told as for any change.
//! 2. A value read from the database is stored only if nothing that could touch it was
//!    forgotten while it was being read (an epoch for settings and plans, a [`UsageTicket`]
//!    per slot of users for counters), so a read that raced with a change is never kept.
//! 3. Counters change on almost every request, so their copies are kept only while this
//!    replica *hears* every notice: from its listener's `LISTEN` on, until the connection is
//!    lost or nothing, not even the heartbeat it sends itself every [`HEARTBEAT`], was heard
//!    for [`DEAF_AFTER`]. A lost connection may have missed notices, so every copy is dropped.
//!    Deaf, a replica reads counters from the database.
//! 4. Every copy also expires (60 s): the lifetime bounds how long a copy can outlive a notice
//!    that was never sent (a replica that died between its commit and its announcement). A
//!    copy updated in place (point 1) keeps the lifetime of the read it came from. A plan or
//!    counters copy still in use halfway through its lifetime is read again in the background
//!    (`refresh`), many users a statement, and stored under the same rules (point 2): so the
//!    copies of users in use stay warm instead of expiring together under load.
//! 5. A hard limit is never decided from a copy: the counting statement decides it in the
//!    database, so limits stay exact whatever the copies say. Secret keys are never copied,
//!    so rotation and revocation take effect at once.
//!
//! Changed counters are announced not by the request but by one task per replica
//! (`announce`), after the commit, at most one statement every few milliseconds. On SQLite a
//! server is alone on its database: it hears everything it does, and tells no one.
//! Why it is built this way, and what it cost and gained: `docs/decisions/replica-cache.md`.

mod announce;
mod copies;
mod expiring;
mod notice;
mod refresh;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

pub(crate) use announce::Announcer;
pub(crate) use copies::{Caches, CountTicket, PlanBasis};
pub(crate) use expiring::Expiring;
pub(crate) use notice::Forget;
pub(super) use refresh::spawn_refresher;

use super::App;
use crate::domain::Tenant;
use crate::store::notify::Heard;

/// A quiet change channel gets a heartbeat notice this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Hearing nothing for this long, not even a heartbeat, the listener counts as deaf.
pub const DEAF_AFTER: Duration = Duration::from_secs(3);

impl App {
    /// Drops a cached copy here at once, and has every other replica drop theirs (they hear
    /// it through the database within milliseconds).
    pub(crate) async fn forget(&self, forget: Forget) {
        self.caches.forget(&forget);
        if let Err(e) = self.store.cache_notify(&forget.notice()).await {
            tracing::warn!(error = %e, "could not tell other replicas to drop a cached copy; theirs expires within a minute");
        }
    }

    /// After the user's counters changed (and the change committed): drops this replica's
    /// copy, and has the others told to drop theirs.
    pub(super) fn usage_changed(&self, tenant: &Tenant, user_id: &str) {
        self.caches.forget_usage(tenant, user_id);
        if self.store.announces() {
            self.announcer.queue(&self.store, tenant, user_id);
        }
    }

    /// Take before writing an increment of the user's counters.
    pub(super) fn count_ticket(&self, tenant: &Tenant, user_id: &str) -> CountTicket {
        self.caches.count_ticket(tenant, user_id)
    }

    /// After an increment of the user's `metric` to `count` in `period` committed: this
    /// replica's copy takes the count (see the module's invariant, point 1), and the others
    /// are told to drop theirs.
    pub(super) fn usage_counted(
        &self,
        ticket: CountTicket,
        tenant: &Tenant,
        user_id: &str,
        (period, metric, count): (&str, &str, i64),
    ) {
        self.caches
            .usage_counted(ticket, tenant, user_id, period, metric, count);
        if self.store.announces() {
            self.announcer.queue(&self.store, tenant, user_id);
        }
    }

    /// Sends the counter announcements still queued; on shutdown, before the store closes.
    pub(crate) async fn announce_pending(&self) {
        if self.store.announces() {
            self.announcer.flush(&self.store).await;
        }
    }

    /// Acts on what the change listener heard: a notice names a copy to drop; while the
    /// connection is down notices may be lost, so every copy goes and no counter is kept
    /// until it listens again.
    pub fn heard(&self, heard: Heard) {
        let is_notice = matches!(heard, Heard::Notice(_));
        if is_notice {
            self.telemetry
                .replica_last_notice
                .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
        match heard {
            Heard::Notice(notice) => match Forget::from_notice(&notice) {
                // This replica dropped its copies when it made those changes.
                Some(Forget::Usage { from, .. } | Forget::AllUsage { from })
                    if from == self.announcer.id => {}
                Some(forget) => self.caches.forget(&forget),
                None => {
                    tracing::warn!(%notice, "an unknown cache notice; dropping every copy");
                    self.caches.forget_all();
                }
            },
            Heard::Listening => self.caches.set_hearing(true),
            Heard::Lost(error) => {
                tracing::warn!(%error, "listening for other replicas' changes failed; reading counters from the database until it works again");
                self.caches.set_hearing(false);
            }
        }
        // After a lost connection no notice comes before `Listening`; a notice heard while
        // deaf means a silent connection spoke again: what it carries is late, never lost.
        if is_notice && !self.caches.hearing() {
            self.caches.set_hearing(true);
        }
    }

    /// Whether counter copies are kept: the change listener hears every notice.
    pub fn hearing(&self) -> bool {
        self.caches.hearing()
    }

    /// Stops keeping counter copies: the listener has heard nothing for too long (a
    /// connection can die without a word); the next notice it hears starts them again.
    pub fn deaf(&self) {
        self.caches.set_hearing(false);
    }

    /// Sends a notice that changes nothing, so that a quiet channel still proves it works.
    pub async fn heartbeat(&self) {
        if let Err(e) = self.store.cache_notify(&Forget::Nothing.notice()).await {
            tracing::debug!(error = %e, "could not send a heartbeat notice");
        }
    }
}

/// Listens for the other replicas' changes (settings, plans, tiers, counters) and drops this
/// replica's copies of them, until the app is dropped; see the invariant above for when
/// counter copies are kept. Postgres only: SQLite has no other replica.
pub(super) fn spawn_listener(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    let store = app.store.clone();
    tokio::spawn(async move {
        let mut heard = loop {
            match store.cache_listen().await {
                Ok(Some(heard)) => break Box::pin(heard),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other replicas' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if weak.strong_count() == 0 {
                return;
            }
        };
        let mut last = tokio::time::Instant::now();
        loop {
            let next = tokio::time::timeout(HEARTBEAT, heard.next()).await;
            let Some(app) = weak.upgrade() else { break };
            match next {
                Ok(Some(what)) => {
                    if !matches!(what, Heard::Lost(_)) {
                        last = tokio::time::Instant::now();
                    }
                    app.heard(what);
                }
                Ok(None) => break,
                Err(_) => {}
            }
            if last.elapsed() >= HEARTBEAT {
                let app = app.clone();
                tokio::spawn(async move { app.heartbeat().await });
            }
            if app.hearing() && last.elapsed() >= DEAF_AFTER {
                tracing::warn!(
                    "no notice heard for {DEAF_AFTER:?}; reading counters from the database until one is"
                );
                app.deaf();
            }
        }
    });
}
