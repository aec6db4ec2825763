//! The suite: every function runs against SQLite and PostgreSQL alike.

use crate::data::*;
use crate::support::Db;
use directory::{PhoneKind, PhoneNumber, PhonebookKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use store::{
    AppliedDeletions, Deletion, JobEnd, JobKind, JobOutcome, JobStatus, JobTrigger, NumberOwner,
    ScopeCommit, ScopeKey, ScopeUpsert, Store, StoreError,
};

async fn with_site(db: &Db, id: &str) -> Arc<dyn Store> {
    let s = db.open().await;
    s.upsert_site(&site(id)).await.expect("site");
    s
}

async fn job(s: &Arc<dyn Store>, site: &str) -> store::JobId {
    s.create_job(&site_id(site), JobTrigger::Manual, JobKind::Delta)
        .await
        .expect("job")
}

pub async fn migrations_are_idempotent_on_reopen(db: Db) {
    let s = with_site(&db, "a").await;
    assert!(["sqlite", "postgres"].contains(&s.backend()));
    drop(s);
    // Re-opening runs the migration check again: nothing is applied twice, data stays.
    for _ in 0..3 {
        let s = db.open().await;
        assert_eq!(s.get_site(&site_id("a")).await.unwrap(), Some(site("a")));
    }
}

pub async fn sites_round_trip(db: Db) {
    let s = db.open().await;
    assert_eq!(s.list_sites().await.unwrap(), vec![]);
    assert_eq!(s.get_site(&site_id("b")).await.unwrap(), None);
    s.upsert_site(&site("b")).await.unwrap();
    s.upsert_site(&site("a")).await.unwrap();
    let mut renamed = site("b");
    renamed.name = "Branch office".into();
    renamed.settings = serde_json::json!({"country": "GB", "prefix": "9"});
    s.upsert_site(&renamed).await.unwrap();
    assert_eq!(
        s.list_sites().await.unwrap(),
        vec![site("a"), renamed.clone()]
    );
    assert_eq!(s.get_site(&site_id("b")).await.unwrap(), Some(renamed));
}

pub async fn unsupported_urls_are_refused(_db: Db) {
    match store::open("mysql://u:secret@host/db").await {
        Err(e @ StoreError::UnsupportedUrl(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("\"mysql\""), "{msg}");
            assert!(!msg.contains("secret"), "no password in errors: {msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("mysql URL opened"),
    }
}

pub async fn allocation_is_stable_across_renames_and_resyncs(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("100")
    );
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("101")
    );
    assert_eq!(
        s.allocate_extension(&a, "u3", &r).await.unwrap(),
        ext_no("102")
    );
    // u2 is renamed: the extension's fields change, the number does not.
    s.upsert_extension(&extension(&a, "u2", &ext_no("101"), "Ann Smith"))
        .await
        .unwrap();
    s.upsert_extension(&extension(&a, "u2", &ext_no("101"), "Ann Jones"))
        .await
        .unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("101")
    );
    // A re-sync from another process, even with another rule, keeps every number.
    let other = db.open().await;
    assert_eq!(
        other
            .allocate_extension(&a, "u3", &rule(500, 3, 0))
            .await
            .unwrap(),
        ext_no("102")
    );
    assert_eq!(
        other.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("100")
    );
    assert_eq!(
        other.allocate_extension(&a, "u4", &r).await.unwrap(),
        ext_no("103")
    );
    let got = other
        .get_extension_by_user(&a, "u2")
        .await
        .unwrap()
        .expect("u2");
    assert_eq!(got.display_name, "Ann Jones");
    assert_eq!(got.number, ext_no("101"));
}

pub async fn allocation_avoids_numbers_taken_outside(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    s.reserve_external_numbers(&a, &[ext_no("100"), ext_no("101"), ext_no("103")])
        .await
        .unwrap();
    // Reserving again is harmless.
    s.reserve_external_numbers(&a, &[ext_no("101")])
        .await
        .unwrap();
    let r = rule(100, 3, 24);
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("102")
    );
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("104")
    );
    assert_eq!(
        s.allocate_extension(&a, "u3", &r).await.unwrap(),
        ext_no("105")
    );
}

pub async fn freed_numbers_wait_out_their_quarantine(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    for (u, n) in [("u1", "100"), ("u2", "101"), ("u3", "102")] {
        assert_eq!(s.allocate_extension(&a, u, &r).await.unwrap(), ext_no(n));
    }
    s.upsert_extension(&extension(&a, "u1", &ext_no("100"), "Ann Smith"))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    // u1 left an hour ago: 100 is in quarantine for another 23 hours.
    assert_eq!(
        s.release_extension(&a, "u1", now - chrono::Duration::hours(1))
            .await
            .unwrap(),
        Some(ext_no("100"))
    );
    assert_eq!(s.get_extension_by_user(&a, "u1").await.unwrap(), None);
    assert_eq!(
        s.release_extension(&a, "u1", now).await.unwrap(),
        None,
        "already released"
    );
    // u2 left three days ago: 101 is free again.
    s.release_extension(&a, "u2", now - chrono::Duration::hours(72))
        .await
        .unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u4", &r).await.unwrap(),
        ext_no("101")
    );
    assert_eq!(
        s.allocate_extension(&a, "u5", &r).await.unwrap(),
        ext_no("103")
    );
    // With no quarantine, 100 is free at once.
    assert_eq!(
        s.allocate_extension(&a, "u6", &rule(100, 3, 0))
            .await
            .unwrap(),
        ext_no("100")
    );
    // A returning user gets their old number back when it is still free.
    s.release_extension(&a, "u3", now - chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u7", &r).await.unwrap(),
        ext_no("104")
    );
    assert_eq!(
        s.allocate_extension(&a, "u3", &r).await.unwrap(),
        ext_no("102")
    );
}

pub async fn allocation_reports_an_exhausted_range(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(8, 1, 24);
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("8")
    );
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("9")
    );
    match s.allocate_extension(&a, "u3", &r).await {
        Err(StoreError::ExtensionsExhausted {
            first: 8,
            length: 1,
        }) => {}
        other => panic!("expected exhaustion, got {other:?}"),
    }
    // A first number shorter than the length starts at the first number of that length.
    assert_eq!(
        s.allocate_extension(&a, "u4", &rule(1, 4, 0))
            .await
            .unwrap(),
        ext_no("1000")
    );
    assert!(matches!(
        s.allocate_extension(&a, "u5", &rule(100, 0, 0)).await,
        Err(StoreError::InvalidRule(_))
    ));
    assert!(matches!(
        s.allocate_extension(&a, "u5", &rule(10_000, 4, 0)).await,
        Err(StoreError::InvalidRule(_))
    ));
}

pub async fn concurrent_allocation_never_gives_a_number_twice(db: Db) {
    let first = with_site(&db, "a").await;
    let second = db.open().await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            // Users 0..30 once each; users 30..40 twice, once through each instance.
            let user = format!("u{}", if i < 30 { i } else { 30 + i % 5 });
            (user.clone(), s.allocate_extension(&a, &user, &r).await)
        }));
    }
    let mut by_user = std::collections::BTreeMap::new();
    for t in tasks {
        let (user, got) = t.await.expect("task");
        let got = got.unwrap_or_else(|e| panic!("allocating {user}: {e}"));
        if let Some(before) = by_user.insert(user.clone(), got.clone()) {
            assert_eq!(before, got, "{user} got two numbers");
        }
    }
    assert_eq!(by_user.len(), 35);
    let numbers: BTreeSet<u64> = by_user.values().map(|n| n.value()).collect();
    assert_eq!(
        numbers,
        (100..135).collect::<BTreeSet<u64>>(),
        "35 users, 35 distinct numbers"
    );

    // Two overlapping batches from the two instances at once.
    let batch = |range: std::ops::Range<u32>| range.map(|i| format!("b{i}")).collect::<Vec<_>>();
    let (s1, s2, a1, a2) = (first.clone(), second.clone(), a.clone(), a.clone());
    let one = tokio::spawn(async move { s1.allocate_extensions(&a1, &batch(0..50), &r).await });
    let two = tokio::spawn(async move { s2.allocate_extensions(&a2, &batch(25..75), &r).await });
    let mut all = std::collections::BTreeMap::new();
    for got in [one.await.expect("task"), two.await.expect("task")] {
        for (user, n) in got.expect("batch") {
            if let Some(before) = all.insert(user.clone(), n.clone()) {
                assert_eq!(before, n, "{user} got two numbers");
            }
        }
    }
    assert_eq!(all.len(), 75);
    let numbers: BTreeSet<u64> = all.values().map(|n| n.value()).collect();
    assert_eq!(numbers, (135..210).collect::<BTreeSet<u64>>());
}

pub async fn extensions_round_trip(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    let mut written = Vec::new();
    for (u, name) in [("u1", "Zoe Adams"), ("u2", "Bob Brown"), ("u3", "Cat Chen")] {
        let n = s.allocate_extension(&a, u, &r).await.unwrap();
        let mut e = extension(&a, u, &n, name);
        if u == "u3" {
            e.mobile = None;
            e.outbound_caller_id = None;
            e.enabled = false;
            e.photo_etag = None;
            e.email = None;
        }
        s.upsert_extension(&e).await.unwrap();
        written.push(e);
    }
    assert_eq!(
        s.list_extensions(&a).await.unwrap(),
        written,
        "by number, every field back"
    );
    assert_eq!(
        s.get_extension_by_user(&a, "u3").await.unwrap().as_ref(),
        Some(&written[2])
    );
    assert_eq!(s.count_extensions(&a).await.unwrap(), 3);
    // An extension with a number not allocated to that user is refused.
    let wrong = extension(&a, "u1", &ext_no("101"), "Zoe Adams");
    assert!(s.upsert_extension(&wrong).await.is_err());
    let unallocated = extension(&a, "u9", &ext_no("199"), "Nobody");
    assert!(s.upsert_extension(&unallocated).await.is_err());
    assert_eq!(s.list_extensions(&a).await.unwrap(), written);
}

pub async fn apply_scope_is_atomic(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    let scope = ScopeKey::contacts("u1", "f1");
    let good = personal(
        &a,
        "u1",
        "c1",
        "Ann Smith",
        vec![de("030 1234567", PhoneKind::Business)],
    );
    // The extension's number was never allocated: a foreign-key violation in the middle.
    let bad = extension(&a, "u9", &ext_no("199"), "Nobody");
    let commit = ScopeCommit {
        site: a.clone(),
        job: j,
        scope: scope.clone(),
        upserts: vec![
            ScopeUpsert::Contact(good.clone()),
            ScopeUpsert::Extension(bad),
        ],
        deletions: vec![Deletion::Contact("c0".into())],
        delta_token: Some("token-1".into()),
    };
    assert!(matches!(
        s.apply_scope(&commit).await,
        Err(StoreError::Database(_))
    ));
    assert_eq!(s.count_contacts(&a).await.unwrap(), 0, "no upserts");
    assert_eq!(
        s.get_delta_token(&a, &scope).await.unwrap(),
        None,
        "no token"
    );
    assert_eq!(
        s.list_pending(&a).await.unwrap(),
        vec![],
        "no pending deletions"
    );
    assert_eq!(
        s.find_by_e164(&a, &e164("+49301234567")).await.unwrap(),
        vec![],
        "no numbers"
    );

    // A record of another site is refused before anything is written.
    s.upsert_site(&site("b")).await.unwrap();
    let foreign = personal(&site_id("b"), "u1", "c2", "Bob", vec![]);
    let commit = ScopeCommit {
        upserts: vec![
            ScopeUpsert::Contact(good.clone()),
            ScopeUpsert::Contact(foreign),
        ],
        ..commit.clone()
    };
    assert!(matches!(
        s.apply_scope(&commit).await,
        Err(StoreError::SiteMismatch { .. })
    ));
    assert_eq!(s.count_contacts(&a).await.unwrap(), 0);

    // The same commit without the bad row goes through whole.
    let commit = ScopeCommit {
        upserts: vec![ScopeUpsert::Contact(good.clone())],
        ..commit
    };
    s.apply_scope(&commit).await.unwrap();
    assert_eq!(s.count_contacts(&a).await.unwrap(), 1);
    assert_eq!(
        s.get_delta_token(&a, &scope).await.unwrap().as_deref(),
        Some("token-1")
    );
    assert_eq!(s.list_pending(&a).await.unwrap().len(), 1);
}

pub async fn apply_scope_writes_contacts_and_token(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    let mine = vec![
        personal(
            &a,
            "u1",
            "c2",
            "Bea Braun",
            vec![de("+49 30 7654321 ext. 12", PhoneKind::Business)],
        ),
        personal(
            &a,
            "u1",
            "c1",
            "Ann Smith",
            vec![
                de("030 1234567", PhoneKind::Business),
                de("n/a", PhoneKind::Other),
                de("0171 2345678", PhoneKind::Mobile),
            ],
        ),
    ];
    let theirs = personal(&a, "u2", "c1", "Carl Chu", vec![]);
    let company = shared(
        &a,
        "reception",
        "s1",
        "Dora Diaz",
        vec![de("089 1234567", PhoneKind::Fax)],
    );
    let directory = org(
        &a,
        "o1",
        "Emil Ek",
        vec![de("+44 20 7946 0958", PhoneKind::Business)],
    );
    let commits = [
        (ScopeKey::contacts("u1", "f1"), mine.clone(), "t-u1"),
        (ScopeKey::contacts("u2", "f1"), vec![theirs.clone()], "t-u2"),
        (
            ScopeKey::shared("reception", "contacts"),
            vec![company.clone()],
            "t-shared",
        ),
        (ScopeKey::org(), vec![directory.clone()], "t-org"),
    ];
    for (scope, records, token) in commits {
        s.apply_scope(&ScopeCommit {
            site: a.clone(),
            job: j,
            scope,
            upserts: records.into_iter().map(ScopeUpsert::Contact).collect(),
            deletions: vec![],
            delta_token: Some(token.into()),
        })
        .await
        .unwrap();
    }
    let owner = |u: &str| PhonebookKind::Personal {
        owner_user_id: u.into(),
    };
    // Sorted by display name, every field and every number back as written.
    assert_eq!(
        s.list_contacts(&a, &owner("u1")).await.unwrap(),
        vec![mine[1].clone(), mine[0].clone()]
    );
    assert_eq!(
        s.list_contacts(&a, &owner("u2")).await.unwrap(),
        vec![theirs]
    );
    assert_eq!(
        s.list_contacts(&a, &PhonebookKind::Company).await.unwrap(),
        vec![company]
    );
    assert_eq!(
        s.list_contacts(&a, &PhonebookKind::Directory)
            .await
            .unwrap(),
        vec![directory]
    );
    assert_eq!(s.count_contacts(&a).await.unwrap(), 5);
    assert_eq!(
        s.count_invalid_numbers(&a).await.unwrap(),
        1,
        "\"n/a\" is kept, flagged, counted"
    );
    let kept = &s.list_contacts(&a, &owner("u1")).await.unwrap()[0].numbers[1];
    assert_eq!(
        kept,
        &PhoneNumber {
            raw: "n/a".into(),
            e164: None,
            kind: PhoneKind::Other
        }
    );

    // An update replaces fields and numbers; a token-less commit keeps the token.
    let mut changed = mine[1].clone();
    changed.display_name = "Ann Smith-Jones".into();
    changed.numbers = vec![de("030 1234568", PhoneKind::Business)];
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: ScopeKey::contacts("u1", "f1"),
        upserts: vec![ScopeUpsert::Contact(changed.clone())],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    assert_eq!(
        s.list_contacts(&a, &owner("u1")).await.unwrap(),
        vec![changed, mine[0].clone()]
    );
    assert_eq!(s.count_contacts(&a).await.unwrap(), 5);
    assert_eq!(s.count_invalid_numbers(&a).await.unwrap(), 0);
    assert_eq!(
        s.get_delta_token(&a, &ScopeKey::contacts("u1", "f1"))
            .await
            .unwrap()
            .as_deref(),
        Some("t-u1")
    );
}

pub async fn pending_deletions_wait_for_apply(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    let j1 = job(&s, "a").await;
    let n = s.allocate_extension(&a, "u1", &r).await.unwrap();
    let scope = ScopeKey::contacts("u1", "f1");
    let c1 = personal(
        &a,
        "u1",
        "c1",
        "Ann Smith",
        vec![de("030 1234567", PhoneKind::Business)],
    );
    let c2 = personal(&a, "u1", "c2", "Bea Braun", vec![]);
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j1,
        scope: scope.clone(),
        upserts: vec![
            ScopeUpsert::Contact(c1.clone()),
            ScopeUpsert::Contact(c2.clone()),
        ],
        deletions: vec![],
        delta_token: Some("t1".into()),
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j1,
        scope: ScopeKey::users(),
        upserts: vec![ScopeUpsert::Extension(extension(&a, "u1", &n, "Ann Smith"))],
        deletions: vec![],
        delta_token: Some("tu".into()),
    })
    .await
    .unwrap();

    let j2 = job(&s, "a").await;
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j2,
        scope: scope.clone(),
        upserts: vec![],
        // c1 went; c9 was never here (a deletion of something unknown is harmless).
        deletions: vec![
            Deletion::Contact("c1".into()),
            Deletion::Contact("c9".into()),
        ],
        delta_token: Some("t2".into()),
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j2,
        scope: ScopeKey::users(),
        upserts: vec![],
        deletions: vec![Deletion::Extension("u1".into())],
        delta_token: None,
    })
    .await
    .unwrap();
    let pending = s.list_pending(&a).await.unwrap();
    let listed: BTreeSet<(String, Deletion)> = pending
        .iter()
        .map(|p| (p.scope.to_string(), p.target.clone()))
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            (scope.to_string(), Deletion::Contact("c1".into())),
            (scope.to_string(), Deletion::Contact("c9".into())),
            ("users".to_string(), Deletion::Extension("u1".into())),
        ])
    );
    assert!(pending.iter().all(|p| p.job == j2));
    // Recorded, not applied: everything is still there.
    assert_eq!(s.count_contacts(&a).await.unwrap(), 2);
    assert_eq!(s.count_extensions(&a).await.unwrap(), 1);
    // Another job's apply touches none of them.
    assert_eq!(
        s.apply_pending(&a, &j1).await.unwrap(),
        AppliedDeletions::default()
    );
    assert_eq!(s.list_pending(&a).await.unwrap().len(), 3);

    assert_eq!(
        s.apply_pending(&a, &j2).await.unwrap(),
        AppliedDeletions {
            contacts: 1,
            extensions: 1
        }
    );
    assert_eq!(s.list_pending(&a).await.unwrap(), vec![]);
    let owner = PhonebookKind::Personal {
        owner_user_id: "u1".into(),
    };
    assert_eq!(s.list_contacts(&a, &owner).await.unwrap(), vec![c2]);
    assert_eq!(s.count_extensions(&a).await.unwrap(), 0);
    assert_eq!(
        s.find_by_e164(&a, &e164("+49301234567")).await.unwrap(),
        vec![]
    );
    // The released number is in quarantine; the user gets it back if they return.
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("101")
    );
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("100")
    );
}

pub async fn pending_deletions_can_be_discarded(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    let scope = ScopeKey::org();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: scope.clone(),
        upserts: vec![ScopeUpsert::Contact(org(&a, "o1", "Emil Ek", vec![]))],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope,
        upserts: vec![],
        deletions: vec![
            Deletion::Contact("o1".into()),
            Deletion::Contact("o1".into()),
        ],
        delta_token: None,
    })
    .await
    .unwrap();
    assert_eq!(s.list_pending(&a).await.unwrap().len(), 1, "recorded once");
    // The mass-deletion guard tripped: the job's deletions are dropped unapplied.
    assert_eq!(s.discard_pending(&a).await.unwrap(), 1);
    assert_eq!(
        s.apply_pending(&a, &j).await.unwrap(),
        AppliedDeletions::default()
    );
    assert_eq!(s.count_contacts(&a).await.unwrap(), 1);
}

pub async fn delta_tokens_per_scope_and_invalidation_by_prefix(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let scopes = [
        ScopeKey::users(),
        ScopeKey::org(),
        ScopeKey::contacts("u1", "f1"),
        ScopeKey::contacts("u1", "f2"),
        ScopeKey::contacts("u10", "f1"),
        ScopeKey::contacts("u_%", "f1"),
    ];
    for (i, scope) in scopes.iter().enumerate() {
        assert_eq!(s.get_delta_token(&a, scope).await.unwrap(), None);
        s.set_delta_token(&a, scope, &format!("t{i}"))
            .await
            .unwrap();
    }
    s.set_delta_token(&a, &ScopeKey::users(), "t0-new")
        .await
        .unwrap();
    assert_eq!(
        s.get_delta_token(&a, &ScopeKey::users())
            .await
            .unwrap()
            .as_deref(),
        Some("t0-new")
    );
    assert_eq!(
        s.get_delta_token(&a, &scopes[3]).await.unwrap().as_deref(),
        Some("t3")
    );
    // "contacts:u1:" is u1's folders, not u10's; '_' and '%' are no wildcards.
    assert_eq!(
        s.invalidate_scopes(&a, &ScopeKey::contacts_prefix("u1"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.get_delta_token(&a, &scopes[2]).await.unwrap(), None);
    assert_eq!(s.get_delta_token(&a, &scopes[3]).await.unwrap(), None);
    assert_eq!(
        s.get_delta_token(&a, &scopes[4]).await.unwrap().as_deref(),
        Some("t4")
    );
    assert_eq!(s.invalidate_scopes(&a, "contacts:u_").await.unwrap(), 1);
    assert_eq!(
        s.get_delta_token(&a, &scopes[4]).await.unwrap().as_deref(),
        Some("t4")
    );
    assert_eq!(s.invalidate_scopes(&a, "contacts:u__").await.unwrap(), 0);
    // The empty prefix is every scope of the site.
    assert_eq!(s.invalidate_scopes(&a, "").await.unwrap(), 3);
    assert_eq!(s.get_delta_token(&a, &ScopeKey::org()).await.unwrap(), None);
}

pub async fn job_history_with_log(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let first = s
        .create_job(&a, JobTrigger::Schedule, JobKind::Full)
        .await
        .unwrap();
    let second = s
        .create_job(&a, JobTrigger::Notification, JobKind::Delta)
        .await
        .unwrap();
    s.append_job_log(&first, "reading users").await.unwrap();
    // Many lines in one write keep their order (more than one insert's chunk of them).
    let plan: Vec<String> = (0..1201).map(|i| format!("create {}", 10000 + i)).collect();
    s.append_job_log_lines(&first, &plan).await.unwrap();
    s.append_job_log_lines(&first, &[]).await.unwrap();
    for line in ["users: 3 created, 1 updated", "done"] {
        s.append_job_log(&first, line).await.unwrap();
    }
    s.append_job_log(&second, "other job").await.unwrap();
    let outcome = JobOutcome {
        status: JobEnd::Succeeded,
        counts: serde_json::json!({"extensions": {"created": 3, "updated": 1}, "contacts": {"deleted": 0}}),
        requests: 42,
        throttled: 2,
        warnings: 1,
        errors: 0,
    };
    s.finish_job(&first, &outcome).await.unwrap();
    assert!(matches!(
        s.finish_job(&first, &outcome).await,
        Err(StoreError::JobFinished(_))
    ));
    let got = s.get_job(&first).await.unwrap().expect("job");
    assert_eq!(got.job.id, first);
    assert_eq!(got.job.site, a);
    assert_eq!(got.job.trigger, JobTrigger::Schedule);
    assert_eq!(got.job.kind, JobKind::Full);
    assert_eq!(got.job.status, JobStatus::Succeeded);
    assert_eq!(got.job.counts, outcome.counts);
    assert_eq!(
        (
            got.job.requests,
            got.job.throttled,
            got.job.warnings,
            got.job.errors
        ),
        (42, 2, 1, 0)
    );
    let ended = got.job.ended_at.expect("ended");
    assert!(ended >= got.job.started_at);
    let lines: Vec<&str> = got.log.iter().map(|l| l.line.as_str()).collect();
    let mut expected = vec!["reading users"];
    expected.extend(plan.iter().map(String::as_str));
    expected.extend(["users: 3 created, 1 updated", "done"]);
    assert_eq!(lines, expected);

    let running = s.get_job(&second).await.unwrap().expect("job");
    assert_eq!(
        (running.job.status, running.job.ended_at),
        (JobStatus::Running, None)
    );
    assert_eq!(running.job.counts, serde_json::json!({}));

    let listed: Vec<_> = s
        .list_jobs(&a, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, vec![second, first], "newest first");
    assert_eq!(s.list_jobs(&a, 1).await.unwrap().len(), 1);

    let unknown = store::JobId::new();
    assert_eq!(s.get_job(&unknown).await.unwrap(), None);
    assert!(matches!(
        s.append_job_log(&unknown, "x").await,
        Err(StoreError::UnknownJob(_))
    ));
    assert!(matches!(
        s.append_job_log_lines(&unknown, &["x".to_string()]).await,
        Err(StoreError::UnknownJob(_))
    ));
    assert!(matches!(
        s.finish_job(&unknown, &outcome).await,
        Err(StoreError::UnknownJob(_))
    ));
    assert!(matches!(
        s.create_job(&site_id("nowhere"), JobTrigger::Manual, JobKind::Full)
            .await,
        Err(StoreError::UnknownSite(_))
    ));
}

pub async fn lookup_by_e164(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    let n = s
        .allocate_extension(&a, "u1", &rule(100, 3, 24))
        .await
        .unwrap();
    // The same mobile typed three ways, in three places.
    let mut ext = extension(&a, "u1", &n, "Ann Smith");
    ext.mobile = Some(de("+49 171 2345678", PhoneKind::Mobile));
    s.upsert_extension(&ext).await.unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: ScopeKey::contacts("u2", "f1"),
        upserts: vec![ScopeUpsert::Contact(personal(
            &a,
            "u2",
            "c1",
            "Ann (mobile)",
            vec![
                de("0171-2345678", PhoneKind::Mobile),
                de("n/a", PhoneKind::Other),
            ],
        ))],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: ScopeKey::org(),
        upserts: vec![ScopeUpsert::Contact(org(
            &a,
            "o1",
            "Ann S.",
            vec![de("0049 171 2345678", PhoneKind::Business)],
        ))],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    let hits = s.find_by_e164(&a, &e164("+491712345678")).await.unwrap();
    let got: Vec<(String, String, NumberOwner)> = hits
        .into_iter()
        .map(|h| (h.display_name, h.number.raw, h.owner))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "Ann (mobile)".into(),
                "0171-2345678".into(),
                NumberOwner::Contact {
                    phonebook: PhonebookKind::Personal {
                        owner_user_id: "u2".into()
                    },
                    scope: ScopeKey::contacts("u2", "f1"),
                    source_id: "c1".into(),
                }
            ),
            (
                "Ann S.".into(),
                "0049 171 2345678".into(),
                NumberOwner::Contact {
                    phonebook: PhonebookKind::Directory,
                    scope: ScopeKey::org(),
                    source_id: "o1".into(),
                }
            ),
            (
                "Ann Smith".into(),
                "+49 171 2345678".into(),
                NumberOwner::Extension {
                    user_id: "u1".into(),
                    number: ext_no("100")
                }
            ),
        ]
    );
    // The office number (outbound caller ID) is found too.
    let office = s.find_by_e164(&a, &e164("+493012345100")).await.unwrap();
    assert_eq!(office.len(), 1);
    assert_eq!(office[0].number.kind, PhoneKind::Business);
    assert_eq!(
        s.find_by_e164(&a, &e164("+491719999999")).await.unwrap(),
        vec![]
    );
    assert_eq!(s.count_invalid_numbers(&a).await.unwrap(), 1);
}

pub async fn sites_are_isolated(db: Db) {
    let s = with_site(&db, "a").await;
    s.upsert_site(&site("b")).await.unwrap();
    let (a, b) = (site_id("a"), site_id("b"));
    let r = rule(100, 3, 24);
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("100")
    );
    assert_eq!(
        s.allocate_extension(&b, "u2", &r).await.unwrap(),
        ext_no("100")
    );
    assert_eq!(
        s.allocate_extension(&b, "u1", &r).await.unwrap(),
        ext_no("101")
    );
    s.reserve_external_numbers(&a, &[ext_no("101")])
        .await
        .unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u3", &r).await.unwrap(),
        ext_no("102")
    );
    s.set_delta_token(&a, &ScopeKey::users(), "ta")
        .await
        .unwrap();
    assert_eq!(
        s.get_delta_token(&b, &ScopeKey::users()).await.unwrap(),
        None
    );
    assert_eq!(s.invalidate_scopes(&b, "").await.unwrap(), 0);
    let ja = job(&s, "a").await;
    assert_eq!(s.list_jobs(&b, 10).await.unwrap(), vec![]);
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: ja,
        scope: ScopeKey::org(),
        upserts: vec![ScopeUpsert::Contact(org(&a, "o1", "Emil Ek", vec![]))],
        deletions: vec![Deletion::Contact("o2".into())],
        delta_token: None,
    })
    .await
    .unwrap();
    assert_eq!(s.count_contacts(&b).await.unwrap(), 0);
    assert_eq!(
        s.list_contacts(&b, &PhonebookKind::Directory)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(s.list_pending(&b).await.unwrap(), vec![]);
    assert_eq!(s.discard_pending(&b).await.unwrap(), 0);
    assert_eq!(s.list_pending(&a).await.unwrap().len(), 1);
}

pub async fn numbers_are_renormalised_from_their_raw_text(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    // u1 lives in Britain but was first read as German: their London number did not parse.
    let london = de("020 7946 0958", PhoneKind::Business);
    assert_eq!(london.e164, None);
    let berlin = PhoneNumber::parse("030 1234567", PhoneKind::Business, None);
    assert_eq!(berlin.e164, None);
    let n = s
        .allocate_extension(&a, "u1", &rule(100, 3, 24))
        .await
        .unwrap();
    let mut ext = extension(&a, "u1", &n, "Ann Smith");
    ext.mobile = Some(de("07911 123456", PhoneKind::Mobile));
    s.upsert_extension(&ext).await.unwrap();
    for (scope, record) in [
        (
            ScopeKey::contacts("u1", "f1"),
            personal(&a, "u1", "c1", "Ann's dentist", vec![london]),
        ),
        (
            ScopeKey::org(),
            org(
                &a,
                "o1",
                "Berlin office",
                vec![berlin, de("n/a", PhoneKind::Other)],
            ),
        ),
    ] {
        s.apply_scope(&ScopeCommit {
            site: a.clone(),
            job: j,
            scope,
            upserts: vec![ScopeUpsert::Contact(record)],
            deletions: vec![],
            delta_token: None,
        })
        .await
        .unwrap();
    }
    // The British mobile, read as German, is a valid but wrong number in Schwäbisch Hall.
    let before = s
        .get_extension_by_user(&a, "u1")
        .await
        .unwrap()
        .unwrap()
        .mobile
        .unwrap();
    assert_eq!(before.e164, Some(e164("+497911123456")));
    assert_eq!(s.count_invalid_numbers(&a).await.unwrap(), 3);
    let regions = std::collections::HashMap::from([(
        "u1".to_string(),
        directory::Region::new("GB").unwrap(),
    )]);
    let de_region = directory::Region::new("DE").ok();
    // 5 numbers: caller ID, u1's mobile, the dentist, the office, "n/a".
    assert_eq!(
        s.renormalise_numbers(&a, de_region, &regions)
            .await
            .unwrap(),
        store::RenormaliseReport {
            checked: 5,
            changed: 3,
            invalid: 1
        }
    );
    assert_eq!(s.count_invalid_numbers(&a).await.unwrap(), 1);
    let dentist = s.find_by_e164(&a, &e164("+442079460958")).await.unwrap();
    assert_eq!(dentist.len(), 1);
    assert_eq!(
        dentist[0].number.raw, "020 7946 0958",
        "the raw text is untouched"
    );
    assert_eq!(
        s.find_by_e164(&a, &e164("+49301234567"))
            .await
            .unwrap()
            .len(),
        1
    );
    let mobile = s
        .get_extension_by_user(&a, "u1")
        .await
        .unwrap()
        .unwrap()
        .mobile
        .unwrap();
    assert_eq!(mobile.e164, Some(e164("+447911123456")));
    // Nothing left to change.
    assert_eq!(
        s.renormalise_numbers(&a, de_region, &regions)
            .await
            .unwrap(),
        store::RenormaliseReport {
            checked: 5,
            changed: 0,
            invalid: 1
        }
    );
}

pub async fn site_debug_output_hides_settings(db: Db) {
    let s = db.open().await;
    let mut secretive = site("a");
    secretive.settings = serde_json::json!({"client_secret": "s3cr3t-value", "country": "DE"});
    s.upsert_site(&secretive).await.unwrap();
    let got = s.get_site(&site_id("a")).await.unwrap().expect("site");
    assert_eq!(
        got.settings["client_secret"], "s3cr3t-value",
        "stored as given"
    );
    let shown = format!("{got:?}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(shown.contains("client_secret"), "{shown}");
}

pub async fn concurrent_opens_migrate_once(db: Db) {
    // Several processes starting at once on a fresh database: each migrates or waits.
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.open().await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.expect("open"));
    }
    stores[0].upsert_site(&site("a")).await.unwrap();
    for s in &stores {
        assert_eq!(s.list_sites().await.unwrap(), vec![site("a")]);
    }
}

pub async fn batch_allocation_follows_the_same_rules(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    s.reserve_external_numbers(&a, &[ext_no("102")])
        .await
        .unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u1", &r).await.unwrap(),
        ext_no("100")
    );
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    s.release_extension(&a, "u1", hour_ago).await.unwrap();
    assert_eq!(
        s.allocate_extension(&a, "u2", &r).await.unwrap(),
        ext_no("101")
    );
    let users: Vec<String> = ["u2", "u3", "u4", "u1", "u5", "u3"]
        .iter()
        .map(|u| u.to_string())
        .collect();
    let got = s.allocate_extensions(&a, &users, &r).await.unwrap();
    let got: Vec<(&str, &str)> = got.iter().map(|(u, n)| (u.as_str(), n.as_str())).collect();
    assert_eq!(
        got,
        [
            ("u2", "101"), // kept
            ("u3", "103"), // 100 in quarantine, 101 taken, 102 taken outside
            ("u4", "104"),
            ("u1", "100"), // back, and gets their old number
            ("u5", "105"),
            ("u3", "103"), // asked twice, one number
        ]
    );
    // Single allocation sees what the batch wrote.
    assert_eq!(
        s.allocate_extension(&a, "u6", &r).await.unwrap(),
        ext_no("106")
    );

    // A large initial sync: one transaction, numbers in order.
    s.upsert_site(&site("b")).await.unwrap();
    let b = site_id("b");
    let r4 = rule(1000, 4, 24);
    let many: Vec<String> = (0..1500).map(|i| format!("user-{i:05}")).collect();
    let got = s.allocate_extensions(&b, &many, &r4).await.unwrap();
    assert_eq!(got.len(), 1500);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, (u, n))| u == &many[i] && n.value() == 1000 + i as u64));
    assert_eq!(
        s.allocate_extension(&b, "late", &r4).await.unwrap(),
        ext_no("2500")
    );
    // A batch that does not fit writes nothing.
    let too_many: Vec<String> = (0..8000).map(|i| format!("more-{i}")).collect();
    assert!(matches!(
        s.allocate_extensions(&b, &too_many, &r4).await,
        Err(StoreError::ExtensionsExhausted {
            first: 1000,
            length: 4
        })
    ));
    assert_eq!(
        s.allocate_extension(&b, "later", &r4).await.unwrap(),
        ext_no("2501")
    );
}

pub async fn migrations_upgrade_an_old_schema_in_order(db: Db) {
    // A database left by a pbx365 that knew only migration 1.
    let v1 = if db.backend() == "sqlite" {
        include_str!("../../migrations/sqlite/0001_init.sql")
    } else {
        include_str!("../../migrations/postgres/0001_init.sql")
    };
    if db.backend() == "sqlite" {
        std::fs::create_dir_all(
            db.url
                .trim_start_matches("sqlite://")
                .rsplit_once('/')
                .unwrap()
                .0,
        )
        .unwrap();
    }
    db.exec(v1).await;
    db.exec(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 'init', '2026-01-01T00:00:00+00:00');
         INSERT INTO sites VALUES ('a', 'Old', '{}', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');",
    )
    .await;
    let s = db.open().await;
    // The later migrations (leases, avatars, …) were applied on top; the old data is there.
    assert_eq!(
        s.get_site(&site_id("a")).await.unwrap().map(|x| x.name),
        Some("Old".into())
    );
    assert!(s
        .acquire_lease(&site_id("a"), "node-1", chrono::Duration::seconds(30))
        .await
        .unwrap());
    drop(s);
    // A database from a newer pbx365 is refused, not touched.
    db.exec("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00+00:00')")
        .await;
    match store::open(&db.url).await {
        Err(StoreError::SchemaTooNew { found: 99, known })
            if known
                == store::migrate::SQLITE
                    .iter()
                    .map(|m| m.version)
                    .max()
                    .unwrap_or(0) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}

pub async fn site_leases_hand_work_to_one_node(db: Db) {
    let one = with_site(&db, "a").await;
    let two = db.open().await;
    let a = site_id("a");
    let short = chrono::Duration::milliseconds(300);
    assert!(one.acquire_lease(&a, "node-1", short).await.unwrap());
    assert!(
        !two.acquire_lease(&a, "node-2", short).await.unwrap(),
        "node-1 holds it"
    );
    assert!(
        one.acquire_lease(&a, "node-1", short).await.unwrap(),
        "renewed by its holder"
    );
    // node-1 dies: its lease runs out and node-2 takes the site over.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(two
        .acquire_lease(&a, "node-2", chrono::Duration::seconds(30))
        .await
        .unwrap());
    assert!(!one.acquire_lease(&a, "node-1", short).await.unwrap());
    // Releasing is for the holder only.
    one.release_lease(&a, "node-1").await.unwrap();
    assert!(!one.acquire_lease(&a, "node-1", short).await.unwrap());
    two.release_lease(&a, "node-2").await.unwrap();
    assert!(one.acquire_lease(&a, "node-1", short).await.unwrap());
}

pub async fn a_contact_with_many_numbers_round_trips(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    // More numbers than one insert statement carries; order and raw text kept.
    let numbers: Vec<PhoneNumber> = (0..1201)
        .map(|i| de(&format!("030 {:07}", 1_000_000 + i), PhoneKind::Other))
        .collect();
    assert_eq!(numbers[1200].e164, Some(e164("+49301001200")));
    let record = org(&a, "o1", "Switchboard", numbers);
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: ScopeKey::org(),
        upserts: vec![ScopeUpsert::Contact(record.clone())],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    assert_eq!(
        s.list_contacts(&a, &PhonebookKind::Directory)
            .await
            .unwrap(),
        vec![record]
    );
    assert_eq!(
        s.find_by_e164(&a, &e164("+49301000600"))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// The ids the log names after `after`, as (kind, id) pairs, and the latest number.
async fn logged(s: &Arc<dyn Store>, site: &str, after: u64) -> (BTreeSet<(String, String)>, u64) {
    let (changes, latest) = s.changes_since(&site_id(site), after).await.unwrap();
    let mut last = after;
    for c in &changes {
        assert!(
            c.seq > after && c.seq <= latest,
            "{c:?} outside ({after}, {latest}]"
        );
        assert!(c.seq >= last, "changes come in commit order");
        last = c.seq;
    }
    (
        changes
            .into_iter()
            .map(|c| (c.kind.as_str().to_owned(), c.id))
            .collect(),
        latest,
    )
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, id)| (k.to_string(), id.to_string()))
        .collect()
}

pub async fn change_log_follows_every_write(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    assert_eq!(s.latest_change(&a).await.unwrap(), 0);
    assert_eq!(logged(&s, "a", 0).await, (BTreeSet::new(), 0));
    let j = job(&s, "a").await;
    let n = s
        .allocate_extension(&a, "u1", &rule(100, 3, 24))
        .await
        .unwrap();
    // Allocating a number changes no extension's fields: nothing logged.
    assert_eq!(s.latest_change(&a).await.unwrap(), 0);
    let scope = ScopeKey::shared("box", "f");
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: scope.clone(),
        upserts: vec![
            ScopeUpsert::Contact(shared(&a, "box", "s1", "Max Meier", vec![])),
            ScopeUpsert::Contact(shared(&a, "box", "s2", "Eva Roth", vec![])),
        ],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    let stored = s.list_site_contacts(&a).await.unwrap();
    let id_of = |source: &str| {
        stored
            .iter()
            .find(|c| c.record.source_id == source)
            .map(|c| c.id.clone())
            .expect("stored contact")
    };
    let (s1, s2) = (id_of("s1"), id_of("s2"));
    let (seen, first) = logged(&s, "a", 0).await;
    assert_eq!(seen, pairs(&[("contact", &s1), ("contact", &s2)]));
    assert_eq!(first, 1, "one commit, one number");
    assert_eq!(s.latest_change(&a).await.unwrap(), 1);

    // An extension write; then nothing new after it.
    s.upsert_extension(&extension(&a, "u1", &n, "Ann Smith"))
        .await
        .unwrap();
    let (seen, second) = logged(&s, "a", first).await;
    assert_eq!(seen, pairs(&[("extension", "u1")]));
    assert!(second > first);
    assert_eq!(logged(&s, "a", second).await, (BTreeSet::new(), second));

    // Re-syncing s1 keeps its store id and moves it to the newest commit only.
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: scope.clone(),
        upserts: vec![ScopeUpsert::Contact(shared(
            &a,
            "box",
            "s1",
            "Max Maier",
            vec![],
        ))],
        deletions: vec![Deletion::Contact("s2".into())],
        delta_token: None,
    })
    .await
    .unwrap();
    let (seen, third) = logged(&s, "a", second).await;
    assert_eq!(
        seen,
        pairs(&[("contact", &s1)]),
        "a pending deletion is no change yet"
    );
    let (all, _) = s.changes_since(&a, 0).await.unwrap();
    assert_eq!(all.len(), 3, "one row per object: {all:?}");
    assert_eq!(
        s.get_contact(&a, &s1)
            .await
            .unwrap()
            .map(|c| c.record.display_name),
        Some("Max Maier".into())
    );

    // Applying deletions logs the contact, which is gone.
    s.apply_pending(&a, &j).await.unwrap();
    let (seen, fourth) = logged(&s, "a", third).await;
    assert_eq!(seen, pairs(&[("contact", &s2)]));
    assert_eq!(s.get_contact(&a, &s2).await.unwrap(), None);

    // Releasing an extension logs it.
    s.release_extension(&a, "u1", chrono::Utc::now())
        .await
        .unwrap();
    let (seen, fifth) = logged(&s, "a", fourth).await;
    assert_eq!(seen, pairs(&[("extension", "u1")]));

    // A commit that fails logs nothing.
    let bad = s
        .apply_scope(&ScopeCommit {
            site: a.clone(),
            job: j,
            scope: scope.clone(),
            upserts: vec![
                ScopeUpsert::Contact(shared(&a, "box", "s3", "Ida Lenz", vec![])),
                // Not allocated: the extension's foreign key fails the whole commit.
                ScopeUpsert::Extension(extension(&a, "u9", &ext_no("999"), "Nobody")),
            ],
            deletions: vec![],
            delta_token: None,
        })
        .await;
    assert!(bad.is_err());
    assert_eq!(logged(&s, "a", fifth).await, (BTreeSet::new(), fifth));

    // Re-normalising logs the owners whose numbers changed, and only those.
    let london = de("020 7946 0958", PhoneKind::Business);
    assert_eq!(london.e164, None);
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j,
        scope: ScopeKey::org(),
        upserts: vec![
            ScopeUpsert::Contact(org(&a, "o1", "London office", vec![london])),
            ScopeUpsert::Contact(org(
                &a,
                "o2",
                "Berlin office",
                vec![de("030 1234567", PhoneKind::Business)],
            )),
        ],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    let before = s.list_site_contacts(&a).await.unwrap();
    let o1 = before
        .iter()
        .find(|c| c.record.source_id == "o1")
        .expect("o1")
        .id
        .clone();
    let sixth = s.latest_change(&a).await.unwrap();
    let report = s
        .renormalise_numbers(
            &a,
            Some(directory::Region::new("GB").unwrap()),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(report.changed >= 1);
    let after = s.list_site_contacts(&a).await.unwrap();
    let changed: BTreeSet<(String, String)> = before
        .iter()
        .zip(&after)
        .filter(|(x, y)| x.record.numbers != y.record.numbers)
        .map(|(x, _)| ("contact".to_string(), x.id.clone()))
        .collect();
    assert!(changed.contains(&("contact".to_string(), o1)));
    let (seen, _) = logged(&s, "a", sixth).await;
    assert_eq!(seen, changed, "exactly the owners whose numbers changed");
    // Running it again changes nothing and logs nothing.
    let seventh = s.latest_change(&a).await.unwrap();
    s.renormalise_numbers(
        &a,
        Some(directory::Region::new("GB").unwrap()),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.latest_change(&a).await.unwrap(), seventh);

    // Other sites have logs of their own.
    s.upsert_site(&site("b")).await.unwrap();
    assert_eq!(s.latest_change(&site_id("b")).await.unwrap(), 0);
}

pub async fn contacts_by_store_id(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    s.upsert_site(&site("b")).await.unwrap();
    let j = job(&s, "a").await;
    let c = personal(
        &a,
        "u1",
        "p1",
        "Ann Smith",
        vec![
            de("030 1234567", PhoneKind::Business),
            de("0171 2345678", PhoneKind::Mobile),
        ],
    );
    for (scope, record) in [
        (ScopeKey::contacts("u1", "f1"), c.clone()),
        (ScopeKey::org(), org(&a, "o1", "Org One", vec![])),
    ] {
        s.apply_scope(&ScopeCommit {
            site: a.clone(),
            job: j,
            scope,
            upserts: vec![ScopeUpsert::Contact(record)],
            deletions: vec![],
            delta_token: None,
        })
        .await
        .unwrap();
    }
    let all = s.list_site_contacts(&a).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ordered by id");
    // Page by page: the same contacts in the same order; a short page is the last.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let page = s.list_site_contacts_page(&a, &after, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after.clone_from(&last.id);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_eq!(s.list_site_contacts_page(&a, "", 10).await.unwrap(), all);
    let mine = all.iter().find(|x| x.record.source_id == "p1").unwrap();
    assert_eq!(mine.record, c, "numbers in order, every field kept");
    assert_eq!(mine.scope, ScopeKey::contacts("u1", "f1"));
    assert_eq!(
        s.get_contact(&a, &mine.id).await.unwrap().as_ref(),
        Some(mine)
    );
    assert_eq!(s.get_contact(&a, "no-such-id").await.unwrap(), None);
    // Another site's view never shows them.
    assert_eq!(s.get_contact(&site_id("b"), &mine.id).await.unwrap(), None);
    assert!(s
        .list_site_contacts(&site_id("b"))
        .await
        .unwrap()
        .is_empty());
}

pub async fn credentials_issue_verify_revoke(db: Db) {
    use store::{CredentialOwner, CredentialUsername};
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let name = CredentialUsername::new("phone-101").unwrap();
    let owner = CredentialOwner::Extension {
        user_id: "u1".into(),
    };
    // Only a user with an extension gets one; a group needs a name.
    assert!(matches!(
        s.issue_credential(&a, &name, &owner).await,
        Err(StoreError::CredentialOwner(_))
    ));
    assert!(matches!(
        s.issue_credential(&a, &name, &CredentialOwner::PhoneGroup { name: " ".into() })
            .await,
        Err(StoreError::CredentialOwner(_))
    ));
    let n = s
        .allocate_extension(&a, "u1", &rule(100, 3, 24))
        .await
        .unwrap();
    s.upsert_extension(&extension(&a, "u1", &n, "Ann Smith"))
        .await
        .unwrap();
    let issued = s.issue_credential(&a, &name, &owner).await.unwrap();
    assert!(
        issued.secret.len() >= 26,
        "high entropy: {}",
        issued.secret.len()
    );
    assert!(
        !format!("{issued:?}").contains(&issued.secret),
        "Debug hides the secret"
    );
    // A second credential gets another secret.
    let lobby = CredentialUsername::new("lobby").unwrap();
    let group = CredentialOwner::PhoneGroup {
        name: "lobby".into(),
    };
    let other = s.issue_credential(&a, &lobby, &group).await.unwrap();
    assert_ne!(issued.secret, other.secret);

    assert_eq!(
        s.verify_credential(&a, "phone-101", &issued.secret)
            .await
            .unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        s.verify_credential(&a, "lobby", &other.secret)
            .await
            .unwrap(),
        Some(group.clone())
    );
    // Wrong secret, another credential's secret, unknown name, other site: no one.
    for (site, user, secret) in [
        ("a", "phone-101", "wrong"),
        ("a", "phone-101", other.secret.as_str()),
        ("a", "phone-101", ""),
        ("a", "nobody", issued.secret.as_str()),
        ("b", "phone-101", issued.secret.as_str()),
    ] {
        assert_eq!(
            s.verify_credential(&site_id(site), user, secret)
                .await
                .unwrap(),
            None,
            "{site} {user} {secret}"
        );
    }
    // Only a salted hash is stored: the secret is nowhere in the table.
    let listed = s.list_credentials(&a).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| c.username.as_str())
            .collect::<Vec<_>>(),
        ["lobby", "phone-101"]
    );
    assert!(listed.iter().all(|c| c.revoked_at.is_none()));
    assert_eq!(listed[1].owner, owner);

    // An active name cannot be issued twice; after revoking it can, with a new secret.
    assert!(matches!(
        s.issue_credential(&a, &name, &owner).await,
        Err(StoreError::CredentialExists(_))
    ));
    assert!(s.revoke_credential(&a, &name).await.unwrap());
    assert!(!s.revoke_credential(&a, &name).await.unwrap());
    assert_eq!(
        s.verify_credential(&a, "phone-101", &issued.secret)
            .await
            .unwrap(),
        None,
        "revoked"
    );
    let listed = s.list_credentials(&a).await.unwrap();
    assert!(listed[1].revoked_at.is_some());
    let again = s.issue_credential(&a, &name, &owner).await.unwrap();
    assert_ne!(again.secret, issued.secret);
    assert_eq!(
        s.verify_credential(&a, "phone-101", &again.secret)
            .await
            .unwrap(),
        Some(owner)
    );
    assert_eq!(
        s.verify_credential(&a, "phone-101", &issued.secret)
            .await
            .unwrap(),
        None
    );
    // Unknown site: a clear error.
    assert!(matches!(
        s.issue_credential(&site_id("zz"), &lobby, &group).await,
        Err(StoreError::UnknownSite(_))
    ));
    assert!(CredentialUsername::new("has space").is_err());
    assert!(CredentialUsername::new("").is_err());
}

pub async fn avatars_follow_their_extension(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    let n = s.allocate_extension(&a, "u1", &r).await.unwrap();
    let mut e = extension(&a, "u1", &n, "Ann Lee");
    e.photo_etag = None;
    s.upsert_extension(&e).await.unwrap();
    assert_eq!(s.get_avatar(&a, "u1").await.unwrap(), None);

    // Stored: the bytes come back exactly, and the extension carries the etag.
    let jpeg = store::Avatar {
        content_type: "image/jpeg".into(),
        etag: "\"A1B2\"".into(),
        bytes: vec![0xff, 0xd8, 0xff, 0x00, 0x01, 0xfe, 0xff, 0xd9],
    };
    s.set_avatar(&a, "u1", Some(&jpeg)).await.unwrap();
    assert_eq!(s.get_avatar(&a, "u1").await.unwrap(), Some(jpeg.clone()));
    let ext = s.get_extension_by_user(&a, "u1").await.unwrap().unwrap();
    assert_eq!(ext.photo_etag.as_deref(), Some("\"A1B2\""));
    assert!(!format!("{jpeg:?}").contains("255"), "no bytes in Debug");

    // Replaced by a newer photo.
    let png = store::Avatar {
        content_type: "image/png".into(),
        etag: "\"C3D4\"".into(),
        bytes: vec![0x89, b'P', b'N', b'G'],
    };
    s.set_avatar(&a, "u1", Some(&png)).await.unwrap();
    assert_eq!(s.get_avatar(&a, "u1").await.unwrap(), Some(png.clone()));
    // Other sites see nothing of it.
    s.upsert_site(&site("b")).await.unwrap();
    assert_eq!(s.get_avatar(&site_id("b"), "u1").await.unwrap(), None);

    // Removed: no avatar, no etag.
    s.set_avatar(&a, "u1", None).await.unwrap();
    assert_eq!(s.get_avatar(&a, "u1").await.unwrap(), None);
    let ext = s.get_extension_by_user(&a, "u1").await.unwrap().unwrap();
    assert_eq!(ext.photo_etag, None);
    // Removing twice, or for a user without extension, is no error.
    s.set_avatar(&a, "u1", None).await.unwrap();
    s.set_avatar(&a, "nobody", None).await.unwrap();

    // Storing for a user without extension is refused and writes nothing.
    match s.set_avatar(&a, "nobody", Some(&png)).await {
        Err(StoreError::UnknownExtension { user_id, .. }) => assert_eq!(user_id, "nobody"),
        other => panic!("wrong outcome: {other:?}"),
    }
    assert_eq!(s.get_avatar(&a, "nobody").await.unwrap(), None);

    // The avatar goes with its extension when the number is released.
    s.set_avatar(&a, "u1", Some(&jpeg)).await.unwrap();
    s.release_extension(&a, "u1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(s.get_avatar(&a, "u1").await.unwrap(), None);
}

pub async fn contact_deletions_apply_apart_and_can_be_cancelled(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let r = rule(100, 3, 24);
    let j1 = job(&s, "a").await;
    let n = s.allocate_extension(&a, "u1", &r).await.unwrap();
    let scope = ScopeKey::contacts("u1", "f1");
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j1,
        scope: scope.clone(),
        upserts: vec![
            ScopeUpsert::Contact(personal(&a, "u1", "c1", "Ann Smith", vec![])),
            ScopeUpsert::Contact(personal(&a, "u1", "c2", "Bea Braun", vec![])),
            ScopeUpsert::Contact(personal(&a, "u1", "c3", "Cid Cole", vec![])),
        ],
        deletions: vec![],
        delta_token: Some("t1".into()),
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j1,
        scope: ScopeKey::users(),
        upserts: vec![ScopeUpsert::Extension(extension(&a, "u1", &n, "Ann Smith"))],
        deletions: vec![],
        delta_token: None,
    })
    .await
    .unwrap();
    let j2 = job(&s, "a").await;
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j2,
        scope: scope.clone(),
        upserts: vec![],
        deletions: vec![
            Deletion::Contact("c1".into()),
            Deletion::Contact("c2".into()),
        ],
        delta_token: None,
    })
    .await
    .unwrap();
    s.apply_scope(&ScopeCommit {
        site: a.clone(),
        job: j2,
        scope: ScopeKey::users(),
        upserts: vec![],
        deletions: vec![Deletion::Extension("u1".into())],
        delta_token: None,
    })
    .await
    .unwrap();
    // c2 was seen alive again: its deletion is cancelled; another scope's is untouched.
    assert_eq!(
        s.cancel_pending(
            &a,
            &ScopeKey::contacts("u1", "f2"),
            &[Deletion::Contact("c2".into())]
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.cancel_pending(&a, &scope, &[Deletion::Contact("c2".into())])
            .await
            .unwrap(),
        1
    );
    // Contacts only: the extension's deletion keeps waiting.
    assert_eq!(
        s.apply_pending_contacts(&a, &j2).await.unwrap(),
        AppliedDeletions {
            contacts: 1,
            extensions: 0
        }
    );
    let left: Vec<Deletion> = s
        .list_pending(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.target)
        .collect();
    assert_eq!(left, vec![Deletion::Extension("u1".into())]);
    assert_eq!(s.count_extensions(&a).await.unwrap(), 1);
    let owner = PhonebookKind::Personal {
        owner_user_id: "u1".into(),
    };
    let names: Vec<String> = s
        .list_contacts(&a, &owner)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.source_id)
        .collect();
    assert_eq!(names, vec!["c2".to_string(), "c3".to_string()]);
}

pub async fn delta_tokens_are_listed_by_prefix(db: Db) {
    let s = with_site(&db, "a").await;
    let b = with_site(&db, "b").await;
    let a = site_id("a");
    for (scope, token) in [
        ("folders:u1:", "s1"),
        ("folders:u2:", "s2"),
        ("folders-other", "x"),
        ("users", "u"),
    ] {
        s.set_delta_token(&a, &ScopeKey::new(scope).unwrap(), token)
            .await
            .unwrap();
    }
    b.set_delta_token(&site_id("b"), &ScopeKey::new("folders:u9:").unwrap(), "b")
        .await
        .unwrap();
    assert_eq!(
        s.list_delta_tokens(&a, "folders:").await.unwrap(),
        vec![
            (ScopeKey::new("folders:u1:").unwrap(), "s1".to_string()),
            (ScopeKey::new("folders:u2:").unwrap(), "s2".to_string()),
        ]
    );
    assert_eq!(s.list_delta_tokens(&a, "nothing").await.unwrap(), vec![]);
}

/// One scope commit of many contacts (more than one statement carries), with a contact
/// listed twice (delta can repeat an item): each is written once, as its last occurrence,
/// with its numbers; a rewrite keeps every store id and leaves no stale number behind.
pub async fn a_large_scope_commit_writes_each_contact_once(db: Db) {
    let s = with_site(&db, "a").await;
    let a = site_id("a");
    let j = job(&s, "a").await;
    let scope = ScopeKey::contacts("u1", "f1");
    let make = |i: usize, suffix: &str| {
        personal(
            &a,
            "u1",
            &format!("p{i:04}"),
            &format!("Person {i} {suffix}"),
            vec![
                de(&format!("030 {:07}", 2_000_000 + i), PhoneKind::Business),
                de(&format!("0171 {:07}", 3_000_000 + i), PhoneKind::Mobile),
            ],
        )
    };
    let mut upserts: Vec<ScopeUpsert> = (0..450)
        .map(|i| ScopeUpsert::Contact(make(i, "old")))
        .collect();
    // p0007 again later in the same page, renamed and with one number fewer.
    let mut again = make(7, "renamed");
    again.numbers.truncate(1);
    upserts.push(ScopeUpsert::Contact(again.clone()));
    let commit = |upserts| ScopeCommit {
        site: a.clone(),
        job: j,
        scope: scope.clone(),
        upserts,
        deletions: vec![],
        delta_token: Some("token-1".into()),
    };
    s.apply_scope(&commit(upserts)).await.unwrap();
    let first = s.list_site_contacts(&a).await.unwrap();
    assert_eq!(first.len(), 450, "p0007 written once");
    let seven = first
        .iter()
        .find(|c| c.record.source_id == "p0007")
        .unwrap();
    assert_eq!(seven.record, again, "the last occurrence wins");
    let p0449 = first
        .iter()
        .find(|c| c.record.source_id == "p0449")
        .unwrap();
    assert_eq!(
        p0449.record,
        make(449, "old"),
        "numbers of the last chunk kept"
    );
    assert_eq!(
        s.find_by_e164(&a, &e164("+491713000007"))
            .await
            .unwrap()
            .len(),
        0,
        "the dropped number of the repeated contact is gone"
    );
    // Rewrite every contact with new names: ids stay, numbers are replaced, not added.
    let upserts: Vec<ScopeUpsert> = (0..450)
        .map(|i| ScopeUpsert::Contact(make(i, "new")))
        .collect();
    s.apply_scope(&commit(upserts)).await.unwrap();
    let second = s.list_site_contacts(&a).await.unwrap();
    assert_eq!(second.len(), 450);
    let ids = |all: &[store::StoredContact]| -> BTreeSet<(String, String)> {
        all.iter()
            .map(|c| (c.record.source_id.clone(), c.id.clone()))
            .collect()
    };
    assert_eq!(ids(&first), ids(&second), "store ids kept across rewrites");
    for c in &second {
        assert!(c.record.display_name.ends_with(" new"));
        assert_eq!(c.record.numbers.len(), 2, "{}", c.record.source_id);
    }
    assert_eq!(
        s.find_by_e164(&a, &e164("+49302000449"))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn presence_readers_keep_sealed_tokens(db: Db) {
    let s = with_site(&db, "a").await;
    s.upsert_site(&site("b")).await.unwrap();
    let a = site_id("a");
    let key = store::SealingKey::from_hex(&"7e".repeat(32), "test").unwrap();
    let plain = "0.AAAA-refresh-token-plaintext-MARKER-1f3e";
    let ctx = store::PresenceReader::context(&a, "r1");
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let reader = store::PresenceReader {
        site: a.clone(),
        reader_id: "r1".into(),
        upn: "Reader1@contoso.com".into(),
        refresh_token: key.seal(&ctx, plain.as_bytes()).unwrap(),
        created_at: t0,
        updated_at: t0,
        last_error: None,
    };
    s.save_presence_reader(&reader).await.unwrap();
    let got = s.list_presence_readers(&a).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        key.open(&ctx, &got[0].refresh_token).unwrap(),
        plain.as_bytes()
    );
    assert!(s
        .list_presence_readers(&site_id("b"))
        .await
        .unwrap()
        .is_empty());

    // The rotated token replaces the old one; the first sign-in time stays.
    let rotated = "0.BBBB-rotated-refresh-token";
    let mut again = reader.clone();
    again.refresh_token = key.seal(&ctx, rotated.as_bytes()).unwrap();
    again.created_at = chrono::Utc::now();
    again.updated_at = chrono::Utc::now();
    s.save_presence_reader(&again).await.unwrap();
    let got = s.list_presence_readers(&a).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        key.open(&ctx, &got[0].refresh_token).unwrap(),
        rotated.as_bytes()
    );
    assert_eq!(got[0].created_at.timestamp(), t0.timestamp());
    assert!(got[0].updated_at > t0);

    // Errors are recorded and cleared.
    assert!(s
        .set_presence_reader_error(&a, "r1", Some("invalid_grant: AADSTS50173"))
        .await
        .unwrap());
    assert_eq!(
        s.list_presence_readers(&a).await.unwrap()[0]
            .last_error
            .as_deref(),
        Some("invalid_grant: AADSTS50173")
    );
    assert!(!s
        .set_presence_reader_error(&a, "nobody", None)
        .await
        .unwrap());

    // The plaintext is nowhere in the database file.
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        let mut bytes = std::fs::read(path).unwrap_or_default();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        assert!(!bytes.is_empty(), "the SQLite file was read");
        for secret in [plain, rotated] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "plaintext refresh token found in the SQLite file"
            );
        }
        assert!(
            bytes.windows(8).any(|w| w == b"Reader1@"),
            "the row is in the file"
        );
    }

    // Removed by UPN in any case.
    assert!(s
        .remove_presence_reader(&a, "reader1@CONTOSO.com")
        .await
        .unwrap());
    assert!(!s.remove_presence_reader(&a, "r1").await.unwrap());
    assert!(s.list_presence_readers(&a).await.unwrap().is_empty());
}
