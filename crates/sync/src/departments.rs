//! Departments from Microsoft 365 groups (`[site.users] department_groups`).
//!
//! Each configured group is a department named as the group is in Microsoft 365. Its members
//! are its users and, through nested groups at any depth, theirs. Membership is read with
//! `groups/delta` (`$select=displayName,members`, one `$filter=id eq '…'` scope per group,
//! nested groups included), so a later run reads only what changed; when a nested group's
//! membership changes, every department holding it is expanded again.
//!
//! # Rules
//! - **Names**: the group's `displayName`. Two department groups with the same name (letter
//!   case ignored) become "Sales" and "Sales 2" (then "Sales 3", …, skipping names already
//!   taken), in the order of the group ids — the configuration keeps `department_groups`
//!   sorted, so the same settings always give the same names.
//! - **A user in several departments** gets the one they are closest to: a direct member
//!   beats a member through a nested group; at equal depth the department name first in
//!   alphabetical order (letter case ignored) wins, then the lower group id. So a user in
//!   "Sales", which sits inside a configured "All Staff", is in "Sales".
//! - **A user in none** has no department (the user's own `department` attribute is not used
//!   once department groups are configured).
//! - A configured group Graph does not know (deleted, or not a group) gives no department and
//!   a warning.
//!
//! # State
//! Graph's member delta lists only changes, so the job keeps each group's whole membership.
//! It is stored in the store's delta-token table, in the group's scope
//! (`users:departments:{group id}`), as one JSON value holding the deltaLink *and* the
//! membership it leads to: the two are written together and can never disagree. The scopes
//! sit under the `users` prefix, so a changed user selection (which includes the department
//! groups) drops them with the users token and they are read whole again.

use crate::error::SyncError;
use directory::SiteId;
use graph::delta::{DeltaChange, DeltaOptions, DeltaOutcome, DeltaRound};
use graph::models::{Group, User};
use graph::GraphClient;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use store::{ScopeKey, Store};

/// The most groups (configured and nested) one job reads; a larger nest is cut off there
/// with a warning rather than read without end.
pub const MAX_GROUPS: usize = 2_000;

/// The scope a group's membership state is stored under.
pub fn scope(group_id: &str) -> Option<ScopeKey> {
    ScopeKey::new(format!("users:departments:{group_id}"))
}

/// What the job knows of one group: its name, its direct members and the deltaLink that
/// continues from them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GroupState {
    /// The deltaLink of the group's scope (none before the first complete round).
    link: Option<String>,
    /// The group's `displayName`.
    name: Option<String>,
    /// Whether Graph reported the group deleted.
    gone: bool,
    /// Direct user members.
    users: BTreeSet<String>,
    /// Direct group members (nested groups).
    groups: BTreeSet<String>,
}

impl GroupState {
    /// Folds one round's entry for this group into the state.
    fn apply(&mut self, change: DeltaChange<Group>) {
        match change {
            DeltaChange::Upsert(g) => {
                self.gone = false;
                if let Some(n) = g.display_name.filter(|n| !n.trim().is_empty()) {
                    self.name = Some(n.trim().to_string());
                }
                for m in g.members_delta.unwrap_or_default() {
                    let set = match m.odata_type.as_deref() {
                        None | Some("#microsoft.graph.user") => &mut self.users,
                        Some("#microsoft.graph.group") => &mut self.groups,
                        // Org contacts and devices hold no extensions.
                        Some(_) => continue,
                    };
                    if m.removed.is_some() {
                        set.remove(&m.id);
                    } else {
                        set.insert(m.id);
                    }
                }
            }
            DeltaChange::Removed { .. } => {
                self.gone = true;
                self.users.clear();
                self.groups.clear();
            }
        }
    }
}

/// Each user's department, from the configured groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Departments {
    /// Department name per user id.
    of_user: HashMap<String, String>,
    /// The departments in group-id order: `(group id, name)`.
    names: Vec<(String, String)>,
    /// Groups read in this job (configured and nested).
    groups_read: usize,
    /// Groups whose membership changed in this job.
    groups_changed: usize,
    /// What a person should look at.
    warnings: Vec<String>,
}

impl Departments {
    /// The department of a user (`None`: in no department group).
    pub fn of(&self, user_id: &str) -> Option<&str> {
        self.of_user.get(user_id).map(String::as_str)
    }

    /// The departments, `(group id, name)`, in group-id order.
    pub fn names(&self) -> &[(String, String)] {
        &self.names
    }

    /// Problems met (unknown groups, a nest cut off).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// One log line on what was read.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.names.iter().map(|(_, n)| n.as_str()).collect();
        format!(
            "departments: {} ({} group(s) read, {} changed, {} user(s) placed)",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            self.groups_read,
            self.groups_changed,
            self.of_user.len()
        )
    }

    /// `user` with the department these groups give it in place of its own attribute.
    pub fn stamp(&self, user: &User) -> User {
        let mut u = user.clone();
        u.department = self.of(&user.id).map(str::to_string);
        u
    }

    /// The extension with its department as these groups say, or `None` when it already has it.
    pub fn restamp(&self, ext: &directory::Extension) -> Option<directory::Extension> {
        let want = self.of(&ext.user_id);
        (ext.department.as_deref() != want).then(|| {
            let mut e = ext.clone();
            e.department = want.map(str::to_string);
            e
        })
    }

    /// Computes names and membership from the groups' states.
    fn build(configured: &[String], states: &BTreeMap<String, GroupState>) -> Departments {
        let mut d = Departments::default();
        // Names, with a suffix where one is taken already.
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for gid in configured {
            let Some(name) = states
                .get(gid)
                .filter(|s| !s.gone)
                .and_then(|s| s.name.clone())
            else {
                d.warnings.push(format!(
                    "department group {gid} is not a group in Microsoft 365 (deleted, or a wrong id in [site.users] department_groups); it gives no department"
                ));
                continue;
            };
            let mut candidate = name.clone();
            let mut n = 2;
            while taken.contains(&candidate.to_lowercase()) {
                candidate = format!("{name} {n}");
                n += 1;
            }
            taken.insert(candidate.to_lowercase());
            d.names.push((gid.clone(), candidate));
        }
        // Each user's closest department: (depth, name, group id) smallest.
        let mut best: HashMap<String, (usize, String, String)> = HashMap::new();
        for (gid, name) in &d.names {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut level: Vec<&str> = vec![gid.as_str()];
            let mut depth = 0;
            while !level.is_empty() {
                let mut next = Vec::new();
                for g in level {
                    if !seen.insert(g) {
                        continue;
                    }
                    let Some(s) = states.get(g) else { continue };
                    for u in &s.users {
                        let key = (depth, name.to_lowercase(), gid.clone());
                        match best.get(u) {
                            Some((bd, bn, bg)) if (*bd, bn, bg) <= (key.0, &key.1, &key.2) => {}
                            _ => {
                                best.insert(u.clone(), key);
                            }
                        }
                    }
                    next.extend(s.groups.iter().map(String::as_str));
                }
                level = next;
                depth += 1;
            }
        }
        let name_of: HashMap<&str, &str> = d
            .names
            .iter()
            .map(|(g, n)| (g.as_str(), n.as_str()))
            .collect();
        d.of_user = best
            .into_iter()
            .filter_map(|(u, (_, _, g))| name_of.get(g.as_str()).map(|n| (u, n.to_string())))
            .collect();
        d
    }
}

/// Reads the department groups (and every group nested in them) with `groups/delta` and
/// works out each user's department; `None` when no department groups are configured.
/// With `persist`, each group's new state is written to the store (not in dry runs).
pub async fn read<G: std::fmt::Display>(
    client: &GraphClient,
    store: &dyn Store,
    site: &SiteId,
    configured: &[G],
    persist: bool,
) -> Result<Option<Departments>, SyncError> {
    if configured.is_empty() {
        return Ok(None);
    }
    let configured: Vec<String> = configured.iter().map(|g| g.to_string()).collect();
    let mut states: BTreeMap<String, GroupState> = BTreeMap::new();
    let mut queue: Vec<String> = configured.iter().rev().cloned().collect();
    let mut changed = 0;
    let mut cut_off = false;
    while let Some(gid) = queue.pop() {
        if states.contains_key(&gid) {
            continue;
        }
        if states.len() >= MAX_GROUPS {
            cut_off = true;
            break;
        }
        let (state, did_change) = read_group(client, store, site, &gid, persist).await?;
        changed += usize::from(did_change);
        queue.extend(
            state
                .groups
                .iter()
                .filter(|g| !states.contains_key(*g))
                .cloned(),
        );
        states.insert(gid, state);
    }
    let mut d = Departments::build(&configured, &states);
    d.groups_read = states.len();
    d.groups_changed = changed;
    if cut_off {
        d.warnings.push(format!(
            "the department groups nest more than {MAX_GROUPS} groups; members of the groups beyond were left out"
        ));
    }
    Ok(Some(d))
}

/// One group's delta round from its stored state; returns the new state and whether it
/// differs from the stored one.
async fn read_group(
    client: &GraphClient,
    store: &dyn Store,
    site: &SiteId,
    gid: &str,
    persist: bool,
) -> Result<(GroupState, bool), SyncError> {
    let key = scope(gid).ok_or_else(|| {
        SyncError::Graph(graph::GraphError::Invalid(format!(
            "group id {gid:?} cannot name a scope"
        )))
    })?;
    let stored = store.get_delta_token(site, &key).await?;
    let before: Option<GroupState> = stored.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let mut state = before.clone().unwrap_or_default();
    // Ids are GUIDs (from the configuration or from Graph), safe in a URL as they are.
    let initial = format!("/groups/delta?$filter=id%20eq%20'{gid}'&$select=displayName,members");
    let mut outcome = DeltaRound::<Group>::new(
        client,
        &initial,
        state.link.as_deref(),
        DeltaOptions::default(),
    )
    .run()
    .await?;
    if let DeltaOutcome::Reset { restart_url } = &outcome {
        state = GroupState::default();
        outcome = DeltaRound::<Group>::new(client, restart_url, None, DeltaOptions::default())
            .run()
            .await?;
    }
    let DeltaOutcome::Complete {
        changes,
        delta_link,
    } = outcome
    else {
        return Err(SyncError::Graph(graph::GraphError::Invalid(format!(
            "Graph dropped the delta state of group {gid} twice in a row; try again later"
        ))));
    };
    if state.link.is_none() {
        // A first (or restarted) round lists every member: start from none.
        state = GroupState::default();
    }
    for c in changes {
        let id = match &c {
            DeltaChange::Upsert(g) => g.id.as_str(),
            DeltaChange::Removed { id, .. } => id.as_str(),
        };
        if id.eq_ignore_ascii_case(gid) {
            state.apply(c);
        }
    }
    state.link = Some(delta_link);
    let membership_changed = before
        .as_ref()
        .is_none_or(|b| b.users != state.users || b.groups != state.groups || b.name != state.name);
    if persist {
        let text = serde_json::to_string(&state).map_err(|e| {
            SyncError::Graph(graph::GraphError::Invalid(format!(
                "the state of group {gid} cannot be written: {e}"
            )))
        })?;
        if stored.as_deref() != Some(text.as_str()) {
            store.set_delta_token(site, &key, &text).await?;
        }
    }
    Ok((state, membership_changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, users: &[&str], groups: &[&str]) -> GroupState {
        GroupState {
            link: Some("l".into()),
            name: Some(name.into()),
            gone: false,
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn names_take_suffixes_and_the_closest_department_wins() {
        let mut states = BTreeMap::new();
        states.insert("g1".to_string(), state("Sales", &["ann"], &[]));
        states.insert("g2".to_string(), state("sales", &["bob"], &[]));
        states.insert(
            "g3".to_string(),
            state("All Staff", &["cara"], &["g4", "g1"]),
        );
        states.insert("g4".to_string(), state("Nested", &["dan", "ann"], &["g3"]));
        states.insert("g5".to_string(), state("Sales 2", &["eve"], &[]));
        let configured: Vec<String> = ["g1", "g2", "g3", "g5", "g9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let d = Departments::build(&configured, &states);
        let names: Vec<&str> = d.names().iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["Sales", "sales 2", "All Staff", "Sales 2 2"]);
        assert_eq!(d.of("ann"), Some("Sales"), "direct beats nested");
        assert_eq!(d.of("bob"), Some("sales 2"));
        assert_eq!(d.of("cara"), Some("All Staff"));
        assert_eq!(d.of("dan"), Some("All Staff"), "through a nested group");
        assert_eq!(d.of("eve"), Some("Sales 2 2"));
        assert_eq!(d.of("fred"), None);
        assert_eq!(d.warnings().len(), 1, "g9 is unknown");
    }
}
