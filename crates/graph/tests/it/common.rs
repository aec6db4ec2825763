//! Shared helpers: an emulator, a client configured for it, the `/_sim` controls.
#![allow(dead_code)]

use graph::auth::Clock;
use graph::{ClientConfig, Credential, GraphClient, Secret};
use graph_sim::{RunningSim, SimConfig};
use serde_json::Value;
use std::time::Duration;

/// Starts an emulator with a generated tenant of `users` people.
pub async fn sim(users: usize) -> RunningSim {
    graph_sim::start(SimConfig::loopback(users, 7))
        .await
        .expect("emulator starts")
}

/// A client configuration for the emulator: Entra over HTTPS (trusting its CA), Graph over
/// HTTP, the emulator's clock, quick back-off.
pub fn config(sim: &RunningSim, credential: Credential) -> ClientConfig {
    let mut c = ClientConfig::new(
        sim.credentials.tenant_id.clone(),
        sim.credentials.client_id.clone(),
        credential,
    );
    c.authority_url = sim.https_url().expect("HTTPS listener");
    c.graph_url = sim.graph_url();
    c.extra_root_ca_pem = Some(std::fs::read_to_string(&sim.ca_file).expect("CA file"));
    c.request_timeout = Duration::from_secs(10);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_cap = Duration::from_millis(200);
    c.max_concurrency = 32;
    let state = sim.state.clone();
    c.clock = Clock::new(move || state.clock.now());
    c
}

/// A client of the default (fully consented) app with its secret.
pub fn client(sim: &RunningSim) -> GraphClient {
    GraphClient::new(config(sim, secret(sim))).expect("client")
}

/// The default app's secret credential.
pub fn secret(sim: &RunningSim) -> Credential {
    Credential::Secret(Secret::new(sim.credentials.client_secret.clone()))
}

/// A `/_sim` call with the admin key; status and JSON body (Null when none).
pub async fn admin(
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

/// The tenant as the emulator holds it (tenant-file format).
pub async fn tenant(sim: &RunningSim) -> Value {
    let (s, t) = admin(sim, reqwest::Method::GET, "/_sim/tenant", None).await;
    assert_eq!(s, 200);
    t
}

/// The request log.
pub async fn reqlog(sim: &RunningSim) -> Value {
    let (s, log) = admin(sim, reqwest::Method::GET, "/_sim/requests", None).await;
    assert_eq!(s, 200);
    log
}

/// How many requests the log counted for `endpoint` (e.g. `GET /v1.0/users`).
pub fn count(log: &Value, endpoint: &str) -> u64 {
    log["byEndpoint"][endpoint].as_u64().unwrap_or(0)
}

/// Adds a fault rule.
pub async fn fault(sim: &RunningSim, rule: Value) {
    let (s, body) = admin(sim, reqwest::Method::POST, "/_sim/faults/rules", Some(rule)).await;
    assert!(
        s == 200 || s == 201 || s == 204,
        "fault rule refused: {s} {body}"
    );
}

/// Ids of every user in the tenant, sorted.
pub async fn user_ids(sim: &RunningSim) -> Vec<String> {
    let t = tenant(sim).await;
    let mut ids: Vec<String> = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}
