//! The SQL behind [`crate::Store`]. The queries are written once, in `common.rs`, and compiled
//! for each backend by `include!` with that backend's `DB` type: both dialects accept the same
//! `$n` placeholders, `ON CONFLICT … DO UPDATE` and `RETURNING`, so one text serves both, and
//! what truly differs (opening, write locks, the schema) lives in each backend's module.

pub mod postgres;
pub mod sqlite;
