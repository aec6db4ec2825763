//! Teams presence as Microsoft Graph describes it: the availability and activity values, the
//! pairs `setPresence` accepts, how a user's sessions aggregate into what Teams shows, and how
//! an application's unrefreshed `Available` session fades
//! (`shared/notes/graph.md` §9; Microsoft's "Manage presence state" and `presence-setpresence`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a PascalCase enum with the text Graph uses for each value.
macro_rules! graph_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The value as Graph writes it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownValue {
                        kind: stringify!($name),
                        value: s.to_owned(),
                        expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

/// A text that is none of the values Graph defines (the error lists them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a Teams {kind}; expected one of: {expected}")]
pub struct UnknownValue {
    /// `Availability` or `Activity`.
    pub kind: &'static str,
    /// What was given.
    pub value: String,
    /// The accepted values.
    pub expected: String,
}

graph_enum! {
    /// Graph's `availability`.
    Availability {
        /// Available.
        Available,
        /// Available, but the client has been idle.
        AvailableIdle,
        /// Away.
        Away,
        /// Be right back.
        BeRightBack,
        /// Busy.
        Busy,
        /// Busy, but the client has been idle.
        BusyIdle,
        /// Do not disturb.
        DoNotDisturb,
        /// Offline (no session, or "appear offline").
        Offline,
        /// Unknown.
        PresenceUnknown,
    }
}

graph_enum! {
    /// Graph's `activity`.
    Activity {
        /// Available.
        Available,
        /// An application's Available session after 5 minutes without refresh.
        AvailableInactive,
        /// Away.
        Away,
        /// Be right back.
        BeRightBack,
        /// Busy.
        Busy,
        /// Do not disturb.
        DoNotDisturb,
        /// In a call.
        InACall,
        /// In a conference call.
        InAConferenceCall,
        /// Inactive.
        Inactive,
        /// In a meeting.
        InAMeeting,
        /// Offline.
        Offline,
        /// Off work ("appear offline").
        OffWork,
        /// Out of office.
        OutOfOffice,
        /// Unknown.
        PresenceUnknown,
        /// Presenting.
        Presenting,
        /// Urgent interruptions only.
        UrgentInterruptionsOnly,
    }
}

/// What Teams shows for a user: an availability and an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TeamsPresence {
    /// `availability`.
    pub availability: Availability,
    /// `activity`.
    pub activity: Activity,
}

impl TeamsPresence {
    /// A pair.
    pub const fn new(availability: Availability, activity: Activity) -> Self {
        Self {
            availability,
            activity,
        }
    }

    /// What a user with no live session shows.
    pub const OFFLINE: TeamsPresence = TeamsPresence::new(Availability::Offline, Activity::Offline);
}

impl fmt::Display for TeamsPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.availability, self.activity)
    }
}

use Activity as Ac;
use Availability as Av;

/// The pairs `setPresence` accepts for an application's session (Available/Available,
/// Busy/InACall, Busy/InAConferenceCall, Away/Away and, in the newer docs, DoNotDisturb/Presenting).
pub const SET_PRESENCE_PAIRS: &[TeamsPresence] = &[
    TeamsPresence::new(Av::Available, Ac::Available),
    TeamsPresence::new(Av::Busy, Ac::InACall),
    TeamsPresence::new(Av::Busy, Ac::InAConferenceCall),
    TeamsPresence::new(Av::Away, Ac::Away),
    TeamsPresence::new(Av::DoNotDisturb, Ac::Presenting),
];

/// Whether `setPresence` accepts the pair.
pub fn settable(p: TeamsPresence) -> bool {
    SET_PRESENCE_PAIRS.contains(&p)
}

/// Every presence a user's own Teams clients can show (the Teams-state mapping of Microsoft's
/// "Manage presence state", with the idle variants and out-of-office), plus Offline.
pub const USER_STATES: &[TeamsPresence] = &[
    TeamsPresence::new(Av::Available, Ac::Available),
    TeamsPresence::new(Av::Available, Ac::OutOfOffice),
    TeamsPresence::new(Av::AvailableIdle, Ac::Available),
    TeamsPresence::new(Av::AvailableIdle, Ac::Inactive),
    TeamsPresence::new(Av::Busy, Ac::Busy),
    TeamsPresence::new(Av::Busy, Ac::InACall),
    TeamsPresence::new(Av::Busy, Ac::InAConferenceCall),
    TeamsPresence::new(Av::Busy, Ac::InAMeeting),
    TeamsPresence::new(Av::BusyIdle, Ac::Busy),
    TeamsPresence::new(Av::DoNotDisturb, Ac::DoNotDisturb),
    TeamsPresence::new(Av::DoNotDisturb, Ac::Presenting),
    TeamsPresence::new(Av::DoNotDisturb, Ac::UrgentInterruptionsOnly),
    TeamsPresence::new(Av::Away, Ac::Away),
    TeamsPresence::new(Av::Away, Ac::OutOfOffice),
    TeamsPresence::new(Av::BeRightBack, Ac::BeRightBack),
    TeamsPresence::new(Av::Offline, Ac::OffWork),
    TeamsPresence::new(Av::Offline, Ac::Offline),
];

/// The stages an application's `Available` session goes through without refresh, with the
/// minutes after which each shows: Available/Available, then Available/AvailableInactive after
/// 5 minutes, then Away/Away after 10.
pub const AVAILABLE_FADE: &[(u32, TeamsPresence)] = &[
    (0, TeamsPresence::new(Av::Available, Ac::Available)),
    (5, TeamsPresence::new(Av::Available, Ac::AvailableInactive)),
    (10, TeamsPresence::new(Av::Away, Ac::Away)),
];

/// What an application session set to `p` shows `minutes` after its last refresh.
pub fn faded(p: TeamsPresence, minutes: u32) -> TeamsPresence {
    if p != AVAILABLE_FADE[0].1 {
        return p;
    }
    AVAILABLE_FADE
        .iter()
        .rev()
        .find(|(after, _)| minutes >= *after)
        .map_or(p, |(_, shown)| *shown)
}

/// Precedence among sessions: DoNotDisturb > Busy > Available > Away, each idle variant and
/// BeRightBack just below its base.
fn rank(a: Availability) -> u8 {
    match a {
        Av::DoNotDisturb => 9,
        Av::Busy => 8,
        Av::BusyIdle => 7,
        Av::Available => 6,
        Av::AvailableIdle => 5,
        Av::BeRightBack => 4,
        Av::Away => 3,
        Av::Offline => 1,
        Av::PresenceUnknown => 0,
    }
}

/// What Teams shows for a user whose own clients show `user` (`None`: no client session) while
/// the bridge's application session shows `app` (`None`: no app session). Among live sessions
/// the higher precedence wins; a user's "appear offline" (Offline/OffWork) is a preference that
/// wins over every session; no session at all shows Offline.
pub fn aggregate(user: Option<TeamsPresence>, app: Option<TeamsPresence>) -> TeamsPresence {
    match (user, app) {
        (Some(u), _) if u.activity == Ac::OffWork => u,
        (Some(u), Some(a)) => {
            if rank(a.availability) > rank(u.availability) {
                a
            } else {
                u
            }
        }
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => TeamsPresence::OFFLINE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: Availability, b: Activity) -> TeamsPresence {
        TeamsPresence::new(a, b)
    }

    #[test]
    fn values_round_trip_and_unknown_is_explained() {
        for a in Availability::ALL {
            assert_eq!(a.as_str().parse::<Availability>().unwrap(), *a);
        }
        let e = "available".parse::<Availability>().unwrap_err();
        assert!(e.to_string().contains("AvailableIdle"), "{e}");
    }

    #[test]
    fn set_presence_accepts_only_documented_pairs() {
        assert!(settable(p(Av::Busy, Ac::InACall)));
        assert!(
            !settable(p(Av::Busy, Ac::InAMeeting)),
            "setPresence cannot set InAMeeting"
        );
        assert!(!settable(p(Av::Away, Ac::OutOfOffice)));
    }

    #[test]
    fn available_fades_then_goes_away() {
        let a = p(Av::Available, Ac::Available);
        assert_eq!(faded(a, 4), a);
        assert_eq!(faded(a, 5), p(Av::Available, Ac::AvailableInactive));
        assert_eq!(faded(a, 10), p(Av::Away, Ac::Away));
        let busy = p(Av::Busy, Ac::InACall);
        assert_eq!(faded(busy, 60), busy, "only Available fades");
    }

    #[test]
    fn aggregation_follows_precedence() {
        let call = p(Av::Busy, Ac::InACall);
        let meeting = p(Av::Busy, Ac::InAMeeting);
        let dnd = p(Av::DoNotDisturb, Ac::Presenting);
        let away = p(Av::Away, Ac::Away);
        assert_eq!(aggregate(Some(away), Some(call)), call);
        assert_eq!(aggregate(Some(dnd), Some(call)), dnd);
        assert_eq!(
            aggregate(Some(meeting), Some(call)),
            meeting,
            "tie: the user's own wins"
        );
        assert_eq!(aggregate(None, None), TeamsPresence::OFFLINE);
        let off = p(Av::Offline, Ac::OffWork);
        assert_eq!(aggregate(Some(off), Some(call)), off, "appear offline wins");
    }
}
