//! The hand-written layer under every generated call: the keys and the user's token on each
//! request, an `Idempotency-Key` on every usage track, retries where repeating is safe, and
//! one token refresh when the API says the user's token expired — the same rules as the
//! TypeScript SDK.
//!
//! progenitor calls [`ClientHooks`] around each request; the generated `Client` carries a
//! [`Hooks`] value (its `inner`), built by [`Builder`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, Request, Response, StatusCode};

use crate::Client;

/// The base URL when none is given and `DREAM_API_URL` is not set: a `dream serve` here.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8787";

/// The header carrying the publishable key.
const PUBLISHABLE_KEY: &str = "x-publishable-key";
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Operations that count something: each gets an `Idempotency-Key` unless the caller gave
/// one, so a retry after a lost answer counts once. (Checked against the spec's operations
/// that take the header, in this crate's tests.)
const COUNTED: &[&str] = &["track_usage", "track_customer_usage"];

/// POSTs and PATCHes that may be sent twice with the same effect: events carry their own ids,
/// and a settings patch states the result, not a change.
const REPEATABLE: &[&str] = &["ingest_usage_events", "update_settings"];

/// Operations whose body may be of any media type (`*/*` in the spec; the type is what the
/// server stores), with the query parameter naming the file. progenitor labels such a body
/// `application/octet-stream`; the client labels it by the file name's extension instead
/// (`mug.png` is sent as `image/png`), as curl and browsers do. An extension nobody knows
/// keeps `application/octet-stream`.
const NAMED_UPLOADS: &[(&str, &str)] = &[("upload_asset", "filename")];

/// The longest `Retry-After` waited out; a longer one is answered at once.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Any error, as a token source may fail.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type TokenFuture = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;

/// Supplies the signed-in user's JWT (for Clerk, the session's `getToken`). `refresh` is true
/// when the API has just refused the last one as expired: return a newly minted token.
pub trait TokenSource: Send + Sync + 'static {
    fn token(&self, refresh: bool) -> TokenFuture;
}

impl<F, Fut> TokenSource for F
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
{
    fn token(&self, refresh: bool) -> TokenFuture {
        Box::pin(self(refresh))
    }
}

/// What the client sends with every request, and how it retries. Build one with
/// [`Client::builder`]; [`Hooks::plain`] adds nothing (the conformance suite's choice, which
/// must see every answer as it came).
#[derive(Clone)]
pub struct Hooks {
    secret_key: Option<HeaderValue>,
    publishable_key: Option<HeaderValue>,
    tokens: Option<Arc<Tokens>>,
    max_retries: u32,
    retry_delay: Duration,
    idempotency_keys: bool,
}

struct Tokens {
    source: Box<dyn TokenSource>,
    current: Mutex<Option<String>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a key or a token.
        f.debug_struct("Hooks")
            .field("secret_key", &self.secret_key.is_some())
            .field("publishable_key", &self.publishable_key.is_some())
            .field("user_tokens", &self.tokens.is_some())
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl Hooks {
    /// No credentials, no retries, no idempotency keys: every request as the generated code
    /// built it, every answer as it came.
    pub fn plain() -> Self {
        Hooks {
            secret_key: None,
            publishable_key: None,
            tokens: None,
            max_retries: 0,
            retry_delay: Duration::from_millis(250),
            idempotency_keys: false,
        }
    }

    async fn token(&self, refresh: bool) -> Result<Option<HeaderValue>, String> {
        let Some(tokens) = &self.tokens else {
            return Ok(None);
        };
        let cached = tokens.current.lock().expect("token lock").clone();
        let token = match cached {
            Some(token) if !refresh => token,
            _ => {
                let token = tokens
                    .source
                    .token(refresh)
                    .await
                    .map_err(|e| format!("the token source failed: {e}"))?;
                *tokens.current.lock().expect("token lock") = Some(token.clone());
                token
            }
        };
        bearer(&token).map(Some)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .retry_delay
            .saturating_mul(2u32.saturating_pow(attempt));
        let half = base / 2;
        half + half.mul_f64(rand::thread_rng().r#gen::<f64>())
    }
}

fn bearer(token: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "a key or token holds characters a header cannot".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Builds a [`Client`] with its base URL, keys, user tokens and retry rules.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // A backend, with the secret key:
/// let client = dream_client::Client::builder().secret_key("sk_test_…").build()?;
/// // A user's app, with the publishable key and the user's token:
/// let client = dream_client::Client::builder()
///     .publishable_key("pk_test_…")
///     .user_token(|_refresh| async { Ok("eyJ…".to_string()) })
///     .build()?;
/// # Ok(())
/// # }
/// ```
pub struct Builder {
    base_url: Option<String>,
    secret_key: Option<String>,
    publishable_key: Option<String>,
    tokens: Option<Box<dyn TokenSource>>,
    max_retries: u32,
    retry_delay: Duration,
    timeout: Duration,
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl Client {
    /// A [`Builder`]: base URL, keys, user tokens, retries.
    pub fn builder() -> Builder {
        Builder {
            base_url: None,
            secret_key: None,
            publishable_key: None,
            tokens: None,
            max_retries: 2,
            retry_delay: Duration::from_millis(250),
            timeout: Duration::from_secs(15),
        }
    }
}

impl Builder {
    /// The API's base URL; without it, `DREAM_API_URL`, else `http://localhost:8787`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// `sk_test_…` or `sk_live_…`: a backend's calls (the catalogue, customers, metering for
    /// a user). Never ship it to a browser or an app.
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(key.into());
        self
    }

    /// `pk_test_…` or `pk_live_…`: the project's public key, for calls made as a user.
    pub fn publishable_key(mut self, key: impl Into<String>) -> Self {
        self.publishable_key = Some(key.into());
        self
    }

    /// Where the signed-in user's token comes from, for calls made as the user. Called once,
    /// then again (with `true`) when the API answers `token_expired`; the token is kept
    /// between calls.
    pub fn user_token(mut self, source: impl TokenSource) -> Self {
        self.tokens = Some(Box::new(source));
        self
    }

    /// Retries after the first attempt for calls that are safe to repeat. Default 2.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first retry's delay, doubled for each next one (with jitter). Default 250 ms.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How long one attempt may take, connecting included. Default 15 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, BuildError> {
        let base_url = self
            .base_url
            .or_else(|| std::env::var("DREAM_API_URL").ok())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(BuildError(format!(
                "the base URL must start with http:// or https://, not {base_url:?}"
            )));
        }
        let key = |value: Option<String>, prefix: &str, what: &str| {
            value
                .map(|k| {
                    if !k.starts_with(prefix) {
                        return Err(BuildError(format!(
                            "the {what} starts with {prefix}test_ or {prefix}live_"
                        )));
                    }
                    HeaderValue::from_str(&k).map_err(|_| {
                        BuildError(format!("the {what} holds characters a header cannot"))
                    })
                })
                .transpose()
        };
        let secret_key = key(self.secret_key, "sk_", "secret key")?;
        let publishable_key = key(self.publishable_key, "pk_", "publishable key")?;
        if secret_key.is_some() && self.tokens.is_some() {
            return Err(BuildError(
                "a client acts either as your backend (secret key) or as a user (publishable key and user token), not both"
                    .into(),
            ));
        }
        if self.tokens.is_some() && publishable_key.is_none() {
            return Err(BuildError(
                "calls made as a user need the publishable key too".into(),
            ));
        }
        let secret_key = secret_key
            .map(|k| bearer(k.to_str().unwrap_or_default()))
            .transpose()
            .map_err(BuildError)?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .build()
            .map_err(|e| BuildError(format!("the HTTP client could not be built: {e}")))?;
        let hooks = Hooks {
            secret_key,
            publishable_key,
            tokens: self.tokens.map(|source| {
                Arc::new(Tokens {
                    source,
                    current: Mutex::new(None),
                })
            }),
            max_retries: self.max_retries,
            retry_delay: self.retry_delay,
            idempotency_keys: true,
        };
        Ok(Client::new_with_client(&base_url, http, hooks))
    }
}

/// Sets the `Content-Type` of an upload from the extension of the file name in its query
/// parameter `parameter`, when one is known.
fn label_by_filename(request: &mut Request, parameter: &str) {
    let Some(name) = request
        .url()
        .query_pairs()
        .find(|(key, _)| key == parameter)
        .map(|(_, value)| value.into_owned())
    else {
        return;
    };
    if let Some(media_type) = mime_guess::from_path(&name).first()
        && let Ok(value) = HeaderValue::from_str(media_type.essence_str())
    {
        request
            .headers_mut()
            .insert(reqwest::header::CONTENT_TYPE, value);
    }
}

/// Whether sending `request` again cannot do something twice.
fn repeatable(request: &Request, info: &OperationInfo) -> bool {
    matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || request.headers().contains_key(IDEMPOTENCY_KEY)
        || REPEATABLE.contains(&info.operation_id)
}

/// A `Retry-After` of delay-seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Reads a 401's body to see whether the token expired, and gives back an equal response.
async fn expired(response: Response) -> (bool, Response) {
    let status = response.status();
    let headers = response.headers().clone();
    let version = response.version();
    let body = response.bytes().await.unwrap_or_default();
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string));
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    *rebuilt.version_mut() = version;
    (
        code.as_deref() == Some("token_expired"),
        Response::from(rebuilt),
    )
}

impl ClientHooks<Hooks> for Client {
    async fn pre<E>(&self, request: &mut Request, info: &OperationInfo) -> Result<(), Error<E>> {
        let hooks = self.inner();
        let headers = request.headers_mut();
        if let Some(key) = &hooks.publishable_key {
            headers.insert(PUBLISHABLE_KEY, key.clone());
        }
        if let Some(key) = &hooks.secret_key {
            headers.insert(AUTHORIZATION, key.clone());
        }
        if let Some(token) = hooks.token(false).await.map_err(Error::Custom)? {
            request.headers_mut().insert(AUTHORIZATION, token);
        }
        if let Some((_, parameter)) = NAMED_UPLOADS
            .iter()
            .find(|(op, _)| *op == info.operation_id)
        {
            label_by_filename(request, parameter);
        }
        if hooks.idempotency_keys
            && COUNTED.contains(&info.operation_id)
            && !request.headers().contains_key(IDEMPOTENCY_KEY)
        {
            let key = format!("idem_{}", random_hex());
            request.headers_mut().insert(
                IDEMPOTENCY_KEY,
                HeaderValue::from_str(&key).expect("hex is a valid header"),
            );
        }
        Ok(())
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let hooks = self.inner();
        let repeatable = repeatable(&request, info);
        let mut refreshed = false;
        let mut attempt = 0;
        let mut request = request;
        loop {
            // A streamed body cannot be sent twice: it gets one attempt.
            let again = request.try_clone();
            let retries_left = repeatable && again.is_some() && attempt < hooks.max_retries;
            let result = self.client().execute(request).await;
            let Some(next) = again else { return result };
            request = next;
            let response = match result {
                Err(e) if retries_left && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                    tokio::time::sleep(hooks.backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                other => other?,
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && hooks.tokens.is_some() && !refreshed {
                let (expired, response) = expired(response).await;
                if !expired {
                    return Ok(response);
                }
                refreshed = true;
                match hooks.token(true).await {
                    Ok(Some(token)) => {
                        request.headers_mut().insert(AUTHORIZATION, token);
                        continue;
                    }
                    _ => return Ok(response),
                }
            }
            let transient = status.is_server_error()
                || (status == StatusCode::TOO_MANY_REQUESTS
                    && response
                        .headers()
                        .contains_key(reqwest::header::RETRY_AFTER));
            if !(transient && retries_left) {
                return Ok(response);
            }
            let wait = retry_after(response.headers()).unwrap_or_else(|| hooks.backoff(attempt));
            if wait > MAX_RETRY_WAIT {
                return Ok(response);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn random_hex() -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_a_backend_or_a_user_never_both() {
        let both = Client::builder()
            .secret_key("sk_test_x")
            .publishable_key("pk_test_y")
            .user_token(|_| async { Ok("t".to_string()) })
            .build();
        assert!(both.unwrap_err().0.contains("not both"));
        let no_key = Client::builder()
            .user_token(|_| async { Ok("t".to_string()) })
            .build();
        assert!(no_key.unwrap_err().0.contains("publishable key"));
        let swapped = Client::builder().secret_key("pk_test_y").build();
        assert!(swapped.unwrap_err().0.contains("sk_test_"));
        let url = Client::builder().base_url("localhost:8787").build();
        assert!(url.unwrap_err().0.contains("http://"));
        let client = Client::builder()
            .base_url("http://127.0.0.1:9/")
            .secret_key("sk_test_x")
            .build()
            .unwrap();
        assert_eq!(client.baseurl(), "http://127.0.0.1:9");
        assert!(!format!("{:?}", client.inner()).contains("sk_test_x"));
    }

    #[test]
    fn every_operation_that_takes_an_idempotency_key_gets_one() {
        // Each generated builder with an `idempotency_key` setter, by the operation it sends.
        let generated = include_str!("generated/mod.rs");
        let mut takes_key = false;
        let mut found = Vec::new();
        for line in generated.lines() {
            let line = line.trim();
            if line.starts_with("pub struct ") {
                takes_key = false;
            }
            if line.starts_with("pub fn idempotency_key<") {
                takes_key = true;
            }
            if let Some(rest) = line.strip_prefix("operation_id: \"")
                && takes_key
            {
                found.push(rest.trim_end_matches("\",").to_string());
            }
        }
        found.sort();
        let mut counted: Vec<String> = COUNTED.iter().map(|s| s.to_string()).collect();
        counted.sort();
        assert_eq!(found, counted);
    }

    #[test]
    fn every_upload_of_any_media_type_is_labelled_by_its_file_name() {
        // The generated builders that send a body as `application/octet-stream`, by operation.
        let generated = include_str!("generated/mod.rs");
        let mut octets = false;
        let mut found = Vec::new();
        for line in generated.lines() {
            let line = line.trim();
            if line.starts_with("pub struct ") {
                octets = false;
            }
            if line == "\"application/octet-stream\"," {
                octets = true;
            }
            if let Some(rest) = line.strip_prefix("operation_id: \"")
                && octets
            {
                found.push(rest.trim_end_matches("\",").to_string());
            }
        }
        let named: Vec<&str> = NAMED_UPLOADS.iter().map(|(op, _)| *op).collect();
        assert_eq!(found, named);

        let mut request = Request::new(
            Method::POST,
            "http://x/v1/assets?filename=Mug%20photo.PNG"
                .parse()
                .unwrap(),
        );
        label_by_filename(&mut request, "filename");
        assert_eq!(request.headers()["content-type"], "image/png");
        let mut unknown = Request::new(
            Method::POST,
            "http://x/v1/assets?filename=notes.zzz9".parse().unwrap(),
        );
        label_by_filename(&mut unknown, "filename");
        assert!(unknown.headers().get("content-type").is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let hooks = Hooks {
            retry_delay: Duration::from_millis(100),
            ..Hooks::plain()
        };
        for attempt in 0..4 {
            let base = 100u64 << attempt;
            let wait = hooks.backoff(attempt).as_millis() as u64;
            assert!((base / 2..=base).contains(&wait), "{attempt}: {wait}");
        }
    }
}
