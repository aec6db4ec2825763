//! Counters a sync job reports: requests, retries, throttling.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent to Graph (retries included).
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// 429 answers received (inner `$batch` ones included).
    pub throttled: u64,
    /// Token requests sent to Entra.
    pub token_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, token_requests: u64) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            token_requests,
        }
    }
}
