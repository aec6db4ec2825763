//! Microsoft Graph client for pbx365 (being built).
