//! Assets over HTTP: the secret-key operations, and public delivery of the bytes.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::{Caller, Server, convert, errors};
use crate::app::assets::Upload;
use crate::app::{App, AppError, AppResult};
use crate::domain::assets as rules;
use crate::generated::{self as api, types};

pub(super) async fn list_assets(
    server: &Server,
    caller: Caller,
    request: api::ListAssetsRequest,
) -> api::ListAssetsResponse {
    respond!(caller, ListAssetsResponse::Ok, {
        let starting_after = request.starting_after.map(|s| s.to_string());
        let product_id = request.product_id.map(|s| s.to_string());
        let (assets, has_more) = server
            .app
            .asset_list(
                caller.secret()?,
                product_id.as_deref(),
                i64::from(request.limit.get()),
                starting_after.as_deref(),
            )
            .await?;
        let next_cursor = if has_more {
            assets.last().map(|a| a.id.clone())
        } else {
            None
        };
        Ok(types::AssetList {
            data: assets
                .iter()
                .map(|a| convert::asset(a, server.app.assets()))
                .collect(),
            has_more,
            next_cursor,
        })
    })
}

pub(super) async fn upload_asset(
    server: &Server,
    caller: Caller,
    request: api::UploadAssetRequest,
) -> api::UploadAssetResponse {
    respond!(caller, UploadAssetResponse::Created, {
        let tenant = caller.secret()?;
        // `Content-Length`, when the client sent one: a body too large is refused unread.
        let length = http_body::Body::size_hint(&request.body).exact();
        let upload = Upload {
            filename: request.filename.to_string(),
            content_type: request.content_type,
            length,
            product_id: request.product_id.map(|p| p.to_string()),
        };
        let mut body =
            request
                .body
                .into_data_stream()
                .map_err(|e| match crate::connections::timed_out(&e) {
                    Some(timed_out) => AppError::RequestTimeout(timed_out.0.as_secs()),
                    None => AppError::Malformed {
                        message: format!("The request body could not be read: {e}."),
                        param: None,
                    },
                });
        let uploaded = server.app.asset_upload(tenant, upload, &mut body).await;
        if uploaded.is_err() {
            linger(&mut body).await;
        }
        let asset = uploaded?;
        let summary = format!(
            "{} ({}, {} bytes)",
            asset.filename, asset.content_type, asset.size
        );
        caller
            .audit(&server.app, "uploadAsset", &asset.id, Some(summary))
            .await;
        Ok(convert::asset(&asset, server.app.assets()))
    })
}

/// Reads and drops what is left of a refused upload's body (up to 64 MiB, for up to 10 s),
/// so the client, still sending, reads the refusal instead of a reset connection. Past
/// either bound the connection is closed with the rest unread.
async fn linger<S>(body: &mut S)
where
    S: futures::Stream<Item = AppResult<axum::body::Bytes>> + Unpin,
{
    const LINGER_BYTES: usize = 64 << 20;
    let drain = async {
        let mut drained = 0;
        while let Some(Ok(chunk)) = body.next().await {
            drained += chunk.len();
            if drained > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}

pub(super) async fn get_asset(
    server: &Server,
    caller: Caller,
    request: api::GetAssetRequest,
) -> api::GetAssetResponse {
    respond!(caller, GetAssetResponse::Ok, {
        let asset = server
            .app
            .asset_get(caller.secret()?, &request.asset_id)
            .await?;
        Ok(convert::asset(&asset, server.app.assets()))
    })
}

pub(super) async fn delete_asset(
    server: &Server,
    caller: Caller,
    request: api::DeleteAssetRequest,
) -> api::DeleteAssetResponse {
    let result = async {
        let asset = server
            .app
            .asset_delete(caller.secret()?, &request.asset_id)
            .await?;
        caller
            .audit(
                &server.app,
                "deleteAsset",
                &asset.id,
                Some(asset.filename.clone()),
            )
            .await;
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => api::DeleteAssetResponse::NoContent,
        Err(e) => caller.fail(e),
    }
}

/// The range a `Range` header asks for within `size` bytes: `None` for the whole file (no
/// header, several ranges, or one that is not a byte range), `Some(Err(()))` when it cannot
/// be satisfied.
fn requested_range(headers: &HeaderMap, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // The last `n` bytes.
        let n: u64 = last.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            size
        } else {
            let last: u64 = last.parse().ok()?;
            if last < start {
                return None;
            }
            last.saturating_add(1).min(size)
        };
        start..end
    };
    if range.start >= size {
        return Some(Err(()));
    }
    Some(Ok(range))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// `GET`/`HEAD /assets/{assetId}/{filename}`: an asset's bytes, to anyone with the URL.
pub async fn deliver(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
    filename: &str,
    request_id: &str,
) -> Response {
    let mut satisfiable = true;
    let mut partial = false;
    let opened = app
        .asset_open(id, filename, |size| match requested_range(headers, size) {
            None => 0..size,
            Some(Ok(range)) => {
                partial = true;
                range
            }
            Some(Err(())) => {
                satisfiable = false;
                0..0
            }
        })
        .await;
    let delivery = match opened {
        Ok(Some(delivery)) => delivery,
        Ok(None) => return errors::response(&crate::app::assets::no_asset(id), request_id),
        Err(e) => return errors::response(&e, request_id),
    };
    let asset = &delivery.asset;
    let size = u64::try_from(asset.size).unwrap_or(0);
    let etag = format!("\"{}\"", asset.sha256);
    let essence = rules::essence(&asset.content_type).to_string();
    let inline = rules::is_raster(&essence);

    let mut response_headers = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response_headers.insert(name, value);
        }
    };
    set(header::ETAG, &etag);
    set(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    set(header::ACCEPT_RANGES, "bytes");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        if inline {
            "default-src 'none'; style-src 'unsafe-inline'"
        } else {
            "sandbox; default-src 'none'"
        },
    );
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        url::form_urlencoded::byte_serialize(asset.filename.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    set(header::CONTENT_DISPOSITION, &disposition);

    if none_match(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    if !satisfiable {
        set(header::CONTENT_RANGE, &format!("bytes */{size}"));
        let mut response = errors::response(
            &AppError::Malformed {
                message: format!("The range is outside the asset's {size} bytes."),
                param: Some("Range".into()),
            },
            request_id,
        );
        *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
        response.headers_mut().extend(response_headers);
        return response;
    }
    set(header::CONTENT_TYPE, &asset.content_type);
    let range = delivery.range.clone();
    set(
        header::CONTENT_LENGTH,
        &(range.end - range.start).to_string(),
    );
    let status = if partial {
        set(
            header::CONTENT_RANGE,
            &format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            ),
        );
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(delivery.body.map_err(std::io::Error::other).boxed())
    };
    (status, response_headers, body).into_response()
}
