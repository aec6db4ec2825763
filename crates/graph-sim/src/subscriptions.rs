//! Change notifications (webhooks) as Graph sends them: `/subscriptions` with Graph's
//! validation handshake, per-resource rules (change types, lifetimes, permissions, quotas),
//! renewal and reauthorization, delivery of `changeNotificationCollection` POSTs with retries
//! and back-off, and lifecycle events. Other services call [`Subscriptions::publish`] after
//! every change; [`delivery`] does the rest in the background.

pub mod delivery;
mod handlers;
pub mod resource;

use crate::state::{AppState, SimState};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use resource::{Family, Target};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{OnceLock, Weak};

/// What kind of change happened (Graph's `changeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// An entity was created.
    Created,
    /// An entity was updated (for users/groups also creation and soft deletion).
    Updated,
    /// An entity was deleted.
    Deleted,
}

/// One change to the tenant that subscriptions may be told about.
#[derive(Debug, Clone)]
pub struct Change {
    /// The entity's resource path relative to the Graph root, in Graph's notification form:
    /// `Users/{id}`, `Groups/{id}`, `Users/{uid}/Contacts/{cid}` (with `ContactFolders/{fid}/`
    /// between when in a folder), `communications/presences/{id}`, `contacts/{id}` (org).
    pub resource: String,
    /// The changed entity's id.
    pub id: String,
    /// The user whose mailbox holds the entity (contacts), or whose presence changed.
    pub user_id: Option<String>,
    /// The folder holding a contact.
    pub folder_id: Option<String>,
    /// `#microsoft.graph.user`, `#Microsoft.Graph.Contact`, `#Microsoft.Graph.presence`, …
    pub odata_type: String,
    /// Created, updated or deleted.
    pub change_type: ChangeType,
}

/// Delivery counters of one subscription (shown by `GET /_sim/subscriptions`).
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Change notifications the receiver accepted.
    pub delivered: u64,
    /// POSTs (notifications or lifecycle events) that failed or timed out.
    pub failed_attempts: u64,
    /// Notifications given up after the retry horizon.
    pub dropped: u64,
    /// Lifecycle events the receiver accepted.
    pub lifecycle_delivered: u64,
    /// POSTs answered after more than 2,900 ms (Graph counts them as slow).
    pub slow: u64,
}

/// One subscription, with what Graph shows of it and the emulator's bookkeeping.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Subscription id (GUID).
    pub id: String,
    /// `resource` as given at creation.
    pub resource: String,
    /// The parsed resource (ids resolved).
    pub target: Target,
    /// `changeType` as given (comma list).
    pub change_type: String,
    /// `clientState`, echoed in notifications.
    pub client_state: Option<String>,
    /// `notificationUrl`.
    pub notification_url: String,
    /// `lifecycleNotificationUrl`.
    pub lifecycle_notification_url: Option<String>,
    /// `expirationDateTime` (emulated clock).
    pub expiration: DateTime<Utc>,
    /// `applicationId`: the app that created it.
    pub application_id: String,
    /// `creatorId`: the signed-in user, or the app's service principal.
    pub creator_id: String,
    /// The signed-in user for delegated subscriptions.
    pub delegated_user: Option<String>,
    /// `latestSupportedTlsVersion`.
    pub latest_supported_tls_version: String,
    /// The tenant (`tenantId` in notifications).
    pub tenant_id: String,
    /// When the access token the subscription was created or reauthorized with expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Whether `reauthorizationRequired` was sent and not yet answered by `reauthorize`.
    pub reauthorization_sent: bool,
    /// Delivery counters.
    pub stats: Stats,
}

/// Graph's `DateTimeOffset` form with 7 fractional digits, as subscriptions show it.
pub fn offset_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos().min(999_999_999) / 100
    )
}

impl Subscription {
    /// The subscription entity with exactly the properties Graph declares.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": offset_time(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": false,
            "latestSupportedTlsVersion": self.latest_supported_tls_version,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }

    /// Whether the subscription still exists at `now`.
    pub fn alive(&self, now: DateTime<Utc>) -> bool {
        now < self.expiration
    }

    /// The resource family.
    pub fn family(&self) -> Family {
        self.target.family()
    }

    fn wants(&self, change: &Change) -> bool {
        let name = resource::change_type_name(change.change_type);
        self.change_type
            .split(',')
            .any(|c| c.trim().eq_ignore_ascii_case(name))
            && self.target.matches(change)
    }

    /// A change notification about `change` for this subscription.
    fn notification(&self, change: &Change) -> Value {
        // Presence notifications point at the user's presence (DC changenotifications-for-presence.md).
        let odata_id = match change.resource.strip_prefix("communications/presences/") {
            Some(user) => format!("users/{user}/presence"),
            None => change.resource.clone(),
        };
        json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": offset_time(self.expiration),
            "clientState": self.client_state,
            "changeType": resource::change_type_name(change.change_type),
            "resource": change.resource,
            "tenantId": self.tenant_id,
            "resourceData": {
                "@odata.type": change.odata_type,
                "@odata.id": odata_id,
                "id": change.id,
            },
        })
    }

    /// A lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`, `missed`).
    pub fn lifecycle(&self, event: &str) -> Value {
        json!({
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": offset_time(self.expiration),
            "tenantId": self.tenant_id,
            "clientState": self.client_state,
            "lifecycleEvent": event,
        })
    }
}

/// What a queued POST carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A change notification, to `notificationUrl`.
    Change,
    /// A lifecycle event, to `lifecycleNotificationUrl`.
    Lifecycle,
}

/// One notification waiting for delivery (or a retry).
#[derive(Debug, Clone)]
pub struct Pending {
    /// Subscription id.
    pub sub_id: String,
    /// Change or lifecycle.
    pub kind: Kind,
    /// Where to POST.
    pub url: String,
    /// The `changeNotification` object.
    pub item: Value,
    /// When it was first queued (emulated clock); retries stop after the horizon.
    pub first_at: DateTime<Utc>,
    /// Not before this time (emulated clock).
    pub next_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: u32,
}

#[derive(Debug, Default)]
struct Inner {
    subs: BTreeMap<String, Subscription>,
    queue: Vec<Pending>,
    in_flight: HashMap<String, usize>,
}

/// Subscriptions and their delivery queue.
#[derive(Debug, Default)]
pub struct Subscriptions {
    inner: Mutex<Inner>,
    wake: tokio::sync::Notify,
    state: OnceLock<Weak<SimState>>,
    client: OnceLock<reqwest::Client>,
    /// Last presence published per user id, `(availability, activity)`: lets requests and the
    /// presence ticker publish each change of a user's shown presence exactly once.
    pub presence_shown: Mutex<HashMap<String, (String, String)>>,
}

impl Subscriptions {
    /// Tells every matching subscription about `change` (delivery happens in the background).
    pub fn publish(&self, change: Change) {
        let now = self.now();
        let mut inner = self.inner.lock();
        let mut items: Vec<Pending> = inner
            .subs
            .values()
            .filter(|s| s.alive(now) && s.wants(&change))
            .map(|s| Pending {
                sub_id: s.id.clone(),
                kind: Kind::Change,
                url: s.notification_url.clone(),
                item: s.notification(&change),
                first_at: now,
                next_at: now,
                attempts: 0,
            })
            .collect();
        if items.is_empty() {
            return;
        }
        inner.queue.append(&mut items);
        drop(inner);
        self.wake.notify_one();
    }

    /// Queues a lifecycle event for `sub_id` (no-op without a `lifecycleNotificationUrl`).
    /// Returns whether it was queued.
    pub fn queue_lifecycle(&self, sub_id: &str, event: &str) -> bool {
        let now = self.now();
        let mut inner = self.inner.lock();
        let Some(s) = inner.subs.get(sub_id) else {
            return false;
        };
        let Some(url) = s.lifecycle_notification_url.clone() else {
            return false;
        };
        let item = s.lifecycle(event);
        inner.queue.push(Pending {
            sub_id: sub_id.to_string(),
            kind: Kind::Lifecycle,
            url,
            item,
            first_at: now,
            next_at: now,
            attempts: 0,
        });
        drop(inner);
        self.wake.notify_one();
        true
    }

    /// The emulated time (the wall clock until the workers are running).
    fn now(&self) -> DateTime<Utc> {
        self.state
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.clock.now())
            .unwrap_or_else(Utc::now)
    }

    /// The HTTP client for validation and delivery (10 s timeout, no redirects).
    pub fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default()
            })
            .clone()
    }

    /// Runs `f` on the subscription table.
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Subscription>) -> T) -> T {
        f(&mut self.inner.lock().subs)
    }

    /// A copy of one subscription.
    pub fn get(&self, id: &str) -> Option<Subscription> {
        self.inner.lock().subs.get(id).cloned()
    }

    /// Copies of all subscriptions (including expired ones not yet purged).
    pub fn all(&self) -> Vec<Subscription> {
        self.inner.lock().subs.values().cloned().collect()
    }

    /// Notifications queued or in flight for `sub_id`.
    pub fn pending(&self, sub_id: &str) -> usize {
        let inner = self.inner.lock();
        inner.queue.iter().filter(|p| p.sub_id == sub_id).count()
            + inner.in_flight.get(sub_id).copied().unwrap_or(0)
    }
}

/// Routes of this service (Graph and `/_sim`).
pub fn routes() -> axum::Router<AppState> {
    handlers::routes()
}

/// Background tasks: notification delivery, lifecycle checks, and the presence ticker.
pub fn spawn_workers(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let _ = state
        .subscriptions
        .state
        .set(std::sync::Arc::downgrade(&state));
    vec![
        delivery::spawn(state.clone()),
        crate::presence::spawn_ticker(state),
    ]
}
