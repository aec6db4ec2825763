//! pbx365 SIP presence agent (being built).
