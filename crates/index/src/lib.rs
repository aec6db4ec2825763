//! pbx365 the directory index: every source merged into one view, search, reverse lookup,
//! visibility; the DirectoryService over the store.

#![warn(missing_docs)]

pub mod distance;
pub mod phonetic;
pub mod text;
