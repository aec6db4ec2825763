//! pbx365's presence bridge between Microsoft Teams and the PBX.
//!
//! Table of contents:
//! - [`teams`]: Teams presence as Graph defines it — values, the pairs `setPresence` accepts,
//!   session aggregation and the fade of an unrefreshed `Available`;
//! - [`maps`]: the status map per direction ([`StatusMaps`]), its defaults, and the check at
//!   load time that refuses any pair under which a state does not survive a round trip;
//! - [`guard`]: the run-time guards — never echo the bridge's own change ([`EchoGuard`]), and a
//!   per-user flap detector that latches ([`FlapDetector`]).

#![warn(missing_docs)]

pub mod guard;
pub mod maps;
pub mod teams;

pub use guard::{EchoGuard, FlapDetector, FlapLimits, Origin, Permit, Side, Verdict};
pub use maps::{MapError, PbxAction, RawMaps, StatusMaps, TeamsAction};
pub use teams::{Activity, Availability, TeamsPresence};
