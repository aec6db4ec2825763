//! pbx365 HTTP front ends: vendor XML phonebooks, caller-ID lookup, CSV exports and a REST
//! API, all answered from an `Arc<dyn directory::DirectoryService>` and nothing else.
//!
//! Table of contents:
//! - [`config`]: [`HttpConfig`] (listen address — loopback by default —, allow-list,
//!   limits, number form, default site) and [`Cidr`];
//! - [`server`]: the route table, [`router`] and [`serve`];
//! - [`auth`]: credentials (basic auth or `?token=username:secret`) → [`directory::Principal`];
//! - [`phones`]: the vendor XML phonebooks; [`xml`]: the escaping writer they use;
//! - [`lookup`]: caller-ID lookup, plain text and JSON;
//! - [`export`]: 3CX and FreePBX CSV exports;
//! - [`api`]: the REST API and its OpenAPI document;
//! - [`webhook`]: the receiver of Microsoft Graph change notifications (presence), served
//!   on its own listener by `pbx365 presence run`;
//! - [`books`], [`params`], [`guard`], [`error`]: what the handlers share.
//!
//! # Routes
//!
//! Every route but `/healthz` and `/api/v1/openapi.json` exists twice: bare, for the
//! configured default site, and under `/sites/{site}/` for any site.
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/healthz` | `ok` when the directory answers (no credentials) |
//! | GET | `/api/v1/openapi.json` | OpenAPI 3.0 description of every route (no credentials) |
//! | GET | `/yealink/directory.xml` | `YealinkIPPhoneDirectory` |
//! | GET | `/yealink/phonebook.xml` | `YealinkIPPhoneBook` (a `Menu` per phonebook) |
//! | GET | `/snom/directory.xml` | `SnomIPPhoneDirectory` (minibrowser) |
//! | GET, POST | `/snom/remote.xml` | Snom remote XML directory (`tbook` 2.0); phones POST |
//! | GET | `/cisco/directory.xml` | `CiscoIPPhoneDirectory`, ≤ 32 per page, Next/Previous keys |
//! | GET | `/cisco/search.xml` | `CiscoIPPhoneInput` search form |
//! | GET | `/grandstream/phonebook.xml` | Grandstream `AddressBook` |
//! | GET | `/fanvil/directory.xml` | `FanvilIPPhoneDirectory` |
//! | GET | `/polycom/directory.xml` | Poly `directory/item_list` |
//! | GET | `/gigaset/phonebook.xml` | Gigaset phonebook search (`command=get_list`) |
//! | GET | `/lookup?number=` | caller's name, `text/plain`; empty when unknown/withheld/junk |
//! | GET | `/export/3cx.csv`, `/export/freepbx.csv` | CSV in the importers' layouts |
//! | GET | `/api/v1/search?q=` | ranked hits |
//! | GET | `/api/v1/entries/{id}` | one entry |
//! | GET | `/api/v1/entries/{id}/photo` | the entry's photo (a user's, from the photo sync) |
//! | GET | `/api/v1/phonebooks`, `/api/v1/phonebooks/{book}` | phonebooks, one phonebook's entries |
//! | GET | `/api/v1/extensions` | users with extensions |
//! | GET | `/api/v1/lookup?number=` | lookup as JSON, 400 for junk |
//!
//! Listings take `?q=` (search), `?book=` (`all`, `users`, `company`, `directory`,
//! `personal`), `?page=` and `?per_page=`. Successful GETs carry an ETag (a photo's is Graph's
//! mediaEtag, every other one a hash of the body) and answer 304 to a matching
//! `If-None-Match`.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod books;
pub mod config;
pub mod error;
pub mod export;
pub mod guard;
pub mod lookup;
pub mod params;
pub mod phones;
pub mod server;
pub mod webhook;
pub mod xml;

pub use config::{Cidr, ConfigError, HttpConfig, RateLimit, DEFAULT_PORT};
pub use error::HttpError;
pub use server::{router, routes, serve, RouteInfo, ServeError, ServerHandle};
