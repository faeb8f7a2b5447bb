//! Announcing changed counters: a counted track queues its user, and one task per replica
//! sends whatever has queued in one statement, at most every [`ANNOUNCE_EVERY`], right after
//! the change committed. Counters change on almost every request, so their notices are not
//! sent by the requests themselves (see the module above for why).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::notice::{Forget, usage_notices};
use crate::domain::Tenant;
use crate::store::Store;

/// At most one announcement statement this often: the notify lock, the other replicas'
/// listeners and this one's own are paid per statement, not per user.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(5);
/// After a send failed on a kept and on a new connection, the next try waits this long.
const RETRY_AFTER: Duration = Duration::from_millis(200);
/// Users waiting to be announced, at most; past that one notice drops every copy.
const MAX_PENDING: usize = 100_000;

/// The users whose counters changed and are still to be announced, and the task that
/// announces them.
#[derive(Debug)]
pub(crate) struct Announcer {
    /// This replica's name in its notices, so that it can tell its own from the others'.
    pub(crate) id: String,
    pending: Mutex<Pending>,
    wake: tokio::sync::Notify,
    started: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    users: Vec<(Tenant, String)>,
    /// More users changed than are kept: announce that every counter may have.
    overflowed: bool,
}

impl Announcer {
    pub(crate) fn new() -> Announcer {
        Announcer {
            id: crate::domain::ids::random(16),
            pending: Mutex::new(Pending::default()),
            wake: tokio::sync::Notify::new(),
            started: AtomicBool::new(false),
        }
    }

    /// What to send for `pending`, if anything.
    fn notices(&self, pending: &Pending) -> Option<String> {
        if pending.overflowed {
            Some(
                Forget::AllUsage {
                    from: self.id.clone(),
                }
                .notice(),
            )
        } else if pending.users.is_empty() {
            None
        } else {
            Some(usage_notices(&self.id, pending.users.clone()))
        }
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().expect("pending"))
    }

    /// Queues users again after a failed send.
    fn put_back(&self, failed: Pending) {
        let mut pending = self.pending.lock().expect("pending");
        pending.overflowed |= failed.overflowed;
        for user in failed.users {
            push(&mut pending, user);
        }
    }
}

fn push(pending: &mut Pending, user: (Tenant, String)) {
    if pending.overflowed {
        return;
    }
    if pending.users.len() >= MAX_PENDING {
        pending.users = Vec::new();
        pending.overflowed = true;
    } else {
        pending.users.push(user);
    }
}

/// Sends what has queued, one statement at a time, on a connection of its own that does not
/// wait for its commits to reach the disk (a notice is worth nothing after a crash, and the
/// wait would be paid under the notice queue's lock), until the announcer is dropped.
async fn announce(announcer: Weak<Announcer>, store: Store) {
    let mut sender = store.notice_sender();
    let mut warned: Option<tokio::time::Instant> = None;
    let mut sent = tokio::time::Instant::now();
    loop {
        let Some(a) = announcer.upgrade() else { return };
        // Wakes now and then to notice the store is gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), a.wake.notified()).await;
        // Under load changes come all the time: gather them for a moment rather than send a
        // statement for each handful.
        tokio::time::sleep_until(sent + ANNOUNCE_EVERY).await;
        sent = tokio::time::Instant::now();
        let pending = a.take();
        let Some(notices) = a.notices(&pending) else {
            continue;
        };
        drop(a);
        match sender.send(&notices).await {
            Ok(()) => warned = None,
            Err(e) => {
                if warned.is_none_or(|w| w.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "could not tell other replicas which counters changed; retrying");
                    warned = Some(tokio::time::Instant::now());
                }
                if let Some(a) = announcer.upgrade() {
                    a.put_back(pending);
                }
                // Both a kept and a new connection failed: the database is out of reach
                // (every replica's listener has lost it too, and keeps no counter copies).
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

impl Announcer {
    /// Queues the user for the task (started on first use) that tells the other replicas.
    pub(super) fn queue(self: &Arc<Self>, store: &Store, tenant: &Tenant, user_id: &str) {
        push(
            &mut self.pending.lock().expect("pending"),
            (tenant.clone(), user_id.to_string()),
        );
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(announce(Arc::downgrade(self), store.clone()));
        }
        self.wake.notify_one();
    }

    /// Sends the announcements still queued, now: on shutdown the task may not run again.
    pub(super) async fn flush(&self, store: &Store) {
        let pending = self.take();
        if let Some(notices) = self.notices(&pending)
            && let Err(e) = store.notice_sender().send(&notices).await
        {
            tracing::warn!(error = %e, "could not tell other replicas which counters changed before closing");
        }
    }
}
