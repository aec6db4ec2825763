//! The bridge's decisions, without I/O: what to write on which side when a state is observed,
//! with the echo guard both ways and the flap detector's latch. The driver
//! ([`crate::run`]) feeds it observations and carries out the [`Command`]s it returns.

use crate::guard::{EchoGuard, FlapDetector, FlapLimits, Origin, Permit, Side, Verdict};
use crate::maps::{pbx_state_name, PbxAction, StatusMaps, TeamsAction};
use crate::status::{SideStatus, StatusSnapshot, UserStatus};
use crate::teams::TeamsPresence;
use sip::{EventPackage, PbxState};
use std::collections::{BTreeMap, HashMap};

/// A user the bridge carries: their Entra id and their extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedUser {
    /// Entra object id (what Graph's presence calls take).
    pub user_id: String,
    /// The extension number (the SIP user part).
    pub extension: String,
}

/// The alert a latched user's status carries.
pub const LATCH_ALERT: &str = "the Teams and PBX states kept overriding each other: bridging is \
     frozen for this user; check the status maps, then release the latch with `pbx365 presence \
     release USER` (or restart the bridge)";

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Publish `state` for the extension.
    Publish {
        /// The extension.
        extension: String,
        /// The state.
        state: PbxState,
    },
    /// Withdraw the bridge's publication for the extension.
    Withdraw {
        /// The extension.
        extension: String,
    },
    /// Apply `action` to the user's Teams session.
    Teams {
        /// Entra id.
        user_id: String,
        /// Set or clear.
        action: TeamsAction,
    },
    /// The user was latched now: stop every write for them, keep-alives included.
    Latched {
        /// Entra id.
        user_id: String,
    },
}

/// The bridge's state for one site.
#[derive(Debug)]
pub struct BridgeCore {
    site: String,
    maps: StatusMaps,
    users: BTreeMap<String, MappedUser>,
    by_extension: HashMap<String, String>,
    teams_guard: EchoGuard<String, TeamsPresence>,
    pbx_guard: EchoGuard<String, PbxState>,
    flap: FlapDetector<String>,
    published: HashMap<String, PbxState>,
    teams_session: HashMap<String, TeamsPresence>,
    pbx_parts: HashMap<String, (PbxState, PbxState)>,
    errors: HashMap<String, String>,
    watching: std::collections::HashSet<String>,
    /// The last Teams presence each user set themselves (echoes of the bridge's own
    /// sessions are not recorded).
    teams_seen: HashMap<String, TeamsPresence>,
    /// The state each user's calendar asks for now (absent: nothing).
    calendar: HashMap<String, PbxState>,
    calendar_wins: bool,
    /// Extensions whose publication the bridge withdrew and whose empty NOTIFY (the presence
    /// server's echo of that withdrawal) has not come yet.
    withdrawing: std::collections::HashSet<String>,
}

impl BridgeCore {
    /// A bridge for `site` carrying `users` under `maps` with these flap limits.
    pub fn new(
        site: impl Into<String>,
        maps: StatusMaps,
        users: Vec<MappedUser>,
        limits: FlapLimits,
    ) -> BridgeCore {
        let by_extension = users
            .iter()
            .map(|u| (u.extension.clone(), u.user_id.clone()))
            .collect();
        BridgeCore {
            site: site.into(),
            maps,
            users: users.into_iter().map(|u| (u.user_id.clone(), u)).collect(),
            by_extension,
            teams_guard: EchoGuard::default(),
            pbx_guard: EchoGuard::default(),
            flap: FlapDetector::new(limits),
            published: HashMap::new(),
            teams_session: HashMap::new(),
            pbx_parts: HashMap::new(),
            errors: HashMap::new(),
            watching: std::collections::HashSet::new(),
            teams_seen: HashMap::new(),
            calendar: HashMap::new(),
            calendar_wins: false,
            withdrawing: std::collections::HashSet::new(),
        }
    }

    /// Lets calendar states win over Teams for every user (`calendar_wins`); otherwise they
    /// apply only to users without a live Teams presence (never seen, `PresenceUnknown` or
    /// `Offline`).
    pub fn set_calendar_wins(&mut self, wins: bool) {
        self.calendar_wins = wins;
    }

    /// The user's calendar asks for `state` now (`None`: nothing). Published to the PBX like a
    /// Teams-origin state, through the echo guard and the flap detector, when calendar rules
    /// apply to the user; when the calendar ends, the PBX goes back to what Teams says.
    pub fn calendar_observed(
        &mut self,
        user_id: &str,
        state: Option<PbxState>,
        now_ms: u64,
    ) -> Vec<Command> {
        if !self.users.contains_key(user_id) {
            return Vec::new();
        }
        let key = user_id.to_owned();
        let before = self.calendar.get(&key).copied();
        match state {
            Some(s) => self.calendar.insert(key.clone(), s),
            None => self.calendar.remove(&key),
        };
        if before == state {
            return Vec::new();
        }
        let action = self.pbx_target(&key);
        self.apply_pbx(&key, action, now_ms)
    }

    /// What the PBX should show for `key`: the calendar's state where calendar rules apply
    /// and it asks for one, else Teams' mapped state (withdrawn when Teams never said).
    fn pbx_target(&self, key: &String) -> PbxAction {
        let teams = self.teams_seen.get(key).copied();
        // No live Teams client: never seen, unknown, or signed out (Offline).
        let teams_unknown = teams.is_none_or(|p| {
            matches!(
                p.availability,
                crate::teams::Availability::PresenceUnknown | crate::teams::Availability::Offline
            )
        });
        if self.calendar_wins || teams_unknown {
            if let Some(s) = self.calendar.get(key) {
                return PbxAction::Publish(*s);
            }
        }
        teams.map_or(PbxAction::Withdraw, |p| self.maps.to_pbx(p))
    }

    /// Carries `action` to the PBX for `key` unless it is already there, within the flap
    /// detector's permit, recording the write for the echo guard.
    fn apply_pbx(&mut self, key: &String, action: PbxAction, now_ms: u64) -> Vec<Command> {
        let Some(user) = self.users.get(key) else {
            return Vec::new();
        };
        let command = match action {
            PbxAction::Publish(s) if self.published.get(key) != Some(&s) => Command::Publish {
                extension: user.extension.clone(),
                state: s,
            },
            PbxAction::Withdraw if self.published.contains_key(key) => Command::Withdraw {
                extension: user.extension.clone(),
            },
            _ => return Vec::new(),
        };
        if let Some(latched) = self.permit(key, now_ms) {
            return latched;
        }
        match &command {
            Command::Publish {
                state, extension, ..
            } => {
                self.pbx_guard.wrote(key, Side::Pbx, *state);
                self.published.insert(key.clone(), *state);
                self.withdrawing.remove(extension);
            }
            Command::Withdraw { extension } => {
                self.pbx_guard.unwrote(key, Side::Pbx);
                self.published.remove(key);
                self.withdrawing.insert(extension.clone());
            }
            _ => {}
        }
        vec![command]
    }

    /// The users carried.
    pub fn users(&self) -> impl Iterator<Item = &MappedUser> {
        self.users.values()
    }

    /// Whether `user_id` is latched.
    pub fn is_latched(&self, user_id: &str) -> bool {
        self.flap.latched_at(&user_id.to_owned()).is_some()
    }

    /// The users latched now, with when.
    pub fn latched(&self) -> Vec<(String, u64)> {
        self.users
            .keys()
            .filter_map(|k| Some((k.clone(), self.flap.latched_at(k)?)))
            .collect()
    }

    /// Lifts `user_id`'s latch (an admin's decision) and brings both sides in line with what
    /// each shows now, as if it had just changed: the PBX's current state goes to Teams, and
    /// Teams' (or the calendar's) to the PBX. The flap count starts afresh, and the Teams
    /// session the bridge stopped renewing at the latch is forgotten (it lapsed, or lapses).
    /// `None` when the user was not latched.
    pub fn release(&mut self, user_id: &str, now_ms: u64) -> Option<Vec<Command>> {
        let key = user_id.to_owned();
        if !self.flap.release(&key) {
            return None;
        }
        self.teams_session.remove(&key);
        self.teams_guard.unwrote(&key, Side::Teams);
        tracing::info!(site = %self.site, user = %key, "flap latch released; bridging resumes");
        let mut commands = Vec::new();
        let pbx_now = self
            .users
            .get(&key)
            .and_then(|u| self.pbx_parts.get(&u.extension))
            .map(|p| PbxState::combine(p.0, p.1))
            .filter(|s| *s != PbxState::Unknown);
        if let Some(action) = pbx_now.and_then(|s| self.maps.to_teams(s)) {
            commands.extend(self.apply_teams(&key, action, now_ms));
        }
        let action = self.pbx_target(&key);
        commands.extend(self.apply_pbx(&key, action, now_ms));
        Some(commands)
    }

    /// Teams shows `presence` for `user_id` (read at `now_ms`).
    pub fn teams_observed(
        &mut self,
        user_id: &str,
        presence: TeamsPresence,
        now_ms: u64,
    ) -> Vec<Command> {
        let Some(user) = self.users.get(user_id).cloned() else {
            return Vec::new();
        };
        let key = user.user_id.clone();
        if self
            .teams_guard
            .observe(&key, Side::Teams, presence, now_ms)
            != Verdict::Carry
        {
            return Vec::new();
        }
        self.teams_seen.insert(key.clone(), presence);
        let action = self.pbx_target(&key);
        self.apply_pbx(&key, action, now_ms)
    }

    /// A NOTIFY of `package` told `state` for `extension` (at `now_ms`). Presence and dialog
    /// combine into one PBX state (a call outranks presence).
    ///
    /// A presence NOTIFY with no state left (`Unknown`: every publication withdrawn or
    /// expired) after one with a state means the phone went offline — quit, or died and its
    /// publication lapsed — unless it echoes the bridge's own withdrawal.
    pub fn pbx_observed(
        &mut self,
        extension: &str,
        package: EventPackage,
        mut state: PbxState,
        now_ms: u64,
    ) -> Vec<Command> {
        let Some(key) = self.by_extension.get(extension).cloned() else {
            return Vec::new();
        };
        if package == EventPackage::Presence && state == PbxState::Unknown {
            // Offline stays offline through later empty NOTIFYs (a refreshed subscription).
            let had_state = self
                .pbx_parts
                .get(extension)
                .is_some_and(|p| p.0 != PbxState::Unknown);
            if self.withdrawing.remove(extension) {
                // The bridge's own withdrawal coming back: the PBX shows nothing of its own.
            } else if had_state {
                state = PbxState::Offline;
            }
        } else if package == EventPackage::Presence {
            self.withdrawing.remove(extension);
        }
        let parts = self
            .pbx_parts
            .entry(extension.to_owned())
            .or_insert((PbxState::Unknown, PbxState::Unknown));
        match package {
            EventPackage::Presence => parts.0 = state,
            EventPackage::Dialog => parts.1 = state,
        }
        let combined = PbxState::combine(parts.0, parts.1);
        if combined == PbxState::Unknown {
            return Vec::new();
        }
        let verdict = self.pbx_guard.observe(&key, Side::Pbx, combined, now_ms);
        tracing::debug!(site = %self.site, user = %key, extension, ?package, ?state, ?combined, ?verdict, "PBX state observed");
        if verdict != Verdict::Carry {
            return Vec::new();
        }
        let Some(action) = self.maps.to_teams(combined) else {
            return Vec::new();
        };
        self.apply_teams(&key, action, now_ms)
    }

    /// Carries `action` to Teams for `key` unless the bridge's session already shows it,
    /// within the flap detector's permit, recording the write for the echo guard.
    fn apply_teams(&mut self, key: &String, action: TeamsAction, now_ms: u64) -> Vec<Command> {
        let current = self.teams_session.get(key).copied();
        match (action, current) {
            (TeamsAction::Set(p), Some(c)) if p == c => return Vec::new(),
            (TeamsAction::Clear, None) => return Vec::new(),
            _ => {}
        }
        if let Some(latched) = self.permit(key, now_ms) {
            return latched;
        }
        match action {
            TeamsAction::Set(p) => {
                self.teams_guard.wrote(key, Side::Teams, p);
                self.teams_session.insert(key.clone(), p);
            }
            TeamsAction::Clear => {
                self.teams_guard.unwrote(key, Side::Teams);
                self.teams_session.remove(key);
            }
        }
        vec![Command::Teams {
            user_id: key.clone(),
            action,
        }]
    }

    /// `None` when the write may go ahead; otherwise the commands for a latch (empty when
    /// the user was latched before).
    fn permit(&mut self, key: &String, now_ms: u64) -> Option<Vec<Command>> {
        match self.flap.permit(key, now_ms) {
            Permit::Write => None,
            Permit::LatchedNow => {
                tracing::error!(
                    site = %self.site,
                    user = %key,
                    "presence bridging for this user is flapping and has been frozen; check the \
                     status maps, then release the latch with `pbx365 presence release`"
                );
                Some(vec![Command::Latched {
                    user_id: key.clone(),
                }])
            }
            Permit::Latched => Some(Vec::new()),
        }
    }

    /// The driver renewed `user_id`'s Teams session to `presence`: what Teams shows next is the
    /// bridge's own doing, not a change to carry.
    pub fn renewed(&mut self, user_id: &str, presence: TeamsPresence) {
        self.teams_guard
            .wrote(&user_id.to_owned(), Side::Teams, presence);
    }

    /// Records whether the user's extension is watched (its presence and dialog
    /// subscriptions were accepted).
    pub fn watching(&mut self, user_id: &str, yes: bool) {
        if yes {
            self.watching.insert(user_id.to_owned());
        } else {
            self.watching.remove(user_id);
        }
    }

    /// The Teams write for `user_id` failed for good (Graph's client already retried): the
    /// bridge has no session there, and the next PBX change writes again.
    pub fn teams_write_failed(&mut self, user_id: &str) {
        let key = user_id.to_owned();
        self.teams_session.remove(&key);
        self.teams_guard.unwrote(&key, Side::Teams);
    }

    /// Records that carrying out a command for `user_id` failed (shown in the status).
    pub fn failed(&mut self, user_id: &str, error: String) {
        self.errors.insert(user_id.to_owned(), error);
    }

    /// Clears the error recorded for `user_id` after a success.
    pub fn succeeded(&mut self, user_id: &str) {
        self.errors.remove(user_id);
    }

    /// The Entra id of the user with `extension`.
    pub fn user_of(&self, extension: &str) -> Option<&str> {
        self.by_extension.get(extension).map(String::as_str)
    }

    /// The status of every user now.
    pub fn snapshot(&self, now_ms: u64) -> StatusSnapshot {
        let users = self
            .users
            .keys()
            .filter_map(|u| self.user_status(u).map(|s| (u.clone(), s)))
            .collect();
        StatusSnapshot {
            site: self.site.clone(),
            at_ms: now_ms,
            users,
            ..StatusSnapshot::default()
        }
    }

    /// The status of one user now (`None` for a user not mapped): the bridge updates its
    /// snapshot user by user, as rebuilding all of it per event is quadratic at start-up.
    pub fn user_status(&self, user_id: &str) -> Option<UserStatus> {
        fn side<S>(
            seen: Option<&crate::guard::Seen<S>>,
            show: impl Fn(&S) -> String,
        ) -> Option<SideStatus> {
            seen.map(|s| SideStatus {
                state: show(&s.state),
                origin: match s.origin {
                    Origin::External => "external".into(),
                    Origin::Bridge => "bridge".into(),
                },
                version: s.version,
                at_ms: s.at_ms,
            })
        }
        let u = self.users.get(user_id)?;
        let key = u.user_id.clone();
        Some(UserStatus {
            user_id: key.clone(),
            extension: u.extension.clone(),
            teams: side(self.teams_guard.seen(&key, Side::Teams), |p| p.to_string()),
            pbx: side(self.pbx_guard.seen(&key, Side::Pbx), |s| {
                pbx_state_name(*s).to_owned()
            }),
            bridge_teams: self
                .teams_session
                .get(&key)
                .map_or("none".into(), |p| p.to_string()),
            bridge_pbx: self
                .published
                .get(&key)
                .map_or("none".into(), |s| pbx_state_name(*s).to_owned()),
            watching: self.watching.contains(&key),
            latched_at_ms: self.flap.latched_at(&key),
            alert: self.flap.latched_at(&key).map(|_| LATCH_ALERT.to_owned()),
            last_error: self.errors.get(&key).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teams::{Activity as Ac, Availability as Av};

    fn core() -> BridgeCore {
        BridgeCore::new(
            "hq",
            StatusMaps::defaults(4),
            vec![MappedUser {
                user_id: "u1".into(),
                extension: "201".into(),
            }],
            FlapLimits {
                max_writes: 3,
                window_ms: 60_000,
            },
        )
    }

    #[test]
    fn a_call_on_the_phone_sets_teams_and_its_echo_is_not_carried_back() {
        let mut c = core();
        let cmds = c.pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, 1);
        let call = TeamsPresence::new(Av::Busy, Ac::InACall);
        assert_eq!(
            cmds,
            vec![Command::Teams {
                user_id: "u1".into(),
                action: TeamsAction::Set(call)
            }]
        );
        assert!(c.teams_observed("u1", call, 2).is_empty(), "echo");
        // The session faded to something else, then the keep-alive renewed it: that is the
        // bridge's doing too.
        let away = TeamsPresence::new(Av::Away, Ac::Away);
        assert!(!c.teams_observed("u1", away, 2).is_empty());
        c.renewed("u1", call);
        assert!(c.teams_observed("u1", call, 2).is_empty(), "renewal echo");
        let s = c.snapshot(3);
        assert_eq!(s.users["u1"].teams.as_ref().unwrap().origin, "bridge");
        assert_eq!(s.users["u1"].pbx.as_ref().unwrap().state, "on_call");
        let cmds = c.pbx_observed("201", EventPackage::Dialog, PbxState::Idle, 4);
        assert_eq!(
            cmds,
            vec![Command::Teams {
                user_id: "u1".into(),
                action: TeamsAction::Clear
            }]
        );
    }

    #[test]
    fn a_failed_teams_write_is_forgotten_so_the_next_change_writes_again() {
        let mut c = core();
        let call = TeamsAction::Set(TeamsPresence::new(Av::Busy, Ac::InACall));
        assert_eq!(
            c.pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, 1)
                .len(),
            1
        );
        c.teams_write_failed("u1");
        assert_eq!(c.snapshot(2).users["u1"].bridge_teams, "none");
        c.pbx_observed("201", EventPackage::Dialog, PbxState::Idle, 3);
        let again = c.pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, 4);
        assert_eq!(
            again,
            vec![Command::Teams {
                user_id: "u1".into(),
                action: call
            }]
        );
    }

    #[test]
    fn a_teams_meeting_publishes_dnd_and_its_end_withdraws() {
        let mut c = core();
        let meeting = TeamsPresence::new(Av::Busy, Ac::InAMeeting);
        assert_eq!(
            c.teams_observed("u1", meeting, 1),
            vec![Command::Publish {
                extension: "201".into(),
                state: PbxState::Dnd
            }]
        );
        assert!(c
            .pbx_observed("201", EventPackage::Presence, PbxState::Dnd, 2)
            .is_empty());
        let free = TeamsPresence::new(Av::Available, Ac::Available);
        assert_eq!(
            c.teams_observed("u1", free, 3),
            vec![Command::Withdraw {
                extension: "201".into()
            }]
        );
        assert!(c.teams_observed("u1", free, 4).is_empty(), "unchanged");
        assert!(c.teams_observed("nobody", meeting, 5).is_empty());
    }

    #[test]
    fn flapping_latches_once_then_stays_silent() {
        let mut c = core();
        let call = TeamsPresence::new(Av::Busy, Ac::InACall);
        let away = TeamsPresence::new(Av::Away, Ac::Away);
        let mut latched = 0;
        for i in 0..10u64 {
            let t = if i % 2 == 0 { call } else { away };
            for cmd in c.teams_observed("u1", t, i * 10) {
                if matches!(cmd, Command::Latched { .. }) {
                    latched += 1;
                }
            }
        }
        assert_eq!(latched, 1);
        assert!(c.is_latched("u1"));
        let snap = c.snapshot(100);
        assert!(snap.users["u1"].latched_at_ms.is_some());
        assert!(
            snap.users["u1"].alert.is_some(),
            "the latch raises an alert"
        );
        assert!(c
            .pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, 200)
            .is_empty());
    }

    /// Latches `u1` by flapping on the phone (the limit: 3 writes a minute).
    fn latch_by_flapping(c: &mut BridgeCore) {
        let flaps = [
            PbxState::OnCall,
            PbxState::Idle,
            PbxState::OnCall,
            PbxState::Idle,
        ];
        for (i, s) in flaps.into_iter().enumerate() {
            c.pbx_observed("201", EventPackage::Dialog, s, i as u64);
        }
    }

    #[test]
    fn a_release_carries_what_each_side_shows_now() {
        let mut c = core();
        let call = TeamsPresence::new(Av::Busy, Ac::InACall);
        let meeting = TeamsPresence::new(Av::Busy, Ac::InAMeeting);
        let idle = TeamsPresence::new(Av::Available, Ac::Available);
        latch_by_flapping(&mut c);
        assert!(c.is_latched("u1"));
        // While latched: the phone takes a call, Teams starts a meeting; neither is carried.
        assert!(c
            .pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, 10)
            .is_empty());
        assert!(c.teams_observed("u1", meeting, 11).is_empty());
        assert_eq!(c.release("nobody", 12), None);
        let cmds = c.release("u1", 12).expect("was latched");
        assert_eq!(
            cmds,
            vec![
                Command::Teams {
                    user_id: "u1".into(),
                    action: TeamsAction::Set(call)
                },
                Command::Publish {
                    extension: "201".into(),
                    state: PbxState::Dnd
                }
            ]
        );
        assert!(!c.is_latched("u1"));
        assert_eq!(c.release("u1", 13), None, "released once");
        // Bridging goes on with the next change, and the release's writes echo as the bridge's.
        assert!(c.teams_observed("u1", call, 14).is_empty(), "echo");
        assert_eq!(
            c.pbx_observed("201", EventPackage::Dialog, PbxState::Idle, 15),
            vec![Command::Teams {
                user_id: "u1".into(),
                action: TeamsAction::Clear
            }]
        );
        // A user released while both sides are quiet gets no write.
        let mut q = core();
        latch_by_flapping(&mut q);
        q.teams_observed("u1", idle, 5);
        assert_eq!(q.release("u1", 6), Some(Vec::new()));
    }

    fn publish(state: PbxState) -> Vec<Command> {
        vec![Command::Publish {
            extension: "201".into(),
            state,
        }]
    }

    #[test]
    fn calendar_drives_the_pbx_for_a_user_without_teams_presence() {
        let mut c = core();
        assert_eq!(
            c.calendar_observed("u1", Some(PbxState::Dnd), 1),
            publish(PbxState::Dnd)
        );
        assert!(
            c.calendar_observed("u1", Some(PbxState::Dnd), 2).is_empty(),
            "unchanged"
        );
        assert!(c
            .calendar_observed("nobody", Some(PbxState::Dnd), 2)
            .is_empty());
        // The PBX reporting the bridge's own publication is an echo: nothing goes to Teams.
        assert!(c
            .pbx_observed("201", EventPackage::Presence, PbxState::Dnd, 3)
            .is_empty());
        let unknown = TeamsPresence::new(Av::PresenceUnknown, Ac::PresenceUnknown);
        assert!(
            c.teams_observed("u1", unknown, 4).is_empty(),
            "calendar still rules"
        );
        assert_eq!(
            c.calendar_observed("u1", Some(PbxState::Away), 5),
            publish(PbxState::Away)
        );
        assert_eq!(
            c.calendar_observed("u1", None, 6),
            vec![Command::Withdraw {
                extension: "201".into()
            }]
        );
        assert_eq!(c.snapshot(7).users["u1"].bridge_pbx, "none");
    }

    #[test]
    fn teams_presence_outranks_the_calendar_unless_the_site_lets_the_calendar_win() {
        let busy = TeamsPresence::new(Av::Busy, Ac::InACall);
        let teams_state = match StatusMaps::defaults(4).to_pbx(busy) {
            PbxAction::Publish(s) => s,
            PbxAction::Withdraw => panic!("the default map publishes a call"),
        };
        assert_ne!(teams_state, PbxState::Away);
        let mut c = core();
        assert_eq!(c.teams_observed("u1", busy, 1), publish(teams_state));
        assert!(c
            .calendar_observed("u1", Some(PbxState::Away), 2)
            .is_empty());

        let mut c = core();
        c.set_calendar_wins(true);
        assert_eq!(c.teams_observed("u1", busy, 1), publish(teams_state));
        assert_eq!(
            c.calendar_observed("u1", Some(PbxState::Away), 2),
            publish(PbxState::Away)
        );
        let free = TeamsPresence::new(Av::Available, Ac::Available);
        assert!(
            c.teams_observed("u1", free, 3).is_empty(),
            "the calendar keeps the PBX"
        );
        // When the meeting ends the PBX shows what Teams says now.
        let expected = match StatusMaps::defaults(4).to_pbx(free) {
            PbxAction::Publish(s) => publish(s),
            PbxAction::Withdraw => vec![Command::Withdraw {
                extension: "201".into(),
            }],
        };
        assert_eq!(c.calendar_observed("u1", None, 4), expected);
    }

    #[test]
    fn calendar_writes_count_toward_the_flap_latch() {
        let mut c = core();
        let mut latched = false;
        for (i, s) in [PbxState::Dnd, PbxState::Away]
            .iter()
            .cycle()
            .take(6)
            .enumerate()
        {
            let cmds = c.calendar_observed("u1", Some(*s), i as u64);
            latched |= cmds.contains(&Command::Latched {
                user_id: "u1".into(),
            });
        }
        assert!(latched && c.is_latched("u1"));
        assert!(
            c.calendar_observed("u1", None, 10).is_empty(),
            "no writes after the latch"
        );
    }

    #[test]
    fn a_phone_whose_publication_goes_is_offline_but_the_bridges_own_withdrawal_is_not() {
        let mut c = core();
        // Nothing published yet: nothing known, nothing carried.
        assert!(c
            .pbx_observed("201", EventPackage::Presence, PbxState::Unknown, 1)
            .is_empty());
        assert!(c.snapshot(2).users["u1"].pbx.is_none());
        c.pbx_observed("201", EventPackage::Dialog, PbxState::Idle, 3);
        c.pbx_observed("201", EventPackage::Presence, PbxState::Idle, 4);
        assert_eq!(
            c.snapshot(5).users["u1"].pbx.as_ref().unwrap().state,
            "idle"
        );
        // The phone's publication goes: offline.
        c.pbx_observed("201", EventPackage::Presence, PbxState::Unknown, 8);
        assert_eq!(
            c.snapshot(9).users["u1"].pbx.as_ref().unwrap().state,
            "offline"
        );

        // The bridge publishes DND for a Teams meeting, then withdraws it: the empty NOTIFY
        // that follows is its own doing, not the phone going offline.
        let mut c = core();
        let meeting = TeamsPresence::new(Av::Busy, Ac::InAMeeting);
        assert!(matches!(
            c.teams_observed("u1", meeting, 1)[..],
            [Command::Publish { .. }]
        ));
        c.pbx_observed("201", EventPackage::Presence, PbxState::Dnd, 2);
        let free = TeamsPresence::new(Av::Available, Ac::Available);
        assert!(matches!(
            c.teams_observed("u1", free, 3)[..],
            [Command::Withdraw { .. }]
        ));
        c.pbx_observed("201", EventPackage::Presence, PbxState::Unknown, 4);
        assert_eq!(c.snapshot(5).users["u1"].pbx.as_ref().unwrap().state, "dnd");
    }
}
