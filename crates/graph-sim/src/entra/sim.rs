//! `/_sim` controls for the Entra side: consent and app roles, app registrations and their
//! secrets and certificates, device-code approval, the user `/authorize` signs in, and session
//! revocation (a password change).

use super::delegated::revoke_sessions;
use super::device::{decide_device_code, DecideError, Decision};
use crate::control::{ControlError, SimAdmin};
use crate::model::{App, AppSecret};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|e| {
        ControlError(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

fn no_app(client_id: &str) -> ControlError {
    ControlError(
        StatusCode::NOT_FOUND,
        format!("no app registration has client id '{client_id}'"),
    )
}

fn with_app(
    state: &AppState,
    client_id: &str,
    f: impl FnOnce(&mut App),
) -> Result<Response, ControlError> {
    let mut t = state.tenant.write();
    let app = t.apps.get_mut(client_id).ok_or_else(|| no_app(client_id))?;
    f(app);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_sim/apps/{client_id}/consent`: a tenant admin grants consent.
async fn grant_consent(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Response, ControlError> {
    with_app(&state, &client_id, |a| a.admin_consented = true)
}

/// `DELETE /_sim/apps/{client_id}/consent`: consent revoked; tokens issued from now on carry
/// no roles, live ones run to their expiry (as in Entra).
async fn revoke_consent(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Response, ControlError> {
    with_app(&state, &client_id, |a| a.admin_consented = false)
}

/// `POST /_sim/apps/{client_id}/roles/{role}`: adds an application permission.
async fn add_role(
    _: SimAdmin,
    State(state): State<AppState>,
    Path((client_id, role)): Path<(String, String)>,
) -> Result<Response, ControlError> {
    with_app(&state, &client_id, |a| {
        a.app_roles.insert(role);
    })
}

/// `DELETE /_sim/apps/{client_id}/roles/{role}`: removes an application permission.
async fn remove_role(
    _: SimAdmin,
    State(state): State<AppState>,
    Path((client_id, role)): Path<(String, String)>,
) -> Result<Response, ControlError> {
    let mut t = state.tenant.write();
    let app = t
        .apps
        .get_mut(&client_id)
        .ok_or_else(|| no_app(&client_id))?;
    if app.app_roles.remove(&role) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ControlError(
            StatusCode::NOT_FOUND,
            format!("app '{client_id}' does not have the role '{role}'"),
        ))
    }
}

/// `GET /_sim/apps`: every app registration.
async fn list_apps(_: SimAdmin, State(state): State<AppState>) -> Response {
    let apps: Vec<App> = state.tenant.read().apps.values().cloned().collect();
    Json(json!({ "value": apps })).into_response()
}

/// `POST /_sim/apps`: registers an app (JSON [`App`]; a missing client id is generated).
async fn register_app(
    _: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let mut app: App = parse(&body)?;
    if app.client_id.is_empty() {
        app.client_id = uuid::Uuid::new_v4().to_string();
    } else if uuid::Uuid::parse_str(&app.client_id).is_err() {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!("clientId '{}' is not a GUID", app.client_id),
        ));
    }
    for (i, pem) in app.certificates.iter().enumerate() {
        super::assertion::parse_certificate(pem).map_err(|e| {
            ControlError(
                StatusCode::BAD_REQUEST,
                format!("certificates[{i}] cannot be used: {e}"),
            )
        })?;
    }
    let mut t = state.tenant.write();
    if t.apps.contains_key(&app.client_id) {
        return Err(ControlError(
            StatusCode::CONFLICT,
            format!("an app with client id '{}' already exists", app.client_id),
        ));
    }
    t.apps.insert(app.client_id.clone(), app.clone());
    Ok((StatusCode::CREATED, Json(app)).into_response())
}

/// `GET /_sim/apps/{client_id}`: one app registration.
async fn get_app(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Response, ControlError> {
    let app = state.tenant.read().apps.get(&client_id).cloned();
    let app = app.ok_or_else(|| no_app(&client_id))?;
    Ok(Json(app).into_response())
}

/// `DELETE /_sim/apps/{client_id}`: deletes the registration (its next token request is
/// AADSTS700016; live tokens run to their expiry).
async fn delete_app(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Response, ControlError> {
    let removed = state.tenant.write().apps.remove(&client_id);
    removed.ok_or_else(|| no_app(&client_id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NewSecret {
    value: Option<String>,
    end_date_time: Option<String>,
}

/// `POST /_sim/apps/{client_id}/secrets` `{"value"?, "endDateTime"?}`: adds a client secret
/// (random value, two years, when not given) and returns it, as a secret rotation would.
async fn add_secret(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let req: NewSecret = if body.is_empty() {
        NewSecret::default()
    } else {
        parse(&body)?
    };
    let end = match req.end_date_time {
        Some(e) => {
            chrono::DateTime::parse_from_rfc3339(&e).map_err(|_| {
                ControlError(
                    StatusCode::BAD_REQUEST,
                    format!("endDateTime '{e}' is not an RFC 3339 time"),
                )
            })?;
            e
        }
        None => crate::clock::graph_time(state.clock.now() + chrono::Duration::days(730)),
    };
    let secret = AppSecret {
        key_id: uuid::Uuid::new_v4().to_string(),
        value: req.value.unwrap_or_else(|| super::random_token(30)),
        end_date_time: end,
    };
    let mut t = state.tenant.write();
    let app = t
        .apps
        .get_mut(&client_id)
        .ok_or_else(|| no_app(&client_id))?;
    app.secrets.push(secret.clone());
    Ok((StatusCode::CREATED, Json(secret)).into_response())
}

/// `DELETE /_sim/apps/{client_id}/secrets/{key_id}`: removes a client secret.
async fn remove_secret(
    _: SimAdmin,
    State(state): State<AppState>,
    Path((client_id, key_id)): Path<(String, String)>,
) -> Result<Response, ControlError> {
    let mut t = state.tenant.write();
    let app = t
        .apps
        .get_mut(&client_id)
        .ok_or_else(|| no_app(&client_id))?;
    let before = app.secrets.len();
    app.secrets.retain(|s| s.key_id != key_id);
    if app.secrets.len() == before {
        return Err(ControlError(
            StatusCode::NOT_FOUND,
            format!("app '{client_id}' has no secret with keyId '{key_id}'"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCertificate {
    pem: String,
}

/// `POST /_sim/apps/{client_id}/certificates` `{"pem"}`: registers a certificate credential.
async fn add_certificate(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let req: NewCertificate = parse(&body)?;
    let cert = super::assertion::parse_certificate(&req.pem).map_err(|e| {
        ControlError(
            StatusCode::BAD_REQUEST,
            format!("the certificate cannot be used: {e}"),
        )
    })?;
    let mut t = state.tenant.write();
    let app = t
        .apps
        .get_mut(&client_id)
        .ok_or_else(|| no_app(&client_id))?;
    app.certificates.push(req.pem);
    Ok((
        StatusCode::CREATED,
        Json(json!({"x5t": cert.x5t, "x5t#S256": cert.x5t_s256})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDecision {
    user_code: String,
    #[serde(default)]
    user_id: Option<String>,
}

fn decide_error(e: DecideError) -> ControlError {
    let status = match e {
        DecideError::Unknown => StatusCode::NOT_FOUND,
        DecideError::Expired => StatusCode::GONE,
        DecideError::AlreadyDecided => StatusCode::CONFLICT,
    };
    ControlError(status, e.to_string())
}

fn find_user_id(state: &AppState, key: &str) -> Result<String, ControlError> {
    state
        .tenant
        .read()
        .find_user(key)
        .map(|u| u.id.clone())
        .ok_or_else(|| {
            ControlError(
                StatusCode::NOT_FOUND,
                format!("no user has id or userPrincipalName '{key}'"),
            )
        })
}

/// `POST /_sim/devicecode/approve` `{"userCode","userId"}`: the user signs in and approves.
async fn approve(
    _: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let d: DeviceDecision = parse(&body)?;
    let key = d
        .user_id
        .ok_or_else(|| ControlError(StatusCode::BAD_REQUEST, "userId is required".into()))?;
    let user = find_user_id(&state, &key)?;
    decide_device_code(&state, &d.user_code, Decision::Approved(user)).map_err(decide_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_sim/devicecode/decline` `{"userCode"}`: the user declines.
async fn decline(
    _: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let d: DeviceDecision = parse(&body)?;
    decide_device_code(&state, &d.user_code, Decision::Declined).map_err(decide_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizeUser {
    user_id: String,
}

/// `POST /_sim/authorize/user` `{"userId"}`: who `/authorize` signs in without `login_hint`.
async fn set_authorize_user(
    _: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let u: AuthorizeUser = parse(&body)?;
    let id = find_user_id(&state, &u.user_id)?;
    state.entra.lock().default_authorize_user = Some(id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /_sim/authorize/user`: nobody is signed in any more.
async fn clear_authorize_user(_: SimAdmin, State(state): State<AppState>) -> Response {
    state.entra.lock().default_authorize_user = None;
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sim/users/{user}/revoke-sessions`: invalidates the user's refresh tokens.
async fn revoke_user_sessions(
    _: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, ControlError> {
    let id = find_user_id(&state, &user)?;
    let n = revoke_sessions(&state, &id);
    Ok(Json(json!({ "revokedRefreshTokens": n })).into_response())
}

/// The Entra `/_sim` routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/_sim/apps", get(list_apps).post(register_app))
        .route("/_sim/apps/{client_id}", get(get_app).delete(delete_app))
        .route("/_sim/apps/{client_id}/secrets", post(add_secret))
        .route(
            "/_sim/apps/{client_id}/secrets/{key_id}",
            axum::routing::delete(remove_secret),
        )
        .route("/_sim/apps/{client_id}/certificates", post(add_certificate))
        .route(
            "/_sim/apps/{client_id}/consent",
            post(grant_consent).delete(revoke_consent),
        )
        .route(
            "/_sim/apps/{client_id}/roles/{role}",
            post(add_role).delete(remove_role),
        )
        .route("/_sim/devicecode/approve", post(approve))
        .route("/_sim/devicecode/decline", post(decline))
        .route(
            "/_sim/authorize/user",
            post(set_authorize_user).delete(clear_authorize_user),
        )
        .route(
            "/_sim/users/{user}/revoke-sessions",
            post(revoke_user_sessions),
        )
}
