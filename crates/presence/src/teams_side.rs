//! The Teams side of the bridge over Microsoft Graph: reading presence by polling
//! `getPresencesByUserId` within a request rate, dropping stale updates by `sequenceNumber`,
//! and writing the bridge's own application session with `setPresence`/`clearPresence`, kept
//! alive before it expires or fades.

use crate::maps::TeamsAction;
use crate::teams::{Activity, Availability, TeamsPresence};
use graph::calls::MAX_PRESENCE_IDS;
use graph::{GraphClient, GraphError};
use std::collections::HashMap;
use std::time::Duration;

/// Graph's documented presence limit per application and tenant (older figure): requests per
/// 30 seconds. The default poll rate stays well below it.
pub const GRAPH_PRESENCE_LIMIT_PER_30S: u32 = 1_500;

/// How many `getPresencesByUserId` requests the bridge may make per 30 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollRate(u32);

impl PollRate {
    /// The default: 300 requests per 30 s, a fifth of Graph's older 1,500 limit, leaving room
    /// for `setPresence` writes and other applications.
    pub const DEFAULT: PollRate = PollRate(300);

    /// A rate of `per_30s` requests per 30 seconds; refused when zero or above Graph's limit.
    pub fn new(per_30s: u32) -> Result<PollRate, String> {
        if per_30s == 0 || per_30s > GRAPH_PRESENCE_LIMIT_PER_30S {
            return Err(format!(
                "{per_30s} requests per 30 s: expected 1 to {GRAPH_PRESENCE_LIMIT_PER_30S} \
                 (Graph's presence limit)"
            ));
        }
        Ok(PollRate(per_30s))
    }

    /// Requests per 30 seconds.
    pub fn per_30s(self) -> u32 {
        self.0
    }

    /// The least time between two requests.
    pub fn spacing(self) -> Duration {
        Duration::from_millis(30_000 / u64::from(self.0))
    }
}

impl Default for PollRate {
    fn default() -> Self {
        PollRate::DEFAULT
    }
}

/// Keeps the newest `sequenceNumber` seen per user and refuses anything not newer, so that a
/// stale or reordered answer never overwrites a newer state.
#[derive(Debug, Default)]
pub struct SequenceFilter {
    last: HashMap<String, String>,
}

impl SequenceFilter {
    /// Whether an update for `user` with `seq` is newer than every one accepted before (and
    /// records it). An update without a sequence number is accepted only when none was seen
    /// (Graph answers `null` for users it knows nothing about).
    pub fn accept(&mut self, user: &str, seq: Option<&str>) -> bool {
        match (self.last.get(user), seq) {
            (Some(last), Some(s)) if s <= last.as_str() => false,
            (Some(_), None) => false,
            (_, Some(s)) => {
                self.last.insert(user.to_owned(), s.to_owned());
                true
            }
            (None, None) => true,
        }
    }
}

impl SequenceFilter {
    /// Forgets what was seen for `user`.
    pub fn forget(&mut self, user: &str) {
        self.last.remove(user);
    }
}

/// One user's presence as read from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsUpdate {
    /// The user's Entra object id.
    pub user_id: String,
    /// What Teams shows.
    pub presence: TeamsPresence,
}

/// Reads what Teams shows for a set of users by polling, within a [`PollRate`].
#[derive(Debug)]
pub struct TeamsReader {
    client: GraphClient,
    rate: PollRate,
    filter: SequenceFilter,
    last_request: Option<tokio::time::Instant>,
}

impl TeamsReader {
    /// A reader using `client` at `rate`.
    pub fn new(client: GraphClient, rate: PollRate) -> TeamsReader {
        TeamsReader {
            client,
            rate,
            filter: SequenceFilter::default(),
            last_request: None,
        }
    }

    /// One round: the presence of every user in `ids`, ≤ 650 per request, each request
    /// waiting its turn under the rate. Returns only updates newer than those seen before;
    /// values Graph adds later (unknown to this version) read as `PresenceUnknown`.
    pub async fn poll(&mut self, ids: &[String]) -> Result<Vec<TeamsUpdate>, GraphError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_PRESENCE_IDS) {
            if let Some(last) = self.last_request {
                tokio::time::sleep_until(last + self.rate.spacing()).await;
            }
            self.last_request = Some(tokio::time::Instant::now());
            let answers = self.client.presences_by_user_id(chunk).await?;
            for p in answers {
                if !self.filter.accept(&p.id, p.sequence_number.as_deref()) {
                    tracing::debug!(user = %p.id, seq = ?p.sequence_number, "stale presence dropped");
                    continue;
                }
                out.push(TeamsUpdate {
                    presence: read_pair(p.availability.as_deref(), p.activity.as_deref()),
                    user_id: p.id,
                });
            }
        }
        Ok(out)
    }
}

impl TeamsReader {
    /// Forgets the `sequenceNumber` seen for `user`, so that the next reading of them is
    /// taken whatever its number: for a reading set aside because one of the bridge's own
    /// writes for them was still on its way.
    pub fn reread(&mut self, user: &str) {
        self.filter.forget(user);
    }

    /// The presence of one user a change notification named (`GET
    /// /communications/presences/{id}`: notifications without resource data carry no state),
    /// waiting its turn under the rate and passing the same `sequenceNumber` filter as polls;
    /// `None` when it is not newer than what was seen.
    pub async fn read_user(&mut self, user: &str) -> Result<Option<TeamsUpdate>, GraphError> {
        if let Some(last) = self.last_request {
            tokio::time::sleep_until(last + self.rate.spacing()).await;
        }
        self.last_request = Some(tokio::time::Instant::now());
        let p = self.client.presence_of(user).await?;
        if !self.filter.accept(&p.id, p.sequence_number.as_deref()) {
            tracing::debug!(user = %p.id, seq = ?p.sequence_number, "stale presence dropped");
            return Ok(None);
        }
        Ok(Some(TeamsUpdate {
            presence: read_pair(p.availability.as_deref(), p.activity.as_deref()),
            user_id: p.id,
        }))
    }
}

/// Reads Graph's strings; anything unknown becomes `PresenceUnknown` (logged).
pub fn read_pair(availability: Option<&str>, activity: Option<&str>) -> TeamsPresence {
    let a = availability
        .unwrap_or("PresenceUnknown")
        .parse::<Availability>()
        .unwrap_or_else(|e| {
            tracing::warn!("{e}");
            Availability::PresenceUnknown
        });
    let b = activity
        .unwrap_or("PresenceUnknown")
        .parse::<Activity>()
        .unwrap_or_else(|e| {
            tracing::warn!("{e}");
            Activity::PresenceUnknown
        });
    TeamsPresence::new(a, b)
}

/// What the writer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A `setPresence` or `clearPresence` request was made.
    Sent,
    /// Nothing: the session already shows that (and is not due for renewal).
    Unchanged,
}

/// The bridge's application session per user, as last written.
#[derive(Debug, Clone, Copy)]
struct Session {
    presence: TeamsPresence,
    set_at_ms: u64,
}

/// Writes the bridge's Teams session per user: `setPresence` with the app's client id as
/// session id, renewed every keep-alive interval (before it expires and before an `Available`
/// fades), `clearPresence` for [`TeamsAction::Clear`]. It never touches user-preferred presence.
#[derive(Debug)]
pub struct TeamsWriter {
    client: GraphClient,
    session_id: String,
    keepalive: Duration,
    sessions: HashMap<String, Session>,
}

impl TeamsWriter {
    /// A writer for the app `client` signs in as, renewing every `keepalive` (the session is
    /// asked to live twice as long, at least Graph's 5 minutes).
    pub fn new(client: GraphClient, keepalive: Duration) -> TeamsWriter {
        let session_id = client.config().client_id.clone();
        TeamsWriter {
            client,
            session_id,
            keepalive,
            sessions: HashMap::new(),
        }
    }

    /// The session id written with (the app's client id).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The Graph client written through.
    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    /// The session expiry asked of Graph.
    pub fn expiration(&self) -> Duration {
        (self.keepalive * 2).max(Duration::from_secs(300))
    }

    /// Applies `action` for `user` at `now_ms`. A `Set` equal to the live session and a
    /// `Clear` with no session are not sent again.
    pub async fn apply(
        &mut self,
        user: &str,
        action: TeamsAction,
        now_ms: u64,
    ) -> Result<Written, GraphError> {
        let Some(write) = self.prepare(user, action) else {
            return Ok(Written::Unchanged);
        };
        let done = write.send().await;
        self.finish(&done, now_ms);
        done.result.map(|()| Written::Sent)
    }

    /// Decides the request `action` needs for `user`, without sending it, so that the request
    /// can run on its own task while the caller carries on: `None` when nothing is to be sent
    /// (a `Set` equal to the live session, a `Clear` with no session). A `Clear` ends the
    /// session here; a `Set` records it in [`TeamsWriter::finish`] once Graph accepted it.
    /// At most one prepared write per user may be outstanding (the caller keeps order).
    pub fn prepare(&mut self, user: &str, action: TeamsAction) -> Option<PreparedWrite> {
        match action {
            TeamsAction::Set(p) => {
                if self.sessions.get(user).is_some_and(|s| s.presence == p) {
                    return None;
                }
                Some(self.prepared(user, WriteKind::Set(p)))
            }
            TeamsAction::Clear => {
                self.sessions.remove(user)?;
                Some(self.prepared(user, WriteKind::Clear))
            }
        }
    }

    /// The `clearPresence` of a session this writer does not hold: one a previous run left
    /// (it crashed or was killed) and the state file named.
    pub fn prepare_leftover_clear(&self, user: &str) -> PreparedWrite {
        self.prepared(user, WriteKind::Clear)
    }

    /// The `setPresence` renewing `user`'s session showing `presence` (see
    /// [`TeamsWriter::due`]).
    pub fn prepare_renewal(&self, user: &str, presence: TeamsPresence) -> PreparedWrite {
        self.prepared(user, WriteKind::Set(presence))
    }

    fn prepared(&self, user: &str, kind: WriteKind) -> PreparedWrite {
        PreparedWrite {
            client: self.client.clone(),
            user: user.to_owned(),
            session_id: self.session_id.clone(),
            expiration: self.expiration(),
            kind,
        }
    }

    /// Records what a sent write did: an accepted `setPresence` is the live session from
    /// `now_ms` (renewed a keep-alive interval later).
    pub fn finish(&mut self, done: &WriteDone, now_ms: u64) {
        if let (WriteKind::Set(p), Ok(())) = (done.kind, &done.result) {
            self.sessions.insert(
                done.user.clone(),
                Session {
                    presence: p,
                    set_at_ms: now_ms,
                },
            );
        }
    }

    /// The sessions due for renewal at `now_ms` (older than the keep-alive interval), with
    /// what they show.
    pub fn due(&self, now_ms: u64) -> Vec<(String, TeamsPresence)> {
        let keepalive_ms = self.keepalive.as_millis() as u64;
        self.sessions
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.set_at_ms) >= keepalive_ms)
            .map(|(u, s)| (u.clone(), s.presence))
            .collect()
    }

    /// What the bridge's session shows for `user`, if it has one.
    pub fn session(&self, user: &str) -> Option<TeamsPresence> {
        self.sessions.get(user).map(|s| s.presence)
    }

    /// Renews every session older than the keep-alive interval, one after the other; returns
    /// the users renewed and the first error (the others are still tried).
    pub async fn renew_due(&mut self, now_ms: u64) -> (Vec<String>, Option<GraphError>) {
        let mut renewed = Vec::new();
        let mut first_error = None;
        for (user, p) in self.due(now_ms) {
            let done = self.prepare_renewal(&user, p).send().await;
            self.finish(&done, now_ms);
            match done.result {
                Ok(()) => renewed.push(user),
                Err(e) => {
                    tracing::warn!(user, "renewing the bridge's Teams session failed: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        (renewed, first_error)
    }

    /// Stops renewing `user`'s session (it lapses on its own); used when a user is latched.
    pub fn forget(&mut self, user: &str) {
        self.sessions.remove(user);
    }
}

/// What a [`PreparedWrite`] asks of Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// `setPresence` of the bridge's session.
    Set(TeamsPresence),
    /// `clearPresence` of the bridge's session.
    Clear,
}

/// One `setPresence`/`clearPresence` request, decided by [`TeamsWriter::prepare`] and ready
/// to be sent on its own task.
#[derive(Debug)]
pub struct PreparedWrite {
    client: GraphClient,
    user: String,
    session_id: String,
    expiration: Duration,
    kind: WriteKind,
}

impl PreparedWrite {
    /// The user written for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Sends the request (Graph's client retries throttling and transient failures).
    pub async fn send(self) -> WriteDone {
        let result = match self.kind {
            WriteKind::Set(p) => {
                self.client
                    .set_presence(
                        &self.user,
                        &self.session_id,
                        p.availability.as_str(),
                        p.activity.as_str(),
                        self.expiration,
                    )
                    .await
            }
            WriteKind::Clear => match self
                .client
                .clear_presence(&self.user, &self.session_id)
                .await
            {
                Ok(existed) => {
                    if !existed {
                        tracing::debug!(user = %self.user, "the bridge's Teams session had already ended");
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        WriteDone {
            user: self.user,
            kind: self.kind,
            result,
        }
    }
}

/// How a [`PreparedWrite`] ended; hand it to [`TeamsWriter::finish`].
#[derive(Debug)]
pub struct WriteDone {
    /// The user written for.
    pub user: String,
    /// What was asked.
    pub kind: WriteKind,
    /// Whether Graph accepted it.
    pub result: Result<(), GraphError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_drop_stale_and_repeated_updates() {
        let mut f = SequenceFilter::default();
        assert!(f.accept("ann", Some("00000000000000000010")));
        assert!(!f.accept("ann", Some("00000000000000000010")), "repeat");
        assert!(!f.accept("ann", Some("00000000000000000009")), "older");
        assert!(f.accept("ann", Some("00000000000000000011")));
        assert!(!f.accept("ann", None), "no number after a numbered one");
        assert!(f.accept("bob", None), "first sight without a number");
        assert!(f.accept("bob", Some("1")));
    }

    #[test]
    fn poll_rate_stays_under_graphs_limit() {
        assert!(PollRate::DEFAULT.per_30s() < GRAPH_PRESENCE_LIMIT_PER_30S);
        assert_eq!(PollRate::DEFAULT.spacing(), Duration::from_millis(100));
        assert!(PollRate::new(0).is_err());
        let e = PollRate::new(1_501).unwrap_err();
        assert!(e.contains("1 to 1500"), "{e}");
        assert_eq!(PollRate::new(30).unwrap().spacing(), Duration::from_secs(1));
    }

    #[test]
    fn unknown_values_read_as_unknown() {
        let p = read_pair(Some("Busy"), Some("InANewKindOfThing"));
        assert_eq!(p.availability, Availability::Busy);
        assert_eq!(p.activity, Activity::PresenceUnknown);
        assert_eq!(
            read_pair(None, None).availability,
            Availability::PresenceUnknown
        );
    }
}
