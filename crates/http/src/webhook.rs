//! The receiver of Microsoft Graph change notifications (webhooks): `POST /graph/notifications`
//! and `POST /graph/lifecycle`.
//!
//! What Graph asks of a receiver (notes/graph.md §10), and how it is met here:
//! - the validation handshake — `?validationToken=…` answered 200 `text/plain` with the
//!   decoded token, at once;
//! - a 2xx within 3 s — the work goes on a bounded queue and the answer is 202 right away; a
//!   full queue answers 503, which makes Graph retry later;
//! - `clientState` checked — in constant time against the secrets of the live subscriptions;
//!   a wrong one is logged and the item ignored (still 202, as Graph expects);
//! - duplicates dropped — Graph retries and an attacker replays: a bounded set of recently
//!   seen items (subscription and notification id) drops the second copy; no item carries a
//!   state (the bridge reads it from Graph), so a replay could at most cause a read;
//! - bad input — a body over the size limit is 413, malformed JSON is 400 with the reason;
//!   nothing from the network can panic the receiver.
//!
//! It is HTTPS-ready behind a reverse proxy: it listens on plain HTTP on loopback and the proxy
//! terminates TLS for the public URL Graph posts to.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;

/// The path change notifications are posted to.
pub const NOTIFICATIONS_PATH: &str = "/graph/notifications";
/// The path lifecycle events are posted to.
pub const LIFECYCLE_PATH: &str = "/graph/lifecycle";

/// Limits of the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Largest body accepted (Graph batches up to 100 small notifications: well under 1 MiB).
    pub body_bytes: usize,
    /// Items waiting for the bridge at most; beyond, posts get 503 and Graph retries.
    pub queue: usize,
    /// Recently seen items remembered for dropping duplicates and replays.
    pub seen: usize,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            body_bytes: 1024 * 1024,
            queue: 10_000,
            seen: 50_000,
        }
    }
}

/// One accepted item, for the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A resource changed (`changeNotification`).
    Changed {
        /// The subscription that saw it.
        subscription_id: String,
        /// `resource`, e.g. `communications/presences/{user id}`.
        resource: String,
        /// `changeType`.
        change_type: String,
        /// `resourceData.id`, when sent.
        resource_id: Option<String>,
    },
    /// A lifecycle event (`reauthorizationRequired`, `subscriptionRemoved`, `missed`).
    Lifecycle {
        /// The subscription concerned.
        subscription_id: String,
        /// `lifecycleEvent`.
        event: String,
    },
}

/// The `clientState` secrets of the live subscriptions. The owner of the subscriptions adds
/// a secret before creating a subscription (its first notification may come before the 201)
/// and removes it when the subscription ends.
#[derive(Debug, Clone, Default)]
pub struct ClientStates {
    inner: Arc<RwLock<Vec<String>>>,
}

impl ClientStates {
    /// Accepts notifications carrying `secret`.
    pub fn add(&self, secret: &str) {
        let mut v = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if !v.iter().any(|s| s == secret) {
            v.push(secret.to_owned());
        }
    }

    /// Stops accepting `secret`.
    pub fn remove(&self, secret: &str) {
        let mut v = self.inner.write().unwrap_or_else(|p| p.into_inner());
        v.retain(|s| s != secret);
    }

    /// Whether `given` is one of the secrets; every secret is compared, each in constant
    /// time, so the answer's timing says nothing about which or how much matched.
    pub fn knows(&self, given: &str) -> bool {
        let v = self.inner.read().unwrap_or_else(|p| p.into_inner());
        v.iter().fold(false, |found, s| {
            constant_time_eq(s.as_bytes(), given.as_bytes()) | found
        })
    }
}

/// Compares two byte strings without an early exit (the length is not secret: every
/// `clientState` pbx365 makes has the same length).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A bounded set of recently seen keys (oldest forgotten first).
#[derive(Debug)]
struct Seen {
    keys: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl Seen {
    /// Records `key`; false when it was already there.
    fn insert(&mut self, key: [u8; 32]) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back(key);
        while self.order.len() > self.cap.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        true
    }
}

/// Counters of what the receiver did (for the status and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Items queued for the bridge.
    pub accepted: u64,
    /// Items with a wrong or missing `clientState`.
    pub forged: u64,
    /// Items seen before (Graph's retries, replays).
    pub duplicates: u64,
    /// Posts refused: malformed, too large, or the queue was full.
    pub rejected: u64,
}

/// The receiving end: clone it into the router; the bridge reads the events.
#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    states: ClientStates,
    queue: mpsc::Sender<WebhookEvent>,
    seen: Arc<Mutex<Seen>>,
    stats: Arc<Mutex<WebhookStats>>,
    limits: WebhookLimits,
}

impl WebhookReceiver {
    /// A receiver checking against `states`, and the queue its events come out of.
    pub fn new(
        states: ClientStates,
        limits: WebhookLimits,
    ) -> (WebhookReceiver, mpsc::Receiver<WebhookEvent>) {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let receiver = WebhookReceiver {
            states,
            queue: tx,
            seen: Arc::new(Mutex::new(Seen {
                keys: HashSet::new(),
                order: VecDeque::new(),
                cap: limits.seen,
            })),
            stats: Arc::new(Mutex::new(WebhookStats::default())),
            limits,
        };
        (receiver, rx)
    }

    /// What the receiver did so far.
    pub fn stats(&self) -> WebhookStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut WebhookStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

#[derive(Deserialize)]
struct ValidationQuery {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

#[derive(Deserialize)]
struct Collection {
    value: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: String,
    client_state: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    change_type: Option<String>,
    #[serde(default)]
    resource_data: Option<ResourceData>,
    #[serde(default)]
    lifecycle_event: Option<String>,
}

#[derive(Deserialize)]
struct ResourceData {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Change,
    Lifecycle,
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn notifications(
    State(r): State<WebhookReceiver>,
    Query(query): Query<ValidationQuery>,
    body: Bytes,
) -> Response {
    receive(r, query, body, Kind::Change).await
}

async fn lifecycle(
    State(r): State<WebhookReceiver>,
    Query(query): Query<ValidationQuery>,
    body: Bytes,
) -> Response {
    receive(r, query, body, Kind::Lifecycle).await
}

async fn receive(r: WebhookReceiver, query: ValidationQuery, body: Bytes, kind: Kind) -> Response {
    // The handshake: echo the (already URL-decoded) token as plain text.
    if let Some(token) = query.validation_token {
        return text(StatusCode::OK, token);
    }
    let collection: Collection = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            r.count(|s| s.rejected += 1);
            tracing::warn!("a Graph notification post was not a notification collection: {e}");
            return text(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"value\":[…]}} (a changeNotificationCollection): {e}"),
            );
        }
    };
    let mut events = Vec::new();
    for raw in collection.value {
        let key = item_key(&raw);
        let item: Item = match serde_json::from_value(raw) {
            Ok(i) => i,
            Err(e) => {
                r.count(|s| s.forged += 1);
                tracing::warn!("a Graph notification item was ignored: {e}");
                continue;
            }
        };
        if !item
            .client_state
            .as_deref()
            .is_some_and(|c| r.states.knows(c))
        {
            r.count(|s| s.forged += 1);
            tracing::warn!(
                subscription = %item.subscription_id,
                "a notification with a wrong or missing clientState was ignored (forged, or for a subscription that ended)"
            );
            continue;
        }
        let event = match kind {
            Kind::Change => WebhookEvent::Changed {
                subscription_id: item.subscription_id,
                resource: item.resource.unwrap_or_default(),
                change_type: item.change_type.unwrap_or_default(),
                resource_id: item.resource_data.and_then(|d| d.id),
            },
            Kind::Lifecycle => match item.lifecycle_event {
                Some(event) => WebhookEvent::Lifecycle {
                    subscription_id: item.subscription_id,
                    event,
                },
                None => {
                    r.count(|s| s.rejected += 1);
                    tracing::warn!("a lifecycle notification without lifecycleEvent was ignored");
                    continue;
                }
            },
        };
        events.push((key, event));
    }
    // Room for all of them, or none is taken and Graph retries the whole post.
    let mut permits = Vec::with_capacity(events.len());
    for _ in 0..events.len() {
        match r.queue.try_reserve() {
            Ok(p) => permits.push(p),
            Err(_) => {
                r.count(|s| s.rejected += 1);
                tracing::warn!("the notification queue is full; Graph is told to retry (503)");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy; retry later".to_owned(),
                );
            }
        }
    }
    for ((key, event), permit) in events.into_iter().zip(permits) {
        let fresh = key.is_none_or(|k| r.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(k));
        if !fresh {
            r.count(|s| s.duplicates += 1);
            tracing::debug!(?event, "a notification seen before was dropped");
            continue;
        }
        r.count(|s| s.accepted += 1);
        permit.send(event);
    }
    StatusCode::ACCEPTED.into_response()
}

/// What identifies an item: its subscription and notification id. Items without an id (a
/// lifecycle event) are not deduplicated: two genuine events can be identical, and since no
/// item carries state (the bridge reads the user's presence, or renews), a replayed one can
/// cost a read but never set a state.
fn item_key(raw: &serde_json::Value) -> Option<[u8; 32]> {
    let sub = raw.get("subscriptionId").and_then(|v| v.as_str())?;
    let id = raw.get("id").and_then(|v| v.as_str())?;
    let mut h = Sha256::new();
    h.update(sub.as_bytes());
    h.update(b"\0");
    h.update(id.as_bytes());
    Some(h.finalize().into())
}

/// Requests handled at once at most; more are answered 503 at once (Graph retries).
const CONCURRENCY: usize = 64;

/// Graph wants an answer within 3 s (10 s for the handshake); a request still running after
/// this (a client trickling its body) is cut off with 503.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn overloaded(err: tower::BoxError) -> Response {
    let why = if err.is::<tower::timeout::error::Elapsed>() {
        "timed out"
    } else {
        "busy"
    };
    tracing::warn!("a Graph notification post was refused: {why}");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{why}; retry later"),
    )
}

/// The receiver's routes ([`NOTIFICATIONS_PATH`], [`LIFECYCLE_PATH`]) with its limits: body
/// size (413), requests at once and time per request (503, which Graph retries).
pub fn router(receiver: WebhookReceiver) -> Router {
    let limit = receiver.limits.body_bytes;
    Router::new()
        .route(NOTIFICATIONS_PATH, post(notifications))
        .route(LIFECYCLE_PATH, post(lifecycle))
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(CONCURRENCY))
                .timeout(REQUEST_TIMEOUT),
        )
        .with_state(receiver)
}

/// Binds `listen` and serves [`router`] until `shutdown` completes.
pub async fn serve(
    listen: SocketAddr,
    receiver: WebhookReceiver,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<crate::ServerHandle, crate::ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| crate::ServeError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let app = router(receiver);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    tracing::info!(%addr, "Graph notification receiver listening");
    Ok(crate::server::ServerHandle::new(addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_compare_whole_secrets() {
        let s = ClientStates::default();
        s.add("abcdef");
        assert!(s.knows("abcdef"));
        assert!(!s.knows("abcdeg"));
        assert!(!s.knows("abcde"));
        assert!(!s.knows(""));
        s.remove("abcdef");
        assert!(!s.knows("abcdef"));
    }

    #[test]
    fn seen_is_bounded() {
        let mut seen = Seen {
            keys: HashSet::new(),
            order: VecDeque::new(),
            cap: 2,
        };
        assert!(seen.insert([1; 32]));
        assert!(!seen.insert([1; 32]));
        assert!(seen.insert([2; 32]));
        assert!(seen.insert([3; 32]));
        assert_eq!(seen.keys.len(), 2);
        assert!(seen.insert([1; 32]), "the oldest was forgotten");
    }
}
