//! Typed errors: Entra's token-endpoint errors ([`AuthError`]) with advice a person can act on,
//! and Graph's errors ([`GraphError`]) carrying the request id Microsoft support asks for.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// An error answered by Entra's token or device-code endpoint (or met while preparing a
/// token request), parsed from its `{error, error_codes, error_description, trace_id}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// OAuth error (`invalid_client`, `invalid_grant`, …) or a local kind (`invalid_credential`).
    pub error: String,
    /// AADSTS codes (`7000215`, …).
    pub codes: Vec<u32>,
    /// Entra's description (first line only; the trace lines are in `trace_id`).
    pub description: String,
    /// Entra's trace id, to quote to Microsoft support.
    pub trace_id: Option<String>,
}

#[derive(Deserialize)]
struct EntraBody {
    error: String,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    trace_id: Option<String>,
}

impl AuthError {
    /// Parses an Entra error body; a body that is not one becomes an `unexpected_response`.
    pub fn from_body(status: u16, body: &[u8]) -> AuthError {
        match serde_json::from_slice::<EntraBody>(body) {
            Ok(b) => AuthError {
                status: Some(status),
                error: b.error,
                codes: b.error_codes,
                description: b
                    .error_description
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                trace_id: b.trace_id,
            },
            Err(_) => AuthError {
                status: Some(status),
                error: "unexpected_response".into(),
                codes: Vec::new(),
                description: format!(
                    "the token endpoint answered HTTP {status} with a body that is not an Entra error: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
                trace_id: None,
            },
        }
    }

    /// A local problem (unreadable certificate, unreachable endpoint) in the same shape.
    pub fn local(error: &str, description: impl Into<String>) -> AuthError {
        AuthError {
            status: None,
            error: error.into(),
            codes: Vec::new(),
            description: description.into(),
            trace_id: None,
        }
    }

    /// Whether Entra answered with this AADSTS code.
    pub fn has_code(&self, code: u32) -> bool {
        self.codes.contains(&code)
    }

    /// What the admin should do about it, for the codes pbx365 users meet.
    pub fn advice(&self) -> Option<&'static str> {
        let advice = |code| {
            match code {
            7000215 => Some("the client secret is wrong: paste the secret's Value, not its Secret ID"),
            7000222 => Some("the client secret has expired: create a new one under Certificates & secrets and configure it"),
            700016 => Some("no app with this client id exists in this tenant: check the client id and tenant id, and that the app was consented in this tenant"),
            90002 => Some("the tenant was not found: check the tenant id or domain"),
            700027 => Some("the certificate assertion was refused: upload this certificate to the app registration and check its private key matches"),
            65001 | 90094 => Some("admin consent is missing: an administrator must grant consent for the app's permissions"),
            _ => None,
        }
        };
        self.codes.iter().find_map(|c| advice(*c))
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.advice() {
            Some(a) => write!(f, "sign-in to Microsoft Entra failed: {a} ({})", self.error)?,
            None => write!(f, "sign-in to Microsoft Entra failed: {}", self.error)?,
        }
        if !self.codes.is_empty() {
            let codes: Vec<String> = self.codes.iter().map(|c| format!("AADSTS{c}")).collect();
            write!(f, " [{}]", codes.join(", "))?;
        }
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, " (trace id {t})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthError {}

/// Everything a Graph call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status and (usually) its error body.
    #[error("Graph answered HTTP {status} {code}: {message}{} (request id {})", hint(code), request_id.as_deref().unwrap_or("unknown"))]
    Api {
        /// HTTP status.
        status: u16,
        /// Graph's error code (`Authorization_RequestDenied`, `ErrorItemNotFound`, …).
        code: String,
        /// Graph's message.
        message: String,
        /// `request-id` of the failed request.
        request_id: Option<String>,
        /// `client-request-id` we sent (echoed back).
        client_request_id: Option<String>,
        /// `Retry-After`, when Graph sent one.
        retry_after: Option<Duration>,
    },
    /// Still throttled (429) after every retry allowed.
    #[error("Graph kept throttling the request (429) after {retries} retries; slow down or retry later (request id {})", request_id.as_deref().unwrap_or("unknown"))]
    Throttled {
        /// Retries made.
        retries: u32,
        /// The last `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// `request-id` of the last answer.
        request_id: Option<String>,
    },
    /// No answer within the request time-out.
    #[error("Graph did not answer {url} in time")]
    Timeout {
        /// What was requested.
        url: String,
    },
    /// The connection failed (refused, reset, TLS).
    #[error("could not reach {url}: {message}")]
    Transport {
        /// What was requested.
        url: String,
        /// The cause.
        message: String,
    },
    /// The answer could not be read or parsed (truncated or garbled body, unexpected shape).
    #[error("Graph's answer from {url} could not be read: {message} (request id {})", request_id.as_deref().unwrap_or("unknown"))]
    Decode {
        /// What was requested.
        url: String,
        /// The cause.
        message: String,
        /// `request-id` of the answer.
        request_id: Option<String>,
    },
    /// No token could be had.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request was not one we can send (bad configuration, duplicate batch ids, …).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl GraphError {
    /// Graph's `request-id`, when known.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::Api { request_id, .. }
            | GraphError::Throttled { request_id, .. }
            | GraphError::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Graph's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api { code, .. } => Some(code),
            GraphError::Throttled { .. } => Some("TooManyRequests"),
            _ => None,
        }
    }

    /// HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api { status, .. } => Some(*status),
            GraphError::Throttled { .. } => Some(429),
            _ => None,
        }
    }
}

/// Advice for the Graph error codes an admin can fix.
fn hint(code: &str) -> &'static str {
    match code {
        "Authorization_RequestDenied" | "ErrorAccessDenied" => {
            " — the app lacks this application permission, admin consent, or (for mailboxes) an Exchange application access policy allows it"
        }
        "MailboxNotEnabledForRESTAPI" => " — this user has no Exchange Online mailbox",
        "InvalidAuthenticationToken" => " — the token was refused; check the tenant and the app",
        _ => "",
    }
}

#[derive(Deserialize)]
struct GraphBody {
    error: GraphBodyError,
}

#[derive(Deserialize)]
struct GraphBodyError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
    #[serde(default, rename = "client-request-id")]
    client_request_id: Option<String>,
}

/// Builds [`GraphError::Api`] from a status, the response's ids and its body (Graph's
/// `{"error":{code,message,innerError}}` envelope, or anything else).
pub(crate) fn api_error(
    status: u16,
    header_request_id: Option<String>,
    header_client_request_id: Option<String>,
    retry_after: Option<Duration>,
    body: &[u8],
) -> GraphError {
    let (code, message, inner_rid, inner_crid) = match serde_json::from_slice::<GraphBody>(body) {
        Ok(b) => {
            let (rid, crid) = b
                .error
                .inner
                .map(|i| (i.request_id, i.client_request_id))
                .unwrap_or_default();
            (b.error.code, b.error.message, rid, crid)
        }
        Err(_) => (
            format!("HTTP{status}"),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            None,
            None,
        ),
    };
    GraphError::Api {
        status,
        code,
        message,
        request_id: header_request_id.or(inner_rid),
        client_request_id: header_client_request_id.or(inner_crid),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_body_parsed_with_advice() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t1","error_codes":[7000215],"trace_id":"t1"}"#;
        let e = AuthError::from_body(401, body);
        assert_eq!(e.codes, vec![7000215]);
        assert_eq!(
            e.description,
            "AADSTS7000215: Invalid client secret provided."
        );
        let shown = e.to_string();
        assert!(shown.contains("not its Secret ID"), "{shown}");
        assert!(shown.contains("trace id t1"), "{shown}");
    }

    #[test]
    fn graph_body_parsed() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges","innerError":{"request-id":"r1","client-request-id":"c1"}}}"#;
        match api_error(403, None, None, None, body) {
            GraphError::Api {
                code,
                request_id,
                client_request_id,
                ..
            } => {
                assert_eq!(code, "Authorization_RequestDenied");
                assert_eq!(request_id.as_deref(), Some("r1"));
                assert_eq!(client_request_id.as_deref(), Some("c1"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
