//! Assets in the dashboard: the assets page (every file with its size and the product it
//! belongs to; upload, delete) and a product's images on the catalogue (upload, reorder,
//! remove).
//!
//! An upload is the browser's `multipart/form-data` form streamed into the API's upload
//! operation, in process, chunk by chunk as it arrives: nothing is buffered whole, and the
//! API's size limit, quota and type checks decide, as for any API call.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use futures::SinkExt;
use futures::channel::mpsc;
use maud::{Markup, html};
use serde_json::json;

use super::api::{segment, with_query};
use super::forms::{self, Posted, Signed};
use super::logs::{self, PageQuery};
use super::{Dash, Page, layout};
use crate::domain::DashboardSession;
use crate::domain::assets::is_raster;
use crate::generated::types;

/// The longest a form's small fields (the token, a product id) may be.
const FIELD_BYTES: usize = 256;
/// How long the rest of a form is read after an upload was refused, so the browser sees the
/// answer instead of a reset connection.
const DRAIN: Duration = Duration::from_secs(10);

pub async fn page(
    State(dash): State<Dash>,
    signed: Signed,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Page {
    let (_, grant) = signed.scope()?;
    let assets: types::AssetList =
        logs::newest_first(&dash, &signed, "/v1/assets", 50, &query).await?;
    let products = dash.products(&grant).await?;
    let names: HashMap<&str, &str> = products
        .products
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let session = &signed.session;
    let body = html! {
        div.page-head { h1 { "Assets" } }
        section.card {
            div.card-head {
                h2 { "Files" }
                span.muted { "Served from their public URLs to anyone who has the link. A product's images are added on Tiers & products." }
            }
            (upload_form(session, None, "Upload files"))
            @if assets.data.is_empty() {
                (layout::empty("No files yet."))
            } @else {
                table.assets {
                    thead { tr { th {} th { "File" } th { "Type" } th { "Size" } th { "Product" } th { "Uploaded" } th {} } }
                    tbody {
                        @for asset in &assets.data {
                            tr {
                                td.preview { (thumbnail(&asset.url, &asset.content_type, &asset.filename)) }
                                td {
                                    a href=(asset.url) target="_blank" rel="noopener" { (asset.filename) }
                                    br; span.mono.muted { (asset.id) }
                                }
                                td.mono { (asset.content_type) }
                                td { (size(asset.size)) }
                                td {
                                    @match asset.product_id.as_deref() {
                                        Some(id) => a href={ "/dashboard/catalog#product-" (segment(id)) } { (names.get(id).copied().unwrap_or(id)) },
                                        None => span.muted { "—" },
                                    }
                                }
                                td { (layout::datetime(&asset.created_at)) }
                                td.actions {
                                    form method="post" action={ "/dashboard/assets/" (segment(&asset.id)) "/delete" } data-confirm={ "Delete " (asset.filename) "? Its URL stops working." } {
                                        (layout::csrf(session))
                                        button.link.danger-text type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (logs::pager("/dashboard/assets", query.after.as_deref(), assets.next_cursor.as_deref().filter(|_| assets.has_more)))
        }
    };
    Ok(layout::page(
        &signed, None, "Assets", "assets", body, &headers,
    ))
}

/// A small picture of a raster image; other files get their type's name.
pub fn thumbnail(url: &str, content_type: &str, filename: &str) -> Markup {
    html! {
        @if is_raster(content_type) {
            img.thumb src=(url) alt=(filename) loading="lazy" width="56" height="56";
        } @else {
            span.thumb.file { (content_type.split('/').next_back().unwrap_or("file")) }
        }
    }
}

/// `1.4 MB`, `830 KB`, `12 bytes`.
fn size(bytes: i64) -> String {
    const KB: f64 = 1000.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The upload form: for the assets page, or for a product's images. The token comes first in
/// the form, so it is checked before any file is read.
pub fn upload_form(session: &DashboardSession, product: Option<&str>, label: &str) -> Markup {
    let accept = product.map(|_| "image/png,image/jpeg,image/gif,image/webp,image/avif");
    html! {
        form.upload method="post" action="/dashboard/assets" enctype="multipart/form-data" {
            (layout::csrf(session))
            @if let Some(product) = product { input type="hidden" name="product" value=(product); }
            input type="file" name="file" multiple required accept=[accept] aria-label=(label);
            button type="submit" { (label) }
        }
    }
}

/// Reads a small field whole, refusing one longer than [`FIELD_BYTES`].
async fn small(field: &mut Field<'_>) -> Option<String> {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = field.chunk().await {
        if bytes.len() + chunk.len() > FIELD_BYTES {
            return None;
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).ok()
}

/// Streams one file field into `POST /v1/assets` and returns the API's answer.
async fn upload_one(
    dash: &Dash,
    grant: &super::api::DashboardGrant,
    mut field: Field<'_>,
    product: Option<&str>,
) -> (String, Result<types::Asset, super::api::ApiError>) {
    let filename = field.file_name().unwrap_or_default().to_string();
    let content_type = field
        .content_type()
        .filter(|c| HeaderValue::from_str(c).is_ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let uri = with_query(
        "/v1/assets",
        &[("filename", Some(&filename)), ("productId", product)],
    );
    let (mut chunks, body) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    // The browser's bytes go on as they arrive; when the API stops reading (it refused the
    // file), so does this.
    let pump = async move {
        loop {
            let next = match field.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = next.is_err();
            if chunks.send(next).await.is_err() || failed {
                break;
            }
        }
    };
    let call = dash.send(
        grant,
        Method::POST,
        &uri,
        Some(&content_type),
        Body::from_stream(body),
    );
    let (answer, ()) = tokio::join!(call, pump);
    (filename, answer)
}

/// `POST /dashboard/assets`: the session's token, then optionally `product`, then one or more
/// `file`s, each uploaded in turn; the first refusal stops the rest.
pub async fn upload(
    State(dash): State<Dash>,
    signed: Signed,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Page {
    if !forms::same_origin(&headers) {
        return Err(forms::refused());
    }
    let (_, grant) = signed.scope()?;
    let Ok(mut form) = form else {
        return Err(forms::refused());
    };
    // The token comes first: nothing is read from a form that is not the session's.
    let token = match form.next_field().await {
        Ok(Some(mut field)) if field.name() == Some("csrf") => small(&mut field).await,
        _ => None,
    };
    if !token.is_some_and(|t| crate::domain::ids::same_secret(&t, &signed.session.csrf)) {
        return Err(forms::refused());
    }
    let mut product: Option<String> = None;
    let mut uploaded = Vec::new();
    let mut refusal = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                refusal = Some(format!("The upload was cut off: {e}"));
                break;
            }
        };
        match field.name() {
            Some("product") => {
                product = small(&mut field)
                    .await
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty());
            }
            // A file input left empty sends a part with no name and no bytes.
            Some("file") if field.file_name().is_some_and(|f| !f.is_empty()) => {
                match upload_one(&dash, &grant, field, product.as_deref()).await {
                    (_, Ok(asset)) => uploaded.push(asset.filename),
                    (filename, Err(e)) => {
                        refusal = Some(format!("{filename}: {} Nothing was stored.", e.explain()));
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    if refusal.is_some() {
        let drain = async {
            while let Ok(Some(mut field)) = form.next_field().await {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        };
        let _ = tokio::time::timeout(DRAIN, drain).await;
    }
    let back = match &product {
        Some(product) => format!("/dashboard/catalog#product-{}", segment(product)),
        None => "/dashboard/assets".to_string(),
    };
    let text = match (&refusal, uploaded.is_empty()) {
        (Some(refusal), true) => refusal.clone(),
        (Some(refusal), false) => format!("Uploaded {}. {refusal}", uploaded.join(", ")),
        (None, true) => "Choose a file to upload.".to_string(),
        (None, false) => format!("Uploaded {}.", uploaded.join(", ")),
    };
    let error = refusal.is_some() || uploaded.is_empty();
    Ok(forms::redirect_with(&headers, &back, error, &text))
}

pub async fn delete(State(dash): State<Dash>, Path(id): Path<String>, posted: Posted) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let uri = format!("/v1/assets/{}", segment(&id));
    let back = "/dashboard/assets";
    Ok(
        match dash.call::<()>(&grant, Method::DELETE, &uri, None).await {
            Ok(_) => forms::redirect_with(&posted.headers, back, false, "File deleted."),
            Err(e) => forms::redirect_with(&posted.headers, back, true, &e.explain()),
        },
    )
}

/// `POST /dashboard/products/{id}/images`: moves one of the product's images earlier or
/// later, or removes it from the product (the file stays under Assets).
pub async fn arrange(State(dash): State<Dash>, Path(id): Path<String>, posted: Posted) -> Page {
    let (_, grant) = posted.signed.scope()?;
    let back = format!("/dashboard/catalog#product-{}", segment(&id));
    let fail = |text: &str| Ok(forms::redirect_with(&posted.headers, &back, true, text));
    let uri = format!("/v1/products/{}", segment(&id));
    let product: types::Product = match dash.call(&grant, Method::GET, &uri, None).await {
        Ok(product) => product,
        Err(e) => return fail(&e.explain()),
    };
    let mut images: Vec<String> = product.images.iter().map(|i| i.asset_id.clone()).collect();
    let Some(at) = images
        .iter()
        .position(|i| Some(i.as_str()) == posted.get("asset"))
    else {
        return fail("That image is no longer one of the product's: the page was out of date.");
    };
    let text = match posted.get("action") {
        Some("earlier") if at > 0 => {
            images.swap(at, at - 1);
            format!("Moved an image of {} earlier.", product.name)
        }
        Some("later") if at + 1 < images.len() => {
            images.swap(at, at + 1);
            format!("Moved an image of {} later.", product.name)
        }
        Some("remove") => {
            images.remove(at);
            format!(
                "Removed an image from {}; the file stays under Assets until you delete it.",
                product.name
            )
        }
        _ => return fail("That image cannot move further that way."),
    };
    let body = json!({ "images": images });
    Ok(
        match dash
            .call::<types::Product>(&grant, Method::PATCH, &uri, Some(body))
            .await
        {
            Ok(_) => forms::redirect_with(&posted.headers, &back, false, &text),
            Err(e) => forms::redirect_with(&posted.headers, &back, true, &e.explain()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size(12), "12 bytes");
        assert_eq!(size(830_400), "830 KB");
        assert_eq!(size(1_400_000), "1.4 MB");
    }
}
