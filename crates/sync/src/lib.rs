//! pbx365 sync jobs. This first increment syncs one source: Entra users → extensions.
//!
//! Table of contents:
//! - [`run_users_job`] (in [`job`]): one job — check the app's permissions, read the selection
//!   and the users' delta, plan against the store, hold the mass-deletion guard, apply in one
//!   transaction, record the job;
//! - [`run_photos_job`] (in [`photos`]): photos → avatars on their own schedule, each photo
//!   downloaded only when its `@odata.mediaEtag` changed;
//! - [`client`]: a [`graph::GraphClient`] from a configured site;
//! - [`read`]: the Graph reads — the users' delta round, the selection's base set;
//! - [`select`]: which Entra users become extensions (pure rules over Graph's user);
//! - [`departments`]: departments from the configured M365 groups (`groups/delta`, nested
//!   groups expanded, "Sales" / "Sales 2");
//! - [`plan`]: what changes (creates, updates, removals) and the outbound caller ID rule;
//! - [`diagnostic`]: `--diagnostic` — a summary of every Graph request in the job log;
//! - [`report`]: the options of a job and what it reports ([`JobReport`]);
//! - [`error`]: [`SyncError`], each with advice a person can act on.
//!
//! # Deprovisioning
//! A user who leaves the selection (removed from the group or licence, excluded, disabled with
//! `disabled = "skip"`, deleted) counts as a removal for the mass-deletion guard. `keep` leaves
//! the extension; `disable` disables it; `delete_after_days` disables it and records a pending
//! deletion, which a later job applies (number released) once it is N days old.
//!
//! # Not yet
//! The other sources (contacts, shared mailboxes, org contacts),
//! a site main number as fallback caller ID, leases between nodes.

#![warn(missing_docs)]

pub mod client;
pub mod departments;
pub mod diagnostic;
pub mod error;
pub mod job;
pub mod photos;
pub mod plan;
pub mod read;
pub mod report;
pub mod select;

pub use client::client_for_site;
pub use error::SyncError;
pub use job::run_users_job;
pub use photos::{run_photos_job, PhotoCounts, PhotosReport};
pub use report::{JobReport, PlanCounts, Progress, Steps, SyncOptions};
