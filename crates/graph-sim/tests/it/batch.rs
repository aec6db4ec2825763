//! `$batch` over real HTTP: size and id checks, dependsOn with 424, per-request throttling with
//! inner Retry-After under an outer 200, and Content-Type checks for inner bodies.

use crate::common::{assert_graph_error, send};
use crate::presence::tenant_sim;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

async fn batch(sim: &graph_sim::RunningSim, token: &str, requests: Value) -> (u16, Value) {
    let (s, _, v) = send(
        sim,
        Method::POST,
        "/v1.0/$batch",
        token,
        Some(json!({"requests": requests})),
        &[],
    )
    .await;
    (s, v)
}

fn by_id(v: &Value) -> HashMap<String, Value> {
    v["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[tokio::test]
async fn more_than_twenty_requests_or_duplicate_ids_fail_the_batch() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    let reqs: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}/presence", ids[0])}))
        .collect();
    let (s, v) = batch(&sim, &tok, json!(reqs)).await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
    let (s, v) = batch(&sim, &tok, json!(reqs[..20])).await;
    assert_eq!(s, 200);
    assert_eq!(v["responses"].as_array().unwrap().len(), 20);
    let (s, v) = batch(
        &sim,
        &tok,
        json!([
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "A", "method": "GET", "url": "/users"},
        ]),
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
    let (s, _, v) = send(
        &sim,
        Method::POST,
        "/v1.0/$batch",
        &tok,
        Some(json!({"nope": []})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
}

#[tokio::test]
async fn depends_on_orders_and_fails_dependents_with_424() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    let u = &ids[0];
    let (s, v) = batch(&sim, &tok, json!([
        {"id": "1", "method": "POST", "url": format!("/users/{u}/presence/setPresence"),
         "headers": {"Content-Type": "application/json"},
         "body": {"sessionId": sim.credentials.client_id, "availability": "Busy", "activity": "InACall"}},
        {"id": "2", "method": "GET", "url": format!("users/{u}/presence"), "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users/nobody/presence"},
        {"id": "4", "method": "GET", "url": format!("/users/{u}/presence"), "dependsOn": ["3"]},
        {"id": "5", "method": "POST", "url": format!("/users/{u}/presence/setPresence"),
         "body": {"sessionId": sim.credentials.client_id, "availability": "Away", "activity": "Away"}},
    ]))
    .await;
    assert_eq!(s, 200, "{v}");
    let r = by_id(&v);
    assert_eq!(r["1"]["status"], 200);
    assert_eq!(r["2"]["status"], 200);
    assert_eq!(r["2"]["body"]["availability"], "Busy", "2 ran after 1");
    assert_eq!(r["2"]["body"]["activity"], "InACall");
    assert_eq!(r["3"]["status"], 404);
    assert_eq!(r["3"]["body"]["error"]["code"], "NotFound");
    assert_eq!(r["4"]["status"], 424);
    assert_eq!(r["5"]["status"], 400, "a body needs a Content-Type header");
    assert_eq!(r["5"]["body"]["error"]["code"], "BadRequest");
}

#[tokio::test]
async fn inner_requests_are_throttled_with_their_own_retry_after() {
    let (sim, ids) = tenant_sim(1, |b| b.presence_requests_per_30s = 3).await;
    let tok = sim.app_token();
    let reqs: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("r{i}"), "method": "GET", "url": format!("/users/{}/presence", ids[0])}))
        .collect();
    let (s, v) = batch(&sim, &tok, json!(reqs)).await;
    assert_eq!(s, 200, "the batch itself succeeds");
    let responses = v["responses"].as_array().unwrap();
    let ok = responses.iter().filter(|r| r["status"] == 200).count();
    let throttled: Vec<&Value> = responses.iter().filter(|r| r["status"] == 429).collect();
    assert_eq!((ok, throttled.len()), (3, 2), "{v}");
    for t in throttled {
        let after: u64 = t["headers"]["Retry-After"]
            .as_str()
            .expect("inner Retry-After")
            .parse()
            .unwrap();
        assert!((1..=30).contains(&after));
        assert_eq!(t["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn inner_requests_carry_the_outer_token() {
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let (s, v) = batch(
        &sim,
        "not-a-token",
        json!([
            {"id": "1", "method": "GET", "url": format!("/users/{}/presence", ids[0])},
        ]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["responses"][0]["status"], 401);
    assert_eq!(
        v["responses"][0]["body"]["error"]["code"],
        "InvalidAuthenticationToken"
    );
}

#[tokio::test]
async fn outlook_requests_run_four_at_a_time_others_all_at_once() {
    use graph_sim::faults::{FaultRule, Latency};
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    for path in ["/v1.0/users/*/contacts", "/v1.0/users/*/presence"] {
        sim.state.faults.write().rules.push(FaultRule {
            path: path.into(),
            latency: Some(Latency::Fixed { ms: 300.0 }),
            ..Default::default()
        });
    }
    let reqs = |suffix: &str| -> Value {
        json!((0..8)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}/{suffix}", ids[0])}))
            .collect::<Vec<_>>())
    };
    let started = std::time::Instant::now();
    let (s, _) = batch(&sim, &tok, reqs("contacts")).await;
    let outlook = started.elapsed();
    assert_eq!(s, 200);
    assert!(
        outlook >= std::time::Duration::from_millis(600),
        "8 Outlook requests, 4 at a time, take two rounds: {outlook:?}"
    );
    assert!(
        outlook < std::time::Duration::from_millis(2400),
        "{outlook:?}"
    );
    let started = std::time::Instant::now();
    let (s, _) = batch(&sim, &tok, reqs("presence")).await;
    let other = started.elapsed();
    assert_eq!(s, 200);
    assert!(
        other < std::time::Duration::from_millis(1200),
        "others run concurrently: {other:?}"
    );
}

#[tokio::test]
async fn a_batch_costs_its_inner_requests_latency_not_one_of_its_own_on_top() {
    use graph_sim::faults::Latency;
    let (sim, ids) = tenant_sim(1, |_| {}).await;
    let tok = sim.app_token();
    sim.state.faults.write().latency = Some(Latency::Fixed { ms: 400.0 });
    let reqs: Vec<Value> = (0..4)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}/contacts", ids[0])}))
        .collect();
    let started = std::time::Instant::now();
    let (s, v) = batch(&sim, &tok, json!(reqs)).await;
    let took = started.elapsed();
    assert_eq!(s, 200);
    assert!(by_id(&v).values().all(|r| r["status"] == 200), "{v}");
    assert!(
        took >= std::time::Duration::from_millis(400),
        "the inner requests spend their latency: {took:?}"
    );
    assert!(
        took < std::time::Duration::from_millis(800),
        "one round trip, as Microsoft documents batching (not the batch's latency plus its inner requests'): {took:?}"
    );
}
