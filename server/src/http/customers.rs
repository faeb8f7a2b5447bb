//! Customers over HTTP: list, detail, plan override, usage reset.

use super::{Caller, Server, convert};
use crate::app::AppResult;
use crate::generated::{self as api, types};

pub(super) async fn list_customers(
    server: &Server,
    caller: Caller,
    request: api::ListCustomersRequest,
) -> api::ListCustomersResponse {
    respond!(caller, ListCustomersResponse::Ok, {
        let starting_after = request.starting_after.map(|s| s.to_string());
        let query = request.query.map(|q| q.to_string());
        let (views, has_more) = server
            .app
            .customer_list(
                caller.secret()?,
                i64::from(request.limit.get()),
                starting_after.as_deref(),
                query.as_deref(),
            )
            .await?;
        let next_cursor = if has_more {
            views.last().map(|v| v.customer.user_id.clone())
        } else {
            None
        };
        Ok(types::CustomerList {
            data: views.iter().map(convert::customer).collect(),
            has_more,
            next_cursor,
        })
    })
}

pub(super) async fn get_customer(
    server: &Server,
    caller: Caller,
    request: api::GetCustomerRequest,
) -> api::GetCustomerResponse {
    respond!(caller, GetCustomerResponse::Ok, {
        convert::customer_detail(
            &server
                .app
                .customer_get(caller.secret()?, &request.user_id)
                .await?,
        )
    })
}

pub(super) async fn update_customer(
    server: &Server,
    caller: Caller,
    request: api::UpdateCustomerRequest,
) -> api::UpdateCustomerResponse {
    respond!(caller, UpdateCustomerResponse::Ok, {
        let tier = request.body.tier.map(|t| t.to_string());
        let view = server
            .app
            .customer_override(caller.secret()?, &request.user_id, tier.as_deref())
            .await?;
        let summary = match &tier {
            Some(name) => format!("tier: {name}"),
            None => "override removed".to_string(),
        };
        caller
            .audit(
                &server.app,
                "updateCustomer",
                &request.user_id,
                Some(summary),
            )
            .await;
        convert::customer_detail(&view)
    })
}

pub(super) async fn reset_customer_usage(
    server: &Server,
    caller: Caller,
    request: api::ResetCustomerUsageRequest,
) -> api::ResetCustomerUsageResponse {
    respond!(caller, ResetCustomerUsageResponse::Ok, {
        let view = server
            .app
            .customer_usage_reset(caller.secret()?, &request.user_id)
            .await?;
        let summary = view
            .usage
            .as_ref()
            .map(|(_, period)| format!("period starting {}", period.start.format("%Y-%m-%d")));
        caller
            .audit(&server.app, "resetCustomerUsage", &request.user_id, summary)
            .await;
        convert::customer_detail(&view)
    })
}
