//! The status snapshot the bridge keeps per user and writes to a small JSON state file, which
//! `pbx365 presence status` reads: each side's state, the last change and who caused it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One side of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideStatus {
    /// The state as shown (`Busy/InACall`, `on_call`).
    pub state: String,
    /// `external` (a person or device on that side) or `bridge` (the bridge's own write).
    pub origin: String,
    /// How many changes were seen on this side.
    pub version: u64,
    /// When it was seen, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Everything `presence status` shows for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStatus {
    /// Entra object id.
    pub user_id: String,
    /// The user's extension.
    pub extension: String,
    /// What Teams shows, once seen.
    pub teams: Option<SideStatus>,
    /// What the PBX shows, once seen.
    pub pbx: Option<SideStatus>,
    /// What the bridge's own Teams session shows (`none` when it has none).
    pub bridge_teams: String,
    /// What the bridge publishes for the extension (`none` when nothing).
    pub bridge_pbx: String,
    /// Whether the bridge watches the extension (its SIP subscriptions were accepted).
    #[serde(default)]
    pub watching: bool,
    /// When the flap detector latched this user (bridging frozen), if it did.
    pub latched_at_ms: Option<u64>,
    /// An alert that stays until an admin acts (the flap latch), if any.
    pub alert: Option<String>,
    /// The last error bridging this user met, if any.
    pub last_error: Option<String>,
}

impl UserStatus {
    /// The side that changed last: `("teams" | "pbx", its status)`.
    pub fn last_change(&self) -> Option<(&'static str, &SideStatus)> {
        match (&self.teams, &self.pbx) {
            (Some(t), Some(p)) if p.at_ms > t.at_ms => Some(("pbx", p)),
            (Some(t), _) => Some(("teams", t)),
            (None, Some(p)) => Some(("pbx", p)),
            (None, None) => None,
        }
    }
}

/// The whole snapshot of one site's bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// The site.
    pub site: String,
    /// When the snapshot was taken, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Per user, by user id.
    pub users: BTreeMap<String, UserStatus>,
    /// Site-wide alerts that stay until an admin acts (a presence reader's sign-in refused,
    /// too few reader accounts).
    #[serde(default)]
    pub alerts: Vec<String>,
    /// The live presence subscriptions: reader, subscription id, expiry (RFC 3339).
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionStatus>,
}

/// One live presence subscription, as `presence status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionStatus {
    /// The reader account's UPN.
    pub reader: String,
    /// Graph's subscription id.
    pub id: String,
    /// When it ends unless renewed (RFC 3339).
    pub expires: String,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The file could not be read or written.
    #[error("presence state file {path}: {source}; is the bridge running with this state file?")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a snapshot.
    #[error("presence state file {path} is not a status snapshot ({source}); delete it, the bridge writes it again")]
    Format {
        /// The file.
        path: String,
        /// What the parser said.
        source: serde_json::Error,
    },
}

impl StatusSnapshot {
    /// Writes the snapshot atomically (a temporary file renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<(), StatusError> {
        let io = |source| StatusError::Io {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| StatusError::Format {
            path: path.display().to_string(),
            source: e,
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a snapshot written by [`StatusSnapshot::save`].
    pub fn load(path: &Path) -> Result<StatusSnapshot, StatusError> {
        let text = std::fs::read(path).map_err(|source| StatusError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| StatusError::Format {
            path: path.display().to_string(),
            source,
        })
    }

    /// The user whose id, or extension, is `key`.
    pub fn find(&self, key: &str) -> Option<&UserStatus> {
        self.users
            .get(key)
            .or_else(|| self.users.values().find(|u| u.extension == key))
    }
}
