//! The request observer: one summary per exchange, token requests included, secrets never.

use crate::common::{client, sim};
use graph::http::{RequestObserver, RequestSummary};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Collect(Mutex<Vec<RequestSummary>>);

impl RequestObserver for Collect {
    fn observe(&self, summary: &RequestSummary) {
        self.0.lock().expect("lock").push(summary.clone());
    }
}

#[tokio::test]
async fn every_exchange_is_summarised_without_secrets() {
    let sim = sim(3).await;
    let plain = client(&sim);
    let seen = Arc::new(Collect::default());
    let observed = plain.with_observer(seen.clone());

    let users: serde_json::Value = observed
        .get_json("/users?$top=2&$select=id")
        .await
        .expect("users");
    assert_eq!(users["value"].as_array().map(Vec::len), Some(2));
    let missing = observed
        .get_json::<serde_json::Value>("/users/00000000-0000-4000-8000-0000000000ff")
        .await;
    assert!(missing.is_err());
    // The unobserved client shares tokens and counters but reports nothing.
    let _: serde_json::Value = plain.get_json("/users?$top=1").await.expect("users");

    let got = seen.0.lock().expect("lock").clone();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].method, "POST");
    assert!(got[0].url.ends_with("/oauth2/v2.0/token"), "{}", got[0].url);
    assert_eq!(got[0].status, Some(200));
    assert!(got[0].bytes > 0);
    assert_eq!(got[1].method, "GET");
    assert_eq!(
        got[1].url,
        format!("{}/users?$top=2&$select=id", sim.graph_url())
    );
    assert_eq!(got[1].status, Some(200));
    assert!(got[1].request_id.as_deref().is_some_and(|r| !r.is_empty()));
    assert!(got[1].bytes > 0);
    assert_eq!(got[2].status, Some(404));

    let token = plain.tokens().token().await.expect("token");
    for s in &got {
        let line = s.to_string();
        assert!(!line.contains(&sim.credentials.client_secret), "{line}");
        assert!(!line.contains(token.secret.expose()), "{line}");
    }
    // The counters are the client's, observed or not.
    assert_eq!(plain.stats().requests, 3);
}
