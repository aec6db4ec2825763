//! pbx365's domain: the things a phone system is told about, with no I/O.
//!
//! Table of contents:
//! - [`dialling`]: a site's dialling rules ([`DiallingPlan`]): any typed form → E.164 or an
//!   extension, E.164 → what to dial and what to show;
//! - [`site`]: [`SiteId`], the tenant + phone system pair every row belongs to;
//! - [`number`]: phone numbers — [`E164`], [`Region`], [`PhoneNumber`] (the text a person typed,
//!   kept next to its E.164 form), [`ExtensionNumber`];
//! - [`extension`]: [`Extension`], an Entra user as a PBX extension;
//! - [`contact`]: [`ContactRecord`] and the phonebook it lands in ([`PhonebookKind`]);
//! - [`service`]: the one request model the front ends (LDAP, XML, lookup, REST) speak, and the
//!   [`DirectoryService`] trait they call.

#![warn(missing_docs)]

pub mod contact;
pub mod dialling;
pub mod extension;
pub mod number;
pub mod service;
pub mod site;

pub use contact::{ContactRecord, ContactSource, PhonebookKind};
pub use dialling::{Dialled, DiallingPlan, DidBlock, ExtensionRange, NumberForm, NumberInputError};
pub use extension::Extension;
pub use number::{
    E164Error, ExtensionNumber, ExtensionNumberError, PhoneKind, PhoneNumber, Region, RegionError,
    E164,
};
pub use service::{
    Attribute, BookScope, DirectoryService, Entry, EntryNumber, EntrySource, Filter, Hit,
    LookupResult, MatchRank, Photo, Principal, ServiceError, ServiceResult, TextQuery,
};
pub use site::{SiteId, SiteIdError};
