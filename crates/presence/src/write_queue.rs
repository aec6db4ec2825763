//! The order in which the bridge's Teams writes go out: a bounded number in flight at once,
//! at most one per user, and per user only the newest pending state (an older one that has
//! not been sent yet is replaced, never sent after a newer one). The requests themselves run
//! on their own tasks (see `run.rs`); this is the bookkeeping, without I/O.

use crate::maps::TeamsAction;
use crate::teams::TeamsPresence;
use std::collections::{HashMap, HashSet, VecDeque};

/// The default number of Teams writes in flight at once.
pub const DEFAULT_WRITES_IN_FLIGHT: usize = 16;

/// A write waiting for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// A state the bridge decided on (set or clear the bridge's session).
    Action(TeamsAction),
    /// A keep-alive of the live session showing this presence.
    Renew(TeamsPresence),
}

/// What happened to a user's write when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// A newer write for the user is waiting (it supersedes this one).
    pub superseded: bool,
    /// The user was latched while the write was in flight: stop renewing their session now.
    pub forget: bool,
}

/// Per-user ordered, coalescing, bounded queue of Teams writes.
#[derive(Debug)]
pub struct WriteQueue {
    limit: usize,
    in_flight: HashSet<String>,
    pending: HashMap<String, Queued>,
    /// Users with a pending write and none in flight, oldest first.
    ready: VecDeque<String>,
    forget_after: HashSet<String>,
}

impl WriteQueue {
    /// A queue letting `limit` writes run at once (at least one).
    pub fn new(limit: usize) -> WriteQueue {
        WriteQueue {
            limit: limit.max(1),
            in_flight: HashSet::new(),
            pending: HashMap::new(),
            ready: VecDeque::new(),
            forget_after: HashSet::new(),
        }
    }

    /// Queues `action` for `user`, replacing a pending write not yet sent.
    pub fn push(&mut self, user: &str, action: TeamsAction) {
        self.put(user, Queued::Action(action));
    }

    /// Queues a keep-alive for `user`, unless a write for them is pending or in flight (that
    /// one renews the session, or changes it).
    pub fn push_renewal(&mut self, user: &str, presence: TeamsPresence) {
        if !self.busy(user) {
            self.put(user, Queued::Renew(presence));
        }
    }

    fn put(&mut self, user: &str, q: Queued) {
        let waiting = self.pending.insert(user.to_owned(), q).is_some();
        if !waiting && !self.in_flight.contains(user) {
            self.ready.push_back(user.to_owned());
        }
    }

    /// The next write to send, if one is waiting and fewer than the limit are in flight; the
    /// user counts as in flight until [`WriteQueue::ended`].
    pub fn take_next(&mut self) -> Option<(String, Queued)> {
        if self.in_flight.len() >= self.limit {
            return None;
        }
        while let Some(user) = self.ready.pop_front() {
            if let Some(q) = self.pending.remove(&user) {
                self.in_flight.insert(user.clone());
                return Some((user, q));
            }
        }
        None
    }

    /// The write for `user` ended (sent, failed, or found unnecessary).
    pub fn ended(&mut self, user: &str) -> Ended {
        self.in_flight.remove(user);
        let superseded = self.pending.contains_key(user);
        if superseded {
            self.ready.push_back(user.to_owned());
        }
        Ended {
            superseded,
            forget: self.forget_after.remove(user),
        }
    }

    /// `user` was latched: their pending write is dropped; returns whether their session can
    /// be forgotten now (`false`: a write is in flight, and [`WriteQueue::ended`] says so).
    pub fn latch(&mut self, user: &str) -> bool {
        self.pending.remove(user);
        self.ready.retain(|u| u != user);
        if self.in_flight.contains(user) {
            self.forget_after.insert(user.to_owned());
            false
        } else {
            true
        }
    }

    /// Whether a write for `user` is pending or in flight (a Teams reading of them may
    /// predate it).
    pub fn busy(&self, user: &str) -> bool {
        self.in_flight.contains(user) || self.pending.contains_key(user)
    }

    /// Writes in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Writes waiting for their turn.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teams::{Activity as Ac, Availability as Av};

    fn set(av: Av, ac: Ac) -> TeamsAction {
        TeamsAction::Set(TeamsPresence::new(av, ac))
    }

    #[test]
    fn no_more_than_the_limit_run_at_once() {
        let mut q = WriteQueue::new(2);
        for u in ["a", "b", "c"] {
            q.push(u, TeamsAction::Clear);
        }
        assert_eq!(q.take_next().map(|(u, _)| u).as_deref(), Some("a"));
        assert_eq!(q.take_next().map(|(u, _)| u).as_deref(), Some("b"));
        assert_eq!(q.take_next(), None, "two in flight");
        assert!(!q.ended("a").superseded);
        assert_eq!(q.take_next().map(|(u, _)| u).as_deref(), Some("c"));
    }

    #[test]
    fn one_write_per_user_and_only_the_newest_pending() {
        let mut q = WriteQueue::new(4);
        let call = set(Av::Busy, Ac::InACall);
        let away = set(Av::Away, Ac::Away);
        q.push("a", call);
        assert_eq!(q.take_next(), Some(("a".into(), Queued::Action(call))));
        q.push("a", away);
        q.push("a", TeamsAction::Clear);
        assert_eq!(q.take_next(), None, "a's write is in flight");
        assert!(q.busy("a"));
        q.push_renewal("a", TeamsPresence::new(Av::Busy, Ac::InACall));
        let e = q.ended("a");
        assert!(e.superseded && !e.forget);
        assert_eq!(
            q.take_next(),
            Some(("a".into(), Queued::Action(TeamsAction::Clear))),
            "the newest state only; the renewal did not replace it"
        );
        q.ended("a");
        assert!(!q.busy("a"));
        assert_eq!(q.take_next(), None);
    }

    #[test]
    fn a_latch_drops_pending_and_forgets_after_the_write_in_flight() {
        let mut q = WriteQueue::new(4);
        q.push("a", TeamsAction::Clear);
        q.push("b", TeamsAction::Clear);
        assert!(q.latch("b"), "nothing in flight for b");
        let _ = q.take_next();
        q.push("a", set(Av::Busy, Ac::InACall));
        assert!(!q.latch("a"));
        assert_eq!(
            q.ended("a"),
            Ended {
                superseded: false,
                forget: true
            }
        );
        assert_eq!(
            q.take_next(),
            None,
            "b's and a's pending writes were dropped"
        );
        assert_eq!((q.in_flight(), q.pending()), (0, 0));
    }
}
