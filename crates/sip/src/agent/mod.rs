//! The presence agent: publishes PIDF for extensions and subscribes to their presence and
//! dialog state, keeping both alive (refresh before expiry, recovery after 412, 423,
//! terminated subscriptions, time-outs and server restarts). State changes and failures
//! come out as [`AgentEvent`]s on a channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::digest::Credentials;
use crate::header::NameAddr;
use crate::message::{Method, Response};
use crate::pidf::Presence;
use crate::state::{EventPackage, PbxState};
use crate::transport::{lock, Incoming, Timers, TlsSettings, TransportKind};
use crate::ua::{valid_extension, SipError, UaConfig, UserAgent};

mod publication;
mod subscription;

use publication::{run_publication, PubCmd};
use subscription::{run_subscription, DialogMap, SubCmd};

/// Settings of a [`PresenceAgent`].
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Account, server and socket.
    pub ua: UaConfig,
    /// `Expires` asked for in PUBLISH, seconds.
    pub publish_expires: u32,
    /// `Expires` asked for in SUBSCRIBE, seconds.
    pub subscribe_expires: u32,
    /// Longest wait between retries after failures (they back off from 1 s up to this).
    pub max_retry: Duration,
    /// Send the document again with every refresh PUBLISH (still with `SIP-If-Match`).
    /// Kamailio 5.6 with `publ_cache=2` notifies watchers with an empty body after a
    /// body-less refresh (logging "Empty notify body record"), which reads as "no presence".
    pub refresh_with_body: bool,
}

impl AgentConfig {
    /// Defaults: UDP, bind any port on the loopback interface, 600 s publications and
    /// subscriptions, RFC 3261 timers, retries backing off up to 60 s, refreshes with body.
    pub fn new(
        server: SocketAddr,
        domain: impl Into<String>,
        credentials: Credentials,
    ) -> AgentConfig {
        AgentConfig {
            ua: UaConfig {
                server,
                domain: domain.into(),
                credentials,
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                timers: Timers::default(),
                transport: TransportKind::Udp,
                tls: TlsSettings::default(),
            },
            publish_expires: 600,
            subscribe_expires: 600,
            max_retry: Duration::from_secs(60),
            refresh_with_body: true,
        }
    }
}

/// What the agent reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A PUBLISH was accepted (initial, modification or refresh).
    Published {
        /// The extension published for.
        extension: String,
        /// The entity tag the server assigned.
        etag: String,
        /// Seconds the publication lasts.
        expires: u32,
        /// The server had lost the publication (412) and a fresh PUBLISH replaced it.
        recovered: bool,
    },
    /// Publishing failed; the agent retries unless the failure is permanent.
    PublishFailed {
        /// The extension.
        extension: String,
        /// What went wrong.
        error: String,
        /// Whether the agent keeps trying.
        retrying: bool,
    },
    /// A SUBSCRIBE (initial or refresh) was accepted.
    Subscribed {
        /// The extension watched.
        extension: String,
        /// Which package.
        package: EventPackage,
        /// Seconds the subscription lasts.
        expires: u32,
    },
    /// A NOTIFY told the extension's state.
    State {
        /// The extension.
        extension: String,
        /// Which package the NOTIFY belonged to.
        package: EventPackage,
        /// The state it carried.
        state: PbxState,
    },
    /// A subscription ended or failed; the agent subscribes again unless it is permanent.
    SubscriptionLost {
        /// The extension.
        extension: String,
        /// Which package.
        package: EventPackage,
        /// Why.
        reason: String,
        /// Whether the agent subscribes again.
        retrying: bool,
    },
}

/// A publication the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The entity tag for refreshes (`SIP-If-Match`).
    pub etag: String,
    /// Seconds granted.
    pub expires: u32,
}

/// Publishes and watches the presence of extensions as one SIP account.
#[derive(Debug)]
pub struct PresenceAgent {
    shared: Arc<Shared>,
    publications: Mutex<HashMap<String, mpsc::UnboundedSender<PubCmd>>>,
    subscriptions: Mutex<HashMap<(String, EventPackage), mpsc::UnboundedSender<SubCmd>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    ua: UserAgent,
    config: AgentConfig,
    events: mpsc::UnboundedSender<AgentEvent>,
    dialogs: DialogMap,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ua.fmt(f)
    }
}

impl Shared {
    fn emit(&self, e: AgentEvent) {
        let _ = self.events.send(e);
    }
}

impl Drop for PresenceAgent {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

impl PresenceAgent {
    /// Opens the socket and starts answering NOTIFYs; events arrive on the receiver, which
    /// is unbounded so that no SIP exchange waits for the consumer: keep reading it.
    pub async fn start(
        config: AgentConfig,
    ) -> Result<(PresenceAgent, mpsc::UnboundedReceiver<AgentEvent>), SipError> {
        let (ua, incoming) = UserAgent::new(config.ua.clone()).await?;
        let (events, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            ua,
            config,
            events,
            dialogs: Arc::default(),
        });
        let router = tokio::spawn(route_incoming(shared.clone(), incoming));
        Ok((
            PresenceAgent {
                shared,
                publications: Mutex::default(),
                subscriptions: Mutex::default(),
                tasks: Mutex::new(vec![router]),
            },
            rx,
        ))
    }

    /// The local SIP socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.ua.local_addr()
    }

    /// Publishes `presence` for `extension` (initially, or as a modification of the running
    /// publication) and keeps it refreshed. Returns the first attempt's outcome; after a
    /// transient failure (time-out, 5xx) the agent keeps retrying in the background, after
    /// a permanent one (403, 489, rejected credentials) it stops.
    pub async fn publish(
        &self,
        extension: &str,
        presence: Presence,
    ) -> Result<Published, SipError> {
        check(extension)?;
        let (tx, rx) = oneshot::channel();
        self.pub_handle(extension)
            .send(PubCmd::Update(presence, tx))
            .map_err(|_| SipError::Stopped)?;
        rx.await.map_err(|_| SipError::Stopped)?
    }

    /// Refreshes `extension`'s publication now (e.g. after the operator restarted the
    /// presence server); recovers with a fresh PUBLISH if the server lost it.
    pub async fn refresh(&self, extension: &str) -> Result<Published, SipError> {
        let handle = lock(&self.publications).get(extension).cloned();
        let handle = handle.ok_or_else(|| SipError::NotPublished(extension.to_string()))?;
        let (tx, rx) = oneshot::channel();
        handle
            .send(PubCmd::Refresh(tx))
            .map_err(|_| SipError::NotPublished(extension.to_string()))?;
        rx.await.map_err(|_| SipError::Stopped)?
    }

    /// Withdraws `extension`'s publication (`Expires: 0`).
    pub async fn unpublish(&self, extension: &str) -> Result<(), SipError> {
        let handle = lock(&self.publications).remove(extension);
        let Some(handle) = handle else { return Ok(()) };
        let (tx, rx) = oneshot::channel();
        // a task that already ended (permanent failure) has nothing published
        if handle.send(PubCmd::Remove(tx)).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    fn pub_handle(&self, extension: &str) -> mpsc::UnboundedSender<PubCmd> {
        let mut pubs = lock(&self.publications);
        if let Some(h) = pubs.get(extension).filter(|h| !h.is_closed()) {
            return h.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_publication(
            self.shared.clone(),
            extension.to_string(),
            rx,
        ));
        lock(&self.tasks).push(task);
        pubs.insert(extension.to_string(), tx.clone());
        tx
    }

    /// Subscribes to `package` for `extension` and keeps the subscription alive; states
    /// arrive as [`AgentEvent::State`]. Returns the first SUBSCRIBE's outcome (the granted
    /// expiry); after a transient failure the agent keeps trying in the background, after a
    /// permanent one (403, 404, 489, rejected credentials) it stops.
    /// Subscribing again while the subscription runs returns the configured expiry at once.
    pub async fn subscribe(&self, extension: &str, package: EventPackage) -> Result<u32, SipError> {
        check(extension)?;
        let key = (extension.to_string(), package);
        if lock(&self.subscriptions)
            .get(&key)
            .is_some_and(|h| !h.is_closed())
        {
            return Ok(self.shared.config.subscribe_expires);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (first_tx, first_rx) = oneshot::channel();
        let task = tokio::spawn(run_subscription(
            self.shared.clone(),
            extension.to_string(),
            package,
            rx,
            first_tx,
        ));
        lock(&self.tasks).push(task);
        lock(&self.subscriptions).insert(key, tx);
        first_rx.await.map_err(|_| SipError::Stopped)?
    }

    /// Ends a subscription (`Expires: 0`).
    pub async fn unsubscribe(
        &self,
        extension: &str,
        package: EventPackage,
    ) -> Result<(), SipError> {
        let handle = lock(&self.subscriptions).remove(&(extension.to_string(), package));
        let Some(handle) = handle else { return Ok(()) };
        let (tx, rx) = oneshot::channel();
        if handle.send(SubCmd::Stop(tx)).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    /// Withdraws every publication and ends every subscription, for a clean stop (the
    /// server would otherwise keep them until they expire), [`SHUTDOWN_IN_FLIGHT`] at a
    /// time: one after the other, a few thousand extensions over a real network would outlast
    /// a service manager's stop time-out. Returns the first error.
    pub async fn shutdown(&self) -> Result<(), SipError> {
        use futures_util::stream::{self, StreamExt};
        let extensions: Vec<String> = lock(&self.publications).keys().cloned().collect();
        let subscriptions: Vec<(String, EventPackage)> =
            lock(&self.subscriptions).keys().cloned().collect();
        // Owned items and `async move` blocks: futures borrowing the items through a closure
        // would not be `Send` for every lifetime, which a spawned caller needs.
        let unpublished: Vec<Result<(), SipError>> = stream::iter(extensions)
            .map(|ext| async move { self.unpublish(&ext).await })
            .buffer_unordered(SHUTDOWN_IN_FLIGHT)
            .collect()
            .await;
        let unsubscribed: Vec<Result<(), SipError>> = stream::iter(subscriptions)
            .map(|(ext, package)| async move { self.unsubscribe(&ext, package).await })
            .buffer_unordered(SHUTDOWN_IN_FLIGHT)
            .collect()
            .await;
        unpublished
            .into_iter()
            .chain(unsubscribed)
            .find(Result::is_err)
            .unwrap_or(Ok(()))
    }
}

/// How many withdrawals and unsubscriptions [`PresenceAgent::shutdown`] has in flight at once.
pub const SHUTDOWN_IN_FLIGHT: usize = 64;

fn check(extension: &str) -> Result<(), SipError> {
    if valid_extension(extension) {
        Ok(())
    } else {
        Err(SipError::InvalidExtension(extension.to_string()))
    }
}

/// When to refresh something granted for `expires` seconds: a margin before expiry large
/// enough for a few retransmissions.
pub fn refresh_delay(expires: u32) -> Duration {
    let secs = if expires > 60 {
        expires - 30
    } else {
        expires.saturating_mul(3) / 4
    };
    Duration::from_secs(u64::from(secs.max(1)))
}

fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << attempt.min(10)).min(max)
}

/// The longest `Retry-After` honoured: a server asking for more is waited on for this long,
/// then tried again (a bridge that stayed away for a day would look broken).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How long to wait before the `attempt`-th retry after `e`: the exponential back-off, or
/// longer when the server's `Retry-After` asked for more (an overloaded server answering 503
/// is not hammered sooner than it said).
fn retry_wait(e: &SipError, attempt: u32, max: Duration) -> Duration {
    let own = backoff(attempt, max);
    match e {
        SipError::Rejected {
            retry_after: Some(secs),
            ..
        } => own.max(Duration::from_secs(u64::from(*secs)).min(MAX_RETRY_AFTER)),
        _ => own,
    }
}

/// The delta-seconds of a response's `Retry-After` (`120`, `120 (in a meeting)`,
/// `18000;duration=3600`); `None` when absent or unreadable.
fn retry_after(r: &Response) -> Option<u32> {
    let value = r.headers.get("Retry-After")?.trim_start();
    let end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

/// Permanent failures: retrying the same request cannot succeed.
fn permanent(e: &SipError) -> bool {
    match e {
        SipError::AuthRejected { .. } | SipError::Digest(_) | SipError::Stopped => true,
        SipError::Rejected { status, .. } => matches!(status, 403 | 404 | 489),
        _ => false,
    }
}

fn rejected(method: &str, target: &str, r: &Response) -> SipError {
    SipError::Rejected {
        method: method.to_string(),
        target: target.to_string(),
        status: r.status,
        reason: r.reason.clone(),
        retry_after: retry_after(r),
    }
}

fn min_expires(r: &Response) -> Option<u32> {
    r.headers
        .get("Min-Expires")
        .and_then(|v| v.trim().parse().ok())
}

/// Answers every incoming request: NOTIFYs of known subscriptions get 200 and go to their
/// task, unknown ones 481; OPTIONS 200; anything else 405.
async fn route_incoming(shared: Arc<Shared>, mut incoming: mpsc::Receiver<Incoming>) {
    while let Some(Incoming { request, source }) = incoming.recv().await {
        let (status, reason) = match request.method {
            Method::Notify => {
                let to_tag = request
                    .headers
                    .get("To")
                    .and_then(|v| NameAddr::parse(v).ok())
                    .and_then(|n| n.tag().map(str::to_string));
                let key = request.call_id().map(str::to_string).zip(to_tag);
                let target = key.and_then(|k| lock(&shared.dialogs).get(&k).cloned());
                match target {
                    Some(tx) if tx.send(request.clone()).is_ok() => (200, "OK"),
                    _ => (481, "Subscription does not exist"),
                }
            }
            Method::Options => (200, "OK"),
            Method::Ack => continue,
            _ => (405, "Method Not Allowed"),
        };
        let mut resp = Response::to_request(&request, status, reason, None);
        if status == 405 {
            resp.headers.push("Allow", "NOTIFY, OPTIONS");
        }
        shared.ua.respond(&resp, source).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margins() {
        assert_eq!(refresh_delay(600), Duration::from_secs(570));
        assert_eq!(refresh_delay(60), Duration::from_secs(45));
        assert_eq!(refresh_delay(4), Duration::from_secs(3));
        assert_eq!(refresh_delay(0), Duration::from_secs(1));
        assert_eq!(backoff(0, Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(backoff(3, Duration::from_secs(60)), Duration::from_secs(8));
        let refused = |retry_after| SipError::Rejected {
            method: "SUBSCRIBE".into(),
            target: "sip:201@pbx".into(),
            status: 503,
            reason: "Service Unavailable".into(),
            retry_after,
        };
        let max = Duration::from_secs(60);
        assert_eq!(retry_wait(&refused(None), 0, max), Duration::from_secs(1));
        assert_eq!(
            retry_wait(&refused(Some(30)), 0, max),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_wait(&refused(Some(1)), 3, max),
            Duration::from_secs(8)
        );
        assert_eq!(
            retry_wait(&refused(Some(86_400)), 0, max),
            MAX_RETRY_AFTER,
            "capped"
        );
        assert_eq!(
            backoff(30, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }
}
