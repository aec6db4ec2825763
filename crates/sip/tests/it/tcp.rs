//! The agent over TCP: NOTIFYs come back over the agent's connection, and a restarted
//! server means a new connection.

use sip::transport::TransportKind;
use sip::{AgentEvent, EventPackage, PbxState, Presence, PresenceAgent};

use crate::kamailio::{password, Kamailio};
use crate::presence::{config, state_of, wait_for};

#[tokio::test]
async fn publish_and_watch_over_tcp_across_a_restart() {
    let mut k = Kamailio::start();
    let mut cfg = config(&k, "bridge", &password("bridge"));
    cfg.ua.transport = TransportKind::Tcp;
    let (bridge, mut bevents) = PresenceAgent::start(cfg).await.expect("bridge over TCP");
    let mut cfg = config(&k, "watcher", &password("watcher"));
    cfg.ua.transport = TransportKind::Tcp;
    cfg.subscribe_expires = 4;
    let (watcher, mut events) = PresenceAgent::start(cfg).await.expect("watcher over TCP");

    let first = bridge
        .publish("alice", Presence::for_state(PbxState::Away))
        .await
        .expect("publish over TCP");
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("subscribe over TCP");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Away);

    k.restart();
    // the old connection is gone: the refresh connects again, meets 412, republishes
    let again = bridge
        .refresh("alice")
        .await
        .expect("refresh after restart");
    assert_ne!(again.etag, first.etag);
    let recovered = wait_for(&mut bevents, 2, |e| match e {
        AgentEvent::Published {
            etag, recovered, ..
        } if *etag == again.etag => Some(*recovered),
        _ => None,
    })
    .await;
    assert!(recovered);
    // the watcher's next refresh goes over a new connection (new Contact) and the
    // republished state reaches it there
    let state = wait_for(&mut events, 10, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Away);
}
