//! Delta for contacts (per folder; also the undocumented default-folder form
//! `/users/{user}/contacts/delta`) and for contact folders, by Graph's protocol: follow
//! `@odata.nextLink` (`$skiptoken`) until `@odata.deltaLink` (`$deltatoken`); later rounds
//! return created and updated items whole and removed ones as `@removed`. A contact moved out
//! of the folder shows as removed there. Outlook delta tokens do not expire by time; a garbled
//! token answers `garbled_token_status`, and `/_sim/mailboxes/{user}/reset-sync-state` makes
//! every earlier token of the mailbox answer 410 (`syncStateNotFound`), as Exchange does
//! when it drops a sync state. Quirks from `Behaviour`: empty pages, duplicates, shuffled
//! pages and replayed rounds.

use super::access::{self, Need};
use super::contacts::{contact_json, select_contact, with_id_preference};
use super::ids;
use super::Target;
use crate::caller::Caller;
use crate::collection::Entry;
use crate::control::SimAdmin;
use crate::error::{GraphError, GraphResult};
use crate::model::{Contact, ContactFolder};
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Which collection a delta round walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Contacts,
    Folders,
}

/// What a skip or delta token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Token {
    k: Kind,
    /// Mailbox owner (user id).
    u: String,
    /// Folder (contacts rounds).
    f: String,
    /// Versions already synced (None = initial round).
    s: Option<u64>,
    /// `s` of the round before (for replays).
    p: Option<u64>,
    /// Snapshot version of the round (changes after it wait for the next round).
    t: u64,
    /// Last canonical id sent in this round.
    c: Option<String>,
    /// `$select` of the first request.
    sel: Vec<String>,
    /// Page size asked for.
    n: Option<usize>,
    /// Whether this is a delta token (round complete).
    d: bool,
    /// An empty page was already served at this position.
    e: bool,
}

/// Invalidates every delta token issued so far for the mailbox of `user_id`.
pub fn reset_sync_state(state: &AppState, user_id: &str) {
    let mut t = state.tenant.write();
    let v = t.bump();
    if let Some(m) = t.mailboxes.get_mut(user_id) {
        m.sync_reset_at = v;
    }
}

/// True with probability `p` (0 for anything that is not a probability).
fn chance(rng: &mut impl Rng, p: f64) -> bool {
    p.is_finite() && p > 0.0 && rng.gen_bool(p.min(1.0))
}

fn garbled(state: &AppState) -> GraphError {
    let status = state.behaviour.read().garbled_token_status;
    GraphError::new(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        "ErrorInvalidSyncStateData",
        "The sync state data is corrupt or otherwise invalid.",
    )
}

enum Row {
    Item(Map<String, Value>),
    Removed(String),
}

fn contact_row(
    e: &Entry<Contact>,
    folder: &str,
    since: Option<u64>,
    upto: u64,
    imm: bool,
) -> Option<Option<String>> {
    // Some(None) = send whole; Some(Some(id)) = send as removed; None = skip.
    if e.version > upto {
        return None;
    }
    let here = e.is_live() && e.value.parent_folder_id.as_deref() == Some(folder);
    match since {
        None => here.then_some(None),
        Some(s) => {
            if e.version <= s {
                None
            } else if here {
                Some(None)
            } else if e.created <= s && ids::folder_at(&e.value, s) == folder {
                Some(Some(ids::wire_in(&e.value, folder, imm)))
            } else {
                None
            }
        }
    }
}

fn folder_row(e: &Entry<ContactFolder>, since: Option<u64>, upto: u64) -> Option<bool> {
    // Some(true) = whole, Some(false) = removed.
    if e.version > upto {
        return None;
    }
    match since {
        None => e.is_live().then_some(true),
        Some(s) if e.version <= s => None,
        Some(s) => {
            if e.is_live() {
                Some(true)
            } else {
                (e.created <= s).then_some(false)
            }
        }
    }
}

fn check_query(ctx: &RequestCtx) -> GraphResult<()> {
    // `$top` is ignored (page size comes from `Prefer: odata.maxpagesize`), as Outlook does.
    for p in ["$filter", "$orderby", "$search", "$expand"] {
        if ctx.param(p).is_some() {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidUrlQuery",
                format!(
                    "The following parameters are not supported with change tracking over the 'Contacts' resource: '{p}'."
                ),
            ));
        }
    }
    Ok(())
}

/// Runs one delta request.
async fn round(
    state: AppState,
    caller: Caller,
    ctx: RequestCtx,
    user: String,
    folder: Option<String>,
    kind: Kind,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    check_query(&ctx)?;
    let given = ctx
        .param("$skiptoken")
        .or_else(|| ctx.param("$deltatoken"))
        .map(str::to_string);
    let (b_max, empty_rate, dup_rate, shuffle_rate, replay_rate) = {
        let b = state.behaviour.read();
        (
            b.outlook_delta_max_page_size.max(1),
            b.delta_empty_page_rate,
            b.delta_duplicate_rate,
            b.delta_shuffle_rate,
            b.delta_replay_rate,
        )
    };
    let (folder_id, now) = {
        let t = state.tenant.read();
        let mb = t
            .mailboxes
            .get(&acc.user_id)
            .ok_or_else(GraphError::mailbox_not_enabled)?;
        let f = match (&folder, kind) {
            (_, Kind::Folders) => String::new(),
            (None, Kind::Contacts) => mb.default_folder_id.clone(),
            (Some(f), Kind::Contacts) => {
                if !super::contacts::folder_exists(mb, f) {
                    return Err(GraphError::item_not_found());
                }
                f.clone()
            }
        };
        (f, t.version)
    };
    let mut tok = match &given {
        None => Token {
            k: kind,
            u: acc.user_id.clone(),
            f: folder_id.clone(),
            s: None,
            p: None,
            t: now,
            c: None,
            sel: ctx.select(),
            n: None,
            d: false,
            e: false,
        },
        Some(raw) => {
            let tok: Token = state.tokens.decode(raw).ok_or_else(|| garbled(&state))?;
            if tok.k != kind || tok.u != acc.user_id || tok.f != folder_id {
                return Err(garbled(&state));
            }
            tok
        }
    };
    let reset_at = state
        .tenant
        .read()
        .mailboxes
        .get(&acc.user_id)
        .map_or(0, |m| m.sync_reset_at);
    {
        if given.is_some() && tok.t < reset_at {
            let mut initial = ctx.url_for(&ctx.path);
            if !tok.sel.is_empty() {
                initial.push_str(&format!("?$select={}", tok.sel.join(",")));
            }
            return Err(GraphError::new(
                StatusCode::GONE,
                "syncStateNotFound",
                "The sync state of this mailbox was reset. Start again with a delta request without a token.",
            )
            .with_inner_code("resyncRequired")
            .with_header(http::header::LOCATION, initial));
        }
    }
    let mut rng = rand::thread_rng();
    if tok.d {
        // A delta token: start the next round from where the last one ended.
        let replay = tok.s.is_some() && chance(&mut rng, replay_rate);
        let since = if replay { tok.s } else { Some(tok.t) };
        tok = Token {
            p: tok.s,
            s: since,
            t: now,
            c: None,
            d: false,
            e: false,
            ..tok
        };
    }
    if let Some(n) = ctx.max_page_size() {
        tok.n = Some(n);
    }
    let page_size = tok.n.unwrap_or(b_max).clamp(1, b_max);
    let imm = ctx.immutable_ids();
    let base = ctx.url_for(&ctx.path);

    // Empty page with a nextLink, once per position.
    if !tok.e && chance(&mut rng, empty_rate) {
        let next = Token {
            e: true,
            ..tok.clone()
        };
        let body = json!({
            "@odata.context": context(&ctx, kind),
            "@odata.nextLink": format!("{base}?$skiptoken={}", state.tokens.encode(&next)),
            "value": [],
        });
        return Ok(finish(&ctx, body, page_size));
    }

    let mut rows = Vec::new();
    let mut last = None;
    let mut more = false;
    {
        let t = state.tenant.read();
        let mb = t
            .mailboxes
            .get(&acc.user_id)
            .ok_or_else(GraphError::mailbox_not_enabled)?;
        match kind {
            Kind::Contacts => {
                for e in mb.contacts.entries_after(tok.c.as_deref()) {
                    let Some(what) = contact_row(e, &tok.f, tok.s, tok.t, imm) else {
                        continue;
                    };
                    if rows.len() == page_size {
                        more = true;
                        break;
                    }
                    last = Some(e.value.id.clone());
                    rows.push(match what {
                        None => Row::Item(select_contact(contact_json(&e.value, imm), &tok.sel)?),
                        Some(id) => Row::Removed(id),
                    });
                }
            }
            Kind::Folders => {
                for e in mb.folders.entries_after(tok.c.as_deref()) {
                    let Some(whole) = folder_row(e, tok.s, tok.t) else {
                        continue;
                    };
                    if rows.len() == page_size {
                        more = true;
                        break;
                    }
                    last = Some(e.value.id.clone());
                    rows.push(if whole {
                        let Value::Object(obj) =
                            serde_json::to_value(&e.value).unwrap_or(Value::Null)
                        else {
                            continue;
                        };
                        let obj = if tok.sel.is_empty() {
                            obj
                        } else {
                            let mut o = crate::odata::project(
                                &obj,
                                &tok.sel,
                                "microsoft.graph.contactFolder",
                            )?;
                            o.insert("id".into(), Value::String(e.value.id.clone()));
                            o
                        };
                        Row::Item(obj)
                    } else {
                        Row::Removed(e.value.id.clone())
                    });
                }
            }
        }
    }
    let odata_type = match kind {
        Kind::Contacts => "#microsoft.graph.contact",
        Kind::Folders => "#microsoft.graph.contactFolder",
    };
    let mut value = Vec::new();
    for r in rows {
        let v = match r {
            Row::Item(o) => Value::Object(o),
            Row::Removed(id) => json!({
                "@odata.type": odata_type,
                "id": id,
                "@removed": {"reason": "deleted"},
            }),
        };
        if chance(&mut rng, dup_rate) {
            value.push(v.clone());
        }
        value.push(v);
    }
    if chance(&mut rng, shuffle_rate) {
        value.shuffle(&mut rng);
    }
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context(&ctx, kind)));
    if more {
        let next = Token {
            c: last,
            e: false,
            ..tok
        };
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!("{base}?$skiptoken={}", state.tokens.encode(&next))),
        );
    } else {
        let done = Token {
            c: None,
            d: true,
            e: false,
            ..tok
        };
        body.insert(
            "@odata.deltaLink".into(),
            Value::String(format!("{base}?$deltatoken={}", state.tokens.encode(&done))),
        );
    }
    body.insert("value".into(), Value::Array(value));
    Ok(finish(&ctx, Value::Object(body), page_size))
}

fn context(ctx: &RequestCtx, kind: Kind) -> String {
    ctx.url_for(match kind {
        Kind::Contacts => "/v1.0/$metadata#Collection(contact)",
        Kind::Folders => "/v1.0/$metadata#Collection(contactFolder)",
    })
}

fn finish(ctx: &RequestCtx, body: Value, page_size: usize) -> Response {
    let mut resp = with_id_preference(ctx, Json(body).into_response());
    if ctx.max_page_size().is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={page_size}")) {
            resp.headers_mut()
                .append(HeaderName::from_static("preference-applied"), v);
        }
    }
    resp
}

async fn folder_contacts(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
) -> GraphResult<Response> {
    round(state, caller, ctx, user, Some(folder), Kind::Contacts).await
}

async fn default_contacts(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    round(state, caller, ctx, user, None, Kind::Contacts).await
}

async fn folders(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    round(state, caller, ctx, user, None, Kind::Folders).await
}

async fn sim_reset(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Response {
    let id = state.tenant.read().find_user(&user).map(|u| u.id.clone());
    match id {
        Some(id) => {
            reset_sync_state(&state, &id);
            StatusCode::NO_CONTENT.into_response()
        }
        None => crate::control::ControlError(
            StatusCode::NOT_FOUND,
            format!("no user '{user}' in this tenant"),
        )
        .into_response(),
    }
}

/// The spellings of the delta function Graph accepts.
const DELTA: &[&str] = &[
    "delta",
    "delta()",
    "microsoft.graph.delta",
    "microsoft.graph.delta()",
];

/// Routes for delta under `prefix`.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    let mut r = axum::Router::new();
    for d in DELTA {
        r = r
            .route(
                &format!("{prefix}/contactFolders/{{folder}}/contacts/{d}"),
                get(folder_contacts),
            )
            .route(&format!("{prefix}/contacts/{d}"), get(default_contacts))
            .route(&format!("{prefix}/contactFolders/{d}"), get(folders));
    }
    r
}

/// The sync-state reset control.
pub fn sim_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/_sim/mailboxes/{user}/reset-sync-state", post(sim_reset))
}
