//! pbx365 sync jobs: Entra users → extensions, Outlook contacts → personal phonebooks,
//! shared mailboxes → the company phonebook, org contacts → the company directory.
//!
//! Table of contents:
//! - [`run_job`] (in [`job`]): one job over every enabled source — check the app's
//!   permissions, read the users' delta and plan against the store, hold the mass-deletion
//!   guard, apply, record the job; [`run_users_job`] runs the users source alone;
//! - [`contacts`]: the contact sources of a job, the guard over pending contact deletions and
//!   applying them;
//! - [`mailbox`]: one mailbox's folders and contacts, one delta scope per folder;
//! - [`mapping`]: Graph contacts → stored records, numbers in the owner's country;
//! - [`run_photos_job`] (in [`photos`]): photos → avatars on their own schedule, each photo
//!   downloaded only when its `@odata.mediaEtag` changed;
//! - [`client`]: a [`graph::GraphClient`] from a configured site;
//! - [`read`]: the Graph reads — the users' delta round, the selection's base set;
//! - [`select`]: which Entra users become extensions (pure rules over Graph's user);
//! - [`departments`]: departments from the configured M365 groups (`groups/delta`, nested
//!   groups expanded, "Sales" / "Sales 2");
//! - [`plan`]: what changes (creates, updates, removals) and the outbound caller ID rule;
//! - [`diagnostic`]: `--diagnostic` — a summary of every Graph request in the job log;
//! - `record` (private): the job history side of every kind of job — log lines, outcome;
//! - [`report`]: the options of a job and what it reports ([`JobReport`]);
//! - [`error`]: [`SyncError`], each with advice a person can act on.
//!
//! # Deprovisioning
//! A user who leaves the selection (removed from the group or licence, excluded, disabled with
//! `disabled = "skip"`, deleted) counts as a removal for the mass-deletion guard. `keep` leaves
//! the extension; `disable` disables it; `delete_after_days` disables it and records a pending
//! deletion, which a later job applies (number released) once it is N days old.
//!
//! # Contacts
//! Every folder of a mailbox (the default Contacts folder and all below it) is its own delta
//! scope, committed with its token; a folder that goes takes its contacts with it. Deletions
//! are pending until every scope of the job succeeded and the guard passed. A mailbox that
//! cannot be read (no Exchange Online, outside the app's access policy) keeps its phonebook
//! and is named in the job's warnings.
//!
//! # Not yet
//! A site main number as fallback caller ID, leases between nodes.

#![warn(missing_docs)]

pub mod client;
pub mod contacts;
pub mod departments;
pub mod diagnostic;
pub mod error;
pub mod job;
pub mod mailbox;
pub mod mapping;
pub mod photos;
pub mod plan;
pub mod read;
mod record;
pub mod report;
pub mod select;

pub use client::client_for_site;
pub use error::SyncError;
pub use job::{run_job, run_users_job};
pub use photos::{run_photos_job, PhotoCounts, PhotosReport};
pub use report::{ContactCounts, JobReport, KindCounts, PlanCounts, Progress, Steps, SyncOptions};
