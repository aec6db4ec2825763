//! Graph's Outlook-side endpoints for one mailbox at a time: contact folders, personal
//! contacts and their delta, profile photos, free/busy (`getSchedule`), mailbox settings and
//! `sendMail`, plus the `/_sim` controls for what Graph cannot change with a read-only app.
//!
//! Parts:
//! - [`access`]: who may reach which mailbox (permissions, mailbox kind, application access
//!   policy) and Outlook throttling, applied before every call;
//! - [`ids`]: regular and immutable Outlook ids derived from one canonical id;
//! - [`folders`], [`contacts`], [`query`], [`delta`]: contact folders, contacts and their
//!   `$filter`/`$orderby`, delta rounds;
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
pub mod query;
pub mod sim;

use crate::caller::Caller;
use crate::error::GraphError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

/// Where Outlook routes live: once under `/users/{user}` and once under `/me` (delegated).
pub(crate) const PREFIXES: &[&str] = &["/v1.0/users/{user}", "/v1.0/me"];

/// The path parameters of an Outlook route. For `/me/...` the user is the signed-in user;
/// app-only callers get Graph's 400 there. Absent parameters are empty.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Target {
    /// The mailbox owner as addressed (id or UPN), or the signed-in user's id for `/me`.
    #[serde(default)]
    pub user: String,
    /// `{folder}`.
    #[serde(default)]
    pub folder: String,
    /// `{child}` (a child folder).
    #[serde(default)]
    pub child: String,
    /// `{contact}`.
    #[serde(default)]
    pub contact: String,
    /// `{size}` (photos).
    #[serde(default)]
    pub size: String,
}

impl FromRequestParts<AppState> for Target {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(mut t) = Path::<Target>::from_request_parts(parts, state)
            .await
            .map_err(|e| GraphError::bad_request(e.body_text()))?;
        if t.user.is_empty() {
            let caller = Caller::from_request_parts(parts, state).await?;
            t.user = caller.user_id.ok_or_else(|| {
                GraphError::bad_request(
                    "/me request is only valid with delegated authentication flow.",
                )
            })?;
        }
        Ok(t)
    }
}

/// Routes of the Outlook service: Graph's under `/users/{user}` and `/me`, and `/_sim`.
pub fn routes() -> axum::Router<AppState> {
    let mut r = axum::Router::new()
        .merge(delta::sim_routes())
        .merge(photo::sim_routes())
        .merge(calendar::sim_routes())
        .merge(mail::sim_routes())
        .merge(sim::routes());
    for p in PREFIXES {
        r = r
            .merge(folders::routes(p))
            .merge(contacts::routes(p))
            .merge(delta::routes(p))
            .merge(photo::routes(p))
            .merge(calendar::routes(p))
            .merge(mail::routes(p));
    }
    r
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
