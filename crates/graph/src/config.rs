//! What a [`crate::GraphClient`] needs to know: which tenant and app, how it proves itself,
//! where Entra and Graph are (Microsoft or the emulator), and its limits.

use crate::auth::{Clock, Credential};
use std::time::Duration;

/// Microsoft's Entra authority.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Microsoft Graph v1.0.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// Configuration of a Graph client. Build with [`ClientConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Tenant id (GUID) or domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Secret or certificate.
    pub credential: Credential,
    /// Entra authority, without the tenant (default [`DEFAULT_AUTHORITY_URL`]).
    pub authority_url: String,
    /// Graph base URL with version (default [`DEFAULT_GRAPH_URL`]).
    pub graph_url: String,
    /// An extra CA (PEM) to trust, e.g. the emulator's HTTPS CA.
    pub extra_root_ca_pem: Option<String>,
    /// Time-out of one HTTP request, body included.
    pub request_timeout: Duration,
    /// Requests in flight at most (the adaptive limit starts here and never exceeds it).
    pub max_concurrency: usize,
    /// Requests in flight at most per mailbox on Outlook paths (Outlook allows 4).
    pub per_mailbox_concurrency: usize,
    /// Retries of one request after throttling or a transient failure.
    pub max_retries: u32,
    /// Back-off base when Graph sends no `Retry-After` (doubles per attempt, full jitter).
    pub backoff_base: Duration,
    /// Back-off cap.
    pub backoff_cap: Duration,
    /// Successes after which the adaptive limit grows by one again.
    pub increase_after_successes: u32,
    /// The adaptive limit halves at most once per this interval (one overload, one cut).
    pub decrease_gap: Duration,
    /// The clock tokens are timed by (the system clock outside tests).
    pub clock: Clock,
}

impl ClientConfig {
    /// A configuration for Microsoft's cloud with the usual limits.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> ClientConfig {
        ClientConfig {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            authority_url: DEFAULT_AUTHORITY_URL.into(),
            graph_url: DEFAULT_GRAPH_URL.into(),
            extra_root_ca_pem: None,
            request_timeout: Duration::from_secs(60),
            max_concurrency: 16,
            per_mailbox_concurrency: 4,
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            increase_after_successes: 20,
            decrease_gap: Duration::from_secs(1),
            clock: Clock::system(),
        }
    }
}
