//! Pages of a directory collection: `$top` items, an opaque `$skiptoken`, and an absolute
//! `@odata.nextLink` that repeats every original query option (Graph's paging contract).

use super::query::ListQuery;
use super::{to_map, Kind, Node, Ordered};
use crate::collection::{Collection, Entity};
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

/// Serves the requested page of a whole directory collection under `q`. In id order it walks
/// from the cursor and evaluates `$filter`/`$search` only as far as the page needs (so paging
/// through N entities costs O(N) overall); under `$orderby` it sorts and pages by offset.
pub fn list_collection<T: Entity>(
    state: &AppState,
    ctx: &RequestCtx,
    coll: &Collection<T>,
    kind: &Kind,
    q: &ListQuery,
) -> GraphResult<Ordered> {
    let sel = &q.select;
    let render = |o: &Map<String, Value>| -> GraphResult<Ordered> {
        Ok(kind.order(kind.render(o, sel, false)?, sel))
    };
    let spec = PageSpec {
        scope: kind.set.to_string(),
        context: kind.context(ctx, sel, false),
        top: q.top,
        id_order: q.orderby.is_none(),
        count: None,
        render: &render,
    };
    if q.orderby.is_some() {
        let items = q.apply(coll.live().map(to_map).collect());
        let spec = PageSpec {
            count: q.count.then_some(items.len()),
            ..spec
        };
        return page(state, ctx, &items, spec);
    }
    let after = match ctx.param("$skiptoken") {
        None => None,
        Some(tok) => match state.tokens.decode::<Skip>(tok) {
            Some(Skip { s, a: Some(a), .. }) if s == spec.scope => Some(a),
            _ => return Err(bad_page_token(state)),
        },
    };
    let mut matched: Vec<Map<String, Value>> = Vec::with_capacity(q.top + 1);
    for e in coll.entries_after(after.as_deref()) {
        if !e.is_live() {
            continue;
        }
        let m = to_map(&e.value);
        if q.keeps(&m) {
            matched.push(m);
            if matched.len() > q.top {
                break;
            }
        }
    }
    let more = matched.len() > q.top;
    matched.truncate(q.top);
    let mut out = Ordered::default();
    out.push("@odata.context", spec.context.clone());
    if after.is_none() && q.count {
        let total = coll.live().filter(|v| q.keeps(&to_map(*v))).count();
        out.push("@odata.count", total);
    }
    if more {
        let last = matched
            .last()
            .and_then(|m| m.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let tok = state.tokens.encode(&Skip {
            s: spec.scope.clone(),
            a: last,
            o: 0,
        });
        out.push("@odata.nextLink", ctx.link_with(&[("$skiptoken", &tok)]));
    }
    let value = matched
        .iter()
        .map(render)
        .collect::<GraphResult<Vec<_>>>()?;
    out.0.push(("value".into(), Node::List(value)));
    Ok(out)
}
