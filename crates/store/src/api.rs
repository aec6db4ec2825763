//! The [`Store`] trait, and [`open`], which picks its backend by URL.

use crate::error::StoreError;
use crate::model::{
    AllocationRule, AppliedDeletions, Avatar, Change, CredentialInfo, CredentialOwner,
    CredentialUsername, Deletion, IssuedCredential, Job, JobId, JobKind, JobOutcome, JobTrigger,
    JobWithLog, NumberHit, PendingDeletion, PresenceReader, RenormaliseReport, ScopeCommit,
    ScopeKey, Site, StoredContact,
};
use chrono::{DateTime, Utc};
use directory::{ContactRecord, Extension, ExtensionNumber, PhonebookKind, Region, SiteId, E164};
use std::collections::HashMap;
use std::sync::Arc;

/// Shorthand for the store's results.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything pbx365 keeps, scoped by site. Implementations are safe to use from several
/// processes on one database at once.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Which backend this is (`sqlite` or `postgres`), for logs and health output.
    fn backend(&self) -> &'static str;

    /// Creates or updates a site.
    async fn upsert_site(&self, site: &Site) -> Result<()>;
    /// One site, if it exists.
    async fn get_site(&self, id: &SiteId) -> Result<Option<Site>>;
    /// All sites, by id.
    async fn list_sites(&self) -> Result<Vec<Site>>;

    /// The user's extension number: the one they have; else the one they had, if it is still
    /// free; else the lowest free number of the rule that is not assigned, not reserved as taken
    /// outside pbx365 and not freed less than `rule.quarantine` ago.
    async fn allocate_extension(
        &self,
        site: &SiteId,
        user_id: &str,
        rule: &AllocationRule,
    ) -> Result<ExtensionNumber>;
    /// [`Store::allocate_extension`] for many users in one transaction and one pass over the
    /// numbers in use (an initial sync of a large tenant); numbers are handed out in the order
    /// of `user_ids`. Returns each user's number, in that order.
    async fn allocate_extensions(
        &self,
        site: &SiteId,
        user_ids: &[String],
        rule: &AllocationRule,
    ) -> Result<Vec<(String, ExtensionNumber)>>;
    /// Frees the user's number (and drops their extension) as of `at`; returns the number.
    async fn release_extension(
        &self,
        site: &SiteId,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ExtensionNumber>>;
    /// Marks numbers as taken outside pbx365, so allocation avoids them.
    async fn reserve_external_numbers(
        &self,
        site: &SiteId,
        numbers: &[ExtensionNumber],
    ) -> Result<()>;
    /// Writes an extension's fields (its number must be allocated to that user).
    async fn upsert_extension(&self, extension: &Extension) -> Result<()>;
    /// All extensions of a site, by number.
    async fn list_extensions(&self, site: &SiteId) -> Result<Vec<Extension>>;
    /// The extension of one user.
    async fn get_extension_by_user(
        &self,
        site: &SiteId,
        user_id: &str,
    ) -> Result<Option<Extension>>;

    /// Applies one scope's creates and updates, records its deletions as pending and stores its
    /// delta token — all in one transaction: on any error nothing of it is written.
    async fn apply_scope(&self, commit: &ScopeCommit) -> Result<()>;
    /// The contacts of one phonebook, by display name.
    async fn list_contacts(
        &self,
        site: &SiteId,
        phonebook: &PhonebookKind,
    ) -> Result<Vec<ContactRecord>>;
    /// How many contacts the site has.
    async fn count_contacts(&self, site: &SiteId) -> Result<u64>;
    /// How many extensions the site has.
    async fn count_extensions(&self, site: &SiteId) -> Result<u64>;
    /// How many stored numbers could not be normalised.
    async fn count_invalid_numbers(&self, site: &SiteId) -> Result<u64>;
    /// Every contact and extension holding this number: a scan of the site's numbers, for
    /// tools and checks (callers are answered from the directory's own index).
    async fn find_by_e164(&self, site: &SiteId, number: &E164) -> Result<Vec<NumberHit>>;
    /// Recomputes every stored number's E.164 form from its original text, after the rules or
    /// someone's country changed: numbers of a user (their extension, their personal contacts)
    /// are read in `user_regions[user]`, all others in `default_region`. One transaction.
    async fn renormalise_numbers(
        &self,
        site: &SiteId,
        default_region: Option<Region>,
        user_regions: &HashMap<String, Region>,
    ) -> Result<RenormaliseReport>;

    /// The delta token of a scope.
    async fn get_delta_token(&self, site: &SiteId, scope: &ScopeKey) -> Result<Option<String>>;
    /// Stores a scope's delta token on its own (outside a commit).
    async fn set_delta_token(&self, site: &SiteId, scope: &ScopeKey, token: &str) -> Result<()>;
    /// Forgets the tokens of every scope starting with `prefix` (the next sync of them is full);
    /// returns how many.
    async fn invalidate_scopes(&self, site: &SiteId, prefix: &str) -> Result<u64>;

    /// Deletions waiting to be applied, oldest first.
    async fn list_pending(&self, site: &SiteId) -> Result<Vec<PendingDeletion>>;
    /// Applies the job's pending deletions in one transaction (after every scope succeeded and
    /// the mass-deletion guard passed).
    async fn apply_pending(&self, site: &SiteId, job: &JobId) -> Result<AppliedDeletions>;
    /// Drops every pending deletion of the site unapplied; returns how many.
    async fn discard_pending(&self, site: &SiteId) -> Result<u64>;

    /// Takes or renews the site's lease for `holder` (a node's name) until now + `ttl`, so that
    /// one node at a time runs the site's sync work; false while another holder's lease runs.
    async fn acquire_lease(
        &self,
        site: &SiteId,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool>;
    /// Gives the site's lease up, if `holder` has it.
    async fn release_lease(&self, site: &SiteId, holder: &str) -> Result<()>;

    /// Starts a job in the history.
    async fn create_job(&self, site: &SiteId, trigger: JobTrigger, kind: JobKind) -> Result<JobId>;
    /// Adds a line to a job's output.
    async fn append_job_log(&self, job: &JobId, line: &str) -> Result<()>;
    /// Adds several lines to a job's output, in order (one write where the backend can: a
    /// job's plan may hold thousands of lines).
    async fn append_job_log_lines(&self, job: &JobId, lines: &[String]) -> Result<()> {
        for line in lines {
            self.append_job_log(job, line).await?;
        }
        Ok(())
    }
    /// Ends a running job with its outcome.
    async fn finish_job(&self, job: &JobId, outcome: &JobOutcome) -> Result<()>;
    /// The site's most recent jobs, newest first.
    async fn list_jobs(&self, site: &SiteId, limit: u32) -> Result<Vec<Job>>;
    /// One job with its output.
    async fn get_job(&self, job: &JobId) -> Result<Option<JobWithLog>>;

    /// The site's change log after `after`: every extension and contact changed by a commit
    /// numbered above `after`, oldest first (each object once, at its latest change), and the
    /// number of the latest commit, to pass as `after` next time. Every write that changes
    /// extensions or contacts logs them in its own transaction.
    async fn changes_since(&self, site: &SiteId, after: u64) -> Result<(Vec<Change>, u64)>;
    /// The number of the site's latest logged commit (0 before the first): read it before a
    /// full load, then follow [`Store::changes_since`] from it.
    async fn latest_change(&self, site: &SiteId) -> Result<u64>;
    /// One contact by its store id (as the change log names it).
    async fn get_contact(&self, site: &SiteId, id: &str) -> Result<Option<StoredContact>>;
    /// Every contact of the site, of every phonebook, with its store id, ordered by id.
    async fn list_site_contacts(&self, site: &SiteId) -> Result<Vec<StoredContact>>;
    /// At most `limit` contacts of the site whose store ids come after `after` (`""` for the
    /// first page), ordered by id: a whole site read page by page, so that a reader holds one
    /// page at a time instead of every contact at once. A page shorter than `limit` is the last.
    async fn list_site_contacts_page(
        &self,
        site: &SiteId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StoredContact>>;

    /// Issues a credential for phones: a fresh random secret (returned once; only a salted
    /// SHA-256 of it is kept). `CredentialExists` while an active one has this user name.
    async fn issue_credential(
        &self,
        site: &SiteId,
        username: &CredentialUsername,
        owner: &CredentialOwner,
    ) -> Result<IssuedCredential>;
    /// Revokes a credential; false when there is no active one of that name.
    async fn revoke_credential(&self, site: &SiteId, username: &CredentialUsername)
        -> Result<bool>;
    /// The site's credentials (active and revoked), by user name, without secrets.
    async fn list_credentials(&self, site: &SiteId) -> Result<Vec<CredentialInfo>>;
    /// Whom an active credential with this user name and secret signs in as; `None` for an
    /// unknown name, a wrong secret or a revoked credential (compared in constant time).
    async fn verify_credential(
        &self,
        site: &SiteId,
        username: &str,
        secret: &str,
    ) -> Result<Option<CredentialOwner>>;
    /// Stores a user's avatar and records its etag on their extension (`photo_etag`), in one
    /// transaction; `None` removes the avatar and clears the etag (the user has no photo).
    /// Fails with [`StoreError::UnknownExtension`] when storing for a user without extension.
    async fn set_avatar(&self, site: &SiteId, user_id: &str, avatar: Option<&Avatar>)
        -> Result<()>;
    /// A user's avatar, if one is stored (what the HTTP front end serves).
    async fn get_avatar(&self, site: &SiteId, user_id: &str) -> Result<Option<Avatar>>;
    /// Every stored delta token whose scope starts with `prefix`, by scope: the scopes a source
    /// synced before (to find folders, mailboxes and owners that have since gone).
    async fn list_delta_tokens(
        &self,
        site: &SiteId,
        prefix: &str,
    ) -> Result<Vec<(ScopeKey, String)>>;
    /// Drops the pending deletions of `targets` in `scope`, whichever job recorded them: a later
    /// read saw them alive again (after a delta reset, say). Returns how many were dropped.
    async fn cancel_pending(
        &self,
        site: &SiteId,
        scope: &ScopeKey,
        targets: &[Deletion],
    ) -> Result<u64>;
    /// Applies only the contact deletions the job recorded (in one transaction), leaving its
    /// extension deletions to wait for their deprovisioning delay.
    async fn apply_pending_contacts(&self, site: &SiteId, job: &JobId) -> Result<AppliedDeletions>;

    /// Stores a presence reader (its sealed refresh token replaced, its error as given),
    /// keeping its first sign-in time when it exists already.
    async fn save_presence_reader(&self, reader: &PresenceReader) -> Result<()>;
    /// The site's presence readers, by UPN.
    async fn list_presence_readers(&self, site: &SiteId) -> Result<Vec<PresenceReader>>;
    /// Removes the reader whose id or UPN (any case) is `key`; false when there is none.
    async fn remove_presence_reader(&self, site: &SiteId, key: &str) -> Result<bool>;
    /// Records why a reader stopped working (`None`: it works again); false when unknown.
    async fn set_presence_reader_error(
        &self,
        site: &SiteId,
        reader_id: &str,
        error: Option<&str>,
    ) -> Result<bool>;
}

/// Opens the store at `url` and brings its schema up to date: `sqlite://path/to/file.db`
/// (created if missing; WAL, foreign keys on, busy timeout) or `postgres://user@host/db`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(crate::backend::sqlite::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(crate::backend::postgres::open(url).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::UnsupportedUrl(scheme.to_owned()))
    }
}
