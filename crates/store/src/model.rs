//! What goes into the store and comes out of it, beyond the domain types of `directory`.

use chrono::{DateTime, Utc};
use directory::{ContactRecord, Extension, ExtensionNumber, PhoneNumber, PhonebookKind, SiteId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A site: one tenant connection plus its phone-system settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// The site's id.
    pub id: SiteId,
    /// A name for people.
    pub name: String,
    /// Tenant connection and phone-system settings (owned by the config layer; opaque here).
    pub settings: serde_json::Value,
}

/// Settings may hold secrets (a client secret): Debug shows their keys only.
impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = match &self.settings {
            serde_json::Value::Object(m) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        f.debug_struct("Site")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("settings_keys", &keys)
            .finish()
    }
}

/// A unit of delta sync with its own delta token: `users`, `org`,
/// `contacts:{user}:{folder}`, `shared:{mailbox}:{folder}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeKey(String);

impl TryFrom<String> for ScopeKey {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s).ok_or("a scope name is not empty")
    }
}

impl From<ScopeKey> for String {
    fn from(s: ScopeKey) -> String {
        s.0
    }
}

impl ScopeKey {
    /// The Entra users scope (→ extensions).
    pub fn users() -> Self {
        Self("users".into())
    }

    /// The Exchange org contacts scope (→ company directory).
    pub fn org() -> Self {
        Self("org".into())
    }

    /// One folder of a user's personal contacts.
    pub fn contacts(user_id: &str, folder_id: &str) -> Self {
        Self(format!("contacts:{user_id}:{folder_id}"))
    }

    /// One folder of a shared mailbox's contacts.
    pub fn shared(mailbox: &str, folder_id: &str) -> Self {
        Self(format!("shared:{mailbox}:{folder_id}"))
    }

    /// The prefix of every scope of one user's personal contacts (for [`crate::Store::invalidate_scopes`]).
    pub fn contacts_prefix(user_id: &str) -> String {
        format!("contacts:{user_id}:")
    }

    /// Any other scope name; `None` when empty.
    pub fn new(s: impl Into<String>) -> Option<Self> {
        let s = s.into();
        (!s.is_empty()).then_some(Self(s))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One created or updated record of a scope.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeUpsert {
    /// A contact, stored under the commit's scope.
    Contact(ContactRecord),
    /// An extension's fields (its number must already be allocated to that user).
    Extension(Extension),
}

/// Something a scope saw disappear; recorded as pending, applied by [`crate::Store::apply_pending`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "target", content = "id", rename_all = "snake_case")]
pub enum Deletion {
    /// The contact with this source id in the commit's scope.
    Contact(String),
    /// The extension of this user (applying it releases the number).
    Extension(String),
}

/// Everything one scope of a job changed, written in one transaction with its new delta token.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeCommit {
    /// The site.
    pub site: SiteId,
    /// The job writing it (pending deletions belong to it).
    pub job: JobId,
    /// The scope.
    pub scope: ScopeKey,
    /// Creates and updates, applied at once.
    pub upserts: Vec<ScopeUpsert>,
    /// Deletions, recorded as pending.
    pub deletions: Vec<Deletion>,
    /// The scope's new delta token (`None` keeps the stored one).
    pub delta_token: Option<String>,
}

/// A deletion waiting for its job to succeed and the mass-deletion guard to pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeletion {
    /// The job that saw it.
    pub job: JobId,
    /// The scope it was seen in.
    pub scope: ScopeKey,
    /// What goes.
    pub target: Deletion,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// How many pending deletions were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppliedDeletions {
    /// Contacts deleted.
    pub contacts: u64,
    /// Extensions released.
    pub extensions: u64,
}

/// How extension numbers are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationRule {
    /// The lowest number to give (raised to the first number with `length` digits).
    pub first_number: u64,
    /// Digits per number (1–15).
    pub length: u8,
    /// How long a freed number is not handed out again.
    pub quarantine: chrono::Duration,
}

impl AllocationRule {
    /// The inclusive range of numbers the rule allows, or why it allows none.
    pub fn range(&self) -> Result<(u64, u64), String> {
        if !(1..=15).contains(&self.length) {
            return Err(format!("length {} is not 1-15 digits", self.length));
        }
        let hi = 10u64.pow(u32::from(self.length)) - 1;
        let lo = self
            .first_number
            .max(10u64.pow(u32::from(self.length) - 1))
            .max(1);
        if lo > hi {
            return Err(format!(
                "first number {} has more than {} digits",
                self.first_number, self.length
            ));
        }
        Ok((lo, hi))
    }
}

/// A job's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub uuid::Uuid);

impl JobId {
    /// A new random id.
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }

            /// Reads a stored name back.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What started a job.
    JobTrigger {
        /// The scheduler's interval.
        Schedule = "schedule",
        /// A person ("sync now", CLI).
        Manual = "manual",
        /// A Graph change notification.
        Notification = "notification",
        /// Start-up of the service.
        Startup = "startup",
    }
);

text_enum!(
    /// What a job does.
    JobKind {
        /// Changes since the last delta tokens.
        Delta = "delta",
        /// Everything, from scratch.
        Full = "full",
        /// A full read that writes nothing, with verbose output.
        Diagnostic = "diagnostic",
        /// Photos → avatars: each extension's photo re-read where its etag changed.
        Photos = "photos",
    }
);

text_enum!(
    /// Where a job is.
    JobStatus {
        /// Still running (or its process died: no end time).
        Running = "running",
        /// Every scope succeeded.
        Succeeded = "succeeded",
        /// Something failed; see errors and the log.
        Failed = "failed",
    }
);

text_enum!(
    /// How a job ended.
    JobEnd {
        /// Every scope succeeded.
        Succeeded = "succeeded",
        /// Something failed.
        Failed = "failed",
    }
);

/// How a job ended, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// Succeeded or failed.
    pub status: JobEnd,
    /// Counts per kind, e.g. `{"extensions": {"created": 3}}`.
    pub counts: serde_json::Value,
    /// Graph requests made.
    pub requests: u64,
    /// Of them, answered 429.
    pub throttled: u64,
    /// Warnings.
    pub warnings: u64,
    /// Errors.
    pub errors: u64,
}

/// A job in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Its site.
    pub site: SiteId,
    /// What started it.
    pub trigger: JobTrigger,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub status: JobStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Counts per kind.
    pub counts: serde_json::Value,
    /// Graph requests made.
    pub requests: u64,
    /// Of them, answered 429.
    pub throttled: u64,
    /// Warnings.
    pub warnings: u64,
    /// Errors.
    pub errors: u64,
}

/// One line of a job's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLogLine {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The text.
    pub line: String,
}

/// A job with its output log, oldest line first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobWithLog {
    /// The job.
    pub job: Job,
    /// Its output.
    pub log: Vec<JobLogLine>,
}

/// Whose number a lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NumberOwner {
    /// A contact.
    Contact {
        /// Its phonebook.
        phonebook: PhonebookKind,
        /// The scope it was synced in.
        scope: ScopeKey,
        /// Its id at the source.
        source_id: String,
    },
    /// An extension.
    Extension {
        /// The user.
        user_id: String,
        /// The extension number.
        number: ExtensionNumber,
    },
}

/// One match of a lookup by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberHit {
    /// Whose number it is.
    pub owner: NumberOwner,
    /// The owner's display name.
    pub display_name: String,
    /// The number as stored.
    pub number: PhoneNumber,
}

/// What re-normalising a site's numbers did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenormaliseReport {
    /// Numbers looked at.
    pub checked: u64,
    /// Numbers whose E.164 form changed (appeared, changed or went away).
    pub changed: u64,
    /// Numbers that remain without an E.164 form.
    pub invalid: u64,
}

text_enum!(
    /// What kind of object a [`Change`] names.
    ChangeKind {
        /// A contact, by its store id ([`StoredContact::id`]).
        Contact = "contact",
        /// An extension, by its user's Graph object id.
        Extension = "extension",
    }
);

/// One entry of the change log: this object changed (was created, updated or deleted) in the
/// commit numbered `seq`. Readers fetch the object's current state; none means it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    /// The commit's position in the site's log (increasing in commit order).
    pub seq: u64,
    /// Contact or extension.
    pub kind: ChangeKind,
    /// The contact's store id or the extension's user id.
    pub id: String,
}

/// A contact with the store's own id for it (stable across re-syncs of the same source contact)
/// and the scope it was synced in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredContact {
    /// The store's id, which the change log names.
    pub id: String,
    /// The scope it came from.
    pub scope: ScopeKey,
    /// The contact.
    pub record: ContactRecord,
}

/// A credential's user name: 1–64 characters of letters, digits, `.`, `_`, `-` and `@`, so it
/// survives every phone's configuration screen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CredentialUsername(String);

/// Why a text is not a [`CredentialUsername`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "credential user name {0:?} is not 1-64 characters of letters, digits, '.', '_', '-' and '@'"
)]
pub struct CredentialUsernameError(pub String);

impl CredentialUsername {
    /// Checks and wraps a user name.
    pub fn new(s: impl Into<String>) -> Result<Self, CredentialUsernameError> {
        let s = s.into();
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
        if ok {
            Ok(Self(s))
        } else {
            Err(CredentialUsernameError(s))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CredentialUsername {
    type Error = CredentialUsernameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<CredentialUsername> for String {
    fn from(s: CredentialUsername) -> String {
        s.0
    }
}

impl fmt::Display for CredentialUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom a credential signs in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialOwner {
    /// One extension's user (sees their personal phonebook too).
    Extension {
        /// Graph object id of the user.
        user_id: String,
    },
    /// A group of phones sharing one credential.
    PhoneGroup {
        /// The group's name as configured.
        name: String,
    },
}

/// A credential just issued: the only time its secret is known (the store keeps a salted hash).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredential {
    /// The user name.
    pub username: CredentialUsername,
    /// Whom it signs in as.
    pub owner: CredentialOwner,
    /// The secret to configure on the phones; show it once, it cannot be read back.
    pub secret: String,
}

/// The secret never shows in logs.
impl fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("username", &self.username)
            .field("owner", &self.owner)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// A stored credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// The user name.
    pub username: CredentialUsername,
    /// Whom it signs in as.
    pub owner: CredentialOwner,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked credential signs in no one.
    pub revoked_at: Option<DateTime<Utc>>,
}
/// A user's photo as kept for phones and directories: the image bytes, their MIME type and
/// Graph's `@odata.mediaEtag` (which says whether the photo changed since).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Avatar {
    /// MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Graph's `@odata.mediaEtag` of the photo these bytes are.
    pub etag: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Avatar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes would flood logs: their length says enough.
        f.debug_struct("Avatar")
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A presence reader account of a site: a user signed in by device code whose delegated
/// tokens create presence subscriptions, with its refresh token sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceReader {
    /// The site.
    pub site: SiteId,
    /// The reader's Entra object id.
    pub reader_id: String,
    /// Its user principal name (for people).
    pub upn: String,
    /// The refresh token, sealed under the store key (context: [`PresenceReader::context`]).
    pub refresh_token: crate::sealing::Sealed,
    /// When it was first signed in.
    pub created_at: DateTime<Utc>,
    /// When its token was last replaced.
    pub updated_at: DateTime<Utc>,
    /// Why it stopped working (an `invalid_grant`, say), until it works again.
    pub last_error: Option<String>,
}

impl PresenceReader {
    /// What a reader's sealed token is bound to: moved to another row, it no longer opens.
    pub fn context(site: &SiteId, reader_id: &str) -> String {
        format!("pbx365 presence reader\0{site}\0{reader_id}")
    }
}
