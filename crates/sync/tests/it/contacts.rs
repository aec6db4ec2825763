//! Contacts → phonebooks against the emulator: a hand-written tenant whose expected phonebooks
//! and E.164 numbers are written out literally; Graph writes then delta; an unreadable
//! mailbox; a delta reset; the mass-deletion guard across contacts.

use crate::support::{graph_requests, personal, Book, Env};
use directory::PhonebookKind;
use graph_sim::tenant_file::TenantFile;
use reqwest::Method;
use serde_json::json;
use sync::SyncOptions;

const GROUP: &str = "99999999-0000-4000-8000-000000000001";
const SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const GWEN: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const UMA: &str = "aaaaaaaa-0000-4000-8000-000000000003";
const RECEPTION: &str = "aaaaaaaa-0000-4000-8000-000000000004";
const ORG_SUPPLIER: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const ORG_LIEFERANT: &str = "bbbbbbbb-0000-4000-8000-000000000002";

fn user(id: &str, name: &str, upn: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut u = json!({
        "id": id, "displayName": name, "userPrincipalName": upn, "mail": upn,
        "accountEnabled": true, "userType": "Member", "usageLocation": "DE",
        "assignedLicenses": [{"skuId": SKU, "disabledPlans": []}],
    });
    if let (Some(m), Some(x)) = (u.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            m.insert(k.clone(), v.clone());
        }
    }
    u
}

fn tenant() -> TenantFile {
    let t = json!({
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "domain": "contoso.onmicrosoft.com",
        "displayName": "Contoso",
        "users": [
            user(ANN, "Ann Lee", "ann@contoso.com", json!({
                "mailboxData": {
                    "defaultFolderId": "AnnContacts", "rootFolderId": "AnnRoot",
                    "folders": [
                        {"id": "AnnSuppliers", "displayName": "Suppliers", "parentFolderId": "AnnContacts"},
                        {"id": "AnnSuppliersUK", "displayName": "UK", "parentFolderId": "AnnSuppliers"}
                    ],
                    "contacts": [
                        {"id": "AnnBob", "displayName": "Bob Berg", "parentFolderId": "AnnContacts",
                         "businessPhones": ["030 1234567"]},
                        {"id": "AnnCarl", "displayName": "Carl Clay", "parentFolderId": "AnnSuppliers",
                         "mobilePhone": "0151 23456789", "homePhones": ["call me maybe"]},
                        {"id": "AnnDora", "displayName": "Dora Dale", "parentFolderId": "AnnSuppliersUK",
                         "businessPhones": ["+44 20 7946 0958"]}
                    ]
                }
            })),
            // A British user: her national numbers are British.
            user(GWEN, "Gwen Hall", "gwen@contoso.com", json!({
                "usageLocation": "GB",
                "mailboxData": {
                    "defaultFolderId": "GwenContacts", "rootFolderId": "GwenRoot",
                    "contacts": [
                        {"id": "GwenHugh", "displayName": "Hugh Ives", "parentFolderId": "GwenContacts",
                         "businessPhones": ["020 7946 0123"]}
                    ]
                }
            })),
            // No Exchange Online mailbox.
            user(UMA, "Uma Nolic", "uma@contoso.com", json!({"mailbox": "none"})),
            user(RECEPTION, "Reception", "reception@contoso.com", json!({
                "mailbox": "shared", "accountEnabled": false, "assignedLicenses": [],
                "mailboxData": {
                    "defaultFolderId": "RecContacts", "rootFolderId": "RecRoot",
                    "folders": [
                        {"id": "RecPartners", "displayName": "Partners", "parentFolderId": "RecContacts"}
                    ],
                    "contacts": [
                        {"id": "RecTaxi", "displayName": "Taxi Central", "parentFolderId": "RecContacts",
                         "businessPhones": ["030 4455667"]},
                        {"id": "RecPia", "displayName": "Pia Post", "parentFolderId": "RecPartners",
                         "mobilePhone": "+43 664 1234567"}
                    ]
                }
            })),
        ],
        "groups": [{
            "id": GROUP, "displayName": "Phones", "securityEnabled": true, "mailEnabled": false,
            "members": [ANN, GWEN, UMA]
        }],
        "orgContacts": [
            {"id": ORG_SUPPLIER, "displayName": "Supplier Ltd",
             "phones": [{"number": "+44 20 7946 0958", "type": "business"}]},
            {"id": ORG_LIEFERANT, "displayName": "Lieferant GmbH",
             "phones": [{"number": "089 1234567", "type": "business"},
                        {"number": "089 1234568", "type": "businessFax"}]}
        ],
    });
    serde_json::from_value(t).expect("tenant file")
}

const REST: &str = "[site.extensions]\nfirst_number = 100\nlength = 3\n\n[site.deprovisioning]\npolicy = \"disable\"\n\n[site.guards]\nmass_deletion_percent = 50\nmass_deletion_min = 2\n";

async fn env(postgres: bool) -> Env {
    Env::with_config(
        crate::support::sim(Some(tenant()), 0).await,
        &format!("group_id = \"{GROUP}\""),
        REST,
        postgres,
        |t| {
            t.replacen(
                "name = \"main\"\n",
                "name = \"main\"\nshared_mailboxes = [\"reception@contoso.com\"]\n",
                1,
            )
        },
    )
    .await
}

fn entry(name: &str, numbers: &[(&str, Option<&str>)]) -> Book {
    (
        name.to_string(),
        numbers
            .iter()
            .map(|(r, e)| (r.to_string(), e.map(str::to_string)))
            .collect(),
    )
}

fn ann_book() -> Vec<Book> {
    vec![
        entry("Bob Berg", &[("030 1234567", Some("+49301234567"))]),
        entry(
            "Carl Clay",
            &[
                ("0151 23456789", Some("+4915123456789")),
                ("call me maybe", None),
            ],
        ),
        entry("Dora Dale", &[("+44 20 7946 0958", Some("+442079460958"))]),
    ]
}

fn gwen_book() -> Vec<Book> {
    vec![entry(
        "Hugh Ives",
        &[("020 7946 0123", Some("+442079460123"))],
    )]
}

fn company_book() -> Vec<Book> {
    vec![
        entry("Pia Post", &[("+43 664 1234567", Some("+436641234567"))]),
        entry("Taxi Central", &[("030 4455667", Some("+49304455667"))]),
    ]
}

fn directory_book() -> Vec<Book> {
    vec![
        entry(
            "Lieferant GmbH",
            &[
                ("089 1234567", Some("+49891234567")),
                ("089 1234568", Some("+49891234568")),
            ],
        ),
        entry(
            "Supplier Ltd",
            &[("+44 20 7946 0958", Some("+442079460958"))],
        ),
    ]
}

async fn assert_books(
    env: &Env,
    ann: Vec<Book>,
    gwen: Vec<Book>,
    company: Vec<Book>,
    dir: Vec<Book>,
) {
    assert_eq!(env.phonebook(&personal(ANN)).await, ann, "Ann's phonebook");
    assert_eq!(
        env.phonebook(&personal(GWEN)).await,
        gwen,
        "Gwen's phonebook"
    );
    assert_eq!(
        env.phonebook(&personal(UMA)).await,
        vec![],
        "Uma's phonebook"
    );
    assert_eq!(
        env.phonebook(&PhonebookKind::Company).await,
        company,
        "company"
    );
    assert_eq!(
        env.phonebook(&PhonebookKind::Directory).await,
        dir,
        "directory"
    );
}

async fn full_sync_fills_every_phonebook(postgres: bool) {
    let env = env(postgres).await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.counts.created, 3, "extensions");
    let c = r.contacts;
    assert_eq!(
        (c.personal.created, c.company.created, c.directory.created),
        (4, 2, 2)
    );
    assert_eq!(c.invalid_numbers, 1);
    assert_eq!(c.unreadable_mailboxes, 1);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("Uma Nolic"), "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("MailboxNotEnabledForRESTAPI"),
        "{:?}",
        r.warnings
    );
    assert_books(
        &env,
        ann_book(),
        gwen_book(),
        company_book(),
        directory_book(),
    )
    .await;
    // The folders the contacts came from.
    let site = directory::SiteId::new("main").expect("id");
    let mut folders: Vec<(String, String)> = env
        .store
        .list_contacts(&site, &personal(ANN))
        .await
        .expect("contacts")
        .into_iter()
        .map(|c| (c.display_name, c.folder_id.unwrap_or_default()))
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        vec![
            ("Bob Berg".to_string(), "AnnContacts".to_string()),
            ("Carl Clay".to_string(), "AnnSuppliers".to_string()),
            ("Dora Dale".to_string(), "AnnSuppliersUK".to_string()),
        ]
    );

    // In the job history.
    let jobs = env.store.list_jobs(&site, 10).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].counts["personal_contacts"]["created"], 4);
    assert_eq!(jobs[0].counts["company_contacts"]["created"], 2);
    assert_eq!(jobs[0].counts["directory_contacts"]["created"], 2);
    assert_eq!(jobs[0].counts["invalid_numbers"], 1);
    assert_eq!(jobs[0].warnings, 1);

    // Nothing changed: one Graph request per scope — users (delta, members), each mailbox's
    // folder list and each of its folders (Ann 1+3, Gwen 1+1, Uma 1, Reception 1+2), org
    // contacts; the mailboxes' requests travel in `$batch`es, so fewer round trips.
    env.call(Method::DELETE, "/_sim/requests", None, true).await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    let (_, seen) = env
        .call_json(Method::GET, "/_sim/requests", None, true)
        .await;
    assert_eq!(graph_requests(&seen), 2 + 4 + 2 + 1 + 3 + 1, "{seen:#}");
    assert!(r.requests <= 2 + 4 + 2 + 1 + 3 + 1, "{:#?}", r.log);
    let c = r.contacts;
    for k in [c.personal, c.company, c.directory] {
        assert_eq!(
            (k.created, k.updated, k.pending_deletion, k.deleted),
            (0, 0, 0, 0)
        );
    }
    assert_books(
        &env,
        ann_book(),
        gwen_book(),
        company_book(),
        directory_book(),
    )
    .await;
    env.cleanup().await;
}

#[tokio::test]
async fn full_sync_fills_every_phonebook_sqlite() {
    full_sync_fills_every_phonebook(false).await;
}

#[tokio::test]
async fn full_sync_fills_every_phonebook_postgres() {
    full_sync_fills_every_phonebook(true).await;
}

async fn graph_writes_then_delta_applies_exactly_them(postgres: bool) {
    let env = env(postgres).await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    env.grant("Contacts.ReadWrite").await;
    let (s, _) = env
        .call_json(
            Method::POST,
            &format!("/v1.0/users/{ANN}/contacts"),
            Some(json!({"displayName": "Eva Ek", "businessPhones": ["030 7777777"]})),
            false,
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = env
        .call_json(
            Method::PATCH,
            &format!("/v1.0/users/{ANN}/contacts/AnnBob"),
            Some(json!({"businessPhones": ["030 7654321"]})),
            false,
        )
        .await;
    assert_eq!(s, 200);
    let s = env
        .call(
            Method::DELETE,
            &format!("/v1.0/users/{GWEN}/contacts/GwenHugh"),
            None,
            false,
        )
        .await;
    assert_eq!(s, 204);
    // The folder and the one below it go, with their contacts.
    let s = env
        .call(
            Method::DELETE,
            &format!("/v1.0/users/{ANN}/contactFolders/AnnSuppliers"),
            None,
            false,
        )
        .await;
    assert_eq!(s, 204);

    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    let p = r.contacts.personal;
    assert_eq!(
        (p.created, p.updated, p.pending_deletion, p.deleted),
        (1, 1, 3, 3),
        "{:#?}",
        r.log
    );
    let c = r.contacts;
    for k in [c.company, c.directory] {
        assert_eq!((k.created, k.updated, k.pending_deletion), (0, 0, 0));
    }
    assert!(
        r.plan
            .contains(&"create personal:Ann Lee Eva Ek +49307777777".to_string()),
        "{:?}",
        r.plan
    );
    assert!(
        r.plan
            .contains(&"update personal:Ann Lee Bob Berg +49307654321".to_string()),
        "{:?}",
        r.plan
    );
    assert_books(
        &env,
        vec![
            entry("Bob Berg", &[("030 7654321", Some("+49307654321"))]),
            entry("Eva Ek", &[("030 7777777", Some("+49307777777"))]),
        ],
        vec![],
        company_book(),
        directory_book(),
    )
    .await;
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());

    // And then nothing: Ann has one folder left.
    env.call(Method::DELETE, "/_sim/requests", None, true).await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    let (_, seen) = env
        .call_json(Method::GET, "/_sim/requests", None, true)
        .await;
    assert_eq!(graph_requests(&seen), 2 + 2 + 2 + 1 + 3 + 1, "{seen:#}");
    assert!(r.requests <= 2 + 2 + 2 + 1 + 3 + 1, "{seen:#}");
    assert_eq!(r.contacts.personal.created + r.contacts.personal.updated, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn graph_writes_then_delta_applies_exactly_them_sqlite() {
    graph_writes_then_delta_applies_exactly_them(false).await;
}

#[tokio::test]
async fn graph_writes_then_delta_applies_exactly_them_postgres() {
    graph_writes_then_delta_applies_exactly_them(true).await;
}

#[tokio::test]
async fn a_mailbox_outside_the_access_policy_keeps_its_phonebook() {
    let env = env(false).await;
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    // The app's access is narrowed to Ann and Gwen (it keeps Contacts.Read).
    let client_id = env.sim.credentials.client_id.clone();
    let (s, mut app) = env
        .call_json(Method::GET, &format!("/_sim/apps/{client_id}"), None, true)
        .await;
    assert_eq!(s, 200);
    app["mailboxScope"] = json!([ANN, GWEN]);
    let s = env
        .call(
            Method::DELETE,
            &format!("/_sim/apps/{client_id}"),
            None,
            true,
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    let (s, body) = env
        .call_json(Method::POST, "/_sim/apps", Some(app), true)
        .await;
    assert_eq!(s, 201, "{body}");
    // A change the sync cannot see now.
    let s = env
        .call(
            Method::DELETE,
            &format!("/_sim/mailboxes/{RECEPTION}/contacts/RecTaxi"),
            None,
            true,
        )
        .await;
    assert!((200..300).contains(&s), "{s}");

    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.contacts.unreadable_mailboxes, 2, "{:?}", r.warnings);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("shared mailbox reception@contoso.com")
                && w.contains("ErrorAccessDenied")),
        "{:?}",
        r.warnings
    );
    assert_books(
        &env,
        ann_book(),
        gwen_book(),
        company_book(),
        directory_book(),
    )
    .await;
}

#[tokio::test]
async fn a_delta_reset_reads_the_mailbox_again_and_drops_what_is_gone() {
    let env = env(false).await;
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    for id in ["AnnBob", "AnnDora"] {
        let s = env
            .call(
                Method::DELETE,
                &format!("/_sim/mailboxes/{ANN}/contacts/{id}"),
                None,
                true,
            )
            .await;
        assert!((200..300).contains(&s), "{s}");
    }
    let s = env
        .call(
            Method::POST,
            &format!("/_sim/mailboxes/{ANN}/reset-sync-state"),
            None,
            true,
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    let p = r.contacts.personal;
    assert_eq!(
        (p.created, p.pending_deletion, p.deleted),
        (0, 2, 2),
        "{:#?}",
        r.log
    );
    assert_eq!(
        env.phonebook(&personal(ANN)).await,
        vec![entry(
            "Carl Clay",
            &[
                ("0151 23456789", Some("+4915123456789")),
                ("call me maybe", None),
            ],
        )]
    );
}

#[tokio::test]
async fn the_guard_holds_contact_deletions_until_approved() {
    let env = env(false).await;
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    for path in [
        format!("/_sim/org-contacts/{ORG_SUPPLIER}"),
        format!("/_sim/org-contacts/{ORG_LIEFERANT}"),
        format!("/_sim/mailboxes/{RECEPTION}/contacts/RecTaxi"),
        format!("/_sim/mailboxes/{RECEPTION}/folders/RecPartners"),
        format!("/_sim/mailboxes/{ANN}/folders/AnnSuppliers"),
    ] {
        let s = env.call(Method::DELETE, &path, None, true).await;
        assert!((200..300).contains(&s), "{path}: {s}");
    }
    // 6 of 8 contacts would go; the guard allows max(2, 50 %) = 4.
    let r = env.run_all(SyncOptions::default()).await;
    assert!(!r.succeeded);
    let err = r.error.clone().expect("error");
    assert!(err.contains("would delete 6 of 8 contacts"), "{err}");
    assert!(err.contains("--allow-mass-delete"), "{err}");
    assert_books(
        &env,
        ann_book(),
        gwen_book(),
        company_book(),
        directory_book(),
    )
    .await;
    let site = directory::SiteId::new("main").expect("id");
    assert_eq!(
        env.store.list_pending(&site).await.expect("pending").len(),
        6
    );

    // Approved: the next job applies what the guarded one recorded (Graph reports no change now).
    let r = env
        .run_all(SyncOptions {
            allow_mass_delete: true,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    let c = r.contacts;
    assert_eq!(
        (c.personal.deleted, c.company.deleted, c.directory.deleted),
        (2, 2, 2)
    );
    assert_books(
        &env,
        vec![entry("Bob Berg", &[("030 1234567", Some("+49301234567"))])],
        gwen_book(),
        vec![],
        vec![],
    )
    .await;
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
}

#[tokio::test]
async fn only_the_asked_sources_are_read_and_a_missing_role_is_named() {
    let env = env(false).await;
    let r = env
        .run_all(SyncOptions {
            sources: Some(vec![config::Source::OrgContacts]),
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.requests, 1);
    assert_eq!(
        env.phonebook(&PhonebookKind::Directory).await,
        directory_book()
    );
    assert_eq!(env.phonebook(&PhonebookKind::Company).await, vec![]);
    assert!(env.extensions().await.is_empty());

    let path = format!(
        "/_sim/apps/{}/roles/OrgContact.Read.All",
        env.sim.credentials.client_id
    );
    assert!((200..300).contains(&env.call(Method::DELETE, &path, None, true).await));
    // A fresh token (the old one still carries the role until it expires).
    let r = env
        .run_all(SyncOptions {
            sources: Some(vec![config::Source::OrgContacts]),
            ..SyncOptions::default()
        })
        .await;
    assert!(!r.succeeded);
    let err = r.error.expect("error");
    assert!(err.contains("OrgContact.Read.All"), "{err}");
}

#[tokio::test]
async fn a_failed_mailbox_keeps_every_deletion_pending_until_a_job_succeeds() {
    let env = env(false).await;
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    for (user, id) in [(ANN, "AnnBob"), (GWEN, "GwenHugh")] {
        let s = env
            .call(
                Method::DELETE,
                &format!("/_sim/mailboxes/{user}/contacts/{id}"),
                None,
                true,
            )
            .await;
        assert!((200..300).contains(&s), "{s}");
    }
    // Gwen's folder token is garbled: Graph answers 400 (not retried) and the job fails.
    let site = directory::SiteId::new("main").expect("id");
    let scope = store::ScopeKey::contacts(GWEN, "GwenContacts");
    let good = env
        .store
        .get_delta_token(&site, &scope)
        .await
        .expect("token")
        .expect("Gwen's folder has a token");
    let garbled = format!(
        "{}/v1.0/users/{GWEN}/contactFolders/GwenContacts/contacts/delta?$deltatoken=garbled",
        env.sim.http_url()
    );
    env.store
        .set_delta_token(&site, &scope, &garbled)
        .await
        .expect("set");
    let r = env.run_all(SyncOptions::default()).await;
    assert!(!r.succeeded);
    let err = r.error.clone().expect("error");
    assert!(err.contains("the mailbox of Gwen Hall"), "{err}");
    assert!(err.contains("no deletions were applied"), "{err}");
    // Ann's scope committed its deletion as pending; nothing was deleted.
    let pending = env.store.list_pending(&site).await.expect("pending");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_books(
        &env,
        ann_book(),
        gwen_book(),
        company_book(),
        directory_book(),
    )
    .await;

    // The mailbox reads again: both deletions land, Ann's from the job before.
    env.store
        .set_delta_token(&site, &scope, &good)
        .await
        .expect("set");
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.contacts.personal.deleted, 2);
    let mut ann = ann_book();
    ann.remove(0);
    assert_books(&env, ann, vec![], company_book(), directory_book()).await;
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
}

#[tokio::test]
async fn a_dry_run_plans_every_phonebook_and_writes_nothing() {
    let env = env(false).await;
    let dry = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let r = env.run_all(dry.clone()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.job, None);
    for line in [
        "create personal:Ann Lee Bob Berg +49301234567",
        "create personal:Ann Lee Carl Clay +4915123456789, call me maybe (invalid)",
        "create personal:Gwen Hall Hugh Ives +442079460123",
        "create company:reception@contoso.com Taxi Central +49304455667",
        "create directory Lieferant GmbH +49891234567, +49891234568",
    ] {
        assert!(r.plan.contains(&line.to_string()), "{line}: {:#?}", r.plan);
    }
    assert_eq!(r.contacts.personal.created, 4);
    let site = directory::SiteId::new("main").expect("id");
    assert_eq!(env.store.count_contacts(&site).await.expect("count"), 0);
    assert!(env
        .store
        .list_delta_tokens(&site, "")
        .await
        .expect("tokens")
        .is_empty());
    assert!(env
        .store
        .list_jobs(&site, 10)
        .await
        .expect("jobs")
        .is_empty());

    // After a real run, a dry run shows a deletion and leaves it to the real run.
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    let s = env
        .call(
            Method::DELETE,
            &format!("/_sim/org-contacts/{ORG_SUPPLIER}"),
            None,
            true,
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    let r = env.run_all(dry).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(
        r.plan,
        vec!["delete directory Supplier Ltd +442079460958".to_string()]
    );
    assert_eq!(r.contacts.directory.pending_deletion, 1);
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
    assert_eq!(
        env.phonebook(&PhonebookKind::Directory).await,
        directory_book()
    );
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.contacts.directory.deleted, 1);
    assert_eq!(
        env.phonebook(&PhonebookKind::Directory).await,
        vec![directory_book().remove(0)]
    );
}

#[tokio::test]
async fn a_user_whose_extension_goes_loses_their_phonebook_a_disabled_one_keeps_it() {
    let rest = REST.replace(
        "policy = \"disable\"",
        "policy = \"delete_after_days\"\ndays = 1",
    );
    let env = Env::with_config(
        crate::support::sim(Some(tenant()), 0).await,
        &format!("group_id = \"{GROUP}\""),
        &rest,
        false,
        |t| t,
    )
    .await;
    assert!(env.run_all(SyncOptions::default()).await.succeeded);
    env.grant("Group.ReadWrite.All").await;
    let s = env
        .call(
            Method::DELETE,
            &format!("/v1.0/groups/{GROUP}/members/{GWEN}/$ref"),
            None,
            false,
        )
        .await;
    assert_eq!(s, 204);
    // Disabled: her phonebook stays as it was.
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.counts.disabled, 1);
    assert_eq!(r.contacts.personal.pending_deletion, 0);
    assert_eq!(env.phonebook(&personal(GWEN)).await, gwen_book());
    // A day later the extension is deleted, and her phonebook with it.
    let r = env
        .run_all(SyncOptions {
            now: chrono::Utc::now() + chrono::Duration::days(2),
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert_eq!(r.counts.deleted, 1);
    assert_eq!(
        (
            r.contacts.personal.pending_deletion,
            r.contacts.personal.deleted
        ),
        (1, 1)
    );
    assert_eq!(env.phonebook(&personal(GWEN)).await, vec![]);
    assert_eq!(env.phonebook(&personal(ANN)).await, ann_book());
}
