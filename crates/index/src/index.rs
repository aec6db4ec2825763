//! The in-memory index of one site: entries merged from every source, word, sounds-alike and
//! number indexes over them, and the queries the front ends ask (filters, ranked search,
//! reverse lookup), each cut to what the asking principal may see. No I/O: the service feeds
//! it, and patches it one record at a time as the store logs changes.
//!
//! Merging: users, company-phonebook and directory records of the same person become one entry
//! when they share an e-mail address, or a number that belongs to that person alone — never a
//! switchboard, main number or DID base of the site, and never a number whose holders carry
//! different names. Personal contacts never merge: each is an entry of its own that only its
//! owner sees.

use crate::numbers::{self, DigitPattern, NumberValue};
use crate::packed::{EntryRef, NumberRef, Packed};
use crate::priority::{SourceClass, SourcePriority};
use crate::{distance, phonetic, text};
use directory::{
    Attribute, BookScope, ContactRecord, Dialled, DiallingPlan, Entry, EntrySource, Extension,
    Filter, Hit, LookupResult, MatchRank, PhoneKind, PhonebookKind, Principal, ServiceError,
    ServiceResult, SiteId, TextQuery, E164,
};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A number held by more records than this is a main number, whatever their names.
const MAX_NUMBER_HOLDERS: usize = 8;

/// The LDAP object classes every entry has.
const OBJECT_CLASSES: [&str; 5] = [
    "top",
    "person",
    "organizationalperson",
    "inetorgperson",
    "contact",
];

/// Which phonebook a source record lands in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RecordClass {
    /// A company source (users, company phonebook, directory).
    Shared(SourceClass),
    /// A personal contact of this owner.
    Personal(String),
}

/// One source record as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    class: RecordClass,
    /// The entry this record makes on its own (its id the record key, its display name
    /// falling back to company, mail, number or id when the source has none), packed. E-mails
    /// are lower-cased, trimmed and non-empty; numbers without duplicates. A merged entry is
    /// composed from its records' entries; an entry of one record is this one, not a copy.
    entry: Packed,
    /// True when the source gave a display name (the entry's is not a fallback).
    named: bool,
    /// Folded words of the display name, sorted, distinct and space-separated (for the "same
    /// person" check on shared numbers; one allocation instead of one a word).
    name_words: Box<str>,
}

/// The [`SiteIndex::group_of`] of a record in no entry.
const NO_GROUP: Rid = Rid::MAX;

/// A record key (`u:<user id>`, `c:<contact id>`) interned as a compact id: postings and groups
/// hold these instead of strings. An entry is known by the id of its first member.
type Rid = u32;

/// True when every word of `a` is in `b` (both sorted, distinct and space-separated).
fn subset(a: &str, b: &str) -> bool {
    let b: Vec<&str> = b.split_whitespace().collect();
    a.split_whitespace().all(|w| b.binary_search(&w).is_ok())
}

/// Sorted, distinct folded words, space-separated.
fn word_set(text: &str) -> Box<str> {
    let mut w = text::words(text);
    w.sort();
    w.dedup();
    w.join(" ").into_boxed_str()
}

/// A record of a source's fields as given, before [`seal`] makes its entry and packs it.
struct RawRecord {
    class: RecordClass,
    entry: Entry,
    named: bool,
    name_words: Box<str>,
}

impl Record {
    fn shared_class(&self) -> Option<SourceClass> {
        match self.class {
            RecordClass::Shared(c) => Some(c),
            RecordClass::Personal(_) => None,
        }
    }
}

/// An entry with what the index needs to find and remove it.
#[derive(Debug, Clone)]
struct Indexed {
    /// The entry composed from several records, packed; `None` for an entry of one record,
    /// whose own entry it is (see [`SiteIndex::peek`]).
    merged: Option<Packed>,
    /// The entry's id: its first record's (the one of highest priority).
    id: Rid,
    /// Its other records, by priority (empty for an entry of one record: no allocation).
    others: Box<[Rid]>,
    user: bool,
    company: bool,
    directory: bool,
    /// One after another, in one allocation (where each ends in `ends`):
    /// - the folded display name, for ordering;
    /// - the distinct folded words of every member's names and company, sorted and
    ///   space-separated;
    /// - the digit forms of each of the entry's numbers, aligned with them: one line a number,
    ///   its forms separated by spaces (see [`Indexed::number_forms`]);
    /// - the keys it is filed under in the number maps (`e:`E.164, `s:`suffix, `x:`extension),
    ///   space-separated: removal needs them after its records may have changed.
    text: Box<str>,
    ends: [u32; 3],
}

impl Indexed {
    /// The folded display name, for ordering.
    fn sort_key(&self) -> &str {
        &self.text[..self.ends[0] as usize]
    }

    /// The distinct folded words of its names and company, sorted and space-separated.
    fn words(&self) -> &str {
        &self.text[self.ends[0] as usize..self.ends[1] as usize]
    }

    /// The digit forms of each of the entry's numbers, in order: one space-separated string a
    /// number, to zip with them (an entry without numbers yields one empty string, which no
    /// digits match).
    fn number_forms(&self) -> impl Iterator<Item = &str> {
        self.text[self.ends[1] as usize..self.ends[2] as usize].split('\n')
    }

    /// Its keys in the number maps, space-separated.
    fn number_keys(&self) -> &str {
        &self.text[self.ends[2] as usize..]
    }

    /// Its record ids, highest priority first.
    fn members(&self) -> impl Iterator<Item = Rid> + '_ {
        std::iter::once(self.id).chain(self.others.iter().copied())
    }
}

/// Values by record id, in a vector (ids are dense): a hash map of a million inline records
/// would keep up to twice that many slots of their full size.
#[derive(Debug, Clone)]
struct Slots<T> {
    items: Vec<Option<Box<T>>>,
    len: usize,
}

impl<T> Slots<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            len: 0,
        }
    }

    fn get(&self, id: &Rid) -> Option<&T> {
        self.items.get(*id as usize).and_then(|t| t.as_deref())
    }

    fn contains_key(&self, id: &Rid) -> bool {
        self.get(id).is_some()
    }

    fn insert(&mut self, id: Rid, value: T) {
        let at = id as usize;
        if self.items.len() <= at {
            self.items.resize_with(at + 1, || None);
        }
        if self.items[at].replace(Box::new(value)).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, id: &Rid) -> Option<T> {
        let old = self.items.get_mut(*id as usize)?.take()?;
        self.len -= 1;
        Some(*old)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(|t| t.as_deref())
    }

    /// (id, value) pairs in id order.
    fn iter(&self) -> impl Iterator<Item = (Rid, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i as Rid, t.as_deref()?)))
    }
}

impl<T> std::ops::Index<&Rid> for Slots<T> {
    type Output = T;
    fn index(&self, id: &Rid) -> &T {
        self.get(id).expect("a record id the index holds")
    }
}

/// Above this many ids a posting list becomes a B-tree: moving a megabyte of a vector (the
/// quarter of a million entries under a word like "gmbh") for every patch costs too much.
const LARGE_POSTING: usize = 512;

/// The ids under one key, sorted and distinct: one id inline (most keys — numbers, e-mail
/// addresses — have one: no allocation for them), a vector while small (4 bytes an id), a
/// B-tree once large. The vector and the tree are boxed: 16 bytes a key instead of 32 in maps
/// of millions of keys.
#[derive(Debug, Clone)]
// Boxed on purpose: the box is the size of the map's slot, not an extra allocation per key
// (one-id keys, most of them, have none).
#[allow(clippy::box_collection)]
enum Ids {
    One(Rid),
    Small(Box<Vec<Rid>>),
    Large(Box<BTreeSet<Rid>>),
}

impl Ids {
    fn insert(&mut self, id: Rid) {
        match self {
            Ids::One(x) => {
                if *x != id {
                    *self = Ids::Small(Box::new(if *x < id { vec![*x, id] } else { vec![id, *x] }));
                }
            }
            Ids::Small(v) => {
                if let Err(at) = v.binary_search(&id) {
                    v.insert(at, id);
                    if v.len() > LARGE_POSTING {
                        *self = Ids::Large(Box::new(v.iter().copied().collect()));
                    }
                }
            }
            Ids::Large(s) => {
                s.insert(id);
            }
        }
    }

    fn remove(&mut self, id: Rid) {
        match self {
            Ids::One(x) => {
                if *x == id {
                    *self = Ids::Small(Box::default());
                }
            }
            Ids::Small(v) => {
                if let Ok(at) = v.binary_search(&id) {
                    v.remove(at);
                    if let [only] = v[..] {
                        *self = Ids::One(only);
                    }
                }
            }
            Ids::Large(s) => {
                s.remove(&id);
                if s.len() < LARGE_POSTING / 2 {
                    *self = Ids::Small(Box::new(s.iter().copied().collect()));
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Ids::One(_) => 1,
            Ids::Small(v) => v.len(),
            Ids::Large(s) => s.len(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Ids::One(_) => false,
            Ids::Small(v) => v.is_empty(),
            Ids::Large(s) => s.is_empty(),
        }
    }

    /// The ids in order.
    fn iter(&self) -> Box<dyn Iterator<Item = Rid> + '_> {
        match self {
            Ids::One(x) => Box::new(std::iter::once(*x)),
            Ids::Small(v) => Box::new(v.iter().copied()),
            Ids::Large(s) => Box::new(s.iter().copied()),
        }
    }

    /// The ids as a sorted slice (borrowed while small).
    fn as_slice(&self) -> std::borrow::Cow<'_, [Rid]> {
        match self {
            Ids::One(x) => std::borrow::Cow::Borrowed(std::slice::from_ref(x)),
            Ids::Small(v) => std::borrow::Cow::Borrowed(v.as_slice()),
            Ids::Large(s) => std::borrow::Cow::Owned(s.iter().copied().collect()),
        }
    }
}

/// Key → ids.
type Postings<K = String> = BTreeMap<K, Ids>;
/// E.164 number (its digits as an integer: 8 to 15 digits, no leading zero) → ids: a number
/// key in 8 bytes instead of a string of its own.
type NumberPostings = Postings<u64>;
/// Sounds-alike code → words.
type Codes = BTreeMap<String, BTreeSet<String>>;

fn post<Q>(map: &mut Postings<Q::Owned>, key: &Q, id: Rid)
where
    Q: Ord + ToOwned + ?Sized,
    Q::Owned: Ord + std::borrow::Borrow<Q>,
{
    match map.get_mut(key) {
        Some(ids) => ids.insert(id),
        None => {
            map.insert(key.to_owned(), Ids::One(id));
        }
    }
}

/// Removes `id` under `key`; true when the key is gone with it.
fn unpost<Q>(map: &mut Postings<Q::Owned>, key: &Q, id: Rid) -> bool
where
    Q: Ord + ToOwned + ?Sized,
    Q::Owned: Ord + std::borrow::Borrow<Q>,
{
    if let Some(ids) = map.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            map.remove(key);
            return true;
        }
    }
    false
}

fn post_code(map: &mut Codes, code: &str, word: &str) {
    map.entry(code.to_owned())
        .or_default()
        .insert(word.to_owned());
}

fn unpost_code(map: &mut Codes, code: &str, word: &str) {
    if let Some(set) = map.get_mut(code) {
        set.remove(word);
        if set.is_empty() {
            map.remove(code);
        }
    }
}

/// The ids under `key`.
fn ids<'a, Q>(map: &'a Postings<Q::Owned>, key: &Q) -> std::borrow::Cow<'a, [Rid]>
where
    Q: Ord + ToOwned + ?Sized,
    Q::Owned: Ord + std::borrow::Borrow<Q>,
{
    map.get(key)
        .map(Ids::as_slice)
        .unwrap_or(std::borrow::Cow::Borrowed(&[]))
}

/// Sorted, distinct union of two sorted, distinct id lists.
fn union(a: &[Rid], b: &[Rid]) -> Vec<Rid> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Sorted intersection of two sorted, distinct id lists.
fn intersection(a: &[Rid], b: &[Rid]) -> Vec<Rid> {
    a.iter()
        .copied()
        .filter(|id| b.binary_search(id).is_ok())
        .collect()
}

/// The directory of one site.
#[derive(Debug, Clone)]
pub struct SiteIndex {
    site: SiteId,
    plan: DiallingPlan,
    priority: SourcePriority,
    /// Record key → id. Ids are never reused: a key seen once keeps its id. (Id → key is the
    /// id of the record's own entry: no second copy of a million keys.)
    rids: HashMap<Box<str>, Rid>,
    records: Slots<Record>,
    /// Record → the entry it is part of ([`NO_GROUP`] for none): a vector, as ids are dense.
    group_of: Vec<Rid>,
    entries: Slots<Indexed>,
    /// Company records by e-mail and by E.164 number, for merging.
    link_emails: Postings,
    link_numbers: NumberPostings,
    /// Word → entry ids; sounds-alike code → words.
    words: Postings,
    koelner: Codes,
    metaphone: Codes,
    /// E.164 → entry ids; last four digits → entry ids; extension → entry ids.
    by_e164: NumberPostings,
    by_suffix: Postings,
    by_extension: Postings,
    /// Last four digits of the numbers with no E.164 form and of extensions → entry ids: with
    /// `by_e164`, the candidates of a number equality whose value has an E.164 form (every
    /// other number can only match it by E.164). `by_suffix` alone gave a million-entry
    /// directory some 400 candidates a number search.
    raw_suffix: Postings,
    /// Entries whose display name is not made of indexed words (named after an e-mail address,
    /// a number or their id): candidates of every name filter.
    unworded: BTreeSet<Rid>,
}

/// A [`SiteIndex`] being built: records are taken in batch by batch (the caller may drop each
/// batch once added: the index keeps its own compact copy), entries are merged by
/// [`SiteIndexBuilder::finish`]. The same index whatever the batches.
#[derive(Debug)]
pub struct SiteIndexBuilder {
    index: SiteIndex,
    /// Every record taken in, to merge at the end.
    keys: Vec<Rid>,
}

impl SiteIndexBuilder {
    /// Takes in users' extensions (disabled ones are left out).
    pub fn add_extensions<'a>(&mut self, extensions: impl IntoIterator<Item = &'a Extension>) {
        for e in extensions {
            if let Some(r) = self.index.extension_record(e) {
                let k = user_key(&e.user_id);
                let key = self.index.intern(&k);
                self.add(key, seal(r, &k));
            }
        }
    }

    /// Takes in contacts, as `(store id, contact)` (other sites' contacts are left out).
    pub fn add_contacts<'a>(
        &mut self,
        contacts: impl IntoIterator<Item = (&'a str, &'a ContactRecord)>,
    ) {
        for (id, c) in contacts {
            if let Some(r) = self.index.contact_record(c) {
                let k = contact_key(id);
                let key = self.index.intern(&k);
                self.add(key, seal(r, &k));
            }
        }
    }

    /// Takes in a record, sealed.
    fn add(&mut self, key: Rid, r: Record) {
        let index = &mut self.index;
        index.link(key, &r);
        index.records.insert(key, r);
        self.keys.push(key);
    }

    /// Merges every record taken in into entries: the finished index.
    pub fn finish(self) -> SiteIndex {
        let mut index = self.index;
        index.regroup(self.keys);
        index.repack();
        index
    }
}

/// The record key of a user's extension.
fn user_key(user_id: &str) -> String {
    format!("u:{user_id}")
}

/// The record key of a contact (by its store id).
fn contact_key(id: &str) -> String {
    format!("c:{id}")
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl SiteIndex {
    /// An empty index for a site with its dialling plan and source priority.
    pub fn new(site: SiteId, plan: DiallingPlan, priority: SourcePriority) -> Self {
        Self {
            site,
            plan,
            priority,
            rids: HashMap::new(),
            records: Slots::new(),
            group_of: Vec::new(),
            entries: Slots::new(),
            link_emails: Postings::new(),
            link_numbers: BTreeMap::new(),
            words: Postings::new(),
            koelner: Codes::new(),
            metaphone: Codes::new(),
            by_e164: BTreeMap::new(),
            by_suffix: Postings::new(),
            by_extension: Postings::new(),
            raw_suffix: Postings::new(),
            unworded: BTreeSet::new(),
        }
    }

    /// An index of these extensions and contacts (`(store id, contact)`), built in one pass.
    pub fn build<'a>(
        site: SiteId,
        plan: DiallingPlan,
        priority: SourcePriority,
        extensions: impl IntoIterator<Item = &'a Extension>,
        contacts: impl IntoIterator<Item = (&'a str, &'a ContactRecord)>,
    ) -> Self {
        let mut builder = Self::builder(site, plan, priority);
        builder.add_extensions(extensions);
        builder.add_contacts(contacts);
        builder.finish()
    }

    /// A builder that takes the records in batches (a site read page by page) and merges them
    /// into entries once all are in; the same index as [`SiteIndex::build`].
    pub fn builder(site: SiteId, plan: DiallingPlan, priority: SourcePriority) -> SiteIndexBuilder {
        SiteIndexBuilder {
            index: Self::new(site, plan, priority),
            keys: Vec::new(),
        }
    }

    /// The site.
    pub fn site(&self) -> &SiteId {
        &self.site
    }

    /// The site's dialling plan.
    pub fn plan(&self) -> &DiallingPlan {
        &self.plan
    }

    /// How many entries the index holds (merged entries count once).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when the user has an (enabled) extension in the index.
    pub fn has_user(&self, user_id: &str) -> bool {
        self.rids
            .get(user_key(user_id).as_str())
            .is_some_and(|r| self.records.contains_key(r))
    }

    /// Puts in (or updates) a user's extension; a disabled one is taken out.
    pub fn upsert_extension(&mut self, extension: &Extension) {
        let k = user_key(&extension.user_id);
        let record = self.extension_record(extension).map(|r| seal(r, &k));
        let key = self.intern(&k);
        self.put(key, record);
    }

    /// Takes a user's extension out.
    pub fn remove_extension(&mut self, user_id: &str) {
        if let Some(&key) = self.rids.get(user_key(user_id).as_str()) {
            self.put(key, None);
        }
    }

    /// Puts in (or updates) a contact, by its store id.
    pub fn upsert_contact(&mut self, id: &str, contact: &ContactRecord) {
        let k = contact_key(id);
        let record = self.contact_record(contact).map(|r| seal(r, &k));
        let key = self.intern(&k);
        self.put(key, record);
    }

    /// Takes a contact out, by its store id.
    pub fn remove_contact(&mut self, id: &str) {
        if let Some(&key) = self.rids.get(contact_key(id).as_str()) {
            self.put(key, None);
        }
    }

    /// Every entry, ordered by id (for comparing indexes in tests and for diagnostics).
    pub fn all_entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self.entries.values().map(|i| self.view(i)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Rebuilds the B-trees filled one key at a time: keys taken in ascending order (record
    /// ids, the bench's numbers) leave every node about half full, a tree built from sorted
    /// keys at once has full nodes. Patches afterwards split only the nodes they touch.
    fn repack(&mut self) {
        fn tree<K: Ord, V>(map: &mut BTreeMap<K, V>) {
            *map = std::mem::take(map).into_iter().collect();
        }
        fn postings<K: Ord>(map: &mut Postings<K>) {
            tree(map);
            for ids in map.values_mut() {
                if let Ids::Large(set) = ids {
                    **set = std::mem::take(&mut **set).into_iter().collect();
                }
            }
        }
        postings(&mut self.link_emails);
        postings(&mut self.link_numbers);
        postings(&mut self.words);
        postings(&mut self.by_e164);
        postings(&mut self.by_suffix);
        postings(&mut self.by_extension);
        postings(&mut self.raw_suffix);
        tree(&mut self.koelner);
        tree(&mut self.metaphone);
        self.unworded = std::mem::take(&mut self.unworded).into_iter().collect();
    }

    // ---- records ----

    /// The id of a record key, given one on first sight.
    fn intern(&mut self, key: &str) -> Rid {
        if let Some(&id) = self.rids.get(key) {
            return id;
        }
        // Keys are never removed from the map: its size is the next id.
        let id = Rid::try_from(self.rids.len()).expect("fewer than 2^32 records in one site");
        self.rids.insert(key.into(), id);
        id
    }

    /// The entry a record is part of.
    fn group(&self, record: Rid) -> Option<Rid> {
        self.group_of
            .get(record as usize)
            .copied()
            .filter(|&g| g != NO_GROUP)
    }

    /// The key of a record the index holds (its sealed entry's id).
    fn key(&self, id: Rid) -> &str {
        self.records[&id].entry.id()
    }

    fn extension_record(&self, e: &Extension) -> Option<RawRecord> {
        if !e.enabled {
            return None;
        }
        let mut numbers = Vec::new();
        let did = self.plan.did_of(&e.number);
        // A caller ID that is the switchboard belongs to everyone: not this user's number.
        if let Some(c) = e.outbound_caller_id.as_ref().filter(|c| !self.is_main(c)) {
            numbers.push(numbers::entry_number_of(&self.plan, c, PhoneKind::Business));
        }
        if let Some(d) = &did {
            numbers.push(numbers::entry_number_of(&self.plan, d, PhoneKind::Business));
        }
        if let Some(m) = &e.mobile {
            numbers.push(numbers::entry_number(&self.plan, m));
        }
        Some(
            self.raw_record(
                RecordClass::Shared(SourceClass::Users),
                word_set(&e.display_name),
                Entry {
                    id: String::new(),
                    site: self.site.clone(),
                    sources: vec![EntrySource::User {
                        user_id: e.user_id.clone(),
                    }],
                    personal_owner: None,
                    display_name: e.display_name.trim().to_owned(),
                    given_name: non_empty(&e.given_name),
                    surname: non_empty(&e.surname),
                    company: None,
                    department: non_empty(&e.department),
                    title: non_empty(&e.job_title),
                    emails: e
                        .email
                        .iter()
                        .map(|m| m.trim().to_lowercase())
                        .filter(|m| !m.is_empty())
                        .collect(),
                    extension: Some(e.number.as_str().to_owned()),
                    numbers,
                },
            ),
        )
    }

    fn contact_record(&self, c: &ContactRecord) -> Option<RawRecord> {
        if c.site != self.site {
            return None;
        }
        let class = match &c.phonebook {
            PhonebookKind::Personal { owner_user_id } => {
                RecordClass::Personal(owner_user_id.clone())
            }
            PhonebookKind::Company => RecordClass::Shared(SourceClass::Company),
            PhonebookKind::Directory => RecordClass::Shared(SourceClass::Directory),
        };
        let personal_owner = match &class {
            RecordClass::Personal(o) => Some(o.clone()),
            RecordClass::Shared(_) => None,
        };
        Some(
            self.raw_record(
                class,
                word_set(&c.display_name),
                Entry {
                    id: String::new(),
                    site: self.site.clone(),
                    sources: vec![EntrySource::Contact {
                        phonebook: c.phonebook.clone(),
                        source_id: c.source_id.clone(),
                    }],
                    personal_owner,
                    display_name: c.display_name.trim().to_owned(),
                    given_name: non_empty(&c.given_name),
                    surname: non_empty(&c.surname),
                    company: non_empty(&c.company),
                    department: non_empty(&c.department),
                    title: non_empty(&c.job_title),
                    emails: c
                        .emails
                        .iter()
                        .map(|m| m.trim().to_lowercase())
                        .filter(|m| !m.is_empty())
                        .collect(),
                    extension: None,
                    numbers: c
                        .numbers
                        .iter()
                        .map(|n| numbers::entry_number(&self.plan, n))
                        .collect(),
                },
            ),
        )
    }

    /// A record of a source's fields as given (`seal` makes its entry).
    fn raw_record(&self, class: RecordClass, name_words: Box<str>, entry: Entry) -> RawRecord {
        RawRecord {
            class,
            named: !entry.display_name.is_empty(),
            entry,
            name_words,
        }
    }

    /// The entry of a record or group, for reading.
    fn peek<'a>(&'a self, ix: &'a Indexed) -> EntryRef<'a> {
        match &ix.merged {
            Some(e) => e.view(),
            None => self.records[&ix.id].entry.view(),
        }
    }

    /// The entry of a record or group as a front end gets it.
    fn view(&self, ix: &Indexed) -> Entry {
        self.peek(ix).to_entry(&self.site)
    }

    /// True for a switchboard, main number or DID base: in a DID block, but no extension's DID.
    fn is_main(&self, number: &E164) -> bool {
        self.plan.block_of(number).is_some() && self.plan.extension_of(number).is_none()
    }

    // ---- merging ----

    fn link(&mut self, key: Rid, r: &Record) {
        if r.shared_class().is_none() {
            return;
        }
        let e = r.entry.view();
        for m in e.emails() {
            post(&mut self.link_emails, m, key);
        }
        for n in e.numbers().filter_map(|n| n.e164) {
            post(&mut self.link_numbers, &e164_num(n), key);
        }
    }

    fn unlink(&mut self, key: Rid, r: &Record) {
        let e = r.entry.view();
        for m in e.emails() {
            unpost(&mut self.link_emails, m, key);
        }
        for n in e.numbers().filter_map(|n| n.e164) {
            unpost(&mut self.link_numbers, &e164_num(n), key);
        }
    }

    /// Every record sharing an e-mail or number with `r` (linked or not).
    fn holders_of(&self, r: &Record) -> Vec<Rid> {
        let mut out = Vec::new();
        let e = r.entry.view();
        for m in e.emails() {
            out.extend_from_slice(&ids(&self.link_emails, m));
        }
        for n in e.numbers().filter_map(|n| n.e164) {
            out.extend_from_slice(&ids(&self.link_numbers, &e164_num(n)));
        }
        out
    }

    /// True when a number (E.164, with `+`) shared by company records identifies one person:
    /// not a main number of the site, held by few records, and all of them carry the same name.
    /// (False for a number only one record holds: it links that record to nothing.)
    fn number_links(&self, e: &str) -> bool {
        let Some(holders) = self.link_numbers.get(&e164_num(e)) else {
            return false;
        };
        if holders.len() < 2 || holders.len() > MAX_NUMBER_HOLDERS {
            return false;
        }
        if E164::new(e).map_or(true, |e| self.is_main(&e)) {
            return false;
        }
        let names: Vec<&str> = holders
            .iter()
            .filter_map(|k| self.records.get(&k))
            .map(|r| &*r.name_words)
            .collect();
        names.iter().enumerate().all(|(i, a)| {
            names[i + 1..]
                .iter()
                .all(|b| !a.is_empty() && !b.is_empty() && (subset(a, b) || subset(b, a)))
        })
    }

    /// The records `key` merges with directly.
    fn links(&self, key: Rid) -> Vec<Rid> {
        let Some(r) = self.records.get(&key) else {
            return Vec::new();
        };
        if r.shared_class().is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let e = r.entry.view();
        for m in e.emails() {
            out.extend_from_slice(&ids(&self.link_emails, m));
        }
        for n in e.numbers().filter_map(|n| n.e164) {
            if self.number_links(n) {
                out.extend_from_slice(&ids(&self.link_numbers, &e164_num(n)));
            }
        }
        let is_user = r.shared_class() == Some(SourceClass::Users);
        out.retain(|k| {
            *k != key
                // Two users are two people, whatever they share.
                && !(is_user
                    && self.records.get(k).and_then(Record::shared_class)
                        == Some(SourceClass::Users))
        });
        out
    }

    /// Replaces (or removes) one record (sealed) and re-merges what it touches.
    fn put(&mut self, key: Rid, record: Option<Record>) {
        let mut seeds = vec![key];
        if let Some(old) = self.records.remove(&key) {
            seeds.extend(self.holders_of(&old));
            self.unlink(key, &old);
        }
        if let Some(new) = record {
            self.link(key, &new);
            seeds.extend(self.holders_of(&new));
            self.records.insert(key, new);
        }
        self.regroup(seeds);
    }

    /// Recomputes the entries of every record reachable from `seeds` through old groups and
    /// current links. A rebuild is the same with every record as a seed.
    fn regroup(&mut self, seeds: Vec<Rid>) {
        let mut todo = seeds;
        let mut seen: BTreeSet<Rid> = BTreeSet::new();
        while let Some(k) = todo.pop() {
            if seen.contains(&k) {
                continue;
            }
            if let Some(i) = self.group(k).and_then(|g| self.entries.get(&g)) {
                todo.extend(i.members());
            }
            todo.extend(self.links(k));
            seen.insert(k);
        }
        let old: BTreeSet<Rid> = seen.iter().filter_map(|&k| self.group(k)).collect();
        for id in old {
            self.remove_entry(id);
        }
        let mut done: HashSet<Rid> = HashSet::new();
        for &k in &seen {
            if done.contains(&k) || !self.records.contains_key(&k) {
                continue;
            }
            let mut component = Vec::new();
            let mut stack = vec![k];
            while let Some(c) = stack.pop() {
                if !self.records.contains_key(&c) || !done.insert(c) {
                    continue;
                }
                stack.extend(self.links(c));
                component.push(c);
            }
            self.insert_entry(component);
        }
    }

    fn remove_entry(&mut self, id: Rid) {
        let Some(ix) = self.entries.remove(&id) else {
            return;
        };
        for m in ix.members() {
            self.group_of[m as usize] = NO_GROUP;
        }
        for w in ix.words().split_whitespace() {
            if unpost(&mut self.words, w, id) {
                unpost_code(&mut self.koelner, &phonetic::koelner(w), w);
                unpost_code(&mut self.metaphone, &phonetic::metaphone(w), w);
            }
        }
        for k in ix.number_keys().split(' ') {
            if let Some(e) = k.strip_prefix("e:").and_then(|e| e.parse::<u64>().ok()) {
                unpost(&mut self.by_e164, &e, id);
            } else if let Some(x) = k.strip_prefix("s:") {
                unpost(&mut self.by_suffix, x, id);
            } else if let Some(x) = k.strip_prefix("x:") {
                unpost(&mut self.by_extension, x, id);
            } else if let Some(x) = k.strip_prefix("r:") {
                unpost(&mut self.raw_suffix, x, id);
            }
        }
        self.unworded.remove(&id);
    }

    fn insert_entry(&mut self, mut members: Vec<Rid>) {
        let rank = |r: &Record| match &r.class {
            RecordClass::Shared(c) => self.priority.rank(*c),
            RecordClass::Personal(_) => usize::MAX,
        };
        members.sort_by(|a, b| {
            let (ra, rb) = (&self.records[a], &self.records[b]);
            (rank(ra), self.key(*a)).cmp(&(rank(rb), self.key(*b)))
        });
        let records: Vec<&Record> = members.iter().map(|k| &self.records[k]).collect();
        if records.is_empty() {
            return;
        }
        let id = members[0];
        let merged = (records.len() > 1).then(|| {
            let views: Vec<(EntryRef, bool)> =
                records.iter().map(|r| (r.entry.view(), r.named)).collect();
            Packed::new(&compose(&self.site, &views))
        });
        let entry: EntryRef = match &merged {
            Some(p) => p.view(),
            None => records[0].entry.view(),
        };
        let has = |c: SourceClass| records.iter().any(|r| r.shared_class() == Some(c));
        let (user, company, directory) = (
            has(SourceClass::Users),
            has(SourceClass::Company),
            has(SourceClass::Directory),
        );
        let mut words: Vec<String> = Vec::new();
        for r in &records {
            let e = r.entry.view();
            for field in [
                r.named.then_some(e.display_name),
                e.given_name,
                e.surname,
                e.company,
            ]
            .into_iter()
            .flatten()
            {
                words.extend(text::words(field));
            }
        }
        words.sort();
        words.dedup();
        let forms: String = entry
            .numbers()
            .map(|n| numbers::digit_forms_of(&self.plan, n.e164, n.dial, n.raw).join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        let (e164_keys, suffix_keys, raw_keys) = number_keys(entry);
        let mut keys: Vec<String> = Vec::new();
        keys.extend(e164_keys.iter().map(|k| format!("e:{k}")));
        keys.extend(suffix_keys.iter().map(|k| format!("s:{k}")));
        keys.extend(raw_keys.iter().map(|k| format!("r:{k}")));
        keys.extend(entry.extension.iter().map(|x| format!("x:{x}")));
        let number_keys = keys.join(" ");
        let sort_key = text::folded_value(entry.display_name);
        let unworded = !text::words(entry.display_name)
            .iter()
            .all(|w| words.binary_search(w).is_ok());
        let extension = entry.extension.map(str::to_owned);
        for w in &words {
            if !self.words.contains_key(w) {
                let (k, m) = (phonetic::koelner(w), phonetic::metaphone(w));
                if !k.is_empty() {
                    post_code(&mut self.koelner, &k, w);
                }
                if !m.is_empty() {
                    post_code(&mut self.metaphone, &m, w);
                }
            }
            post(&mut self.words, w, id);
        }
        for k in &e164_keys {
            post(&mut self.by_e164, k, id);
        }
        for k in &suffix_keys {
            post(&mut self.by_suffix, k, id);
        }
        for k in &raw_keys {
            post(&mut self.raw_suffix, k, id);
        }
        if let Some(x) = &extension {
            post(&mut self.by_extension, x, id);
        }
        for &m in &members {
            let at = m as usize;
            if self.group_of.len() <= at {
                self.group_of.resize(at + 1, NO_GROUP);
            }
            self.group_of[at] = id;
        }
        if unworded {
            self.unworded.insert(id);
        }
        let words = words.join(" ");
        let mut text =
            String::with_capacity(sort_key.len() + words.len() + forms.len() + number_keys.len());
        let mut ends = [0u32; 3];
        for (part, end) in [&sort_key, &words, &forms].into_iter().zip(&mut ends) {
            text.push_str(part);
            *end = u32::try_from(text.len()).expect("an entry's text under 4 GiB");
        }
        text.push_str(&number_keys);
        let indexed = Indexed {
            merged,
            id,
            others: members[1..].into(),
            user,
            company,
            directory,
            text: text.into_boxed_str(),
            ends,
        };
        self.entries.insert(id, indexed);
    }

    // ---- visibility ----

    /// True when `who` may see the entry and it lies in `scope`.
    fn shows(&self, ix: &Indexed, who: &Principal, scope: BookScope) -> bool {
        let owner = self.peek(ix).personal_owner;
        let visible = match owner {
            Some(owner) => who.personal_owner() == Some(owner),
            None => true,
        };
        visible
            && match scope {
                BookScope::All => true,
                BookScope::Users => ix.user,
                BookScope::Company => ix.company,
                BookScope::Directory => ix.directory,
                BookScope::Personal => owner.is_some(),
            }
    }

    /// `Forbidden` for a personal scope asked by a principal without a personal phonebook.
    fn check_scope(who: &Principal, scope: BookScope) -> ServiceResult<()> {
        if scope == BookScope::Personal && who.personal_owner().is_none() {
            return Err(ServiceError::Forbidden(
                "only a phone signed in as an extension has a personal phonebook".into(),
            ));
        }
        Ok(())
    }

    /// Orders entries by name (then id), users first when `users_first`.
    fn order(&self, ids: &mut [&Indexed], users_first: bool) {
        ids.sort_by(|a, b| {
            let ua = users_first && !a.user;
            let ub = users_first && !b.user;
            (ua, a.sort_key(), self.key(a.id)).cmp(&(ub, b.sort_key(), self.key(b.id)))
        });
    }

    // ---- queries ----

    /// One entry by id, if `who` may see it.
    pub fn entry(&self, who: &Principal, id: &str) -> Option<Entry> {
        self.rids
            .get(id)
            .and_then(|r| self.entries.get(r))
            .filter(|ix| self.shows(ix, who, BookScope::All))
            .map(|ix| self.view(ix))
    }

    /// Entries matching `filter` in `scope` that `who` may see, by display name, at most
    /// `limit`.
    pub fn filter(
        &self,
        who: &Principal,
        scope: BookScope,
        filter: &Filter,
        limit: usize,
    ) -> ServiceResult<Vec<Entry>> {
        Self::check_scope(who, scope)?;
        let prepared = Prepared::of(filter, &self.plan);
        let candidates: Vec<&Indexed> = match self.candidates(filter, &prepared) {
            Some(ids) => ids.iter().filter_map(|id| self.entries.get(id)).collect(),
            None => self.entries.values().collect(),
        };
        let mut hits: Vec<&Indexed> = candidates
            .into_iter()
            .filter(|ix| self.shows(ix, who, scope) && self.matches(ix, filter, &prepared))
            .collect();
        // Only the first `limit` in order are wanted: select them, then sort just those.
        if hits.len() > limit {
            let by = |a: &&Indexed, b: &&Indexed| {
                (a.sort_key(), self.key(a.id)).cmp(&(b.sort_key(), self.key(b.id)))
            };
            if limit == 0 {
                hits.clear();
            } else {
                hits.select_nth_unstable_by(limit - 1, by);
                hits.truncate(limit);
            }
        }
        self.order(&mut hits, false);
        Ok(hits
            .into_iter()
            .take(limit)
            .map(|ix| self.view(ix))
            .collect())
    }

    /// Entry ids that can match `filter` (a superset), from the number indexes; `None` when
    /// every entry must be checked.
    fn candidates(&self, filter: &Filter, prepared: &Prepared<'_>) -> Option<Vec<Rid>> {
        match filter {
            Filter::And(fs) => fs
                .iter()
                .filter_map(|f| self.candidates(f, prepared))
                .reduce(|a, b| intersection(&a, &b)),
            Filter::Or(fs) => fs
                .iter()
                .map(|f| self.candidates(f, prepared))
                .try_fold(Vec::new(), |all, c| Some(union(&all, &c?))),
            Filter::Equals(a, v) if a.is_phone() => {
                let Some(number) = prepared.get(v) else {
                    return Some(Vec::new());
                };
                let suffix = numbers::suffix_key(&number.value.digits);
                Some(match &number.e164 {
                    // A number with an E.164 form matches it by that form alone; a number
                    // without one, or an extension, by its digits.
                    Some(e) => union(
                        &ids(&self.raw_suffix, suffix),
                        &ids(&self.by_e164, &e164_num(e.as_str())),
                    ),
                    None => ids(&self.by_suffix, suffix).to_vec(),
                })
            }
            Filter::Equals(a, v) if Self::word_indexed(a) => {
                let first = text::words(v).into_iter().next()?;
                let unworded: Vec<Rid> = self.unworded.iter().copied().collect();
                Some(union(&unworded, &ids(&self.words, &first)))
            }
            Filter::Substring {
                attribute,
                initial: Some(initial),
                ..
            } if Self::word_indexed(attribute) => {
                // The folded value starts with the folded initial, so its first word starts
                // with the initial's first word: every entry with a word of that prefix.
                let first = text::words(initial).into_iter().next()?;
                let mut out: Vec<Rid> = self.unworded.iter().copied().collect();
                for (_, ids) in self
                    .words
                    .range::<str, _>((
                        std::ops::Bound::Included(first.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(|(w, _)| w.starts_with(first.as_str()))
                {
                    out.extend(ids.iter());
                }
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            Filter::Substring {
                attribute,
                last: Some(last),
                ..
            } if attribute.is_phone() => {
                let digits = text::digits(last);
                (digits.len() >= 4)
                    .then(|| ids(&self.by_suffix, numbers::suffix_key(&digits)).to_vec())
            }
            _ => None,
        }
    }

    /// True for the text attributes whose every word is in the word index: names and company.
    fn word_indexed(a: &Attribute) -> bool {
        matches!(
            a,
            Attribute::CommonName
                | Attribute::DisplayName
                | Attribute::GivenName
                | Attribute::Surname
                | Attribute::Company
        )
    }

    /// The text values of an attribute.
    fn text_values<'a>(e: EntryRef<'a>, a: &Attribute) -> Vec<&'a str> {
        match a {
            Attribute::CommonName | Attribute::DisplayName => vec![e.display_name],
            Attribute::GivenName => e.given_name.into_iter().collect(),
            Attribute::Surname => e.surname.into_iter().collect(),
            Attribute::Company => e.company.into_iter().collect(),
            Attribute::Department => e.department.into_iter().collect(),
            Attribute::Title => e.title.into_iter().collect(),
            Attribute::Mail => e.emails().collect(),
            _ => Vec::new(),
        }
    }

    /// The text values of an attribute, folded (the display name's is kept ready).
    fn folded_values<'a>(
        ix: &'a Indexed,
        ent: EntryRef<'a>,
        a: &Attribute,
    ) -> Vec<std::borrow::Cow<'a, str>> {
        match a {
            Attribute::CommonName | Attribute::DisplayName => {
                vec![std::borrow::Cow::Borrowed(ix.sort_key())]
            }
            a => Self::text_values(ent, a)
                .into_iter()
                .map(|t| std::borrow::Cow::Owned(text::folded_value(t)))
                .collect(),
        }
    }

    /// The numbers (with their digit forms) an attribute covers.
    fn phone_values<'a>(
        ix: &'a Indexed,
        ent: EntryRef<'a>,
        a: &Attribute,
    ) -> impl Iterator<Item = (NumberRef<'a>, &'a str)> + 'a {
        let a = a.clone();
        ent.numbers()
            .zip(ix.number_forms())
            .filter(move |(n, _)| match a {
                Attribute::BusinessPhone => {
                    matches!(n.kind, PhoneKind::Business | PhoneKind::Other)
                }
                Attribute::Mobile => n.kind == PhoneKind::Mobile,
                Attribute::HomePhone => n.kind == PhoneKind::Home,
                Attribute::Fax => n.kind == PhoneKind::Fax,
                Attribute::AnyPhone => true,
                _ => false,
            })
    }

    fn has_extension_values(a: &Attribute) -> bool {
        matches!(a, Attribute::Extension | Attribute::AnyPhone)
    }

    /// True when the entry matches the filter (whose phone values `numbers` holds read).
    fn matches(&self, ix: &Indexed, f: &Filter, prepared: &Prepared<'_>) -> bool {
        self.matches_entry(ix, self.peek(ix), f, prepared)
    }

    /// [`SiteIndex::matches`] with the entry read once for the whole filter.
    fn matches_entry(
        &self,
        ix: &Indexed,
        ent: EntryRef<'_>,
        f: &Filter,
        prepared: &Prepared<'_>,
    ) -> bool {
        match f {
            Filter::And(fs) => fs.iter().all(|f| self.matches_entry(ix, ent, f, prepared)),
            Filter::Or(fs) => fs.iter().any(|f| self.matches_entry(ix, ent, f, prepared)),
            Filter::Not(f) => !self.matches_entry(ix, ent, f, prepared),
            Filter::Present(a) => match a {
                Attribute::ObjectClass => true,
                Attribute::Unknown(_) => false,
                a if a.is_phone() => {
                    Self::phone_values(ix, ent, a).next().is_some()
                        || (Self::has_extension_values(a) && ent.extension.is_some())
                }
                a => !Self::text_values(ent, a).is_empty(),
            },
            Filter::Equals(a, v) | Filter::Approx(a, v) if a.is_phone() => prepared
                .get(v)
                .is_some_and(|number| Self::phone_equals(ix, ent, a, number)),
            Filter::Equals(Attribute::ObjectClass, v)
            | Filter::Approx(Attribute::ObjectClass, v) => {
                OBJECT_CLASSES.contains(&text::folded_value(v).replace(' ', "").as_str())
            }
            Filter::Equals(a, v) => {
                let want = text::folded_value(v);
                Self::folded_values(ix, ent, a).iter().any(|t| *t == want)
            }
            Filter::Substring {
                attribute,
                initial,
                any,
                last,
            } => {
                if attribute.is_phone() {
                    let Some(p) = DigitPattern::new(initial.as_deref(), any, last.as_deref())
                    else {
                        return false;
                    };
                    Self::phone_values(ix, ent, attribute).any(|(n, forms)| {
                        if p.initial_plus {
                            n.e164.is_some_and(|e| p.matches(&e[1..]))
                        } else {
                            forms.split(' ').any(|f| p.matches(f))
                        }
                    }) || (Self::has_extension_values(attribute)
                        && !p.initial_plus
                        && ent.extension.is_some_and(|x| p.matches(x)))
                } else if matches!(attribute, Attribute::ObjectClass | Attribute::Unknown(_)) {
                    false
                } else {
                    let folded;
                    let p = match prepared.pattern(f) {
                        Some(p) => p,
                        None => {
                            folded = TextPattern::of(initial, any, last);
                            &folded
                        }
                    };
                    Self::folded_values(ix, ent, attribute)
                        .iter()
                        .any(|t| p.matches(t))
                }
            }
            Filter::Approx(a, v) => {
                let terms = text::words(v);
                if terms.is_empty() {
                    return false;
                }
                let words: Vec<String> = Self::text_values(ent, a)
                    .iter()
                    .flat_map(|t| text::words(t))
                    .collect();
                terms
                    .iter()
                    .all(|t| words.iter().any(|w| term_rank(t, w).is_some()))
            }
            Filter::GreaterOrEqual(a, v) => self.ordered(ix, ent, a, v, Ordering::is_ge),
            Filter::LessOrEqual(a, v) => self.ordered(ix, ent, a, v, Ordering::is_le),
        }
    }

    /// An ordering match (`>=`, `<=`): `keep` says which comparisons of a value with the bound
    /// count. See [`Filter::LessOrEqual`] for how each kind of attribute is ordered.
    fn ordered(
        &self,
        ix: &Indexed,
        ent: EntryRef<'_>,
        a: &Attribute,
        v: &str,
        keep: fn(Ordering) -> bool,
    ) -> bool {
        match a {
            Attribute::Extension => {
                let bound = text::digits(v);
                !bound.is_empty()
                    && ent
                        .extension
                        .is_some_and(|x| keep(numbers::cmp_digit_numbers(x, &bound)))
            }
            a if a.is_phone() => {
                let Some(bound) = numbers::ordering_key(&self.plan, v) else {
                    return false;
                };
                Self::phone_values(ix, ent, a)
                    .any(|(n, _)| n.e164.is_some_and(|e| keep(e[1..].cmp(bound.as_str()))))
            }
            Attribute::ObjectClass | Attribute::Unknown(_) => false,
            a => {
                let bound = text::folded_value(v);
                Self::folded_values(ix, ent, a)
                    .iter()
                    .any(|t| keep(t.as_ref().cmp(bound.as_str())))
            }
        }
    }

    fn phone_equals(ix: &Indexed, ent: EntryRef<'_>, a: &Attribute, number: &FilterNumber) -> bool {
        let (value, target) = (&number.value, &number.e164);
        if Self::has_extension_values(a) {
            if let Some(x) = ent.extension {
                let internal =
                    matches!(&value.dialled, Some(Dialled::Internal(i)) if i.as_str() == x);
                if internal || value.digits == x {
                    return true;
                }
            }
        }
        Self::phone_values(ix, ent, a).any(|(n, forms)| match (target, n.e164) {
            (Some(t), Some(e)) => t.as_str() == e,
            _ => forms.split(' ').any(|f| f == value.digits),
        })
    }

    /// A ranked free-text search: words against names and company, or a number.
    pub fn search(&self, who: &Principal, query: &TextQuery) -> ServiceResult<Vec<Hit>> {
        Self::check_scope(who, query.scope)?;
        let q = query.text.trim();
        if q.is_empty() {
            return Err(ServiceError::BadRequest(
                "the search text is empty: type a name, a company or a number".into(),
            ));
        }
        let looks_like_number =
            q.chars().any(|c| c.is_ascii_digit()) && !q.chars().any(char::is_alphabetic);
        let ranks = if looks_like_number {
            self.number_ranks(q)
        } else {
            let terms = text::words(q);
            if terms.is_empty() {
                return Err(ServiceError::BadRequest(format!(
                    "{q:?} holds no letters or digits to search for"
                )));
            }
            let mut combined: Option<HashMap<Rid, MatchRank>> = None;
            for t in &terms {
                let ranks = self.term_ranks(t);
                combined = Some(match combined {
                    None => ranks,
                    Some(prev) => prev
                        .into_iter()
                        .filter_map(|(id, r)| ranks.get(&id).map(|r2| (id, r.max(*r2))))
                        .collect(),
                });
            }
            combined.unwrap_or_default()
        };
        let mut hits: Vec<(&Indexed, MatchRank)> = ranks
            .into_iter()
            .filter_map(|(id, r)| self.entries.get(&id).map(|ix| (ix, r)))
            .filter(|(ix, _)| self.shows(ix, who, query.scope))
            .collect();
        hits.sort_by(|(a, ra), (b, rb)| {
            (ra, !a.user, a.sort_key(), self.key(a.id)).cmp(&(
                rb,
                !b.user,
                b.sort_key(),
                self.key(b.id),
            ))
        });
        Ok(hits
            .into_iter()
            .take(query.limit)
            .map(|(ix, rank)| Hit {
                entry: self.view(ix),
                rank,
            })
            .collect())
    }

    /// The best rank of each entry for one folded term.
    fn term_ranks(&self, term: &str) -> HashMap<Rid, MatchRank> {
        let mut by_word: HashMap<&str, MatchRank> = HashMap::new();
        // Exact and prefix from the sorted word list.
        for (w, _) in self
            .words
            .range::<str, _>((std::ops::Bound::Included(term), std::ops::Bound::Unbounded))
        {
            if !w.starts_with(term) {
                break;
            }
            let r = if w == term {
                MatchRank::Exact
            } else {
                MatchRank::Prefix
            };
            by_word.insert(w.as_str(), r);
        }
        let long = term.chars().count() >= 3;
        // Sounds-alike from the code indexes.
        if long {
            for (map, code) in [
                (&self.koelner, phonetic::koelner(term)),
                (&self.metaphone, phonetic::metaphone(term)),
            ] {
                if code.is_empty() {
                    continue;
                }
                for w in map.get(&code).into_iter().flatten() {
                    let e = by_word.entry(w.as_str()).or_insert(MatchRank::Phonetic);
                    *e = (*e).min(MatchRank::Phonetic);
                }
            }
        }
        // Substrings and typos over the vocabulary.
        let allowed = distance::allowed_typos(term.chars().count());
        if long || allowed > 0 {
            for w in self.words.keys() {
                let rank = if long && w.contains(term) {
                    Some(MatchRank::Substring)
                } else if allowed > 0 && distance::within(term, w, allowed).is_some() {
                    Some(MatchRank::Typo)
                } else {
                    None
                };
                if let Some(r) = rank {
                    let e = by_word.entry(w.as_str()).or_insert(r);
                    *e = (*e).min(r);
                }
            }
        }
        let mut out: HashMap<Rid, MatchRank> = HashMap::new();
        for (w, r) in by_word {
            for &id in ids(&self.words, w).iter() {
                let e = out.entry(id).or_insert(r);
                *e = (*e).min(r);
            }
        }
        out
    }

    /// Ranks for a number typed into a search box: the number itself, or digits in it.
    fn number_ranks(&self, q: &str) -> HashMap<Rid, MatchRank> {
        let mut out: HashMap<Rid, MatchRank> = HashMap::new();
        let Some(value) = NumberValue::parse(&self.plan, q) else {
            return out;
        };
        let digits = &value.digits;
        if let Some(e) = value.e164(&self.plan) {
            for &id in ids(&self.by_e164, &e164_num(e.as_str())).iter() {
                out.insert(id, MatchRank::Exact);
            }
        }
        for (id, ix) in self.entries.iter() {
            let mut best: Option<MatchRank> = out.get(&id).copied();
            let forms = ix
                .number_forms()
                .flat_map(|f| f.split(' '))
                .chain(self.peek(ix).extension);
            for f in forms {
                let r = if f == digits {
                    MatchRank::Exact
                } else if f.starts_with(digits.as_str()) {
                    MatchRank::Prefix
                } else if digits.len() >= 3 && f.contains(digits.as_str()) {
                    MatchRank::Substring
                } else {
                    continue;
                };
                best = Some(best.map_or(r, |b| b.min(r)));
            }
            if let Some(b) = best {
                out.insert(id, b);
            }
        }
        out
    }

    /// Reverse lookup of a number in any form.
    pub fn lookup(&self, who: &Principal, number: &str) -> ServiceResult<LookupResult> {
        let dialled = self
            .plan
            .parse(number)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let (e164, extension) = match dialled {
            Dialled::External(e) => {
                let x = self.plan.extension_of(&e).map(|x| x.as_str().to_owned());
                (e, x)
            }
            Dialled::Internal(x) => match self.plan.did_of(&x) {
                Some(e) => (e, Some(x.as_str().to_owned())),
                None => {
                    return Err(ServiceError::BadRequest(format!(
                        "{number:?} is an internal extension without a direct-dial number: \
                         no DID block of the site covers it"
                    )))
                }
            },
        };
        let mut found: BTreeSet<Rid> = ids(&self.by_e164, &e164_num(e164.as_str()))
            .iter()
            .copied()
            .collect();
        if let Some(x) = &extension {
            found.extend(ids(&self.by_extension, x).iter());
        }
        let mut found: Vec<&Indexed> = found
            .into_iter()
            .filter_map(|id| self.entries.get(&id))
            .filter(|ix| self.shows(ix, who, BookScope::All))
            .collect();
        found.sort_by(|a, b| {
            let class = |i: &Indexed| {
                if i.user {
                    0
                } else if self.peek(i).personal_owner.is_none() {
                    1
                } else {
                    2
                }
            };
            (class(a), a.sort_key(), self.key(a.id)).cmp(&(class(b), b.sort_key(), self.key(b.id)))
        });
        if !found.is_empty() {
            return Ok(LookupResult::Entries {
                number: e164,
                entries: found.into_iter().map(|ix| self.view(ix)).collect(),
            });
        }
        match self.plan.block_of(&e164).and_then(|b| b.company.clone()) {
            Some(name) => Ok(LookupResult::Company { number: e164, name }),
            None => Ok(LookupResult::NotFound { number: e164 }),
        }
    }
}

/// A record with its key as id and its entry composed (duplicates dropped, display name
/// fallen back when the source gave none) and packed.
fn seal(r: RawRecord, key: &str) -> Record {
    let mut entry = r.entry;
    entry.id = key.to_owned();
    let raw = Packed::new(&entry);
    let entry = Packed::new(&compose(&entry.site, &[(raw.view(), r.named)]));
    Record {
        class: r.class,
        entry,
        named: r.named,
        name_words: r.name_words,
    }
}

/// The entry of records of one person, highest priority first, each with whether its source
/// gave a display name: the first record's id and owner, each field from the first record that
/// has it, every e-mail and number once.
fn compose<'r>(site: &SiteId, records: &[(EntryRef<'r>, bool)]) -> Entry {
    let pick = |f: fn(&EntryRef<'r>) -> Option<&'r str>| {
        records.iter().find_map(|(e, _)| f(e)).map(str::to_owned)
    };
    let first = &records[0].0;
    let mut emails: Vec<String> = Vec::new();
    let mut numbers = Vec::new();
    let mut seen_numbers: HashSet<String> = HashSet::new();
    for (e, _) in records {
        for m in e.emails() {
            if !emails.iter().any(|x| x == m) {
                emails.push(m.to_owned());
            }
        }
        for n in e.numbers() {
            let key = match n.e164 {
                Some(e) => e.to_owned(),
                None => format!("raw:{}", n.raw.trim()),
            };
            if seen_numbers.insert(key) {
                numbers.push(n.to_number());
            }
        }
    }
    let company = pick(|e| e.company);
    let display_name = records
        .iter()
        .find(|(_, named)| *named)
        .map(|(e, _)| e.display_name.to_owned())
        .or_else(|| company.clone())
        .or_else(|| emails.first().cloned())
        .or_else(|| numbers.first().map(|n| n.display.clone()))
        .unwrap_or_else(|| first.id.to_owned());
    Entry {
        id: first.id.to_owned(),
        site: site.clone(),
        sources: records.iter().flat_map(|(e, _)| e.sources()).collect(),
        personal_owner: first.personal_owner.map(str::to_owned),
        display_name,
        given_name: pick(|e| e.given_name),
        surname: pick(|e| e.surname),
        company,
        department: pick(|e| e.department),
        title: pick(|e| e.title),
        emails,
        extension: records
            .iter()
            .find_map(|(e, _)| e.extension.map(str::to_owned)),
        numbers,
    }
}

/// The keys an entry is filed under in the number maps: E.164 forms, and number suffixes
/// (of E.164 forms, of invalid numbers' digits, of the extension). Sorted, distinct.
fn number_keys(entry: EntryRef<'_>) -> (Vec<u64>, Vec<String>, Vec<String>) {
    let mut e164_keys: Vec<u64> = entry
        .numbers()
        .filter_map(|n| n.e164.map(e164_num))
        .collect();
    e164_keys.sort();
    e164_keys.dedup();
    let mut suffix_keys: Vec<String> = entry
        .numbers()
        .map(|n| match n.e164 {
            Some(e) => numbers::suffix_key(&e[1..]).to_owned(),
            None => numbers::suffix_key(&text::digits(n.raw)).to_owned(),
        })
        .chain(entry.extension.map(|x| numbers::suffix_key(x).to_owned()))
        .filter(|k| !k.is_empty())
        .collect();
    suffix_keys.sort();
    suffix_keys.dedup();
    let mut raw_keys: Vec<String> = entry
        .numbers()
        .filter(|n| n.e164.is_none())
        .map(|n| numbers::suffix_key(&text::digits(n.raw)).to_owned())
        .chain(entry.extension.map(|x| numbers::suffix_key(x).to_owned()))
        .filter(|k| !k.is_empty())
        .collect();
    raw_keys.sort();
    raw_keys.dedup();
    (e164_keys, suffix_keys, raw_keys)
}

/// An E.164 number (with its `+`) as the key of the number maps: its digits as an integer
/// (E.164 has 8 to 15 digits and no leading zero, so no two numbers share a key).
fn e164_num(e: &str) -> u64 {
    e.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'))
}

/// How well one folded search term matches one folded word, if at all.
pub fn term_rank(term: &str, word: &str) -> Option<MatchRank> {
    if word == term {
        return Some(MatchRank::Exact);
    }
    if word.starts_with(term) {
        return Some(MatchRank::Prefix);
    }
    let len = term.chars().count();
    if len >= 3 && word.contains(term) {
        return Some(MatchRank::Substring);
    }
    if len >= 3 {
        let (k, m) = (phonetic::koelner(term), phonetic::metaphone(term));
        if (!k.is_empty() && k == phonetic::koelner(word))
            || (!m.is_empty() && m == phonetic::metaphone(word))
        {
            return Some(MatchRank::Phonetic);
        }
    }
    let allowed = distance::allowed_typos(len);
    (allowed > 0 && distance::within(term, word, allowed).is_some()).then_some(MatchRank::Typo)
}

/// LDAP substring matching on folded text: prefix, inner parts in order, suffix.
/// A text substring filter's parts, folded.
struct TextPattern {
    initial: Option<String>,
    any: Vec<String>,
    last: Option<String>,
}

impl TextPattern {
    /// Folds the parts of a substring filter.
    fn of(initial: &Option<String>, any: &[String], last: &Option<String>) -> Self {
        TextPattern {
            initial: initial.as_deref().map(text::folded_value),
            any: any.iter().map(|a| text::folded_value(a)).collect(),
            last: last.as_deref().map(text::folded_value),
        }
    }

    /// True when the folded `value` has the parts in order.
    fn matches(&self, value: &str) -> bool {
        let Some(mut rest) = value.strip_prefix(self.initial.as_deref().unwrap_or("")) else {
            return false;
        };
        for part in self.any.iter().filter(|p| !p.is_empty()) {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        let last = self.last.as_deref().unwrap_or("");
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

/// A phone value of a filter, read with the site's dialling plan.
struct FilterNumber {
    /// The value's digits and what it dials.
    value: NumberValue,
    /// The E.164 number it stands for, if any.
    e164: Option<E164>,
}

/// What one filter's values read as, each worked out once for the whole query instead of
/// once per candidate: its phone values (reading a number runs libphonenumber's patterns —
/// read per candidate, every entry sharing the value's last four digits for each phone
/// attribute, it was most of a number search's CPU) and its text substrings, folded.
struct Prepared<'f> {
    /// (value as written, the number it reads as — `None` when it is none).
    read: Vec<(&'f str, Option<FilterNumber>)>,
    /// (substring filter node, its folded parts).
    patterns: Vec<(&'f Filter, TextPattern)>,
}

impl<'f> Prepared<'f> {
    /// Reads every phone equality value in `filter` (once each) with `plan` and folds its text
    /// substrings.
    fn of(filter: &'f Filter, plan: &DiallingPlan) -> Self {
        let mut read: Vec<(&'f str, Option<FilterNumber>)> = Vec::new();
        let mut patterns = Vec::new();
        let mut stack = vec![filter];
        while let Some(f) = stack.pop() {
            match f {
                Filter::And(fs) | Filter::Or(fs) => stack.extend(fs.iter()),
                Filter::Not(f) => stack.push(f),
                Filter::Equals(a, v) | Filter::Approx(a, v)
                    if a.is_phone() && !read.iter().any(|(seen, _)| *seen == v.as_str()) =>
                {
                    let number = NumberValue::parse(plan, v).map(|value| FilterNumber {
                        e164: value.e164(plan),
                        value,
                    });
                    read.push((v.as_str(), number));
                }
                Filter::Substring {
                    attribute,
                    initial,
                    any,
                    last,
                } if !attribute.is_phone() => {
                    patterns.push((f, TextPattern::of(initial, any, last)));
                }
                _ => {}
            }
        }
        Prepared { read, patterns }
    }

    /// The folded parts of the substring filter `node` (one of this filter's own nodes).
    fn pattern(&self, node: &Filter) -> Option<&TextPattern> {
        self.patterns
            .iter()
            .find(|(f, _)| std::ptr::eq(*f, node))
            .map(|(_, p)| p)
    }

    /// The number `v` reads as; `None` when it is not a number (or was not in the filter).
    fn get(&self, v: &str) -> Option<&FilterNumber> {
        self.read
            .iter()
            .find(|(seen, _)| *seen == v)
            .and_then(|(_, number)| number.as_ref())
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
