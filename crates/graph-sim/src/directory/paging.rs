//! Pages of a directory collection: `$top` items, an opaque `$skiptoken`, and an absolute
//! `@odata.nextLink` that repeats every original query option (Graph's paging contract).

use super::{Node, Ordered};
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the next page starts: after an id (id order) or at an offset (other orders).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Skip {
    /// Collection the token belongs to.
    s: String,
    /// Last id served (id order).
    a: Option<String>,
    /// Items served so far (other orders).
    o: usize,
}

/// Graph's answer to a garbled or forged skip/delta token (status from `Behaviour`).
pub fn garbled_token(state: &AppState, which: &str) -> GraphError {
    let status = state.behaviour.read().garbled_token_status;
    GraphError::new(
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST),
        "Request_BadRequest",
        format!("The specified {which} value is invalid or malformed."),
    )
}

/// Renders one full entity as a response item.
pub type Render<'a> = &'a dyn Fn(&Map<String, Value>) -> GraphResult<Ordered>;

/// The directory's answer to a list `$skiptoken` it cannot use (status from `Behaviour`).
pub fn bad_page_token(state: &AppState) -> GraphError {
    let status = state.behaviour.read().garbled_token_status;
    GraphError::new(
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST),
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

/// One page of a collection.
pub struct PageSpec<'a> {
    /// Token scope (e.g. `users`, `groups/{id}/members`).
    pub scope: String,
    /// `@odata.context`.
    pub context: String,
    /// Page size.
    pub top: usize,
    /// Whether items are in id order (cursor paging) rather than sorted otherwise.
    pub id_order: bool,
    /// `@odata.count` to add on the first page.
    pub count: Option<usize>,
    /// Renders one full entity as returned.
    pub render: Render<'a>,
}

/// Serves the page the request's `$skiptoken` points at (the first without one).
pub fn page(
    state: &AppState,
    ctx: &RequestCtx,
    items: &[Map<String, Value>],
    spec: PageSpec<'_>,
) -> GraphResult<Ordered> {
    let skip = match ctx.param("$skiptoken") {
        None => None,
        Some(tok) => match state.tokens.decode::<Skip>(tok) {
            Some(s) if s.s == spec.scope => Some(s),
            _ => return Err(bad_page_token(state)),
        },
    };
    let start = match &skip {
        None => 0,
        Some(Skip { a: Some(after), .. }) if spec.id_order => items
            .iter()
            .position(|o| o.get("id").and_then(Value::as_str).unwrap_or("") > after.as_str())
            .unwrap_or(items.len()),
        Some(s) => s.o.min(items.len()),
    };
    let end = (start + spec.top).min(items.len());
    let mut value = Vec::with_capacity(end - start);
    for o in &items[start..end] {
        value.push((spec.render)(o)?);
    }
    let mut out = Ordered::default();
    out.push("@odata.context", spec.context);
    if skip.is_none() {
        if let Some(n) = spec.count {
            out.push("@odata.count", n);
        }
    }
    if end < items.len() {
        let last = items[end - 1]
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let tok = state.tokens.encode(&Skip {
            s: spec.scope,
            a: last,
            o: end,
        });
        out.push("@odata.nextLink", ctx.link_with(&[("$skiptoken", &tok)]));
    }
    out.0.push(("value".into(), Node::List(value)));
    Ok(out)
}
