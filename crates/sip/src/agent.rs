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

use crate::dialog_info::DialogInfo;
use crate::digest::Credentials;
use crate::header::{NameAddr, SubscriptionState};
use crate::message::{CSeq, Method, Response};
use crate::pidf::Presence;
use crate::state::{EventPackage, PbxState};
use crate::transport::{lock, Incoming, Timers, TransportKind};
use crate::ua::{valid_extension, CallLeg, SipError, UaConfig, UserAgent};

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

enum PubCmd {
    Update(Presence, oneshot::Sender<Result<Published, SipError>>),
    Refresh(oneshot::Sender<Result<Published, SipError>>),
    Remove(oneshot::Sender<Result<(), SipError>>),
}

enum SubCmd {
    Stop(oneshot::Sender<Result<(), SipError>>),
}

type DialogMap =
    Arc<Mutex<HashMap<(String, String), mpsc::UnboundedSender<crate::message::Request>>>>;

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

impl Drop for PresenceAgent {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

impl PresenceAgent {
    /// Opens the socket and starts answering NOTIFYs; events arrive on the receiver.
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
    /// server would otherwise keep them until they expire). Returns the first error.
    pub async fn shutdown(&self) -> Result<(), SipError> {
        let extensions: Vec<String> = lock(&self.publications).keys().cloned().collect();
        let subscriptions: Vec<(String, EventPackage)> =
            lock(&self.subscriptions).keys().cloned().collect();
        let mut result = Ok(());
        for ext in extensions {
            let r = self.unpublish(&ext).await;
            if result.is_ok() {
                result = r;
            }
        }
        for (ext, package) in subscriptions {
            let r = self.unsubscribe(&ext, package).await;
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

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
    }
}

fn min_expires(r: &Response) -> Option<u32> {
    r.headers
        .get("Min-Expires")
        .and_then(|v| v.trim().parse().ok())
}

struct Publication {
    leg: CallLeg,
    etag: Option<String>,
    expires: u32,
    presence: Option<Presence>,
}

impl Shared {
    fn emit(&self, e: AgentEvent) {
        let _ = self.events.send(e);
    }

    /// One PUBLISH exchange with the body (`with_body`) or as a refresh, handling 423 and
    /// 412; returns the accepted publication or the failure.
    async fn publish_once(
        &self,
        extension: &str,
        p: &mut Publication,
        with_body: bool,
    ) -> Result<Published, SipError> {
        let mut recovered = false;
        let mut with_body = with_body || p.etag.is_none() || self.config.refresh_with_body;
        for _ in 0..4 {
            let mut headers = vec![
                ("Event", "presence".to_string()),
                ("Expires", p.expires.to_string()),
            ];
            if let Some(etag) = &p.etag {
                headers.push(("SIP-If-Match", etag.clone()));
            }
            let body = match (&p.presence, with_body) {
                (Some(presence), true) => Some(presence.to_pidf(&p.leg.uri)),
                _ => None,
            };
            let resp = self
                .ua
                .request(
                    &mut p.leg,
                    Method::Publish,
                    &headers,
                    body.as_deref()
                        .map(|b| ("application/pidf+xml", b.as_bytes())),
                )
                .await?;
            match resp.status {
                200..=299 => {
                    let etag = resp
                        .headers
                        .get("SIP-ETag")
                        .ok_or(SipError::Protocol {
                            method: "PUBLISH".into(),
                            what: "SIP-ETag",
                        })?
                        .to_string();
                    let expires = resp
                        .headers
                        .get("Expires")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(p.expires);
                    p.etag = Some(etag.clone());
                    self.emit(AgentEvent::Published {
                        extension: extension.to_string(),
                        etag: etag.clone(),
                        expires,
                        recovered,
                    });
                    return Ok(Published { etag, expires });
                }
                412 => {
                    // the server lost our publication (expired, restarted): start afresh
                    tracing::info!(extension, "PUBLISH got 412; publishing afresh");
                    p.etag = None;
                    with_body = true;
                    recovered = true;
                }
                423 => match min_expires(&resp) {
                    Some(min) if min > p.expires => p.expires = min,
                    _ => return Err(rejected("PUBLISH", &p.leg.uri, &resp)),
                },
                _ => return Err(rejected("PUBLISH", &p.leg.uri, &resp)),
            }
        }
        Err(SipError::Protocol {
            method: "PUBLISH".into(),
            what: "an acceptable answer after 412/423 retries",
        })
    }
}

async fn run_publication(
    shared: Arc<Shared>,
    extension: String,
    mut cmds: mpsc::UnboundedReceiver<PubCmd>,
) {
    let aor = shared.ua.aor(&extension);
    let mut p = Publication {
        leg: CallLeg::new(&aor),
        etag: None,
        expires: shared.config.publish_expires,
        presence: None,
    };
    // when to refresh next (None: nothing published yet)
    let mut next: Option<tokio::time::Instant> = None;
    let mut failures = 0u32;
    loop {
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (result, reply) = tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(PubCmd::Update(presence, reply)) => {
                    p.presence = Some(presence);
                    (shared.publish_once(&extension, &mut p, true).await, Some(reply))
                }
                Some(PubCmd::Refresh(reply)) => (shared.publish_once(&extension, &mut p, false).await, Some(reply)),
                Some(PubCmd::Remove(reply)) => {
                    let r = remove_publication(&shared, &mut p).await;
                    let _ = reply.send(r);
                    return;
                }
            },
            _ = sleep => (shared.publish_once(&extension, &mut p, false).await, None),
        };
        match &result {
            Ok(published) => {
                failures = 0;
                next = Some(tokio::time::Instant::now() + refresh_delay(published.expires));
            }
            Err(e) => {
                let retrying = !permanent(e);
                shared.emit(AgentEvent::PublishFailed {
                    extension: extension.clone(),
                    error: e.to_string(),
                    retrying,
                });
                if !retrying {
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                    return;
                }
                // keep the etag: if the server lost the publication the retry meets 412
                // and publishes afresh; if not, no duplicate publication is created
                next =
                    Some(tokio::time::Instant::now() + backoff(failures, shared.config.max_retry));
                failures += 1;
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

async fn remove_publication(shared: &Shared, p: &mut Publication) -> Result<(), SipError> {
    let Some(etag) = p.etag.clone() else {
        return Ok(());
    };
    let headers = [
        ("Event", "presence".to_string()),
        ("Expires", "0".to_string()),
        ("SIP-If-Match", etag),
    ];
    let resp = shared
        .ua
        .request(&mut p.leg, Method::Publish, &headers, None)
        .await?;
    match resp.status {
        // 412: already gone
        200..=299 | 412 => Ok(()),
        _ => Err(rejected("PUBLISH", &p.leg.uri, &resp)),
    }
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

/// Removes the dialog's NOTIFY route when a subscription attempt ends.
struct DialogGuard {
    dialogs: DialogMap,
    key: (String, String),
}

impl Drop for DialogGuard {
    fn drop(&mut self) {
        lock(&self.dialogs).remove(&self.key);
    }
}

enum SubEnd {
    /// Subscribe again after this long.
    Retry(Duration, String),
    /// Stop for good.
    Stop(String),
    /// Unsubscribed on request.
    Done,
}

async fn run_subscription(
    shared: Arc<Shared>,
    extension: String,
    package: EventPackage,
    mut cmds: mpsc::UnboundedReceiver<SubCmd>,
    first: oneshot::Sender<Result<u32, SipError>>,
) {
    let mut first = Some(first);
    let mut failures = 0u32;
    loop {
        let end = subscribe_dialog(
            &shared,
            &extension,
            package,
            &mut cmds,
            &mut first,
            &mut failures,
        )
        .await;
        let (wait, reason) = match end {
            SubEnd::Done => return,
            SubEnd::Stop(reason) => {
                shared.emit(AgentEvent::SubscriptionLost {
                    extension: extension.clone(),
                    package,
                    reason,
                    retrying: false,
                });
                return;
            }
            SubEnd::Retry(wait, reason) => (wait, reason),
        };
        shared.emit(AgentEvent::SubscriptionLost {
            extension: extension.clone(),
            package,
            reason,
            retrying: true,
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            cmd = cmds.recv() => match cmd {
                Some(SubCmd::Stop(reply)) => { let _ = reply.send(Ok(())); return; }
                None => return,
            },
        }
    }
}

/// One subscription dialog from the initial SUBSCRIBE to its end.
async fn subscribe_dialog(
    shared: &Shared,
    extension: &str,
    package: EventPackage,
    cmds: &mut mpsc::UnboundedReceiver<SubCmd>,
    first: &mut Option<oneshot::Sender<Result<u32, SipError>>>,
    failures: &mut u32,
) -> SubEnd {
    let max_retry = shared.config.max_retry;
    let mut leg = CallLeg::new(&shared.ua.aor(extension));
    let (notify_tx, mut notifies) = mpsc::unbounded_channel();
    let key = (leg.call_id.clone(), leg.local_tag.clone());
    lock(&shared.dialogs).insert(key.clone(), notify_tx);
    let _guard = DialogGuard {
        dialogs: shared.dialogs.clone(),
        key,
    };
    let mut expires = shared.config.subscribe_expires;
    let result = send_subscribe(shared, &mut leg, package, &mut expires, true).await;
    let report_first = |first: &mut Option<oneshot::Sender<Result<u32, SipError>>>,
                        r: Result<u32, SipError>| {
        if let Some(tx) = first.take() {
            let _ = tx.send(r);
        }
    };
    let granted = match result {
        Ok(granted) => granted,
        Err(e) => {
            let reason = e.to_string();
            let stop = permanent(&e);
            report_first(first, Err(e));
            *failures += 1;
            return if stop {
                SubEnd::Stop(reason)
            } else {
                SubEnd::Retry(backoff(*failures - 1, max_retry), reason)
            };
        }
    };
    *failures = 0;
    report_first(first, Ok(granted));
    shared.emit(AgentEvent::Subscribed {
        extension: extension.to_string(),
        package,
        expires: granted,
    });
    let mut refresh_at = tokio::time::Instant::now() + refresh_delay(granted);
    let mut last_cseq: Option<u32> = None;
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let reply = cmd.map(|SubCmd::Stop(reply)| reply);
                let mut zero = 0;
                let r = send_subscribe(shared, &mut leg, package, &mut zero, false).await.map(|_| ());
                if let Some(reply) = reply { let _ = reply.send(r); }
                return SubEnd::Done;
            }
            _ = tokio::time::sleep_until(refresh_at) => {
                match send_subscribe(shared, &mut leg, package, &mut expires, false).await {
                    Ok(granted) => {
                        shared.emit(AgentEvent::Subscribed { extension: extension.to_string(), package, expires: granted });
                        refresh_at = tokio::time::Instant::now() + refresh_delay(granted);
                    }
                    // 481 (server forgot the dialog, e.g. restarted), time-out, …: new dialog
                    Err(e) if permanent(&e) => return SubEnd::Stop(e.to_string()),
                    Err(e) => return SubEnd::Retry(Duration::ZERO, format!("refresh failed: {e}")),
                }
            }
            notify = notifies.recv() => {
                let Some(notify) = notify else { return SubEnd::Retry(Duration::ZERO, "NOTIFY route closed".into()) };
                // retransmissions and reordered NOTIFYs carry an old CSeq
                let cseq = notify.cseq().map(|c: CSeq| c.seq);
                if let (Some(c), Some(last)) = (cseq, last_cseq) {
                    if c <= last { continue; }
                }
                last_cseq = cseq.or(last_cseq);
                if let Some(contact) = notify.headers.get("Contact").and_then(|v| NameAddr::parse(v).ok()) {
                    leg.uri = contact.uri;
                }
                let body = notify.body_text();
                let state = match package {
                    EventPackage::Presence => Presence::parse(&body).map(|p| p.pbx_state()),
                    EventPackage::Dialog => DialogInfo::parse(&body).map(|d| d.pbx_state()),
                };
                match state {
                    Ok(state) => shared.emit(AgentEvent::State { extension: extension.to_string(), package, state }),
                    Err(e) => tracing::warn!(extension, error = %e, "unreadable NOTIFY body ignored"),
                }
                match notify.headers.get("Subscription-State").map(SubscriptionState::parse) {
                    Some(Ok(SubscriptionState::Terminated { reason, retry_after })) => {
                        let why = format!("terminated by the server ({})", reason.as_deref().unwrap_or("no reason"));
                        return match reason.as_deref() {
                            Some("rejected" | "noresource" | "invariant") => SubEnd::Stop(why),
                            _ => SubEnd::Retry(Duration::from_secs(u64::from(retry_after.unwrap_or(0))), why),
                        };
                    }
                    Some(Ok(SubscriptionState::Active { expires: Some(e) } | SubscriptionState::Pending { expires: Some(e) })) => {
                        // the notifier may shorten the subscription
                        let at = tokio::time::Instant::now() + refresh_delay(e);
                        if at < refresh_at { refresh_at = at; }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Sends SUBSCRIBE (initial: out of dialog, establishing it; otherwise a refresh or, with
/// `expires == 0`, the end) and returns the granted expiry; handles 423 once.
async fn send_subscribe(
    shared: &Shared,
    leg: &mut CallLeg,
    package: EventPackage,
    expires: &mut u32,
    initial: bool,
) -> Result<u32, SipError> {
    for _ in 0..2 {
        let headers = [
            ("Event", package.as_str().to_string()),
            ("Expires", expires.to_string()),
            ("Accept", package.content_type().to_string()),
        ];
        let resp = shared
            .ua
            .request(leg, Method::Subscribe, &headers, None)
            .await?;
        match resp.status {
            200..=299 => {
                if initial {
                    if let Some(to) = resp.headers.get("To") {
                        leg.to = to.to_string();
                    }
                    if let Some(contact) = resp
                        .headers
                        .get("Contact")
                        .and_then(|v| NameAddr::parse(v).ok())
                    {
                        // in-dialog requests go to the remote target (the Contact of the 2xx)
                        leg.uri = contact.uri;
                    }
                    leg.route = resp
                        .headers
                        .get_all("Record-Route")
                        .map(str::to_string)
                        .collect();
                    leg.route.reverse();
                }
                return Ok(resp
                    .headers
                    .get("Expires")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(*expires));
            }
            423 => match min_expires(&resp) {
                Some(min) if min > *expires => *expires = min,
                _ => return Err(rejected("SUBSCRIBE", &leg.uri, &resp)),
            },
            _ => return Err(rejected("SUBSCRIBE", &leg.uri, &resp)),
        }
    }
    Err(SipError::Protocol {
        method: "SUBSCRIBE".into(),
        what: "an acceptable answer after 423",
    })
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
        assert_eq!(
            backoff(30, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }
}
