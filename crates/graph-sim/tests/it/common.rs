//! Shared helpers: start an emulator on loopback, call it over HTTP.
#![allow(dead_code)]

use graph_sim::{RunningSim, SimConfig};
use serde_json::Value;

/// Starts an emulator with a generated tenant of `users` people.
pub async fn sim(users: usize) -> RunningSim {
    graph_sim::start(SimConfig::loopback(users, 42))
        .await
        .expect("emulator starts")
}

/// Starts an emulator with a custom config.
pub async fn sim_with(config: SimConfig) -> RunningSim {
    graph_sim::start(config).await.expect("emulator starts")
}

/// An HTTP client that trusts nothing special (plain HTTP use).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GET with a bearer token; returns status, headers and JSON body (Null when not JSON).
pub async fn get(
    sim: &RunningSim,
    path: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    send(sim, reqwest::Method::GET, path, token, None, &[]).await
}

/// Any request with a bearer token, an optional JSON body and extra headers.
pub async fn send(
    sim: &RunningSim,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{}", sim.http_url(), path)
    };
    let mut req = client().request(method, url).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, json)
}

/// Asserts Graph's error envelope with `code`.
pub fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    let inner = &body["error"]["innerError"];
    assert!(inner["request-id"].is_string(), "body: {body}");
    assert!(inner["client-request-id"].is_string(), "body: {body}");
    assert!(inner["date"].is_string(), "body: {body}");
}
