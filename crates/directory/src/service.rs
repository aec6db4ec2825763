//! The one internal request model every front end speaks: LDAP, the vendor XML phonebooks, the
//! caller-ID lookup and the REST API translate their protocol into these requests and call a
//! [`DirectoryService`]; they never see the store or the index behind it (lldap's handler-trait
//! style, kanidm's single request model).

use crate::contact::PhonebookKind;
use crate::number::{PhoneKind, E164};
use crate::site::SiteId;
use serde::{Deserialize, Serialize};

/// Who is asking. Every request carries one, and every answer is cut to what it may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// No credentials: sees the company phonebook and directory only when the site allows
    /// anonymous access, nothing otherwise.
    Anonymous {
        /// The site asked about.
        site: SiteId,
    },
    /// A phone or client signed in as one extension (credentials pbx365 issued for that user):
    /// the company phonebook and directory plus that user's personal phonebook.
    Extension {
        /// The site.
        site: SiteId,
        /// Graph object id of the user.
        user_id: String,
    },
    /// A group of phones sharing one credential (a lobby, a warehouse): the company phonebook
    /// and directory, no personal phonebook.
    PhoneGroup {
        /// The site.
        site: SiteId,
        /// The group's name as configured.
        name: String,
    },
}

impl Principal {
    /// The site this principal belongs to.
    pub fn site(&self) -> &SiteId {
        match self {
            Self::Anonymous { site }
            | Self::Extension { site, .. }
            | Self::PhoneGroup { site, .. } => site,
        }
    }

    /// The user whose personal phonebook this principal may read, if any.
    pub fn personal_owner(&self) -> Option<&str> {
        match self {
            Self::Extension { user_id, .. } => Some(user_id),
            _ => None,
        }
    }
}

/// Which phonebooks a request looks in. A personal phonebook is only ever the principal's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookScope {
    /// Everything the principal may see: users, company phonebook, directory, own personal
    /// contacts.
    All,
    /// Users of the tenant (extensions) only.
    Users,
    /// The company phonebook (shared-mailbox contacts).
    Company,
    /// The company directory (Exchange org contacts).
    Directory,
    /// The principal's own personal phonebook.
    Personal,
}

/// Where an entry comes from; an entry merged from several company sources lists each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntrySource {
    /// An Entra user with an extension.
    User {
        /// Graph object id.
        user_id: String,
    },
    /// A contact of a phonebook.
    Contact {
        /// The phonebook it is in.
        phonebook: PhonebookKind,
        /// Graph id of the contact.
        source_id: String,
    },
}

/// One number of an entry, in every form a front end may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryNumber {
    /// What the number is for.
    pub kind: PhoneKind,
    /// The text as the source had it.
    pub raw: String,
    /// E.164 form; `None` when the number could not be normalised (then `dial` and `display`
    /// are `raw` cleaned of everything but digits, `+`, `*` and `#`).
    pub e164: Option<E164>,
    /// What a phone of this site dials (outside-line prefix, national or international form, or
    /// the bare extension for a number inside the site's own ranges).
    pub dial: String,
    /// The form to show a person (national or international grouping).
    pub display: String,
}

/// One person or company in the directory, as a front end serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable id within the site (survives re-syncs; merged entries keep the id of their
    /// highest-priority source).
    pub id: String,
    /// The site.
    pub site: SiteId,
    /// Where the entry's fields come from, highest priority first.
    pub sources: Vec<EntrySource>,
    /// For a personal contact, the one user who may see it.
    pub personal_owner: Option<String>,
    /// Display name (never empty: falls back to company, mail or number).
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Company name.
    pub company: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// The internal extension, for a user.
    pub extension: Option<String>,
    /// Every number, in source order, duplicates removed by E.164.
    pub numbers: Vec<EntryNumber>,
}

impl Entry {
    /// True when the entry is an internal user (extensions rank first in search results).
    pub fn is_user(&self) -> bool {
        self.extension.is_some()
    }
}

/// The attributes a filter can name; each front end maps its own names onto these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// Full name (LDAP `cn`).
    CommonName,
    /// Display name.
    DisplayName,
    /// Given name.
    GivenName,
    /// Surname (`sn`).
    Surname,
    /// Company (`o`).
    Company,
    /// Department (`ou`).
    Department,
    /// Job title.
    Title,
    /// E-mail.
    Mail,
    /// Business numbers (`telephoneNumber`); matched number-aware.
    BusinessPhone,
    /// Mobile numbers; matched number-aware.
    Mobile,
    /// Home numbers; matched number-aware.
    HomePhone,
    /// The internal extension (`ipPhone`); matched number-aware.
    Extension,
    /// Fax numbers; matched number-aware.
    Fax,
    /// Any number of any kind; matched number-aware.
    AnyPhone,
    /// The object class (LDAP `objectClass`): every entry is a person.
    ObjectClass,
    /// An attribute the directory does not hold: matches nothing (presence is false).
    Unknown(String),
}

impl Attribute {
    /// True for the number attributes, which compare by number rather than by text.
    pub fn is_phone(&self) -> bool {
        matches!(
            self,
            Self::BusinessPhone
                | Self::Mobile
                | Self::HomePhone
                | Self::Extension
                | Self::Fax
                | Self::AnyPhone
        )
    }
}

/// A search filter, LDAP's grammar in protocol-neutral form. Text comparisons ignore case and
/// accents; number attributes compare numbers, so `030 1234567`, `+49301234567` and
/// `0049 30 1234567` are equal, and substring parts are matched against the number's digits in
/// every form it has (E.164, national, dialable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Every sub-filter matches (an empty `And` matches everything).
    And(Vec<Filter>),
    /// At least one sub-filter matches (an empty `Or` matches nothing).
    Or(Vec<Filter>),
    /// The sub-filter does not match.
    Not(Box<Filter>),
    /// The attribute has this value.
    Equals(Attribute, String),
    /// The attribute has a value with this prefix, these inner parts in order, and this suffix.
    Substring {
        /// The attribute.
        attribute: Attribute,
        /// Required prefix.
        initial: Option<String>,
        /// Inner parts, in order.
        any: Vec<String>,
        /// Required suffix.
        last: Option<String>,
    },
    /// The attribute has any value.
    Present(Attribute),
    /// Sounds like / is close to this value (LDAP `~=`): phonetic and typo-tolerant.
    Approx(Attribute, String),
    /// The attribute has a value ordered at or after this one (LDAP `>=`); see
    /// [`Filter::LessOrEqual`] for the ordering.
    GreaterOrEqual(Attribute, String),
    /// The attribute has a value ordered at or before this one (LDAP `<=`). Text compares
    /// folded as equality does (case, accents and spacing ignored, like LDAP's
    /// caseIgnoreOrderingMatch); phone numbers compare the digits of their E.164 form (so a
    /// range of E.164 prefixes selects a number block) and never match a number without one;
    /// the extension compares as a whole number. `objectClass` and unknown attributes have no
    /// ordering and match nothing.
    LessOrEqual(Attribute, String),
}

/// A free-text search, as the phones' search boxes and the REST API send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextQuery {
    /// What the user typed: words (matched against names and company) or a number.
    pub text: String,
    /// Where to look.
    pub scope: BookScope,
    /// At most this many hits.
    pub limit: usize,
}

/// How well a hit matched, best first; search results are ordered by it, then internal users
/// before contacts, then by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRank {
    /// A whole word (or the whole number) equals the term.
    Exact,
    /// A word starts with the term.
    Prefix,
    /// A word contains the term.
    Substring,
    /// A word sounds like the term.
    Phonetic,
    /// A word is within the allowed edit distance of the term.
    Typo,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The entry.
    pub entry: Entry,
    /// How it matched.
    pub rank: MatchRank,
}

/// The answer to a reverse lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LookupResult {
    /// The number belongs to these entries (best first: users, then company, then personal).
    Entries {
        /// The number, normalised.
        number: E164,
        /// Matching entries.
        entries: Vec<Entry>,
    },
    /// No one has the number, but it lies in a company's DID range: the company's name.
    Company {
        /// The number, normalised.
        number: E164,
        /// The company name.
        name: String,
    },
    /// A valid number no one has.
    NotFound {
        /// The number, normalised.
        number: E164,
    },
}

/// An entry's photo: a user's Microsoft 365 photo as the photo sync stored it (contacts have
/// none).
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Graph's `@odata.mediaEtag` of the photo, quoted as Graph sends it; it changes when the
    /// photo does, so it serves as the HTTP ETag.
    pub etag: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes would flood logs: their length says enough.
        f.debug_struct("Photo")
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Why a request could not be answered; front ends turn it into their protocol's error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The credentials are wrong or unknown.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The principal may not do this (anonymous access off, another user's phonebook).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The input is malformed (a number that is no number, an empty query); the text says what
    /// was wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The site is not configured.
    #[error("unknown site {0}")]
    UnknownSite(String),
    /// Something behind the service failed (store, index); details are logged, not shown.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

/// Shorthand for service results.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// What the front ends ask of the directory. Implemented by the index over the store; tests of
/// a front end may implement it over a fixed set of entries.
#[async_trait::async_trait]
pub trait DirectoryService: Send + Sync {
    /// Checks credentials pbx365 issued (an extension's or a phone group's; never a Microsoft
    /// password) and returns who they belong to.
    async fn authenticate(
        &self,
        site: &SiteId,
        username: &str,
        password: &str,
    ) -> ServiceResult<Principal>;

    /// The principal for a client without credentials, or `Forbidden` when the site does not
    /// allow anonymous access.
    async fn anonymous(&self, site: &SiteId) -> ServiceResult<Principal>;

    /// Every entry matching `filter` in `scope` that `who` may see, ordered by display name;
    /// at most `limit` (the caller detects truncation by asking for one more).
    async fn filter(
        &self,
        who: &Principal,
        scope: BookScope,
        filter: &Filter,
        limit: usize,
    ) -> ServiceResult<Vec<Entry>>;

    /// A ranked free-text search.
    async fn search(&self, who: &Principal, query: &TextQuery) -> ServiceResult<Vec<Hit>>;

    /// Reverse lookup of a number in any form (`+49 30 1234567`, `030 1234567`, `0 030…` with
    /// the outside-line prefix, a bare extension). `BadRequest` for text that is not a number.
    async fn lookup(&self, who: &Principal, number: &str) -> ServiceResult<LookupResult>;

    /// One entry by id, if `who` may see it.
    async fn entry(&self, who: &Principal, id: &str) -> ServiceResult<Option<Entry>>;

    /// The photo of entry `id`, if `who` may see the entry and it has one.
    async fn photo(&self, who: &Principal, id: &str) -> ServiceResult<Option<Photo>>;

    /// The sites served, for the front ends' routing and rootDSE.
    async fn sites(&self) -> ServiceResult<Vec<SiteId>>;
}
