//! `/_sim` controls: what Graph itself cannot do to a tenant (org contacts, shared-mailbox
//! contents, a Teams client's presence, faults, the clock, consent), each authenticated with
//! the sim-admin key (`Authorization: Bearer <key>` or `x-sim-key: <key>`).

use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Proof that the request carried the sim-admin key.
#[derive(Debug, Clone, Copy)]
pub struct SimAdmin;

/// A `/_sim` failure: status plus a plain JSON message.
#[derive(Debug)]
pub struct ControlError(pub StatusCode, pub String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(serde_json::json!({"error": {"code": "simControl", "message": self.1}})),
        )
            .into_response()
    }
}

impl FromRequestParts<AppState> for SimAdmin {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get("x-sim-key")
            .or_else(|| parts.headers.get(http::header::AUTHORIZATION))
            .and_then(|h| h.to_str().ok())
            .map(|v| v.trim_start_matches("Bearer ").trim())
            .unwrap_or("");
        if !given.is_empty() && constant_time_eq(given.as_bytes(), state.admin_key.as_bytes()) {
            Ok(SimAdmin)
        } else {
            Err(ControlError(
                StatusCode::UNAUTHORIZED,
                "the /_sim controls need the sim-admin key that `pbx365 sim` printed, as `x-sim-key: KEY` or `Authorization: Bearer KEY`".into(),
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Control routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
}
