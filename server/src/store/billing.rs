//! Billing: a tenant's Stripe settings, the Stripe objects its tiers, prices and customers map
//! to, subscriptions, payments, and the webhook event log.
//!
//! A webhook event is applied by [`Store::stripe_event_apply`]: the event row and every effect
//! commit in one transaction, and the event's primary key makes a replay — sequential or
//! concurrent — a no-op.

use sqlx::Row;

use super::{Store, StoreResult, flag};
use crate::domain::{
    BillingEvent, BillingSettings, Mode, Payment, PaymentKind, Subscription, Tenant,
};

/// A verified event to record, with the tenant it was routed to (if any).
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub tenant: Option<&'a Tenant>,
    pub user_id: Option<&'a str>,
    pub created: i64,
    pub received_at: i64,
    /// Orders the log: microseconds at receipt.
    pub seq: i64,
    pub payload: &'a str,
    /// Whether the event's type is one the server acts on.
    pub handled: bool,
    /// What the log should say about a processed event.
    pub note: Option<String>,
    /// Why a verified event could not be read; it is logged as `failed`.
    pub failure: Option<String>,
}

/// What an event changes, all within its tenant.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Remember the user's Stripe customer.
    LinkCustomer {
        user_id: String,
        stripe_customer_id: String,
        stripe_account: String,
    },
    /// Insert or update a subscription, unless stored state is newer.
    Subscription(Subscription),
    /// Record money received (once per id).
    Payment(Payment),
}

/// How an event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The event id was seen before; nothing changed.
    Duplicate,
    /// Recorded with this status (`processed` or `ignored`) and message.
    Recorded {
        status: String,
        message: Option<String>,
    },
}

pub(super) const SUBSCRIPTION_COLUMNS: &str = "id, user_id, tier_id, status, period_start, period_end, cancel_at_period_end, trial_end, event_created";
/// A user's subscriptions, the one that decides the plan first: a live one, then the latest.
pub(super) const LATEST_FIRST: &str =
    "CASE WHEN status IN ('active', 'trialing', 'past_due') THEN 0 ELSE 1 END, period_end DESC, id";

impl Store {
    pub async fn billing_settings_get(&self, tenant: &Tenant) -> StoreResult<BillingSettings> {
        let row = sqlx::query(
            "SELECT stripe_account, platform_fee_bps, site_url FROM settings WHERE project_id = $1 AND mode = $2",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(BillingSettings {
            stripe_account: row.try_get("stripe_account")?,
            platform_fee_bps: row.try_get("platform_fee_bps")?,
            site_url: row.try_get("site_url")?,
        })
    }

    /// Stores the settings; a connected account another tenant of the mode uses is a
    /// [`StoreError::Conflict`].
    /// The tenant whose settings name `account` in `mode`.
    pub async fn tenant_by_stripe_account(
        &self,
        mode: Mode,
        account: &str,
    ) -> StoreResult<Option<Tenant>> {
        let row =
            sqlx::query("SELECT project_id FROM settings WHERE mode = $1 AND stripe_account = $2")
                .bind(mode.as_str())
                .bind(account)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("project_id"))
            .transpose()?
            .map(|project_id| Tenant { project_id, mode }))
    }

    /// The tenant and user a Stripe customer belongs to, among the tenants of `mode` (and of
    /// `project_id`, when the event came through a connected account).
    pub async fn customer_by_stripe_id(
        &self,
        mode: Mode,
        project_id: Option<&str>,
        stripe_customer_id: &str,
    ) -> StoreResult<Option<(Tenant, String)>> {
        let row = sqlx::query(
            "SELECT project_id, user_id FROM customers WHERE mode = $1 AND stripe_customer_id = $2 \
             AND ($3 IS NULL OR project_id = $3)",
        )
        .bind(mode.as_str())
        .bind(stripe_customer_id)
        .bind(project_id.map(str::to_string))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| -> StoreResult<(Tenant, String)> {
            Ok((
                Tenant {
                    project_id: r.try_get("project_id")?,
                    mode,
                },
                r.try_get("user_id")?,
            ))
        })
        .transpose()
    }

    /// The user's Stripe customer on `account` ('' for the platform), if they have one there.
    pub async fn customer_stripe_id(
        &self,
        tenant: &Tenant,
        user_id: &str,
        account: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT stripe_customer_id FROM customers WHERE project_id = $1 AND mode = $2 AND user_id = $3 \
             AND stripe_account = $4",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .bind(account)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("stripe_customer_id"))
            .transpose()?
            .flatten())
    }

    pub async fn customer_stripe_set(
        &self,
        tenant: &Tenant,
        user_id: &str,
        stripe_customer_id: &str,
        account: &str,
    ) -> StoreResult<()> {
        link_customer(self.pool(), tenant, user_id, stripe_customer_id, account).await
    }

    /// The Stripe price a tier was synced to under `key` (its price and account), if any.
    pub async fn tier_stripe_price(
        &self,
        tenant: &Tenant,
        tier_id: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT stripe_price_id FROM tiers WHERE project_id = $1 AND mode = $2 AND id = $3 AND stripe_price_key = $4",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(tier_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("stripe_price_id"))
            .transpose()?
            .flatten())
    }

    pub async fn tier_stripe_price_set(
        &self,
        tenant: &Tenant,
        tier_id: &str,
        key: &str,
        stripe_price_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE tiers SET stripe_price_id = $1, stripe_price_key = $2 WHERE project_id = $3 AND mode = $4 AND id = $5",
        )
        .bind(stripe_price_id)
        .bind(key)
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(tier_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The tier last synced to a Stripe price.
    pub async fn tier_by_stripe_price(
        &self,
        tenant: &Tenant,
        stripe_price_id: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM tiers WHERE project_id = $1 AND mode = $2 AND stripe_price_id = $3",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(stripe_price_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get::<String, _>("id")).transpose()?)
    }

    /// The Stripe price a catalogue price was synced to on `account`, if any.
    pub async fn price_stripe_id(
        &self,
        price_id: &str,
        account: &str,
    ) -> StoreResult<Option<String>> {
        let row =
            sqlx::query("SELECT stripe_price_id FROM prices WHERE id = $1 AND stripe_account = $2")
                .bind(price_id)
                .bind(account)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("stripe_price_id"))
            .transpose()?
            .flatten())
    }

    pub async fn price_stripe_set(
        &self,
        price_id: &str,
        account: &str,
        stripe_price_id: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE prices SET stripe_price_id = $1, stripe_account = $2 WHERE id = $3")
            .bind(stripe_price_id)
            .bind(account)
            .bind(price_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user's newest subscription (by period end), whatever its status.
    pub async fn subscription_latest(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> StoreResult<Option<Subscription>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE project_id = $1 AND mode = $2 AND user_id = $3 \
             ORDER BY {LATEST_FIRST} LIMIT 1"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(subscription_row).transpose()
    }

    /// Records a verified event and applies its effects in one transaction. A known event id
    /// changes nothing.
    pub async fn stripe_event_apply(
        &self,
        event: &NewEvent<'_>,
        effects: &[Effect],
    ) -> StoreResult<Applied> {
        let mut tx = self.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO stripe_events (id, project_id, mode, type, status, message, user_id, created, received_at, seq, payload) \
             VALUES ($1, $2, $3, $4, 'processed', NULL, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(event.id)
        .bind(event.tenant.map(|t| t.project_id.clone()))
        .bind(event.tenant.map(|t| t.mode.as_str().to_string()))
        .bind(event.kind)
        .bind(event.user_id.map(str::to_string))
        .bind(event.created)
        .bind(event.received_at)
        .bind(event.seq)
        .bind(event.payload)
        .fetch_optional(&mut *tx)
        .await?;
        if fresh.is_none() {
            return Ok(Applied::Duplicate);
        }
        let mut ignored = None;
        if let Some(tenant) = event.tenant {
            for effect in effects {
                if let Some(reason) = apply(&mut tx, tenant, effect).await? {
                    ignored = Some(reason);
                }
            }
        }
        let (status, message) = match (event.tenant, ignored, event.handled) {
            _ if event.failure.is_some() => ("failed", event.failure.clone()),
            (None, _, _) => ("ignored", Some("No project claims this event.".to_string())),
            (_, Some(reason), _) => ("ignored", Some(reason)),
            (_, None, false) => (
                "ignored",
                Some(format!("{} is not a handled event type.", event.kind)),
            ),
            (_, None, true) => ("processed", event.note.clone()),
        };
        sqlx::query("UPDATE stripe_events SET status = $1, message = $2 WHERE id = $3")
            .bind(status)
            .bind(message.clone())
            .bind(event.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Applied::Recorded {
            status: status.to_string(),
            message,
        })
    }

    /// When the newest Stripe event stored was created, if any is.
    pub async fn stripe_event_newest(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT max(created) FROM stripe_events")
            .fetch_one(self.pool())
            .await?)
    }

    /// Every connected account a project of `mode` bills on.
    pub async fn stripe_accounts(&self, mode: Mode) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT stripe_account FROM settings WHERE mode = $1 AND stripe_account IS NOT NULL ORDER BY stripe_account",
        )
        .bind(mode.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of the tenant's events, newest first, after the event `starting_after`.
    pub async fn stripe_event_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> StoreResult<(Vec<BillingEvent>, bool)> {
        let rows = self
            .newest_first(
                "stripe_events",
                "id, type, status, message, user_id, created, received_at, payload",
                tenant,
                limit,
                starting_after,
            )
            .await?;
        let events = rows
            .iter()
            .map(|r| -> StoreResult<BillingEvent> {
                Ok(BillingEvent {
                    id: r.try_get("id")?,
                    kind: r.try_get("type")?,
                    status: r.try_get("status")?,
                    message: r.try_get("message")?,
                    user_id: r.try_get("user_id")?,
                    created: r.try_get("created")?,
                    received_at: r.try_get("received_at")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(super::page(events, limit))
    }

    /// Whether the payment with this id (a cart's is its Checkout Session's id) is recorded.
    pub async fn payment_recorded(&self, tenant: &Tenant, id: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM payments WHERE project_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// A page of the tenant's payments, newest first, after the payment `starting_after`.
    pub async fn payment_list(
        &self,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> StoreResult<(Vec<Payment>, bool)> {
        let rows = self
            .newest_first(
                "payments",
                "id, kind, user_id, customer_email, amount, currency, paid_at",
                tenant,
                limit,
                starting_after,
            )
            .await?;
        let payments = rows
            .iter()
            .map(|r| -> StoreResult<Payment> {
                Ok(Payment {
                    id: r.try_get("id")?,
                    kind: super::word(r, "kind", PaymentKind::parse)?,
                    user_id: r.try_get("user_id")?,
                    customer_email: r.try_get("customer_email")?,
                    amount: r.try_get("amount")?,
                    currency: r.try_get("currency")?,
                    paid_at: r.try_get("paid_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(super::page(payments, limit))
    }

    /// One more than a page of a tenant's rows of `table` (a log ordered by `seq`), newest
    /// first, after the row `starting_after`.
    pub(super) async fn newest_first(
        &self,
        table: &'static str,
        columns: &'static str,
        tenant: &Tenant,
        limit: i64,
        starting_after: Option<&str>,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        Ok(sqlx::query(&format!(
            "SELECT {columns} FROM {table} \
             WHERE project_id = $1 AND mode = $2 AND ($3 IS NULL OR (seq, id) < \
             (SELECT seq, id FROM {table} WHERE id = $3 AND project_id = $1 AND mode = $2)) \
             ORDER BY seq DESC, id DESC LIMIT $4"
        ))
        .bind(&tenant.project_id)
        .bind(tenant.mode.as_str())
        .bind(starting_after.map(str::to_string))
        .bind(limit + 1)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Remembers the user's Stripe customer on `account` ('' for the platform).
async fn link_customer<'e, E>(
    ex: E,
    tenant: &Tenant,
    user_id: &str,
    stripe_customer_id: &str,
    account: &str,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE customers SET stripe_customer_id = $1, stripe_account = $2 \
         WHERE project_id = $3 AND mode = $4 AND user_id = $5",
    )
    .bind(stripe_customer_id)
    .bind(account)
    .bind(&tenant.project_id)
    .bind(tenant.mode.as_str())
    .bind(user_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Applies one effect; returns why it was skipped, if it was.
async fn apply(
    tx: &mut super::tx::Tx,
    tenant: &Tenant,
    effect: &Effect,
) -> StoreResult<Option<String>> {
    match effect {
        Effect::LinkCustomer {
            user_id,
            stripe_customer_id,
            stripe_account,
        } => {
            link_customer(
                &mut **tx,
                tenant,
                user_id,
                stripe_customer_id,
                stripe_account,
            )
            .await?;
            Ok(None)
        }
        Effect::Subscription(s) => {
            // The WHERE keeps newer state: an older event, or anything but a deletion after
            // one (a canceled subscription never comes back), leaves the row as it is. Stripe's
            // `created` has whole seconds, and `created` (incomplete) and `updated` (active)
            // often share one: within a second, a status only moves forward in its life
            // (incomplete → active/trialing/past_due → ended). An empty tier (a deletion whose
            // tier is unknown) keeps the stored one.
            let applied = sqlx::query(&format!(
                "INSERT INTO subscriptions (project_id, mode, id, user_id, tier_id, status, period_start, period_end, \
                 cancel_at_period_end, trial_end, event_created, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                 ON CONFLICT (project_id, mode, id) DO UPDATE SET \
                 tier_id = CASE WHEN excluded.tier_id = '' THEN subscriptions.tier_id ELSE excluded.tier_id END, \
                 status = excluded.status, \
                 period_start = excluded.period_start, period_end = excluded.period_end, \
                 cancel_at_period_end = excluded.cancel_at_period_end, trial_end = excluded.trial_end, \
                 event_created = excluded.event_created, \
                 updated_at = excluded.updated_at \
                 WHERE (subscriptions.event_created < excluded.event_created \
                   OR (subscriptions.event_created = excluded.event_created AND {} >= {})) \
                 AND (subscriptions.status <> 'canceled' OR excluded.status = 'canceled') \
                 RETURNING id",
                status_rank("excluded.status"),
                status_rank("subscriptions.status"),
            ))
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(&s.tier_id)
            .bind(&s.status)
            .bind(s.period_start)
            .bind(s.period_end)
            .bind(flag(s.cancel_at_period_end))
            .bind(s.trial_end)
            .bind(s.event_created)
            .fetch_optional(&mut **tx)
            .await?;
            Ok(applied.is_none().then(|| {
                format!(
                    "Subscription {} already reflects a newer event; this older one changed nothing.",
                    s.id
                )
            }))
        }
        Effect::Payment(p) => {
            sqlx::query(
                "INSERT INTO payments (project_id, mode, id, kind, user_id, customer_email, amount, currency, paid_at, seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (project_id, mode, id) DO NOTHING",
            )
            .bind(&tenant.project_id)
            .bind(tenant.mode.as_str())
            .bind(&p.id)
            .bind(p.kind.as_str())
            .bind(p.user_id.clone())
            .bind(p.customer_email.clone())
            .bind(p.amount)
            .bind(&p.currency)
            .bind(p.paid_at)
            .bind(chrono::Utc::now().timestamp_micros())
            .execute(&mut **tx)
            .await?;
            Ok(None)
        }
    }
}

/// Where a subscription status stands in its life, as SQL.
fn status_rank(column: &str) -> String {
    format!(
        "(CASE {column} WHEN 'incomplete' THEN 0 WHEN 'canceled' THEN 2 WHEN 'incomplete_expired' THEN 2 \
         WHEN 'unpaid' THEN 2 ELSE 1 END)"
    )
}

pub(super) fn subscription_row(r: &sqlx::any::AnyRow) -> StoreResult<Subscription> {
    Ok(Subscription {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        tier_id: r.try_get("tier_id")?,
        status: r.try_get("status")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        cancel_at_period_end: r.try_get::<i64, _>("cancel_at_period_end")? != 0,
        trial_end: r.try_get("trial_end")?,
        event_created: r.try_get("event_created")?,
    })
}
