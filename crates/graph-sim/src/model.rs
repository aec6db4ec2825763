//! The tenant's data as Graph models it, in the JSON shapes Graph uses.
//!
//! Each entity serialises (camelCase, `null` for unset) to exactly the properties Graph
//! declares for it in its v1.0 schema; fields that are the emulator's own bookkeeping are
//! `#[serde(skip)]`. The same types are the `--tenant FILE` schema (see `tenant_file`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `assignedLicense` complex type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// Disabled service plan ids.
    #[serde(default)]
    pub disabled_plans: Vec<String>,
    /// SKU id (GUID).
    pub sku_id: String,
}

/// `onPremisesExtensionAttributes` complex type (extensionAttribute1…15).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ExtensionAttributes {
    pub extension_attribute1: Option<String>,
    pub extension_attribute2: Option<String>,
    pub extension_attribute3: Option<String>,
    pub extension_attribute4: Option<String>,
    pub extension_attribute5: Option<String>,
    pub extension_attribute6: Option<String>,
    pub extension_attribute7: Option<String>,
    pub extension_attribute8: Option<String>,
    pub extension_attribute9: Option<String>,
    pub extension_attribute10: Option<String>,
    pub extension_attribute11: Option<String>,
    pub extension_attribute12: Option<String>,
    pub extension_attribute13: Option<String>,
    pub extension_attribute14: Option<String>,
    pub extension_attribute15: Option<String>,
}

/// What kind of Exchange Online mailbox a user object has, if any.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum MailboxKind {
    /// No Exchange Online mailbox (no licence, guest): Outlook calls answer 404.
    None,
    /// A user's own mailbox.
    #[default]
    User,
    /// A shared mailbox (a disabled user object).
    Shared,
    /// A room mailbox.
    Room,
    /// An equipment mailbox.
    Equipment,
}

/// A user's profile photo (metadata plus bytes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    /// MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Pixel size (square).
    pub size: u32,
    /// The `@odata.mediaEtag` value (quoted, as Graph sends it).
    pub etag: String,
    /// The image bytes, base64 in a tenant file.
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// `microsoft.graph.user`, the properties pbx365 and its tests touch (all declared in v1.0).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct User {
    pub id: String,
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    pub city: Option<String>,
    pub company_name: Option<String>,
    pub country: Option<String>,
    pub created_date_time: Option<String>,
    pub creation_type: Option<String>,
    pub deleted_date_time: Option<String>,
    pub department: Option<String>,
    pub display_name: Option<String>,
    pub employee_id: Option<String>,
    pub employee_type: Option<String>,
    pub external_user_state: Option<String>,
    pub fax_number: Option<String>,
    pub given_name: Option<String>,
    #[serde(default)]
    pub im_addresses: Vec<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub mobile_phone: Option<String>,
    pub office_location: Option<String>,
    #[serde(default)]
    pub on_premises_extension_attributes: ExtensionAttributes,
    pub on_premises_immutable_id: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub other_mails: Vec<String>,
    pub postal_code: Option<String>,
    pub preferred_language: Option<String>,
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
    pub show_in_address_list: Option<bool>,
    pub state: Option<String>,
    pub street_address: Option<String>,
    pub surname: Option<String>,
    pub usage_location: Option<String>,
    pub user_principal_name: Option<String>,
    pub user_type: Option<String>,
    /// Emulator: which mailbox the user has (drives Outlook 404s). Not a Graph property.
    #[serde(skip_serializing, default)]
    pub mailbox: MailboxKind,
    /// Emulator: the profile photo. Not a Graph property (a navigation in Graph).
    #[serde(skip_serializing, default)]
    pub photo: Option<Photo>,
}

/// The properties `GET /users` returns when no `$select` is given (Graph's default set).
pub const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// `microsoft.graph.group`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Group {
    pub id: String,
    pub created_date_time: Option<String>,
    pub deleted_date_time: Option<String>,
    pub description: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub group_types: Vec<String>,
    pub mail: Option<String>,
    pub mail_enabled: Option<bool>,
    pub mail_nickname: Option<String>,
    pub security_enabled: Option<bool>,
    pub visibility: Option<String>,
    /// Emulator: direct member ids (users, groups, org contacts). A navigation in Graph.
    #[serde(skip_serializing, default)]
    pub members: BTreeSet<String>,
}

/// The `phone` complex type (`{number, type, region, language}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Phone {
    pub number: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub region: Option<String>,
    pub language: Option<String>,
}

/// The `physicalOfficeAddress` complex type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PhysicalOfficeAddress {
    pub city: Option<String>,
    pub country_or_region: Option<String>,
    pub office_location: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    pub street: Option<String>,
}

/// `microsoft.graph.orgContact` (an Exchange mail contact in the directory).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct OrgContact {
    pub id: String,
    #[serde(default)]
    pub addresses: Vec<PhysicalOfficeAddress>,
    pub company_name: Option<String>,
    pub deleted_date_time: Option<String>,
    pub department: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub on_premises_last_sync_date_time: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
    pub surname: Option<String>,
}

/// The `emailAddress` complex type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// The `physicalAddress` complex type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PhysicalAddress {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country_or_region: Option<String>,
    pub postal_code: Option<String>,
}

/// `microsoft.graph.contact` (a personal Outlook contact).
///
/// The properties most contacts set are fields; the rarely set ones live out of line in
/// [`ContactMore`], which costs one pointer when empty: a million contacts fit in memory.
/// The JSON form is the same either way (every declared property, `null` when unset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Contact {
    pub id: String,
    pub created_date_time: Option<String>,
    pub last_modified_date_time: Option<String>,
    pub change_key: Option<String>,
    pub parent_folder_id: Option<String>,
    pub file_as: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub home_phones: Vec<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    /// The rarely set properties (serialised inline).
    #[serde(flatten)]
    pub more: ContactMore,
    /// Emulator: folder moves as (version, folder left), oldest first. Regular Outlook ids and
    /// per-folder delta depend on where the contact was; not a Graph property.
    #[serde(skip_serializing, default)]
    pub folder_moves: Vec<(u64, String)>,
}

/// The contact properties few contacts set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ContactRare {
    #[serde(default)]
    pub categories: Vec<String>,
    pub birthday: Option<String>,
    pub initials: Option<String>,
    pub middle_name: Option<String>,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub yomi_given_name: Option<String>,
    pub yomi_surname: Option<String>,
    pub yomi_company_name: Option<String>,
    pub generation: Option<String>,
    #[serde(default)]
    pub im_addresses: Vec<String>,
    pub department: Option<String>,
    pub office_location: Option<String>,
    pub profession: Option<String>,
    pub business_home_page: Option<String>,
    pub assistant_name: Option<String>,
    pub manager: Option<String>,
    pub spouse_name: Option<String>,
    pub personal_notes: Option<String>,
    #[serde(default)]
    pub children: Vec<String>,
    #[serde(default)]
    pub home_address: PhysicalAddress,
    #[serde(default)]
    pub business_address: PhysicalAddress,
    #[serde(default)]
    pub other_address: PhysicalAddress,
}

/// [`ContactRare`] out of line: `None` when every rare property is unset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactMore(pub Option<Box<ContactRare>>);

impl ContactMore {
    /// The rare properties (all unset when none were stored).
    pub fn get(&self) -> std::borrow::Cow<'_, ContactRare> {
        match &self.0 {
            Some(b) => std::borrow::Cow::Borrowed(b),
            None => std::borrow::Cow::Owned(ContactRare::default()),
        }
    }
}

impl Serialize for ContactMore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(b) => b.serialize(s),
            None => ContactRare::default().serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ContactMore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rare = ContactRare::deserialize(d)?;
        Ok(if rare == ContactRare::default() {
            ContactMore(None)
        } else {
            ContactMore(Some(Box::new(rare)))
        })
    }
}

/// `microsoft.graph.contactFolder`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ContactFolder {
    pub id: String,
    pub display_name: Option<String>,
    pub parent_folder_id: Option<String>,
}

/// A calendar block that `getSchedule` reports (`busy`, `tentative`, `oof`, `workingElsewhere`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CalendarBlock {
    /// Start, UTC, `YYYY-MM-DDTHH:MM:SS`.
    pub start: String,
    /// End, UTC.
    pub end: String,
    /// `free` | `tentative` | `busy` | `oof` | `workingElsewhere`.
    pub status: String,
    /// Subject shown in `scheduleItems` (when the caller may see it).
    #[serde(default)]
    pub subject: Option<String>,
}

/// `automaticRepliesSetting` in mailbox settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticReplies {
    /// `disabled` | `alwaysEnabled` | `scheduled`.
    pub status: String,
    /// `none` | `contactsOnly` | `all`.
    #[serde(default)]
    pub external_audience: String,
    /// Scheduled start (UTC), when `scheduled`.
    #[serde(default)]
    pub scheduled_start: Option<String>,
    /// Scheduled end (UTC), when `scheduled`.
    #[serde(default)]
    pub scheduled_end: Option<String>,
    /// Internal reply text.
    #[serde(default)]
    pub internal_reply_message: String,
    /// External reply text.
    #[serde(default)]
    pub external_reply_message: String,
}

/// An app registration (plus its service principal and consent state) in the tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    /// Client secrets.
    #[serde(default)]
    pub secrets: Vec<AppSecret>,
    /// Registered certificates (PEM), for `client_assertion`.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Application permissions (app roles) the app asks for, by name, e.g. `User.Read.All`.
    #[serde(default)]
    pub app_roles: BTreeSet<String>,
    /// Delegated permissions (scopes) the app asks for.
    #[serde(default)]
    pub delegated_scopes: BTreeSet<String>,
    /// Whether a tenant admin has granted consent. Without it tokens carry no `roles`.
    #[serde(default)]
    pub admin_consented: bool,
    /// Whether public client flows (device code) are allowed.
    #[serde(default)]
    pub allow_public_client: bool,
    /// Registered redirect URIs (authorization code, admin consent).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Exchange application access policy: when set, only these mailbox owners (user ids or
    /// UPNs) are reachable with application permissions; others answer 403 `ErrorAccessDenied`.
    #[serde(default)]
    pub mailbox_scope: Option<BTreeSet<String>>,
}

/// A client secret: its value and when it expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppSecret {
    /// Secret id (what admins sometimes paste by mistake: AADSTS7000215).
    pub key_id: String,
    /// The secret value.
    pub value: String,
    /// Expiry (RFC 3339); AADSTS7000222 after it.
    pub end_date_time: String,
}

/// A presence session set by an application through `setPresence`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PresenceSession {
    /// The session id (the app's client id; or `teams-client` for an emulated Teams client).
    pub session_id: String,
    /// Availability as set.
    pub availability: String,
    /// Activity as set.
    pub activity: String,
    /// When it was set or last refreshed (emulated time, RFC 3339).
    pub set_at: String,
    /// When it expires (emulated time, RFC 3339).
    pub expires_at: String,
}

/// A user's preferred presence (`setUserPreferredPresence`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PreferredPresence {
    /// Availability.
    pub availability: String,
    /// Activity.
    pub activity: String,
    /// Expiry (emulated time, RFC 3339).
    pub expires_at: String,
}

/// Everything presence-related the emulator keeps for one user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PresenceState {
    /// Active sessions (apps and emulated Teams clients).
    #[serde(default)]
    pub sessions: Vec<PresenceSession>,
    /// User-preferred presence, if any.
    #[serde(default)]
    pub preferred: Option<PreferredPresence>,
    /// Whether Outlook out-of-office is on (shown in `outOfOfficeSettings`).
    #[serde(default)]
    pub out_of_office: bool,
    /// Out-of-office message.
    #[serde(default)]
    pub out_of_office_message: Option<String>,
    /// Monotonic counter behind `sequenceNumber`.
    #[serde(default)]
    pub sequence: u64,
}

/// All contacts data of one mailbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MailboxData {
    /// Id of the default Contacts folder (not listed by `contactFolders`).
    pub default_folder_id: String,
    /// Id of the mailbox root folder (parent of the default Contacts folder).
    pub root_folder_id: String,
    /// Contact folders (children of the default folder and their children).
    #[serde(default)]
    pub folders: Vec<ContactFolder>,
    /// Contacts in any folder.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Calendar blocks for `getSchedule`.
    #[serde(default)]
    pub calendar: Vec<CalendarBlock>,
    /// Automatic replies.
    #[serde(default)]
    pub automatic_replies: AutomaticReplies,
}

/// Map of user id → value; a named alias to keep signatures short.
pub type ByUser<T> = BTreeMap<String, T>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_json_is_the_same_whether_rare_properties_are_stored_or_not() {
        let plain = Contact {
            id: "a".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&plain).unwrap();
        let keys = v.as_object().unwrap().len();
        assert!(v.get("birthday").is_some_and(|b| b.is_null()));
        assert!(v["homeAddress"].is_object());
        assert!(v.get("folderMoves").is_none());
        let mut rich = plain.clone();
        rich.more = ContactMore(Some(Box::new(ContactRare {
            nick_name: Some("Bob".into()),
            ..Default::default()
        })));
        let w = serde_json::to_value(&rich).unwrap();
        assert_eq!(w.as_object().unwrap().len(), keys);
        assert_eq!(w["nickName"], "Bob");
        let back: Contact = serde_json::from_value(w).unwrap();
        assert_eq!(back, rich);
        let back_plain: Contact = serde_json::from_value(v).unwrap();
        assert_eq!(
            back_plain.more,
            ContactMore(None),
            "all-unset stays out of line"
        );
    }
}
