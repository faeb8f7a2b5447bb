//! Assets: uploads read back byte for byte, their public delivery (headers, conditional and
//! range requests), products' images, refusals that store nothing, and isolation between
//! projects and modes.

use dream_client::types;
use http::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::tenancy::create_product;
use crate::harness::{Case, CaseResult, Ctx, Expect as _, Keys, Verdict};
use crate::{case, ensure, ensure_eq};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "assets.round-trip",
            Assets,
            ["ASSET-001"],
            "an upload is read back, listed and served byte for byte at its public URL",
            round_trip
        ),
        case!(
            "assets.delivery",
            Assets,
            ["ASSET-002"],
            "public delivery: ETag and 304, ranges and 416, nosniff, immutable caching; anything but a raster image is a sandboxed attachment",
            delivery
        ),
        case!(
            "assets.product-images",
            Assets,
            ["ASSET-003"],
            "products carry ordered images with their URLs, also to the publishable key; a deleted asset leaves them and its URL answers 404",
            product_images
        ),
        case!(
            "assets.refusals",
            Assets,
            ["ASSET-004"],
            "an upload too large, without a type or not the image it declares is refused and nothing is stored; filenames lose their directories",
            refusals
        ),
        case!(
            "assets.isolation",
            Assets,
            ["ASSET-005"],
            "another project or the other mode cannot read, delete or attach an asset",
            isolation
        ),
    ]
}

/// A small, valid PNG (2×2 pixels) with `tag` in a text chunk, so every upload differs.
fn png(tag: &str) -> Vec<u8> {
    fn crc(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
    let mut text = b"Comment\0".to_vec();
    text.extend_from_slice(tag.as_bytes());
    chunk(&mut out, b"tEXt", &text);
    // Stored (uncompressed) deflate of two rows of two red pixels.
    let raw: Vec<u8> = [[0u8, 255, 0, 0, 255, 0, 0]; 2].concat();
    let mut idat = vec![0x78, 0x01, 0x01];
    idat.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    idat.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    idat.extend_from_slice(&raw);
    let adler = {
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in &raw {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    };
    idat.extend_from_slice(&adler.to_be_bytes());
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Uploads `bytes` with the secret key: the status and the JSON body.
async fn upload(
    ctx: &Ctx,
    keys: &Keys,
    query: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Result<(u16, Value), Verdict> {
    let mut request = ctx
        .raw(Method::POST, &format!("/v1/assets?{query}"))
        .bearer_auth(&keys.secret)
        .body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("uploadAsset: {e}")))?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Uploads and expects 201: the asset.
async fn stored(
    ctx: &Ctx,
    keys: &Keys,
    query: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<types::Asset, Verdict> {
    let (status, body) = upload(ctx, keys, query, Some(content_type), bytes).await?;
    ensure_eq!(status, 201, "uploadAsset ({query}): {body}");
    serde_json::from_value(body)
        .map_err(|e| Verdict::Fail(format!("uploadAsset: the body is not an Asset: {e}")))
}

/// Fetches a public URL as a browser would: no credential.
async fn public(url: &str, headers: &[(&str, &str)]) -> Result<reqwest::Response, Verdict> {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .map_err(|e| Verdict::Error(format!("GET {url}: {e}")))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn round_trip(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let bytes = png(&ctx.name("round-trip"));
    let asset = stored(
        &ctx,
        &project.test,
        "filename=mug.png",
        "image/png",
        bytes.clone(),
    )
    .await?;
    ensure_eq!(
        (
            asset.filename.as_str(),
            asset.content_type.as_str(),
            asset.size,
            asset.sha256.clone()
        ),
        (
            "mug.png",
            "image/png",
            bytes.len() as i64,
            hex::encode(Sha256::digest(&bytes))
        ),
        "the stored asset"
    );
    let admin = ctx.secret(&project.test);
    let read = admin
        .get_asset()
        .asset_id(asset.id.as_str())
        .send()
        .await
        .succeeds("getAsset")?;
    ensure_eq!(read, asset, "getAsset after uploadAsset");
    let listed = admin.list_assets().send().await.succeeds("listAssets")?;
    ensure!(
        listed.data.contains(&asset),
        "listAssets lists the upload: {:?}",
        listed.data
    );
    let served = public(&asset.url, &[]).await?;
    ensure_eq!(served.status().as_u16(), 200, "GET {}", asset.url);
    ensure_eq!(header(&served, "content-type"), "image/png", "Content-Type");
    let body = served
        .bytes()
        .await
        .map_err(|e| Verdict::Error(e.to_string()))?;
    ensure!(
        body.as_ref() == bytes.as_slice(),
        "the served bytes are the uploaded bytes"
    );
    Ok(())
}

async fn delivery(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let bytes = png(&ctx.name("delivery"));
    let image = stored(
        &ctx,
        &project.test,
        "filename=a.png",
        "image/png",
        bytes.clone(),
    )
    .await?;
    let served = public(&image.url, &[]).await?;
    let etag = header(&served, "etag").to_string();
    ensure!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "a strong ETag, got {etag:?}"
    );
    ensure_eq!(
        header(&served, "x-content-type-options"),
        "nosniff",
        "nosniff"
    );
    let cache = header(&served, "cache-control");
    ensure!(
        cache.contains("immutable") && cache.contains("public"),
        "Cache-Control for immutable content, got {cache:?}"
    );
    let again = public(&image.url, &[("if-none-match", &etag)]).await?;
    ensure_eq!(again.status().as_u16(), 304, "If-None-Match with the ETag");

    let part = public(&image.url, &[("range", "bytes=1-4")]).await?;
    ensure_eq!(part.status().as_u16(), 206, "Range bytes=1-4");
    ensure_eq!(
        header(&part, "content-range").to_string(),
        format!("bytes 1-4/{}", bytes.len()),
        "Content-Range"
    );
    let got = part
        .bytes()
        .await
        .map_err(|e| Verdict::Error(e.to_string()))?;
    ensure!(got.as_ref() == &bytes[1..5], "the range's bytes");
    let tail = public(&image.url, &[("range", "bytes=-3")]).await?;
    ensure_eq!(tail.status().as_u16(), 206, "Range bytes=-3");
    let got = tail
        .bytes()
        .await
        .map_err(|e| Verdict::Error(e.to_string()))?;
    ensure!(
        got.as_ref() == &bytes[bytes.len() - 3..],
        "the last three bytes"
    );
    let beyond = public(
        &image.url,
        &[("range", &format!("bytes={}-", bytes.len() + 10))],
    )
    .await?;
    ensure_eq!(beyond.status().as_u16(), 416, "a range past the end");

    // Script uploaded as HTML or SVG must never run on the API's origin.
    let page = stored(
        &ctx,
        &project.test,
        "filename=page.html",
        "text/html",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await?;
    let served = public(&page.url, &[]).await?;
    ensure!(
        header(&served, "content-disposition").starts_with("attachment"),
        "HTML is served as an attachment, got {:?}",
        header(&served, "content-disposition")
    );
    ensure!(
        header(&served, "content-security-policy").contains("sandbox"),
        "HTML is sandboxed, got {:?}",
        header(&served, "content-security-policy")
    );
    let svg = stored(
        &ctx,
        &project.test,
        "filename=logo.svg",
        "image/svg+xml",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
    )
    .await?;
    let served = public(&svg.url, &[]).await?;
    ensure!(
        header(&served, "content-disposition").starts_with("attachment")
            && header(&served, "content-security-policy").contains("sandbox"),
        "SVG is a sandboxed attachment"
    );
    Ok(())
}

async fn product_images(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    let product = create_product(&ctx, &project.test, &ctx.name("framed")).await?;
    ensure!(product.images.is_empty(), "a new product has no images");
    let first = stored(
        &ctx,
        &project.test,
        &format!("filename=front.png&productId={}", product.id),
        "image/png",
        png("front"),
    )
    .await?;
    let second = stored(
        &ctx,
        &project.test,
        &format!("filename=back.png&productId={}", product.id),
        "image/png",
        png("back"),
    )
    .await?;
    ensure_eq!(
        first.product_id.as_deref(),
        Some(product.id.as_str()),
        "productId"
    );
    let read = admin
        .get_product()
        .product_id(product.id.as_str())
        .send()
        .await
        .succeeds("getProduct")?;
    let ids: Vec<&str> = read.images.iter().map(|i| i.asset_id.as_str()).collect();
    ensure_eq!(
        ids,
        vec![first.id.as_str(), second.id.as_str()],
        "images in upload order"
    );
    ensure_eq!(
        read.images[0].url,
        first.url,
        "an image's URL is its asset's"
    );

    // Reordered with updateProduct; the publishable key sees the same.
    let reordered = admin
        .update_product()
        .product_id(product.id.as_str())
        .body_map(|b| {
            b.images(Some(vec![
                second.id.parse().unwrap(),
                first.id.parse().unwrap(),
            ]))
        })
        .send()
        .await
        .succeeds("updateProduct images")?;
    let ids: Vec<&str> = reordered
        .images
        .iter()
        .map(|i| i.asset_id.as_str())
        .collect();
    ensure_eq!(
        ids,
        vec![second.id.as_str(), first.id.as_str()],
        "reordered"
    );
    let public_list = ctx
        .publishable(&project.test)
        .list_products()
        .send()
        .await
        .succeeds("listProducts (publishable)")?;
    let seen = public_list
        .products
        .iter()
        .find(|p| p.id == product.id)
        .ok_or_else(|| Verdict::Fail("the product is listed".into()))?;
    ensure_eq!(
        seen.images,
        reordered.images,
        "the publishable key's images"
    );

    admin
        .delete_asset()
        .asset_id(second.id.as_str())
        .send()
        .await
        .succeeds("deleteAsset")?;
    let after = admin
        .get_product()
        .product_id(product.id.as_str())
        .send()
        .await
        .succeeds("getProduct after deleteAsset")?;
    let ids: Vec<&str> = after.images.iter().map(|i| i.asset_id.as_str()).collect();
    ensure_eq!(
        ids,
        vec![first.id.as_str()],
        "the deleted asset left the images"
    );
    ensure_eq!(
        public(&second.url, &[]).await?.status().as_u16(),
        404,
        "a deleted asset's URL"
    );
    admin
        .get_asset()
        .asset_id(second.id.as_str())
        .send()
        .await
        .refused("getAsset after deleteAsset", 404, "not_found")?;
    Ok(())
}

async fn refusals(ctx: Ctx) -> CaseResult {
    let project = ctx.project().await?;
    let admin = ctx.secret(&project.test);
    let (status, body) = upload(
        &ctx,
        &project.test,
        "filename=x.png",
        Some("image/png"),
        b"<svg/>".to_vec(),
    )
    .await?;
    ensure_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "bytes that are not the declared image type"
    );
    let (status, body) = upload(
        &ctx,
        &project.test,
        "filename=x.bin",
        None,
        b"data".to_vec(),
    )
    .await?;
    ensure_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "an upload without a Content-Type"
    );
    // Past the default per-asset limit of 10 MiB.
    let (status, body) = upload(
        &ctx,
        &project.test,
        "filename=big.bin",
        Some("application/octet-stream"),
        vec![0u8; (10 << 20) + 1],
    )
    .await?;
    ensure_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "an upload past 10 MiB"
    );
    let (status, body) = upload(
        &ctx,
        &project.test,
        "filename=a.png&productId=prod_none",
        Some("image/png"),
        png("x"),
    )
    .await?;
    ensure_eq!(
        (status, body["code"].as_str(), body["param"].as_str()),
        (422, Some("validation_failed"), Some("productId")),
        "an unknown product"
    );
    let listed = admin.list_assets().send().await.succeeds("listAssets")?;
    ensure!(
        listed.data.is_empty(),
        "refused uploads stored nothing: {:?}",
        listed.data
    );

    let sanitized = stored(
        &ctx,
        &project.test,
        "filename=..%2F..%2Fetc%2Fpasswd",
        "text/plain",
        b"x".to_vec(),
    )
    .await?;
    ensure_eq!(
        sanitized.filename.as_str(),
        "passwd",
        "a filename's directories are dropped"
    );
    Ok(())
}

async fn isolation(ctx: Ctx) -> CaseResult {
    let owner = ctx.project().await?;
    let other = ctx.project().await?;
    let asset = stored(
        &ctx,
        &owner.test,
        "filename=own.png",
        "image/png",
        png("own"),
    )
    .await?;
    for (who, keys) in [("another project", &other.test), ("live mode", &owner.live)] {
        let client = ctx.secret(keys);
        client
            .get_asset()
            .asset_id(asset.id.as_str())
            .send()
            .await
            .refused(&format!("getAsset from {who}"), 404, "not_found")?;
        client
            .delete_asset()
            .asset_id(asset.id.as_str())
            .send()
            .await
            .refused(&format!("deleteAsset from {who}"), 404, "not_found")?;
        let listed = client.list_assets().send().await.succeeds("listAssets")?;
        ensure!(
            listed.data.iter().all(|a| a.id != asset.id),
            "{who} does not list the asset"
        );
    }
    let theirs = create_product(&ctx, &other.test, &ctx.name("theirs")).await?;
    let refusal = ctx
        .secret(&other.test)
        .update_product()
        .product_id(theirs.id.as_str())
        .body_map(|b| b.images(Some(vec![asset.id.parse().unwrap()])))
        .send()
        .await
        .refused("an image from another project", 422, "validation_failed")?;
    ensure_eq!(refusal.param.as_deref(), Some("images[0]"), "param");
    let served = public(&asset.url, &[]).await?;
    ensure_eq!(
        served.status().as_u16(),
        200,
        "the owner's asset is still served"
    );
    Ok(())
}
