//! Every case of the suite, by area. Each file holds the cases of one area as plain
//! `async fn(Ctx) -> CaseResult` bodies, listed with their ids, profiles and requirements in
//! its `CASES`; `all()` is the suite in order.

mod assets;
mod auth;
mod billing;
mod cart;
mod catalog;
mod customers;
mod errors;
mod identity;
mod metering;
mod metrics;
mod platform;
mod ratelimit;
mod tenancy;
mod usage;
mod usage_billing;
mod webhooks;

use crate::harness::Case;

pub fn all() -> Vec<Case> {
    [
        platform::cases(),
        errors::cases(),
        auth::cases(),
        tenancy::cases(),
        identity::cases(),
        catalog::cases(),
        assets::cases(),
        customers::cases(),
        metrics::cases(),
        usage::cases(),
        metering::cases(),
        billing::cases(),
        cart::cases(),
        usage_billing::cases(),
        webhooks::cases(),
        ratelimit::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
