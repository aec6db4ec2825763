//! The request pipeline every Graph call goes through: token, concurrency limits (per
//! mailbox and an adaptive global one), time-out, retries with `Retry-After` or jittered
//! back-off where a retry is safe, error parsing, and counters for job reports.

mod client;
mod limits;
mod retry;
mod stats;

pub use client::{GraphClient, Request, Response};
pub use limits::{mailbox_of, AdaptiveLimit};
pub use retry::{backoff_delay, parse_retry_after};
pub use stats::Stats;
