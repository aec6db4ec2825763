//! [`IndexService`]: the [`DirectoryService`] over the store. It loads every configured site
//! into a [`SiteIndex`], checks the credentials pbx365 issued, enforces who may see what, and
//! keeps each index current by following the store's change log: every changed extension or
//! contact is read again and patched in, nothing is rebuilt (unless a change set is so large
//! that reading the site whole is cheaper).

use crate::index::SiteIndex;
use crate::priority::SourcePriority;
use directory::{
    BookScope, DiallingPlan, DirectoryService, Entry, EntrySource, Filter, Hit, LookupResult,
    Photo, Principal, ServiceError, ServiceResult, SiteId, TextQuery,
};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::{ChangeKind, CredentialOwner, Store, StoreError};

/// Above this many changes a refresh reads the site whole instead of object by object (one
/// query per changed object costs more than two queries for everything).
pub const DEFAULT_RELOAD_ABOVE: usize = 2000;

/// How many contacts a load reads from the store at a time.
const LOAD_PAGE: usize = 10_000;

/// A site's settings the service needs; the binary builds them from its configuration.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// The site.
    pub site: SiteId,
    /// Its dialling rules (number forms, DID blocks).
    pub plan: DiallingPlan,
    /// Whose fields win when records of one person merge.
    pub priority: SourcePriority,
    /// True when clients without credentials may read the company phonebook and directory
    /// (for phones that cannot bind); off by default.
    pub anonymous: bool,
}

impl SiteSettings {
    /// Settings with the default priority and anonymous access off.
    pub fn new(site: SiteId, plan: DiallingPlan) -> Self {
        Self {
            site,
            plan,
            priority: SourcePriority::default(),
            anonymous: false,
        }
    }
}

/// Why the service could not load or refresh a site.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The same site appears twice in the settings.
    #[error("site {0} is configured twice; give each site one entry")]
    DuplicateSite(String),
    /// A configured site does not exist in the store.
    #[error("site {0} is configured but not in the store; run a sync for it first")]
    SiteNotInStore(String),
    /// Reading the store failed.
    #[error("reading site {site} from the store failed (is the database reachable?): {source}")]
    Store {
        /// The site being read.
        site: String,
        /// What the store said.
        #[source]
        source: StoreError,
    },
}

/// What one refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Extensions and contacts read again and patched in.
    pub patched: usize,
    /// Sites read whole because their change set was large.
    pub reloaded: usize,
}

/// One site: its settings, its index, and how far in the change log the index is.
struct SiteState {
    settings: SiteSettings,
    index: RwLock<SiteIndex>,
    /// The last change applied; the lock also keeps refreshes of the site one at a time.
    applied: tokio::sync::Mutex<u64>,
}

/// The directory the front ends call: every configured site's index over one store.
pub struct IndexService {
    store: Arc<dyn Store>,
    sites: BTreeMap<SiteId, SiteState>,
    reload_above: usize,
}

impl std::fmt::Debug for IndexService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexService")
            .field("backend", &self.store.backend())
            .field("sites", &self.sites.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn store_error(site: &SiteId) -> impl Fn(StoreError) -> IndexError + '_ {
    move |source| IndexError::Store {
        site: site.to_string(),
        source,
    }
}

/// Reads a site whole: the change-log position first, so that nothing committed after the
/// read is missed (changes already in the read are applied again, which is harmless).
async fn load_site(
    store: &dyn Store,
    settings: &SiteSettings,
) -> Result<(SiteIndex, u64), IndexError> {
    let site = &settings.site;
    let err = store_error(site);
    if store.get_site(site).await.map_err(&err)?.is_none() {
        return Err(IndexError::SiteNotInStore(site.to_string()));
    }
    let seq = store.latest_change(site).await.map_err(&err)?;
    let mut builder = SiteIndex::builder(
        site.clone(),
        settings.plan.clone(),
        settings.priority.clone(),
    );
    builder.add_extensions(&store.list_extensions(site).await.map_err(&err)?);
    // Page by page: a million contacts read at once would take gigabytes only to be dropped.
    let mut after = String::new();
    loop {
        let page = store
            .list_site_contacts_page(site, &after, LOAD_PAGE)
            .await
            .map_err(&err)?;
        builder.add_contacts(page.iter().map(|c| (c.id.as_str(), &c.record)));
        match page.last() {
            Some(last) if page.len() == LOAD_PAGE => after.clone_from(&last.id),
            _ => break,
        }
    }
    Ok((builder.finish(), seq))
}

impl IndexService {
    /// Loads every site of `settings` from the store.
    pub async fn load(
        store: Arc<dyn Store>,
        settings: Vec<SiteSettings>,
    ) -> Result<Self, IndexError> {
        let mut sites = BTreeMap::new();
        for s in settings {
            if sites.contains_key(&s.site) {
                return Err(IndexError::DuplicateSite(s.site.to_string()));
            }
            let (index, seq) = load_site(store.as_ref(), &s).await?;
            tracing::info!(site = %s.site, entries = index.len(), seq, "directory index loaded");
            sites.insert(
                s.site.clone(),
                SiteState {
                    settings: s,
                    index: RwLock::new(index),
                    applied: tokio::sync::Mutex::new(seq),
                },
            );
        }
        Ok(Self {
            store,
            sites,
            reload_above: DEFAULT_RELOAD_ABOVE,
        })
    }

    /// Sets how many changes a refresh patches in one by one before it reads the site whole
    /// instead (default [`DEFAULT_RELOAD_ABOVE`]).
    pub fn with_reload_threshold(mut self, changes: usize) -> Self {
        self.reload_above = changes;
        self
    }

    /// Applies every change the store logged since the last refresh, for every site. The sync
    /// job calls it after committing; the refresh loop calls it on its interval.
    pub async fn refresh(&self) -> Result<RefreshReport, IndexError> {
        let mut report = RefreshReport::default();
        for state in self.sites.values() {
            let r = self.refresh_site(state).await?;
            report.patched += r.patched;
            report.reloaded += r.reloaded;
        }
        Ok(report)
    }

    async fn refresh_site(&self, state: &SiteState) -> Result<RefreshReport, IndexError> {
        let site = &state.settings.site;
        let err = store_error(site);
        let mut applied = state.applied.lock().await;
        let (changes, latest) = self
            .store
            .changes_since(site, *applied)
            .await
            .map_err(&err)?;
        // A log behind what was applied was started afresh (the site re-created, the database
        // restored): only a full read is sure to be right.
        let restarted = latest < *applied;
        if changes.is_empty() && !restarted {
            return Ok(RefreshReport::default());
        }
        if restarted || changes.len() > self.reload_above {
            let (index, seq) = load_site(self.store.as_ref(), &state.settings).await?;
            *state.index.write() = index;
            *applied = seq;
            tracing::info!(site = %site, changes = changes.len(), restarted, "directory index reloaded");
            return Ok(RefreshReport {
                patched: 0,
                reloaded: 1,
            });
        }
        // Read every changed object first, then patch under a short write lock.
        enum Current {
            Extension(String, Option<directory::Extension>),
            Contact(String, Option<directory::ContactRecord>),
        }
        let mut current = Vec::with_capacity(changes.len());
        for c in &changes {
            current.push(match c.kind {
                ChangeKind::Extension => Current::Extension(
                    c.id.clone(),
                    self.store
                        .get_extension_by_user(site, &c.id)
                        .await
                        .map_err(&err)?,
                ),
                ChangeKind::Contact => Current::Contact(
                    c.id.clone(),
                    self.store
                        .get_contact(site, &c.id)
                        .await
                        .map_err(&err)?
                        .map(|s| s.record),
                ),
            });
        }
        {
            let mut index = state.index.write();
            for c in &current {
                match c {
                    Current::Extension(id, Some(e)) if e.user_id == *id => {
                        index.upsert_extension(e)
                    }
                    Current::Extension(id, _) => index.remove_extension(id),
                    Current::Contact(id, Some(r)) => index.upsert_contact(id, r),
                    Current::Contact(id, None) => index.remove_contact(id),
                }
            }
        }
        *applied = latest;
        tracing::debug!(site = %site, patched = current.len(), seq = latest, "directory index patched");
        Ok(RefreshReport {
            patched: current.len(),
            reloaded: 0,
        })
    }

    /// Starts a task that refreshes every `every` until `shutdown` completes; a failed refresh
    /// is logged and tried again on the next tick. Await the handle to know it has stopped.
    pub fn spawn_refresh_loop(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut shutdown = std::pin::pin!(shutdown);
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tick.tick() => {}
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    r = self.refresh() => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "directory refresh failed; trying again on the next tick");
                        }
                    }
                }
            }
            tracing::debug!("directory refresh loop stopped");
        })
    }

    fn state(&self, site: &SiteId) -> ServiceResult<&SiteState> {
        self.sites
            .get(site)
            .ok_or_else(|| ServiceError::UnknownSite(site.to_string()))
    }

    /// The principal's site, once it is clear the principal may read it at all.
    fn allowed(&self, who: &Principal) -> ServiceResult<&SiteState> {
        let state = self.state(who.site())?;
        if matches!(who, Principal::Anonymous { .. }) && !state.settings.anonymous {
            return Err(anonymous_off(who.site()));
        }
        Ok(state)
    }
}

fn anonymous_off(site: &SiteId) -> ServiceError {
    ServiceError::Forbidden(format!(
        "anonymous access is off for site {site}: configure the credentials pbx365 issued on \
         the phone, or turn anonymous access on for the site"
    ))
}

fn unavailable(e: StoreError) -> ServiceError {
    tracing::warn!(error = %e, "the store failed while checking credentials");
    ServiceError::Unavailable("the credential store cannot be read".into())
}

#[async_trait::async_trait]
impl DirectoryService for IndexService {
    async fn authenticate(
        &self,
        site: &SiteId,
        username: &str,
        password: &str,
    ) -> ServiceResult<Principal> {
        let state = self.state(site)?;
        if username.is_empty() || password.is_empty() {
            return Err(ServiceError::InvalidCredentials);
        }
        let owner = self
            .store
            .verify_credential(site, username, password)
            .await
            .map_err(unavailable)?
            .ok_or(ServiceError::InvalidCredentials)?;
        match owner {
            CredentialOwner::Extension { user_id } => {
                // A credential outlives nothing: the user must still have an extension.
                if !state.index.read().has_user(&user_id) {
                    tracing::info!(site = %site, username, "credential of a user without an extension refused");
                    return Err(ServiceError::InvalidCredentials);
                }
                Ok(Principal::Extension {
                    site: site.clone(),
                    user_id,
                })
            }
            CredentialOwner::PhoneGroup { name } => Ok(Principal::PhoneGroup {
                site: site.clone(),
                name,
            }),
        }
    }

    async fn anonymous(&self, site: &SiteId) -> ServiceResult<Principal> {
        let state = self.state(site)?;
        if !state.settings.anonymous {
            return Err(anonymous_off(site));
        }
        Ok(Principal::Anonymous { site: site.clone() })
    }

    async fn filter(
        &self,
        who: &Principal,
        scope: BookScope,
        filter: &Filter,
        limit: usize,
    ) -> ServiceResult<Vec<Entry>> {
        self.allowed(who)?
            .index
            .read()
            .filter(who, scope, filter, limit)
    }

    async fn search(&self, who: &Principal, query: &TextQuery) -> ServiceResult<Vec<Hit>> {
        self.allowed(who)?.index.read().search(who, query)
    }

    async fn lookup(&self, who: &Principal, number: &str) -> ServiceResult<LookupResult> {
        self.allowed(who)?.index.read().lookup(who, number)
    }

    async fn entry(&self, who: &Principal, id: &str) -> ServiceResult<Option<Entry>> {
        Ok(self.allowed(who)?.index.read().entry(who, id))
    }

    async fn photo(&self, who: &Principal, id: &str) -> ServiceResult<Option<Photo>> {
        // Visibility first: the entry decides, the photo follows it.
        let Some(entry) = self.allowed(who)?.index.read().entry(who, id) else {
            return Ok(None);
        };
        let Some(user_id) = entry.sources.iter().find_map(|s| match s {
            EntrySource::User { user_id } => Some(user_id.clone()),
            EntrySource::Contact { .. } => None,
        }) else {
            return Ok(None);
        };
        let avatar = self
            .store
            .get_avatar(who.site(), &user_id)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "the store failed while reading an avatar");
                ServiceError::Unavailable("the photo store cannot be read".into())
            })?;
        Ok(avatar.map(|a| Photo {
            content_type: a.content_type,
            etag: a.etag,
            bytes: a.bytes,
        }))
    }

    async fn sites(&self) -> ServiceResult<Vec<SiteId>> {
        Ok(self.sites.keys().cloned().collect())
    }
}
