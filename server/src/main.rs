//! `dream`: run the server, or manage projects from the command line.

mod init;

/// mimalloc instead of the C library's allocator: a request allocates and frees many small
/// buffers on every core, and glibc's arenas made that a tenth of the check path's profile,
/// with lock waits between threads. Built without transparent huge pages (`no_thp`): with
/// them, partly used 2 MiB pages raised the server's peak memory under load by half.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dream_server::app::App;
use dream_server::config::Config;
use dream_server::domain::Mode;

#[derive(Parser)]
#[command(
    name = "dream",
    version,
    about = "Dream API: auth, billing, usage tracking, one SDK"
)]
struct Cli {
    /// A TOML configuration file; environment variables override it.
    #[arg(long, global = true, env = "DREAM_CONFIG")]
    config: Option<PathBuf>,
    /// The database: sqlite://FILE (default sqlite://dream.db) or postgres://…
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// What `dream serve --help` says of its configuration (the README's table has the details).
const SERVE_ENVIRONMENT: &str = "\
Configuration (environment variables, over an optional --config TOML file with the same names in snake case):
  DATABASE_URL                      sqlite://FILE (default sqlite://dream.db) or postgres://…
  PORT, DREAM_PORT, DREAM_HOST      where to listen (default 127.0.0.1:8787)
  DREAM_PUBLIC_URL                  the URL clients reach the server at (assets' URLs)
  DREAM_OPERATOR_TOKEN              enables POST /v1/projects and operator sign-in
  DREAM_METRICS_TOKEN               makes /metrics (Prometheus) ask for this bearer token
  STRIPE_TEST_SECRET_KEY, STRIPE_LIVE_SECRET_KEY, STRIPE_WEBHOOK_SECRETS, STRIPE_API_BASE
  DREAM_STRIPE_EMULATOR, DREAM_STRIPE_EMULATOR_STATE, DREAM_STRIPE_EMULATOR_RETRY_SCALE
  DREAM_WEBHOOK_CATCH_UP_SECONDS    how often Stripe's missed events are applied (0: off)
  REDIS_URL                         rate-limit buckets shared by every replica
  DREAM_PUBLIC_RATE_LIMIT           anonymous reads per publishable key (REQUESTS/SECONDS or off)
  DREAM_DASHBOARD_SESSION_SECONDS   how long a dashboard sign-in lasts
  DREAM_COPY_SECONDS                how long what a server read is reused (default 60)
  DREAM_SHUTDOWN_GRACE_SECONDS, DREAM_HEADER_TIMEOUT_SECONDS, DREAM_BODY_TIMEOUT_SECONDS
  DREAM_MAX_CONNECTIONS             connections open at once
  DREAM_USAGE_SERIES                off stops recording usage over time
  DREAM_JWKS_ALLOW_INSECURE         true also fetches issuers' keys over http (local issuers)
  DREAM_ASSETS_URL                  a folder, file:///dir or s3://bucket/prefix
  DREAM_ASSET_MAX_BYTES, DREAM_ASSET_QUOTA_BYTES
  RUST_LOG                          log filter (default info,sqlx=warn,stripe_webhook=error)
  DREAM_LOG_FORMAT                  text (default) or json: one JSON object per line
Every variable, with its default: the README's Configuration section.";

#[derive(Subcommand)]
enum Command {
    /// Run the server. On a database with no projects, creates a development project and
    /// prints its keys.
    #[command(after_help = SERVE_ENVIRONMENT)]
    Serve {
        /// Port to listen on.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Make a template app in a new folder, connected to a running server: prepares the
    /// project's tiers or products through the API (keeping what exists) and writes the app
    /// with `.env.local` (the API's address and the publishable key).
    Init {
        /// Which template: saas or shop.
        #[arg(value_enum)]
        template: init::Template,
        /// The folder to make (or a folder `dream init` made before: only missing files are added).
        dir: PathBuf,
        /// The running server's address.
        #[arg(long, env = "DREAM_API_URL", default_value = "http://localhost:8787")]
        api_url: String,
        /// The project's test secret key (sk_test_…), as `dream serve` printed it.
        #[arg(long, env = "DREAM_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
    },
    /// Manage projects.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its keys (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Let the development issuer mint test-mode user tokens for this project.
        #[arg(long)]
        dev_issuer: bool,
    },
    /// List every project, oldest first.
    List,
    /// Delete a project and all its data, in both modes (its keys stop working at once).
    Delete {
        /// The project's id (`proj_…`), as `dream project list` shows it.
        id: String,
        /// Confirm: without it, nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, on one line each: what failed and why, without a
            // backtrace (RUST_BACKTRACE is for panics).
            eprintln!("error: {e}");
            let mut said = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                // sqlx repeats its cause inside its own message: say each thing once.
                if !said.ends_with(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                said = cause;
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    dream_server::logging::init(dream_server::logging::Format::from_env()?);
    dream_server::install_crypto();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.database_url = url;
    }
    match cli.command {
        Command::Init {
            template,
            dir,
            api_url,
            secret_key,
        } => {
            init::run(init::Init {
                template,
                dir,
                api_url,
                secret_key,
            })
            .await
        }
        Command::Project {
            command: ProjectCommand::Create { name, dev_issuer },
        } => {
            let app = App::open(&config).await?;
            let created = app.project_create(&name, dev_issuer).await?;
            println!("Created project {} ({}).", created.name, created.id);
            for (mode, pk, sk) in &created.keys {
                println!("  {}: publishable key {pk}", mode.as_str());
                println!("  {}: secret key      {sk}   (shown once)", mode.as_str());
            }
            Ok(())
        }
        Command::Project {
            command: ProjectCommand::List,
        } => {
            let app = App::open(&config).await?;
            let projects = app.project_list().await?;
            if projects.is_empty() {
                println!("No projects yet: `dream serve` creates one on its first start.");
            }
            for project in projects {
                let created = chrono::DateTime::from_timestamp(project.created_at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                println!("{}  {}  {}", project.id, created, project.name);
            }
            Ok(())
        }
        Command::Project {
            command: ProjectCommand::Delete { id, yes },
        } => {
            let app = App::open(&config).await?;
            let Some(project) = app.project_get(&id).await? else {
                anyhow::bail!("There is no project {id} (see `dream project list`).");
            };
            if !yes {
                anyhow::bail!(
                    "This deletes project {} ({}) with all its data in test and live mode: keys, tiers, products, customers, usage, billing records, audit log and assets. Nothing was deleted; run again with --yes to delete it.",
                    project.id,
                    project.name
                );
            }
            app.project_delete(&id).await?;
            println!("Deleted project {} ({}).", project.id, project.name);
            Ok(())
        }
        Command::Serve { port } => {
            if let Some(port) = port {
                config.port = port;
            }
            let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {}:{} (another `dream serve` there? choose another with --port or DREAM_PORT)",
                        config.host, config.port
                    )
                })?;
            let addr = listener.local_addr()?;
            let base = format!("http://{addr}");
            let serving = App::build(&config, &base).await?;
            let app = serving.app;
            if let Some(created) = app.development_project().await? {
                println!("Dream API is running at {base}");
                println!();
                println!(
                    "Development project {} ({}), created on this first start:",
                    created.name, created.id
                );
                for (mode, pk, sk) in &created.keys {
                    println!("  {} publishable key  {pk}", mode.as_str());
                    println!(
                        "  {} secret key       {sk}   (shown once; stored hashed)",
                        mode.as_str()
                    );
                }
                let (_, _, sk) = created
                    .keys
                    .iter()
                    .find(|(m, _, _)| *m == Mode::Test)
                    .expect("test keys");
                println!();
                println!("Get a development user token (test mode):");
                println!(
                    "  curl -s -X POST {base}/v1/dev/tokens -H 'Authorization: Bearer {sk}' \\"
                );
                println!(
                    "       -H 'Content-Type: application/json' -d '{{\"userId\":\"user_123\"}}'"
                );
                println!("Then call the API as that user:");
                println!(
                    "  curl -s {base}/v1/me -H 'X-Publishable-Key: <test publishable key>' -H 'Authorization: Bearer <token>'"
                );
            } else {
                println!(
                    "Dream API is running at {base} (database {})",
                    redact_url(&config.database_url)
                );
                println!(
                    "Keys were printed when the project was created; `dream project create --name NAME --dev-issuer` makes another."
                );
            }
            match &serving.stripe_emulator {
                Some(local) => {
                    println!(
                        "Billing, test mode: the local Stripe emulator at {} (its checkout pages complete without a card); live mode needs STRIPE_LIVE_SECRET_KEY.",
                        local.url
                    );
                    println!(
                        "  It signs its webhooks with {} (set STRIPE_WEBHOOK_SECRETS to choose it; the conformance suite's --stripe-webhook-secret).",
                        local.webhook_secret.expose()
                    );
                }
                None => println!("Billing: Stripe at {}", config.stripe_api_base),
            }
            match &config.redis_url {
                Some(_) => println!("Rate limits: in Redis, shared by every replica."),
                None => println!(
                    "Rate limits: in this process (set REDIS_URL to share them between replicas)."
                ),
            }
            println!(
                "Dashboard: {base}/dashboard   (sign in with a secret key, or the operator token)"
            );
            println!("Docs: {base}/docs   Spec: {base}/openapi.json   Health: {base}/healthz");
            let router =
                dream_server::serve::router_with(app.clone(), config.dashboard_session_seconds)?;
            dream_server::connections::serve(
                router,
                listener,
                dream_server::serve::shutdown_signal(),
                config.connection_limits(),
            )
            .await?;
            app.close().await;
            Ok(())
        }
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}
