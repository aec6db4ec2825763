//! The validated configuration. Values here have passed every check: constructing them outside
//! this crate is not possible (`#[non_exhaustive]`), so holding one means it is valid.

use crate::secret::Secret;
use directory::{DiallingPlan, DidBlock, ExtensionRange, NumberForm, Region};
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

/// Where pbx365 keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Store {
    /// `sqlite://FILE` (the default `sqlite://pbx365.db`) or `postgres://…`.
    pub url: String,
    /// The file holding the key secrets kept in the store are sealed with (presence readers'
    /// refresh tokens): 64 hexadecimal digits (`openssl rand -hex 32`). Not in the database, so
    /// a copy of the database alone reveals nothing; lose it and readers sign in again.
    pub key_file: Option<PathBuf>,
}

/// One Microsoft 365 tenant and the phone system it feeds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Site {
    /// Unique name (letters, digits, `-`, `_`); every stored row carries it.
    pub name: String,
    /// How to reach the tenant.
    pub tenant: Tenant,
    /// How numbers are dialled at this site.
    pub dialling: Dialling,
    /// Which Entra users become extensions.
    pub users: UserSelection,
    /// How extension numbers are allocated.
    pub extensions: Extensions,
    /// What happens to an extension whose user left the selection.
    pub deprovisioning: Deprovisioning,
    /// Safety limits on a sync job.
    pub guards: Guards,
    /// Which sources are read.
    pub sources: Sources,
    /// Shared mailboxes (UPNs, lower case) whose contacts feed the company phonebook.
    pub shared_mailboxes: Vec<String>,
    /// When user photos are refreshed.
    pub photos: Photos,
    /// Who may read the site's directory and whose fields win.
    pub directory: crate::serve::SiteDirectory,
    /// The presence bridge (`[site.presence]`), when configured.
    pub presence: Option<crate::presence_bridge::PresenceBridge>,
}

/// App-only access to one tenant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Tenant {
    /// The directory (tenant) id.
    pub tenant_id: Uuid,
    /// The app registration's application (client) id.
    pub client_id: Uuid,
    /// How the app proves who it is.
    pub credential: Credential,
    /// Entra's base URL, without trailing slash (`https://login.microsoftonline.com`).
    pub authority_url: String,
    /// Graph's base URL with version, without trailing slash (`https://graph.microsoft.com/v1.0`).
    pub graph_url: String,
    /// An extra CA to trust (the emulator's HTTPS), with its PEM text.
    pub ca: Option<CaFile>,
}

/// The app's credential: exactly one of a client secret or a certificate with its key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credential {
    /// A client secret (from `client_secret_file` or the `…__CLIENT_SECRET` variable).
    ClientSecret(Secret),
    /// A certificate registered on the app, and its private key.
    Certificate {
        /// The certificate, PEM.
        certificate_pem: String,
        /// The private key, PEM.
        private_key_pem: Secret,
    },
}

/// A CA certificate file to trust in addition to the system roots.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaFile {
    /// The file as resolved.
    pub path: PathBuf,
    /// Its PEM content.
    pub pem: String,
}

/// The site's dialling rules, which turn any number form into E.164 and back.
/// [`Dialling::plan`] gives the [`DiallingPlan`] the directory works with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dialling {
    /// ISO 3166-1 alpha-2 country code, upper case (`DE`).
    pub country: String,
    /// The same country as a checked [`Region`] (one with a known numbering plan).
    pub region: Region,
    /// Local area code without the national prefix (`30`), if the site dials locally.
    pub area_code: Option<String>,
    /// Digit(s) dialled to reach an outside line (`0`, `9`), if any.
    pub outside_line_prefix: Option<String>,
    /// International call prefix (default: the country's, `00`, `011` in NANP, `0011` in AU).
    pub international_prefix: String,
    /// National trunk prefix (default: the country's, `0`, `1` in NANP; empty where there is
    /// none, e.g. Italy or Spain).
    pub national_prefix: String,
    /// Digits in an internal extension (the same value as `extensions.length`).
    pub extension_length: u8,
    /// Every length an internal extension may have, ascending (default: `extension_length`).
    pub extension_lengths: Vec<u8>,
    /// Ranges internal extensions lie in; empty means any number of an allowed length.
    pub extension_ranges: Vec<ExtensionRange>,
    /// Which form of a number LDAP and XML phonebooks return (default: dialable).
    pub number_form: NumberForm,
    /// The company's direct-dial ranges.
    pub did_ranges: Vec<DidRange>,
}

impl Dialling {
    /// The dialling plan these settings describe, for parsing and formatting numbers.
    pub fn plan(&self) -> DiallingPlan {
        let mut plan = DiallingPlan::for_region(self.region);
        plan.area_code = self.area_code.clone();
        plan.outside_line_prefix = self.outside_line_prefix.clone();
        plan.international_prefix = self.international_prefix.clone();
        plan.national_prefix = self.national_prefix.clone();
        plan.extension_lengths = self.extension_lengths.clone();
        plan.extension_ranges = self.extension_ranges.clone();
        plan.did_blocks = self
            .did_ranges
            .iter()
            .map(|r| DidBlock {
                base: r.base.clone(),
                first: u64::from(r.first),
                last: u64::from(r.last),
                company: r.company.clone(),
            })
            .collect();
        plan
    }
}

/// A block of direct-dial numbers: the DID of extension `n` is `base` followed by `n`'s digits.
/// The base on its own is the company's main number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DidRange {
    /// E.164 prefix (`+49301234`).
    pub base: String,
    /// First extension in the range.
    pub first: u32,
    /// Last extension in the range (inclusive).
    pub last: u32,
    /// The company whose main number the base is (shown for numbers of the range that match
    /// no one).
    pub company: Option<String>,
}

/// Which Entra users become extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSelection {
    /// The base set: members of a group or holders of a licence.
    pub scope: UserScope,
    /// UPNs always included (lower case, sorted).
    pub include_upns: Vec<String>,
    /// UPNs never included (lower case, sorted).
    pub exclude_upns: Vec<String>,
    /// Groups whose names become departments.
    pub department_groups: Vec<Uuid>,
    /// Whether guest accounts may become extensions.
    pub guests: bool,
    /// Whether shared mailboxes may become extensions.
    pub include_shared_mailboxes: bool,
    /// Whether room mailboxes may become extensions.
    pub include_rooms: bool,
    /// Whether equipment mailboxes may become extensions.
    pub include_equipment: bool,
    /// Whether Teams resource accounts may become extensions.
    pub include_resource_accounts: bool,
    /// What a user disabled in Microsoft 365 means.
    pub disabled: DisabledUsers,
}

/// The base set of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserScope {
    /// Members (transitive) of this group.
    Group(Uuid),
    /// Users assigned this licence (SKU id).
    Licence(Uuid),
}

/// What a user whose account is disabled in Microsoft 365 becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledUsers {
    /// Not selected: the deprovisioning policy applies to their extension.
    Skip,
    /// Kept as a disabled extension (number reserved, cannot register).
    Disable,
}

/// Extension number allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// The first number handed out; it has `length` digits.
    pub first_number: u32,
    /// Digits per extension (2–8).
    pub length: u8,
    /// Days a freed number rests before it is handed out again.
    pub quarantine_days: u32,
}

/// What happens to the extension of a user removed (or disabled) in Microsoft 365.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deprovisioning {
    /// Disable the extension and keep it.
    Disable,
    /// Disable it now and delete it after this many days.
    DeleteAfterDays(u32),
    /// Leave it as it is.
    Keep,
}

/// Limits that stop a sync job from doing something drastic by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Guards {
    /// A job that would delete more than this percentage of extensions stops for confirmation…
    pub mass_deletion_percent: u8,
    /// …provided it would delete at least this many.
    pub mass_deletion_min: u32,
}

/// The sources a site reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Entra users → extensions.
    Users,
    /// Each user's Outlook contacts → their personal phonebook.
    PersonalContacts,
    /// Shared mailboxes' contacts → the company phonebook.
    SharedMailboxes,
    /// Exchange org contacts → the company directory.
    OrgContacts,
}

impl Source {
    /// Every source, in a fixed order.
    pub const ALL: [Source; 4] = [
        Source::Users,
        Source::PersonalContacts,
        Source::SharedMailboxes,
        Source::OrgContacts,
    ];

    /// The config key (`[site.sources]`) of this source.
    pub fn key(self) -> &'static str {
        match self {
            Source::Users => "users",
            Source::PersonalContacts => "personal_contacts",
            Source::SharedMailboxes => "shared_mailboxes",
            Source::OrgContacts => "org_contacts",
        }
    }
}

/// Which sources are on (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sources {
    /// Entra users.
    pub users: bool,
    /// Personal Outlook contacts.
    pub personal_contacts: bool,
    /// Shared mailbox contacts.
    pub shared_mailboxes: bool,
    /// Org contacts.
    pub org_contacts: bool,
}

impl Sources {
    /// Whether `source` is read.
    pub fn is_on(&self, source: Source) -> bool {
        match source {
            Source::Users => self.users,
            Source::PersonalContacts => self.personal_contacts,
            Source::SharedMailboxes => self.shared_mailboxes,
            Source::OrgContacts => self.org_contacts,
        }
    }
}

/// Photo refresh settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Photos {
    /// When photos are refreshed.
    pub schedule: PhotoSchedule,
}

/// When user photos are refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSchedule {
    /// Once a night, with the full sync (the default).
    Nightly,
    /// At this interval (at least 15 minutes).
    Every(Duration),
    /// Never.
    Off,
}
