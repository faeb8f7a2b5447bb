//! `dream-conformance`: run the suite against a backend and write the reports.
//!
//! Exit status: 0 every selected case passed, 1 a case failed or erred (or, under
//! `--certified`, was skipped), 2 the configuration is unusable.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dream_conformance::config::{ConfigError, FileConfig, Settings};
use dream_conformance::harness::Profile;
use dream_conformance::report::{html, junit};

#[derive(Parser)]
#[command(
    name = "dream-conformance",
    version,
    about = "Certifies a Dream API backend against the spec"
)]
struct Cli {
    /// The backend's base URL, such as http://127.0.0.1:8787.
    #[arg(long, env = "DREAM_CONFORMANCE_BASE_URL")]
    base_url: Option<String>,
    /// An operator token: the suite creates a fresh project for each case.
    #[arg(long, env = "DREAM_CONFORMANCE_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// A TOML file with any of these settings and `[[project]]` tables of provisioned keys.
    #[arg(long, env = "DREAM_CONFORMANCE_CONFIG")]
    config: Option<PathBuf>,
    /// Profiles to run, comma separated: core, usage, billing, webhooks, ratelimit, assets.
    /// Default: every profile this suite version has cases for.
    #[arg(long, env = "DREAM_CONFORMANCE_PROFILE", value_delimiter = ',')]
    profile: Vec<String>,
    /// Run every profile with cases and allow no skip.
    #[arg(long)]
    certified: bool,
    /// Seed for generated data; printed in every report. Default: random.
    #[arg(long, env = "DREAM_CONFORMANCE_SEED")]
    seed: Option<u64>,
    /// Cases run at once.
    #[arg(long, env = "DREAM_CONFORMANCE_CONCURRENCY")]
    concurrency: Option<usize>,
    /// The host the backend uses to reach the suite's JWKS (default 127.0.0.1).
    #[arg(long, env = "DREAM_CONFORMANCE_CALLBACK_HOST")]
    callback_host: Option<String>,
    /// A Stripe webhook signing secret the backend accepts (`whsec_…`), for the cases that
    /// sign events themselves.
    #[arg(
        long,
        env = "DREAM_CONFORMANCE_STRIPE_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    stripe_webhook_secret: Option<String>,
    /// Run only cases whose id contains this text.
    #[arg(long)]
    case: Option<String>,
    /// List the cases and exit.
    #[arg(long)]
    list: bool,
    /// Write a JUnit XML report.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a single-file HTML report with transcripts.
    #[arg(long)]
    html: Option<PathBuf>,
}

fn settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let file = match &cli.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let with_cases: Vec<Profile> = {
        let mut profiles: Vec<Profile> = dream_conformance::cases::all()
            .iter()
            .map(|c| c.profile)
            .collect();
        profiles.sort();
        profiles.dedup();
        profiles
    };
    let names = if !cli.profile.is_empty() {
        cli.profile.clone()
    } else {
        file.profiles.clone().unwrap_or_default()
    };
    if cli.certified && cli.case.is_some() {
        return Err(ConfigError(
            "--certified runs every case; drop --case".into(),
        ));
    }
    let profiles = if cli.certified || names.is_empty() {
        if cli.certified && !names.is_empty() {
            return Err(ConfigError(
                "--certified runs every profile; drop --profile".into(),
            ));
        }
        with_cases
    } else {
        names
            .iter()
            .map(|name| {
                Profile::parse(name.trim()).ok_or_else(|| {
                    ConfigError(format!(
                        "unknown profile {name:?}; known: core, usage, billing, webhooks, ratelimit, assets"
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let base_url = cli
        .base_url
        .clone()
        .or(file.base_url)
        .ok_or_else(|| ConfigError("no backend: give --base-url".into()))?;
    Ok(Settings {
        base_url: base_url.trim_end_matches('/').to_owned(),
        operator_token: cli.operator_token.clone().or(file.operator_token),
        projects: file.projects,
        profiles,
        certified: cli.certified,
        seed: cli.seed.or(file.seed).unwrap_or_else(rand::random),
        concurrency: cli.concurrency.or(file.concurrency).unwrap_or(4),
        callback_host: cli
            .callback_host
            .clone()
            .or(file.callback_host)
            .unwrap_or_else(|| "127.0.0.1".into()),
        filter: cli.case.clone(),
        stripe_webhook_secret: cli
            .stripe_webhook_secret
            .clone()
            .or(file.stripe_webhook_secret),
    })
}

fn write(path: &PathBuf, text: &str) -> Result<(), ConfigError> {
    std::fs::write(path, text)
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        for case in dream_conformance::cases::all() {
            println!(
                "{:<9}  {:<48}  {:<22}  {}",
                case.profile.name(),
                case.id,
                case.requirements.join(","),
                case.title
            );
        }
        return ExitCode::SUCCESS;
    }
    dream_conformance::install_crypto();
    let outcome = async {
        let settings = settings(&cli)?;
        let report = dream_conformance::run(settings).await?;
        print!("{}", report.table());
        if let Some(path) = &cli.junit {
            write(path, &junit::render(&report))?;
        }
        if let Some(path) = &cli.json {
            write(path, &report.json())?;
        }
        if let Some(path) = &cli.html {
            write(path, &html::render(&report))?;
        }
        Ok::<_, ConfigError>(report.passed())
    }
    .await;
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("dream-conformance: {e}");
            ExitCode::from(2)
        }
    }
}
