//! `/v1.0/subscriptions` endpoints and the `/_sim/subscriptions` controls.

use super::resource::{self, Family, Target};
use super::{offset_time, Subscription};
use crate::caller::Caller;
use crate::control::{ControlError, SimAdmin};
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest `clientState` Graph accepts.
pub const MAX_CLIENT_STATE: usize = 128;

/// A request for less than this many minutes ahead is raised to it.
pub const MIN_MINUTES: i64 = 45;

/// Subscriptions per app and tenant for users (and, separately, groups).
pub const DIRECTORY_PER_APP: usize = 100;
/// Subscriptions per tenant (all apps) for users (and, separately, groups).
pub const DIRECTORY_PER_TENANT: usize = 1_000;
/// Active contact subscriptions per mailbox (all apps).
pub const CONTACTS_PER_MAILBOX: usize = 1_000;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1.0/subscriptions", get(list).post(create))
        .route(
            "/v1.0/subscriptions/{sub}",
            get(get_one).patch(patch).delete(delete),
        )
        .route("/v1.0/subscriptions/{sub}/reauthorize", post(reauthorize))
        .route("/_sim/subscriptions", get(sim_list))
        .route("/_sim/subscriptions/{sub}/lifecycle", post(sim_lifecycle))
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn validation_error(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn forbidden(operation: &str, reason: &str) -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "ExtensionError",
        format!("Operation: {operation}; Exception: [Status Code: Forbidden; Reason: {reason}]"),
    )
}

fn not_found(id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("The object was not found. Subscription '{id}' does not exist or has expired."),
    )
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> GraphResult<T> {
    if body.is_empty() {
        return Err(GraphError::bad_request(
            "Empty Payload, JSON content expected",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))
}

/// Parses `expirationDateTime` (RFC 3339; without offset read as UTC).
fn parse_expiration(s: &str) -> GraphResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc())
        })
        .map_err(|_| {
            invalid(format!(
                "expirationDateTime '{s}' is not a valid DateTimeOffset."
            ))
        })
}

/// Applies Graph's lifetime rules: in the future, at most the family's maximum, and raised
/// to 45 minutes when less is asked for.
fn check_expiration(
    family: Family,
    asked: DateTime<Utc>,
    now: DateTime<Utc>,
) -> GraphResult<DateTime<Utc>> {
    let max = family.max_minutes();
    if asked <= now {
        return Err(invalid(
            "Subscription expiration is in the past; expirationDateTime must be in the future.",
        ));
    }
    if asked > now + Duration::minutes(max) {
        return Err(invalid(format!(
            "Subscription expiration can only be {max} minutes in the future."
        )));
    }
    Ok(asked.max(now + Duration::minutes(MIN_MINUTES).min(Duration::minutes(max))))
}

/// Checks a notification URL: absolute, HTTPS (HTTP only when the behaviour allows it).
fn check_url(state: &AppState, name: &str, url: &str) -> GraphResult<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| invalid(format!("The {name} '{url}' is not a valid absolute URL.")))?;
    let http_ok = state.behaviour.read().allow_http_notification_urls;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if http_ok => Ok(()),
        _ => Err(invalid(format!("The {name} must be an HTTPS URL."))),
    }
}

/// Graph's validation handshake: POST `{url}?validationToken=…` as text/plain; the endpoint
/// must answer 200 with the decoded token as its text body within 10 seconds.
async fn validate_endpoint(state: &AppState, url: &str) -> GraphResult<()> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = reqwest::Url::parse(url)
        .map_err(|_| invalid(format!("The notification URL '{url}' is not valid.")))?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let sent = state
        .subscriptions
        .client()
        .post(target)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body("")
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(invalid("Subscription validation request timed out.")),
        Err(_) => {
            return Err(validation_error(
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
            ))
        }
    };
    if resp.status() != reqwest::StatusCode::OK {
        return Err(validation_error(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        ));
    }
    let plain = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    let body = match resp.text().await {
        Ok(b) => b,
        Err(e) if e.is_timeout() => {
            return Err(invalid("Subscription validation request timed out."))
        }
        Err(_) => String::new(),
    };
    if !plain || body != token {
        return Err(validation_error(
            "Subscription validation request failed. Response must exactly match validationToken query parameter.",
        ));
    }
    Ok(())
}

/// The `exp` of the caller's bearer token (for `reauthorizationRequired`).
fn token_expiry(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?;
    let exp = crate::jwt::Jwt::parse(token.trim())
        .ok()?
        .claim_i64("exp")?;
    DateTime::from_timestamp(exp, 0)
}

/// Resolves user keys (ids, UPNs, `me`) inside a target to object ids.
fn resolve_target(state: &AppState, caller: &Caller, target: Target) -> GraphResult<Target> {
    let t = state.tenant.read();
    let user = |key: &str| -> GraphResult<String> {
        if key.eq_ignore_ascii_case("me") {
            return caller.user_id.clone().ok_or_else(|| {
                GraphError::bad_request(
                    "/me request is only valid with delegated authentication flow.",
                )
            });
        }
        t.find_user(key)
            .map(|u| u.id.clone())
            .ok_or_else(|| GraphError::directory_not_found(key))
    };
    Ok(match target {
        Target::User(id) => Target::User(user(&id)?),
        Target::Group(id) | Target::GroupMembers(id) if t.groups.get(&id).is_none() => {
            return Err(GraphError::directory_not_found(&id))
        }
        Target::Contacts(u) => {
            let id = user(&u)?;
            if !t.mailboxes.contains_key(&id) {
                return Err(GraphError::mailbox_not_enabled());
            }
            Target::Contacts(id)
        }
        Target::FolderContacts(u, f) => {
            let id = user(&u)?;
            let mb = t
                .mailboxes
                .get(&id)
                .ok_or_else(GraphError::mailbox_not_enabled)?;
            if f.eq_ignore_ascii_case(&mb.default_folder_id) {
                Target::Contacts(id)
            } else if mb.folders.get(&f).is_some() {
                Target::FolderContacts(id, f)
            } else {
                return Err(GraphError::item_not_found());
            }
        }
        other => other,
    })
}

/// Who may subscribe to what: the family's read permission; presence only delegated;
/// delegated contact subscriptions only on the signed-in user's own mailbox.
fn authorize(caller: &Caller, target: &Target) -> GraphResult<()> {
    let family = target.family();
    let (app, delegated) = family.permissions();
    if family == Family::Presence && !caller.is_delegated() {
        return Err(forbidden(
            "Create",
            "The request is not authorized for this user or application.",
        ));
    }
    let perms = if caller.is_delegated() {
        delegated
    } else {
        app
    };
    if !caller.has_any(perms) {
        return Err(forbidden(
            "Create",
            "Insufficient privileges to complete the operation.",
        ));
    }
    if let (Some(me), Target::Contacts(u) | Target::FolderContacts(u, _)) =
        (caller.user_id.as_deref(), target)
    {
        if !u.eq_ignore_ascii_case(me) {
            return Err(forbidden(
                "Create",
                "Access is denied. Check credentials and try again.",
            ));
        }
    }
    Ok(())
}

/// Graph's quotas (users, groups: 100 per app, 1,000 per tenant; contacts: 1,000 per
/// mailbox; presence: one subscription per user per application).
fn check_quota(
    subs: &std::collections::BTreeMap<String, Subscription>,
    new: &Subscription,
    now: DateTime<Utc>,
) -> GraphResult<()> {
    let family = new.family();
    let live: Vec<&Subscription> = subs
        .values()
        .filter(|s| s.alive(now) && s.family() == family)
        .collect();
    let exceeded = |m: String| Err(forbidden("Create", &m));
    match (&family, &new.target) {
        (Family::Users | Family::Groups, _) => {
            let per_app = live
                .iter()
                .filter(|s| s.application_id == new.application_id)
                .count();
            if per_app >= DIRECTORY_PER_APP {
                return exceeded(format!(
                    "Subscription quota exceeded: at most {DIRECTORY_PER_APP} subscriptions per application and tenant for this resource."
                ));
            }
            if live.len() >= DIRECTORY_PER_TENANT {
                return exceeded(format!(
                    "Subscription quota exceeded: at most {DIRECTORY_PER_TENANT} subscriptions per tenant for this resource."
                ));
            }
        }
        (Family::Contacts, Target::Contacts(u) | Target::FolderContacts(u, _)) => {
            let mailbox = |t: &Target| match t {
                Target::Contacts(x) | Target::FolderContacts(x, _) => x.eq_ignore_ascii_case(u),
                _ => false,
            };
            if live.iter().filter(|s| mailbox(&s.target)).count() >= CONTACTS_PER_MAILBOX {
                return exceeded(format!(
                    "Subscription quota exceeded: at most {CONTACTS_PER_MAILBOX} subscriptions per mailbox."
                ));
            }
        }
        (Family::Presence, _)
            if live.iter().any(|s| {
                s.application_id == new.application_id && s.delegated_user == new.delegated_user
            }) =>
        {
            return exceeded(
                "A presence subscription already exists for this user and application.".into(),
            );
        }
        _ => {}
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    #[serde(default)]
    include_resource_data: bool,
    encryption_certificate: Option<String>,
    encryption_certificate_id: Option<String>,
    latest_supported_tls_version: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> GraphResult<&'a str> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid(format!("The property '{name}' is required.")))
}

fn entity(ctx: &RequestCtx, s: &Subscription) -> Response {
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.context".into(),
        ctx.url_for("/v1.0/$metadata#subscriptions/$entity").into(),
    );
    if let Value::Object(m) = s.to_json() {
        out.extend(m);
    }
    Json(Value::Object(out)).into_response()
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult<Response> {
    let req: CreateBody = parse_json(&body)?;
    let resource_str = required(&req.resource, "resource")?.to_string();
    let change_type = required(&req.change_type, "changeType")?.to_string();
    let notification_url = required(&req.notification_url, "notificationUrl")?.to_string();
    let expiration = required(&req.expiration_date_time, "expirationDateTime")?;
    let target = resource::parse(&resource_str).map_err(|e| invalid(e.to_string()))?;
    if let Target::Presence(ids) = &target {
        if let Some(bad) = ids.iter().find(|i| uuid::Uuid::parse_str(i).is_err()) {
            return Err(invalid(format!(
                "'{bad}' is not a user id; presence subscriptions take user object id GUIDs."
            )));
        }
    }
    let family = target.family();
    authorize(&caller, &target)?;
    let target = resolve_target(&state, &caller, target)?;
    for c in change_type.split(',').map(str::trim) {
        if !family.allowed_change_types().contains(&c) {
            return Err(invalid(format!(
                "ChangeType '{c}' is not supported for resource '{resource_str}'. Supported: {}.",
                family.allowed_change_types().join(", ")
            )));
        }
    }
    if let Some(cs) = &req.client_state {
        if cs.chars().count() > MAX_CLIENT_STATE {
            return Err(invalid(format!(
                "clientState is longer than the maximum of {MAX_CLIENT_STATE} characters."
            )));
        }
    }
    let tls = req
        .latest_supported_tls_version
        .clone()
        .unwrap_or_else(|| "v1_2".to_string());
    if !["v1_0", "v1_1", "v1_2", "v1_3"].contains(&tls.as_str()) {
        return Err(invalid(format!(
            "latestSupportedTlsVersion '{tls}' is invalid; use v1_0, v1_1, v1_2 or v1_3."
        )));
    }
    if req.include_resource_data {
        if matches!(family, Family::Users | Family::Groups) {
            return Err(invalid(format!(
                "includeResourceData is not supported for resource '{resource_str}'."
            )));
        }
        if req.encryption_certificate.is_none() || req.encryption_certificate_id.is_none() {
            return Err(invalid(
                "encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.",
            ));
        }
        return Err(GraphError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "graph-sim does not encrypt resource data; subscribe without includeResourceData.",
        ));
    }
    check_url(&state, "notificationUrl", &notification_url)?;
    if let Some(l) = &req.lifecycle_notification_url {
        check_url(&state, "lifecycleNotificationUrl", l)?;
    }
    let now = state.clock.now();
    let expiration = check_expiration(family, parse_expiration(expiration)?, now)?;
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        resource: resource_str,
        target,
        change_type,
        client_state: req.client_state.clone(),
        notification_url: notification_url.clone(),
        lifecycle_notification_url: req.lifecycle_notification_url.clone(),
        expiration,
        application_id: caller.app_id.clone(),
        creator_id: caller
            .user_id
            .clone()
            .unwrap_or_else(|| crate::tokens::service_principal_id(&caller.app_id)),
        delegated_user: caller.user_id.clone(),
        latest_supported_tls_version: tls,
        tenant_id: caller.tenant_id.clone(),
        token_expires_at: token_expiry(&headers),
        reauthorization_sent: false,
        stats: Default::default(),
    };
    state
        .subscriptions
        .with(|subs| check_quota(subs, &sub, now))?;
    validate_endpoint(&state, &notification_url).await?;
    if let Some(l) = &req.lifecycle_notification_url {
        validate_endpoint(&state, l).await?;
    }
    let now = state.clock.now();
    state.subscriptions.with(|subs| {
        subs.retain(|_, s| s.alive(now) || now - s.expiration < Duration::days(1));
        check_quota(subs, &sub, now)?;
        subs.insert(sub.id.clone(), sub.clone());
        Ok::<_, GraphError>(())
    })?;
    let mut resp = entity(&ctx, &sub);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// The caller's live subscription `id`, or Graph's 404.
fn owned(state: &AppState, caller: &Caller, id: &str) -> GraphResult<Subscription> {
    let now = state.clock.now();
    state
        .subscriptions
        .get(id)
        .filter(|s| s.alive(now) && s.application_id == caller.app_id)
        .filter(|s| caller.user_id.is_none() || s.delegated_user == caller.user_id)
        .ok_or_else(|| not_found(id))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    let now = state.clock.now();
    let value: Vec<Value> = state
        .subscriptions
        .all()
        .into_iter()
        .filter(|s| s.alive(now) && s.application_id == caller.app_id)
        .filter(|s| caller.user_id.is_none() || s.delegated_user == caller.user_id)
        .map(|s| s.to_json())
        .collect();
    Ok(Json(json!({
        "@odata.context": ctx.url_for("/v1.0/$metadata#subscriptions"),
        "value": value,
    }))
    .into_response())
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let s = owned(&state, &caller, &id)?;
    Ok(entity(&ctx, &s))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    expiration_date_time: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult<Response> {
    let current = owned(&state, &caller, &id)?;
    let req: PatchBody = parse_json(&body)?;
    if req.lifecycle_notification_url.is_some() {
        return Err(invalid(
            "lifecycleNotificationUrl can only be set when the subscription is created.",
        ));
    }
    let now = state.clock.now();
    let expiration = match &req.expiration_date_time {
        Some(s) => Some(check_expiration(
            current.family(),
            parse_expiration(s)?,
            now,
        )?),
        None => None,
    };
    if let Some(url) = &req.notification_url {
        check_url(&state, "notificationUrl", url)?;
        validate_endpoint(&state, url).await?;
    }
    let token_exp = token_expiry(&headers);
    let updated = state.subscriptions.with(|subs| {
        let s = subs.get_mut(&id).ok_or_else(|| not_found(&id))?;
        if let Some(e) = expiration {
            s.expiration = e;
        }
        if let Some(u) = &req.notification_url {
            s.notification_url = u.clone();
        }
        if token_exp.is_some() {
            s.token_expires_at = token_exp;
        }
        Ok::<_, GraphError>(s.clone())
    })?;
    Ok(entity(&ctx, &updated))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    owned(&state, &caller, &id)?;
    state.subscriptions.with(|subs| subs.remove(&id));
    Ok(StatusCode::NO_CONTENT)
}

async fn reauthorize(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    let s = owned(&state, &caller, &id)?;
    let consented = state
        .tenant
        .read()
        .apps
        .get(&caller.app_id)
        .is_some_and(|a| a.admin_consented);
    if !consented {
        return Err(forbidden(
            "Reauthorize",
            "The application's consent was revoked.",
        ));
    }
    authorize(&caller, &s.target).map_err(|e| {
        GraphError::new(
            e.status,
            &e.code,
            e.message
                .replace("Operation: Create", "Operation: Reauthorize"),
        )
    })?;
    let token_exp = token_expiry(&headers);
    state.subscriptions.with(|subs| {
        if let Some(s) = subs.get_mut(&id) {
            s.reauthorization_sent = false;
            s.token_expires_at = token_exp;
        }
    });
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /_sim/subscriptions`: every subscription with its delivery counters.
async fn sim_list(_admin: SimAdmin, State(state): State<AppState>) -> Json<Value> {
    let now = state.clock.now();
    let subs = state.subscriptions.all();
    let value: Vec<Value> = subs
        .iter()
        .map(|s| {
            let mut v = s.to_json();
            v["expired"] = json!(!s.alive(now));
            v["tokenExpiresAt"] = json!(s.token_expires_at.map(offset_time));
            v["reauthorizationRequiredSent"] = json!(s.reauthorization_sent);
            v["stats"] = json!(s.stats);
            v["stats"]["pending"] = json!(state.subscriptions.pending(&s.id));
            v
        })
        .collect();
    Json(json!({ "value": value }))
}

#[derive(Deserialize)]
struct LifecycleBody {
    event: String,
}

/// `POST /_sim/subscriptions/{sub}/lifecycle`: sends a lifecycle event Graph would send for
/// this resource; `subscriptionRemoved` also removes the subscription, as Graph does.
async fn sim_lifecycle(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let req: LifecycleBody = serde_json::from_slice(&body)
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    let s = state
        .subscriptions
        .get(&id)
        .ok_or_else(|| ControlError(StatusCode::NOT_FOUND, format!("no subscription '{id}'")))?;
    let allowed = s.family().lifecycle_events();
    if !allowed.contains(&req.event.as_str()) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!(
                "Graph does not send '{}' for resource '{}'; it sends: {}",
                req.event,
                s.resource,
                allowed.join(", ")
            ),
        ));
    }
    if s.lifecycle_notification_url.is_none() {
        return Err(ControlError(
            StatusCode::CONFLICT,
            "the subscription has no lifecycleNotificationUrl".into(),
        ));
    }
    if req.event == "reauthorizationRequired" {
        state.subscriptions.with(|subs| {
            if let Some(x) = subs.get_mut(&id) {
                x.reauthorization_sent = true;
            }
        });
    }
    state.subscriptions.queue_lifecycle(&id, &req.event);
    if req.event == "subscriptionRemoved" {
        state.subscriptions.with(|subs| {
            if let Some(x) = subs.get_mut(&id) {
                x.expiration = state.clock.now();
            }
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"subscriptionId": id, "lifecycleEvent": req.event})),
    ))
}
