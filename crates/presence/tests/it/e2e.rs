//! The whole bridge: emulator over HTTP + a real Kamailio, our own SIP agents as phone and
//! watcher.

use crate::common::*;
use crate::kamailio::Kamailio;
use presence::maps::{RawMaps, RawTeamsRule};
use presence::{FlapLimits, StatusMaps};
use sip::{AgentEvent, EventPackage, PbxState, Presence};
use std::time::{Duration, Instant};

fn state_of(ext: &'static str) -> impl FnMut(&AgentEvent) -> Option<PbxState> {
    move |e| match e {
        AgentEvent::State {
            extension,
            package: EventPackage::Presence,
            state,
        } if extension == ext => Some(*state),
        _ => None,
    }
}

#[tokio::test]
async fn a_teams_change_reaches_a_sip_watcher_within_two_seconds() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    let b = bridge(&k, &sim, &ids, settings(StatusMaps::defaults(4))).await;
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("watcher subscribes");
    // Teams shows Offline at first: the default map withdraws, so nothing is published.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    teams_client(&sim, &ids[0], "Busy", "InAMeeting").await;
    let state = wait_for(&mut events, Duration::from_secs(2), |e| {
        state_of("alice")(e).filter(|s| *s == PbxState::Dnd)
    })
    .await;
    assert_eq!(state, PbxState::Dnd);
    let latency = started.elapsed();
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    eprintln!("Teams → PBX watcher: {latency:?}");

    // The meeting ends: the bridge withdraws and the watcher no longer sees DND.
    teams_client(&sim, &ids[0], "Available", "Available").await;
    let after = wait_for(&mut events, Duration::from_secs(2), |e| {
        state_of("alice")(e).filter(|s| *s != PbxState::Dnd)
    })
    .await;
    assert_ne!(after, PbxState::Dnd);

    let status = b.status();
    let alice = status.find("alice").expect("alice in the status");
    assert_eq!(
        alice.teams.as_ref().expect("teams side").state,
        "Available/Available"
    );
    assert_eq!(alice.teams.as_ref().expect("teams side").origin, "external");
    assert_eq!(alice.bridge_pbx, "none");
    b.stop().await;
}

#[tokio::test]
async fn a_call_on_the_phone_shows_in_teams_and_clears_after() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    let b = bridge(&k, &sim, &ids, settings(StatusMaps::defaults(4))).await;
    let (phone, _phone_events) = agent(&k, "alice").await;

    let started = Instant::now();
    phone
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("the phone publishes for itself");
    let took = until_shown(&sim, &ids[0], ("Busy", "InACall"), Duration::from_secs(2)).await;
    eprintln!(
        "PBX → Teams: {took:?} (publish included: {:?})",
        started.elapsed()
    );

    phone
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("hang up");
    until_shown(
        &sim,
        &ids[0],
        ("Offline", "Offline"),
        Duration::from_secs(2),
    )
    .await;

    // The bridge's own write came back from Teams as an echo: nothing went to the PBX.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = b.status();
    let alice = status.find("alice").expect("alice");
    assert_eq!(alice.pbx.as_ref().expect("pbx side").state, "idle");
    assert_eq!(alice.bridge_pbx, "none", "{alice:?}");
    assert_eq!(alice.bridge_teams, "none");
    assert!(alice.last_error.is_none(), "{alice:?}");
    b.stop().await;
}

/// The map of `maps.rs`'s fade test, renewed only every 12 minutes: the bridge's Available
/// fades to Away in Teams, which publishes away; the renewal makes it Available again, which
/// withdraws… for ever. The load-time check refuses it; forced past the check, the flap
/// detector must latch and the bridge then writes nothing to Graph for that user.
#[tokio::test]
async fn a_forced_bad_map_latches_and_then_writes_nothing_for_an_emulated_hour() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    let raw = fading_map();
    let err = StatusMaps::from_raw(&raw, 12).expect_err("the check refuses it");
    assert!(err.to_string().contains("PBX away"), "{err}");
    let maps = unchecked(&raw, 12);
    let mut s = settings(maps);
    s.flap = FlapLimits {
        max_writes: 3,
        window_ms: 30 * 60_000,
    };
    let dir = std::env::temp_dir().join(format!("pbx365-presence-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("presence-status.json");
    s.status_file = Some(file.clone());
    let b = bridge(&k, &sim, &ids[..1], s).await;
    let (phone, _pe) = agent(&k, "alice").await;
    phone
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("phone idle");
    until_shown(
        &sim,
        &ids[0],
        ("Available", "Available"),
        Duration::from_secs(3),
    )
    .await;

    // Emulated minutes pass, one every 250 ms, until the latch (bounded: 90 minutes).
    let mut latched = None;
    for _ in 0..90 {
        sim.state.clock.advance(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(at) = b.status().users[&ids[0]].latched_at_ms {
            latched = Some(at);
            break;
        }
    }
    let latched = latched.expect("the flap detector latched within 90 emulated minutes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes_at_latch =
        requests(&sim, "setPresence").await + requests(&sim, "clearPresence").await;
    assert!(writes_at_latch >= 1);
    for _ in 0..60 {
        sim.state.clock.advance(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes_after = requests(&sim, "setPresence").await + requests(&sim, "clearPresence").await;
    assert_eq!(
        writes_after, writes_at_latch,
        "no Graph writes in the emulated hour after the latch"
    );
    // the session was not renewed: it lapsed, and Teams shows what the user has (nothing)
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Offline".into(), "Offline".into())
    );
    let status = b.status();
    let u = &status.users[&ids[0]];
    assert_eq!(u.latched_at_ms, Some(latched));
    assert!(u.alert.as_deref().unwrap_or("").contains("frozen"), "{u:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let saved = presence::StatusSnapshot::load(&file).expect("state file");
    assert_eq!(saved.users[&ids[0]].latched_at_ms, Some(latched));

    // While latched, a call on the phone is not carried.
    phone
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("phone on a call");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Offline".into(), "Offline".into()),
        "nothing is carried while latched"
    );

    // An admin releases the latch through the control folder; the running bridge takes it on
    // its next tick and bridging resumes.
    presence::control::request_release(&file, &presence::Release::User(ids[0].clone()))
        .expect("queue the release");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while b.status().users[&ids[0]].latched_at_ms.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the bridge never took the release request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        presence::control::take_releases(&file)
            .expect("control folder")
            .0
            .is_empty(),
        "the request was consumed"
    );
    // The release carries the call the phone shows now, without another change…
    until_shown(&sim, &ids[0], ("Busy", "InACall"), Duration::from_secs(5)).await;
    // …and bridging goes on with the next change: the call ends (this map shows an idle
    // phone as Available).
    phone
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("phone idle");
    until_shown(
        &sim,
        &ids[0],
        ("Available", "Available"),
        Duration::from_secs(5),
    )
    .await;
    let u = &b.status().users[&ids[0]];
    assert!(u.alert.is_none(), "{u:?}");
    b.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_bridge_recovers_after_kamailio_restarts() {
    let mut k = Kamailio::start();
    let (sim, ids) = sim().await;
    let b = bridge(&k, &sim, &ids, settings(StatusMaps::defaults(4))).await;
    teams_client(&sim, &ids[1], "DoNotDisturb", "Presenting").await;
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("bob", EventPackage::Presence)
        .await
        .expect("subscribe");
    wait_for(&mut events, Duration::from_secs(3), |e| {
        state_of("bob")(e).filter(|s| *s == PbxState::Dnd)
    })
    .await;

    k.restart_losing_subscriptions();

    // The publication lived in Kamailio's memory: the bridge's periodic refresh meets 412
    // and publishes again; the watcher's own re-subscription sees it.
    wait_for(&mut events, Duration::from_secs(10), |e| {
        state_of("bob")(e).filter(|s| *s == PbxState::Dnd)
    })
    .await;
    // The bridge's subscriptions come back too: a call on alice's phone reaches Teams.
    let (phone, _pe) = agent(&k, "alice").await;
    phone
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish");
    until_shown(&sim, &ids[0], ("Busy", "InACall"), Duration::from_secs(10)).await;
    // And a new Teams change still reaches the PBX.
    teams_client(&sim, &ids[1], "Away", "Away").await;
    wait_for(&mut events, Duration::from_secs(3), |e| {
        state_of("bob")(e).filter(|s| *s == PbxState::Away)
    })
    .await;
    b.stop().await;
}

/// The defaults with an idle phone shown as Available in Teams and Available read back as idle.
fn fading_map() -> RawMaps {
    let rules = [
        ("Available/Available", "idle"),
        ("*/InACall", "on_call"),
        ("*/InAConferenceCall", "on_call"),
        ("DoNotDisturb/*", "dnd"),
        ("Busy/*", "dnd"),
        ("BusyIdle/*", "dnd"),
        ("Away/*", "away"),
        ("BeRightBack/*", "away"),
        ("*", "none"),
    ];
    RawMaps {
        teams_to_pbx: rules
            .iter()
            .map(|(t, p)| RawTeamsRule {
                teams: (*t).into(),
                pbx: (*p).into(),
            })
            .collect(),
        pbx_to_teams: [
            ("idle", "Available/Available"),
            ("ringing", "clear"),
            ("on_call", "Busy/InACall"),
            ("dnd", "clear"),
            ("away", "clear"),
            ("offline", "clear"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect(),
    }
}

/// `raw` built without the loop check.
fn unchecked(raw: &RawMaps, keepalive: u32) -> StatusMaps {
    StatusMaps::unchecked_from_raw(raw, keepalive).expect("well-formed map")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_between_two_baresips_shows_in_teams_and_clears_after_hang_up() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    let b = bridge(&k, &sim, &ids, settings(StatusMaps::defaults(4))).await;
    let kport = k.addr().port();
    // baresip is driven synchronously; this runtime has a second worker for the bridge
    let (mut alice, bob) = tokio::task::block_in_place(|| {
        (
            crate::baresip::Baresip::start(&k, "alice"),
            crate::baresip::Baresip::start(&k, "bob"),
        )
    });
    let started = Instant::now();
    let target = format!("sip:bob@{}:{kport}", crate::kamailio::DOMAIN);
    let reply = tokio::task::block_in_place(|| alice.command("dial", Some(&target)));
    assert_eq!(reply["ok"], true);
    // Both ends of the call show "In a call" in Teams.
    until_shown(&sim, &ids[0], ("Busy", "InACall"), Duration::from_secs(2)).await;
    let took = match shown_within(&sim, &ids[1], ("Busy", "InACall"), Duration::from_secs(10)).await
    {
        Ok(took) => took,
        Err(now) => panic!(
            "the callee's call never showed in Teams (it shows {now:?});\nbridge: {:#?}\n\
             Kamailio log:\n{}\nalice:\n{}\nbob:\n{}",
            b.status().find("bob"),
            k.log(),
            alice.log(),
            bob.log()
        ),
    };
    eprintln!(
        "baresip call → Teams: callee shown {took:?} after the caller, {:?} after dial",
        started.elapsed()
    );

    // After hang-up the clear waits for baresip's BYE and Kamailio's terminated-dialog NOTIFY:
    // bounded generously, since a loaded CI machine delays both (the 2 s goal is for the call).
    tokio::task::block_in_place(|| alice.command("hangup", None));
    until_shown(
        &sim,
        &ids[0],
        ("Offline", "Offline"),
        Duration::from_secs(10),
    )
    .await;
    until_shown(
        &sim,
        &ids[1],
        ("Offline", "Offline"),
        Duration::from_secs(10),
    )
    .await;
    let status = b.status();
    assert_eq!(
        status
            .find("bob")
            .and_then(|u| u.pbx.as_ref())
            .map(|s| s.state.as_str()),
        Some("idle")
    );
    drop(bob);
    b.stop().await;
}

/// A bridge that died while a user was on the phone leaves its Teams session behind; the
/// next run must clear it rather than read it as the user's own state and publish it.
#[tokio::test]
async fn a_restarted_bridge_clears_the_session_a_crashed_run_left() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    let dir = std::env::temp_dir().join(format!("pbx365-presence-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut s = settings(StatusMaps::defaults(4));
    s.status_file = Some(dir.join("presence-status.json"));
    let first = bridge(&k, &sim, &ids, s.clone()).await;
    let (phone, _pe) = agent(&k, "alice").await;
    phone
        .publish("alice", Presence::for_state(PbxState::OnCall))
        .await
        .expect("call");
    until_shown(&sim, &ids[0], ("Busy", "InACall"), Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // a tick writes the state file
    first.abort();
    phone
        .publish("alice", Presence::for_state(PbxState::Idle))
        .await
        .expect("hang up while no bridge runs");
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Busy".into(), "InACall".into()),
        "the dead bridge's session lingers"
    );

    let second = bridge(&k, &sim, &ids, s).await;
    until_shown(
        &sim,
        &ids[0],
        ("Offline", "Offline"),
        Duration::from_secs(2),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = second.status();
    let alice = status.find("alice").expect("alice");
    assert_eq!(
        alice.bridge_pbx, "none",
        "nothing carried to the PBX: {alice:?}"
    );
    assert_eq!(alice.pbx.as_ref().map(|p| p.state.as_str()), Some("idle"));
    second.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A SIP server that never answers (each transaction waits 32 s) must not hold up the Teams
/// side: polling goes on and the status follows Teams.
#[tokio::test]
async fn a_silent_sip_server_does_not_stall_the_teams_side() {
    let (sim, ids) = sim().await;
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent UDP socket");
    let cfg = sip::AgentConfig::new(
        silent.local_addr().expect("addr"),
        crate::kamailio::DOMAIN,
        sip::Credentials::new("bridge", "secret-bridge"),
    );
    let (agent, events) = sip::PresenceAgent::start(cfg).await.expect("agent");
    let users = ids
        .iter()
        .zip(EXTENSIONS)
        .map(|(id, ext)| presence::MappedUser {
            user_id: id.clone(),
            extension: ext.to_string(),
        })
        .collect();
    let started = Instant::now();
    let b = presence::run::start(
        settings(StatusMaps::defaults(4)),
        client(&sim),
        agent,
        events,
        users,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "start does not wait for the subscriptions"
    );
    for (a, act) in [
        ("Busy", "InAMeeting"),
        ("Away", "Away"),
        ("Busy", "InACall"),
    ] {
        teams_client(&sim, &ids[0], a, act).await;
        let want = format!("{a}/{act}");
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let seen = b
                .status()
                .users
                .get(&ids[0])
                .and_then(|u| u.teams.as_ref().map(|t| t.state.clone()));
            if seen.as_deref() == Some(want.as_str()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the status still shows {seen:?}, not {want}: the Teams side stalled"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(silent);
    b.abort();
}

/// Kamailio, the emulator, a bridge on the fading map and baresip as alice publishing its
/// presence (10 s publications, so that one left behind expires within the test), once a
/// watcher has seen the phone's own "open" — the bridge's empty dialog list alone already
/// shows an idle phone, so only that says the premise holds.
///
/// baresip 1.0.0 publishes "unknown" as it starts and "open" once registered; when the second
/// PUBLISH leaves before the first is answered it carries no ETag, and Kamailio 5.6 keeps two
/// publications with the same tuple id and shows the older one (upstream kamailio#4565,
/// kamailio PR 724 describe the same race for pua). Asking baresip to publish again does not
/// clear it, so the setup starts over (at most five times, each logged).
async fn phone_published_open() -> (
    Kamailio,
    graph_sim::RunningSim,
    Vec<String>,
    presence::BridgeHandle,
    crate::baresip::Baresip,
) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let k = Kamailio::start();
        let (sim, ids) = sim().await;
        let maps =
            StatusMaps::from_raw(&fading_map(), 4).expect("loop-free with a 4-minute keep-alive");
        let b = bridge(&k, &sim, &ids[..1], settings(maps)).await;
        let (watcher, mut events) = agent(&k, "watcher").await;
        watcher
            .subscribe("alice", EventPackage::Presence)
            .await
            .expect("watcher subscribes");
        // baresip is driven synchronously; this runtime has a second worker for the bridge
        let alice = tokio::task::block_in_place(|| {
            crate::baresip::Baresip::start_publishing(&k, "alice", 10)
        });
        let mut seen = Vec::new();
        let open = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(e) = events.recv().await {
                if state_of("alice")(&e) == Some(PbxState::Idle) {
                    return true;
                }
                seen.push(e);
            }
            false
        })
        .await;
        if open == Ok(true) {
            return (k, sim, ids, b, alice);
        }
        assert!(
            attempt < 5,
            "baresip's \"open\" never reached a watcher in {attempt} attempts (last saw \
             {seen:?});\nKamailio log:\n{}\nbaresip log:\n{}",
            k.log(),
            alice.log()
        );
        eprintln!("attempt {attempt}: baresip's \"open\" never reached the watcher (saw {seen:?}); starting over");
        b.abort();
    }
}

/// A site that shows an idle phone as Available in Teams (the fading map, loop-free with a
/// 4-minute keep-alive): what the bridge set while the phone was registered must go when the
/// phone goes offline. By default PBX "offline" clears the bridge's session, so Teams shows the
/// user's own clients — Offline here, for a user with none — and the bridge never writes
/// Offline itself.
async fn offline_clears_the_session(how: &str, within: Duration) {
    let (_k, sim, ids, b, mut alice) = phone_published_open().await;
    until_shown(
        &sim,
        &ids[0],
        ("Available", "Available"),
        Duration::from_secs(5),
    )
    .await;
    let sets = requests(&sim, "setPresence").await;
    let clears = requests(&sim, "clearPresence").await;
    let gone = Instant::now();
    match how {
        "quit" => tokio::task::block_in_place(|| alice.quit()),
        _ => tokio::task::block_in_place(|| alice.kill()),
    }
    let took = until_shown(&sim, &ids[0], ("Offline", "Offline"), within).await;
    eprintln!(
        "baresip {how}: Teams cleared {:?} after the phone went ({took:?} of waiting)",
        gone.elapsed()
    );
    assert_eq!(
        requests(&sim, "setPresence").await,
        sets,
        "no Offline written"
    );
    assert_eq!(requests(&sim, "clearPresence").await, clears + 1);
    let u = &b.status().users[&ids[0]];
    assert_eq!(
        u.pbx.as_ref().map(|p| p.state.as_str()),
        Some("offline"),
        "{u:?}"
    );
    assert_eq!(u.bridge_teams, "none");
    b.stop().await;
}

/// The phone is shut down (SIGTERM): baresip un-registers, but 1.0.0 leaves its publication
/// behind (seen here: at most, sometimes, a last `closed` PUBLISH), so the presence server's
/// NOTIFY — `closed`, or no tuple left once the publication expires (10 s; Kamailio's cleaner
/// runs every 30 s, `clean_period` in the shipped config) — is what tells the bridge; it then
/// clears its Teams session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baresip_that_quits_clears_the_bridges_teams_session() {
    offline_clears_the_session("quit", Duration::from_secs(50)).await;
}

/// The phone dies without a word (SIGKILL): its publication expires on the server, and the
/// NOTIFY with no tuple left clears the bridge's Teams session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baresip_that_dies_clears_the_session_when_its_publication_expires() {
    offline_clears_the_session("kill", Duration::from_secs(50)).await;
}
