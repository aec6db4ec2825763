//! The Graph notification receiver over real HTTP on 127.0.0.1: the validation handshake,
//! clientState, duplicates and replays, malformed and oversized bodies, a full queue.

use pbx365_http::webhook::{
    self, ClientStates, WebhookEvent, WebhookLimits, LIFECYCLE_PATH, NOTIFICATIONS_PATH,
};
use serde_json::json;
use tokio::sync::mpsc;

struct Running {
    base: String,
    receiver: webhook::WebhookReceiver,
    events: mpsc::Receiver<WebhookEvent>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(limits: WebhookLimits) -> Running {
    let states = ClientStates::default();
    states.add("s3cret-state-0123456789");
    let (receiver, events) = webhook::WebhookReceiver::new(states, limits);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = webhook::serve(
        "127.0.0.1:0".parse().expect("addr"),
        receiver.clone(),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("serve");
    Running {
        base: format!("http://{}", handle.local_addr()),
        receiver,
        events,
        _stop: stop,
    }
}

fn change(id: &str, state: &str, user: &str) -> serde_json::Value {
    json!({
        "id": id,
        "subscriptionId": "sub-1",
        "subscriptionExpirationDateTime": "2026-01-01T00:00:00.0000000Z",
        "clientState": state,
        "changeType": "updated",
        "resource": format!("communications/presences/{user}"),
        "tenantId": "t",
        "resourceData": {"@odata.type": "#Microsoft.Graph.presence", "@odata.id": format!("users/{user}/presence"), "id": user},
    })
}

async fn post(base: &str, path: &str, body: String) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    let s = r.status().as_u16();
    (s, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn webhook_validation_handshake_echoes_the_decoded_token() {
    let r = start(WebhookLimits::default()).await;
    for path in [NOTIFICATIONS_PATH, LIFECYCLE_PATH] {
        let resp = reqwest::Client::new()
            .post(format!(
                "{}{path}?validationToken=Validation%3A%20Testing%20client%20%26%20more",
                r.base
            ))
            .header("content-type", "text/plain")
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 200);
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert_eq!(
            resp.text().await.expect("body"),
            "Validation: Testing client & more"
        );
    }
}

#[tokio::test]
async fn webhook_queues_genuine_items_and_drops_forged_and_replayed_ones() {
    let mut r = start(WebhookLimits::default()).await;
    let good = change("n1", "s3cret-state-0123456789", "u1");
    let body = json!({"value": [good.clone(), change("n2", "wrong-state-0123456789x", "u2")]});
    let (s, _) = post(&r.base, NOTIFICATIONS_PATH, body.to_string()).await;
    assert_eq!(s, 202);
    match r.events.try_recv() {
        Ok(WebhookEvent::Changed {
            subscription_id,
            resource,
            change_type,
            resource_id,
        }) => {
            assert_eq!(subscription_id, "sub-1");
            assert_eq!(resource, "communications/presences/u1");
            assert_eq!(change_type, "updated");
            assert_eq!(resource_id.as_deref(), Some("u1"));
        }
        other => panic!("expected the genuine change, got {other:?}"),
    }
    assert!(
        r.events.try_recv().is_err(),
        "the forged item is not queued"
    );
    // A replay of the delivered notification, and one without any clientState.
    let mut no_state = change("n3", "", "u3");
    no_state
        .as_object_mut()
        .expect("object")
        .remove("clientState");
    let (s, _) = post(
        &r.base,
        NOTIFICATIONS_PATH,
        json!({"value": [good, no_state]}).to_string(),
    )
    .await;
    assert_eq!(s, 202);
    assert!(
        r.events.try_recv().is_err(),
        "replay and stateless item dropped"
    );
    let stats = r.receiver.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.forged, 2);
    assert_eq!(stats.duplicates, 1);

    // Lifecycle events come out as such.
    let life = json!({"value": [{"subscriptionId": "sub-1", "subscriptionExpirationDateTime": "2026-01-01T00:00:00Z",
        "tenantId": "t", "clientState": "s3cret-state-0123456789", "lifecycleEvent": "reauthorizationRequired"}]});
    // Two identical lifecycle events are both taken: they carry no id, genuine ones recur
    // (every hour), and acting on one twice only reauthorizes twice.
    for _ in 0..2 {
        let (s, _) = post(&r.base, LIFECYCLE_PATH, life.to_string()).await;
        assert_eq!(s, 202);
        assert_eq!(
            r.events.try_recv().ok(),
            Some(WebhookEvent::Lifecycle {
                subscription_id: "sub-1".into(),
                event: "reauthorizationRequired".into()
            })
        );
    }
}

#[tokio::test]
async fn webhook_rejects_garbage_and_oversized_bodies() {
    let mut r = start(WebhookLimits {
        body_bytes: 4096,
        ..WebhookLimits::default()
    })
    .await;
    for garbage in ["", "{", "[1,2]", "{\"value\": 3}", "\u{0}\u{1}binary"] {
        let (s, reason) = post(&r.base, NOTIFICATIONS_PATH, garbage.to_owned()).await;
        assert_eq!(s, 400, "{garbage:?}");
        assert!(reason.contains("changeNotificationCollection"), "{reason}");
    }
    let big = json!({"value": [], "pad": "x".repeat(10_000)}).to_string();
    let (s, _) = post(&r.base, NOTIFICATIONS_PATH, big).await;
    assert_eq!(s, 413);
    // Items of the wrong shape inside a valid collection are ignored, not fatal.
    let (s, _) = post(
        &r.base,
        NOTIFICATIONS_PATH,
        json!({"value": [1, "x", {"subscriptionId": 5}]}).to_string(),
    )
    .await;
    assert_eq!(s, 202);
    assert!(r.events.try_recv().is_err());
}

#[tokio::test]
async fn webhook_full_queue_answers_503_so_graph_retries() {
    let mut r = start(WebhookLimits {
        queue: 1,
        ..WebhookLimits::default()
    })
    .await;
    let state = "s3cret-state-0123456789";
    let (s, _) = post(
        &r.base,
        NOTIFICATIONS_PATH,
        json!({"value": [change("a", state, "u1")]}).to_string(),
    )
    .await;
    assert_eq!(s, 202);
    let second = json!({"value": [change("b", state, "u2")]}).to_string();
    let (s, _) = post(&r.base, NOTIFICATIONS_PATH, second.clone()).await;
    assert_eq!(s, 503, "the queue holds one item");
    assert!(r.events.recv().await.is_some());
    // Graph's retry of the refused post is taken, not mistaken for a duplicate.
    let (s, _) = post(&r.base, NOTIFICATIONS_PATH, second).await;
    assert_eq!(s, 202);
    assert!(matches!(
        r.events.recv().await,
        Some(WebhookEvent::Changed { resource_id: Some(u), .. }) if u == "u2"
    ));
}
