//! Assets: files streamed into an object store (a local folder by default, any S3-compatible
//! bucket by configuration), their rows in the database, and their public delivery.
//!
//! An upload streams: its bytes go to the store in parts as they arrive (never held whole),
//! counted against the size limit and hashed on the way, its first bytes checked against the
//! image type it declares. Only then is its row written, inside the project's quota. A
//! refusal at any step — too large, the wrong bytes, over quota, the row's write failing, the
//! client going away — removes the bytes already stored, so nothing is left half-written.

use std::sync::Arc;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{App, AppError, AppResult, now};
use crate::domain::assets::{self as rules, SNIFF_BYTES};
use crate::domain::{Asset, Tenant, ids};
use crate::store::Store;
use crate::store::assets::AssetRefused;

/// Parts an upload is sent to S3 in: its smallest multipart part.
const S3_PART_BYTES: usize = 5 << 20;
/// Parts an upload is written to a local folder in: any size will do there, and an upload
/// holds up to `PARTS_IN_FLIGHT + 1` parts in memory, so they are small.
const LOCAL_PART_BYTES: usize = 1 << 20;
/// Parts of one upload on their way to the store at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where assets' bytes live and the limits on them.
pub struct Assets {
    objects: Arc<dyn ObjectStore>,
    /// The size of the parts uploads are written in: the store's smallest.
    part_bytes: usize,
    /// Where the store is, for logs: `s3://bucket/prefix` or a directory.
    location: String,
    /// The server's public URL, without a trailing slash.
    public_url: String,
    max_bytes: u64,
    quota_bytes: u64,
}

/// What an upload says about itself.
pub struct Upload {
    pub filename: String,
    pub content_type: Option<String>,
    /// `Content-Length`, when the client sent one.
    pub length: Option<u64>,
    pub product_id: Option<String>,
}

/// An asset's bytes on their way to a client.
pub struct Delivery {
    pub asset: Asset,
    /// The bytes served: all of them, or the range asked for.
    pub range: std::ops::Range<u64>,
    pub body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
}

impl Assets {
    /// The store at `location` (`s3://bucket/prefix`, `file:///dir` or a directory; S3
    /// configured by the `AWS_*` environment and `s3_options` over it), with public URLs
    /// under `public_url`.
    pub fn open(
        location: &str,
        s3_options: &std::collections::BTreeMap<String, String>,
        public_url: &str,
        max_bytes: u64,
        quota_bytes: u64,
    ) -> anyhow::Result<Assets> {
        let s3 = location.starts_with("s3://");
        let objects: Arc<dyn ObjectStore> = if s3 {
            let url = url::Url::parse(location)
                .map_err(|e| anyhow::anyhow!("DREAM_ASSETS_URL {location:?}: {e}"))?;
            let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(location);
            for (key, value) in s3_options {
                let key: object_store::aws::AmazonS3ConfigKey = key
                    .parse()
                    .map_err(|e| anyhow::anyhow!("assets_s3.{key}: {e}"))?;
                builder = builder.with_config(key, value);
            }
            let s3 = builder
                .build()
                .map_err(|e| anyhow::anyhow!("DREAM_ASSETS_URL {location:?}: {e}"))?;
            let prefix = url.path().trim_matches('/');
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            }
        } else if location.contains("://") && !location.starts_with("file://") {
            anyhow::bail!(
                "DREAM_ASSETS_URL must be s3://bucket/prefix, file:///dir or a directory, not {location:?}"
            );
        } else {
            let dir = location.strip_prefix("file://").unwrap_or(location);
            let dir = std::path::absolute(dir)
                .map_err(|e| anyhow::anyhow!("DREAM_ASSETS_URL {location:?}: {e}"))?;
            // Rooted at `/`, under the folder as a prefix: the folder and the tenants'
            // folders in it are made by the first upload to them.
            let prefix = dir.to_string_lossy().trim_matches('/').to_string();
            Arc::new(object_store::prefix::PrefixStore::new(
                object_store::local::LocalFileSystem::new(),
                prefix,
            ))
        };
        Ok(Assets {
            objects,
            part_bytes: if s3 { S3_PART_BYTES } else { LOCAL_PART_BYTES },
            location: location.to_string(),
            public_url: public_url.trim_end_matches('/').to_string(),
            max_bytes,
            quota_bytes,
        })
    }

    /// Where the bytes are stored, as configured.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The origin assets are served from (`https://api.example.com`), for pages that show them.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// The public URL of an asset's bytes.
    pub fn url(&self, id: &str, filename: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/", self.public_url))
            .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("a URL"));
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["assets", id, filename]);
        }
        url.to_string()
    }
}

/// An upload's bytes in the store so far; dropped unfinished (a refusal, an error, a client
/// that went away), it removes them.
struct Writing {
    write: Option<WriteMultipart>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(write) = self.write.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = write.abort().await {
                    tracing::warn!(error = %e, "an unfinished upload's parts could not be removed");
                }
            });
        }
    }
}

/// The refusal for an asset id the tenant (or, publicly, anyone) has not got.
pub fn no_asset(id: &str) -> AppError {
    AppError::NotFound {
        what: "asset",
        id: id.to_string(),
        param: "assetId",
    }
}

fn storage_error(e: object_store::Error) -> AppError {
    AppError::Unavailable(anyhow::anyhow!("the asset store failed: {e}"))
}

impl App {
    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// Stores `body` as a new asset of the tenant (see the module's notes).
    pub async fn asset_upload<S>(
        &self,
        tenant: &Tenant,
        upload: Upload,
        body: S,
    ) -> AppResult<Asset>
    where
        S: Stream<Item = AppResult<Bytes>> + Send,
    {
        let assets = &self.assets;
        let filename = rules::sanitize_filename(&upload.filename).ok_or_else(|| {
            AppError::validation(
                "filename",
                "The filename has nothing left once directories and control characters are removed.",
            )
        })?;
        let content_type = match upload.content_type.as_deref() {
            None => {
                return Err(AppError::UnsupportedMediaType(
                    "An upload needs a Content-Type: the asset's media type.".into(),
                ));
            }
            Some(value) => rules::normalize_content_type(value).ok_or_else(|| {
                AppError::UnsupportedMediaType(format!("{value:?} is not a media type."))
            })?,
        };
        let essence = rules::essence(&content_type).to_string();
        if let Some(product_id) = &upload.product_id {
            self.store
                .product_get(tenant, product_id)
                .await?
                .ok_or_else(|| {
                    AppError::validation("productId", format!("No product with id {product_id}."))
                })?;
        }
        if upload.length.is_some_and(|n| n > assets.max_bytes) {
            return Err(AppError::PayloadTooLarge {
                limit: assets.max_bytes,
            });
        }
        let stored =
            u64::try_from(self.store.assets_stored(&tenant.project_id).await?).unwrap_or(0);
        if stored + upload.length.unwrap_or(0) > assets.quota_bytes {
            return Err(AppError::StorageQuotaExceeded {
                stored,
                quota: assets.quota_bytes,
            });
        }

        let id = ids::id("asset");
        let path = ObjectPath::from(Store::asset_key(tenant, &id));
        let started = assets
            .objects
            .put_multipart(&path)
            .await
            .map_err(storage_error)?;
        let mut writing = Writing {
            write: Some(WriteMultipart::new_with_chunk_size(
                started,
                assets.part_bytes,
            )),
        };
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut sniffed = !rules::is_raster(&essence);
        let wrong_type = || {
            AppError::UnsupportedMediaType(format!(
                "The body is declared {essence} but is not a file of that type."
            ))
        };
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > assets.max_bytes {
                return Err(AppError::PayloadTooLarge {
                    limit: assets.max_bytes,
                });
            }
            if !sniffed {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() == SNIFF_BYTES {
                    if !rules::matches_image_type(&essence, &head) {
                        return Err(wrong_type());
                    }
                    sniffed = true;
                }
            }
            hasher.update(&chunk);
            let write = writing.write.as_mut().expect("writing until finished");
            write
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(storage_error)?;
            write.put(chunk);
        }
        if !sniffed && !rules::matches_image_type(&essence, &head) {
            return Err(wrong_type());
        }
        let write = writing.write.take().expect("writing until finished");
        write.finish().await.map_err(storage_error)?;

        let asset = Asset {
            id,
            filename,
            content_type,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: hex::encode(hasher.finalize()),
            product_id: upload.product_id,
            position: None,
            created_at: now(),
        };
        let quota = i64::try_from(assets.quota_bytes).unwrap_or(i64::MAX);
        let refused = match self.store.asset_insert(tenant, &asset, quota).await {
            Ok(Ok(())) => return self.asset_get(tenant, &asset.id).await,
            Ok(Err(AssetRefused::OverQuota { stored })) => AppError::StorageQuotaExceeded {
                stored: u64::try_from(stored).unwrap_or(0),
                quota: assets.quota_bytes,
            },
            Err(e) => AppError::from(e),
        };
        // The row was not written: neither are the bytes.
        if let Err(e) = assets.objects.delete(&path).await {
            tracing::warn!(error = %e, asset = %asset.id, "the bytes of a refused upload could not be removed");
        }
        Err(refused)
    }

    pub async fn asset_get(&self, tenant: &Tenant, id: &str) -> AppResult<Asset> {
        self.store
            .asset_get(tenant, id)
            .await?
            .ok_or_else(|| no_asset(id))
    }

    pub async fn asset_list(
        &self,
        tenant: &Tenant,
        product_id: Option<&str>,
        limit: i64,
        starting_after: Option<&str>,
    ) -> AppResult<(Vec<Asset>, bool)> {
        Ok(self
            .store
            .asset_list(tenant, product_id, limit, starting_after)
            .await?)
    }

    /// Deletes an asset: its row (so its URL answers 404 at once), then its bytes.
    pub async fn asset_delete(&self, tenant: &Tenant, id: &str) -> AppResult<Asset> {
        let (asset, key) = self
            .store
            .asset_delete(tenant, id)
            .await?
            .ok_or_else(|| no_asset(id))?;
        if let Err(e) = self.assets.objects.delete(&ObjectPath::from(key)).await {
            tracing::warn!(error = %e, asset = %asset.id, "a deleted asset's bytes could not be removed");
        }
        Ok(asset)
    }

    /// Removes every stored object of a deleted project (both modes, and any upload's
    /// leftovers); returns how many. Its rows are already gone, so its URLs answer 404.
    pub(super) async fn assets_purge(
        &self,
        project_id: &str,
    ) -> Result<usize, object_store::Error> {
        let prefix = ObjectPath::from(project_id);
        let locations = self
            .assets
            .objects
            .list(Some(&prefix))
            .map(|meta| meta.map(|meta| meta.location))
            .boxed();
        let mut deleted = self.assets.objects.delete_stream(locations);
        let mut count = 0;
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => count += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    /// The asset `id` named `filename` and its bytes (within `range`, already checked
    /// against its size), for public delivery; `None` when there is no such asset.
    pub async fn asset_open(
        &self,
        id: &str,
        filename: &str,
        range: impl FnOnce(u64) -> std::ops::Range<u64>,
    ) -> AppResult<Option<Delivery>> {
        let Some((asset, key)) = self.store.asset_public(id).await? else {
            return Ok(None);
        };
        if asset.filename != filename {
            return Ok(None);
        }
        let size = u64::try_from(asset.size).unwrap_or(0);
        let range = range(size);
        let body = if range.is_empty() {
            futures::stream::empty().boxed()
        } else {
            let options = object_store::GetOptions {
                range: Some(object_store::GetRange::Bounded(range.clone())),
                ..Default::default()
            };
            match self
                .assets
                .objects
                .get_opts(&ObjectPath::from(key), options)
                .await
            {
                Ok(result) => result.into_stream(),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(storage_error(e)),
            }
        };
        Ok(Some(Delivery { asset, range, body }))
    }
}
