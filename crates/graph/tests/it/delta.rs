//! Delta rounds: noisy pages, incremental rounds, removals, resets.

use crate::common::{admin, client, sim, tenant, user_ids};
use graph::delta::{DeltaChange, DeltaOptions, DeltaOutcome, DeltaRound, RemovedReason};
use graph::models::{Contact, Group, User};
use graph::{GraphClient, Request};
use reqwest::Method;
use serde_json::json;

const USERS_DELTA: &str = "/users/delta?$select=id,displayName,jobTitle,businessPhones";

async fn round(c: &GraphClient, link: Option<&str>) -> DeltaOutcome<User> {
    DeltaRound::<User>::new(c, USERS_DELTA, link, DeltaOptions::default())
        .run()
        .await
        .expect("delta round")
}

fn complete<T>(o: DeltaOutcome<T>) -> (Vec<DeltaChange<T>>, String) {
    match o {
        DeltaOutcome::Complete {
            changes,
            delta_link,
        } => (changes, delta_link),
        DeltaOutcome::Reset { restart_url } => panic!("unexpected reset to {restart_url}"),
    }
}

#[tokio::test]
async fn users_delta_survives_duplicates_empty_pages_and_shuffling() {
    let sim = sim(400).await;
    let (s, body) = admin(
        &sim,
        Method::PATCH,
        "/_sim/behaviour",
        Some(
            json!({"deltaDuplicateRate": 0.3, "deltaEmptyPageRate": 0.5, "deltaShuffleRate": 1.0}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let c = client(&sim);
    let (changes, link) = complete(round(&c, None).await);
    let mut ids: Vec<String> = changes
        .iter()
        .map(|ch| match ch {
            DeltaChange::Upsert(u) => u.id.clone(),
            DeltaChange::Removed { id, .. } => panic!("initial round removed {id}"),
        })
        .collect();
    ids.sort();
    assert_eq!(ids, user_ids(&sim).await);

    // One change and one deletion → the next round holds exactly those two.
    let (s, _) = admin(
        &sim,
        Method::POST,
        &format!(
            "/_sim/apps/{}/roles/User.ReadWrite.All",
            sim.credentials.client_id
        ),
        None,
    )
    .await;
    assert!(s == 200 || s == 204);
    c.tokens().invalidate().await;
    let (changed, deleted) = (ids[3].clone(), ids[9].clone());
    c.send(graph::http::Request::new(
        Method::PATCH,
        format!("/users/{changed}"),
        Some(json!({"jobTitle": "Head of Telephony"})),
    ))
    .await
    .expect("patch");
    c.send(Request::new(
        Method::DELETE,
        format!("/users/{deleted}"),
        None,
    ))
    .await
    .expect("delete");
    // With return=minimal only the changed property comes (the link stays usable).
    let minimal = DeltaOptions {
        return_minimal: true,
        ..DeltaOptions::default()
    };
    let (changes, _) = complete(
        DeltaRound::<User>::new(&c, USERS_DELTA, Some(&link), minimal)
            .run()
            .await
            .expect("minimal round"),
    );
    let slim = changes
        .iter()
        .find_map(|ch| match ch {
            DeltaChange::Upsert(u) if u.id == changed => Some(u),
            _ => None,
        })
        .expect("the change, minimal");
    assert_eq!(slim.job_title.as_deref(), Some("Head of Telephony"));
    assert_eq!(slim.display_name, None);

    let (changes, next_link) = complete(round(&c, Some(&link)).await);
    assert_eq!(changes.len(), 2, "{changes:?}");
    let upsert = changes
        .iter()
        .find_map(|ch| match ch {
            DeltaChange::Upsert(u) => Some(u),
            _ => None,
        })
        .expect("the change");
    assert_eq!(upsert.id, changed);
    assert_eq!(upsert.job_title.as_deref(), Some("Head of Telephony"));
    assert!(changes.contains(&DeltaChange::Removed {
        id: deleted,
        reason: RemovedReason::Changed
    }));

    // Nothing changed since: an empty round.
    let (changes, _) = complete(round(&c, Some(&next_link)).await);
    assert_eq!(changes, Vec::new());
}

#[tokio::test]
async fn an_expired_delta_link_resets_the_scope() {
    let sim = sim(20).await;
    let c = client(&sim);
    let (_, link) = complete(round(&c, None).await);
    sim.state.clock.advance(chrono::Duration::days(8));
    let restart = match round(&c, Some(&link)).await {
        DeltaOutcome::Reset { restart_url } => restart_url,
        other => panic!("expected a reset, got {other:?}"),
    };
    assert!(restart.contains("/users/delta"), "{restart}");
    let (changes, _) = complete(
        DeltaRound::<User>::new(&c, &restart, None, DeltaOptions::default())
            .run()
            .await
            .expect("restarted round"),
    );
    assert_eq!(changes.len(), user_ids(&sim).await.len());
}

#[tokio::test]
async fn outlook_contacts_delta_with_immutable_ids_and_reset() {
    let sim = sim(20).await;
    let t = tenant(&sim).await;
    let mailbox = t["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| {
            u["mailbox"] == "user"
                && u["mailboxData"]["contacts"]
                    .as_array()
                    .is_some_and(|c| c.len() >= 3)
        })
        .expect("a mailbox with contacts");
    let uid = mailbox["id"].as_str().expect("id");
    let folder = mailbox["mailboxData"]["defaultFolderId"]
        .as_str()
        .expect("folder");
    let in_folder: Vec<&str> = mailbox["mailboxData"]["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .filter(|c| c["parentFolderId"] == folder)
        .filter_map(|c| c["id"].as_str())
        .collect();
    let c = client(&sim);
    let scope = format!("/users/{uid}/contactFolders/{folder}/contacts/delta");
    let mut opts = DeltaOptions::outlook();
    opts.max_page_size = Some(2);
    let (changes, link) = complete(
        DeltaRound::<Contact>::new(&c, &scope, None, opts.clone())
            .run()
            .await
            .expect("contacts delta"),
    );
    assert_eq!(changes.len(), in_folder.len());
    for ch in &changes {
        match ch {
            DeltaChange::Upsert(contact) => assert!(
                contact
                    .id
                    .starts_with(graph_sim::outlook::ids::IMMUTABLE_PREFIX),
                "not an immutable id: {}",
                contact.id
            ),
            other => panic!("initial round removed {other:?}"),
        }
    }

    // The mailbox forgets its sync state: the old link answers 410 and we start over.
    let (s, _) = admin(
        &sim,
        Method::POST,
        &format!("/_sim/mailboxes/{uid}/reset-sync-state"),
        None,
    )
    .await;
    assert!(s == 200 || s == 204);
    match DeltaRound::<Contact>::new(&c, &scope, Some(&link), opts)
        .run()
        .await
        .expect("round")
    {
        DeltaOutcome::Reset { restart_url } => {
            assert!(restart_url.contains("/contacts/delta"), "{restart_url}")
        }
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[tokio::test]
async fn group_delta_carries_member_changes() {
    let sim = sim(30).await;
    let t = tenant(&sim).await;
    let c = client(&sim);
    let (changes, _) = complete(
        DeltaRound::<Group>::new(
            &c,
            "/groups/delta?$select=displayName,members",
            None,
            DeltaOptions::default(),
        )
        .run()
        .await
        .expect("groups delta"),
    );
    let groups = t["groups"].as_array().expect("groups");
    assert_eq!(changes.len(), groups.len());
    for g in groups {
        let expected = g["members"].as_array().map(Vec::len).unwrap_or(0);
        let got = changes
            .iter()
            .find_map(|ch| match ch {
                DeltaChange::Upsert(x) if x.id == g["id"] => Some(x),
                _ => None,
            })
            .expect("group in the round");
        let members = got.members_delta.as_deref().unwrap_or_default();
        assert_eq!(members.len(), expected, "{}", g["displayName"]);
        assert!(members.iter().all(|m| !m.is_removal()));
    }
}
