//! Fault injection: latency, 5xx, 429 storms, hangs, truncated bodies and reset connections,
//! per endpoint, so a client can be tested against everything a real network and Graph do.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// Milliseconds.
        ms: f64,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound, ms.
        min: f64,
        /// Upper bound, ms.
        max: f64,
    },
    /// Exponential with mean `mean` (long-tailed, like a busy service).
    Exponential {
        /// Mean, ms.
        mean: f64,
    },
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min, max } if max > min => rng.gen_range(min..max),
            Latency::Uniform { min, .. } => min,
            Latency::Exponential { mean } => {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                -mean * u.ln()
            }
        };
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }

    /// The mean delay (for the published lower bound of a sync's wall time).
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min, max } => (min + max) / 2.0,
            Latency::Exponential { mean } => mean,
        }
    }
}

/// One fault rule: which requests it matches and what it does to them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultRule {
    /// Path pattern: segments matched literally, `*` matches one segment, a trailing `**`
    /// matches the rest (e.g. `/v1.0/users/*/contactFolders/**`). Empty matches all.
    pub path: String,
    /// HTTP method to match (any when absent).
    pub method: Option<String>,
    /// Added latency.
    pub latency: Option<Latency>,
    /// Share of requests answered with `error_status` (5xx).
    pub error_rate: f64,
    /// Status for injected errors (default 503).
    pub error_status: Option<u16>,
    /// Share answered 429 (a throttling storm).
    pub throttle_rate: f64,
    /// `Retry-After` seconds sent with injected 429s (none when absent).
    pub retry_after_secs: Option<f64>,
    /// Share that hang for `hang_secs` before being answered 504.
    pub timeout_rate: f64,
    /// How long a hung request hangs (default 120 s).
    pub hang_secs: Option<f64>,
    /// Share whose body is cut off half-way (the connection then closes).
    pub truncate_rate: f64,
    /// Share whose connection is reset without any answer.
    pub reset_rate: f64,
    /// Apply to this many more matching requests only, then the rule is dropped.
    pub remaining: Option<u64>,
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Served normally.
    Normal,
    /// Answered with this 5xx status.
    Error(u16),
    /// Answered 429 with this `Retry-After`.
    Throttle(Option<f64>),
    /// Hangs, then 504.
    Hang(Duration),
    /// Body cut off.
    Truncate,
    /// Connection reset.
    Reset,
}

/// The active fault configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Latency added to every Graph and Entra request.
    pub latency: Option<Latency>,
    /// Rules, first match wins for outcomes; latencies add up.
    pub rules: Vec<FaultRule>,
}

/// Matches a path against a rule pattern.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" {
            return true;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p.eq_ignore_ascii_case(s) => {}
            _ => return false,
        }
    }
    pat.len() == segs.len()
}

impl Faults {
    /// Whether no fault is configured (the common case, checked under a read lock).
    pub fn is_empty(&self) -> bool {
        self.latency.is_none() && self.rules.is_empty()
    }

    /// Decides the delay and outcome for a request, consuming `remaining` counts.
    pub fn decide(&mut self, method: &str, path: &str) -> (Duration, Outcome) {
        let mut rng = rand::thread_rng();
        let mut delay = self
            .latency
            .as_ref()
            .map(|l| l.sample(&mut rng))
            .unwrap_or_default();
        let mut outcome = Outcome::Normal;
        for rule in self.rules.iter_mut() {
            if !path_matches(&rule.path, path)
                || rule
                    .method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method))
            {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                if *n == 0 {
                    continue;
                }
                *n -= 1;
            }
            if let Some(l) = &rule.latency {
                delay += l.sample(&mut rng);
            }
            if outcome != Outcome::Normal {
                continue;
            }
            let r: f64 = rng.gen();
            let mut acc = 0.0;
            let mut pick = |rate: f64| {
                acc += rate.max(0.0);
                r < acc
            };
            outcome = if pick(rule.reset_rate) {
                Outcome::Reset
            } else if pick(rule.truncate_rate) {
                Outcome::Truncate
            } else if pick(rule.timeout_rate) {
                Outcome::Hang(Duration::from_secs_f64(rule.hang_secs.unwrap_or(120.0)))
            } else if pick(rule.throttle_rate) {
                Outcome::Throttle(rule.retry_after_secs)
            } else if pick(rule.error_rate) {
                Outcome::Error(rule.error_status.unwrap_or(503))
            } else {
                Outcome::Normal
            };
        }
        self.rules.retain(|r| r.remaining != Some(0));
        (delay, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(path_matches("/v1.0/users/*", "/v1.0/users/abc"));
        assert!(!path_matches("/v1.0/users/*", "/v1.0/users/abc/contacts"));
        assert!(path_matches("/v1.0/users/**", "/v1.0/users/abc/contacts"));
        assert!(path_matches("", "/x"));
    }

    #[test]
    fn remaining_counts_down_and_rule_drops() {
        let mut f = Faults {
            latency: None,
            rules: vec![FaultRule {
                path: "/a".into(),
                error_rate: 1.0,
                remaining: Some(2),
                ..Default::default()
            }],
        };
        assert_eq!(f.decide("GET", "/a").1, Outcome::Error(503));
        assert_eq!(f.decide("GET", "/a").1, Outcome::Error(503));
        assert_eq!(f.decide("GET", "/a").1, Outcome::Normal);
        assert!(f.rules.is_empty());
    }
}
