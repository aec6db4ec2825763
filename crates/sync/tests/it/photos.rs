//! Photos → avatars: downloaded once, then only when `@odata.mediaEtag` changes; a removed
//! photo clears the avatar. Requests counted by the emulator's own log.

use crate::departments::{PHONES, REST};
use crate::support::Env;
use graph_sim::tenant_file::TenantFile;
use serde_json::{json, Value};
use sync::SyncOptions;

const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";

fn tenant() -> TenantFile {
    let user = |id: &str, name: &str, upn: &str| {
        json!({"id": id, "displayName": name, "userPrincipalName": upn, "mail": upn,
               "accountEnabled": true, "userType": "Member",
               "assignedLicenses": [{"skuId": SKU, "disabledPlans": []}]})
    };
    let mut ann = user(ANN, "Ann Lee", "ann@contoso.com");
    // Bytes 01 02 03 04.
    ann["photo"] =
        json!({"contentType": "image/jpeg", "size": 240, "etag": "\"A1B2\"", "bytes": "AQIDBA=="});
    let mut bob = user(BOB, "Bob Berg", "bob@contoso.com");
    bob["photo"] =
        json!({"contentType": "image/jpeg", "size": 96, "etag": "\"B0B0\"", "bytes": "CQgH"});
    let t = json!({
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "domain": "contoso.onmicrosoft.com",
        "displayName": "Contoso",
        "users": [ann, bob,
                  user("aaaaaaaa-0000-4000-8000-000000000003", "Cara Diaz", "cara@contoso.com")],
        "groups": [{"id": PHONES, "displayName": "Phones", "securityEnabled": true,
                    "mailEnabled": false,
                    "members": [ANN, BOB, "aaaaaaaa-0000-4000-8000-000000000003"]}],
    });
    serde_json::from_value(t).expect("tenant file")
}

/// `GET` requests for photo bytes and photo metadata (inside `$batch` calls, which the
/// emulator logs too), and `$batch` calls, since the log was last cleared.
async fn photo_requests(env: &Env) -> (u64, u64, u64) {
    let http = reqwest::Client::new();
    let url = format!("{}/_sim/requests", env.sim.http_url());
    let log: Value = http
        .get(&url)
        .header("x-sim-key", &env.sim.credentials.admin_key)
        .send()
        .await
        .expect("request log")
        .json()
        .await
        .expect("json");
    let count = |suffix: &str| {
        log["byEndpoint"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.ends_with(suffix))
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    let counts = (
        count("GET /v1.0/users/{id}/photo/$value"),
        count("GET /v1.0/users/{id}/photo"),
        count("POST /v1.0/$batch"),
    );
    let cleared = http
        .delete(&url)
        .header("x-sim-key", &env.sim.credentials.admin_key)
        .send()
        .await
        .expect("clear log");
    assert!(cleared.status().is_success());
    counts
}

async fn put_photo(env: &Env, user: &str, content_type: &str, bytes: Vec<u8>) {
    let resp = reqwest::Client::new()
        .put(format!("{}/_sim/users/{user}/photo", env.sim.http_url()))
        .header("x-sim-key", &env.sim.credentials.admin_key)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("put photo");
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn photos(env: &Env) -> sync::PhotosReport {
    let client = sync::client_for_site(&env.site).expect("client");
    sync::run_photos_job(
        env.store.clone(),
        &client,
        &env.site,
        SyncOptions::default(),
    )
    .await
}

fn counts(r: &sync::PhotosReport) -> (u64, u64, u64, u64, u64) {
    let c = r.counts;
    (c.fetched, c.unchanged, c.cleared, c.without, c.failed)
}

async fn photos_on(postgres: bool) {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &format!("group_id = \"{PHONES}\""),
        REST,
        postgres,
    )
    .await;
    let site = directory::SiteId::new("main").expect("site");
    // Before any users sync: nothing to do, and no error.
    let r = photos(&env).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.counts.checked, 0);

    assert!(env.run(SyncOptions::default()).await.succeeded);
    photo_requests(&env).await;

    // First run: both photos downloaded, Cara has none.
    let r = photos(&env).await;
    assert!(r.succeeded, "{:?} {:?}", r.error, r.log);
    assert_eq!(counts(&r), (2, 0, 0, 1, 0));
    assert_eq!(photo_requests(&env).await, (2, 3, 1));
    let ann = env.store.get_avatar(&site, ANN).await.expect("store");
    assert_eq!(
        ann,
        Some(store::Avatar {
            content_type: "image/jpeg".into(),
            etag: "\"A1B2\"".into(),
            bytes: vec![1, 2, 3, 4],
        })
    );
    let bob = env.store.get_avatar(&site, BOB).await.expect("store");
    assert_eq!(bob.map(|a| a.bytes), Some(vec![9, 8, 7]));
    let jobs = env.store.list_jobs(&site, 10).await.expect("jobs");
    assert_eq!(jobs[0].kind, store::JobKind::Photos);
    assert_eq!(jobs[0].counts["photos"]["fetched"], 2);

    // Nothing changed: metadata only, no image downloaded.
    let r = photos(&env).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(counts(&r), (0, 2, 0, 1, 0));
    assert_eq!(photo_requests(&env).await, (0, 3, 1));

    // The users job keeps the etags: a delta run changes nothing.
    let u = env.run(SyncOptions::default()).await;
    assert!(u.succeeded);
    assert_eq!((u.counts.updated, u.counts.unchanged), (0, 3));

    // Ann's photo changes, Bob's is removed (neither visible in users/delta).
    put_photo(&env, ANN, "image/png", vec![0x89, b'P', b'N', b'G']).await;
    let del = reqwest::Client::new()
        .delete(format!("{}/_sim/users/{BOB}/photo", env.sim.http_url()))
        .header("x-sim-key", &env.sim.credentials.admin_key)
        .send()
        .await
        .expect("delete photo");
    assert!(del.status().is_success());
    photo_requests(&env).await;
    let r = photos(&env).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(counts(&r), (1, 0, 1, 1, 0));
    assert_eq!(
        photo_requests(&env).await,
        (1, 3, 1),
        "Ann's new photo, once"
    );
    let ann = env
        .store
        .get_avatar(&site, ANN)
        .await
        .expect("store")
        .expect("ann");
    assert_eq!(ann.content_type, "image/png");
    assert_eq!(ann.bytes, vec![0x89, b'P', b'N', b'G']);
    let ext = env
        .store
        .get_extension_by_user(&site, ANN)
        .await
        .expect("store")
        .expect("ext");
    assert_eq!(ext.photo_etag.as_deref(), Some(ann.etag.as_str()));
    assert_ne!(ann.etag, "\"A1B2\"");
    assert_eq!(env.store.get_avatar(&site, BOB).await.expect("store"), None);
    let bob = env
        .store
        .get_extension_by_user(&site, BOB)
        .await
        .expect("store")
        .expect("ext");
    assert_eq!(bob.photo_etag, None);

    // And then again nothing.
    let r = photos(&env).await;
    assert_eq!(counts(&r), (0, 1, 0, 2, 0));
    assert_eq!(photo_requests(&env).await, (0, 3, 1));

    // `full` downloads every photo whatever its etag.
    let client = sync::client_for_site(&env.site).expect("client");
    let r = sync::run_photos_job(
        env.store.clone(),
        &client,
        &env.site,
        SyncOptions {
            full: true,
            ..SyncOptions::default()
        },
    )
    .await;
    assert_eq!(counts(&r), (1, 0, 0, 2, 0));
    assert_eq!(photo_requests(&env).await, (1, 3, 1));
    env.cleanup().await;
}

#[tokio::test]
async fn photos_are_fetched_only_when_their_etag_changes_sqlite() {
    photos_on(false).await;
}

#[tokio::test]
async fn photos_are_fetched_only_when_their_etag_changes_postgres() {
    photos_on(true).await;
}

#[tokio::test]
async fn a_photo_that_cannot_be_read_fails_the_job_and_keeps_the_avatar() {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &format!("group_id = \"{PHONES}\""),
        REST,
        false,
    )
    .await;
    let site = directory::SiteId::new("main").expect("site");
    assert!(env.run(SyncOptions::default()).await.succeeded);
    assert!(photos(&env).await.succeeded);
    put_photo(&env, ANN, "image/png", vec![7, 7, 7]).await;
    // Ann's photo bytes answer 500 every time (the client's retries give up).
    let rule = json!({"path": format!("/v1.0/users/{ANN}/photo/$value"), "method": "GET",
                      "errorRate": 1.0, "errorStatus": 500});
    let status = env
        .call(
            reqwest::Method::POST,
            "/_sim/faults/rules",
            Some(rule),
            true,
        )
        .await;
    assert!((200..300).contains(&status), "{status}");
    let r = photos(&env).await;
    assert!(!r.succeeded);
    assert_eq!(r.counts.failed, 1);
    assert!(r.warnings[0].contains("Ann Lee"), "{:?}", r.warnings);
    assert!(r
        .error
        .as_deref()
        .is_some_and(|e| e.contains("1 photo(s) could not be read")));
    let ann = env
        .store
        .get_avatar(&site, ANN)
        .await
        .expect("store")
        .expect("kept");
    assert_eq!(ann.bytes, vec![1, 2, 3, 4]);
    let jobs = env.store.list_jobs(&site, 1).await.expect("jobs");
    assert_eq!(jobs[0].status, store::JobStatus::Failed);
}
