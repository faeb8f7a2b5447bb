//! The copies themselves: the plan basis, the tickets that keep a read which raced with a
//! change from being stored, and the list of copies in use that are due to be read again.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use quick_cache::Equivalent;

use super::expiring::Expiring;
use super::notice::Forget;
use crate::domain::{ApiKey, AuthSettings, Subscription, Tenant, Tier};

/// A user of a tenant, the key of their plan and counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserKey {
    pub tenant: Tenant,
    pub user_id: String,
}

/// [`UserKey`] borrowed, for lookups; hashes exactly as the owned key does.
struct UserRef<'a> {
    tenant: &'a Tenant,
    user_id: &'a str,
}

impl Hash for UserRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tenant.hash(state);
        self.user_id.hash(state);
    }
}

impl Equivalent<UserKey> for UserRef<'_> {
    fn equivalent(&self, key: &UserKey) -> bool {
        *self.tenant == key.tenant && self.user_id == key.user_id
    }
}

impl UserRef<'_> {
    fn owned(&self) -> UserKey {
        UserKey {
            tenant: self.tenant.clone(),
            user_id: self.user_id.to_string(),
        }
    }
}

fn user<'a>(tenant: &'a Tenant, user_id: &'a str) -> UserRef<'a> {
    UserRef { tenant, user_id }
}

/// A user's plan without its period (computed per request, so a new month starts on time).
#[derive(Debug, Clone)]
pub struct PlanBasis {
    pub tier: Arc<Tier>,
    pub subscription: Option<Subscription>,
    /// Whether the tier comes from the subscription (usage then counts per its period).
    pub by_subscription: bool,
    /// The email the customer row was registered with, to notice a changed one.
    pub email: Option<String>,
}

impl PlanBasis {
    /// The plan at `at`: the subscription's period, or the calendar month containing `at`.
    pub fn at(&self, at: i64) -> crate::app::Plan {
        let period = match (&self.subscription, self.by_subscription) {
            (Some(sub), true) => crate::app::Period::subscription(sub.period_start, sub.period_end),
            _ => crate::app::Period::containing(at),
        };
        crate::app::Plan {
            tier: self.tier.clone(),
            period,
            subscription: self.subscription.clone(),
        }
    }
}

/// A user's counters in one period, as this replica last read them.
#[derive(Debug, Clone)]
struct UsageCopy {
    period: String,
    counts: Arc<[(String, i64)]>,
}

/// Slots of users whose counters were forgotten; see [`UsageTicket`].
const USAGE_SLOTS: usize = 4096;

/// Taken before reading a user's counters from the database: the copy is kept only if
/// nothing about that user (or everything) was forgotten meanwhile, so a read that raced
/// with a change is never kept.
#[derive(Debug, Clone, Copy)]
pub struct UsageTicket {
    epoch: u64,
    slot: usize,
    generation: u64,
}

/// Taken before a track's write: the count it commits may update the user's copy afterwards
/// only if nothing that could lower or replace the user's counters (a reset, an override,
/// another replica's change, a lost notice) happened meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct CountTicket {
    epoch: u64,
    slot: usize,
    lowered: u64,
}

pub struct Caches {
    /// Bumped by every forget but a single user's counters: a value read from the database
    /// before a forget is not stored after it (it could be the very state the forget dropped).
    epoch: AtomicU64,
    /// By the SHA-256 of the key ([`crate::domain::ids::key_digest`]).
    keys: Expiring<[u8; 32], Arc<ApiKey>>,
    settings: Expiring<Tenant, Arc<AuthSettings>>,
    plans: Expiring<UserKey, Arc<PlanBasis>>,
    usage: Expiring<UserKey, Arc<UsageCopy>>,
    /// Per slot of users (by hash), bumped whenever one of them is forgotten: counters change
    /// all the time, so one epoch for all would keep almost nothing under load.
    usage_generations: Box<[AtomicU64]>,
    /// Per slot, bumped by every forget of a user's counters but not by this replica's own
    /// counted increments: those update the copy instead (see [`Caches::usage_counted`]).
    usage_lowered: Box<[AtomicU64]>,
    /// Per slot, held while a copy is read, merged and stored again, so two increments of one
    /// user cannot both start from the same copy.
    usage_merging: Box<[std::sync::Mutex<()>]>,
    /// Whether this replica hears every change to counters (always on SQLite; on Postgres
    /// while its listener hears). Deaf, it keeps no counter copies.
    hearing: AtomicBool,
    hasher: std::collections::hash_map::RandomState,
    /// Where lookups are counted (hit or miss, per cache).
    telemetry: Arc<crate::telemetry::Telemetry>,
    /// Copies in use that are past half their lifetime, for the refresher (`refresh.rs`).
    due: std::sync::Mutex<Vec<Due>>,
}

/// A copy in use that is due to be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Plan(UserKey),
    /// The user's counters in a period.
    Usage(UserKey, String),
}

/// At most this many copies wait to be read again; past it, a due copy simply expires (and
/// is read again by the request that next needs it).
const DUE_CAPACITY: usize = 100_000;

impl Caches {
    /// Caches for a replica that hears every counter change from the start (`hearing`: one
    /// server alone on its database) or not until its listener says so, whose copies live at
    /// most `lifetime` (publishable keys, settings, plans, and counters while hearing).
    pub fn new(
        hearing: bool,
        lifetime: Duration,
        telemetry: Arc<crate::telemetry::Telemetry>,
    ) -> Caches {
        Caches {
            epoch: AtomicU64::new(0),
            keys: Expiring::new(10_000, lifetime),
            settings: Expiring::new(10_000, lifetime),
            plans: Expiring::new(100_000, lifetime),
            usage: Expiring::new(100_000, lifetime),
            usage_generations: (0..USAGE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            usage_lowered: (0..USAGE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            usage_merging: (0..USAGE_SLOTS)
                .map(|_| std::sync::Mutex::new(()))
                .collect(),
            hearing: AtomicBool::new(hearing),
            hasher: Default::default(),
            telemetry,
            due: Default::default(),
        }
    }

    pub fn key(&self, digest: &[u8; 32]) -> Option<Arc<ApiKey>> {
        let found = self.keys.get(digest);
        self.telemetry
            .cache(crate::telemetry::CacheName::Keys, found.is_some());
        found
    }

    pub fn put_key(&self, digest: [u8; 32], row: Arc<ApiKey>) {
        self.keys.insert(digest, row);
    }

    pub fn settings(&self, tenant: &Tenant) -> Option<Arc<AuthSettings>> {
        let found = self.settings.get(tenant);
        self.telemetry
            .cache(crate::telemetry::CacheName::Settings, found.is_some());
        found
    }

    /// The current epoch; read it before reading what will be stored.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Stores settings read during `epoch`, unless something was forgotten since (checked
    /// again after storing: a forget between the check and the insert found nothing to drop).
    pub fn put_settings(&self, epoch: u64, tenant: Tenant, row: Arc<AuthSettings>) {
        if self.epoch() == epoch {
            self.settings.insert(tenant.clone(), row);
            if self.epoch() != epoch {
                self.settings.remove(&tenant);
            }
        }
    }

    fn usage_slot(&self, tenant: &Tenant, user_id: &str) -> usize {
        (self.hasher.hash_one(user(tenant, user_id)) as usize) % USAGE_SLOTS
    }

    /// Drops what `forget` names from this replica's copies.
    pub fn forget(&self, forget: &Forget) {
        match forget {
            Forget::Settings(tenant) => {
                self.bump();
                self.settings.remove(tenant);
            }
            Forget::Plan(tenant, user_id) => {
                self.bump();
                self.plans.remove(&user(tenant, user_id));
            }
            Forget::Plans => {
                self.bump();
                self.plans.clear();
            }
            Forget::Usage { users, .. } => {
                for (tenant, user_id) in users {
                    self.forget_usage(tenant, user_id);
                }
            }
            Forget::AllUsage { .. } => {
                self.bump();
                self.usage.clear();
            }
            Forget::Project(_) => {
                // Rare: every copy goes, the keys included (a publishable key's copy would
                // otherwise resolve until it expires).
                self.keys.clear();
                self.forget_all();
            }
            Forget::Nothing => {}
        }
    }

    /// Drops the copy of one user's counters (they changed).
    pub fn forget_usage(&self, tenant: &Tenant, user_id: &str) {
        let slot = self.usage_slot(tenant, user_id);
        self.usage_generations[slot].fetch_add(1, Ordering::SeqCst);
        self.usage_lowered[slot].fetch_add(1, Ordering::SeqCst);
        self.usage.remove(&user(tenant, user_id));
    }

    /// Take before a track's write; see [`Caches::usage_counted`].
    pub fn count_ticket(&self, tenant: &Tenant, user_id: &str) -> CountTicket {
        let slot = self.usage_slot(tenant, user_id);
        CountTicket {
            epoch: self.epoch(),
            slot,
            lowered: self.usage_lowered[slot].load(Ordering::SeqCst),
        }
    }

    fn count_ticket_valid(&self, ticket: CountTicket) -> bool {
        self.hearing()
            && self.epoch() == ticket.epoch
            && self.usage_lowered[ticket.slot].load(Ordering::SeqCst) == ticket.lowered
    }

    /// After this replica's increment of `metric` to `count` in `period` committed: reads of
    /// the counters already under way are not kept (they may predate it), and the user's
    /// copy, where there is one of that period, takes the new count — the larger of the two,
    /// so increments that commit in one order and arrive here in another never lower it (a
    /// counter only grows within a period; what lowers it, a reset, forgets instead). Where
    /// something forgot the user's counters since `ticket`, the copy is dropped as before.
    pub fn usage_counted(
        &self,
        ticket: CountTicket,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
        metric: &str,
        count: i64,
    ) {
        let slot = ticket.slot;
        self.usage_generations[slot].fetch_add(1, Ordering::SeqCst);
        let key = user(tenant, user_id);
        if !self.count_ticket_valid(ticket) {
            self.usage.remove(&key);
            return;
        }
        let _merging = self.usage_merging[slot]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(found) = self.usage.find(&key) else {
            return;
        };
        let copy = found.value;
        if found.due {
            self.renew(Due::Usage(key.owned(), copy.period.clone()));
        }
        if copy.period != period {
            self.usage.remove(&key);
            return;
        }
        let mut counts: Vec<(String, i64)> = copy.counts.to_vec();
        match counts.iter_mut().find(|(m, _)| m == metric) {
            Some((_, held)) => *held = (*held).max(count),
            None => counts.push((metric.to_string(), count)),
        }
        // The copy keeps its lifetime: it is still only as fresh as the read it came from.
        self.usage.replace(
            &key,
            key.owned(),
            Arc::new(UsageCopy {
                period: period.to_string(),
                counts: counts.into(),
            }),
        );
        // A forget that came meanwhile found the old copy: drop the new one too.
        if !self.count_ticket_valid(ticket) {
            self.usage.remove(&key);
        }
    }

    /// Drops every copy of settings, plans and counters: notices may have been missed.
    pub fn forget_all(&self) {
        self.bump();
        self.settings.clear();
        self.plans.clear();
        self.usage.clear();
    }

    /// Whether counter copies are kept.
    pub fn hearing(&self) -> bool {
        self.hearing.load(Ordering::SeqCst)
    }

    /// Starts (`true`) or stops keeping counter copies; either way every copy is dropped.
    pub fn set_hearing(&self, hearing: bool) {
        self.hearing.store(hearing, Ordering::SeqCst);
        self.forget_all();
    }

    pub fn plan(&self, tenant: &Tenant, user_id: &str) -> Option<Arc<PlanBasis>> {
        let key = user(tenant, user_id);
        let found = self.plans.find(&key).map(|found| {
            if found.due {
                self.renew(Due::Plan(key.owned()));
            }
            found.value
        });
        self.telemetry
            .cache(crate::telemetry::CacheName::Plans, found.is_some());
        found
    }

    fn renew(&self, due: Due) {
        let mut list = self
            .due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if list.len() < DUE_CAPACITY {
            list.push(due);
        }
    }

    /// The copies found due since the last call, to be read again.
    pub fn take_due(&self) -> Vec<Due> {
        std::mem::take(
            &mut *self
                .due
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Stores a plan read during `epoch`, unless something was forgotten since; whether it did.
    pub fn put_plan(
        &self,
        epoch: u64,
        tenant: &Tenant,
        user_id: &str,
        basis: Arc<PlanBasis>,
    ) -> bool {
        if self.epoch() != epoch {
            return false;
        }
        let key = user(tenant, user_id);
        self.plans.insert(key.owned(), basis);
        if self.epoch() != epoch {
            self.plans.remove(&key);
            return false;
        }
        true
    }

    /// The user's counters in `period`, if this replica has a copy it can trust.
    pub fn usage(
        &self,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
    ) -> Option<Arc<[(String, i64)]>> {
        let key = user(tenant, user_id);
        let found = if self.hearing() {
            self.usage
                .find(&key)
                .filter(|found| found.value.period == period)
                .map(|found| {
                    if found.due {
                        self.renew(Due::Usage(key.owned(), period.to_string()));
                    }
                    found.value.counts.clone()
                })
        } else {
            None
        };
        self.telemetry
            .cache(crate::telemetry::CacheName::Usage, found.is_some());
        found
    }

    /// Take before reading the user's counters from the database.
    pub fn usage_ticket(&self, tenant: &Tenant, user_id: &str) -> UsageTicket {
        let slot = self.usage_slot(tenant, user_id);
        UsageTicket {
            epoch: self.epoch(),
            slot,
            generation: self.usage_generations[slot].load(Ordering::SeqCst),
        }
    }

    fn ticket_valid(&self, ticket: UsageTicket) -> bool {
        self.hearing()
            && self.epoch() == ticket.epoch
            && self.usage_generations[ticket.slot].load(Ordering::SeqCst) == ticket.generation
    }

    /// Keeps counters read under `ticket`, unless the user's counters (or everything) were
    /// forgotten since, or this replica is deaf to other replicas' changes; whether it did.
    pub fn put_usage(
        &self,
        ticket: UsageTicket,
        tenant: &Tenant,
        user_id: &str,
        period: &str,
        counts: Arc<[(String, i64)]>,
    ) -> bool {
        if !self.ticket_valid(ticket) {
            return false;
        }
        let key = user(tenant, user_id);
        let copy = Arc::new(UsageCopy {
            period: period.to_string(),
            counts,
        });
        self.usage.insert(key.owned(), copy);
        // A forget that came between the check and the insert found nothing to drop.
        if !self.ticket_valid(ticket) {
            self.usage.remove(&key);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;

    fn tenant() -> Tenant {
        Tenant {
            project_id: "proj_cache".into(),
            mode: Mode::Test,
        }
    }

    fn counts(n: i64) -> Arc<[(String, i64)]> {
        vec![("requests".to_string(), n)].into()
    }

    fn keep(caches: &Caches, ticket: UsageTicket, user: &str, n: i64) {
        caches.put_usage(ticket, &tenant(), user, "2026-11", counts(n));
    }

    #[test]
    fn a_counter_read_that_raced_with_a_change_is_not_kept() {
        let caches = Caches::new(true, Duration::from_secs(60), Default::default());
        let forget = |user: &str| Forget::Usage {
            from: "replica_a".into(),
            users: vec![(tenant(), user.to_string())],
        };

        let ticket = caches.usage_ticket(&tenant(), "u1");
        keep(&caches, ticket, "u1", 1);
        assert_eq!(caches.usage(&tenant(), "u1", "2026-11"), Some(counts(1)));
        // Another period is another copy.
        assert_eq!(caches.usage(&tenant(), "u1", "2026-12"), None);

        // Read before a change to the user, kept after it: dropped.
        let ticket = caches.usage_ticket(&tenant(), "u2");
        caches.forget(&forget("u2"));
        keep(&caches, ticket, "u2", 7);
        assert_eq!(caches.usage(&tenant(), "u2", "2026-11"), None);

        // A change forgets the copy.
        caches.forget(&forget("u1"));
        assert_eq!(caches.usage(&tenant(), "u1", "2026-11"), None);

        // Deaf: nothing is kept or answered, and copies from before are gone.
        let ticket = caches.usage_ticket(&tenant(), "u3");
        keep(&caches, ticket, "u3", 3);
        caches.set_hearing(false);
        assert_eq!(caches.usage(&tenant(), "u3", "2026-11"), None);
        let ticket = caches.usage_ticket(&tenant(), "u3");
        keep(&caches, ticket, "u3", 4);
        caches.set_hearing(true);
        assert_eq!(caches.usage(&tenant(), "u3", "2026-11"), None);
        // A read that started while deaf is not kept once hearing again.
        let ticket = caches.usage_ticket(&tenant(), "u3");
        caches.set_hearing(false);
        caches.set_hearing(true);
        keep(&caches, ticket, "u3", 5);
        assert_eq!(caches.usage(&tenant(), "u3", "2026-11"), None);
    }

    #[test]
    fn a_counted_increment_updates_the_copy_and_never_lowers_it() {
        let caches = Caches::new(true, Duration::from_secs(60), Default::default());
        let at = |user: &str| caches.usage(&tenant(), user, "2026-11");
        let counted = |ticket: CountTicket, user: &str, metric: &str, n: i64| {
            caches.usage_counted(ticket, &tenant(), user, "2026-11", metric, n)
        };

        // No copy: an increment makes none (the other metrics are unknown).
        let ticket = caches.count_ticket(&tenant(), "u1");
        counted(ticket, "u1", "requests", 2);
        assert_eq!(at("u1"), None);

        let read = caches.usage_ticket(&tenant(), "u1");
        keep(&caches, read, "u1", 2);
        let first = caches.count_ticket(&tenant(), "u1");
        let second = caches.count_ticket(&tenant(), "u1");
        // Committed as 3 then 4, arriving here as 4 then 3: the copy keeps 4.
        counted(second, "u1", "requests", 4);
        counted(first, "u1", "requests", 3);
        assert_eq!(at("u1"), Some(counts(4)));
        // A metric the copy did not hold joins it.
        let ticket = caches.count_ticket(&tenant(), "u1");
        counted(ticket, "u1", "ai_tokens", 250);
        let both: Arc<[(String, i64)]> =
            vec![("requests".to_string(), 4), ("ai_tokens".to_string(), 250)].into();
        assert_eq!(at("u1"), Some(both));

        // A read under way when an increment commits is not kept: it may predate it.
        let read = caches.usage_ticket(&tenant(), "u2");
        let ticket = caches.count_ticket(&tenant(), "u2");
        counted(ticket, "u2", "requests", 6);
        keep(&caches, read, "u2", 5);
        assert_eq!(at("u2"), None);

        // A reset (any forget) between the increment's write and its update: the late
        // count does not come back over the fresh copy read after the reset.
        let read = caches.usage_ticket(&tenant(), "u3");
        keep(&caches, read, "u3", 8);
        let late = caches.count_ticket(&tenant(), "u3");
        caches.forget(&Forget::Usage {
            from: "replica_b".into(),
            users: vec![(tenant(), "u3".to_string())],
        });
        let read = caches.usage_ticket(&tenant(), "u3");
        keep(&caches, read, "u3", 0);
        counted(late, "u3", "requests", 9);
        assert_eq!(at("u3"), None, "dropped, never 9 over the reset");

        // A copy of another period is dropped, not merged.
        let ticket = caches.count_ticket(&tenant(), "u1");
        caches.usage_counted(ticket, &tenant(), "u1", "2026-12", "requests", 1);
        assert_eq!(at("u1"), None);
    }
}
