//! The contacts part of a job: personal contacts of every synced user, the configured shared
//! mailboxes, org contacts; then the mass-deletion guard over every pending contact deletion
//! and, when every scope succeeded, applying them.

use crate::error::SyncError;
use crate::job::Job;
use crate::mailbox::{
    self, Ctx, MailboxState, Outcome, Owner, RegionOf, PERSONAL_STATE, SHARED_STATE,
};
use crate::mapping::{self, Target, ORG_CONTACT_SELECT};
use crate::report::KindCounts;
use config::Source;
use directory::{ContactRecord, ContactSource, PhonebookKind, Region, SiteId};
use futures_util::StreamExt;
use graph::delta::{DeltaChange, DeltaOptions, DeltaOutcome, DeltaRound};
use graph::models::{OrgContact, User};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use store::{Deletion, JobId, ScopeKey, ScopeUpsert};

/// Mailboxes read at once (each at most 4 requests in flight, all under the client's global
/// limit of 16). More mailboxes than slots: a mailbox between two pages (parsing, numbers,
/// writing) holds no slot, so 16 left the limit idle part of the time — a 10,000-mailbox full
/// sync on a quiet machine took 119.8 s with 16 and 114.2 / 114.5 s with 32 (bench/README).
const MAILBOXES_AT_ONCE: usize = 32;

/// How long a request waits for others to share its `$batch` (a fraction of a round trip:
/// the mailboxes in flight ask their next requests at about the same time).
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// Requests per `$batch`: Graph runs 4 Outlook requests of a batch at once (more would
/// queue inside it), so a batch of 4 costs one round trip.
const OUTLOOK_BATCH: usize = 4;

/// Plan lines a report keeps at most (the counts are always complete).
const MAX_PLAN_LINES: usize = 10_000;

/// Pending deletion lines shown when the guard stops a job.
const GUARD_LINES: usize = 50;

/// Which phonebook kind a scope's contacts belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Personal,
    Company,
    Directory,
}

fn kind_of(scope: &ScopeKey) -> Option<Kind> {
    let s = scope.as_str();
    if s.starts_with("contacts:") {
        Some(Kind::Personal)
    } else if s.starts_with("shared:") {
        Some(Kind::Company)
    } else if s == ScopeKey::org().as_str() {
        Some(Kind::Directory)
    } else {
        None
    }
}

/// Where the selection fingerprint of shared mailboxes is kept.
fn shared_fingerprint_scope() -> ScopeKey {
    ScopeKey::new("selection-fingerprint:shared_mailboxes").unwrap_or_else(ScopeKey::org)
}

impl Job<'_> {
    fn counts_mut(&mut self, kind: Kind) -> &mut KindCounts {
        match kind {
            Kind::Personal => &mut self.report.contacts.personal,
            Kind::Company => &mut self.report.contacts.company,
            Kind::Directory => &mut self.report.contacts.directory,
        }
    }

    /// The contacts part's first half, run before the users part: the job's mailbox context,
    /// and the shared mailboxes (which need no extension) set reading in the background, so
    /// that they fill the time the users part spends on its page chain and its writes instead
    /// of starting after it.
    pub(crate) async fn start_contacts(
        &mut self,
        site_id: &SiteId,
        sources: &[Source],
    ) -> Result<ContactsStart, SyncError> {
        let site_region = Region::new(&self.site.dialling.country).ok();
        let mut pending: HashMap<ScopeKey, HashSet<String>> = HashMap::new();
        for p in self.store.list_pending(site_id).await? {
            if let Deletion::Contact(id) = p.target {
                pending.entry(p.scope).or_default().insert(id);
            }
        }
        let ctx = Ctx {
            store: self.store.clone(),
            client: self.client.clone(),
            site: site_id.clone(),
            job: if self.options.dry_run {
                None
            } else {
                self.report.job
            },
            full: self.options.full,
            pending: Arc::new(pending),
            writes: Arc::new(tokio::sync::Mutex::new(())),
            batch: Some(graph::coalesce::Coalescer::new(
                self.client,
                BATCH_WINDOW,
                OUTLOOK_BATCH,
            )),
            company: Arc::default(),
        };
        let mut shared = None;
        if sources.contains(&Source::SharedMailboxes) {
            shared = Some(self.start_shared(&ctx, site_id, site_region).await?);
        }
        Ok(ContactsStart { ctx, shared })
    }

    /// Drops the shared mailboxes no longer configured and sets the configured ones reading
    /// in a task of their own.
    async fn start_shared(
        &mut self,
        ctx: &Ctx,
        site_id: &SiteId,
        site_region: Option<Region>,
    ) -> Result<SharedRun, SyncError> {
        self.log("shared mailboxes → company phonebook".into())
            .await;
        let fingerprint = self.site.selection_fingerprint(Source::SharedMailboxes);
        let stored = self
            .store
            .get_delta_token(site_id, &shared_fingerprint_scope())
            .await?;
        let changed = stored.as_deref().is_some_and(|f| f != fingerprint);
        if changed {
            self.log(
                "the shared mailbox list changed since the last run: reading them all again".into(),
            )
            .await;
        }
        let configured: BTreeSet<String> = self.site.shared_mailboxes.iter().cloned().collect();
        for (scope, _) in self.store.list_delta_tokens(site_id, SHARED_STATE).await? {
            let mb = scope
                .as_str()
                .trim_start_matches(SHARED_STATE)
                .trim_end_matches(':')
                .to_owned();
            if configured.contains(&mb) {
                continue;
            }
            let source = ContactSource::SharedMailbox {
                mailbox: mb.clone(),
            };
            self.retire_mailbox(
                ctx,
                (Kind::Company, &PhonebookKind::Company, &source),
                |r| ScopeKey::shared(&mb, r.folder_id.as_deref().unwrap_or_default()),
                (&scope, &format!("shared:{mb}:")),
                |n| format!("shared mailbox {mb} is no longer configured: its {n} contacts are to be deleted"),
            )
            .await?;
        }
        let mailboxes: Vec<(Owner, RegionOf, bool)> = self
            .site
            .shared_mailboxes
            .iter()
            .map(|mb| {
                let owner = Owner::Shared {
                    mailbox: mb.clone(),
                };
                (owner, RegionOf::Known(site_region), changed)
            })
            .collect();
        let task = AbortOnDrop(tokio::spawn(
            read_mailboxes(ctx.clone(), mailboxes).collect::<Vec<_>>(),
        ));
        Ok(SharedRun {
            fingerprint: ctx.job.is_some().then_some(fingerprint),
            task,
        })
    }

    /// Runs the contact sources among `sources` (the shared mailboxes were set reading by
    /// [`Job::start_contacts`]); `planned` are the users a dry run would give an extension;
    /// `failed_before` (the users part failed) keeps deletions pending.
    pub(crate) async fn contacts(
        &mut self,
        start: ContactsStart,
        site_id: &SiteId,
        sources: &[Source],
        users_read: &HashMap<String, User>,
        planned: &[(String, String)],
        failed_before: bool,
    ) -> Result<(), SyncError> {
        let site_region = Region::new(&self.site.dialling.country).ok();
        let ContactsStart { mut ctx, shared } = start;
        let mut failures: Vec<String> = Vec::new();
        let mut mailboxes: Vec<(Owner, RegionOf, bool)> = Vec::new();

        if sources.contains(&Source::PersonalContacts) {
            self.log("personal contacts → personal phonebooks".into())
                .await;
            let mut owners = self
                .personal_owners(site_id, users_read, site_region)
                .await?;
            for (id, name) in planned {
                let region = users_read
                    .get(id)
                    .and_then(|u| u.usage_location.as_deref())
                    .and_then(|l| Region::new(l).ok())
                    .or(site_region);
                owners.push((id.clone(), (name.clone(), RegionOf::Known(region))));
            }
            let synced: BTreeSet<String> = owners.iter().map(|(o, _)| o.clone()).collect();
            let states = self
                .store
                .list_delta_tokens(site_id, PERSONAL_STATE)
                .await?;
            let extensions: HashSet<String> = self
                .store
                .list_extensions(site_id)
                .await?
                .into_iter()
                .map(|e| e.user_id)
                .collect();
            for (scope, _) in states {
                let user = scope
                    .as_str()
                    .trim_start_matches(PERSONAL_STATE)
                    .trim_end_matches(':')
                    .to_owned();
                // A user without an extension at all (deleted): their phonebook goes. A
                // disabled one keeps it as it was.
                if !synced.contains(&user) && !extensions.contains(&user) {
                    let book = PhonebookKind::Personal {
                        owner_user_id: user.clone(),
                    };
                    self.retire_mailbox(
                        &ctx,
                        (Kind::Personal, &book, &ContactSource::PersonalOutlook),
                        |r| ScopeKey::contacts(&user, r.folder_id.as_deref().unwrap_or_default()),
                        (&scope, &ScopeKey::contacts_prefix(&user)),
                        |n| format!("user {user} has no extension any more: their {n} personal contacts are to be deleted"),
                    )
                    .await?;
                }
            }
            for (user_id, (name, region)) in owners_named(owners) {
                mailboxes.push((Owner::Personal { user_id, name }, region, false));
            }
        }

        // The personal mailboxes, several at once.
        {
            let outcomes = read_mailboxes(ctx.clone(), mailboxes);
            futures_util::pin_mut!(outcomes);
            while let Some(o) = outcomes.next().await {
                self.take_outcome(Kind::Personal, o, &mut failures).await;
            }
        }
        // The shared mailboxes, most often read long before.
        let mut shared_fingerprint = None;
        if let Some(SharedRun {
            fingerprint,
            mut task,
        }) = shared
        {
            match (&mut task.0).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        self.take_outcome(Kind::Company, o, &mut failures).await;
                    }
                }
                Err(e) => failures.push(format!(
                    "shared mailboxes: the task reading them failed: {e}"
                )),
            }
            shared_fingerprint = fingerprint;
        }

        if sources.contains(&Source::OrgContacts) {
            self.log("org contacts → company directory".into()).await;
            ctx.full = self.options.full;
            if let Err(e) = self.org_contacts(&ctx, site_region).await {
                failures.push(format!("org contacts: {e}"));
            }
        }

        let c = self.report.contacts;
        self.log(format!(
            "contacts: personal {} created, {} updated, {} to delete; company {} created, {} updated, {} to delete; directory {} created, {} updated, {} to delete; {} invalid numbers kept raw; {} mailboxes unreadable",
            c.personal.created, c.personal.updated, c.personal.pending_deletion,
            c.company.created, c.company.updated, c.company.pending_deletion,
            c.directory.created, c.directory.updated, c.directory.pending_deletion,
            c.invalid_numbers, c.unreadable_mailboxes,
        ))
        .await;

        if let (Some(fp), true) = (&shared_fingerprint, failures.is_empty()) {
            self.store
                .set_delta_token(site_id, &shared_fingerprint_scope(), fp)
                .await?;
        }
        if !failures.is_empty() {
            for f in &failures {
                self.log(format!("failed: {f}")).await;
            }
            return Err(SyncError::Scopes { failures });
        }
        if failed_before {
            self.log("the users part failed: contact deletions stay pending".into())
                .await;
            return Ok(());
        }
        self.guard_and_apply(site_id).await
    }

    /// Every synced user (enabled extension) with their name and the region their numbers
    /// are read in: `usageLocation` from this job's users round, else from the last contacts
    /// sync, else looked up once their mailbox proves readable; the site's country when they
    /// have none.
    async fn personal_owners(
        &mut self,
        site_id: &SiteId,
        users_read: &HashMap<String, User>,
        site_region: Option<Region>,
    ) -> Result<Vec<(String, (String, RegionOf))>, SyncError> {
        let exts: Vec<directory::Extension> = self
            .store
            .list_extensions(site_id)
            .await?
            .into_iter()
            .filter(|e| e.enabled)
            .collect();
        let region_of = |loc: Option<&str>| loc.and_then(|l| Region::new(l).ok()).or(site_region);
        let mut known: HashMap<String, Option<Region>> = HashMap::new();
        for (id, u) in users_read {
            known.insert(id.clone(), region_of(u.usage_location.as_deref()));
        }
        for (scope, token) in self
            .store
            .list_delta_tokens(site_id, PERSONAL_STATE)
            .await?
        {
            let user = scope
                .as_str()
                .trim_start_matches(PERSONAL_STATE)
                .trim_end_matches(':')
                .to_owned();
            if known.contains_key(&user) {
                continue;
            }
            if let Ok(state) = serde_json::from_str::<MailboxState>(&token) {
                known.insert(user, region_of(state.region.as_deref()));
            }
        }
        Ok(exts
            .into_iter()
            .map(|e| {
                let region = match known.get(&e.user_id) {
                    Some(r) => RegionOf::Known(*r),
                    None => RegionOf::Lookup(site_region),
                };
                (e.user_id, (e.display_name, region))
            })
            .collect())
    }

    /// Retires a mailbox that left the sync: every stored contact of its source in its book
    /// becomes a pending deletion (counted under its kind, and told with `why`), and, unless
    /// this is a dry run, its state and folder scopes (`scopes`: the state's key and the
    /// folders' prefix) are forgotten, so that it is read from scratch should it come back.
    async fn retire_mailbox(
        &mut self,
        ctx: &Ctx,
        (kind, book, source): (Kind, &PhonebookKind, &ContactSource),
        scope_of: impl Fn(&ContactRecord) -> ScopeKey,
        (state, folders): (&ScopeKey, &str),
        why: impl FnOnce(u64) -> String,
    ) -> Result<(), SyncError> {
        let n = self.drop_source(ctx, book, source, scope_of).await?;
        self.counts_mut(kind).pending_deletion += n;
        self.log(why(n)).await;
        if ctx.job.is_some() {
            self.store
                .invalidate_scopes(&ctx.site, state.as_str())
                .await?;
            self.store.invalidate_scopes(&ctx.site, folders).await?;
        }
        Ok(())
    }

    /// Records every stored contact of one source as a pending deletion (a mailbox or owner
    /// that left the sync); returns how many.
    async fn drop_source(
        &mut self,
        ctx: &Ctx,
        book: &PhonebookKind,
        source: &ContactSource,
        scope_of: impl Fn(&ContactRecord) -> ScopeKey,
    ) -> Result<u64, SyncError> {
        let mut by_scope: BTreeMap<ScopeKey, Vec<Deletion>> = BTreeMap::new();
        for r in self.store.list_contacts(&ctx.site, book).await? {
            if &r.source == source {
                by_scope
                    .entry(scope_of(&r))
                    .or_default()
                    .push(Deletion::Contact(r.source_id.clone()));
            }
        }
        let mut n = 0;
        for (scope, deletions) in by_scope {
            n += deletions.len() as u64;
            mailbox::commit(ctx, &scope, &BTreeSet::new(), Vec::new(), deletions, None).await?;
        }
        Ok(n)
    }

    async fn take_outcome(&mut self, kind: Kind, o: Outcome, failures: &mut Vec<String>) {
        for l in o.log {
            self.log(l).await;
        }
        for p in &o.plan {
            if self.options.dry_run {
                self.log(p.clone()).await;
            }
        }
        let room = MAX_PLAN_LINES.saturating_sub(self.report.plan.len());
        self.report.plan.extend(o.plan.into_iter().take(room));
        self.counts_mut(kind).add(&o.counts);
        self.report.contacts.invalid_numbers += o.invalid;
        if let Some(w) = o.unreadable {
            self.report.contacts.unreadable_mailboxes += 1;
            self.warn(w).await;
        }
        if let Some(e) = o.error {
            failures.push(e);
        }
    }

    /// The org contacts scope (`/contacts/delta`).
    async fn org_contacts(&mut self, ctx: &Ctx, region: Option<Region>) -> Result<(), SyncError> {
        let scope = ScopeKey::org();
        let token = if ctx.full {
            None
        } else {
            self.store.get_delta_token(&ctx.site, &scope).await?
        };
        let initial = format!("/contacts/delta?$select={ORG_CONTACT_SELECT}");
        let mut whole = token.is_none();
        let mut outcome = DeltaRound::<OrgContact>::new(
            self.client,
            &initial,
            token.as_deref(),
            DeltaOptions::default(),
        )
        .run()
        .await?;
        if let DeltaOutcome::Reset { restart_url } = &outcome {
            self.log("Graph dropped the org contacts delta token: reading them all again".into())
                .await;
            whole = true;
            outcome = DeltaRound::<OrgContact>::new(
                self.client,
                restart_url,
                None,
                DeltaOptions::default(),
            )
            .run()
            .await?;
        }
        let (changes, link) = match outcome {
            DeltaOutcome::Complete {
                changes,
                delta_link,
            } => (changes, delta_link),
            DeltaOutcome::Reset { .. } => {
                return Err(SyncError::Graph(graph::GraphError::Invalid(
                    "Graph dropped the org contacts delta state twice in a row; try again later"
                        .into(),
                )))
            }
        };
        let needs_store = whole || !changes.is_empty();
        let old: HashMap<String, ContactRecord> = if needs_store {
            self.store
                .list_contacts(&ctx.site, &PhonebookKind::Directory)
                .await?
                .into_iter()
                .map(|r| (r.source_id.clone(), r))
                .collect()
        } else {
            HashMap::new()
        };
        let target = Target {
            site: ctx.site.clone(),
            phonebook: PhonebookKind::Directory,
            source: ContactSource::OrgContact,
            region,
        };
        let mut counts = KindCounts::default();
        let mut invalid = 0;
        let mut plan = Vec::new();
        let mut upserts = Vec::new();
        let mut deletions = Vec::new();
        let mut seen = BTreeSet::new();
        for c in &changes {
            match c {
                DeltaChange::Upsert(oc) => {
                    seen.insert(oc.id.clone());
                    let rec = mapping::org_record(oc, &target);
                    match old.get(&oc.id) {
                        Some(o) if *o == rec => counts.unchanged += 1,
                        found => {
                            if found.is_some() {
                                counts.updated += 1;
                                plan.push(mapping::line("update", "directory", &rec));
                            } else {
                                counts.created += 1;
                                plan.push(mapping::line("create", "directory", &rec));
                            }
                            invalid += rec.numbers.iter().filter(|n| n.is_invalid()).count() as u64;
                            upserts.push(ScopeUpsert::Contact(rec));
                        }
                    }
                }
                DeltaChange::Removed { id, .. } => {
                    if let Some(o) = old.get(id) {
                        plan.push(mapping::line("delete", "directory", o));
                        deletions.push(Deletion::Contact(id.clone()));
                    }
                }
            }
        }
        if whole {
            let mut missing: Vec<&ContactRecord> = old
                .values()
                .filter(|o| !seen.contains(&o.source_id))
                .collect();
            missing.sort_by(|a, b| a.source_id.cmp(&b.source_id));
            for o in missing {
                plan.push(mapping::line("delete", "directory", o));
                deletions.push(Deletion::Contact(o.source_id.clone()));
            }
        }
        counts.pending_deletion += deletions.len() as u64;
        mailbox::commit(ctx, &scope, &seen, upserts, deletions, Some(link)).await?;
        if self.options.dry_run {
            for p in &plan {
                self.log(p.clone()).await;
            }
        }
        let room = MAX_PLAN_LINES.saturating_sub(self.report.plan.len());
        self.report.plan.extend(plan.into_iter().take(room));
        self.report.contacts.directory.add(&counts);
        self.report.contacts.invalid_numbers += invalid;
        Ok(())
    }

    /// The job-wide guard over every pending contact deletion (this job's and those earlier
    /// jobs left), then applying them when it passes.
    async fn guard_and_apply(&mut self, site_id: &SiteId) -> Result<(), SyncError> {
        let total = self.store.count_contacts(site_id).await? as usize;
        let pending: Vec<store::PendingDeletion> = self
            .store
            .list_pending(site_id)
            .await?
            .into_iter()
            .filter(|p| matches!(p.target, Deletion::Contact(_)))
            .collect();
        // A dry run recorded nothing: its planned deletions count on top.
        let planned = if self.options.dry_run {
            let c = self.report.contacts;
            (c.personal.pending_deletion
                + c.company.pending_deletion
                + c.directory.pending_deletion) as usize
        } else {
            0
        };
        let count = pending.len() + planned;
        if count == 0 {
            return Ok(());
        }
        let pct = usize::from(self.site.guards.mass_deletion_percent);
        let limit = (self.site.guards.mass_deletion_min as usize).max(total * pct / 100);
        if count > limit && !self.options.allow_mass_delete {
            let lines: Vec<String> = pending
                .iter()
                .take(GUARD_LINES)
                .map(|p| match &p.target {
                    Deletion::Contact(id) | Deletion::Extension(id) => format!("{} {id}", p.scope),
                })
                .collect();
            for l in &lines {
                self.log(format!("pending: {l}")).await;
            }
            return Err(SyncError::ContactMassDeletion {
                count,
                total,
                limit,
                pending: lines,
            });
        }
        if self.options.dry_run {
            return Ok(());
        }
        let mut by_job: BTreeMap<JobId, ()> = BTreeMap::new();
        for p in &pending {
            if let Some(kind) = kind_of(&p.scope) {
                self.counts_mut(kind).deleted += 1;
            }
            by_job.insert(p.job, ());
        }
        let mut applied = 0;
        for job in by_job.keys() {
            applied += self
                .store
                .apply_pending_contacts(site_id, job)
                .await?
                .contacts;
        }
        self.log(format!("deleted {applied} contacts")).await;
        Ok(())
    }
}

/// `(user id, (name, region))` pairs, in a stable order.
fn owners_named(owners: Vec<(String, (String, RegionOf))>) -> BTreeMap<String, (String, RegionOf)> {
    owners.into_iter().collect()
}

/// What [`Job::start_contacts`] set up for the rest of the contacts part.
pub(crate) struct ContactsStart {
    /// The mailboxes' shared context (store, client, pending deletions, batching).
    ctx: Ctx,
    /// The shared mailboxes being read, when that source is on.
    shared: Option<SharedRun>,
}

/// The shared mailboxes read in the background while the users part runs.
struct SharedRun {
    /// Their selection's fingerprint, stored once every one of them was read (not on a dry run).
    fingerprint: Option<String>,
    /// Their outcomes, in completion order.
    task: AbortOnDrop<Vec<Outcome>>,
}

/// Reads `mailboxes` [`MAILBOXES_AT_ONCE`] at a time, each as its own task (so that it holds
/// no store transaction while the job writes its log); yields their outcomes as they finish.
/// The caller knows their kind: personal and shared mailboxes are read by separate calls.
fn read_mailboxes(
    ctx: Ctx,
    mailboxes: Vec<(Owner, RegionOf, bool)>,
) -> impl futures_util::Stream<Item = Outcome> {
    let full = ctx.full;
    futures_util::stream::iter(mailboxes.into_iter().map(move |(owner, region, redo)| {
        let mut c = ctx.clone();
        c.full = full || redo;
        async move {
            let who = owner.describe();
            let mut task = AbortOnDrop(tokio::spawn(mailbox::sync_mailbox(c, owner, region)));
            (&mut task.0).await.unwrap_or_else(|e| Outcome {
                error: Some(format!("{who}: the task reading it failed: {e}")),
                ..Outcome::default()
            })
        }
    }))
    .buffer_unordered(MAILBOXES_AT_ONCE)
}

/// A task that stops when the job dropping it stops (a cancelled job leaves nothing running
/// behind it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
