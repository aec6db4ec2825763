//! Free/busy and automatic replies against the emulator's Outlook calendar.

use crate::common::{admin, client, sim, tenant};
use chrono::{Duration, DurationRound, Utc};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn schedules_in_chunks_keep_order_and_report_blocks() {
    let sim = sim(40).await;
    let t = tenant(&sim).await;
    let mails: Vec<(String, String)> = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["mailbox"] == "user")
        .filter_map(|u| {
            Some((
                u["id"].as_str()?.to_string(),
                u["mail"].as_str()?.to_string(),
            ))
        })
        .take(graph::calendar::MAX_SCHEDULES + 3)
        .collect();
    assert!(
        mails.len() > graph::calendar::MAX_SCHEDULES,
        "enough mailboxes"
    );
    let now = sim
        .state
        .clock
        .now()
        .duration_trunc(Duration::hours(1))
        .expect("hour");
    let (busy_id, busy_mail) = &mails[1];
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let (s, _) = admin(
        &sim,
        Method::PUT,
        &format!("/_sim/mailboxes/{busy_id}/calendar"),
        Some(json!([
            {"start": fmt(now + Duration::minutes(30)), "end": fmt(now + Duration::minutes(90)), "status": "busy", "subject": "Review"},
            {"start": fmt(now + Duration::hours(5)), "end": fmt(now + Duration::hours(6)), "status": "oof"},
        ])),
    )
    .await;
    assert_eq!(s, 204, "calendar set");
    let c = client(&sim);
    let mut asked: Vec<String> = mails.iter().map(|(_, m)| m.clone()).collect();
    asked.push("nobody@nowhere.invalid".into());
    let got = c
        .get_schedule(&mails[0].0, &asked, now, now + Duration::hours(2), 30)
        .await
        .expect("schedules");
    assert_eq!(c.stats().requests, 2, "two chunks");
    let ids: Vec<&str> = got.iter().map(|s| s.schedule_id.as_str()).collect();
    assert_eq!(ids, asked.iter().map(String::as_str).collect::<Vec<_>>());
    let busy = got
        .iter()
        .find(|s| &s.schedule_id == busy_mail)
        .expect("busy one");
    assert_eq!(busy.availability_view, "0220");
    assert_eq!(
        busy.schedule_items.len(),
        1,
        "only the block inside the window"
    );
    let item = &busy.schedule_items[0];
    assert_eq!(item.status, "busy");
    assert_eq!(item.start.to_utc(), Some(now + Duration::minutes(30)));
    assert_eq!(item.end.to_utc(), Some(now + Duration::minutes(90)));
    let missing = got.last().expect("last");
    assert_eq!(
        missing.error.as_ref().map(|e| e.response_code.as_str()),
        Some("ErrorMailRecipientNotFound")
    );
}

#[tokio::test]
async fn automatic_replies_read_as_set() {
    let sim = sim(10).await;
    let t = tenant(&sim).await;
    let id = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["mailbox"] == "user")
        .and_then(|u| u["id"].as_str())
        .expect("a user with a mailbox")
        .to_string();
    let c = client(&sim);
    let now = sim.state.clock.now();
    let off = c.automatic_replies(&id).await.expect("replies");
    assert_eq!(off.status, "disabled");
    assert!(!off.active_at(now));
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    // The default app may only read mailbox settings: the tenant's owner sets the replies.
    {
        let mut t = sim.state.tenant.write();
        let r = &mut t.mailboxes.get_mut(&id).expect("mailbox").automatic_replies;
        r.status = "scheduled".into();
        r.internal_reply_message = "Back Monday".into();
        r.scheduled_start = Some(fmt(now - Duration::hours(1)));
        r.scheduled_end = Some(fmt(now + Duration::hours(1)));
    }
    let on = c.automatic_replies(&id).await.expect("replies");
    assert_eq!(on.status, "scheduled");
    assert_eq!(on.internal_reply_message.as_deref(), Some("Back Monday"));
    assert!(on.active_at(now));
    assert!(!on.active_at(now + Duration::hours(2)));
}
