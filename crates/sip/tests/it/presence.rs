//! The presence agent against a real Kamailio: publishing, watching, refreshing, recovery,
//! authorisation.

use std::time::Duration;

use sip::agent::refresh_delay;
use sip::message::Method;
use sip::ua::{CallLeg, UserAgent};
use sip::{
    AgentConfig, AgentEvent, Credentials, EventPackage, PbxState, Presence, PresenceAgent, SipError,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::kamailio::{password, Kamailio, DOMAIN};

pub fn config(k: &Kamailio, user: &str, pass: &str) -> AgentConfig {
    AgentConfig::new(k.addr(), DOMAIN, Credentials::new(user, pass))
}

pub async fn agent(k: &Kamailio, user: &str) -> (PresenceAgent, UnboundedReceiver<AgentEvent>) {
    PresenceAgent::start(config(k, user, &password(user)))
        .await
        .expect("start agent")
}

/// Waits (bounded) for the first event `pick` accepts; panics listing what came instead.
pub async fn wait_for<T>(
    rx: &mut UnboundedReceiver<AgentEvent>,
    secs: u64,
    mut pick: impl FnMut(&AgentEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
                seen.push(e);
            }
            Ok(None) => panic!("agent stopped; events: {seen:#?}"),
            Err(_) => panic!("expected event did not come within {secs} s; events: {seen:#?}"),
        }
    }
}

pub fn state_of(ext: &str, pkg: EventPackage) -> impl FnMut(&AgentEvent) -> Option<PbxState> + '_ {
    move |e| match e {
        AgentEvent::State {
            extension,
            package,
            state,
        } if extension == ext && *package == pkg => Some(*state),
        _ => None,
    }
}

async fn raw_ua(k: &Kamailio, user: &str) -> UserAgent {
    let cfg = config(k, user, &password(user));
    UserAgent::new(cfg.ua).await.expect("raw UA").0
}

#[tokio::test]
async fn bridge_publish_reaches_watcher_and_refreshes() {
    let k = Kamailio::start();
    let (bridge, mut bridge_events) = agent(&k, "bridge").await;
    let published = bridge
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("bridge may publish for alice");
    assert!(
        published.etag.starts_with("a."),
        "Kamailio etag: {}",
        published.etag
    );
    assert_eq!(published.expires, 600);
    let event = wait_for(&mut bridge_events, 2, |e| Some(e.clone())).await;
    assert_eq!(
        event,
        AgentEvent::Published {
            extension: "alice".into(),
            etag: published.etag.clone(),
            expires: 600,
            recovered: false
        }
    );

    let (watcher, mut events) = agent(&k, "watcher").await;
    let granted = watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("watcher subscribes");
    assert_eq!(granted, 600);
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::OnCall);

    // refresh: SIP-If-Match with the etag (and the document, see `refresh_with_body`)
    // -> 200 and a new etag; the watcher still sees the same state
    let refreshed = bridge.refresh("alice").await.expect("refresh");
    assert_ne!(refreshed.etag, published.etag);
    assert_eq!(refreshed.expires, 600);
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::OnCall);

    // modification: the watcher sees the new state
    bridge
        .publish("alice", Presence::for_state(PbxState::Dnd))
        .await
        .expect("modify");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Dnd);

    // withdrawal: Kamailio notifies a closed tuple
    bridge.unpublish("alice").await.expect("unpublish");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Offline);

    let err = bridge
        .publish("al\r\nice", Presence::for_state(PbxState::Idle))
        .await
        .expect_err("header injection");
    assert!(matches!(err, SipError::InvalidExtension(_)), "{err:?}");
    // shutdown ends the subscription: nothing more arrives, and it does not fail
    watcher.shutdown().await.expect("unsubscribe");
    assert!(matches!(
        bridge.refresh("alice").await,
        Err(SipError::NotPublished(_))
    ));
}

#[tokio::test]
async fn bogus_if_match_gets_412_and_agent_recovers() {
    let k = Kamailio::start();
    let raw = raw_ua(&k, "bridge").await;
    let mut leg = CallLeg::new(&raw.aor("alice"));
    let resp = raw
        .request(
            &mut leg,
            Method::Publish,
            &[
                ("Event", "presence".into()),
                ("Expires", "60".into()),
                ("SIP-If-Match", "a.1700000000.1.1.0".into()),
            ],
            None,
        )
        .await
        .expect("answered");
    assert_eq!(resp.status, 412);

    let (bridge, mut events) = agent(&k, "bridge").await;
    let first = bridge
        .publish("alice", Presence::for_state(PbxState::Away))
        .await
        .expect("publish");
    // someone else modifies the publication: the agent's etag is now unknown
    let body = Presence::for_state(PbxState::Away).to_pidf(&raw.aor("alice"));
    let mut leg = CallLeg::new(&raw.aor("alice"));
    let resp = raw
        .request(
            &mut leg,
            Method::Publish,
            &[
                ("Event", "presence".into()),
                ("Expires", "60".into()),
                ("SIP-If-Match", first.etag.clone()),
            ],
            Some(("application/pidf+xml", body.as_bytes())),
        )
        .await
        .expect("answered");
    assert_eq!(resp.status, 200);
    let recovered = bridge
        .refresh("alice")
        .await
        .expect("agent recovers from 412");
    assert_ne!(recovered.etag, first.etag);
    let was_recovery = wait_for(&mut events, 2, |e| match e {
        AgentEvent::Published {
            etag, recovered, ..
        } if *etag != first.etag => Some(*recovered),
        _ => None,
    })
    .await;
    assert!(was_recovery);

    // the fresh publication carries the body again: a watcher sees "away"
    let (watcher, mut wevents) = agent(&k, "watcher").await;
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("subscribe");
    let state = wait_for(&mut wevents, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Away);
}

#[tokio::test]
async fn phone_may_publish_only_for_itself() {
    let k = Kamailio::start();
    let (alice, _events) = agent(&k, "alice").await;
    alice
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("alice may publish for herself");
    let err = alice
        .publish("bob", Presence::for_state(PbxState::Idle))
        .await
        .expect_err("alice must not publish for bob");
    assert_eq!(err.status(), Some(403), "{err}");
    let (watcher, _events) = agent(&k, "watcher").await;
    let err = watcher
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect_err("watcher must not publish for alice");
    assert_eq!(err.status(), Some(403), "{err}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let k = Kamailio::start();
    let (bridge, _events) = PresenceAgent::start(config(&k, "bridge", "not-the-password"))
        .await
        .expect("start");
    let err = bridge
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect_err("wrong password");
    match err {
        SipError::AuthRejected {
            user,
            method,
            status,
        } => {
            assert_eq!(
                (user.as_str(), method.as_str(), status),
                ("bridge", "PUBLISH", 407)
            );
        }
        other => panic!("expected AuthRejected, got {other:?}"),
    }
    let err = bridge
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect_err("wrong password");
    assert!(
        matches!(err, SipError::AuthRejected { status: 407, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn subscriptions_are_refreshed_before_expiry() {
    let k = Kamailio::start();
    let mut cfg = config(&k, "watcher", &password("watcher"));
    cfg.subscribe_expires = 4;
    assert_eq!(refresh_delay(4), Duration::from_secs(3));
    let (watcher, mut events) = PresenceAgent::start(cfg).await.expect("start");
    let started = tokio::time::Instant::now();
    assert_eq!(
        watcher
            .subscribe("bob", EventPackage::Presence)
            .await
            .expect("subscribe"),
        4
    );
    let first = wait_for(&mut events, 2, state_of("bob", EventPackage::Presence)).await;
    assert_eq!(first, PbxState::Unknown, "bob never published");
    for _ in 0..2 {
        let expires = wait_for(&mut events, 6, |e| match e {
            AgentEvent::Subscribed { expires, .. } => Some(*expires),
            AgentEvent::SubscriptionLost { reason, .. } => panic!("lost: {reason}"),
            _ => None,
        })
        .await;
        assert_eq!(expires, 4);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(6),
        "two refreshes 3 s apart, got {elapsed:?}"
    );
    watcher
        .unsubscribe("bob", EventPackage::Presence)
        .await
        .expect("unsubscribe");
}

#[tokio::test]
async fn dialog_state_is_watched() {
    let k = Kamailio::start();
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("bob", EventPackage::Dialog)
        .await
        .expect("subscribe dialog");
    let idle = wait_for(&mut events, 5, state_of("bob", EventPackage::Dialog)).await;
    assert_eq!(idle, PbxState::Idle);

    let raw = raw_ua(&k, "bridge").await;
    for (state, expected) in [
        ("early", PbxState::Ringing),
        ("confirmed", PbxState::OnCall),
    ] {
        let body = format!(
            "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" \
             version=\"0\" state=\"full\" entity=\"sip:bob@{DOMAIN}\"><dialog id=\"d1\" \
             call-id=\"c1\" direction=\"recipient\"><state>{state}</state></dialog></dialog-info>"
        );
        let mut leg = CallLeg::new(&raw.aor("bob"));
        let resp = raw
            .request(
                &mut leg,
                Method::Publish,
                &[("Event", "dialog".into()), ("Expires", "60".into())],
                Some(("application/dialog-info+xml", body.as_bytes())),
            )
            .await
            .expect("answered");
        assert_eq!(resp.status, 200, "{}", resp.reason);
        let got = wait_for(&mut events, 5, state_of("bob", EventPackage::Dialog)).await;
        assert_eq!(got, expected, "dialog state {state}");
    }
}

#[tokio::test]
async fn agent_recovers_after_server_restart() {
    let mut k = Kamailio::start();
    let (bridge, mut bevents) = agent(&k, "bridge").await;
    let mut cfg = config(&k, "watcher", &password("watcher"));
    cfg.subscribe_expires = 4;
    let (watcher, mut events) = PresenceAgent::start(cfg).await.expect("start");
    let first = bridge
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish");
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("subscribe");
    assert_eq!(
        wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await,
        PbxState::OnCall
    );

    k.restart_losing_subscriptions();
    // publications live in Kamailio's memory: the refresh gets 412 and republishes
    let again = bridge
        .refresh("alice")
        .await
        .expect("republish after restart");
    assert_ne!(again.etag, first.etag);
    let recovered = wait_for(&mut bevents, 2, |e| match e {
        AgentEvent::Published {
            etag, recovered, ..
        } if *etag == again.etag => Some(*recovered),
        _ => None,
    })
    .await;
    assert!(recovered, "the refresh should have met 412");
    // the watcher's refresh (3 s after subscribing) meets a server that forgot the dialog;
    // the agent subscribes anew and gets the current state
    let (reason, retrying) = wait_for(&mut events, 8, |e| match e {
        AgentEvent::SubscriptionLost {
            reason, retrying, ..
        } => Some((reason.clone(), *retrying)),
        _ => None,
    })
    .await;
    assert!(retrying);
    assert!(reason.contains("481"), "{reason}");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::OnCall);
}

/// Why `refresh_with_body` defaults to true: Kamailio 5.6 with `publ_cache=2` notifies an
/// empty body after a body-less refresh. If this starts failing, Kamailio fixed it.
#[tokio::test]
async fn kamailio_notifies_empty_body_after_bare_refresh() {
    let k = Kamailio::start();
    let mut cfg = config(&k, "bridge", &password("bridge"));
    cfg.refresh_with_body = false;
    let (bridge, _bevents) = PresenceAgent::start(cfg).await.expect("start");
    bridge
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish");
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("subscribe");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::OnCall);
    bridge.refresh("alice").await.expect("bare refresh");
    // A NOTIFY of the publication itself may still be on its way (a loaded machine): the
    // refresh's own NOTIFY is the one that comes empty.
    let mut on_call = state_of("alice", EventPackage::Presence);
    let state = wait_for(&mut events, 5, |e| {
        on_call(e).filter(|s| *s != PbxState::OnCall)
    })
    .await;
    assert_eq!(state, PbxState::Unknown);
}

#[tokio::test]
async fn publications_are_refreshed_before_expiry() {
    let k = Kamailio::start();
    let mut cfg = config(&k, "bridge", &password("bridge"));
    cfg.publish_expires = 4;
    let (bridge, mut events) = PresenceAgent::start(cfg).await.expect("start");
    let started = tokio::time::Instant::now();
    let first = bridge
        .publish("bob", Presence::for_state(PbxState::Idle))
        .await
        .expect("publish");
    assert_eq!(first.expires, 4);
    let mut etags = vec![first.etag];
    for _ in 0..2 {
        let (etag, expires) = wait_for(&mut events, 6, |e| match e {
            AgentEvent::Published { etag, expires, .. } if !etags.contains(etag) => {
                Some((etag.clone(), *expires))
            }
            AgentEvent::PublishFailed { error, .. } => panic!("refresh failed: {error}"),
            _ => None,
        })
        .await;
        assert_eq!(expires, 4);
        etags.push(etag);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(6),
        "two refreshes 3 s apart, got {elapsed:?}"
    );
}
