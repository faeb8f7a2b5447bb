//! The baselines `cargo xtask bench` measures in the same run as the server.

use std::path::PathBuf;

/// Answers every request with a constant JSON body: the ceiling for an axum handler here;
/// and `POST /upload/{n}` streams its body to the file `n` in `upload_dir`.
pub async fn serve(upload_dir: Option<PathBuf>) -> anyhow::Result<()> {
    use axum::extract::{Path as UrlPath, Request};
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let dir = upload_dir.unwrap_or_else(std::env::temp_dir);
    let upload = move |UrlPath(n): UrlPath<u32>, request: Request| async move {
        let mut file = tokio::fs::File::create(dir.join(format!("{n}.bin"))).await?;
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk.map_err(std::io::Error::other)?)
                .await?;
        }
        file.sync_all().await?;
        Ok::<_, std::io::Error>(axum::http::StatusCode::CREATED)
    };
    let upload = move |n, request| async move {
        upload(n, request)
            .await
            .map_err(|e| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    };
    let app = axum::Router::new()
        .route("/upload/{n}", axum::routing::post(upload))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .fallback(|| async { ([("content-type", "application/json")], r#"{"status":"ok"}"#) });
    axum::serve(listener, app).await?;
    Ok(())
}
