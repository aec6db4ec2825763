//! Entra's recycle bin for users and groups: soft-deleted objects are listed under
//! `/directory/deletedItems/microsoft.graph.user|group`, and `restore` brings one back — delta
//! then reports it as a whole object again, without annotation, as Graph does.

use super::paging::{self, PageSpec};
use super::query::{DEFAULT_TOP, MAX_TOP};
use super::{charge, groups, to_map, users, with_units, Cost, Kind, GROUP_WRITE, USER_WRITE};
use crate::caller::Caller;
use crate::collection::{Collection, Entity, RemovedReason};
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::AppState;
use crate::subscriptions::ChangeType;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{Map, Value};

/// Soft-deleted entries of a collection, as JSON with `deletedDateTime`.
fn deleted_of<T: Entity>(coll: &Collection<T>) -> Vec<Map<String, Value>> {
    coll.entries()
        .filter(|e| e.removed == Some(RemovedReason::Changed))
        .map(|e| to_map(&e.value))
        .collect()
}

fn list_of(
    state: &AppState,
    ctx: &RequestCtx,
    kind: &Kind,
    items: Vec<Map<String, Value>>,
    units: u32,
) -> GraphResult<Response> {
    let top = ctx.top(DEFAULT_TOP, MAX_TOP)?;
    let select = ctx.select();
    kind.check_select(&select, false)?;
    let mut items = items;
    items.sort_by(|a, b| {
        a.get("id")
            .and_then(Value::as_str)
            .cmp(&b.get("id").and_then(Value::as_str))
    });
    let body = paging::page(
        state,
        ctx,
        &items,
        PageSpec {
            scope: format!("deletedItems/{}", kind.set),
            context: ctx.url_for(&format!(
                "/v1.0/$metadata#directory/deletedItems/{}",
                kind.type_name
            )),
            top,
            id_order: true,
            count: None,
            render: &|o| Ok(kind.order(kind.render(o, &select, false)?, &select)),
        },
    )?;
    Ok(with_units(Json(body).into_response(), units))
}

async fn deleted_users(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(super::USER_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let items = deleted_of(&state.tenant.read().users);
    list_of(&state, &ctx, &users::KIND, items, units)
}

async fn deleted_groups(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(super::GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let items = deleted_of(&state.tenant.read().groups);
    list_of(&state, &ctx, &groups::KIND, items, units)
}

/// `POST /directory/deletedItems/{item}/restore`: restores a soft-deleted user or group.
async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let restored = {
        let mut t = state.tenant.write();
        let user = t
            .users
            .entry(&id)
            .filter(|e| e.removed == Some(RemovedReason::Changed))
            .map(|e| e.value.clone());
        let group = t
            .groups
            .entry(&id)
            .filter(|e| e.removed == Some(RemovedReason::Changed))
            .map(|e| e.value.clone());
        match (user, group) {
            (Some(mut u), _) => {
                caller.require(USER_WRITE, GraphError::directory_denied)?;
                let upn = u.user_principal_name.clone().unwrap_or_default();
                let taken = t.users.live().any(|x| {
                    x.user_principal_name
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(&upn))
                });
                if taken {
                    return Err(GraphError::directory_bad_request(
                        "Another object with the same value for property userPrincipalName already exists.",
                    ));
                }
                u.deleted_date_time = None;
                let v = t.bump();
                t.users.insert(u.clone(), v);
                (users::KIND, to_map(&u), true)
            }
            (None, Some(mut g)) => {
                caller.require(GROUP_WRITE, GraphError::directory_denied)?;
                g.deleted_date_time = None;
                let v = t.bump();
                t.groups.insert(g.clone(), v);
                (groups::KIND, to_map(&g), false)
            }
            (None, None) => return Err(GraphError::directory_not_found(&id)),
        }
    };
    let (kind, obj, is_user) = restored;
    if is_user {
        users::publish(&state, &id, ChangeType::Updated);
    } else {
        groups::publish(&state, &id);
    }
    let mut body = kind.entity_body(&ctx, &obj, &[])?;
    body.0.insert(
        1,
        (
            "@odata.type".into(),
            super::Node::Value(Value::String(kind.odata_type.into())),
        ),
    );
    body.0[0].1 = super::Node::Value(Value::String(
        ctx.url_for("/v1.0/$metadata#directoryObjects/$entity"),
    ));
    Ok(with_units(Json(body).into_response(), units))
}

/// Routes of `/directory/deletedItems`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/v1.0/directory/deletedItems/microsoft.graph.user",
            get(deleted_users),
        )
        .route(
            "/v1.0/directory/deletedItems/microsoft.graph.group",
            get(deleted_groups),
        )
        .route("/v1.0/directory/deletedItems/{item}/restore", post(restore))
}
