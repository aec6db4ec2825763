//! What the bridge learns about an extension, and the event packages it learns it from.

/// The telephony state of an extension, as the PBX shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PbxState {
    /// Registered/online and not on a call.
    Idle,
    /// An incoming call is ringing.
    Ringing,
    /// In a call (or placing one).
    OnCall,
    /// Do not disturb.
    Dnd,
    /// Away from the phone.
    Away,
    /// Not reachable.
    Offline,
    /// No information (nothing published yet).
    Unknown,
}

impl PbxState {
    /// One state from both packages: a call in progress (dialog) outranks presence.
    pub fn combine(presence: PbxState, dialog: PbxState) -> PbxState {
        match dialog {
            PbxState::OnCall | PbxState::Ringing => dialog,
            _ if presence == PbxState::Unknown => dialog,
            _ => presence,
        }
    }
}

/// The SIP event packages the agent subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventPackage {
    /// `Event: presence` (RFC 3856), PIDF bodies.
    Presence,
    /// `Event: dialog` (RFC 4235), dialog-info bodies.
    Dialog,
}

impl EventPackage {
    /// The `Event` header token.
    pub fn as_str(self) -> &'static str {
        match self {
            EventPackage::Presence => "presence",
            EventPackage::Dialog => "dialog",
        }
    }

    /// The body type NOTIFYs of this package carry.
    pub fn content_type(self) -> &'static str {
        match self {
            EventPackage::Presence => "application/pidf+xml",
            EventPackage::Dialog => "application/dialog-info+xml",
        }
    }
}
