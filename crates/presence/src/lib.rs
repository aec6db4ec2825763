//! pbx365's presence bridge between Microsoft Teams and the PBX.
//!
//! Table of contents:
//! - [`teams`]: Teams presence as Graph defines it — values, the pairs `setPresence` accepts,
//!   session aggregation and the fade of an unrefreshed `Available`;
//! - [`maps`]: the status map per direction ([`StatusMaps`]), its defaults, and the check at
//!   load time that refuses any pair under which a state does not survive a round trip;
//! - [`guard`]: the run-time guards — never echo the bridge's own change ([`EchoGuard`]), and a
//!   per-user flap detector that latches ([`FlapDetector`]);
//! - [`teams_side`]: Graph I/O — polling `getPresencesByUserId` within a rate with
//!   `sequenceNumber` ordering ([`TeamsReader`]), the app's `setPresence` session with
//!   keep-alive and `clearPresence` ([`TeamsWriter`]);
//! - [`write_queue`]: the order of Teams writes — bounded in flight, one per user, only the
//!   newest pending state ([`WriteQueue`]);
//! - [`notifications`]: Teams presence by change notification — reader accounts, their
//!   subscriptions, renewal, reauthorization, the fall-back to polling ([`Subscriber`]);
//! - [`calendar`]: Outlook calendar → PBX status ([`calendar_state`], [`CalendarReader`]);
//! - [`control`]: admin requests to a running bridge (release a flap latch), as files beside
//!   the status file;
//! - [`bridge`]: the decisions per observation, with both guards ([`BridgeCore`]);
//! - [`run`]: the running bridge of one site ([`run::start`], [`BridgeSettings`]);
//! - [`status`]: the per-user status snapshot and its state file ([`StatusSnapshot`]).

#![warn(missing_docs)]

pub mod bridge;
pub mod calendar;
pub mod control;
pub mod guard;
pub mod maps;
pub mod notifications;
pub mod run;
pub mod status;
pub mod teams;
pub mod teams_side;
pub mod write_queue;

pub use bridge::{BridgeCore, Command, MappedUser};
pub use calendar::{calendar_state, CalendarError, CalendarReader, CalendarRules, CalendarUser};
pub use control::{ControlError, Release};
pub use guard::{EchoGuard, FlapDetector, FlapLimits, Origin, Permit, Side, Verdict};
pub use maps::{MapError, PbxAction, RawMaps, StatusMaps, TeamsAction};
pub use notifications::{
    readers_needed, NotificationSettings, ReaderAccount, ReaderVault, Subscriber,
};
pub use run::{BridgeHandle, BridgeSettings, NotificationInput};
pub use status::{StatusError, StatusSnapshot, UserStatus};
pub use teams::{Activity, Availability, TeamsPresence};
pub use teams_side::{PollRate, TeamsReader, TeamsWriter};
pub use write_queue::{WriteQueue, DEFAULT_WRITES_IN_FLIGHT};
