//! pbx365 the directory index: every source merged into one view, search, reverse lookup, visibility; the DirectoryService over the store.

#![warn(missing_docs)]
