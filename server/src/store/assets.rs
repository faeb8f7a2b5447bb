//! Assets' rows (the bytes are in the object store) and products' images.

use sqlx::Row;

use super::{Backend, Store, StoreResult, page};
use crate::domain::{Asset, ProductImage, Tenant};

const COLUMNS: &str = "id, filename, content_type, size, sha256, product_id, position, created_at";

/// The bytes a project's assets take, both modes (`$1`: the project).
const STORED: &str =
    "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS stored FROM assets WHERE project_id = $1";

/// Why an asset's row was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum AssetRefused {
    /// The project's assets, with this one, would pass the quota (bytes stored now given).
    OverQuota { stored: i64 },
}

impl Store {
    /// The object key an asset's bytes are stored under: tenants never share a prefix.
    pub fn asset_key(tenant: &Tenant, id: &str) -> String {
        format!("{}/{}/{id}", tenant.project_id, tenant.mode.as_str())
    }

    /// Writes an asset's row unless the project's assets (both modes) would then pass
    /// `quota` bytes. With a product, the asset becomes its last image.
    pub async fn asset_insert(
        &self,
        tenant: &Tenant,
        asset: &Asset,
        quota: i64,
    ) -> StoreResult<Result<(), AssetRefused>> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // Uploads to one project take turns here, so two cannot both fit the same room.
            sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
                .bind(&tenant.project_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let stored: i64 = sqlx::query(STORED)
            .bind(&tenant.project_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("stored")?;
        if stored.saturating_add(asset.size) > quota {
            tx.rollback().await?;
            return Ok(Err(AssetRefused::OverQuota { stored }));
        }
        sqlx::query(
            "INSERT INTO assets (id, project_id, mode, filename, content_type, size, sha256, object_key, product_id, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
               CASE WHEN $9 IS NULL THEN NULL ELSE \
                 (SELECT COALESCE(MAX(position), -1) + 1 FROM assets WHERE product_id = $9) END, \
             $10)",
        )
        .bind(&asset.id)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&asset.filename)
        .bind(&asset.content_type)
        .bind(asset.size)
        .bind(&asset.sha256)
        .bind(Self::asset_key(tenant, &asset.id))
        .bind(asset.product_id.clone())
        .bind(asset.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn asset_get(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<Asset>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM assets WHERE project_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(asset_row).transpose()
    }

    /// An asset by id alone, with the key of its bytes: for public delivery, where the id is
    /// the only credential.
    pub async fn asset_public(&self, id: &str) -> StoreResult<Option<(Asset, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, object_key FROM assets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((asset_row(&r)?, r.try_get("object_key")?)))
            .transpose()
    }

    /// A page of assets, newest first, after the asset `starting_after`; or one product's
    /// images in their order (all of them: at most 20 by the API's rules, more by uploads).
    pub async fn asset_list(
        &self,
        tenant: &Tenant,
        product_id: Option<&str>,
        limit: i64,
        starting_after: Option<&str>,
    ) -> StoreResult<(Vec<Asset>, bool)> {
        let rows = if let Some(product_id) = product_id {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM assets WHERE project_id = $1 AND mode = $2 AND product_id = $3 \
                 AND ($4 IS NULL OR position > (SELECT position FROM assets WHERE id = $4 AND product_id = $3)) \
                 ORDER BY position LIMIT $5"
            ))
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(product_id)
            .bind(starting_after.map(str::to_string))
            .bind(limit + 1)
            .fetch_all(self.pool())
            .await?
        } else {
            // (created_at, id) descending; the cursor is the last asset's id.
            let after = match starting_after {
                Some(id) => self
                    .asset_get(tenant, id)
                    .await?
                    .map(|a| (a.created_at, a.id)),
                None => None,
            };
            let (at, id) = after.unzip();
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM assets WHERE project_id = $1 AND mode = $2 \
                 AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
                 ORDER BY created_at DESC, id DESC LIMIT $5"
            ))
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(at)
            .bind(id)
            .bind(limit + 1)
            .fetch_all(self.pool())
            .await?
        };
        let assets = rows
            .iter()
            .map(asset_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(assets, limit))
    }

    /// Deletes an asset's row; returns it and the key of its bytes.
    pub async fn asset_delete(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> StoreResult<Option<(Asset, String)>> {
        let Some(asset) = self.asset_get(tenant, id).await? else {
            return Ok(None);
        };
        let deleted =
            sqlx::query("DELETE FROM assets WHERE project_id = $1 AND mode = $2 AND id = $3")
                .bind(&tenant.project_id)
                .bind(tenant.mode.as_str())
                .bind(id)
                .execute(self.pool())
                .await?
                .rows_affected();
        Ok((deleted == 1).then(|| (asset, Self::asset_key(tenant, id))))
    }

    /// Which of `ids` are not assets of the tenant, by index.
    pub async fn assets_missing(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> StoreResult<Option<usize>> {
        for (i, id) in ids.iter().enumerate() {
            if self.asset_get(tenant, id).await?.is_none() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Bytes the project's assets take, both modes.
    pub async fn assets_stored(&self, project_id: &str) -> StoreResult<i64> {
        Ok(sqlx::query(STORED)
            .bind(project_id)
            .fetch_one(self.pool())
            .await?
            .try_get("stored")?)
    }
}

/// Makes `asset_ids` (assets of the tenant) the product's images in that order; the product's
/// other assets stay stored, no longer its images. Inside the product's own write.
pub(super) async fn set_images(
    tx: &mut super::tx::Tx,
    tenant: &Tenant,
    product_id: &str,
    asset_ids: &[String],
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE assets SET product_id = NULL, position = NULL \
         WHERE project_id = $1 AND mode = $2 AND product_id = $3",
    )
    .bind(&tenant.project_id)
    .bind(tenant.mode.as_str())
    .bind(product_id)
    .execute(&mut **tx)
    .await?;
    for (position, id) in asset_ids.iter().enumerate() {
        sqlx::query(
            "UPDATE assets SET product_id = $1, position = $2 \
             WHERE project_id = $3 AND mode = $4 AND id = $5",
        )
        .bind(product_id)
        .bind(position as i64)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The images of the tenant's products, by product, in order: `product_id` for one product.
pub(super) async fn images(
    store: &Store,
    tenant: &Tenant,
    product_id: Option<&str>,
) -> StoreResult<Vec<(String, ProductImage)>> {
    let rows = sqlx::query(
        "SELECT product_id, id, filename, content_type FROM assets \
         WHERE project_id = $1 AND mode = $2 AND product_id IS NOT NULL \
         AND ($3 IS NULL OR product_id = $3) ORDER BY product_id, position",
    )
    .bind(&tenant.project_id)
    .bind(tenant.mode.as_str())
    .bind(product_id.map(str::to_string))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("product_id")?,
                ProductImage {
                    asset_id: r.try_get("id")?,
                    filename: r.try_get("filename")?,
                    content_type: r.try_get("content_type")?,
                },
            ))
        })
        .collect()
}

fn asset_row(r: &sqlx::any::AnyRow) -> StoreResult<Asset> {
    Ok(Asset {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        product_id: r.try_get("product_id")?,
        position: r.try_get("position")?,
        created_at: r.try_get("created_at")?,
    })
}
