//! The upload rows of `cargo xtask bench`: asset upload throughput against a minimal axum
//! handler streaming the same bytes to a file on the same disk (and, on S3, against a plain
//! `PUT` of the same object to the same S3-compatible server), and the server's peak memory
//! during 8 concurrent uploads of 10, 40 and 160 MB files: streamed, not buffered, memory
//! must level off, not grow with file size.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use futures::StreamExt;

use super::{Running, peak_rss_mb, spread, start, word_after};

/// Concurrent uploads in the memory rows.
const CONCURRENT: usize = 8;
const MB: usize = 1_000_000;

/// `len` bytes that do not compress (xorshift), as an uploaded photo would not.
fn payload(len: usize) -> Bytes {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Bytes::from(bytes)
}

/// Sends `count` uploads of `body` to `url` (`{n}` replaced by the upload's number), at most
/// `concurrency` at once; the time they took.
async fn send_all(
    http: &reqwest::Client,
    url: &str,
    secret_key: Option<&str>,
    method: reqwest::Method,
    body: &Bytes,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut sends = futures::stream::iter(0..count)
        .map(|n| {
            let mut request = http
                .request(method.clone(), url.replace("{n}", &n.to_string()))
                .header("content-type", "application/octet-stream")
                .body(body.clone());
            if let Some(key) = secret_key {
                request = request.bearer_auth(key);
            }
            async move {
                let response = request.send().await?;
                let status = response.status();
                if !status.is_success() {
                    bail!("upload {n}: {status} {}", response.text().await?);
                }
                Ok(())
            }
        })
        .buffer_unordered(concurrency);
    while let Some(sent) = sends.next().await {
        sent?;
    }
    Ok(started.elapsed())
}

/// A median and its spread in MB, as the table shows it.
fn mb((median, low, high): (f64, f64, f64)) -> String {
    format!("{median:.1} MB ({low:.1}–{high:.1})")
}

fn mb_per_s(bytes: usize, count: usize, took: Duration) -> f64 {
    (bytes * count) as f64 / MB as f64 / took.as_secs_f64()
}

/// A `dream serve` whose assets go to `assets` (a folder or `s3://…`, with `env`), with room
/// for the large files.
fn dream_serve(
    dream: &Path,
    database_url: &str,
    assets: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(Running, String, u32)> {
    let mut serve = Command::new(dream);
    serve
        .args(["--database-url", database_url, "serve", "--port", "0"])
        .env("DREAM_HOST", "127.0.0.1")
        .env("RUST_LOG", "error")
        .env("DREAM_ASSETS_URL", assets)
        .env("DREAM_ASSET_MAX_BYTES", (256 * MB).to_string())
        .env("DREAM_ASSET_QUOTA_BYTES", (1u64 << 40).to_string())
        .env_remove("REDIS_URL");
    for (name, value) in env {
        serve.env(name, value);
    }
    let (server, banner) = start(serve, "Docs:")?;
    let pid = server.0.id();
    let base = word_after(&banner, "running at ")?.to_string();
    Ok((server, base, pid))
}

/// The peak memory of a fresh server through `rounds` rounds of [`CONCURRENT`] uploads of
/// `size` bytes.
async fn peak_during(
    http: &reqwest::Client,
    serve: impl Fn() -> anyhow::Result<(Running, String, u32)>,
    secret_key: &str,
    size: usize,
    rounds: usize,
) -> anyhow::Result<f64> {
    let (server, base, pid) = serve()?;
    let url = format!("{base}/v1/assets?filename=concurrent-{{n}}.bin");
    let body = payload(size);
    send_all(
        http,
        &url,
        Some(secret_key),
        reqwest::Method::POST,
        &body,
        CONCURRENT * rounds,
        CONCURRENT,
    )
    .await?;
    let rss = peak_rss_mb(pid)?;
    drop(server);
    Ok(rss)
}

/// The time a fresh server takes to store `count` uploads of `body`, one at a time.
async fn one_at_a_time(
    http: &reqwest::Client,
    serve: impl Fn() -> anyhow::Result<(Running, String, u32)>,
    secret_key: &str,
    body: &Bytes,
    count: usize,
) -> anyhow::Result<Duration> {
    let (server, base, _) = serve()?;
    let url = format!("{base}/v1/assets?filename=bench-{{n}}.bin");
    let took = send_all(
        http,
        &url,
        Some(secret_key),
        reqwest::Method::POST,
        body,
        count,
        1,
    )
    .await;
    drop(server);
    took
}

/// The upload rows of the table.
pub async fn rows(
    bin: &Path,
    dream: &Path,
    dir: &Path,
    database_url: &str,
    secret_key: &str,
    (smoke, runs): (bool, usize),
    verdict: &dyn Fn(bool) -> &'static str,
) -> anyhow::Result<String> {
    // A smoke run (debug build) proves the steps with small files.
    let (small, large, huge, count, rounds) = if smoke {
        (MB, 4 * MB, 8 * MB, 2, 1)
    } else {
        (10 * MB, 40 * MB, 160 * MB, 10, 3)
    };
    let http = reqwest::Client::new();
    let body = payload(small);
    let folder = dir.join("assets");
    let _ = std::fs::remove_dir_all(&folder);
    let local = folder.to_string_lossy().to_string();
    let serve_local = || dream_serve(dream, database_url, &local, &[]);

    eprintln!("== uploads: {count} × {} MB, local disk", small / MB);
    let ours = one_at_a_time(&http, serve_local, secret_key, &body, count).await?;
    eprintln!("== baseline: a minimal axum handler streaming the body to a file");
    let baseline_dir = dir.join("baseline-uploads");
    std::fs::create_dir_all(&baseline_dir)?;
    let mut constant = Command::new(bin.join("xtask"));
    constant
        .arg("baseline-server")
        .arg("--upload-dir")
        .arg(&baseline_dir);
    let (baseline, said) = start(constant, "listening on")?;
    let baseline_url = word_after(&said, "listening on ")?.to_string();
    let theirs = send_all(
        &http,
        &format!("{baseline_url}/upload/{{n}}"),
        None,
        reqwest::Method::POST,
        &body,
        count,
        1,
    )
    .await?;
    drop(baseline);
    std::fs::remove_dir_all(&baseline_dir)?;
    let (ours_mbs, theirs_mbs) = (mb_per_s(small, count, ours), mb_per_s(small, count, theirs));
    let r1 = ours_mbs / theirs_mbs;

    eprintln!(
        "== uploads: peak memory, {CONCURRENT} concurrent, {} MB and {} MB files",
        small / MB,
        large / MB
    );
    // A fresh server's peak varies by several MB from run to run (how many threads the
    // writes happened to use, what the allocator had not yet given back), so each size is
    // measured `runs` times, the sizes in turn, and the row is the median of each 160 MB
    // run's peak over the 40 MB run's just before it.
    let (mut smalls, mut larges, mut huges, mut ratios) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs.max(1) {
        smalls.push(peak_during(&http, serve_local, secret_key, small, rounds).await?);
        let large_rss = peak_during(&http, serve_local, secret_key, large, 1).await?;
        let _ = std::fs::remove_dir_all(&folder);
        let huge_rss = peak_during(&http, serve_local, secret_key, huge, 1).await?;
        let _ = std::fs::remove_dir_all(&folder);
        larges.push(large_rss);
        huges.push(huge_rss);
        ratios.push(huge_rss / large_rss);
    }
    let (rss_small, rss_large, rss_huge, r2) = (
        spread(&mut smalls),
        spread(&mut larges),
        spread(&mut huges),
        spread(&mut ratios),
    );

    let mut table = format!(
        "| upload a {} MB file, local disk, one at a time | {ours_mbs:.0} MB/s | minimal axum handler streaming it to a file: {theirs_mbs:.0} MB/s | {r1:.2}× | ≥ 0.5× | {} |\n",
        small / MB,
        verdict(r1 >= 0.5)
    );
    // Each upload holds at most a part being filled and the parts in flight, whatever the
    // file's size: memory levels off once files are larger than that.
    table.push_str(&format!(
        "| server memory, {CONCURRENT} concurrent uploads of {} MB files (median of {n} fresh server(s) each) | peak RSS {} | the same with {} MB files: {} ({} MB files: {}) | {:.2}× ({:.2}–{:.2}) | ≤ 1.1× (streamed) | {} |\n",
        huge / MB,
        mb(rss_huge),
        large / MB,
        mb(rss_large),
        small / MB,
        mb(rss_small),
        r2.0,
        r2.1,
        r2.2,
        verdict(r2.0 <= 1.1),
        n = ratios.len()
    ));

    // S3: the same upload against a plain PUT of the object to the same server.
    let endpoint =
        std::env::var("DREAM_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let bucket = format!("dream-bench-{}", std::process::id());
    match http.put(format!("{endpoint}/{bucket}")).send().await {
        Ok(created) if created.status().is_success() => {
            let env = [
                ("AWS_ENDPOINT", endpoint.as_str()),
                ("AWS_ALLOW_HTTP", "true"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "dream-bench"),
                ("AWS_SECRET_ACCESS_KEY", "dream-bench"),
            ];
            let location = format!("s3://{bucket}/assets");
            eprintln!("== uploads: {count} × {} MB, S3 at {endpoint}", small / MB);
            let serve_s3 = || dream_serve(dream, database_url, &location, &env);
            let ours = one_at_a_time(&http, serve_s3, secret_key, &body, count).await?;
            let put = format!("{endpoint}/{bucket}/baseline/{{n}}.bin");
            let theirs = send_all(&http, &put, None, reqwest::Method::PUT, &body, count, 1).await?;
            let rss = peak_during(&http, serve_s3, secret_key, small, rounds).await?;
            let (ours_mbs, theirs_mbs) =
                (mb_per_s(small, count, ours), mb_per_s(small, count, theirs));
            let r3 = ours_mbs / theirs_mbs;
            table.push_str(&format!(
                "| upload a {} MB file to S3 (moto), one at a time; peak RSS during {CONCURRENT} concurrent (S3 parts are 5 MiB, at most 2 in flight per upload) | {ours_mbs:.0} MB/s; {rss:.1} MB | a plain PUT of it to the same server: {theirs_mbs:.0} MB/s | {r3:.2}× | ≥ 0.5× | {} |\n",
                small / MB,
                verdict(r3 >= 0.5)
            ));
        }
        answer => eprintln!(
            "== uploads on S3 not measured: no S3-compatible server at {endpoint} ({}); start one (scripts/test starts moto) or set DREAM_TEST_S3",
            answer.map_or_else(|e| e.to_string(), |r| r.status().to_string())
        ),
    }
    Ok(table)
}
