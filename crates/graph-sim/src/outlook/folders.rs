//! Contact folders: `contactFolders` lists the child folders of the default Contacts folder
//! (not the default folder itself), `contactFolders/{folder}` reads any folder (the default one
//! too), `childFolders` lists a folder's children; create, rename and delete, and the shared
//! write path `/_sim` uses.

use super::access::{self, Need};
use super::contacts::{folder_exists, WriteError};
use super::Target;
use crate::caller::Caller;
use crate::collection::RemovedReason;
use crate::error::{GraphError, GraphResult};
use crate::model::ContactFolder;
use crate::odata::RequestCtx;
use crate::state::{AppState, Mailbox};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{Map, Value};

/// The default Contacts folder as Graph shows it.
pub fn default_folder(mb: &Mailbox) -> ContactFolder {
    ContactFolder {
        id: mb.default_folder_id.clone(),
        display_name: Some("Contacts".into()),
        parent_folder_id: Some(mb.root_folder_id.clone()),
    }
}

/// A folder (the default one included) by id.
pub fn find(mb: &Mailbox, id: &str) -> Option<ContactFolder> {
    if id == mb.default_folder_id {
        Some(default_folder(mb))
    } else {
        mb.folders.get(id).cloned()
    }
}

fn folder_json(f: &ContactFolder) -> Value {
    serde_json::to_value(f).unwrap_or(Value::Null)
}

/// Creates a folder named `name` under `parent` (the default folder when `None`).
pub fn create(
    state: &AppState,
    user_id: &str,
    parent: Option<&str>,
    body: &Map<String, Value>,
) -> Result<ContactFolder, WriteError> {
    let name = match body.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(WriteError::Invalid(
                "The displayName of a contact folder is required.".into(),
            ))
        }
    };
    for k in body.keys() {
        if !matches!(k.as_str(), "displayName" | "parentFolderId") && !k.starts_with('@') {
            return Err(WriteError::Invalid(format!(
                "Could not find a property named '{k}' on type 'microsoft.graph.contactFolder'."
            )));
        }
    }
    let mut t = state.tenant.write();
    let v = t.bump();
    let mb = t.mailboxes.get_mut(user_id).ok_or(WriteError::NotFound)?;
    let parent = parent.unwrap_or(&mb.default_folder_id).to_string();
    if !folder_exists(mb, &parent) {
        return Err(WriteError::NotFound);
    }
    let taken = mb.folders.live().any(|f| {
        f.parent_folder_id.as_deref() == Some(parent.as_str())
            && f.display_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
    });
    if taken {
        return Err(WriteError::Conflict);
    }
    let f = ContactFolder {
        id: super::ids::new_folder_id(),
        display_name: Some(name),
        parent_folder_id: Some(parent),
    };
    mb.folders.insert(f.clone(), v);
    Ok(f)
}

/// Renames (and, when `allow_move`, re-parents) a folder.
pub fn update(
    state: &AppState,
    user_id: &str,
    id: &str,
    body: &Map<String, Value>,
    allow_move: bool,
) -> Result<ContactFolder, WriteError> {
    let mut t = state.tenant.write();
    let v = t.bump();
    let mb = t.mailboxes.get_mut(user_id).ok_or(WriteError::NotFound)?;
    let mut f = mb.folders.get(id).cloned().ok_or(WriteError::NotFound)?;
    let mut changed = Vec::new();
    for (k, val) in body {
        match (k.as_str(), val) {
            ("displayName", Value::String(s)) if !s.trim().is_empty() => {
                if f.display_name.as_deref() != Some(s) {
                    f.display_name = Some(s.clone());
                    changed.push("displayName".to_string());
                }
            }
            ("parentFolderId", Value::String(p)) if allow_move => {
                if p == id || !folder_exists(mb, p) {
                    return Err(WriteError::NotFound);
                }
                if f.parent_folder_id.as_deref() != Some(p) {
                    f.parent_folder_id = Some(p.clone());
                    changed.push("parentFolderId".to_string());
                }
            }
            (k, _) if k.starts_with('@') => {}
            (k, _) => {
                return Err(WriteError::Invalid(format!(
                    "The property '{k}' cannot be set on a contact folder to that value."
                )))
            }
        }
    }
    if !changed.is_empty() {
        mb.folders.replace(f.clone(), changed, v);
    }
    Ok(f)
}

/// Deletes a folder with its child folders and their contacts.
pub fn delete(state: &AppState, user_id: &str, id: &str) -> Result<(), WriteError> {
    let mut changes = Vec::new();
    {
        let mut t = state.tenant.write();
        let v = t.bump();
        let mb = t.mailboxes.get_mut(user_id).ok_or(WriteError::NotFound)?;
        if mb.folders.get(id).is_none() {
            return Err(WriteError::NotFound);
        }
        let mut doomed = vec![id.to_string()];
        let mut i = 0;
        while i < doomed.len() {
            let kids: Vec<String> = mb
                .folders
                .live()
                .filter(|f| f.parent_folder_id.as_deref() == Some(doomed[i].as_str()))
                .map(|f| f.id.clone())
                .collect();
            doomed.extend(kids);
            i += 1;
        }
        let contacts: Vec<crate::model::Contact> = mb
            .contacts
            .live()
            .filter(|c| {
                c.parent_folder_id
                    .as_deref()
                    .is_some_and(|p| doomed.iter().any(|d| d == p))
            })
            .cloned()
            .collect();
        for c in contacts {
            mb.contacts.remove(&c.id, RemovedReason::Deleted, v);
            let cid = super::ids::wire(&c, false);
            changes.push(crate::subscriptions::Change {
                resource: super::contacts::resource_path(mb, user_id, &c, &cid),
                id: cid,
                user_id: Some(user_id.to_string()),
                folder_id: c.parent_folder_id.clone(),
                odata_type: "#Microsoft.Graph.Contact".into(),
                change_type: crate::subscriptions::ChangeType::Deleted,
            });
        }
        for d in &doomed {
            mb.folders.remove(d, RemovedReason::Deleted, v);
        }
    }
    for ch in changes {
        state.subscriptions.publish(ch);
    }
    Ok(())
}

/// One page of a folder list (Outlook `$top`/`$skip` paging).
fn folder_page(
    state: &AppState,
    ctx: &RequestCtx,
    folders: Vec<ContactFolder>,
    context_path: &str,
) -> GraphResult<Response> {
    let default_top = state.behaviour.read().outlook_default_page_size.max(1);
    let top = match ctx.param("$top") {
        None => default_top,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => (n as usize).min(super::contacts::MAX_TOP),
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
    let select = ctx.select();
    let total = folders.len();
    let mut value = Vec::new();
    for f in folders.iter().skip(skip).take(top) {
        let Value::Object(obj) = folder_json(f) else {
            continue;
        };
        let obj = if select.is_empty() {
            obj
        } else {
            let mut o = crate::odata::project(&obj, &select, "microsoft.graph.contactFolder")?;
            o.insert("id".into(), Value::String(f.id.clone()));
            o
        };
        value.push(Value::Object(obj));
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(ctx.url_for(&format!("/v1.0/$metadata#{context_path}"))),
    );
    if ctx
        .param("$count")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        out.insert("@odata.count".into(), Value::from(total));
    }
    out.insert("value".into(), Value::Array(value));
    if skip + top < total {
        let next = (skip + top).to_string();
        out.insert(
            "@odata.nextLink".into(),
            Value::String(ctx.link_with(&[("$skip", &next)])),
        );
    }
    Ok(Json(Value::Object(out)).into_response())
}

fn children(
    state: &AppState,
    user_id: &str,
    parent: Option<&str>,
) -> GraphResult<Vec<ContactFolder>> {
    let t = state.tenant.read();
    let mb = t
        .mailboxes
        .get(user_id)
        .ok_or_else(GraphError::mailbox_not_enabled)?;
    let parent = parent.unwrap_or(&mb.default_folder_id);
    if !folder_exists(mb, parent) {
        return Err(GraphError::item_not_found());
    }
    Ok(mb
        .folders
        .live()
        .filter(|f| f.parent_folder_id.as_deref() == Some(parent))
        .cloned()
        .collect())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    let folders = children(&state, &acc.user_id, None)?;
    folder_page(
        &state,
        &ctx,
        folders,
        &format!("users('{user}')/contactFolders"),
    )
}

async fn list_children(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsRead).await?;
    let folders = children(&state, &acc.user_id, Some(&folder))?;
    folder_page(
        &state,
        &ctx,
        folders,
        &format!("users('{user}')/contactFolders('{folder}')/childFolders"),
    )
}

fn entity(ctx: &RequestCtx, user: &str, f: &ContactFolder, status: StatusCode) -> Response {
    let mut v = folder_json(f);
    v["@odata.context"] = Value::String(ctx.url_for(&format!(
        "/v1.0/$metadata#users('{user}')/contactFolders/$entity"
    )));
    (status, Json(v)).into_response()
}

async fn get_one(
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
    let f = {
        let t = state.tenant.read();
        let mb = t
            .mailboxes
            .get(&acc.user_id)
            .ok_or_else(GraphError::item_not_found)?;
        // `…/childFolders/{child}` must name a direct child of `{folder}`.
        let f = if child.is_empty() {
            find(mb, &folder)
        } else {
            find(mb, &child).filter(|c| c.parent_folder_id.as_deref() == Some(folder.as_str()))
        };
        f.ok_or_else(GraphError::item_not_found)?
    };
    let select = ctx.select();
    if select.is_empty() {
        return Ok(entity(&ctx, &user, &f, StatusCode::OK));
    }
    let Value::Object(obj) = folder_json(&f) else {
        return Err(GraphError::item_not_found());
    };
    let mut o = crate::odata::project(&obj, &select, "microsoft.graph.contactFolder")?;
    o.insert("id".into(), Value::String(f.id.clone()));
    Ok(Json(Value::Object(o)).into_response())
}

async fn post_root(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let body = super::json_object(&body)?;
    let parent = body
        .get("parentFolderId")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let f = create(&state, &acc.user_id, parent.as_deref(), &body)?;
    Ok(entity(&ctx, &user, &f, StatusCode::CREATED))
}

async fn post_child(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let mut body = super::json_object(&body)?;
    body.remove("parentFolderId");
    let f = create(&state, &acc.user_id, Some(&folder), &body)?;
    Ok(entity(&ctx, &user, &f, StatusCode::CREATED))
}

async fn patch_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, folder, .. }: Target,
    body: Bytes,
) -> GraphResult<Response> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    let body = super::json_object(&body)?;
    let f = update(&state, &acc.user_id, &folder, &body, false)?;
    Ok(entity(&ctx, &user, &f, StatusCode::OK))
}

async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Target { user, folder, .. }: Target,
) -> GraphResult<StatusCode> {
    let acc = access::mailbox(&state, &caller, &user, Need::ContactsWrite).await?;
    delete(&state, &acc.user_id, &folder)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes for contact folders.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            &format!("{prefix}/contactFolders"),
            get(list).post(post_root),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}"),
            get(get_one).patch(patch_one).delete(delete_one),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}/childFolders"),
            get(list_children).post(post_child),
        )
        .route(
            &format!("{prefix}/contactFolders/{{folder}}/childFolders/{{child}}"),
            get(get_one),
        )
}
