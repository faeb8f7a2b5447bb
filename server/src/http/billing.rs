//! Billing settings from the spec's update type to the stored row.

use crate::app::{AppError, AppResult};
use crate::generated::types;
use crate::store::BillingSettingsRow;

/// Applies a `BillingSettingsUpdate`: an empty string removes the account or site URL.
pub fn apply_settings(
    row: &mut BillingSettingsRow,
    update: types::BillingSettingsUpdate,
) -> AppResult<()> {
    if let Some(account) = update.connected_account {
        row.stripe_account = Some(account.to_string()).filter(|a| !a.is_empty());
    }
    if let Some(percent) = update.platform_fee_percent {
        let bps = percent * 100.0;
        if !(0.0..=10_000.0).contains(&bps) || (bps - bps.round()).abs() > 1e-6 {
            return Err(AppError::validation(
                "billing.platformFeePercent",
                "The platform fee is a percentage from 0 to 100 with at most two decimals.",
            ));
        }
        row.platform_fee_bps = bps.round() as i64;
    }
    if let Some(site) = update.site_url {
        let site = site.to_string();
        if site.is_empty() {
            row.site_url = None;
        } else {
            match url::Url::parse(&site) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    row.site_url = Some(site);
                }
                _ => {
                    return Err(AppError::validation(
                        "billing.siteUrl",
                        "The site URL must be an absolute http:// or https:// URL.",
                    ));
                }
            }
        }
    }
    Ok(())
}
