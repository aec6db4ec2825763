//! The status maps, one per direction, and the check that makes a map pair loop-proof before
//! the bridge ever runs with it.
//!
//! # The loop check
//! A pair of maps loops when a state, carried to the other side and back, arrives as a
//! different state: each side then overrides the other for ever (the failure 3CX's manual warns
//! about). [`StatusMaps::new`] walks every state through both maps, with Teams' own session
//! aggregation and the fade of an unrefreshed `Available` session in the state space, and
//! refuses the pair when any state does not come back to itself:
//! - **from the PBX**: for each PBX state `s`, the Teams write `w = to_teams(s)`; what Teams
//!   shows (`w`, and each stage `w` fades through before the bridge's keep-alive renews it, or
//!   Offline when the app session is cleared); that mapped back must publish `s` again (or
//!   withdraw the bridge's publication, leaving the PBX's own `s`);
//! - **from Teams**: for each state `t` a user's clients can show, the PBX action
//!   `a = to_pbx(t)`; when it publishes `s`, the Teams write `to_teams(s)` aggregated with the
//!   user's own `t` (and its fade stages) mapped back must give `a` again.

use crate::teams::{aggregate, faded, settable, TeamsPresence, AVAILABLE_FADE, USER_STATES};
use crate::teams::{Activity, Availability};
use serde::{Deserialize, Serialize};
use sip::PbxState;
use std::fmt;

/// The PBX states the bridge carries to Teams (`Unknown` means nothing is known: no action).
pub const PBX_STATES: &[PbxState] = &[
    PbxState::Idle,
    PbxState::Ringing,
    PbxState::OnCall,
    PbxState::Dnd,
    PbxState::Away,
    PbxState::Offline,
];

/// The configuration name of a PBX state (`on_call`).
pub fn pbx_state_name(s: PbxState) -> &'static str {
    match s {
        PbxState::Idle => "idle",
        PbxState::Ringing => "ringing",
        PbxState::OnCall => "on_call",
        PbxState::Dnd => "dnd",
        PbxState::Away => "away",
        PbxState::Offline => "offline",
        PbxState::Unknown => "unknown",
    }
}

fn parse_pbx_state(s: &str) -> Option<PbxState> {
    PBX_STATES.iter().copied().find(|p| pbx_state_name(*p) == s)
}

/// What the bridge does on the PBX side for a Teams state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PbxAction {
    /// Publish this state for the extension.
    Publish(PbxState),
    /// Withdraw the bridge's publication: the extension shows what the PBX itself knows.
    Withdraw,
}

impl fmt::Display for PbxAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Publish(s) => f.write_str(pbx_state_name(*s)),
            Self::Withdraw => f.write_str("none"),
        }
    }
}

/// What the bridge does on the Teams side for a PBX state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamsAction {
    /// Set the bridge's application session to this pair (one `setPresence` accepts).
    Set(TeamsPresence),
    /// Clear the bridge's session: Teams shows what the user's own clients show (Offline when
    /// they have none — a user with no Teams client has nothing else to show).
    Clear,
}

impl fmt::Display for TeamsAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Set(p) => write!(f, "{p}"),
            Self::Clear => f.write_str("clear"),
        }
    }
}

/// One rule of the Teams → PBX map: a pattern (`*` matches any value) and the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamsRule {
    /// Availability to match, or any.
    pub availability: Option<Availability>,
    /// Activity to match, or any.
    pub activity: Option<Activity>,
    /// What to do on the PBX side.
    pub action: PbxAction,
}

impl TeamsRule {
    fn matches(&self, p: TeamsPresence) -> bool {
        self.availability.is_none_or(|a| a == p.availability)
            && self.activity.is_none_or(|a| a == p.activity)
    }
}

/// A map pair as written in the configuration file (`[site.presence.maps]`): the Teams → PBX
/// rules in order (first match wins) and the PBX → Teams action per state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaps {
    /// `{ teams = "Busy/InACall", pbx = "on_call" }`, …; `teams` is `Availability/Activity`
    /// with `*` for any part (or `*` alone); `pbx` is a PBX state or `none` (withdraw).
    pub teams_to_pbx: Vec<RawTeamsRule>,
    /// `idle = "clear"`, `on_call = "Busy/InACall"`, …; a `setPresence` pair or `clear`.
    pub pbx_to_teams: std::collections::BTreeMap<String, String>,
}

/// One written Teams → PBX rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeamsRule {
    /// `Availability/Activity`, either part `*`, or `*`.
    pub teams: String,
    /// A PBX state name or `none`.
    pub pbx: String,
}

/// Why a map pair is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A value that is not what the key expects.
    #[error("{key} = {value:?}: {expected}")]
    Invalid {
        /// Where (`teams_to_pbx[2].teams`).
        key: String,
        /// The value given.
        value: String,
        /// What is expected instead.
        expected: String,
    },
    /// Teams states no rule matches.
    #[error(
        "teams_to_pbx matches no rule for {0}; add a last rule {{ teams = \"*\", pbx = \"none\" }}"
    )]
    Unmatched(String),
    /// PBX states without an action.
    #[error("pbx_to_teams has no entry for {0}")]
    Missing(String),
    /// The pair loops: each listed round trip does not come back to where it started.
    #[error("these status maps would make Teams and the PBX override each other: {}", .0.join("; "))]
    Loops(Vec<String>),
}

/// A checked, loop-proof pair of status maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMaps {
    teams_to_pbx: Vec<TeamsRule>,
    pbx_to_teams: Vec<(PbxState, TeamsAction)>,
    keepalive_minutes: u32,
}

impl StatusMaps {
    /// Checks a pair and returns it, or says why it is refused. `keepalive_minutes` is how
    /// often the bridge renews its Teams session: fade stages reached before that are part of
    /// the check.
    pub fn new(
        teams_to_pbx: Vec<TeamsRule>,
        pbx_to_teams: Vec<(PbxState, TeamsAction)>,
        keepalive_minutes: u32,
    ) -> Result<Self, MapError> {
        let maps = Self::unchecked(teams_to_pbx, pbx_to_teams, keepalive_minutes)?;
        let loops = maps.round_trip_failures();
        if loops.is_empty() {
            Ok(maps)
        } else {
            Err(MapError::Loops(loops))
        }
    }

    /// A pair with its shape checked (every state mapped, only settable pairs) but not the
    /// loop check: only for tests that must prove the run-time guards hold on their own.
    pub fn unchecked(
        teams_to_pbx: Vec<TeamsRule>,
        pbx_to_teams: Vec<(PbxState, TeamsAction)>,
        keepalive_minutes: u32,
    ) -> Result<Self, MapError> {
        for (i, (_, action)) in pbx_to_teams.iter().enumerate() {
            if let TeamsAction::Set(p) = action {
                if !settable(*p) {
                    return Err(MapError::Invalid {
                        key: format!("pbx_to_teams[{i}]"),
                        value: p.to_string(),
                        expected: settable_expected(),
                    });
                }
            }
        }
        let mut pbx_to_teams = pbx_to_teams;
        pbx_to_teams.sort_by_key(|(s, _)| pbx_state_name(*s));
        let maps = Self {
            teams_to_pbx,
            pbx_to_teams,
            keepalive_minutes,
        };
        let unmatched: Vec<String> = teams_space()
            .into_iter()
            .filter(|t| maps.rule_for(*t).is_none())
            .map(|t| t.to_string())
            .collect();
        if !unmatched.is_empty() {
            return Err(MapError::Unmatched(unmatched.join(", ")));
        }
        let missing: Vec<&str> = PBX_STATES
            .iter()
            .filter(|s| !maps.pbx_to_teams.iter().any(|(k, _)| k == *s))
            .map(|s| pbx_state_name(*s))
            .collect();
        if !missing.is_empty() {
            return Err(MapError::Missing(missing.join(", ")));
        }
        Ok(maps)
    }

    /// Reads and checks a pair as written in the configuration.
    pub fn from_raw(raw: &RawMaps, keepalive_minutes: u32) -> Result<Self, MapError> {
        let (rules, to_teams) = parse_raw(raw)?;
        Self::new(rules, to_teams, keepalive_minutes)
    }

    /// Reads a pair as written in the configuration with its shape checked but without the
    /// loop check: only for tests that must prove the run-time guards hold on their own.
    pub fn unchecked_from_raw(raw: &RawMaps, keepalive_minutes: u32) -> Result<Self, MapError> {
        let (rules, to_teams) = parse_raw(raw)?;
        Self::unchecked(rules, to_teams, keepalive_minutes)
    }

    /// The default pair: a call on the phone shows "In a call" in Teams; Teams calls and
    /// meetings, DND and away show on the phone; an idle phone clears the bridge's session so
    /// Teams shows the user's own clients (and Offline for a user with none, deliberately: they
    /// have no Teams session to show).
    pub fn defaults(keepalive_minutes: u32) -> Self {
        use Activity as Ac;
        use Availability as Av;
        let rule = |availability, activity, action| TeamsRule {
            availability,
            activity,
            action,
        };
        let teams_to_pbx = vec![
            rule(
                None,
                Some(Ac::InACall),
                PbxAction::Publish(PbxState::OnCall),
            ),
            rule(
                None,
                Some(Ac::InAConferenceCall),
                PbxAction::Publish(PbxState::OnCall),
            ),
            rule(
                Some(Av::DoNotDisturb),
                None,
                PbxAction::Publish(PbxState::Dnd),
            ),
            rule(Some(Av::Busy), None, PbxAction::Publish(PbxState::Dnd)),
            rule(Some(Av::BusyIdle), None, PbxAction::Publish(PbxState::Dnd)),
            rule(Some(Av::Away), None, PbxAction::Publish(PbxState::Away)),
            rule(
                Some(Av::BeRightBack),
                None,
                PbxAction::Publish(PbxState::Away),
            ),
            rule(None, None, PbxAction::Withdraw),
        ];
        let call = TeamsAction::Set(TeamsPresence::new(Av::Busy, Ac::InACall));
        let pbx_to_teams = vec![
            (PbxState::Idle, TeamsAction::Clear),
            (PbxState::Ringing, TeamsAction::Clear),
            (PbxState::OnCall, call),
            (PbxState::Dnd, TeamsAction::Clear),
            (PbxState::Away, TeamsAction::Clear),
            (PbxState::Offline, TeamsAction::Clear),
        ];
        match Self::new(teams_to_pbx, pbx_to_teams, keepalive_minutes) {
            Ok(m) => m,
            // The defaults are proven loop-free by a unit test; this arm is unreachable.
            Err(e) => panic!("default status maps fail their own check: {e}"),
        }
    }

    /// What the bridge does on the PBX side when Teams shows `t`.
    pub fn to_pbx(&self, t: TeamsPresence) -> PbxAction {
        self.rule_for(t).map_or(PbxAction::Withdraw, |r| r.action)
    }

    /// What the bridge does on the Teams side when the PBX shows `s` (`None` for `Unknown`).
    pub fn to_teams(&self, s: PbxState) -> Option<TeamsAction> {
        self.pbx_to_teams
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, a)| *a)
    }

    /// How often the bridge renews its Teams session, in minutes.
    pub fn keepalive_minutes(&self) -> u32 {
        self.keepalive_minutes
    }

    fn rule_for(&self, t: TeamsPresence) -> Option<&TeamsRule> {
        self.teams_to_pbx.iter().find(|r| r.matches(t))
    }

    /// What Teams shows over time for an app session action (with the user's own `user`).
    fn shown_stages(&self, user: Option<TeamsPresence>, w: TeamsAction) -> Vec<TeamsPresence> {
        match w {
            TeamsAction::Clear => vec![aggregate(user, None)],
            TeamsAction::Set(p) => AVAILABLE_FADE
                .iter()
                .filter(|(after, _)| *after < self.keepalive_minutes.max(1))
                .map(|(after, _)| aggregate(user, Some(faded(p, *after))))
                .collect(),
        }
    }

    /// Every round trip that does not come back to where it started, described.
    fn round_trip_failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &s in PBX_STATES {
            let Some(w) = self.to_teams(s) else { continue };
            for t in self.shown_stages(None, w) {
                let back = match self.to_pbx(t) {
                    PbxAction::Publish(x) => x,
                    PbxAction::Withdraw => s,
                };
                if back != s {
                    out.push(format!(
                        "PBX {} → Teams {w} (shows {t}) → PBX {}",
                        pbx_state_name(s),
                        pbx_state_name(back)
                    ));
                }
            }
        }
        for t in teams_space() {
            let a = self.to_pbx(t);
            let PbxAction::Publish(s) = a else { continue };
            let Some(w) = self.to_teams(s) else { continue };
            for t2 in self.shown_stages(Some(t), w) {
                let a2 = self.to_pbx(t2);
                if a2 != a {
                    out.push(format!(
                        "Teams {t} → PBX {a} → Teams {w} (shows {t2}) → PBX {a2}"
                    ));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The rules and actions of a written pair, each value checked.
#[allow(clippy::type_complexity)]
fn parse_raw(raw: &RawMaps) -> Result<(Vec<TeamsRule>, Vec<(PbxState, TeamsAction)>), MapError> {
    let mut rules = Vec::new();
    for (i, r) in raw.teams_to_pbx.iter().enumerate() {
        let (availability, activity) = parse_pattern(&r.teams).ok_or_else(|| MapError::Invalid {
                key: format!("teams_to_pbx[{i}].teams"),
                value: r.teams.clone(),
                expected: "Availability/Activity as Graph writes them (e.g. Busy/InACall), either part * for any, or *".into(),
            })?;
        let action = match r.pbx.as_str() {
            "none" => PbxAction::Withdraw,
            s => PbxAction::Publish(parse_pbx_state(s).ok_or_else(|| MapError::Invalid {
                key: format!("teams_to_pbx[{i}].pbx"),
                value: r.pbx.clone(),
                expected: "one of idle, ringing, on_call, dnd, away, offline, none".into(),
            })?),
        };
        rules.push(TeamsRule {
            availability,
            activity,
            action,
        });
    }
    let mut to_teams = Vec::new();
    for (k, v) in &raw.pbx_to_teams {
        let state = parse_pbx_state(k).ok_or_else(|| MapError::Invalid {
            key: format!("pbx_to_teams.{k}"),
            value: k.clone(),
            expected: "a PBX state: idle, ringing, on_call, dnd, away, offline".into(),
        })?;
        let action = if v == "clear" {
            TeamsAction::Clear
        } else {
            match parse_pattern(v) {
                Some((Some(a), Some(b))) if settable(TeamsPresence::new(a, b)) => {
                    TeamsAction::Set(TeamsPresence::new(a, b))
                }
                _ => {
                    return Err(MapError::Invalid {
                        key: format!("pbx_to_teams.{k}"),
                        value: v.clone(),
                        expected: settable_expected(),
                    })
                }
            }
        };
        to_teams.push((state, action));
    }
    Ok((rules, to_teams))
}

/// Every Teams state the check walks: what users' clients show and what app sessions fade to.
fn teams_space() -> Vec<TeamsPresence> {
    let mut all: Vec<TeamsPresence> = USER_STATES.to_vec();
    all.extend(AVAILABLE_FADE.iter().map(|(_, p)| *p));
    all.sort();
    all.dedup();
    all
}

fn settable_expected() -> String {
    let pairs: Vec<String> = crate::teams::SET_PRESENCE_PAIRS
        .iter()
        .map(|p| p.to_string())
        .collect();
    format!("clear, or a pair setPresence accepts: {}", pairs.join(", "))
}

/// Reads `Availability/Activity` with `*` for any part, or `*` alone.
fn parse_pattern(s: &str) -> Option<(Option<Availability>, Option<Activity>)> {
    let s = s.trim();
    if s == "*" {
        return Some((None, None));
    }
    let (a, b) = s.split_once('/')?;
    let a = match a.trim() {
        "*" => None,
        x => Some(x.parse().ok()?),
    };
    let b = match b.trim() {
        "*" => None,
        x => Some(x.parse().ok()?),
    };
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teams::{Activity as Ac, Availability as Av};

    #[test]
    fn defaults_are_loop_free_and_carry_calls_both_ways() {
        let m = StatusMaps::defaults(4);
        let call = TeamsPresence::new(Av::Busy, Ac::InACall);
        assert_eq!(m.to_teams(PbxState::OnCall), Some(TeamsAction::Set(call)));
        assert_eq!(m.to_pbx(call), PbxAction::Publish(PbxState::OnCall));
        let meeting = TeamsPresence::new(Av::Busy, Ac::InAMeeting);
        assert_eq!(m.to_pbx(meeting), PbxAction::Publish(PbxState::Dnd));
        assert_eq!(m.to_pbx(TeamsPresence::OFFLINE), PbxAction::Withdraw);
        assert!(m.round_trip_failures().is_empty());
    }

    #[test]
    fn a_pair_that_flips_is_refused_naming_the_states() {
        let mut raw = raw_defaults();
        // The phone's DND becomes Available in Teams, which the other map reads back as idle.
        raw.pbx_to_teams
            .insert("dnd".into(), "Available/Available".into());
        raw.teams_to_pbx.insert(
            0,
            RawTeamsRule {
                teams: "Available/*".into(),
                pbx: "idle".into(),
            },
        );
        let err = StatusMaps::from_raw(&raw, 4).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "PBX dnd → Teams Available/Available (shows Available/Available) → PBX idle"
            ),
            "{text}"
        );
    }

    #[test]
    fn fade_stages_before_the_keepalive_are_checked() {
        let mut raw = raw_defaults();
        raw.pbx_to_teams
            .insert("idle".into(), "Available/Available".into());
        raw.teams_to_pbx.insert(
            0,
            RawTeamsRule {
                teams: "Available/Available".into(),
                pbx: "idle".into(),
            },
        );
        // Renewed every 4 minutes the session never fades: fine.
        StatusMaps::from_raw(&raw, 4).unwrap();
        // Renewed every 7 minutes it shows AvailableInactive, which maps to nothing: the PBX
        // keeps idle (withdraw), still fine; every 12 minutes it shows Away → PBX away: a loop.
        StatusMaps::from_raw(&raw, 7).unwrap();
        let err = StatusMaps::from_raw(&raw, 12).unwrap_err().to_string();
        assert!(err.contains("shows Away/Away) → PBX away"), "{err}");
    }

    #[test]
    fn bad_values_name_key_value_and_what_is_expected() {
        let mut raw = raw_defaults();
        raw.pbx_to_teams
            .insert("on_call".into(), "Busy/InAMeeting".into());
        let err = StatusMaps::from_raw(&raw, 4).unwrap_err().to_string();
        assert!(err.contains("pbx_to_teams.on_call"), "{err}");
        assert!(
            err.contains("Busy/InACall"),
            "lists the settable pairs: {err}"
        );

        let mut raw = raw_defaults();
        raw.teams_to_pbx.pop();
        let err = StatusMaps::from_raw(&raw, 4).unwrap_err().to_string();
        assert!(err.contains("Available/Available"), "{err}");

        let mut raw = raw_defaults();
        raw.teams_to_pbx[0].pbx = "on_hold".into();
        let err = StatusMaps::from_raw(&raw, 4).unwrap_err().to_string();
        assert!(
            err.contains("teams_to_pbx[0].pbx") && err.contains("on_hold"),
            "{err}"
        );
    }

    /// The defaults as a configuration file would write them.
    fn raw_defaults() -> RawMaps {
        let rules = [
            ("*/InACall", "on_call"),
            ("*/InAConferenceCall", "on_call"),
            ("DoNotDisturb/*", "dnd"),
            ("Busy/*", "dnd"),
            ("BusyIdle/*", "dnd"),
            ("Away/*", "away"),
            ("BeRightBack/*", "away"),
            ("*", "none"),
        ];
        let raw = RawMaps {
            teams_to_pbx: rules
                .iter()
                .map(|(t, p)| RawTeamsRule {
                    teams: (*t).into(),
                    pbx: (*p).into(),
                })
                .collect(),
            pbx_to_teams: [
                ("idle", "clear"),
                ("ringing", "clear"),
                ("on_call", "Busy/InACall"),
                ("dnd", "clear"),
                ("away", "clear"),
                ("offline", "clear"),
            ]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        };
        assert_eq!(
            StatusMaps::from_raw(&raw, 4).unwrap(),
            StatusMaps::defaults(4),
            "the written defaults are the defaults"
        );
        raw
    }
}
