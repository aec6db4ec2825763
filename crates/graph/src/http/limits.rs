//! Concurrency limits: Outlook's 4 requests in flight per mailbox, and a global limit that
//! adapts to throttling (AIMD: halve on a 429, grow by one after a run of successes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Outlook resources under `/users/{id}/…` that Outlook's per-mailbox limits govern.
const OUTLOOK_SEGMENTS: &[&str] = &[
    "contacts",
    "contactFolders",
    "photo",
    "photos",
    "calendar",
    "mailboxSettings",
    "sendMail",
];

/// The mailbox (lower-cased user id or UPN) an Outlook path addresses, if it is one:
/// `/v1.0/users/Ann@x.com/contacts` → `ann@x.com`.
pub fn mailbox_of(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let i = segs.iter().position(|s| *s == "users")?;
    let user = segs.get(i + 1)?;
    let next = segs.get(i + 2)?;
    OUTLOOK_SEGMENTS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(next))
        .then(|| user.to_ascii_lowercase())
}

/// Idle mailbox semaphores are forgotten once this many are known.
const PRUNE_ABOVE: usize = 1024;

/// One semaphore per mailbox, made on first use.
#[derive(Debug)]
pub(crate) struct MailboxLimits {
    per_mailbox: usize,
    map: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl MailboxLimits {
    pub fn new(per_mailbox: usize) -> MailboxLimits {
        MailboxLimits {
            per_mailbox: per_mailbox.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot on `mailbox`.
    pub async fn acquire(&self, mailbox: &str) -> Option<OwnedSemaphorePermit> {
        let sem = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= PRUNE_ABOVE && !map.contains_key(mailbox) {
                // Forget idle mailboxes: nobody holds their semaphore or a slot of it.
                let full = self.per_mailbox;
                map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < full);
            }
            map.entry(mailbox.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_mailbox)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }
}

#[derive(Debug)]
struct LimitState {
    limit: usize,
    in_flight: usize,
    successes: u32,
    last_decrease: Option<Instant>,
    /// The highest limit not throttled since the last throttling: growing past it waits
    /// [`PROBE_FACTOR`] times longer, so a fixed concurrency cap upstream (Outlook's 4 per
    /// app under one reading of Microsoft's docs) costs a 429 now and then, not every cycle.
    ceiling: Option<usize>,
}

/// How much longer the limit waits before growing past the level it was last throttled at.
pub const PROBE_FACTOR: u32 = 50;

/// A concurrency limit that halves on throttling (once per `decrease_gap`, so a burst of
/// 429s from one overload counts once) and creeps back up after `increase_after`
/// successes — [`PROBE_FACTOR`] times as many past the level it was last throttled at —
/// never above its maximum nor below one.
#[derive(Debug)]
pub struct AdaptiveLimit {
    max: usize,
    increase_after: u32,
    decrease_gap: Duration,
    state: Mutex<LimitState>,
    changed: Notify,
}

/// A slot of an [`AdaptiveLimit`], given back on drop.
#[derive(Debug)]
pub struct LimitPermit<'a> {
    limit: &'a AdaptiveLimit,
    slots: usize,
}

impl LimitPermit<'_> {
    /// The slots it holds.
    pub fn slots(&self) -> usize {
        self.slots
    }
}

impl Drop for LimitPermit<'_> {
    fn drop(&mut self) {
        self.limit.lock().in_flight -= self.slots;
        self.limit.changed.notify_waiters();
    }
}

impl AdaptiveLimit {
    /// A limit starting (and capped) at `max`.
    pub fn new(max: usize, increase_after: u32, decrease_gap: Duration) -> AdaptiveLimit {
        let max = max.max(1);
        AdaptiveLimit {
            max,
            increase_after: increase_after.max(1),
            decrease_gap,
            state: Mutex::new(LimitState {
                limit: max,
                in_flight: 0,
                successes: 0,
                last_decrease: None,
                ceiling: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current limit.
    pub fn current(&self) -> usize {
        self.lock().limit
    }

    /// Waits until fewer than the current limit are in flight, then takes a slot.
    pub async fn acquire(&self) -> LimitPermit<'_> {
        self.acquire_many(1).await
    }

    /// Waits until `n` slots are free (at most the whole current limit, so a request larger
    /// than the limit runs alone rather than never), then takes them.
    pub async fn acquire_many(&self, n: usize) -> LimitPermit<'_> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                let slots = n.clamp(1, s.limit.max(1));
                if s.in_flight + slots <= s.limit {
                    s.in_flight += slots;
                    return LimitPermit { limit: self, slots };
                }
            }
            notified.await;
        }
    }

    /// Graph throttled us: halve the limit.
    pub fn on_throttled(&self) {
        let mut s = self.lock();
        s.successes = 0;
        let now = Instant::now();
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < self.decrease_gap)
        {
            return;
        }
        s.last_decrease = Some(now);
        s.ceiling = Some(s.limit.saturating_sub(1).max(1));
        s.limit = (s.limit / 2).max(1);
        tracing::debug!(limit = s.limit, "throttled: concurrency halved");
    }

    /// A request succeeded: after enough of them, allow one more in flight.
    pub fn on_success(&self) {
        let grew = {
            let mut s = self.lock();
            s.successes += 1;
            let needed = match s.ceiling {
                Some(c) if s.limit >= c => self.increase_after.saturating_mul(PROBE_FACTOR),
                _ => self.increase_after,
            };
            if s.successes >= needed && s.limit < self.max {
                s.limit += 1;
                s.successes = 0;
                true
            } else {
                false
            }
        };
        if grew {
            self.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_carrying_several_takes_as_many_slots() {
        let limit = AdaptiveLimit::new(4, 10, Duration::from_secs(1));
        let batch = limit.acquire_many(3).await;
        let single = limit.acquire().await;
        assert_eq!(limit.lock().in_flight, 4);
        // A second batch waits for the slots the first holds.
        let waiting = tokio::time::timeout(Duration::from_millis(50), limit.acquire_many(3)).await;
        assert!(waiting.is_err(), "only one slot is free");
        drop(batch);
        let second = tokio::time::timeout(Duration::from_millis(50), limit.acquire_many(3))
            .await
            .expect("three slots are free");
        drop((single, second));
        assert_eq!(limit.lock().in_flight, 0);
        // Larger than the whole limit: runs alone instead of never.
        limit.on_throttled();
        assert_eq!(limit.current(), 2);
        let big = tokio::time::timeout(Duration::from_millis(50), limit.acquire_many(20))
            .await
            .expect("the whole limit");
        assert_eq!(limit.lock().in_flight, 2);
        drop(big);
    }

    #[test]
    fn mailbox_paths() {
        assert_eq!(
            mailbox_of("/v1.0/users/Ann@X.com/contactFolders/abc/contacts/delta?$top=1"),
            Some("ann@x.com".into())
        );
        assert_eq!(mailbox_of("/v1.0/users/abc/presence"), None);
        assert_eq!(mailbox_of("/v1.0/users?$top=999"), None);
    }

    #[test]
    fn aimd() {
        let l = AdaptiveLimit::new(8, 2, Duration::from_secs(3600));
        l.on_throttled();
        l.on_throttled();
        assert_eq!(l.current(), 4, "one decrease per gap");
        let l = AdaptiveLimit::new(8, 2, Duration::ZERO);
        l.on_throttled();
        assert_eq!(l.current(), 4);
        l.on_throttled();
        l.on_throttled();
        l.on_throttled();
        assert_eq!(l.current(), 1);
        // Throttled last at 2: growing back to 2 is a probe, PROBE_FACTOR times slower.
        (0..2 * PROBE_FACTOR - 1).for_each(|_| l.on_success());
        assert_eq!(l.current(), 1);
        l.on_success();
        assert_eq!(l.current(), 2);
        // Below the level last throttled at, the limit grows at the normal pace.
        let l = AdaptiveLimit::new(8, 2, Duration::ZERO);
        l.on_throttled();
        l.on_throttled();
        assert_eq!(l.current(), 2, "throttled at 4: ceiling 3");
        l.on_success();
        l.on_success();
        assert_eq!(l.current(), 3);
    }

    /// Against an upstream that throttles whatever exceeds 4 in flight, rounds of `limit`
    /// requests settle at 4 and the share of throttled requests stays under 1 %.
    #[test]
    fn a_fixed_upstream_cap_is_found_and_rarely_probed() {
        let cap = 4;
        let l = AdaptiveLimit::new(16, 20, Duration::ZERO);
        let (mut sent, mut throttled) = (0u64, 0u64);
        for _ in 0..10_000 {
            let n = l.current();
            sent += n as u64;
            if n > cap {
                throttled += (n - cap) as u64;
                l.on_throttled();
            } else {
                (0..n).for_each(|_| l.on_success());
            }
        }
        assert!(
            l.current() <= cap + 1,
            "settles near the cap: {}",
            l.current()
        );
        assert!(
            throttled * 100 < sent,
            "{throttled} of {sent} requests throttled"
        );
        // Without the ceiling (probing every 20 successes) the same run throttles far more.
        assert!(sent > 30_000, "kept close to the cap: {sent}");
    }
}
