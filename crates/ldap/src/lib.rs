//! pbx365's LDAPv3 front end for desk phones and PBXs. It speaks LDAP (plain, StartTLS and
//! LDAPS) and answers every request through a [`directory::DirectoryService`]; it holds no
//! data of its own.
//!
//! Table of contents:
//! - [`config`]: [`LdapConfig`] — listeners, TLS, limits, how numbers are written;
//! - [`server`]: [`serve`] and the [`ServerHandle`] it returns (bound addresses, shutdown);
//! - `conn` (private): one client connection — bind, search, paging, sorting, StartTLS;
//! - [`dn`]: the DN layout (`dc=pbx365` / `o=<site>` / `ou=<phonebook>` / `uid=<entry>`);
//! - [`translate`]: LDAP filters and attribute names → the directory's request model, entries
//!   → LDAP entries;
//! - `vlv` (private): the virtual list view control's window and its BER;
//! - [`fuzzing`]: the request path over raw bytes, for the fuzz target (`crates/ldap/fuzz`).
//!
//! What clients get, in short: simple bind with the credentials pbx365 issued (DN
//! `cn=<username>,o=<site>,dc=pbx365` or the bare username) or anonymous when the site allows
//! it (refused with inappropriateAuthentication otherwise); searches with the whole filter
//! grammar (ordering and extensible matches included, Undefined kept Undefined under `!`),
//! `~=` passed on as a proximity search and phone attributes left to the directory's
//! number-aware matching; the inetOrgPerson attributes phones read, numbers written as
//! [`LdapConfig::number_form`] says; rootDSE; size and time limits; paged results,
//! server-side sort and the virtual list view over it; StartTLS and LDAPS. The directory is
//! read-only over LDAP.

#![warn(missing_docs)]

pub mod config;
mod conn;
pub mod dn;
pub mod fuzzing;
pub mod server;
mod tls;
pub mod translate;
mod vlv;

pub use config::{LdapConfig, Limits, TlsSource};
pub use server::{serve, ServeError, ServerHandle};
