//! The same data written through SQLite and through PostgreSQL reads back equal.

use crate::data::*;
use crate::support::{drop_pg_schema, pg_schema, Db};
use directory::{ContactRecord, Extension, PhoneKind, PhonebookKind};
use std::sync::Arc;
use store::{
    Deletion, JobKind, JobTrigger, NumberHit, ScopeCommit, ScopeKey, ScopeUpsert, Site, Store,
};

/// What a site looks like from outside, minus ids and times the backends make up.
#[derive(Debug, PartialEq)]
struct Snapshot {
    sites: Vec<Site>,
    extensions: Vec<Extension>,
    phonebooks: Vec<Vec<ContactRecord>>,
    hits: Vec<NumberHit>,
    tokens: Vec<Option<String>>,
    pending: Vec<(ScopeKey, Deletion)>,
    counts: (u64, u64, u64),
    jobs: Vec<(JobTrigger, JobKind, Vec<String>)>,
}

async fn write_and_read(s: Arc<dyn Store>) -> Snapshot {
    let a = site_id("acme");
    s.upsert_site(&site("acme")).await.unwrap();
    let j = s
        .create_job(&a, JobTrigger::Manual, JobKind::Full)
        .await
        .unwrap();
    s.append_job_log(&j, "Grüße: ünïcödé ✓ and 'quotes' \"too\"")
        .await
        .unwrap();
    let r = rule(200, 3, 24);
    let mut extensions = Vec::new();
    for (u, name) in [
        ("u1", "Ann Smith"),
        ("u2", "Ørjan Øvrebø"),
        ("u3", "李 小龙"),
    ] {
        let n = s.allocate_extension(&a, u, &r).await.unwrap();
        extensions.push(ScopeUpsert::Extension(extension(&a, u, &n, name)));
    }
    let commits = [
        (ScopeKey::users(), extensions, vec![], "tu"),
        (
            ScopeKey::contacts("u1", "f1"),
            vec![
                ScopeUpsert::Contact(personal(
                    &a,
                    "u1",
                    "c1",
                    "zed lower",
                    vec![de("030 1234567", PhoneKind::Home)],
                )),
                ScopeUpsert::Contact(personal(
                    &a,
                    "u1",
                    "c2",
                    "Zed Upper",
                    vec![de("(0)30-1234567", PhoneKind::Other)],
                )),
                ScopeUpsert::Contact(personal(
                    &a,
                    "u1",
                    "c3",
                    "Émile",
                    vec![de("unknown", PhoneKind::Other)],
                )),
            ],
            vec![Deletion::Contact("c0".into())],
            "tc",
        ),
        (
            ScopeKey::shared("reception", "f"),
            vec![ScopeUpsert::Contact(shared(
                &a,
                "reception",
                "s1",
                "Reception",
                vec![de("+49 30 1234567", PhoneKind::Business)],
            ))],
            vec![],
            "ts",
        ),
        (
            ScopeKey::org(),
            vec![ScopeUpsert::Contact(org(&a, "o1", "Org", vec![]))],
            vec![Deletion::Extension("u3".into())],
            "to",
        ),
    ];
    for (scope, upserts, deletions, token) in commits {
        s.apply_scope(&ScopeCommit {
            site: a.clone(),
            job: j,
            scope,
            upserts,
            deletions,
            delta_token: Some(token.into()),
        })
        .await
        .unwrap();
    }
    let mut phonebooks = Vec::new();
    for p in [
        PhonebookKind::Personal {
            owner_user_id: "u1".into(),
        },
        PhonebookKind::Company,
        PhonebookKind::Directory,
    ] {
        phonebooks.push(s.list_contacts(&a, &p).await.unwrap());
    }
    let mut tokens = Vec::new();
    for scope in [
        ScopeKey::users(),
        ScopeKey::contacts("u1", "f1"),
        ScopeKey::shared("reception", "f"),
        ScopeKey::org(),
    ] {
        tokens.push(s.get_delta_token(&a, &scope).await.unwrap());
    }
    let mut jobs = Vec::new();
    for job in s.list_jobs(&a, 10).await.unwrap() {
        let log = s.get_job(&job.id).await.unwrap().expect("job").log;
        jobs.push((
            job.trigger,
            job.kind,
            log.into_iter().map(|l| l.line).collect(),
        ));
    }
    Snapshot {
        sites: s.list_sites().await.unwrap(),
        extensions: s.list_extensions(&a).await.unwrap(),
        phonebooks,
        hits: s.find_by_e164(&a, &e164("+49301234567")).await.unwrap(),
        tokens,
        pending: s
            .list_pending(&a)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.scope, p.target))
            .collect(),
        counts: (
            s.count_contacts(&a).await.unwrap(),
            s.count_extensions(&a).await.unwrap(),
            s.count_invalid_numbers(&a).await.unwrap(),
        ),
        jobs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_data_reads_back_equal_on_both_backends() {
    let dir = std::env::temp_dir().join(format!("pbx365-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = Db {
        url: format!("sqlite://{}", dir.join("same.db").display()),
    };
    let from_sqlite = tokio::spawn(async move { write_and_read(sqlite.open().await).await }).await;
    let _ = std::fs::remove_dir_all(&dir);
    let (schema, pg) = pg_schema().await;
    let from_pg = tokio::spawn(async move { write_and_read(pg.open().await).await }).await;
    drop_pg_schema(&schema).await;
    let (from_sqlite, from_pg) = match (from_sqlite, from_pg) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e.into_panic()),
    };
    assert_eq!(from_sqlite, from_pg);
    // And what both read back is what was written.
    assert_eq!(from_sqlite.counts, (5, 3, 1));
    assert_eq!(
        from_sqlite.hits.len(),
        3,
        "three spellings of +49 30 1234567"
    );
    assert_eq!(
        from_sqlite.tokens,
        vec![
            Some("tu".into()),
            Some("tc".into()),
            Some("ts".into()),
            Some("to".into())
        ]
    );
    let names: Vec<&str> = from_sqlite.phonebooks[0]
        .iter()
        .map(|c| c.display_name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Zed Upper", "zed lower", "Émile"],
        "byte order, not the database's collation"
    );
    let ext_names: Vec<&str> = from_sqlite
        .extensions
        .iter()
        .map(|e| e.display_name.as_str())
        .collect();
    assert_eq!(ext_names, ["Ann Smith", "Ørjan Øvrebø", "李 小龙"]);
    assert_eq!(
        from_sqlite.jobs[0].2,
        ["Grüße: ünïcödé ✓ and 'quotes' \"too\""]
    );
}
