//! The batch-ingest row: usage events sent to `POST /v1/usage/events` in batches of 1,000, each
//! batch over 1,000 distinct users of the registered ones, by a few concurrent senders, against
//! pgbench running the multi-row upsert of the same shape (1,000 rows of `usage_counters`'
//! columns and key per statement) on the same database — the row's target. Beside it, pgbench
//! doing the same two writes as the server (the events' ids claimed in a copy of
//! `usage_events`, then the counters' upsert, in one transaction): what the database alone
//! costs for the server's design, so a reader can tell the server's overhead from the design's.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

/// Events per request (the API's maximum) and per baseline statement.
const BATCH: usize = 1000;
/// Concurrent senders, and pgbench clients.
const SENDERS: usize = 4;

/// Events per second ingested by `dream` at `base`, and by the pgbench baselines: each the
/// median of the runs, with the spread.
pub struct Figures {
    pub ours: (f64, f64, f64),
    pub batches: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub baseline: (f64, f64, f64),
    pub same_writes: (f64, f64, f64),
}

/// A batch of events for users `base .. base + BATCH` (mod `users`), with ids unique to the run.
fn body(run: &str, sender: usize, n: u64, base: usize, users: usize) -> String {
    let events: Vec<_> = (0..BATCH)
        .map(|i| {
            json!({
                "id": format!("{run}-{sender}-{n}-{i}"),
                "userId": format!("user_bench_{}", (base + i) % users),
                "metric": "ai_tokens",
                "amount": 1 + (i % 7),
            })
        })
        .collect();
    json!({ "events": events }).to_string()
}

/// The environment variable that hands the sender its secret key.
const KEY_VAR: &str = "DREAM_BENCH_SECRET_KEY";

/// `runs` runs of the sender (`xtask ingest-load` from `bin`), then of each baseline.
pub fn measure(
    bin: &Path,
    base_url: &str,
    secret_key: &str,
    (users, duration, runs): (usize, u64, usize),
    database_url: &str,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let users = users.max(BATCH);
    let mut rates = Vec::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut batches = 0;
    for n in 0..runs.max(1) {
        let said = super::run(
            Command::new(bin.join("xtask"))
                .args(["ingest-load", base_url])
                .args([users.to_string(), duration.to_string()])
                .arg(format!("bench{}-{n}", std::process::id()))
                .env(KEY_VAR, secret_key),
        )?;
        let mut words = said.split_whitespace();
        let mut next = || -> anyhow::Result<f64> {
            Ok(words
                .next()
                .with_context(|| format!("the sender printed {said:?}"))?
                .parse()?)
        };
        rates.push(next()?);
        let sent = next()? as u64;
        batches += sent;
        for _ in 0..sent {
            latencies.push(next()?);
        }
    }
    rates.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];

    // The baselines: the same rows' upsert, 1,000 distinct keys a statement in key order (as the
    // server writes them, so concurrent statements never deadlock), on a copy of the counters'
    // table (its columns, key and indexes); and before it, in the same transaction, the claim
    // of 1,000 new event ids in a copy of the events' table (with its key to the project).
    let project = super::psql(
        database_url,
        "SELECT id FROM projects ORDER BY created_at LIMIT 1",
    )?;
    let project = project.trim();
    super::psql(
        database_url,
        &format!(
            "CREATE TABLE bench_ingest (LIKE usage_counters INCLUDING ALL); \
             INSERT INTO bench_ingest (project_id, mode, user_id, metric, period, count) \
             SELECT 'proj', 'test', 'user_bench_' || g, 'ai_tokens', '2026-11', 0 \
             FROM generate_series(0, {}) g; \
             CREATE TABLE bench_claims (LIKE usage_events INCLUDING ALL, \
               FOREIGN KEY (project_id) REFERENCES projects (id))",
            users - 1
        ),
    )?;
    let upsert = format!(
        "INSERT INTO bench_ingest (project_id, mode, user_id, metric, period, count) \
         SELECT 'proj', 'test', 'user_bench_' || ((:base + g) % {users}), 'ai_tokens', '2026-11', 1 + g % 7 \
         FROM generate_series(0, {batch_last}) g ORDER BY 3 \
         ON CONFLICT (project_id, mode, user_id, metric, period) \
         DO UPDATE SET count = bench_ingest.count + excluded.count RETURNING count;\n",
        batch_last = BATCH - 1,
    );
    let claim = format!(
        "INSERT INTO bench_claims (project_id, mode, event_id, user_id, metric, amount, period, occurred_at, created_at) \
         SELECT '{project}', 'test', 'pg-' || :client_id || '-' || (random() * 1e15)::bigint || '-' || g, \
         'user_bench_' || ((:base + g) % {users}), 'ai_tokens', 1 + g % 7, '2026-11', 0, 0 \
         FROM generate_series(0, {batch_last}) g ORDER BY 3 \
         ON CONFLICT (project_id, mode, event_id) DO NOTHING RETURNING event_id;\n",
        batch_last = BATCH - 1,
    );
    let base = format!("\\set base random(0, {})\n", users - 1);
    let pgbench = |name: &str, script: &str| {
        super::median_of(runs, || {
            Ok(
                super::pgbench(database_url, dir, name, script, duration, SENDERS)?.rps
                    * BATCH as f64,
            )
        })
    };
    let baseline = pgbench("ingest", &format!("{base}{upsert}"))?;
    let same_writes = pgbench(
        "ingest-same-writes",
        &format!("{base}BEGIN;\n{claim}{upsert}COMMIT;\n"),
    )?;
    Ok(Figures {
        ours: (rates[rates.len() / 2], rates[0], rates[rates.len() - 1]),
        batches,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        baseline,
        same_writes,
    })
}

/// `xtask ingest-load`: prints the events per second, the number of batches, and each batch's
/// time in milliseconds, on one line.
pub async fn load(url: &str, users: usize, duration: u64, run: &str) -> anyhow::Result<()> {
    let key = std::env::var(KEY_VAR).with_context(|| format!("{KEY_VAR} is not set"))?;
    let (rate, batches, latencies) = send(url, &key, users, duration, run).await?;
    let mut line = format!("{rate:.1} {batches}");
    for latency in latencies {
        line.push_str(&format!(" {:.3}", latency.as_secs_f64() * 1e3));
    }
    println!("{line}");
    Ok(())
}

/// Sends batches for `duration` seconds from [`SENDERS`] tasks, ids unique to `run`; every
/// batch must count all of its events. Events per second, batches sent, each batch's time.
async fn send(
    base_url: &str,
    secret_key: &str,
    users: usize,
    duration: u64,
    run: &str,
) -> anyhow::Result<(f64, u64, Vec<Duration>)> {
    let run = run.to_string();
    let http = reqwest::Client::new();
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(duration);
    let start = Instant::now();
    let tasks = (0..SENDERS).map(|sender| {
        let http = http.clone();
        let url = format!("{base_url}/v1/usage/events");
        let key = secret_key.to_string();
        let run = run.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0_u64;
            while Instant::now() < deadline {
                let base = ((n as usize) * 7919 + sender * 2503) % users;
                let payload = body(&run, sender, n, base, users);
                let began = Instant::now();
                let response = http
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await?;
                latencies.push(began.elapsed());
                if !status.is_success() || answer["counted"] != BATCH {
                    bail!("a batch was not counted whole: {status} {answer}");
                }
                sent.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    });
    let mut latencies = Vec::new();
    for task in futures::future::join_all(tasks).await {
        latencies.extend(task??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let batches = sent.load(Ordering::Relaxed);
    if batches == 0 {
        bail!("no batch was sent");
    }
    Ok((batches as f64 * BATCH as f64 / elapsed, batches, latencies))
}
