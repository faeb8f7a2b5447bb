//! The store when the database fails under it: a full SQLite file, Postgres connections killed
//! mid-transaction. What must hold: no increment is acknowledged unless it is stored, nothing
//! is half-written, no call hangs, and the store writes again by itself once the fault ends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dream_server::domain::{IdempotentOutcome, Mode, Tenant, TrackOutcome};
use dream_server::store::usage::Counter;
use dream_server::store::{Store, StoreOptions};
use sqlx::{Connection, Executor, Row};

use crate::harness::{Backend, fresh_store};

/// Longer than any write takes here, far shorter than SQLite's 30 s busy wait: a call that
/// runs into it waited on a lock nobody will release.
const HANG: Duration = Duration::from_secs(10);

fn tenant() -> Tenant {
    Tenant {
        project_id: "proj_fault_test".into(),
        mode: Mode::Test,
    }
}

/// What became of one increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Acknowledged,
    Failed,
    Hung,
}

/// One increment of 1 on the user's own counter, with an idempotency key or without.
async fn track(store: &Store, user: &str, idempotent: bool) -> Answer {
    let tenant = tenant();
    let counter = Counter {
        tenant: &tenant,
        user_id: user,
        metric: "requests",
        period: "2026-11",
    };
    let call = async {
        if idempotent {
            // Sent, then retried with the same key, as a client does that is unsure: a
            // replay ends its transaction with a rollback.
            let key = format!("key-{user}");
            let mut answer = Answer::Failed;
            for _ in 0..2 {
                match store
                    .usage_increment_idempotent(&counter, 1, None, &key, "hash", 0, |c| {
                        c.to_string()
                    })
                    .await
                {
                    Ok(IdempotentOutcome::Fresh(TrackOutcome::Counted(1))) => {
                        answer = Answer::Acknowledged
                    }
                    Ok(IdempotentOutcome::Replayed(body)) if body == "1" => {
                        answer = Answer::Acknowledged
                    }
                    Ok(other) => panic!("{user}: unexpected outcome {other:?}"),
                    Err(_) => {}
                }
            }
            answer
        } else {
            match store.usage_increment(&counter, 1, None).await {
                Ok(TrackOutcome::Counted(1)) => Answer::Acknowledged,
                Ok(other) => panic!("{user}: unexpected outcome {other:?}"),
                Err(_) => Answer::Failed,
            }
        }
    };
    tokio::time::timeout(HANG, call)
        .await
        .unwrap_or(Answer::Hung)
}

/// Tracks `count` new users at once (half with idempotency keys); the answers by user.
async fn wave(store: &Arc<Store>, prefix: &str, count: usize) -> Vec<(String, Answer)> {
    let tasks = (0..count).map(|i| {
        let store = store.clone();
        let user = format!("{prefix}_{i}");
        tokio::spawn(async move {
            let answer = track(&store, &user, i % 2 == 0).await;
            (user, answer)
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect()
}

/// The users whose counter is stored as 1 (anything else stored is a failure of its own).
async fn stored_users(store: &Store, users: &[String]) -> BTreeSet<String> {
    let tenant = tenant();
    let mut stored = BTreeSet::new();
    for user in users {
        let counter = Counter {
            tenant: &tenant,
            user_id: user,
            metric: "requests",
            period: "2026-11",
        };
        match store.usage_get(&counter).await.expect("read back") {
            0 => {}
            1 => {
                stored.insert(user.clone());
            }
            n => panic!("{user}: stored {n} for one increment"),
        }
    }
    stored
}

fn acknowledged(answers: &[(String, Answer)]) -> BTreeSet<String> {
    answers
        .iter()
        .filter(|(_, a)| *a == Answer::Acknowledged)
        .map(|(u, _)| u.clone())
        .collect()
}

/// SQLite on a full disk (`max_page_count` just above the file's size). Reported from outside:
/// after the first `database or disk is full`, every increment was answered as done and none
/// was stored, and later writes waited 30 s for a lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_acknowledges_only_what_is_stored_and_recovers() {
    let (store, url, _dir) = fresh_store(Backend::Sqlite).await;
    store.close().await;
    // Ballast the test can delete later to free space, then the cap: a few pages of room.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
    raw.execute("CREATE TABLE ballast (data BLOB)")
        .await
        .unwrap();
    raw.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
         INSERT INTO ballast SELECT randomblob(4000) FROM n",
    )
    .await
    .expect("ballast");
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .get(0);
    raw.close().await.unwrap();
    let options = StoreOptions {
        sqlite_max_pages: Some(pages as u64 + 6),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::connect_with(&url, options.clone()).await.unwrap());

    // Fill it: waves of new users until writes fail, then more waves on the full file.
    let mut answers = Vec::new();
    for round in 0..20 {
        answers.extend(wave(&store, &format!("full{round}"), 60).await);
    }
    let hung = answers.iter().filter(|(_, a)| *a == Answer::Hung).count();
    let failed = answers.iter().filter(|(_, a)| *a == Answer::Failed).count();
    let acked = acknowledged(&answers);
    assert!(
        failed > 0,
        "the file never filled up ({} acknowledged)",
        acked.len()
    );
    assert!(
        !acked.is_empty(),
        "nothing fitted before the file filled up"
    );
    assert_eq!(hung, 0, "{hung} calls hung on the full file");

    // Space comes back: the same store writes again, promptly, without a restart.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
    raw.execute("DELETE FROM ballast")
        .await
        .expect("free space");
    raw.close().await.unwrap();
    let after = wave(&store, "after", 40).await;
    assert_eq!(
        acknowledged(&after).len(),
        after.len(),
        "after space was freed: {after:?}"
    );

    // What was acknowledged is what a restarted server finds.
    Arc::try_unwrap(store).expect("one owner").close().await;
    let reopened = Store::connect(&url).await.unwrap();
    let users: Vec<String> = answers.iter().map(|(u, _)| u.clone()).collect();
    let stored = stored_users(&reopened, &users).await;
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let after_users: Vec<String> = after.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(
        stored_users(&reopened, &after_users).await.len(),
        after.len()
    );
    crate::harness::Figures {
        case: "SQLite disk full (max_page_count), then space freed: store",
        acknowledged: Some(acked.len()),
        stored: Some(stored.len()),
        ..Default::default()
    }
    .report();
}

/// Postgres connections killed while transactions and commits are under way: no acknowledged
/// increment is lost, no call hangs, and the store keeps writing on fresh connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_write_lose_nothing_acknowledged() {
    let (store, url, _dir) = fresh_store(Backend::Postgres).await;
    let store = Arc::new(store);
    let killer = {
        let url = url.clone();
        tokio::spawn(async move {
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
            for _ in 0..40 {
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                    .await
                    .expect("terminate");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut answers = Vec::new();
    let mut round = 0;
    while !killer.is_finished() {
        answers.extend(wave(&store, &format!("kill{round}"), 40).await);
        round += 1;
    }
    killer.await.unwrap();
    let hung = answers.iter().filter(|(_, a)| *a == Answer::Hung).count();
    assert_eq!(hung, 0, "{hung} calls hung");
    let failed = answers.iter().filter(|(_, a)| *a == Answer::Failed).count();
    assert!(failed > 0, "no write was ever interrupted");

    // A connection killed while it sat in the pool fails the one request that takes it
    // next (and is then closed); after one round that has met them all, every write succeeds.
    wave(&store, "settle", 40).await;
    let after = wave(&store, "after", 40).await;
    assert_eq!(acknowledged(&after).len(), after.len(), "{after:?}");

    let users: Vec<String> = answers.iter().map(|(u, _)| u.clone()).collect();
    let acked = acknowledged(&answers);
    let stored = stored_users(&store, &users).await;
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    crate::harness::Figures {
        case: "Postgres connections killed mid-write: store",
        acknowledged: Some(acked.len()),
        stored: Some(stored.len()),
        ..Default::default()
    }
    .report();
}
