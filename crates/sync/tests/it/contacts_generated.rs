//! A generated tenant's phonebooks against an oracle read from the emulator's own state (names
//! and numbers as Graph holds them; E.164 by the `phonenumber` crate in the owner's country),
//! under injected faults: 5xx, 429 storms, duplicate, empty, shuffled and replayed delta pages.

use crate::support::{book_entry, graph_requests, personal, Book, Env};
use directory::PhonebookKind;
use graph_sim::tenant_file::TenantFile;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use sync::SyncOptions;

/// `(name, raw numbers)` of a Graph contact, in the order business, mobile, home.
fn outlook_entry(c: &graph_sim::model::Contact) -> (String, Vec<String>) {
    let mut raws: Vec<String> = c.business_phones.clone();
    raws.extend(c.mobile_phone.clone());
    raws.extend(c.home_phones.clone());
    raws.retain(|r| !r.trim().is_empty());
    (c.display_name.clone().unwrap_or_default(), raws)
}

/// A contact as Graph holds it: name and raw numbers.
type Entry = (String, Vec<String>);

/// Every phonebook as the tenant holds it, with the region of each: personal phonebooks of
/// the synced users who have a mailbox, the company phonebook of `shared`, the directory.
struct Expected {
    books: BTreeMap<String, (Vec<Entry>, Option<String>)>,
    unreadable: usize,
}

fn expected(t: &TenantFile, synced: &[String], shared: &[String]) -> Expected {
    let mut books = BTreeMap::new();
    let mut unreadable = 0;
    for r in &t.users {
        let u = &r.user.user;
        let is_synced = synced.contains(&u.id);
        let upn = u.user_principal_name.clone().unwrap_or_default();
        let is_shared = shared.contains(&upn);
        if !is_synced && !is_shared {
            continue;
        }
        let Some(data) = r
            .mailbox_data
            .as_ref()
            .filter(|_| r.user.mailbox != graph_sim::model::MailboxKind::None)
        else {
            unreadable += 1;
            continue;
        };
        let mut entries: Vec<(String, Vec<String>)> =
            data.contacts.iter().map(outlook_entry).collect();
        if is_shared {
            let (book, _) = books
                .entry("company".to_string())
                .or_insert_with(|| (Vec::new(), Some("DE".to_string())));
            book.append(&mut entries);
        } else {
            entries.sort();
            books.insert(
                format!("personal:{}", u.id),
                (entries, u.usage_location.clone()),
            );
        }
    }
    let mut dir: Vec<(String, Vec<String>)> = t
        .org_contacts
        .iter()
        .filter(|c| c.deleted_date_time.is_none())
        .map(|c| {
            let raws = c
                .phones
                .iter()
                .filter_map(|p| p.number.clone())
                .filter(|n| !n.trim().is_empty())
                .collect();
            (c.display_name.clone().unwrap_or_default(), raws)
        })
        .collect();
    dir.sort();
    books.insert("directory".to_string(), (dir, Some("DE".to_string())));
    if let Some((b, _)) = books.get_mut("company") {
        b.sort();
    }
    Expected { books, unreadable }
}

/// The E.164 form the `phonenumber` crate gives, when it sees a valid number.
fn oracle_e164(raw: &str, region: Option<&str>) -> Option<String> {
    let id = region.and_then(|r| r.parse::<phonenumber::country::Id>().ok());
    let n = phonenumber::parse(id, raw).ok()?;
    n.is_valid()
        .then(|| n.format().mode(phonenumber::Mode::E164).to_string())
}

async fn stored(env: &Env, key: &str) -> Vec<Book> {
    let book = if key == "company" {
        PhonebookKind::Company
    } else if key == "directory" {
        PhonebookKind::Directory
    } else {
        personal(key.trim_start_matches("personal:"))
    };
    env.phonebook(&book).await
}

/// Compares every phonebook with the tenant; returns how many numbers were checked.
async fn check(env: &Env, want: &Expected) -> usize {
    let mut checked = 0;
    let mut total = 0;
    for (key, (entries, region)) in &want.books {
        let got = stored(env, key).await;
        let names: Vec<(String, Vec<String>)> = got
            .iter()
            .map(|(n, nums)| (n.clone(), nums.iter().map(|(r, _)| r.clone()).collect()))
            .collect();
        assert_eq!(&names, entries, "phonebook {key}");
        total += got.len();
        for (_, nums) in &got {
            for (raw, e164) in nums {
                if let Some(e) = oracle_e164(raw, region.as_deref()) {
                    assert_eq!(e164.as_deref(), Some(e.as_str()), "{key}: {raw}");
                    checked += 1;
                }
            }
        }
    }
    let site = directory::SiteId::new("main").expect("id");
    assert_eq!(
        env.store.count_contacts(&site).await.expect("count") as usize,
        total,
        "no contacts beyond the expected phonebooks"
    );
    checked
}

const REST: &str = "[site.extensions]\nfirst_number = 1000\nlength = 4\n\n[site.guards]\nmass_deletion_percent = 50\nmass_deletion_min = 20\n";

async fn generated_tenant_under_faults(postgres: bool) {
    let sim = crate::support::sim(None, 40).await;
    let t = graph_sim::control::snapshot(&sim.state);
    let (group, users) = crate::generated::oracle(&t);
    let synced: Vec<String> = users.keys().cloned().collect();
    let shared: Vec<String> = t
        .users
        .iter()
        .filter(|r| r.user.mailbox == graph_sim::model::MailboxKind::Shared)
        .filter_map(|r| r.user.user.user_principal_name.clone())
        .take(2)
        .collect();
    assert!(
        !shared.is_empty(),
        "the generated tenant has shared mailboxes"
    );
    let list: Vec<String> = shared.iter().map(|s| format!("\"{s}\"")).collect();
    let env = Env::with_config(
        sim,
        &format!("group_id = \"{group}\""),
        REST,
        postgres,
        |text| {
            text.replacen(
                "name = \"main\"\n",
                &format!(
                    "name = \"main\"\nshared_mailboxes = [{}]\n",
                    list.join(", ")
                ),
                1,
            )
        },
    )
    .await;

    // Graph's delta quirks and faults, all at once.
    let (s, _) = env
        .call_json(
            Method::PATCH,
            "/_sim/behaviour",
            Some(json!({"deltaDuplicateRate": 0.2, "deltaEmptyPageRate": 0.1,
                        "deltaShuffleRate": 0.3, "deltaReplayRate": 0.1,
                        "outlookDeltaMaxPageSize": 5})),
            true,
        )
        .await;
    assert_eq!(s, 200);
    for rule in [
        json!({"path": "/v1.0/**", "errorRate": 0.05, "errorStatus": 503}),
        json!({"path": "/v1.0/users/*/contactFolders/**", "throttleRate": 0.5, "retryAfterSecs": 1, "remaining": 12}),
        json!({"path": "/v1.0/users/*/contactFolders/**", "throttleRate": 0.5, "remaining": 6}),
    ] {
        let (s, body) = env
            .call_json(Method::POST, "/_sim/faults/rules", Some(rule), true)
            .await;
        assert!((200..300).contains(&s), "{s} {body}");
    }

    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.warnings);
    assert!(r.retries > 0, "faults were injected");
    let want = expected(
        &graph_sim::control::snapshot(&env.sim.state),
        &synced,
        &shared,
    );
    assert_eq!(
        r.contacts.unreadable_mailboxes as usize, want.unreadable,
        "{:?}",
        r.warnings
    );
    let c = r.contacts;
    assert!(c.personal.created > 100, "{c:?}");
    let checked = check(&env, &want).await;
    assert!(checked > 100, "{checked} numbers checked");

    // Changes through the emulator's write paths, then a delta round.
    let snap = graph_sim::control::snapshot(&env.sim.state);
    let mut done = 0;
    for r in snap
        .users
        .iter()
        .filter(|r| synced.contains(&r.user.user.id))
    {
        let Some(data) = r.mailbox_data.as_ref().filter(|d| d.contacts.len() >= 2) else {
            continue;
        };
        if r.user.mailbox == graph_sim::model::MailboxKind::None {
            continue;
        }
        let id = &r.user.user.id;
        let s = env
            .call(
                Method::DELETE,
                &format!("/_sim/mailboxes/{id}/contacts/{}", data.contacts[0].id),
                None,
                true,
            )
            .await;
        assert!((200..300).contains(&s), "{s}");
        let s = env
            .call(
                Method::PATCH,
                &format!("/_sim/mailboxes/{id}/contacts/{}", data.contacts[1].id),
                Some(json!({"displayName": "Renamed Person", "mobilePhone": "+49 151 11112222"})),
                true,
            )
            .await;
        assert!((200..300).contains(&s), "{s}");
        let s = env
            .call(
                Method::POST,
                &format!("/_sim/mailboxes/{id}/contacts"),
                Some(json!({"displayName": "New Person", "businessPhones": ["+44 20 7946 0000"]})),
                true,
            )
            .await;
        assert!((200..300).contains(&s), "{s}");
        if let Some(f) = data.folders.first() {
            let s = env
                .call(
                    Method::DELETE,
                    &format!("/_sim/mailboxes/{id}/folders/{}", f.id),
                    None,
                    true,
                )
                .await;
            assert!((200..300).contains(&s), "{s}");
        }
        done += 1;
        if done == 3 {
            break;
        }
    }
    assert_eq!(done, 3);
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.warnings);
    assert_eq!(r.contacts.personal.created, 3, "{:?}", r.contacts);
    let want = expected(
        &graph_sim::control::snapshot(&env.sim.state),
        &synced,
        &shared,
    );
    check(&env, &want).await;
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn generated_tenant_under_faults_sqlite() {
    generated_tenant_under_faults(false).await;
}

#[tokio::test]
async fn generated_tenant_under_faults_postgres() {
    generated_tenant_under_faults(true).await;
}

/// Dropping a shared mailbox from the configuration deletes its contacts from the company
/// phonebook; the others are read again.
#[tokio::test]
async fn a_shared_mailbox_taken_off_the_list_leaves_the_company_phonebook() {
    let sim = crate::support::sim(None, 40).await;
    let t = graph_sim::control::snapshot(&sim.state);
    let (group, _) = crate::generated::oracle(&t);
    let shared: Vec<String> = t
        .users
        .iter()
        .filter(|r| r.user.mailbox == graph_sim::model::MailboxKind::Shared)
        .filter_map(|r| r.user.user.user_principal_name.clone())
        .collect();
    assert!(shared.len() >= 2, "{shared:?}");
    let rest = REST.replace("mass_deletion_percent = 50", "mass_deletion_percent = 100");
    let list = |n: usize| -> String {
        let v: Vec<String> = shared[..n].iter().map(|s| format!("\"{s}\"")).collect();
        v.join(", ")
    };
    let two = list(2);
    let env = Env::with_config(
        sim,
        &format!("group_id = \"{group}\""),
        &rest,
        false,
        |text| {
            text.replacen(
                "name = \"main\"\n",
                &format!("name = \"main\"\nshared_mailboxes = [{two}]\n"),
                1,
            )
        },
    )
    .await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    let unreadable = r.contacts.unreadable_mailboxes;
    // Nothing changed: at most one request per scope (each scope's token, less the two
    // selection fingerprints, plus the group's member page and one per unreadable mailbox).
    let site = directory::SiteId::new("main").expect("id");
    let scopes = env
        .store
        .list_delta_tokens(&site, "")
        .await
        .expect("tokens")
        .len() as u64;
    env.call(Method::DELETE, "/_sim/requests", None, true).await;
    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    let (_, seen) = env
        .call_json(Method::GET, "/_sim/requests", None, true)
        .await;
    // A readable mailbox with no contacts and no folders never showed its default folder's
    // id: one probe of `/contacts` stands in for that folder's scope.
    let t = graph_sim::control::snapshot(&env.sim.state);
    let (_, users) = crate::generated::oracle(&t);
    let empty = t
        .users
        .iter()
        .filter(|r| {
            users.contains_key(&r.user.user.id)
                || r.user
                    .user
                    .user_principal_name
                    .as_ref()
                    .is_some_and(|u| shared[..2].contains(u))
        })
        .filter(|r| r.user.mailbox != graph_sim::model::MailboxKind::None)
        .filter(|r| {
            r.mailbox_data
                .as_ref()
                .is_none_or(|d| d.contacts.is_empty() && d.folders.is_empty())
        })
        .count() as u64;
    // The users part looks up, each time, in-scope users it skipped (its own rule).
    let skipped = seen["byEndpoint"]["GET /v1.0/users/{id}"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        graph_requests(&seen),
        scopes - 2 + 1 + unreadable + empty + skipped,
        "{:#}",
        seen["byEndpoint"]
    );
    // The mailboxes' requests travel in `$batch`es: no more round trips than requests.
    assert!(
        r.requests <= scopes - 2 + 1 + unreadable + empty + skipped,
        "{}",
        r.requests
    );
    assert!(scopes > 40, "{scopes}");
    let both = env.phonebook(&PhonebookKind::Company).await;
    let first_only: Vec<Book> = {
        let mut v: Vec<Book> = env
            .store
            .list_contacts(&site, &PhonebookKind::Company)
            .await
            .expect("contacts")
            .into_iter()
            .filter(|c| {
                c.source
                    == directory::ContactSource::SharedMailbox {
                        mailbox: shared[0].clone(),
                    }
            })
            .map(|c| book_entry(&c))
            .collect();
        v.sort();
        v
    };
    assert!(
        first_only.len() < both.len(),
        "both mailboxes hold contacts"
    );

    // The same store, the list narrowed to the first mailbox.
    let one = list(1);
    let text = crate::support::config_text(&env.sim, &format!("group_id = \"{group}\""), &rest)
        .replacen(
            "name = \"main\"\n",
            &format!("name = \"main\"\nshared_mailboxes = [{one}]\n"),
            1,
        );
    let site = crate::support::site(&env.sim, &text, &env.dir);
    let client = sync::client_for_site(&site).expect("client");
    let r = sync::run_job(env.store.clone(), &client, &site, SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.log);
    assert!(
        r.log
            .iter()
            .any(|l| l.contains("shared mailbox list changed")),
        "{:#?}",
        r.log
    );
    assert_eq!(
        r.contacts.company.deleted as usize,
        both.len() - first_only.len()
    );
    assert_eq!(env.phonebook(&PhonebookKind::Company).await, first_only);
}

/// Jobs cut off at several points (the job's future dropped mid-flight, transactions rolled
/// back as after a crash), with changes between them; one job run to its end then leaves the
/// store exactly equal to the tenant: no duplicates, no losses.
#[tokio::test]
async fn jobs_cut_off_midway_then_one_run_to_the_end_is_exact() {
    let sim = crate::support::sim(None, 40).await;
    let t = graph_sim::control::snapshot(&sim.state);
    let (group, users) = crate::generated::oracle(&t);
    let synced: Vec<String> = users.keys().cloned().collect();
    let env = Env::new(sim, &format!("group_id = \"{group}\""), REST, false).await;
    // Slow enough that every time-out below falls inside a job: contact reads, and the $batch
    // requests resumed delta rounds and probes travel in.
    for path in ["/v1.0/users/*/contactFolders/**", "/v1.0/$batch"] {
        let (s, _) = env
            .call_json(
                Method::POST,
                "/_sim/faults/rules",
                Some(json!({"path": path,
                            "latency": {"kind": "uniform", "min": 40, "max": 80}})),
                true,
            )
            .await;
        assert_eq!(s, 200, "{path}");
    }
    let (s, _) = env
        .call_json(
            Method::PATCH,
            "/_sim/behaviour",
            Some(json!({"outlookDeltaMaxPageSize": 3})),
            true,
        )
        .await;
    assert_eq!(s, 200);
    let mut cut = 0;
    for (i, ms) in [150u64, 400, 250, 700, 1000].into_iter().enumerate() {
        let job = env.run_all(SyncOptions::default());
        if tokio::time::timeout(std::time::Duration::from_millis(ms), job)
            .await
            .is_err()
        {
            cut += 1;
        }
        // A change between the cuts: one synced user's first contact goes.
        let snap = graph_sim::control::snapshot(&env.sim.state);
        if let Some((id, contact)) = snap
            .users
            .iter()
            .filter(|r| synced.contains(&r.user.user.id))
            .filter(|r| r.user.mailbox != graph_sim::model::MailboxKind::None)
            .filter_map(|r| {
                let c = r.mailbox_data.as_ref()?.contacts.get(i)?;
                Some((r.user.user.id.clone(), c.id.clone()))
            })
            .nth(i)
        {
            let s = env
                .call(
                    Method::DELETE,
                    &format!("/_sim/mailboxes/{id}/contacts/{contact}"),
                    None,
                    true,
                )
                .await;
            assert!((200..300).contains(&s), "{s}");
        }
    }
    assert!(cut >= 3, "only {cut} jobs were cut off");
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        env.run_all(SyncOptions::default()),
    )
    .await
    .expect("the job after the cut-off ones ends");
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.warnings);
    let want = expected(&graph_sim::control::snapshot(&env.sim.state), &synced, &[]);
    check(&env, &want).await;
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
}

/// The shared mailboxes need no extension: they are read while the users part runs, not
/// after it. With the users' delta chain slowed to many short pages, the shared mailbox's
/// first request is answered before the chain's last page.
#[tokio::test]
async fn shared_mailboxes_are_read_while_the_users_part_runs() {
    let sim = crate::support::sim(None, 40).await;
    let t = graph_sim::control::snapshot(&sim.state);
    let (group, _) = crate::generated::oracle(&t);
    let shared = t
        .users
        .iter()
        .filter(|r| r.user.mailbox == graph_sim::model::MailboxKind::Shared)
        .find_map(|r| r.user.user.user_principal_name.clone())
        .expect("the generated tenant has a shared mailbox");
    let env = Env::with_config(
        sim,
        &format!("group_id = \"{group}\""),
        REST,
        false,
        |text| {
            text.replacen(
                "name = \"main\"\n",
                &format!("name = \"main\"\nshared_mailboxes = [\"{shared}\"]\n"),
                1,
            )
        },
    )
    .await;
    let (s, _) = env
        .call_json(
            Method::PATCH,
            "/_sim/behaviour",
            Some(json!({"directoryDeltaPageSize": 4})),
            true,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = env
        .call_json(
            Method::POST,
            "/_sim/faults/rules",
            Some(json!({"path": "/v1.0/users/delta", "latency": {"kind": "fixed", "ms": 40}})),
            true,
        )
        .await;
    assert_eq!(s, 200);

    let r = env.run_all(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:#?}", r.error, r.warnings);
    assert!(r.contacts.company.created > 0, "{:?}", r.contacts);

    let (s, seen) = env
        .call_json(Method::GET, "/_sim/requests", None, true)
        .await;
    assert_eq!(s, 200);
    let urls: Vec<&str> = seen["recent"]
        .as_array()
        .expect("recent requests")
        .iter()
        .filter_map(|r| r["url"].as_str())
        .collect();
    let local = shared.split('@').next().unwrap_or_default();
    let users_pages: Vec<usize> = urls
        .iter()
        .enumerate()
        .filter(|(_, u)| u.contains("/users/delta"))
        .map(|(i, _)| i)
        .collect();
    assert!(users_pages.len() >= 5, "a chain of users pages: {urls:#?}");
    let first_shared = urls
        .iter()
        .position(|u| u.contains(local) && u.contains("contact"))
        .expect("the shared mailbox was read");
    assert!(
        first_shared < users_pages[users_pages.len() - 1],
        "the shared mailbox was read only after the users part: {urls:#?}"
    );
}
