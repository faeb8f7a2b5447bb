//! Projects, API keys, settings and the development issuer over HTTP.

use super::{Caller, Server, changed, convert};
use crate::app::{AppResult, SettingsChanges};
use crate::generated::{self as api, types};

/// How long a development session's token lives.
const DEV_SESSION_SECONDS: i64 = 3600;

pub(super) async fn create_project(
    server: &Server,
    caller: Caller,
    request: api::CreateProjectRequest,
) -> api::CreateProjectResponse {
    respond!(caller, CreateProjectResponse::Created, {
        let created = server.app.project_create(&request.body.name, false).await?;
        let pair = |mode| {
            let (_, pk, sk) = created
                .keys
                .iter()
                .find(|(m, _, _)| *m == mode)
                .expect("both modes have keys");
            types::KeyPair {
                publishable_key: pk.clone(),
                secret_key: sk.clone(),
            }
        };
        Ok(types::ProjectCreated {
            project: types::Project {
                id: created.id.clone(),
                name: created.name.clone(),
                created_at: convert::ts(created.created_at),
            },
            keys: types::ProjectKeys {
                test: pair(crate::domain::Mode::Test),
                live: pair(crate::domain::Mode::Live),
            },
        })
    })
}

pub(super) async fn create_dev_token(
    server: &Server,
    caller: Caller,
    request: api::CreateDevTokenRequest,
) -> api::CreateDevTokenResponse {
    respond!(caller, CreateDevTokenResponse::Created, {
        let tenant = caller.secret()?;
        let body = request.body;
        let email = body.email.map(|e| e.to_string());
        let (token, issuer, expires_at) = server
            .app
            .dev_token_create(
                tenant,
                &body.user_id,
                email.as_deref(),
                i64::from(body.expires_in_seconds.get()),
            )
            .await?;
        Ok(types::DevToken {
            token,
            user_id: body.user_id.to_string(),
            issuer,
            expires_at: convert::ts(expires_at),
        })
    })
}

pub(super) async fn create_dev_session(
    server: &Server,
    caller: Caller,
    request: api::CreateDevSessionRequest,
) -> api::CreateDevSessionResponse {
    respond!(caller, CreateDevSessionResponse::Created, {
        let (tenant, _) = caller.reader()?;
        let user_id = match request.body.and_then(|b| b.user_id) {
            Some(user_id) => user_id.to_string(),
            None => format!("dev_{}", crate::domain::ids::random(16)),
        };
        let (token, issuer, expires_at) = server
            .app
            .dev_token_create(tenant, &user_id, None, DEV_SESSION_SECONDS)
            .await?;
        Ok(types::DevToken {
            token,
            user_id,
            issuer,
            expires_at: convert::ts(expires_at),
        })
    })
}

pub(super) async fn get_dev_jwks(
    server: &Server,
    _caller: Caller,
    _request: api::GetDevJwksRequest,
) -> api::GetDevJwksResponse {
    let jwks = serde_json::from_value(server.app.identity.dev_jwks())
        .unwrap_or(types::Jwks { keys: Vec::new() });
    api::GetDevJwksResponse::Ok(jwks)
}

pub(super) async fn list_api_keys(
    server: &Server,
    caller: Caller,
    _request: api::ListApiKeysRequest,
) -> api::ListApiKeysResponse {
    respond!(caller, ListApiKeysResponse::Ok, {
        let keys = server.app.api_key_list(caller.secret()?).await?;
        Ok(types::ApiKeyList {
            keys: keys.iter().map(convert::api_key).collect(),
        })
    })
}

pub(super) async fn rotate_secret_key(
    server: &Server,
    caller: Caller,
    request: api::RotateSecretKeyRequest,
) -> api::RotateSecretKeyResponse {
    respond!(caller, RotateSecretKeyResponse::Created, {
        let overlap = request.body.map(|b| b.expires_in_seconds).unwrap_or(3600);
        let (id, secret_key, expire_at) = server
            .app
            .secret_key_rotate(
                caller.secret()?,
                i64::from(overlap),
                caller.secret_key_hash.as_deref(),
            )
            .await?;
        let summary = format!(
            "new key {}; older keys expire in {overlap} s",
            crate::domain::ids::redact(&secret_key)
        );
        caller
            .audit(&server.app, "rotateSecretKey", &id, Some(summary))
            .await;
        Ok(types::SecretKeyRotated {
            id,
            secret_key,
            previous_keys_expire_at: convert::ts(expire_at),
        })
    })
}

pub(super) async fn get_settings(
    server: &Server,
    caller: Caller,
    _request: api::GetSettingsRequest,
) -> api::GetSettingsResponse {
    respond!(caller, GetSettingsResponse::Ok, {
        let tenant = caller.secret()?;
        Ok(convert::settings(
            &server.app.project_of(tenant).await?,
            tenant.mode,
            &server.app.settings_get(tenant).await?,
            &server.app.billing_settings_get(tenant).await?,
        ))
    })
}

pub(super) async fn update_settings(
    server: &Server,
    caller: Caller,
    request: api::UpdateSettingsRequest,
) -> api::UpdateSettingsResponse {
    respond!(caller, UpdateSettingsResponse::Ok, {
        let tenant = caller.secret()?;
        let body = request.body;
        let (jwt, billing) = (
            body.jwt.unwrap_or_default(),
            body.billing.unwrap_or_default(),
        );
        let summary = changed(&[
            ("jwt.issuer", jwt.issuer.is_some()),
            ("jwt.jwksUrl", jwt.jwks_url.is_some()),
            ("jwt.allowedOrigins", jwt.allowed_origins.is_some()),
            ("jwt.leewaySeconds", jwt.leeway_seconds.is_some()),
            (
                "billing.connectedAccount",
                billing.connected_account.is_some(),
            ),
            (
                "billing.platformFeePercent",
                billing.platform_fee_percent.is_some(),
            ),
            ("billing.siteUrl", billing.site_url.is_some()),
            ("devIssuerEnabled", body.dev_issuer_enabled.is_some()),
        ]);
        let changes = SettingsChanges {
            jwt_issuer: jwt.issuer.map(|i| i.to_string()),
            jwks_url: jwt.jwks_url.map(|u| u.to_string()),
            allowed_origins: jwt
                .allowed_origins
                .map(|origins| origins.into_iter().map(|o| o.to_string()).collect()),
            leeway_seconds: jwt.leeway_seconds.map(i64::from),
            dev_issuer_enabled: body.dev_issuer_enabled,
            connected_account: billing.connected_account.map(|a| a.to_string()),
            platform_fee_percent: billing.platform_fee_percent,
            site_url: billing.site_url.map(|s| s.to_string()),
        };
        let (saved, billing) = server.app.settings_update(tenant, changes).await?;
        caller
            .audit(&server.app, "updateSettings", "settings", summary)
            .await;
        Ok(convert::settings(
            &server.app.project_of(tenant).await?,
            tenant.mode,
            &saved,
            &billing,
        ))
    })
}

pub(super) async fn list_projects(
    server: &Server,
    caller: Caller,
    _request: api::ListProjectsRequest,
) -> api::ListProjectsResponse {
    respond!(caller, ListProjectsResponse::Ok, {
        let projects = server.app.project_list().await?;
        Ok(types::ProjectList {
            data: projects.iter().map(convert::project).collect(),
        })
    })
}

pub(super) async fn delete_project(
    server: &Server,
    caller: Caller,
    request: api::DeleteProjectRequest,
) -> api::DeleteProjectResponse {
    respond!(caller, DeleteProjectResponse::Ok, {
        server.app.project_delete(&request.project_id).await?;
        Ok(types::ProjectDeleted {
            id: request.project_id.to_string(),
            deleted: true,
        })
    })
}
