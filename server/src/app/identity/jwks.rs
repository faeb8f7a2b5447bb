//! Fetching issuers' key sets (JWKS): the one request a tenant's settings make the server
//! send, to an address the tenant chose. It is treated as hostile input:
//! - **Where**: `https` only, and only to public addresses: every address a name resolves to
//!   and every redirect (at most [`MAX_REDIRECTS`]) is checked, so a secret key cannot make the
//!   server probe its own network. An operator may allow plain `http` and private addresses
//!   (`DREAM_JWKS_ALLOW_INSECURE`), for an issuer on a developer's machine or in tests.
//! - **How much**: at most [`MAX_BYTES`] read, within [`FETCH_WITHIN`].
//! - **How often**: one fetch per address at a time (concurrent requests wait for it and
//!   share its outcome); a failure is remembered for [`JwksPolicy::retry_failed_after`] and
//!   answered without fetching; a set is used for [`JwksPolicy::max_age`], and an unknown
//!   `kid`, or a known one whose signature fails (a key replaced under the same id), fetches
//!   again at most once per [`JwksPolicy::min_refresh`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};

use crate::app::error::{AppError, AppResult};

/// The most a key set may weigh; real ones are a few kilobytes.
pub const MAX_BYTES: usize = 256 * 1024;
/// The longest a fetch may take, connecting included.
pub const FETCH_WITHIN: Duration = Duration::from_secs(5);
/// The most redirects a fetch follows.
pub const MAX_REDIRECTS: usize = 3;
/// The most addresses whose sets are kept; past it, sets past their age go first.
const CAPACITY: usize = 10_000;

/// How fetched key sets are trusted and refreshed, and where they may come from.
#[derive(Debug, Clone)]
pub struct JwksPolicy {
    /// Allow plain `http` and private, loopback and link-local addresses.
    pub allow_insecure: bool,
    /// A set this young is not fetched again for an unknown or failing `kid`.
    pub min_refresh: Duration,
    /// A set is used at most this long.
    pub max_age: Duration,
    /// A failed fetch is answered from memory this long before it is tried again.
    pub retry_failed_after: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            allow_insecure: false,
            min_refresh: Duration::from_secs(10),
            max_age: Duration::from_secs(300),
            retry_failed_after: Duration::from_secs(5),
        }
    }
}

/// What is known of one address's key set.
#[derive(Default)]
struct Entry {
    fetched: Option<(Arc<JwkSet>, Instant)>,
    /// The last failed fetch: when, and what to tell the caller.
    failed: Option<(Instant, String)>,
    /// Held while fetching, so that concurrent requests wait for one fetch.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// The key sets fetched so far, and the client that fetches them.
pub struct Jwks {
    http: reqwest::Client,
    policy: JwksPolicy,
    sets: Mutex<HashMap<String, Entry>>,
    /// Fetches sent, for tests and logs.
    fetches: std::sync::atomic::AtomicU64,
}

impl Jwks {
    pub fn new(policy: JwksPolicy) -> anyhow::Result<Jwks> {
        let insecure = policy.allow_insecure;
        let http = reqwest::Client::builder()
            // A proxy would resolve names itself, past the resolver's check.
            .no_proxy()
            .timeout(FETCH_WITHIN)
            .connect_timeout(Duration::from_secs(2))
            .dns_resolver(Arc::new(Resolver {
                allow_private: insecure,
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("it redirected more than {MAX_REDIRECTS} times"));
                }
                match address_refused(attempt.url(), insecure) {
                    Some(why) => attempt.error(format!("it redirected to an address {why}")),
                    None => attempt.follow(),
                }
            }))
            .build()?;
        Ok(Jwks {
            http,
            policy,
            sets: Mutex::new(HashMap::new()),
            fetches: Default::default(),
        })
    }

    /// Why the server will not fetch keys from `url`, as a sentence for the person who set
    /// it; `None` when it will.
    pub fn refuses(&self, url: &str) -> Option<String> {
        let why = match reqwest::Url::parse(url) {
            Ok(parsed) => address_refused(&parsed, self.policy.allow_insecure)?,
            Err(_) => "is not a URL".to_string(),
        };
        Some(format!(
            "The issuer's keys are fetched only from https addresses on the public internet, and {url} {why}. \
             A server started with DREAM_JWKS_ALLOW_INSECURE=true also fetches over plain http and from private addresses (local development)."
        ))
    }

    /// How many fetches were sent.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key `kid` published at `url`. `failed` is the key that was used for this `kid`
    /// and did not verify a signature: the issuer may have replaced it under the same id, so
    /// the set is fetched again (no more than once per [`JwksPolicy::min_refresh`]).
    pub async fn key(&self, url: &str, kid: &str, failed: Option<&Jwk>) -> AppResult<Jwk> {
        let asked = Instant::now();
        let fetching = {
            let mut sets = self.sets.lock().expect("jwks lock");
            if let Some(entry) = sets.get(url)
                && let Some(answer) = self.remembered(entry, kid, failed)
            {
                return answer;
            }
            make_room(&mut sets, &self.policy);
            sets.entry(url.to_string()).or_default().fetching.clone()
        };
        let _turn = fetching.lock().await;
        {
            // Another request fetched (or failed to) while this one waited: its outcome
            // is this one's.
            let sets = self.sets.lock().expect("jwks lock");
            if let Some(entry) = sets.get(url)
                && (entry.fetched.as_ref().is_some_and(|(_, at)| *at >= asked)
                    || entry.failed.as_ref().is_some_and(|(at, _)| *at >= asked))
            {
                return outcome(entry, kid);
            }
        }
        let fetched = self.fetch(url).await;
        let mut sets = self.sets.lock().expect("jwks lock");
        let entry = sets.entry(url.to_string()).or_default();
        match fetched {
            Ok(set) => {
                entry.fetched = Some((Arc::new(set), Instant::now()));
                entry.failed = None;
            }
            Err(why) => entry.failed = Some((Instant::now(), why)),
        }
        outcome(entry, kid)
    }

    /// The answer memory gives without fetching, if it gives one.
    fn remembered(&self, entry: &Entry, kid: &str, failed: Option<&Jwk>) -> Option<AppResult<Jwk>> {
        if let Some((set, at)) = &entry.fetched
            && at.elapsed() < self.policy.max_age
        {
            let may_refresh = at.elapsed() >= self.policy.min_refresh;
            match set.find(kid) {
                Some(key) if failed != Some(key) || !may_refresh => return Some(Ok(key.clone())),
                None if !may_refresh => return Some(Err(unknown_kid(kid))),
                _ => {}
            }
        }
        match &entry.failed {
            Some((at, why)) if at.elapsed() < self.policy.retry_failed_after => {
                Some(Err(unfetchable(why)))
            }
            _ => None,
        }
    }

    /// Fetches and reads one key set; the error is what the caller is told.
    async fn fetch(&self, url: &str) -> Result<JwkSet, String> {
        if let Some(why) = self.refuses(url) {
            return Err(why);
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let failed = |e: reqwest::Error| {
            tracing::warn!(%url, error = %e, "fetching the JWKS failed");
            // The policy's refusals (a private address, too many redirects) are the tenant's
            // to know; network errors are not, lest they map the network for the caller.
            match refusal(&e) {
                Some(refused) => refused,
                None if e.is_redirect() => {
                    format!("{url} redirected where keys are not fetched from")
                }
                None if e.is_timeout() => format!("{url} did not answer within {FETCH_WITHIN:?}"),
                None => format!("{url} could not be reached"),
            }
        };
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let too_large = || format!("{url} sent more than {} KiB", MAX_BYTES / 1024);
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not send a JSON Web Key Set"))
    }
}

/// What a fetch (or the failure it met) says about `kid`.
fn outcome(entry: &Entry, kid: &str) -> AppResult<Jwk> {
    match (&entry.failed, &entry.fetched) {
        (Some((_, why)), _) => Err(unfetchable(why)),
        (None, Some((set, _))) => set.find(kid).cloned().ok_or_else(|| unknown_kid(kid)),
        (None, None) => Err(unfetchable("nothing was fetched")),
    }
}

fn unknown_kid(kid: &str) -> AppError {
    AppError::InvalidToken(format!("no key with id {kid:?} is published by the issuer"))
}

fn unfetchable(why: &str) -> AppError {
    AppError::InvalidToken(format!("the issuer's keys could not be fetched: {why}"))
}

/// Keeps the map under [`CAPACITY`]: sets past their age go first, then everything not
/// being fetched.
fn make_room(sets: &mut HashMap<String, Entry>, policy: &JwksPolicy) {
    if sets.len() < CAPACITY {
        return;
    }
    let idle = |entry: &Entry| Arc::strong_count(&entry.fetching) == 1;
    sets.retain(|_, entry| {
        !idle(entry)
            || entry
                .fetched
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() < policy.max_age)
    });
    if sets.len() >= CAPACITY {
        sets.retain(|_, entry| !idle(entry));
    }
}

/// Why `url` may not be fetched from, if it may not: its scheme, or a host that is an address
/// outside the public internet. Names are checked when they resolve ([`Resolver`]).
fn address_refused(url: &reqwest::Url, allow_insecure: bool) -> Option<String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        other => return Some(format!("is {other}, not https")),
    }
    if allow_insecure {
        return None;
    }
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then(|| format!("is {ip}, a private or reserved address"))
}

/// The policy's refusal somewhere in `e`'s chain of causes.
fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        cause = e.source();
    }
    None
}

/// A policy refusal met while fetching, told to the tenant as it is.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names as the system does, keeping only public addresses (unless private ones are
/// allowed): a name that resolves to the server's own network is refused, whatever its URL.
struct Resolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if usable.is_empty() && !found.is_empty() {
                return Err(Box::new(Refused(format!(
                    "{host} resolves to a private or reserved address"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is on the public internet: not loopback, private, link-local (cloud metadata
/// lives there), shared, reserved, documentation, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[..5] == [0, 0, 0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    /// A key set with one RSA key under each id.
    fn set(kids: &[(&str, &str)]) -> serde_json::Value {
        let keys: Vec<_> = kids
            .iter()
            .map(|(kid, n)| serde_json::json!({ "kty": "RSA", "kid": kid, "n": n, "e": "AQAB" }))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// What the test issuer answers, and how many requests it has had.
    #[derive(Clone)]
    struct Issuer {
        answer: Arc<Mutex<(StatusCode, Vec<u8>)>>,
        hits: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl Issuer {
        fn publish(&self, status: StatusCode, body: impl Into<Vec<u8>>) {
            *self.answer.lock().unwrap() = (status, body.into());
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    /// A plain-http issuer on this machine; its JWKS address.
    async fn issuer(delay: Duration) -> (Issuer, String) {
        let issuer = Issuer {
            answer: Arc::new(Mutex::new((StatusCode::OK, set(&[]).to_string().into()))),
            hits: Arc::default(),
            delay,
        };
        let state = issuer.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let state = state.clone();
                async move {
                    state.hits.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(state.delay).await;
                    let (status, body) = state.answer.lock().unwrap().clone();
                    // Streamed, without a length, as a hostile issuer would send it.
                    let stream = futures::stream::iter(
                        body.chunks(16 * 1024)
                            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                            .collect::<Vec<_>>(),
                    );
                    (status, axum::body::Body::from_stream(stream)).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (issuer, url)
    }

    fn local(min_refresh: Duration, retry_failed_after: Duration) -> Jwks {
        Jwks::new(JwksPolicy {
            allow_insecure: true,
            min_refresh,
            max_age: Duration::from_secs(300),
            retry_failed_after,
        })
        .unwrap()
    }

    fn message(result: AppResult<Jwk>) -> String {
        match result {
            Err(AppError::InvalidToken(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_https_to_public_addresses_unless_the_operator_allows_more() {
        crate::install_crypto();
        let jwks = Jwks::new(JwksPolicy::default()).unwrap();
        for url in [
            "http://issuer.example.com/jwks.json",
            "ftp://issuer.example.com/jwks.json",
            "https://127.0.0.1/jwks.json",
            "https://10.0.0.7/jwks.json",
            "https://172.16.1.1/jwks.json",
            "https://192.168.1.1/jwks.json",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/jwks.json",
            "https://0.0.0.0/jwks.json",
            "https://[::1]/jwks.json",
            "https://[fd00::1]/jwks.json",
            "https://[fe80::1]/jwks.json",
            "https://[::ffff:127.0.0.1]/jwks.json",
            "https://[64:ff9b::a9fe:a9fe]/jwks.json",
            "not a url",
        ] {
            let why = jwks.refuses(url);
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.contains("DREAM_JWKS_ALLOW_INSECURE")),
                "{url}: {why:?}"
            );
        }
        for url in [
            "https://clerk.example.clerk.accounts.dev/.well-known/jwks.json",
            "https://8.8.8.8/jwks.json",
            "https://[2606:4700::1111]/jwks.json",
        ] {
            assert_eq!(jwks.refuses(url), None, "{url}");
        }
        // A name that resolves to this machine is refused when it is resolved, before any
        // connection: the issuer here is never asked.
        let (issuer, url) = issuer(Duration::ZERO).await;
        let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
        let named = format!("https://localhost:{port}/jwks.json");
        assert_eq!(jwks.refuses(&named), None);
        let why = message(jwks.key(&named, "k1", None).await);
        assert!(
            why.contains("resolves to a private or reserved address"),
            "{why}"
        );
        let why = message(jwks.key(&url, "k1", None).await);
        assert!(why.contains("is http, not https"), "{why}");
        assert_eq!(issuer.hits(), 0);

        let allowed = local(Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(allowed.refuses(&url), None);
        assert_eq!(allowed.refuses("https://169.254.169.254/"), None);
        assert!(allowed.refuses("ftp://issuer.example.com/").is_some());
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_fetch() {
        crate::install_crypto();
        let (issuer, url) = issuer(Duration::from_millis(300)).await;
        issuer.publish(StatusCode::OK, set(&[("k1", "AQAB")]).to_string());
        let jwks = local(Duration::from_secs(10), Duration::from_secs(5));
        let asks = (0..31).map(|_| jwks.key(&url, "k1", None));
        let answers = futures::future::join_all(asks).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!((issuer.hits(), jwks.fetches()), (1, 1));
        // An unknown id, asked at once by many, within the set's refresh interval: no fetch.
        let asks = (0..31).map(|_| jwks.key(&url, "k9", None));
        for answer in futures::future::join_all(asks).await {
            assert!(message(answer).contains("no key with id \"k9\""));
        }
        assert_eq!(issuer.hits(), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_remembered_for_a_moment() {
        crate::install_crypto();
        let (issuer, url) = issuer(Duration::ZERO).await;
        issuer.publish(StatusCode::INTERNAL_SERVER_ERROR, "down");
        let jwks = local(Duration::from_secs(10), Duration::from_millis(300));
        for _ in 0..20 {
            let why = message(jwks.key(&url, "k1", None).await);
            assert!(why.contains("answered 500"), "{why}");
        }
        assert_eq!(issuer.hits(), 1);
        // Past the moment, the issuer is asked again, and its recovery is seen.
        issuer.publish(StatusCode::OK, set(&[("k1", "AQAB")]).to_string());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(jwks.key(&url, "k1", None).await.is_ok());
        assert_eq!(issuer.hits(), 2);
    }

    #[tokio::test]
    async fn a_key_set_past_the_size_cap_is_refused_while_it_streams() {
        crate::install_crypto();
        let (issuer, url) = issuer(Duration::ZERO).await;
        let n = "A".repeat(2 * MAX_BYTES);
        issuer.publish(StatusCode::OK, set(&[("k1", &n)]).to_string());
        let jwks = local(Duration::from_secs(10), Duration::from_secs(5));
        let why = message(jwks.key(&url, "k1", None).await);
        assert!(why.contains("sent more than 256 KiB"), "{why}");
        issuer.publish(StatusCode::OK, "{\"keys\": 7}");
        let jwks = local(Duration::from_secs(10), Duration::from_secs(5));
        let why = message(jwks.key(&url, "k1", None).await);
        assert!(why.contains("did not send a JSON Web Key Set"), "{why}");
    }

    #[tokio::test]
    async fn a_key_that_fails_is_fetched_again_no_more_than_the_refresh_interval_allows() {
        crate::install_crypto();
        let (issuer, url) = issuer(Duration::ZERO).await;
        issuer.publish(StatusCode::OK, set(&[("k1", "AQAB")]).to_string());
        let jwks = local(Duration::from_millis(300), Duration::from_secs(5));
        let first = jwks.key(&url, "k1", None).await.unwrap();
        // Replaced by the issuer under the same id.
        issuer.publish(StatusCode::OK, set(&[("k1", "AQAC")]).to_string());
        for _ in 0..10 {
            assert_eq!(jwks.key(&url, "k1", Some(&first)).await.unwrap(), first);
        }
        assert_eq!(issuer.hits(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        let replaced = jwks.key(&url, "k1", Some(&first)).await.unwrap();
        assert_ne!(replaced, first);
        assert_eq!(issuer.hits(), 2);
        // The same key, asked for without a failure, comes from memory.
        assert_eq!(jwks.key(&url, "k1", None).await.unwrap(), replaced);
        assert_eq!(issuer.hits(), 2);
    }
}
