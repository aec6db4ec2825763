//! Departments from M365 groups: names written out literally, a "Sales 2" suffix, a nested
//! group, and membership changes read through `groups/delta`.

use crate::support::Env;
use graph_sim::tenant_file::TenantFile;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use sync::SyncOptions;

pub(crate) const PHONES: &str = "99999999-0000-4000-8000-000000000001";
const SALES_A: &str = "99999999-0000-4000-8000-000000000010";
const SALES_B: &str = "99999999-0000-4000-8000-000000000011";
const TEAM: &str = "99999999-0000-4000-8000-000000000012";
const ALL: &str = "99999999-0000-4000-8000-000000000013";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const CARA: &str = "aaaaaaaa-0000-4000-8000-000000000003";
const EVE: &str = "aaaaaaaa-0000-4000-8000-000000000004";
const SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";

fn user(id: &str, name: &str, upn: &str, department: Option<&str>) -> serde_json::Value {
    let mut u = json!({
        "id": id, "displayName": name, "userPrincipalName": upn, "mail": upn,
        "accountEnabled": true, "userType": "Member",
        "assignedLicenses": [{"skuId": SKU, "disabledPlans": []}],
    });
    if let Some(d) = department {
        u["department"] = json!(d);
    }
    u
}

fn group(id: &str, name: &str, members: &[&str]) -> serde_json::Value {
    json!({"id": id, "displayName": name, "securityEnabled": true, "mailEnabled": false,
           "members": members})
}

pub(crate) fn tenant() -> TenantFile {
    let t = json!({
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "domain": "contoso.onmicrosoft.com",
        "displayName": "Contoso",
        "users": [
            // Ann's own attribute says Engineering; the department groups win.
            user(ANN, "Ann Lee", "ann@contoso.com", Some("Engineering")),
            user(BOB, "Bob Berg", "bob@contoso.com", None),
            user(CARA, "Cara Diaz", "cara@contoso.com", Some("Finance")),
            user(EVE, "Eve Extra", "eve@contoso.com", None),
        ],
        "groups": [
            group(PHONES, "Phones", &[ANN, BOB, CARA, EVE]),
            // Two groups named "Sales": the second (by id) becomes "Sales 2".
            group(SALES_A, "Sales", &[ANN]),
            group(SALES_B, "Sales", &[BOB, TEAM]),
            // Not a department itself: its members belong to "Sales 2".
            group(TEAM, "Team North", &[CARA]),
            // Holds "Sales" too; Ann is closer to "Sales", Eve is only here.
            group(ALL, "All Staff", &[EVE, SALES_A]),
        ],
    });
    serde_json::from_value(t).expect("tenant file")
}

pub(crate) fn users_toml() -> String {
    format!(
        "group_id = \"{PHONES}\"\ndepartment_groups = [\"{ALL}\", \"{SALES_B}\", \"{SALES_A}\"]"
    )
}

pub(crate) const REST: &str = "[site.extensions]\nfirst_number = 100\nlength = 3\n";

async fn departments(env: &Env) -> BTreeMap<String, Option<String>> {
    env.extensions()
        .await
        .into_iter()
        .map(|e| (e.display_name, e.department))
        .collect()
}

fn want(rows: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    rows.iter()
        .map(|(n, d)| (n.to_string(), d.map(str::to_string)))
        .collect()
}

async fn departments_on(postgres: bool) {
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users_toml(),
        REST,
        postgres,
    )
    .await;
    // A dry run reads the groups but keeps none of their state.
    let r = env
        .run(SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?} {:?}", r.error, r.log);
    let site = directory::SiteId::new("main").expect("site");
    let scope = sync::departments::scope(SALES_A).expect("scope");
    assert_eq!(
        env.store
            .get_delta_token(&site, &scope)
            .await
            .ok()
            .flatten(),
        None
    );

    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?} {:?}", r.error, r.log);
    assert_eq!(r.counts.created, 4);
    assert!(env
        .store
        .get_delta_token(&site, &scope)
        .await
        .expect("store")
        .is_some());
    assert_eq!(
        departments(&env).await,
        want(&[
            ("Ann Lee", Some("Sales")),
            ("Bob Berg", Some("Sales 2")),
            ("Cara Diaz", Some("Sales 2")),
            ("Eve Extra", Some("All Staff")),
        ])
    );
    assert!(
        r.log
            .iter()
            .any(|l| l == "departments: Sales, Sales 2, All Staff (4 group(s) read, 4 changed, 4 user(s) placed)"),
        "{:?}",
        r.log
    );

    // Nothing changed: one delta request per group, nothing written.
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!((r.counts.updated, r.counts.unchanged), (0, 4));
    // users delta + selection members + 4 groups.
    assert_eq!(r.requests, 6, "{:?}", r.log);

    // In Microsoft 365: Cara leaves the nested group, the first "Sales" is renamed.
    env.grant("Group.ReadWrite.All").await;
    let path = format!("/v1.0/groups/{TEAM}/members/{CARA}/$ref");
    assert_eq!(env.call(Method::DELETE, &path, None, false).await, 204);
    let path = format!("/v1.0/groups/{SALES_A}");
    let body = json!({"displayName": "Marketing"});
    assert_eq!(env.call(Method::PATCH, &path, Some(body), false).await, 204);
    // And Bob joins "All Staff" directly: a direct member of both "All Staff" and "Sales", he
    // gets the name first in alphabetical order.
    let path = format!("/v1.0/groups/{ALL}/members/$ref");
    let body =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{BOB}")});
    assert_eq!(env.call(Method::POST, &path, Some(body), false).await, 204);

    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert!(!r.full, "membership changes need no full read");
    assert_eq!(
        departments(&env).await,
        want(&[
            ("Ann Lee", Some("Marketing")),
            ("Bob Berg", Some("All Staff")),
            ("Cara Diaz", None),
            ("Eve Extra", Some("All Staff")),
        ])
    );
    assert_eq!(
        (r.counts.updated, r.counts.unchanged),
        (3, 1),
        "{:?}",
        r.plan
    );

    // With one "Sales" left, it loses its suffix.
    let path = format!("/v1.0/groups/{ALL}/members/{BOB}/$ref");
    assert_eq!(env.call(Method::DELETE, &path, None, false).await, 204);
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(
        departments(&env).await,
        want(&[
            ("Ann Lee", Some("Marketing")),
            ("Bob Berg", Some("Sales")),
            ("Cara Diaz", None),
            ("Eve Extra", Some("All Staff")),
        ])
    );
    assert_eq!(r.plan, vec!["update 101 Bob Berg (bob@contoso.com)"]);
    env.cleanup().await;
}

#[tokio::test]
async fn departments_from_groups_sqlite() {
    departments_on(false).await;
}

#[tokio::test]
async fn departments_from_groups_postgres() {
    departments_on(true).await;
}

#[tokio::test]
async fn without_department_groups_the_users_attribute_stays() {
    let users = format!("group_id = \"{PHONES}\"");
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users,
        REST,
        false,
    )
    .await;
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(
        departments(&env).await,
        want(&[
            ("Ann Lee", Some("Engineering")),
            ("Bob Berg", None),
            ("Cara Diaz", Some("Finance")),
            ("Eve Extra", None),
        ])
    );
}

#[tokio::test]
async fn an_unknown_department_group_is_a_warning() {
    let unknown = "99999999-0000-4000-8000-0000000000ff";
    let users =
        format!("group_id = \"{PHONES}\"\ndepartment_groups = [\"{SALES_A}\", \"{unknown}\"]");
    let env = Env::new(
        crate::support::sim(Some(tenant()), 0).await,
        &users,
        REST,
        false,
    )
    .await;
    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with(&format!("department group {unknown} is not a group")),
        "{:?}",
        r.warnings
    );
    assert_eq!(
        departments(&env).await,
        want(&[
            ("Ann Lee", Some("Sales")),
            ("Bob Berg", None),
            ("Cara Diaz", None),
            ("Eve Extra", None),
        ])
    );
}
