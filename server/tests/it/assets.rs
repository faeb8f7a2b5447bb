//! Assets' storage as only the implementation sees it: what is in the object store after
//! uploads that were refused, cut off or deleted (nothing but the assets that exist), and
//! several replicas sharing one S3-compatible bucket. The API's own behaviour (round trips,
//! delivery headers, ranges, isolation) is the conformance suite's `assets` profile.
//!
//! The S3 case runs against the S3-compatible server of `dream_server::testing::fresh_s3_bucket`
//! (`DREAM_TEST_S3`, moto's server mode, which `scripts/test` starts).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::ObjectStore;
use serde_json::{Value, json};

use crate::harness::{Backend, fresh_database, operator_project, spawn_serve_on};

crate::on_both_stores!(refused_and_cut_off_uploads_leave_nothing_in_the_store);

/// A 1×1 PNG's first bytes followed by `len - 8` zeros: enough for the type check.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(len.max(8), 0);
    bytes
}

/// Every file under `dir`, staging files included.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// Polls `check` for up to five seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first page of the project's assets.
async fn list(http: &reqwest::Client, base: &str, sk: &str) -> Value {
    http.get(format!("{base}/v1/assets"))
        .bearer_auth(sk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A body sent in 64 KiB chunks without a `Content-Length`, so only reading it tells its size.
fn chunked(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    sk: &str,
    filename: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/v1/assets?filename={filename}"))
        .bearer_auth(sk)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refused_and_cut_off_uploads_leave_nothing_in_the_store(backend: Backend) {
    let (database, dir) = fresh_database(backend).await;
    let store_dir = dir.path().join("assets");
    let store_url = store_dir.display().to_string();
    let (mut server, address) = spawn_serve_on(
        &database,
        &[
            ("DREAM_ASSETS_URL", store_url.as_str()),
            ("DREAM_ASSET_MAX_BYTES", "1000000"),
            ("DREAM_ASSET_QUOTA_BYTES", "1500000"),
        ],
    );
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let (_, sk) = operator_project(&http, &base, "Assets").await;
    assert!(
        !store_dir.exists(),
        "the folder is made by the first upload"
    );

    let (status, first) = upload(&http, &base, &sk, "a.png", "image/png", png(700_000)).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(files(&store_dir).len(), 1);

    // Larger than the limit, without a Content-Length: refused while streaming.
    let (status, body) = upload(
        &http,
        &base,
        &sk,
        "big.png",
        "image/png",
        chunked(png(1_200_000)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Not the type it declares.
    let (status, body) = upload(&http, &base, &sk, "x.png", "image/png", b"<svg/>".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // Past the quota: refused before reading with a Content-Length, after storing without.
    let (status, body) = upload(&http, &base, &sk, "b.png", "image/png", png(900_000)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("storage_quota_exceeded"))
    );
    let (status, body) = upload(
        &http,
        &base,
        &sk,
        "c.png",
        "image/png",
        chunked(png(900_000)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("storage_quota_exceeded"))
    );
    // A client that goes away halfway.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    sender.send(Ok(png(300_000))).await.unwrap();
    let cut = http
        .post(format!("{base}/v1/assets?filename=cut.png"))
        .bearer_auth(&sk)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(tokio_stream_from(receiver)))
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), cut)
            .await
            .is_err(),
        "the upload waits for the rest of its body"
    );
    drop(sender);

    eventually("only the one stored asset's bytes remain", || {
        files(&store_dir).len() == 1
    })
    .await;
    let listed = list(&http, &base, &sk).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");

    // Deleting removes the bytes, and the public URL answers 404.
    let url = first["url"].as_str().unwrap().to_string();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let deleted = http
        .delete(format!(
            "{base}/v1/assets/{}",
            first["id"].as_str().unwrap()
        ))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    assert!(files(&store_dir).is_empty(), "{:?}", files(&store_dir));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A stream of what arrives on `receiver`, ending when its sender is dropped.
fn tokio_stream_from(
    receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// The keys under `prefix` in the bucket `s3://…`, listed through object_store as another
/// client would.
async fn keys(bucket: &str, options: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    let mut builder = object_store::aws::AmazonS3Builder::new().with_url(bucket);
    for (key, value) in options {
        builder = builder.with_config(key.parse().unwrap(), value);
    }
    let store = builder.build().unwrap();
    let prefix = object_store::path::Path::from(prefix);
    store
        .list(Some(&prefix))
        .map(|meta| meta.unwrap().location.to_string())
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_share_assets_on_one_s3_bucket() {
    let http = reqwest::Client::new();
    let (bucket, options) = dream_server::testing::fresh_s3_bucket("dream-test")
        .await
        .expect("a fresh S3 bucket");
    let (database, _dir) = fresh_database(Backend::Postgres).await;
    let assets_url = format!("{bucket}/shop");
    // The same options as the environment `dream serve` reads them.
    let env: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| (format!("AWS_{}", k.to_uppercase()), v.clone()))
        .chain([
            ("DREAM_ASSETS_URL".to_string(), assets_url),
            ("DREAM_ASSET_MAX_BYTES".to_string(), "8000000".to_string()),
        ])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut a, address_a) = spawn_serve_on(&database, &env);
    let (mut b, address_b) = spawn_serve_on(&database, &env);
    let (base_a, base_b) = (format!("http://{address_a}"), format!("http://{address_b}"));
    let (_, sk) = operator_project(&http, &base_a, "Shared").await;

    // Seven megabytes: sent to the bucket as a multipart upload of two parts.
    let bytes: Vec<u8> = png(7_000_000)
        .iter()
        .enumerate()
        .map(|(i, b)| if i < 8 { *b } else { (i % 251) as u8 })
        .collect();
    let (status, asset) =
        upload(&http, &base_a, &sk, "large.png", "image/png", bytes.clone()).await;
    assert_eq!(status, 201, "{asset}");
    let id = asset["id"].as_str().unwrap();
    let stored = keys(&bucket, &options, "shop").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        stored[0].starts_with("shop/proj_") && stored[0].ends_with(id),
        "{stored:?}"
    );

    // The other replica serves it, whole and in part.
    let url_b = format!("{base_b}/assets/{id}/large.png");
    let got = http.get(&url_b).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let part = http
        .get(&url_b)
        .header("range", "bytes=6000000-6000009")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &bytes[6_000_000..6_000_010]
    );
    let listed = list(&http, &base_b, &sk).await;
    assert_eq!(listed["data"][0]["id"], json!(id));

    // A refused upload leaves no object; a deletion through one replica removes the bytes
    // and the other replica's URL answers 404.
    let (status, _) = upload(
        &http,
        &base_b,
        &sk,
        "huge.png",
        "image/png",
        chunked(png(9_000_000)),
    )
    .await;
    assert_eq!(status, 413);
    let deleted = http
        .delete(format!("{base_b}/v1/assets/{id}"))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        http.get(format!("{base_a}/assets/{id}/large.png"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(keys(&bucket, &options, "shop").await.is_empty());
    for server in [&mut a, &mut b] {
        server.kill().unwrap();
        server.wait().unwrap();
    }
}
