//! `dream init TEMPLATE DIR`: one of the templates in a new folder, connected to a running
//! server. Through the API with the project's test secret key it reads the publishable key and
//! prepares what the template shows (tiers with prices and limits; products with pictures),
//! keeping whatever is already there, so running it again changes nothing. Then it writes the
//! app: the template's files, the SDK beside them (`vendor/dream-api-sdk`, as `@dream-api/sdk`
//! is on no registry), and `.env.local` with the API's address and the publishable key — never
//! the secret key. A new folder appears whole or not at all; in a folder it made before, only
//! missing files are added and nothing is overwritten.

mod catalogue;
mod files;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use dream_client::{ApiError, Client, types};

/// The templates `dream init` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// Sign-in, plans and usage meters, a metered action, checkout and the customer portal.
    Saas,
    /// A catalogue with pictures, a cart, guest checkout and an order confirmation.
    Shop,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::Saas => "saas",
            Template::Shop => "shop",
        }
    }
}

/// What `dream init` was asked for.
pub struct Init {
    pub template: Template,
    pub dir: PathBuf,
    pub api_url: String,
    pub secret_key: Option<String>,
}

pub async fn run(init: Init) -> anyhow::Result<()> {
    let Some(secret_key) = init.secret_key.filter(|k| !k.is_empty()) else {
        bail!(
            "dream init needs the project's test secret key: set DREAM_SECRET_KEY=sk_test_… (or pass --secret-key). `dream serve` prints it at its first start; the dashboard's Settings page makes a new one."
        );
    };
    if !secret_key.starts_with("sk_test_") {
        bail!(
            "dream init prepares a project's test mode (test cards, the development sign-in): pass its test secret key, sk_test_…, not {}",
            if secret_key.starts_with("sk_live_") {
                "a live one"
            } else {
                "this"
            }
        );
    }
    // Refuse a folder that is not ours before touching the project.
    let target = files::Target::check(&init.dir)?;
    let api_url = init.api_url.trim_end_matches('/').to_string();
    let client = Client::builder()
        .base_url(&api_url)
        .secret_key(&secret_key)
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let publishable_key = publishable_key(&client, &api_url).await?;
    let made = catalogue::prepare(&client, init.template).await?;
    let written = target.write(&files::app(
        init.template,
        &target.package_name(),
        &api_url,
        &publishable_key,
    )?)?;

    let dir = init.dir.display();
    println!(
        "The {} template in {dir}, on the project of {} at {api_url}:",
        init.template.name(),
        dream_server::domain::ids::redact(&secret_key),
    );
    if made.is_empty() {
        println!("  the project already has what the template shows: nothing made");
    }
    for thing in &made {
        println!("  made {thing}");
    }
    match (written.added, written.kept) {
        (0, _) => println!("  every file was already there: nothing written"),
        (added, 0) => println!("  wrote {added} files"),
        (added, kept) => println!("  wrote {added} missing files, kept the {kept} already there"),
    }
    if let Some(note) = written.env_note {
        println!("  {note}");
    }
    println!("Next: cd {dir} && npm install && npm run dev");
    Ok(())
}

/// The project's test publishable key, which the app puts in the browser.
async fn publishable_key(client: &Client, api_url: &str) -> anyhow::Result<String> {
    let keys = client
        .list_api_keys()
        .send()
        .await
        .map_err(ApiError::from)
        .map_err(|e| {
            if e.code == "network_error" {
                anyhow::anyhow!(
                    "no Dream API server answers at {api_url}: start one with `dream serve` (or pass --api-url)"
                )
            } else {
                anyhow::anyhow!("the API refused the secret key: {e}")
            }
        })?
        .into_inner()
        .keys;
    keys.into_iter()
        .find(|k| k.kind == types::KeyKind::Publishable && k.mode == types::Mode::Test)
        .map(|k| k.token)
        .context("the project has no test publishable key")
}
