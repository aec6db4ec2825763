//! Tests of the `/_sim` controls, fault injection and the Graph envelope over real HTTP.

use crate::common::{assert_graph_error, client, get, sim};
use serde_json::{json, Value};

async fn ctl(
    sim: &graph_sim::RunningSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}{}", sim.http_url(), path))
        .header("x-sim-key", &sim.credentials.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("sent");
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn controls_need_the_admin_key() {
    let sim = sim(5).await;
    let resp = client()
        .get(format!("{}/_sim/summary", sim.http_url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 401);
    let resp = client()
        .get(format!("{}/_sim/summary", sim.http_url()))
        .header("x-sim-key", "wrong")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 401);
    let (st, body) = ctl(&sim, reqwest::Method::GET, "/_sim/summary", None).await;
    assert_eq!(st, 200);
    assert_eq!(body["tenantId"], sim.credentials.tenant_id.as_str());
    // An app token is no admin key.
    let resp = client()
        .get(format!("{}/_sim/summary", sim.http_url()))
        .bearer_auth(sim.app_token())
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn generated_tenant_is_deterministic_and_complete() {
    let a = sim(300).await;
    let b = sim(300).await;
    let (_, sa) = ctl(&a, reqwest::Method::GET, "/_sim/summary", None).await;
    let (_, sb) = ctl(&b, reqwest::Method::GET, "/_sim/summary", None).await;
    assert_eq!(sa, sb, "same seed, same tenant");
    assert_eq!(sa["contacts"], 3000);
    let (st, tenant) = ctl(&a, reqwest::Method::GET, "/_sim/tenant", None).await;
    assert_eq!(st, 200);
    let users = tenant["users"].as_array().expect("users");
    let has = |f: &dyn Fn(&Value) -> bool| users.iter().any(f);
    assert!(has(&|u| u["userType"] == "Guest"
        && u["userPrincipalName"]
            .as_str()
            .unwrap_or("")
            .contains("#EXT#")));
    assert!(has(
        &|u| u["mailbox"] == "shared" && u["accountEnabled"] == false
    ));
    assert!(has(&|u| u["mailbox"] == "room"));
    assert!(has(&|u| u["mailbox"] == "equipment"));
    assert!(has(&|u| u["mailbox"] == "none" && u["userType"] == "Member"));
    assert!(has(
        &|u| u["accountEnabled"] == false && u["mailbox"] == "user"
    ));
    assert!(has(&|u| u["displayName"]
        .as_str()
        .unwrap_or("")
        .contains('ü')
        || u["displayName"].as_str().unwrap_or("").contains('ö')));
    assert!(has(&|u| u["photo"].is_object()));
    assert!(has(
        &|u| u["usageLocation"].is_string() && u["country"].is_string()
    ));
    // The tenant file round-trips through the loader.
    let file: graph_sim::tenant_file::TenantFile =
        serde_json::from_value(tenant).expect("tenant file parses");
    assert!(file.validate().is_ok());
    let mut cfg = graph_sim::SimConfig::loopback(0, 0);
    cfg.tenant = graph_sim::TenantSource::File(Box::new(file));
    let c = crate::common::sim_with(cfg).await;
    let (_, sc) = ctl(&c, reqwest::Method::GET, "/_sim/summary", None).await;
    assert_eq!(sc["users"], sa["users"]);
    assert_eq!(sc["contacts"], sa["contacts"]);
}

#[tokio::test]
async fn clock_advances_and_tokens_expire_on_it() {
    let sim = sim(5).await;
    let token = sim.app_token();
    // Used once (so its verification is cached), then expired by the clock.
    let (st, _, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/clock/advance",
        Some(json!({"seconds": -5})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, body) = ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/clock/advance",
        Some(json!({"minutes": 61})),
    )
    .await;
    assert_eq!(st, 200);
    assert!(body["offsetSeconds"].as_i64().unwrap_or(0) >= 3660);
    let (st, _, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(st, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn unknown_paths_and_bad_tokens_get_graph_errors_not_html() {
    let sim = sim(5).await;
    let (st, headers, body) = get(&sim, "/v1.0/nonsense/thing", &sim.app_token()).await;
    assert_eq!(st, 400);
    assert_graph_error(&body, "BadRequest");
    assert!(headers.contains_key("request-id"));
    let (st, _, body) = get(&sim, "/v1.0/users", "").await;
    assert_eq!(st, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    let (st, _, body) = get(&sim, "/v1.0/users", "not-a-jwt").await;
    assert_eq!(st, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    // client-request-id is echoed.
    let resp = client()
        .get(format!("{}/v1.0/nonsense", sim.http_url()))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.headers()["client-request-id"], "abc-123");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
}

#[tokio::test]
async fn injected_faults_errors_storms_truncation_and_resets() {
    let sim = sim(5).await;
    let token = sim.app_token();
    let path = "/v1.0/nonsense";
    // 5xx for the next two requests only.
    let (st, _) = ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "errorRate": 1.0, "errorStatus": 503, "remaining": 2})),
    )
    .await;
    assert_eq!(st, 200);
    for _ in 0..2 {
        let (st, _, body) = get(&sim, path, &token).await;
        assert_eq!(st, 503);
        assert_graph_error(&body, "serviceNotAvailable");
    }
    let (st, _, _) = get(&sim, path, &token).await;
    assert_eq!(st, 400, "rule used up");
    // A 429 storm with Retry-After.
    ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "throttleRate": 1.0, "retryAfterSecs": 7, "remaining": 1})),
    )
    .await;
    let (st, headers, body) = get(&sim, path, &token).await;
    assert_eq!(st, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_graph_error(&body, "TooManyRequests");
    // A truncated body: the client sees an error reading it.
    ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "truncateRate": 1.0, "remaining": 1})),
    )
    .await;
    let resp = client()
        .get(format!("{}{path}", sim.http_url()))
        .send()
        .await
        .expect("headers arrive");
    assert!(resp.bytes().await.is_err(), "body must be cut off");
    // A reset connection: no response at all.
    ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "resetRate": 1.0, "remaining": 1})),
    )
    .await;
    assert!(client()
        .get(format!("{}{path}", sim.http_url()))
        .send()
        .await
        .is_err());
    // Latency.
    ctl(
        &sim,
        reqwest::Method::PUT,
        "/_sim/faults",
        Some(json!({"latency": {"kind": "fixed", "ms": 150.0}})),
    )
    .await;
    let t0 = std::time::Instant::now();
    get(&sim, path, &token).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
    // Bad rules are refused.
    let (st, _) = ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "errorRate": 2.0})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = ctl(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({"path": path, "errorRate": 0.5, "errorStatus": 200})),
    )
    .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn request_log_counts_per_endpoint_and_behaviour_is_patchable() {
    let sim = sim(5).await;
    ctl(&sim, reqwest::Method::DELETE, "/_sim/requests", None).await;
    for _ in 0..3 {
        get(&sim, "/v1.0/nonsense/abc-123", &sim.app_token()).await;
    }
    let (_, log) = ctl(&sim, reqwest::Method::GET, "/_sim/requests", None).await;
    assert_eq!(log["byEndpoint"]["GET /v1.0/{id}/{id}"], 3, "{log}");
    // The counts alone, for sampling while a job runs (the control request that read the log
    // above is counted too): no per-endpoint map, no recent requests.
    let (st, totals) = ctl(
        &sim,
        reqwest::Method::GET,
        "/_sim/requests?totals=true",
        None,
    )
    .await;
    assert_eq!(st, 200);
    let before = log["total"].as_u64().expect("total");
    assert_eq!(totals["total"].as_u64(), Some(before + 1), "{totals}");
    assert_eq!(totals["byStatus"]["400"], 3, "{totals}");
    assert!(
        totals.get("byEndpoint").is_none() && totals.get("recent").is_none(),
        "{totals}"
    );
    let (st, _) = ctl(
        &sim,
        reqwest::Method::GET,
        "/_sim/requests?totals=maybe",
        None,
    )
    .await;
    assert_eq!(st, 400, "a value that is not a boolean is refused");
    let (st, b) = ctl(
        &sim,
        reqwest::Method::PATCH,
        "/_sim/behaviour",
        Some(json!({"presenceRequestsPer30s": 1500})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(b["presenceRequestsPer30s"], 1500);
    let (st, b) = ctl(
        &sim,
        reqwest::Method::PATCH,
        "/_sim/behaviour",
        Some(json!({"noSuchThing": 1})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("noSuchThing"));
    let (st, _) = ctl(
        &sim,
        reqwest::Method::PATCH,
        "/_sim/behaviour",
        Some(json!({"tokenLifetimeSecs": "long"})),
    )
    .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn sync_estimate_publishes_its_formula_and_grows_with_latency() {
    let sim = sim(100).await;
    let (st, a) = ctl(&sim, reqwest::Method::GET, "/_sim/sync-estimate", None).await;
    assert_eq!(st, 200);
    assert!(a["formula"].as_str().unwrap_or("").contains("ceil(U/999)"));
    ctl(
        &sim,
        reqwest::Method::PUT,
        "/_sim/faults",
        Some(json!({"latency": {"kind": "fixed", "ms": 50.0}})),
    )
    .await;
    let (_, b) = ctl(
        &sim,
        reqwest::Method::GET,
        "/_sim/sync-estimate?concurrency=4",
        None,
    )
    .await;
    let la = a["lowerBoundSeconds"].as_f64().unwrap_or(0.0);
    let lb = b["lowerBoundSeconds"].as_f64().unwrap_or(0.0);
    assert!(lb > la, "{la} vs {lb}");
    let total = b["requests"]["total"].as_f64().unwrap_or(0.0);
    // With 4 in flight and 50 ms each, at most 80 requests per second.
    assert!((lb - total / 80.0).abs() < 1e-6 || lb > total / 80.0, "{b}");

    // The other reading of Outlook's limit (4 per app across mailboxes): every Outlook request
    // queues behind the same 4, so the bound is at least all of them, 4 at a time.
    ctl(
        &sim,
        reqwest::Method::PATCH,
        "/_sim/behaviour",
        Some(json!({"outlookConcurrencyScope": "per-app"})),
    )
    .await;
    let (_, c) = ctl(
        &sim,
        reqwest::Method::GET,
        "/_sim/sync-estimate?concurrency=64",
        None,
    )
    .await;
    let outlook = c["requests"]["outlook"].as_f64().unwrap_or(0.0);
    let lc = c["lowerBoundSeconds"].as_f64().unwrap_or(0.0);
    assert_eq!(c["inputs"]["outlookConcurrencyScope"], "per-app", "{c}");
    assert!(lc >= outlook / 4.0 * 0.05 - 1e-9, "{c}");
    assert!(
        c["bounds"]["busiestMailboxSeconds"].as_f64()
            > b["bounds"]["busiestMailboxSeconds"].as_f64(),
        "{c}"
    );
}
