//! Fresh databases for the server's own tests: a temporary SQLite file, or a new database on
//! the Postgres server named by `DREAM_TEST_POSTGRES` (`dream_server::testing`).

use dream_server::store::Store;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; it lives as long as the returned directory.
pub async fn fresh_database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("dream.db").display()),
        Backend::Postgres => dream_server::testing::fresh_postgres_database("dream_test")
            .await
            .expect("a fresh Postgres database"),
    };
    (url, dir)
}

/// A store on a fresh database, migrated.
pub async fn fresh_store(backend: Backend) -> (Store, String, tempfile::TempDir) {
    dream_server::install_crypto();
    let (url, dir) = fresh_database(backend).await;
    let store = Store::connect(&url).await.expect("store connects");
    (store, url, dir)
}

/// `dream serve` on SQLite in a temporary directory, on a free port, with `env` added: the
/// process, its address (`127.0.0.1:PORT`) and the directory (kept alive by the caller).
pub fn spawn_serve(env: &[(&str, &str)]) -> (std::process::Child, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (child, base) = spawn_serve_in(dir.path(), env);
    (child, base, dir)
}

/// `dream serve` on the SQLite database `dream.db` in `dir` (made on the first start, found
/// again on the next), on a free port, with `env` added: the process and its address.
pub fn spawn_serve_in(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    spawn_serve_on(&format!("sqlite://{}", dir.join("dream.db").display()), env)
}

/// `dream serve` on `database`, on a free port, with `env` added, once it answers: the
/// process and its address.
pub fn spawn_serve_on(database: &str, env: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dream"));
    command
        .args(["--database-url", database, "serve", "--port", "0"])
        .env("DREAM_OPERATOR_TOKEN", "op_test")
        .env("DREAM_HOST", "127.0.0.1")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("dream serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner: Vec<String> = lines
        .by_ref()
        .map(|l| l.unwrap())
        .take_while(|l| !l.starts_with("Docs:"))
        .collect();
    std::thread::spawn(move || lines.for_each(drop));
    let base = banner
        .iter()
        .flat_map(|l| l.split_whitespace())
        .skip_while(|w| *w != "at")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .trim_start_matches("http://")
        .to_string();
    (child, base)
}

/// One row of the fault suite's table (`cargo xtask faults`), printed by the test that measured
/// it: what a fault did to acknowledged writes and to answer times. `None` where a figure does
/// not apply.
#[derive(Debug, Default)]
pub struct Figures {
    pub case: &'static str,
    /// Writes answered as done.
    pub acknowledged: Option<usize>,
    /// Writes found stored afterwards.
    pub stored: Option<usize>,
    /// The slowest answer (or, for replicas, the longest a change took to be seen).
    pub worst_answer: Option<std::time::Duration>,
    /// How long until the server served again (or exited, for a shutdown).
    pub recovery: Option<std::time::Duration>,
}

impl Figures {
    /// Prints the row as the line `cargo xtask faults` gathers: `FAULT`, then the figures,
    /// tab-separated, `-` where one does not apply.
    pub fn report(&self) {
        let count = |n: Option<usize>| n.map_or("-".to_string(), |n| n.to_string());
        let time = |d: Option<std::time::Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.0} ms", d.as_secs_f64() * 1000.0)
            })
        };
        println!(
            "FAULT\t{}\t{}\t{}\t{}\t{}",
            self.case,
            count(self.acknowledged),
            count(self.stored),
            time(self.worst_answer),
            time(self.recovery)
        );
    }
}

/// A new project through the operator route (`op_test`) of the server at `base`
/// (`http://…`): its test publishable and secret keys.
pub async fn operator_project(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let created: serde_json::Value = http
        .post(format!("{base}/v1/projects"))
        .bearer_auth("op_test")
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = |kind: &str| {
        created["keys"]["test"][kind]
            .as_str()
            .unwrap_or_else(|| panic!("no {kind} in {created}"))
            .to_string()
    };
    (key("publishableKey"), key("secretKey"))
}
