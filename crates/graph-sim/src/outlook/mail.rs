//! `sendMail` as the mailbox (JSON message or base64 MIME), answered 202 with an empty body
//! (queued, not delivered). Accepted mail goes to the outbox that tests read and clear through
//! `/_sim/outbox`.

use super::access::{self, Need};
use super::Target;
use crate::caller::Caller;
use crate::clock::graph_time;
use crate::control::SimAdmin;
use crate::error::{GraphError, GraphResult};
use crate::state::{AppState, SentMail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

fn invalid_request(msg: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidRequest", msg)
}

fn invalid_recipients() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidRecipients",
        "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
    )
}

/// Checks a JSON `message` the way Exchange does before queuing it.
fn validate(message: &Map<String, Value>) -> GraphResult<()> {
    if let Some(s) = message.get("subject") {
        if !s.is_string() && !s.is_null() {
            return Err(invalid_request("The subject must be a string."));
        }
    }
    if let Some(b) = message.get("body").filter(|b| !b.is_null()) {
        let ct = b
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("text");
        if !ct.eq_ignore_ascii_case("text") && !ct.eq_ignore_ascii_case("html") {
            return Err(invalid_request(format!(
                "Requested value '{ct}' was not found. contentType must be Text or HTML."
            )));
        }
    }
    let mut recipients = 0;
    for field in ["toRecipients", "ccRecipients", "bccRecipients"] {
        match message.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for r in list {
                    let addr = r
                        .get("emailAddress")
                        .and_then(|e| e.get("address"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let (local, domain) = addr.split_once('@').unwrap_or(("", ""));
                    if local.is_empty() || domain.is_empty() || addr.contains(char::is_whitespace) {
                        return Err(GraphError::new(
                            StatusCode::BAD_REQUEST,
                            "ErrorInvalidRecipients",
                            format!("At least one recipient isn't valid., Recipient '{addr}' isn't resolved. All recipients must be resolved before a message can be submitted."),
                        ));
                    }
                    recipients += 1;
                }
            }
            Some(_) => {
                return Err(invalid_request(format!(
                    "{field} must be a list of recipients."
                )))
            }
        }
    }
    if recipients == 0 {
        return Err(invalid_recipients());
    }
    Ok(())
}

async fn send_mail(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Target { user, .. }: Target,
    body: Bytes,
) -> GraphResult<StatusCode> {
    let _acc = access::mailbox(&state, &caller, &user, Need::MailSend).await?;
    let text_plain = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/plain")
        });
    let (message, save) = if text_plain {
        let raw: String = String::from_utf8_lossy(&body).split_whitespace().collect();
        let mime = STANDARD.decode(raw.as_bytes()).map_err(|_| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
        })?;
        (json!({"mimeContent": STANDARD.encode(mime)}), true)
    } else {
        let mut obj = super::json_object(&body)?;
        let message = match obj.remove("message").or_else(|| obj.remove("Message")) {
            Some(Value::Object(m)) => m,
            _ => {
                return Err(invalid_request(
                    "The message parameter is required and must be an object.",
                ))
            }
        };
        validate(&message)?;
        let save = match obj
            .get("saveToSentItems")
            .or_else(|| obj.get("SaveToSentItems"))
        {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid_request("saveToSentItems must be true or false.")),
        };
        (Value::Object(message), save)
    };
    state.outbox.lock().push(SentMail {
        from: user,
        message,
        save_to_sent_items: save,
        accepted_at: graph_time(state.clock.now()),
    });
    Ok(StatusCode::ACCEPTED)
}

async fn outbox(_admin: SimAdmin, State(state): State<AppState>) -> Response {
    let mails = state.outbox.lock().clone();
    Json(json!({"value": mails})).into_response()
}

async fn clear_outbox(_admin: SimAdmin, State(state): State<AppState>) -> StatusCode {
    state.outbox.lock().clear();
    StatusCode::NO_CONTENT
}

/// Routes for sendMail and the outbox control.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    axum::Router::new()
        .route(&format!("{prefix}/sendMail"), post(send_mail))
        .route(
            &format!("{prefix}/microsoft.graph.sendMail"),
            post(send_mail),
        )
}

/// The `/_sim` control routes of this part.
pub fn sim_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/_sim/outbox", get(outbox).delete(clear_outbox))
}
