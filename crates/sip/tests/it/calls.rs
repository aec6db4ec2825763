//! A call relayed by the shipped Kamailio config makes `pua_dialoginfo` publish the callee's
//! dialog state, which a watcher of `Event: dialog` sees as Ringing → OnCall → Idle.

use std::time::Duration;

use sip::header::NameAddr;
use sip::message::{Method, Response};
use sip::ua::{CallLeg, UserAgent};
use sip::{AgentEvent, EventPackage, PbxState};

use crate::kamailio::{password, Kamailio, DOMAIN};
use crate::presence::{agent, config};

/// Registers `user` with the UA's own address as Contact.
async fn register(k: &Kamailio, ua: &UserAgent, user: &str) {
    let mut leg = CallLeg::new(&ua.aor(user));
    leg.uri = format!("sip:{DOMAIN}:{}", k.addr().port());
    let resp = ua
        .request(
            &mut leg,
            Method::Register,
            &[("Expires", "300".into())],
            None,
        )
        .await
        .expect("REGISTER answered");
    assert_eq!(resp.status, 200, "REGISTER {}", resp.reason);
}

#[tokio::test]
async fn relayed_call_publishes_callee_dialog_state() {
    let k = Kamailio::start();
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("bob", EventPackage::Dialog)
        .await
        .expect("subscribe dialog");

    // bob: a phone that rings for 500 ms, answers, and accepts the BYE
    let (bob, mut bob_incoming) = UserAgent::new(config(&k, "bob", &password("bob")).ua)
        .await
        .expect("bob");
    register(&k, &bob, "bob").await;
    let bob_contact = format!("<sip:bob@{}>", bob.local_addr());
    let bob = std::sync::Arc::new(bob);
    let phone = {
        let bob = bob.clone();
        tokio::spawn(async move {
            while let Some(inc) = bob_incoming.recv().await {
                let req = inc.request;
                let reply = |status: u16, reason: &str| {
                    let mut r = Response::to_request(&req, status, reason, Some("bobtag"));
                    for rr in req.headers.get_all("Record-Route") {
                        r.headers.push("Record-Route", rr);
                    }
                    r.headers.push("Contact", bob_contact.clone());
                    r
                };
                match req.method {
                    Method::Invite => {
                        bob.respond(&reply(180, "Ringing"), inc.source).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        bob.respond(&reply(200, "OK"), inc.source).await;
                    }
                    Method::Ack => {}
                    Method::Bye => {
                        bob.respond(&reply(200, "OK"), inc.source).await;
                        return;
                    }
                    _ => bob.respond(&reply(200, "OK"), inc.source).await,
                }
            }
        })
    };

    // alice calls bob through the proxy
    let (alice, _alice_incoming) = UserAgent::new(config(&k, "alice", &password("alice")).ua)
        .await
        .expect("alice");
    let mut leg = CallLeg::new(&alice.aor("bob"));
    let answer = alice
        .request(&mut leg, Method::Invite, &[], None)
        .await
        .expect("INVITE answered");
    assert_eq!(answer.status, 200, "INVITE {}", answer.reason);
    leg.to = answer.headers.get("To").expect("To").to_string();
    // in-dialog requests go to the remote target (Contact of the 200) along the route set
    let contact = answer.headers.get("Contact").expect("Contact");
    leg.uri = NameAddr::parse(contact).expect("Contact").uri;
    assert_eq!(leg.uri, format!("sip:bob@{}", bob.local_addr()));
    leg.route = answer
        .headers
        .get_all("Record-Route")
        .map(str::to_string)
        .collect();
    leg.route.reverse();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bye = alice
        .request(&mut leg, Method::Bye, &[], None)
        .await
        .expect("BYE answered");
    assert_eq!(bye.status, 200, "BYE {}", bye.reason);
    tokio::time::timeout(Duration::from_secs(5), phone)
        .await
        .expect("phone done")
        .expect("phone task");

    // states seen by the watcher, consecutive repeats collapsed
    let mut states: Vec<PbxState> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while states.len() < 4 {
        let e = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => e,
            _ => panic!("states so far: {states:?}"),
        };
        if let AgentEvent::State { state, .. } = e {
            if states.last() != Some(&state) {
                states.push(state);
            }
        }
    }
    assert_eq!(
        states,
        vec![
            PbxState::Idle,
            PbxState::Ringing,
            PbxState::OnCall,
            PbxState::Idle
        ]
    );
}
