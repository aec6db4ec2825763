//! The agent against a scripted UDP server, for answers Kamailio does not give on demand
//! (423 with Min-Expires on PUBLISH and SUBSCRIBE, 489).

use std::net::SocketAddr;
use std::time::Duration;

use sip::message::{Message, Method, Response};
use sip::{
    AgentConfig, AgentEvent, Credentials, EventPackage, PbxState, Presence, PresenceAgent, SipError,
};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Answers each request with the next scripted `(status, extra headers)` and reports the
/// `Expires` header of every request it got.
async fn scripted(
    script: Vec<(u16, Vec<(&'static str, &'static str)>)>,
) -> (SocketAddr, JoinHandle<Vec<(Method, Option<String>)>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for (status, extra) in script {
            let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
            else {
                break;
            };
            let Ok(Message::Request(req)) = Message::parse(&buf[..n]) else {
                panic!("agent sent something unparsable")
            };
            seen.push((
                req.method.clone(),
                req.headers.get("Expires").map(str::to_string),
            ));
            let mut resp = Response::to_request(&req, status, "Scripted", Some("srv"));
            for (n, v) in extra {
                resp.headers.push(n, v);
            }
            sock.send_to(&resp.to_bytes(), from).await.expect("send");
        }
        seen
    });
    (addr, task)
}

fn agent_config(server: SocketAddr) -> AgentConfig {
    let mut cfg = AgentConfig::new(server, "127.0.0.1", Credentials::new("bridge", "x"));
    cfg.publish_expires = 60;
    cfg.subscribe_expires = 60;
    cfg
}

#[tokio::test]
async fn publish_and_subscribe_raise_expires_after_423() {
    let (server, script) = scripted(vec![
        (423, vec![("Min-Expires", "120")]),
        (200, vec![("SIP-ETag", "e1"), ("Expires", "120")]),
        (423, vec![("Min-Expires", "300")]),
        (
            200,
            vec![("Expires", "300"), ("Contact", "<sip:127.0.0.1:9>")],
        ),
    ])
    .await;
    let (agent, _events) = PresenceAgent::start(agent_config(server))
        .await
        .expect("start");
    let published = agent
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("publish");
    assert_eq!((published.etag.as_str(), published.expires), ("e1", 120));
    let granted = agent
        .subscribe("alice", EventPackage::Dialog)
        .await
        .expect("subscribe");
    assert_eq!(granted, 300);
    let seen = script.await.expect("script");
    let expires: Vec<_> = seen
        .iter()
        .map(|(m, e)| (m.as_str(), e.as_deref()))
        .collect();
    assert_eq!(
        expires,
        vec![
            ("PUBLISH", Some("60")),
            ("PUBLISH", Some("120")),
            ("SUBSCRIBE", Some("60")),
            ("SUBSCRIBE", Some("300")),
        ]
    );
}

#[tokio::test]
async fn bad_event_489_is_permanent() {
    // a second SUBSCRIBE (a retry) would get 200; the script waits 2 s for it
    let (server, script) = scripted(vec![
        (489, vec![("Allow-Events", "presence")]),
        (200, vec![("Expires", "60")]),
    ])
    .await;
    let (agent, mut events) = PresenceAgent::start(agent_config(server))
        .await
        .expect("start");
    let err = agent
        .subscribe("alice", EventPackage::Dialog)
        .await
        .expect_err("489");
    assert!(
        matches!(err, SipError::Rejected { status: 489, .. }),
        "{err:?}"
    );
    let lost = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .expect("event")
        .expect("open");
    match lost {
        AgentEvent::SubscriptionLost {
            retrying, reason, ..
        } => {
            assert!(!retrying, "489 must not be retried");
            assert!(reason.contains("489"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        script.await.expect("script").len(),
        1,
        "no second SUBSCRIBE"
    );
}

/// A server that answers 503 (or 500) with `Retry-After` is not asked again sooner than it
/// said; the agent's own back-off would retry after 1 s.
#[tokio::test]
async fn retry_after_on_503_and_500_is_honoured() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let server = sock.local_addr().expect("addr");
    // Per method: the answers in turn (the two requests interleave).
    let server_task = tokio::spawn(async move {
        let mut subscribe: Vec<(u16, Vec<(&str, &str)>)> = vec![
            (503, vec![("Retry-After", "2 (overloaded)")]),
            (
                200,
                vec![("Expires", "60"), ("Contact", "<sip:127.0.0.1:9>")],
            ),
        ];
        let mut publish: Vec<(u16, Vec<(&str, &str)>)> = vec![
            (500, vec![("Retry-After", "2;duration=60")]),
            (200, vec![("SIP-ETag", "e1"), ("Expires", "60")]),
        ];
        let mut seen = Vec::new();
        while !(subscribe.is_empty() && publish.is_empty()) {
            let (req, from) = next_request(&sock).await;
            let queue = match req.method {
                Method::Subscribe => &mut subscribe,
                Method::Publish => &mut publish,
                ref other => panic!("unexpected {other:?}"),
            };
            assert!(!queue.is_empty(), "one {:?} too many", req.method);
            let (status, extra) = queue.remove(0);
            seen.push((req.method.clone(), status, std::time::Instant::now()));
            let mut resp = Response::to_request(&req, status, "Scripted", Some("srv"));
            for (n, v) in extra {
                resp.headers.push(n, v);
            }
            sock.send_to(&resp.to_bytes(), from).await.expect("send");
        }
        seen
    });
    let (agent, _events) = PresenceAgent::start(agent_config(server))
        .await
        .expect("start");
    let err = agent.subscribe("alice", EventPackage::Dialog).await;
    assert!(
        matches!(
            err,
            Err(SipError::Rejected {
                status: 503,
                retry_after: Some(2),
                ..
            })
        ),
        "{err:?}"
    );
    let err = agent
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await;
    assert!(
        matches!(
            err,
            Err(SipError::Rejected {
                status: 500,
                retry_after: Some(2),
                ..
            })
        ),
        "{err:?}"
    );
    // Both retried in the background, each no sooner than asked (bounded by next_request).
    let seen = server_task.await.expect("server");
    for method in [Method::Subscribe, Method::Publish] {
        let at: Vec<_> = seen
            .iter()
            .filter(|(m, _, _)| *m == method)
            .map(|(_, _, t)| *t)
            .collect();
        assert_eq!(at.len(), 2, "{method:?}");
        let gap = at[1].duration_since(at[0]);
        assert!(
            gap >= Duration::from_millis(1900),
            "{method:?} retried {gap:?} after an answer asking for 2 s"
        );
    }
}

/// Receives the next request from the agent (skipping responses), bounded.
async fn next_request(sock: &UdpSocket) -> (sip::message::Request, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
            .await
            .expect("agent sent nothing")
            .expect("recv");
        if let Ok(Message::Request(req)) = Message::parse(&buf[..n]) {
            return (req, from);
        }
    }
}

async fn next_response(sock: &UdpSocket) -> Response {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
            .await
            .expect("agent sent nothing")
            .expect("recv");
        if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
            return r;
        }
    }
}

#[tokio::test]
async fn terminated_subscription_is_renewed_and_unknown_notify_gets_481() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let server = sock.local_addr().expect("addr");
    let (agent, mut events) = PresenceAgent::start(agent_config(server))
        .await
        .expect("start");
    let subscribing = tokio::spawn(async move {
        let r = agent.subscribe("alice", EventPackage::Presence).await;
        (agent, r)
    });

    let (sub, from) = next_request(&sock).await;
    assert_eq!(sub.method, Method::Subscribe);
    let mut ok = Response::to_request(&sub, 200, "OK", Some("srv"));
    ok.headers.push("Contact", format!("<sip:{server}>"));
    ok.headers.push("Expires", "60");
    sock.send_to(&ok.to_bytes(), from).await.expect("send");
    let (agent, r) = subscribing.await.expect("task");
    assert_eq!(r.expect("subscribed"), 60);

    // the server ends the subscription
    let agent_contact = sub.headers.get("Contact").expect("Contact");
    let agent_uri = sip::header::NameAddr::parse(agent_contact)
        .expect("contact")
        .uri;
    let notify = |call_id: &str, state: &str| {
        let mut n = sip::message::Request::new(Method::Notify, agent_uri.clone());
        n.headers.push(
            "Via",
            format!("SIP/2.0/UDP {server};branch=z9hG4bK{call_id}"),
        );
        n.headers.push("From", ok.headers.get("To").expect("To"));
        n.headers.push("To", sub.headers.get("From").expect("From"));
        n.headers.push("Call-ID", call_id);
        n.headers.push("CSeq", "1 NOTIFY");
        n.headers.push("Event", "presence");
        n.headers.push("Subscription-State", state);
        n
    };
    let stray = notify("no-such-call", "active;expires=60");
    sock.send_to(&stray.to_bytes(), from).await.expect("send");
    assert_eq!(next_response(&sock).await.status, 481);

    let end = notify(
        sub.call_id().expect("Call-ID"),
        "terminated;reason=deactivated",
    );
    sock.send_to(&end.to_bytes(), from).await.expect("send");
    assert_eq!(next_response(&sock).await.status, 200);

    // … and the agent subscribes again in a new dialog
    let (again, from) = next_request(&sock).await;
    assert_eq!(again.method, Method::Subscribe);
    assert_ne!(again.call_id(), sub.call_id());
    let to = sip::header::NameAddr::parse(again.headers.get("To").expect("To")).expect("To");
    assert_eq!(to.tag(), None, "a new subscription is out of dialog");
    let mut ok2 = Response::to_request(&again, 200, "OK", Some("srv2"));
    ok2.headers.push("Expires", "60");
    sock.send_to(&ok2.to_bytes(), from).await.expect("send");

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(3), events.recv())
            .await
            .expect("event")
            .expect("open");
        seen.push(e);
    }
    assert_eq!(
        seen,
        vec![
            AgentEvent::Subscribed {
                extension: "alice".into(),
                package: EventPackage::Presence,
                expires: 60
            },
            AgentEvent::State {
                extension: "alice".into(),
                package: EventPackage::Presence,
                state: PbxState::Unknown
            },
            AgentEvent::SubscriptionLost {
                extension: "alice".into(),
                package: EventPackage::Presence,
                reason: "terminated by the server (deactivated)".into(),
                retrying: true
            },
            AgentEvent::Subscribed {
                extension: "alice".into(),
                package: EventPackage::Presence,
                expires: 60
            },
        ]
    );
    drop(agent);
}
