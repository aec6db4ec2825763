//! A small load figure: 60 mapped users, 30 changes from each side one after the other; the
//! bridge's added latency (p95) and Graph requests per change. The 5,000-user bench is
//! not this; see the report.

use crate::common::*;
use crate::kamailio::Kamailio;
use presence::StatusMaps;
use sip::{AgentEvent, EventPackage, PbxState, Presence};
use std::time::{Duration, Instant};

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let i = (v.len() * 95).div_ceil(100).saturating_sub(1);
    v[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_users_changes_both_ways_p95_and_requests_per_change() {
    const N: usize = 60;
    let k = Kamailio::start();
    let names: Vec<String> = (0..N).map(|i| format!("ext{i:03}")).collect();
    let (sim, ids) = sim_with(&names).await;
    let (bridge_agent, events) = agent(&k, "bridge").await;
    let users = mapped(&ids, &names);
    let b = presence::run::start(
        settings(StatusMaps::defaults(4)),
        client(&sim),
        bridge_agent,
        events,
        users,
    )
    .await;
    watching(&b).await;
    let (watcher, mut wev) = agent(&k, "watcher").await;
    for n in &names[..N / 2] {
        watcher
            .subscribe(n, EventPackage::Presence)
            .await
            .expect("watch");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Teams → PBX: a Teams client joins a meeting; the watcher sees DND.
    let reads_before = requests(&sim, "getPresencesByUserId").await;
    let t0 = Instant::now();
    let mut to_pbx = Vec::new();
    for i in 0..N / 2 {
        let ext = names[i].clone();
        let start = Instant::now();
        teams_client(&sim, &ids[i], "Busy", "InAMeeting").await;
        wait_for(&mut wev, Duration::from_secs(2), |e| match e {
            AgentEvent::State {
                extension,
                package: EventPackage::Presence,
                state: PbxState::Dnd,
            } if *extension == ext => Some(()),
            _ => None,
        })
        .await;
        to_pbx.push(start.elapsed());
    }
    let reads = requests(&sim, "getPresencesByUserId").await - reads_before;
    let rounds_per_s = reads as f64 / t0.elapsed().as_secs_f64();

    // PBX → Teams: the phone (a second agent of the bridge account) goes on a call.
    let (phone, _pe) = agent(&k, "bridge").await;
    let writes_before = requests(&sim, "setPresence").await + requests(&sim, "clearPresence").await;
    let mut to_teams = Vec::new();
    for i in N / 2..N {
        let start = Instant::now();
        phone
            .publish(&names[i], Presence::for_state(PbxState::OnCall))
            .await
            .expect("phone publishes");
        until_shown(&sim, &ids[i], ("Busy", "InACall"), Duration::from_secs(2)).await;
        to_teams.push(start.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes =
        requests(&sim, "setPresence").await + requests(&sim, "clearPresence").await - writes_before;

    let (p_pbx, p_teams) = (p95(to_pbx), p95(to_teams));
    eprintln!(
        "{N} users: Teams → PBX p95 {p_pbx:?} (poll every 100 ms, \
         {rounds_per_s:.1} getPresencesByUserId/s for {N} ids); PBX → Teams p95 {p_teams:?}; \
         {writes} Graph writes for {} PBX changes",
        N / 2
    );
    assert!(p_pbx < Duration::from_secs(1), "{p_pbx:?}");
    assert!(p_teams < Duration::from_secs(1), "{p_teams:?}");
    assert_eq!(writes, (N / 2) as u64, "one Graph write per PBX change");
    assert!(b.status().users.values().all(|u| u.latched_at_ms.is_none()));
    b.stop().await;
}
