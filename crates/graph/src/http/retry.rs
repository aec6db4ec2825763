//! When to try again: Graph's `Retry-After` (seconds, fractional seconds or an HTTP date),
//! else exponential back-off with full jitter.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// The longest wait a `Retry-After` may impose; longer values are clamped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Reads a `Retry-After` value: `2`, `2.128` or `Wed, 21 Oct 2026 07:28:00 GMT`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER));
        }
        return None;
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Full-jitter back-off: uniform in `[0, min(cap, base · 2^attempt)]`.
pub fn backoff_delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-10-21T07:27:58Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_stays_under_cap() {
        for attempt in 0..40 {
            let d = backoff_delay(attempt, Duration::from_millis(500), Duration::from_secs(30));
            assert!(d <= Duration::from_secs(30));
        }
        assert!(
            backoff_delay(0, Duration::from_millis(500), Duration::from_secs(30))
                <= Duration::from_millis(500)
        );
    }
}
