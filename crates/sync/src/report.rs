//! A job's options and its report.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use store::{JobId, JobTrigger};

/// Receives each log line of a job as it is written (the CLI prints them on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Receives how far a job's long step is: `(step, done, total)`, e.g. `("photos", 120, 800)`
/// (the CLI draws a progress bar from it on a terminal).
pub type Steps = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// How a job runs.
#[derive(Clone)]
pub struct SyncOptions {
    /// Re-read every user from scratch (ignore the stored delta token).
    pub full: bool,
    /// Compute and report the plan, write nothing (no job is recorded either).
    pub dry_run: bool,
    /// Apply removals even beyond the mass-deletion guard.
    pub allow_mass_delete: bool,
    /// What started the job.
    pub trigger: JobTrigger,
    /// "Now" for the deprovisioning delay (`delete_after_days`); the system clock by default.
    pub now: DateTime<Utc>,
    /// Called with every log line as the job goes (none by default).
    pub progress: Option<Progress>,
    /// Write a summary of every Graph request (method, URL with secrets redacted, status,
    /// request-id, duration, bytes) into the job's log.
    pub diagnostic: bool,
    /// Called as a long step advances (none by default).
    pub steps: Option<Steps>,
    /// The sources to read (`None`: every source the site has on). A source the site has off
    /// is never read.
    pub sources: Option<Vec<config::Source>>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("full", &self.full)
            .field("dry_run", &self.dry_run)
            .field("allow_mass_delete", &self.allow_mass_delete)
            .field("trigger", &self.trigger)
            .field("now", &self.now)
            .field("progress", &self.progress.is_some())
            .field("diagnostic", &self.diagnostic)
            .field("steps", &self.steps.is_some())
            .field("sources", &self.sources)
            .finish()
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            full: false,
            dry_run: false,
            allow_mass_delete: false,
            trigger: JobTrigger::Manual,
            now: Utc::now(),
            progress: None,
            diagnostic: false,
            steps: None,
            sources: None,
        }
    }
}

/// Counts of a plan and what applying it did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Extensions created.
    pub created: u64,
    /// Extensions whose fields changed.
    pub updated: u64,
    /// Extensions of selected users that stayed as they were.
    pub unchanged: u64,
    /// Extensions disabled because their user left the selection.
    pub disabled: u64,
    /// Extensions recorded for deletion (after the policy's delay).
    pub pending_deletion: u64,
    /// Extensions deleted (numbers released) in this job.
    pub deleted: u64,
    /// Extensions of users who left the selection, kept by policy (`keep`).
    pub kept: u64,
}

/// What a job did. Failed jobs carry the error and its advice in `error`.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The recorded job (`None` for dry runs and jobs that could not be recorded).
    pub job: Option<JobId>,
    /// Whether the job succeeded.
    pub succeeded: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether all users were read from scratch.
    pub full: bool,
    /// Counts of extensions.
    pub counts: PlanCounts,
    /// Counts of contacts per phonebook kind, and invalid numbers.
    pub contacts: ContactCounts,
    /// The planned changes, one line each (`create 100 Ann Lee <ann@contoso.com>`).
    pub plan: Vec<String>,
    /// Graph requests made.
    pub requests: u64,
    /// Graph retries made.
    pub retries: u64,
    /// Graph answers 429.
    pub throttled: u64,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The error that failed the job, with advice.
    pub error: Option<String>,
    /// The job's log lines.
    pub log: Vec<String>,
}

/// Counts of one kind of contact in a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Contacts created.
    pub created: u64,
    /// Contacts whose fields changed.
    pub updated: u64,
    /// Contacts read again and found as stored.
    pub unchanged: u64,
    /// Contacts seen gone, recorded for deletion.
    pub pending_deletion: u64,
    /// Contacts deleted in this job (its own and earlier jobs' pending deletions).
    pub deleted: u64,
}

impl KindCounts {
    /// Adds another count to this one.
    pub fn add(&mut self, other: &KindCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.pending_deletion += other.pending_deletion;
        self.deleted += other.deleted;
    }
}

/// What a job did to contacts, per phonebook kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ContactCounts {
    /// Personal contacts (users' Outlook contacts → personal phonebooks).
    pub personal: KindCounts,
    /// Company contacts (shared mailboxes → the company phonebook).
    pub company: KindCounts,
    /// Directory contacts (Exchange org contacts → the company directory).
    pub directory: KindCounts,
    /// Numbers written in this job that could not be normalised (kept raw, flagged).
    pub invalid_numbers: u64,
    /// Mailboxes that could not be read (phonebooks kept; named in the warnings).
    pub unreadable_mailboxes: u64,
}
