//! One users → extensions job, from permission check to recorded outcome.

use crate::error::SyncError;
use crate::plan::{extension_for, line};
use crate::read;
use crate::record::{consent_url, Ending, JobRecorder};
use crate::report::{ContactCounts, JobReport, PlanCounts, SyncOptions};
use crate::select::{decide, Decision, USER_SELECT};
use config::{Deprovisioning, Source};
use directory::{Extension, Region, SiteId};
use graph::models::User;
use graph::GraphClient;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use store::{AllocationRule, Deletion, JobId, JobKind, ScopeCommit, ScopeKey, ScopeUpsert, Store};

/// The application permissions the users job needs.
pub const NEEDED_ROLES: [&str; 2] = ["User.Read.All", "Group.Read.All"];

/// The application permissions a source needs (personal contacts read their owners'
/// countries too).
pub fn roles_for(source: Source) -> &'static [&'static str] {
    match source {
        Source::Users => &NEEDED_ROLES,
        Source::PersonalContacts => &["Contacts.Read", "User.Read.All"],
        Source::SharedMailboxes => &["Contacts.Read"],
        Source::OrgContacts => &["OrgContact.Read.All"],
    }
}

/// Whether `roles` grant `role`, directly or by its read-write form (`Contacts.ReadWrite`
/// covers `Contacts.Read`).
fn covered(roles: &[String], role: &str) -> bool {
    let write = role.replacen(".Read", ".ReadWrite", 1);
    roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(role) || r.eq_ignore_ascii_case(&write))
}

/// Where the selection fingerprint of the users source is kept (beside the delta tokens, under
/// a name `invalidate_scopes("users")` does not reach).
fn fingerprint_scope() -> ScopeKey {
    ScopeKey::new("selection-fingerprint:users").unwrap_or_else(ScopeKey::users)
}

/// Runs one users → extensions job for `site` and reports it; a failure is in the report
/// (`succeeded: false`, `error`) and, unless it was a dry run, in the job history.
pub async fn run_users_job(
    store: Arc<dyn Store>,
    client: &GraphClient,
    site: &config::Site,
    mut options: SyncOptions,
) -> JobReport {
    options.sources = Some(vec![Source::Users]);
    run_job(store, client, site, options).await
}

/// Runs one job over every source the site has on (narrowed by `options.sources`): users →
/// extensions first, then personal contacts, shared mailboxes and org contacts. Deletions are
/// applied only when every scope succeeded and the mass-deletion guard passed.
pub async fn run_job(
    store: Arc<dyn Store>,
    client: &GraphClient,
    site: &config::Site,
    options: SyncOptions,
) -> JobReport {
    let (recorder, observed) = JobRecorder::attach(
        store.clone(),
        client,
        options.progress.clone(),
        options.diagnostic,
    );
    let client = observed.as_ref().unwrap_or(client);
    let mut job = Job {
        store,
        client,
        site,
        options,
        recorder,
        report: JobReport {
            job: None,
            succeeded: false,
            dry_run: false,
            full: false,
            counts: PlanCounts::default(),
            contacts: ContactCounts::default(),
            plan: Vec::new(),
            requests: 0,
            retries: 0,
            throttled: 0,
            warnings: Vec::new(),
            error: None,
            log: Vec::new(),
        },
    };
    job.report.dry_run = job.options.dry_run;
    let before = client.stats();
    let result = job.run().await;
    let after = client.stats();
    job.report.requests = after.requests.saturating_sub(before.requests);
    job.report.retries = after.retries.saturating_sub(before.retries);
    job.report.throttled = after.throttled.saturating_sub(before.throttled);
    match result {
        Ok(()) => {
            job.report.succeeded = true;
            job.log(format!(
                "done: {} created, {} updated, {} unchanged, {} disabled, {} pending deletion, {} deleted, {} kept ({} Graph requests, {} retries, {} throttled)",
                job.report.counts.created,
                job.report.counts.updated,
                job.report.counts.unchanged,
                job.report.counts.disabled,
                job.report.counts.pending_deletion,
                job.report.counts.deleted,
                job.report.counts.kept,
                job.report.requests,
                job.report.retries,
                job.report.throttled
            ))
            .await;
        }
        Err(e) => {
            let text = e.to_string();
            job.log(format!("error: {text}")).await;
            job.report.error = Some(text);
        }
    }
    job.finish().await;
    job.report
}

/// A job in progress.
pub(crate) struct Job<'a> {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) client: &'a GraphClient,
    pub(crate) site: &'a config::Site,
    pub(crate) options: SyncOptions,
    /// Where the job's log and outcome go.
    pub(crate) recorder: JobRecorder,
    pub(crate) report: JobReport,
}

impl Job<'_> {
    pub(crate) async fn log(&mut self, line: String) {
        self.recorder
            .log(self.report.job, &mut self.report.log, line)
            .await;
    }

    pub(crate) async fn warn(&mut self, line: String) {
        self.log(format!("warning: {line}")).await;
        self.report.warnings.push(line);
    }

    async fn finish(&mut self) {
        let Some(id) = self.report.job else { return };
        let ending = Ending {
            succeeded: self.report.succeeded,
            counts: serde_json::json!({
                "extensions": self.report.counts,
                "personal_contacts": self.report.contacts.personal,
                "company_contacts": self.report.contacts.company,
                "directory_contacts": self.report.contacts.directory,
                "invalid_numbers": self.report.contacts.invalid_numbers,
                "unreadable_mailboxes": self.report.contacts.unreadable_mailboxes,
                "retries": self.report.retries,
            }),
            requests: self.report.requests,
            throttled: self.report.throttled,
            warnings: self.report.warnings.len(),
            error: self.report.error.as_deref(),
        };
        if let Err(e) = self.recorder.finish(id, ending).await {
            self.report.error.get_or_insert(e);
            self.report.succeeded = false;
        }
    }

    fn consent_url(&self) -> String {
        consent_url(self.site)
    }

    async fn run(&mut self) -> Result<(), SyncError> {
        let site_id = SiteId::new(self.site.name.clone())
            .map_err(|_| SyncError::SiteName(self.site.name.clone()))?;
        if !self.options.dry_run {
            if self.store.get_site(&site_id).await?.is_none() {
                let s = store::Site {
                    id: site_id.clone(),
                    name: self.site.name.clone(),
                    settings: serde_json::json!({}),
                };
                self.store.upsert_site(&s).await?;
            }
            let kind = if self.options.full {
                JobKind::Full
            } else {
                JobKind::Delta
            };
            self.report.job = Some(
                self.store
                    .create_job(&site_id, self.options.trigger, kind)
                    .await?,
            );
        }
        let sources = self.sources();
        if sources.is_empty() {
            self.log("every source is off or not asked for: nothing to do".into())
                .await;
            return Ok(());
        }

        // Permissions first: reading with a token that cannot read only yields 403s.
        let info = self.client.token_info().await?;
        if info.roles.is_empty() {
            return Err(SyncError::ConsentMissing {
                consent_url: self.consent_url(),
            });
        }
        let mut needed: Vec<&str> = Vec::new();
        for s in &sources {
            for role in roles_for(*s) {
                if !needed.contains(role) {
                    needed.push(role);
                }
            }
        }
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|r| !covered(&info.roles, r))
            .collect();
        if !missing.is_empty() {
            return Err(SyncError::MissingPermissions {
                missing: missing.iter().map(|s| s.to_string()).collect(),
                consent_url: self.consent_url(),
            });
        }

        // The shared mailboxes start reading now: they need no extension, and so fill the
        // time the users part spends on its page chain and its writes.
        let contacts = if sources.iter().any(|s| *s != Source::Users) {
            Some(self.start_contacts(&site_id, &sources).await)
        } else {
            None
        };

        // Users first (personal contacts follow the extensions); a failure there still lets
        // the contacts' creates and updates through, but no deletions.
        let mut failure = None;
        let mut users_read = HashMap::new();
        let mut planned = Vec::new();
        if sources.contains(&Source::Users) {
            self.log("users → extensions".into()).await;
            match self.users(&site_id).await {
                Ok((read, new)) => {
                    users_read = read;
                    planned = new;
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(start) = contacts {
            let failed_before = failure.is_some();
            let done = match start {
                Ok(start) => {
                    self.contacts(
                        start,
                        &site_id,
                        &sources,
                        &users_read,
                        &planned,
                        failed_before,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The sources this job reads: the site's enabled ones, narrowed by the options.
    fn sources(&self) -> Vec<Source> {
        Source::ALL
            .into_iter()
            .filter(|s| self.site.sources.is_on(*s))
            .filter(|s| {
                self.options
                    .sources
                    .as_ref()
                    .is_none_or(|only| only.contains(s))
            })
            .collect()
    }

    /// The users → extensions part; returns the users Graph's round brought and, on a dry
    /// run, the users who would get an extension (id, name), so their contacts are planned too.
    async fn users(
        &mut self,
        site_id: &SiteId,
    ) -> Result<(HashMap<String, User>, Vec<(String, String)>), SyncError> {
        let site_id = site_id.clone();
        // A changed selection makes the stored token describe the wrong set: start over.
        let fingerprint = self.site.selection_fingerprint(Source::Users);
        let stored_fp = self
            .store
            .get_delta_token(&site_id, &fingerprint_scope())
            .await?;
        let mut full = self.options.full;
        if stored_fp.as_deref().is_some_and(|f| f != fingerprint) {
            self.log(
                "the user selection changed since the last run: reading all users again".into(),
            )
            .await;
            full = true;
            if !self.options.dry_run {
                self.store
                    .invalidate_scopes(&site_id, ScopeKey::users().as_str())
                    .await?;
            }
        }
        let token = if full {
            None
        } else {
            self.store
                .get_delta_token(&site_id, &ScopeKey::users())
                .await?
        };
        full |= token.is_none();

        // Users: a delta round (full when there is no token, or Graph dropped it), and the
        // selection's base set read beside it (neither needs the other; each is a chain of
        // pages, so together they take as long as the longer one).
        let (round, in_scope) = futures_util::future::join(
            read::users_round(self.client, token.as_deref()),
            read::base_set(self.client, self.site.users.scope),
        )
        .await;
        let round = round?;
        if round.reset {
            self.log("Graph dropped the users delta token: reading all users again".into())
                .await;
            full = true;
        }
        let read::UsersRound {
            mut users,
            gone,
            delta_link,
            ..
        } = round;
        self.report.full = full;
        self.log(format!(
            "read {} {} users, {} removed",
            users.len(),
            if full { "(all)" } else { "changed" },
            gone.len()
        ))
        .await;

        // The base set.
        let in_scope = in_scope?;
        self.log(format!(
            "{} users in the selection's base set",
            in_scope.len()
        ))
        .await;

        // Departments from groups, when configured (they replace the users' own attribute).
        let departments = crate::departments::read(
            self.client,
            self.store.as_ref(),
            &site_id,
            &self.site.users.department_groups,
            !self.options.dry_run,
        )
        .await?;
        if let Some(d) = &departments {
            self.log(d.summary()).await;
            for w in d.warnings().to_vec() {
                self.warn(w).await;
            }
        }

        let existing: BTreeMap<String, Extension> = self
            .store
            .list_extensions(&site_id)
            .await?
            .into_iter()
            .map(|e| (e.user_id.clone(), e))
            .collect();

        // Users we must know but an incremental round did not bring: new to the scope, back
        // from deprovisioning, or always included (looked up by UPN: a handful). A full round
        // brought everyone.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        if !full {
            wanted.extend(
                in_scope
                    .iter()
                    .filter(|id| {
                        !users.contains_key(*id)
                            && !gone.contains(*id)
                            && existing.get(*id).is_none_or(|e| !e.enabled)
                    })
                    .cloned(),
            );
            for upn in &self.site.users.include_upns {
                if !users
                    .values()
                    .any(|u| crate::select::upn(u).as_deref() == Some(upn.as_str()))
                {
                    // Guest UPNs carry '#EXT#', which must not end the URL's path.
                    wanted.insert(upn.replace('#', "%23"));
                }
            }
        }
        for id in wanted {
            match self
                .client
                .get_json::<User>(&format!("/users/{id}?$select={USER_SELECT}"))
                .await
            {
                Ok(u) => {
                    users.insert(u.id.clone(), u);
                }
                Err(graph::GraphError::Api { status: 404, .. }) => {
                    self.warn(format!(
                        "user {id} is in the selection but Graph does not find it"
                    ))
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
        }

        // Decide.
        let rules = &self.site.users;
        let mut selected: BTreeMap<String, (User, bool)> = BTreeMap::new();
        let mut leaving: BTreeSet<String> = gone
            .iter()
            .filter(|id| existing.contains_key(*id))
            .cloned()
            .collect();
        for (id, u) in &users {
            match decide(rules, u, in_scope.contains(id)) {
                Decision::Extension { enabled } => {
                    let u = departments
                        .as_ref()
                        .map_or_else(|| u.clone(), |d| d.stamp(u));
                    selected.insert(id.clone(), (u, enabled));
                }
                Decision::Skip(_) => {
                    if existing.contains_key(id) {
                        leaving.insert(id.clone());
                    }
                }
            }
        }
        // Users the round did not bring keep their extension while still in scope; after a
        // full read, anyone missing from it is gone. (Included users were fetched above.) Their
        // department may still have changed, through group membership.
        let mut restamped = Vec::new();
        for id in existing.keys() {
            if users.contains_key(id) || gone.contains(id) {
                continue;
            }
            if full || !in_scope.contains(id) {
                leaving.insert(id.clone());
            } else if let Some(ext) = departments
                .as_ref()
                .zip(existing.get(id))
                .and_then(|(d, e)| d.restamp(e))
            {
                restamped.push(ext);
            } else {
                self.report.counts.unchanged += 1;
            }
        }
        // Extensions already disabled by deprovisioning are not removed twice.
        let leaving: Vec<String> = leaving
            .into_iter()
            .filter(|id| existing.get(id).is_some_and(|e| e.enabled))
            .collect();

        // The guard.
        let policy = self.site.deprovisioning;
        if policy != Deprovisioning::Keep && !self.options.allow_mass_delete {
            let total = existing.len();
            let pct = usize::from(self.site.guards.mass_deletion_percent);
            let limit = (self.site.guards.mass_deletion_min as usize).max(total * pct / 100);
            if leaving.len() > limit {
                let pending: Vec<String> = leaving
                    .iter()
                    .filter_map(|id| existing.get(id))
                    .map(|e| line("remove", e))
                    .collect();
                for p in &pending {
                    self.log(format!("pending: {p}")).await;
                }
                self.report.plan = pending.clone();
                return Err(SyncError::MassDeletion {
                    count: leaving.len(),
                    total,
                    limit,
                    pending,
                });
            }
        }

        // Numbers for the new, fields for all.
        let region = Region::new(&self.site.dialling.country).ok();
        let ranges = &self.site.dialling.did_ranges;
        let mut creates: Vec<(&User, bool)> = selected
            .iter()
            .filter(|(id, _)| !existing.contains_key(*id))
            .map(|(_, (u, en))| (u, *en))
            .collect();
        creates.sort_by_key(|(u, _)| (crate::select::upn(u).unwrap_or_default(), u.id.clone()));
        let numbers: HashMap<String, directory::ExtensionNumber> = if self.options.dry_run
            || creates.is_empty()
        {
            HashMap::new()
        } else {
            let rule = AllocationRule {
                first_number: u64::from(self.site.extensions.first_number),
                length: self.site.extensions.length,
                quarantine: chrono::Duration::days(i64::from(self.site.extensions.quarantine_days)),
            };
            let ids: Vec<String> = creates.iter().map(|(u, _)| u.id.clone()).collect();
            self.store
                .allocate_extensions(&site_id, &ids, &rule)
                .await?
                .into_iter()
                .collect()
        };
        let placeholder =
            directory::ExtensionNumber::from_value(u64::from(self.site.extensions.first_number))
                .map_err(|e| SyncError::Number(e.to_string()))?;

        let mut upserts = Vec::new();
        let mut plan = Vec::new();
        for (u, enabled) in creates {
            let number = match numbers.get(&u.id) {
                Some(n) => n.clone(),
                None if self.options.dry_run => placeholder.clone(),
                None => {
                    return Err(SyncError::Number(format!(
                        "no number was allocated to {}",
                        u.id
                    )))
                }
            };
            let ext = extension_for(&site_id, u, number, enabled, region, ranges, None);
            let text = line("create", &ext);
            plan.push(if self.options.dry_run {
                text.replacen(
                    &format!("create {} ", ext.number.as_str()),
                    "create (new) ",
                    1,
                )
            } else {
                text
            });
            self.report.counts.created += 1;
            upserts.push(ScopeUpsert::Extension(ext));
        }
        for (id, (u, enabled)) in &selected {
            let Some(old) = existing.get(id) else {
                continue;
            };
            let ext = extension_for(
                &site_id,
                u,
                old.number.clone(),
                *enabled,
                region,
                ranges,
                old.photo_etag.clone(),
            );
            if &ext == old {
                self.report.counts.unchanged += 1;
            } else {
                plan.push(line("update", &ext));
                self.report.counts.updated += 1;
                upserts.push(ScopeUpsert::Extension(ext));
            }
        }
        for ext in restamped {
            plan.push(line("update", &ext));
            self.report.counts.updated += 1;
            upserts.push(ScopeUpsert::Extension(ext));
        }
        let mut deletions = Vec::new();
        for id in &leaving {
            let Some(old) = existing.get(id) else {
                continue;
            };
            match policy {
                Deprovisioning::Keep => {
                    plan.push(line("keep", old));
                    self.report.counts.kept += 1;
                }
                Deprovisioning::Disable | Deprovisioning::DeleteAfterDays(_) => {
                    let mut ext = old.clone();
                    ext.enabled = false;
                    plan.push(line("disable", old));
                    self.report.counts.disabled += 1;
                    upserts.push(ScopeUpsert::Extension(ext));
                    if let Deprovisioning::DeleteAfterDays(days) = policy {
                        plan.push(format!(
                            "{} (deleted after {days} days)",
                            line("delete", old)
                        ));
                        self.report.counts.pending_deletion += 1;
                        deletions.push(Deletion::Extension(id.clone()));
                    }
                }
            }
        }
        self.recorder
            .log_many(self.report.job, &mut self.report.log, plan.clone())
            .await;
        self.report.plan = plan;
        if self.options.dry_run {
            self.log("dry run: nothing written".into()).await;
            let new = selected
                .iter()
                .filter(|(id, (_, enabled))| *enabled && !existing.contains_key(*id))
                .map(|(id, (u, _))| (id.clone(), u.display_name.clone().unwrap_or_default()))
                .collect();
            return Ok((users, new));
        }

        // A user back in the selection must not lose their extension to a deletion recorded
        // while they were away: that deletion is cancelled (the others, contacts' included,
        // keep waiting).
        let back: Vec<Deletion> = self
            .store
            .list_pending(&site_id)
            .await?
            .into_iter()
            .filter_map(|p| match p.target {
                Deletion::Extension(id) if selected.contains_key(&id) => {
                    Some(Deletion::Extension(id))
                }
                _ => None,
            })
            .collect();
        if !back.is_empty() {
            self.store
                .cancel_pending(&site_id, &ScopeKey::users(), &back)
                .await?;
            self.warn(format!(
                "{} user(s) came back before their extension was deleted; the deletion was cancelled",
                back.len()
            ))
            .await;
        }

        let Some(job_id) = self.report.job else {
            return Err(SyncError::Number("the job was not recorded".into()));
        };
        self.store
            .apply_scope(&ScopeCommit {
                site: site_id.clone(),
                job: job_id,
                scope: ScopeKey::users(),
                upserts,
                deletions,
                delta_token: Some(delta_link),
            })
            .await?;
        self.store
            .set_delta_token(&site_id, &fingerprint_scope(), &fingerprint)
            .await?;
        if let Deprovisioning::DeleteAfterDays(days) = policy {
            self.apply_due_deletions(&site_id, days).await?;
        }
        Ok((users, Vec::new()))
    }

    /// Applies the pending deletions of every job whose deletions are all `days` old.
    async fn apply_due_deletions(&mut self, site_id: &SiteId, days: u32) -> Result<(), SyncError> {
        let due = self.options.now - chrono::Duration::days(i64::from(days));
        let mut jobs: BTreeMap<JobId, bool> = BTreeMap::new();
        for p in self.store.list_pending(site_id).await? {
            let ok = jobs.entry(p.job).or_insert(true);
            *ok &= p.recorded_at <= due;
        }
        for (job, ripe) in jobs {
            if ripe {
                let applied = self.store.apply_pending(site_id, &job).await?;
                self.report.counts.deleted += applied.extensions;
                self.log(format!(
                    "deleted {} extensions disabled by job {job} {days} days ago",
                    applied.extensions
                ))
                .await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_write_role_covers_its_read_role() {
        let roles = vec![
            "Contacts.ReadWrite".to_string(),
            "user.read.all".to_string(),
        ];
        assert!(covered(&roles, "Contacts.Read"));
        assert!(covered(&roles, "User.Read.All"));
        assert!(!covered(&roles, "OrgContact.Read.All"));
        assert!(!covered(
            &["Contacts.Read".to_string()],
            "Contacts.ReadWrite"
        ));
    }
}
