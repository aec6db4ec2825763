//! Entra's OAuth error body: `error`, an `AADSTS…` description with trace and correlation ids,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`, plus Entra's
//! no-cache headers.

use crate::state::SimState;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One failed Entra request, rendered by [`EntraError::render`] with the emulated clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: AADSTS{code}: {message}")]
pub struct EntraError {
    /// HTTP status (400, or 401 for `invalid_client`).
    pub status: StatusCode,
    /// OAuth `error` value (`invalid_client`, `invalid_grant`, …).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The text after `AADSTS{code}: `.
    pub message: String,
}

/// Shorthand for results of Entra handlers.
pub type EntraResult<T> = Result<T, EntraError>;

impl EntraError {
    /// A 400 error.
    pub fn bad(error: &'static str, code: u32, message: impl Into<String>) -> EntraError {
        EntraError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            message: message.into(),
        }
    }

    /// An `invalid_client` error (401, as Entra answers a failed client authentication).
    pub fn invalid_client(code: u32, message: impl Into<String>) -> EntraError {
        EntraError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code,
            message: message.into(),
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    pub fn missing(name: &str) -> EntraError {
        Self::bad(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// AADSTS90002: the `{tenant}` path segment names no tenant.
    pub fn unknown_tenant(tenant: &str) -> EntraError {
        Self::bad(
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// AADSTS700016: no such application in the tenant.
    pub fn unknown_app(client_id: &str, tenant_name: &str) -> EntraError {
        Self::bad(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS7000218: a confidential client sent no credential.
    pub fn no_credential() -> EntraError {
        Self::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS9002313: the request could not be parsed.
    pub fn malformed() -> EntraError {
        Self::bad(
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    }

    /// The JSON body Entra sends, with fresh trace and correlation ids.
    pub fn body(&self, state: &SimState, correlation_id: Option<&str>) -> Value {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id
            .filter(|c| uuid::Uuid::parse_str(c).is_ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let timestamp = state.clock.now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    /// Renders the error as Entra's response (status, JSON body, no-cache headers).
    pub fn render(&self, state: &SimState, correlation_id: Option<&str>) -> Response {
        let body = self.body(state, correlation_id);
        let trace = body["trace_id"].as_str().unwrap_or("").to_string();
        let mut resp = json_response(self.status, &body);
        if let Ok(v) = HeaderValue::from_str(&trace) {
            resp.headers_mut().insert("x-ms-request-id", v);
        }
        resp
    }
}

/// A JSON response with Entra's content type and no-cache headers.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", v);
    }
    resp
}

/// AADSTS900561: the OAuth endpoints take POST only.
pub fn post_only(method: &http::Method) -> EntraError {
    EntraError::bad(
        "invalid_request",
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parameter_names_it() {
        let e = EntraError::missing("scope");
        assert_eq!(e.code, 900144);
        assert_eq!(e.error, "invalid_request");
        assert!(e.message.contains("'scope'"));
        assert_eq!(EntraError::no_credential().status, StatusCode::UNAUTHORIZED);
    }
}
