//! Connections from clients that are slow, idle, numerous or leave their body unread: each
//! has a time limit or a cap, and the server keeps serving everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::spawn_serve;

/// Reads until the server closes the connection (or `within` passes): what it sent and how
/// long until it closed (`None`: still open).
fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => {
                return (
                    String::from_utf8_lossy(&seen).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                return (
                    String::from_utf8_lossy(&seen).into(),
                    Some(started.elapsed()),
                );
            }
        }
    }
    (String::from_utf8_lossy(&seen).into(), None)
}

/// One request on a fresh connection; the response's head and body as text.
fn request(base: &str, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(base).unwrap();
    stream.write_all(raw).unwrap();
    let (text, _) = until_closed(&mut stream, Duration::from_secs(3));
    text
}

fn healthy(base: &str) -> bool {
    request(
        base,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .starts_with("HTTP/1.1 200")
}

#[test]
fn idle_slow_and_silent_clients_are_cut_off_while_others_are_served() {
    let (mut child, base, _dir) = spawn_serve(&[
        ("DREAM_HEADER_TIMEOUT_SECONDS", "1"),
        ("DREAM_BODY_TIMEOUT_SECONDS", "1"),
    ]);
    // Connected, never a byte.
    let mut silent = TcpStream::connect(&base).unwrap();
    // A request line, then headers at a byte every 200 ms, never finished.
    let mut trickle = TcpStream::connect(&base).unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let mut trickle_writer = trickle.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            if trickle_writer.write_all(b"X").is_err() {
                break;
            }
        }
    });
    // A finished request, then the connection left idle.
    let mut idle = TcpStream::connect(&base).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // A body announced and never sent in full.
    let mut bodiless = TcpStream::connect(&base).unwrap();
    bodiless
        .write_all(
            b"POST /v1/usage/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"metric\":",
        )
        .unwrap();

    assert!(healthy(&base), "others are served meanwhile");
    for (name, stream) in [
        ("silent", &mut silent),
        ("trickling headers", &mut trickle),
        ("idle keep-alive", &mut idle),
    ] {
        let (_, closed) = until_closed(stream, Duration::from_secs(6));
        let closed = closed.unwrap_or_else(|| panic!("{name}: still open after 6 s"));
        assert!(
            closed < Duration::from_secs(4),
            "{name}: closed after {closed:?}"
        );
    }
    let (answer, closed) = until_closed(&mut bodiless, Duration::from_secs(6));
    assert!(
        closed.is_some(),
        "the unfinished body's connection is closed"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(healthy(&base), "and served after");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn connections_over_the_cap_are_closed_while_open_ones_are_served() {
    let (mut child, base, _dir) = spawn_serve(&[
        ("DREAM_MAX_CONNECTIONS", "4"),
        ("DREAM_HEADER_TIMEOUT_SECONDS", "2"),
    ]);
    // A client with a kept-alive connection, then a flood of idle ones.
    let mut client = TcpStream::connect(&base).unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    client.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut drain = [0u8; 4096];
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = client.read(&mut drain);
    let flood: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&base).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Those over the cap were closed at once; the rest are open.
    let closed = flood
        .into_iter()
        .filter_map(|mut s| until_closed(&mut s, Duration::from_millis(300)).1)
        .count();
    assert!(
        closed >= 17,
        "{closed} of 20 closed at once with a cap of 4"
    );
    // The client already connected is served through the flood.
    let asked = std::time::Instant::now();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = until_closed(&mut client, Duration::from_secs(3));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let served = asked.elapsed();
    // Once the idle ones time out, new clients are served again.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(healthy(&base));
    crate::harness::Figures {
        case: "20 idle connections over a cap of 4: an open client served",
        worst_answer: Some(served),
        ..Default::default()
    }
    .report();
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_body_left_unread_ends_its_connection_and_a_read_one_keeps_it() {
    let (mut child, base, _dir) = spawn_serve(&[]);
    // Larger than the router reads: refused before the end of the body.
    let size = 2 << 20;
    let mut stream = TcpStream::connect(&base).unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/usage/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        for _ in 0..(size / chunk.len()) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let (answer, closed) = until_closed(&mut stream, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(closed.is_some());

    // No route: the body is never read.
    let answer = request(
        &base,
        b"POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // A body read to its end (refused for want of a key) keeps the connection.
    let mut stream = TcpStream::connect(&base).unwrap();
    let body = br#"{"metric":"requests"}"#;
    stream
        .write_all(
            format!(
                "POST /v1/usage/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(body).unwrap();
    let (answer, closed) = until_closed(&mut stream, Duration::from_millis(1500));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(closed.is_none(), "kept alive");
    child.kill().unwrap();
    child.wait().unwrap();
}
