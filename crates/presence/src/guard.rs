//! The run-time guards behind the map check: never echo a change the bridge caused itself, and
//! a per-user flap detector that latches as the last line of defence.
//!
//! Times are milliseconds on the bridge's clock (monotonic in production, emulated in tests).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Which side a change was seen on or written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Microsoft Teams.
    Teams,
    /// The PBX.
    Pbx,
}

/// Who caused the state a side shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A person or device on that side.
    External,
    /// The bridge's own write.
    Bridge,
}

/// One side of one user as the guard knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen<S> {
    /// The last state observed.
    pub state: S,
    /// Who caused it.
    pub origin: Origin,
    /// Counts the changes observed on this side (the version `presence status` shows).
    pub version: u64,
    /// When it was observed.
    pub at_ms: u64,
}

/// What to do with an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A change made outside the bridge: carry it to the other side.
    Carry,
    /// The same state as before: nothing to do.
    Unchanged,
    /// The bridge's own write coming back: record it, carry nothing.
    Echo,
}

/// Remembers, per user and side, what was last seen and what the bridge last wrote, so that a
/// change the bridge caused is never carried back.
#[derive(Debug)]
pub struct EchoGuard<U, S> {
    seen: HashMap<(U, Side), Seen<S>>,
    written: HashMap<(U, Side), S>,
}

impl<U: Clone + Eq + Hash, S: Clone + PartialEq> Default for EchoGuard<U, S> {
    fn default() -> Self {
        Self {
            seen: HashMap::new(),
            written: HashMap::new(),
        }
    }
}

impl<U: Clone + Eq + Hash, S: Clone + PartialEq> EchoGuard<U, S> {
    /// Records that the bridge wrote `state` to `side` for `user`.
    pub fn wrote(&mut self, user: &U, side: Side, state: S) {
        self.written.insert((user.clone(), side), state);
    }

    /// Forgets the bridge's pending write to `side` for `user` (it withdrew it before it came
    /// back), so that the same state made later by someone else is carried.
    pub fn unwrote(&mut self, user: &U, side: Side) {
        self.written.remove(&(user.clone(), side));
    }

    /// Judges a state observed on `side` for `user` and records it.
    pub fn observe(&mut self, user: &U, side: Side, state: S, at_ms: u64) -> Verdict {
        let key = (user.clone(), side);
        let previous = self.seen.get(&key);
        if previous.is_some_and(|p| p.state == state) {
            return Verdict::Unchanged;
        }
        let version = previous.map_or(1, |p| p.version + 1);
        let echo = self.written.get(&key) == Some(&state);
        if echo {
            self.written.remove(&key);
        }
        let origin = if echo {
            Origin::Bridge
        } else {
            Origin::External
        };
        self.seen.insert(
            key,
            Seen {
                state,
                origin,
                version,
                at_ms,
            },
        );
        if echo {
            Verdict::Echo
        } else {
            Verdict::Carry
        }
    }

    /// What was last seen on `side` for `user`.
    pub fn seen(&self, user: &U, side: Side) -> Option<&Seen<S>> {
        self.seen.get(&(user.clone(), side))
    }
}

/// Limits of the flap detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapLimits {
    /// More bridged writes than this for one user within `window_ms` latch the user.
    pub max_writes: usize,
    /// The sliding window.
    pub window_ms: u64,
}

impl Default for FlapLimits {
    /// 10 writes in 2 minutes: a person on the phone and in meetings all day makes far fewer.
    fn default() -> Self {
        Self {
            max_writes: 10,
            window_ms: 120_000,
        }
    }
}

/// Counts each user's bridged writes; a user who exceeds the limit is latched: the bridge
/// stops writing for them until an admin releases the latch.
#[derive(Debug)]
pub struct FlapDetector<U> {
    limits: FlapLimits,
    writes: HashMap<U, VecDeque<u64>>,
    latched: HashMap<U, u64>,
}

/// The answer to "may the bridge write for this user now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Yes (the write is counted).
    Write,
    /// No: this write would exceed the limit; the user is latched now (raise the alert).
    LatchedNow,
    /// No: the user was latched before.
    Latched,
}

impl<U: Clone + Eq + Hash> FlapDetector<U> {
    /// A detector with these limits.
    pub fn new(limits: FlapLimits) -> Self {
        Self {
            limits,
            writes: HashMap::new(),
            latched: HashMap::new(),
        }
    }

    /// Asks to write for `user` at `now_ms`; counts the write when allowed.
    pub fn permit(&mut self, user: &U, now_ms: u64) -> Permit {
        if self.latched.contains_key(user) {
            return Permit::Latched;
        }
        let q = self.writes.entry(user.clone()).or_default();
        while q
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= self.limits.window_ms)
        {
            q.pop_front();
        }
        if q.len() >= self.limits.max_writes {
            self.latched.insert(user.clone(), now_ms);
            self.writes.remove(user);
            return Permit::LatchedNow;
        }
        q.push_back(now_ms);
        Permit::Write
    }

    /// When `user` was latched, if they are.
    pub fn latched_at(&self, user: &U) -> Option<u64> {
        self.latched.get(user).copied()
    }

    /// Releases a latched user (an admin's decision); true when they were latched.
    pub fn release(&mut self, user: &U) -> bool {
        self.latched.remove(user).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_writes_come_back_as_echoes() {
        let mut g: EchoGuard<&str, &str> = EchoGuard::default();
        assert_eq!(g.observe(&"ann", Side::Pbx, "idle", 0), Verdict::Carry);
        g.wrote(&"ann", Side::Pbx, "dnd");
        assert_eq!(g.observe(&"ann", Side::Pbx, "dnd", 10), Verdict::Echo);
        let seen = g.seen(&"ann", Side::Pbx).unwrap();
        assert_eq!((seen.origin, seen.version), (Origin::Bridge, 2));
        assert_eq!(g.observe(&"ann", Side::Pbx, "dnd", 20), Verdict::Unchanged);
        // The same state again later, after someone else changed it, is theirs.
        assert_eq!(g.observe(&"ann", Side::Pbx, "idle", 30), Verdict::Carry);
        assert_eq!(g.observe(&"ann", Side::Pbx, "dnd", 40), Verdict::Carry);
        assert_eq!(g.seen(&"ann", Side::Pbx).unwrap().origin, Origin::External);
    }

    #[test]
    fn a_withdrawn_write_is_no_echo() {
        let mut g: EchoGuard<&str, &str> = EchoGuard::default();
        g.wrote(&"ann", Side::Pbx, "dnd");
        g.unwrote(&"ann", Side::Pbx);
        assert_eq!(g.observe(&"ann", Side::Pbx, "dnd", 0), Verdict::Carry);
    }

    #[test]
    fn an_echo_is_per_side_and_per_user() {
        let mut g: EchoGuard<&str, &str> = EchoGuard::default();
        g.wrote(&"ann", Side::Teams, "busy");
        assert_eq!(g.observe(&"bob", Side::Teams, "busy", 0), Verdict::Carry);
        assert_eq!(g.observe(&"ann", Side::Pbx, "busy", 0), Verdict::Carry);
        assert_eq!(g.observe(&"ann", Side::Teams, "busy", 0), Verdict::Echo);
    }

    #[test]
    fn flapping_latches_and_stays_latched() {
        let mut f = FlapDetector::new(FlapLimits {
            max_writes: 3,
            window_ms: 1000,
        });
        for t in [0, 100, 200] {
            assert_eq!(f.permit(&"ann", t), Permit::Write);
        }
        assert_eq!(f.permit(&"ann", 300), Permit::LatchedNow);
        assert_eq!(f.permit(&"ann", 10_000_000), Permit::Latched);
        assert_eq!(f.latched_at(&"ann"), Some(300));
        assert_eq!(f.permit(&"bob", 300), Permit::Write, "others go on");
        assert!(f.release(&"ann"));
        assert_eq!(f.permit(&"ann", 10_000_001), Permit::Write);
    }

    #[test]
    fn writes_outside_the_window_do_not_count() {
        let mut f = FlapDetector::new(FlapLimits {
            max_writes: 2,
            window_ms: 1000,
        });
        for t in (0..50).map(|i| i * 600) {
            assert_eq!(f.permit(&"ann", t), Permit::Write, "at {t}");
        }
    }
}
