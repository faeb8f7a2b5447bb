//! The audit log over HTTP.

use super::{Caller, Server, convert};
use crate::app::AppResult;
use crate::generated::{self as api, types};

pub(super) async fn list_audit_log(
    server: &Server,
    caller: Caller,
    request: api::ListAuditLogRequest,
) -> api::ListAuditLogResponse {
    respond!(caller, ListAuditLogResponse::Ok, {
        let starting_after = request.starting_after.map(|s| s.to_string());
        let (entries, has_more) = server
            .app
            .audit_list(
                caller.secret()?,
                i64::from(request.limit.get()),
                starting_after.as_deref(),
            )
            .await?;
        Ok(types::AuditEntryList {
            next_cursor: has_more
                .then(|| entries.last().map(|e| e.id.clone()))
                .flatten(),
            data: entries
                .iter()
                .map(convert::audit_entry)
                .collect::<AppResult<_>>()?,
            has_more,
        })
    })
}
