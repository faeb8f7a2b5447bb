//! Rate limiting: GCRA (the generic cell rate algorithm) per user, and per publishable key on
//! anonymous public reads, in-process or in Redis.
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT): a request at `now` is
//! allowed when `max(TAT, now) + interval - now <= period`, and moves the TAT on by one
//! `interval = period / requests`. It lets a full burst of `requests` through and then spaces
//! them evenly — the behaviour of a sliding window without storing a log of timestamps — and
//! it is exact with one read and one write, which is what an atomic Redis script can do.
//!
//! Redis decides with its own clock (`TIME`) inside one Lua script, so any number of replicas
//! share one exact limit. If Redis cannot answer within [`REDIS_TIMEOUT`], the request is let
//! through (fail open) and the failure logged: hard usage limits live in the database and stay
//! exact either way, so an outage of the limiter removes burst protection for a moment rather
//! than taking the API down. After a failure Redis is not asked again for [`REDIS_BACKOFF`].

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a request waits for Redis before it is let through.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// How long Redis is skipped after it failed.
pub const REDIS_BACKOFF: Duration = Duration::from_secs(1);

/// `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub requests: u64,
    pub period_ms: u64,
}

impl Rule {
    pub fn per_seconds(requests: u64, seconds: u64) -> Rule {
        Rule {
            requests: requests.max(1),
            period_ms: seconds.max(1) * 1000,
        }
    }

    fn interval_ms(self) -> f64 {
        self.period_ms as f64 / self.requests as f64
    }
}

/// What the limiter decided, with what the response headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the full quota is available again.
    pub reset_ms: u64,
    /// Milliseconds until the next request would be allowed (0 when allowed).
    pub retry_after_ms: u64,
}

/// GCRA at `now` with the stored TAT (`None`: never seen, or expired). Returns the decision
/// and the TAT to store when allowed.
pub fn gcra(tat: Option<f64>, now: f64, rule: Rule) -> (Decision, Option<f64>) {
    let interval = rule.interval_ms();
    let period = rule.period_ms as f64;
    let tat = tat.map_or(now, |t| t.max(now));
    let new_tat = tat + interval;
    if new_tat - now > period + 1e-6 {
        let retry = (new_tat - period - now).ceil().max(1.0) as u64;
        let decision = Decision {
            allowed: false,
            limit: rule.requests,
            remaining: 0,
            reset_ms: (tat - now).ceil() as u64,
            retry_after_ms: retry,
        };
        return (decision, None);
    }
    let remaining = ((period - (new_tat - now)) / interval + 1e-6)
        .floor()
        .max(0.0) as u64;
    let decision = Decision {
        allowed: true,
        limit: rule.requests,
        remaining,
        reset_ms: (new_tat - now).ceil() as u64,
        retry_after_ms: 0,
    };
    (decision, Some(new_tat))
}

/// Milliseconds on a clock that never steps back (the in-process limiter's time base).
fn now_ms() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0 + 1.0
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Where the limiter keeps its state.
pub enum Limiter {
    /// In this process: one server.
    Local(LocalLimiter),
    /// In Redis: any number of replicas.
    Redis(RedisLimiter),
}

impl Limiter {
    /// Decides on one request for `key`; `None` when the limiter could not decide (let it
    /// through).
    pub async fn check(&self, key: &str, rule: Rule) -> Option<Decision> {
        match self {
            Limiter::Local(l) => Some(l.check(key, rule, now_ms())),
            Limiter::Redis(r) => r.check(key, rule).await,
        }
    }
}

/// The in-process limiter: sharded maps from a key's hash to its TAT, holding at most
/// `capacity` keys. A key whose TAT has passed is the same as an absent one, so full maps
/// first drop those; if every key is still active, the ones closest to expiry go (those users
/// get a fresh quota early — memory stays bounded whatever the traffic).
pub struct LocalLimiter {
    shards: Vec<Mutex<HashMap<u64, f64>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

const SHARDS: usize = 32;

impl LocalLimiter {
    pub fn new(capacity: usize) -> LocalLimiter {
        LocalLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(16),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn check(&self, key: &str, rule: Rule, now: f64) -> Decision {
        let hash = self.hash(key);
        let mut shard = self.shards[(hash as usize) % SHARDS]
            .lock()
            .expect("limiter shard");
        let (decision, new_tat) = gcra(shard.get(&hash).copied(), now, rule);
        if let Some(tat) = new_tat {
            if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
                shard.retain(|_, tat| *tat > now);
                if shard.len() >= self.per_shard {
                    let mut tats: Vec<f64> = shard.values().copied().collect();
                    tats.sort_by(f64::total_cmp);
                    let cut = tats[tats.len() / 2];
                    shard.retain(|_, tat| *tat > cut);
                }
            }
            shard.insert(hash, tat);
        }
        decision
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("shard").len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The script: GCRA on Redis's clock, one key, atomic. Returns
/// `{allowed, remaining, reset_ms, retry_after_ms}`.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period + 0.000001 then
  local retry = math.max(1, math.ceil(new_tat - period - now))
  return {0, 0, math.ceil(tat - now), retry}
end
redis.call('SET', KEYS[1], string.format('%.4f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
local remaining = math.floor((period - (new_tat - now)) / interval + 0.000001)
return {1, remaining, math.ceil(new_tat - now), 0}
"#;

/// The Redis limiter: one script call per request.
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    /// Unix milliseconds until which Redis is not asked (after a failure).
    skip_until: AtomicU64,
    /// When a failure was last logged, so an outage logs once a second, not per request.
    logged_at: AtomicU64,
}

impl RedisLimiter {
    /// Connects to `url` (`redis://host:port`), failing if Redis does not answer.
    pub async fn connect(url: &str) -> anyhow::Result<RedisLimiter> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        // Named without its credentials: `redis://:secret@host:6379` shows as `host:6379`.
        let shown = url.rsplit('@').next().unwrap_or(url);
        let shown = shown
            .trim_start_matches("redis://")
            .trim_start_matches("rediss://");
        let unreachable = |why: String| {
            anyhow::anyhow!(
                "Redis (REDIS_URL) at {shown} is unreachable: {why}. Start it, or unset \
                 REDIS_URL to limit rates in process."
            )
        };
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unreachable("it did not answer within 5 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        Ok(RedisLimiter {
            connection,
            script: redis::Script::new(GCRA_LUA),
            skip_until: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
        })
    }

    async fn check(&self, key: &str, rule: Rule) -> Option<Decision> {
        let now = unix_ms();
        if now < self.skip_until.load(Ordering::Relaxed) {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("dream:rl:{key}"));
        invocation.arg(rule.period_ms).arg(rule.requests);
        let answer = tokio::time::timeout(
            REDIS_TIMEOUT,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(values)) if values.len() == 4 => Some(Decision {
                allowed: values[0] == 1,
                limit: rule.requests,
                remaining: values[1].max(0) as u64,
                reset_ms: values[2].max(0) as u64,
                retry_after_ms: values[3].max(0) as u64,
            }),
            other => {
                self.skip_until
                    .store(now + REDIS_BACKOFF.as_millis() as u64, Ordering::Relaxed);
                let last = self.logged_at.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= 1000
                    && self
                        .logged_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    let reason = match other {
                        Ok(Ok(values)) => format!("unexpected answer {values:?}"),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => format!("no answer within {REDIS_TIMEOUT:?}"),
                    };
                    tracing::warn!(%reason, "rate limiter: Redis failed; letting requests through");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_then_one_per_interval() {
        let rule = Rule::per_seconds(5, 10);
        let mut tat = None;
        for n in 0..5 {
            let (d, next) = gcra(tat, 0.0, rule);
            assert!(d.allowed, "request {n}");
            assert_eq!(d.remaining, 4 - n);
            tat = next;
        }
        let (refused, none) = gcra(tat, 0.0, rule);
        assert!(!refused.allowed);
        assert_eq!(none, None);
        assert_eq!(refused.retry_after_ms, 2000, "one interval");
        // One interval later exactly one more request fits.
        let (d, next) = gcra(tat, 2000.0, rule);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!gcra(next, 2000.0, rule).0.allowed);
    }

    #[test]
    fn the_local_limiter_holds_at_most_its_capacity() {
        let limiter = LocalLimiter::new(10_000);
        let rule = Rule::per_seconds(100, 60);
        for user in 0..1_000_000 {
            let d = limiter.check(&format!("user-{user}"), rule, 1_000.0);
            assert!(d.allowed);
        }
        assert!(limiter.len() <= 10_000, "{} keys held", limiter.len());
        // A hot key keeps its state among the churn while it is active.
        for n in 0..100 {
            assert!(limiter.check("hot", rule, 2_000.0).allowed, "request {n}");
        }
        assert!(!limiter.check("hot", rule, 2_000.0).allowed);
    }
}
