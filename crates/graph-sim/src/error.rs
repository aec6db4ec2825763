//! Graph's error responses, exactly as Graph sends them.
//!
//! Handlers return [`GraphError`]; the envelope middleware in [`crate::server`] renders it as
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with
//! the request's ids, so no handler has to know them.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A failure in Graph's own vocabulary: HTTP status, `error.code`, `error.message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph's `error.code`, e.g. `Request_ResourceNotFound`.
    pub code: String,
    /// Graph's `error.message`.
    pub message: String,
    /// Extra response headers (`Retry-After`, `Location`, throttle headers).
    pub headers: Vec<(HeaderName, String)>,
    /// `innerError.code` where Graph sends one (throttling, delta resets).
    pub inner_code: Option<String>,
}

/// Marker placed in a response's extensions so the envelope renders the body.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// `error.code`
    pub code: String,
    /// `error.message`
    pub message: String,
    /// `innerError.code`
    pub inner_code: Option<String>,
}

impl GraphError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
            inner_code: None,
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets `innerError.code`.
    pub fn with_inner_code(mut self, code: &str) -> Self {
        self.inner_code = Some(code.to_string());
        self
    }

    /// 400 `BadRequest` (generic OData/Outlook wording).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 400 `Request_BadRequest` (directory wording).
    pub fn directory_bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 400 `Request_UnsupportedQuery` (directory query the service can't run).
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    /// 404 `Request_ResourceNotFound` for a directory object.
    pub fn directory_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 404 `ErrorItemNotFound` for an Outlook item.
    pub fn item_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// 404 `MailboxNotEnabledForRESTAPI` for a user without an Exchange Online mailbox.
    pub fn mailbox_not_enabled() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    }

    /// 403 `Authorization_RequestDenied` (directory).
    pub fn directory_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 403 `ErrorAccessDenied` (Outlook, and mailboxes outside an application access policy).
    pub fn outlook_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// 403 `Forbidden` (cloud communications: presence).
    pub fn presence_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 429 `TooManyRequests`, with `Retry-After` in seconds when given.
    pub fn throttled(retry_after: Option<f64>) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        )
        .with_inner_code("429");
        if let Some(s) = retry_after {
            let v = if s.fract() == 0.0 {
                format!("{}", s as u64)
            } else {
                format!("{s:.3}")
            };
            e = e.with_header(HeaderName::from_static("retry-after"), v);
        }
        e
    }

    /// 500 `generalException`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            message,
        )
    }

    /// 501 `NotImplemented` for what Graph itself does not support.
    pub fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "This operation target is not yet supported.",
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                resp.headers_mut().insert(name.clone(), v);
            }
        }
        resp.extensions_mut().insert(ErrorBody {
            code: self.code,
            message: self.message,
            inner_code: self.inner_code,
        });
        resp
    }
}

/// Result type of Graph handlers.
pub type GraphResult<T> = Result<T, GraphError>;
