//! The request pipeline every Graph call goes through: token, concurrency limits (per
//! mailbox and an adaptive global one), time-out, retries with `Retry-After` or jittered
//! back-off where a retry is safe, error parsing, counters for job reports, and an optional
//! observer of every exchange for diagnostic logs ([`observe`]).

mod client;
mod limits;
pub mod observe;
mod retry;
mod stats;

pub use client::{GraphClient, Request, Response};
pub use limits::{mailbox_of, AdaptiveLimit, LimitPermit};
pub use observe::{redact_url, RequestObserver, RequestSummary};
pub use retry::{backoff_delay, parse_retry_after};
pub use stats::Stats;
