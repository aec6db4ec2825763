//! The `--tenant FILE` format: a whole tenant as JSON, so a test can state exactly the tenant
//! it needs. `GET /_sim/tenant` answers in the same format. Users carry their mailbox
//! (folders, contacts, calendar) and presence inline.
//!
//! ```json
//! {
//!   "tenantId": "…guid…", "domain": "contoso.onmicrosoft.com", "displayName": "Contoso",
//!   "apps": [{"clientId": "…", "displayName": "pbx365", "secrets": [{"keyId": "…",
//!             "value": "…", "endDateTime": "2099-01-01T00:00:00Z"}],
//!             "appRoles": ["User.Read.All"], "adminConsented": true}],
//!   "users": [{"id": "…", "displayName": "Ann Lee", "userPrincipalName": "ann@contoso.com",
//!              "mailbox": "user", "mailboxData": {"defaultFolderId": "…", "rootFolderId": "…",
//!              "folders": [], "contacts": []}}],
//!   "groups": [{"id": "…", "displayName": "Sales", "members": ["…user id…"]}],
//!   "orgContacts": [{"id": "…", "displayName": "Supplier", "phones": []}]
//! }
//! ```

use crate::model::{App, Group, MailboxData, OrgContact, PresenceState, User};
use serde::{Deserialize, Serialize};

/// A user plus the emulator data that hangs off it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// The user (Graph properties, plus `mailbox` kind and `photo`).
    #[serde(flatten)]
    pub user: UserWithInternals,
    /// Mailbox contents (only for users with a mailbox; created empty when absent).
    #[serde(default)]
    pub mailbox_data: Option<MailboxData>,
    /// Presence sessions and preferences.
    #[serde(default)]
    pub presence: Option<PresenceState>,
}

/// A user including the fields the Graph JSON form skips (mailbox kind, photo).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserWithInternals {
    /// Graph properties.
    #[serde(flatten)]
    pub user: User,
    /// Mailbox kind (`none`, `user`, `shared`, `room`, `equipment`).
    #[serde(default)]
    pub mailbox: crate::model::MailboxKind,
    /// Profile photo.
    #[serde(default)]
    pub photo: Option<crate::model::Photo>,
}

/// A group including its members.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// Graph properties.
    #[serde(flatten)]
    pub group: Group,
    /// Direct member ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A whole tenant.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TenantFile {
    /// Tenant id (GUID).
    pub tenant_id: String,
    /// Initial domain.
    pub domain: String,
    /// Organisation name.
    #[serde(default)]
    pub display_name: String,
    /// App registrations.
    #[serde(default)]
    pub apps: Vec<App>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserRecord>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<GroupRecord>,
    /// Org contacts.
    #[serde(default)]
    pub org_contacts: Vec<OrgContact>,
}

impl TenantFile {
    /// Checks references and ids, naming the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        if uuid::Uuid::parse_str(&self.tenant_id).is_err() {
            return Err(format!(
                "tenantId '{}' is not a GUID; Entra tenant ids look like 72f988bf-86f1-41af-91ab-2d7cd011db47",
                self.tenant_id
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for u in &self.users {
            if u.user.user.id.is_empty() || !ids.insert(u.user.user.id.clone()) {
                return Err(format!(
                    "user id '{}' is empty or used twice; every user needs a unique id",
                    u.user.user.id
                ));
            }
        }
        for g in &self.groups {
            if g.group.id.is_empty() || !ids.insert(g.group.id.clone()) {
                return Err(format!("group id '{}' is empty or used twice", g.group.id));
            }
        }
        for c in &self.org_contacts {
            if c.id.is_empty() || !ids.insert(c.id.clone()) {
                return Err(format!("org contact id '{}' is empty or used twice", c.id));
            }
        }
        for g in &self.groups {
            for m in &g.members {
                if !ids.contains(m) {
                    return Err(format!(
                        "group '{}' lists member '{m}', which is no user, group or org contact of this tenant",
                        g.group.id
                    ));
                }
            }
        }
        for a in &self.apps {
            if a.client_id.is_empty() {
                return Err("an app has an empty clientId".into());
            }
        }
        Ok(())
    }
}
