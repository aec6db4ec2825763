//! `/v1.0/contacts` (org contacts: read-only in Graph) and `contacts/delta`, plus the
//! emulator's `/_sim/org-contacts` controls that create, change and delete them the way
//! Exchange or directory sync would, versioned so delta sees every change.

use super::delta::{self, DeltaSpec};
use super::filter::FilterRules;
use super::paging;
use super::query::ListQuery;
use super::{charge, method_not_allowed, schema, to_map, with_units, Cost, Kind, ORG_CONTACT_READ};
use crate::caller::Caller;
use crate::collection::{Collection, RemovedReason};
use crate::control::{ControlError, SimAdmin};
use crate::error::{GraphError, GraphResult};
use crate::model::OrgContact;
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use crate::subscriptions::{Change, ChangeType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Json;
use serde_json::{Map, Value};

/// The org contact type as the generic directory code sees it.
pub const KIND: Kind = Kind {
    set: "contacts",
    type_name: "microsoft.graph.orgContact",
    odata_type: "#microsoft.graph.orgContact",
    declared: schema::ORG_CONTACT,
    defaults: None,
    single_only: &[],
    filter: FilterRules {
        type_name: "microsoft.graph.orgContact",
        resource: "OrgContact",
        filterable: &[
            "id",
            "displayName",
            "givenName",
            "surname",
            "mail",
            "mailNickname",
            "companyName",
            "department",
            "jobTitle",
            "proxyAddresses",
            "onPremisesSyncEnabled",
        ],
        booleans: &["onPremisesSyncEnabled"],
    },
    orderable: &[],
    searchable: &[
        "displayName",
        "givenName",
        "surname",
        "mail",
        "mailNickname",
    ],
};

fn contacts_of(t: &TenantData) -> &Collection<OrgContact> {
    &t.org_contacts
}

/// `contacts/delta`.
pub static DELTA: DeltaSpec<OrgContact> = DeltaSpec {
    kind: KIND,
    collection: contacts_of,
    members: None,
};

/// Publishes an org contact change to subscriptions.
pub fn publish(state: &AppState, id: &str, change_type: ChangeType) {
    state.subscriptions.publish(Change {
        resource: format!("contacts/{id}"),
        id: id.to_string(),
        user_id: None,
        folder_id: None,
        odata_type: "#Microsoft.Graph.OrgContact".into(),
        change_type,
    });
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(ORG_CONTACT_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let q = ListQuery::parse(&ctx, &KIND)?;
    let body = {
        let t = state.tenant.read();
        paging::list_collection(&state, &ctx, &t.org_contacts, &KIND, &q)?
    };
    Ok(with_units(Json(body).into_response(), units))
}

async fn count(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    caller.require(ORG_CONTACT_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let objs = state
        .tenant
        .read()
        .org_contacts
        .live()
        .map(to_map)
        .collect();
    super::count_response(&ctx, &KIND, objs, units)
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Path(key): Path<String>,
) -> GraphResult<Response> {
    caller.require(ORG_CONTACT_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    if matches!(
        key.as_str(),
        "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    ) {
        return delta::serve(&state, &ctx, &DELTA);
    }
    let select = ctx.select();
    KIND.check_select(&select, true)?;
    let obj = state
        .tenant
        .read()
        .org_contacts
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
    caller.require(ORG_CONTACT_READ, GraphError::directory_denied)?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    delta::serve(&state, &ctx, &DELTA).map(|r| with_units(r, units))
}

async fn read_only(_caller: Caller) -> GraphError {
    method_not_allowed()
}

fn control_json(body: &[u8]) -> Result<Map<String, Value>, ControlError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ControlError(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with orgContact properties (displayName, mail, phones, …)".into(),
        )),
    }
}

/// `POST /_sim/org-contacts`: creates an org contact (`id` optional) as Exchange would.
async fn sim_create(
    State(state): State<AppState>,
    _admin: SimAdmin,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let mut m = control_json(&body)?;
    if !m.contains_key("id") {
        m.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    }
    let contact: OrgContact = serde_json::from_value(Value::Object(m))
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, format!("not an orgContact: {e}")))?;
    {
        let mut t = state.tenant.write();
        if t.org_contacts.get(&contact.id).is_some()
            || t.users.get(&contact.id).is_some()
            || t.groups.get(&contact.id).is_some()
        {
            return Err(ControlError(
                StatusCode::CONFLICT,
                format!("a directory object with id '{}' already exists", contact.id),
            ));
        }
        let v = t.bump();
        t.org_contacts.insert(contact.clone(), v);
    }
    publish(&state, &contact.id, ChangeType::Created);
    Ok((StatusCode::CREATED, Json(to_map(&contact))).into_response())
}

/// `PATCH /_sim/org-contacts/{contact}`: changes properties (recorded for delta).
async fn sim_update(
    State(state): State<AppState>,
    _admin: SimAdmin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let m = control_json(&body)?;
    let updated = {
        let mut t = state.tenant.write();
        let v = t.bump();
        match t.org_contacts.patch(&id, &m, &[], v) {
            Ok(Some(_)) => t.org_contacts.get(&id).cloned(),
            Ok(None) => None,
            Err(e) => return Err(ControlError(StatusCode::BAD_REQUEST, e.to_string())),
        }
    };
    let Some(c) = updated else {
        return Err(ControlError(
            StatusCode::NOT_FOUND,
            format!("no org contact '{id}'"),
        ));
    };
    publish(&state, &id, ChangeType::Updated);
    Ok(Json(to_map(&c)).into_response())
}

/// `DELETE /_sim/org-contacts/{contact}`: deletes permanently (delta: `@removed: deleted`).
async fn sim_delete(
    State(state): State<AppState>,
    _admin: SimAdmin,
    Path(id): Path<String>,
) -> Result<Response, ControlError> {
    let groups = {
        let mut t = state.tenant.write();
        let v = t.bump();
        if !t.org_contacts.remove(&id, RemovedReason::Deleted, v) {
            return Err(ControlError(
                StatusCode::NOT_FOUND,
                format!("no org contact '{id}'"),
            ));
        }
        super::groups::drop_member_everywhere(&mut t, &id, v)
    };
    publish(&state, &id, ChangeType::Deleted);
    for g in groups {
        super::groups::publish(&state, &g);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Routes of `/v1.0/contacts` and `/_sim/org-contacts`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1.0/contacts", get(list).post(read_only))
        .route("/v1.0/contacts/delta", get(delta_route))
        .route("/v1.0/contacts/$count", get(count))
        .route(
            "/v1.0/contacts/{contact}",
            get(get_one).patch(read_only).delete(read_only),
        )
        .route("/_sim/org-contacts", post(sim_create))
        .route(
            "/_sim/org-contacts/{contact}",
            patch(sim_update).delete(sim_delete),
        )
}
