//! One mailbox's contacts → a phonebook: its folder list by `contactFolders/delta`, then one
//! delta scope per folder (the default Contacts folder and every folder below it), each
//! committed with its own delta token. Contacts gone from a folder, and every contact of a
//! folder that went, are recorded as pending deletions for the job to apply.
//!
//! Graph lists only the default folder's children and has no documented alias for the default
//! folder itself (`shared/notes/graph.md` §7): its id is the parent of the top-level folders,
//! or the `parentFolderId` of a contact in `/contacts`, and is remembered from then on. Its
//! contacts are read with the documented per-folder delta.

use crate::mapping::{self, Target, CONTACT_SELECT};
use crate::report::KindCounts;
use directory::{ContactRecord, ContactSource, PhonebookKind, Region, SiteId};
use futures_util::StreamExt;
use graph::coalesce::Coalescer;
use graph::delta::{DeltaChange, DeltaOptions, DeltaOutcome, DeltaRound};
use graph::models::{Contact, ContactFolder};
use graph::{GraphClient, GraphError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use store::{Deletion, JobId, ScopeCommit, ScopeKey, ScopeUpsert, Store};

/// Folders of one mailbox read at once (Outlook allows 4 requests in flight per mailbox).
const FOLDERS_AT_ONCE: usize = 4;

/// Plan lines kept per mailbox in a report (the counts are always complete).
pub const PLAN_LINES_PER_MAILBOX: usize = 200;

/// What every mailbox of a job shares.
#[derive(Clone)]
pub struct Ctx {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The Graph client (its limits hold across mailboxes).
    pub client: GraphClient,
    /// The site.
    pub site: SiteId,
    /// The job writing (`None` on a dry run: nothing is written).
    pub job: Option<JobId>,
    /// Read every scope from scratch.
    pub full: bool,
    /// Contact deletions pending from earlier jobs, by scope (cancelled when seen alive).
    pub pending: Arc<HashMap<ScopeKey, HashSet<String>>>,
    /// Held around the job's store writes: its mailboxes queue here rather than in the
    /// database's lock (SQLite makes waiting writers sleep and retry).
    pub writes: Arc<tokio::sync::Mutex<()>>,
    /// Carries the mailboxes' resumed delta requests (and default-folder probes) together
    /// in `$batch`es: a no-change round is one quiet page per scope.
    pub batch: Option<Coalescer>,
    /// The company phonebook, read once for all shared mailboxes of the job.
    pub company: Arc<CompanyBook>,
}

/// The stored company phonebook by source, read when the job's first shared mailbox needs it
/// and handed out one mailbox's part at a time. Every shared mailbox writes that one
/// phonebook: each reading all of it (16 at once, 56,000 contacts at 10,000 users) held
/// most of a sync's peak memory. A mailbox's part is only written by that mailbox's own
/// task, once per job, so the snapshot is current for it.
#[derive(Debug, Default)]
pub struct CompanyBook {
    parts: tokio::sync::Mutex<Option<HashMap<ContactSource, Vec<ContactRecord>>>>,
}

impl CompanyBook {
    /// The stored contacts of `source` (taken: a second call for it finds none).
    async fn take(
        &self,
        store: &dyn Store,
        site: &SiteId,
        source: &ContactSource,
    ) -> Result<Vec<ContactRecord>, store::StoreError> {
        let mut parts = self.parts.lock().await;
        if parts.is_none() {
            let mut by_source: HashMap<ContactSource, Vec<ContactRecord>> = HashMap::new();
            for c in store.list_contacts(site, &PhonebookKind::Company).await? {
                by_source.entry(c.source.clone()).or_default().push(c);
            }
            *parts = Some(by_source);
        }
        Ok(parts
            .as_mut()
            .and_then(|p| p.remove(source))
            .unwrap_or_default())
    }
}

/// Whose mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A synced user's own contacts → their personal phonebook.
    Personal {
        /// The user's object id.
        user_id: String,
        /// For messages.
        name: String,
    },
    /// A shared mailbox (as configured: address or id) → the company phonebook.
    Shared {
        /// The configured address or id.
        mailbox: String,
    },
}

impl Owner {
    /// The mailbox in Graph paths.
    fn key(&self) -> &str {
        match self {
            Owner::Personal { user_id, .. } => user_id,
            Owner::Shared { mailbox } => mailbox,
        }
    }

    /// The scope of one folder.
    pub fn scope(&self, folder: &str) -> ScopeKey {
        match self {
            Owner::Personal { user_id, .. } => ScopeKey::contacts(user_id, folder),
            Owner::Shared { mailbox } => ScopeKey::shared(mailbox, folder),
        }
    }

    /// Where the mailbox's folder list is kept.
    pub fn state_scope(&self) -> ScopeKey {
        ScopeKey::new(match self {
            Owner::Personal { user_id, .. } => format!("{PERSONAL_STATE}{user_id}:"),
            Owner::Shared { mailbox } => format!("{SHARED_STATE}{mailbox}:"),
        })
        .unwrap_or_else(ScopeKey::org)
    }

    /// The phonebook and source of its contacts.
    fn book(&self) -> (PhonebookKind, ContactSource) {
        match self {
            Owner::Personal { user_id, .. } => (
                PhonebookKind::Personal {
                    owner_user_id: user_id.clone(),
                },
                ContactSource::PersonalOutlook,
            ),
            Owner::Shared { mailbox } => (
                PhonebookKind::Company,
                ContactSource::SharedMailbox {
                    mailbox: mailbox.clone(),
                },
            ),
        }
    }

    /// For messages: `Ann Lee's mailbox`, `shared mailbox ops@contoso.com`.
    pub fn describe(&self) -> String {
        match self {
            Owner::Personal { user_id, name } => format!("the mailbox of {name} ({user_id})"),
            Owner::Shared { mailbox } => format!("shared mailbox {mailbox}"),
        }
    }

    /// The word plan lines use for its phonebook.
    fn book_word(&self) -> String {
        match self {
            Owner::Personal { name, .. } => format!("personal:{name}"),
            Owner::Shared { mailbox } => format!("company:{mailbox}"),
        }
    }
}

/// The prefix of the folder-list state of personal mailboxes.
pub const PERSONAL_STATE: &str = "contact-folders:";
/// The prefix of the folder-list state of shared mailboxes.
pub const SHARED_STATE: &str = "shared-folders:";

/// A mailbox's folder list between jobs (kept as the "token" of its state scope).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailboxState {
    /// The `contactFolders/delta` link.
    pub link: Option<String>,
    /// The default Contacts folder's id, once known.
    pub default: Option<String>,
    /// Every folder below it: id → parent.
    pub folders: BTreeMap<String, Option<String>>,
    /// The region its numbers were read in (a change re-reads them all).
    pub region: Option<String>,
}

/// What syncing one mailbox did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Counts of its phonebook.
    pub counts: KindCounts,
    /// Numbers written that could not be normalised.
    pub invalid: u64,
    /// Plan lines (at most [`PLAN_LINES_PER_MAILBOX`]).
    pub plan: Vec<String>,
    /// Log lines.
    pub log: Vec<String>,
    /// Set when the mailbox could not be read: its phonebook was kept.
    pub unreadable: Option<String>,
    /// Set when a scope failed: the job must not apply deletions.
    pub error: Option<String>,
}

impl Outcome {
    fn plan(&mut self, line: String) {
        if self.plan.len() < PLAN_LINES_PER_MAILBOX {
            self.plan.push(line);
        }
    }
}

/// The region a mailbox's numbers are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionOf {
    /// Known (`None`: no region at all, only international numbers normalise).
    Known(Option<Region>),
    /// Read the owner's `usageLocation` from Graph once the mailbox proved readable; the
    /// fallback when they have none.
    Lookup(Option<Region>),
}

/// Whether a Graph error says this mailbox cannot be read (no Exchange Online mailbox, outside
/// the app's access policy, unknown), as opposed to a failure of the job.
pub fn is_unreadable(e: &GraphError) -> bool {
    matches!(
        e.code(),
        Some("MailboxNotEnabledForRESTAPI" | "ErrorAccessDenied" | "ErrorInvalidUser")
    )
}

/// A folder's delta round: `Complete` changes and link, and whether it read everything.
struct FolderRound {
    folder: String,
    changes: Vec<DeltaChange<Contact>>,
    link: String,
    whole: bool,
}

/// Runs a delta round, starting over once when Graph dropped the state. Returns the outcome
/// and whether the whole scope was read.
async fn round<T: serde::de::DeserializeOwned>(
    client: &GraphClient,
    initial: &str,
    token: Option<&str>,
    batch: Option<&Coalescer>,
) -> Result<(Vec<DeltaChange<T>>, String, bool), GraphError> {
    let mut whole = token.is_none();
    let options = DeltaOptions {
        batch: batch.cloned(),
        ..DeltaOptions::outlook()
    };
    let mut outcome = DeltaRound::<T>::new(client, initial, token, options)
        .run()
        .await?;
    if let DeltaOutcome::Reset { restart_url } = &outcome {
        whole = true;
        outcome = DeltaRound::<T>::new(client, restart_url, None, DeltaOptions::outlook())
            .run()
            .await?;
    }
    match outcome {
        DeltaOutcome::Complete {
            changes,
            delta_link,
        } => Ok((changes, delta_link, whole)),
        DeltaOutcome::Reset { .. } => Err(GraphError::Invalid(format!(
            "Graph dropped the delta state of {initial} twice in a row; try again later"
        ))),
    }
}

/// Syncs one mailbox. Never fails: what went wrong is in the outcome.
pub async fn sync_mailbox(ctx: Ctx, owner: Owner, region: RegionOf) -> Outcome {
    let mut out = Outcome::default();
    match run(&ctx, &owner, region, &mut out).await {
        Ok(()) => {}
        Err(Failure::Graph(e)) if is_unreadable(&e) => {
            out.unreadable = Some(format!(
                "{} cannot be read ({}); its phonebook was kept as it was",
                owner.describe(),
                e.code().unwrap_or("error")
            ));
        }
        Err(Failure::Graph(e)) => {
            out.error = Some(format!("{}: {e}", owner.describe()));
        }
        Err(Failure::Store(e)) => {
            out.error = Some(format!("{}: the store failed: {e}", owner.describe()));
        }
    }
    out
}

enum Failure {
    Graph(GraphError),
    Store(store::StoreError),
}

impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        Failure::Graph(e)
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        Failure::Store(e)
    }
}

async fn run(ctx: &Ctx, owner: &Owner, region: RegionOf, out: &mut Outcome) -> Result<(), Failure> {
    let key = owner.key();
    let state_scope = owner.state_scope();
    let stored: Option<MailboxState> = ctx
        .store
        .get_delta_token(&ctx.site, &state_scope)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok());
    let known = match region {
        RegionOf::Known(r) => Some(r),
        RegionOf::Lookup(_) => None,
    };
    let mut full = ctx.full || stored.is_none() || known.is_none();
    if let (Some(s), Some(r)) = (&stored, known) {
        let region_text = r.map(|r| r.as_str().to_owned());
        if s.region != region_text {
            out.log.push(format!(
                "{}: the owner's country changed ({} → {}): reading every contact again",
                owner.describe(),
                s.region.as_deref().unwrap_or("none"),
                region_text.as_deref().unwrap_or("none")
            ));
            full = true;
        }
    }
    let before = if known.is_some() {
        stored.clone().unwrap_or_default()
    } else {
        // Nothing usable was stored: the folders the store knows are found from its contacts.
        MailboxState::default()
    };

    // The folder list.
    let (changes, link, whole_list) = round::<ContactFolder>(
        &ctx.client,
        &format!("/users/{key}/contactFolders/delta?$select=id,displayName,parentFolderId"),
        if full { None } else { before.link.as_deref() },
        ctx.batch.as_ref(),
    )
    .await?;
    // Readable: now the owner's country, when it had to be looked up.
    let region = match region {
        RegionOf::Known(r) => r,
        RegionOf::Lookup(fallback) => {
            let u: graph::models::User = ctx
                .client
                .get_json(&format!("/users/{key}?$select=id,usageLocation"))
                .await?;
            u.usage_location
                .as_deref()
                .and_then(|l| Region::new(l).ok())
                .or(fallback)
        }
    };
    let region_text = region.map(|r| r.as_str().to_owned());
    let mut folders = if whole_list {
        BTreeMap::new()
    } else {
        before.folders.clone()
    };
    for c in changes {
        match c {
            DeltaChange::Upsert(f) => {
                folders.insert(f.id.clone(), f.parent_folder_id.clone());
            }
            DeltaChange::Removed { id, .. } => {
                folders.remove(&id);
            }
        }
    }
    let mut default = before.default.clone();
    if default.is_none() {
        default = parent_outside(&folders);
    }
    if default.is_none() {
        // The default folder of a mailbox with neither a contact nor a subfolder has no id
        // Graph tells: one contact's `parentFolderId` is the only way to learn it. This probe
        // stands for that folder's scope (which has no delta token until a contact comes),
        // so it travels batched like the scopes' delta requests.
        let url = format!("/users/{key}/contacts?$top=1&$select=id,parentFolderId");
        let page: graph::paging::Page<Contact> = match &ctx.batch {
            Some(batch) => batch.get(&url, &[]).await?.error_for_status()?.json()?,
            None => ctx.client.get_json(&url).await?,
        };
        default = page.value.into_iter().find_map(|c| c.parent_folder_id);
    }
    // A folder listed as its own default (a stale state) is not read twice.
    if let Some(d) = &default {
        folders.remove(d);
    }
    let mut gone: Vec<String> = before
        .folders
        .keys()
        .filter(|f| !folders.contains_key(*f) && Some(*f) != default.as_ref())
        .cloned()
        .collect();
    if let (Some(old), Some(new)) = (&before.default, &default) {
        if old != new {
            gone.push(old.clone());
        }
    }

    // Every folder's contacts.
    let mut targets: Vec<String> = default.iter().cloned().collect();
    targets.extend(folders.keys().cloned());
    // Up to 4 folders at once: Outlook's limit per mailbox (the client holds it too).
    let reads = futures_util::stream::iter(targets.clone().into_iter().map(
        |folder: String| async move {
            let scope = owner.scope(&folder);
            let token = if full {
                None
            } else {
                ctx.store.get_delta_token(&ctx.site, &scope).await?
            };
            let url = format!(
                "/users/{key}/contactFolders/{folder}/contacts/delta?$select={CONTACT_SELECT}"
            );
            match round::<Contact>(&ctx.client, &url, token.as_deref(), ctx.batch.as_ref()).await {
                Ok((changes, link, whole)) => Ok(Some(FolderRound {
                    folder,
                    changes,
                    link,
                    whole,
                })),
                // Deleted since the folder list was read: the next folder round reports it.
                Err(GraphError::Api {
                    status: 404, code, ..
                }) if code == "ErrorItemNotFound" => Ok(None),
                Err(e) => Err(Failure::from(e)),
            }
        },
    ))
    .buffer_unordered(FOLDERS_AT_ONCE)
    .collect::<Vec<Result<Option<FolderRound>, Failure>>>()
    .await;
    let mut rounds = Vec::new();
    for r in reads {
        if let Some(round) = r? {
            rounds.push(round);
        }
    }
    let read: BTreeSet<&str> = rounds.iter().map(|r| r.folder.as_str()).collect();
    for folder in targets.iter().filter(|f| !read.contains(f.as_str())) {
        out.log.push(format!(
            "{}: folder {folder} went while it was read; it is dropped next time",
            owner.describe()
        ));
    }

    // Plan against the stored phonebook (read only when something may have changed).
    let needs_store =
        whole_list || !gone.is_empty() || rounds.iter().any(|r| r.whole || !r.changes.is_empty());
    let mut existing: HashMap<String, HashMap<String, ContactRecord>> = HashMap::new();
    let (phonebook, source) = owner.book();
    if needs_store {
        let stored = match owner {
            Owner::Shared { .. } => {
                ctx.company
                    .take(ctx.store.as_ref(), &ctx.site, &source)
                    .await?
            }
            Owner::Personal { .. } => ctx.store.list_contacts(&ctx.site, &phonebook).await?,
        };
        for c in stored {
            if c.source != source {
                continue;
            }
            let folder = c.folder_id.clone().unwrap_or_default();
            existing
                .entry(folder)
                .or_default()
                .insert(c.source_id.clone(), c);
        }
    }
    // After a whole read of the folder list, any other folder the store holds contacts of
    // is gone too (its state may have been lost).
    if whole_list {
        let mut stray: Vec<String> = existing
            .keys()
            .filter(|f| !targets.contains(*f) && !gone.contains(*f))
            .cloned()
            .collect();
        stray.sort();
        gone.extend(stray);
    }
    let target = Target {
        site: ctx.site.clone(),
        phonebook,
        source,
        region,
    };
    let book = owner.book_word();
    let empty = HashMap::new();
    let (rounds, mut records) = map_rounds(rounds, &target).await?;
    for (r, records) in rounds.into_iter().zip(records.iter_mut()) {
        let scope = owner.scope(&r.folder);
        let old = existing.get(&r.folder).unwrap_or(&empty);
        let mut upserts = Vec::new();
        let mut deletions = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (c, rec) in r.changes.iter().zip(records.iter_mut()) {
            match c {
                DeltaChange::Upsert(contact) => {
                    seen.insert(contact.id.clone());
                    let Some(rec) = rec.take() else { continue };
                    match old.get(&contact.id) {
                        Some(o) if *o == rec => out.counts.unchanged += 1,
                        Some(_) => {
                            out.counts.updated += 1;
                            out.plan(mapping::line("update", &book, &rec));
                            out.invalid +=
                                rec.numbers.iter().filter(|n| n.is_invalid()).count() as u64;
                            upserts.push(ScopeUpsert::Contact(rec));
                        }
                        None => {
                            out.counts.created += 1;
                            out.plan(mapping::line("create", &book, &rec));
                            out.invalid +=
                                rec.numbers.iter().filter(|n| n.is_invalid()).count() as u64;
                            upserts.push(ScopeUpsert::Contact(rec));
                        }
                    }
                }
                DeltaChange::Removed { id, .. } => {
                    if let Some(o) = old.get(id) {
                        out.plan(mapping::line("delete", &book, o));
                        deletions.push(Deletion::Contact(id.clone()));
                    }
                }
            }
        }
        if r.whole {
            let mut missing: Vec<&ContactRecord> = old
                .values()
                .filter(|o| !seen.contains(&o.source_id))
                .collect();
            missing.sort_by(|a, b| a.source_id.cmp(&b.source_id));
            for o in missing {
                out.plan(mapping::line("delete", &book, o));
                deletions.push(Deletion::Contact(o.source_id.clone()));
            }
        }
        out.counts.pending_deletion += deletions.len() as u64;
        commit(ctx, &scope, &seen, upserts, deletions, Some(r.link)).await?;
    }
    for folder in &gone {
        let scope = owner.scope(folder);
        let mut deletions: Vec<Deletion> = Vec::new();
        if let Some(old) = existing.get(folder) {
            let mut ids: Vec<&ContactRecord> = old.values().collect();
            ids.sort_by(|a, b| a.source_id.cmp(&b.source_id));
            for o in ids {
                out.plan(mapping::line("delete", &book, o));
                deletions.push(Deletion::Contact(o.source_id.clone()));
            }
        }
        out.log.push(format!(
            "{}: folder {folder} is gone; its {} contacts are to be deleted",
            owner.describe(),
            deletions.len()
        ));
        out.counts.pending_deletion += deletions.len() as u64;
        commit(ctx, &scope, &BTreeSet::new(), Vec::new(), deletions, None).await?;
        // Its token goes too, unless that prefix would reach a live folder's scope.
        if ctx.job.is_some() && !targets.iter().any(|f| f.starts_with(folder.as_str())) {
            let _turn = ctx.writes.lock().await;
            ctx.store
                .invalidate_scopes(&ctx.site, scope.as_str())
                .await?;
        }
    }

    let after = MailboxState {
        link: Some(link),
        default,
        folders,
        region: region_text,
    };
    if ctx.job.is_some() && stored.as_ref() != Some(&after) {
        let text = serde_json::to_string(&after)
            .map_err(|e| Failure::Graph(GraphError::Invalid(e.to_string())))?;
        let _turn = ctx.writes.lock().await;
        ctx.store
            .set_delta_token(&ctx.site, &state_scope, &text)
            .await?;
    }
    Ok(())
}

/// Every upserted contact of the rounds as a record (`None` for removals), in the rounds'
/// order. Mapping, number parsing above all, is the CPU-heavy part of a mailbox: with many
/// contacts it runs on a blocking thread, so the runtime's workers keep serving the other
/// mailboxes' requests instead of letting their answers wait.
async fn map_rounds(
    rounds: Vec<FolderRound>,
    target: &Target,
) -> Result<(Vec<FolderRound>, Vec<Vec<Option<ContactRecord>>>), Failure> {
    fn map(rounds: &[FolderRound], target: &Target) -> Vec<Vec<Option<ContactRecord>>> {
        rounds
            .iter()
            .map(|r| {
                r.changes
                    .iter()
                    .map(|c| match c {
                        DeltaChange::Upsert(contact) => {
                            Some(mapping::contact_record(contact, &r.folder, target))
                        }
                        DeltaChange::Removed { .. } => None,
                    })
                    .collect()
            })
            .collect()
    }
    let upserts: usize = rounds.iter().map(|r| r.changes.len()).sum();
    if upserts < MAP_INLINE_BELOW {
        let records = map(&rounds, target);
        return Ok((rounds, records));
    }
    let target = target.clone();
    match tokio::task::spawn_blocking(move || {
        let records = map(&rounds, &target);
        (rounds, records)
    })
    .await
    {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Failure::Graph(GraphError::Invalid(format!(
            "mapping the contacts was cancelled: {e}"
        )))),
    }
}

/// Below this many changes a mailbox's contacts are mapped in place (a blocking thread's
/// hand-off would cost more than it frees).
const MAP_INLINE_BELOW: usize = 16;

/// The parent that is not itself a listed folder: the default Contacts folder (the most
/// common such parent, should the list hold strays).
fn parent_outside(folders: &BTreeMap<String, Option<String>>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for parent in folders.values().flatten() {
        if !folders.contains_key(parent) {
            *counts.entry(parent.as_str()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p.to_owned())
}

/// Writes one scope (unless dry run): creates and updates, pending deletions, its token; and
/// drops earlier pending deletions of contacts this round saw alive.
pub async fn commit(
    ctx: &Ctx,
    scope: &ScopeKey,
    seen: &BTreeSet<String>,
    upserts: Vec<ScopeUpsert>,
    deletions: Vec<Deletion>,
    token: Option<String>,
) -> Result<(), store::StoreError> {
    let Some(job) = ctx.job else { return Ok(()) };
    let _turn = ctx.writes.lock().await;
    if let Some(pending) = ctx.pending.get(scope) {
        let alive: Vec<Deletion> = seen
            .iter()
            .filter(|id| pending.contains(*id))
            .map(|id| Deletion::Contact(id.clone()))
            .collect();
        ctx.store.cancel_pending(&ctx.site, scope, &alive).await?;
    }
    // A round that changed nothing writes only a token that moved.
    if upserts.is_empty() && deletions.is_empty() {
        let moved = match &token {
            Some(t) => ctx.store.get_delta_token(&ctx.site, scope).await?.as_ref() != Some(t),
            None => false,
        };
        if !moved {
            return Ok(());
        }
    }
    ctx.store
        .apply_scope(&ScopeCommit {
            site: ctx.site.clone(),
            job,
            scope: scope.clone(),
            upserts,
            deletions,
            delta_token: token,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_folder_is_the_parent_outside_the_list() {
        let folders: BTreeMap<String, Option<String>> = [
            ("a".to_string(), Some("D".to_string())),
            ("b".to_string(), Some("a".to_string())),
            ("c".to_string(), Some("D".to_string())),
        ]
        .into_iter()
        .collect();
        assert_eq!(parent_outside(&folders).as_deref(), Some("D"));
        assert_eq!(parent_outside(&BTreeMap::new()), None);
    }

    #[test]
    fn unreadable_mailboxes_are_told_apart_from_failures() {
        let api = |status: u16, code: &str| GraphError::Api {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
            client_request_id: None,
            retry_after: None,
        };
        assert!(is_unreadable(&api(404, "MailboxNotEnabledForRESTAPI")));
        assert!(is_unreadable(&api(403, "ErrorAccessDenied")));
        assert!(!is_unreadable(&api(503, "ServiceUnavailable")));
        assert!(!is_unreadable(&api(404, "ErrorItemNotFound")));
    }
}
