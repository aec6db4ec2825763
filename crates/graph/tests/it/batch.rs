//! `$batch`: splitting, mapping answers back, retrying throttled inner requests.

use crate::common::{client, config, count, reqlog, secret, sim, user_ids};
use graph::batch::BatchRequest;
use graph::coalesce::Coalescer;
use graph::models::User;
use std::time::Duration;

#[tokio::test]
async fn a_batch_of_25_is_split_and_every_request_answered() {
    let sim = sim(30).await;
    let ids = user_ids(&sim).await;
    let c = client(&sim);
    let mut reqs: Vec<BatchRequest> = ids
        .iter()
        .take(24)
        .enumerate()
        .map(|(i, id)| {
            BatchRequest::get(
                format!("r{i}"),
                format!("/users/{id}?$select=id,displayName"),
            )
        })
        .collect();
    reqs.push(BatchRequest::get(
        "missing",
        "/users/00000000-0000-4000-8000-00000000dead",
    ));
    let answers = c.batch(reqs).await.expect("batch");
    assert_eq!(answers.len(), 25);
    for (i, a) in answers.iter().take(24).enumerate() {
        assert_eq!(a.id, format!("r{i}"));
        let u: User = a.json().expect("user");
        assert_eq!(u.id, ids[i]);
    }
    let missing = &answers[24];
    assert_eq!((missing.id.as_str(), missing.status), ("missing", 404));
    let e = missing.json::<User>().expect_err("404");
    assert_eq!(e.code(), Some("Request_ResourceNotFound"));
    assert_eq!(count(&reqlog(&sim).await, "POST /v1.0/$batch"), 2);

    // Duplicate ids are refused before anything is sent.
    let dup = vec![
        BatchRequest::get("a", "/users"),
        BatchRequest::get("A", "/users"),
    ];
    assert!(c.batch(dup).await.is_err());
}

#[tokio::test]
async fn throttled_inner_requests_go_again_in_a_later_batch() {
    let sim = sim(10).await;
    let ids = user_ids(&sim).await;
    let c = client(&sim);
    c.token_info().await.expect("token");
    crate::common::fault(
        &sim,
        serde_json::json!({"path": "/v1.0/users/*", "method": "GET", "throttleRate": 1.0, "retryAfterSecs": 0.05, "remaining": 3}),
    )
    .await;
    let reqs: Vec<BatchRequest> = ids
        .iter()
        .take(5)
        .map(|id| BatchRequest::get(id.clone(), format!("/users/{id}")))
        .collect();
    let answers = c.batch(reqs).await.expect("batch");
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![200; 5]);
    for (a, id) in answers.iter().zip(&ids) {
        assert_eq!(&a.json::<User>().expect("user").id, id);
    }
    let s = c.stats();
    assert_eq!((s.throttled, s.retries), (3, 1));
    assert_eq!(count(&reqlog(&sim).await, "POST /v1.0/$batch"), 2);
}

/// A client of at most 4 in flight whose adaptive limit a 429 halved to 2.
async fn client_at_limit_2(sim: &graph_sim::RunningSim, ids: &[String]) -> graph::GraphClient {
    let mut cfg = config(sim, secret(sim));
    cfg.max_concurrency = 4;
    let c = graph::GraphClient::new(cfg).expect("client");
    c.token_info().await.expect("token");
    crate::common::fault(
        sim,
        serde_json::json!({"path": "/v1.0/users/*", "method": "GET", "throttleRate": 1.0, "retryAfterSecs": 0.01, "remaining": 1}),
    )
    .await;
    c.get_json::<User>(&format!("/users/{}", ids[0]))
        .await
        .expect("answered after one 429");
    assert_eq!(c.concurrency_limit(), 2, "halved by the 429");
    c
}

/// Graph counts and throttles every request a batch carries: with the adaptive limit at 2,
/// 4 requests leave as two batches of 2, not one batch of 4 (which would put twice the
/// limit in flight, as batches of 4 did under a limit of 3 against Outlook's 4 per app).
#[tokio::test]
async fn a_batch_carries_no_more_than_the_adaptive_limit_allows() {
    let sim = sim(10).await;
    let ids = user_ids(&sim).await;
    let c = client_at_limit_2(&sim, &ids).await;
    let before = count(&reqlog(&sim).await, "POST /v1.0/$batch");
    let reqs: Vec<BatchRequest> = ids
        .iter()
        .take(4)
        .map(|id| BatchRequest::get(id.clone(), format!("/users/{id}")))
        .collect();
    let answers = c.batch(reqs).await.expect("batch");
    for (a, id) in answers.iter().zip(&ids) {
        assert_eq!(&a.json::<User>().expect("user").id, id);
    }
    assert_eq!(answers.len(), 4);
    assert_eq!(
        count(&reqlog(&sim).await, "POST /v1.0/$batch") - before,
        2,
        "two batches of 2"
    );
}

/// The same through the coalescer, asked for batches of 4: it gathers no more than the
/// limit allows, so 4 reads at once go as two batches of 2.
#[tokio::test]
async fn coalesced_batches_follow_the_adaptive_limit() {
    let sim = sim(10).await;
    let ids = user_ids(&sim).await;
    let c = client_at_limit_2(&sim, &ids).await;
    let before = count(&reqlog(&sim).await, "POST /v1.0/$batch");
    let co = Coalescer::new(&c, Duration::from_millis(200), 4);
    let reads: Vec<_> = ids
        .iter()
        .take(4)
        .map(|id| {
            let (co, url) = (co.clone(), format!("/users/{id}"));
            tokio::spawn(async move { co.get(&url, &[]).await })
        })
        .collect();
    let mut got = Vec::new();
    for r in reads {
        let resp = r.await.expect("task").expect("answered");
        got.push(resp.json::<User>().expect("user").id);
    }
    assert_eq!(got, ids[..4].to_vec());
    assert_eq!(
        count(&reqlog(&sim).await, "POST /v1.0/$batch") - before,
        2,
        "two batches of 2"
    );
}
