//! Outlook calendar → PBX status end to end: a meeting block set in the emulator's calendar
//! for a user without a Teams session reaches a SIP watcher through a real Kamailio, and
//! clears when the emulator's clock passes the block's end. Also the permission check.

use crate::common::*;
use crate::kamailio::Kamailio;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use graph_sim::RunningSim;
use presence::calendar::{CalendarError, CalendarReader, CalendarRules, CalendarUser};
use presence::StatusMaps;
use serde_json::json;
use sip::{AgentEvent, EventPackage, PbxState};
use std::time::{Duration, Instant};

/// Grants the test app the permissions calendar status needs.
fn grant_calendar_roles(sim: &RunningSim) {
    let mut t = sim.state.tenant.write();
    for app in t.apps.values_mut() {
        app.app_roles.insert("Calendars.Read".into());
        app.app_roles.insert("MailboxSettings.Read".into());
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn presence_of(ext: &'static str) -> impl FnMut(&AgentEvent) -> Option<PbxState> {
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
async fn a_meeting_in_outlook_shows_on_the_pbx_and_clears_when_it_ends() {
    let k = Kamailio::start();
    let (sim, ids) = sim().await;
    grant_calendar_roles(&sim);
    let now = sim.state.clock.now();
    let (s, b) = control(
        &sim,
        reqwest::Method::PUT,
        &format!("/_sim/mailboxes/{}/calendar", ids[0]),
        Some(json!([{
            "start": fmt(now - TimeDelta::minutes(1)),
            "end": fmt(now + TimeDelta::minutes(2)),
            "status": "busy",
            "subject": "Design review",
        }])),
    )
    .await;
    assert!(s == 204 || s == 200, "calendar set: {s} {b}");

    let mut settings = settings(StatusMaps::defaults(4));
    settings.calendar = Some(CalendarRules {
        poll_every: Duration::from_millis(200),
        ..CalendarRules::default()
    });
    let (watcher, mut events) = agent(&k, "watcher").await;
    watcher
        .subscribe("alice", EventPackage::Presence)
        .await
        .expect("watcher subscribes");
    let started = Instant::now();
    let bridge = bridge(&k, &sim, &ids, settings).await;
    let state = wait_for(&mut events, Duration::from_secs(5), |e| {
        presence_of("alice")(e).filter(|s| *s == PbxState::Dnd)
    })
    .await;
    assert_eq!(state, PbxState::Dnd);
    eprintln!("Outlook meeting → PBX watcher: {:?}", started.elapsed());
    let alice = bridge.status().find("alice").cloned().expect("alice");
    assert_eq!(alice.bridge_pbx, "dnd");
    assert_eq!(
        bridge.status().find("bob").expect("bob").bridge_pbx,
        "none",
        "bob has no meeting"
    );
    // The PBX's report of the bridge's own publication is not carried to Teams.
    assert_eq!(requests(&sim, "setPresence").await, 0);

    let (s, _) = control(
        &sim,
        reqwest::Method::POST,
        "/_sim/clock/advance",
        Some(json!({"minutes": 3})),
    )
    .await;
    assert_eq!(s, 200);
    let after = wait_for(&mut events, Duration::from_secs(5), |e| {
        presence_of("alice")(e).filter(|s| *s != PbxState::Dnd)
    })
    .await;
    assert_ne!(after, PbxState::Dnd);
    let deadline = Instant::now() + Duration::from_secs(5);
    while bridge.status().find("alice").map(|a| a.bridge_pbx.clone()) != Some("none".into()) {
        assert!(
            Instant::now() < deadline,
            "the publication was not withdrawn"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bridge.stop().await;
}

#[tokio::test]
async fn calendar_permissions_named_then_automatic_replies_read_as_out_of_office() {
    let (sim, ids) = sim().await;
    let users = vec![CalendarUser {
        user_id: ids[0].clone(),
        address: ids[0].clone(),
    }];
    match CalendarReader::connect(client(&sim), CalendarRules::default(), users.clone()).await {
        Err(CalendarError::MissingPermissions { missing }) => {
            assert_eq!(missing, vec!["Calendars.Read", "MailboxSettings.Read"])
        }
        other => panic!("expected missing permissions, got {other:?}"),
    }
    grant_calendar_roles(&sim);
    // A fresh client gets a fresh token carrying the new roles.
    let mut reader = CalendarReader::connect(client(&sim), CalendarRules::default(), users)
        .await
        .expect("permissions granted");
    let readings = reader.read_next().await.expect("read");
    assert_eq!(readings.len(), 1);
    assert_eq!(
        readings[0].state, None,
        "an empty calendar asks for nothing"
    );
}
