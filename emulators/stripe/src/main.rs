//! `stripe-emulator`: the Stripe emulator as a process, for trying the billing flow by hand.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "stripe-emulator",
    about = "A local, test-mode-only emulator of the Stripe API"
)]
struct Cli {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 12111)]
    port: u16,
    /// Deliver events to this URL.
    #[arg(long)]
    webhook_url: Option<String>,
    /// Sign deliveries with this secret.
    #[arg(long, default_value = "whsec_emulator")]
    webhook_secret: String,
    /// Keep the state in this file across restarts (objects, events, pending retries).
    #[arg(long)]
    state: Option<std::path::PathBuf>,
    /// Multiply the waits between delivery retries (1: Stripe's, about three days in all).
    #[arg(long, default_value_t = 1.0)]
    retry_scale: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let options = stripe_emulator::Options {
        state_file: cli.state,
        retry_scale: cli.retry_scale,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port)).await?;
    let running = stripe_emulator::start_on(listener, options)?;
    if let Some(url) = &cli.webhook_url {
        running.emulator.add_endpoint(url, &cli.webhook_secret);
    }
    println!("Stripe emulator (test mode only) at {}", running.base_url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
