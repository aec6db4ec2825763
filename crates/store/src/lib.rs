//! pbx365's persistence: one [`Store`] trait, two backends — SQLite (the default: one file,
//! WAL) and PostgreSQL (several pbx365 nodes on one database) — with the same behaviour,
//! proven by one test suite that runs against both.
//!
//! Table of contents:
//! - [`api`]: the [`Store`] trait and [`open`] (pick a backend by URL, run migrations);
//! - [`model`]: what goes in and out — sites, scope commits, pending deletions, jobs, number hits,
//!   the change log the directory index follows, and the credentials phones sign in with;
//! - [`sealing`]: secrets kept in the store (presence readers' refresh tokens), sealed with
//!   ChaCha20-Poly1305 under a key kept outside the database;
//! - [`error`]: [`StoreError`], what went wrong and what to do;
//! - [`migrate`]: the SQL migrations per backend (`migrations/{sqlite,postgres}/`); the runner
//!   is in `backend` and records them in `schema_migrations`;
//! - `backend`: the SQL behind the trait, written once and compiled for each backend.
//!
//! Rules every backend keeps: every row carries its site; every write that belongs together is
//! one transaction; nothing assumes it is the only process on the database (allocation retries
//! lost races, migrations take a lock, per-site leases say which node runs a site).

#![warn(missing_docs)]

pub mod api;
mod backend;
pub mod error;
pub mod migrate;
pub mod model;
pub mod sealing;

pub use api::{open, Store};
pub use error::StoreError;
pub use model::{
    AllocationRule, AppliedDeletions, Avatar, Change, ChangeKind, CredentialInfo, CredentialOwner,
    CredentialUsername, CredentialUsernameError, Deletion, IssuedCredential, Job, JobEnd, JobId,
    JobKind, JobLogLine, JobOutcome, JobStatus, JobTrigger, JobWithLog, NumberHit, NumberOwner,
    PendingDeletion, PresenceReader, RenormaliseReport, ScopeCommit, ScopeKey, ScopeUpsert, Site,
    StoredContact,
};
pub use sealing::{SealError, Sealed, SealingKey};
