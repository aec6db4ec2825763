//! Graph's presence service: reading a user's Teams presence (alone or up to 650 at once),
//! application presence sessions (`setPresence`/`clearPresence`), the user-preferred presence,
//! and `/_sim` controls that play an emulated Teams client (its session, going idle,
//! out-of-office). What a user shows is computed lazily on the emulated clock by [`rules`];
//! every change of it, including fades caused by time alone, is published to subscriptions.

pub mod rules;

use crate::caller::Caller;
use crate::control::{ControlError, SimAdmin};
use crate::error::{GraphError, GraphResult};
use crate::model::{AutomaticReplies, PreferredPresence, PresenceSession, PresenceState};
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use crate::subscriptions::{Change, ChangeType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use bytes::Bytes;
use chrono::Duration;
use rules::Shown;
use serde::Deserialize;
use serde_json::{json, Value};

/// Most user ids `getPresencesByUserId` takes in one call.
pub const MAX_IDS: usize = 650;

/// Routes of this service (Graph and `/_sim`).
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1.0/users/{user}/presence", get(get_user_presence))
        .route("/v1.0/me/presence", get(get_my_presence))
        .route(
            "/v1.0/communications/presences/{user}",
            get(get_presence_by_id),
        )
        .route(
            "/v1.0/communications/getPresencesByUserId",
            post(get_presences_by_user_id),
        )
        .route(
            "/v1.0/users/{user}/presence/setPresence",
            post(set_presence),
        )
        .route(
            "/v1.0/users/{user}/presence/clearPresence",
            post(clear_presence),
        )
        .route(
            "/v1.0/users/{user}/presence/setUserPreferredPresence",
            post(set_preferred),
        )
        .route(
            "/v1.0/users/{user}/presence/clearUserPreferredPresence",
            post(clear_preferred),
        )
        .route(
            "/_sim/presence/{user}/teams",
            put(sim_teams_put).delete(sim_teams_delete),
        )
        .route("/_sim/presence/{user}/idle", post(sim_idle))
        .route(
            "/_sim/presence/{user}/out-of-office",
            put(sim_out_of_office),
        )
}

const READ_APP: &[&str] = &["Presence.Read.All", "Presence.ReadWrite.All"];
const READ_ALL_DELEGATED: &[&str] = &["Presence.Read.All", "Presence.ReadWrite.All"];
const READ_OWN_DELEGATED: &[&str] = &["Presence.Read", "Presence.ReadWrite"];
const WRITE_APP: &[&str] = &["Presence.ReadWrite.All"];
const WRITE_DELEGATED: &[&str] = &["Presence.ReadWrite", "Presence.ReadWrite.All"];

/// Applies the presence throttle for the caller's app.
fn throttle(state: &AppState, caller: &Caller) -> GraphResult<()> {
    let b = state.behaviour.read();
    state.throttle.presence(&b, &caller.app_id)
}

/// May `caller` read the presence of `target` (a user id)?
fn require_read(caller: &Caller, target: Option<&str>) -> GraphResult<()> {
    let ok = if caller.is_delegated() {
        caller.has_any(READ_ALL_DELEGATED)
            || (caller.has_any(READ_OWN_DELEGATED) && target == caller.user_id.as_deref())
    } else {
        caller.has_any(READ_APP)
    };
    ok.then_some(()).ok_or_else(GraphError::presence_denied)
}

/// May `caller` write presence for `target`?
fn require_write(caller: &Caller, target: &str) -> GraphResult<()> {
    let ok = if caller.is_delegated() {
        caller.has_any(&["Presence.ReadWrite.All"])
            || (caller.has_any(WRITE_DELEGATED) && caller.user_id.as_deref() == Some(target))
    } else {
        caller.has_any(WRITE_APP)
    };
    ok.then_some(()).ok_or_else(GraphError::presence_denied)
}

fn user_not_found(key: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("The user '{key}' was not found in the tenant."),
    )
}

/// Resolves `/users/{user}` (id or userPrincipalName) to the user's object id.
fn resolve_user(state: &AppState, key: &str) -> GraphResult<String> {
    state
        .tenant
        .read()
        .find_user(key)
        .map(|u| u.id.clone())
        .ok_or_else(|| user_not_found(key))
}

/// Whether Outlook automatic replies are on at `now` (always, or inside the scheduled window).
fn automatic_replies_on(r: &AutomaticReplies, now: chrono::DateTime<chrono::Utc>) -> bool {
    let parse = |s: &Option<String>| {
        let s = s.as_deref()?;
        rules::parse_time(s).or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
    };
    match r.status.as_str() {
        "alwaysEnabled" => true,
        "scheduled" => match (parse(&r.scheduled_start), parse(&r.scheduled_end)) {
            (Some(a), Some(b)) => a <= now && now < b,
            _ => false,
        },
        _ => false,
    }
}

/// The user's presence state as Graph sees it: the stored state, with out-of-office also on
/// while the mailbox's automatic replies are (Graph's `isOutOfOffice` covers both).
pub fn effective(t: &TenantData, id: &str, now: chrono::DateTime<chrono::Utc>) -> PresenceState {
    let mut p = t.presence.get(id).cloned().unwrap_or_default();
    if !p.out_of_office {
        if let Some(mb) = t.mailboxes.get(id) {
            if automatic_replies_on(&mb.automatic_replies, now) {
                p.out_of_office = true;
                let msg = &mb.automatic_replies.internal_reply_message;
                p.out_of_office_message = (!msg.is_empty()).then(|| msg.clone());
            }
        }
    }
    p
}

/// The presence entity as Graph serialises it (without `@odata.context`).
pub fn presence_json(id: &str, p: &PresenceState, now: chrono::DateTime<chrono::Utc>) -> Value {
    let shown = rules::compute(p, now);
    json!({
        "id": id,
        "availability": shown.availability,
        "activity": shown.activity,
        "statusMessage": null,
        "outOfOfficeSettings": {
            "message": p.out_of_office_message,
            "isOutOfOffice": p.out_of_office,
        },
        "sequenceNumber": rules::sequence_number(p, now),
        "workLocation": {"workLocationType": "unspecified", "source": "none", "placeId": null},
    })
}

/// What presence shows for an id that is no user of the tenant (in `getPresencesByUserId`).
fn unknown_presence_json(id: &str) -> Value {
    json!({
        "id": id,
        "availability": "PresenceUnknown",
        "activity": "PresenceUnknown",
        "statusMessage": null,
        "outOfOfficeSettings": {"message": null, "isOutOfOffice": false},
        "sequenceNumber": null,
        "workLocation": {"workLocationType": "unspecified", "source": "none", "placeId": null},
    })
}

fn single_presence(state: &AppState, ctx: &RequestCtx, id: &str, context: &str) -> Response {
    let now = state.clock.now();
    let mut body = {
        let t = state.tenant.read();
        presence_json(id, &effective(&t, id, now), now)
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.context".into(),
        ctx.url_for(&format!("/v1.0/$metadata#{context}")).into(),
    );
    if let Value::Object(m) = body.take() {
        out.extend(m);
    }
    Json(Value::Object(out)).into_response()
}

async fn get_user_presence(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(user): Path<String>,
) -> GraphResult<Response> {
    throttle(&state, &caller)?;
    let id = resolve_user(&state, &user)?;
    require_read(&caller, Some(&id))?;
    Ok(single_presence(
        &state,
        &ctx,
        &id,
        &format!("users('{id}')/presence/$entity"),
    ))
}

async fn get_my_presence(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    throttle(&state, &caller)?;
    let Some(id) = caller.user_id.clone() else {
        return Err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow.",
        ));
    };
    require_read(&caller, Some(&id))?;
    Ok(single_presence(
        &state,
        &ctx,
        &id,
        "users('me')/presence/$entity",
    ))
}

async fn get_presence_by_id(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(user): Path<String>,
) -> GraphResult<Response> {
    throttle(&state, &caller)?;
    let known = state.tenant.read().users.get(&user).is_some();
    if !known {
        return Err(user_not_found(&user));
    }
    require_read(&caller, Some(&user))?;
    Ok(single_presence(
        &state,
        &ctx,
        &user,
        "communications/presences/$entity",
    ))
}

/// Parses a JSON request body into `T`, answering Graph's 400 on failure.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> GraphResult<T> {
    if body.is_empty() {
        return Err(GraphError::bad_request(
            "Empty Payload, JSON content expected",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))
}

#[derive(Deserialize)]
struct IdsBody {
    ids: Vec<String>,
}

async fn get_presences_by_user_id(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    body: Bytes,
) -> GraphResult<Response> {
    throttle(&state, &caller)?;
    let ok = if caller.is_delegated() {
        caller.has_any(READ_ALL_DELEGATED)
    } else {
        caller.has_any(READ_APP)
    };
    if !ok {
        return Err(GraphError::presence_denied());
    }
    let req: IdsBody = parse_body(&body)?;
    if req.ids.is_empty() {
        return Err(GraphError::bad_request(
            "The ids parameter must not be empty.",
        ));
    }
    if req.ids.len() > MAX_IDS {
        return Err(GraphError::bad_request(format!(
            "The number of ids ({}) exceeds the maximum of {MAX_IDS}.",
            req.ids.len()
        )));
    }
    let now = state.clock.now();
    let value: Vec<Value> = {
        let t = state.tenant.read();
        req.ids
            .iter()
            .map(|id| {
                if t.users.get(id).is_some() {
                    presence_json(id, &effective(&t, id, now), now)
                } else {
                    unknown_presence_json(id)
                }
            })
            .collect()
    };
    Ok(Json(json!({
        "@odata.context": ctx.url_for("/v1.0/$metadata#Collection(microsoft.graph.presence)"),
        "value": value,
    }))
    .into_response())
}

/// Applies `f` to the user's presence state as one explicit change, then publishes the change
/// of what the user shows, if any.
fn mutate<T>(
    state: &AppState,
    user_id: &str,
    f: impl FnOnce(&mut PresenceState, chrono::DateTime<chrono::Utc>) -> GraphResult<T>,
) -> GraphResult<T> {
    let now = state.clock.now();
    let out = {
        let mut t = state.tenant.write();
        let before = rules::compute(&effective(&t, user_id, now), now);
        let p = t.presence.entry(user_id.to_string()).or_default();
        let mut next = p.clone();
        let out = f(&mut next, now)?;
        rules::touch(&mut next, now);
        *p = next;
        state
            .subscriptions
            .presence_shown
            .lock()
            .entry(user_id.to_string())
            .or_insert((before.availability, before.activity));
        out
    };
    publish_if_changed(state, user_id);
    Ok(out)
}

/// Publishes `communications/presences/{id}` when what the user shows differs from what was
/// last published (or, on first sight, just remembers it).
pub fn publish_if_changed(state: &AppState, user_id: &str) {
    let now = state.clock.now();
    let shown: Shown = {
        let t = state.tenant.read();
        rules::compute(&effective(&t, user_id, now), now)
    };
    let key = (shown.availability, shown.activity);
    let prev = state
        .subscriptions
        .presence_shown
        .lock()
        .insert(user_id.to_string(), key.clone());
    if prev.is_some_and(|p| p != key) {
        state.subscriptions.publish(Change {
            resource: format!("communications/presences/{user_id}"),
            id: user_id.to_string(),
            user_id: Some(user_id.to_string()),
            folder_id: None,
            odata_type: "#microsoft.graph.presence".to_string(),
            change_type: ChangeType::Updated,
        });
    }
}

/// Background task: every half second, publishes presence changes caused by time alone
/// (fades of idle sessions, expiry of sessions and preferred presence, scheduled automatic
/// replies).
pub fn spawn_ticker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ids: Vec<String> = {
                let t = state.tenant.read();
                let seen = state.subscriptions.presence_shown.lock();
                let mut ids: Vec<String> = t
                    .presence
                    .iter()
                    .filter(|(id, p)| rules::time_sensitive(p) || seen.contains_key(*id))
                    .map(|(id, _)| id.clone())
                    .collect();
                ids.extend(
                    t.mailboxes
                        .iter()
                        .filter(|(id, m)| {
                            m.automatic_replies.status != "disabled"
                                && !m.automatic_replies.status.is_empty()
                                && !t.presence.contains_key(*id)
                        })
                        .map(|(id, _)| id.clone()),
                );
                ids
            };
            for id in ids {
                publish_if_changed(&state, &id);
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPresenceBody {
    session_id: Option<String>,
    availability: Option<String>,
    activity: Option<String>,
    expiration_duration: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> GraphResult<&'a str> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GraphError::bad_request(format!("The parameter '{name}' is required.")))
}

async fn set_presence(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    body: Bytes,
) -> GraphResult<StatusCode> {
    throttle(&state, &caller)?;
    let id = resolve_user(&state, &user)?;
    require_write(&caller, &id)?;
    let req: SetPresenceBody = parse_body(&body)?;
    let session_id = required(&req.session_id, "sessionId")?;
    if !session_id.eq_ignore_ascii_case(&caller.app_id) {
        return Err(GraphError::bad_request(
            "The sessionId must be the application (client) id of the calling application.",
        ));
    }
    let availability = required(&req.availability, "availability")?;
    let activity = required(&req.activity, "activity")?;
    if !rules::accepted(rules::SET_PRESENCE_PAIRS, availability, activity) {
        return Err(GraphError::bad_request(format!(
            "The presence combination availability '{availability}' and activity '{activity}' is not supported."
        )));
    }
    let duration = match req.expiration_duration.as_deref() {
        None => Duration::minutes(5),
        Some(s) => rules::parse_duration(s)
            .filter(|d| *d >= Duration::minutes(5) && *d <= Duration::hours(4))
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "The expirationDuration '{s}' is invalid; it must be an ISO 8601 duration between PT5M and PT4H."
                ))
            })?,
    };
    let session_id = caller.app_id.clone();
    let (availability, activity) = (availability.to_string(), activity.to_string());
    mutate(&state, &id, |p, now| {
        p.sessions.retain(|s| s.session_id != session_id);
        p.sessions.push(PresenceSession {
            session_id,
            availability,
            activity,
            set_at: rules::store_time(now),
            expires_at: rules::store_time(now + duration),
        });
        Ok(())
    })?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClearPresenceBody {
    session_id: Option<String>,
}

async fn clear_presence(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    body: Bytes,
) -> GraphResult<StatusCode> {
    throttle(&state, &caller)?;
    let id = resolve_user(&state, &user)?;
    require_write(&caller, &id)?;
    let req: ClearPresenceBody = parse_body(&body)?;
    let session_id = required(&req.session_id, "sessionId")?.to_string();
    if !session_id.eq_ignore_ascii_case(&caller.app_id) {
        return Err(GraphError::bad_request(
            "The sessionId must be the application (client) id of the calling application.",
        ));
    }
    mutate(&state, &id, |p, now| {
        let before = p.sessions.len();
        p.sessions.retain(|s| {
            !(s.session_id.eq_ignore_ascii_case(&session_id)
                && rules::parse_time(&s.expires_at).is_some_and(|e| now < e))
        });
        if p.sessions.len() == before {
            return Err(GraphError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("The presence session '{session_id}' was not found."),
            ));
        }
        Ok(())
    })?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreferredBody {
    availability: Option<String>,
    activity: Option<String>,
    expiration_duration: Option<String>,
}

async fn set_preferred(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    body: Bytes,
) -> GraphResult<StatusCode> {
    throttle(&state, &caller)?;
    let id = resolve_user(&state, &user)?;
    require_write(&caller, &id)?;
    let req: PreferredBody = parse_body(&body)?;
    let availability = required(&req.availability, "availability")?.to_string();
    let activity = required(&req.activity, "activity")?.to_string();
    if !rules::accepted(rules::PREFERRED_PAIRS, &availability, &activity) {
        return Err(GraphError::bad_request(format!(
            "The preferred presence combination availability '{availability}' and activity '{activity}' is not supported."
        )));
    }
    let duration = match req.expiration_duration.as_deref() {
        None if matches!(availability.as_str(), "DoNotDisturb" | "Busy") => Duration::days(1),
        None => Duration::days(7),
        Some(s) => rules::parse_duration(s).ok_or_else(|| {
            GraphError::bad_request(format!(
                "The expirationDuration '{s}' is not a valid ISO 8601 duration."
            ))
        })?,
    };
    mutate(&state, &id, |p, now| {
        p.preferred = Some(PreferredPresence {
            availability,
            activity,
            expires_at: rules::store_time(now + duration),
        });
        Ok(())
    })?;
    Ok(StatusCode::OK)
}

async fn clear_preferred(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> GraphResult<StatusCode> {
    throttle(&state, &caller)?;
    let id = resolve_user(&state, &user)?;
    require_write(&caller, &id)?;
    mutate(&state, &id, |p, _| {
        p.preferred = None;
        Ok(())
    })?;
    Ok(StatusCode::OK)
}

fn control_user(state: &AppState, key: &str) -> Result<String, ControlError> {
    state
        .tenant
        .read()
        .find_user(key)
        .map(|u| u.id.clone())
        .ok_or_else(|| {
            ControlError(
                StatusCode::NOT_FOUND,
                format!("no user '{key}' in the tenant"),
            )
        })
}

fn control_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    serde_json::from_slice(body)
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Runs a `/_sim` presence change and answers with the presence the user now shows.
fn control_mutate(
    state: &AppState,
    id: &str,
    f: impl FnOnce(&mut PresenceState, chrono::DateTime<chrono::Utc>) -> GraphResult<()>,
) -> Result<Json<Value>, ControlError> {
    mutate(state, id, f).map_err(|e| ControlError(e.status, e.message))?;
    let now = state.clock.now();
    let t = state.tenant.read();
    Ok(Json(presence_json(id, &effective(&t, id, now), now)))
}

#[derive(Deserialize)]
struct TeamsBody {
    availability: String,
    activity: String,
}

/// `PUT /_sim/presence/{user}/teams`: the user's Teams client shows this state (a session
/// that never expires, like a running desktop client).
async fn sim_teams_put(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let id = control_user(&state, &user)?;
    let req: TeamsBody = control_body(&body)?;
    if !rules::accepted(rules::TEAMS_PAIRS, &req.availability, &req.activity) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!(
                "a Teams client cannot show {}/{}; allowed: {:?}",
                req.availability,
                req.activity,
                rules::TEAMS_PAIRS
            ),
        ));
    }
    control_mutate(&state, &id, |p, now| {
        p.sessions.retain(|s| s.session_id != rules::TEAMS_CLIENT);
        p.sessions.push(PresenceSession {
            session_id: rules::TEAMS_CLIENT.to_string(),
            availability: req.availability,
            activity: req.activity,
            set_at: rules::store_time(now),
            expires_at: "9999-12-31T23:59:59.000Z".to_string(),
        });
        Ok(())
    })
}

/// `DELETE /_sim/presence/{user}/teams`: the Teams client was closed.
async fn sim_teams_delete(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let id = control_user(&state, &user)?;
    control_mutate(&state, &id, |p, _| {
        p.sessions.retain(|s| s.session_id != rules::TEAMS_CLIENT);
        Ok(())
    })
}

/// `POST /_sim/presence/{user}/idle`: the Teams client saw no input for a while, as Teams
/// shows it: Available turns Away/Away, Busy turns BusyIdle; DoNotDisturb and the rest stay.
async fn sim_idle(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let id = control_user(&state, &user)?;
    control_mutate(&state, &id, |p, _| {
        let s = p
            .sessions
            .iter_mut()
            .find(|s| s.session_id == rules::TEAMS_CLIENT)
            .ok_or_else(|| {
                GraphError::new(
                    StatusCode::CONFLICT,
                    "simControl",
                    "the user has no Teams client session; PUT /_sim/presence/{user}/teams first",
                )
            })?;
        match s.availability.as_str() {
            "Available" => {
                s.availability = "Away".into();
                s.activity = "Away".into();
            }
            "Busy" => s.availability = "BusyIdle".into(),
            _ => {}
        }
        Ok(())
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutOfOfficeBody {
    is_out_of_office: bool,
    #[serde(default)]
    message: Option<String>,
}

/// `PUT /_sim/presence/{user}/out-of-office`: Outlook automatic replies or a Teams
/// out-of-office schedule is on or off.
async fn sim_out_of_office(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let id = control_user(&state, &user)?;
    let req: OutOfOfficeBody = control_body(&body)?;
    control_mutate(&state, &id, |p, _| {
        p.out_of_office = req.is_out_of_office;
        p.out_of_office_message = req.message;
        Ok(())
    })
}
