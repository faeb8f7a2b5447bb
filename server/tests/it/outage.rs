//! A `dream serve` whose Postgres goes away and comes back. The database is reached through a
//! TCP relay the test controls: taking the relay down closes every connection and refuses new
//! ones, as a stopped or restarted Postgres does, without touching the shared server.
//!
//! What must hold: during the outage every request is answered within about 2 s (a track
//! with `503 service_unavailable` and `Retry-After`, `/readyz` with `503`); the server
//! recovers by itself when the database is back; and counts are exact once the refused
//! requests are retried with their idempotency keys.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};

use crate::replicas::{banner_key, redis_url, replica, used};

/// The longest answer accepted during the outage: the server's 2 s bound, plus slack for a
/// loaded test machine.
const ANSWER_WITHIN: Duration = Duration::from_millis(3500);

/// A TCP relay to the database that can be taken down and brought back on the same port.
struct Relay {
    addr: SocketAddr,
    target: String,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    fn new(target: &str) -> Relay {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Relay {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            target: target.to_string(),
            running: None,
        }
    }

    /// A relay, up, to a fresh Postgres database, and the database's URL through it.
    async fn to_fresh_database() -> (Relay, reqwest::Url) {
        let database = dream_server::testing::fresh_postgres_database("dream_test")
            .await
            .expect("a fresh Postgres database");
        let mut url = reqwest::Url::parse(&database).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let mut relay = Relay::new(&target);
        relay.up();
        url.set_port(Some(relay.addr.port())).unwrap();
        (relay, url)
    }

    fn up(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(128).unwrap();
        let target = self.target.clone();
        self.running = Some(tokio::spawn(async move {
            // Dropped with the task: every relayed connection ends when the relay goes down.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes every relayed connection and the listening port (new connections are refused).
    async fn down(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// One answer: status, error code, `Retry-After`, and how long it took.
#[derive(Debug)]
struct Answer {
    status: u16,
    code: Option<String>,
    retry_after: Option<String>,
    took: Duration,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        code: body["code"].as_str().map(str::to_string),
        retry_after,
        took: started.elapsed(),
    }
}

/// A successful request's JSON body.
async fn body_of(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the server answers");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_is_answered_promptly_with_503_and_recovers_exactly() {
    dream_server::install_crypto();
    let (mut relay, url) = Relay::to_fresh_database().await;
    let server = replica(url.as_str(), &redis_url());
    let base = server.base.clone();
    let pk = banner_key(&server.banner, "test publishable key");
    let sk = banner_key(&server.banner, "test secret key");
    let http = reqwest::Client::new();

    let token = body_of(
        http.post(format!("{base}/v1/dev/tokens"))
            .bearer_auth(&sk)
            .json(&json!({ "userId": "user_outage" })),
    )
    .await;
    let token = token["token"].as_str().expect("a token").to_string();
    let track = |key: String| {
        http.post(format!("{base}/v1/usage/track"))
            .header("x-publishable-key", &pk)
            .header("idempotency-key", key)
            .bearer_auth(&token)
            .json(&json!({}))
    };
    for i in 0..10 {
        let answer = send(track(format!("before-{i}"))).await;
        assert_eq!(answer.status, 200, "before the outage: {answer:?}");
    }

    relay.down().await;
    let outage_started = Instant::now();
    let mut refused_keys = Vec::new();
    let mut answers = Vec::new();
    let mut round = 0;
    while outage_started.elapsed() < Duration::from_secs(6) {
        let keys: Vec<String> = (0..8).map(|i| format!("outage-{round}-{i}")).collect();
        let tracks = keys.iter().map(|key| send(track(key.clone())));
        let ready = send(http.get(format!("{base}/readyz")));
        let (tracked, ready) = tokio::join!(futures::future::join_all(tracks), ready);
        assert_eq!(ready.status, 503, "/readyz during the outage: {ready:?}");
        answers.push(ready);
        for (key, answer) in keys.into_iter().zip(tracked) {
            assert_eq!(answer.status, 503, "a track during the outage: {answer:?}");
            assert_eq!(answer.code.as_deref(), Some("service_unavailable"));
            assert_eq!(answer.retry_after.as_deref(), Some("1"));
            refused_keys.push(key);
            answers.push(answer);
        }
        round += 1;
    }
    let slowest = answers.iter().map(|a| a.took).max().unwrap();
    println!("outage: {} answers, slowest {slowest:?}", answers.len());
    assert!(slowest <= ANSWER_WITHIN, "an answer took {slowest:?}");

    relay.up();
    let back = Instant::now();
    loop {
        let ready = send(http.get(format!("{base}/readyz"))).await;
        if ready.status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not ready 10 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = back.elapsed();
    println!("ready again {ready_after:?} after the database came back");

    // The refused requests, retried as a client does: each counts once.
    for key in &refused_keys {
        let mut answer = send(track(key.clone())).await;
        // The first request on a connection the outage closed while it sat in the pool may
        // still fail; its retry goes through.
        if answer.status != 200 {
            answer = send(track(key.clone())).await;
        }
        assert_eq!(answer.status, 200, "a retry after the outage: {answer:?}");
    }
    let me = body_of(
        http.get(format!("{base}/v1/me"))
            .header("x-publishable-key", &pk)
            .bearer_auth(&token),
    )
    .await;
    let count = used(&me, "requests").unwrap_or_else(|| panic!("no count in {me}"));
    assert_eq!(
        count,
        10 + refused_keys.len() as i64,
        "every acknowledged track, once"
    );
    crate::harness::Figures {
        case: "Postgres gone for 6 s under load (503s retried with their keys)",
        acknowledged: Some(10 + refused_keys.len()),
        stored: Some(count as usize),
        worst_answer: Some(slowest),
        recovery: Some(ready_after),
    }
    .report();
}

/// With `REDIS_URL` set and nothing listening there, `dream serve` refuses to start with a
/// message that names Redis and where it was looked for (never its password), quickly.
#[test]
fn serve_with_redis_unreachable_says_so() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("dream.db").display());
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
        .args(["--database-url", &database, "serve", "--port", "0"])
        .env("REDIS_URL", format!("redis://:hunter2@127.0.0.1:{port}"))
        .env("DREAM_OPERATOR_TOKEN", "op_test")
        .env("DREAM_HOST", "127.0.0.1")
        .output()
        .expect("dream runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "Redis (REDIS_URL) at 127.0.0.1:{port} is unreachable"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// After SIGTERM, a client that sent half a request (and one idle keep-alive connection) does
/// not keep the process alive past the shutdown grace period.
#[test]
fn sigterm_exits_within_the_grace_period_whatever_clients_do() {
    use std::io::Write;
    let (mut child, base, _dir) =
        crate::harness::spawn_serve(&[("DREAM_SHUTDOWN_GRACE_SECONDS", "1")]);
    // Half a request: the request line and one header, never the blank line.
    let mut half = std::net::TcpStream::connect(&base).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A finished request on a kept-alive connection.
    let mut idle = std::net::TcpStream::connect(&base).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM with a 1 s grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(4), "exited after {took:?}");
    drop((half, idle));
    crate::harness::Figures {
        case: "SIGTERM with half-sent and idle clients, 1 s grace: exit",
        recovery: Some(took),
        ..Default::default()
    }
    .report();
}

/// Two replicas whose Postgres restarts. Once both answer again, a track on one is seen by a
/// check on the other within milliseconds, from the first track on: a replica keeps no copy
/// of a user's counters while its side of the change channel is in doubt, and the replica
/// that tracks finds its announcing connection closed by the restart and makes a new one at
/// once (a retry timer would leave the other trusting a stale copy meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_see_each_others_counts_at_once_across_a_postgres_restart() {
    dream_server::install_crypto();
    let (mut relay, url) = Relay::to_fresh_database().await;
    // The first creates the schema and the development project; the second joins it.
    let tracker = replica(url.as_str(), &redis_url());
    let checker = replica(url.as_str(), &redis_url());
    let pk = banner_key(&tracker.banner, "test publishable key");
    let sk = banner_key(&tracker.banner, "test secret key");
    let http = reqwest::Client::new();
    let token = body_of(
        http.post(format!("{}/v1/dev/tokens", tracker.base))
            .bearer_auth(&sk)
            .json(&json!({ "userId": "user_restart" })),
    )
    .await;
    let token = token["token"].as_str().expect("a token").to_string();
    let track = |key: String| {
        http.post(format!("{}/v1/usage/track", tracker.base))
            .header("x-publishable-key", &pk)
            .header("idempotency-key", key)
            .bearer_auth(&token)
            .json(&json!({}))
    };
    let checked = || async {
        let me = body_of(
            http.get(format!("{}/v1/me", checker.base))
                .header("x-publishable-key", &pk)
                .bearer_auth(&token),
        )
        .await;
        used(&me, "requests").unwrap_or_else(|| panic!("no count in {me}"))
    };
    // How long until the checker answers `expected`.
    let seen = |expected: i64| async move {
        let started = Instant::now();
        while checked().await != expected {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the checker never saw {expected}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    };
    assert_eq!(checked().await, 0);
    assert_eq!(send(track("before".into())).await.status, 200);
    seen(1).await;

    relay.down().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.up();
    for base in [&tracker.base, &checker.base] {
        let back = Instant::now();
        while send(http.get(format!("{base}/readyz"))).await.status != 200 {
            assert!(back.elapsed() < Duration::from_secs(10), "{base} not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Long enough for both listeners to listen again.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut took = Vec::new();
    for expected in 2..=6 {
        // The checker reads the count, and keeps it.
        assert_eq!(checked().await, expected - 1);
        let key = format!("after-{expected}");
        let mut answer = send(track(key.clone())).await;
        // A pooled connection the restart closed may fail once; the retry goes through.
        if answer.status != 200 {
            answer = send(track(key)).await;
        }
        assert_eq!(answer.status, 200, "a track after the restart: {answer:?}");
        took.push(seen(expected).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("after the restart, tracks seen by the other replica after {took:?}");
    assert!(
        took.iter().all(|t| *t < Duration::from_millis(500)),
        "{took:?}"
    );
    crate::harness::Figures {
        case: "two replicas across a Postgres restart: a track seen by the other",
        worst_answer: took.iter().max().copied(),
        ..Default::default()
    }
    .report();
}
