//! The agent over TLS against Kamailio's TLS listener: PUBLISH and SUBSCRIBE/NOTIFY on a
//! verified connection, reconnection after a restart, and certificates that must be refused.

use sip::transport::{TlsError, TlsSettings, TransportError, TransportKind};
use sip::{AgentConfig, AgentEvent, EventPackage, PbxState, Presence, PresenceAgent, SipError};

use crate::kamailio::{password, Kamailio};
use crate::pki::test_pki;
use crate::presence::{config, state_of, wait_for};

/// An agent config for `user` over TLS to `k`, trusting the CA in `ca_file`.
fn tls_config(k: &Kamailio, user: &str, ca_file: std::path::PathBuf) -> AgentConfig {
    let mut cfg = config(k, user, &password(user));
    cfg.ua.server = k.tls_addr();
    cfg.ua.transport = TransportKind::Tls;
    cfg.ua.tls = TlsSettings {
        ca_file: Some(ca_file),
        server_name: None,
    };
    cfg
}

#[tokio::test]
async fn publish_and_watch_over_tls_across_a_restart() {
    let pki = test_pki("pbx365 test CA");
    let mut k = Kamailio::start_tls(&pki);
    let ca = k.write_file("ca.pem", &pki.ca_pem);
    let (bridge, mut bevents) = PresenceAgent::start(tls_config(&k, "bridge", ca.clone()))
        .await
        .expect("bridge over TLS");
    let mut cfg = tls_config(&k, "watcher", ca);
    cfg.subscribe_expires = 4;
    let (watcher, mut events) = PresenceAgent::start(cfg).await.expect("watcher over TLS");

    let first = bridge
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish over TLS");
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("subscribe over TLS");
    // the NOTIFY comes back over the watcher's TLS connection (its sips: Contact)
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::OnCall);
    bridge
        .publish("alice", Presence::for_state(PbxState::Dnd))
        .await
        .expect("modify over TLS");
    let state = wait_for(&mut events, 5, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Dnd);
    let log = k.log();
    assert!(
        !log.contains("ERROR: tls"),
        "Kamailio logged TLS errors:\n{log}"
    );

    k.restart();
    // the old connection is gone: the refresh connects and verifies again, meets 412,
    // republishes
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
    let state = wait_for(&mut events, 10, state_of("alice", EventPackage::Presence)).await;
    assert_eq!(state, PbxState::Dnd);
}

/// The handshake error of starting an agent with these TLS settings.
async fn refused(k: &Kamailio, tls: TlsSettings) -> String {
    let mut cfg = tls_config(k, "bridge", "unused".into());
    cfg.ua.tls = tls;
    let err = PresenceAgent::start(cfg)
        .await
        .expect_err("the server's certificate must be refused");
    assert!(
        matches!(err, SipError::Transport(TransportError::Tls { .. })),
        "{err:?}"
    );
    err.to_string()
}

#[tokio::test]
async fn certificates_the_agent_cannot_trust_are_refused() {
    let pki = test_pki("pbx365 test CA");
    let k = Kamailio::start_tls(&pki);

    // signed by a CA other than the configured one
    let other = test_pki("some other CA");
    let other_ca = k.write_file("other-ca.pem", &other.ca_pem);
    let msg = refused(
        &k,
        TlsSettings {
            ca_file: Some(other_ca),
            server_name: None,
        },
    )
    .await;
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    assert!(msg.contains(&k.tls_addr().to_string()), "{msg}");
    assert!(msg.contains("ca_file"), "{msg}");

    // no CA file: the public roots do not know the test CA either
    let msg = refused(&k, TlsSettings::default()).await;
    assert!(msg.contains("UnknownIssuer"), "{msg}");

    // the right CA, but the certificate does not name the host asked for
    let ca = k.write_file("ca.pem", &pki.ca_pem);
    let msg = refused(
        &k,
        TlsSettings {
            ca_file: Some(ca.clone()),
            server_name: Some("pbx.example.com".into()),
        },
    )
    .await;
    assert!(msg.contains("not valid for name"), "{msg}");
    assert!(msg.contains("pbx.example.com"), "{msg}");

    // and the right CA and name work on the same server
    let (agent, _events) = PresenceAgent::start(tls_config(&k, "bridge", ca))
        .await
        .expect("trusted");
    agent
        .publish("bob", Presence::for_state(PbxState::Idle))
        .await
        .expect("publish over TLS");
}

#[tokio::test]
async fn unusable_ca_files_are_named_in_the_error() {
    // no server needed: the CA file is read before connecting
    let server = "127.0.0.1:9".parse().expect("addr");
    let dir = std::env::temp_dir().join(format!("pbx365-sip-tls-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let not_pem = dir.join("not-a-ca.pem");
    std::fs::write(&not_pem, "just some text\n").expect("write");
    let missing = dir.join("missing.pem");
    for (path, want) in [
        (&not_pem, "holds no PEM certificate"),
        (&missing, "cannot read"),
    ] {
        let mut cfg = AgentConfig::new(server, "127.0.0.1", sip::Credentials::new("bridge", "x"));
        cfg.ua.transport = TransportKind::Tls;
        cfg.ua.tls.ca_file = Some(path.clone());
        let err = PresenceAgent::start(cfg).await.expect_err("bad CA file");
        assert!(
            matches!(err, SipError::Transport(TransportError::TlsSetup(_))),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(want) && msg.contains(&path.display().to_string()),
            "{msg}"
        );
    }
    let err = sip::transport::tls::load_ca_file(&not_pem).expect_err("not PEM");
    assert!(matches!(err, TlsError::NoCertificates { .. }), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_times_out() {
    // accepts the TCP connection, then says nothing
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut cfg = AgentConfig::new(server, "127.0.0.1", sip::Credentials::new("bridge", "x"));
    cfg.ua.transport = TransportKind::Tls;
    cfg.ua.timers.timer_f = std::time::Duration::from_millis(500);
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        PresenceAgent::start(cfg),
    )
    .await
    .expect("start gives up by itself")
    .expect_err("no handshake");
    assert!(
        matches!(err, SipError::Transport(TransportError::Tls { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("no TLS handshake answer"), "{err}");
    hold.abort();
}
