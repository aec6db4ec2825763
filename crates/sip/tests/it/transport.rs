//! Transaction time-outs without a server.

use std::time::{Duration, Instant};

use sip::transport::{Timers, TransportError};
use sip::{AgentConfig, Credentials, PbxState, Presence, PresenceAgent, SipError};

#[tokio::test]
async fn publish_to_silent_server_times_out_on_timer_f() {
    // a bound socket that never answers: the datagrams arrive and are ignored
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server = silent.local_addr().expect("addr");
    let mut cfg = AgentConfig::new(server, "127.0.0.1", Credentials::new("bridge", "x"));
    cfg.ua.timers = Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(200),
        timer_f: Duration::from_millis(800),
    };
    let (agent, _events) = PresenceAgent::start(cfg).await.expect("start");
    let started = Instant::now();
    let err = agent
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(
        matches!(err, SipError::Transport(TransportError::Timeout { .. })),
        "{err:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Timer E: retransmissions at 50, 100, 200, 200… ms -> several copies arrived
    silent.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    let mut copies = 0;
    while silent.recv(&mut buf).is_ok() {
        copies += 1;
    }
    assert!((5..=8).contains(&copies), "datagrams received: {copies}");
}

#[tokio::test]
async fn header_breaking_configuration_is_refused() {
    let server = "127.0.0.1:5090".parse().expect("addr");
    let cfg = AgentConfig::new(server, "pbx\r\nX: y", Credentials::new("bridge", "x"));
    let err = PresenceAgent::start(cfg).await.expect_err("bad domain");
    assert!(matches!(err, SipError::InvalidConfig(_)), "{err:?}");
    let cfg = AgentConfig::new(server, "127.0.0.1", Credentials::new("bri dge", "x"));
    let err = PresenceAgent::start(cfg).await.expect_err("bad user");
    assert!(matches!(err, SipError::InvalidConfig(_)), "{err:?}");
    let mut cfg = AgentConfig::new(server, "127.0.0.1", Credentials::new("bridge", "x"));
    cfg.ua.bind = "0.0.0.0:0".parse().expect("addr");
    let err = PresenceAgent::start(cfg)
        .await
        .expect_err("unspecified bind");
    assert!(matches!(err, SipError::InvalidConfig(_)), "{err:?}");
}
