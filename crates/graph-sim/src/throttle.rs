//! Graph's throttling, by its published limits: Outlook per app and mailbox (requests per
//! 10 minutes and concurrent requests), the directory's resource-unit bucket per app and
//! tenant, and presence per app and tenant. Over a limit the caller gets 429 with
//! `Retry-After` (omitted on a configurable share of answers, as Graph sometimes does).

use crate::config::{Behaviour, OutlookConcurrencyScope};
use crate::error::GraphError;
use http::HeaderName;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Window {
    hits: VecDeque<Instant>,
}

impl Window {
    /// Records a hit if fewer than `limit` fell within `span`; otherwise returns the wait.
    fn hit(&mut self, now: Instant, span: Duration, limit: u32) -> Result<(), Duration> {
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= span)
        {
            self.hits.pop_front();
        }
        if self.hits.len() as u32 >= limit {
            let oldest = self.hits.front().copied().unwrap_or(now);
            return Err(span.saturating_sub(now.duration_since(oldest)));
        }
        self.hits.push_back(now);
        Ok(())
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// All throttling counters.
#[derive(Debug, Default)]
pub struct Throttle {
    outlook_windows: Mutex<HashMap<(String, String), Window>>,
    outlook_inflight: Arc<Mutex<HashMap<(String, String), u32>>>,
    directory: Mutex<HashMap<String, Bucket>>,
    presence: Mutex<HashMap<String, Window>>,
}

/// Held while an Outlook request runs; releases its concurrency slot when dropped.
#[derive(Debug)]
pub struct OutlookPermit {
    key: (String, String),
    inflight: Arc<Mutex<HashMap<(String, String), u32>>>,
}

impl Drop for OutlookPermit {
    fn drop(&mut self) {
        let mut m = self.inflight.lock();
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

fn throttled(b: &Behaviour, wait: Duration) -> GraphError {
    let omit = rand::thread_rng().gen_bool(b.retry_after_omit_rate.clamp(0.0, 1.0));
    let secs = wait.as_secs_f64().max(1.0).ceil();
    GraphError::throttled(if omit { None } else { Some(secs) })
}

impl Throttle {
    /// Admits an Outlook request by `app` on `mailbox` (a user id), or answers 429.
    pub fn outlook(
        &self,
        b: &Behaviour,
        app: &str,
        mailbox: &str,
    ) -> Result<OutlookPermit, GraphError> {
        let rate_key = (app.to_string(), mailbox.to_string());
        self.outlook_windows
            .lock()
            .entry(rate_key.clone())
            .or_default()
            .hit(
                Instant::now(),
                Duration::from_secs(600),
                b.outlook_requests_per_10min,
            )
            .map_err(|w| {
                throttled(b, w).with_header(
                    HeaderName::from_static("x-ms-throttle-information"),
                    "ApplicationMailboxRequestLimitExceeded",
                )
            })?;
        let conc_key = match b.outlook_concurrency_scope {
            OutlookConcurrencyScope::PerMailbox => rate_key,
            OutlookConcurrencyScope::PerApp => (app.to_string(), String::new()),
        };
        let mut inflight = self.outlook_inflight.lock();
        let n = inflight.entry(conc_key.clone()).or_insert(0);
        if *n >= b.outlook_concurrency {
            return Err(throttled(b, Duration::from_secs(1)).with_header(
                HeaderName::from_static("x-ms-throttle-information"),
                "ApplicationMailboxConcurrencyLimitExceeded",
            ));
        }
        *n += 1;
        Ok(OutlookPermit {
            key: conc_key,
            inflight: self.outlook_inflight.clone(),
        })
    }

    /// Charges `cost` resource units to `app`'s directory bucket (capacity by tenant size).
    pub fn directory(
        &self,
        b: &Behaviour,
        app: &str,
        tenant_users: usize,
        cost: u32,
    ) -> Result<(), GraphError> {
        let capacity = b.directory_ru_per_10s.unwrap_or(match tenant_users {
            0..=49 => 3_500,
            50..=500 => 5_000,
            _ => 8_000,
        }) as f64;
        let rate = capacity / 10.0;
        let now = Instant::now();
        let mut m = self.directory.lock();
        let bucket = m.entry(app.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate).min(capacity);
        bucket.updated = now;
        let cost = cost.max(1) as f64;
        if bucket.tokens < cost {
            let wait = Duration::from_secs_f64((cost - bucket.tokens) / rate);
            return Err(throttled(b, wait)
                .with_header(
                    HeaderName::from_static("x-ms-throttle-scope"),
                    format!("Tenant_Application/ReadWrite/{app}"),
                )
                .with_header(
                    HeaderName::from_static("x-ms-throttle-information"),
                    "ResourceUnitLimitExceeded",
                ));
        }
        bucket.tokens -= cost;
        Ok(())
    }

    /// Admits a presence request by `app`, or answers 429.
    pub fn presence(&self, b: &Behaviour, app: &str) -> Result<(), GraphError> {
        self.presence
            .lock()
            .entry(app.to_string())
            .or_default()
            .hit(
                Instant::now(),
                Duration::from_secs(30),
                b.presence_requests_per_30s,
            )
            .map_err(|w| throttled(b, w))
    }

    /// Forgets all counters (used by `/_sim/reset-throttling`).
    pub fn reset(&self) {
        self.outlook_windows.lock().clear();
        self.directory.lock().clear();
        self.presence.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlook_concurrency_is_per_mailbox_by_default() {
        let t = Throttle::default();
        let b = Behaviour {
            retry_after_omit_rate: 0.0,
            ..Default::default()
        };
        let held: Vec<_> = (0..4)
            .map(|_| t.outlook(&b, "app", "mb1").unwrap())
            .collect();
        let e = t.outlook(&b, "app", "mb1").unwrap_err();
        assert_eq!(e.status, http::StatusCode::TOO_MANY_REQUESTS);
        assert!(e.headers.iter().any(|(n, _)| n == "retry-after"));
        assert!(t.outlook(&b, "app", "mb2").is_ok());
        drop(held);
        assert!(t.outlook(&b, "app", "mb1").is_ok());
    }

    #[test]
    fn directory_bucket_runs_dry() {
        let t = Throttle::default();
        let b = Behaviour {
            directory_ru_per_10s: Some(10),
            ..Default::default()
        };
        for _ in 0..5 {
            t.directory(&b, "a", 10, 2).unwrap();
        }
        assert!(t.directory(&b, "a", 10, 2).is_err());
        assert!(t.directory(&b, "b", 10, 2).is_ok());
    }
}
