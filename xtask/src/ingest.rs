//! The batch-ingest row: usage events sent to `POST /v1/usage/events` in batches of 1,000, each
//! batch over 1,000 distinct users of the registered ones, by a few concurrent senders, against
//! pgbench running the multi-row upsert of the same shape (1,000 rows of `usage_counters`'
//! columns and key per statement) on the same database.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

/// Events per request (the API's maximum) and per baseline statement.
const BATCH: usize = 1000;
/// Concurrent senders, and pgbench clients.
const SENDERS: usize = 4;

/// Events per second ingested by `dream` at `base`, and by the pgbench baseline.
pub struct Figures {
    pub ours: f64,
    pub batches: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub baseline: f64,
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

/// Sends batches for `duration` seconds from [`SENDERS`] tasks; every batch must count all of
/// its events.
pub async fn measure(
    base_url: &str,
    secret_key: &str,
    users: usize,
    duration: u64,
    database_url: &str,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let users = users.max(BATCH);
    let run = format!("bench{}", std::process::id());
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
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;

    // The baseline: the same rows' upsert, 1,000 distinct keys a statement in key order (as the
    // server writes them, so concurrent statements never deadlock), on a copy of the counters'
    // table (its columns, key and indexes).
    super::psql(
        database_url,
        &format!(
            "CREATE TABLE bench_ingest (LIKE usage_counters INCLUDING ALL); \
             INSERT INTO bench_ingest (project_id, mode, user_id, metric, period, count) \
             SELECT 'proj', 'test', 'user_bench_' || g, 'ai_tokens', '2026-11', 0 \
             FROM generate_series(0, {}) g",
            users - 1
        ),
    )?;
    let script = format!(
        "\\set base random(0, {last})\n\
         INSERT INTO bench_ingest (project_id, mode, user_id, metric, period, count) \
         SELECT 'proj', 'test', 'user_bench_' || ((:base + g) % {users}), 'ai_tokens', '2026-11', 1 + g % 7 \
         FROM generate_series(0, {batch_last}) g ORDER BY 3 \
         ON CONFLICT (project_id, mode, user_id, metric, period) \
         DO UPDATE SET count = bench_ingest.count + excluded.count RETURNING count;\n",
        last = users - 1,
        batch_last = BATCH - 1,
    );
    let tps = super::pgbench(database_url, dir, "ingest", &script, duration, SENDERS)?;
    Ok(Figures {
        ours: batches as f64 * BATCH as f64 / elapsed,
        batches,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        baseline: tps * BATCH as f64,
    })
}
