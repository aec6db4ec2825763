//! Teams presence rules, as pure functions of a user's [`PresenceState`] and a point in time:
//! which availability/activity pairs each API accepts, how sessions aggregate, how an idle
//! application session fades, when sessions and preferences expire, and the sequence number.
//!
//! Nothing here is stored per read: the emulator keeps sessions and preferences and computes
//! the visible presence lazily on the emulated clock, so moving the clock is all a test needs.

use crate::model::{PresenceSession, PresenceState};
use chrono::{DateTime, Duration, Utc};

/// Session id of an emulated Teams client (set through `/_sim`), which never expires.
pub const TEAMS_CLIENT: &str = "teams-client";

/// Pairs `setPresence` accepts (DC presence-setpresence.md, newer versions add Presenting).
pub const SET_PRESENCE_PAIRS: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "InACall"),
    ("Busy", "InAConferenceCall"),
    ("Away", "Away"),
    ("DoNotDisturb", "Presenting"),
];

/// Pairs `setUserPreferredPresence` accepts.
pub const PREFERRED_PAIRS: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("BeRightBack", "BeRightBack"),
    ("Away", "Away"),
    ("Offline", "OffWork"),
];

/// Pairs an emulated Teams client can show (the Teams-state mapping of the docs).
pub const TEAMS_PAIRS: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("Busy", "InACall"),
    ("Busy", "InAConferenceCall"),
    ("Busy", "InAMeeting"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("DoNotDisturb", "Presenting"),
    ("DoNotDisturb", "UrgentInterruptionsOnly"),
    ("Away", "Away"),
    ("BeRightBack", "BeRightBack"),
    ("Offline", "OffWork"),
];

/// An application's `Available` session without refresh shows `AvailableInactive` after this.
pub const FADE_INACTIVE: i64 = 5 * 60;
/// …and `Away/Away` after this.
pub const FADE_AWAY: i64 = 10 * 60;

/// Whether `(availability, activity)` is in `pairs` (Graph compares case-sensitively).
pub fn accepted(pairs: &[(&str, &str)], availability: &str, activity: &str) -> bool {
    pairs
        .iter()
        .any(|(a, b)| *a == availability && *b == activity)
}

/// Parses an ISO-8601 duration of the form `P[nD][T[nH][nM][n[.f]S]]` (what Graph's
/// `Edm.Duration` accepts in practice); `None` when malformed or not positive.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let rest = s
        .trim()
        .strip_prefix('P')
        .or_else(|| s.trim().strip_prefix('p'))?;
    let (date, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let factor = units
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(&c))
                .map(|(_, f)| *f)?;
            let n: f64 = num.parse().ok()?;
            ms += n * factor;
            num.clear();
            any = true;
        }
        num.is_empty().then_some(())
    };
    take(date, &[('W', 604_800_000.0), ('D', 86_400_000.0)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        take(t, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    }
    (any && ms > 0.0 && ms < 1e15).then(|| Duration::milliseconds(ms as i64))
}

/// Parses an RFC 3339 time stored in the model.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a time for the model (RFC 3339, milliseconds, `Z`).
pub fn store_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The presence a user shows at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// `availability`.
    pub availability: String,
    /// `activity`.
    pub activity: String,
}

impl Shown {
    fn of(a: &str, b: &str) -> Shown {
        Shown {
            availability: a.to_string(),
            activity: b.to_string(),
        }
    }
}

fn alive(s: &PresenceSession, now: DateTime<Utc>) -> bool {
    parse_time(&s.expires_at).is_some_and(|e| now < e)
}

/// What one live session shows at `now` (an application's `Available` fades when not refreshed).
fn session_shows(s: &PresenceSession, now: DateTime<Utc>) -> Shown {
    if s.session_id != TEAMS_CLIENT && s.availability == "Available" {
        let idle = parse_time(&s.set_at)
            .map(|t| (now - t).num_seconds())
            .unwrap_or(0);
        if idle >= FADE_AWAY {
            return Shown::of("Away", "Away");
        }
        if idle >= FADE_INACTIVE {
            return Shown::of("Available", "AvailableInactive");
        }
    }
    Shown::of(&s.availability, &s.activity)
}

/// Precedence among sessions: DoNotDisturb > Busy > Available > Away (the docs), with the
/// idle and BeRightBack variants placed just below their base state.
fn rank(availability: &str) -> u8 {
    match availability {
        "DoNotDisturb" => 9,
        "Busy" => 8,
        "BusyIdle" => 7,
        "Available" => 6,
        "AvailableIdle" => 5,
        "BeRightBack" => 4,
        "Away" => 3,
        "Offline" => 1,
        _ => 0,
    }
}

/// The presence shown at `now`: the user-preferred presence when set and at least one session
/// is live; otherwise the highest-precedence live session; no live session shows Offline.
/// Out-of-office turns the activity into `OutOfOffice` unless the user is busy or in DND.
pub fn compute(p: &PresenceState, now: DateTime<Utc>) -> Shown {
    let live: Vec<&PresenceSession> = p.sessions.iter().filter(|s| alive(s, now)).collect();
    let mut shown = if live.is_empty() {
        Shown::of("Offline", "Offline")
    } else if let Some(pref) = p
        .preferred
        .as_ref()
        .filter(|pr| parse_time(&pr.expires_at).is_some_and(|e| now < e))
    {
        Shown::of(&pref.availability, &pref.activity)
    } else {
        live.iter()
            .map(|s| session_shows(s, now))
            .max_by_key(|s| rank(&s.availability))
            .unwrap_or_else(|| Shown::of("Offline", "Offline"))
    };
    if p.out_of_office
        && !matches!(
            shown.availability.as_str(),
            "Busy" | "BusyIdle" | "DoNotDisturb"
        )
    {
        shown.activity = "OutOfOffice".to_string();
    }
    shown
}

/// The instants at which time alone may change what `p` shows (fades and expiries).
fn transition_points(p: &PresenceState) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for s in &p.sessions {
        out.extend(parse_time(&s.expires_at));
        if s.session_id != TEAMS_CLIENT && s.availability == "Available" {
            if let Some(t) = parse_time(&s.set_at) {
                out.push(t + Duration::seconds(FADE_INACTIVE));
                out.push(t + Duration::seconds(FADE_AWAY));
            }
        }
    }
    if let Some(pr) = &p.preferred {
        out.extend(parse_time(&pr.expires_at));
    }
    out
}

/// Milliseconds since the epoch of the last change of what `p` shows at `now`: the last
/// explicit change (`p.sequence`) or the latest time-driven transition after it that really
/// changed the shown presence. Reading twice without a change gives the same value.
pub fn last_change_ms(p: &PresenceState, now: DateTime<Utc>) -> u64 {
    let explicit = p.sequence;
    let mut points: Vec<DateTime<Utc>> = transition_points(p)
        .into_iter()
        .filter(|t| *t <= now && t.timestamp_millis() > explicit as i64)
        .collect();
    points.sort();
    for t in points.into_iter().rev() {
        if compute(p, t) != compute(p, t - Duration::milliseconds(1)) {
            return t.timestamp_millis().max(0) as u64;
        }
    }
    explicit
}

/// Graph's `sequenceNumber`: a lexicographically sortable stamp of the last change.
pub fn sequence_number(p: &PresenceState, now: DateTime<Utc>) -> String {
    format!("{:020}", last_change_ms(p, now))
}

/// Records an explicit change at `now`: drops expired sessions and preferences, and moves the
/// sequence past both its previous value and `now`.
pub fn touch(p: &mut PresenceState, now: DateTime<Utc>) {
    p.sessions.retain(|s| alive(s, now));
    if p.preferred
        .as_ref()
        .is_some_and(|pr| parse_time(&pr.expires_at).is_none_or(|e| now >= e))
    {
        p.preferred = None;
    }
    let now_ms = now.timestamp_millis().max(0) as u64;
    p.sequence = (p.sequence + 1).max(now_ms);
}

/// Whether the state can still change with time alone (the background ticker watches these).
pub fn time_sensitive(p: &PresenceState) -> bool {
    !p.sessions.is_empty() || p.preferred.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PreferredPresence;

    fn session(id: &str, a: &str, b: &str, at: DateTime<Utc>, mins: i64) -> PresenceSession {
        PresenceSession {
            session_id: id.into(),
            availability: a.into(),
            activity: b.into(),
            set_at: store_time(at),
            expires_at: store_time(at + Duration::minutes(mins)),
        }
    }

    #[test]
    fn durations_parse_like_iso8601() {
        assert_eq!(parse_duration("PT5M"), Some(Duration::minutes(5)));
        assert_eq!(parse_duration("PT4H"), Some(Duration::hours(4)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("5M"), None);
        assert_eq!(parse_duration("PT0S"), None);
        assert_eq!(parse_duration("PTxM"), None);
    }

    #[test]
    fn aggregation_fade_and_expiry() {
        let t0 = Utc::now();
        let mut p = PresenceState::default();
        assert_eq!(compute(&p, t0), Shown::of("Offline", "Offline"));
        p.sessions
            .push(session("a", "Available", "Available", t0, 60));
        p.sessions.push(session("b", "Away", "Away", t0, 60));
        assert_eq!(compute(&p, t0), Shown::of("Available", "Available"));
        let t5 = t0 + Duration::minutes(5);
        assert_eq!(compute(&p, t5), Shown::of("Available", "AvailableInactive"));
        assert_eq!(
            compute(&p, t0 + Duration::minutes(10)),
            Shown::of("Away", "Away")
        );
        assert_eq!(
            compute(&p, t0 + Duration::minutes(61)),
            Shown::of("Offline", "Offline")
        );
        p.sessions
            .push(session("c", "DoNotDisturb", "Presenting", t0, 60));
        assert_eq!(compute(&p, t0), Shown::of("DoNotDisturb", "Presenting"));
        p.preferred = Some(PreferredPresence {
            availability: "BeRightBack".into(),
            activity: "BeRightBack".into(),
            expires_at: store_time(t0 + Duration::days(7)),
        });
        assert_eq!(compute(&p, t0), Shown::of("BeRightBack", "BeRightBack"));
    }

    #[test]
    fn sequence_is_stable_and_follows_fades() {
        let t0 = Utc::now();
        let mut p = PresenceState::default();
        touch(&mut p, t0);
        p.sessions
            .push(session("a", "Available", "Available", t0, 60));
        let s0 = sequence_number(&p, t0 + Duration::minutes(1));
        assert_eq!(s0, sequence_number(&p, t0 + Duration::minutes(2)));
        let s5 = sequence_number(&p, t0 + Duration::minutes(6));
        assert!(s5 > s0);
        assert_eq!(s5, sequence_number(&p, t0 + Duration::minutes(7)));
        assert!(sequence_number(&p, t0 + Duration::minutes(11)) > s5);
    }
}
