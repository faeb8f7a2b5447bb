//! `cargo xtask faults`: the fault suite. It runs the server's fault tests, each a real
//! `dream serve` (or the store under it) with a fault injected from outside — killed with
//! SIGKILL under load, Postgres taken away and brought back (through a TCP relay the test
//! controls, never by stopping the shared server), its connections killed mid-write, two
//! replicas across a Postgres restart, Redis stopped, SIGTERM with half-sent and idle clients,
//! a flood of idle connections, a SQLite file on a full disk, the server down while a payment
//! goes through — and prints one table of the figures they measured. Every case also asserts
//! its requirement, so the suite fails when one does not hold. `scripts/test` runs the same
//! tests (they are part of `cargo test`); this command runs them one at a time, so that their
//! timings are not shared with other tests, and gathers the figures.

use std::process::{Command, Stdio};

use anyhow::bail;

/// The test name filters that make up the suite.
const CASES: &[&str] = &[
    "crash::",
    "faults::",
    "outage::",
    "connections::",
    "replicas::when_redis_stops",
    "webhooks::",
];

pub fn run() -> anyhow::Result<()> {
    let output = Command::new(env!("CARGO"))
        .args([
            "test",
            "--quiet",
            "-p",
            "dream-server",
            "--test",
            "it",
            "--",
        ])
        .args(CASES)
        .args(["--nocapture", "--test-threads", "1"])
        .current_dir(super::root())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        // The test harness's progress dots may precede a row on its line.
        .filter_map(|line| line.split_once("FAULT\t").map(|(_, row)| row))
        .map(|row| row.split('\t').collect())
        .collect();
    println!("| fault | acknowledged | stored | worst answer | recovery |");
    println!("|---|---:|---:|---:|---:|");
    for row in &rows {
        println!("| {} |", row.join(" | "));
    }
    if !output.status.success() {
        println!("{stdout}");
        bail!("a fault case failed (its output is above)");
    }
    if rows.is_empty() {
        bail!("no fault case reported figures");
    }
    Ok(())
}
