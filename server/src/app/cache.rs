//! Short-lived copies of what every request reads: a publishable key's row, a tenant's JWT
//! settings, and a user's plan basis (their tier and subscription).
//!
//! Without them a track costs six database round trips; with them, one (the increment). What
//! changes here is rare. The replica that makes a change (settings, overrides, tiers,
//! webhooks) drops its copy at once and tells the others through the database
//! ([`Forget::notice`], `store/notify.rs`), which drop theirs when they hear it, milliseconds
//! later. The TTLs only bound how long a copy can outlive a notice that was never heard (the
//! listening connection was down). Secret keys are never cached, so a rotated or revoked
//! secret stops working immediately; publishable keys are never revoked.

use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};

use crate::store::tiers::TierRow;
use crate::store::{KeyRow, SettingsRow, SubscriptionRow, Tenant};

/// How long a publishable key's row is reused.
pub const KEY_TTL: Duration = Duration::from_secs(60);
/// How long a tenant's settings are reused.
pub const SETTINGS_TTL: Duration = Duration::from_secs(60);
/// How long a user's plan basis is reused.
pub const PLAN_TTL: Duration = Duration::from_secs(60);

/// A user's plan without its period (computed per request, so a new month starts on time).
#[derive(Debug, Clone)]
pub struct PlanBasis {
    pub tier: TierRow,
    pub subscription: Option<SubscriptionRow>,
    /// Whether the tier comes from the subscription (usage then counts per its period).
    pub by_subscription: bool,
    /// The email the customer row was registered with, to notice a changed one.
    pub email: Option<String>,
}

impl PlanBasis {
    /// The plan at `at`: the subscription's period, or the calendar month containing `at`.
    pub fn at(self, at: i64) -> super::Plan {
        let period = match (&self.subscription, self.by_subscription) {
            (Some(sub), true) => super::Period::subscription(sub.period_start, sub.period_end),
            _ => super::Period::containing(at),
        };
        super::Plan {
            tier: self.tier,
            period,
            subscription: self.subscription,
        }
    }
}

/// A copy to drop, here and on every other replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forget {
    /// A tenant's settings.
    Settings(Tenant),
    /// One user's plan.
    Plan(Tenant, String),
    /// Every plan (a tier changed).
    Plans,
}

impl Forget {
    pub fn settings(tenant: &Tenant) -> Forget {
        Forget::Settings(tenant.clone())
    }

    pub fn plan(tenant: &Tenant, user_id: &str) -> Forget {
        Forget::Plan(tenant.clone(), user_id.to_string())
    }

    /// The notice sent to the other replicas (JSON: a user id may hold any character).
    pub fn notice(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// Reads a notice; `None` for one this version does not know.
    pub fn from_notice(notice: &str) -> Option<Forget> {
        serde_json::from_str(notice).ok()
    }
}

pub struct Caches {
    /// Bumped by every forget: a value read from the database before a forget is not stored
    /// after it (it could be the very state the forget dropped).
    epoch: std::sync::atomic::AtomicU64,
    keys: Cache<String, KeyRow>,
    settings: Cache<Tenant, SettingsRow>,
    plans: Cache<(Tenant, String), PlanBasis>,
}

impl Caches {
    pub fn new() -> Caches {
        Caches {
            epoch: std::sync::atomic::AtomicU64::new(0),
            keys: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(KEY_TTL)
                .build(),
            settings: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SETTINGS_TTL)
                .build(),
            plans: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PLAN_TTL)
                .build(),
        }
    }

    pub async fn key(&self, hash: &str) -> Option<KeyRow> {
        self.keys.get(hash).await
    }

    pub async fn put_key(&self, hash: String, row: KeyRow) {
        self.keys.insert(hash, row).await;
    }

    pub async fn settings(&self, tenant: &Tenant) -> Option<SettingsRow> {
        self.settings.get(tenant).await
    }

    /// The current epoch; read it before reading what will be stored.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stores settings read during `epoch`, unless something was forgotten since.
    pub async fn put_settings(&self, epoch: u64, tenant: Tenant, row: SettingsRow) {
        if self.epoch() == epoch {
            self.settings.insert(tenant, row).await;
        }
    }

    /// Drops what `forget` names from this replica's copies.
    pub async fn forget(&self, forget: &Forget) {
        self.bump();
        match forget {
            Forget::Settings(tenant) => self.settings.invalidate(tenant).await,
            Forget::Plan(tenant, user) => {
                self.plans.invalidate(&(tenant.clone(), user.clone())).await;
            }
            Forget::Plans => self.plans.invalidate_all(),
        }
    }

    /// Drops every copy of settings and plans: notices may have been missed.
    pub fn forget_all(&self) {
        self.bump();
        self.settings.invalidate_all();
        self.plans.invalidate_all();
    }

    pub async fn plan(&self, tenant: &Tenant, user_id: &str) -> Option<PlanBasis> {
        self.plans.get(&(tenant.clone(), user_id.to_string())).await
    }

    /// Stores a plan read during `epoch`, unless something was forgotten since.
    pub async fn put_plan(&self, epoch: u64, tenant: Tenant, user_id: String, basis: PlanBasis) {
        if self.epoch() == epoch {
            self.plans.insert((tenant, user_id), basis).await;
        }
    }
}
