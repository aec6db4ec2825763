//! The emulator's clock: wall time plus an offset that tests can advance.
//!
//! Everything that Graph times (tokens, delta tokens, subscriptions, presence fade and expiry)
//! reads this clock, so a test can jump a week ahead without waiting.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Wall-clock time shifted by an offset that only ever grows.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicI64,
}

impl SimClock {
    /// The emulated "now".
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch in emulated time (what JWT `exp`/`iat` use).
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Moves emulated time forward; negative amounts are refused by the caller.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds().max(0), Ordering::Relaxed);
    }

    /// How far emulated time is ahead of the wall clock.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }
}

/// Formats a time the way Graph does in JSON (`2024-01-02T03:04:05Z`).
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let c = SimClock::default();
        let before = c.now();
        c.advance(Duration::days(8));
        assert!(c.now() - before >= Duration::days(8));
        c.advance(Duration::seconds(-100));
        assert!(c.offset() >= Duration::days(8));
    }
}
