//! The index's integration tests: a real SQLite file store written through its own trait, the
//! service built over it, and every question asked through `DirectoryService`.

mod support;

use directory::{
    Attribute, BookScope, DirectoryService, Entry, Filter, LookupResult, MatchRank, PhoneKind,
    Principal, ServiceError, TextQuery,
};
use pbx365_index::{IndexService, SiteSettings};
use std::sync::Arc;
use std::time::Duration;
use store::{CredentialOwner, CredentialUsername, Deletion, ScopeKey};
use support::*;

async fn search(svc: &IndexService, who: &Principal, text: &str) -> Vec<(String, MatchRank)> {
    svc.search(
        who,
        &TextQuery {
            text: text.into(),
            scope: BookScope::All,
            limit: 50,
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|h| (h.entry.display_name, h.rank))
    .collect()
}

async fn filtered(svc: &IndexService, who: &Principal, f: Filter) -> Vec<String> {
    svc.filter(who, BookScope::All, &f, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.display_name)
        .collect()
}

async fn everything(svc: &IndexService, who: &Principal) -> Vec<Entry> {
    svc.filter(who, BookScope::All, &Filter::And(vec![]), usize::MAX)
        .await
        .unwrap()
}

fn phone(attribute: Attribute, initial: Option<&str>, last: Option<&str>) -> Filter {
    Filter::Substring {
        attribute,
        initial: initial.map(str::to_owned),
        any: vec![],
        last: last.map(str::to_owned),
    }
}

#[tokio::test]
async fn search_ranks_sounds_alike_spellings_and_typos() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", None).await;
    t.user("u2", "Jürgen Müller", None).await;
    t.user("u3", "Petra Schmidt", None).await;
    t.org(&[
        org("o1", "Karl Meier", vec![]),
        org("o2", "Lena Mueller", vec![]),
        org("o3", "Otto Meierhof", vec![]),
    ])
    .await;
    let svc = t.service(false).await;
    let who = group();
    // Maier finds Meier by sound; exact before prefix before phonetic; users first.
    assert_eq!(
        search(&svc, &who, "Maier").await,
        [
            ("Hans Meier".to_string(), MatchRank::Phonetic),
            ("Karl Meier".to_string(), MatchRank::Phonetic),
        ]
    );
    assert_eq!(
        search(&svc, &who, "meier").await,
        [
            ("Hans Meier".to_string(), MatchRank::Exact),
            ("Karl Meier".to_string(), MatchRank::Exact),
            ("Otto Meierhof".to_string(), MatchRank::Prefix),
        ]
    );
    for spelling in ["Müller", "Mueller", "MUELLER"] {
        assert_eq!(
            search(&svc, &who, spelling).await,
            [
                ("Jürgen Müller".to_string(), MatchRank::Exact),
                ("Lena Mueller".to_string(), MatchRank::Exact),
            ],
            "{spelling}"
        );
    }
    let schmdit = search(&svc, &who, "Schmdit").await;
    assert_eq!(schmdit.len(), 1);
    assert_eq!(schmdit[0].0, "Petra Schmidt");
    assert_eq!(
        search(&svc, &who, "Schmidr").await,
        [("Petra Schmidt".to_string(), MatchRank::Typo)]
    );
    assert!(matches!(
        svc.search(
            &who,
            &TextQuery {
                text: "".into(),
                scope: BookScope::All,
                limit: 5
            }
        )
        .await,
        Err(ServiceError::BadRequest(_))
    ));
}

#[tokio::test]
async fn phone_filters_are_number_aware() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", Some("0151 1234567")).await;
    t.org(&[org(
        "o1",
        "Karl Kunde",
        vec![num("+49 30 1234567", PhoneKind::Business)],
    )])
    .await;
    let svc = t.service(false).await;
    let who = group();
    let f = |a, v: &str| Filter::Equals(a, v.to_string());
    assert_eq!(
        filtered(&svc, &who, f(Attribute::BusinessPhone, "030 1234567")).await,
        ["Karl Kunde"]
    );
    assert_eq!(
        filtered(&svc, &who, f(Attribute::BusinessPhone, "+49301234567")).await,
        ["Karl Kunde"]
    );
    assert_eq!(
        filtered(
            &svc,
            &who,
            phone(Attribute::BusinessPhone, Some("0301234"), Some("67"))
        )
        .await,
        ["Karl Kunde"]
    );
    assert_eq!(
        filtered(
            &svc,
            &who,
            phone(Attribute::BusinessPhone, Some("0301234"), None)
        )
        .await,
        ["Hans Meier", "Karl Kunde"],
        "Hans Meier's DID +49 30 1234 101 starts alike"
    );
    assert_eq!(
        filtered(&svc, &who, phone(Attribute::Mobile, None, Some("1234567"))).await,
        ["Hans Meier"]
    );
    assert_eq!(
        filtered(
            &svc,
            &who,
            phone(Attribute::AnyPhone, None, Some("1234567"))
        )
        .await,
        ["Hans Meier", "Karl Kunde"]
    );
    assert_eq!(
        filtered(&svc, &who, f(Attribute::Extension, "101")).await,
        ["Hans Meier"]
    );
    assert_eq!(
        filtered(
            &svc,
            &who,
            Filter::Approx(Attribute::Surname, "Maier".into())
        )
        .await,
        ["Hans Meier"]
    );
}

#[tokio::test]
async fn reverse_lookup_in_many_forms() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", Some("0171 7654321")).await;
    t.org(&[org(
        "o1",
        "Karl Kunde",
        vec![num("030 9876543", PhoneKind::Business)],
    )])
    .await;
    let svc = t.service(false).await;
    let who = group();
    for (form, want) in [
        ("+49 30 9876543", "Karl Kunde"),
        ("030 9876543", "Karl Kunde"),
        ("0049 30 98765-43", "Karl Kunde"),
        ("101", "Hans Meier"),
        ("+49 30 1234 101", "Hans Meier"),
        ("030 1234101", "Hans Meier"),
        ("0171 7654321", "Hans Meier"),
    ] {
        match svc.lookup(&who, form).await.unwrap() {
            LookupResult::Entries { entries, .. } => {
                assert_eq!(entries.len(), 1, "{form}");
                assert_eq!(entries[0].display_name, want, "{form}");
            }
            other => panic!("{form}: {other:?}"),
        }
    }
    match svc.lookup(&who, "030 1234 299").await.unwrap() {
        LookupResult::Company { name, number } => {
            assert_eq!(name, "Example GmbH");
            assert_eq!(number.as_str(), "+49301234299");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        svc.lookup(&who, "040 5555555").await.unwrap(),
        LookupResult::NotFound { .. }
    ));
    assert!(matches!(
        svc.lookup(&who, "not a number").await,
        Err(ServiceError::BadRequest(_))
    ));
}

#[tokio::test]
async fn personal_contacts_stay_with_their_owner() {
    let t = TestSite::new().await;
    t.user("a", "Anna Alt", None).await;
    t.user("b", "Bernd Bach", None).await;
    t.personal(
        "b",
        &[personal(
            "b",
            "pb1",
            "Dr. Zahnweh",
            vec![num("0160 9999999", PhoneKind::Mobile)],
        )],
    )
    .await;
    let svc = t.service(false).await;
    let (a, b) = (as_user("a"), as_user("b"));
    // B sees it everywhere; A never, by name, by number, by filter, by id.
    assert_eq!(search(&svc, &b, "zahnweh").await.len(), 1);
    let id = svc
        .filter(&b, BookScope::Personal, &Filter::And(vec![]), 10)
        .await
        .unwrap()[0]
        .id
        .clone();
    assert!(search(&svc, &a, "zahnweh").await.is_empty());
    assert!(search(&svc, &a, "0160 9999999").await.is_empty());
    assert!(
        filtered(&svc, &a, phone(Attribute::AnyPhone, None, Some("9999999")))
            .await
            .is_empty()
    );
    assert!(matches!(
        svc.lookup(&a, "0160 9999999").await.unwrap(),
        LookupResult::NotFound { .. }
    ));
    assert_eq!(svc.entry(&a, &id).await.unwrap(), None);
    assert!(svc.entry(&b, &id).await.unwrap().is_some());
    let seen_by_a = everything(&svc, &a).await;
    assert!(seen_by_a
        .iter()
        .all(|e| e.personal_owner.is_none() && !format!("{e:?}").contains("9999999")));
    // A phone group has no personal phonebook.
    assert!(matches!(
        svc.filter(&group(), BookScope::Personal, &Filter::And(vec![]), 10)
            .await,
        Err(ServiceError::Forbidden(_))
    ));
}

#[tokio::test]
async fn credentials_and_anonymous_access() {
    let t = TestSite::new().await;
    t.user("a", "Anna Alt", None).await;
    let name = CredentialUsername::new("anna-phone").unwrap();
    let issued = t
        .store
        .issue_credential(
            &t.site,
            &name,
            &CredentialOwner::Extension {
                user_id: "a".into(),
            },
        )
        .await
        .unwrap();
    let lobby = t
        .store
        .issue_credential(
            &t.site,
            &CredentialUsername::new("lobby").unwrap(),
            &CredentialOwner::PhoneGroup {
                name: "lobby".into(),
            },
        )
        .await
        .unwrap();
    let svc = Arc::new(t.service(false).await);
    assert_eq!(
        svc.authenticate(&t.site, "anna-phone", &issued.secret)
            .await
            .unwrap(),
        as_user("a")
    );
    assert_eq!(
        svc.authenticate(&t.site, "lobby", &lobby.secret)
            .await
            .unwrap(),
        group()
    );
    for (user, secret) in [
        ("anna-phone", "guess"),
        ("anna-phone", ""),
        ("lobby", issued.secret.as_str()),
        ("nobody", issued.secret.as_str()),
    ] {
        assert!(
            matches!(
                svc.authenticate(&t.site, user, secret).await,
                Err(ServiceError::InvalidCredentials)
            ),
            "{user}"
        );
    }
    assert!(matches!(
        svc.authenticate(&site_id("elsewhere"), "lobby", &lobby.secret)
            .await,
        Err(ServiceError::UnknownSite(_))
    ));
    // Anonymous access is off: refused at the door and on every request.
    assert!(matches!(
        svc.anonymous(&t.site).await,
        Err(ServiceError::Forbidden(_))
    ));
    let anon = Principal::Anonymous {
        site: t.site.clone(),
    };
    assert!(matches!(
        svc.filter(&anon, BookScope::All, &Filter::And(vec![]), 10)
            .await,
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(
        svc.lookup(&anon, "101").await,
        Err(ServiceError::Forbidden(_))
    ));
    // Revoked: refused. A user whose extension went: refused.
    assert!(t.store.revoke_credential(&t.site, &name).await.unwrap());
    assert!(matches!(
        svc.authenticate(&t.site, "anna-phone", &issued.secret)
            .await,
        Err(ServiceError::InvalidCredentials)
    ));
    let again = t
        .store
        .issue_credential(
            &t.site,
            &name,
            &CredentialOwner::Extension {
                user_id: "a".into(),
            },
        )
        .await
        .unwrap();
    t.store
        .release_extension(&t.site, "a", chrono_now())
        .await
        .unwrap();
    svc.refresh().await.unwrap();
    assert!(matches!(
        svc.authenticate(&t.site, "anna-phone", &again.secret).await,
        Err(ServiceError::InvalidCredentials)
    ));

    // A site that allows anonymous access.
    let open = t.service(true).await;
    assert_eq!(open.anonymous(&t.site).await.unwrap(), anon);
    assert!(open
        .filter(&anon, BookScope::All, &Filter::And(vec![]), 10)
        .await
        .is_ok());
    assert_eq!(open.sites().await.unwrap(), vec![t.site.clone()]);
}

#[tokio::test]
async fn merging_follows_the_rules() {
    let t = TestSite::new().await;
    t.user("u1", "Eva Roth", Some("0171 2223334")).await;
    let mut by_mail = org(
        "o1",
        "Eva Roth (Einkauf)",
        vec![num("030 5551234", PhoneKind::Business)],
    );
    by_mail.emails = vec!["U1@contoso.example".into()];
    t.org(&[
        by_mail,
        // Same switchboard, same name: still two entries (a switchboard is no one's own).
        org(
            "o2",
            "Jan Vogel",
            vec![num("030 1234 0", PhoneKind::Business)],
        ),
        // A DID base.
        org(
            "o3",
            "Ina Berg",
            vec![num("+49 30 1234", PhoneKind::Business)],
        ),
    ])
    .await;
    t.shared(&[
        shared(
            "s2",
            "Jan Vogel",
            vec![num("030 1234 0", PhoneKind::Business)],
        ),
        shared(
            "s3",
            "Ina Berg",
            vec![num("+49 30 1234", PhoneKind::Business)],
        ),
        // Her own mobile: merges with the user.
        shared(
            "s1",
            "Roth, Eva",
            vec![num("0171 2223334", PhoneKind::Mobile)],
        ),
    ])
    .await;
    let svc = t.service(false).await;
    let all = everything(&svc, &group()).await;
    let roth: Vec<&Entry> = all
        .iter()
        .filter(|e| e.display_name.contains("Roth"))
        .collect();
    assert_eq!(roth.len(), 1, "{all:#?}");
    assert_eq!(roth[0].display_name, "Eva Roth", "the user's fields win");
    assert_eq!(roth[0].sources.len(), 3);
    assert!(roth[0].numbers.iter().any(|n| n
        .e164
        .as_ref()
        .is_some_and(|e| e.as_str() == "+49305551234")));
    assert_eq!(
        all.iter().filter(|e| e.display_name == "Jan Vogel").count(),
        2
    );
    assert_eq!(
        all.iter().filter(|e| e.display_name == "Ina Berg").count(),
        2
    );
}

#[tokio::test]
async fn store_writes_are_patched_in() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", None).await;
    let svc = Arc::new(t.service(false).await);
    let who = as_user("u1");
    assert_eq!(everything(&svc, &who).await.len(), 1);

    // New contacts, a renamed user, a new personal contact.
    t.org(&[org(
        "o1",
        "Karl Kunde",
        vec![num("030 9876543", PhoneKind::Business)],
    )])
    .await;
    t.user("u1", "Hans Maier", None).await;
    t.personal("u1", &[personal("u1", "p1", "Zoe Zahn", vec![])])
        .await;
    let report = svc.refresh().await.unwrap();
    assert_eq!(report.patched, 3);
    assert_eq!(search(&svc, &who, "karl").await.len(), 1);
    assert_eq!(search(&svc, &who, "maier").await[0].1, MatchRank::Exact);
    assert_eq!(search(&svc, &who, "zahn").await.len(), 1);
    // Nothing new: nothing patched.
    assert_eq!(svc.refresh().await.unwrap().patched, 0);

    // Deletions are patched in once applied.
    let job = t.job().await;
    t.commit(
        job,
        ScopeKey::org(),
        vec![],
        vec![Deletion::Contact("o1".into())],
    )
    .await;
    svc.refresh().await.unwrap();
    assert_eq!(search(&svc, &who, "karl").await.len(), 1, "pending only");
    t.store.apply_pending(&t.site, &job).await.unwrap();
    svc.refresh().await.unwrap();
    assert!(search(&svc, &who, "karl").await.is_empty());
    assert!(matches!(
        svc.lookup(&who, "030 9876543").await.unwrap(),
        LookupResult::NotFound { .. }
    ));

    // The patched index answers like one loaded fresh.
    t.user("u2", "Eva Roth", Some("0171 2223334")).await;
    t.shared(&[shared(
        "s1",
        "Eva Roth",
        vec![num("0171 2223334", PhoneKind::Mobile)],
    )])
    .await;
    svc.refresh().await.unwrap();
    let fresh = t.service(false).await;
    assert_eq!(everything(&svc, &who).await, everything(&fresh, &who).await);
    assert_eq!(everything(&svc, &who).await.len(), 3, "Eva Roth merged");
}

#[tokio::test]
async fn the_refresh_loop_follows_the_store_and_stops() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", None).await;
    let svc = Arc::new(t.service(false).await);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = svc
        .clone()
        .spawn_refresh_loop(Duration::from_millis(20), async move {
            let _ = stopped.await;
        });
    t.org(&[org("o1", "Karl Kunde", vec![])]).await;
    let mut found = false;
    for _ in 0..250 {
        if !search(&svc, &group(), "kunde").await.is_empty() {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(found, "the loop patched the new contact in");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the loop stops on the signal")
        .unwrap();
}

#[tokio::test]
async fn configuration_errors_are_clear() {
    let t = TestSite::new().await;
    let mut other = SiteSettings::new(site_id("missing"), plan());
    other.anonymous = false;
    let err = IndexService::load(t.store.clone(), vec![other])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the store"), "{err}");
    let s = SiteSettings::new(t.site.clone(), plan());
    let err = IndexService::load(t.store.clone(), vec![s.clone(), s])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[tokio::test]
async fn a_large_change_set_reads_the_site_whole() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", None).await;
    let svc = t.service(false).await.with_reload_threshold(2);
    t.org(&[
        org("o1", "Karl Kunde", vec![]),
        org("o2", "Lena Lang", vec![]),
        org("o3", "Olga Ost", vec![]),
    ])
    .await;
    let report = svc.refresh().await.unwrap();
    assert_eq!((report.reloaded, report.patched), (1, 0));
    assert_eq!(everything(&svc, &group()).await.len(), 4);
    // A small change set afterwards is patched again, from where the reload left off.
    t.org(&[org("o4", "Pia Pohl", vec![])]).await;
    let report = svc.refresh().await.unwrap();
    assert_eq!((report.reloaded, report.patched), (0, 1));
    assert_eq!(search(&svc, &group(), "pohl").await.len(), 1);
}

#[tokio::test]
async fn a_restarted_change_log_reads_the_site_whole() {
    let t = TestSite::new().await;
    t.user("u1", "Hans Meier", None).await;
    t.org(&[org("o1", "Karl Kunde", vec![])]).await;
    let svc = t.service(false).await;
    // The log starts again below what the index applied (a restored database).
    t.sql("DELETE FROM change_counters; DELETE FROM change_log;")
        .await;
    t.org(&[org("o2", "Lena Lang", vec![])]).await;
    assert_eq!(t.store.latest_change(&t.site).await.unwrap(), 1);
    let report = svc.refresh().await.unwrap();
    assert_eq!(report.reloaded, 1);
    assert_eq!(search(&svc, &group(), "lang").await.len(), 1);
}
