//! The README's Rust snippet, exactly as the README shows it (between the markers);
//! `tests/client.rs` checks they agree and runs this against a server.

use dream_client::{Client, types};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // README begin
    // DREAM_API_URL, else http://localhost:8787; the secret key from your environment
    let client = Client::builder()
        .secret_key(std::env::var("SK_TEST")?)
        .build()?;
    // 1,200 ai_tokens for user_123: an idempotency key is added, so a retry counts once
    let body = types::TrackUsage {
        metric: Some("ai_tokens".parse()?),
        amount: 1200u64.try_into()?,
    };
    let usage = client
        .track_customer_usage()
        .user_id("user_123")
        .body(body)
        .send()
        .await?
        .into_inner();
    println!("{} of {:?}", usage.usage_count, usage.limit);
    // README end
    Ok(())
}
