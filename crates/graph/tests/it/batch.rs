//! `$batch`: splitting, mapping answers back, retrying throttled inner requests.

use crate::common::{client, count, reqlog, sim, user_ids};
use graph::batch::BatchRequest;
use graph::models::User;

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
