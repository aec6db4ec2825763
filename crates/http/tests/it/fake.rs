//! A DirectoryService over fixed entries, with the visibility rules of the real one: personal
//! contacts only for their owner, anonymous access only where the site allows it.

use directory::{
    Attribute, BookScope, DirectoryService, Entry, EntryNumber, EntrySource, Filter, Hit,
    LookupResult, MatchRank, PhoneKind, PhonebookKind, Photo, Principal, ServiceError,
    ServiceResult, SiteId, TextQuery, E164,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Site that requires credentials.
pub const MAIN: &str = "main";
/// Site that allows anonymous access.
pub const OPEN: &str = "open";
/// Site with 40 numbered people (and 3 without a number), for paging.
pub const BIG: &str = "big";

pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const LOBBY: (&str, &str) = ("lobby", "lobby-secret");

/// Display names of the main site's fixture entries.
pub const BEN: &str = "Ben & Jerry's <Ice> \"Cream\"";
pub const CTRL: &str = "Ctrl\u{1}Char\u{7}Name\u{FFFE}";
pub const JUERGEN: &str = "Jürgen Müller";
pub const PETE: &str = "Private Pete";

pub struct Fake {
    pub entries: Vec<Entry>,
    /// Searches for the text "block" wait for a permit here (concurrency tests).
    pub gate: Semaphore,
    /// Searches currently waiting at the gate.
    pub waiting: AtomicUsize,
    /// When set, every call fails with Unavailable.
    pub broken: AtomicBool,
    /// Photos by entry id (shown only to who may see the entry).
    pub photos: Vec<(String, Photo)>,
}

/// Alice's photo: a PNG signature and a few bytes, with Graph's quoted mediaEtag.
pub fn alice_photo() -> Photo {
    Photo {
        content_type: "image/png".into(),
        etag: "\"BA09D118\"".into(),
        bytes: b"\x89PNG\r\n\x1a\nalice".to_vec(),
    }
}

fn site(s: &str) -> SiteId {
    SiteId::new(s).expect("fixture site id")
}

fn number(kind: PhoneKind, e164: &str, dial: &str) -> EntryNumber {
    EntryNumber {
        kind,
        raw: e164.to_owned(),
        e164: Some(E164::new(e164).expect("fixture number")),
        dial: dial.to_owned(),
        display: e164.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(
    site_id: &str,
    id: &str,
    name: &str,
    given: Option<&str>,
    surname: Option<&str>,
    source: EntrySource,
    extension: Option<&str>,
    numbers: Vec<EntryNumber>,
) -> Entry {
    let personal_owner = match &source {
        EntrySource::Contact {
            phonebook: PhonebookKind::Personal { owner_user_id },
            ..
        } => Some(owner_user_id.clone()),
        _ => None,
    };
    Entry {
        id: id.to_owned(),
        site: site(site_id),
        sources: vec![source],
        personal_owner,
        display_name: name.to_owned(),
        given_name: given.map(str::to_owned),
        surname: surname.map(str::to_owned),
        company: None,
        department: None,
        title: None,
        emails: Vec::new(),
        extension: extension.map(str::to_owned),
        numbers,
    }
}

fn contact(book: PhonebookKind, id: &str) -> EntrySource {
    EntrySource::Contact {
        phonebook: book,
        source_id: id.to_owned(),
    }
}

impl Fake {
    pub fn new() -> Arc<Self> {
        let mut alice = entry(
            MAIN,
            "e-alice",
            "Alice Example",
            Some("Alice"),
            Some("Example"),
            EntrySource::User {
                user_id: "u-alice".into(),
            },
            Some("201"),
            vec![
                number(PhoneKind::Business, "+4930123456201", "201"),
                number(PhoneKind::Mobile, "+491701234567", "001701234567"),
            ],
        );
        alice.company = Some("Example GmbH".into());
        alice.title = Some("Head of \"Phones\"".into());
        alice.emails = vec!["alice@example.com".into()];
        let mut bob = entry(
            MAIN,
            "e-bob",
            "Bob Builder",
            Some("Bob"),
            Some("Builder"),
            EntrySource::User {
                user_id: "u-bob".into(),
            },
            Some("202"),
            Vec::new(),
        );
        bob.emails = vec!["bob@example.com".into()];
        let mut ben = entry(
            MAIN,
            "e-ben",
            BEN,
            None,
            None,
            contact(PhonebookKind::Company, "c-ben"),
            None,
            vec![number(PhoneKind::Business, "+4940555000", "0040555000")],
        );
        ben.company = Some("Ben & Jerry's, Inc.".into());
        let ctrl = entry(
            MAIN,
            "e-ctrl",
            CTRL,
            None,
            None,
            contact(PhonebookKind::Company, "c-ctrl"),
            None,
            vec![number(PhoneKind::Business, "+4940555111", "0040555111")],
        );
        let juergen = entry(
            MAIN,
            "e-juergen",
            JUERGEN,
            Some("Jürgen"),
            Some("Müller"),
            contact(PhonebookKind::Directory, "c-juergen"),
            None,
            vec![
                number(PhoneKind::Home, "+4989777000", "0089777000"),
                number(PhoneKind::Fax, "+4989777001", "0089777001"),
            ],
        );
        let pete = entry(
            MAIN,
            "e-pete",
            PETE,
            Some("Pete"),
            Some("Private"),
            contact(
                PhonebookKind::Personal {
                    owner_user_id: "u-alice".into(),
                },
                "c-pete",
            ),
            None,
            vec![number(PhoneKind::Mobile, "+491609999999", "001609999999")],
        );
        let nora = entry(
            MAIN,
            "e-nora",
            "No Number Nora",
            Some("Nora"),
            Some("Number"),
            contact(PhonebookKind::Company, "c-nora"),
            None,
            Vec::new(),
        );
        let open = entry(
            OPEN,
            "o-olga",
            "Olga Open",
            Some("Olga"),
            Some("Open"),
            contact(PhonebookKind::Company, "c-olga"),
            None,
            vec![number(PhoneKind::Business, "+4930700700", "030700700")],
        );
        let mut entries = vec![alice, bob, ben, ctrl, juergen, pete, nora, open];
        for i in 1..=40 {
            entries.push(entry(
                BIG,
                &format!("b-{i:02}"),
                &format!("Person {i:02}"),
                None,
                None,
                contact(PhonebookKind::Company, &format!("c-{i}")),
                None,
                vec![number(
                    PhoneKind::Business,
                    &format!("+49301000{i:04}"),
                    &format!("030 1000{i:04}"),
                )],
            ));
        }
        // Entries with nothing to dial, sorting first: row-paged formats must read past them.
        for i in 1..=3 {
            entries.push(entry(
                BIG,
                &format!("s-{i}"),
                &format!("Aaa Silent {i}"),
                None,
                None,
                contact(PhonebookKind::Company, &format!("c-s{i}")),
                None,
                Vec::new(),
            ));
        }
        Arc::new(Self {
            entries,
            gate: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            photos: vec![
                ("e-alice".into(), alice_photo()),
                (
                    // Pete is Alice's personal contact: his photo is hers alone to see.
                    "e-pete".into(),
                    Photo {
                        content_type: "image/jpeg".into(),
                        etag: "W/\"pete-1\"".into(),
                        bytes: vec![0xff, 0xd8, 0xff, 0xd9],
                    },
                ),
            ],
        })
    }

    fn check(&self) -> ServiceResult<()> {
        if self.broken.load(Ordering::SeqCst) {
            Err(ServiceError::Unavailable("fake store is down".into()))
        } else {
            Ok(())
        }
    }

    fn visible<'a>(
        &'a self,
        who: &'a Principal,
        scope: BookScope,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| {
            if &e.site != who.site() {
                return false;
            }
            if let Some(owner) = &e.personal_owner {
                if who.personal_owner() != Some(owner.as_str()) {
                    return false;
                }
            }
            let book = match &e.sources[0] {
                EntrySource::User { .. } => BookScope::Users,
                EntrySource::Contact { phonebook, .. } => match phonebook {
                    PhonebookKind::Personal { .. } => BookScope::Personal,
                    PhonebookKind::Company => BookScope::Company,
                    PhonebookKind::Directory => BookScope::Directory,
                },
            };
            scope == BookScope::All || scope == book
        })
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

fn matches(filter: &Filter, e: &Entry) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|f| matches(f, e)),
        Filter::Or(parts) => parts.iter().any(|f| matches(f, e)),
        Filter::Not(inner) => !matches(inner, e),
        Filter::Present(Attribute::Extension) => e.extension.is_some(),
        other => panic!("the fake does not implement filter {other:?}"),
    }
}

#[async_trait::async_trait]
impl DirectoryService for Fake {
    async fn authenticate(
        &self,
        site_id: &SiteId,
        username: &str,
        password: &str,
    ) -> ServiceResult<Principal> {
        self.check()?;
        if ![MAIN, OPEN, BIG].contains(&site_id.as_str()) {
            return Err(ServiceError::UnknownSite(site_id.to_string()));
        }
        match (username, password) {
            u if u == ALICE => Ok(Principal::Extension {
                site: site_id.clone(),
                user_id: "u-alice".into(),
            }),
            u if u == LOBBY => Ok(Principal::PhoneGroup {
                site: site_id.clone(),
                name: "lobby".into(),
            }),
            _ => Err(ServiceError::InvalidCredentials),
        }
    }

    async fn anonymous(&self, site_id: &SiteId) -> ServiceResult<Principal> {
        self.check()?;
        match site_id.as_str() {
            OPEN | BIG => Ok(Principal::Anonymous {
                site: site_id.clone(),
            }),
            MAIN => Err(ServiceError::Forbidden("anonymous access is off".into())),
            other => Err(ServiceError::UnknownSite(other.into())),
        }
    }

    async fn filter(
        &self,
        who: &Principal,
        scope: BookScope,
        filter: &Filter,
        limit: usize,
    ) -> ServiceResult<Vec<Entry>> {
        self.check()?;
        let mut out: Vec<Entry> = self
            .visible(who, scope)
            .filter(|e| matches(filter, e))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        out.truncate(limit);
        Ok(out)
    }

    async fn search(&self, who: &Principal, query: &TextQuery) -> ServiceResult<Vec<Hit>> {
        self.check()?;
        if query.text == "block" {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let permit = self.gate.acquire().await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        }
        let text = query.text.to_lowercase();
        let wanted_digits = digits(&text);
        let mut out: Vec<Hit> = self
            .visible(who, query.scope)
            .filter(|e| {
                e.display_name.to_lowercase().contains(&text)
                    || (!wanted_digits.is_empty()
                        && wanted_digits.len() == text.trim().len()
                        && e.numbers
                            .iter()
                            .any(|n| digits(&n.dial).contains(&wanted_digits)))
            })
            .map(|e| Hit {
                entry: e.clone(),
                rank: MatchRank::Substring,
            })
            .collect();
        out.sort_by(|a, b| a.entry.display_name.cmp(&b.entry.display_name));
        out.truncate(query.limit);
        Ok(out)
    }

    async fn lookup(&self, who: &Principal, number: &str) -> ServiceResult<LookupResult> {
        self.check()?;
        let cleaned: String = number.chars().filter(|c| !c.is_whitespace()).collect();
        if cleaned.is_empty()
            || !cleaned
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'))
        {
            return Err(ServiceError::BadRequest(format!(
                "{number:?} is not a phone number"
            )));
        }
        let wanted = digits(&cleaned);
        let entries: Vec<Entry> = self
            .visible(who, BookScope::All)
            .filter(|e| {
                e.numbers.iter().any(|n| {
                    digits(&n.dial) == wanted
                        || n.e164
                            .as_ref()
                            .is_some_and(|x| digits(x.as_str()) == wanted)
                }) || e.extension.as_deref() == Some(wanted.as_str())
            })
            .cloned()
            .collect();
        let e164 = E164::new(format!("+{}", wanted.trim_start_matches('0')))
            .unwrap_or_else(|_| E164::new("+4930123456000").expect("fixture"));
        if !entries.is_empty() {
            return Ok(LookupResult::Entries {
                number: e164,
                entries,
            });
        }
        if wanted.starts_with("4930999") {
            return Ok(LookupResult::Company {
                number: e164,
                name: "Example GmbH".into(),
            });
        }
        Ok(LookupResult::NotFound { number: e164 })
    }

    async fn entry(&self, who: &Principal, id: &str) -> ServiceResult<Option<Entry>> {
        self.check()?;
        Ok(self
            .visible(who, BookScope::All)
            .find(|e| e.id == id)
            .cloned())
    }

    async fn photo(&self, who: &Principal, id: &str) -> ServiceResult<Option<Photo>> {
        if self.entry(who, id).await?.is_none() {
            return Ok(None);
        }
        Ok(self
            .photos
            .iter()
            .find(|(e, _)| e == id)
            .map(|(_, p)| p.clone()))
    }

    async fn sites(&self) -> ServiceResult<Vec<SiteId>> {
        self.check()?;
        Ok(vec![site(MAIN), site(OPEN), site(BIG)])
    }
}
