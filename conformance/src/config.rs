//! Run settings: a TOML file, overridden by environment variables and flags (clap reads the
//! `DREAM_CONFORMANCE_*` variables for each flag, so the environment beats the file).

use std::path::Path;

use serde::Deserialize;

use crate::harness::Profile;

/// A project created beforehand, for backends the suite cannot create projects on.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProvisionedProject {
    pub test_publishable_key: String,
    pub test_secret_key: String,
    pub live_publishable_key: String,
    pub live_secret_key: String,
}

/// The configuration file (`--config`), every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub base_url: Option<String>,
    pub operator_token: Option<String>,
    pub profiles: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub concurrency: Option<usize>,
    pub callback_host: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    #[serde(default, rename = "project")]
    pub projects: Vec<ProvisionedProject>,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }
}

/// Everything a run needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The backend under test, without a trailing slash.
    pub base_url: String,
    /// Lets the suite create a fresh project per case.
    pub operator_token: Option<String>,
    /// Used, in order, when there is no operator token. Cross-tenant cases need two.
    pub projects: Vec<ProvisionedProject>,
    pub profiles: Vec<Profile>,
    /// Every selected case must pass; a skip counts as a failure.
    pub certified: bool,
    pub seed: u64,
    /// Cases run at once.
    pub concurrency: usize,
    /// The host name the backend uses to reach the suite's JWKS.
    pub callback_host: String,
    /// Only cases whose id contains this run.
    pub filter: Option<String>,
    /// A webhook signing secret the backend accepts, so the suite can sign Stripe events
    /// itself (the webhooks profile, and billing cases that need exact event order).
    pub stripe_webhook_secret: Option<String>,
}

/// A configuration the suite cannot run with (exit status 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Settings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| ConfigError(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError(format!(
                "base URL {:?} must be http or https",
                self.base_url
            )));
        }
        if self.operator_token.is_none() && self.projects.is_empty() {
            return Err(ConfigError(
                "give an operator token (--operator-token) or provisioned projects \
                 ([[project]] in the config file)"
                    .into(),
            ));
        }
        if self.concurrency == 0 {
            return Err(ConfigError("concurrency must be at least 1".into()));
        }
        Ok(())
    }
}
