//! Teams presence by change notification, against the emulator over real HTTP: reader
//! accounts signed in by device code, their subscription, notifications through the webhook
//! receiver, renewal and recreation as the emulated clock moves, `reauthorizationRequired`,
//! and a revoked refresh token → alert and polling.

use crate::common::control;
use graph::auth::Clock;
use graph::{ClientConfig, Credential, GraphClient, Secret};
use graph_sim::model::{App, AppSecret, MailboxKind, User};
use graph_sim::tenant_file::{TenantFile, UserRecord, UserWithInternals};
use graph_sim::{RunningSim, SimConfig, TenantSource};
use pbx365_http::webhook::{self, ClientStates, WebhookEvent, WebhookLimits};
use presence::notifications::{NotificationSettings, ReaderAccount, ReaderVault, READER_SCOPES};
use presence::{PollRate, Subscriber, TeamsReader};
use reqwest::Method;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const APP: &str = "11111111-2222-4333-8444-555555555555";
const READER_APP: &str = "66666666-2222-4333-8444-555555555555";

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        user: UserWithInternals {
            user: User {
                id: id.into(),
                display_name: Some(format!("User {name}")),
                user_principal_name: Some(format!("{name}@contoso.onmicrosoft.com")),
                account_enabled: Some(true),
                ..Default::default()
            },
            mailbox: MailboxKind::User,
            photo: None,
        },
        mailbox_data: None,
        presence: None,
    }
}

/// Three bridged users (…01–…03) and one reader account (…99); the pbx365 app and the
/// public-client app the readers sign in to.
async fn sim() -> (RunningSim, Vec<String>, String) {
    let ids: Vec<String> = (1..=3)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let reader = "00000000-0000-4000-8000-000000000099".to_string();
    let mut users: Vec<UserRecord> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| user(id, &format!("u{i}")))
        .collect();
    users.push(user(&reader, "presence-reader1"));
    let app = App {
        client_id: APP.into(),
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
        admin_consented: true,
        ..Default::default()
    };
    let readers_app = App {
        client_id: READER_APP.into(),
        display_name: "pbx365 presence readers".into(),
        delegated_scopes: ["Presence.Read.All", "User.Read", "offline_access"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        admin_consented: true,
        allow_public_client: true,
        ..Default::default()
    };
    let file = TenantFile {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        domain: "contoso.onmicrosoft.com".into(),
        display_name: "Contoso".into(),
        apps: vec![app, readers_app],
        users,
        ..Default::default()
    };
    let mut cfg = SimConfig::loopback(0, 1);
    cfg.tenant = TenantSource::File(Box::new(file));
    cfg.behaviour.retry_after_omit_rate = 0.0;
    cfg.behaviour.allow_http_notification_urls = true;
    let sim = graph_sim::start(cfg).await.expect("emulator starts");
    (sim, ids, reader)
}

fn client(sim: &RunningSim) -> GraphClient {
    let mut c = ClientConfig::new(
        sim.credentials.tenant_id.clone(),
        APP,
        Credential::Secret(Secret::new("secret")),
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

/// A vault in memory that records what the subscriber saved and reported.
#[derive(Default)]
struct MemoryVault {
    rotated: Mutex<Vec<String>>,
    failures: Mutex<Vec<Option<String>>>,
    stored: Mutex<Vec<ReaderAccount>>,
}

#[async_trait::async_trait]
impl ReaderVault for MemoryVault {
    async fn token_rotated(&self, _reader: &str, refresh: &Secret) -> Result<(), String> {
        self.rotated
            .lock()
            .expect("lock")
            .push(refresh.expose().to_owned());
        Ok(())
    }
    async fn accounts(&self) -> Result<Vec<ReaderAccount>, String> {
        Ok(self.stored.lock().expect("lock").clone())
    }
    async fn reader_failed(&self, _reader: &str, error: Option<&str>) {
        self.failures
            .lock()
            .expect("lock")
            .push(error.map(str::to_owned));
    }
}

/// Signs `reader` in by device code, approved through the emulator.
async fn sign_in(sim: &RunningSim, c: &GraphClient, reader: &str) -> Secret {
    let auth = c.delegated(READER_APP);
    let mut prompt = auth
        .start_device_code(&READER_SCOPES)
        .await
        .expect("device code");
    assert!(!prompt.verification_uri.is_empty());
    let (s, b) = control(
        sim,
        Method::POST,
        "/_sim/devicecode/approve",
        Some(json!({"userCode": prompt.user_code, "userId": reader})),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {b}");
    prompt.interval = 0;
    let tokens = auth.poll_device_code(&prompt).await.expect("signed in");
    tokens.refresh_token.expect("a refresh token")
}

/// The next webhook event, bounded.
async fn next(rx: &mut mpsc::Receiver<WebhookEvent>) -> WebhookEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook event within 10 s")
        .expect("the receiver runs")
}

/// The next change notification, skipping lifecycle events the emulator sends on its own.
async fn next_change(rx: &mut mpsc::Receiver<WebhookEvent>) -> WebhookEvent {
    for _ in 0..20 {
        let e = next(rx).await;
        if matches!(e, WebhookEvent::Changed { .. }) {
            return e;
        }
    }
    panic!("no change notification among 20 events");
}

async fn sim_subscription(sim: &RunningSim, id: &str) -> serde_json::Value {
    let (s, v) = control(sim, Method::GET, "/_sim/subscriptions", None).await;
    assert_eq!(s, 200);
    v["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn presence_arrives_by_notification_and_subscriptions_are_kept() {
    let (sim, ids, reader) = sim().await;
    let c = client(&sim);
    let refresh = sign_in(&sim, &c, &reader).await;

    let states = ClientStates::default();
    let (receiver, mut events) =
        webhook::WebhookReceiver::new(states.clone(), WebhookLimits::default());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = webhook::serve(
        "127.0.0.1:0".parse().expect("addr"),
        receiver.clone(),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("receiver");
    let public_url = format!("http://{}", server.local_addr());
    let vault = Arc::new(MemoryVault::default());
    let mut sub = Subscriber::new(
        c.clone(),
        vault.clone(),
        states,
        NotificationSettings::new(&public_url, READER_APP),
        vec![ReaderAccount {
            reader_id: reader.clone(),
            upn: "presence-reader1@contoso.onmicrosoft.com".into(),
            refresh_token: refresh.clone(),
        }],
        &ids,
    );
    assert_eq!(
        sub.polled_users().len(),
        3,
        "nothing covered before the subscription"
    );
    sub.maintain().await;
    let live = sub.live();
    assert_eq!(live.len(), 1, "one subscription for ≤ 650 users");
    assert!(sub.polled_users().is_empty());
    assert!(sub.alerts().is_empty(), "{:?}", sub.alerts());
    let first_id = live[0].1.clone();
    let s = sim_subscription(&sim, &first_id).await;
    assert!(
        s["resource"].as_str().unwrap_or("").contains(&ids[2]),
        "{s}"
    );
    assert_eq!(s["changeType"], "updated");
    assert!(s["lifecycleNotificationUrl"]
        .as_str()
        .unwrap_or("")
        .ends_with("/graph/lifecycle"));
    // The rotated refresh token was saved before it was used.
    let rotated = vault.rotated.lock().expect("lock").clone();
    assert_eq!(rotated.len(), 1);
    assert_ne!(rotated[0], refresh.expose());

    // A Teams client change arrives by notification; the user's state is read with one GET,
    // and no getPresencesByUserId happens in between.
    let (s, _) = control(&sim, Method::DELETE, "/_sim/requests", None).await;
    assert!(s == 200 || s == 204);
    let changed_at = std::time::Instant::now();
    let (s, b) = control(
        &sim,
        Method::PUT,
        &format!("/_sim/presence/{}/teams", ids[1]),
        Some(json!({"availability": "Busy", "activity": "InAMeeting"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let event = next_change(&mut events).await;
    let notified_after = changed_at.elapsed();
    let WebhookEvent::Changed {
        subscription_id,
        resource,
        resource_id,
        ..
    } = event
    else {
        unreachable!()
    };
    let user = sub
        .user_of(&subscription_id, &resource, resource_id.as_deref())
        .expect("a covered user");
    assert_eq!(user, ids[1]);
    assert_eq!(
        sub.user_of("someone-elses-subscription", &resource, None),
        None
    );
    let mut reader_side = TeamsReader::new(c.clone(), PollRate::DEFAULT);
    let update = reader_side
        .read_user(&user)
        .await
        .expect("read")
        .expect("newer than nothing");
    assert_eq!(update.presence.to_string(), "Busy/InAMeeting");
    // A figure, not a check: emulator change → receiver queue → the user's state read.
    eprintln!(
        "figure: notified {} ms after the change, state read after {} ms",
        notified_after.as_millis(),
        changed_at.elapsed().as_millis()
    );
    assert!(
        reader_side.read_user(&user).await.expect("read").is_none(),
        "the same sequenceNumber again is dropped"
    );
    let (_, log) = control(&sim, Method::GET, "/_sim/requests", None).await;
    let log = log.to_string();
    assert!(!log.contains("getPresencesByUserId"), "{log}");
    assert!(log.contains("communications/presences"), "{log}");

    // 45 emulated minutes on: due for renewal (15 minutes before the end) → PATCHed, same id.
    let before = sub.live()[0].2;
    sim.state.clock.advance(chrono::Duration::minutes(45));
    sub.maintain().await;
    let live = sub.live();
    assert_eq!(live[0].1, first_id, "renewed, not recreated");
    assert!(
        live[0].2 > before + chrono::Duration::minutes(30),
        "{:?}",
        live[0]
    );

    // reauthorizationRequired (sent by the emulator) → reauthorized with a fresh token.
    let (s, b) = control(
        &sim,
        Method::POST,
        &format!("/_sim/subscriptions/{first_id}/lifecycle"),
        Some(json!({"event": "reauthorizationRequired"})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    loop {
        match next(&mut events).await {
            WebhookEvent::Lifecycle {
                subscription_id,
                event,
            } if event == "reauthorizationRequired" => {
                sub.lifecycle(&subscription_id, &event).await;
                break;
            }
            _ => {}
        }
    }
    let s = sim_subscription(&sim, &first_id).await;
    assert_eq!(s["reauthorizationRequiredSent"], false, "{s}");
    assert!(
        sub.take_reconcile(),
        "a reconciling round follows a lifecycle event"
    );

    // The subscription lapses (no renewal for over an hour) → recreated with a new id.
    sim.state.clock.advance(chrono::Duration::minutes(70));
    sub.maintain().await;
    let live = sub.live();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].1, first_id, "recreated");
    assert!(sub.take_reconcile());

    // subscriptionRemoved → recreated.
    let second_id = live[0].1.clone();
    let (s, b) = control(
        &sim,
        Method::POST,
        &format!("/_sim/subscriptions/{second_id}/lifecycle"),
        Some(json!({"event": "subscriptionRemoved"})),
    )
    .await;
    if s == 202 {
        loop {
            if let WebhookEvent::Lifecycle {
                subscription_id,
                event,
            } = next(&mut events).await
            {
                if event == "subscriptionRemoved" {
                    sub.lifecycle(&subscription_id, &event).await;
                    break;
                }
            }
        }
    } else {
        // The emulator sends subscriptionRemoved only where Graph does (not for presence):
        // the bridge still recovers from it, and from a subscription it did not delete.
        assert_eq!(s, 400, "{b}");
        sub.lifecycle(&second_id, "subscriptionRemoved").await;
    }
    assert_eq!(sub.live().len(), 1, "{:?}", sub.alerts());
    assert_ne!(sub.live()[0].1, second_id);

    // The reader's sessions are revoked: the next token request gets invalid_grant → an
    // alert, the failure recorded, and every user back on polling.
    let (s, b) = control(
        &sim,
        Method::POST,
        &format!("/_sim/users/{reader}/revoke-sessions"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let third_id = sub.live()[0].1.clone();
    sub.lifecycle(&third_id, "reauthorizationRequired").await;
    assert!(sub.live().is_empty());
    assert_eq!(sub.polled_users().len(), 3);
    let alerts = sub.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("invalid_grant"), "{alerts:?}");
    assert!(alerts[0].contains("presence-reader1"), "{alerts:?}");
    let failures = vault.failures.lock().expect("lock").clone();
    assert!(
        failures
            .last()
            .is_some_and(|f| f.as_deref().is_some_and(|e| e.contains("invalid_grant"))),
        "{failures:?}"
    );
    // The revoked reader is left alone (no token requests in a loop).
    sub.maintain().await;
    assert!(sub.live().is_empty());

    // Signed in again while the bridge runs: picked up at the next look (a minute later).
    let again = sign_in(&sim, &c, &reader).await;
    vault.stored.lock().expect("lock").push(ReaderAccount {
        reader_id: reader.clone(),
        upn: "presence-reader1@contoso.onmicrosoft.com".into(),
        refresh_token: again,
    });
    sim.state.clock.advance(chrono::Duration::minutes(2));
    sub.maintain().await;
    assert_eq!(sub.live().len(), 1, "{:?}", sub.alerts());
    assert!(sub.alerts().is_empty(), "{:?}", sub.alerts());
    assert!(sub.polled_users().is_empty());
    sub.stop().await;
}
