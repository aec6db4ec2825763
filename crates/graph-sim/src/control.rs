//! `/_sim` controls: what Graph itself cannot do to a tenant (org contacts, shared-mailbox
//! contents, a Teams client's presence, faults, the clock, consent), each authenticated with
//! the sim-admin key (`Authorization: Bearer <key>` or `x-sim-key: <key>`).

use crate::config::Behaviour;
use crate::faults::{FaultRule, Faults};
use crate::state::AppState;
use crate::tenant_file::{GroupRecord, TenantFile, UserRecord, UserWithInternals};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

/// Proof that the request carried the sim-admin key.
#[derive(Debug, Clone, Copy)]
pub struct SimAdmin;

/// A `/_sim` failure: status plus a plain JSON message.
#[derive(Debug)]
pub struct ControlError(pub StatusCode, pub String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(serde_json::json!({"error": {"code": "simControl", "message": self.1}})),
        )
            .into_response()
    }
}

impl FromRequestParts<AppState> for SimAdmin {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get("x-sim-key")
            .or_else(|| parts.headers.get(http::header::AUTHORIZATION))
            .and_then(|h| h.to_str().ok())
            .map(|v| v.trim_start_matches("Bearer ").trim())
            .unwrap_or("");
        if !given.is_empty() && constant_time_eq(given.as_bytes(), state.admin_key.as_bytes()) {
            Ok(SimAdmin)
        } else {
            Err(ControlError(
                StatusCode::UNAUTHORIZED,
                "the /_sim controls need the sim-admin key that `pbx365 sim` printed, as `x-sim-key: KEY` or `Authorization: Bearer KEY`".into(),
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Control routes.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/_sim/tenant", get(tenant))
        .route("/_sim/summary", get(summary))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance))
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/faults/rules", post(add_rule))
        .route("/_sim/behaviour", get(get_behaviour).patch(patch_behaviour))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/throttle/reset", post(reset_throttle))
        .route("/_sim/sync-estimate", get(sync_estimate))
}

type Ctl<T> = Result<T, ControlError>;

fn bad(msg: impl Into<String>) -> ControlError {
    ControlError(StatusCode::BAD_REQUEST, msg.into())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Ctl<T> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the {what} JSON is invalid: {e}")))
}

/// `GET /_sim/tenant`: the whole tenant as it is now, in the `--tenant FILE` format.
async fn tenant(_: SimAdmin, State(state): State<AppState>) -> Json<TenantFile> {
    Json(snapshot(&state))
}

/// The tenant as a [`TenantFile`] (live entities only).
pub fn snapshot(state: &AppState) -> TenantFile {
    let t = state.tenant.read();
    TenantFile {
        tenant_id: t.tenant_id.clone(),
        domain: t.domain.clone(),
        display_name: t.display_name.clone(),
        apps: t.apps.values().cloned().collect(),
        users: t
            .users
            .live()
            .map(|u| UserRecord {
                user: UserWithInternals {
                    user: u.clone(),
                    mailbox: u.mailbox,
                    photo: u.photo.clone(),
                },
                mailbox_data: t.mailboxes.get(&u.id).map(|m| m.to_data()),
                presence: t.presence.get(&u.id).cloned(),
            })
            .collect(),
        groups: t
            .groups
            .live()
            .map(|g| GroupRecord {
                group: g.clone(),
                members: g.members.iter().cloned().collect(),
            })
            .collect(),
        org_contacts: t.org_contacts.live().cloned().collect(),
    }
}

/// `GET /_sim/summary`: counts of what the tenant holds.
async fn summary(_: SimAdmin, State(state): State<AppState>) -> Json<Value> {
    let t = state.tenant.read();
    let contacts: usize = t.mailboxes.values().map(|m| m.contacts.live_count()).sum();
    let folders: usize = t.mailboxes.values().map(|m| m.folders.live_count()).sum();
    let mut shared: Vec<&str> = t
        .users
        .live()
        .filter(|u| u.mailbox == crate::model::MailboxKind::Shared)
        .filter_map(|u| u.user_principal_name.as_deref())
        .collect();
    shared.sort_unstable();
    let groups: Vec<Value> = t
        .groups
        .live()
        .map(|g| json!({"id": g.id, "displayName": g.display_name}))
        .collect();
    Json(json!({
        "sharedMailboxes": shared,
        "groupList": groups,
        "tenantId": t.tenant_id,
        "users": t.users.live_count(),
        "groups": t.groups.live_count(),
        "orgContacts": t.org_contacts.live_count(),
        "mailboxes": t.mailboxes.len(),
        "contactFolders": folders,
        "contacts": contacts,
        "version": t.version,
    }))
}

/// `GET /_sim/clock`: emulated now and its offset from the wall clock.
async fn clock(_: SimAdmin, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "now": crate::clock::graph_time(state.clock.now()),
        "offsetSeconds": state.clock.offset().num_seconds(),
    }))
}

/// `POST /_sim/clock/advance` `{"seconds": n}` (or `minutes`, `hours`, `days`).
async fn advance(_: SimAdmin, State(state): State<AppState>, body: Bytes) -> Ctl<Json<Value>> {
    #[derive(serde::Deserialize)]
    struct Advance {
        #[serde(default)]
        seconds: f64,
        #[serde(default)]
        minutes: f64,
        #[serde(default)]
        hours: f64,
        #[serde(default)]
        days: f64,
    }
    let a: Advance = parse_json(&body, "clock advance")?;
    let secs = a.seconds + a.minutes * 60.0 + a.hours * 3600.0 + a.days * 86400.0;
    if !secs.is_finite() || !(0.0..=3650.0 * 86400.0).contains(&secs) {
        return Err(bad(
            "the clock only moves forward, by at most ten years: give a non-negative `seconds`, `minutes`, `hours` or `days`",
        ));
    }
    state
        .clock
        .advance(chrono::Duration::milliseconds((secs * 1000.0) as i64));
    Ok(clock(SimAdmin, State(state)).await)
}

async fn get_faults(_: SimAdmin, State(state): State<AppState>) -> Json<Faults> {
    Json(state.faults.read().clone())
}

/// `PUT /_sim/faults`: replaces the whole fault configuration.
async fn put_faults(_: SimAdmin, State(state): State<AppState>, body: Bytes) -> Ctl<Json<Faults>> {
    let f: Faults = parse_json(&body, "faults")?;
    for r in &f.rules {
        check_rule(r)?;
    }
    *state.faults.write() = f.clone();
    Ok(Json(f))
}

fn check_rule(r: &FaultRule) -> Ctl<()> {
    let rates = [
        r.error_rate,
        r.throttle_rate,
        r.timeout_rate,
        r.truncate_rate,
        r.reset_rate,
    ];
    if rates.iter().any(|x| !(0.0..=1.0).contains(x)) || rates.iter().sum::<f64>() > 1.0 {
        return Err(bad(
            "fault rates are shares between 0 and 1 and together at most 1",
        ));
    }
    if let Some(s) = r.error_status {
        if !(500..=599).contains(&s) {
            return Err(bad("errorStatus must be a 5xx status"));
        }
    }
    Ok(())
}

/// `POST /_sim/faults/rules`: appends one rule.
async fn add_rule(_: SimAdmin, State(state): State<AppState>, body: Bytes) -> Ctl<Json<Faults>> {
    let r: FaultRule = parse_json(&body, "fault rule")?;
    check_rule(&r)?;
    let mut f = state.faults.write();
    f.rules.push(r);
    Ok(Json(f.clone()))
}

/// `DELETE /_sim/faults`: no more faults (latency included).
async fn clear_faults(_: SimAdmin, State(state): State<AppState>) -> StatusCode {
    *state.faults.write() = Faults::default();
    StatusCode::NO_CONTENT
}

async fn get_behaviour(_: SimAdmin, State(state): State<AppState>) -> Json<Behaviour> {
    Json(state.behaviour.read().clone())
}

/// `PATCH /_sim/behaviour`: changes some behaviour parameters (JSON merge).
async fn patch_behaviour(
    _: SimAdmin,
    State(state): State<AppState>,
    body: Bytes,
) -> Ctl<Json<Behaviour>> {
    let patch: serde_json::Map<String, Value> = parse_json(&body, "behaviour")?;
    let mut current = serde_json::to_value(&*state.behaviour.read())
        .map_err(|e| ControlError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    for (k, v) in patch {
        match current.get_mut(&k) {
            Some(slot) => *slot = v,
            None => {
                return Err(bad(format!(
                    "'{k}' is not a behaviour parameter; GET /_sim/behaviour lists them"
                )))
            }
        }
    }
    let b: Behaviour = serde_json::from_value(current)
        .map_err(|e| bad(format!("a behaviour value has the wrong type: {e}")))?;
    *state.behaviour.write() = b.clone();
    Ok(Json(b))
}

/// `GET /_sim/requests`: counts per endpoint, per mailbox, per status, and recent requests.
/// Query of `GET /_sim/requests`.
#[derive(Debug, serde::Deserialize)]
struct RequestsQuery {
    /// `true`: the counts alone (total, per status), for sampling while a job runs.
    totals: Option<bool>,
}

async fn requests(
    _: SimAdmin,
    State(state): State<AppState>,
    Query(q): Query<RequestsQuery>,
) -> Json<Value> {
    if q.totals == Some(true) {
        Json(state.reqlog.totals())
    } else {
        Json(state.reqlog.snapshot())
    }
}

async fn clear_requests(_: SimAdmin, State(state): State<AppState>) -> StatusCode {
    state.reqlog.clear();
    StatusCode::NO_CONTENT
}

async fn reset_throttle(_: SimAdmin, State(state): State<AppState>) -> StatusCode {
    state.throttle.reset();
    StatusCode::NO_CONTENT
}

/// Query of `GET /_sim/sync-estimate`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EstimateQuery {
    /// Requests the client keeps in flight overall.
    concurrency: Option<f64>,
    /// Requests per second the emulator serves on this machine (from `bench/`).
    capacity_rps: Option<f64>,
    /// Contacts per delta page the client asks for.
    contact_page_size: Option<f64>,
}

/// `GET /_sim/sync-estimate`: the lower bound of a full sync's wall time against this tenant,
/// with its inputs and formula (the README explains it).
async fn sync_estimate(
    _: SimAdmin,
    State(state): State<AppState>,
    Query(q): Query<EstimateQuery>,
) -> Ctl<Json<Value>> {
    let b = state.behaviour.read().clone();
    let latency_ms = state
        .faults
        .read()
        .latency
        .as_ref()
        .map(|l| l.mean_ms())
        .unwrap_or(0.0);
    let concurrency = q.concurrency.unwrap_or(16.0);
    let capacity = q.capacity_rps.unwrap_or(DEFAULT_CAPACITY_RPS);
    let page = q
        .contact_page_size
        .unwrap_or(b.outlook_delta_max_page_size as f64)
        .clamp(1.0, b.outlook_delta_max_page_size as f64);
    if concurrency < 1.0 || capacity <= 0.0 {
        return Err(bad("concurrency must be ≥ 1 and capacityRps > 0"));
    }
    let t = state.tenant.read();
    let users = t.users.live_count() as f64;
    let user_pages = (users / 999.0).ceil().max(1.0);
    let mut outlook_requests = 0.0;
    let mut longest_mailbox = 0.0f64;
    for m in t.mailboxes.values() {
        let mut folders: Vec<String> = m.folders.live().map(|f| f.id.clone()).collect();
        folders.push(m.default_folder_id.clone());
        let mut per_mailbox = 1.0; // contactFolders list
        for f in &folders {
            let n = m
                .contacts
                .live()
                .filter(|c| c.parent_folder_id.as_deref() == Some(f))
                .count() as f64;
            per_mailbox += (n / page).ceil().max(1.0);
        }
        outlook_requests += per_mailbox;
        longest_mailbox = longest_mailbox.max(per_mailbox);
    }
    let total = user_pages + outlook_requests;
    let rtt = latency_ms / 1000.0;
    // Three bounds; the sync can be no faster than the slowest of them.
    let chain = user_pages * rtt;
    // The 4-at-a-time limit applies per mailbox (default reading) or to the app across all
    // mailboxes (the other reading): then every Outlook request queues behind the same 4.
    let outlook_queue = match b.outlook_concurrency_scope {
        crate::config::OutlookConcurrencyScope::PerMailbox => longest_mailbox,
        crate::config::OutlookConcurrencyScope::PerApp => outlook_requests,
    };
    let per_mailbox = outlook_queue / b.outlook_concurrency.max(1) as f64 * rtt;
    let throughput = total / (concurrency / rtt.max(1e-9)).min(capacity);
    let bound = chain.max(per_mailbox).max(throughput);
    Ok(Json(json!({
        "inputs": {
            "users": users,
            "mailboxes": t.mailboxes.len(),
            "userPageSize": 999,
            "contactPageSize": page,
            "meanLatencyMs": latency_ms,
            "clientConcurrency": concurrency,
            "outlookConcurrencyPerMailbox": b.outlook_concurrency,
            "outlookConcurrencyScope": b.outlook_concurrency_scope,
            "capacityRps": capacity,
        },
        "requests": {"userPages": user_pages, "outlook": outlook_requests, "total": total,
                     "longestMailbox": longest_mailbox},
        "bounds": {"userPageChainSeconds": chain, "busiestMailboxSeconds": per_mailbox,
                   "throughputSeconds": throughput},
        "lowerBoundSeconds": bound,
        "formula": "T >= max(ceil(U/999) * L, Q / 4 * L, R / min(C / L, K))  where U users, L mean latency (s), R_m requests for mailbox m (1 + sum over its folders of ceil(contacts/page)), Q = max_m(R_m) when the Outlook limit is per mailbox or sum_m(R_m) when it is per app (outlookConcurrencyScope), R = ceil(U/999) + sum_m R_m, C client concurrency, K emulator capacity (requests/s)",
    })))
}

/// The emulator's measured capacity on the 2-core reference machine (see `bench/`).
pub const DEFAULT_CAPACITY_RPS: f64 = 5_000.0;
