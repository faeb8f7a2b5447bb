//! Renews the copies in use before they expire: every [`EVERY`], the plans and counters found
//! due (past half their lifetime, see `expiring.rs`) are read again, many users a statement,
//! and stored under the same rules as any read (an epoch for plans, a ticket per user for
//! counters). Without it the copies of users stored together expire together, and every
//! request for those users pays four statements at once: a wave that stalls the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::copies::{Due, UserKey};
use crate::app::{App, AppResult};
use crate::domain::Tenant;
use crate::telemetry::CacheName;

/// How often the copies found due are read again.
pub const EVERY: Duration = Duration::from_millis(250);

/// Reads again, every [`EVERY`], the copies found due, until the app is dropped.
pub fn spawn_refresher(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            let Some(app) = weak.upgrade() else { break };
            let due = app.caches.take_due();
            if !due.is_empty() {
                app.refresh(due).await;
            }
        }
    });
}

impl App {
    /// Reads the plans and counters of `due` again and stores them (a failed read is only
    /// logged and counted: those copies expire and are read by the next request that needs
    /// them).
    pub(crate) async fn refresh(&self, due: Vec<Due>) {
        let mut plans: HashMap<Tenant, Vec<String>> = HashMap::new();
        let mut usage: HashMap<(Tenant, String), Vec<String>> = HashMap::new();
        for due in due {
            match due {
                Due::Plan(UserKey { tenant, user_id }) => {
                    plans.entry(tenant).or_default().push(user_id)
                }
                Due::Usage(UserKey { tenant, user_id }, period) => {
                    usage.entry((tenant, period)).or_default().push(user_id)
                }
            }
        }
        for (tenant, users) in plans {
            let outcome = self.refresh_plans(&tenant, &users).await;
            self.renewed(CacheName::Plans, users.len(), outcome);
        }
        for ((tenant, period), users) in usage {
            let outcome = self.refresh_usage(&tenant, &period, &users).await;
            self.renewed(CacheName::Usage, users.len(), outcome);
        }
    }

    fn renewed(&self, cache: CacheName, due: usize, stored: AppResult<usize>) {
        match stored {
            Ok(stored) => {
                self.telemetry.cache_renewed(cache, "stored", stored);
                self.telemetry.cache_renewed(cache, "raced", due - stored);
            }
            Err(e) => {
                tracing::debug!(error = %e, ?cache, "could not read copies again; they expire");
                self.telemetry.cache_renewed(cache, "failed", due);
            }
        }
    }

    /// Reads the plans of `users` again; how many were stored.
    async fn refresh_plans(&self, tenant: &Tenant, users: &[String]) -> AppResult<usize> {
        let epoch = self.caches.epoch();
        let ids: Vec<&str> = users.iter().map(String::as_str).collect();
        // Registered users only: a customer removed meanwhile is not registered again.
        let customers = self.store.customers_known(tenant, &ids).await?;
        let bases = self.plan_bases_of(tenant, customers).await?;
        let stored = bases
            .into_iter()
            .map(|(user, basis)| self.caches.put_plan(epoch, tenant, &user, Arc::new(basis)));
        Ok(stored.filter(|kept| *kept).count())
    }

    /// Reads the counters of `users` in `period` again; how many were stored.
    async fn refresh_usage(
        &self,
        tenant: &Tenant,
        period: &str,
        users: &[String],
    ) -> AppResult<usize> {
        let tickets: Vec<_> = users
            .iter()
            .map(|user| self.caches.usage_ticket(tenant, user))
            .collect();
        let ids: Vec<&str> = users.iter().map(String::as_str).collect();
        let mut counts = self.store.usage_for_users(tenant, &ids, period).await?;
        Ok(users
            .iter()
            .zip(tickets)
            .filter(|(user, ticket)| {
                let held = counts.remove(*user).unwrap_or_default();
                self.caches
                    .put_usage(*ticket, tenant, user, period, held.into())
            })
            .count())
    }
}
