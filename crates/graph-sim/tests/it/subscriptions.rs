//! Change notifications over real HTTP, with a real receiver on loopback: the validation
//! handshake, delivery with clientState, retries, presence subscriptions (delegated only),
//! lifetimes, renewal, deletion and lifecycle events.

use crate::common::{assert_graph_error, get, send};
use crate::presence::{advance, control, delegated, tenant_sim};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use graph_sim::subscriptions::{Change, ChangeType};
use graph_sim::RunningSim;
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How the receiver answers validation requests.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Wrong,
    Fail,
}

struct RecvState {
    mode: Mode,
    fail_next: usize,
    validations: usize,
    received: Vec<(String, Value)>,
}

type Recv = Arc<Mutex<RecvState>>;

async fn hook(
    State(st): State<Recv>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> axum::response::Response {
    let mut s = st.lock();
    if let Some(t) = q.get("validationToken") {
        s.validations += 1;
        return match s.mode {
            Mode::Echo => {
                (StatusCode::OK, [("content-type", "text/plain")], t.clone()).into_response()
            }
            Mode::Wrong => {
                (StatusCode::OK, [("content-type", "text/plain")], "nope").into_response()
            }
            Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    if s.fail_next > 0 && uri.path() == "/hook" {
        s.fail_next -= 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.received.push((uri.path().to_string(), v));
    StatusCode::ACCEPTED.into_response()
}

/// Starts a receiver; returns its base URL and state.
async fn receiver(mode: Mode) -> (String, Recv) {
    let st = Arc::new(Mutex::new(RecvState {
        mode,
        fail_next: 0,
        validations: 0,
        received: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .route("/life", axum::routing::post(hook))
        .with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), st)
}

/// Waits up to 10 s for `n` POSTs on `path`; returns their bodies.
async fn wait_for(st: &Recv, path: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let got: Vec<Value> = st
            .lock()
            .received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} notifications arrived on {path}");
}

fn in_minutes(sim: &RunningSim, mins: i64) -> String {
    (sim.state.clock.now() + chrono::Duration::minutes(mins))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn subscribe(sim: &RunningSim, token: &str, body: Value) -> (u16, Value) {
    let (s, _, v) = send(
        sim,
        Method::POST,
        "/v1.0/subscriptions",
        token,
        Some(body),
        &[],
    )
    .await;
    (s, v)
}

fn user_change(id: &str, ct: ChangeType) -> Change {
    Change {
        resource: format!("Users/{id}"),
        id: id.to_string(),
        user_id: None,
        folder_id: None,
        odata_type: "#Microsoft.Graph.User".into(),
        change_type: ct,
    }
}

#[tokio::test]
async fn handshake_then_notifications_with_client_state() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let (s, sub) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated,deleted",
            "notificationUrl": format!("{url}/hook"),
            "resource": "/users",
            "expirationDateTime": in_minutes(&sim, 60 * 24),
            "clientState": "secretClientValue",
        }),
    )
    .await;
    assert_eq!(s, 201, "{sub}");
    assert_eq!(st.lock().validations, 1);
    let keys: BTreeSet<&str> = sub
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = [
        "@odata.context",
        "id",
        "resource",
        "applicationId",
        "changeType",
        "clientState",
        "notificationUrl",
        "notificationQueryOptions",
        "lifecycleNotificationUrl",
        "expirationDateTime",
        "creatorId",
        "includeResourceData",
        "latestSupportedTlsVersion",
        "encryptionCertificate",
        "encryptionCertificateId",
        "notificationUrlAppId",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    assert_eq!(sub["applicationId"], sim.credentials.client_id.as_str());
    assert_eq!(sub["latestSupportedTlsVersion"], "v1_2");
    let (s, _, list) = get(&sim, "/v1.0/subscriptions", &tok).await;
    assert_eq!(s, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);

    sim.state
        .subscriptions
        .publish(user_change(&ids[0], ChangeType::Created));
    sim.state
        .subscriptions
        .publish(user_change(&ids[0], ChangeType::Updated));
    let got = wait_for(&st, "/hook", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Vec<Value> = st
        .lock()
        .received
        .iter()
        .flat_map(|(_, v)| v["value"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(all.len(), 1, "created is not subscribed: {all:?}");
    let n = &got[0]["value"][0];
    assert_eq!(n["clientState"], "secretClientValue");
    assert_eq!(n["subscriptionId"], sub["id"]);
    assert_eq!(n["changeType"], "updated");
    assert_eq!(n["resource"], format!("Users/{}", ids[0]));
    assert_eq!(n["tenantId"], "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_eq!(n["resourceData"]["id"], ids[0].as_str());
    assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.User");
}

#[tokio::test]
async fn failed_validation_creates_nothing() {
    let (sim, _) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    for mode in [Mode::Wrong, Mode::Fail] {
        let (url, st) = receiver(mode).await;
        let (s, v) = subscribe(
            &sim,
            &tok,
            json!({
                "changeType": "updated",
                "notificationUrl": format!("{url}/hook"),
                "resource": "/users",
                "expirationDateTime": in_minutes(&sim, 120),
            }),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        assert_graph_error(&v, "ValidationError");
        assert_eq!(st.lock().validations, 1);
    }
    let (s, v) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated",
            "notificationUrl": "http://127.0.0.1:1/hook",
            "resource": "/users",
            "expirationDateTime": in_minutes(&sim, 120),
        }),
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "ValidationError");
    let (_, _, list) = get(&sim, "/v1.0/subscriptions", &tok).await;
    assert_eq!(list["value"], json!([]));
}

#[tokio::test]
async fn http_urls_are_refused_unless_allowed() {
    let (sim, _) = tenant_sim(1, |b| b.allow_http_notification_urls = false).await;
    let (url, st) = receiver(Mode::Echo).await;
    let (s, v) = subscribe(
        &sim,
        &sim.app_token(),
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "resource": "/users", "expirationDateTime": in_minutes(&sim, 120),
        }),
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "InvalidRequest");
    assert_eq!(st.lock().validations, 0);
}

#[tokio::test]
async fn failing_receiver_is_retried_until_it_accepts() {
    let (sim, ids) = tenant_sim(1, |b| b.notification_retry_initial_secs = 0.1).await;
    let (url, st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let (s, sub) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "resource": format!("/users/{}", ids[0]), "expirationDateTime": in_minutes(&sim, 120),
            "clientState": "cs",
        }),
    )
    .await;
    assert_eq!(s, 201);
    st.lock().fail_next = 2;
    sim.state
        .subscriptions
        .publish(user_change(&ids[0], ChangeType::Updated));
    let got = wait_for(&st, "/hook", 1).await;
    assert_eq!(got[0]["value"][0]["clientState"], "cs");
    let (s, v) = control(&sim, Method::GET, "/_sim/subscriptions", None).await;
    assert_eq!(s, 200);
    let entry = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == sub["id"])
        .unwrap()
        .clone();
    assert_eq!(entry["stats"]["failedAttempts"], 2);
    assert_eq!(entry["stats"]["delivered"], 1);
    assert_eq!(entry["stats"]["pending"], 0);
}

#[tokio::test]
async fn notifications_are_dropped_after_the_horizon() {
    let (sim, ids) = tenant_sim(1, |b| {
        b.notification_retry_initial_secs = 0.05;
        b.notification_retry_horizon_secs = 60.0;
    })
    .await;
    let (url, st) = receiver(Mode::Echo).await;
    let (s, sub) = subscribe(
        &sim,
        &sim.app_token(),
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "resource": "/users", "expirationDateTime": in_minutes(&sim, 600),
        }),
    )
    .await;
    assert_eq!(s, 201);
    st.lock().fail_next = usize::MAX;
    sim.state
        .subscriptions
        .publish(user_change(&ids[0], ChangeType::Updated));
    tokio::time::sleep(Duration::from_millis(300)).await;
    advance(&sim, 2);
    let mut dropped = 0;
    for _ in 0..100 {
        let (_, v) = control(&sim, Method::GET, "/_sim/subscriptions", None).await;
        dropped = v["value"][0]["stats"]["dropped"].as_u64().unwrap_or(0);
        if dropped == 1 {
            assert_eq!(v["value"][0]["id"], sub["id"]);
            assert_eq!(v["value"][0]["stats"]["pending"], 0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dropped, 1);
}

#[tokio::test]
async fn presence_subscriptions_are_delegated_only() {
    let (sim, ids) = tenant_sim(2, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let body = json!({
        "changeType": "updated", "notificationUrl": format!("{url}/hook"),
        "resource": format!("/communications/presences?$filter=id in ('{}','{}')", ids[0], ids[1]),
        "expirationDateTime": in_minutes(&sim, 50), "clientState": "p",
    });
    let (s, v) = subscribe(&sim, &sim.app_token(), body.clone()).await;
    assert_eq!(s, 403, "{v}");
    assert_graph_error(&v, "ExtensionError");
    let me = delegated(&sim, &ids[0], &["Presence.Read.All"]);
    let (s, v) = subscribe(&sim, &me, body.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["creatorId"], ids[0].as_str());
    let (s, _) = subscribe(&sim, &me, body).await;
    assert_eq!(s, 403, "one presence subscription per user and app");
    // A Teams client change of user 1 arrives.
    let (s, _) = control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{}/teams", ids[1]),
        Some(json!({"availability": "Busy", "activity": "InAMeeting"})),
    )
    .await;
    assert_eq!(s, 200);
    let got = wait_for(&st, "/hook", 1).await;
    let n = &got[0]["value"][0];
    assert_eq!(
        n["resource"],
        format!("communications/presences/{}", ids[1])
    );
    assert_eq!(n["changeType"], "updated");
    assert_eq!(n["clientState"], "p");
    assert_eq!(
        n["resourceData"]["@odata.id"],
        format!("users/{}/presence", ids[1])
    );
    assert_eq!(
        n["resourceData"]["@odata.type"],
        "#microsoft.graph.presence"
    );
    assert_eq!(n["resourceData"]["id"], ids[1].as_str());
}

#[tokio::test]
async fn presence_fade_is_notified_by_the_ticker() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let me = delegated(&sim, &ids[0], &["Presence.Read.All"]);
    let (s, _) = subscribe(
        &sim,
        &me,
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "resource": format!("/communications/presences/{}", ids[0]),
            "expirationDateTime": in_minutes(&sim, 60),
        }),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _, _) = send(&sim, Method::POST, &format!("/v1.0/users/{}/presence/setPresence", ids[0]),
        &sim.app_token(),
        Some(json!({"sessionId": sim.credentials.client_id, "availability": "Available", "activity": "Available", "expirationDuration": "PT1H"})),
        &[]).await;
    assert_eq!(s, 200);
    wait_for(&st, "/hook", 1).await;
    advance(&sim, 6);
    let got = wait_for(&st, "/hook", 2).await;
    assert_eq!(got.len(), 2, "one notification per change");
}

#[tokio::test]
async fn lifetimes_change_types_and_resources_are_checked() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (url, _st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let me = delegated(&sim, &ids[0], &["Presence.Read.All"]);
    let hook = format!("{url}/hook");
    let cases = [
        ("/users", "updated", 41_761, &tok, 400),
        ("/users", "updated", 41_700, &tok, 201),
        ("/groups", "created", 60, &tok, 400),
        (
            &format!("/users/{}/contacts", ids[0])[..],
            "created,updated,deleted",
            10_081,
            &tok,
            400,
        ),
        (
            &format!("/users/{}/contacts", ids[0])[..],
            "created,updated,deleted",
            10_000,
            &tok,
            201,
        ),
        (
            &format!("/communications/presences/{}", ids[0])[..],
            "updated",
            61,
            &me,
            400,
        ),
        ("/contacts", "updated", 60, &tok, 400),
        (
            "/communications/presences/user0@contoso.onmicrosoft.com",
            "updated",
            50,
            &me,
            400,
        ),
        ("/users", "updated", -5, &tok, 400),
    ];
    for (resource, ct, mins, token, want) in cases {
        let (s, v) = subscribe(
            &sim,
            token,
            json!({
                "changeType": ct, "notificationUrl": hook, "resource": resource,
                "expirationDateTime": in_minutes(&sim, mins),
            }),
        )
        .await;
        assert_eq!(s, want, "{resource} {ct} {mins}: {v}");
        if want == 400 {
            assert_graph_error(&v, "InvalidRequest");
        }
    }
    let (s, v) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated", "notificationUrl": hook, "resource": "/users",
            "expirationDateTime": in_minutes(&sim, 10), "clientState": "x".repeat(129),
        }),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated", "notificationUrl": hook, "resource": "/users",
            "expirationDateTime": in_minutes(&sim, 10),
        }),
    )
    .await;
    assert_eq!(s, 201);
    let exp =
        chrono::DateTime::parse_from_rfc3339(v["expirationDateTime"].as_str().unwrap()).unwrap();
    let ahead = exp.with_timezone(&chrono::Utc) - sim.state.clock.now();
    assert!(
        ahead > chrono::Duration::minutes(44),
        "raised to 45 minutes: {ahead}"
    );
}

#[tokio::test]
async fn renew_delete_and_expiry() {
    let (sim, _) = tenant_sim(1, |_| {}).await;
    let (url, _st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let body = json!({
        "changeType": "updated", "notificationUrl": format!("{url}/hook"),
        "resource": "/groups", "expirationDateTime": in_minutes(&sim, 60),
    });
    let (_, sub) = subscribe(&sim, &tok, body.clone()).await;
    let id = sub["id"].as_str().unwrap().to_string();
    let path = format!("/v1.0/subscriptions/{id}");
    let new_exp = in_minutes(&sim, 60 * 24 * 3);
    let (s, _, v) = send(
        &sim,
        Method::PATCH,
        &path,
        &tok,
        Some(json!({"expirationDateTime": new_exp})),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        &v["expirationDateTime"].as_str().unwrap()[..19],
        &new_exp[..19]
    );
    let (s, _, v) = send(
        &sim,
        Method::PATCH,
        &path,
        &tok,
        Some(json!({"expirationDateTime": in_minutes(&sim, 50_000)})),
        &[],
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, _, _) = send(&sim, Method::DELETE, &path, &tok, None, &[]).await;
    assert_eq!(s, 204);
    let (s, _, v) = get(&sim, &path, &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&v, "ResourceNotFound");
    // Expiry on the emulated clock.
    let (_, sub) = subscribe(&sim, &tok, body).await;
    let path = format!("/v1.0/subscriptions/{}", sub["id"].as_str().unwrap());
    advance(&sim, 61);
    let tok = sim.app_token();
    assert_eq!(get(&sim, &path, &tok).await.0, 404);
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &path,
        &tok,
        Some(json!({"expirationDateTime": in_minutes(&sim, 120)})),
        &[],
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn lifecycle_events_only_where_graph_sends_them() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let (s, users) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "lifecycleNotificationUrl": format!("{url}/life"),
            "resource": "/users", "expirationDateTime": in_minutes(&sim, 120), "clientState": "L",
        }),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(st.lock().validations, 2, "both URLs are validated");
    let trigger = |id: &Value| format!("/_sim/subscriptions/{}/lifecycle", id.as_str().unwrap());
    let (s, _) = control(
        &sim,
        Method::POST,
        &trigger(&users["id"]),
        Some(json!({"event": "missed"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = control(
        &sim,
        Method::POST,
        &trigger(&users["id"]),
        Some(json!({"event": "reauthorizationRequired"})),
    )
    .await;
    assert_eq!(s, 202);
    let got = wait_for(&st, "/life", 1).await;
    let e = &got[0]["value"][0];
    assert_eq!(e["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(e["clientState"], "L");
    assert_eq!(e["subscriptionId"], users["id"]);
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!(
            "/v1.0/subscriptions/{}/reauthorize",
            users["id"].as_str().unwrap()
        ),
        &tok,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);

    let (s, contacts) = subscribe(&sim, &tok, json!({
        "changeType": "created,updated,deleted", "notificationUrl": format!("{url}/hook"),
        "lifecycleNotificationUrl": format!("{url}/life"),
        "resource": format!("/users/{}/contacts", ids[0]), "expirationDateTime": in_minutes(&sim, 120),
    }))
    .await;
    assert_eq!(s, 201);
    let (s, _) = control(
        &sim,
        Method::POST,
        &trigger(&contacts["id"]),
        Some(json!({"event": "missed"})),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = control(
        &sim,
        Method::POST,
        &trigger(&contacts["id"]),
        Some(json!({"event": "subscriptionRemoved"})),
    )
    .await;
    assert_eq!(s, 202);
    let got = wait_for(&st, "/life", 3).await;
    let events: BTreeSet<String> = got
        .iter()
        .map(|v| {
            v["value"][0]["lifecycleEvent"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        events.contains("missed") && events.contains("subscriptionRemoved"),
        "{events:?}"
    );
    let (s, _, _) = get(
        &sim,
        &format!("/v1.0/subscriptions/{}", contacts["id"].as_str().unwrap()),
        &tok,
    )
    .await;
    assert_eq!(s, 404, "subscriptionRemoved removes the subscription");
}

#[tokio::test]
async fn reauthorization_required_before_the_token_expires() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let me = delegated(&sim, &ids[0], &["Presence.Read.All"]);
    let (s, _) = subscribe(
        &sim,
        &me,
        json!({
            "changeType": "updated", "notificationUrl": format!("{url}/hook"),
            "lifecycleNotificationUrl": format!("{url}/life"),
            "resource": format!("/communications/presences/{}", ids[0]),
            "expirationDateTime": in_minutes(&sim, 60),
        }),
    )
    .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(st.lock().received.iter().all(|(p, _)| p != "/life"));
    advance(&sim, 51);
    let got = wait_for(&st, "/life", 1).await;
    assert_eq!(
        got[0]["value"][0]["lifecycleEvent"],
        "reauthorizationRequired"
    );
}

#[tokio::test]
async fn dropped_contact_notifications_send_missed() {
    let (sim, ids) = tenant_sim(1, |b| {
        b.notification_retry_initial_secs = 0.05;
        b.notification_retry_horizon_secs = 60.0;
    })
    .await;
    let (url, st) = receiver(Mode::Echo).await;
    let (s, sub) = subscribe(
        &sim,
        &sim.app_token(),
        json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": format!("{url}/hook"),
            "lifecycleNotificationUrl": format!("{url}/life"),
            "resource": format!("/users/{}/contacts", ids[0]),
            "expirationDateTime": in_minutes(&sim, 600),
        }),
    )
    .await;
    assert_eq!(s, 201, "{sub}");
    st.lock().fail_next = usize::MAX;
    sim.state.subscriptions.publish(Change {
        resource: format!("Users/{}/Contacts/c1", ids[0]),
        id: "c1".into(),
        user_id: Some(ids[0].clone()),
        folder_id: None,
        odata_type: "#Microsoft.Graph.Contact".into(),
        change_type: ChangeType::Created,
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    advance(&sim, 2);
    let got = wait_for(&st, "/life", 1).await;
    assert_eq!(got[0]["value"][0]["lifecycleEvent"], "missed");
    assert_eq!(got[0]["value"][0]["subscriptionId"], sub["id"]);
}

#[tokio::test]
async fn revoked_consent_asks_for_reauthorization() {
    let (sim, _) = tenant_sim(1, |_| {}).await;
    let (url, st) = receiver(Mode::Echo).await;
    let tok = sim.app_token();
    let (s, sub) = subscribe(
        &sim,
        &tok,
        json!({
            "changeType": "updated",
            "notificationUrl": format!("{url}/hook"),
            "lifecycleNotificationUrl": format!("{url}/life"),
            "resource": "/groups",
            "expirationDateTime": in_minutes(&sim, 24 * 60),
        }),
    )
    .await;
    assert_eq!(s, 201);
    let app = sim.credentials.client_id.clone();
    sim.state
        .tenant
        .write()
        .apps
        .get_mut(&app)
        .unwrap()
        .admin_consented = false;
    let got = wait_for(&st, "/life", 1).await;
    assert_eq!(
        got[0]["value"][0]["lifecycleEvent"],
        "reauthorizationRequired"
    );
    assert_eq!(got[0]["value"][0]["subscriptionId"], sub["id"]);
    let path = format!(
        "/v1.0/subscriptions/{}/reauthorize",
        sub["id"].as_str().unwrap()
    );
    let (s, _, v) = send(&sim, Method::POST, &path, &tok, None, &[]).await;
    assert_eq!(s, 403, "{v}");
}
