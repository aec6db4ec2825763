//! `--diagnostic`: a summary of every Graph exchange of a job (method, URL with secrets
//! redacted, status, request-id, duration, bytes) in the job's log. The Graph client hands
//! each summary to a [`DiagnosticLog`] as the request ends; the job writes the collected lines
//! into its log before each of its own lines, so they stay in order.

use graph::http::{RequestObserver, RequestSummary};
use graph::GraphClient;
use std::sync::{Arc, Mutex};

/// The prefix of every diagnostic line in a job log.
pub const PREFIX: &str = "http: ";

/// Collects request summaries until the job writes them out.
#[derive(Debug, Default)]
pub struct DiagnosticLog {
    lines: Mutex<Vec<String>>,
}

impl DiagnosticLog {
    /// A client like `client` whose requests are summarised into a new log (tokens, limits
    /// and counters stay shared with `client`).
    pub fn attach(client: &GraphClient) -> (GraphClient, Arc<DiagnosticLog>) {
        let log = Arc::new(DiagnosticLog::default());
        (client.with_observer(log.clone()), log)
    }

    /// The lines collected since the last call, oldest first.
    pub fn drain(&self) -> Vec<String> {
        match self.lines.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl RequestObserver for DiagnosticLog {
    fn observe(&self, summary: &RequestSummary) {
        let line = format!("{PREFIX}{summary}");
        match self.lines.lock() {
            Ok(mut l) => l.push(line),
            Err(poisoned) => poisoned.into_inner().push(line),
        }
    }
}
