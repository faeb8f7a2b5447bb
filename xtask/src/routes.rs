//! The server's own latency per route, read from its `/metrics` before and after a row: which
//! kind of request of a mixed load makes the row's tail. wrk keeps one histogram for every
//! request it sends, so a row that mixes tracks and checks cannot say by itself which of the
//! two is slow.

use std::collections::BTreeMap;

use anyhow::Context;

/// The histogram series of `dream_http_request_duration_seconds`.
const SERIES: &str = "dream_http_request_duration_seconds_bucket{";

/// Each route's cumulative bucket counts, `(upper bound in seconds, requests at or under it)`,
/// keyed by `METHOD route`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(BTreeMap<String, Vec<(f64, u64)>>);

/// What `/metrics` says now.
pub async fn scrape(http: &reqwest::Client, base: &str) -> anyhow::Result<Snapshot> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    parse(&text)
}

/// The request-duration buckets of a Prometheus text exposition.
fn parse(text: &str) -> anyhow::Result<Snapshot> {
    let mut routes: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(SERIES)) {
        let (labels, count) = line[SERIES.len()..]
            .split_once("} ")
            .with_context(|| format!("a bucket line without its count: {line}"))?;
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\""))
                .map(|v| v.trim_end_matches('"'))
                .with_context(|| format!("a bucket line without `{name}`: {line}"))
        };
        let le = match label("le")? {
            "+Inf" => f64::INFINITY,
            le => le.parse()?,
        };
        let count: u64 = count.trim().parse()?;
        routes
            .entry(format!("{} {}", label("method")?, label("route")?))
            .or_default()
            .push((le, count));
    }
    for buckets in routes.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(Snapshot(routes))
}

/// One route's requests between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub requests: u64,
    /// The 99th percentile, interpolated within its bucket as Prometheus's
    /// `histogram_quantile` does, in milliseconds.
    pub p99_ms: f64,
    /// The share of the requests that took more than 4 ms in the server, in percent.
    pub over_4ms: f64,
}

impl Snapshot {
    /// `route`'s requests made between `before` and `self`; `None` when it had none.
    pub fn since(&self, before: &Snapshot, route: &str) -> Option<Latency> {
        let after = self.0.get(route)?;
        let earlier = |le: f64| {
            before
                .0
                .get(route)
                .and_then(|b| b.iter().find(|(l, _)| *l == le))
                .map_or(0, |(_, n)| *n)
        };
        let buckets: Vec<(f64, u64)> = after
            .iter()
            .map(|&(le, n)| (le, n.saturating_sub(earlier(le))))
            .collect();
        let requests = buckets.last()?.1;
        if requests == 0 {
            return None;
        }
        let under_4ms = buckets
            .iter()
            .rev()
            .find(|(le, _)| *le <= 0.004)
            .map_or(0, |(_, n)| *n);
        Some(Latency {
            requests,
            p99_ms: quantile(&buckets, 0.99) * 1000.0,
            over_4ms: 100.0 * (requests - under_4ms) as f64 / requests as f64,
        })
    }
}

/// The `q` quantile of cumulative `buckets`, linear within the bucket it falls in; the last
/// finite bound when it falls in `+Inf`.
fn quantile(buckets: &[(f64, u64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0, |b| b.1) as f64;
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, n) in buckets {
        let n = n as f64;
        if n >= rank {
            if le.is_infinite() {
                return lower;
            }
            return lower + (le - lower) * (rank - below) / (n - below).max(1.0);
        }
        (lower, below) = (le, n);
    }
    lower
}

/// `track p99 ≈ 2.1 ms (0.4% over 4 ms), check p99 ≈ 0.9 ms (0.0% over 4 ms)`: each kind's
/// latency in the server over a row.
pub fn line(after: &Snapshot, before: &Snapshot, kinds: &[(&str, &str)]) -> String {
    kinds
        .iter()
        .map(|(name, route)| match after.since(before, route) {
            Some(l) => format!(
                "{name} p99 ≈ {:.2} ms ({:.1}% over 4 ms; {} requests)",
                l.p99_ms, l.over_4ms, l.requests
            ),
            None => format!("{name}: no requests"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(track: [u64; 4], check: [u64; 4]) -> String {
        let mut text = String::from(
            "# TYPE dream_http_request_duration_seconds histogram\n\
             dream_http_request_duration_seconds_sum{method=\"POST\",route=\"/v1/usage/track\"} 1.0\n",
        );
        for (route, method, counts) in
            [("/v1/usage/track", "POST", track), ("/v1/me", "GET", check)]
        {
            for (le, n) in ["0.001", "0.002", "0.004", "+Inf"].iter().zip(counts) {
                text.push_str(&format!(
                    "dream_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{le}\"}} {n}\n"
                ));
            }
        }
        text
    }

    #[test]
    fn a_routes_latency_is_what_happened_between_the_snapshots() {
        let before = parse(&exposition([10, 10, 10, 10], [5, 5, 5, 5])).unwrap();
        // 100 more tracks: 50 under 1 ms, 45 in 1–2 ms, 3 in 2–4 ms, 2 over 4 ms.
        let after = parse(&exposition([60, 105, 108, 110], [105, 105, 105, 105])).unwrap();
        let track = after.since(&before, "POST /v1/usage/track").unwrap();
        assert_eq!(track.requests, 100);
        assert!((track.over_4ms - 2.0).abs() < 1e-9, "{track:?}");
        // Rank 99 of 100 falls in the 2–4 ms bucket (95 below, 98 at its top): beyond it,
        // so in +Inf, whose lower bound is 4 ms.
        assert!((track.p99_ms - 4.0).abs() < 1e-9, "{track:?}");
        let check = after.since(&before, "GET /v1/me").unwrap();
        assert_eq!(check.requests, 100);
        assert_eq!(check.over_4ms, 0.0);
        assert!((check.p99_ms - 0.99).abs() < 1e-9, "{check:?}");
        assert_eq!(after.since(&before, "GET /v1/other"), None);
    }

    #[test]
    fn the_line_names_each_kind() {
        let before = Snapshot::default();
        let after = parse(&exposition([0, 100, 100, 100], [0, 0, 0, 0])).unwrap();
        let line = line(
            &after,
            &before,
            &[("track", "POST /v1/usage/track"), ("check", "GET /v1/me")],
        );
        assert_eq!(
            line,
            "track p99 ≈ 1.99 ms (0.0% over 4 ms; 100 requests), check: no requests"
        );
    }
}
