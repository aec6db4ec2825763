//! A small tenant written out in full, with every expected extension stated literally.

use crate::support::{summary, Env};
use graph_sim::tenant_file::TenantFile;
use reqwest::Method;
use serde_json::json;
use sync::SyncOptions;

const GROUP: &str = "99999999-0000-4000-8000-000000000001";
const SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const CARA: &str = "aaaaaaaa-0000-4000-8000-000000000003";

fn user(id: &str, name: &str, upn: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut u = json!({
        "id": id, "displayName": name, "userPrincipalName": upn, "mail": upn,
        "accountEnabled": true, "userType": "Member",
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
            user(ANN, "Ann Lee", "ann@contoso.com", json!({"businessPhones": ["+49 30 1234 150"], "surname": "Lee", "givenName": "Ann"})),
            user(BOB, "Bob Berg", "bob@contoso.com", json!({"businessPhones": ["030 9876543"]})),
            user(CARA, "Cara Diaz", "cara@contoso.com", json!({"mobilePhone": "+49 151 23456789", "businessPhones": ["+49 30 1234 250"]})),
            user("aaaaaaaa-0000-4000-8000-000000000004", "Gil Guest", "gil_ext#EXT#@contoso.onmicrosoft.com", json!({"userType": "Guest"})),
            user("aaaaaaaa-0000-4000-8000-000000000005", "Room 1", "room1@contoso.com", json!({"accountEnabled": false, "assignedLicenses": []})),
            user("aaaaaaaa-0000-4000-8000-000000000006", "Dan Gone", "dan@contoso.com", json!({"accountEnabled": false})),
            user("aaaaaaaa-0000-4000-8000-000000000007", "Eve Extra", "eve@contoso.com", json!({"businessPhones": ["+49 30 1234 199"]})),
            user("aaaaaaaa-0000-4000-8000-000000000008", "Fred Never", "fred@contoso.com", json!({})),
            user("aaaaaaaa-0000-4000-8000-000000000009", "Hal Outside", "hal@contoso.com", json!({})),
        ],
        "groups": [{
            "id": GROUP, "displayName": "Phones", "securityEnabled": true, "mailEnabled": false,
            "members": [ANN, BOB, CARA,
                "aaaaaaaa-0000-4000-8000-000000000004", "aaaaaaaa-0000-4000-8000-000000000005",
                "aaaaaaaa-0000-4000-8000-000000000006", "aaaaaaaa-0000-4000-8000-000000000008"]
        }],
    });
    serde_json::from_value(t).expect("tenant file")
}

fn users_toml() -> String {
    format!(
        "group_id = \"{GROUP}\"\ninclude_upns = [\"eve@contoso.com\"]\nexclude_upns = [\"fred@contoso.com\"]"
    )
}

const REST: &str = "[site.extensions]\nfirst_number = 100\nlength = 3\nquarantine_days = 30\n\n[site.deprovisioning]\npolicy = \"disable\"\n\n[site.guards]\nmass_deletion_percent = 50\nmass_deletion_min = 2\n";

fn expected() -> Vec<(String, String, Option<String>, bool)> {
    vec![
        (
            "100".into(),
            "Ann Lee".into(),
            Some("+49301234150".into()),
            true,
        ),
        ("101".into(), "Bob Berg".into(), None, true),
        ("102".into(), "Cara Diaz".into(), None, true),
        (
            "103".into(),
            "Eve Extra".into(),
            Some("+49301234199".into()),
            true,
        ),
    ]
}

async fn full_sync_on(postgres: bool) {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        postgres,
    )
    .await;
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:?}", r.error, r.log);
    assert!(r.full);
    assert_eq!(
        (r.counts.created, r.counts.updated, r.counts.disabled),
        (4, 0, 0)
    );
    assert_eq!(summary(&env.extensions().await), expected());
    let cara = env
        .extensions()
        .await
        .into_iter()
        .find(|e| e.user_id == CARA)
        .expect("cara");
    assert_eq!(
        cara.mobile
            .and_then(|m| m.e164)
            .map(|e| e.as_str().to_string())
            .as_deref(),
        Some("+4915123456789")
    );

    // Recorded in the history.
    let site = directory::SiteId::new("main").expect("id");
    let jobs = env.store.list_jobs(&site, 10).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, store::JobStatus::Succeeded);
    assert_eq!(jobs[0].counts["extensions"]["created"], 4);
    assert_eq!(jobs[0].requests, r.requests);
    // One delta page and one member page.
    assert_eq!(r.requests, 2);

    // Nothing changed: a delta run changes nothing and keeps the numbers.
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert!(!r.full);
    assert_eq!(
        (r.counts.created, r.counts.updated, r.counts.unchanged),
        (0, 0, 4)
    );
    assert_eq!(summary(&env.extensions().await), expected());
    env.cleanup().await;
}

#[tokio::test]
async fn full_sync_sqlite() {
    full_sync_on(false).await;
}

#[tokio::test]
async fn full_sync_postgres() {
    full_sync_on(true).await;
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    let r = env
        .run(SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.job, None);
    assert_eq!(
        r.plan,
        vec![
            "create (new) Ann Lee (ann@contoso.com)",
            "create (new) Bob Berg (bob@contoso.com)",
            "create (new) Cara Diaz (cara@contoso.com)",
            "create (new) Eve Extra (eve@contoso.com)",
        ]
    );
    assert!(env.extensions().await.is_empty());
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_jobs(&site, 10)
        .await
        .unwrap_or_default()
        .is_empty());
    assert_eq!(
        env.store
            .get_delta_token(&site, &store::ScopeKey::users())
            .await
            .expect("token"),
        None
    );
}

#[tokio::test]
async fn patch_then_delta_applies_exactly_that_change() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    env.grant("User.ReadWrite.All").await;
    let status = env
        .call(
            Method::PATCH,
            &format!("/v1.0/users/{ANN}"),
            Some(json!({"displayName": "Ann Lee-Smith", "surname": "Lee-Smith"})),
            false,
        )
        .await;
    assert_eq!(status, 204);
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(
        (r.counts.created, r.counts.updated, r.counts.unchanged),
        (0, 1, 3)
    );
    assert_eq!(r.plan, vec!["update 100 Ann Lee-Smith (ann@contoso.com)"]);
    let mut want = expected();
    want[0].1 = "Ann Lee-Smith".into();
    assert_eq!(summary(&env.extensions().await), want);
    let ann = env
        .extensions()
        .await
        .into_iter()
        .find(|e| e.user_id == ANN)
        .expect("ann");
    assert_eq!(ann.surname.as_deref(), Some("Lee-Smith"));
}

#[tokio::test]
async fn removed_from_group_is_disabled_then_deleted_per_policy() {
    let rest = REST.replace(
        "policy = \"disable\"",
        "policy = \"delete_after_days\"\ndays = 1",
    );
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        &rest,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    env.grant("Group.ReadWrite.All").await;
    let status = env
        .call(
            Method::DELETE,
            &format!("/v1.0/groups/{GROUP}/members/{BOB}/$ref"),
            None,
            false,
        )
        .await;
    assert_eq!(status, 204);

    // Removed: disabled now, deletion pending for a day.
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(
        (
            r.counts.disabled,
            r.counts.pending_deletion,
            r.counts.deleted
        ),
        (1, 1, 0)
    );
    let mut want = expected();
    want[1].3 = false;
    assert_eq!(summary(&env.extensions().await), want);

    // A day later the deletion is applied: the number is released.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let r = env
        .run(SyncOptions {
            now: later,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!((r.counts.disabled, r.counts.deleted), (0, 1));
    let mut want = expected();
    want.remove(1);
    assert_eq!(summary(&env.extensions().await), want);
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());
}

#[tokio::test]
async fn consent_revoked_fails_with_the_consent_url_and_deletes_nothing() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    let path = format!("/_sim/apps/{}/consent", env.sim.credentials.client_id);
    assert!((200..300).contains(&env.call(Method::DELETE, &path, None, true).await));
    env.sim.state.clock.advance(chrono::Duration::hours(2));
    let r = env.run(SyncOptions::default()).await;
    assert!(!r.succeeded);
    let err = r.error.expect("error");
    let url = format!(
        "{}/{}/adminconsent?client_id={}",
        env.sim.http_url(),
        env.sim.credentials.tenant_id,
        env.sim.credentials.client_id
    );
    assert!(
        err.starts_with(&format!("admin consent missing or revoked: open {url}")),
        "{err}"
    );
    assert_eq!(summary(&env.extensions().await), expected());
    let site = directory::SiteId::new("main").expect("id");
    let jobs = env.store.list_jobs(&site, 10).await.expect("jobs");
    assert_eq!(jobs[0].status, store::JobStatus::Failed);
    assert_eq!(jobs[0].errors, 1);
}

#[tokio::test]
async fn missing_permission_is_named_before_reading() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    let path = format!(
        "/_sim/apps/{}/roles/Group.Read.All",
        env.sim.credentials.client_id
    );
    assert!((200..300).contains(&env.call(Method::DELETE, &path, None, true).await));
    let r = env.run(SyncOptions::default()).await;
    assert!(!r.succeeded);
    let err = r.error.expect("error");
    assert!(err.starts_with("the app lacks the application permission(s) Group.Read.All: add them in Entra admin centre"), "{err}");
    assert_eq!(r.requests, 0, "nothing read");
    assert!(env.extensions().await.is_empty());
}

#[tokio::test]
async fn changed_selection_forces_a_full_read() {
    let mut env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    // Bob is now excluded: the fingerprint changes, the users token is dropped.
    let users = users_toml().replace(
        "[\"fred@contoso.com\"]",
        "[\"fred@contoso.com\", \"bob@contoso.com\"]",
    );
    env.site = crate::support::site(
        &env.sim,
        &crate::support::config_text(&env.sim, &users, REST),
        &env.dir,
    );
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert!(r.full);
    assert_eq!(
        (
            r.counts.created,
            r.counts.updated,
            r.counts.disabled,
            r.counts.unchanged
        ),
        (0, 0, 1, 3)
    );
    let mut want = expected();
    want[1].3 = false;
    assert_eq!(summary(&env.extensions().await), want);
}

#[tokio::test]
async fn user_back_before_the_delay_keeps_the_extension() {
    let rest = REST.replace(
        "policy = \"disable\"",
        "policy = \"delete_after_days\"\ndays = 1",
    );
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        &rest,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    env.grant("Group.ReadWrite.All").await;
    for id in [BOB, CARA] {
        let path = format!("/v1.0/groups/{GROUP}/members/{id}/$ref");
        assert_eq!(env.call(Method::DELETE, &path, None, false).await, 204);
    }
    let r = env.run(SyncOptions::default()).await;
    assert_eq!(
        (r.counts.disabled, r.counts.pending_deletion),
        (2, 2),
        "{:?}",
        r.error
    );

    // Bob comes back: enabled again with his number; Cara's deletion still goes ahead.
    let body = serde_json::json!({ "@odata.id": format!("{}/v1.0/directoryObjects/{BOB}", env.sim.http_url()) });
    let path = format!("/v1.0/groups/{GROUP}/members/$ref");
    assert_eq!(env.call(Method::POST, &path, Some(body), false).await, 204);
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.counts.updated, 1);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let r = env
        .run(SyncOptions {
            now: later,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.counts.deleted, 1);
    let mut want = expected();
    want.remove(2);
    assert_eq!(summary(&env.extensions().await), want);
}

#[tokio::test]
async fn licence_scope_selects_the_holders() {
    let users = users_toml().replace(
        &format!("group_id = \"{GROUP}\""),
        &format!("licence_sku_id = \"{SKU}\""),
    );
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users,
        REST,
        false,
    )
    .await;
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    let mut want = expected();
    want.push(("104".into(), "Hal Outside".into(), None, true));
    assert_eq!(summary(&env.extensions().await), want);
}

#[tokio::test]
async fn expired_delta_token_rereads_all_and_removes_the_missing() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        false,
    )
    .await;
    assert!(env.run(SyncOptions::default()).await.succeeded);
    env.grant("User.ReadWrite.All").await;
    assert_eq!(
        env.call(Method::DELETE, &format!("/v1.0/users/{ANN}"), None, false)
            .await,
        204
    );
    // Directory delta tokens last 7 days in the emulator (as in Graph).
    env.sim.state.clock.advance(chrono::Duration::days(8));
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert!(r.full);
    assert!(
        r.log
            .iter()
            .any(|l| l == "Graph dropped the users delta token: reading all users again"),
        "{:?}",
        r.log
    );
    assert_eq!(
        (r.counts.created, r.counts.disabled, r.counts.unchanged),
        (0, 1, 3)
    );
    let mut want = expected();
    want[0].3 = false;
    assert_eq!(summary(&env.extensions().await), want);
}
