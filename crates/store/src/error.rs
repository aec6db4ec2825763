//! The store's errors, each saying what to do about it.

use crate::model::JobId;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend this build knows.
    #[error("unsupported store URL scheme {0:?}: use sqlite://path/to/file.db or postgres://user@host/db")]
    UnsupportedUrl(String),
    /// The database could not be opened or reached.
    #[error("cannot open the {backend} store (is the database reachable and the path writable?): {source}")]
    Connect {
        /// Which backend.
        backend: &'static str,
        /// The driver's error (URLs and passwords are never part of it).
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed; the database is left at the previous version.
    #[error(
        "migration {version} ({name}) failed; the schema stays at the version before it: {source}"
    )]
    Migration {
        /// The migration's number.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database is at a newer schema than this build knows.
    #[error("the database has schema version {found}, newer than this pbx365 knows ({known}); upgrade pbx365")]
    SchemaTooNew {
        /// Highest version applied in the database.
        found: i64,
        /// Highest version this build ships.
        known: i64,
    },
    /// A query failed (constraint, connection lost, …).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be read back as the domain type.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A record names another site than the operation it was given to.
    #[error("record for site {record} given in an operation on site {operation}")]
    SiteMismatch {
        /// The site of the operation.
        operation: String,
        /// The site the record carries.
        record: String,
    },
    /// The site does not exist.
    #[error("site {0} does not exist; create it first")]
    UnknownSite(String),
    /// The job does not exist.
    #[error("job {0} does not exist")]
    UnknownJob(JobId),
    /// The job was already finished.
    #[error("job {0} is already finished")]
    JobFinished(JobId),
    /// An allocation rule that cannot give any number.
    #[error("invalid extension rule: {0}")]
    InvalidRule(String),
    /// Every number of the range is in use, reserved or in quarantine.
    #[error("no free extension number of {length} digits from {first}: widen the range or shorten the quarantine")]
    ExtensionsExhausted {
        /// First number of the range.
        first: u64,
        /// Digits per number.
        length: u8,
    },
    /// A credential cannot be issued to this owner; the text says why.
    #[error("cannot issue the credential: {0}")]
    CredentialOwner(String),
    /// A credential with this user name is active already.
    #[error("credential {0:?} exists and is active; revoke it first or pick another user name")]
    CredentialExists(String),
    /// Other writers kept conflicting with this one.
    #[error("gave up after {0} attempts because of concurrent writers; try again")]
    Contention(u32),
    /// The user has no extension on the site (an avatar belongs to an extension).
    #[error("user {user_id} has no extension on site {site}; sync users first")]
    UnknownExtension {
        /// The site.
        site: String,
        /// The user.
        user_id: String,
    },
}
