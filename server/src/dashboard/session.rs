//! Signing in and out, picking a project (operators) and switching between test and live.
//!
//! A secret key signs in to its project and mode; signing in again with the same project's
//! key of the other mode adds that mode to the session. The operator token signs in to every
//! project, both modes. Neither is stored: the session keeps the project, the modes it may
//! see, and a redacted label for the audit log.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::api::DashboardGrant;
use super::forms::{self, Posted, Signed};
use super::layout;
use super::{Dash, Page};
use crate::app::now;
use crate::domain::{DashboardSession, KeyKind, Mode, ids};
use crate::generated::types;

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    /// The mode a signed-in session is adding.
    add: Option<String>,
}

pub async fn sign_in_page(
    State(dash): State<Dash>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
) -> Response {
    match forms::session(&dash, &headers).await {
        // A live session skips the form, unless it is adding the other mode.
        Ok(Some(_)) if query.add.is_some() => layout::sign_in(None, StatusCode::OK, &headers),
        Ok(Some(_)) => Redirect::to("/dashboard/overview").into_response(),
        Ok(None) => layout::sign_in(None, StatusCode::OK, &headers),
        Err(_) => layout::sign_in(Some(forms::EXPIRED), StatusCode::OK, &headers),
    }
}

/// Starts a session (or adds a mode to one) from a secret key or the operator token.
pub async fn sign_in(State(dash): State<Dash>, request: Request) -> Response {
    if !forms::same_origin(request.headers()) {
        return forms::refused();
    }
    let (parts, fields) = match forms::read_form(request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let headers = parts.headers;
    let credential = fields
        .iter()
        .find(|(n, _)| n == "credential")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if credential.is_empty() {
        return layout::sign_in(
            Some("Paste a secret key (sk_test_… or sk_live_…) or the operator token."),
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers,
        );
    }
    let at = now();
    let current = forms::session(&dash, &headers).await.ok().flatten();
    let (project_id, mode, operator, label) = if credential.starts_with("sk_") {
        match dash.app.resolve_key(&credential, KeyKind::Secret).await {
            Ok(tenant) => (
                Some(tenant.project_id),
                tenant.mode,
                false,
                ids::redact(&credential),
            ),
            Err(e) if e.describe().0 == 401 => return refused_credential(&headers),
            Err(e) => return layout::failure(&e),
        }
    } else if credential.starts_with("pk_") {
        return layout::sign_in(
            Some(
                "That is a publishable key. The dashboard needs the project's secret key (sk_…), which stays on the server.",
            ),
            StatusCode::UNAUTHORIZED,
            &headers,
        );
    } else if dash.app.check_operator(&credential).is_ok() {
        (None, Mode::Test, true, "operator".to_string())
    } else {
        return refused_credential(&headers);
    };
    // The same project's other key widens a live session instead of replacing it.
    if let Some(mut session) = current
        && !operator
        && !session.operator
        && session.project_id == project_id
    {
        if !session.modes.contains(&mode) {
            session.modes.push(mode);
        }
        session.keep_secret_key(mode, &credential);
        session.mode = mode;
        if let Err(e) = dash.app.dashboard_session_update(&session).await {
            return layout::failure(&e);
        }
        return forms::redirect_with(
            &headers,
            "/dashboard/overview",
            false,
            &format!("Signed in to {} mode too.", mode.as_str()),
        );
    }
    let project_name = match &project_id {
        Some(id) => match dash.app.project_get(id).await {
            Ok(project) => project.map(|p| p.name),
            Err(e) => return layout::failure(&e),
        },
        None => None,
    };
    let token = ids::random(43);
    let session = DashboardSession {
        token_hash: ids::key_hash(&token),
        project_id,
        project_name,
        operator,
        modes: if operator {
            vec![Mode::Test, Mode::Live]
        } else {
            vec![mode]
        },
        mode,
        label,
        secret_keys: if operator {
            Vec::new()
        } else {
            vec![(mode, ids::key_hash(&credential))]
        },
        csrf: ids::random(32),
        created_at: at,
        expires_at: at + dash.session_seconds,
    };
    if let Err(e) = dash.app.dashboard_session_create(&session).await {
        return layout::failure(&e);
    }
    let to = if operator {
        "/dashboard/projects"
    } else {
        "/dashboard/overview"
    };
    (
        [(
            header::SET_COOKIE,
            forms::set_cookie(&headers, forms::COOKIE, &token, None),
        )],
        Redirect::to(to),
    )
        .into_response()
}

fn refused_credential(headers: &HeaderMap) -> Response {
    layout::sign_in(
        Some(
            "That key or token is not valid. Check that you copied the whole secret key, and that it has not been rotated away.",
        ),
        StatusCode::UNAUTHORIZED,
        headers,
    )
}

pub async fn sign_out(State(dash): State<Dash>, posted: Posted) -> Response {
    if let Err(e) = dash
        .app
        .dashboard_session_delete(&posted.signed.session.token_hash)
        .await
    {
        return layout::failure(&e);
    }
    let headers = &posted.headers;
    let mut response = forms::redirect_with(headers, "/dashboard/sign-in", false, "Signed out.");
    if let Ok(value) = forms::set_cookie(headers, forms::COOKIE, "", Some(0)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The operator's project list.
pub async fn projects_page(State(dash): State<Dash>, signed: Signed, headers: HeaderMap) -> Page {
    if !signed.session.operator {
        return Ok(Redirect::to("/dashboard/overview").into_response());
    }
    let grant = DashboardGrant {
        tenant: None,
        operator: true,
        label: signed.session.label.clone(),
        secret_key_hash: None,
    };
    let projects: types::ProjectList = dash
        .call(&grant, axum::http::Method::GET, "/v1/projects", None)
        .await?;
    let body = html! {
        h1 { "Projects" }
        p.muted { "Signed in with the operator token. Pick the project to look at; you can switch at any time." }
        div.card {
            table.middle {
                thead { tr { th { "Project" } th { "Id" } th { "Created" } th {} } }
                tbody {
                    @for project in &projects.data {
                        tr {
                            td { strong { (project.name) } }
                            td.mono { (project.id) }
                            td { (layout::date(&project.created_at)) }
                            td.actions {
                                form method="post" action="/dashboard/projects" {
                                    (layout::csrf(&signed.session))
                                    input type="hidden" name="project" value=(project.id);
                                    button.primary type="submit" { "Open" }
                                }
                            }
                        }
                    }
                }
            }
            @if projects.data.is_empty() {
                p.empty { "No projects yet. Create one with " code { "dream project create" } "." }
            }
        }
    };
    Ok(layout::page(
        &signed, None, "Projects", "projects", body, &headers,
    ))
}

pub async fn pick_project(State(dash): State<Dash>, posted: Posted) -> Response {
    let mut session = posted.signed.session.clone();
    if !session.operator {
        return forms::refused();
    }
    let Some(project) = posted.get("project") else {
        return Redirect::to("/dashboard/projects").into_response();
    };
    match dash.app.project_get(project).await {
        Ok(Some(row)) => session.project_name = Some(row.name),
        Ok(None) => {
            return forms::redirect_with(
                &posted.headers,
                "/dashboard/projects",
                true,
                "No such project.",
            );
        }
        Err(e) => return layout::failure(&e),
    }
    session.project_id = Some(project.to_string());
    session.mode = Mode::Test;
    if let Err(e) = dash.app.dashboard_session_update(&session).await {
        return layout::failure(&e);
    }
    Redirect::to("/dashboard/overview").into_response()
}

/// Switches between test and live data; a mode the session did not sign in to needs its key.
pub async fn switch_mode(State(dash): State<Dash>, posted: Posted) -> Response {
    let mut session = posted.signed.session.clone();
    let Some(mode) = posted.get("mode").and_then(Mode::parse) else {
        return forms::refused();
    };
    if !session.modes.contains(&mode) {
        return forms::redirect_with(
            &posted.headers,
            &format!("/dashboard/sign-in?add={}", mode.as_str()),
            true,
            &format!(
                "To see {} data, sign in with this project's {} secret key (sk_{}_…).",
                mode.as_str(),
                mode.as_str(),
                mode.as_str()
            ),
        );
    }
    session.mode = mode;
    if let Err(e) = dash.app.dashboard_session_update(&session).await {
        return layout::failure(&e);
    }
    let back = posted
        .get("back")
        .and_then(forms::dashboard_path)
        .unwrap_or("/dashboard/overview");
    Redirect::to(back).into_response()
}
