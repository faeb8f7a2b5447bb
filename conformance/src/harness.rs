//! What a case is and what it can use: a `Ctx` that hands out clients (generated and raw) bound
//! to the case's slot on the recording proxy, fresh projects, user tokens and unique names, and
//! the vocabulary for verdicts (`ensure!`, `ensure_eq!`, [`Expect`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dream_client::{Client, types};
use rand::SeedableRng as _;
use serde::Serialize;

use crate::config::Settings;
use crate::tokens::{self, Issuer};

/// The groups of cases a backend can be certified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Keys, tenancy, identity, errors, products, tiers, customers.
    Core,
    /// Metering: track, check, limits, idempotency.
    Usage,
    /// Checkout and portal through Stripe.
    Billing,
    /// Stripe webhooks.
    Webhooks,
    /// Per-user rate limits.
    Ratelimit,
    /// Asset storage: uploads, public delivery, products' images.
    Assets,
}

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::Core,
        Profile::Usage,
        Profile::Billing,
        Profile::Webhooks,
        Profile::Ratelimit,
        Profile::Assets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Core => "core",
            Profile::Usage => "usage",
            Profile::Billing => "billing",
            Profile::Webhooks => "webhooks",
            Profile::Ratelimit => "ratelimit",
            Profile::Assets => "assets",
        }
    }

    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The backend behaved unlike the spec.
    Fail(String),
    /// The backend answered `501 not_supported` for an optional capability, or the run's
    /// configuration cannot express the case.
    Skip(String),
    /// The case could not run: the backend was unreachable or timed out.
    Error(String),
}

pub type CaseResult = Result<(), Verdict>;
pub type CaseFuture = Pin<Box<dyn Future<Output = CaseResult> + Send>>;

/// A conformance case: data plus one async body.
pub struct Case {
    /// Stable id, `area.what-it-proves`.
    pub id: &'static str,
    pub title: &'static str,
    pub profile: Profile,
    /// The requirement ids (requirements.yaml) this case proves.
    pub requirements: &'static [&'static str],
    pub run: fn(Ctx) -> CaseFuture,
}

/// Declares a [`Case`] from an `async fn(Ctx) -> CaseResult`.
#[macro_export]
macro_rules! case {
    ($id:literal, $profile:ident, [$($req:literal),* $(,)?], $title:literal, $body:path) => {
        $crate::harness::Case {
            id: $id,
            title: $title,
            profile: $crate::harness::Profile::$profile,
            requirements: &[$($req),*],
            run: |ctx| Box::pin($body(ctx)),
        }
    };
}

/// Fails the case unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::harness::Verdict::Fail(format!($($fmt)+)));
        }
    };
}

/// Fails the case unless `got == want`, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $($fmt:tt)+) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err($crate::harness::Verdict::Fail(format!(
                "{}: expected {:?}, got {:?}",
                format!($($fmt)+),
                want,
                got
            )));
        }
    }};
}

type ClientResult<T, E> = Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<E>>;

/// What an error response said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// The error's `type` (`rate_limit_error`, …); empty for an operation without an error body.
    pub kind: String,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

/// An operation's documented error body: the `Error` schema, or nothing for operations that
/// document no error.
pub trait ErrorBody: std::fmt::Debug {
    fn refusal(self, status: u16) -> Refusal;
}

impl ErrorBody for types::Error {
    fn refusal(self, status: u16) -> Refusal {
        Refusal {
            status,
            kind: self.type_.to_string(),
            code: self.code,
            message: self.message,
            param: self.param,
        }
    }
}

impl ErrorBody for () {
    fn refusal(self, status: u16) -> Refusal {
        Refusal {
            status,
            kind: String::new(),
            code: String::new(),
            message: String::new(),
            param: None,
        }
    }
}

/// Turns a generated-client result into a verdict.
pub trait Expect<T> {
    /// The call must succeed; its body is returned.
    fn succeeds(self, what: &str) -> Result<T, Verdict>;
    /// The call must fail with this status and error code; what it said is returned.
    fn refused(self, what: &str, status: u16, code: &str) -> Result<Refusal, Verdict>;
}

impl<T, E: ErrorBody> Expect<T> for ClientResult<T, E> {
    fn succeeds(self, what: &str) -> Result<T, Verdict> {
        match self {
            Ok(value) => Ok(value.into_inner()),
            Err(e) => Err(unexpected(what, "success", e)),
        }
    }

    fn refused(self, what: &str, status: u16, code: &str) -> Result<Refusal, Verdict> {
        match self {
            Ok(response) => Err(Verdict::Fail(format!(
                "{what}: expected {status} {code}, got {} (success)",
                response.status().as_u16()
            ))),
            Err(progenitor_client::Error::ErrorResponse(response)) => {
                let got = response.status().as_u16();
                let refusal = response.into_inner().refusal(got);
                if refusal.status == status && refusal.code == code {
                    Ok(refusal)
                } else {
                    // A capability the case has already exercised cannot be "not supported"
                    // here: a 501 instead of the expected refusal is a failure, not a skip.
                    Err(Verdict::Fail(format!(
                        "{what}: expected {status} {code}, got {} {}: {}",
                        refusal.status, refusal.code, refusal.message
                    )))
                }
            }
            Err(e) => Err(unexpected(what, &format!("{status} {code}"), e)),
        }
    }
}

fn mismatch(what: &str, wanted: &str, refusal: Refusal) -> Verdict {
    if refusal.status == 501 && refusal.code == "not_supported" {
        return Verdict::Skip(format!("{what}: not supported: {}", refusal.message));
    }
    Verdict::Fail(format!(
        "{what}: expected {wanted}, got {} {}: {}",
        refusal.status, refusal.code, refusal.message
    ))
}

fn unexpected<E: ErrorBody>(
    what: &str,
    wanted: &str,
    error: progenitor_client::Error<E>,
) -> Verdict {
    use progenitor_client::Error;
    match error {
        Error::ErrorResponse(response) => {
            let status = response.status().as_u16();
            mismatch(what, wanted, response.into_inner().refusal(status))
        }
        Error::CommunicationError(e) => Verdict::Error(format!("{what}: {e}")),
        Error::UnexpectedResponse(response) => Verdict::Fail(format!(
            "{what}: expected {wanted}, got undocumented status {}",
            response.status().as_u16()
        )),
        other => Verdict::Fail(format!("{what}: expected {wanted}, got: {other}")),
    }
}

/// A project's keys in one mode.
#[derive(Debug, Clone)]
pub struct Keys {
    pub publishable: String,
    pub secret: String,
}

/// A project the case may use.
#[derive(Debug, Clone)]
pub struct Project {
    pub test: Keys,
    pub live: Keys,
    /// Created for this case (so the case may reconfigure it or revoke its keys).
    pub fresh: bool,
}

/// What every case of a run shares.
pub struct Shared {
    pub settings: Settings,
    /// Unique per run (not per seed), so concurrent runs never collide.
    pub run_id: String,
    pub proxy_base: String,
    /// Where the backend fetches the suite's JWKS.
    pub callback_base: String,
    pub issuer: Issuer,
    /// The jose-made JWKS and tokens, an implementation independent of the suite's signer.
    pub jose: serde_json::Value,
    /// The projects the run created, deleted when it ends.
    pub created: Mutex<Vec<String>>,
}

/// A case's handle on the run.
#[derive(Clone)]
pub struct Ctx {
    shared: Arc<Shared>,
    index: usize,
    pub case_id: &'static str,
    rng: Arc<Mutex<rand::rngs::StdRng>>,
    provisioned_taken: Arc<AtomicUsize>,
}

impl Ctx {
    pub fn new(shared: Arc<Shared>, index: usize, case_id: &'static str) -> Ctx {
        // Each case's data derives from the seed and its own id, whatever order cases run in.
        let case_seed = shared.settings.seed ^ fnv1a(case_id);
        Ctx {
            shared,
            index,
            case_id,
            rng: Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(case_seed))),
            provisioned_taken: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The base URL of this case's slot on the proxy.
    pub fn base(&self) -> String {
        format!("{}/c/{}", self.shared.proxy_base, self.index)
    }

    /// A generated client sending these headers on every request.
    pub fn client(&self, headers: &[(&str, &str)]) -> Client {
        client_at(&self.base(), headers)
    }

    pub fn anonymous(&self) -> Client {
        self.client(&[])
    }

    pub fn secret(&self, keys: &Keys) -> Client {
        self.client(&[("authorization", &format!("Bearer {}", keys.secret))])
    }

    pub fn publishable(&self, keys: &Keys) -> Client {
        self.client(&[("x-publishable-key", &keys.publishable)])
    }

    /// Acts for a user: the publishable key plus the user's token.
    pub fn user(&self, keys: &Keys, token: &str) -> Client {
        self.client(&[
            ("x-publishable-key", &keys.publishable),
            ("authorization", &format!("Bearer {token}")),
        ])
    }

    /// A raw request to `path` (starting with `/`), for what the generated client cannot say.
    pub fn raw(&self, method: http::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().request(method, format!("{}{path}", self.base()))
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The suite's token issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.shared.issuer
    }

    /// The jose fixtures: `{ jwksName, issuer, allowedOrigin, tokens: {…} }`.
    pub fn jose(&self) -> &serde_json::Value {
        &self.shared.jose
    }

    /// The URL the backend fetches the named JWKS from.
    pub fn jwks_url(&self, name: &str) -> String {
        format!("{}/jwks/{name}.json", self.shared.callback_base)
    }

    /// A name no other case or run uses: `cf-{run}-{what}`.
    pub fn name(&self, what: &str) -> String {
        format!("cf-{}-{what}", self.shared.run_id)
    }

    /// A user id no other case or run uses.
    pub fn user_id(&self, what: &str) -> String {
        format!("user_cf_{}_{}_{what}", self.shared.run_id, self.index)
    }

    /// A number drawn from the case's seeded generator.
    pub fn random_between(&self, low: i64, high: i64) -> i64 {
        use rand::Rng as _;
        self.rng.lock().expect("rng").gen_range(low..=high)
    }

    /// A project for this case: a fresh one when the suite has an operator token, else the
    /// next provisioned one. Its test mode trusts the suite's issuer and the dev issuer.
    pub async fn project(&self) -> Result<Project, Verdict> {
        if self.settings().operator_token.is_some() {
            return self.fresh_project().await;
        }
        let taken = self.provisioned_taken.fetch_add(1, Ordering::SeqCst);
        let Some(given) = self.settings().projects.get(taken) else {
            return Err(Verdict::Skip(format!(
                "needs {} provisioned projects, or an operator token",
                taken + 1
            )));
        };
        let project = Project {
            test: Keys {
                publishable: given.test_publishable_key.clone(),
                secret: given.test_secret_key.clone(),
            },
            live: Keys {
                publishable: given.live_publishable_key.clone(),
                secret: given.live_secret_key.clone(),
            },
            fresh: false,
        };
        self.trust_suite_issuer(&project).await?;
        Ok(project)
    }

    /// A project created for this case alone; Skip without an operator token.
    pub async fn fresh_project(&self) -> Result<Project, Verdict> {
        let Some(token) = self.settings().operator_token.clone() else {
            return Err(Verdict::Skip(
                "changes project-wide state: needs an operator token".into(),
            ));
        };
        let operator = self.client(&[("authorization", &format!("Bearer {token}"))]);
        let name = self.name(self.case_id);
        let name = &name[..name.len().min(100)];
        let created = operator
            .create_project()
            .body_map(|b| {
                b.name(
                    name.parse::<types::ProjectCreateName>()
                        .expect("valid name"),
                )
            })
            .send()
            .await
            .succeeds("createProject (setup)")
            .map_err(setup)?;
        self.shared
            .created
            .lock()
            .expect("created projects")
            .push(created.project.id.clone());
        let project = Project {
            test: Keys {
                publishable: created.keys.test.publishable_key,
                secret: created.keys.test.secret_key,
            },
            live: Keys {
                publishable: created.keys.live.publishable_key,
                secret: created.keys.live.secret_key,
            },
            fresh: true,
        };
        self.trust_suite_issuer(&project).await?;
        Ok(project)
    }

    /// Points the project's test-mode JWT settings at the suite's issuer.
    async fn trust_suite_issuer(&self, project: &Project) -> Result<(), Verdict> {
        let issuer = self.issuer();
        self.secret(&project.test)
            .update_settings()
            .body(types::SettingsUpdate {
                jwt: Some(types::JwtSettingsUpdate {
                    issuer: Some(issuer.issuer.parse().expect("issuer")),
                    jwks_url: Some(self.jwks_url("suite").parse().expect("JWKS URL")),
                    allowed_origins: Some(vec![tokens::ORIGIN.parse().expect("origin")]),
                    leeway_seconds: Some(5),
                }),
                dev_issuer_enabled: None,
                billing: None,
            })
            .send()
            .await
            .succeeds("updateSettings (setup)")
            .map_err(setup)?;
        Ok(())
    }

    /// A valid token from the suite's issuer for `user_id`.
    pub fn token(&self, user_id: &str) -> String {
        self.issuer().token(user_id)
    }
}

/// A generated client for `base` that sends `headers` on every request.
pub fn client_at(base: &str, headers: &[(&str, &str)]) -> Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            reqwest::header::HeaderValue::from_str(value).expect("header value"),
        );
    }
    let http = reqwest::Client::builder()
        .default_headers(map)
        .build()
        .expect("HTTP client");
    Client::new_with_client(base, http, dream_client::Hooks::plain())
}

/// A failure while setting a case up is an error of the run, not a verdict on the case, unless
/// the backend said it does not support something.
fn setup(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Fail(message) => Verdict::Error(format!("setup failed: {message}")),
        other => other,
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A raw response: status, `x-request-id` and the body as JSON (null when empty or not JSON).
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub request_id: Option<String>,
    /// Response headers, names in lowercase.
    pub headers: std::collections::HashMap<String, String>,
    pub body: serde_json::Value,
}

impl Raw {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn param(&self) -> Option<&str> {
        self.body["param"].as_str()
    }
}

/// Sends a raw request.
pub async fn send_raw(request: reqwest::RequestBuilder, what: &str) -> Result<Raw, Verdict> {
    let response = request
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("{what}: {e}")))?;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Verdict::Error(format!("{what}: {e}")))?;
    Ok(Raw {
        status,
        request_id,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    })
}

impl Ctx {
    /// `POST /v1/usage/track` as the user, with a body the generated client would not send.
    pub async fn raw_track(
        &self,
        keys: &Keys,
        token: &str,
        content_type: &str,
        body: &str,
    ) -> Result<Raw, Verdict> {
        let request = self
            .raw(http::Method::POST, "/v1/usage/track")
            .header("x-publishable-key", &keys.publishable)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(body.to_owned());
        send_raw(request, "trackUsage").await
    }

    /// A secret-key request with an optional JSON body, for input the client would refuse.
    pub async fn raw_admin(
        &self,
        method: http::Method,
        path: &str,
        keys: &Keys,
        json: Option<&str>,
    ) -> Result<Raw, Verdict> {
        let mut request = self
            .raw(method.clone(), path)
            .header("authorization", format!("Bearer {}", keys.secret));
        if let Some(json) = json {
            request = request
                .header("content-type", "application/json")
                .body(json.to_owned());
        }
        send_raw(request, &format!("{method} {path}")).await
    }
}
