//! A fixed directory behind the LDAP server: a few people in every phonebook, issued
//! credentials, a switch for anonymous access, and a record of every filter the server passed.
//! Its matcher is deliberately simple (number-aware matching is the index's job): text
//! compares case-insensitively, numbers compare by digits in E.164, national and dialable form.

use directory::{
    Attribute, BookScope, DirectoryService, Entry, EntryNumber, EntrySource, Filter, Hit,
    LookupResult, PhoneKind, PhonebookKind, Photo, Principal, ServiceError, ServiceResult, SiteId,
    TextQuery, E164,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One call of `filter`, as the server made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub who: Principal,
    pub scope: BookScope,
    pub filter: Filter,
    pub limit: usize,
}

pub struct Fake {
    pub site: SiteId,
    /// Further sites served (with no entries and no credentials).
    pub extra_sites: Vec<SiteId>,
    pub anonymous: AtomicBool,
    pub entries: Vec<Entry>,
    pub calls: Mutex<Vec<Call>>,
}

pub fn site() -> SiteId {
    SiteId::new("acme").unwrap()
}

fn number(kind: PhoneKind, e164: &str, dial: &str) -> EntryNumber {
    EntryNumber {
        kind,
        raw: e164.to_owned(),
        e164: Some(E164::new(e164).unwrap()),
        dial: dial.to_owned(),
        display: e164.to_owned(),
    }
}

fn person(id: &str, source: EntrySource, name: &str) -> Entry {
    let mut words = name.split(' ');
    let given = words.next().map(str::to_owned);
    let surname = words.next().map(str::to_owned);
    Entry {
        id: id.to_owned(),
        site: site(),
        personal_owner: match &source {
            EntrySource::Contact {
                phonebook: PhonebookKind::Personal { owner_user_id },
                ..
            } => Some(owner_user_id.clone()),
            _ => None,
        },
        sources: vec![source],
        display_name: name.to_owned(),
        given_name: given,
        surname,
        company: None,
        department: None,
        title: None,
        emails: Vec::new(),
        extension: None,
        numbers: Vec::new(),
    }
}

fn contact(book: PhonebookKind, id: &str) -> EntrySource {
    EntrySource::Contact {
        phonebook: book,
        source_id: id.to_owned(),
    }
}

impl Fake {
    pub fn new() -> Self {
        let mut alice = person(
            "u-alice",
            EntrySource::User {
                user_id: "u-alice".into(),
            },
            "Alice Example",
        );
        alice.company = Some("Example GmbH".into());
        alice.department = Some("Sales".into());
        alice.title = Some("Manager".into());
        alice.emails = vec!["alice@example.com".into()];
        alice.extension = Some("201".into());
        alice.numbers = vec![
            number(PhoneKind::Business, "+49301234201", "201"),
            number(PhoneKind::Mobile, "+491701234567", "001701234567"),
        ];
        let mut bob = person(
            "u-bob",
            EntrySource::User {
                user_id: "u-bob".into(),
            },
            "Bob Builder",
        );
        bob.extension = Some("202".into());
        bob.numbers = vec![number(PhoneKind::Business, "+49301234202", "202")];
        let mut carla = person(
            "c-carla",
            contact(PhonebookKind::Company, "g1"),
            "Carla Kunde",
        );
        carla.company = Some("Kunde AG".into());
        carla.numbers = vec![
            number(PhoneKind::Business, "+4940555123", "0040555123"),
            number(PhoneKind::Fax, "+4940555124", "0040555124"),
        ];
        let mut dieter = person(
            "d-dieter",
            contact(PhonebookKind::Directory, "g2"),
            "Dieter Lieferant",
        );
        dieter.numbers = vec![number(PhoneKind::Home, "+4989777888", "0089777888")];
        let mut paula = person(
            "p-paula",
            contact(
                PhonebookKind::Personal {
                    owner_user_id: "u-alice".into(),
                },
                "g3",
            ),
            "Paula Privat",
        );
        paula.numbers = vec![number(PhoneKind::Mobile, "+491609999999", "001609999999")];
        let mut entries = vec![alice, bob, carla, dieter, paula];
        for i in 1..=12 {
            let mut f = person(
                &format!("c-filler{i:02}"),
                contact(PhonebookKind::Company, "g"),
                &format!("Filler {i:02}"),
            );
            f.numbers = vec![number(
                PhoneKind::Business,
                &format!("+49405550{i:02}"),
                &format!("0040555 0{i:02}"),
            )];
            entries.push(f);
        }
        Self {
            site: site(),
            extra_sites: Vec::new(),
            anonymous: AtomicBool::new(true),
            entries,
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn last_call(&self) -> Option<Call> {
        self.calls.lock().unwrap().last().cloned()
    }

    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn visible(&self, who: &Principal, scope: BookScope, e: &Entry) -> bool {
        let book = match e.sources.first() {
            Some(EntrySource::User { .. }) => BookScope::Users,
            Some(EntrySource::Contact { phonebook, .. }) => match phonebook {
                PhonebookKind::Company => BookScope::Company,
                PhonebookKind::Directory => BookScope::Directory,
                PhonebookKind::Personal { .. } => BookScope::Personal,
            },
            None => return false,
        };
        if book == BookScope::Personal && e.personal_owner.as_deref() != who.personal_owner() {
            return false;
        }
        scope == BookScope::All || scope == book
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn number_forms(n: &EntryNumber) -> Vec<String> {
    let mut v = vec![digits(&n.dial)];
    if let Some(e) = &n.e164 {
        let d = digits(e.as_str());
        if let Some(national) = d.strip_prefix("49") {
            v.push(format!("0{national}"));
        }
        v.push(d);
    }
    v
}

fn text_values(e: &Entry, a: &Attribute) -> Vec<String> {
    let opt = |o: &Option<String>| o.iter().cloned().collect::<Vec<_>>();
    match a {
        Attribute::CommonName | Attribute::DisplayName => vec![e.display_name.clone()],
        Attribute::GivenName => opt(&e.given_name),
        Attribute::Surname => opt(&e.surname),
        Attribute::Company => opt(&e.company),
        Attribute::Department => opt(&e.department),
        Attribute::Title => opt(&e.title),
        Attribute::Mail => e.emails.clone(),
        Attribute::ObjectClass => vec![
            "person".into(),
            "inetOrgPerson".into(),
            "top".into(),
            "organizationalPerson".into(),
        ],
        _ => Vec::new(),
    }
    .into_iter()
    .map(|s| s.to_lowercase())
    .collect()
}

fn phone_values(e: &Entry, a: &Attribute) -> Vec<Vec<String>> {
    let kind = match a {
        Attribute::BusinessPhone => Some(PhoneKind::Business),
        Attribute::Mobile => Some(PhoneKind::Mobile),
        Attribute::HomePhone => Some(PhoneKind::Home),
        Attribute::Fax => Some(PhoneKind::Fax),
        Attribute::AnyPhone => None,
        Attribute::Extension => return e.extension.iter().map(|x| vec![x.clone()]).collect(),
        _ => return Vec::new(),
    };
    e.numbers
        .iter()
        .filter(|n| kind.is_none_or(|k| n.kind == k))
        .map(number_forms)
        .collect()
}

fn substring(v: &str, initial: &Option<String>, any: &[String], last: &Option<String>) -> bool {
    let mut rest = v;
    if let Some(i) = initial {
        match rest.strip_prefix(i.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for a in any {
        match rest.find(a.as_str()) {
            Some(p) => rest = &rest[p + a.len()..],
            None => return false,
        }
    }
    last.as_ref().is_none_or(|l| rest.ends_with(l.as_str()))
}

pub fn matches(e: &Entry, f: &Filter) -> bool {
    match f {
        Filter::And(fs) => fs.iter().all(|f| matches(e, f)),
        Filter::Or(fs) => fs.iter().any(|f| matches(e, f)),
        Filter::Not(f) => !matches(e, f),
        Filter::Present(a) if a.is_phone() => !phone_values(e, a).is_empty(),
        Filter::Present(a) => !text_values(e, a).is_empty(),
        Filter::Equals(a, v) if a.is_phone() => {
            let d = digits(v);
            !d.is_empty() && phone_values(e, a).iter().any(|forms| forms.contains(&d))
        }
        Filter::Equals(a, v) | Filter::Approx(a, v) => {
            text_values(e, a).contains(&v.to_lowercase())
        }
        // Text only: the index's number ordering is tested against the real index.
        Filter::GreaterOrEqual(a, v) => text_values(e, a).iter().any(|t| *t >= v.to_lowercase()),
        Filter::LessOrEqual(a, v) => text_values(e, a).iter().any(|t| *t <= v.to_lowercase()),
        Filter::Substring {
            attribute,
            initial,
            any,
            last,
        } if attribute.is_phone() => {
            let (i, l) = (initial.as_deref().map(digits), last.as_deref().map(digits));
            let any: Vec<String> = any.iter().map(|s| digits(s)).collect();
            phone_values(e, attribute)
                .iter()
                .flatten()
                .any(|v| substring(v, &i, &any, &l))
        }
        Filter::Substring {
            attribute,
            initial,
            any,
            last,
        } => {
            let low = |o: &Option<String>| o.as_ref().map(|s| s.to_lowercase());
            let any: Vec<String> = any.iter().map(|s| s.to_lowercase()).collect();
            text_values(e, attribute)
                .iter()
                .any(|v| substring(v, &low(initial), &any, &low(last)))
        }
    }
}

#[async_trait::async_trait]
impl DirectoryService for Fake {
    async fn authenticate(
        &self,
        site: &SiteId,
        username: &str,
        password: &str,
    ) -> ServiceResult<Principal> {
        if site != &self.site {
            return Err(ServiceError::UnknownSite(site.to_string()));
        }
        match (username, password) {
            ("201", "secret201") => Ok(Principal::Extension {
                site: site.clone(),
                user_id: "u-alice".into(),
            }),
            ("lobby", "lobbypw") => Ok(Principal::PhoneGroup {
                site: site.clone(),
                name: "lobby".into(),
            }),
            _ => Err(ServiceError::InvalidCredentials),
        }
    }

    async fn anonymous(&self, site: &SiteId) -> ServiceResult<Principal> {
        if self.extra_sites.contains(site) {
            return Ok(Principal::Anonymous { site: site.clone() });
        }
        if site != &self.site {
            return Err(ServiceError::UnknownSite(site.to_string()));
        }
        if self.anonymous.load(Ordering::SeqCst) {
            Ok(Principal::Anonymous { site: site.clone() })
        } else {
            Err(ServiceError::Forbidden("anonymous access is off".into()))
        }
    }

    async fn filter(
        &self,
        who: &Principal,
        scope: BookScope,
        filter: &Filter,
        limit: usize,
    ) -> ServiceResult<Vec<Entry>> {
        self.calls.lock().unwrap().push(Call {
            who: who.clone(),
            scope,
            filter: filter.clone(),
            limit,
        });
        if filter == &Filter::Equals(Attribute::CommonName, "slow".into()) {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        if scope == BookScope::Personal && who.personal_owner().is_none() {
            return Err(ServiceError::Forbidden(
                "only an extension has a personal phonebook".into(),
            ));
        }
        let mut out: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| self.visible(who, scope, e) && matches(e, filter))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        out.truncate(limit);
        Ok(out)
    }

    async fn search(&self, _who: &Principal, _query: &TextQuery) -> ServiceResult<Vec<Hit>> {
        Err(ServiceError::BadRequest("not used by LDAP".into()))
    }

    async fn lookup(&self, _who: &Principal, _number: &str) -> ServiceResult<LookupResult> {
        Err(ServiceError::BadRequest("not used by LDAP".into()))
    }

    async fn entry(&self, who: &Principal, id: &str) -> ServiceResult<Option<Entry>> {
        Ok(self
            .entries
            .iter()
            .find(|e| e.id == id && self.visible(who, BookScope::All, e))
            .cloned())
    }

    async fn photo(&self, _who: &Principal, _id: &str) -> ServiceResult<Option<Photo>> {
        // LDAP serves no photos; this directory holds none.
        Ok(None)
    }

    async fn sites(&self) -> ServiceResult<Vec<SiteId>> {
        let mut all = vec![self.site.clone()];
        all.extend(self.extra_sites.iter().cloned());
        Ok(all)
    }
}
