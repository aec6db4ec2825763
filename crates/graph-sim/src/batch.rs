//! JSON batching (`POST /v1.0/$batch`), as Graph runs it: up to 20 requests, unique ids
//! (case-insensitive), `dependsOn` ordering with 424 for dependents of failed requests, each
//! inner request dispatched through the whole emulator (so it is authorised, throttled and
//! logged as its own request, and a throttled one answers 429 with its own `Retry-After`),
//! Outlook requests at most four at a time, and an outer 200 once the batch parses. A batch
//! costs its inner requests' latency (run side by side), not a latency of its own on top.

use crate::odata::Scheme;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Most requests one batch may hold.
pub const MAX_REQUESTS: usize = 20;

/// Outlook inner requests of one batch running at the same time (DC throttling-limits.md).
pub const OUTLOOK_PARALLEL: usize = 4;

/// Routes of this service.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/v1.0/$batch", post(batch))
}

/// Whether a path is the batch endpoint (its envelope spends no latency of its own: the
/// inner requests spend theirs).
pub fn is_batch_path(path: &str) -> bool {
    path.eq_ignore_ascii_case("/v1.0/$batch")
}

/// One inner request as posted.
#[derive(Debug, Clone)]
struct Inner {
    id: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn bad(message: impl Into<String>) -> Response {
    crate::error::GraphError::bad_request(message).into_response()
}

/// Parses and checks the batch payload; `Err` is the whole batch's 400.
fn parse(body: &[u8]) -> Result<Vec<Inner>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid batch payload format: {e}"))?;
    let reqs = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or("Invalid batch payload format: the 'requests' array is missing.")?;
    if reqs.len() > MAX_REQUESTS {
        return Err(format!(
            "Invalid batch payload format: the batch holds {} requests; at most {MAX_REQUESTS} are allowed.",
            reqs.len()
        ));
    }
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for r in reqs {
        let field = |name: &str| {
            r.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or(format!(
                    "Invalid batch payload format: every request needs a non-empty '{name}'."
                ))
        };
        let id = field("id")?;
        if !ids.insert(id.to_ascii_lowercase()) {
            return Err(format!(
                "Invalid batch payload format: the request id '{id}' is used more than once."
            ));
        }
        let headers = match r.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), v)
                })
                .collect(),
            Some(_) => {
                return Err(format!(
                    "Invalid batch payload format: 'headers' of request '{id}' must be an object."
                ))
            }
        };
        let depends_on = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| d.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!(
                    "Invalid batch payload format: 'dependsOn' of request '{id}' must list ids."
                ))?,
            Some(_) => {
                return Err(format!(
                    "Invalid batch payload format: 'dependsOn' of request '{id}' must be an array."
                ))
            }
        };
        out.push(Inner {
            method: field("method")?.to_ascii_uppercase(),
            url: field("url")?,
            body: r.get("body").filter(|b| !b.is_null()).cloned(),
            id,
            headers,
            depends_on,
        });
    }
    for r in &out {
        for d in &r.depends_on {
            if !ids.contains(&d.to_ascii_lowercase()) {
                return Err(format!(
                    "Invalid batch payload format: request '{}' depends on '{d}', which is not in the batch.",
                    r.id
                ));
            }
        }
    }
    // Refuse cycles: repeatedly take requests whose dependencies are all taken.
    let mut taken: HashSet<String> = HashSet::new();
    while taken.len() < out.len() {
        let before = taken.len();
        for r in &out {
            if !taken.contains(&r.id.to_ascii_lowercase())
                && r.depends_on
                    .iter()
                    .all(|d| taken.contains(&d.to_ascii_lowercase()))
            {
                taken.insert(r.id.to_ascii_lowercase());
            }
        }
        if taken.len() == before {
            return Err("Invalid batch payload format: the dependsOn chain has a cycle.".into());
        }
    }
    Ok(out)
}

/// Maps an inner URL relative to the version (`/users`, `users/{id}`) to the emulator's path.
fn map_url(url: &str) -> Option<String> {
    if url.contains("://") {
        return None;
    }
    let rel = url.trim_start_matches('/');
    Some(format!("/v1.0/{rel}"))
}

/// Whether an inner request goes to Outlook (mailbox data), which runs four at a time.
fn is_outlook(path: &str) -> bool {
    let segs: Vec<String> = path
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/')
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    let rest = match segs.first().map(String::as_str) {
        Some("users") => segs.get(2),
        Some("me") => segs.get(1),
        _ => None,
    };
    rest.is_some_and(|s| {
        matches!(
            s.as_str(),
            "contacts"
                | "contactfolders"
                | "calendar"
                | "calendarview"
                | "events"
                | "mailboxsettings"
                | "photo"
                | "photos"
                | "sendmail"
                | "messages"
                | "mailfolders"
        )
    })
}

/// An inner error response in Graph's shape.
fn inner_error(id: &str, status: u16, code: &str, message: &str, date: &str) -> Value {
    let rid = uuid::Uuid::new_v4().to_string();
    json!({
        "id": id,
        "status": status,
        "headers": {"Content-Type": "application/json"},
        "body": {"error": {"code": code, "message": message,
            "innerError": {"date": date, "request-id": rid, "client-request-id": rid}}},
    })
}

/// What the inner requests inherit from the outer one.
#[derive(Clone)]
struct Outer {
    authorization: Option<http::HeaderValue>,
    host: Option<http::HeaderValue>,
    scheme: Option<Scheme>,
}

async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    scheme: Option<axum::Extension<Scheme>>,
    body: Bytes,
) -> Response {
    let requests = match parse(&body) {
        Ok(r) => r,
        Err(m) => return bad(m),
    };
    let Some(router) = state.router.get().cloned() else {
        return crate::error::GraphError::internal("the router is not ready").into_response();
    };
    let outer = Outer {
        authorization: headers.get(http::header::AUTHORIZATION).cloned(),
        host: headers.get(http::header::HOST).cloned(),
        scheme: scheme.map(|s| s.0),
    };
    let outlook = Arc::new(Semaphore::new(OUTLOOK_PARALLEL));
    let date = state.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut status: HashMap<String, u16> = HashMap::new();
    let mut remaining = requests;
    let mut responses = Vec::new();
    while !remaining.is_empty() {
        let (ready, rest): (Vec<Inner>, Vec<Inner>) = remaining.into_iter().partition(|r| {
            r.depends_on
                .iter()
                .all(|d| status.contains_key(&d.to_ascii_lowercase()))
        });
        remaining = rest;
        let mut runs = Vec::new();
        for r in ready {
            let failed_dep = r.depends_on.iter().any(|d| {
                status
                    .get(&d.to_ascii_lowercase())
                    .is_none_or(|s| !(200..300).contains(s))
            });
            if failed_dep {
                status.insert(r.id.to_ascii_lowercase(), 424);
                responses.push(inner_error(
                    &r.id,
                    424,
                    "FailedDependency",
                    "The request could not be completed because a request it depends on failed.",
                    &date,
                ));
                continue;
            }
            runs.push(run(
                router.clone(),
                outer.clone(),
                outlook.clone(),
                r,
                date.clone(),
            ));
        }
        for (id, st, resp) in futures_util::future::join_all(runs).await {
            status.insert(id.to_ascii_lowercase(), st);
            responses.push(resp);
        }
    }
    Json(json!({ "responses": responses })).into_response()
}

/// Runs one inner request through the router; returns (id, status, response object).
async fn run(
    router: axum::Router,
    outer: Outer,
    outlook: Arc<Semaphore>,
    r: Inner,
    date: String,
) -> (String, u16, Value) {
    let fail = |status: u16, code: &str, msg: &str| {
        (
            r.id.clone(),
            status,
            inner_error(&r.id, status, code, msg, &date),
        )
    };
    let Some(path) = map_url(&r.url) else {
        return fail(
            400,
            "BadRequest",
            "The url of a batch request must be relative, e.g. /users.",
        );
    };
    if path.to_ascii_lowercase().starts_with("/v1.0/$batch") {
        return fail(400, "BadRequest", "A batch cannot contain another batch.");
    }
    let content_type = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    let body_bytes = match (&r.body, &content_type) {
        (None, _) => Vec::new(),
        (Some(_), None) => {
            return fail(
                400,
                "BadRequest",
                "Content-Type header must be specified when a request has a body.",
            )
        }
        (Some(b), Some(ct)) if ct.to_ascii_lowercase().contains("json") => {
            b.to_string().into_bytes()
        }
        (Some(Value::String(s)), Some(_)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_else(|_| s.clone().into_bytes()),
        (Some(b), Some(_)) => b.to_string().into_bytes(),
    };
    let Ok(method) = http::Method::from_bytes(r.method.as_bytes()) else {
        return fail(400, "BadRequest", "Invalid HTTP method.");
    };
    let mut builder = http::Request::builder().method(method).uri(&path);
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("host") {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_str());
    }
    if let Some(a) = &outer.authorization {
        builder = builder.header(http::header::AUTHORIZATION, a.clone());
    }
    if let Some(h) = &outer.host {
        builder = builder.header(http::header::HOST, h.clone());
    }
    let Ok(mut req) = builder.body(Body::from(body_bytes)) else {
        return fail(
            400,
            "BadRequest",
            "The request's url or headers are invalid.",
        );
    };
    if let Some(s) = outer.scheme {
        req.extensions_mut().insert(s);
    }
    let _permit = if is_outlook(&path["/v1.0".len()..]) {
        outlook.acquire_owned().await.ok()
    } else {
        None
    };
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut hdrs = Map::new();
    for (k, v) in &parts.headers {
        if matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let Ok(s) = v.to_str() {
            hdrs.insert(header_name(k.as_str()), Value::String(s.to_string()));
        }
    }
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut out = json!({"id": r.id, "status": status.as_u16(), "headers": hdrs});
    if !bytes.is_empty() {
        out["body"] = if ct.contains("json") {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else if ct.starts_with("text/") {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes))
        };
    }
    (r.id.clone(), status.as_u16(), out)
}

/// Header names as Graph writes them in batch responses (`Retry-After`, `Content-Type`).
fn header_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlook_paths_are_recognised() {
        assert!(is_outlook("/users/u/contacts"));
        assert!(is_outlook("/me/contactFolders/f/contacts?$top=5"));
        assert!(!is_outlook("/users/u"));
        assert!(!is_outlook("/users"));
        assert_eq!(map_url("users/x").as_deref(), Some("/v1.0/users/x"));
        assert_eq!(map_url("https://graph.microsoft.com/v1.0/users"), None);
        assert_eq!(header_name("retry-after"), "Retry-After");
    }

    #[test]
    fn parse_refuses_duplicates_unknown_deps_and_cycles() {
        let dup = br#"{"requests":[{"id":"a","method":"GET","url":"/users"},{"id":"A","method":"GET","url":"/users"}]}"#;
        assert!(parse(dup).is_err());
        let unknown =
            br#"{"requests":[{"id":"a","method":"GET","url":"/users","dependsOn":["z"]}]}"#;
        assert!(parse(unknown).is_err());
        let cycle = br#"{"requests":[{"id":"a","method":"GET","url":"/u","dependsOn":["b"]},{"id":"b","method":"GET","url":"/u","dependsOn":["a"]}]}"#;
        assert!(parse(cycle).is_err());
    }
}
