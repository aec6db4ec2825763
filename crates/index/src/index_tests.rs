//! Unit tests of the site index: merging, visibility, filters, ranking, lookup, patching.

use super::*;
use directory::{ContactSource, DidBlock, ExtensionNumber, PhoneNumber, Region};

fn site() -> SiteId {
    SiteId::new("berlin").unwrap()
}

fn plan() -> DiallingPlan {
    let mut plan = DiallingPlan::for_region(Region::new("DE").unwrap());
    plan.area_code = Some("30".into());
    plan.outside_line_prefix = Some("0".into());
    plan.did_blocks.push(DidBlock {
        base: "+49301234".into(),
        first: 100,
        last: 299,
        company: Some("Example GmbH".into()),
    });
    plan
}

fn num(raw: &str, kind: PhoneKind) -> PhoneNumber {
    PhoneNumber::parse(raw, kind, Region::new("DE").ok())
}

fn user(id: &str, ext: &str, name: &str) -> Extension {
    let mut parts = name.split(' ');
    Extension {
        site: site(),
        user_id: id.into(),
        number: ExtensionNumber::new(ext).unwrap(),
        display_name: name.into(),
        given_name: parts.next().map(str::to_owned),
        surname: parts.next().map(str::to_owned),
        email: Some(format!("{id}@example.com")),
        department: None,
        job_title: None,
        outbound_caller_id: None,
        mobile: None,
        enabled: true,
        photo_etag: None,
    }
}

fn contact(book: PhonebookKind, id: &str, name: &str, numbers: Vec<PhoneNumber>) -> ContactRecord {
    let mut parts = name.split(' ');
    ContactRecord {
        site: site(),
        source: match &book {
            PhonebookKind::Personal { .. } => ContactSource::PersonalOutlook,
            PhonebookKind::Company => ContactSource::SharedMailbox {
                mailbox: "box".into(),
            },
            PhonebookKind::Directory => ContactSource::OrgContact,
        },
        phonebook: book,
        source_id: id.into(),
        folder_id: None,
        display_name: name.into(),
        given_name: parts.next().map(str::to_owned),
        surname: parts.next().map(str::to_owned),
        company: Some("Acme".into()),
        department: None,
        job_title: None,
        emails: vec![],
        numbers,
        change_key: None,
    }
}

fn personal(owner: &str) -> PhonebookKind {
    PhonebookKind::Personal {
        owner_user_id: owner.into(),
    }
}

fn as_user(id: &str) -> Principal {
    Principal::Extension {
        site: site(),
        user_id: id.into(),
    }
}

fn group() -> Principal {
    Principal::PhoneGroup {
        site: site(),
        name: "lobby".into(),
    }
}

fn index_of(users: &[Extension], contacts: &[(&str, ContactRecord)]) -> SiteIndex {
    SiteIndex::build(
        site(),
        plan(),
        SourcePriority::default(),
        users,
        contacts.iter().map(|(id, c)| (*id, c)),
    )
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.display_name.as_str()).collect()
}

fn search(ix: &SiteIndex, who: &Principal, text: &str) -> Vec<(String, MatchRank)> {
    ix.search(
        who,
        &TextQuery {
            text: text.into(),
            scope: BookScope::All,
            limit: 50,
        },
    )
    .unwrap()
    .into_iter()
    .map(|h| (h.entry.display_name, h.rank))
    .collect()
}

#[test]
fn same_email_merges_and_priority_decides_fields() {
    let mut dir = contact(
        PhonebookKind::Directory,
        "d1",
        "Hans Meier (Vertrieb)",
        vec![num("030 5550001", PhoneKind::Business)],
    );
    dir.emails = vec!["U1@Example.com".into()];
    dir.job_title = Some("Sales lead".into());
    let mut u = user("u1", "101", "Hans Meier");
    u.mobile = Some(num("0171 1234567", PhoneKind::Mobile));
    let ix = index_of(&[u.clone()], &[("d1", dir.clone())]);
    let all = ix.all_entries();
    assert_eq!(all.len(), 1, "{all:#?}");
    let e = &all[0];
    assert_eq!(e.id, "u:u1", "the id of the highest-priority source");
    assert_eq!(e.display_name, "Hans Meier");
    assert_eq!(
        e.title.as_deref(),
        Some("Sales lead"),
        "gaps filled from the others"
    );
    assert_eq!(e.extension.as_deref(), Some("101"));
    assert_eq!(e.sources.len(), 2);
    let numbers: Vec<&str> = e
        .numbers
        .iter()
        .filter_map(|n| n.e164.as_ref().map(E164::as_str))
        .collect();
    assert_eq!(
        numbers,
        ["+49301234101", "+491711234567", "+49305550001"],
        "every number kept"
    );

    // Directory first: its fields and id win.
    let ix = SiteIndex::build(
        site(),
        plan(),
        SourcePriority::parse(&["directory"]).unwrap(),
        [&u],
        [("d1", &dir)],
    );
    let e = &ix.all_entries()[0];
    assert_eq!(e.id, "c:d1");
    assert_eq!(e.display_name, "Hans Meier (Vertrieb)");
    assert_eq!(e.extension.as_deref(), Some("101"));
}

#[test]
fn a_personal_number_merges_but_switchboards_and_shared_numbers_do_not() {
    let mobile = || num("0171 7654321", PhoneKind::Mobile);
    let board = || num("030 1234 0", PhoneKind::Business);
    let base = || num("+49 30 1234", PhoneKind::Business);
    let mut u = user("u1", "102", "Eva Roth");
    u.mobile = Some(mobile());
    let ix = index_of(
        &[u],
        &[
            // Same person, same mobile, name written the other way round: merges.
            (
                "c1",
                contact(PhonebookKind::Company, "c1", "Roth, Eva", vec![mobile()]),
            ),
            // Switchboard and DID base: never merge, whatever the names.
            (
                "c2",
                contact(PhonebookKind::Company, "c2", "Jan Vogel", vec![board()]),
            ),
            (
                "d2",
                contact(PhonebookKind::Directory, "d2", "Jan Vogel", vec![board()]),
            ),
            (
                "c3",
                contact(PhonebookKind::Company, "c3", "Ina Berg", vec![base()]),
            ),
            (
                "d3",
                contact(PhonebookKind::Directory, "d3", "Ina Berg", vec![base()]),
            ),
            // A shared office number of two different people: no merge.
            (
                "c4",
                contact(
                    PhonebookKind::Company,
                    "c4",
                    "Tom Lang",
                    vec![num("089 777777", PhoneKind::Business)],
                ),
            ),
            (
                "d4",
                contact(
                    PhonebookKind::Directory,
                    "d4",
                    "Uwe Kurz",
                    vec![num("089 777777", PhoneKind::Business)],
                ),
            ),
        ],
    );
    let all = ix.all_entries();
    let roth: Vec<&Entry> = all
        .iter()
        .filter(|e| e.display_name.contains("Roth"))
        .collect();
    assert_eq!(roth.len(), 1, "{all:#?}");
    assert_eq!(roth[0].id, "u:u1");
    assert_eq!(
        all.iter().filter(|e| e.display_name == "Jan Vogel").count(),
        2
    );
    assert_eq!(
        all.iter().filter(|e| e.display_name == "Ina Berg").count(),
        2
    );
    assert_eq!(all.len(), 1 + 2 + 2 + 2);
}

#[test]
fn two_users_never_merge_and_personal_contacts_never_merge() {
    let mut a = user("u1", "101", "Kim Park");
    let mut b = user("u2", "102", "Kim Park");
    a.mobile = Some(num("0171 1111111", PhoneKind::Mobile));
    b.mobile = a.mobile.clone();
    let mut p = contact(
        personal("u1"),
        "p1",
        "Kim Park",
        vec![num("0171 1111111", PhoneKind::Mobile)],
    );
    p.emails = vec!["u1@example.com".into()];
    let ix = index_of(&[a, b], &[("p1", p)]);
    assert_eq!(ix.len(), 3);
}

#[test]
fn personal_contacts_are_their_owners_alone() {
    let secret = num("0160 9999999", PhoneKind::Mobile);
    let ix = index_of(
        &[user("u1", "101", "Ann Alt"), user("u2", "102", "Bea Bach")],
        &[(
            "p1",
            contact(personal("u1"), "p1", "Dr. Zahnweh", vec![secret.clone()]),
        )],
    );
    let owner = as_user("u1");
    assert_eq!(search(&ix, &owner, "zahnweh").len(), 1);
    assert!(ix.entry(&owner, "c:p1").is_some());
    for other in [as_user("u2"), group()] {
        assert!(search(&ix, &other, "zahnweh").is_empty());
        assert!(search(&ix, &other, "0160 9999999").is_empty());
        assert!(ix.entry(&other, "c:p1").is_none());
        let found = ix
            .filter(
                &other,
                BookScope::All,
                &Filter::Present(Attribute::ObjectClass),
                100,
            )
            .unwrap();
        assert_eq!(names(&found), ["Ann Alt", "Bea Bach"]);
        assert!(matches!(
            ix.lookup(&other, "0160 9999999").unwrap(),
            LookupResult::NotFound { .. }
        ));
    }
    assert!(matches!(
        ix.filter(&group(), BookScope::Personal, &Filter::And(vec![]), 10),
        Err(ServiceError::Forbidden(_))
    ));
    let mine = ix
        .filter(&owner, BookScope::Personal, &Filter::And(vec![]), 10)
        .unwrap();
    assert_eq!(names(&mine), ["Dr. Zahnweh"]);
    match ix.lookup(&owner, "+49 160 9999999").unwrap() {
        LookupResult::Entries { entries, .. } => assert_eq!(names(&entries), ["Dr. Zahnweh"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_ranks_exact_prefix_phonetic_typo_then_users_first() {
    let ix = index_of(
        &[
            user("u1", "101", "Hans Meier"),
            user("u2", "102", "Jürgen Müller"),
            user("u3", "103", "Petra Schmidt"),
            user("u4", "104", "Otto Meierhof"),
        ],
        &[
            (
                "d1",
                contact(PhonebookKind::Directory, "d1", "Karl Meier", vec![]),
            ),
            (
                "d2",
                contact(PhonebookKind::Directory, "d2", "Anna Maier", vec![]),
            ),
            (
                "d3",
                contact(PhonebookKind::Directory, "d3", "Lena Mueller", vec![]),
            ),
        ],
    );
    let who = group();
    assert_eq!(
        search(&ix, &who, "meier"),
        [
            ("Hans Meier".to_string(), MatchRank::Exact),
            ("Karl Meier".to_string(), MatchRank::Exact),
            ("Otto Meierhof".to_string(), MatchRank::Prefix),
            ("Anna Maier".to_string(), MatchRank::Phonetic),
        ]
    );
    let maier = search(&ix, &who, "Maier");
    assert_eq!(maier[0], ("Anna Maier".to_string(), MatchRank::Exact));
    assert!(maier.contains(&("Hans Meier".to_string(), MatchRank::Phonetic)));
    // Müller and Mueller are one word.
    assert_eq!(
        search(&ix, &who, "Müller"),
        [
            ("Jürgen Müller".to_string(), MatchRank::Exact),
            ("Lena Mueller".to_string(), MatchRank::Exact),
        ]
    );
    assert_eq!(search(&ix, &who, "mueller").len(), 2);
    // A swapped pair of letters is one typo (Metaphone, blind to vowels, hears it too).
    assert_eq!(
        search(&ix, &who, "Schmdit"),
        [("Petra Schmidt".to_string(), MatchRank::Phonetic)]
    );
    assert_eq!(
        search(&ix, &who, "Schmidr"),
        [("Petra Schmidt".to_string(), MatchRank::Typo)]
    );
    // Every term must match; the worst term decides.
    assert_eq!(
        search(&ix, &who, "hans mei"),
        [("Hans Meier".to_string(), MatchRank::Prefix)]
    );
    // Short terms get no typo allowance.
    assert!(search(&ix, &who, "xyz").is_empty());
    assert!(matches!(
        ix.search(
            &who,
            &TextQuery {
                text: "  ".into(),
                scope: BookScope::All,
                limit: 5
            }
        ),
        Err(ServiceError::BadRequest(_))
    ));
    // The limit cuts after ranking.
    let hits = ix
        .search(
            &who,
            &TextQuery {
                text: "meier".into(),
                scope: BookScope::All,
                limit: 1,
            },
        )
        .unwrap();
    assert_eq!(hits[0].entry.display_name, "Hans Meier");
    assert_eq!(hits.len(), 1);
    // Scopes.
    let users_only = ix
        .search(
            &who,
            &TextQuery {
                text: "meier".into(),
                scope: BookScope::Directory,
                limit: 9,
            },
        )
        .unwrap();
    assert_eq!(users_only.len(), 2);
}

#[test]
fn search_by_number() {
    let mut u = user("u1", "101", "Hans Meier");
    u.mobile = Some(num("0171 1234567", PhoneKind::Mobile));
    let ix = index_of(&[u], &[]);
    let who = group();
    assert_eq!(search(&ix, &who, "0171 1234567")[0].1, MatchRank::Exact);
    assert_eq!(search(&ix, &who, "+491711234567")[0].1, MatchRank::Exact);
    assert_eq!(search(&ix, &who, "0171")[0].1, MatchRank::Prefix);
    assert_eq!(search(&ix, &who, "234567")[0].1, MatchRank::Substring);
    assert_eq!(search(&ix, &who, "101")[0].1, MatchRank::Exact);
    assert!(search(&ix, &who, "999999").is_empty());
}

fn eq(a: Attribute, v: &str) -> Filter {
    Filter::Equals(a, v.into())
}

fn sub(a: Attribute, i: Option<&str>, any: &[&str], l: Option<&str>) -> Filter {
    Filter::Substring {
        attribute: a,
        initial: i.map(str::to_owned),
        any: any.iter().map(|s| s.to_string()).collect(),
        last: l.map(str::to_owned),
    }
}

/// A directory contact with a Berlin business number and a mobile, both with E.164 forms.
fn karl_kunde() -> (&'static str, ContactRecord) {
    (
        "d1",
        contact(
            PhonebookKind::Directory,
            "d1",
            "Karl Kunde",
            vec![
                num("+49 30 1234567", PhoneKind::Business),
                num("0151 1234567", PhoneKind::Mobile),
            ],
        ),
    )
}

#[test]
fn filters_are_number_aware() {
    let ix = index_of(
        &[user("u1", "101", "Hans Meier")],
        &[
            karl_kunde(),
            (
                "d2",
                contact(
                    PhonebookKind::Directory,
                    "d2",
                    "Ole Other",
                    vec![
                        num("089 7654321", PhoneKind::Business),
                        num("n/a 12", PhoneKind::Fax),
                    ],
                ),
            ),
        ],
    );
    let who = group();
    let run = |f: Filter| names(&ix.filter(&who, BookScope::All, &f, 100).unwrap()).join(",");
    assert_eq!(
        run(eq(Attribute::BusinessPhone, "030 1234567")),
        "Karl Kunde"
    );
    assert_eq!(
        run(eq(Attribute::BusinessPhone, "0049 30 1234567")),
        "Karl Kunde"
    );
    assert_eq!(
        run(eq(Attribute::BusinessPhone, "1234567")),
        "Karl Kunde",
        "local form"
    );
    assert_eq!(
        run(eq(Attribute::Mobile, "030 1234567")),
        "",
        "kind matters"
    );
    // Hans Meier's DID (+49 30 1234 101) starts the same way.
    assert_eq!(
        run(sub(Attribute::BusinessPhone, Some("0301234"), &[], None)),
        "Hans Meier,Karl Kunde"
    );
    assert_eq!(
        run(sub(
            Attribute::BusinessPhone,
            Some("0301234"),
            &[],
            Some("67")
        )),
        "Karl Kunde"
    );
    assert_eq!(
        run(sub(Attribute::BusinessPhone, Some("+4930"), &[], None)),
        "Hans Meier,Karl Kunde"
    );
    assert_eq!(
        run(sub(Attribute::BusinessPhone, Some("+4989"), &[], None)),
        "Ole Other"
    );
    assert_eq!(
        run(sub(Attribute::Mobile, None, &[], Some("1234567"))),
        "Karl Kunde"
    );
    assert_eq!(
        run(sub(Attribute::AnyPhone, None, &[], Some("1234567"))),
        "Karl Kunde"
    );
    assert_eq!(
        run(sub(Attribute::AnyPhone, None, &["765"], None)),
        "Ole Other"
    );
    assert_eq!(run(sub(Attribute::AnyPhone, None, &[], Some("x"))), "");
    // The extension: bare, as DID, as a substring.
    assert_eq!(run(eq(Attribute::Extension, "101")), "Hans Meier");
    assert_eq!(run(eq(Attribute::AnyPhone, "030 1234 101")), "Hans Meier");
    assert_eq!(
        run(sub(Attribute::Extension, Some("10"), &[], None)),
        "Hans Meier"
    );
    // A number that did not normalise matches by its digits.
    assert_eq!(run(eq(Attribute::Fax, "12")), "Ole Other");
    // Text attributes: case, accents, whole value; substrings.
    assert_eq!(run(eq(Attribute::CommonName, "hans MEIER")), "Hans Meier");
    assert_eq!(run(eq(Attribute::CommonName, "Meier")), "");
    assert_eq!(
        run(sub(Attribute::CommonName, Some("ha"), &[], None)),
        "Hans Meier"
    );
    assert_eq!(
        run(sub(Attribute::Surname, None, &["un"], None)),
        "Karl Kunde"
    );
    assert_eq!(
        run(sub(Attribute::Company, Some("ac"), &[], Some("me"))),
        "Karl Kunde,Ole Other"
    );
    assert_eq!(run(eq(Attribute::Mail, "U1@example.COM")), "Hans Meier");
    // Presence, boolean logic, object classes, unknown attributes.
    assert_eq!(run(Filter::Present(Attribute::Fax)), "Ole Other");
    assert_eq!(run(Filter::Present(Attribute::Extension)), "Hans Meier");
    assert_eq!(run(Filter::Present(Attribute::Unknown("x".into()))), "");
    assert_eq!(
        run(Filter::And(vec![
            eq(Attribute::ObjectClass, "inetOrgPerson"),
            Filter::Not(Box::new(Filter::Present(Attribute::Extension))),
        ])),
        "Karl Kunde,Ole Other"
    );
    assert_eq!(
        run(Filter::Or(vec![
            eq(Attribute::Surname, "meier"),
            sub(Attribute::Mobile, None, &[], Some("4567")),
        ])),
        "Hans Meier,Karl Kunde"
    );
    assert_eq!(run(Filter::Or(vec![])), "");
    assert_eq!(run(Filter::And(vec![])), "Hans Meier,Karl Kunde,Ole Other");
    // ~= is the proximity search.
    assert_eq!(
        run(Filter::Approx(Attribute::Surname, "Maier".into())),
        "Hans Meier"
    );
    assert_eq!(
        run(Filter::Approx(Attribute::CommonName, "karl kundr".into())),
        "Karl Kunde"
    );
    assert_eq!(
        run(Filter::Approx(
            Attribute::BusinessPhone,
            "030 1234567".into()
        )),
        "Karl Kunde"
    );
    // The limit.
    assert_eq!(
        ix.filter(&who, BookScope::All, &Filter::And(vec![]), 2)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn lookup_in_many_forms() {
    let mut u = user("u1", "101", "Hans Meier");
    u.mobile = Some(num("0171 1234567", PhoneKind::Mobile));
    let ix = index_of(
        &[u],
        &[(
            "d1",
            contact(
                PhonebookKind::Directory,
                "d1",
                "Karl Kunde",
                vec![num("030 9876543", PhoneKind::Business)],
            ),
        )],
    );
    let who = group();
    let found = |n: &str| match ix.lookup(&who, n).unwrap() {
        LookupResult::Entries { entries, number } => {
            format!("{}={}", number, names(&entries).join(","))
        }
        LookupResult::Company { number, name } => format!("{number}=company {name}"),
        LookupResult::NotFound { number } => format!("{number}=none"),
    };
    // (The local form without area code is the numbers helper's DiallingPlan::parse to read.)
    for form in [
        "+49 30 9876543",
        "030 9876543",
        "0049309876543",
        "(030) 98 76 54-3",
    ] {
        assert_eq!(found(form), "+49309876543=Karl Kunde", "{form}");
    }
    for form in ["101", "+49301234101", "030 1234 101", "+49 (0)30 1234-101"] {
        assert_eq!(found(form), "+49301234101=Hans Meier", "{form}");
    }
    assert_eq!(found("0171 1234567"), "+491711234567=Hans Meier");
    assert_eq!(found("030 1234 250"), "+49301234250=company Example GmbH");
    assert_eq!(found("030 1234 0"), "+493012340=company Example GmbH");
    assert_eq!(found("040 1111111"), "+49401111111=none");
    assert!(matches!(
        ix.lookup(&who, "Meier"),
        Err(ServiceError::BadRequest(_))
    ));
    assert!(matches!(
        ix.lookup(&who, ""),
        Err(ServiceError::BadRequest(_))
    ));
}

#[test]
fn a_switchboard_caller_id_is_not_the_users_number() {
    let mut u = user("u1", "101", "Hans Meier");
    u.outbound_caller_id = Some(E164::new("+4930123400").unwrap());
    let mut v = user("u2", "102", "Eva Roth");
    v.outbound_caller_id = Some(E164::new("+4930123400").unwrap());
    let ix = index_of(&[u, v], &[]);
    assert!(matches!(
        ix.lookup(&group(), "+4930123400").unwrap(),
        LookupResult::Company { .. }
    ));
    assert_eq!(ix.len(), 2);
}

/// A small deterministic generator (xorshift), so the property test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn random_contact(rng: &mut Rng, id: &str) -> ContactRecord {
    const NAMES: [&str; 5] = [
        "Hans Meier",
        "Eva Roth",
        "Meier, Hans",
        "Jan Vogel",
        "Ina Berg",
    ];
    const NUMBERS: [&str; 6] = [
        "0171 1111111",
        "0171 2222222",
        "030 1234 0",
        "030 1234 150",
        "089 555555",
        "040 777777",
    ];
    const EMAILS: [&str; 3] = ["a@x.example", "b@x.example", "u1@example.com"];
    let book = match rng.next() % 4 {
        0 => personal(rng.pick(&["u1", "u2"])),
        1 => PhonebookKind::Company,
        _ => PhonebookKind::Directory,
    };
    let numbers = (0..rng.next() % 3)
        .map(|_| {
            num(
                rng.pick(&NUMBERS),
                rng.pick(&[PhoneKind::Business, PhoneKind::Mobile]),
            )
        })
        .collect();
    let mut c = contact(book, id, rng.pick(&NAMES), numbers);
    c.emails = (0..rng.next() % 2)
        .map(|_| rng.pick(&EMAILS).to_string())
        .collect();
    c.company = Some(rng.pick(&["Acme", "Globex"]).to_string());
    c
}

fn random_user(rng: &mut Rng, id: &str, ext: &str) -> Extension {
    let mut u = user(id, ext, rng.pick(&["Hans Meier", "Eva Roth", "Jan Vogel"]));
    u.mobile = rng.next().is_multiple_of(2).then(|| {
        num(
            rng.pick(&["0171 1111111", "0171 2222222"]),
            PhoneKind::Mobile,
        )
    });
    u.enabled = !rng.next().is_multiple_of(6);
    u
}

/// Everything a client can observe, for comparing two indexes.
fn observe(ix: &SiteIndex) -> Vec<String> {
    let mut out = vec![format!("{:?}", ix.all_entries())];
    for who in [as_user("u1"), as_user("u2"), group()] {
        for q in ["meier", "hans", "roht", "vogle", "acme", "0171", "1234150"] {
            let hits = ix.search(
                &who,
                &TextQuery {
                    text: q.into(),
                    scope: BookScope::All,
                    limit: 100,
                },
            );
            out.push(format!("{hits:?}"));
        }
        for n in ["0171 1111111", "089 555555", "030 1234 150", "101"] {
            out.push(format!("{:?}", ix.lookup(&who, n)));
        }
        out.push(format!(
            "{:?}",
            ix.filter(
                &who,
                BookScope::All,
                &sub(Attribute::AnyPhone, None, &[], Some("1111")),
                100
            )
        ));
    }
    // Ids differ between a patched and a rebuilt index: compare the keys they stand for.
    fn keys<K: std::fmt::Debug>(ix: &SiteIndex, p: &Postings<K>) -> Vec<(String, Vec<String>)> {
        p.iter()
            .map(|(k, ids)| {
                let mut v: Vec<String> = ids.iter().map(|i| ix.key(i).to_owned()).collect();
                v.sort();
                (format!("{k:?}"), v)
            })
            .collect()
    }
    out.push(format!("{:?}", keys(ix, &ix.words)));
    out.push(format!("{:?}", ix.koelner));
    out.push(format!("{:?}", keys(ix, &ix.by_e164)));
    out.push(format!("{:?}", keys(ix, &ix.by_suffix)));
    out.push(format!("{:?}", keys(ix, &ix.by_extension)));
    let mut unworded: Vec<&str> = ix.unworded.iter().map(|i| ix.key(*i)).collect();
    unworded.sort();
    out.push(format!("{unworded:?}"));
    for f in [
        sub(Attribute::CommonName, Some("Mei"), &[], None),
        sub(Attribute::Surname, Some("Ro"), &[], None),
        Filter::Or(vec![
            sub(Attribute::CommonName, Some("han"), &[], None),
            sub(Attribute::Company, Some("glo"), &[], None),
        ]),
        eq(Attribute::GivenName, "Jan"),
    ] {
        out.push(format!(
            "{:?}",
            ix.filter(&group(), BookScope::All, &f, 100)
        ));
    }
    out
}

#[test]
fn patching_gives_the_same_index_as_a_rebuild() {
    // The edits must exercise merging and splitting, or the comparison proves little.
    let mut merged_seen = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut users: BTreeMap<String, Extension> = BTreeMap::new();
        let mut contacts: BTreeMap<String, ContactRecord> = BTreeMap::new();
        let mut patched = SiteIndex::new(site(), plan(), SourcePriority::default());
        for step in 0..60 {
            match rng.next() % 5 {
                0 => {
                    let i = rng.next() % 4;
                    let u = random_user(&mut rng, &format!("u{i}"), &format!("10{i}"));
                    patched.upsert_extension(&u);
                    users.insert(u.user_id.clone(), u);
                }
                1 => {
                    let id = format!("u{}", rng.next() % 4);
                    patched.remove_extension(&id);
                    users.remove(&id);
                }
                2 | 3 => {
                    let id = format!("k{}", rng.next() % 10);
                    let c = random_contact(&mut rng, &id);
                    patched.upsert_contact(&id, &c);
                    contacts.insert(id, c);
                }
                _ => {
                    let id = format!("k{}", rng.next() % 10);
                    patched.remove_contact(&id);
                    contacts.remove(&id);
                }
            }
            if step % 10 == 9 {
                let rebuilt = SiteIndex::build(
                    site(),
                    plan(),
                    SourcePriority::default(),
                    users.values(),
                    contacts.iter().map(|(id, c)| (id.as_str(), c)),
                );
                merged_seen += rebuilt
                    .all_entries()
                    .iter()
                    .filter(|e| e.sources.len() > 1)
                    .count();
                let (a, b) = (observe(&patched), observe(&rebuilt));
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x, y, "seed {seed} step {step}");
                }
            }
        }
    }
    assert!(merged_seen > 50, "only {merged_seen} merged entries");
}

#[test]
fn ordering_filters() {
    let ix = index_of(
        &[user("u1", "101", "Hans Meier")],
        &[
            (
                "d1",
                contact(
                    PhonebookKind::Directory,
                    "d1",
                    "Karl Kunde",
                    vec![
                        num("+49 30 1234567", PhoneKind::Business),
                        num("0151 12345678", PhoneKind::Mobile),
                    ],
                ),
            ),
            (
                "d2",
                contact(
                    PhonebookKind::Directory,
                    "d2",
                    "Ölaf Other",
                    vec![
                        num("089 7654321", PhoneKind::Business),
                        num("n/a 12", PhoneKind::Fax),
                    ],
                ),
            ),
        ],
    );
    let who = group();
    let run = |f: Filter| names(&ix.filter(&who, BookScope::All, &f, 100).unwrap()).join(",");
    let ge = |a: Attribute, v: &str| Filter::GreaterOrEqual(a, v.into());
    let le = |a: Attribute, v: &str| Filter::LessOrEqual(a, v.into());
    // Text: folded, so "Ö" sorts as "oe" and case does not count.
    assert_eq!(run(ge(Attribute::CommonName, "k")), "Karl Kunde,Ölaf Other");
    assert_eq!(run(ge(Attribute::CommonName, "OE")), "Ölaf Other");
    assert_eq!(
        run(le(Attribute::CommonName, "oe")),
        "Hans Meier,Karl Kunde"
    );
    assert_eq!(
        run(le(Attribute::CommonName, "Karl Kunde")),
        "Hans Meier,Karl Kunde",
        "a bound equal to the value is inside"
    );
    assert_eq!(run(ge(Attribute::Surname, "zz")), "");
    // Numbers by the digits of their E.164 form; a '+' bound may be a prefix.
    assert_eq!(
        run(Filter::And(vec![
            ge(Attribute::BusinessPhone, "+4930"),
            le(Attribute::BusinessPhone, "+4931"),
        ])),
        "Hans Meier,Karl Kunde",
        "Hans's DID +49 30 1234 101 and Karl's Berlin number"
    );
    assert_eq!(
        run(Filter::And(vec![
            ge(Attribute::BusinessPhone, "+49301234100"),
            le(Attribute::BusinessPhone, "+49301234199"),
        ])),
        "Hans Meier",
        "a DID block"
    );
    assert_eq!(
        run(ge(Attribute::BusinessPhone, "030 9999999")),
        "Ölaf Other",
        "a national bound is normalised first"
    );
    assert_eq!(run(le(Attribute::Mobile, "+49151")), "");
    assert_eq!(run(ge(Attribute::Mobile, "+49151")), "Karl Kunde");
    // A number without E.164 form never matches; neither does a bound that is no number.
    assert_eq!(run(ge(Attribute::Fax, "+1")), "");
    assert_eq!(run(ge(Attribute::BusinessPhone, "abc")), "");
    // The extension compares as a whole number.
    assert_eq!(run(ge(Attribute::Extension, "99")), "Hans Meier");
    assert_eq!(run(le(Attribute::Extension, "100")), "");
    assert_eq!(run(le(Attribute::Extension, "0101")), "Hans Meier");
    // No ordering on objectClass or unknown attributes.
    assert_eq!(run(ge(Attribute::ObjectClass, "a")), "");
    assert_eq!(run(le(Attribute::Unknown("x".into()), "z")), "");
}

/// Every entry a full scan finds for `f`, in order: what `filter` must answer.
fn scanned(ix: &SiteIndex, who: &Principal, f: &Filter, limit: usize) -> Vec<Entry> {
    let numbers = Prepared::of(f, &ix.plan);
    let mut all: Vec<&Indexed> = ix
        .entries
        .values()
        .filter(|i| ix.shows(i, who, BookScope::All) && ix.matches(i, f, &numbers))
        .collect();
    ix.order(&mut all, false);
    all.into_iter()
        .take(limit)
        .map(|i| ix.view(i).clone())
        .collect()
}

#[test]
fn name_filters_answer_from_the_word_index_what_a_full_scan_finds() {
    let mut nameless = contact(PhonebookKind::Directory, "n1", "", vec![]);
    nameless.given_name = None;
    nameless.surname = None;
    nameless.company = None;
    nameless.emails = vec!["meister@example.com".into()];
    let mut company_only = contact(PhonebookKind::Directory, "n2", "", vec![]);
    company_only.given_name = None;
    company_only.surname = None;
    company_only.company = Some("Meissen Porzellan".into());
    let mut ix = index_of(
        &[user("u1", "101", "Hans Meier")],
        &[
            (
                "c1",
                contact(
                    PhonebookKind::Directory,
                    "c1",
                    "Meier-Lüdenscheidt Hans",
                    vec![],
                ),
            ),
            (
                "c2",
                contact(PhonebookKind::Directory, "c2", "Eva Müller", vec![]),
            ),
            (
                "c3",
                contact(PhonebookKind::Company, "c3", "Jan Meinhardt", vec![]),
            ),
            (
                "c4",
                contact(PhonebookKind::Directory, "c4", "Ina Berg", vec![]),
            ),
            ("n1", nameless),
            ("n2", company_only),
        ],
    );
    let filters = || {
        vec![
            sub(Attribute::CommonName, Some("Mei"), &[], None),
            sub(Attribute::CommonName, Some("mei "), &[], None),
            sub(Attribute::CommonName, Some("Hans M"), &[], None),
            sub(Attribute::CommonName, Some("-Hans"), &[], None),
            sub(
                Attribute::CommonName,
                Some("Meier-L"),
                &["den"],
                Some("dt hans"),
            ),
            sub(Attribute::DisplayName, Some("jan"), &[], None),
            sub(Attribute::Surname, Some("Mü"), &[], None),
            sub(Attribute::Surname, Some("Mue"), &[], None),
            sub(Attribute::GivenName, Some("E"), &[], None),
            sub(Attribute::Company, Some("Meiss"), &[], None),
            eq(Attribute::CommonName, "hans  MEIER"),
            eq(Attribute::Surname, "Müller"),
            eq(Attribute::CommonName, "meister@example.com"),
            Filter::Or(vec![
                sub(Attribute::CommonName, Some("Mei"), &[], None),
                sub(Attribute::Surname, Some("Mei"), &[], None),
            ]),
            Filter::Or(vec![
                sub(Attribute::CommonName, Some("Ber"), &[], None),
                sub(Attribute::Company, Some("Ber"), &[], None),
            ]),
            Filter::And(vec![
                Filter::Present(Attribute::ObjectClass),
                sub(Attribute::GivenName, Some("han"), &[], None),
            ]),
        ]
    };
    let check = |ix: &SiteIndex, label: &str| {
        for f in filters() {
            for limit in [1, 100] {
                let got = ix.filter(&group(), BookScope::All, &f, limit).unwrap();
                assert_eq!(
                    got,
                    scanned(ix, &group(), &f, limit),
                    "{label}: {f:?} limit {limit}"
                );
            }
        }
    };
    check(&ix, "built");
    let unworded: Vec<&str> = ix.unworded.iter().map(|i| ix.key(*i)).collect();
    assert_eq!(unworded, ["c:n1"], "named after its e-mail address alone");
    // The word index is used, not a scan: these filters have candidates.
    for f in &filters()[..13] {
        let numbers = Prepared::of(f, &ix.plan);
        assert!(
            ix.candidates(f, &numbers).is_some(),
            "{f:?} has no candidates"
        );
    }
    assert_eq!(
        names(
            &ix.filter(&group(), BookScope::All, &filters()[0], 100)
                .unwrap()
        ),
        [
            "Meier-Lüdenscheidt Hans",
            "Meissen Porzellan",
            "meister@example.com"
        ]
    );
    // Patched: renamed, named, removed.
    ix.upsert_contact(
        "c3",
        &contact(PhonebookKind::Company, "c3", "Jan Vogel", vec![]),
    );
    ix.upsert_contact(
        "n1",
        &contact(PhonebookKind::Directory, "n1", "Meike Schulz", vec![]),
    );
    ix.remove_contact("c1");
    check(&ix, "patched");
    assert!(ix.unworded.is_empty(), "n1 has a name now");
}

#[test]
fn large_postings_turn_into_trees_and_back_without_losing_an_id() {
    let mut ix = index_of(&[], &[]);
    let n = LARGE_POSTING + 100;
    for i in 0..n {
        let id = format!("k{i:04}");
        ix.upsert_contact(
            &id,
            &contact(PhonebookKind::Directory, &id, &format!("Eva Nr{i}"), vec![]),
        );
    }
    let acme = sub(Attribute::Company, Some("acm"), &[], None);
    assert!(matches!(ix.words.get("acme"), Some(Ids::Large(_))));
    assert_eq!(
        ix.filter(&group(), BookScope::All, &acme, usize::MAX)
            .unwrap()
            .len(),
        n
    );
    for i in (0..n).filter(|i| i % 3 != 0) {
        ix.remove_contact(&format!("k{i:04}"));
    }
    assert!(matches!(ix.words.get("acme"), Some(Ids::Small(_))));
    let got = ix
        .filter(&group(), BookScope::All, &acme, usize::MAX)
        .unwrap();
    assert_eq!(got, scanned(&ix, &group(), &acme, usize::MAX));
    assert_eq!(got.len(), n.div_ceil(3));
    assert_eq!(
        ix.filter(&group(), BookScope::All, &acme, 3).unwrap(),
        scanned(&ix, &group(), &acme, 3),
        "the first three in order"
    );
}

/// A number equality's candidates (E.164 map, plus the suffixes of numbers kept raw and of
/// extensions) find what a full scan finds, for numbers with and without an E.164 form.
#[test]
fn number_equality_candidates_match_a_full_scan() {
    let raw = |s: &str, kind| PhoneNumber::parse(s, kind, None);
    let ix = index_of(
        &[
            user("u1", "101", "Hans Meier"),
            user("u2", "4567", "Ina Vier"),
        ],
        &[
            karl_kunde(),
            (
                "d2",
                contact(
                    PhonebookKind::Directory,
                    "d2",
                    "Rita Roh",
                    // no region: kept raw, no E.164 form
                    vec![
                        raw("030 1234567", PhoneKind::Business),
                        raw("n/a 12", PhoneKind::Fax),
                    ],
                ),
            ),
            (
                "d3",
                contact(
                    PhonebookKind::Directory,
                    "d3",
                    "Sven Suffix",
                    vec![num("089 9994567", PhoneKind::Business)],
                ),
            ),
        ],
    );
    assert!(
        ix.records.values().any(|r| r
            .entry
            .view()
            .numbers()
            .any(|n| n.e164.is_none() && n.raw == "030 1234567")),
        "the test needs a number kept raw"
    );
    let who = group();
    for value in [
        "030 1234567",
        "0301234567",
        "+49 30 1234567",
        "1234567",
        "0151 1234567",
        "089 9994567",
        "4567",
        "101",
        "12",
        "n/a 12",
    ] {
        for attribute in [
            Attribute::BusinessPhone,
            Attribute::Mobile,
            Attribute::Fax,
            Attribute::AnyPhone,
            Attribute::Extension,
        ] {
            let f = Filter::Or(vec![
                eq(attribute.clone(), value),
                eq(Attribute::Mobile, value),
            ]);
            let (got, want) = (
                ix.filter(&who, BookScope::All, &f, 100).unwrap(),
                scanned(&ix, &who, &f, 100),
            );
            assert_eq!(names(&got), names(&want), "{f:?}");
        }
    }
    // Kept raw, matched by digits: what the candidates must not lose.
    let f = eq(Attribute::BusinessPhone, "030 1234567");
    assert_eq!(
        names(&ix.filter(&who, BookScope::All, &f, 100).unwrap()),
        ["Karl Kunde", "Rita Roh"]
    );
}
