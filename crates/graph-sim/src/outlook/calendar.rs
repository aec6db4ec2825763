//! Free/busy and mailbox settings: `calendar/getSchedule` (availability view and schedule
//! items from each mailbox's calendar blocks, in UTC), `mailboxSettings` (automatic replies,
//! time zone, `userPurpose` from the mailbox kind) and its `automaticRepliesSetting`, PATCH of
//! automatic replies, and `/_sim/mailboxes/{user}/calendar` to set calendar blocks.

use super::access::{self, Need};
use super::Target;
use crate::caller::Caller;
use crate::control::{ControlError, SimAdmin};
use crate::error::{GraphError, GraphResult};
use crate::model::{AutomaticReplies, CalendarBlock, MailboxKind};
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{json, Map, Value};

/// Parses Graph's `dateTime` (`2024-01-02T09:00:00`, optional fraction and `Z`).
fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
}

/// Formats a UTC time as Graph's `dateTimeTimeZone`.
fn dttz(t: NaiveDateTime) -> Value {
    let frac = t.and_utc().timestamp_subsec_nanos() / 100;
    json!({
        "dateTime": format!("{}.{frac:07}", t.format("%Y-%m-%dT%H:%M:%S")),
        "timeZone": "UTC",
    })
}

fn invalid(msg: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidParameter", msg)
}

fn time_param(body: &Map<String, Value>, name: &str) -> GraphResult<NaiveDateTime> {
    body.get(name)
        .and_then(|v| v.get("dateTime"))
        .and_then(Value::as_str)
        .and_then(parse_time)
        .ok_or_else(|| {
            invalid(format!(
                "{name} must be a dateTimeTimeZone with a valid dateTime."
            ))
        })
}

fn status_code(status: &str) -> u8 {
    match status {
        "tentative" => 1,
        "busy" => 2,
        "oof" => 3,
        _ => 0,
    }
}

/// Working hours the emulator reports for every mailbox (Monday–Friday, 08:00–17:00 UTC).
fn working_hours() -> Value {
    json!({
        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "startTime": "08:00:00.0000000",
        "endTime": "17:00:00.0000000",
        "timeZone": {"name": "UTC"},
    })
}

/// One `scheduleInformation` for `blocks` between `start` and `end`.
fn schedule(
    id: &str,
    blocks: &[CalendarBlock],
    start: NaiveDateTime,
    end: NaiveDateTime,
    interval: i64,
) -> Value {
    let blocks: Vec<(NaiveDateTime, NaiveDateTime, &CalendarBlock)> = blocks
        .iter()
        .filter_map(|b| Some((parse_time(&b.start)?, parse_time(&b.end)?, b)))
        .filter(|(s, e, _)| *s < end && *e > start)
        .collect();
    let mut view = String::new();
    let mut slot = start;
    while slot < end {
        let slot_end = slot
            .checked_add_signed(TimeDelta::minutes(interval))
            .map_or(end, |t| t.min(end));
        let code = blocks
            .iter()
            .filter(|(s, e, _)| *s < slot_end && *e > slot)
            .map(|(_, _, b)| status_code(&b.status))
            .max()
            .unwrap_or(0);
        view.push(char::from(b'0' + code));
        slot = slot_end;
    }
    let items: Vec<Value> = blocks
        .iter()
        .map(|(s, e, b)| {
            json!({
                "isPrivate": false,
                "status": b.status,
                "subject": b.subject.clone().unwrap_or_default(),
                "location": "",
                "start": dttz(*s),
                "end": dttz(*e),
            })
        })
        .collect();
    json!({
        "scheduleId": id,
        "availabilityView": view,
        "scheduleItems": items,
        "workingHours": working_hours(),
    })
}

async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let _acc = access::mailbox(&state, &caller, &user, Need::CalendarRead).await?;
    let body = super::json_object(&body)?;
    let ids: Vec<String> = match body.get("schedules").or_else(|| body.get("Schedules")) {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("schedules must be a list of SMTP addresses."))?,
        _ => return Err(invalid("schedules must list at least one SMTP address.")),
    };
    let start = time_param(&body, "startTime")?;
    let end = time_param(&body, "endTime")?;
    if end <= start {
        return Err(invalid("endTime must be after startTime."));
    }
    let interval = match body.get("availabilityViewInterval") {
        None | Some(Value::Null) => 30,
        Some(v) => match v.as_i64() {
            Some(n) if (5..=1440).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "availabilityViewInterval must be between 5 and 1440.",
                ))
            }
        },
    };
    if (end - start).num_days() > 62 {
        return Err(invalid("The requested time window is longer than 62 days."));
    }
    let value: Vec<Value> = {
        let t = state.tenant.read();
        ids.iter()
            .map(|id| {
                let owner = t.find_user(id).or_else(|| {
                    t.users.live().find(|u| {
                        u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(id))
                    })
                });
                match owner.and_then(|u| t.mailboxes.get(&u.id)) {
                    Some(mb) => schedule(id, &mb.calendar, start, end, interval),
                    None => json!({
                        "scheduleId": id,
                        "availabilityView": "",
                        "scheduleItems": [],
                        "error": {
                            "message": format!("The user or resource '{id}' was not found or has no mailbox."),
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }),
                }
            })
            .collect()
    };
    Ok(Json(json!({
        "@odata.context": ctx.url_for("/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)"),
        "value": value,
    }))
    .into_response())
}

fn replies_json(r: &AutomaticReplies, now: chrono::DateTime<chrono::Utc>) -> Value {
    let start = r
        .scheduled_start
        .as_deref()
        .and_then(parse_time)
        .unwrap_or_else(|| now.naive_utc());
    let end = r
        .scheduled_end
        .as_deref()
        .and_then(parse_time)
        .unwrap_or_else(|| {
            start
                .checked_add_signed(TimeDelta::days(1))
                .unwrap_or(start)
        });
    json!({
        "status": if r.status.is_empty() { "disabled" } else { r.status.as_str() },
        "externalAudience": if r.external_audience.is_empty() { "all" } else { r.external_audience.as_str() },
        "internalReplyMessage": r.internal_reply_message,
        "externalReplyMessage": r.external_reply_message,
        "scheduledStartDateTime": dttz(start),
        "scheduledEndDateTime": dttz(end),
    })
}

fn purpose(kind: MailboxKind) -> &'static str {
    match kind {
        MailboxKind::Shared => "shared",
        MailboxKind::Room => "room",
        MailboxKind::Equipment => "equipment",
        MailboxKind::User | MailboxKind::None => "user",
    }
}

async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::SettingsRead).await?;
    let replies = {
        let t = state.tenant.read();
        t.mailboxes
            .get(&acc.user_id)
            .map(|m| m.automatic_replies.clone())
            .unwrap_or_default()
    };
    Ok(Json(json!({
        "@odata.context": ctx.url_for(&format!("/v1.0/$metadata#users('{user}')/mailboxSettings")),
        "automaticRepliesSetting": replies_json(&replies, state.clock.now()),
        "timeZone": "UTC",
        "dateFormat": "yyyy-MM-dd",
        "timeFormat": "HH:mm",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateAndInformationToPrincipal",
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": working_hours(),
        "userPurpose": purpose(acc.kind),
    }))
    .into_response())
}

async fn replies(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::SettingsRead).await?;
    let r = {
        let t = state.tenant.read();
        t.mailboxes
            .get(&acc.user_id)
            .map(|m| m.automatic_replies.clone())
            .unwrap_or_default()
    };
    let mut v = replies_json(&r, state.clock.now());
    v["@odata.context"] = Value::String(ctx.url_for(&format!(
        "/v1.0/$metadata#users('{user}')/mailboxSettings/automaticRepliesSetting"
    )));
    Ok(Json(v).into_response())
}

/// Applies an `automaticRepliesSetting` patch to `r`.
fn patch_replies(r: &mut AutomaticReplies, p: &Map<String, Value>) -> GraphResult<()> {
    for (k, v) in p {
        match k.as_str() {
            "status" => match v.as_str() {
                Some(s @ ("disabled" | "alwaysEnabled" | "scheduled")) => r.status = s.into(),
                _ => return Err(invalid("status must be disabled, alwaysEnabled or scheduled.")),
            },
            "externalAudience" => match v.as_str() {
                Some(s @ ("none" | "contactsOnly" | "all")) => r.external_audience = s.into(),
                _ => return Err(invalid("externalAudience must be none, contactsOnly or all.")),
            },
            "internalReplyMessage" => {
                r.internal_reply_message = v.as_str().unwrap_or_default().to_string()
            }
            "externalReplyMessage" => {
                r.external_reply_message = v.as_str().unwrap_or_default().to_string()
            }
            "scheduledStartDateTime" | "scheduledEndDateTime" => {
                let t = v
                    .get("dateTime")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
                    .ok_or_else(|| invalid(format!("{k} must be a dateTimeTimeZone.")))?;
                let s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
                if k == "scheduledStartDateTime" {
                    r.scheduled_start = Some(s);
                } else {
                    r.scheduled_end = Some(s);
                }
            }
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{other}' on type 'microsoft.graph.automaticRepliesSetting'."
                )))
            }
        }
    }
    if r.status == "scheduled" && (r.scheduled_start.is_none() || r.scheduled_end.is_none()) {
        return Err(invalid(
            "Scheduled automatic replies need scheduledStartDateTime and scheduledEndDateTime.",
        ));
    }
    Ok(())
}

async fn patch_settings(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::SettingsWrite).await?;
    let body = super::json_object(&body)?;
    let mut patch = None;
    for (k, v) in &body {
        match k.as_str() {
            "automaticRepliesSetting" => match v {
                Value::Object(m) => patch = Some(m.clone()),
                _ => return Err(invalid("automaticRepliesSetting must be an object.")),
            },
            "userPurpose" => {
                return Err(GraphError::bad_request("The property 'userPurpose' is read-only."))
            }
            "timeZone" | "workingHours" | "language" | "dateFormat" | "timeFormat"
            | "delegateMeetingMessageDeliveryOptions" | "archiveFolder" => {
                return Err(GraphError::not_implemented())
            }
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{other}' on type 'microsoft.graph.mailboxSettings'."
                )))
            }
        }
    }
    let r = {
        let mut t = state.tenant.write();
        let mb = t
            .mailboxes
            .get_mut(&acc.user_id)
            .ok_or_else(GraphError::mailbox_not_enabled)?;
        let mut r = mb.automatic_replies.clone();
        if let Some(p) = &patch {
            patch_replies(&mut r, p)?;
        }
        mb.automatic_replies = r.clone();
        r
    };
    // Automatic replies show in presence (`outOfOfficeSettings`): tell its subscribers.
    crate::presence::publish_if_changed(&state, &acc.user_id);
    Ok(Json(json!({
        "@odata.context": ctx.url_for(&format!("/v1.0/$metadata#users('{user}')/mailboxSettings")),
        "automaticRepliesSetting": replies_json(&r, state.clock.now()),
    }))
    .into_response())
}

async fn sim_calendar(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))?;
    let list = match v {
        Value::Object(mut m) => m.remove("value").unwrap_or(Value::Null),
        other => other,
    };
    let blocks: Vec<CalendarBlock> = serde_json::from_value(list).map_err(|e| {
        ControlError(
            StatusCode::BAD_REQUEST,
            format!("expected [{{\"start\",\"end\",\"status\",\"subject\"?}}] (UTC times): {e}"),
        )
    })?;
    for b in &blocks {
        if parse_time(&b.start).is_none() || parse_time(&b.end).is_none() {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                format!(
                    "block times must look like 2024-01-02T09:00:00 (got {} – {})",
                    b.start, b.end
                ),
            ));
        }
        if !matches!(
            b.status.as_str(),
            "free" | "tentative" | "busy" | "oof" | "workingElsewhere"
        ) {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                format!(
                    "status '{}' is not free, tentative, busy, oof or workingElsewhere",
                    b.status
                ),
            ));
        }
    }
    let mut t = state.tenant.write();
    let id = t.find_user(&user).map(|u| u.id.clone()).ok_or_else(|| {
        ControlError(
            StatusCode::NOT_FOUND,
            format!("no user '{user}' in this tenant"),
        )
    })?;
    let mb = t.mailboxes.get_mut(&id).ok_or_else(|| {
        ControlError(
            StatusCode::NOT_FOUND,
            format!("user '{user}' has no mailbox"),
        )
    })?;
    mb.calendar = blocks;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes for free/busy, mailbox settings and the calendar control.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            &format!("{prefix}/calendar/getSchedule"),
            post(get_schedule),
        )
        .route(
            &format!("{prefix}/calendar/microsoft.graph.getSchedule"),
            post(get_schedule),
        )
        .route(
            &format!("{prefix}/mailboxSettings"),
            get(settings).patch(patch_settings),
        )
        .route(
            &format!("{prefix}/mailboxSettings/automaticRepliesSetting"),
            get(replies),
        )
}

/// The `/_sim` control routes of this part.
pub fn sim_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/_sim/mailboxes/{user}/calendar", put(sim_calendar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_view_marks_overlaps() {
        let blocks = vec![
            CalendarBlock {
                start: "2024-01-02T09:00:00".into(),
                end: "2024-01-02T10:00:00".into(),
                status: "busy".into(),
                subject: None,
            },
            CalendarBlock {
                start: "2024-01-02T09:30:00".into(),
                end: "2024-01-02T11:00:00".into(),
                status: "tentative".into(),
                subject: None,
            },
        ];
        let s = parse_time("2024-01-02T08:00:00").unwrap();
        let e = parse_time("2024-01-02T12:00:00").unwrap();
        let v = schedule("a@b", &blocks, s, e, 60);
        assert_eq!(v["availabilityView"], "0210");
        assert_eq!(v["scheduleItems"].as_array().unwrap().len(), 2);
    }
}
