//! A burst of PBX changes for many users while Graph is slow: the bridge's Teams writes run
//! concurrently but never more than its limit at once, and per user the newest state wins.

use crate::common::*;
use crate::kamailio::Kamailio;
use presence::StatusMaps;
use serde_json::json;
use sip::{PbxState, Presence};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_many_users_is_written_concurrently_within_the_limit_and_in_order() {
    const N: usize = 24;
    const LIMIT: usize = 4;
    const LATENCY_MS: u64 = 400;
    let k = Kamailio::start();
    let names: Vec<String> = (0..N).map(|i| format!("wb{i:03}")).collect();
    let (sim, ids) = sim_with(&names).await;
    let (bridge_agent, events) = agent(&k, "bridge").await;
    let users = mapped(&ids, &names);
    let mut s = settings(StatusMaps::defaults(4));
    s.writes_in_flight = LIMIT;
    let b = presence::run::start(s, client(&sim), bridge_agent, events, users).await;
    watching(&b).await;
    // Every Teams write (POST …/presence/setPresence|clearPresence) takes LATENCY_MS.
    let (st, body) = control(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/rules",
        Some(json!({
            "path": "/v1.0/users/*/presence/*",
            "method": "POST",
            "latency": {"kind": "fixed", "ms": LATENCY_MS},
        })),
    )
    .await;
    assert_eq!(st, 200, "{body}");

    // The phones: every user goes on a call; the even ones hang up and take another call at
    // once, before the bridge could have written the first. Everyone ends on a call.
    let (phone, _pe) = agent(&k, "bridge").await;
    let writes_before = writes(&sim).await;
    let started = Instant::now();
    for n in &names {
        phone
            .publish(n, Presence::for_state(PbxState::OnCall))
            .await
            .expect("the phone publishes a call");
    }
    for state in [PbxState::Idle, PbxState::OnCall] {
        for n in names.iter().step_by(2) {
            phone
                .publish(n, Presence::for_state(state))
                .await
                .expect("the phone publishes");
        }
    }
    let bound = Duration::from_millis(LATENCY_MS * N as u64 * 2);
    for id in &ids {
        until_shown(&sim, id, ("Busy", "InACall"), bound).await;
    }
    // The emulator shows a write before it answers it (the latency delays the answer): the
    // burst ends when the count of answered writes stops growing (read every 20 ms).
    let (mut written, mut last_change) = (writes(&sim).await - writes_before, Instant::now());
    let quiet = Duration::from_millis(LATENCY_MS * 3);
    while last_change.elapsed() < quiet {
        assert!(started.elapsed() < bound * 2, "the writes never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = writes(&sim).await - writes_before;
        if now != written {
            (written, last_change) = (now, Instant::now());
        }
    }
    let elapsed = last_change - started;
    // Settled: no older state (the even users' hang-up) overtakes the newest.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            shown(&sim, id).await,
            ("Busy".to_string(), "InACall".to_string()),
            "user {i}'s newest state stands"
        );
    }
    eprintln!(
        "{N} users, {} PBX changes, {written} Graph writes at {LATENCY_MS} ms each, \
         at most {LIMIT} at once: {elapsed:?}",
        N + N
    );
    assert!(
        written >= N as u64 && written <= (N + N) as u64,
        "{written} writes: at least every user's call, at most one per change"
    );
    // With at most LIMIT at once, `written` requests of LATENCY_MS cannot end sooner than
    // ⌈written / LIMIT⌉ × LATENCY_MS; one at a time they would take written × LATENCY_MS.
    let floor = Duration::from_millis(written.div_ceil(LIMIT as u64) * LATENCY_MS);
    assert!(
        elapsed >= floor,
        "{elapsed:?} < {floor:?}: more than {LIMIT} writes ran at once"
    );
    let serial = Duration::from_millis(written * LATENCY_MS);
    assert!(
        elapsed < serial,
        "{elapsed:?} ≥ {serial:?}: the writes ran one at a time"
    );

    // Everyone hangs up: every session is cleared, in order after the calls.
    for n in &names {
        phone
            .publish(n, Presence::for_state(PbxState::Idle))
            .await
            .expect("the phone publishes idle");
    }
    for id in &ids {
        until_shown(&sim, id, ("Offline", "Offline"), bound).await;
    }
    assert!(b.status().users.values().all(|u| u.latched_at_ms.is_none()));
    b.stop().await;
}

/// Teams writes the emulator answered so far.
async fn writes(sim: &graph_sim::RunningSim) -> u64 {
    requests(sim, "setPresence").await + requests(sim, "clearPresence").await
}
