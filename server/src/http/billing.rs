//! Billing over HTTP: checkout, portal, cart, the Stripe webhook, the event log and
//! payments.

use super::{Caller, Server, convert};
use crate::app::{AppError, AppResult};
use crate::generated as api;
use crate::generated::types;

pub(super) async fn create_checkout(
    server: &Server,
    caller: Caller,
    request: api::CreateCheckoutRequest,
) -> api::CreateCheckoutResponse {
    respond!(caller, CreateCheckoutResponse::Ok, {
        let body = request.body;
        let link = server
            .app
            .checkout_create(
                caller.user()?,
                &body.tier,
                body.success_url.as_ref().map(|u| u.as_str()),
                body.cancel_url.as_ref().map(|u| u.as_str()),
            )
            .await?;
        Ok(convert::checkout(link))
    })
}

pub(super) async fn create_portal_session(
    server: &Server,
    caller: Caller,
    request: api::CreatePortalSessionRequest,
) -> api::CreatePortalSessionResponse {
    respond!(caller, CreatePortalSessionResponse::Ok, {
        let return_url = request.body.and_then(|b| b.return_url);
        let url = server
            .app
            .portal_create(caller.user()?, return_url.as_ref().map(|u| u.as_str()))
            .await?;
        Ok(types::PortalSession { url })
    })
}

pub(super) async fn cart_checkout(
    server: &Server,
    caller: Caller,
    request: api::CartCheckoutRequest,
) -> api::CartCheckoutResponse {
    respond!(caller, CartCheckoutResponse::Ok, {
        let (tenant, _) = caller.reader()?;
        let body = request.body;
        let items: Vec<(String, i64)> = body
            .items
            .iter()
            .map(|i| (i.price_id.to_string(), i64::from(i.quantity.get())))
            .collect();
        let email = body.customer_email.map(|e| e.to_string());
        let link = server
            .app
            .cart_checkout(
                tenant,
                &items,
                email.as_deref(),
                &body.success_url,
                &body.cancel_url,
            )
            .await?;
        Ok(convert::checkout(link))
    })
}

pub(super) async fn get_cart_checkout(
    server: &Server,
    caller: Caller,
    request: api::GetCartCheckoutRequest,
) -> api::GetCartCheckoutResponse {
    respond!(caller, GetCartCheckoutResponse::Ok, {
        let (tenant, _) = caller.reader()?;
        let outcome = server.app.cart_outcome(tenant, &request.session_id).await?;
        convert::cart_outcome(outcome)
    })
}

pub(super) async fn receive_stripe_webhook(
    server: &Server,
    caller: Caller,
    request: api::ReceiveStripeWebhookRequest,
) -> api::ReceiveStripeWebhookResponse {
    respond!(caller, ReceiveStripeWebhookResponse::Ok, {
        let payload = std::str::from_utf8(&request.raw_body)
            .map_err(|_| AppError::validation("body", "The body is not UTF-8."))?;
        let receipt = server
            .app
            .webhook_receive(payload, &request.stripe_signature)
            .await?;
        Ok(types::WebhookReceipt {
            received: true,
            event_id: receipt.event_id,
            duplicate: receipt.duplicate,
        })
    })
}

pub(super) async fn list_billing_events(
    server: &Server,
    caller: Caller,
    request: api::ListBillingEventsRequest,
) -> api::ListBillingEventsResponse {
    respond!(caller, ListBillingEventsResponse::Ok, {
        let starting_after = request.starting_after.map(|s| s.to_string());
        let (events, has_more) = server
            .app
            .billing_event_list(
                caller.secret()?,
                i64::from(request.limit.get()),
                starting_after.as_deref(),
            )
            .await?;
        Ok(types::BillingEventList {
            next_cursor: has_more
                .then(|| events.last().map(|e| e.id.clone()))
                .flatten(),
            data: events
                .iter()
                .map(convert::billing_event)
                .collect::<AppResult<_>>()?,
            has_more,
        })
    })
}

pub(super) async fn list_payments(
    server: &Server,
    caller: Caller,
    request: api::ListPaymentsRequest,
) -> api::ListPaymentsResponse {
    respond!(caller, ListPaymentsResponse::Ok, {
        let starting_after = request.starting_after.map(|s| s.to_string());
        let (payments, has_more) = server
            .app
            .payment_list(
                caller.secret()?,
                i64::from(request.limit.get()),
                starting_after.as_deref(),
            )
            .await?;
        Ok(types::PaymentList {
            next_cursor: has_more
                .then(|| payments.last().map(|p| p.id.clone()))
                .flatten(),
            data: payments
                .iter()
                .map(convert::payment)
                .collect::<AppResult<_>>()?,
            has_more,
        })
    })
}
