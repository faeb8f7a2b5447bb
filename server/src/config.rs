//! Configuration: a typed struct loaded once in `main`, from an optional TOML file and then
//! environment variables. Secrets are wrapped so they never print.

use std::path::Path;

use serde::Deserialize;

/// A value that must not reach logs.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Everything the server reads at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// `sqlite://…` (the default, a file created on first run) or `postgres://…`.
    pub database_url: String,
    /// Token that may create projects over HTTP; unset disables that route.
    pub operator_token: Option<Secret>,
    /// Token `/metrics` asks for (`Authorization: Bearer …`); unset leaves it open.
    pub metrics_token: Option<Secret>,
    /// Seconds to let requests in flight finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Seconds a client may take to send a request's head; an idle keep-alive connection is
    /// closed after as long.
    pub header_timeout_seconds: u64,
    /// Seconds a client may take to send a request's body (`408 request_timeout` after).
    pub body_timeout_seconds: u64,
    /// Connections open at once (lowered to fit the process's file limit).
    pub max_connections: usize,
    /// Where Stripe's API is; tests point it at the emulator.
    pub stripe_api_base: String,
    /// The platform's Stripe key for test mode (`sk_test_…`). Unset: the built-in emulator
    /// serves test mode when `stripe_emulator` is on.
    pub stripe_test_secret_key: Option<Secret>,
    /// The platform's Stripe key for live mode (`sk_live_…`). Unset: no billing in live mode.
    pub stripe_live_secret_key: Option<Secret>,
    /// Webhook signing secrets (`whsec_…`); several during a rotation.
    pub stripe_webhook_secrets: Vec<Secret>,
    /// Start the local Stripe emulator for test mode when no test key is set.
    pub stripe_emulator: bool,
    /// Where the emulator keeps its state across restarts: a file path, or `off`. Unset: a
    /// file beside a SQLite database (`dream.db.stripe-emulator.json`), in memory otherwise.
    pub stripe_emulator_state: Option<String>,
    /// Multiplies the emulator's waits between webhook retries (1: Stripe's schedule, a minute
    /// and then longer, about three days in all).
    pub stripe_emulator_retry_scale: f64,
    /// Keep rate-limit buckets in this Redis (`redis://…`), shared by every replica; unset
    /// keeps them in this process.
    pub redis_url: Option<String>,
    /// Anonymous reads per publishable key, `REQUESTS/SECONDS`, or `off`.
    pub public_rate_limit: String,
    /// The most keys the in-process limiter holds.
    pub rate_limit_capacity: usize,
    /// How long a dashboard sign-in lasts, in seconds.
    pub dashboard_session_seconds: i64,
    /// Record usage time series (the metrics API and the dashboard's charts).
    pub usage_series: bool,
    /// Fetch issuers' keys (JWKS) over plain http and from private, loopback and link-local
    /// addresses too: for an issuer on a developer's machine or in tests, never in production.
    pub jwks_allow_insecure: bool,
    /// Seconds between two catch-ups on Stripe events whose webhooks did not arrive (one runs
    /// at start); 0 turns catching up off.
    pub webhook_catch_up_seconds: u64,
    /// At most how long a replica reuses what it read (publishable keys, settings, plans,
    /// counters): also how late a change can reach another replica whose notice was lost.
    pub copy_seconds: u64,
    /// Where assets' bytes are stored: `s3://bucket/prefix` (any S3-compatible store, with
    /// the usual `AWS_*` variables and `AWS_ENDPOINT` for R2 or MinIO), `file:///dir` or a
    /// directory; by default a folder beside the SQLite file (`dream-assets` for Postgres).
    pub assets_url: Option<String>,
    /// Options for an `s3://` asset store (`endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http`, …, as `object_store` names them), over the
    /// `AWS_*` environment variables; a `[assets_s3]` table in the configuration file.
    pub assets_s3: std::collections::BTreeMap<String, String>,
    /// The URL clients reach this server at, for assets' public URLs; by default the
    /// address it listens on.
    pub public_url: Option<String>,
    /// The largest asset, in bytes.
    pub asset_max_bytes: u64,
    /// The bytes a project's assets may take, both modes together.
    pub asset_quota_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8787,
            database_url: "sqlite://dream.db".into(),
            operator_token: None,
            metrics_token: None,
            shutdown_grace_seconds: 10,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            max_connections: 10_000,
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_test_secret_key: None,
            stripe_live_secret_key: None,
            stripe_webhook_secrets: Vec::new(),
            stripe_emulator: true,
            stripe_emulator_state: None,
            stripe_emulator_retry_scale: 1.0,
            redis_url: None,
            public_rate_limit: "100/1".into(),
            rate_limit_capacity: 100_000,
            dashboard_session_seconds: 12 * 3600,
            usage_series: true,
            jwks_allow_insecure: false,
            webhook_catch_up_seconds: 300,
            copy_seconds: 60,
            assets_url: None,
            assets_s3: Default::default(),
            public_url: None,
            asset_max_bytes: 10 << 20,
            asset_quota_bytes: 1 << 30,
        }
    }
}

impl Config {
    /// Reads `file` if given, then applies `DREAM_HOST`, `PORT`/`DREAM_PORT`, `DATABASE_URL`,
    /// `DREAM_OPERATOR_TOKEN`, `STRIPE_API_BASE`, `STRIPE_TEST_SECRET_KEY`,
    /// `STRIPE_LIVE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRETS` (comma-separated) and
    /// `DREAM_STRIPE_EMULATOR` (`0` or `false` turns it off), `REDIS_URL`,
    /// `DREAM_PUBLIC_RATE_LIMIT`, `DREAM_DASHBOARD_SESSION_SECONDS`, `DREAM_USAGE_SERIES`
    /// (`off` stops recording usage time series) and `DREAM_JWKS_ALLOW_INSECURE` (`true` or `1`).
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        if let Ok(host) = std::env::var("DREAM_HOST") {
            config.host = host;
        }
        if let Some(port) = std::env::var("DREAM_PORT")
            .ok()
            .or_else(|| std::env::var("PORT").ok())
        {
            config.port = port
                .parse()
                .map_err(|_| anyhow::anyhow!("PORT must be a number, not {port:?}"))?;
        }
        if let Ok(url) = std::env::var("DATABASE_URL") {
            config.database_url = url;
        }
        if let Ok(token) = std::env::var("DREAM_OPERATOR_TOKEN") {
            config.operator_token = Some(Secret::new(token));
        }
        if let Ok(token) = std::env::var("DREAM_METRICS_TOKEN") {
            config.metrics_token = Some(Secret::new(token)).filter(|t| !t.expose().is_empty());
        }
        if let Ok(base) = std::env::var("STRIPE_API_BASE") {
            config.stripe_api_base = base;
        }
        if let Ok(key) = std::env::var("STRIPE_TEST_SECRET_KEY") {
            config.stripe_test_secret_key = Some(Secret::new(key));
        }
        if let Ok(key) = std::env::var("STRIPE_LIVE_SECRET_KEY") {
            config.stripe_live_secret_key = Some(Secret::new(key));
        }
        if let Ok(secrets) = std::env::var("STRIPE_WEBHOOK_SECRETS") {
            config.stripe_webhook_secrets = secrets
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect();
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            config.redis_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Ok(rule) = std::env::var("DREAM_PUBLIC_RATE_LIMIT") {
            config.public_rate_limit = rule;
        }
        if let Ok(seconds) = std::env::var("DREAM_DASHBOARD_SESSION_SECONDS") {
            config.dashboard_session_seconds =
                seconds.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    anyhow::anyhow!(
                        "DREAM_DASHBOARD_SESSION_SECONDS must be a positive number, not {seconds:?}"
                    )
                })?;
        }
        if let Ok(seconds) = std::env::var("DREAM_SHUTDOWN_GRACE_SECONDS") {
            config.shutdown_grace_seconds = seconds.parse().map_err(|_| {
                anyhow::anyhow!(
                    "DREAM_SHUTDOWN_GRACE_SECONDS must be a number of seconds, not {seconds:?}"
                )
            })?;
        }
        for (name, field) in [
            (
                "DREAM_HEADER_TIMEOUT_SECONDS",
                &mut config.header_timeout_seconds,
            ),
            (
                "DREAM_BODY_TIMEOUT_SECONDS",
                &mut config.body_timeout_seconds,
            ),
            ("DREAM_COPY_SECONDS", &mut config.copy_seconds),
        ] {
            if let Ok(seconds) = std::env::var(name) {
                *field = seconds.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    anyhow::anyhow!("{name} must be a positive number of seconds, not {seconds:?}")
                })?;
            }
        }
        if let Ok(seconds) = std::env::var("DREAM_WEBHOOK_CATCH_UP_SECONDS") {
            config.webhook_catch_up_seconds = seconds.parse().map_err(|_| {
                anyhow::anyhow!(
                    "DREAM_WEBHOOK_CATCH_UP_SECONDS must be a number of seconds, not {seconds:?}"
                )
            })?;
        }
        if let Ok(url) = std::env::var("DREAM_ASSETS_URL") {
            config.assets_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Ok(url) = std::env::var("DREAM_PUBLIC_URL") {
            config.public_url =
                Some(url.trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        }
        for (name, field) in [
            ("DREAM_ASSET_MAX_BYTES", &mut config.asset_max_bytes),
            ("DREAM_ASSET_QUOTA_BYTES", &mut config.asset_quota_bytes),
        ] {
            if let Ok(bytes) = std::env::var(name) {
                *field = bytes.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                    anyhow::anyhow!("{name} must be a positive number of bytes, not {bytes:?}")
                })?;
            }
        }
        if let Ok(count) = std::env::var("DREAM_MAX_CONNECTIONS") {
            config.max_connections = count.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                anyhow::anyhow!("DREAM_MAX_CONNECTIONS must be a positive number, not {count:?}")
            })?;
        }
        if let Ok(flag) = std::env::var("DREAM_USAGE_SERIES") {
            config.usage_series = !matches!(flag.as_str(), "0" | "false" | "off");
        }
        if let Ok(flag) = std::env::var("DREAM_JWKS_ALLOW_INSECURE") {
            config.jwks_allow_insecure = matches!(flag.as_str(), "1" | "true" | "on");
        }
        if let Ok(path) = std::env::var("DREAM_STRIPE_EMULATOR_STATE") {
            config.stripe_emulator_state = Some(path);
        }
        if let Ok(scale) = std::env::var("DREAM_STRIPE_EMULATOR_RETRY_SCALE") {
            config.stripe_emulator_retry_scale =
                scale.parse().ok().filter(|s: &f64| *s >= 0.0).ok_or_else(|| {
                    anyhow::anyhow!(
                        "DREAM_STRIPE_EMULATOR_RETRY_SCALE must be a number of at least 0, not {scale:?}"
                    )
                })?;
        }
        if let Ok(flag) = std::env::var("DREAM_STRIPE_EMULATOR") {
            config.stripe_emulator = !matches!(flag.as_str(), "0" | "false" | "off");
        }
        Ok(config)
    }
}

impl Config {
    /// The SQLite database's file, when the database is one kept in a file.
    fn sqlite_file(&self) -> Option<&str> {
        self.database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|file| !file.is_empty() && !file.contains(":memory:"))
    }

    /// Where assets' bytes go: as configured, else a folder beside the SQLite file
    /// (`dream.db` → `dream-assets`), or `dream-assets` in the working directory.
    pub fn assets_location(&self) -> String {
        if let Some(url) = &self.assets_url {
            return url.clone();
        }
        match self.sqlite_file() {
            Some(file) => {
                let path = std::path::Path::new(file);
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("dream");
                path.with_file_name(format!("{stem}-assets"))
                    .display()
                    .to_string()
            }
            None => "dream-assets".into(),
        }
    }

    /// Where the Stripe emulator keeps its state: as configured, or beside a SQLite file.
    pub fn stripe_emulator_state_file(&self) -> Option<std::path::PathBuf> {
        match self.stripe_emulator_state.as_deref() {
            Some("" | "off") => None,
            Some(path) => Some(path.into()),
            None => self
                .sqlite_file()
                .map(|file| format!("{file}.stripe-emulator.json").into()),
        }
    }
}

impl Config {
    /// The connection limits to serve with.
    pub fn connection_limits(&self) -> crate::connections::Limits {
        use std::time::Duration;
        crate::connections::Limits {
            header_timeout: Duration::from_secs(self.header_timeout_seconds),
            body_timeout: Duration::from_secs(self.body_timeout_seconds),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
        }
    }

    /// The limit on anonymous reads per publishable key, `(requests, seconds)`, from
    /// `REQUESTS/SECONDS`; `None` for `off`.
    pub fn public_rule(&self) -> anyhow::Result<Option<(u64, u64)>> {
        let text = self.public_rate_limit.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let parsed = text
            .split_once('/')
            .and_then(|(r, s)| Some((r.trim().parse::<u64>().ok()?, s.trim().parse::<u64>().ok()?)))
            .filter(|(r, s)| *r > 0 && *s > 0);
        match parsed {
            Some(rule) => Ok(Some(rule)),
            None => anyhow::bail!(
                "DREAM_PUBLIC_RATE_LIMIT must be REQUESTS/SECONDS (such as 100/1) or off, not {text:?}"
            ),
        }
    }
}
