//! Products and their prices.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Store, StoreError, StoreResult, flag, from_json, to_json};
use crate::domain::{Price, Product, ProductImage, Tenant};

const COLUMNS: &str = "id, name, description, active, metadata_json, created_at, updated_at";

impl Store {
    /// Inserts a product with its prices, all or nothing.
    pub async fn product_create(&self, tenant: &Tenant, product: &Product) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO products (id, project_id, mode, name, description, active, metadata_json, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&product.id)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&product.name)
        .bind(product.description.clone())
        .bind(flag(product.active))
        .bind(to_json(&product.metadata))
        .bind(product.created_at)
        .bind(product.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for (position, price) in product.prices.iter().enumerate() {
            sqlx::query(
                "INSERT INTO prices (id, product_id, position, currency, unit_amount) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&price.id)
            .bind(&product.id)
            .bind(position as i64)
            .bind(&price.currency)
            .bind(price.unit_amount)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        if !product.images.is_empty() {
            let ids: Vec<String> = product.images.iter().map(|i| i.asset_id.clone()).collect();
            super::assets::set_images(&mut tx, tenant, &product.id, &ids).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn product_list(
        &self,
        tenant: &Tenant,
        include_archived: bool,
    ) -> StoreResult<Vec<Product>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM products WHERE project_id = $1 AND mode = $2 AND (active = 1 OR $3 = 1) \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(flag(include_archived))
        .fetch_all(self.pool())
        .await?;
        let mut products: Vec<Product> =
            rows.iter().map(product_row).collect::<StoreResult<_>>()?;
        let prices = sqlx::query(
            "SELECT p.product_id, p.id, p.currency, p.unit_amount FROM prices p \
             JOIN products pr ON pr.id = p.product_id \
             WHERE pr.project_id = $1 AND pr.mode = $2 ORDER BY p.product_id, p.position",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_all(self.pool())
        .await?;
        let mut by_product: BTreeMap<String, Vec<Price>> = BTreeMap::new();
        for r in &prices {
            by_product
                .entry(r.try_get("product_id")?)
                .or_default()
                .push(price_row(r)?);
        }
        let mut images: BTreeMap<String, Vec<ProductImage>> = BTreeMap::new();
        for (product_id, image) in super::assets::images(self, tenant, None).await? {
            images.entry(product_id).or_default().push(image);
        }
        for p in &mut products {
            p.prices = by_product.remove(&p.id).unwrap_or_default();
            p.images = images.remove(&p.id).unwrap_or_default();
        }
        Ok(products)
    }

    pub async fn product_get(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<Product>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM products WHERE project_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let mut product = product_row(&row)?;
        let prices = sqlx::query(
            "SELECT id, currency, unit_amount FROM prices WHERE product_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        product.prices = prices.iter().map(price_row).collect::<StoreResult<_>>()?;
        product.images = super::assets::images(self, tenant, Some(id))
            .await?
            .into_iter()
            .map(|(_, image)| image)
            .collect();
        Ok(Some(product))
    }

    /// A price of one of the tenant's products, with its product (prices included).
    pub async fn price_find(
        &self,
        tenant: &Tenant,
        price_id: &str,
    ) -> StoreResult<Option<(Product, Price)>> {
        let row = sqlx::query(
            "SELECT pr.product_id FROM prices pr JOIN products p ON p.id = pr.product_id \
             WHERE pr.id = $1 AND p.project_id = $2 AND p.mode = $3",
        )
        .bind(price_id)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let product_id: String = row.try_get("product_id")?;
        let Some(product) = self.product_get(tenant, &product_id).await? else {
            return Ok(None);
        };
        let price = product.prices.iter().find(|p| p.id == price_id).cloned();
        Ok(price.map(|price| (product, price)))
    }

    /// Writes a product's fields, and with `images` makes those assets its images in order.
    pub async fn product_update(
        &self,
        tenant: &Tenant,
        product: &Product,
        images: Option<&[String]>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE products SET name = $1, description = $2, active = $3, metadata_json = $4, updated_at = $5 \
             WHERE project_id = $6 AND mode = $7 AND id = $8",
        )
        .bind(&product.name)
        .bind(product.description.clone())
        .bind(flag(product.active))
        .bind(to_json(&product.metadata))
        .bind(product.updated_at)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(&product.id)
        .execute(&mut *tx)
        .await?;
        if let Some(images) = images {
            super::assets::set_images(&mut tx, tenant, &product.id, images).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn product_row(r: &sqlx::any::AnyRow) -> StoreResult<Product> {
    Ok(Product {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        active: r.try_get::<i64, _>("active")? != 0,
        metadata: from_json("metadata_json", &r.try_get::<String, _>("metadata_json")?)?,
        prices: Vec::new(),
        images: Vec::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn price_row(r: &sqlx::any::AnyRow) -> StoreResult<Price> {
    Ok(Price {
        id: r.try_get("id")?,
        currency: r.try_get("currency")?,
        unit_amount: r.try_get("unit_amount")?,
    })
}
