//! Graph's Outlook-side endpoints for one mailbox at a time: contact folders, personal
//! contacts and their delta, profile photos, free/busy (`getSchedule`), mailbox settings and
//! `sendMail`, plus the `/_sim` controls for what Graph cannot change with a read-only app.
//!
//! Parts:
//! - [`access`]: who may reach which mailbox (permissions, mailbox kind, application access
//!   policy) and Outlook throttling, applied before every call;
//! - [`ids`]: regular and immutable Outlook ids derived from one canonical id;
//! - [`folders`], [`contacts`], [`delta`]: contact folders, contacts, delta rounds;
//! - [`photo`], [`calendar`], [`mail`]: photos, `getSchedule` + `mailboxSettings`, `sendMail`;
//! - [`sim`]: `/_sim/mailboxes/...` controls for contacts and folders.

pub mod access;
pub mod calendar;
pub mod contacts;
pub mod delta;
pub mod folders;
pub mod ids;
pub mod mail;
pub mod photo;
pub mod sim;

use crate::state::AppState;

/// Routes of the Outlook service (Graph and `/_sim`).
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(folders::routes())
        .merge(contacts::routes())
        .merge(delta::routes())
        .merge(photo::routes())
        .merge(calendar::routes())
        .merge(mail::routes())
        .merge(sim::routes())
}

/// Graph's JSON 400 for a request body that is not the JSON the operation takes.
pub(crate) fn unreadable_body() -> crate::error::GraphError {
    crate::error::GraphError::bad_request(
        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
    )
}

/// Parses a JSON object body, or answers Graph's 400.
pub(crate) fn json_object(
    body: &[u8],
) -> crate::error::GraphResult<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(unreadable_body()),
    }
}
