//! Metrics: usage over time, revenue and MRR, and the project at a glance.
//!
//! The usage time series must not cost the track path a write. Each server adds every counted
//! track to an in-memory [`Recorder`] (a map update under a mutex) and a background task writes
//! what accumulated once a second, in one transaction of multi-row upserts (`flush`). The
//! counters that enforce limits are written before a track is answered, as before; the series
//! trail them by about a second, and a server killed without a graceful shutdown loses at most
//! that second of series data, never a count.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::{App, AppError, AppResult, now};
use crate::domain::{PriceInterval, Tenant, Tier};
use crate::store::metrics::UsageBatch;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Users remembered as already written for their hour; past this the set is cleared and a few
/// users are written twice (the insert ignores duplicates), so memory stays bounded.
const WRITTEN_CAP: usize = 200_000;

/// Bucket size of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn seconds(self) -> i64 {
        match self {
            Interval::Hour => HOUR,
            Interval::Day => DAY,
        }
    }
    /// The most buckets one request may ask for.
    fn max_buckets(self) -> i64 {
        match self {
            Interval::Hour => 744,
            Interval::Day => 366,
        }
    }
}

/// A validated range: `from` and `to` on bucket boundaries, `from < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub interval: Interval,
    pub from: i64,
    pub to: i64,
}

impl Range {
    /// The range asked for, defaulting to the last `default_buckets` buckets up to now.
    pub fn new(
        interval: Interval,
        from: Option<i64>,
        to: Option<i64>,
        default_buckets: i64,
    ) -> AppResult<Range> {
        let width = interval.seconds();
        let floor = |t: i64| t - t.rem_euclid(width);
        // `to` is exclusive and rounded up: the bucket holding it (by default, now) is included.
        let to = floor(to.unwrap_or_else(|| now() + 1).saturating_add(width - 1));
        let from = floor(from.unwrap_or(to - default_buckets * width));
        if from >= to {
            return Err(AppError::validation("from", "`from` must be before `to`."));
        }
        if (to - from) / width > interval.max_buckets() {
            return Err(AppError::validation(
                "from",
                format!(
                    "A range holds at most {} buckets of this interval.",
                    interval.max_buckets()
                ),
            ));
        }
        Ok(Range { interval, from, to })
    }

    /// Every bucket start of the range.
    pub fn starts(&self) -> impl Iterator<Item = i64> + '_ {
        (self.from..self.to).step_by(self.interval.seconds() as usize)
    }

    /// `values` (bucket start → value) laid over every bucket, empty ones 0.
    fn fill(&self, values: &HashMap<i64, i64>) -> Vec<(i64, i64)> {
        self.starts()
            .map(|t| (t, values.get(&t).copied().unwrap_or(0)))
            .collect()
    }
}

/// A named series: (name, total, points).
pub type Series = (String, i64, Vec<(i64, i64)>);

/// Usage per metric and active users per bucket.
#[derive(Debug, Clone)]
pub struct UsageMetrics {
    pub range: Range,
    pub metrics: Vec<Series>,
    pub active_users: Vec<(i64, i64)>,
    /// Distinct users in the whole range (a user of several buckets counts once).
    pub active_users_total: i64,
}

/// Payments per currency, and MRR.
#[derive(Debug, Clone)]
pub struct RevenueMetrics {
    pub range: Range,
    pub currencies: Vec<Series>,
    /// (currency, monthly amount)
    pub mrr: Vec<(String, i64)>,
    pub live_subscriptions: i64,
}

/// The project at a glance.
#[derive(Debug, Clone)]
pub struct Overview {
    pub customers: i64,
    pub tiers: Vec<(Tier, i64)>,
    pub active_users_24h: i64,
    pub active_users_30d: i64,
}

/// Usage counted by this server and not yet written to the time series.
#[derive(Default)]
pub struct Recorder {
    pending: Mutex<Pending>,
    /// When the series was last written, for `/metrics`.
    last_flush: Mutex<Option<std::time::Instant>>,
    /// Off: nothing is recorded (`DREAM_USAGE_SERIES=off`; the benchmark's "before").
    off: bool,
}

#[derive(Default)]
struct Pending {
    counts: HashMap<(Tenant, String, i64), i64>,
    active: HashSet<(Tenant, i64, String)>,
    /// (tenant, hour, user) already written: not queued again.
    written: HashSet<(Tenant, i64, String)>,
}

impl Recorder {
    /// A recorder that records nothing.
    pub fn off() -> Recorder {
        Recorder {
            off: true,
            ..Recorder::default()
        }
    }

    /// Notes a counted track.
    pub fn record(&self, tenant: &Tenant, user_id: &str, metric: &str, amount: i64, at: i64) {
        if self.off {
            return;
        }
        let hour = at - at.rem_euclid(HOUR);
        let mut pending = self.pending.lock().expect("metrics recorder");
        *pending
            .counts
            .entry((tenant.clone(), metric.to_string(), hour))
            .or_insert(0) += amount;
        let seen = (tenant.clone(), hour, user_id.to_string());
        if !pending.written.contains(&seen) {
            pending.active.insert(seen);
        }
    }

    /// Everything pending, leaving nothing.
    fn take(&self) -> UsageBatch {
        let mut pending = self.pending.lock().expect("metrics recorder");
        UsageBatch {
            counts: pending
                .counts
                .drain()
                .map(|((tenant, metric, hour), amount)| (tenant, metric, hour, amount))
                .collect(),
            active: pending.active.drain().collect(),
        }
    }

    /// After a write: remembers who was written, forgetting hours before the last one.
    fn written(&self, batch: UsageBatch, at: i64) {
        *self.last_flush.lock().expect("metrics recorder") = Some(std::time::Instant::now());
        let current = at - at.rem_euclid(HOUR);
        let mut pending = self.pending.lock().expect("metrics recorder");
        pending
            .written
            .retain(|(_, hour, _)| *hour >= current - HOUR);
        if pending.written.len() + batch.active.len() > WRITTEN_CAP {
            pending.written.clear();
        }
        pending.written.extend(batch.active);
    }

    /// Entries waiting to be written, and when the series was last written.
    pub fn state(&self) -> (usize, Option<std::time::Instant>) {
        let pending = {
            let pending = self.pending.lock().expect("metrics recorder");
            pending.counts.len() + pending.active.len()
        };
        (pending, *self.last_flush.lock().expect("metrics recorder"))
    }

    /// Drops what is pending for a deleted project, so no series row outlives it.
    pub fn forget_project(&self, project_id: &str) {
        let mut pending = self.pending.lock().expect("metrics recorder");
        pending
            .counts
            .retain(|(tenant, _, _), _| tenant.project_id != project_id);
        pending
            .active
            .retain(|(tenant, _, _)| tenant.project_id != project_id);
        pending
            .written
            .retain(|(tenant, _, _)| tenant.project_id != project_id);
    }

    /// Puts back a batch whose write failed, so the next flush retries it.
    fn restore(&self, batch: UsageBatch) {
        let mut pending = self.pending.lock().expect("metrics recorder");
        for (tenant, metric, hour, amount) in batch.counts {
            *pending.counts.entry((tenant, metric, hour)).or_insert(0) += amount;
        }
        pending.active.extend(batch.active);
    }
}

impl App {
    /// Writes what the recorder holds to the time series. Called every second and on shutdown.
    pub async fn metrics_flush(&self) {
        let batch = self.recorder.take();
        if batch.is_empty() {
            return;
        }
        match self.store.usage_series_add(&batch).await {
            Ok(()) => self.recorder.written(batch, now()),
            Err(e) => {
                tracing::warn!(error = %e, "writing usage metrics failed; retrying with the next flush");
                self.recorder.restore(batch);
            }
        }
    }

    pub async fn metrics_usage(
        &self,
        tenant: &Tenant,
        range: Range,
        metric: Option<&str>,
    ) -> AppResult<UsageMetrics> {
        let width = range.interval.seconds();
        let rows = self
            .store
            .usage_series(tenant, range.from, range.to, metric)
            .await?;
        let mut per_metric: std::collections::BTreeMap<String, HashMap<i64, i64>> =
            Default::default();
        for (metric, hour, count) in rows {
            *per_metric
                .entry(metric)
                .or_default()
                .entry(hour - hour.rem_euclid(width))
                .or_insert(0) += count;
        }
        let metrics = per_metric
            .into_iter()
            .map(|(metric, values)| (metric, values.values().sum(), range.fill(&values)))
            .collect();
        let active: HashMap<i64, i64> = self
            .store
            .active_users_series(tenant, range.from, range.to, width)
            .await?
            .into_iter()
            .collect();
        let active_users_total = self
            .store
            .active_users_between(tenant, range.from, range.to)
            .await?;
        Ok(UsageMetrics {
            range,
            metrics,
            active_users: range.fill(&active),
            active_users_total,
        })
    }

    pub async fn metrics_revenue(
        &self,
        tenant: &Tenant,
        range: Range,
    ) -> AppResult<RevenueMetrics> {
        let rows = self
            .store
            .revenue_series(tenant, range.from, range.to, range.interval.seconds())
            .await?;
        let mut per_currency: std::collections::BTreeMap<String, HashMap<i64, i64>> =
            Default::default();
        // Sums saturate: amounts are capped when recorded, so only an absurd number of
        // payments could reach i64's limit, and that must not turn the page into a 500.
        for (currency, start, amount) in rows {
            let sum = per_currency
                .entry(currency)
                .or_default()
                .entry(start)
                .or_insert(0);
            *sum = sum.saturating_add(amount);
        }
        let currencies = per_currency
            .into_iter()
            .map(|(currency, values)| {
                let total = values.values().fold(0i64, |a, b| a.saturating_add(*b));
                (currency, total, range.fill(&values))
            })
            .collect();
        let tiers: HashMap<String, Tier> = self
            .store
            .tier_list(tenant, true)
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let live = self.store.live_subscription_tiers(tenant).await?;
        let mut mrr: std::collections::BTreeMap<String, i64> = Default::default();
        for tier_id in &live {
            if let Some(price) = tiers.get(tier_id).and_then(|t| t.price.as_ref()) {
                let monthly = match price.interval {
                    PriceInterval::Year => price.unit_amount / 12,
                    PriceInterval::Month => price.unit_amount,
                };
                let sum = mrr.entry(price.currency.clone()).or_insert(0);
                *sum = sum.saturating_add(monthly);
            }
        }
        Ok(RevenueMetrics {
            range,
            currencies,
            mrr: mrr.into_iter().collect(),
            live_subscriptions: live.len() as i64,
        })
    }

    pub async fn metrics_overview(&self, tenant: &Tenant) -> AppResult<Overview> {
        let tiers = self.store.tier_list(tenant, true).await?;
        let default = tiers.iter().find(|t| t.is_default).map(|t| t.id.clone());
        let known = |id: &Option<String>| {
            id.as_ref()
                .filter(|id| tiers.iter().any(|t| &t.id == *id))
                .cloned()
        };
        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut customers = 0;
        for (override_id, sub_tier, n) in self.store.customers_by_plan(tenant).await? {
            customers += n;
            if let Some(tier) = known(&override_id)
                .or_else(|| known(&sub_tier))
                .or_else(|| default.clone())
            {
                *counts.entry(tier).or_insert(0) += n;
            }
        }
        let at = now();
        Ok(Overview {
            customers,
            tiers: tiers
                .into_iter()
                .filter(|t| t.active || counts.contains_key(&t.id))
                .map(|t| {
                    let n = counts.get(&t.id).copied().unwrap_or(0);
                    (t, n)
                })
                .collect(),
            active_users_24h: self
                .store
                .active_users_between(tenant, at - DAY, i64::MAX)
                .await?,
            active_users_30d: self
                .store
                .active_users_between(tenant, at - 30 * DAY, i64::MAX)
                .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_to_buckets_and_default_to_the_latest() {
        let r = Range::new(Interval::Hour, Some(7_250), Some(10_900), 24).unwrap();
        assert_eq!((r.from, r.to), (7_200, 14_400));
        assert_eq!(r.starts().collect::<Vec<_>>(), vec![7_200, 10_800]);
        let r = Range::new(Interval::Day, None, Some(DAY * 40 + 5), 30).unwrap();
        assert_eq!((r.from, r.to), (DAY * 11, DAY * 41));
        assert!(Range::new(Interval::Hour, Some(HOUR * 5), Some(HOUR * 5), 24).is_err());
        assert!(Range::new(Interval::Hour, Some(0), Some(HOUR * 745), 24).is_err());
        assert!(Range::new(Interval::Hour, Some(0), Some(HOUR * 744), 24).is_ok());
    }

    fn tenant() -> Tenant {
        Tenant {
            project_id: "proj_1".into(),
            mode: crate::domain::Mode::Test,
        }
    }

    fn sorted(mut batch: UsageBatch) -> UsageBatch {
        batch.counts.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
        batch.active.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
        batch
    }

    #[test]
    fn the_recorder_sums_per_hour_and_names_each_user_once() {
        let recorder = Recorder::default();
        let t = tenant();
        recorder.record(&t, "ada", "requests", 2, HOUR + 5);
        recorder.record(&t, "ada", "requests", 3, HOUR + 50);
        recorder.record(&t, "bob", "tokens", 7, 2 * HOUR + 1);
        let batch = sorted(recorder.take());
        assert_eq!(
            batch.counts,
            vec![
                (t.clone(), "requests".into(), HOUR, 5),
                (t.clone(), "tokens".into(), 2 * HOUR, 7)
            ]
        );
        assert_eq!(
            batch.active,
            vec![
                (t.clone(), HOUR, "ada".into()),
                (t.clone(), 2 * HOUR, "bob".into())
            ]
        );
        recorder.written(batch, 2 * HOUR + 2);
        // Written users are not queued again in the same hour; the counts still are.
        recorder.record(&t, "bob", "tokens", 1, 2 * HOUR + 9);
        let next = recorder.take();
        assert_eq!(next.counts, vec![(t.clone(), "tokens".into(), 2 * HOUR, 1)]);
        assert!(next.active.is_empty());
        assert!(recorder.take().is_empty());
    }

    #[test]
    fn a_failed_write_is_put_back_and_merged_with_what_came_since() {
        let recorder = Recorder::default();
        let t = tenant();
        recorder.record(&t, "ada", "requests", 2, 10);
        let failed = recorder.take();
        recorder.record(&t, "ada", "requests", 1, 20);
        recorder.restore(failed);
        let batch = recorder.take();
        assert_eq!(batch.counts, vec![(t.clone(), "requests".into(), 0, 3)]);
        assert_eq!(batch.active, vec![(t, 0, "ada".into())]);
    }

    #[test]
    fn a_recorder_that_is_off_records_nothing() {
        let recorder = Recorder::off();
        recorder.record(&tenant(), "ada", "requests", 2, 10);
        assert!(recorder.take().is_empty());
    }
}
