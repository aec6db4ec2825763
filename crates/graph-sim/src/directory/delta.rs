//! The directory delta engine (`users/delta`, `groups/delta`, `contacts/delta`), one generic
//! implementation over a versioned [`Collection`].
//!
//! A round snapshots the tenant version when it starts; its pages walk the collection in id
//! order behind a `$skiptoken` (cursor + round state) and end with a `$deltatoken` whose
//! "since" is that snapshot, so changes made while paging come (again) in the next round and
//! none is missed. Query options go only in the first request and are baked into the tokens.
//! Graph's documented irregularities (empty pages, duplicates, shuffled pages, replayed
//! rounds) are switched on through `Behaviour`.

use super::filter::{self, CmpOp, Expr, Lit};
use super::paging::garbled_token;
use super::{Kind, Node, Ordered};
use crate::collection::{Collection, Entity};
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use axum::response::{IntoResponse, Response};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Most ids a delta `$filter` may name.
pub const MAX_FILTER_IDS: usize = 50;

/// `members@delta` entries of an entity since a version (`None`: all current members).
pub type MembersDelta = fn(&TenantData, &str, Option<u64>) -> Vec<Value>;

/// How one entity set plugs into the engine.
pub struct DeltaSpec<T: 'static> {
    /// The type's description.
    pub kind: Kind,
    /// Its collection in the tenant.
    pub collection: fn(&TenantData) -> &Collection<T>,
    /// `members@delta` entries for an entity since a version (`None`: all current members);
    /// `Some` only for groups, enabled by selecting `members`.
    pub members: Option<MembersDelta>,
}

/// The state a skip or delta token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeltaState {
    /// Entity set the token belongs to.
    k: String,
    /// `true` for a `$deltatoken`, `false` for a `$skiptoken`.
    d: bool,
    /// `$select` (tracked properties; empty = the default set).
    sel: Vec<String>,
    /// Whether `members` was selected (groups).
    mem: bool,
    /// `$filter` ids.
    ids: Option<Vec<String>>,
    /// Versions after this one are reported; `None` = initial round (everything).
    since: Option<u64>,
    /// The `since` of the round before (for replays).
    prev: Option<u64>,
    /// Tenant version when this round started.
    upto: u64,
    /// Last id served in this round.
    cur: Option<String>,
    /// Emulated unix time the token was issued.
    at: i64,
    /// Path and query of the initial request (for the `Location` of a reset).
    loc: String,
    /// Empty pages served in a row (bounded).
    empties: u8,
    /// This round's pages are shuffled.
    shuffle: bool,
}

fn ids_of(e: &Expr, out: &mut Vec<String>) -> bool {
    let is_id = |p: &[String]| p.len() == 1 && p[0].eq_ignore_ascii_case("id");
    match e {
        Expr::Or(a, b) => ids_of(a, out) && ids_of(b, out),
        Expr::Cmp(p, CmpOp::Eq, Lit::Str(s)) if is_id(p) => {
            out.push(s.clone());
            true
        }
        Expr::In(p, lits) if is_id(p) => lits.iter().all(|l| match l {
            Lit::Str(s) => {
                out.push(s.clone());
                true
            }
            _ => false,
        }),
        _ => false,
    }
}

/// Reads the options of an initial delta request into a fresh round state.
fn initial<T>(
    state: &AppState,
    ctx: &RequestCtx,
    spec: &DeltaSpec<T>,
    version: u64,
) -> GraphResult<DeltaState> {
    // `$top` is silently ignored by directory delta (page size comes from `Prefer:
    // odata.maxpagesize`): microsoftgraph/microsoft-graph-docs#17516, #7160.
    for opt in ["$orderby", "$expand", "$search", "$count", "$skip"] {
        if ctx.param(opt).is_some() {
            return Err(GraphError::unsupported_query(format!(
                "The query parameter '{opt}' is not supported with change tracking over the '{}' resource.",
                spec.kind.set
            )));
        }
    }
    let mut sel = ctx.select();
    let mut mem = false;
    if spec.members.is_some() {
        let before = sel.len();
        sel.retain(|s| !s.eq_ignore_ascii_case("members"));
        mem = sel.len() != before;
    }
    spec.kind.check_select(&sel, false)?;
    let mut sel: Vec<String> = sel
        .iter()
        .filter_map(|s| spec.kind.declared(s).map(|(c, _)| c.to_string()))
        .collect();
    if mem && sel.is_empty() {
        // `$select=members` alone: track membership only.
        sel.push("id".into());
    }
    let ids = match ctx.param("$filter") {
        None => None,
        Some(src) => {
            let e = filter::parse(src).map_err(|e| e.into_graph())?;
            let mut ids = Vec::new();
            if !ids_of(&e, &mut ids) {
                return Err(GraphError::unsupported_query(
                    "Change tracking supports $filter only on 'id', as 'id eq' clauses joined by 'or'.",
                ));
            }
            if ids.len() > MAX_FILTER_IDS {
                return Err(GraphError::unsupported_query(format!(
                    "Too many object ids in the filter: at most {MAX_FILTER_IDS} are supported."
                )));
            }
            Some(ids)
        }
    };
    let full = ctx.link_with(&[("$skiptoken", ""), ("$deltatoken", "")]);
    Ok(DeltaState {
        k: spec.kind.set.to_string(),
        d: false,
        sel,
        mem,
        ids,
        since: None,
        prev: None,
        upto: version,
        cur: None,
        at: state.clock.unix(),
        loc: full.strip_prefix(&ctx.origin).unwrap_or(&full).to_string(),
        empties: 0,
        shuffle: false,
    })
}

fn expired(state: &AppState, ctx: &RequestCtx, loc: &str) -> GraphError {
    let status = state.behaviour.read().expired_delta_status;
    GraphError::new(
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::GONE),
        "syncStateNotFound",
        "The delta token has expired and its sync state can no longer be found. Start a full synchronization from the URL in the Location header.",
    )
    .with_header(http::header::LOCATION, ctx.url_for(loc))
}

/// Answers a delta request (any page of any round).
pub fn serve<T: Entity>(
    state: &AppState,
    ctx: &RequestCtx,
    spec: &DeltaSpec<T>,
) -> GraphResult<Response> {
    let b = state.behaviour.read().clone();
    let t = state.tenant.read();
    let mut rng = rand::thread_rng();
    let decode = |tok: &str, want_delta: bool| -> GraphResult<DeltaState> {
        match state.tokens.decode::<DeltaState>(tok) {
            Some(s) if s.k == spec.kind.set && s.d == want_delta => Ok(s),
            _ => Err(garbled_token(
                state,
                if want_delta {
                    "$deltatoken"
                } else {
                    "$skiptoken"
                },
            )),
        }
    };
    let mut st = if let Some(tok) = ctx.param("$skiptoken") {
        decode(tok, false)?
    } else if let Some(tok) = ctx.param("$deltatoken") {
        if tok.trim().eq_ignore_ascii_case("latest") {
            let mut st = initial(state, ctx, spec, t.version)?;
            st.since = Some(t.version);
            st.d = true;
            let link = ctx.url_for(&format!(
                "{}?$deltatoken={}",
                ctx.path,
                state.tokens.encode(&st)
            ));
            let mut body = Ordered::default();
            body.push("@odata.context", spec.kind.context(ctx, &st.sel, false));
            body.push("@odata.deltaLink", link);
            body.0.push(("value".into(), Node::List(Vec::new())));
            return Ok(axum::Json(body).into_response());
        }
        let mut st = decode(tok, true)?;
        if state.clock.unix() - st.at > b.directory_delta_token_days * 86_400 {
            return Err(expired(state, ctx, &st.loc));
        }
        // A new incremental round.
        let prev = st.prev;
        st.prev = st.since;
        if prev.is_some() && rng.gen_bool(b.delta_replay_rate.clamp(0.0, 1.0)) {
            st.since = prev;
        }
        st.d = false;
        st.upto = t.version;
        st.cur = None;
        st.empties = 0;
        st.shuffle = rng.gen_bool(b.delta_shuffle_rate.clamp(0.0, 1.0));
        st
    } else {
        let mut st = initial(state, ctx, spec, t.version)?;
        st.shuffle = rng.gen_bool(b.delta_shuffle_rate.clamp(0.0, 1.0));
        st
    };

    let page_size = ctx
        .max_page_size()
        .unwrap_or(b.directory_delta_page_size)
        .min(b.directory_delta_page_size)
        .max(1);
    let minimal = ctx.prefers("return=minimal");
    let context = spec.kind.context(ctx, &st.sel, false);
    let next_link = |st: &DeltaState| {
        ctx.url_for(&format!(
            "{}?$skiptoken={}",
            ctx.path,
            state.tokens.encode(st)
        ))
    };

    if st.empties < 3 && rng.gen_bool(b.delta_empty_page_rate.clamp(0.0, 1.0)) {
        st.empties += 1;
        let mut body = Ordered::default();
        body.push("@odata.context", context);
        body.push("@odata.nextLink", next_link(&st));
        body.0.push(("value".into(), Node::List(Vec::new())));
        return Ok(axum::Json(body).into_response());
    }
    st.empties = 0;

    let tracked: BTreeSet<String> = if st.sel.is_empty() {
        match spec.kind.defaults {
            Some(d) => d.iter().map(|s| s.to_string()).collect(),
            None => spec
                .kind
                .declared
                .iter()
                .map(|(n, _)| n.to_string())
                .collect(),
        }
    } else {
        st.sel.iter().cloned().collect()
    };
    let coll = (spec.collection)(&t);
    let mut value: Vec<Ordered> = Vec::new();
    let mut last: Option<String> = None;
    let mut more = false;
    for e in coll.entries_after(st.cur.as_deref()) {
        let id = e.value.id();
        if let Some(ids) = &st.ids {
            if !ids.iter().any(|i| i.eq_ignore_ascii_case(id)) {
                continue;
            }
        }
        let Some(item) = render_entry(&t, spec, &st, e, &tracked, minimal)? else {
            continue;
        };
        let item = spec.kind.order(item, &st.sel);
        if value.len() >= page_size {
            more = true;
            break;
        }
        if rng.gen_bool(b.delta_duplicate_rate.clamp(0.0, 1.0)) {
            value.push(item.clone());
        }
        value.push(item);
        last = Some(id.to_string());
    }
    if st.shuffle {
        value.shuffle(&mut rng);
    }
    let mut body = Ordered::default();
    body.push("@odata.context", context);
    if more {
        st.cur = last;
        body.push("@odata.nextLink", next_link(&st));
    } else {
        let done = DeltaState {
            d: true,
            since: Some(st.upto),
            prev: st.since,
            cur: None,
            at: state.clock.unix(),
            empties: 0,
            shuffle: false,
            ..st
        };
        let link = ctx.url_for(&format!(
            "{}?$deltatoken={}",
            ctx.path,
            state.tokens.encode(&done)
        ));
        body.push("@odata.deltaLink", link);
    }
    body.0.push(("value".into(), Node::List(value)));
    let mut resp = axum::Json(body).into_response();
    if minimal {
        resp.headers_mut().insert(
            "preference-applied",
            http::HeaderValue::from_static("return=minimal"),
        );
    }
    Ok(resp)
}

/// One entry as this round reports it, or `None` when it has nothing to report.
fn render_entry<T: Entity>(
    t: &TenantData,
    spec: &DeltaSpec<T>,
    st: &DeltaState,
    e: &crate::collection::Entry<T>,
    tracked: &BTreeSet<String>,
    minimal: bool,
) -> GraphResult<Option<Map<String, Value>>> {
    let id = e.value.id().to_string();
    if let Some(since) = st.since {
        let members_changed = st.mem
            && spec
                .members
                .is_some_and(|m| !m(t, &id, Some(since)).is_empty());
        if e.version <= since && !members_changed {
            return Ok(None);
        }
    }
    if let Some(reason) = e.removed {
        if st.since.is_some_and(|s| e.version <= s) {
            return Ok(None);
        }
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id));
        m.insert(
            "@removed".into(),
            serde_json::json!({"reason": reason.as_str()}),
        );
        return Ok(Some(m));
    }
    let obj = super::to_map(&e.value);
    let changed = st.since.and_then(|s| e.changed_since(s));
    let members = match (st.mem, spec.members) {
        (true, Some(m)) => m(t, &id, st.since),
        _ => Vec::new(),
    };
    let mut out = Map::new();
    match &changed {
        Some(props) if e.version > st.since.unwrap_or(0) || !members.is_empty() => {
            let hit: Vec<&String> = props.iter().filter(|p| tracked.contains(*p)).collect();
            if hit.is_empty() && members.is_empty() {
                return Ok(None);
            }
            if minimal {
                for p in hit {
                    out.insert(p.clone(), obj.get(p).cloned().unwrap_or(Value::Null));
                }
            } else {
                full(spec, st, &obj, &mut out)?;
                // "At least the properties that changed": a cleared property shows as null.
                for p in hit {
                    out.entry(p.clone()).or_insert(Value::Null);
                }
            }
        }
        _ => full(spec, st, &obj, &mut out)?,
    }
    out.insert("id".into(), Value::String(id));
    if !members.is_empty() {
        out.insert("members@delta".into(), Value::Array(members));
    }
    Ok(Some(out))
}

/// The full representation of the tracked set, leaving out properties that are not set.
fn full<T>(
    spec: &DeltaSpec<T>,
    st: &DeltaState,
    obj: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> GraphResult<()> {
    let rendered = spec.kind.render(obj, &st.sel, false)?;
    for (k, v) in rendered {
        if !v.is_null() {
            out.insert(k, v);
        }
    }
    Ok(())
}
