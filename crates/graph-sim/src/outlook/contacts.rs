//! Personal contacts: list (Outlook paging with `$top`/`$skip`, `$filter`, `$orderby`,
//! `$select`, `$count`), get, create, update, delete — in the default Contacts folder
//! (`/users/{user}/contacts`) and in any contact folder — and the shared write path that
//! `/_sim` uses too (every write bumps `changeKey` and `lastModifiedDateTime`, records a
//! version for delta, and publishes a change notification).

use super::access::{self, Need};
use super::ids;
use super::query::{matches, order_key, parse_filter};
use super::Target;
use crate::caller::Caller;
use crate::clock::graph_time;
use crate::collection::{apply_patch, PatchError, RemovedReason};
use crate::error::{GraphError, GraphResult};
use crate::model::Contact;
use crate::odata::{self, RequestCtx};
use crate::state::{AppState, Mailbox, TenantData};
use crate::subscriptions::{Change, ChangeType};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{Map, Value};

/// Largest `$top` Outlook accepts on contact lists.
pub const MAX_TOP: usize = 1000;

/// Properties a client may not set on a contact.
const READ_ONLY: &[&str] = &[
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "parentFolderId",
];

/// Why a write to a mailbox failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No such contact or folder.
    #[error("The specified object was not found in the store.")]
    NotFound,
    /// The body is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A folder of that name exists already.
    #[error("A folder with the specified name already exists.")]
    Conflict,
}

impl From<PatchError> for WriteError {
    fn from(e: PatchError) -> Self {
        WriteError::Invalid(e.to_string())
    }
}

impl From<WriteError> for GraphError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => GraphError::item_not_found(),
            WriteError::Invalid(m) => GraphError::bad_request(m),
            WriteError::Conflict => GraphError::new(
                StatusCode::CONFLICT,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            ),
        }
    }
}

/// The contact as Graph shows it: `@odata.etag` (from `changeKey`) and the id in the form asked.
pub fn contact_json(c: &Contact, immutable_ids: bool) -> Map<String, Value> {
    let mut obj = match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    obj.insert(
        "@odata.etag".into(),
        Value::String(format!("W/\"{}\"", c.change_key.as_deref().unwrap_or(""))),
    );
    obj.insert("id".into(), Value::String(ids::wire(c, immutable_ids)));
    obj
}

/// Applies `$select` to a contact (Outlook always keeps `id` and `@odata.etag`).
pub fn select_contact(
    obj: Map<String, Value>,
    select: &[String],
) -> GraphResult<Map<String, Value>> {
    if select.is_empty() {
        return Ok(obj);
    }
    let mut out = odata::project(&obj, select, "microsoft.graph.contact")?;
    if let Some(id) = obj.get("id") {
        out.insert("id".into(), id.clone());
    }
    Ok(out)
}

/// Whether `folder` is a contact folder of the mailbox (the default one included).
pub fn folder_exists(mb: &Mailbox, folder: &str) -> bool {
    folder == mb.default_folder_id || mb.folders.get(folder).is_some()
}

/// Finds the canonical id of a live contact named by `given` (regular or immutable id).
pub fn resolve(mb: &Mailbox, given: &str) -> Option<String> {
    ids::candidates(given)
        .into_iter()
        .find(|id| mb.contacts.get(id).is_some_and(|c| ids::names(c, given)))
}

/// Adds `Preference-Applied: IdType="ImmutableId"` when the request asked for immutable ids.
pub fn with_id_preference(ctx: &RequestCtx, mut resp: Response) -> Response {
    if ctx.immutable_ids() {
        resp.headers_mut().append(
            HeaderName::from_static("preference-applied"),
            HeaderValue::from_static("IdType=\"ImmutableId\""),
        );
    }
    resp
}

/// The change-notification resource path of a contact.
pub fn resource_path(mb: &Mailbox, user_id: &str, c: &Contact, id: &str) -> String {
    match c.parent_folder_id.as_deref() {
        Some(f) if f != mb.default_folder_id => {
            format!("Users/{user_id}/ContactFolders/{f}/Contacts/{id}")
        }
        _ => format!("Users/{user_id}/Contacts/{id}"),
    }
}

fn change(mb: &Mailbox, user_id: &str, c: &Contact, kind: ChangeType) -> Change {
    let id = ids::wire(c, false);
    Change {
        resource: resource_path(mb, user_id, c, &id),
        id,
        user_id: Some(user_id.to_string()),
        folder_id: c.parent_folder_id.clone(),
        odata_type: "#Microsoft.Graph.Contact".into(),
        change_type: kind,
    }
}

fn mailbox_mut<'a>(t: &'a mut TenantData, user_id: &str) -> Result<&'a mut Mailbox, WriteError> {
    t.mailboxes.get_mut(user_id).ok_or(WriteError::NotFound)
}

/// Creates a contact in `folder` (default folder when `None`) from a JSON body.
pub fn create(
    state: &AppState,
    user_id: &str,
    folder: Option<&str>,
    body: &Map<String, Value>,
) -> Result<Contact, WriteError> {
    let now = graph_time(state.clock.now());
    let (contact, ch) = {
        let mut t = state.tenant.write();
        let v = t.bump();
        let mb = mailbox_mut(&mut t, user_id)?;
        let folder = folder.unwrap_or(&mb.default_folder_id).to_string();
        if !folder_exists(mb, &folder) {
            return Err(WriteError::NotFound);
        }
        let mut body = body.clone();
        body.remove("parentFolderId");
        let (mut c, _) = apply_patch(&Contact::default(), &body, READ_ONLY)?;
        c.id = ids::new_contact_id();
        c.created_date_time = Some(now.clone());
        c.last_modified_date_time = Some(now);
        c.change_key = Some(ids::new_change_key());
        c.parent_folder_id = Some(folder);
        mb.contacts.insert(c.clone(), v);
        let ch = change(mb, user_id, &c, ChangeType::Created);
        (c, ch)
    };
    state.subscriptions.publish(ch);
    Ok(contact)
}

/// Updates a contact (canonical id) from a JSON merge patch; `parentFolderId` moves it when
/// `allow_move` (the `/_sim` path) and is refused otherwise.
pub fn update(
    state: &AppState,
    user_id: &str,
    id: &str,
    body: &Map<String, Value>,
    allow_move: bool,
) -> Result<Contact, WriteError> {
    let now = graph_time(state.clock.now());
    let (contact, ch) = {
        let mut t = state.tenant.write();
        let v = t.bump();
        let mb = mailbox_mut(&mut t, user_id)?;
        let old = mb.contacts.get(id).cloned().ok_or(WriteError::NotFound)?;
        let mut body = body.clone();
        let target = match body.remove("parentFolderId") {
            Some(Value::String(f)) if allow_move => Some(f),
            None => None,
            Some(_) if allow_move => {
                return Err(WriteError::Invalid(
                    "parentFolderId must be a folder id".into(),
                ))
            }
            Some(_) => return Err(PatchError::ReadOnly("parentFolderId".into()).into()),
        };
        let read_only: &[&str] = if allow_move { &[] } else { READ_ONLY };
        let (mut c, mut changed) = apply_patch(&old, &body, read_only)?;
        if let Some(f) = target {
            if !folder_exists(mb, &f) {
                return Err(WriteError::NotFound);
            }
            if old.parent_folder_id.as_deref() != Some(f.as_str()) {
                c.folder_moves
                    .push((v, old.parent_folder_id.clone().unwrap_or_default()));
                c.parent_folder_id = Some(f);
                changed.push("parentFolderId".into());
            }
        }
        c.change_key = Some(ids::new_change_key());
        c.last_modified_date_time = Some(now);
        changed.extend(["changeKey".to_string(), "lastModifiedDateTime".to_string()]);
        mb.contacts.replace(c.clone(), changed, v);
        let ch = change(mb, user_id, &c, ChangeType::Updated);
        (c, ch)
    };
    state.subscriptions.publish(ch);
    Ok(contact)
}

/// Deletes a contact (canonical id).
pub fn delete(state: &AppState, user_id: &str, id: &str) -> Result<(), WriteError> {
    let ch = {
        let mut t = state.tenant.write();
        let v = t.bump();
        let mb = mailbox_mut(&mut t, user_id)?;
        let c = mb.contacts.get(id).cloned().ok_or(WriteError::NotFound)?;
        mb.contacts.remove(id, RemovedReason::Deleted, v);
        change(mb, user_id, &c, ChangeType::Deleted)
    };
    state.subscriptions.publish(ch);
    Ok(())
}

/// Lists contacts of `folder` with Outlook's query options and `$skip` paging.
pub fn list_page(
    state: &AppState,
    ctx: &RequestCtx,
    user_id: &str,
    folder: Option<&str>,
    context_path: &str,
) -> GraphResult<Response> {
    let default_top = state.behaviour.read().outlook_default_page_size.max(1);
    let top = match ctx.param("$top") {
        None => default_top,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => (n as usize).min(MAX_TOP),
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid value '{v}' for query option '$top'."
                )))
            }
        },
    };
    let skip = match ctx.param("$skip") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            GraphError::bad_request(format!("Invalid value '{v}' for query option '$skip'."))
        })?,
    };
    let clauses = match ctx.param("$filter") {
        Some(f) if !f.trim().is_empty() => parse_filter(f)?,
        _ => Vec::new(),
    };
    let order = ctx.param("$orderby").map(|o| {
        let mut parts = o.split_whitespace();
        let prop = parts.next().unwrap_or("").to_string();
        let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        (prop, desc)
    });
    let count = ctx
        .param("$count")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let select = ctx.select();
    let imm = ctx.immutable_ids();
    let mut rows: Vec<(String, Map<String, Value>)> = {
        let t = state.tenant.read();
        let mb = t
            .mailboxes
            .get(user_id)
            .ok_or_else(GraphError::mailbox_not_enabled)?;
        let folder = folder.unwrap_or(&mb.default_folder_id);
        if !folder_exists(mb, folder) {
            return Err(GraphError::item_not_found());
        }
        let mut rows = Vec::new();
        for c in mb.contacts.live() {
            if c.parent_folder_id.as_deref() != Some(folder) {
                continue;
            }
            let obj = contact_json(c, imm);
            if !matches(c, &obj, &clauses)? {
                continue;
            }
            let key = match &order {
                Some((p, _)) => {
                    if !obj.keys().any(|k| k.eq_ignore_ascii_case(p)) {
                        return Err(GraphError::bad_request(format!(
                            "Could not find a property named '{p}' on type 'microsoft.graph.contact'."
                        )));
                    }
                    order_key(&obj, p)
                }
                None => String::new(),
            };
            rows.push((key, obj));
        }
        rows
    };
    if let Some((_, desc)) = &order {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        if *desc {
            rows.reverse();
        }
    }
    let total = rows.len();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|(_, o)| select_contact(o, &select).map(Value::Object))
        .collect::<GraphResult<_>>()?;
    let mut out = Map::new();
    let sel = if select.is_empty() {
        String::new()
    } else {
        format!("({})", select.join(","))
    };
    out.insert(
        "@odata.context".into(),
        Value::String(ctx.url_for(&format!("/v1.0/$metadata#{context_path}{sel}"))),
    );
    if count {
        out.insert("@odata.count".into(), Value::from(total));
    }
    out.insert("value".into(), Value::Array(page));
    if skip + top < total {
        let next = (skip + top).to_string();
        out.insert(
            "@odata.nextLink".into(),
            Value::String(ctx.link_with(&[("$skip", &next)])),
        );
    }
    Ok(with_id_preference(
        ctx,
        Json(Value::Object(out)).into_response(),
    ))
}

async fn list_default(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    list_page(
        &state,
        &ctx,
        &acc.user_id,
        None,
        &format!("users('{user}')/contacts"),
    )
}

async fn list_in_folder(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    list_page(
        &state,
        &ctx,
        &acc.user_id,
        Some(&folder),
        &format!("users('{user}')/contactFolders('{folder}')/contacts"),
    )
}

async fn list_in_child(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target {
        user,
        folder,
        child,
        ..
    }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    {
        let t = state.tenant.read();
        let parent_ok = t
            .mailboxes
            .get(&acc.user_id)
            .and_then(|mb| mb.folders.get(&child))
            .is_some_and(|f| f.parent_folder_id.as_deref() == Some(folder.as_str()));
        if !parent_ok {
            return Err(GraphError::item_not_found());
        }
    }
    list_page(
        &state,
        &ctx,
        &acc.user_id,
        Some(&child),
        &format!("users('{user}')/contactFolders('{folder}')/childFolders('{child}')/contacts"),
    )
}

fn created(ctx: &RequestCtx, user: &str, c: &Contact) -> Response {
    let mut obj = contact_json(c, ctx.immutable_ids());
    obj.insert(
        "@odata.context".into(),
        Value::String(ctx.url_for(&format!("/v1.0/$metadata#users('{user}')/contacts/$entity"))),
    );
    with_id_preference(
        ctx,
        (StatusCode::CREATED, Json(Value::Object(obj))).into_response(),
    )
}

async fn create_default(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let body = super::json_object(&body)?;
    let c = create(&state, &acc.user_id, None, &body)?;
    Ok(created(&ctx, &user, &c))
}

async fn create_in_folder(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let body = super::json_object(&body)?;
    let c = create(&state, &acc.user_id, Some(&folder), &body)?;
    Ok(created(&ctx, &user, &c))
}

/// Resolves a contact id given in a path, optionally requiring it to be in `folder`.
fn lookup(
    state: &AppState,
    user_id: &str,
    folder: Option<&str>,
    given: &str,
) -> GraphResult<Contact> {
    let t = state.tenant.read();
    let mb = t
        .mailboxes
        .get(user_id)
        .ok_or_else(GraphError::mailbox_not_enabled)?;
    let id = resolve(mb, given).ok_or_else(GraphError::item_not_found)?;
    let c = mb
        .contacts
        .get(&id)
        .cloned()
        .ok_or_else(GraphError::item_not_found)?;
    if let Some(f) = folder {
        if c.parent_folder_id.as_deref() != Some(f) {
            return Err(GraphError::item_not_found());
        }
    }
    Ok(c)
}

fn single(ctx: &RequestCtx, user: &str, c: &Contact) -> GraphResult<Response> {
    let select = ctx.select();
    let mut obj = select_contact(contact_json(c, ctx.immutable_ids()), &select)?;
    obj.insert(
        "@odata.context".into(),
        Value::String(ctx.url_for(&format!("/v1.0/$metadata#users('{user}')/contacts/$entity"))),
    );
    Ok(with_id_preference(
        ctx,
        Json(Value::Object(obj)).into_response(),
    ))
}

async fn get_one(
    state: AppState,
    caller: Caller,
    ctx: RequestCtx,
    user: String,
    folder: Option<String>,
    contact: String,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    let c = lookup(&state, &acc.user_id, folder.as_deref(), &contact)?;
    single(&ctx, &user, &c)
}

async fn patch_one(
    state: AppState,
    caller: Caller,
    ctx: RequestCtx,
    user: String,
    folder: Option<String>,
    contact: String,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let body = super::json_object(&body)?;
    let c = lookup(&state, &acc.user_id, folder.as_deref(), &contact)?;
    let c = update(&state, &acc.user_id, &c.id, &body, false)?;
    single(&ctx, &user, &c)
}

async fn delete_one(
    state: AppState,
    caller: Caller,
    user: String,
    folder: Option<String>,
    contact: String,
) -> GraphResult<StatusCode> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let c = lookup(&state, &acc.user_id, folder.as_deref(), &contact)?;
    delete(&state, &acc.user_id, &c.id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes for contacts.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            &format!("{prefix}/contacts"),
            get(list_default).post(create_default),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}/contacts"),
            get(list_in_folder).post(create_in_folder),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}/childFolders/{{child}}/contacts"),
            get(list_in_child),
        )
        .route(
            &format!("{prefix}/contacts/{{contact}}"),
            get(
                |State(s): State<AppState>,
                 caller: Caller,
                 ctx: RequestCtx,
                 Target { user, contact, .. }: Target| {
                    get_one(s, caller, ctx, user, None, contact)
                },
            )
            .patch(
                |State(s): State<AppState>,
                 caller: Caller,
                 ctx: RequestCtx,
                 Target { user, contact, .. }: Target,
                 body: Bytes| {
                    patch_one(s, caller, ctx, user, None, contact, body)
                },
            )
            .delete(
                |State(s): State<AppState>,
                 caller: Caller,
                 Target { user, contact, .. }: Target| {
                    delete_one(s, caller, user, None, contact)
                },
            ),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}/contacts/{{contact}}"),
            get(
                |State(s): State<AppState>,
                 caller: Caller,
                 ctx: RequestCtx,
                 Target {
                     user,
                     folder,
                     contact,
                     ..
                 }: Target| {
                    get_one(s, caller, ctx, user, Some(folder), contact)
                },
            )
            .patch(
                |State(s): State<AppState>,
                 caller: Caller,
                 ctx: RequestCtx,
                 Target {
                     user,
                     folder,
                     contact,
                     ..
                 }: Target,
                 body: Bytes| {
                    patch_one(s, caller, ctx, user, Some(folder), contact, body)
                },
            )
            .delete(
                |State(s): State<AppState>,
                 caller: Caller,
                 Target {
                     user,
                     folder,
                     contact,
                     ..
                 }: Target| { delete_one(s, caller, user, Some(folder), contact) },
            ),
        )
}
