//! pbx365 sync jobs (being built).
