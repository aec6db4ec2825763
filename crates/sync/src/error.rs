//! What stops a sync job, each with what to do about it.

/// Why a sync job failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The app's token carries no application permissions at all.
    #[error("admin consent missing or revoked: open {consent_url} as a tenant admin and grant consent, then run the sync again")]
    ConsentMissing {
        /// Where a tenant admin grants consent.
        consent_url: String,
    },
    /// The token lacks some of the permissions this job needs.
    #[error("the app lacks the application permission(s) {}: add them in Entra admin centre > App registrations > the app > API permissions > Microsoft Graph > Application permissions, then grant admin consent ({consent_url})", missing.join(", "))]
    MissingPermissions {
        /// The permission names missing.
        missing: Vec<String>,
        /// Where a tenant admin grants consent after adding them.
        consent_url: String,
    },
    /// More extensions would go than the guard allows.
    #[error("the sync would remove {count} of {total} extensions, more than the guard allows ({limit}); nothing was removed. Check the selection (group/licence) in Microsoft 365; if the removals are intended, run `pbx365 sync --allow-mass-delete`. Pending: {}", pending.join(", "))]
    MassDeletion {
        /// Removals planned.
        count: usize,
        /// Extensions before the job.
        total: usize,
        /// The most removals allowed without confirmation.
        limit: usize,
        /// Who would lose their extension (`number name <upn or id>`).
        pending: Vec<String>,
    },
    /// More contacts would go than the guard allows.
    #[error("the sync would delete {count} of {total} contacts, more than the guard allows ({limit}); nothing was deleted. Check the mailboxes and folders in Microsoft 365; if the deletions are intended, run `pbx365 sync --allow-mass-delete`. Pending: {}", pending.join(", "))]
    ContactMassDeletion {
        /// Deletions pending.
        count: usize,
        /// Contacts stored before the job.
        total: usize,
        /// The most deletions allowed without confirmation.
        limit: usize,
        /// Some of the contacts that would go (`phonebook name numbers`).
        pending: Vec<String>,
    },
    /// Some scopes of the job failed: nothing was deleted.
    #[error("{} scope(s) of the job failed, so no deletions were applied (they stay pending): {}", failures.len(), failures.join("; "))]
    Scopes {
        /// What failed, each naming its mailbox or scope.
        failures: Vec<String>,
    },
    /// A Graph call failed.
    #[error("reading Microsoft Graph failed: {0}")]
    Graph(#[from] graph::GraphError),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] store::StoreError),
    /// The site's name is not a valid site id.
    #[error("site name {0:?} cannot be used as a site id: use a-z, 0-9, '-' and '_'")]
    SiteName(String),
    /// A number the store handed out could not be used.
    #[error("invalid extension number: {0}")]
    Number(String),
}
