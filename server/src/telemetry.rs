//! What `/metrics` tells Prometheus, with the `prometheus-client` crate: one registry per
//! app (no process-wide state, so tests can run several apps at once).
//!
//! Counted where it happens: requests (per method, route template and status) with their
//! latency and how many are in flight, cache lookups (hit or miss, per cache), rate-limit
//! decisions, group-commit batch sizes, Stripe webhook events by outcome. Read when scraped:
//! the database pool (and how long a connection takes to come from it), the replica channel,
//! the usage series' pending entries and last flush.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub scope: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: &'static str,
}

/// A replica copy whose lookups are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheName {
    Keys,
    Settings,
    Plans,
    Usage,
}

impl CacheName {
    const ALL: [CacheName; 4] = [
        CacheName::Keys,
        CacheName::Settings,
        CacheName::Plans,
        CacheName::Usage,
    ];

    fn label(self) -> &'static str {
        match self {
            CacheName::Keys => "keys",
            CacheName::Settings => "settings",
            CacheName::Plans => "plans",
            CacheName::Usage => "usage",
        }
    }
}

/// [`RequestLabels`] borrowed, to find a request's series without allocating; hashes exactly
/// as the owned labels do.
struct RequestRef<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
}

impl std::hash::Hash for RequestRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.method.hash(state);
        self.route.hash(state);
        self.status.hash(state);
    }
}

impl quick_cache::Equivalent<RequestLabels> for RequestRef<'_> {
    fn equivalent(&self, key: &RequestLabels) -> bool {
        self.status == key.status && self.method == key.method && self.route == key.route
    }
}

/// How many (method, route, status) series keep their handles at hand; the rest are found
/// in their families, as every series is the first time.
const REQUEST_HANDLES: usize = 4096;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every series the server exports, and the registry that encodes them.
pub struct Telemetry {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Gauge,
    pub cache_lookups: Family<CacheLabels, Counter>,
    /// Copies in use read again before they expire (`app/replica/refresh.rs`): stored, or not
    /// stored because a change raced with the read, or the read failed.
    pub cache_renewals: Family<CacheLabels, Counter>,
    /// Per [`CacheName`], the miss and hit counters of `cache_lookups`, made at the start so
    /// a lookup counts without finding its series.
    cache_counters: [[Counter; 2]; 4],
    /// `rate_limit_decisions`' counters, per scope (user, publishable) and decision (allowed,
    /// refused, undecided), made at the start.
    decision_counters: [[Counter; 3]; 2],
    /// The request counter and latency histogram of recent (method, route, status) series:
    /// a request counts without allocating its labels or locking the families.
    request_handles: quick_cache::sync::Cache<RequestLabels, (Counter, Histogram)>,
    pub rate_limit_decisions: Family<DecisionLabels, Counter>,
    pub group_commit_batch: Histogram,
    pub webhook_events: Family<OutcomeLabels, Counter>,
    pub db_connections: Family<PoolLabels, Gauge>,
    pub db_pool_wait: Gauge<f64, AtomicU64>,
    pub replica_hearing: Gauge,
    pub replica_last_notice: Gauge<f64, AtomicU64>,
    pub usage_series_pending: Gauge,
    pub usage_series_flush_age: Gauge<f64, AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("dream");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response, by method and route template",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Lookups of this replica's copies (keys, settings, plans, usage counters): hit or miss",
            cache_lookups.clone(),
        );
        let cache_counters = CacheName::ALL.map(|cache| {
            [false, true].map(|hit| {
                cache_lookups
                    .get_or_create(&CacheLabels {
                        cache: cache.label(),
                        result: if hit { "hit" } else { "miss" },
                    })
                    .clone()
            })
        });
        let cache_renewals = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_renewals",
            "Copies in use (plans, usage counters) read again before they expire: stored, raced (a change came during the read; not stored) or failed",
            cache_renewals.clone(),
        );
        let rate_limit_decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "rate_limit_decisions",
            "Rate-limit decisions per scope (user, publishable key): allowed, refused, or undecided (the limiter's store failed and the request was let through)",
            rate_limit_decisions.clone(),
        );
        let decision_counters = ["user", "publishable"].map(|scope| {
            ["allowed", "refused", "undecided"].map(|decision| {
                rate_limit_decisions
                    .get_or_create(&DecisionLabels { scope, decision })
                    .clone()
            })
        });
        let group_commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "group_commit_batch_size",
            "Usage increments written together by one group commit",
            group_commit_batch.clone(),
        );
        let webhook_events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_events",
            "Stripe webhook deliveries by outcome: applied, duplicate, invalid_signature, failed",
            webhook_events.clone(),
        );
        let db_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "The database pool's connections: open, idle, and the most it opens",
            db_connections.clone(),
        );
        let db_pool_wait = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "db_pool_wait",
            "How long a connection took to come from the database pool when this scrape asked for one (1 s: none came within a second; the pool is exhausted)",
            Unit::Seconds,
            db_pool_wait.clone(),
        );
        let replica_hearing = Gauge::default();
        registry.register(
            "replica_hearing",
            "1 while this replica hears the others' change notices (it keeps counter copies), else 0",
            replica_hearing.clone(),
        );
        let replica_last_notice = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "replica_last_notice_timestamp",
            "When this replica last heard a change notice (unix time; 0: never)",
            Unit::Seconds,
            replica_last_notice.clone(),
        );
        let usage_series_pending = Gauge::default();
        registry.register(
            "usage_series_pending",
            "Usage time-series entries counted here and not yet written",
            usage_series_pending.clone(),
        );
        let usage_series_flush_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "usage_series_flush_age",
            "Time since the usage time series was last written (0 before the first write)",
            Unit::Seconds,
            usage_series_flush_age.clone(),
        );
        Telemetry {
            registry,
            requests,
            request_seconds,
            in_flight,
            cache_lookups,
            cache_renewals,
            cache_counters,
            request_handles: quick_cache::sync::Cache::new(REQUEST_HANDLES),
            rate_limit_decisions,
            decision_counters,
            group_commit_batch,
            webhook_events,
            db_connections,
            db_pool_wait,
            replica_hearing,
            replica_last_notice,
            usage_series_pending,
            usage_series_flush_age,
        }
    }

    /// One answered request.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = RequestRef {
            method,
            route,
            status,
        };
        let (count, latency) = match self.request_handles.get(&key) {
            Some(handles) => handles,
            None => {
                let route_labels = RouteLabels {
                    method: method.to_owned(),
                    route: route.to_owned(),
                };
                let handles = (
                    self.requests
                        .get_or_create(&RequestLabels {
                            method: route_labels.method.clone(),
                            route: route_labels.route.clone(),
                            status,
                        })
                        .clone(),
                    self.request_seconds.get_or_create(&route_labels).clone(),
                );
                let labels = RequestLabels {
                    method: route_labels.method,
                    route: route_labels.route,
                    status,
                };
                self.request_handles.insert(labels, handles.clone());
                handles
            }
        };
        count.inc();
        latency.observe(seconds);
    }

    /// One rate-limit decision: for a user (else a publishable key), allowed, refused or, when
    /// the limiter could not decide, `None`.
    pub fn rate_limit_decision(&self, user: bool, allowed: Option<bool>) {
        let decision = match allowed {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        self.decision_counters[usize::from(!user)][decision].inc();
    }

    /// One lookup of a replica copy.
    pub fn cache(&self, cache: CacheName, hit: bool) {
        self.cache_counters[cache as usize][usize::from(hit)].inc();
    }

    /// `n` copies of `cache` read again, with this result (`stored`, `raced`, `failed`).
    pub fn cache_renewed(&self, cache: CacheName, result: &'static str, n: usize) {
        self.cache_renewals
            .get_or_create(&CacheLabels {
                cache: cache.label(),
                result,
            })
            .inc_by(n as u64);
    }

    /// The text exposition format (`text/plain; version=0.0.4`, OpenMetrics-compatible).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
