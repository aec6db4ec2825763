//! pbx365 the directory index: every source merged into one view, search, reverse lookup,
//! visibility; the [`directory::DirectoryService`] over the store.
//!
//! Table of contents:
//! - [`service`]: [`IndexService`], the `DirectoryService` the front ends call: loads each site
//!   from the store, checks credentials and visibility, and follows the store's change log
//!   (a refresh loop, or [`IndexService::refresh`] after a sync);
//! - [`index`]: [`SiteIndex`], one site's pure in-memory index — merging, word, sounds-alike and
//!   number indexes, filters, ranked search, reverse lookup — patched one record at a time;
//! - [`priority`]: [`SourcePriority`], whose fields win when records merge;
//! - [`numbers`]: number forms and number-aware matching (`0301234*`, `*1234567`);
//! - [`text`], [`phonetic`], [`distance`]: folding (Müller = Mueller), Kölner Phonetik and
//!   Metaphone, typo distance.

#![warn(missing_docs)]

pub mod distance;
pub mod index;
pub mod numbers;
mod packed;
pub mod phonetic;
pub mod priority;
pub mod service;
pub mod text;

pub use index::{SiteIndex, SiteIndexBuilder};
pub use priority::{PriorityError, SourceClass, SourcePriority};
pub use service::{IndexError, IndexService, RefreshReport, SiteSettings};
