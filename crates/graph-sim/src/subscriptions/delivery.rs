//! The background side of change notifications: POSTs queued notifications (several per POST
//! when queued together), retries failures with doubling back-off until Graph's horizon,
//! sends `missed` for dropped Outlook notifications, and `reauthorizationRequired` before a
//! subscription's access token expires or when the app's consent is gone.

use super::resource::Family;
use super::{Kind, Pending, Subscriptions};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::time::Instant;

/// Notifications sent in one POST at most.
pub const MAX_PER_POST: usize = 100;

/// `reauthorizationRequired` goes out this long before the subscription's token expires.
pub const REAUTH_LEAD_MINUTES: i64 = 10;

/// A receiver answering later than this counts as slow (Graph: 2,900 ms).
pub const SLOW_MS: u128 = 2_900;

/// Starts the delivery loop.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.subscriptions.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
            let now = state.clock.now();
            check_reauthorization(&state, now);
            for batch in take_due(&state.subscriptions, now) {
                tokio::spawn(deliver(state.clone(), batch));
            }
        }
    })
}

/// Queues `reauthorizationRequired` for subscriptions whose token is about to expire or whose
/// app lost its consent (once, until the app calls `reauthorize`).
fn check_reauthorization(state: &AppState, now: DateTime<Utc>) {
    let consented: std::collections::BTreeSet<String> = state
        .tenant
        .read()
        .apps
        .values()
        .filter(|a| a.admin_consented)
        .map(|a| a.client_id.clone())
        .collect();
    let due: Vec<String> = state.subscriptions.with(|subs| {
        subs.values_mut()
            .filter(|s| s.alive(now) && !s.reauthorization_sent)
            .filter(|s| s.lifecycle_notification_url.is_some())
            .filter(|s| {
                let token_expiring = s
                    .token_expires_at
                    .is_some_and(|e| now >= e - Duration::minutes(REAUTH_LEAD_MINUTES));
                token_expiring || !consented.contains(&s.application_id)
            })
            .map(|s| {
                s.reauthorization_sent = true;
                s.id.clone()
            })
            .collect()
    });
    for id in due {
        state
            .subscriptions
            .queue_lifecycle(&id, "reauthorizationRequired");
    }
}

/// Notifications for one subscription and URL, sent in one POST.
#[derive(Debug)]
pub struct Batch {
    items: Vec<Pending>,
}

/// Takes the due notifications off the queue, grouped per subscription, URL and kind.
fn take_due(subs: &Subscriptions, now: DateTime<Utc>) -> Vec<Batch> {
    let mut inner = subs.inner.lock();
    let queue = std::mem::take(&mut inner.queue);
    let (due, later): (Vec<Pending>, Vec<Pending>) =
        queue.into_iter().partition(|p| p.next_at <= now);
    inner.queue = later;
    let mut batches: Vec<Batch> = Vec::new();
    for p in due {
        let slot = batches.iter_mut().find(|b| {
            let f = &b.items[0];
            f.sub_id == p.sub_id
                && f.url == p.url
                && f.kind == p.kind
                && b.items.len() < MAX_PER_POST
        });
        match slot {
            Some(b) => b.items.push(p),
            None => batches.push(Batch { items: vec![p] }),
        }
    }
    for b in &batches {
        *inner
            .in_flight
            .entry(b.items[0].sub_id.clone())
            .or_default() += b.items.len();
    }
    batches
}

/// POSTs one batch and books the outcome.
async fn deliver(state: AppState, batch: Batch) {
    let first = &batch.items[0];
    let (sub_id, url, kind) = (first.sub_id.clone(), first.url.clone(), first.kind);
    let n = batch.items.len();
    let body = json!({"value": batch.items.iter().map(|p| p.item.clone()).collect::<Vec<_>>()});
    let started = Instant::now();
    let result = state
        .subscriptions
        .client()
        .post(&url)
        .header(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(body.to_string())
        .send()
        .await;
    let ok = result.is_ok_and(|r| r.status().is_success());
    let slow = started.elapsed().as_millis() > SLOW_MS;
    let now = state.clock.now();
    let b = state.behaviour.read().clone();
    let subs = &state.subscriptions;
    let mut missed = false;
    {
        let mut inner = subs.inner.lock();
        if let Some(c) = inner.in_flight.get_mut(&sub_id) {
            *c = c.saturating_sub(n);
        }
        let family = inner.subs.get(&sub_id).map(|s| s.family());
        let Some(sub) = inner.subs.get_mut(&sub_id) else {
            return;
        };
        if slow {
            sub.stats.slow += 1;
        }
        if ok {
            match kind {
                Kind::Change => sub.stats.delivered += n as u64,
                Kind::Lifecycle => sub.stats.lifecycle_delivered += n as u64,
            }
            return;
        }
        sub.stats.failed_attempts += 1;
        let horizon = Duration::milliseconds((b.notification_retry_horizon_secs * 1000.0) as i64);
        let mut retry = Vec::new();
        for mut p in batch.items {
            p.attempts += 1;
            if now - p.first_at >= horizon {
                sub.stats.dropped += 1;
                missed |= kind == Kind::Change && family == Some(Family::Contacts);
                continue;
            }
            let factor = 2f64.powi(p.attempts.saturating_sub(1).min(20) as i32);
            let wait = (b.notification_retry_initial_secs.max(0.01) * factor).min(3600.0);
            p.next_at = now + Duration::milliseconds((wait * 1000.0) as i64);
            retry.push(p);
        }
        inner.queue.extend(retry);
    }
    if missed {
        subs.queue_lifecycle(&sub_id, "missed");
    }
}
