//! pbx365 sync jobs. This first increment syncs one source: Entra users → extensions.
//!
//! Table of contents:
//! - [`run_users_job`] (in [`job`]): one job — check the app's permissions, read the selection
//!   and the users' delta, plan against the store, hold the mass-deletion guard, apply in one
//!   transaction, record the job;
//! - [`client`]: a [`graph::GraphClient`] from a configured site;
//! - [`select`]: which Entra users become extensions (pure rules over Graph's user);
//! - [`plan`]: what changes (creates, updates, removals) and the outbound caller ID rule;
//! - [`report`]: the options of a job and what it reports ([`JobReport`]);
//! - [`error`]: [`SyncError`], each with advice a person can act on.

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod job;
pub mod plan;
pub mod report;
pub mod select;

pub use client::client_for_site;
pub use error::SyncError;
pub use job::run_users_job;
pub use report::{JobReport, PlanCounts, SyncOptions};
