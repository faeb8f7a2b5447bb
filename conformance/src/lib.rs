//! `dream-conformance`: certifies a Dream API backend against the spec.
//!
//! A run starts the recording proxy (`proxy`), which every case's requests go through so each
//! response is checked against the spec (`spec`), makes the suite's token issuer (`tokens`),
//! then runs the selected cases (`cases`) a few at a time, each against its own project, and
//! files a [`report::Report`]. Cases are data (`harness::Case`) citing the requirements
//! (`requirements`) they prove.

pub mod cases;
pub mod config;
pub mod harness;
pub mod proxy;
pub mod report;
pub mod requirements;
pub mod spec;
pub mod stripe;
pub mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use config::{ConfigError, Settings};
use harness::{Case, Ctx, Shared, Verdict};
use report::{CaseReport, Report, Status};

/// The jose-made key set and tokens (`tools/jwt-fixtures.mjs`).
pub const JOSE_FIXTURES: &str = include_str!("../fixtures/jose.json");

/// How long one case may take before it is an error.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Installs the TLS crypto provider; call once before a run.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The cases a run with these settings selects, in suite order.
pub fn select(settings: &Settings) -> Vec<Case> {
    cases::all()
        .into_iter()
        .filter(|case| settings.profiles.contains(&case.profile))
        .filter(|case| match &settings.filter {
            Some(filter) => case.id.contains(filter.as_str()),
            None => true,
        })
        .collect()
}

/// Runs the selected cases against the backend. A configuration the suite cannot run with
/// (no cases selected, a backend that does not answer) is an `Err`.
pub async fn run(settings: Settings) -> Result<Report, ConfigError> {
    settings.validate()?;
    let spec = Arc::new(spec::Spec::load().map_err(|e| ConfigError(format!("spec: {e}")))?);
    let selected = select(&settings);
    if selected.is_empty() {
        let names: Vec<_> = settings.profiles.iter().map(|p| p.name()).collect();
        return Err(ConfigError(format!(
            "no case of this suite version matches profiles {} and the filter",
            names.join(",")
        )));
    }
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let run_id = run_id();
    let seed = settings.seed;
    let issuer = {
        let run_id = run_id.clone();
        tokio::task::spawn_blocking(move || tokens::Issuer::new(seed, &run_id))
            .await
            .expect("key generation task")
            .map_err(|e| ConfigError(format!("key generation: {e}")))?
    };
    let jose: serde_json::Value =
        serde_json::from_str(JOSE_FIXTURES).expect("the jose fixtures are JSON");
    let jwks = HashMap::from([
        ("suite".to_owned(), issuer.jwks.clone()),
        ("jose".to_owned(), jose["jwks"].clone()),
    ]);
    let proxy = proxy::start(&settings.base_url, spec.clone(), jwks)
        .await
        .map_err(|e| ConfigError(format!("cannot start the proxy: {e}")))?;
    reachable(&settings.base_url).await?;
    let shared = Arc::new(Shared {
        callback_base: format!("http://{}:{}", settings.callback_host, proxy.port),
        proxy_base: proxy.base.clone(),
        run_id: run_id.clone(),
        issuer,
        jose,
        settings: settings.clone(),
        created: Default::default(),
    });

    let runs = selected.iter().enumerate().map(|(index, case)| {
        let shared = shared.clone();
        let recorder = proxy.recorder.clone();
        async move {
            let ctx = Ctx::new(shared, index, case.id);
            let started = Instant::now();
            let mut handle = tokio::spawn((case.run)(ctx));
            let outcome = tokio::time::timeout(CASE_TIMEOUT, &mut handle).await;
            let verdict = match outcome {
                Err(_) => {
                    // Stop the case, so it sends nothing after its report is filed.
                    handle.abort();
                    Err(Verdict::Error(format!(
                        "timed out after {} s",
                        CASE_TIMEOUT.as_secs()
                    )))
                }
                Ok(Err(join)) => Err(Verdict::Error(format!("the case panicked: {join}"))),
                Ok(Ok(result)) => result,
            };
            let exchanges = recorder.take(index);
            (index, classify(case, verdict, exchanges, started.elapsed()))
        }
    });
    let mut reports: Vec<(usize, CaseReport)> = futures::stream::iter(runs)
        .buffer_unordered(settings.concurrency)
        .collect()
        .await;
    reports.sort_by_key(|(index, _)| *index);
    let created = std::mem::take(&mut *shared.created.lock().expect("created projects"));
    let cleanup = delete_projects(&settings, created).await;

    Ok(Report {
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        spec_version: spec.version.clone(),
        backend: settings.base_url.clone(),
        seed,
        run_id,
        profiles: settings.profiles.clone(),
        certified: settings.certified,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_ms: started.elapsed().as_millis() as u64,
        cases: reports.into_iter().map(|(_, report)| report).collect(),
        cleanup,
        secrets: settings
            .operator_token
            .iter()
            .cloned()
            .chain(
                settings
                    .projects
                    .iter()
                    .flat_map(|p| [p.test_secret_key.clone(), p.live_secret_key.clone()]),
            )
            .collect(),
    })
}

/// Deletes the projects the run created (`deleteProject`, with the operator token), so a
/// backend keeps nothing of a conformance run; what could not be deleted is reported.
async fn delete_projects(settings: &Settings, created: Vec<String>) -> report::Cleanup {
    let mut cleanup = report::Cleanup::default();
    let Some(token) = settings.operator_token.as_deref() else {
        return cleanup;
    };
    let operator = harness::client_at(
        &settings.base_url,
        &[("authorization", &format!("Bearer {token}"))],
    );
    let deletions = created.into_iter().map(|id| {
        let operator = operator.clone();
        async move {
            let delete = operator.delete_project().project_id(id.as_str()).send();
            let outcome = tokio::time::timeout(Duration::from_secs(30), delete).await;
            (id, outcome)
        }
    });
    let outcomes: Vec<_> = futures::stream::iter(deletions)
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for (id, outcome) in outcomes {
        let Ok(outcome) = outcome else {
            cleanup.left.push(format!("{id}: no answer within 30 s"));
            continue;
        };
        match outcome {
            Ok(_) => cleanup.deleted += 1,
            // The case deleted it itself (platform.project-delete).
            Err(progenitor_client::Error::ErrorResponse(r)) if r.status().as_u16() == 404 => {}
            Err(progenitor_client::Error::ErrorResponse(r)) => {
                let status = r.status().as_u16();
                let refusal = harness::ErrorBody::refusal(r.into_inner(), status);
                cleanup.left.push(format!(
                    "{id}: {status} {}: {}",
                    refusal.code, refusal.message
                ));
            }
            Err(e) => cleanup.left.push(format!("{id}: {e}")),
        }
    }
    cleanup.left.sort();
    cleanup
}

/// A case's status: its own verdict, made a failure by any response that departed from the
/// spec, and an error if the backend could not be reached.
fn classify(
    case: &Case,
    verdict: Result<(), Verdict>,
    exchanges: Vec<proxy::Exchange>,
    elapsed: Duration,
) -> CaseReport {
    let violations: Vec<String> = exchanges
        .iter()
        .flat_map(|x| {
            let what = format!(
                "{} {} → {}",
                x.method,
                x.operation.as_deref().unwrap_or(&x.url),
                x.status
            );
            x.violations.iter().map(move |v| format!("{what}: {v}"))
        })
        .collect();
    let transport = exchanges.iter().find_map(|x| x.transport_error.clone());
    let (status, message) = match verdict {
        _ if transport.is_some() => (Status::Error, transport),
        Ok(()) => (Status::Pass, None),
        Err(Verdict::Fail(message)) => (Status::Fail, Some(message)),
        Err(Verdict::Skip(message)) => (Status::Skip, Some(message)),
        Err(Verdict::Error(message)) => (Status::Error, Some(message)),
    };
    // A response that departs from the spec fails the case, whatever the case itself concluded
    // (short of an error, which means the backend could not be asked at all).
    let (status, message) = match (status, message) {
        (Status::Error, message) => (Status::Error, message),
        (status, message) if violations.is_empty() => (status, message),
        (_, message) => {
            let departed = format!(
                "responses departed from the spec:\n{}",
                violations.join("\n")
            );
            let message = match message {
                Some(message) => format!("{message}\nand {departed}"),
                None => departed,
            };
            (Status::Fail, Some(message))
        }
    };
    CaseReport {
        id: case.id.to_owned(),
        title: case.title.to_owned(),
        profile: case.profile,
        requirements: case.requirements.iter().map(|r| (*r).to_owned()).collect(),
        status,
        message,
        duration_ms: elapsed.as_millis() as u64,
        exchanges,
    }
}

async fn reachable(base_url: &str) -> Result<(), ConfigError> {
    let url = format!("{}/healthz", base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ConfigError(e.to_string()))?;
    match client.get(&url).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigError(format!(
            "the backend does not answer at {url}: {e}"
        ))),
    }
}

fn run_id() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
