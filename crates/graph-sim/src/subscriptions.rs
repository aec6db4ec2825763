//! Change-notification subscriptions (to be filled in).

use crate::state::AppState;

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

/// Subscriptions and their delivery queue.
#[derive(Debug, Default)]
pub struct Subscriptions {}

impl Subscriptions {
    /// Tells every matching subscription about `change` (delivery happens in the background).
    pub fn publish(&self, change: Change) {
        let _ = change;
    }
}

/// Routes of this service.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
}

/// Background tasks (notification delivery).
pub fn spawn_workers(_state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    Vec::new()
}
