//! Presence over real HTTP: every setPresence pair, aggregation, preferred presence, fades
//! and expiry on the emulated clock, sequence numbers, bulk reads, permissions, throttling.

use crate::common::{assert_graph_error, get, send};
use graph_sim::config::Behaviour;
use graph_sim::model::{App, AppSecret, MailboxKind, User};
use graph_sim::tenant_file::{TenantFile, UserRecord, UserWithInternals};
use graph_sim::{RunningSim, SimConfig, TenantSource};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Application permissions of the test app.
pub const ROLES: &[&str] = &[
    "Presence.ReadWrite.All",
    "Presence.Read.All",
    "User.Read.All",
    "Group.Read.All",
    "Contacts.Read",
];

/// Starts an emulator with `n` users (mailboxes included) and an app holding [`ROLES`];
/// returns it with the user ids.
pub async fn tenant_sim(n: usize, tweak: impl FnOnce(&mut Behaviour)) -> (RunningSim, Vec<String>) {
    let ids: Vec<String> = (0..n)
        .map(|i| format!("00000000-0000-4000-8000-{:012}", i + 1))
        .collect();
    let users = ids
        .iter()
        .enumerate()
        .map(|(i, id)| UserRecord {
            user: UserWithInternals {
                user: User {
                    id: id.clone(),
                    display_name: Some(format!("User {i}")),
                    user_principal_name: Some(format!("user{i}@contoso.onmicrosoft.com")),
                    ..Default::default()
                },
                mailbox: MailboxKind::User,
                photo: None,
            },
            mailbox_data: None,
            presence: None,
        })
        .collect();
    let app = App {
        client_id: "11111111-2222-4333-8444-555555555555".into(),
        display_name: "pbx365".into(),
        secrets: vec![AppSecret {
            key_id: "k".into(),
            value: "secret".into(),
            end_date_time: "2099-01-01T00:00:00Z".into(),
        }],
        app_roles: ROLES.iter().map(|s| s.to_string()).collect(),
        delegated_scopes: ["Presence.Read.All", "Presence.ReadWrite", "Contacts.Read"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        admin_consented: true,
        ..Default::default()
    };
    let file = TenantFile {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        domain: "contoso.onmicrosoft.com".into(),
        display_name: "Contoso".into(),
        apps: vec![app],
        users,
        ..Default::default()
    };
    let mut cfg = SimConfig::loopback(0, 1);
    cfg.tls_listen = None;
    cfg.tenant = TenantSource::File(Box::new(file));
    cfg.behaviour.retry_after_omit_rate = 0.0;
    tweak(&mut cfg.behaviour);
    let sim = graph_sim::start(cfg).await.expect("emulator starts");
    (sim, ids)
}

/// A delegated token for `user` with `scopes`.
pub fn delegated(sim: &RunningSim, user: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    sim.state
        .issue_delegated_token(&sim.credentials.client_id, user, &scopes)
        .expect("delegated token")
        .access_token
}

/// Advances the emulated clock by `mins` minutes.
pub fn advance(sim: &RunningSim, mins: i64) {
    sim.state.clock.advance(chrono::Duration::minutes(mins));
}

/// Calls a `/_sim` control.
pub async fn control(
    sim: &RunningSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let key = sim.credentials.admin_key.clone();
    let (s, _, b) = send(sim, method, path, "", body, &[("x-sim-key", &key)]).await;
    (s, b)
}

async fn presence(sim: &RunningSim, token: &str, user: &str) -> Value {
    let (s, _, b) = get(sim, &format!("/v1.0/users/{user}/presence"), token).await;
    assert_eq!(s, 200, "{b}");
    b
}

fn shown(p: &Value) -> (String, String) {
    (
        p["availability"].as_str().unwrap_or("").to_string(),
        p["activity"].as_str().unwrap_or("").to_string(),
    )
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

async fn set(
    sim: &RunningSim,
    token: &str,
    user: &str,
    a: &str,
    b: &str,
    dur: Option<&str>,
) -> (u16, Value) {
    let mut body =
        json!({"sessionId": sim.credentials.client_id, "availability": a, "activity": b});
    if let Some(d) = dur {
        body["expirationDuration"] = d.into();
    }
    let (s, _, v) = send(
        sim,
        Method::POST,
        &format!("/v1.0/users/{user}/presence/setPresence"),
        token,
        Some(body),
        &[],
    )
    .await;
    (s, v)
}

#[tokio::test]
async fn presence_entity_has_exactly_the_schema_properties() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    let p = presence(&sim, &tok, &ids[0]).await;
    let keys: BTreeSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "@odata.context",
        "id",
        "availability",
        "activity",
        "statusMessage",
        "outOfOfficeSettings",
        "sequenceNumber",
        "workLocation",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    assert_eq!(shown(&p), pair("Offline", "Offline"));
    assert_eq!(p["id"], ids[0].as_str());
    assert!(p["@odata.context"].as_str().unwrap().ends_with(&format!(
        "/v1.0/$metadata#users('{}')/presence/$entity",
        ids[0]
    )));
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/communications/presences/{}", ids[0]),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["id"], ids[0].as_str());
    let (s, _, b) = get(
        &sim,
        "/v1.0/users/nobody@contoso.onmicrosoft.com/presence",
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "NotFound");
}

#[tokio::test]
async fn every_set_presence_pair_is_accepted_or_refused() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    let accepted = [
        ("Available", "Available"),
        ("Busy", "InACall"),
        ("Busy", "InAConferenceCall"),
        ("Away", "Away"),
        ("DoNotDisturb", "Presenting"),
    ];
    for (a, b) in accepted {
        let (s, v) = set(&sim, &tok, &ids[0], a, b, Some("PT1H")).await;
        assert_eq!(s, 200, "{a}/{b}: {v}");
        assert_eq!(shown(&presence(&sim, &tok, &ids[0]).await), pair(a, b));
    }
    let refused = [
        ("Busy", "Busy"),
        ("Busy", "InAMeeting"),
        ("DoNotDisturb", "DoNotDisturb"),
        ("BeRightBack", "BeRightBack"),
        ("Offline", "OffWork"),
        ("Available", "OutOfOffice"),
        ("available", "available"),
        ("Away", "Available"),
    ];
    for (a, b) in refused {
        let (s, v) = set(&sim, &tok, &ids[0], a, b, None).await;
        assert_eq!(s, 400, "{a}/{b}");
        assert_graph_error(&v, "BadRequest");
    }
    for d in ["PT4M", "PT4H1M", "5 minutes", "PT"] {
        let (s, _) = set(&sim, &tok, &ids[0], "Available", "Available", Some(d)).await;
        assert_eq!(s, 400, "{d}");
    }
    let (s, _, v) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{}/presence/setPresence", ids[0]),
        &tok,
        Some(json!({"sessionId": "22222222-2222-4222-8222-222222222222", "availability": "Available", "activity": "Available"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
}

#[tokio::test]
async fn sessions_aggregate_and_preferred_presence_wins() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (tok, u) = (sim.app_token(), ids[0].clone());
    let teams = format!("/_sim/presence/{u}/teams");
    // Preferred presence without any session: Offline.
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{u}/presence/setUserPreferredPresence"),
        &tok,
        Some(json!({"availability": "BeRightBack", "activity": "BeRightBack"})),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("Offline", "Offline")
    );
    // With a session, preferred beats it.
    set(&sim, &tok, &u, "Available", "Available", Some("PT1H")).await;
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("BeRightBack", "BeRightBack")
    );
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{u}/presence/clearUserPreferredPresence"),
        &tok,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("Available", "Available")
    );
    // Precedence among sessions: DoNotDisturb > Busy > Available > Away.
    let (s, _) = control(
        &sim,
        Method::PUT,
        &teams,
        Some(json!({"availability": "Busy", "activity": "InAMeeting"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("Busy", "InAMeeting")
    );
    control(
        &sim,
        Method::PUT,
        &teams,
        Some(json!({"availability": "DoNotDisturb", "activity": "Presenting"})),
    )
    .await;
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("DoNotDisturb", "Presenting")
    );
    control(
        &sim,
        Method::PUT,
        &teams,
        Some(json!({"availability": "Away", "activity": "Away"})),
    )
    .await;
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("Available", "Available")
    );
    let (s, _) = control(
        &sim,
        Method::PUT,
        &teams,
        Some(json!({"availability": "Busy", "activity": "Available"})),
    )
    .await;
    assert_eq!(s, 400);
    // Idle Teams client, then closed.
    control(
        &sim,
        Method::PUT,
        &teams,
        Some(json!({"availability": "Available", "activity": "Available"})),
    )
    .await;
    let (s, v) = control(
        &sim,
        Method::POST,
        &format!("/_sim/presence/{u}/idle"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        shown(&v),
        pair("Available", "Available"),
        "the app session still shows Available"
    );
    let (s, _) = control(&sim, Method::DELETE, &teams, None).await;
    assert_eq!(s, 200);
    // Out of office.
    let (s, v) = control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{u}/out-of-office"),
        Some(json!({"isOutOfOffice": true, "message": "On leave"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let p = presence(&sim, &tok, &u).await;
    assert_eq!(shown(&p), pair("Available", "OutOfOffice"));
    assert_eq!(
        p["outOfOfficeSettings"],
        json!({"message": "On leave", "isOutOfOffice": true})
    );
}

#[tokio::test]
async fn idle_teams_client_shows_away() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let u = ids[0].clone();
    control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{u}/teams"),
        Some(json!({"availability": "Available", "activity": "Available"})),
    )
    .await;
    let (s, v) = control(
        &sim,
        Method::POST,
        &format!("/_sim/presence/{u}/idle"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(shown(&v), pair("Away", "Away"));
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Away", "Away")
    );
    // The Teams client never expires.
    advance(&sim, 60 * 24 * 30);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Away", "Away")
    );
}

#[tokio::test]
async fn available_session_fades_then_expires() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let u = ids[0].clone();
    set(
        &sim,
        &sim.app_token(),
        &u,
        "Available",
        "Available",
        Some("PT1H"),
    )
    .await;
    advance(&sim, 4);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Available", "Available")
    );
    advance(&sim, 1);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Available", "AvailableInactive")
    );
    advance(&sim, 5);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Away", "Away")
    );
    advance(&sim, 51);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Offline", "Offline")
    );
    // Default expiry is five minutes.
    set(&sim, &sim.app_token(), &u, "Busy", "InACall", None).await;
    advance(&sim, 4);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Busy", "InACall")
    );
    advance(&sim, 2);
    assert_eq!(
        shown(&presence(&sim, &sim.app_token(), &u).await),
        pair("Offline", "Offline")
    );
}

#[tokio::test]
async fn clearing_the_only_session_shows_offline() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (tok, u) = (sim.app_token(), ids[0].clone());
    set(&sim, &tok, &u, "Busy", "InACall", Some("PT1H")).await;
    let clear = format!("/v1.0/users/{u}/presence/clearPresence");
    let body = json!({"sessionId": sim.credentials.client_id});
    let (s, _, _) = send(&sim, Method::POST, &clear, &tok, Some(body.clone()), &[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        shown(&presence(&sim, &tok, &u).await),
        pair("Offline", "Offline")
    );
    let (s, _, v) = send(&sim, Method::POST, &clear, &tok, Some(body), &[]).await;
    assert_eq!(s, 404);
    assert_graph_error(&v, "NotFound");
    // Another application's (or the Teams client's) session is not this app's to clear.
    let other = json!({"sessionId": "teams-client"});
    let (s, _, v) = send(&sim, Method::POST, &clear, &tok, Some(other), &[]).await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
}

#[tokio::test]
async fn sequence_number_grows_with_changes_and_is_stable_without() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let u = ids[0].clone();
    let seq = |p: &Value| p["sequenceNumber"].as_str().unwrap().to_string();
    let s0 = seq(&presence(&sim, &sim.app_token(), &u).await);
    set(
        &sim,
        &sim.app_token(),
        &u,
        "Available",
        "Available",
        Some("PT1H"),
    )
    .await;
    let s1 = seq(&presence(&sim, &sim.app_token(), &u).await);
    assert!(s1 > s0, "{s1} > {s0}");
    assert_eq!(s1, seq(&presence(&sim, &sim.app_token(), &u).await));
    advance(&sim, 1);
    assert_eq!(
        s1,
        seq(&presence(&sim, &sim.app_token(), &u).await),
        "no change, same stamp"
    );
    advance(&sim, 5);
    let s2 = seq(&presence(&sim, &sim.app_token(), &u).await);
    assert!(s2 > s1, "the fade is a change");
    assert_eq!(s2, seq(&presence(&sim, &sim.app_token(), &u).await));
    set(&sim, &sim.app_token(), &u, "Busy", "InACall", Some("PT1H")).await;
    assert!(seq(&presence(&sim, &sim.app_token(), &u).await) > s2);
}

#[tokio::test]
async fn get_presences_by_user_id_limits_and_unknown_ids() {
    let (sim, ids) = tenant_sim(2, |_| {}).await;
    let tok = sim.app_token();
    let path = "/v1.0/communications/getPresencesByUserId";
    let many: Vec<String> = (0..651)
        .map(|i| format!("00000000-0000-4000-9000-{i:012}"))
        .collect();
    let (s, _, v) = send(
        &sim,
        Method::POST,
        path,
        &tok,
        Some(json!({"ids": many})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
    let (s, _, v) = send(
        &sim,
        Method::POST,
        path,
        &tok,
        Some(json!({"ids": many[..650]})),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 650);
    let unknown = "99999999-0000-4000-8000-000000000000";
    let (s, _, v) = send(
        &sim,
        Method::POST,
        path,
        &tok,
        Some(json!({"ids": [ids[0], ids[1], unknown]})),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    let value = v["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    assert_eq!(shown(&value[0]), pair("Offline", "Offline"));
    assert_eq!(value[2]["id"], unknown);
    assert_eq!(shown(&value[2]), pair("PresenceUnknown", "PresenceUnknown"));
    let (s, _, _) = send(
        &sim,
        Method::POST,
        path,
        &tok,
        Some(json!({"nope": 1})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn permissions_are_enforced() {
    let (sim, ids) = tenant_sim(2, |_| {}).await;
    let app = sim.credentials.client_id.clone();
    sim.state
        .tenant
        .write()
        .apps
        .get_mut(&app)
        .unwrap()
        .app_roles = ["User.Read.All".to_string()].into_iter().collect();
    let tok = sim.app_token();
    let (s, _, v) = get(&sim, &format!("/v1.0/users/{}/presence", ids[0]), &tok).await;
    assert_eq!(s, 403);
    assert_graph_error(&v, "Forbidden");
    sim.state
        .tenant
        .write()
        .apps
        .get_mut(&app)
        .unwrap()
        .app_roles = ["Presence.Read.All".to_string()].into_iter().collect();
    let tok = sim.app_token();
    assert_eq!(
        get(&sim, &format!("/v1.0/users/{}/presence", ids[0]), &tok)
            .await
            .0,
        200
    );
    let (s, _) = set(&sim, &tok, &ids[0], "Available", "Available", None).await;
    assert_eq!(s, 403, "setPresence needs Presence.ReadWrite.All");
    // Delegated Presence.Read: own presence only.
    let me = delegated(&sim, &ids[0], &["Presence.Read"]);
    assert_eq!(get(&sim, "/v1.0/me/presence", &me).await.0, 200);
    assert_eq!(
        get(&sim, &format!("/v1.0/users/{}/presence", ids[0]), &me)
            .await
            .0,
        200
    );
    assert_eq!(
        get(&sim, &format!("/v1.0/users/{}/presence", ids[1]), &me)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn presence_calls_are_throttled_per_app() {
    let (sim, ids) = tenant_sim(1, |b| b.presence_requests_per_30s = 3).await;
    let tok = sim.app_token();
    let path = format!("/v1.0/users/{}/presence", ids[0]);
    for _ in 0..3 {
        assert_eq!(get(&sim, &path, &tok).await.0, 200);
    }
    let (s, h, v) = get(&sim, &path, &tok).await;
    assert_eq!(s, 429);
    assert_graph_error(&v, "TooManyRequests");
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&after));
}

#[tokio::test]
async fn outlook_automatic_replies_show_out_of_office() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (tok, u) = (sim.app_token(), ids[0].clone());
    control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{u}/teams"),
        Some(json!({"availability": "Available", "activity": "Available"})),
    )
    .await;
    {
        let mut t = sim.state.tenant.write();
        let r = &mut t.mailboxes.get_mut(&u).unwrap().automatic_replies;
        r.status = "alwaysEnabled".into();
        r.internal_reply_message = "Back Monday".into();
    }
    let p = presence(&sim, &tok, &u).await;
    assert_eq!(shown(&p), pair("Available", "OutOfOffice"));
    assert_eq!(
        p["outOfOfficeSettings"],
        json!({"message": "Back Monday", "isOutOfOffice": true})
    );
    // Busy wins over out-of-office in the activity.
    control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{u}/teams"),
        Some(json!({"availability": "Busy", "activity": "InACall"})),
    )
    .await;
    let p = presence(&sim, &tok, &u).await;
    assert_eq!(shown(&p), pair("Busy", "InACall"));
    assert_eq!(p["outOfOfficeSettings"]["isOutOfOffice"], true);
}
