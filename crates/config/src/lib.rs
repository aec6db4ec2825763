//! pbx365's configuration: one TOML file, every key overridable by an environment variable,
//! secrets read from files.
//!
//! # Loading
//! [`Config::load`] reads the file, applies the environment, rejects unknown keys, validates
//! every value and cross-field rule, and reads the files that `*_file` keys name. Every
//! rejection is a [`ConfigError`] that names the key path (`site[0].extensions.first_number`),
//! the value given and what is expected. [`Config::example`] is the commented example that
//! `pbx365 init` writes.
//!
//! # Environment overrides
//! Every key can be set by a variable named `PBX365_` followed by the key path in upper case,
//! with `__` (two underscores) between levels and sites addressed by their index in the file:
//!
//! | variable | key |
//! |---|---|
//! | `PBX365_STORE__URL` | `store.url` |
//! | `PBX365_SITE__0__TENANT__CLIENT_ID` | `site[0].tenant.client_id` |
//! | `PBX365_SITE__0__TENANT__CLIENT_SECRET` | `site[0].tenant.client_secret` (only settable this way) |
//! | `PBX365_SITE__1__USERS__GUESTS` | `site[1].users.guests` |
//! | `PBX365_SITE__0__DIALLING__DID_RANGES__0__BASE` | `site[0].dialling.did_ranges[0].base` |
//!
//! A value is read with the TOML value grammar when it is one (`42`, `true`,
//! `["a@x.com", "b@x.com"]`, `"quoted"`), otherwise it is taken as a plain string
//! (`sqlite:///var/lib/pbx365.db`). `client_secret` is always taken verbatim. A variable may
//! add a key the file leaves out, but not a site: an index beyond the file's sites is an
//! error. Variables with no `__` after the prefix (`PBX365_LOG`, `PBX365_CONFIG`) are not
//! configuration keys and are ignored. The environment is passed in (`std::env::vars()`), so
//! tests never touch the process environment.
//!
//! # Secrets
//! The client secret comes from `client_secret_file` (or the variable above); a certificate
//! credential from `certificate_file` + `private_key_file`. Relative paths are taken from the
//! config file's folder. Secrets are held in [`Secret`], which prints as `[redacted]`. A secret
//! file other users can read is accepted with an entry in [`Config::warnings`].
//!
//! # Delta tokens
//! [`Site::selection_fingerprint`] hashes the settings each source's delta tokens depend on, so
//! a caller can drop exactly the tokens that a selection change made stale.

mod env;
mod error;
mod fingerprint;
mod load;
mod model;
mod presence_bridge;
mod raw;
pub mod registration;
mod secret;
pub mod serve;
mod validate;

pub use directory::{DiallingPlan, ExtensionRange, NumberForm};
pub use env::ENV_PREFIX;
pub use error::ConfigError;
pub use load::Config;
pub use model::{
    CaFile, Credential, Deprovisioning, Dialling, DidRange, DisabledUsers, Extensions, Guards,
    PhotoSchedule, Photos, Site, Source, Sources, Store, Tenant, UserScope, UserSelection,
};
pub use presence_bridge::{PresenceBridge, PresenceNotifications, SipTransport};
pub use secret::Secret;
pub use uuid::Uuid;
pub use validate::{DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL, DEFAULT_STORE_URL};
