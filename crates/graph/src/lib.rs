//! Microsoft Graph client for pbx365: the same binary talks to Microsoft or to the emulator,
//! by base URLs alone.
//!
//! Table of contents:
//! - [`config`]: tenant, app, credential, URLs and limits ([`ClientConfig`]);
//! - [`auth`]: secrets, certificate assertions, the cached app-only [`auth::TokenProvider`],
//!   device-code sign-in; [`error`]: Entra's and Graph's errors, typed;
//! - [`http`]: the request pipeline ([`GraphClient`]): concurrency per mailbox and adaptive
//!   global, retries with `Retry-After` or jittered back-off, counters;
//! - [`calendar`]: free/busy (`getSchedule`) and automatic replies, for calendar status;
//! - [`paging`] (nextLinks), [`delta`] (delta rounds), [`batch`] (`$batch`), [`coalesce`]
//!   (single GETs of many tasks carried together in `$batch`es);
//! - [`models`]: users, groups, contacts, org contacts, photos, presence; [`calls`]: typed
//!   calls used often (presence in chunks of 650, photos); [`subscriptions`]: change
//!   notification subscriptions on a signed-in user's behalf.
//!
//! ```no_run
//! # async fn demo() -> Result<(), graph::GraphError> {
//! use graph::delta::{DeltaOptions, DeltaOutcome, DeltaRound};
//! use graph::models::User;
//! use graph::{ClientConfig, Credential, GraphClient, Secret};
//!
//! let config = ClientConfig::new("tenant-id", "client-id", Credential::Secret(Secret::new("…")));
//! let client = GraphClient::new(config)?;
//! let users: Vec<User> = client.get_all_pages("/users?$top=999").await?;
//! match DeltaRound::<User>::new(&client, "/users/delta", None, DeltaOptions::default()).run().await? {
//!     DeltaOutcome::Complete { changes, delta_link } => { /* apply, store delta_link */ }
//!     DeltaOutcome::Reset { restart_url } => { /* read the scope whole from restart_url */ }
//! }
//! println!("{} users, {:?}", users.len(), client.stats());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod batch;
pub mod calendar;
pub mod calls;
pub mod coalesce;
pub mod config;
pub mod delta;
pub mod error;
pub mod http;
pub mod models;
pub mod paging;
pub mod subscriptions;

pub use auth::{Credential, Secret, TokenInfo};
pub use config::ClientConfig;
pub use error::{AuthError, GraphError};
pub use http::{GraphClient, Request};
