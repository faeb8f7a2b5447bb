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
    /// Seconds to let requests in flight finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8787,
            database_url: "sqlite://dream.db".into(),
            operator_token: None,
            shutdown_grace_seconds: 10,
        }
    }
}

impl Config {
    /// Reads `file` if given, then applies `DREAM_HOST`, `PORT`/`DREAM_PORT`, `DATABASE_URL` and
    /// `DREAM_OPERATOR_TOKEN`.
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
        Ok(config)
    }
}
