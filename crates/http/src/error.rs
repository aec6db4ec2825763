//! Errors of the HTTP front end and how each kind of client is told about them: JSON for the
//! API, an empty body for caller-ID lookups (so no error text ever shows up as a caller's
//! name), the vendor's own error document for Cisco and Gigaset, plain text otherwise.

use crate::xml::XmlWriter;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use directory::ServiceError;

/// The `WWW-Authenticate` challenge sent with every 401.
pub const CHALLENGE: &str = "Basic realm=\"pbx365\", charset=\"UTF-8\"";

/// Why a request failed, independent of how the client is told.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No or wrong credentials.
    #[error("authentication required: send the credentials pbx365 issued, as HTTP basic auth or ?token=username:secret")]
    Unauthorized,
    /// The principal may not see this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Malformed input; the text says what was wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such site, entry or phonebook.
    #[error("not found: {0}")]
    NotFound(String),
    /// The directory behind the service failed; details are logged, not shown.
    #[error("directory unavailable, try again later")]
    Unavailable,
    /// The client sent more requests than its rate allows.
    #[error("too many requests: retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next request will be accepted.
        retry_after: u64,
    },
    /// The server is at its concurrency limit.
    #[error("server busy, try again shortly")]
    Busy,
    /// The request took longer than the configured timeout.
    #[error("the directory took too long to answer, try again shortly")]
    TimedOut,
}

impl HttpError {
    /// The HTTP status for the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable | Self::Busy | Self::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A short machine-readable code, as the JSON error carries it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Unavailable => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy => "busy",
            Self::TimedOut => "timeout",
        }
    }
}

impl From<ServiceError> for HttpError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidCredentials => Self::Unauthorized,
            ServiceError::Forbidden(why) => Self::Forbidden(why),
            ServiceError::BadRequest(why) => Self::BadRequest(why),
            ServiceError::UnknownSite(site) => Self::NotFound(format!("site {site:?}")),
            ServiceError::Unavailable(why) => {
                tracing::warn!(error = %why, "directory unavailable");
                Self::Unavailable
            }
        }
    }
}

/// How a route reports errors, chosen from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `/api/v1/…`: a JSON error object.
    Api,
    /// `/lookup`: the status with an empty body.
    CallerId,
    /// `/cisco/…`: a `CiscoIPPhoneText` the phone displays.
    Cisco,
    /// `/gigaset/…`: the phonebook-search `<error>` document.
    Gigaset,
    /// Everything else (other phones, exports): a line of plain text.
    Text,
}

impl Flavour {
    /// The flavour of a request path (with or without the `/sites/{site}` prefix).
    pub fn of_path(path: &str) -> Self {
        if path.contains("/api/") {
            Self::Api
        } else if path.ends_with("/lookup") {
            Self::CallerId
        } else if path.contains("/cisco/") {
            Self::Cisco
        } else if path.contains("/gigaset/") {
            Self::Gigaset
        } else {
            Self::Text
        }
    }
}

/// An error bound to the way its client wants to hear about it; the handlers' error type.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: HttpError,
    /// How to say it.
    pub flavour: Flavour,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let retry_after = match self.error {
            HttpError::RateLimited { retry_after } => Some(retry_after),
            HttpError::Busy | HttpError::TimedOut => Some(1),
            _ => None,
        };
        let message = self.error.to_string();
        let mut response = match self.flavour {
            Flavour::Api => (
                status,
                axum::Json(serde_json::json!({
                    "error": {"status": status.as_u16(), "code": self.error.code(), "message": message}
                })),
            )
                .into_response(),
            Flavour::CallerId => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "",
            )
                .into_response(),
            Flavour::Cisco => {
                let mut xml = XmlWriter::new();
                xml.open("CiscoIPPhoneText", &[])
                    .leaf("Title", "Directory")
                    .leaf("Text", &message)
                    .close("CiscoIPPhoneText");
                (status, [(header::CONTENT_TYPE, XML)], xml.finish()).into_response()
            }
            Flavour::Gigaset => {
                // Error 6 is "service not available", the one code the bases are known to show.
                let mut xml = XmlWriter::new();
                xml.open("error", &[("response", "get_list"), ("type", "pb")])
                    .leaf("errorid", "6")
                    .close("error");
                (status, [(header::CONTENT_TYPE, XML)], xml.finish()).into_response()
            }
            Flavour::Text => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{message}\n"),
            )
                .into_response(),
        };
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The Content-Type of every XML phonebook.
pub const XML: &str = "text/xml; charset=utf-8";
