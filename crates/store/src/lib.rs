//! pbx365 persistence (being built).
