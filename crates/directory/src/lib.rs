//! pbx365 domain types (being built).
