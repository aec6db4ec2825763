//! `/v1.0/users`: list, `$count`, get by id or userPrincipalName, create, update, (soft) delete,
//! and `users/delta` in all the spellings SDKs send.

use super::delta::{self, DeltaSpec};
use super::filter::FilterRules;
use super::paging::{self, PageSpec};
use super::query::ListQuery;
use super::{charge, json_object, schema, to_map, with_units, Cost, Kind, USER_READ, USER_WRITE};
use crate::caller::Caller;
use crate::collection::{apply_patch, PatchError, RemovedReason};
use crate::error::{GraphError, GraphResult};
use crate::model::{MailboxKind, User, USER_DEFAULT_PROPERTIES};
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use crate::subscriptions::{Change, ChangeType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{Map, Value};

/// Properties filterable on users (nested paths as `a/b`).
const USER_FILTERABLE: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "department",
    "jobTitle",
    "companyName",
    "accountEnabled",
    "userType",
    "usageLocation",
    "country",
    "city",
    "state",
    "postalCode",
    "streetAddress",
    "officeLocation",
    "mobilePhone",
    "faxNumber",
    "preferredLanguage",
    "employeeId",
    "employeeType",
    "creationType",
    "externalUserState",
    "showInAddressList",
    "onPremisesSyncEnabled",
    "onPremisesImmutableId",
    "createdDateTime",
    "proxyAddresses",
    "businessPhones",
    "otherMails",
    "imAddresses",
    "assignedLicenses/skuId",
    "onPremisesExtensionAttributes/extensionAttribute1",
    "onPremisesExtensionAttributes/extensionAttribute2",
    "onPremisesExtensionAttributes/extensionAttribute3",
    "onPremisesExtensionAttributes/extensionAttribute4",
    "onPremisesExtensionAttributes/extensionAttribute5",
    "onPremisesExtensionAttributes/extensionAttribute6",
    "onPremisesExtensionAttributes/extensionAttribute7",
    "onPremisesExtensionAttributes/extensionAttribute8",
    "onPremisesExtensionAttributes/extensionAttribute9",
    "onPremisesExtensionAttributes/extensionAttribute10",
    "onPremisesExtensionAttributes/extensionAttribute11",
    "onPremisesExtensionAttributes/extensionAttribute12",
    "onPremisesExtensionAttributes/extensionAttribute13",
    "onPremisesExtensionAttributes/extensionAttribute14",
    "onPremisesExtensionAttributes/extensionAttribute15",
];

/// The user type as the generic directory code sees it.
pub const KIND: Kind = Kind {
    set: "users",
    type_name: "microsoft.graph.user",
    odata_type: "#microsoft.graph.user",
    declared: schema::USER,
    defaults: Some(USER_DEFAULT_PROPERTIES),
    single_only: &[
        "aboutMe",
        "birthday",
        "hireDate",
        "interests",
        "mySite",
        "pastProjects",
        "preferredName",
        "responsibilities",
        "schools",
        "skills",
        "mailboxSettings",
    ],
    filter: FilterRules {
        type_name: "microsoft.graph.user",
        resource: "User",
        filterable: USER_FILTERABLE,
        booleans: &[
            "accountEnabled",
            "onPremisesSyncEnabled",
            "showInAddressList",
        ],
    },
    orderable: &["displayName", "userPrincipalName"],
    searchable: &[
        "displayName",
        "mail",
        "userPrincipalName",
        "givenName",
        "surname",
        "mailNickname",
    ],
};

fn users_of(t: &TenantData) -> &crate::collection::Collection<User> {
    &t.users
}

/// `users/delta`.
pub static DELTA: DeltaSpec<User> = DeltaSpec {
    kind: KIND,
    collection: users_of,
    members: None,
};

/// Properties a client may not write with PATCH/POST.
const READ_ONLY: &[&str] = &[
    "createdDateTime",
    "creationType",
    "deletedDateTime",
    "externalUserState",
    "onPremisesSyncEnabled",
    "assignedLicenses",
    "proxyAddresses",
];

/// Properties mastered on-premises for synced users (Graph refuses to change them).
const SYNCED: &[&str] = &[
    "accountEnabled",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "department",
    "displayName",
    "employeeId",
    "employeeType",
    "faxNumber",
    "givenName",
    "jobTitle",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "otherMails",
    "postalCode",
    "preferredLanguage",
    "state",
    "streetAddress",
    "surname",
    "userPrincipalName",
];

/// Properties required by `POST /users`.
const REQUIRED: &[&str] = &[
    "accountEnabled",
    "displayName",
    "mailNickname",
    "userPrincipalName",
    "passwordProfile",
];

/// Publishes a user change to subscriptions (creation and soft deletion arrive as `updated`).
pub fn publish(state: &AppState, id: &str, change_type: ChangeType) {
    state.subscriptions.publish(Change {
        resource: format!("Users/{id}"),
        id: id.to_string(),
        user_id: None,
        folder_id: None,
        odata_type: "#Microsoft.Graph.User".into(),
        change_type,
    });
}

fn patch_error(e: PatchError) -> GraphError {
    GraphError::directory_bad_request(e.to_string())
}

/// Drops write-only properties (passwords) and declared properties the emulator does not
/// store, so that only modelled properties reach the patch.
fn writable(mut m: Map<String, Value>, current: &Map<String, Value>) -> Map<String, Value> {
    m.retain(|k, _| current.contains_key(k) || k.starts_with('@') || KIND.declared(k).is_none());
    m
}

fn check_phones(m: &Map<String, Value>) -> GraphResult<()> {
    if let Some(Value::Array(a)) = m.get("businessPhones") {
        if a.len() > 1 {
            return Err(GraphError::directory_bad_request(
                "Invalid value specified for property 'businessPhones' of resource 'User'.",
            ));
        }
    }
    Ok(())
}

fn upn_taken(t: &TenantData, upn: &str, except: Option<&str>) -> bool {
    t.users.live().any(|u| {
        Some(u.id.as_str()) != except
            && u.user_principal_name
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(upn))
    })
}

fn duplicate_upn() -> GraphError {
    GraphError::directory_bad_request(
        "Another object with the same value for property userPrincipalName already exists.",
    )
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(USER_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Users)?;
    let q = ListQuery::parse(&ctx, &KIND)?;
    let body = {
        let t = state.tenant.read();
        paging::list_collection(&state, &ctx, &t.users, &KIND, &q)?
    };
    Ok(with_units(Json(body).into_response(), units))
}

async fn count(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(USER_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Users)?;
    let objs = state.tenant.read().users.live().map(to_map).collect();
    super::count_response(&ctx, &KIND, objs, units)
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    if let Some(resp) = delta_alias(&state, &caller, &ctx, &key)? {
        return Ok(resp);
    }
    caller.require(USER_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Users)?;
    let select = ctx.select();
    KIND.check_select(&select, true)?;
    let obj = {
        let t = state.tenant.read();
        t.find_user(&key)
            .map(to_map)
            .ok_or_else(|| GraphError::directory_not_found(&key))?
    };
    let body = KIND.entity_body(&ctx, &obj, &select)?;
    Ok(with_units(Json(body).into_response(), units))
}

/// `users/delta()` and `users/microsoft.graph.delta()` reach the `{user}` route: serve them.
fn delta_alias(
    state: &AppState,
    caller: &Caller,
    ctx: &RequestCtx,
    key: &str,
) -> GraphResult<Option<Response>> {
    if matches!(
        key,
        "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    ) {
        caller.require(USER_READ, GraphError::directory_denied)?;
        let units = charge(state, caller, ctx, Cost::Users)?;
        return delta::serve(state, ctx, &DELTA).map(|r| Some(with_units(r, units)));
    }
    Ok(None)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(USER_WRITE, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let m = json_object(&body)?;
    for req in REQUIRED {
        if m.get(*req).is_none_or(Value::is_null) {
            return Err(GraphError::directory_bad_request(format!(
                "Property '{req}' is required when creating a user."
            )));
        }
    }
    let password_ok = m
        .get("passwordProfile")
        .and_then(|p| p.get("password"))
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if !password_ok {
        return Err(GraphError::directory_bad_request(
            "Invalid value specified for property 'passwordProfile' of resource 'User'.",
        ));
    }
    let upn = m
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !upn.contains('@') || upn.starts_with('@') {
        return Err(GraphError::directory_bad_request(
            "Property userPrincipalName is invalid.",
        ));
    }
    check_phones(&m)?;
    let base = User {
        id: uuid::Uuid::new_v4().to_string(),
        created_date_time: Some(crate::clock::graph_time(state.clock.now())),
        user_type: Some("Member".into()),
        mailbox: MailboxKind::None,
        ..Default::default()
    };
    let m = writable(m, &to_map(&base));
    let (user, _) = apply_patch(&base, &m, READ_ONLY).map_err(patch_error)?;
    {
        let mut t = state.tenant.write();
        if upn_taken(&t, &upn, None) {
            return Err(duplicate_upn());
        }
        let v = t.bump();
        t.users.insert(user.clone(), v);
    }
    publish(&state, &user.id, ChangeType::Updated);
    let body = KIND.entity_body(&ctx, &to_map(&user), &[])?;
    Ok(with_units(
        (StatusCode::CREATED, Json(body)).into_response(),
        units,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(USER_WRITE, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let m = json_object(&body)?;
    check_phones(&m)?;
    let changed = {
        let mut t = state.tenant.write();
        let user = t
            .find_user(&key)
            .cloned()
            .ok_or_else(|| GraphError::directory_not_found(&key))?;
        let m = writable(m, &to_map(&user));
        if user.on_premises_sync_enabled == Some(true)
            && m.keys().any(|k| SYNCED.contains(&k.as_str()))
        {
            return Err(GraphError::directory_bad_request(
                "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
            ));
        }
        if let Some(upn) = m.get("userPrincipalName").and_then(Value::as_str) {
            if upn_taken(&t, upn, Some(&user.id)) {
                return Err(duplicate_upn());
            }
        }
        // Validate before taking a version, so a refused patch leaves no trace.
        apply_patch(&user, &m, READ_ONLY).map_err(patch_error)?;
        let v = t.bump();
        let changed = t
            .users
            .patch(&user.id, &m, READ_ONLY, v)
            .map_err(patch_error)?
            .unwrap_or_default();
        (!changed.is_empty()).then_some(user.id)
    };
    if let Some(id) = changed {
        publish(&state, &id, ChangeType::Updated);
    }
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    caller.require(USER_WRITE, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Write)?;
    let (id, groups) = {
        let mut t = state.tenant.write();
        let id = t
            .find_user(&key)
            .map(|u| u.id.clone())
            .ok_or_else(|| GraphError::directory_not_found(&key))?;
        let v = t.bump();
        let now = crate::clock::graph_time(state.clock.now());
        if let Some(u) = t.users.get_mut_untracked(&id) {
            u.deleted_date_time = Some(now);
        }
        t.users.remove(&id, RemovedReason::Changed, v);
        let groups = super::groups::drop_member_everywhere(&mut t, &id, v);
        (id, groups)
    };
    publish(&state, &id, ChangeType::Updated);
    for g in groups {
        super::groups::publish(&state, &g);
    }
    Ok(with_units(StatusCode::NO_CONTENT.into_response(), units))
}

/// `GET /me`: the signed-in user (delegated tokens only, as Graph requires).
async fn me(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    let Some(uid) = caller.user_id.clone() else {
        return Err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow.",
        ));
    };
    caller.require(
        &[
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        GraphError::directory_denied,
    )?;
    let units = charge(&state, &caller, &ctx, Cost::Users)?;
    let select = ctx.select();
    KIND.check_select(&select, true)?;
    let obj = state
        .tenant
        .read()
        .users
        .get(&uid)
        .map(to_map)
        .ok_or_else(|| GraphError::directory_not_found(&uid))?;
    let body = KIND.entity_body(&ctx, &obj, &select)?;
    Ok(with_units(Json(body).into_response(), units))
}

/// `GET /users/{user}/memberOf` and `transitiveMemberOf`: the groups a user is in.
fn member_of_page(
    state: &AppState,
    caller: &Caller,
    ctx: &RequestCtx,
    key: &str,
    transitive: bool,
) -> GraphResult<Response> {
    caller.require(USER_READ, GraphError::directory_denied)?;
    let units = charge(state, caller, ctx, Cost::Other)?;
    let top = ctx.top(super::query::DEFAULT_TOP, super::query::MAX_TOP)?;
    let select = ctx.select();
    super::groups::KIND.check_select(&select, false)?;
    let groups: Vec<Map<String, Value>> = {
        let t = state.tenant.read();
        let uid = t
            .find_user(key)
            .map(|u| u.id.clone())
            .ok_or_else(|| GraphError::directory_not_found(key))?;
        let mut found: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut frontier = vec![uid];
        while let Some(member) = frontier.pop() {
            for g in t.groups.live().filter(|g| g.members.contains(&member)) {
                if found.insert(g.id.clone()) && transitive {
                    frontier.push(g.id.clone());
                }
            }
        }
        found
            .iter()
            .filter_map(|id| t.groups.get(id))
            .map(to_map)
            .collect()
    };
    let gk = super::groups::KIND;
    let body = paging::page(
        state,
        ctx,
        &groups,
        PageSpec {
            scope: format!(
                "users/{key}/{}",
                if transitive {
                    "transitiveMemberOf"
                } else {
                    "memberOf"
                }
            ),
            context: ctx.url_for("/v1.0/$metadata#directoryObjects"),
            top,
            id_order: true,
            count: None,
            render: &|o| {
                let mut m = gk.render(o, &select, false)?;
                m.insert("@odata.type".into(), Value::String(gk.odata_type.into()));
                Ok(gk.order(m, &select))
            },
        },
    )?;
    Ok(with_units(Json(body).into_response(), units))
}

async fn member_of(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    member_of_page(&state, &caller, &ctx, &key, false)
}

async fn transitive_member_of(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    member_of_page(&state, &caller, &ctx, &key, true)
}

async fn delta_route(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(USER_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Users)?;
    delta::serve(&state, &ctx, &DELTA).map(|r| with_units(r, units))
}

/// Routes of `/v1.0/users`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1.0/users", get(list).post(create))
        .route("/v1.0/users/$count", get(count))
        .route("/v1.0/users/delta", get(delta_route))
        .route("/v1.0/users/microsoft.graph.delta", get(delta_route))
        .route(
            "/v1.0/users/{user}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/v1.0/users/{user}/memberOf", get(member_of))
        .route(
            "/v1.0/users/{user}/transitiveMemberOf",
            get(transitive_member_of),
        )
        .route("/v1.0/me", get(me))
}
