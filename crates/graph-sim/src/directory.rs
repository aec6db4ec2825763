//! Graph v1.0's directory: users, groups and org contacts, with Entra's query rules, paging,
//! delta and throttling.
//!
//! Table of contents:
//! - [`users`]: `/users` list, get, create, update, delete (and `/users/$count`);
//! - [`groups`]: `/groups`, members, transitive members, `members/$ref` writes;
//! - [`objects`]: resolving many ids at once (`/directoryObjects/getByIds`);
//! - [`org_contacts`]: `/contacts` (read-only in Graph) and the `/_sim/org-contacts` controls;
//! - [`deleted`]: the recycle bin (`/directory/deletedItems`) and `restore`;
//! - [`delta`]: the one delta engine behind `users/delta`, `groups/delta`, `contacts/delta`;
//! - [`query`]: `$select`, `$filter`, `$search`, `$orderby`, `$count` on a collection;
//! - [`filter`]: the `$filter` tokenizer, parser and evaluator;
//! - [`paging`]: `$top`/`$skiptoken` pages with absolute `@odata.nextLink`s;
//! - [`schema`]: the property names Graph's schema declares on each type.

pub mod deleted;
pub mod delta;
pub mod filter;
pub mod groups;
pub mod objects;
pub mod org_contacts;
pub mod paging;
pub mod query;
pub mod schema;
pub mod users;

use crate::caller::Caller;
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::{AppState, TenantData};
use filter::FilterRules;
use serde::Serialize;
use serde_json::{Map, Value};

/// Permissions that allow reading users.
pub const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Permissions that allow writing users.
pub const USER_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
/// Permissions that allow reading groups and their members.
pub const GROUP_READ: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Permissions that allow changing group membership.
pub const GROUP_WRITE: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
/// Permissions that allow reading org contacts.
pub const ORG_CONTACT_READ: &[&str] = &[
    "OrgContact.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// What the generic query, paging and delta code needs to know about a directory type.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// Entity set (`users`, `groups`, `contacts`).
    pub set: &'static str,
    /// Qualified type name (`microsoft.graph.user`).
    pub type_name: &'static str,
    /// `@odata.type` value (`#microsoft.graph.user`).
    pub odata_type: &'static str,
    /// Declared properties (name, is a collection).
    pub declared: &'static [(&'static str, bool)],
    /// Properties returned without `$select` (`None`: every modelled property).
    pub defaults: Option<&'static [&'static str]>,
    /// Properties only a single-entity GET may select (501 on a list).
    pub single_only: &'static [&'static str],
    /// `$filter` rules.
    pub filter: FilterRules,
    /// Properties `$orderby` accepts without an advanced query.
    pub orderable: &'static [&'static str],
    /// Properties `$search` accepts.
    pub searchable: &'static [&'static str],
}

impl Kind {
    /// Whether the type declares a property (case-insensitive), returning its canonical name.
    pub fn declared(&self, name: &str) -> Option<(&'static str, bool)> {
        self.declared
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .copied()
    }

    /// `…/$metadata#set` on the request's origin (with `(a,b)` for a `$select`).
    pub fn context(&self, ctx: &RequestCtx, select: &[String], entity: bool) -> String {
        let mut s = ctx.url_for(&format!("/v1.0/$metadata#{}", self.set));
        if !select.is_empty() {
            s.push('(');
            s.push_str(&select.join(","));
            s.push(')');
        }
        if entity {
            s.push_str("/$entity");
        }
        s
    }

    /// Renders an entity's JSON as Graph returns it: the default set without `$select`, else
    /// the selected properties (declared but unmodelled ones as `null`/`[]`).
    pub fn render(
        &self,
        obj: &Map<String, Value>,
        select: &[String],
        single: bool,
    ) -> GraphResult<Map<String, Value>> {
        let names: Vec<String> = if select.is_empty() {
            match self.defaults {
                Some(d) => d.iter().map(|s| s.to_string()).collect(),
                None => return Ok(obj.clone()),
            }
        } else {
            select.to_vec()
        };
        let mut out = Map::new();
        for name in &names {
            if let Some((k, v)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            match self.declared(name) {
                Some((canon, _)) if !single && self.single_only.contains(&canon) => {
                    return Err(GraphError::not_implemented())
                }
                Some((canon, coll)) => {
                    out.insert(
                        canon.to_string(),
                        if coll {
                            Value::Array(vec![])
                        } else {
                            Value::Null
                        },
                    );
                }
                None => {
                    return Err(GraphError::bad_request(format!(
                        "Could not find a property named '{name}' on type '{}'.",
                        self.type_name
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Puts an entity's properties in Graph's order: `@odata.type` first, then the `$select`
    /// order, else the default set's order (users: businessPhones … id), else the schema's.
    pub fn order(&self, m: Map<String, Value>, select: &[String]) -> Ordered {
        let declared = |k: &str| {
            self.declared
                .iter()
                .position(|(n, _)| *n == k)
                .unwrap_or(usize::MAX)
        };
        let rank = |k: &str| -> (u8, usize) {
            if k.starts_with("@odata.") {
                return (0, 0);
            }
            let listed = if !select.is_empty() {
                select.iter().position(|s| s.eq_ignore_ascii_case(k))
            } else {
                self.defaults
                    .map(|d| d.iter().position(|s| *s == k))
                    .unwrap_or_else(|| Some(declared(k)))
            };
            match listed {
                Some(i) => (1, i),
                None => (2, declared(k)),
            }
        };
        let mut entries: Vec<(String, Value)> = m.into_iter().collect();
        entries.sort_by_key(|(k, _)| rank(k));
        Ordered(
            entries
                .into_iter()
                .map(|(k, v)| (k, Node::Value(v)))
                .collect(),
        )
    }

    /// A single entity's response: `@odata.context` then the rendered properties in order.
    pub fn entity_body(
        &self,
        ctx: &RequestCtx,
        obj: &Map<String, Value>,
        select: &[String],
    ) -> GraphResult<Ordered> {
        let mut out = Ordered::default();
        out.push("@odata.context", self.context(ctx, select, true));
        out.0
            .extend(self.order(self.render(obj, select, true)?, select).0);
        Ok(out)
    }

    /// Checks a `$select` list up front (unknown names → 400, single-only on a list → 501).
    pub fn check_select(&self, select: &[String], single: bool) -> GraphResult<()> {
        for name in select {
            match self.declared(name) {
                None => {
                    return Err(GraphError::bad_request(format!(
                        "Could not find a property named '{name}' on type '{}'.",
                        self.type_name
                    )))
                }
                Some((canon, _)) if !single && self.single_only.contains(&canon) => {
                    return Err(GraphError::not_implemented())
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// A JSON object that keeps its keys in the order given (Graph's order), which
/// `serde_json::Map` (sorted) cannot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ordered(pub Vec<(String, Node)>);

/// A value inside an [`Ordered`] object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Any JSON value (nested objects keep serde_json's order).
    Value(Value),
    /// An ordered object.
    Object(Ordered),
    /// An array of ordered objects (a page's `value`).
    List(Vec<Ordered>),
}

impl Ordered {
    /// Appends a plain value.
    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        self.0.push((key.to_string(), Node::Value(value.into())));
    }
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Value(v) => v.serialize(s),
            Node::Object(o) => o.serialize(s),
            Node::List(l) => l.serialize(s),
        }
    }
}

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// An entity's full JSON object.
pub fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Base resource-unit cost of a directory GET, before Graph's adjustments.
#[derive(Debug, Clone, Copy)]
pub enum Cost {
    /// `GET users`, `GET users/{id}` (2).
    Users,
    /// `GET groups/{id}/members` (3).
    Members,
    /// `GET groups/{id}/transitiveMembers` (5).
    TransitiveMembers,
    /// Any other directory GET (1).
    Other,
    /// A write (1).
    Write,
}

/// Charges the directory throttle for a request: base cost, `$select` −1, `$top` < 20 −1,
/// minimum 1, against the app's bucket sized by the tenant's user count. Returns the units
/// charged (for `x-ms-resource-unit`).
pub fn charge(state: &AppState, caller: &Caller, ctx: &RequestCtx, cost: Cost) -> GraphResult<u32> {
    let mut c: i64 = match cost {
        Cost::Users => 2,
        Cost::Members => 3,
        Cost::TransitiveMembers => 5,
        Cost::Other | Cost::Write => 1,
    };
    if !matches!(cost, Cost::Write) {
        if ctx.param("$select").is_some() {
            c -= 1;
        }
        if ctx
            .param("$top")
            .and_then(|t| t.trim().parse::<i64>().ok())
            .is_some_and(|t| t < 20)
        {
            c -= 1;
        }
        if ctx.param("$expand").is_some() {
            c += 1;
        }
    }
    let users = state.tenant.read().users.live_count();
    let b = state.behaviour.read().clone();
    let units = c.max(1) as u32;
    state.throttle.directory(&b, &caller.app_id, users, units)?;
    Ok(units)
}

/// Adds Graph's `x-ms-resource-unit` header (the units a request cost) to a response.
pub fn with_units(mut resp: axum::response::Response, units: u32) -> axum::response::Response {
    resp.headers_mut()
        .insert("x-ms-resource-unit", http::HeaderValue::from(units));
    resp
}

/// `GET /{set}/$count`: the number of entities matching `$filter`/`$search`, as `text/plain`;
/// without `ConsistencyLevel: eventual` Graph refuses it.
pub fn count_response(
    ctx: &RequestCtx,
    kind: &Kind,
    objs: Vec<Map<String, Value>>,
    units: u32,
) -> GraphResult<axum::response::Response> {
    use axum::response::IntoResponse;
    if !ctx.eventual {
        return Err(GraphError::directory_bad_request(
            "$count is not currently supported.",
        ));
    }
    let q = query::ListQuery::parse_for_count(ctx, kind)?;
    let n = objs.iter().filter(|o| q.keeps(o)).count();
    let text = (
        [(http::header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        n.to_string(),
    );
    Ok(with_units(text.into_response(), units))
}

/// What a directory object id refers to, for member lists and `$ref` writes.
pub fn object_json(t: &TenantData, id: &str) -> Option<(Kind, Map<String, Value>)> {
    if let Some(u) = t.users.get(id) {
        return Some((users::KIND, to_map(u)));
    }
    if let Some(g) = t.groups.get(id) {
        return Some((groups::KIND, to_map(g)));
    }
    t.org_contacts
        .get(id)
        .map(|c| (org_contacts::KIND, to_map(c)))
}

/// 405 as Graph words it for directory targets that refuse a method.
pub fn method_not_allowed() -> GraphError {
    GraphError::new(
        http::StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

/// Parses a JSON request body into an object, or Graph's 400.
pub fn json_object(body: &[u8]) -> GraphResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(GraphError::bad_request(format!(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
        ))),
    }
}

/// Routes of this service.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(org_contacts::routes())
        .merge(deleted::routes())
        .merge(objects::routes())
}
