//! The emulator's whole state: the tenant's data (one lock, versioned collections), the clock,
//! the signing key, behaviour parameters, throttling, faults, the request log and the outbox.

use crate::clock::SimClock;
use crate::collection::Collection;
use crate::config::Behaviour;
use crate::faults::Faults;
use crate::jwt::SigningKey;
use crate::model::{App, Group, MailboxData, OrgContact, PresenceState, User};
use crate::opaque::TokenCodec;
use crate::reqlog::RequestLog;
use crate::throttle::Throttle;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

/// Shared handle given to every handler.
pub type AppState = Arc<SimState>;

/// The tenant's directory and mailbox data. Every mutation takes a new version from
/// [`TenantData::bump`], so delta tokens (versions) order all changes.
#[derive(Debug, Default)]
pub struct TenantData {
    /// Tenant id (GUID).
    pub tenant_id: String,
    /// Initial domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// Organisation display name.
    pub display_name: String,
    /// App registrations by client id.
    pub apps: BTreeMap<String, App>,
    /// Users (members, guests, shared/room/equipment mailboxes).
    pub users: Collection<User>,
    /// Groups (direct members inside each).
    pub groups: Collection<Group>,
    /// Group membership changes for `members@delta`: (version, group id, member id, added).
    pub member_changes: Vec<(u64, String, String, bool)>,
    /// Org contacts (`/contacts`).
    pub org_contacts: Collection<OrgContact>,
    /// Mailbox contents by user id (only users with a mailbox).
    pub mailboxes: HashMap<String, Mailbox>,
    /// Presence by user id.
    pub presence: HashMap<String, PresenceState>,
    /// Last version handed out.
    pub version: u64,
}

/// One mailbox's folders and contacts as versioned collections, plus calendar data.
#[derive(Debug, Default)]
pub struct Mailbox {
    /// Id of the default Contacts folder.
    pub default_folder_id: String,
    /// Id of the mailbox root (parent of the default folder).
    pub root_folder_id: String,
    /// Folders below the default Contacts folder (any depth).
    pub folders: Collection<crate::model::ContactFolder>,
    /// Contacts in any folder (`parentFolderId` says which).
    pub contacts: Collection<crate::model::Contact>,
    /// Calendar blocks and automatic replies.
    pub calendar: Vec<crate::model::CalendarBlock>,
    /// Automatic replies setting.
    pub automatic_replies: crate::model::AutomaticReplies,
    /// Version at which the mailbox's sync state was last reset (`/_sim/…/reset-sync-state`):
    /// delta tokens issued before it answer 410.
    pub sync_reset_at: u64,
}

impl Mailbox {
    /// Builds the versioned form from tenant-file data (all at version 0).
    pub fn from_data(d: MailboxData) -> Mailbox {
        let mut m = Mailbox {
            default_folder_id: d.default_folder_id,
            root_folder_id: d.root_folder_id,
            calendar: d.calendar,
            automatic_replies: d.automatic_replies,
            ..Default::default()
        };
        for f in d.folders {
            m.folders.insert(f, 0);
        }
        for c in d.contacts {
            m.contacts.insert(c, 0);
        }
        m.folders.shrink_to_fit();
        m.contacts.shrink_to_fit();
        m
    }

    /// Back to the tenant-file form (live items only).
    pub fn to_data(&self) -> MailboxData {
        MailboxData {
            default_folder_id: self.default_folder_id.clone(),
            root_folder_id: self.root_folder_id.clone(),
            folders: self.folders.live().cloned().collect(),
            contacts: self.contacts.live().cloned().collect(),
            calendar: self.calendar.clone(),
            automatic_replies: self.automatic_replies.clone(),
        }
    }
}

impl TenantData {
    /// Takes the next version number for a change.
    pub fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Finds a live user by id or userPrincipalName (case-insensitive), as Graph resolves
    /// `/users/{id | userPrincipalName}`.
    pub fn find_user(&self, key: &str) -> Option<&User> {
        if let Some(u) = self.users.get(key) {
            return Some(u);
        }
        self.users.live().find(|u| {
            u.user_principal_name
                .as_deref()
                .is_some_and(|upn| upn.eq_ignore_ascii_case(key))
        })
    }
}

/// A mail accepted by `sendMail`, kept for tests to read through `/_sim/outbox`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMail {
    /// Sender (user id or UPN as addressed).
    pub from: String,
    /// The `message` object as posted.
    pub message: Value,
    /// `saveToSentItems`.
    pub save_to_sent_items: bool,
    /// Emulated time it was accepted.
    pub accepted_at: String,
}

/// Everything the emulator holds.
pub struct SimState {
    /// The tenant.
    pub tenant: RwLock<TenantData>,
    /// Emulated time.
    pub clock: SimClock,
    /// Token signing key.
    pub signing_key: SigningKey,
    /// Access tokens whose signature verified, with their `exp` (see `Caller::from_token`).
    pub verified_tokens: Mutex<HashMap<String, (crate::caller::Caller, i64)>>,
    /// Codec for skip and delta tokens.
    pub tokens: TokenCodec,
    /// Behaviour parameters.
    pub behaviour: RwLock<Behaviour>,
    /// Throttling state.
    pub throttle: Throttle,
    /// Injected faults.
    pub faults: RwLock<Faults>,
    /// Request counts.
    pub reqlog: RequestLog,
    /// Mails accepted by sendMail.
    pub outbox: Mutex<Vec<SentMail>>,
    /// The key that authenticates `/_sim` calls.
    pub admin_key: String,
    /// Entra-side state: device codes, refresh tokens, authorization codes, used `jti`s.
    pub entra: Mutex<crate::entra::EntraState>,
    /// Change-notification subscriptions and their delivery queue.
    pub subscriptions: crate::subscriptions::Subscriptions,
    /// The complete router, for `$batch` to dispatch inner requests through.
    pub router: OnceLock<axum::Router>,
    /// Set once the listeners know their addresses (for issuer URLs and links).
    pub endpoints: OnceLock<Endpoints>,
}

/// Where the emulator listens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoints {
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `https://127.0.0.1:PORT`
    pub https: Option<String>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState").finish_non_exhaustive()
    }
}
