//! `cargo xtask bench`: the benchmark harness. It builds the server in release mode, starts
//! it on a fresh Postgres database, prepares a project, users and their RS256 tokens, drives
//! load with `wrk` (Debian's package), measures baselines in the same run on the same machine
//! (`pgbench` running the same single-row `UPDATE … RETURNING`, and a minimal axum handler
//! returning a constant), and prints one table of ratios. Its upload rows (`uploads.rs`)
//! measure asset uploads on local disk and S3, and the server's memory while they stream.
//!
//! `cargo xtask bench --smoke` runs every step for a second or two on a debug build and fails
//! only if a step breaks (no targets): the test command runs it so the harness cannot rot.
//!
//! `cargo xtask corpus`: dreamgen on real-world OpenAPI documents (see `corpus.rs`).
//!
//! `cargo xtask faults`: the fault suite, one table of figures (see `faults.rs`).

mod baseline;
mod corpus;
mod faults;
mod ingest;
mod routes;
mod steal;
mod uploads;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "xtask", about = "Dream API project automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Measure the hot paths against baselines taken in the same run.
    Bench(BenchOptions),
    /// The constant-answer axum server the check row is compared with; with `--upload-dir`,
    /// `POST /upload/{n}` streams the body to a file there (the upload row's baseline).
    BaselineServer {
        #[arg(long)]
        upload_dir: Option<PathBuf>,
    },
    /// The ingest row's sender, run from the release build like `wrk` (an unoptimized sender
    /// building and reading 1,000-event batches took a core of the two): sends batches to
    /// `url` for `duration` seconds with the secret key in `DREAM_BENCH_SECRET_KEY`, ids unique
    /// to `run`, and prints one line of figures.
    IngestLoad {
        url: String,
        users: usize,
        duration: u64,
        run: String,
    },
    /// dreamgen on the corpus of real-world OpenAPI documents, against baselines.
    Corpus(corpus::CorpusOptions),
    /// The fault suite: the server under injected faults, one table of figures.
    Faults,
}

#[derive(Parser, Clone)]
struct BenchOptions {
    /// A few seconds on a debug build, no targets: proves the harness still works.
    #[arg(long)]
    smoke: bool,
    /// Seconds of load per row.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct users (and tokens) in the many-users rows.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Runs of every row (and baseline); each figure is the median, with the spread beside
    /// it, and a target is met only when the median meets it.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The Postgres server to create the benchmark database on.
    #[arg(
        long,
        env = "DREAM_TEST_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres: String,
    /// A `dream` binary to measure instead of the one built from this checkout: build
    /// another revision, copy its binary aside, and compare the two on the same machine.
    #[arg(long)]
    dream: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Task::Bench(options) => runtime.block_on(bench(options)),
        Task::BaselineServer { upload_dir } => runtime.block_on(baseline::serve(upload_dir)),
        Task::IngestLoad {
            url,
            users,
            duration,
            run,
        } => runtime.block_on(ingest::load(&url, users, duration, &run)),
        Task::Corpus(options) => corpus::run(options),
        Task::Faults => faults::run(),
    }
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Where cargo puts what it builds for the workspace: `CARGO_TARGET_DIR` (relative to the
/// workspace root, where the harnesses run cargo) or `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}

fn need(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is missing: apt-get install {package}");
    }
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    run(Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]))
}

/// Starts `program` and reads its output until a line containing `until`; returns the
/// process and everything read.
fn start(mut command: Command, until: &str) -> anyhow::Result<(Running, String)> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut output = String::new();
    for line in lines.by_ref() {
        let line = line?;
        output.push_str(&line);
        output.push('\n');
        if line.contains(until) {
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((Running(child), output));
        }
    }
    bail!("{command:?} exited before printing {until:?}:\n{output}")
}

fn word_after<'a>(text: &'a str, marker: &str) -> anyhow::Result<&'a str> {
    text.split_once(marker)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .with_context(|| format!("no {marker:?} in:\n{text}"))
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    failures: u64,
}

/// The wrk script: sends a random user's request, built in advance, and reports in one line.
const LUA: &str = r#"
local tokens = {}
local pk = os.getenv("BENCH_PK") or ""
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
-- plain: every request as above; mixed: a track or a check (GET /v1/me) of a random user, half
-- and half; after-track: this thread's requests alternate a track of a random user and a check
-- of that same user.
local mode = os.getenv("BENCH_MODE") or "plain"
-- Every request is built once, here, so the load generator (on the same cores as the server)
-- spends its time sending and not concatenating tokens: per token, the plain request, a track
-- and a check.
local plain, track, check = {}, {}, {}
local tracked = nil
local function format(m, p, token, b)
  local headers = { ["Content-Type"] = "application/json" }
  if token then
    headers["X-Publishable-Key"] = pk
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format(m, p, headers, b)
end
function init(args)
  local file = os.getenv("BENCH_TOKENS")
  if file then for line in io.lines(file) do tokens[#tokens + 1] = line end end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  if #tokens == 0 then plain[1] = format(method, path, nil, body) end
  for i, token in ipairs(tokens) do
    if mode == "plain" then
      plain[i] = format(method, path, token, body)
    else
      track[i] = format("POST", "/v1/usage/track", token, "{}")
      check[i] = format("GET", "/v1/me", token, nil)
    end
  end
end
function request()
  if #tokens == 0 then return plain[1] end
  local i = math.random(#tokens)
  if mode == "mixed" then
    if math.random(2) == 1 then return track[i] else return check[i] end
  elseif mode == "after-track" then
    if tracked then
      i, tracked = tracked, nil
      return check[i]
    end
    tracked = i
    return track[i]
  end
  return plain[i]
end
function done(summary, latency, requests)
  local failures = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), failures))
end
"#;

struct Wrk<'a> {
    dir: &'a Path,
    duration: u64,
    connections: usize,
    /// Runs per row; a row's figure is their median.
    runs: usize,
}

/// A row's runs: each figure's median over the runs (the rate, p50 and p99 each their own,
/// as a target is met when the median of its runs meets it), and the spreads of the rate and
/// of the p99.
#[derive(Debug, Clone, Copy)]
struct Measured {
    median: Load,
    min_rps: f64,
    max_rps: f64,
    min_p99: f64,
    max_p99: f64,
}

impl Measured {
    fn of(loads: Vec<Load>) -> Measured {
        let figure = |f: fn(&Load) -> f64| spread(&mut loads.iter().map(f).collect::<Vec<_>>());
        let (rps, min_rps, max_rps) = figure(|l| l.rps);
        let (p50_ms, _, _) = figure(|l| l.p50_ms);
        let (p99_ms, min_p99, max_p99) = figure(|l| l.p99_ms);
        let (requests, _, _) = figure(|l| l.requests as f64);
        Measured {
            median: Load {
                rps,
                p50_ms,
                p99_ms,
                requests: requests as u64,
                failures: loads.iter().map(|l| l.failures).sum(),
            },
            min_rps,
            max_rps,
            min_p99,
            max_p99,
        }
    }

    /// `12,345 req/s (11,900–12,800)`: the median and the spread of the runs.
    fn rate(&self) -> String {
        format!(
            "{:.0} req/s ({:.0}–{:.0})",
            self.median.rps, self.min_rps, self.max_rps
        )
    }

    /// `p50 1.02 ms, p99 3.50 ms (2.90–4.10)`: the medians, and the spread of the p99s.
    fn latency(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms ({:.2}–{:.2})",
            self.median.p50_ms, self.median.p99_ms, self.min_p99, self.max_p99
        )
    }
}

/// `ours` over `base`; 0 when there is no base.
fn ratio(ours: f64, base: f64) -> f64 {
    if base > 0.0 { ours / base } else { 0.0 }
}

/// The middle of `values` (the upper middle of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median of `runs` runs of `measure` and their spread, `(median, min, max)`.
fn median_of(
    runs: usize,
    mut measure: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(f64, f64, f64)> {
    let mut values = (0..runs.max(1))
        .map(|_| measure())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(spread(&mut values))
}

/// The median, smallest and largest of `values` (at least one), `(median, min, max)`.
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

impl Wrk<'_> {
    /// `runs` runs of [`Wrk::run`], in `mode` (see the script).
    fn measure(
        &self,
        url: &str,
        method: &str,
        path: &str,
        tokens: Option<(&Path, &str)>,
        mode: &str,
    ) -> anyhow::Result<Measured> {
        let loads = (0..self.runs.max(1))
            .map(|_| self.run(url, method, path, tokens, mode))
            .collect::<anyhow::Result<Vec<Load>>>()?;
        for load in &loads {
            if load.requests == 0 || load.failures > 0 {
                bail!(
                    "{method} {path} ({mode}): {} requests, {} failed",
                    load.requests,
                    load.failures
                );
            }
        }
        Ok(Measured::of(loads))
    }

    fn run(
        &self,
        url: &str,
        method: &str,
        path: &str,
        tokens: Option<(&Path, &str)>,
        mode: &str,
    ) -> anyhow::Result<Load> {
        let script = self.dir.join("load.lua");
        std::fs::write(&script, LUA)?;
        let mut command = Command::new("wrk");
        command
            .args(["-t2", &format!("-c{}", self.connections)])
            .arg(format!("-d{}s", self.duration))
            .args(["--timeout", "10s", "-s"])
            .arg(&script)
            .arg(url)
            .env("BENCH_METHOD", method)
            .env("BENCH_PATH", path)
            .env("BENCH_MODE", mode);
        if method == "POST" {
            command.env("BENCH_BODY", "{}");
        }
        if let Some((file, pk)) = tokens {
            command.env("BENCH_TOKENS", file).env("BENCH_PK", pk);
        }
        let output = run(&mut command)?;
        let line = output
            .lines()
            .find(|l| l.starts_with("BENCH "))
            .with_context(|| format!("wrk printed no summary:\n{output}"))?;
        let n: Vec<f64> = line[6..]
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        Ok(Load {
            requests: n[0] as u64,
            rps: n[0] / (n[1] / 1e6),
            p50_ms: n[2] / 1000.0,
            p99_ms: n[3] / 1000.0,
            failures: n[4] as u64,
        })
    }
}

/// pgbench running `sql` (with `:id` drawn by `set`) on `connections` clients: its tps and
/// latency. Every transaction is logged, and the percentiles are computed as wrk computes its
/// own (see [`Latencies`]), so the two can be compared.
fn pgbench(
    url: &str,
    dir: &Path,
    name: &str,
    script: &str,
    duration: u64,
    connections: usize,
) -> anyhow::Result<Load> {
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, script)?;
    let logs = dir.join(format!("{name}-log"));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let output = run(Command::new("pgbench")
        .current_dir(&logs)
        .args([
            "-n",
            "-j2",
            &format!("-c{connections}"),
            &format!("-T{duration}"),
            "--log",
            "-f",
        ])
        .arg(&file)
        .arg(url))?;
    let tps: f64 = word_after(&output, "tps = ")?.parse()?;
    // One line per transaction: client, transaction, latency in µs, ….
    let mut latencies = Latencies::default();
    for entry in std::fs::read_dir(&logs)? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            if let Some(us) = line.split_whitespace().nth(2) {
                latencies.record(us.parse()?);
            }
        }
    }
    let failures = word_after(&output, "number of failed transactions: ")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    latencies.correct(duration * 1_000_000, connections as u64);
    Ok(Load {
        rps: tps,
        p50_ms: latencies.percentile(50.0) as f64 / 1000.0,
        p99_ms: latencies.percentile(99.0) as f64 / 1000.0,
        requests: latencies.recorded,
        failures,
    })
}

/// Latencies in µs, counted by value, and read as wrk reads its own.
///
/// wrk drives a fixed number of connections, each sending its next request only when the
/// last was answered, so a stall delays the requests that would have been sent meanwhile
/// without their being measured. Before it reports, wrk corrects for that ("coordinated
/// omission"): with `interval` the time a connection took per request on average, every
/// latency L above twice the interval also counts L − interval, L − 2·interval, … down to
/// the interval, the requests an open stream of users would have sent during the stall.
/// A stall of the database's disk therefore weighs as much here as in wrk's figures.
#[derive(Default)]
struct Latencies {
    counts: std::collections::BTreeMap<u64, u64>,
    total: u64,
    /// Before the correction.
    recorded: u64,
}

impl Latencies {
    fn record(&mut self, us: u64) {
        *self.counts.entry(us).or_default() += 1;
        self.total += 1;
        self.recorded += 1;
    }

    /// wrk's `stats_correct`, with its interval: the run's time over the requests per
    /// connection.
    fn correct(&mut self, runtime_us: u64, connections: u64) {
        let per_connection = self.total / connections.max(1);
        if per_connection == 0 {
            return;
        }
        let interval = runtime_us / per_connection;
        let measured: Vec<(u64, u64)> = self
            .counts
            .range(interval.saturating_mul(2)..)
            .map(|(us, n)| (*us, *n))
            .collect();
        for (us, n) in measured {
            let mut missed = us - interval;
            while missed > interval {
                *self.counts.entry(missed).or_default() += n;
                self.total += n;
                missed -= interval;
            }
        }
    }

    /// wrk's `stats_percentile`: the smallest value whose rank reaches `p` percent.
    fn percentile(&self, p: f64) -> u64 {
        let rank = ((p / 100.0) * self.total as f64 + 0.5).round() as u64;
        let mut seen = 0;
        for (us, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return *us;
            }
        }
        0
    }
}

/// Peak resident memory of a process, from `/proc`.
fn peak_rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = word_after(&status, "VmHWM:")?.parse()?;
    Ok(kb / 1024.0)
}

async fn bench(options: BenchOptions) -> anyhow::Result<()> {
    let BenchOptions {
        smoke,
        mut duration,
        mut users,
        connections,
        mut runs,
        postgres,
        dream,
    } = options.clone();
    if smoke {
        duration = duration.min(2);
        users = users.min(200);
        runs = 1;
    }
    need("wrk", "wrk")?;
    need("pgbench", "postgresql-client")?;
    need("psql", "postgresql-client")?;
    let root = root();
    let profile = if smoke { "debug" } else { "release" };
    eprintln!("== building ({profile})");
    let mut build = Command::new(env!("CARGO"));
    // The whole workspace, as scripts/test builds it: one feature set, so nothing is
    // compiled twice.
    build
        .current_dir(&root)
        .args(["build", "--quiet", "--workspace", "--bins"]);
    if !smoke {
        build.arg("--release");
    }
    run(&mut build)?;
    let bin = target_dir(&root).join(profile);
    let dream = match dream {
        Some(path) => {
            std::fs::canonicalize(&path).with_context(|| format!("--dream {}", path.display()))?
        }
        None => bin.join("dream"),
    };
    eprintln!("== measuring {}", dream.display());
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;

    let database = format!("dream_bench_{}", std::process::id());
    psql(
        &format!("{postgres}/postgres"),
        &format!("DROP DATABASE IF EXISTS {database}"),
    )?;
    psql(
        &format!("{postgres}/postgres"),
        &format!("CREATE DATABASE {database}"),
    )?;
    let database_url = format!("{postgres}/{database}");
    let result = measure(
        &bin,
        &dream,
        &dir,
        &database_url,
        smoke,
        (duration, users, connections, runs),
    )
    .await;
    psql(
        &format!("{postgres}/postgres"),
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    )?;
    let table = result?;
    println!("{table}");
    std::fs::write(dir.join("results.md"), &table)?;
    Ok(())
}

/// The machine the figures come from: CPU, cores, and the Postgres server's version and
/// durability settings (they decide what a commit costs).
fn machine(database_url: &str) -> anyhow::Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let setting =
        |name: &str| psql(database_url, &format!("SHOW {name}")).map(|v| v.trim().to_string());
    Ok(format!(
        "Machine: {cpu}, {cores} cores; Postgres {} (synchronous_commit {}, fsync {})",
        setting("server_version")?,
        setting("synchronous_commit")?,
        setting("fsync")?
    ))
}

async fn measure(
    bin: &Path,
    dream: &Path,
    dir: &Path,
    database_url: &str,
    smoke: bool,
    (duration, users, connections, runs): (u64, usize, usize, usize),
) -> anyhow::Result<String> {
    // A release `dream serve` on the benchmark's database, usage series on or off.
    let dream_serve = |series: &str| -> anyhow::Result<(Running, String)> {
        let mut serve = Command::new(dream);
        serve
            .args(["--database-url", database_url, "serve", "--port", "0"])
            .env("DREAM_HOST", "127.0.0.1")
            .env("RUST_LOG", "error")
            .env("DREAM_USAGE_SERIES", series)
            .env_remove("REDIS_URL");
        start(serve, "Docs:")
    };
    eprintln!("== starting dream serve on Postgres");
    let (server, banner) = dream_serve("on")?;
    let pid = server.0.id();
    let base = word_after(&banner, "running at ")?.to_string();
    let pk = word_after(&banner, "test publishable key")?.to_string();
    let sk = word_after(&banner, "test secret key")?.to_string();

    eprintln!("== preparing a project, {users} registered users and their tokens");
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&sk)
            .json(&body);
        let path = path.to_string();
        async move {
            let response = request.send().await?;
            let status = response.status();
            let value: Value = response.json().await?;
            if !status.is_success() {
                bail!("{path}: {status} {value}");
            }
            Ok::<_, anyhow::Error>(value)
        }
    };
    // Every request passes the rate limiter, set high enough never to refuse.
    admin(
        reqwest::Method::POST,
        "/v1/tiers",
        json!({ "name": "bench", "displayName": "Bench", "isDefault": true, "limits": [],
                "rateLimit": { "requests": 1_000_000, "perSeconds": 1 } }),
    )
    .await?;
    let mut tokens = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(64) {
        let minted = futures::future::try_join_all(chunk.iter().map(|n| {
            admin(
                reqwest::Method::POST,
                "/v1/dev/tokens",
                json!({ "userId": format!("user_bench_{n}"), "expiresInSeconds": 7200 }),
            )
        }))
        .await?;
        tokens.extend(
            minted
                .into_iter()
                .map(|t| t["token"].as_str().unwrap_or_default().to_string()),
        );
    }
    // Like pgbench's pre-filled table, the users exist before the clock starts.
    for chunk in tokens.chunks(64) {
        futures::future::try_join_all(chunk.iter().map(|token| {
            let request = http
                .get(format!("{base}/v1/me"))
                .header("x-publishable-key", &pk)
                .bearer_auth(token);
            async move { request.send().await?.error_for_status() }
        }))
        .await?;
    }
    let many = dir.join("tokens.txt");
    let hot = dir.join("hot-token.txt");
    let mut file = std::fs::File::create(&many)?;
    for token in &tokens {
        writeln!(file, "{token}")?;
    }
    std::fs::write(&hot, format!("{}\n", tokens[0]))?;

    let wrk = Wrk {
        dir,
        duration,
        connections,
        runs,
    };
    let users_of = Some((many.as_path(), pk.as_str()));
    let mut steal = steal::Steal::start();
    // pgbench's table of counters, one row per user, and its single-row UPDATE … RETURNING.
    psql(
        database_url,
        &format!(
            "CREATE TABLE bench_counters (id INT PRIMARY KEY, count BIGINT NOT NULL); \
             INSERT INTO bench_counters SELECT g, 0 FROM generate_series(1, {users}) g"
        ),
    )?;
    let update = "UPDATE bench_counters SET count = count + 1 WHERE id = :id RETURNING count;\n";
    // The runs of the track row and of its baseline alternate, so that a slow minute of the
    // machine's disk (a checkpoint, a stalled flush) falls on both, not on one of them.
    eprintln!(
        "== load: track, {users} users, in turn with pgbench's UPDATE … RETURNING over {users} rows"
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let once = Wrk { runs: 1, ..wrk };
        ours.push(
            once.measure(&base, "POST", "/v1/usage/track", users_of, "plain")?
                .median,
        );
        theirs.push(pgbench(
            database_url,
            dir,
            "many",
            &format!("\\set id random(1, {users})\n{update}"),
            duration,
            connections,
        )?);
    }
    let (track_many, pg_many) = (Measured::of(ours), Measured::of(theirs));
    steal.row("track");
    eprintln!("== load: track, one hot user");
    let track_hot = wrk.measure(&base, "POST", "/v1/usage/track", Some((&hot, &pk)), "plain")?;
    steal.row("hot user");
    // Every user was just tracked by the rows above. The runs alternate with the minimal axum
    // handler's, as the track row's with pgbench's: a slow minute of the machine (another
    // guest on its host, a flush) falls on both, and the ratio is the median of each run's
    // over the baseline run just after it.
    eprintln!("== load: customer state, {users} users, in turn with a minimal axum handler");
    let mut constant = Command::new(bin.join("xtask"));
    constant.arg("baseline-server");
    let (baseline, said) = start(constant, "listening on")?;
    let baseline_url = word_after(&said, "listening on ")?.to_string();
    let (mut ours, mut theirs, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let once = Wrk { runs: 1, ..wrk };
        let check = once
            .measure(&base, "GET", "/v1/me", users_of, "plain")?
            .median;
        let constant = once
            .measure(&baseline_url, "GET", "/", None, "plain")?
            .median;
        pairs.push(ratio(check.rps, constant.rps));
        ours.push(check);
        theirs.push(constant);
    }
    drop(baseline);
    let check_pairs = pairs.len();
    let (state, axum_const, r3) = (Measured::of(ours), Measured::of(theirs), median(pairs));
    steal.row("check");
    // The server's own latency of each kind over the two rows that mix them: wrk's histogram
    // is one for both, and cannot say which kind makes the tail.
    let kinds = [("track", "POST /v1/usage/track"), ("check", "GET /v1/me")];
    eprintln!("== load: track or check of a random user, half and half");
    let before = routes::scrape(&http, &base).await?;
    let mixed = wrk.measure(&base, "GET", "/v1/me", users_of, "mixed")?;
    let after = routes::scrape(&http, &base).await?;
    let mixed_kinds = routes::line(&after, &before, &kinds);
    steal.row("mixed");
    eprintln!("== load: a track, then a check of the same user");
    let after_track = wrk.measure(&base, "GET", "/v1/me", users_of, "after-track")?;
    let after_track_kinds = routes::line(&routes::scrape(&http, &base).await?, &after, &kinds);
    steal.row("check after track");
    let rss = peak_rss_mb(pid)?;
    eprintln!(
        "== load: usage events in batches of 1,000, {users} users; baseline: pgbench's multi-row upsert"
    );
    let ingest = ingest::measure(bin, &base, &sk, (users, duration, runs), database_url, dir)?;
    steal.row("ingest");
    drop(server);

    // Before/after for the usage time series: the same track load with the series off and
    // on, both on the same now-warm database, users and tokens (the first row above also
    // created every counter row, which these two do not pay for). Each run starts a fresh
    // server and warms it (every user's plan read once, unmeasured), and the runs alternate
    // off and on: what the machine's disk does over the minute (a slow flush, a checkpoint)
    // falls on both rows alike. The ratio is the median of each on-run over the off-run
    // just before it.
    let fresh_run = |series: &str| -> anyhow::Result<Load> {
        let (server, banner) = dream_serve(series)?;
        let base = word_after(&banner, "running at ")?;
        let warm = Wrk {
            runs: 1,
            duration: duration.min(2),
            ..wrk
        };
        warm.measure(base, "POST", "/v1/usage/track", users_of, "plain")?;
        let once = Wrk { runs: 1, ..wrk };
        let measured = once.measure(base, "POST", "/v1/usage/track", users_of, "plain")?;
        drop(server);
        Ok(measured.median)
    };
    // A pair's ratio moves by ±20% with the disk on a small machine, while what the series
    // costs is a few percent: at least five pairs, so the median says which.
    let pair_runs = if smoke { 1 } else { runs.max(5) };
    eprintln!(
        "== load: track, {users} users, usage series off and on, in turn, {pair_runs} pair(s)"
    );
    let (mut plain_runs, mut series_runs, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pair_runs {
        let (off, on) = (fresh_run("off")?, fresh_run("on")?);
        pairs.push(ratio(on.rps, off.rps));
        plain_runs.push(off);
        series_runs.push(on);
    }
    let r4 = median(pairs);
    let (track_plain, track_series) = (Measured::of(plain_runs), Measured::of(series_runs));
    steal.row("series");

    let verdict = |ok: bool| match (smoke, ok) {
        (true, _) => "(smoke)",
        (false, true) => "met",
        (false, false) => "missed",
    };
    let upload_rows =
        uploads::rows(bin, dream, dir, database_url, &sk, (smoke, runs), &verdict).await?;
    steal.row("uploads");

    eprintln!("== baseline: pgbench, the same single-row UPDATE … RETURNING on one row");
    let (pg_hot, _, _) = median_of(runs, || {
        pgbench(
            database_url,
            dir,
            "hot",
            &format!("\\set id 1\n{update}"),
            duration,
            connections,
        )
        .map(|load| load.rps)
    })?;

    steal.row("pgbench on one row");
    let machine = format!("{}\n{}", machine(database_url)?, steal.line());

    let (tm, th, st, mx, at) = (
        track_many.median,
        track_hot.median,
        state.median,
        mixed.median,
        after_track.median,
    );
    let (plain, series) = (track_plain.median, track_series.median);
    let r1 = ratio(tm.rps, pg_many.median.rps);
    let r2 = ratio(th.rps, pg_hot);
    let r6 = ratio(mx.rps, pg_many.median.rps);
    let r7 = ratio(at.rps, pg_many.median.rps);
    let mut table = String::new();
    table.push_str(&format!(
        "Dream API benchmark ({}; {duration} s per row, {connections} connections, {users} users; each figure the median of its {runs} run(s): the rate, p50 and p99 each their own median, the spread of the rates and of the p99s in brackets)\n{machine}\nLatencies are wrk's, corrected for the requests a stall kept from being sent (coordinated omission); pgbench's are read from its log of every transaction and corrected the same way.\n\n",
        if smoke { "smoke run, debug build" } else { "release build" }
    ));
    table.push_str(
        "| row | ours | baseline (same run) | ratio | target | |\n|---|---|---|---|---|---|\n",
    );
    let pgbench_many = format!(
        "pgbench UPDATE … RETURNING over {users} rows: {:.0} tps ({:.0}–{:.0}), {}",
        pg_many.median.rps,
        pg_many.min_rps,
        pg_many.max_rps,
        pg_many.latency()
    );
    table.push_str(&format!(
        "| track, {users} users, {connections} connections | {}, {} | {pgbench_many} | {r1:.2}× | ≥ 0.6×, p99 ≤ 5 ms | {} |\n",
        track_many.rate(), track_many.latency(),
        verdict(r1 >= 0.6 && tm.p99_ms <= 5.0)
    ));
    table.push_str(&format!(
        "| track, one hot user | {}, p99 {:.2} ms | pgbench UPDATE on one row: {pg_hot:.0} tps | {r2:.2}× | ≥ 1.5× | {} |\n",
        track_hot.rate(), th.p99_ms,
        verdict(r2 >= 1.5)
    ));
    table.push_str(&format!(
        "| check / customer state, every user just tracked by the rows above | {}, p99 {:.2} ms | minimal axum handler, runs in turn with these: {} | {r3:.2}× (median of the ratios of {check_pairs} pair(s)) | ≥ 0.35× | {} |\n",
        state.rate(), st.p99_ms, axum_const.rate(),
        verdict(r3 >= 0.35)
    ));
    table.push_str(&format!(
        "| mixed: a track or a check of a random user, half and half | {}, {} | {pgbench_many} | {r6:.2}× | ≥ 0.5×, p99 ≤ 5 ms | {} |\n",
        mixed.rate(), mixed.latency(),
        verdict(r6 >= 0.5 && mx.p99_ms <= 5.0)
    ));
    table.push_str(&format!(
        "| check right after a track: a track of a random user, then a check of that user, in turn | {}, {} | {pgbench_many} | {r7:.2}× | ≥ 0.5×, p99 ≤ 5 ms | {} |\n",
        after_track.rate(), after_track.latency(),
        verdict(r7 >= 0.5 && at.p99_ms <= 5.0)
    ));
    table.push_str(&format!(
        "| track with usage series on, {users} users, warm database | {}, p99 {:.2} ms | the same with DREAM_USAGE_SERIES=off, runs in turn with these: {}, p99 {:.2} ms | {r4:.2}× (median of the ratios of {pair_runs} pair(s)) | ≥ 0.95× | {} |\n",
        track_series.rate(), series.p99_ms, track_plain.rate(), plain.p99_ms,
        verdict(r4 >= 0.95)
    ));
    table.push_str(&format!(
        "| server memory under that load | peak RSS {rss:.1} MB | — | — | ≤ 64 MB | {} |\n",
        verdict(rss <= 64.0)
    ));
    let (ours, base5, same) = (ingest.ours, ingest.baseline, ingest.same_writes);
    let r5 = ratio(ours.0, base5.0);
    table.push_str(&format!(
        "| usage events ingested, batches of 1,000 over {users} users, 4 senders | {:.0} events/s ({:.0}–{:.0}; {} batches), p50 {:.1} ms, p99 {:.1} ms per batch | pgbench multi-row upsert, 1,000 rows a statement, 4 clients: {:.0} rows/s ({:.0}–{:.0}); the same two writes as the server (1,000 event ids claimed, then the upsert, one transaction): {:.0} rows/s ({:.0}–{:.0}), ours {:.2}× of it | {r5:.2}× | ≥ 0.5× | {} |\n",
        ours.0, ours.1, ours.2, ingest.batches, ingest.p50_ms, ingest.p99_ms,
        base5.0, base5.1, base5.2, same.0, same.1, same.2, ratio(ours.0, same.0),
        verdict(r5 >= 0.5)
    ));
    table.push_str(&upload_rows);
    table.push_str(&format!(
        "\nEach kind's latency in the server (its `/metrics` histogram, from a request's arrival to its response; wrk's figures above add the time a request waits for a core and the network): mixed: {mixed_kinds}; check right after a track: {after_track_kinds}.\n"
    ));
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::Latencies;

    #[test]
    fn latencies_are_read_and_corrected_as_wrk_reads_its_own() {
        // 16 connections, 1 s: 1,600 requests of 10 ms each is an interval of 10 ms, and
        // nothing to correct.
        let mut steady = Latencies::default();
        (0..1600).for_each(|_| steady.record(10_000));
        steady.correct(1_000_000, 16);
        assert_eq!(
            (
                steady.total,
                steady.percentile(50.0),
                steady.percentile(99.0)
            ),
            (1600, 10_000, 10_000)
        );

        // One 100 ms stall among 1 ms answers: uncorrected it is one sample in a thousand;
        // corrected it also stands for the 98 requests its connection did not send, at
        // 99, 98, … 2 ms.
        let mut stalled = Latencies::default();
        (0..999).for_each(|_| stalled.record(1_000));
        stalled.record(100_000);
        assert_eq!(stalled.percentile(99.0), 1_000);
        stalled.correct(1_000_000, 1);
        assert_eq!(stalled.total, 1000 + 98);
        assert_eq!(stalled.recorded, 1000);
        assert_eq!(stalled.percentile(50.0), 1_000);
        assert!(
            stalled.percentile(99.0) > 80_000,
            "{}",
            stalled.percentile(99.0)
        );
    }
}
