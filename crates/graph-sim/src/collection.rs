//! Versioned collections: every entity remembers when it was created, when it last changed,
//! which properties changed at which version, and whether (and how) it was removed.
//!
//! That is all delta queries need: a delta token is a version; a round returns the entries
//! changed after it, with `@removed` for tombstones and, under `Prefer: return=minimal`, only
//! the properties changed since.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Why an entity left the collection, as delta's `@removed.reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovedReason {
    /// Soft-deleted (restorable); users and groups on DELETE.
    Changed,
    /// Permanently deleted.
    Deleted,
}

impl RemovedReason {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovedReason::Changed => "changed",
            RemovedReason::Deleted => "deleted",
        }
    }
}

/// An entity that lives in a [`Collection`].
pub trait Entity: Serialize + DeserializeOwned + Clone {
    /// The entity's id.
    fn id(&self) -> &str;
    /// Copies emulator-only fields (skipped in JSON) from the old value after a JSON patch.
    fn keep_internal(&mut self, _old: &Self) {}
}

/// One entity plus its version history.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The current value (the last value, for a tombstone).
    pub value: T,
    /// Version at creation (0 = part of the initial tenant).
    pub created: u64,
    /// Version of the last change (creation, update or removal).
    pub version: u64,
    /// Property names changed at each version after creation.
    pub changes: Vec<(u64, Vec<String>)>,
    /// Set once removed; the entry stays as a tombstone for delta.
    pub removed: Option<RemovedReason>,
}

impl<T> Entry<T> {
    /// Whether the entity is present (not removed).
    pub fn is_live(&self) -> bool {
        self.removed.is_none()
    }

    /// Properties changed after `since`, or `None` when the entity is new since then (and so
    /// must be sent whole).
    pub fn changed_since(&self, since: u64) -> Option<BTreeSet<String>> {
        if self.created > since {
            return None;
        }
        let mut out = BTreeSet::new();
        for (v, props) in &self.changes {
            if *v > since {
                out.extend(props.iter().cloned());
            }
        }
        Some(out)
    }
}

/// Entities by id, ordered by id (which makes id-cursor paging stable).
///
/// Values live in a dense slab and the ordered map holds only indices: B-tree nodes of large
/// values would waste about a third of their slots, which at a million contacts is gigabytes.
#[derive(Debug, Clone)]
pub struct Collection<T> {
    index: BTreeMap<String, usize>,
    slab: Vec<Entry<T>>,
    /// Live entities, kept current so counting is not a scan (the directory's throttling
    /// asks for the tenant's size on every request).
    live: usize,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            index: BTreeMap::new(),
            slab: Vec::new(),
            live: 0,
        }
    }
}

/// Why a JSON patch was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The property does not exist on the type.
    #[error("Invalid property '{0}'.")]
    UnknownProperty(String),
    /// The property may not be written.
    #[error("Property '{0}' is read-only and cannot be set.")]
    ReadOnly(String),
    /// The value has the wrong type.
    #[error("Invalid value for property: {0}")]
    BadValue(String),
}

impl<T: Entity> Collection<T> {
    fn slot(&self, id: &str) -> Option<&Entry<T>> {
        self.index.get(id).map(|&i| &self.slab[i])
    }

    fn slot_mut(&mut self, id: &str) -> Option<&mut Entry<T>> {
        match self.index.get(id) {
            Some(&i) => Some(&mut self.slab[i]),
            None => None,
        }
    }

    /// Number of live entities.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// A live entity by id.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.slot(id).filter(|e| e.is_live()).map(|e| &e.value)
    }

    /// An entry (live or tombstone) by id.
    pub fn entry(&self, id: &str) -> Option<&Entry<T>> {
        self.slot(id)
    }

    /// All entries in id order, tombstones included.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<T>> {
        self.index.values().map(|&i| &self.slab[i])
    }

    /// Live entities in id order.
    pub fn live(&self) -> impl Iterator<Item = &T> {
        self.entries().filter(|e| e.is_live()).map(|e| &e.value)
    }

    /// Entries (tombstones included) in id order starting strictly after `cursor`.
    pub fn entries_after<'a>(
        &'a self,
        cursor: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a Entry<T>> + 'a> {
        use std::ops::Bound;
        match cursor {
            Some(c) => Box::new(
                self.index
                    .range::<str, _>((Bound::Excluded(c), Bound::Unbounded))
                    .map(|(_, &i)| &self.slab[i]),
            ),
            None => Box::new(self.entries()),
        }
    }

    /// Inserts a new entity at `version`. Replaces a tombstone with the same id (a restore).
    pub fn insert(&mut self, value: T, version: u64) {
        let entry = Entry {
            created: version,
            version,
            changes: Vec::new(),
            removed: None,
            value,
        };
        match self.index.get(entry.value.id()) {
            Some(&i) => {
                if !self.slab[i].is_live() {
                    self.live += 1;
                }
                self.slab[i] = entry;
            }
            None => {
                self.live += 1;
                self.index
                    .insert(entry.value.id().to_string(), self.slab.len());
                self.slab.push(entry);
            }
        }
    }

    /// Replaces a live entity's value, recording `props` as changed at `version`.
    /// Returns false when there is no such live entity.
    pub fn replace(&mut self, value: T, props: Vec<String>, version: u64) -> bool {
        match self.slot_mut(value.id()) {
            Some(e) if e.is_live() => {
                e.value = value;
                e.version = version;
                if !props.is_empty() {
                    e.changes.push((version, props));
                }
                true
            }
            _ => false,
        }
    }

    /// Applies a JSON merge patch (top-level properties) to a live entity. Returns the names of
    /// the properties whose value changed (empty if none did, in which case nothing is recorded).
    pub fn patch(
        &mut self,
        id: &str,
        patch: &Map<String, Value>,
        read_only: &[&str],
        version: u64,
    ) -> Result<Option<Vec<String>>, PatchError> {
        let Some(current) = self.get(id) else {
            return Ok(None);
        };
        let (new, changed) = apply_patch(current, patch, read_only)?;
        if !changed.is_empty() {
            self.replace(new, changed.clone(), version);
        }
        Ok(Some(changed))
    }

    /// Marks a live entity removed at `version`. Returns false when absent.
    pub fn remove(&mut self, id: &str, reason: RemovedReason, version: u64) -> bool {
        match self.slot_mut(id) {
            Some(e) if e.is_live() => {
                e.removed = Some(reason);
                e.version = version;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// Drops a tombstone entirely (purge), so it no longer shows even in old delta rounds.
    pub fn purge(&mut self, id: &str) {
        let Some(i) = self.index.remove(id) else {
            return;
        };
        if self.slab.swap_remove(i).is_live() {
            self.live -= 1;
        }
        if let Some(moved) = self.slab.get(i) {
            let key = moved.value.id().to_string();
            self.index.insert(key, i);
        }
    }

    /// Releases spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.slab.shrink_to_fit();
    }

    /// Mutable access to a live entity without recording a change (emulator bookkeeping only).
    pub fn get_mut_untracked(&mut self, id: &str) -> Option<&mut T> {
        self.slot_mut(id)
            .filter(|e| e.is_live())
            .map(|e| &mut e.value)
    }
}

/// Applies top-level properties of `patch` to `value` through its JSON form, refusing unknown
/// and read-only properties, and returns the new value with the names that changed.
pub fn apply_patch<T: Entity>(
    value: &T,
    patch: &Map<String, Value>,
    read_only: &[&str],
) -> Result<(T, Vec<String>), PatchError> {
    let Ok(Value::Object(mut obj)) = serde_json::to_value(value) else {
        return Err(PatchError::BadValue("entity is not an object".into()));
    };
    let mut changed = Vec::new();
    for (k, v) in patch {
        if k.starts_with("@odata.") {
            continue;
        }
        if read_only.contains(&k.as_str()) || k == "id" {
            return Err(PatchError::ReadOnly(k.clone()));
        }
        match obj.get_mut(k) {
            None => return Err(PatchError::UnknownProperty(k.clone())),
            Some(slot) => {
                if slot != v {
                    *slot = v.clone();
                    changed.push(k.clone());
                }
            }
        }
    }
    let mut new: T = serde_json::from_value(Value::Object(obj))
        .map_err(|e| PatchError::BadValue(e.to_string()))?;
    new.keep_internal(value);
    Ok((new, changed))
}

macro_rules! entity {
    ($t:ty) => {
        impl Entity for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    };
    ($t:ty, |$new:ident, $old:ident| $body:block) => {
        impl Entity for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn keep_internal(&mut self, old: &Self) {
                let $new = self;
                let $old = old;
                $body
            }
        }
    };
}

use crate::model::{Contact, ContactFolder, Group, OrgContact, User};
entity!(User, |new, old| {
    new.mailbox = old.mailbox;
    new.photo = old.photo.clone();
});
entity!(Group, |new, old| {
    new.members = old.members.clone();
});
entity!(OrgContact);
entity!(Contact, |new, old| {
    new.folder_moves = old.folder_moves.clone();
});
entity!(ContactFolder);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            display_name: Some("A".into()),
            ..Default::default()
        }
    }

    #[test]
    fn patch_records_only_changed_properties() {
        let mut c = Collection::default();
        c.insert(user("1"), 0);
        let p = json!({"displayName": "B", "jobTitle": null});
        let Value::Object(p) = p else { unreachable!() };
        let changed = c.patch("1", &p, &[], 5).unwrap().unwrap();
        assert_eq!(changed, vec!["displayName".to_string()]);
        let e = c.entry("1").unwrap();
        assert_eq!(e.changed_since(0).unwrap().len(), 1);
        assert!(e.changed_since(5).unwrap().is_empty());
        let bad = json!({"nope": 1});
        let Value::Object(bad) = bad else {
            unreachable!()
        };
        assert_eq!(
            c.patch("1", &bad, &[], 6),
            Err(PatchError::UnknownProperty("nope".into()))
        );
    }

    #[test]
    fn purge_keeps_the_others_reachable_and_ordered() {
        let mut c = Collection::default();
        for id in ["b", "a", "d", "c"] {
            c.insert(user(id), 1);
        }
        assert_eq!(c.live_count(), 4);
        c.purge("a");
        c.purge("zz");
        assert_eq!(c.live_count(), 3);
        let ids: Vec<_> = c.live().map(|u| u.id.clone()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
        assert!(c.get("c").is_some() && c.get("a").is_none());
        let after: Vec<_> = c
            .entries_after(Some("b"))
            .map(|e| e.value.id.clone())
            .collect();
        assert_eq!(after, ["c", "d"]);
    }

    #[test]
    fn remove_leaves_a_tombstone() {
        let mut c = Collection::default();
        c.insert(user("1"), 1);
        assert!(c.remove("1", RemovedReason::Changed, 2));
        assert!(c.get("1").is_none());
        assert_eq!(c.entry("1").unwrap().removed, Some(RemovedReason::Changed));
        assert!(!c.remove("1", RemovedReason::Deleted, 3));
        assert_eq!(c.live_count(), 0);
        c.insert(user("1"), 4);
        c.insert(user("1"), 5);
        assert_eq!(
            c.live_count(),
            1,
            "a restore counts once, a re-insert not again"
        );
    }
}
