//! The request pipeline: throttling, transient failures, per-mailbox concurrency, errors.

use crate::common::{admin, client, config, fault, reqlog, secret, sim, tenant};
use graph::{GraphClient, GraphError, Request};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_429_storm_is_ridden_out_with_and_without_retry_after() {
    let sim = sim(10).await;
    let c = client(&sim);
    c.token_info().await.expect("token");
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "throttleRate": 1.0, "retryAfterSecs": 0.05, "remaining": 3}),
    )
    .await;
    let users: Value = c.get_json("/users?$top=3").await.expect("users after 429s");
    assert_eq!(users["value"].as_array().map(Vec::len), Some(3));
    let s = c.stats();
    assert_eq!((s.retries, s.throttled), (3, 3));
    assert!(c.concurrency_limit() < 32, "the adaptive limit came down");

    // No Retry-After: exponential back-off instead.
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "throttleRate": 1.0, "remaining": 3}),
    )
    .await;
    c.get_json::<Value>("/users?$top=3")
        .await
        .expect("users after 429s");
    let s = c.stats();
    assert_eq!((s.retries, s.throttled), (6, 6));

    // More 429s than retries allowed: Throttled.
    let mut cfg = config(&sim, secret(&sim));
    cfg.max_retries = 2;
    let few = GraphClient::new(cfg).expect("client");
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "throttleRate": 1.0, "retryAfterSecs": 0.01, "remaining": 5}),
    )
    .await;
    match few.get_json::<Value>("/users?$top=3").await {
        Err(e @ GraphError::Throttled { retries: 2, .. }) => {
            assert!(e.request_id().is_some(), "{e:?}")
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_and_truncated_bodies_are_retried_where_safe() {
    let sim = sim(10).await;
    let c = client(&sim);
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "errorRate": 1.0, "errorStatus": 503, "remaining": 2}),
    )
    .await;
    c.get_json::<Value>("/users?$top=2")
        .await
        .expect("after 503s");
    assert_eq!(c.stats().retries, 2);
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "truncateRate": 1.0, "remaining": 2}),
    )
    .await;
    let users: Value = c
        .get_json("/users?$top=50")
        .await
        .expect("after truncation");
    assert_eq!(
        users["value"].as_array().map(Vec::len),
        Some(crate::common::user_ids(&sim).await.len())
    );
    assert_eq!(c.stats().retries, 4);

    // A POST is not repeated after a 503 unless marked safe.
    let ids = json!({"ids": [tenant(&sim).await["users"][0]["id"]]});
    let path = "/v1.0/communications/getPresencesByUserId";
    fault(
        &sim,
        json!({"path": path, "method": "POST", "errorRate": 1.0, "errorStatus": 503, "remaining": 1}),
    )
    .await;
    let e = c
        .send(Request::post(
            "/communications/getPresencesByUserId",
            ids.clone(),
        ))
        .await
        .expect_err("not retried");
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(c.stats().retries, 4);
    fault(
        &sim,
        json!({"path": path, "method": "POST", "errorRate": 1.0, "errorStatus": 503, "remaining": 1}),
    )
    .await;
    let answer: Value = c
        .send_json(Request::post("/communications/getPresencesByUserId", ids.clone()).retry_safe())
        .await
        .expect("retried when marked safe");
    assert_eq!(answer["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(c.stats().retries, 5);
}

#[tokio::test]
async fn timeouts_and_connection_resets_are_retried() {
    let sim = sim(10).await;
    let mut cfg = config(&sim, secret(&sim));
    cfg.request_timeout = Duration::from_secs(1);
    let c = GraphClient::new(cfg).expect("client");
    c.token_info().await.expect("token");
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "timeoutRate": 1.0, "hangSecs": 5, "remaining": 1}),
    )
    .await;
    let started = Instant::now();
    c.get_json::<Value>("/users?$top=1")
        .await
        .expect("after a time-out");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(c.stats().retries, 1);
    fault(
        &sim,
        json!({"path": "/v1.0/users", "method": "GET", "resetRate": 1.0, "remaining": 2}),
    )
    .await;
    c.get_json::<Value>("/users?$top=1")
        .await
        .expect("after resets");
    assert_eq!(c.stats().retries, 3);
}

#[tokio::test]
async fn one_mailbox_never_sees_more_than_four_in_flight() {
    let sim = sim(10).await;
    let t = tenant(&sim).await;
    let upn = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["mailbox"] == "user")
        .expect("a mailbox")["userPrincipalName"]
        .as_str()
        .expect("upn")
        .to_string();
    let c = client(&sim);
    c.token_info().await.expect("token");
    fault(
        &sim,
        json!({"path": "/v1.0/users/*/contacts", "method": "GET", "latency": {"kind": "fixed", "ms": 300}}),
    )
    .await;
    admin(&sim, Method::DELETE, "/_sim/requests", None).await;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let c = c.clone();
        // Mixed case: the mailbox key is the lower-cased user segment.
        let url = format!("/users/{}/contacts?$top=1", upn.to_uppercase());
        set.spawn(async move { c.get_json::<Value>(&url).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task").expect("contacts");
    }
    let elapsed = started.elapsed();
    let log = reqlog(&sim).await;
    assert!(log["byStatus"].get("429").is_none(), "{}", log["byStatus"]);
    assert_eq!(
        log["byStatus"]["200"].as_u64(),
        Some(20),
        "{}",
        log["byStatus"]
    );
    assert_eq!(c.stats().throttled, 0);
    // 20 requests, 4 at a time, 300 ms each: at least five waves.
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test]
async fn a_missing_permission_is_a_typed_403_with_request_id() {
    let sim = sim(10).await;
    let c = client(&sim);
    let cid = &sim.credentials.client_id;
    let (s, _) = admin(
        &sim,
        Method::DELETE,
        &format!("/_sim/apps/{cid}/roles/User.Read.All"),
        None,
    )
    .await;
    assert!(s == 200 || s == 204);
    let info = c.token_info().await.expect("token");
    assert!(!info.has_role("User.Read.All"), "{:?}", info.roles);
    let err = c.get_json::<Value>("/users").await;
    let shown = err
        .as_ref()
        .map_err(ToString::to_string)
        .err()
        .unwrap_or_default();
    assert!(
        shown.contains("lacks this application permission"),
        "{shown}"
    );
    match err {
        Err(GraphError::Api {
            status: 403,
            code,
            request_id: Some(rid),
            client_request_id: Some(_),
            ..
        }) => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(!rid.is_empty());
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    assert_eq!(c.stats().retries, 0, "a 403 is not retried");
}
