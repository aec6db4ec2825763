//! The Teams side alone against the emulator: setPresence/clearPresence, polling with
//! sequence numbers, and keep-alives that stop an Available session from fading.

use crate::common::{client, shown, sim, teams_client};
use presence::teams_side::{PollRate, TeamsReader, TeamsWriter, Written};
use presence::{Activity, Availability, TeamsAction, TeamsPresence};
use std::time::{Duration, Instant};

fn minutes(sim: &graph_sim::RunningSim, m: i64) {
    sim.state.clock.advance(chrono::Duration::minutes(m));
}

fn now_ms(sim: &graph_sim::RunningSim) -> u64 {
    sim.state.clock.now().timestamp_millis() as u64
}

#[tokio::test]
async fn set_and_clear_presence_with_the_apps_session() {
    let (sim, ids) = sim().await;
    let c = client(&sim);
    c.set_presence(
        &ids[0],
        &sim.credentials.client_id,
        "Busy",
        "InACall",
        Duration::from_secs(600),
    )
    .await
    .expect("setPresence");
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Busy".into(), "InACall".into())
    );
    let e = c
        .set_presence(
            &ids[0],
            &sim.credentials.client_id,
            "Busy",
            "InAMeeting",
            Duration::from_secs(600),
        )
        .await
        .expect_err("not a settable pair");
    assert!(e.to_string().contains("InAMeeting"), "{e}");
    assert!(c
        .clear_presence(&ids[0], &sim.credentials.client_id)
        .await
        .expect("clear"));
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Offline".into(), "Offline".into())
    );
    assert!(
        !c.clear_presence(&ids[0], &sim.credentials.client_id)
            .await
            .expect("404 is fine"),
        "a second clear finds no session"
    );
}

#[tokio::test]
async fn polling_reports_changes_once_and_within_the_rate() {
    let (sim, ids) = sim().await;
    let mut reader = TeamsReader::new(client(&sim), PollRate::new(60).expect("rate"));
    // Timed from before the first request: the limiter spaces request starts, so a slow first
    // answer (a loaded machine) leaves less of the 500 ms to wait after it.
    let started = Instant::now();
    let first = reader.poll(&ids).await.expect("poll");
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|u| u.presence == TeamsPresence::OFFLINE));
    let again = reader.poll(&ids).await.expect("poll");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "60 per 30 s spaces requests 500 ms apart: {:?}",
        started.elapsed()
    );
    assert!(again.is_empty(), "nothing changed: {again:?}");
    teams_client(&sim, &ids[1], "DoNotDisturb", "Presenting").await;
    let changed = reader.poll(&ids).await.expect("poll");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].user_id, ids[1]);
    assert_eq!(
        changed[0].presence,
        TeamsPresence::new(Availability::DoNotDisturb, Activity::Presenting)
    );
}

#[tokio::test]
async fn keepalive_renews_before_available_fades_and_clear_ends_the_session() {
    let (sim, ids) = sim().await;
    let mut writer = TeamsWriter::new(client(&sim), Duration::from_secs(4 * 60));
    let available = TeamsPresence::new(Availability::Available, Activity::Available);
    let w = writer
        .apply(&ids[0], TeamsAction::Set(available), now_ms(&sim))
        .await
        .expect("set");
    assert_eq!(w, Written::Sent);
    let w = writer
        .apply(&ids[0], TeamsAction::Set(available), now_ms(&sim))
        .await
        .expect("set again");
    assert_eq!(w, Written::Unchanged, "the same state is not sent again");
    for _ in 0..6 {
        minutes(&sim, 2);
        writer.renew_due(now_ms(&sim)).await;
        assert_eq!(
            shown(&sim, &ids[0]).await,
            ("Available".into(), "Available".into()),
            "renewed every 4 minutes it never fades"
        );
    }
    // Without renewal the same session fades: the keep-alive is what held it.
    writer.forget(&ids[0]);
    minutes(&sim, 6);
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Available".into(), "AvailableInactive".into())
    );
    let w = writer
        .apply(&ids[0], TeamsAction::Set(available), now_ms(&sim))
        .await
        .expect("set");
    assert_eq!(w, Written::Sent);
    let w = writer
        .apply(&ids[0], TeamsAction::Clear, now_ms(&sim))
        .await
        .expect("clear");
    assert_eq!(w, Written::Sent);
    assert_eq!(
        shown(&sim, &ids[0]).await,
        ("Offline".into(), "Offline".into())
    );
}
