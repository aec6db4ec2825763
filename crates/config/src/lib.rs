//! pbx365 configuration (being built).
