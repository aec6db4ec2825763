//! `/v1.0/groups`: list, get, create, `members` and `transitiveMembers` (users, groups and org
//! contacts with `@odata.type`), membership writes through `members/$ref`, and `groups/delta`
//! with `members@delta`.

use super::delta::{self, DeltaSpec};
use super::filter::FilterRules;
use super::paging::{self, PageSpec};
use super::query::{count_requested, ListQuery, DEFAULT_TOP, MAX_TOP};
use super::{
    charge, json_object, object_json, schema, to_map, with_units, Cost, Kind, Ordered, GROUP_READ,
    GROUP_WRITE,
};
use crate::caller::Caller;
use crate::collection::{apply_patch, Collection};
use crate::error::{GraphError, GraphResult};
use crate::model::Group;
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use crate::subscriptions::{Change, ChangeType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The group type as the generic directory code sees it.
pub const KIND: Kind = Kind {
    set: "groups",
    type_name: "microsoft.graph.group",
    odata_type: "#microsoft.graph.group",
    declared: schema::GROUP,
    defaults: None,
    single_only: &[
        "allowExternalSenders",
        "autoSubscribeNewMembers",
        "hideFromAddressLists",
        "hideFromOutlookClients",
        "isSubscribedByMail",
        "unseenCount",
    ],
    filter: FilterRules {
        type_name: "microsoft.graph.group",
        resource: "Group",
        filterable: &[
            "id",
            "displayName",
            "description",
            "mail",
            "mailNickname",
            "mailEnabled",
            "securityEnabled",
            "groupTypes",
            "visibility",
            "createdDateTime",
            "onPremisesSyncEnabled",
            "proxyAddresses",
        ],
        booleans: &["mailEnabled", "securityEnabled", "onPremisesSyncEnabled"],
    },
    orderable: &["displayName"],
    searchable: &["displayName", "description", "mail", "mailNickname"],
};

fn groups_of(t: &TenantData) -> &Collection<Group> {
    &t.groups
}

/// `groups/delta` (select `members` for `members@delta`).
pub static DELTA: DeltaSpec<Group> = DeltaSpec {
    kind: KIND,
    collection: groups_of,
    members: Some(members_delta),
};

/// `@odata.type` of a directory object, live or removed.
fn odata_type_of(t: &TenantData, id: &str) -> &'static str {
    if t.users.entry(id).is_some() {
        super::users::KIND.odata_type
    } else if t.groups.entry(id).is_some() {
        KIND.odata_type
    } else {
        super::org_contacts::KIND.odata_type
    }
}

/// `members@delta` of a group: all members in an initial round, else the membership changes
/// after `since` (last change per member wins; removals carry `@removed`).
fn members_delta(t: &TenantData, gid: &str, since: Option<u64>) -> Vec<Value> {
    let entry = |id: &str, added: bool| {
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            Value::String(odata_type_of(t, id).into()),
        );
        m.insert("id".into(), Value::String(id.into()));
        if !added {
            m.insert("@removed".into(), serde_json::json!({"reason": "deleted"}));
        }
        Value::Object(m)
    };
    match since {
        None => t
            .groups
            .get(gid)
            .map(|g| g.members.iter().map(|m| entry(m, true)).collect())
            .unwrap_or_default(),
        Some(s) => {
            let mut last: BTreeMap<&str, bool> = BTreeMap::new();
            for (v, g, m, added) in &t.member_changes {
                if *v > s && g == gid {
                    last.insert(m.as_str(), *added);
                }
            }
            last.into_iter().map(|(m, a)| entry(m, a)).collect()
        }
    }
}

/// Publishes a group change to subscriptions.
pub fn publish(state: &AppState, id: &str) {
    state.subscriptions.publish(Change {
        resource: format!("Groups/{id}"),
        id: id.to_string(),
        user_id: None,
        folder_id: None,
        odata_type: "#Microsoft.Graph.Group".into(),
        change_type: ChangeType::Updated,
    });
}

/// Removes `member` from every group (a deleted object leaves its groups), recording the
/// membership changes at `v`; returns the groups changed.
pub fn drop_member_everywhere(t: &mut TenantData, member: &str, v: u64) -> Vec<String> {
    let gids: Vec<String> = t
        .groups
        .live()
        .filter(|g| g.members.contains(member))
        .map(|g| g.id.clone())
        .collect();
    for gid in &gids {
        if let Some(g) = t.groups.get_mut_untracked(gid) {
            g.members.remove(member);
        }
        t.member_changes
            .push((v, gid.clone(), member.to_string(), false));
    }
    gids
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let q = ListQuery::parse(&ctx, &KIND)?;
    let body = {
        let t = state.tenant.read();
        paging::list_collection(&state, &ctx, &t.groups, &KIND, &q)?
    };
    Ok(with_units(Json(body).into_response(), units))
}

async fn count(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let objs = state.tenant.read().groups.live().map(to_map).collect();
    super::count_response(&ctx, &KIND, objs, units)
}

/// `DELETE /groups/{group}`: soft delete (delta: `@removed: changed`); the group also leaves
/// the groups it was a member of.
async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(gid): Path<String>,
) -> GraphResult<Response> {
    caller.require(
        &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        GraphError::directory_denied,
    )?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let parents = {
        let mut t = state.tenant.write();
        if t.groups.get(&gid).is_none() {
            return Err(GraphError::directory_not_found(&gid));
        }
        let v = t.bump();
        let now = crate::clock::graph_time(state.clock.now());
        if let Some(g) = t.groups.get_mut_untracked(&gid) {
            g.deleted_date_time = Some(now);
        }
        t.groups
            .remove(&gid, crate::collection::RemovedReason::Changed, v);
        drop_member_everywhere(&mut t, &gid, v)
    };
    publish(&state, &gid);
    for p in parents {
        publish(&state, &p);
    }
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

/// `PATCH /groups/{group}`: updates writable properties (204), recorded for delta.
async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(gid): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(
        &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        GraphError::directory_denied,
    )?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let mut m = json_object(&body)?;
    let changed = {
        let mut t = state.tenant.write();
        let g = t
            .groups
            .get(&gid)
            .cloned()
            .ok_or_else(|| GraphError::directory_not_found(&gid))?;
        let current = to_map(&g);
        m.retain(|k, _| {
            current.contains_key(k) || k.starts_with('@') || KIND.declared(k).is_none()
        });
        const READ_ONLY: &[&str] = &["createdDateTime", "deletedDateTime", "mail", "groupTypes"];
        apply_patch(&g, &m, READ_ONLY)
            .map_err(|e| GraphError::directory_bad_request(e.to_string()))?;
        let v = t.bump();
        t.groups
            .patch(&gid, &m, READ_ONLY, v)
            .map_err(|e| GraphError::directory_bad_request(e.to_string()))?
            .is_some_and(|c| !c.is_empty())
    };
    if changed {
        publish(&state, &gid);
    }
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

fn is_delta(key: &str) -> bool {
    matches!(
        key,
        "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    )
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    if is_delta(&key) {
        let units = charge(&state, &caller, &ctx, Cost::Other)?;
        return delta::serve(&state, &ctx, &DELTA).map(|r| with_units(r, units));
    }
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let select = ctx.select();
    KIND.check_select(&select, true)?;
    let obj = state
        .tenant
        .read()
        .groups
        .get(&key)
        .map(to_map)
        .ok_or_else(|| GraphError::directory_not_found(&key))?;
    let body = KIND.entity_body(&ctx, &obj, &select)?;
    Ok(with_units(Json(body).into_response(), units))
}

async fn delta_route(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    delta::serve(&state, &ctx, &DELTA).map(|r| with_units(r, units))
}

/// Renders a member: its type's default representation (or `$select`ed properties that the
/// type has) with `@odata.type`.
fn render_member(kind: &Kind, obj: &Map<String, Value>, select: &[String]) -> GraphResult<Ordered> {
    let sel: Vec<String> = select
        .iter()
        .filter(|s| kind.declared(s).is_some())
        .cloned()
        .collect();
    let mut out = if select.is_empty() {
        kind.render(obj, &[], false)?
    } else {
        kind.render(obj, &sel, false)?
    };
    out.insert("@odata.type".into(), Value::String(kind.odata_type.into()));
    Ok(kind.order(out, &sel))
}

fn members_page(
    state: &AppState,
    ctx: &RequestCtx,
    gid: &str,
    transitive: bool,
    units: u32,
) -> GraphResult<Response> {
    let top = ctx.top(DEFAULT_TOP, MAX_TOP)?;
    if ctx.param("$filter").is_some() || ctx.param("$search").is_some() {
        return Err(GraphError::unsupported_query(
            "$filter and $search on group members are not supported by this emulator.",
        ));
    }
    let select = ctx.select();
    for s in &select {
        let known = [&KIND, &super::users::KIND, &super::org_contacts::KIND]
            .iter()
            .any(|k| k.declared(s).is_some());
        if !known {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{s}' on type 'microsoft.graph.directoryObject'."
            )));
        }
    }
    let items: Vec<(Kind, Map<String, Value>)> = {
        let t = state.tenant.read();
        let g = t
            .groups
            .get(gid)
            .ok_or_else(|| GraphError::directory_not_found(gid))?;
        let mut ids: BTreeSet<String> = g.members.clone();
        if transitive {
            let mut queue: Vec<String> = g.members.iter().cloned().collect();
            let mut seen: BTreeSet<String> = BTreeSet::from([gid.to_string()]);
            while let Some(id) = queue.pop() {
                if !seen.insert(id.clone()) {
                    continue;
                }
                if let Some(sub) = t.groups.get(&id) {
                    for m in &sub.members {
                        ids.insert(m.clone());
                        queue.push(m.clone());
                    }
                }
            }
            ids.remove(gid);
        }
        ids.iter().filter_map(|id| object_json(&t, id)).collect()
    };
    let kinds: BTreeMap<String, Kind> = items
        .iter()
        .map(|(k, o)| {
            (
                o.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                *k,
            )
        })
        .collect();
    let objs: Vec<Map<String, Value>> = items.into_iter().map(|(_, o)| o).collect();
    let count = (ctx.eventual && count_requested(ctx)).then_some(objs.len());
    let body = paging::page(
        state,
        ctx,
        &objs,
        PageSpec {
            scope: format!(
                "groups/{gid}/{}",
                if transitive {
                    "transitiveMembers"
                } else {
                    "members"
                }
            ),
            context: ctx.url_for("/v1.0/$metadata#directoryObjects"),
            top,
            id_order: true,
            count,
            render: &|o| {
                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                let kind = kinds.get(id).copied().unwrap_or(super::users::KIND);
                render_member(&kind, o, &select)
            },
        },
    )?;
    Ok(with_units(Json(body).into_response(), units))
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(gid): Path<String>,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Members)?;
    members_page(&state, &ctx, &gid, false, units)
}

async fn transitive_members(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(gid): Path<String>,
) -> GraphResult<Response> {
    caller.require(GROUP_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::TransitiveMembers)?;
    members_page(&state, &ctx, &gid, true, units)
}

/// The object id at the end of an `@odata.id` reference URL.
fn referenced_id(body: &Map<String, Value>) -> GraphResult<String> {
    let url = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            GraphError::bad_request(
                "The request body must carry '@odata.id' with the URL of the directory object to add.",
            )
        })?;
    let id = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_start_matches("$ref");
    if id.is_empty() {
        return Err(GraphError::bad_request(format!(
            "Invalid object identifier '{url}'."
        )));
    }
    Ok(id.to_string())
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(gid): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(GROUP_WRITE, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let mid = referenced_id(&json_object(&body)?)?;
    {
        let mut t = state.tenant.write();
        let g = t
            .groups
            .get(&gid)
            .ok_or_else(|| GraphError::directory_not_found(&gid))?;
        if object_json(&t, &mid).is_none() || mid == gid {
            return Err(GraphError::directory_not_found(&mid));
        }
        if g.members.contains(&mid) {
            return Err(GraphError::directory_bad_request(
                "One or more added object references already exist for the following modified properties: 'members'.",
            ));
        }
        let v = t.bump();
        if let Some(g) = t.groups.get_mut_untracked(&gid) {
            g.members.insert(mid.clone());
        }
        t.member_changes.push((v, gid.clone(), mid, true));
    }
    publish(&state, &gid);
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path((gid, mid)): Path<(String, String)>,
) -> GraphResult<Response> {
    caller.require(GROUP_WRITE, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    {
        let mut t = state.tenant.write();
        let g = t
            .groups
            .get(&gid)
            .ok_or_else(|| GraphError::directory_not_found(&gid))?;
        if !g.members.contains(&mid) {
            return Err(GraphError::directory_not_found(&mid));
        }
        let v = t.bump();
        if let Some(g) = t.groups.get_mut_untracked(&gid) {
            g.members.remove(&mid);
        }
        t.member_changes.push((v, gid.clone(), mid, false));
    }
    publish(&state, &gid);
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(
        &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        GraphError::directory_denied,
    )?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let mut m = json_object(&body)?;
    for req in [
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ] {
        if m.get(req).is_none_or(Value::is_null) {
            return Err(GraphError::directory_bad_request(format!(
                "Property '{req}' is required when creating a group."
            )));
        }
    }
    let base = Group {
        id: uuid::Uuid::new_v4().to_string(),
        created_date_time: Some(crate::clock::graph_time(state.clock.now())),
        ..Default::default()
    };
    let members: Vec<String> = match m.remove("members@odata.bind") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|u| u.rsplit('/').next().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let current = to_map(&base);
    m.retain(|k, _| current.contains_key(k) || KIND.declared(k).is_none());
    let (mut group, _) = apply_patch(&base, &m, &["createdDateTime", "deletedDateTime"])
        .map_err(|e| GraphError::directory_bad_request(e.to_string()))?;
    {
        let mut t = state.tenant.write();
        for mid in &members {
            if object_json(&t, mid).is_none() {
                return Err(GraphError::directory_not_found(mid));
            }
        }
        let v = t.bump();
        group.members = members.iter().cloned().collect();
        for mid in &members {
            t.member_changes
                .push((v, group.id.clone(), mid.clone(), true));
        }
        t.groups.insert(group.clone(), v);
    }
    publish(&state, &group.id);
    let body = KIND.entity_body(&ctx, &to_map(&group), &[])?;
    Ok(with_units(
        (StatusCode::CREATED, Json(body)).into_response(),
        units,
    ))
}

/// Routes of `/v1.0/groups`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1.0/groups", get(list).post(create))
        .route("/v1.0/groups/delta", get(delta_route))
        .route("/v1.0/groups/$count", get(count))
        .route(
            "/v1.0/groups/{group}",
            get(get_one).patch(update_group).delete(delete_group),
        )
        .route("/v1.0/groups/{group}/members", get(members))
        .route("/v1.0/groups/{group}/members/$ref", post(add_member))
        .route(
            "/v1.0/groups/{group}/members/{member}/$ref",
            delete(remove_member),
        )
        .route(
            "/v1.0/groups/{group}/transitiveMembers",
            get(transitive_members),
        )
}
