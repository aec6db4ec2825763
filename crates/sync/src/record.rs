//! What every kind of job does with the job history while it runs, written once: each log line
//! goes to the progress callback, the store's job log and the report (with any pending
//! `--diagnostic` request summaries first), and the outcome is written at the end.

use crate::diagnostic::DiagnosticLog;
use crate::report::Progress;
use config::registration::admin_consent_url;
use graph::GraphClient;
use std::sync::Arc;
use store::{JobEnd, JobId, JobOutcome, Store};

/// The redirect URI of the admin-consent link pbx365 prints (the native-client page: nothing
/// has to listen there).
const CONSENT_REDIRECT: &str = "https://login.microsoftonline.com/common/oauth2/nativeclient";

/// The job's connection to the history: the store, the progress callback and the diagnostic
/// log attached to the job's Graph client.
pub(crate) struct JobRecorder {
    store: Arc<dyn Store>,
    progress: Option<Progress>,
    diagnostic: Option<Arc<DiagnosticLog>>,
}

/// The outcome of a job as the history records it.
pub(crate) struct Ending<'a> {
    /// Whether the job did everything it set out to do.
    pub succeeded: bool,
    /// Counts per kind, as the job reports them.
    pub counts: serde_json::Value,
    /// Graph requests made.
    pub requests: u64,
    /// Of those, how many were answered 429.
    pub throttled: u64,
    /// Warnings logged.
    pub warnings: usize,
    /// The error that ended the job, if one did.
    pub error: Option<&'a str>,
}

impl JobRecorder {
    /// A recorder for a job on `client`; with `diagnostic`, the returned client logs a summary
    /// of every request it makes (use it for the job's Graph calls).
    pub(crate) fn attach(
        store: Arc<dyn Store>,
        client: &GraphClient,
        progress: Option<Progress>,
        diagnostic: bool,
    ) -> (JobRecorder, Option<GraphClient>) {
        let (observed, diagnostic) = match diagnostic {
            true => {
                let (c, l) = DiagnosticLog::attach(client);
                (Some(c), Some(l))
            }
            false => (None, None),
        };
        let recorder = JobRecorder {
            store,
            progress,
            diagnostic,
        };
        (recorder, observed)
    }

    /// Logs `line` (after any waiting request summaries): to the progress callback, to the
    /// job's log in the store when the job is recorded, and to `log`. The store write is best
    /// effort: a failing store shows up in the job's outcome.
    pub(crate) async fn log(&self, job: Option<JobId>, log: &mut Vec<String>, line: String) {
        self.log_many(job, log, vec![line]).await;
    }

    /// Logs many lines as [`JobRecorder::log`] does one, with one store write for all of them.
    pub(crate) async fn log_many(
        &self,
        job: Option<JobId>,
        log: &mut Vec<String>,
        lines: Vec<String>,
    ) {
        let mut all = self
            .diagnostic
            .as_ref()
            .map(|d| d.drain())
            .unwrap_or_default();
        all.extend(lines);
        if let Some(p) = &self.progress {
            for line in &all {
                p(line);
            }
        }
        if let Some(id) = job {
            let _ = match all.as_slice() {
                [one] => self.store.append_job_log(&id, one).await,
                _ => self.store.append_job_log_lines(&id, &all).await,
            };
        }
        log.extend(all);
    }

    /// Writes the job's outcome; the error says why the store refused it.
    pub(crate) async fn finish(&self, job: JobId, ending: Ending<'_>) -> Result<(), String> {
        let outcome = JobOutcome {
            status: if ending.succeeded {
                JobEnd::Succeeded
            } else {
                JobEnd::Failed
            },
            counts: ending.counts,
            requests: ending.requests,
            throttled: ending.throttled,
            warnings: ending.warnings as u64,
            errors: u64::from(ending.error.is_some()),
        };
        self.store
            .finish_job(&job, &outcome)
            .await
            .map_err(|e| format!("the store failed: {e}"))
    }
}

/// The admin-consent link for the site's app registration.
pub(crate) fn consent_url(site: &config::Site) -> String {
    let t = &site.tenant;
    admin_consent_url(
        &t.authority_url,
        &t.tenant_id.to_string(),
        &t.client_id.to_string(),
        CONSENT_REDIRECT,
    )
}
