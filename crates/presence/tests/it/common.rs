//! Shared pieces: an emulator with a known tenant, a Graph client on its clock, SIP agents,
//! a running bridge, and bounded waits.
#![allow(dead_code)]

use crate::kamailio::{password, Kamailio, DOMAIN};
use graph::auth::Clock;
use graph::{ClientConfig, Credential, GraphClient, Secret};
use graph_sim::model::{App, AppSecret, MailboxKind, User};
use graph_sim::tenant_file::{TenantFile, UserRecord, UserWithInternals};
use graph_sim::{RunningSim, SimConfig, TenantSource};
use presence::{BridgeHandle, BridgeSettings, MappedUser, StatusMaps};
use serde_json::{json, Value};
use sip::{AgentConfig, AgentEvent, Credentials, PresenceAgent};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// The extensions the tests map (accounts in every test Kamailio).
pub const EXTENSIONS: [&str; 2] = ["alice", "bob"];

/// An emulator whose tenant holds one user per extension, no presence sessions, and the
/// pbx365 app with presence permissions; returns it with the user ids.
pub async fn sim() -> (RunningSim, Vec<String>) {
    let names: Vec<String> = EXTENSIONS.iter().map(|s| s.to_string()).collect();
    sim_with(&names).await
}

/// An emulator whose tenant holds one user per name in `names` (UPN `name@contoso…`).
/// Each user id mapped to the extension of the same position.
pub fn mapped(ids: &[String], extensions: &[String]) -> Vec<MappedUser> {
    ids.iter()
        .zip(extensions)
        .map(|(id, e)| MappedUser {
            user_id: id.clone(),
            extension: e.clone(),
        })
        .collect()
}

pub async fn sim_with(names: &[String]) -> (RunningSim, Vec<String>) {
    let ids: Vec<String> = (0..names.len())
        .map(|i| format!("00000000-0000-4000-8000-{:012}", i + 1))
        .collect();
    let users = ids
        .iter()
        .enumerate()
        .map(|(i, id)| UserRecord {
            user: UserWithInternals {
                user: User {
                    id: id.clone(),
                    display_name: Some(format!("User {}", names[i])),
                    user_principal_name: Some(format!("{}@contoso.onmicrosoft.com", names[i])),
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
        app_roles: [
            "Presence.ReadWrite.All",
            "Presence.Read.All",
            "User.Read.All",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        delegated_scopes: BTreeSet::new(),
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
    cfg.tenant = TenantSource::File(Box::new(file));
    cfg.behaviour.retry_after_omit_rate = 0.0;
    let sim = graph_sim::start(cfg).await.expect("emulator starts");
    (sim, ids)
}

/// A Graph client of the app, on the emulator's clock.
pub fn client(sim: &RunningSim) -> GraphClient {
    let mut c = ClientConfig::new(
        sim.credentials.tenant_id.clone(),
        sim.credentials.client_id.clone(),
        Credential::Secret(Secret::new(sim.credentials.client_secret.clone())),
    );
    c.authority_url = sim.https_url().expect("HTTPS listener");
    c.graph_url = sim.graph_url();
    c.extra_root_ca_pem = Some(std::fs::read_to_string(&sim.ca_file).expect("CA file"));
    c.request_timeout = Duration::from_secs(10);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_cap = Duration::from_millis(200);
    let state = sim.state.clone();
    c.clock = Clock::new(move || state.clock.now());
    GraphClient::new(c).expect("client")
}

/// An agent config for `user` on `k`, with short expiries so that a restarted server is
/// noticed within seconds.
pub fn agent_config(k: &Kamailio, user: &str) -> AgentConfig {
    let mut cfg = AgentConfig::new(k.addr(), DOMAIN, Credentials::new(user, password(user)));
    cfg.subscribe_expires = 4;
    cfg.max_retry = Duration::from_secs(1);
    cfg
}

/// A SIP agent signed in as `user`.
pub async fn agent(k: &Kamailio, user: &str) -> (PresenceAgent, UnboundedReceiver<AgentEvent>) {
    PresenceAgent::start(agent_config(k, user))
        .await
        .expect("start a SIP agent")
}

/// Bridge settings quick enough for tests: poll every 100 ms, tick every 100 ms, refresh
/// publications every second.
pub fn settings(maps: StatusMaps) -> BridgeSettings {
    let mut s = BridgeSettings::new("hq", maps);
    s.poll_every = Duration::from_millis(100);
    s.tick = Duration::from_millis(100);
    s.republish_every = Duration::from_secs(1);
    s
}

/// Sends the bridge's log to the test output when `TEST_LOG` names a filter
/// (e.g. `TEST_LOG=presence=debug,sip=debug`); silent otherwise. Installs once per process.
pub fn test_log() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Starts a bridge as the `bridge` account mapping user `i` to `EXTENSIONS[i]`.
pub async fn bridge(
    k: &Kamailio,
    sim: &RunningSim,
    ids: &[String],
    settings: BridgeSettings,
) -> BridgeHandle {
    test_log();
    let (agent, events) = agent(k, "bridge").await;
    let extensions: Vec<String> = EXTENSIONS.iter().map(|e| e.to_string()).collect();
    let users = mapped(ids, &extensions);
    let b = presence::run::start(settings, client(sim), agent, events, users).await;
    watching(&b).await;
    b
}

/// Waits (bounded) until the bridge watches every mapped extension: a second SUBSCRIBE to the
/// same presentity at the same moment makes the test Kamailio's SQLite answer 500.
pub async fn watching(b: &BridgeHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = b.status();
        if !s.users.is_empty() && s.users.values().all(|u| u.watching) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the bridge never watched every extension: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `/_sim` control call; status and JSON body.
pub async fn control(
    sim: &RunningSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{}", sim.http_url(), path))
        .header("x-sim-key", &sim.credentials.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("control request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The user's Teams client shows `availability`/`activity`.
pub async fn teams_client(sim: &RunningSim, user: &str, availability: &str, activity: &str) {
    let (s, b) = control(
        sim,
        reqwest::Method::PUT,
        &format!("/_sim/presence/{user}/teams"),
        Some(json!({"availability": availability, "activity": activity})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

/// What Teams shows for `user` now, read as another Graph caller would.
pub async fn shown(sim: &RunningSim, user: &str) -> (String, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/users/{user}/presence", sim.graph_url()))
        .bearer_auth(sim.app_token())
        .send()
        .await
        .expect("presence request");
    let v: Value = resp.json().await.expect("presence JSON");
    (
        v["availability"].as_str().unwrap_or("").to_string(),
        v["activity"].as_str().unwrap_or("").to_string(),
    )
}

/// Waits (bounded, polling every 20 ms) until Teams shows the pair; returns how long it took.
pub async fn until_shown(
    sim: &RunningSim,
    user: &str,
    want: (&str, &str),
    within: Duration,
) -> Duration {
    match shown_within(sim, user, want, within).await {
        Ok(took) => took,
        Err(now) => panic!("Teams still shows {now:?}, not {want:?}, after {within:?}"),
    }
}

/// Waits (bounded, polling every 20 ms) until Teams shows the pair: how long it took, or what
/// Teams showed at the deadline.
pub async fn shown_within(
    sim: &RunningSim,
    user: &str,
    want: (&str, &str),
    within: Duration,
) -> Result<Duration, (String, String)> {
    let start = Instant::now();
    loop {
        let now = shown(sim, user).await;
        if now.0 == want.0 && now.1 == want.1 {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= within {
            return Err(now);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many requests the emulator logged whose endpoint contains `part` (e.g. `setPresence`).
pub async fn requests(sim: &RunningSim, part: &str) -> u64 {
    let (s, log) = control(sim, reqwest::Method::GET, "/_sim/requests", None).await;
    assert_eq!(s, 200);
    log["byEndpoint"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.contains(part))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Waits (bounded) for the first event `pick` accepts.
pub async fn wait_for<T>(
    rx: &mut UnboundedReceiver<AgentEvent>,
    within: Duration,
    mut pick: impl FnMut(&AgentEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
                seen.push(e);
            }
            Ok(None) => panic!("agent stopped; events: {seen:#?}"),
            Err(_) => panic!("expected event did not come within {within:?}; events: {seen:#?}"),
        }
    }
}
