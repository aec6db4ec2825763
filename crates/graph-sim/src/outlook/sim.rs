//! `/_sim/mailboxes/{user}/...` controls: create, change, move and delete contacts and contact
//! folders in any mailbox (shared mailboxes included), through the same write path as Graph,
//! so delta and change notifications see them. Ids in and out are the regular Outlook ids.

use super::contacts::{self, WriteError};
use super::folders;
use crate::control::{ControlError, SimAdmin};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::Json;
use serde_json::{Map, Value};

fn control(e: WriteError) -> ControlError {
    match e {
        WriteError::NotFound => ControlError(StatusCode::NOT_FOUND, e.to_string()),
        WriteError::Invalid(m) => ControlError(StatusCode::BAD_REQUEST, m),
        WriteError::Conflict => ControlError(StatusCode::CONFLICT, e.to_string()),
    }
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, ControlError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ControlError(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
        )),
    }
}

fn mailbox_owner(state: &AppState, user: &str) -> Result<String, ControlError> {
    let t = state.tenant.read();
    let u = t.find_user(user).ok_or_else(|| {
        ControlError(
            StatusCode::NOT_FOUND,
            format!("no user '{user}' in this tenant"),
        )
    })?;
    if !t.mailboxes.contains_key(&u.id) {
        return Err(ControlError(
            StatusCode::NOT_FOUND,
            format!("user '{user}' has no mailbox"),
        ));
    }
    Ok(u.id.clone())
}

fn contact_id(state: &AppState, owner: &str, given: &str) -> Result<String, ControlError> {
    let t = state.tenant.read();
    t.mailboxes
        .get(owner)
        .and_then(|mb| contacts::resolve(mb, given))
        .ok_or_else(|| {
            ControlError(
                StatusCode::NOT_FOUND,
                format!("no contact '{given}' in this mailbox"),
            )
        })
}

async fn create_contact(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    let mut body = body_object(&body)?;
    let folder = match body.remove("parentFolderId") {
        Some(Value::String(f)) => Some(f),
        _ => None,
    };
    let c = contacts::create(&state, &owner, folder.as_deref(), &body).map_err(control)?;
    Ok((
        StatusCode::CREATED,
        Json(Value::Object(contacts::contact_json(&c, false))),
    )
        .into_response())
}

async fn patch_contact(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path((user, contact)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    let id = contact_id(&state, &owner, &contact)?;
    let body = body_object(&body)?;
    let c = contacts::update(&state, &owner, &id, &body, true).map_err(control)?;
    Ok(Json(Value::Object(contacts::contact_json(&c, false))).into_response())
}

async fn delete_contact(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path((user, contact)): Path<(String, String)>,
) -> Result<StatusCode, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    let id = contact_id(&state, &owner, &contact)?;
    contacts::delete(&state, &owner, &id).map_err(control)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_folder(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    let body = body_object(&body)?;
    let parent = body
        .get("parentFolderId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let f = folders::create(&state, &owner, parent.as_deref(), &body).map_err(control)?;
    Ok((StatusCode::CREATED, Json(f)).into_response())
}

async fn patch_folder(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path((user, folder)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    let body = body_object(&body)?;
    let f = folders::update(&state, &owner, &folder, &body, true).map_err(control)?;
    Ok(Json(f).into_response())
}

async fn delete_folder(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path((user, folder)): Path<(String, String)>,
) -> Result<StatusCode, ControlError> {
    let owner = mailbox_owner(&state, &user)?;
    folders::delete(&state, &owner, &folder).map_err(control)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /_sim/churn`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Churn {
    /// Share of all live contacts to change, in percent (0–100).
    contacts_percent: f64,
    /// Which contacts: the same seed picks the same ones.
    #[serde(default)]
    seed: u64,
}

/// `POST /_sim/churn {"contactsPercent": 1, "seed": 7}`: changes that share of every mailbox's
/// contacts (their job title), picked deterministically, through the same write path as a
/// Graph PATCH, so delta rounds report exactly them. Answers how many changed, and where.
async fn churn(
    _admin: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let c: Churn = serde_json::from_slice(&body).map_err(|e| {
        ControlError(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"contactsPercent\": 0-100, \"seed\": N}}: {e}"),
        )
    })?;
    if !(0.0..=100.0).contains(&c.contacts_percent) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "contactsPercent must be from 0 to 100".into(),
        ));
    }
    let threshold = (c.contacts_percent * 100.0).round() as u64;
    let picked: Vec<(String, String, String)> = {
        let t = state.tenant.read();
        let mut owners: Vec<&String> = t.mailboxes.keys().collect();
        owners.sort();
        owners
            .into_iter()
            .flat_map(|owner| {
                t.mailboxes[owner]
                    .contacts
                    .live()
                    .filter(|k| pick(c.seed, &k.id) < threshold)
                    .map(|k| (owner.clone(), k.id.clone(), super::ids::wire(k, true)))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut mailboxes: Vec<&str> = Vec::new();
    for (n, (owner, id, _)) in picked.iter().enumerate() {
        let mut patch = Map::new();
        patch.insert(
            "jobTitle".into(),
            Value::String(format!("Churn {} #{n}", c.seed)),
        );
        contacts::update(&state, owner, id, &patch, false).map_err(control)?;
        if mailboxes.last() != Some(&owner.as_str()) {
            mailboxes.push(owner);
        }
    }
    let ids: Vec<&str> = picked.iter().map(|(_, id, _)| id.as_str()).collect();
    let immutable: Vec<&str> = picked.iter().map(|(_, _, i)| i.as_str()).collect();
    Ok(Json(serde_json::json!({
        "changed": picked.len(),
        "mailboxes": mailboxes.len(),
        "contactIds": ids,
        "immutableIds": immutable,
    }))
    .into_response())
}

/// A stable number in 0..10000 for (seed, id): FNV-1a, so a pick never depends on the run.
fn pick(seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 10_000
}

/// Routes of the mailbox controls.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/_sim/churn", post(churn))
        .route("/_sim/mailboxes/{user}/contacts", post(create_contact))
        .route(
            "/_sim/mailboxes/{user}/contacts/{contact}",
            patch(patch_contact).delete(delete_contact),
        )
        .route("/_sim/mailboxes/{user}/folders", post(create_folder))
        .route(
            "/_sim/mailboxes/{user}/folders/{folder}",
            patch(patch_folder).delete(delete_folder),
        )
}
