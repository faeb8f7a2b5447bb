//! What an operator meets first: `dream --version`, `dream serve --help` naming its
//! configuration, and `GET /` pointing at the dashboard, the docs and the spec.

use crate::harness::spawn_serve;

#[test]
fn dream_names_its_version() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("dream {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_help_names_every_variable_the_readme_documents() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("the README's Configuration section");
    let documented: Vec<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .collect();
    assert!(documented.len() > 20, "{documented:?}");
    for name in documented {
        assert!(
            help.contains(name),
            "`dream serve --help` does not name {name}:\n{help}"
        );
    }
}

#[tokio::test]
async fn the_root_points_to_the_dashboard_the_docs_and_the_spec() {
    let (mut child, base, _dir) = spawn_serve(&[]);
    let http = reqwest::Client::new();
    let json = http.get(format!("http://{base}/")).send().await.unwrap();
    assert_eq!(json.status(), 200);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["dashboard"], "/dashboard");
    assert_eq!(body["docs"], "/docs");
    assert_eq!(body["openapi"], "/openapi.json");
    assert_eq!(body["health"], "/healthz");
    // Every link it gives answers.
    for link in ["/docs", "/openapi.json", "/healthz"] {
        let answer = http
            .get(format!("http://{base}{link}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{link}");
    }
    let page = http
        .get(format!("http://{base}/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text().await.unwrap();
    for link in [
        "href=\"/dashboard\"",
        "href=\"/docs\"",
        "href=\"/openapi.json\"",
    ] {
        assert!(text.contains(link), "{link} in {text}");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn a_key_in_the_wrong_place_is_named_as_such() {
    let (mut child, base, _dir) = spawn_serve(&[("DREAM_OPERATOR_TOKEN", "op_test")]);
    let base = format!("http://{base}");
    let http = reqwest::Client::new();
    let (pk, sk) = crate::harness::operator_project(&http, &base, "Keys").await;
    let refusal = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status.as_u16(),
            body["code"].clone(),
            body["message"].as_str().unwrap_or("").to_string(),
        )
    };
    // The secret key where the publishable key goes.
    let (status, code, message) = refusal(
        http.get(format!("{base}/v1/products"))
            .header("x-publishable-key", &sk),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, Some("invalid_api_key")));
    assert!(
        message.contains("secret key was sent as the publishable key"),
        "{message}"
    );
    // The publishable key where a secret key goes.
    let (status, code, message) =
        refusal(http.get(format!("{base}/v1/customers")).bearer_auth(&pk)).await;
    assert_eq!((status, code.as_str()), (401, Some("invalid_api_key")));
    assert!(
        message.contains("publishable key was sent as `Authorization: Bearer`"),
        "{message}"
    );
    // An unknown key of either kind says which kind it was read as.
    let (_, _, message) = refusal(
        http.get(format!("{base}/v1/customers"))
            .bearer_auth("sk_test_000000000000000000000000"),
    )
    .await;
    assert!(
        message.starts_with("The secret key is not valid"),
        "{message}"
    );
    let (_, _, message) = refusal(
        http.get(format!("{base}/v1/products"))
            .header("x-publishable-key", "pk_test_000000000000000000000000"),
    )
    .await;
    assert!(
        message.starts_with("The publishable key is not valid"),
        "{message}"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

/// `dream serve` with `args` and `env`, expected to fail at start: its stderr, and how long
/// it took.
fn failed_start(args: &[&str], env: &[(&str, &str)]) -> (String, std::time::Duration) {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dream"));
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("REDIS_URL")
        .current_dir(dir.path());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{args:?} started");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("src/main.rs"),
        "a start-up error is a message, not a backtrace:\n{stderr}"
    );
    (stderr, started.elapsed())
}

#[test]
fn start_up_errors_name_what_failed() {
    // A Postgres port nobody listens on: refused at once, named by host and port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://dream:pw@127.0.0.1:{port}/app");
    let (stderr, took) = failed_start(&["--database-url", &url, "serve", "--port", "0"], &[]);
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    assert!(
        stderr.contains(&format!("Postgres at 127.0.0.1:{port} (database app)"))
            && stderr.contains("refused")
            && !stderr.contains("pw"),
        "{stderr}"
    );

    // A SQLite file in a folder that does not exist: the path is named.
    let (stderr, _) = failed_start(
        &[
            "--database-url",
            "sqlite:///no/such/folder/dream.db",
            "serve",
            "--port",
            "0",
        ],
        &[("DREAM_STRIPE_EMULATOR", "false")],
    );
    assert!(
        stderr.contains("the SQLite file /no/such/folder/dream.db"),
        "{stderr}"
    );

    // A port in use: the address is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (stderr, _) = failed_start(&["serve", "--port", &port], &[("DREAM_HOST", "127.0.0.1")]);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && stderr.contains("Address already in use"),
        "{stderr}"
    );

    // A log format that does not exist.
    let (stderr, _) = failed_start(&["serve", "--port", "0"], &[("DREAM_LOG_FORMAT", "xml")]);
    assert!(
        stderr.contains("DREAM_LOG_FORMAT must be `text` or `json`"),
        "{stderr}"
    );
}

/// With `DREAM_LOG_FORMAT=json`, every request is one JSON line at info with its route
/// template, status, latency, request id and tenant, and no key; text logs written to a
/// file carry no colour codes.
#[tokio::test]
async fn each_request_is_one_structured_log_line() {
    for format in ["json", "text"] {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("server.log");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
            .args(["serve", "--port", &port.to_string()])
            .env("DREAM_OPERATOR_TOKEN", "op_test")
            .env("DREAM_HOST", "127.0.0.1")
            .env("DREAM_LOG_FORMAT", format)
            .env_remove("RUST_LOG")
            .env_remove("REDIS_URL")
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&log_path).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(up, "dream serve answers");
        let (_pk, sk) = crate::harness::operator_project(&http, &base, "Logged").await;
        let response = http
            .get(format!("{base}/v1/tiers/tier_missing"))
            .bearer_auth(&sk)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let settings: serde_json::Value = http
            .get(format!("{base}/v1/settings"))
            .bearer_auth(&sk)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let project = settings["project"]["id"].as_str().unwrap().to_string();
        server.kill().unwrap();
        let _ = server.wait();
        let log = std::fs::read_to_string(&log_path).unwrap();
        // The banner (keys shown once) shares stdout; log lines start with `{` or the time.
        let log: String = log
            .lines()
            .filter(|l| l.starts_with('{') || l.starts_with("20") || l.starts_with('\u{1b}'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!log.contains("sk_test_"), "a key was logged:\n{log}");
        assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log}");
        let line = log
            .lines()
            .find(|l| l.contains(&request_id))
            .unwrap_or_else(|| panic!("no line for {request_id}:\n{log}"));
        if format == "json" {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(line["level"], "INFO");
            let fields = &line["fields"];
            assert_eq!(fields["method"], "GET");
            assert_eq!(fields["route"], "/v1/tiers/{tierId}");
            assert_eq!(fields["status"], 404);
            assert_eq!(fields["caller"], "secret");
            assert_eq!(fields["project"], project.as_str());
            assert_eq!(fields["mode"], "test");
            assert!(fields["latency_ms"].as_f64().is_some(), "{line}");
            // Every line is JSON.
            for other in log.lines().filter(|l| l.starts_with('{')) {
                serde_json::from_str::<serde_json::Value>(other).unwrap();
            }
        } else {
            for part in [
                "INFO",
                "method=GET",
                "route=\"/v1/tiers/{tierId}\"",
                "status=404",
                &format!("project=\"{project}\""),
            ] {
                assert!(line.contains(part), "{part} not in {line}");
            }
        }
    }
}
