//! The one place the app is assembled from its configuration: the database, the identity
//! keys, Stripe (or the local emulator for test mode), the rate limiter, the usage recorder,
//! and the background tasks. `main` parses arguments and calls [`App::open`] or
//! [`App::build`]; building a router starts nothing.

use std::sync::Arc;
use std::time::Duration;

use super::{App, Identity, Payments, RateLimits, metrics, now, ratelimit, replica};
use crate::config::{Config, Secret};
use crate::domain::ids;
use crate::store::Store;

/// An app ready to serve, its background tasks running while it lives.
pub struct Serving {
    pub app: Arc<App>,
    /// The local Stripe emulator serving test mode, when one was started.
    pub stripe_emulator: Option<LocalStripe>,
}

/// The local Stripe emulator a server started for test mode.
pub struct LocalStripe {
    /// Its base URL (API, hosted pages, test controls).
    pub url: String,
    /// The secret it signs its webhooks with: the first of `STRIPE_WEBHOOK_SECRETS`, or one
    /// made for this run. A test-mode secret of this machine; `dream serve` prints it.
    pub webhook_secret: Secret,
}

impl App {
    /// The app for commands that manage data and serve nothing (`dream project create`): the
    /// database (migrated) and the identity keys; no Stripe, no rate limiter, no tasks.
    pub async fn open(config: &Config) -> anyhow::Result<App> {
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", config.host, config.port));
        App::assemble(config, local_limiter(config), Payments::none(), &public_url).await
    }

    /// The app on the configured database, with this limiter and these Stripe clients.
    async fn assemble(
        config: &Config,
        limiter: ratelimit::Limiter,
        payments: Payments,
        public_url: &str,
    ) -> anyhow::Result<App> {
        let store = Store::connect(&config.database_url).await?;
        let assets = super::assets::Assets::open(
            &config.assets_location(),
            &config.assets_s3,
            public_url,
            config.asset_max_bytes,
            config.asset_quota_bytes,
        )?;
        let policy = super::identity::JwksPolicy {
            allow_insecure: config.jwks_allow_insecure,
            ..Default::default()
        };
        let identity = Identity::load(&store, now(), policy).await?;
        // Alone on its database (SQLite), a server sees every change it makes; on Postgres it
        // hears the others' only once its listener runs.
        let hearing = !store.announces();
        let telemetry = Arc::new(crate::telemetry::Telemetry::new());
        store.observe_batches(telemetry.group_commit_batch.clone());
        Ok(App {
            store,
            identity,
            operator_token: config
                .operator_token
                .as_ref()
                .map(|s| s.expose().to_string()),
            metrics_token: config
                .metrics_token
                .as_ref()
                .map(|s| s.expose().to_string()),
            payments,
            limits: RateLimits {
                limiter,
                public: public_rule(config)?,
            },
            caches: replica::Caches::new(
                hearing,
                Duration::from_secs(config.copy_seconds),
                telemetry.clone(),
            ),
            announcer: Arc::new(replica::Announcer::new()),
            recorder: if config.usage_series {
                metrics::Recorder::default()
            } else {
                metrics::Recorder::off()
            },
            assets,
            telemetry,
        })
    }

    /// The app for a server listening at `base_url`: as [`App::open`], with Stripe as
    /// configured (or the local emulator for test mode, delivering its webhooks to
    /// `base_url`), the rate limiter (Redis when `REDIS_URL` is set; it must answer at start),
    /// and its background tasks started: the usage series' flush every second, the renewal
    /// of copies in use and, on Postgres, the listener for other replicas' changes. They stop when the app is dropped.
    pub async fn build(config: &Config, base_url: &str) -> anyhow::Result<Serving> {
        let limiter = match &config.redis_url {
            Some(url) => ratelimit::Limiter::Redis(ratelimit::RedisLimiter::connect(url).await?),
            None => local_limiter(config),
        };
        let (payments, stripe_emulator) = stripe(config, base_url).await?;
        let public_url = config.public_url.as_deref().unwrap_or(base_url);
        let app = Arc::new(App::assemble(config, limiter, payments, public_url).await?);
        spawn_metrics_flush(&app);
        replica::spawn_listener(&app);
        replica::spawn_refresher(&app);
        spawn_webhook_catch_up(&app, Duration::from_secs(config.webhook_catch_up_seconds));
        Ok(Serving {
            app,
            stripe_emulator,
        })
    }

    /// Ends a graceful shutdown: writes what the usage recorder holds, sends the counter
    /// announcements still queued, and closes the database's connections.
    pub async fn close(&self) {
        self.metrics_flush().await;
        self.announce_pending().await;
        self.store.close().await;
    }
}

/// Rate-limit buckets kept in this process.
fn local_limiter(config: &Config) -> ratelimit::Limiter {
    ratelimit::Limiter::Local(ratelimit::LocalLimiter::new(config.rate_limit_capacity))
}

fn public_rule(config: &Config) -> anyhow::Result<Option<ratelimit::Rule>> {
    Ok(config
        .public_rule()?
        .map(|(requests, seconds)| ratelimit::Rule::per_seconds(requests, seconds)))
}

/// Stripe as configured: the configured keys, or — with no test key and the emulator allowed
/// — a local emulator for test mode that delivers its signed webhooks to `base_url`. The
/// emulator is never used for live mode.
async fn stripe(
    config: &Config,
    base_url: &str,
) -> anyhow::Result<(Payments, Option<LocalStripe>)> {
    let mut secrets = config.stripe_webhook_secrets.clone();
    if config.stripe_test_secret_key.is_some() || !config.stripe_emulator {
        let payments = Payments::new(
            &config.stripe_api_base,
            config.stripe_test_secret_key.as_ref(),
            config.stripe_live_secret_key.as_ref(),
            secrets,
        )?;
        return Ok((payments, None));
    }
    let running = stripe_emulator::start_with(stripe_emulator::Options {
        state_file: config.stripe_emulator_state_file(),
        retry_scale: config.stripe_emulator_retry_scale,
    })
    .await?;
    // The emulator signs with the first configured secret, or one of its own.
    let secret = match secrets.first() {
        Some(secret) => secret.clone(),
        None => {
            let secret = Secret::new(format!("whsec_{}", ids::random(32)));
            secrets.push(secret.clone());
            secret
        }
    };
    running
        .emulator
        .add_endpoint(&format!("{base_url}/v1/webhooks/stripe"), secret.expose());
    let emulator_key = Secret::new("sk_test_dream_local_emulator");
    let mut payments = Payments::new(&running.base_url, Some(&emulator_key), None, secrets)?;
    if let Some(live) = config.stripe_live_secret_key.as_ref() {
        payments = payments.with_live(&config.stripe_api_base, live)?;
    }
    Ok((
        payments,
        Some(LocalStripe {
            url: running.base_url,
            webhook_secret: secret,
        }),
    ))
}

/// How far before the previous catch-up's start the next one looks: events created just
/// before it may still have been on their way.
const CATCH_UP_OVERLAP: i64 = 600;

/// Applies the Stripe events whose webhooks never arrived: those created while the server
/// was down (once, at start, from an hour before the newest event stored), then every `every`
/// those whose delivery failed since, until the app is dropped. Each account (source) moves on
/// by itself: one that cannot be listed keeps its bound for the next run. Off when `every` is
/// zero or nothing bills.
fn spawn_webhook_catch_up(app: &Arc<App>, every: Duration) {
    if every.is_zero() || !app.payments.bills() {
        return;
    }
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut first = None;
        // Where each source's next catch-up starts; a new source starts at `first`.
        let mut next: std::collections::HashMap<super::catch_up::EventSource, i64> =
            std::collections::HashMap::new();
        loop {
            let Some(app) = weak.upgrade() else { break };
            let started = now();
            let bounds = match first {
                Some(first) => Ok(first),
                None => app.webhook_catch_up_start().await,
            };
            match (bounds, app.webhook_event_sources().await) {
                (Ok(bound), Ok(sources)) => {
                    first = Some(bound);
                    for source in sources {
                        let since = next.get(&source).copied().unwrap_or(bound);
                        match app.webhook_catch_up_source(&source, since).await {
                            Ok(caught) => {
                                if caught.applied > 0 || caught.unreadable > 0 {
                                    tracing::info!(
                                        ?source,
                                        listed = caught.listed,
                                        applied = caught.applied,
                                        unreadable = caught.unreadable,
                                        "applied Stripe events whose webhooks had not arrived"
                                    );
                                }
                                next.insert(source, since.max(started - CATCH_UP_OVERLAP));
                            }
                            Err(e) => {
                                tracing::warn!(?source, error = %e.cause(), "catching up on Stripe events failed for this account; trying again later");
                            }
                        }
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e.cause(), "catching up on Stripe events failed; trying again later");
                }
            }
            drop(app);
            tokio::time::sleep(every).await;
        }
    });
}

/// Writes the usage recorded in memory to the time series every second, until the app is
/// dropped.
fn spawn_metrics_flush(app: &Arc<App>) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            app.metrics_flush().await;
        }
    });
}
