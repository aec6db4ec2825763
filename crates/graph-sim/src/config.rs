//! Behaviour parameters: the published limits, and the readings of Graph that the docs leave
//! open (marked ⚠ in `shared/notes/graph.md`), each with the default the README names.

use serde::{Deserialize, Serialize};

/// Whether Outlook's 4-concurrent-requests limit counts per mailbox or per app.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutlookConcurrencyScope {
    /// Per app per mailbox (the 2019–2020 announcements; default).
    #[default]
    PerMailbox,
    /// Per app across all mailboxes (one newer doc version).
    PerApp,
}

/// How the emulator behaves; every field can be changed at run time through `/_sim/behaviour`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Behaviour {
    /// Access token lifetime in seconds (`expires_in`).
    pub token_lifetime_secs: i64,
    /// Outlook: requests per app per mailbox per 10 minutes.
    pub outlook_requests_per_10min: u32,
    /// Outlook: concurrent requests allowed.
    pub outlook_concurrency: u32,
    /// Outlook: what the concurrency limit counts over (⚠).
    pub outlook_concurrency_scope: OutlookConcurrencyScope,
    /// Directory: resource units per 10 s per app and tenant; `None` = by tenant size
    /// (S < 50 users 3,500; M ≤ 500 5,000; L 8,000).
    pub directory_ru_per_10s: Option<u32>,
    /// Presence: requests per app per tenant per 30 s (⚠ 10,000 newer figure; 1,500 older).
    pub presence_requests_per_30s: u32,
    /// Share of 429 answers sent without `Retry-After` (Graph sometimes omits it).
    pub retry_after_omit_rate: f64,
    /// Directory delta tokens expire after this many emulated days.
    pub directory_delta_token_days: i64,
    /// Status for an expired directory delta token (⚠ 410 default; docs say "40X").
    pub expired_delta_status: u16,
    /// Status for a garbled delta or skip token (⚠ 400 default).
    pub garbled_token_status: u16,
    /// Share of delta pages answered empty (with a nextLink) before the real page.
    pub delta_empty_page_rate: f64,
    /// Share of delta entries sent twice within a round.
    pub delta_duplicate_rate: f64,
    /// Share of delta rounds whose pages are shuffled (out of order within a page).
    pub delta_shuffle_rate: f64,
    /// Share of incremental delta rounds that replay entries from the round before.
    pub delta_replay_rate: f64,
    /// Default page size of Outlook collections (Graph: 10).
    pub outlook_default_page_size: usize,
    /// Largest page an Outlook delta round returns (`Prefer: odata.maxpagesize` is capped here; ⚠ 200).
    pub outlook_delta_max_page_size: usize,
    /// Largest page a directory delta round returns (⚠ Graph: about 200 for users).
    pub directory_delta_page_size: usize,
    /// Allow `http://` notification URLs (Graph requires HTTPS; tests on loopback need HTTP).
    pub allow_http_notification_urls: bool,
    /// Seconds between notification delivery retries (doubling), and the give-up horizon.
    pub notification_retry_initial_secs: f64,
    /// Give up delivering a notification after this many emulated-wall seconds (Graph: 4 h).
    pub notification_retry_horizon_secs: f64,
    /// Milliseconds every Outlook request spends "in the mailbox" while holding its concurrency
    /// slot (0 = none). Makes Outlook's 4-concurrent-requests limit observable in tests.
    pub outlook_service_time_ms: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            token_lifetime_secs: 3599,
            outlook_requests_per_10min: 10_000,
            outlook_concurrency: 4,
            outlook_concurrency_scope: OutlookConcurrencyScope::PerMailbox,
            directory_ru_per_10s: None,
            presence_requests_per_30s: 10_000,
            retry_after_omit_rate: 0.1,
            directory_delta_token_days: 7,
            expired_delta_status: 410,
            garbled_token_status: 400,
            delta_empty_page_rate: 0.0,
            delta_duplicate_rate: 0.0,
            delta_shuffle_rate: 0.0,
            delta_replay_rate: 0.0,
            outlook_default_page_size: 10,
            outlook_delta_max_page_size: 200,
            directory_delta_page_size: 200,
            allow_http_notification_urls: true,
            notification_retry_initial_secs: 1.0,
            notification_retry_horizon_secs: 4.0 * 3600.0,
            outlook_service_time_ms: 0.0,
        }
    }
}
