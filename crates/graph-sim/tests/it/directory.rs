//! Tests of the directory endpoints over real HTTP: users (list, paging, `$select`, `$filter`,
//! `$count`, `$search`, writes), delta (rounds, minimal, removals, expiry, quirks), groups
//! (members, `$ref`, `members@delta`), org contacts, permissions and token expiry.

use crate::common::{assert_graph_error, get, send};
use graph_sim::config::Behaviour;
use graph_sim::model::{
    AssignedLicense, ExtensionAttributes, Group, MailboxKind, OrgContact, Phone, User,
};
use graph_sim::tenant_file::{GroupRecord, TenantFile, UserRecord, UserWithInternals};
use graph_sim::{RunningSim, SimConfig, TenantSource};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SKU: &str = "fd249f8f-dd6a-48bd-981b-b2478377c7e3";

fn uid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000001")
}

fn user(i: usize) -> User {
    User {
        id: uid(i),
        account_enabled: Some(true),
        display_name: Some(format!("Person {i}")),
        given_name: Some("Person".into()),
        surname: Some(format!("{i}")),
        user_principal_name: Some(format!("user{i}@contoso.onmicrosoft.com")),
        mail: Some(format!("user{i}@contoso.com")),
        business_phones: vec![format!("+1 425 555 {:04}", i % 10_000)],
        department: Some(
            if i.is_multiple_of(2) {
                "Sales"
            } else {
                "Support"
            }
            .into(),
        ),
        user_type: Some("Member".into()),
        ..Default::default()
    }
}

fn record(u: User) -> UserRecord {
    UserRecord {
        user: UserWithInternals {
            user: u,
            mailbox: MailboxKind::None,
            photo: None,
        },
        mailbox_data: None,
        presence: None,
    }
}

/// A tenant of `n` plain users plus Ann (licensed, extension attribute, proxy addresses), a
/// synced user, two nested groups and an org contact.
fn tenant(n: usize) -> TenantFile {
    let mut users: Vec<UserRecord> = (0..n).map(|i| record(user(i))).collect();
    users.push(record(User {
        id: "aaaaaaaa-0000-4000-8000-00000000a001".into(),
        display_name: Some("Ann Lee-Smith".into()),
        given_name: Some("Ann".into()),
        surname: Some("Lee-Smith".into()),
        user_principal_name: Some("ann@contoso.onmicrosoft.com".into()),
        mail: None,
        account_enabled: Some(false),
        job_title: Some("Receptionist".into()),
        proxy_addresses: vec!["SMTP:ann@contoso.com".into(), "smtp:al@contoso.com".into()],
        assigned_licenses: vec![AssignedLicense {
            disabled_plans: vec![],
            sku_id: SKU.into(),
        }],
        business_phones: vec!["+1 206 555 0100".into()],
        on_premises_extension_attributes: ExtensionAttributes {
            extension_attribute1: Some("Ext-7".into()),
            ..Default::default()
        },
        user_type: Some("Member".into()),
        ..Default::default()
    }));
    users.push(record(User {
        id: "bbbbbbbb-0000-4000-8000-00000000b001".into(),
        display_name: Some("Synced Sam".into()),
        user_principal_name: Some("sam@contoso.com".into()),
        on_premises_sync_enabled: Some(true),
        user_type: Some("Member".into()),
        ..Default::default()
    }));
    TenantFile {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        domain: "contoso.onmicrosoft.com".into(),
        display_name: "Contoso".into(),
        apps: vec![],
        users,
        groups: vec![
            GroupRecord {
                group: Group {
                    id: "99999999-0000-4000-8000-000000000001".into(),
                    display_name: Some("Sales".into()),
                    security_enabled: Some(true),
                    mail_enabled: Some(false),
                    ..Default::default()
                },
                members: vec![
                    uid(0),
                    "99999999-0000-4000-8000-000000000002".into(),
                    "cccccccc-0000-4000-8000-00000000c001".into(),
                ],
            },
            GroupRecord {
                group: Group {
                    id: "99999999-0000-4000-8000-000000000002".into(),
                    display_name: Some("Sales EMEA".into()),
                    security_enabled: Some(true),
                    mail_enabled: Some(false),
                    ..Default::default()
                },
                members: vec![uid(1)],
            },
        ],
        org_contacts: vec![OrgContact {
            id: "cccccccc-0000-4000-8000-00000000c001".into(),
            display_name: Some("Supplier Desk".into()),
            mail: Some("desk@supplier.example".into()),
            phones: vec![Phone {
                number: Some("+44 20 7946 0000".into()),
                kind: Some("business".into()),
                region: None,
                language: None,
            }],
            ..Default::default()
        }],
    }
}

const ALL_ROLES: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.ReadWrite.All",
    "OrgContact.Read.All",
];

async fn start(n: usize, behaviour: Behaviour) -> (RunningSim, String) {
    let mut cfg = SimConfig::loopback(0, 1);
    cfg.tls_listen = None;
    cfg.tenant = TenantSource::File(Box::new(tenant(n)));
    cfg.behaviour = behaviour;
    let sim = crate::common::sim_with(cfg).await;
    set_roles(&sim, ALL_ROLES);
    let token = sim.app_token();
    (sim, token)
}

fn set_roles(sim: &RunningSim, roles: &[&str]) {
    let mut t = sim.state.tenant.write();
    if let Some(app) = t.apps.get_mut(&sim.credentials.client_id) {
        app.app_roles = roles.iter().map(|r| r.to_string()).collect();
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const EVENTUAL: &[(&str, &str)] = &[("ConsistencyLevel", "eventual")];

async fn get_h(
    sim: &RunningSim,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    send(sim, Method::GET, path, token, None, headers).await
}

/// Follows a delta round to its deltaLink; returns every item and the deltaLink.
async fn delta_round(
    sim: &RunningSim,
    first: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String, usize) {
    let mut url = first.to_string();
    let mut items = Vec::new();
    for pages in 1..=100 {
        let (s, _, body) = get_h(sim, &url, token, headers).await;
        assert_eq!(s, 200, "{body}");
        items.extend(body["value"].as_array().cloned().unwrap_or_default());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("$skiptoken="), "{next}");
            url = next.to_string();
            continue;
        }
        let delta = body["@odata.deltaLink"].as_str().expect("deltaLink");
        assert!(delta.contains("$deltatoken="), "{delta}");
        return (items, delta.to_string(), pages);
    }
    panic!("delta round did not end");
}

#[tokio::test]
async fn users_1500_at_top_999_come_in_two_pages_with_every_id_once() {
    let (sim, token) = start(1500, Behaviour::default()).await;
    let (s, _, first) = get(&sim, "/v1.0/users?$top=999&$select=id,displayName", &token).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["value"].as_array().unwrap().len(), 999);
    assert_eq!(
        first["@odata.context"],
        format!("{}/v1.0/$metadata#users(id,displayName)", sim.http_url())
    );
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.starts_with(&sim.http_url()), "absolute: {next}");
    assert!(next.contains("$top=999") && next.contains("$select=id,displayName"));
    let (s, _, second) = get(&sim, &next, &token).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["value"].as_array().unwrap().len(), 503);
    assert!(second.get("@odata.nextLink").is_none());
    let mut all: Vec<String> = ids(&first);
    all.extend(ids(&second));
    let set: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 1502);
    assert_eq!(set.len(), 1502);
    let (s, _, body) = get(&sim, "/v1.0/users?$skip=5", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "'$skip' is not supported by the service."
    );
    // Default page size is 100.
    let (_, _, page) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 100);
    // $top out of range.
    let (s, _, body) = get(&sim, "/v1.0/users?$top=1000", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_UnsupportedQuery");
    assert_eq!(
        body["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    let (s, _, body) = get(&sim, &format!("{next}x"), &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Directory_ExpiredPageToken");
}

#[tokio::test]
async fn default_property_set_select_and_get_by_upn() {
    let (sim, token) = start(3, Behaviour::default()).await;
    let (s, _, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users", sim.http_url())
    );
    let keys: BTreeSet<String> = body["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let want: BTreeSet<String> = graph_sim::model::USER_DEFAULT_PROPERTIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(keys, want);
    assert!(body["value"][0].get("department").is_none());
    // Graph's key order on the wire: context first, properties businessPhones … id.
    let raw = crate::common::client()
        .get(format!("{}/v1.0/users?$top=1", sim.http_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = |k: &str| raw.find(&format!("\"{k}\"")).unwrap_or(usize::MAX);
    let order: Vec<usize> = [
        "@odata.context",
        "@odata.nextLink",
        "value",
        "businessPhones",
    ]
    .iter()
    .chain(graph_sim::model::USER_DEFAULT_PROPERTIES.iter().skip(1))
    .map(|k| at(k))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");

    let (_, _, body) = get(&sim, "/v1.0/users?$select=department,id", &token).await;
    let keys: Vec<&String> = body["value"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(body["value"][0]["department"], "Sales");

    let (s, _, body) = get(&sim, "/v1.0/users?$select=nope", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Could not find a property named 'nope' on type 'microsoft.graph.user'."
    );
    let (s, _, body) = get(&sim, "/v1.0/users?$select=skills", &token).await;
    assert_eq!(s, 501);
    assert_graph_error(&body, "NotImplemented");
    // Declared but not modelled: null.
    let (s, _, body) = get(&sim, "/v1.0/users?$select=onPremisesSamAccountName", &token).await;
    assert_eq!(s, 200);
    assert!(body["value"][0]["onPremisesSamAccountName"].is_null());

    let (s, _, body) = get(
        &sim,
        "/v1.0/users/ANN@contoso.onmicrosoft.com?$select=id,jobTitle,skills",
        &token,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["jobTitle"], "Receptionist");
    assert_eq!(body["skills"], json!([]));
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,jobTitle,skills)/$entity",
            sim.http_url()
        )
    );
    let (s, _, body) = get(&sim, &format!("/v1.0/users/{}", uid(1)), &token).await;
    assert_eq!(s, 200);
    assert_eq!(body["displayName"], "Person 1");
    let (s, _, body) = get(&sim, "/v1.0/users/nobody@contoso.com", &token).await;
    assert_eq!(s, 404);
    assert_graph_error(&body, "Request_ResourceNotFound");
}

async fn filter_ids(sim: &RunningSim, token: &str, filter: &str, advanced: bool) -> Vec<String> {
    let path = format!(
        "/v1.0/users?$select=id&$filter={}{}",
        urlencode(filter),
        if advanced { "&$count=true" } else { "" }
    );
    let headers: &[(&str, &str)] = if advanced { EVENTUAL } else { &[] };
    let (s, _, body) = get_h(sim, &path, token, headers).await;
    assert_eq!(s, 200, "{filter}: {body}");
    ids(&body)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn filter_forms_and_their_errors() {
    let (sim, token) = start(6, Behaviour::default()).await;
    let ann = "aaaaaaaa-0000-4000-8000-00000000a001".to_string();
    let sam = "bbbbbbbb-0000-4000-8000-00000000b001".to_string();
    let f = |q: &'static str| filter_ids(&sim, &token, q, false);
    assert_eq!(f("displayName eq 'person 2'").await, vec![uid(2)]);
    assert_eq!(f("startsWith(displayName,'ann')").await, vec![ann.clone()]);
    assert_eq!(
        f("id in ('00000001-0000-4000-8000-000000000001', '00000003-0000-4000-8000-000000000001')")
            .await,
        vec![uid(1), uid(3)]
    );
    assert_eq!(
        f("(department eq 'Sales' and startsWith(mail,'user4')) or accountEnabled eq false").await,
        vec![uid(4), ann.clone()]
    );
    assert_eq!(
        f("mail eq null and accountEnabled eq false").await,
        vec![ann.clone()]
    );
    assert_eq!(
        f("proxyAddresses/any(p:startsWith(p,'smtp:al@'))").await,
        vec![ann.clone()]
    );
    assert_eq!(
        f("assignedLicenses/any(x:x/skuId eq fd249f8f-dd6a-48bd-981b-b2478377c7e3)").await,
        vec![ann.clone()]
    );
    assert_eq!(
        f("businessPhones/any(p:p eq '+1 206 555 0100')").await,
        vec![ann.clone()]
    );
    assert_eq!(
        f("onPremisesExtensionAttributes/extensionAttribute1 eq 'ext-7'").await,
        vec![ann.clone()]
    );
    assert_eq!(f("onPremisesSyncEnabled eq true").await, vec![sam.clone()]);

    // Advanced operators need ConsistencyLevel + $count=true.
    for q in [
        "department ne 'Sales'",
        "not(department eq 'Sales')",
        "endsWith(mail,'@contoso.com')",
    ] {
        let (s, _, body) = get(
            &sim,
            &format!("/v1.0/users?$filter={}", urlencode(q)),
            &token,
        )
        .await;
        assert_eq!(s, 400, "{q}");
        assert_graph_error(&body, "Request_UnsupportedQuery");
        let (s, _, body) = get_h(
            &sim,
            &format!("/v1.0/users?$filter={}", urlencode(q)),
            &token,
            EVENTUAL,
        )
        .await;
        assert_eq!(s, 400, "{q} without $count: {body}");
    }
    let sales_ne = filter_ids(&sim, &token, "department ne 'Sales'", true).await;
    assert!(sales_ne.contains(&uid(1)) && !sales_ne.contains(&uid(0)));
    assert_eq!(
        filter_ids(
            &sim,
            &token,
            "endsWith(userPrincipalName,'@contoso.com')",
            true
        )
        .await,
        vec![sam.clone()]
    );

    // Outside the default filterable set: only as an advanced query (docs-contrib#9135).
    let (s, _, body) = get(
        &sim,
        "/v1.0/users?$filter=onPremisesSamAccountName%20eq%20'ann'",
        &token,
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_UnsupportedQuery");
    assert_eq!(
        body["error"]["message"],
        "Unsupported or invalid query filter clause specified for property 'onPremisesSamAccountName' of resource 'User'."
    );
    assert!(
        filter_ids(&sim, &token, "onPremisesSamAccountName eq 'ann'", true)
            .await
            .is_empty()
    );
    // Literal of the wrong type (microsoftgraph/microsoft-graph-docs#3044).
    let (s, _, body) = get(
        &sim,
        "/v1.0/users?$filter=accountEnabled%20eq%20'true'",
        &token,
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Invalid filter clause: A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'."
    );
    // Malformed and unknown.
    let (s, _, body) = get(&sim, "/v1.0/users?$filter=displayName%20eq", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "BadRequest");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid filter clause"));
    let (s, _, body) = get(&sim, "/v1.0/users?$filter=nope%20eq%20'x'", &token).await;
    assert_eq!(s, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid filter clause: Could not find a property named 'nope' on type 'microsoft.graph.user'."
    );
    let (s, _, body) = get(
        &sim,
        "/v1.0/users?$filter=faxNumber%20eq%20'x'&$orderby=displayName",
        &token,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body["error"]["message"],
        "Sorting not supported for current query."
    );
}

#[tokio::test]
async fn count_search_and_orderby_follow_the_advanced_query_rules() {
    let (sim, token) = start(5, Behaviour::default()).await;
    let (_, _, body) = get(&sim, "/v1.0/users?$count=true&$top=2", &token).await;
    assert!(body.get("@odata.count").is_none(), "ignored without header");
    let (s, _, body) = get_h(&sim, "/v1.0/users?$count=true&$top=2", &token, EVENTUAL).await;
    assert_eq!(s, 200);
    assert_eq!(body["@odata.count"], 7);
    let next = body["@odata.nextLink"].as_str().unwrap().to_string();
    let (_, _, body) = get_h(&sim, &next, &token, EVENTUAL).await;
    assert!(body.get("@odata.count").is_none(), "first page only");

    let (s, h, _) = get_h(&sim, "/v1.0/users/$count", &token, EVENTUAL).await;
    assert_eq!(s, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = crate::common::client()
        .get(format!("{}/v1.0/users/$count", sim.http_url()))
        .bearer_auth(&token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "7");
    let (s, _, body) = get(&sim, "/v1.0/users/$count", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "$count is not currently supported."
    );

    let search = "/v1.0/users?$search=%22displayName:smi%22&$select=id,displayName";
    let (s, _, body) = get(&sim, search, &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_UnsupportedQuery");
    let (s, _, body) = get_h(&sim, search, &token, EVENTUAL).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["displayName"], "Ann Lee-Smith");
    let (_, _, body) = get_h(
        &sim,
        "/v1.0/users?$search=%22displayName:person%203%22%20OR%20%22mail:user4%22&$select=id",
        &token,
        EVENTUAL,
    )
    .await;
    assert_eq!(ids(&body), vec![uid(3), uid(4)]);

    let (s, _, body) = get(
        &sim,
        "/v1.0/users?$orderby=displayName%20desc&$select=displayName",
        &token,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["value"][0]["displayName"], "Synced Sam");
    let (s, _, body) = get(&sim, "/v1.0/users?$orderby=department", &token).await;
    assert_eq!(s, 400);
    assert_eq!(
        body["error"]["message"],
        "Sorting not supported for current query."
    );
}

#[tokio::test]
async fn create_update_and_delete_users() {
    let (sim, token) = start(2, Behaviour::default()).await;
    let new_user = json!({
        "accountEnabled": true, "displayName": "Neil New", "mailNickname": "neil",
        "userPrincipalName": "neil@contoso.onmicrosoft.com",
        "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"}
    });
    let (s, _, body) = send(
        &sim,
        Method::POST,
        "/v1.0/users",
        &token,
        Some(new_user.clone()),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["displayName"], "Neil New");
    assert!(body.get("passwordProfile").is_none());
    let (s, _, body) = send(
        &sim,
        Method::POST,
        "/v1.0/users",
        &token,
        Some(new_user),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Another object with the same value for property userPrincipalName already exists."
    );
    let (s, _, _) = send(
        &sim,
        Method::POST,
        "/v1.0/users",
        &token,
        Some(json!({"displayName": "x"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);

    let path = format!("/v1.0/users/{id}");
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &path,
        &token,
        Some(json!({"businessPhones": ["+1 425 555 0199"], "department": "Ops"})),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (_, _, body) = get(
        &sim,
        &format!("{path}?$select=businessPhones,department"),
        &token,
    )
    .await;
    assert_eq!(body["businessPhones"], json!(["+1 425 555 0199"]));
    assert_eq!(body["department"], "Ops");
    let (s, _, body) = send(
        &sim,
        Method::PATCH,
        &path,
        &token,
        Some(json!({"businessPhones": ["1", "2"]})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &path,
        &token,
        Some(json!({"favouriteColour": "red"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, body) = send(
        &sim,
        Method::PATCH,
        "/v1.0/users/sam@contoso.com",
        &token,
        Some(json!({"mobilePhone": "+1 555 0100"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body["error"]["message"],
        "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."
    );
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        "/v1.0/users/sam@contoso.com",
        &token,
        Some(json!({"usageLocation": "US"})),
        &[],
    )
    .await;
    assert_eq!(s, 204);

    let (s, _, _) = send(&sim, Method::DELETE, &path, &token, None, &[]).await;
    assert_eq!(s, 204);
    let (s, _, _) = get(&sim, &path, &token).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_delta_round_returns_exactly_the_change() {
    let (sim, token) = start(30, Behaviour::default()).await;
    let prefer = [("Prefer", "odata.maxpagesize=10")];
    let (items, link, pages) = delta_round(&sim, "/v1.0/users/delta", &token, &prefer).await;
    assert_eq!(items.len(), 32);
    assert_eq!(pages, 4);
    // Nothing changed: empty round.
    let (items, link, _) = delta_round(&sim, &link, &token, &[]).await;
    assert!(items.is_empty());

    let target = uid(7);
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{target}"),
        &token,
        Some(json!({"jobTitle": "Lead"})),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &link, &token, &[]).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], target);
    assert_eq!(items[0]["jobTitle"], "Lead");
    assert_eq!(items[0]["displayName"], "Person 7", "full representation");

    // The same round again with return=minimal: only id and the change.
    let (items, _, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(items.len(), 1);
    let keys: BTreeSet<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["id", "jobTitle"]));
    // $select limits tracking: a department change does not surface under $select=displayName.
    let (_, sel_link, _) = delta_round(
        &sim,
        "/v1.0/users/delta?$select=displayName,jobTitle",
        &token,
        &[],
    )
    .await;
    send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{}", uid(3)),
        &token,
        Some(json!({"department": "Ops"})),
        &[],
    )
    .await;
    let (items, sel_link, _) = delta_round(&sim, &sel_link, &token, &[]).await;
    assert!(items.is_empty(), "{items:?}");
    send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{}", uid(3)),
        &token,
        Some(json!({"jobTitle": "Temp"})),
        &[],
    )
    .await;
    let minimal = [("Prefer", "return=minimal")];
    let (items, sel_link, _) = delta_round(&sim, &sel_link, &token, &minimal).await;
    assert_eq!(items, vec![json!({"id": uid(3), "jobTitle": "Temp"})]);
    // A property set to null is sent as null under return=minimal.
    send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{}", uid(3)),
        &token,
        Some(json!({"jobTitle": null})),
        &[],
    )
    .await;
    let (items, _, _) = delta_round(&sim, &sel_link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(items, vec![json!({"id": uid(3), "jobTitle": null})]);
}

#[tokio::test]
async fn delta_removals_spellings_latest_filter_and_bad_options() {
    let (sim, token) = start(4, Behaviour::default()).await;
    let (_, link, _) = delta_round(&sim, "/v1.0/users/delta()", &token, &[]).await;
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/v1.0/users/{}", uid(2)),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &link, &token, &[]).await;
    assert_eq!(
        items,
        vec![json!({"id": uid(2), "@removed": {"reason": "changed"}})]
    );

    let (s, _, body) = get(
        &sim,
        "/v1.0/users/microsoft.graph.delta()?$deltatoken=latest",
        &token,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["value"], json!([]));
    let latest = body["@odata.deltaLink"].as_str().unwrap().to_string();
    let (items, _, _) = delta_round(&sim, &latest, &token, &[]).await;
    assert!(items.is_empty());
    send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{}", uid(0)),
        &token,
        Some(json!({"officeLocation": "B1"})),
        &[],
    )
    .await;
    let (items, _, _) = delta_round(&sim, &latest, &token, &[]).await;
    assert_eq!(ids(&json!({"value": items})), vec![uid(0)]);

    let filter = format!(
        "/v1.0/users/microsoft.graph.delta?$filter=id%20eq%20'{}'%20or%20id%20eq%20'{}'",
        uid(1),
        uid(3)
    );
    let (items, _, _) = delta_round(&sim, &filter, &token, &[]).await;
    assert_eq!(ids(&json!({"value": items})), vec![uid(1), uid(3)]);
    let many: Vec<String> = (0..51).map(|i| format!("id eq '{}'", uid(i))).collect();
    let (s, _, _) = get(
        &sim,
        &format!(
            "/v1.0/users/delta?$filter={}",
            urlencode(&many.join(" or "))
        ),
        &token,
    )
    .await;
    assert_eq!(s, 400);
    // $top is ignored by directory delta, as Graph does.
    let (items, _, _) = delta_round(&sim, "/v1.0/users/delta?$top=2", &token, &[]).await;
    let live = items.iter().filter(|i| i.get("@removed").is_none()).count();
    assert_eq!(
        live, 5,
        "the deleted user may come as @removed, the rest in one page"
    );
    for bad in ["$orderby=displayName", "$expand=manager"] {
        let (s, _, body) = get(&sim, &format!("/v1.0/users/delta?{bad}"), &token).await;
        assert_eq!(s, 400, "{bad}");
        assert_graph_error(&body, "Request_UnsupportedQuery");
    }
}

#[tokio::test]
async fn expired_and_garbled_delta_tokens() {
    let (sim, token) = start(3, Behaviour::default()).await;
    let (_, h, first) = get(&sim, "/v1.0/users/delta?$select=displayName", &token).await;
    assert_eq!(
        first["@odata.context"],
        format!("{}/v1.0/$metadata#users(displayName)", sim.http_url())
    );
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json;odata.metadata=minimal"));
    let (_, link, _) =
        delta_round(&sim, "/v1.0/users/delta?$select=displayName", &token, &[]).await;
    let (s, _, body) = get(&sim, &format!("{link}A"), &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    let (s, _, body) = get(&sim, "/v1.0/users/delta?$skiptoken=garbage", &token).await;
    assert_eq!(s, 400, "{body}");

    sim.state.clock.advance(chrono::Duration::days(8));
    let token = sim.app_token();
    let (s, h, body) = get(&sim, &link, &token).await;
    assert_eq!(s, 410, "{body}");
    assert_graph_error(&body, "syncStateNotFound");
    let loc = h["location"].to_str().unwrap();
    assert_eq!(
        loc,
        format!("{}/v1.0/users/delta?$select=displayName", sim.http_url())
    );
    let (items, _, _) = delta_round(&sim, loc, &token, &[]).await;
    assert_eq!(items.len(), 5);
}

#[tokio::test]
async fn delta_quirks_empty_pages_and_duplicates() {
    let b = Behaviour {
        delta_empty_page_rate: 1.0,
        delta_duplicate_rate: 1.0,
        ..Default::default()
    };
    let (sim, token) = start(3, b).await;
    let (s, _, first) = get(&sim, "/v1.0/users/delta", &token).await;
    assert_eq!(s, 200);
    assert_eq!(first["value"], json!([]));
    assert!(first["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$skiptoken="));
    let (items, _, pages) = delta_round(&sim, "/v1.0/users/delta", &token, &[]).await;
    assert_eq!(pages, 4, "three empty pages, then the data");
    assert_eq!(items.len(), 10, "every user twice");
    let set: BTreeSet<String> = ids(&json!({"value": items})).into_iter().collect();
    assert_eq!(set.len(), 5);
}

#[tokio::test]
async fn groups_members_transitive_and_members_delta() {
    let (sim, token) = start(4, Behaviour::default()).await;
    let g = "99999999-0000-4000-8000-000000000001";
    let (s, _, body) = get(
        &sim,
        "/v1.0/groups?$filter=startsWith(displayName,'sales')&$select=id,displayName",
        &token,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    let (s, _, body) = get(&sim, &format!("/v1.0/groups/{g}"), &token).await;
    assert_eq!(s, 200);
    assert_eq!(body["displayName"], "Sales");

    let (s, _, body) = get(&sim, &format!("/v1.0/groups/{g}/members"), &token).await;
    assert_eq!(s, 200, "{body}");
    let types: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.user",
            "#microsoft.graph.group",
            "#microsoft.graph.orgContact"
        ]
    );
    let (_, _, body) = get(
        &sim,
        &format!("/v1.0/groups/{g}/transitiveMembers?$select=id"),
        &token,
    )
    .await;
    assert_eq!(body["value"].as_array().unwrap().len(), 4);
    assert!(ids(&body).contains(&uid(1)));

    let (items, link, _) = delta_round(
        &sim,
        "/v1.0/groups/delta?$select=displayName,members",
        &token,
        &[],
    )
    .await;
    let sales = items.iter().find(|i| i["id"] == g).unwrap();
    assert_eq!(sales["members@delta"].as_array().unwrap().len(), 3);

    let add = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", uid(3))});
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/groups/{g}/members/$ref"),
        &token,
        Some(add.clone()),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, body) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/groups/{g}/members/$ref"),
        &token,
        Some(add),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/v1.0/groups/{g}/members/{}/$ref", uid(0)),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &link, &token, &[]).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0]["members@delta"],
        json!([
            {"@odata.type": "#microsoft.graph.user", "id": uid(0), "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.user", "id": uid(3)}
        ])
    );
    let (_, _, body) = get(
        &sim,
        &format!("/v1.0/groups/{g}/members?$select=id"),
        &token,
    )
    .await;
    assert!(ids(&body).contains(&uid(3)) && !ids(&body).contains(&uid(0)));

    // `$select=members` alone tracks membership only.
    let (items, _, _) = delta_round(&sim, "/v1.0/groups/delta?$select=members", &token, &[]).await;
    let sales = items.iter().find(|i| i["id"] == g).unwrap();
    let keys: BTreeSet<&str> = sales
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["id", "members@delta"]));

    // Deleting the nested group: soft delete in delta, and it leaves its parent.
    let (_, link, _) = delta_round(&sim, &link, &token, &[]).await;
    let nested = "99999999-0000-4000-8000-000000000002";
    set_roles(&sim, &["Group.ReadWrite.All"]);
    let writer = sim.app_token();
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/v1.0/groups/{nested}"),
        &writer,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.contains(&json!({"id": nested, "@removed": {"reason": "changed"}})));
    assert!(items.contains(&json!({"id": g, "members@delta": [
        {"@odata.type": "#microsoft.graph.group", "id": nested, "@removed": {"reason": "deleted"}}
    ]})));
    let (s, _, _) = get_h(&sim, "/v1.0/groups/$count", &token, EVENTUAL).await;
    assert_eq!(s, 200);
    let (s, _, body) = get(&sim, "/v1.0/contacts/$count", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
}

#[tokio::test]
async fn org_contacts_are_read_only_and_delta_sees_sim_changes() {
    let (sim, token) = start(2, Behaviour::default()).await;
    let (s, _, body) = get(&sim, "/v1.0/contacts?$select=displayName,phones", &token).await;
    assert_eq!(s, 200);
    assert_eq!(body["value"][0]["phones"][0]["type"], "business");
    let (s, _, body) = send(
        &sim,
        Method::POST,
        "/v1.0/contacts",
        &token,
        Some(json!({"displayName": "x"})),
        &[],
    )
    .await;
    assert_eq!(s, 405);
    assert_graph_error(&body, "Request_BadRequest");

    let (_, link, _) = delta_round(&sim, "/v1.0/contacts/delta", &token, &[]).await;
    let admin = [("x-sim-key", sim.credentials.admin_key.as_str())];
    let (s, _, created) = send(
        &sim,
        Method::POST,
        "/_sim/org-contacts",
        "",
        Some(json!({"displayName": "New Vendor", "mail": "v@vendor.example"})),
        &admin,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let new_id = created["id"].as_str().unwrap().to_string();
    let old = "cccccccc-0000-4000-8000-00000000c001";
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("/_sim/org-contacts/{old}"),
        "",
        Some(json!({"department": "Logistics"})),
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    let (items, link, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let changed = items.iter().find(|i| i["id"] == old).unwrap();
    assert_eq!(changed, &json!({"id": old, "department": "Logistics"}));
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/_sim/org-contacts/{new_id}"),
        "",
        None,
        &admin,
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &link, &token, &[]).await;
    assert_eq!(
        items,
        vec![json!({"id": new_id, "@removed": {"reason": "deleted"}})]
    );
    let (s, _, _) = send(
        &sim,
        Method::POST,
        "/_sim/org-contacts",
        "",
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn permissions_and_token_expiry() {
    let (sim, _) = start(2, Behaviour::default()).await;
    set_roles(&sim, &["Mail.Send"]);
    let token = sim.app_token();
    for path in [
        "/v1.0/users",
        "/v1.0/users/delta",
        "/v1.0/groups",
        "/v1.0/contacts",
    ] {
        let (s, _, body) = get(&sim, path, &token).await;
        assert_eq!(s, 403, "{path}");
        assert_graph_error(&body, "Authorization_RequestDenied");
    }
    set_roles(&sim, &["User.Read.All"]);
    let token = sim.app_token();
    let (s, _, _) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(s, 200);
    let (s, _, body) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{}", uid(0)),
        &token,
        Some(json!({"jobTitle": "x"})),
        &[],
    )
    .await;
    assert_eq!(s, 403);
    assert_graph_error(&body, "Authorization_RequestDenied");

    sim.state.clock.advance(chrono::Duration::hours(2));
    let (s, _, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(s, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn changes_made_while_paging_are_not_missed() {
    let (sim, token) = start(30, Behaviour::default()).await;
    let prefer = [("Prefer", "odata.maxpagesize=10")];
    let (s, _, first) = get_h(&sim, "/v1.0/users/delta", &token, &prefer).await;
    assert_eq!(s, 200);
    assert_eq!(first["value"].as_array().unwrap().len(), 10);
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    // One user already served, one still ahead, both change now.
    let behind = uid(2);
    let ahead = uid(25);
    for id in [&behind, &ahead] {
        let (s, _, _) = send(
            &sim,
            Method::PATCH,
            &format!("/v1.0/users/{id}"),
            &token,
            Some(json!({"jobTitle": "Changed mid-round"})),
            &[],
        )
        .await;
        assert_eq!(s, 204);
    }
    let (rest, link, _) = delta_round(&sim, &next, &token, &prefer).await;
    assert_eq!(rest.len(), 22);
    let (items, _, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    let got: BTreeSet<String> = ids(&json!({ "value": items })).into_iter().collect();
    assert!(
        got.contains(&behind),
        "the change behind the cursor comes next round"
    );
    assert!(items.iter().all(|i| i["jobTitle"] == "Changed mid-round"));
}

#[tokio::test]
async fn directory_requests_are_throttled_by_resource_units() {
    let b = Behaviour {
        directory_ru_per_10s: Some(6),
        retry_after_omit_rate: 0.0,
        ..Default::default()
    };
    let (sim, token) = start(2, b).await;
    // GET users costs 2: three fit, the fourth is throttled.
    for _ in 0..3 {
        let (s, h, _) = get(&sim, "/v1.0/users", &token).await;
        assert_eq!(s, 200);
        assert_eq!(h["x-ms-resource-unit"], "2");
    }
    let (s, h, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(s, 429);
    assert_graph_error(&body, "TooManyRequests");
    assert!(h.get("retry-after").is_some());
    assert_eq!(h["x-ms-throttle-information"], "ResourceUnitLimitExceeded");
}

#[tokio::test]
async fn a_generated_tenant_lists_and_syncs() {
    let sim = crate::common::sim(120).await;
    // `start` picks any consented app with a live secret, which may be one without roles.
    set_roles(&sim, ALL_ROLES);
    let token = sim.app_token();
    let (s, _, page) = get(
        &sim,
        "/v1.0/users?$top=999&$select=id,userPrincipalName",
        &token,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    let listed = page["value"].as_array().unwrap().len();
    assert!(listed >= 120, "{listed}");
    let (items, _, _) = delta_round(&sim, "/v1.0/users/delta", &token, &[]).await;
    assert_eq!(items.len(), listed);
    let (s, _, groups) = get(&sim, "/v1.0/groups", &token).await;
    assert_eq!(s, 200);
    if let Some(g) = groups["value"][0]["id"].as_str() {
        let (s, _, _) = get(&sim, &format!("/v1.0/groups/{g}/members"), &token).await;
        assert_eq!(s, 200);
    }
    let (s, _, _) = get(&sim, "/v1.0/contacts", &token).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn member_of_and_me() {
    let (sim, token) = start(3, Behaviour::default()).await;
    let (s, _, body) = get(
        &sim,
        &format!("/v1.0/users/{}/memberOf?$select=id,displayName", uid(1)),
        &token,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body), vec!["99999999-0000-4000-8000-000000000002"]);
    assert_eq!(body["value"][0]["@odata.type"], "#microsoft.graph.group");
    let (_, _, body) = get(
        &sim,
        "/v1.0/users/user1@contoso.onmicrosoft.com/transitiveMemberOf",
        &token,
    )
    .await;
    assert_eq!(
        ids(&body),
        vec![
            "99999999-0000-4000-8000-000000000001",
            "99999999-0000-4000-8000-000000000002"
        ]
    );

    let (s, _, body) = get(&sim, "/v1.0/me", &token).await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "BadRequest");
    let delegated = sim
        .state
        .issue_delegated_token(&sim.credentials.client_id, &uid(2), &["User.Read".into()])
        .unwrap()
        .access_token;
    let (s, _, body) = get(&sim, "/v1.0/me?$select=id,displayName", &delegated).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["id"], uid(2));
    assert_eq!(body["displayName"], "Person 2");
}

#[tokio::test]
async fn delta_quirks_shuffled_pages_and_replayed_rounds() {
    let b = Behaviour {
        delta_shuffle_rate: 1.0,
        delta_replay_rate: 1.0,
        ..Default::default()
    };
    let (sim, token) = start(30, b).await;
    let (items, link, _) = delta_round(&sim, "/v1.0/users/delta", &token, &[]).await;
    let got = ids(&json!({ "value": items }));
    let mut sorted = got.clone();
    sorted.sort();
    assert_ne!(got, sorted, "a shuffled page is out of id order");
    sorted.dedup();
    assert_eq!(sorted.len(), 32);

    let patch = |id: String, title: &'static str| {
        let sim = &sim;
        let token = token.clone();
        async move {
            let (s, _, _) = send(
                sim,
                Method::PATCH,
                &format!("/v1.0/users/{id}"),
                &token,
                Some(json!({ "jobTitle": title })),
                &[],
            )
            .await;
            assert_eq!(s, 204);
        }
    };
    patch(uid(1), "First").await;
    let (items, link2, _) = delta_round(&sim, &link, &token, &[]).await;
    assert_eq!(ids(&json!({ "value": items })), vec![uid(1)]);
    patch(uid(2), "Second").await;
    // The replay rate is 1: this round repeats the round before as well.
    let (items, _, _) = delta_round(&sim, &link2, &token, &[]).await;
    let mut got = ids(&json!({ "value": items }));
    got.sort();
    assert_eq!(got, vec![uid(1), uid(2)]);
}

/// A loopback webhook receiver: echoes validation tokens, records notification bodies.
async fn receiver() -> (String, std::sync::Arc<parking_lot::Mutex<Vec<Value>>>) {
    use axum::extract::{Query, State};
    use axum::response::IntoResponse;
    type Got = std::sync::Arc<parking_lot::Mutex<Vec<Value>>>;
    async fn hook(
        State(got): State<Got>,
        Query(q): Query<std::collections::HashMap<String, String>>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        if let Some(t) = q.get("validationToken") {
            return ([("content-type", "text/plain")], t.clone()).into_response();
        }
        got.lock()
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        axum::http::StatusCode::ACCEPTED.into_response()
    }
    let got: Got = Default::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(got.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

/// Waits (bounded) until `want` notifications with these (changeType, resource) arrived.
async fn wait_notifications(
    got: &parking_lot::Mutex<Vec<Value>>,
    want: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = got
            .lock()
            .iter()
            .flat_map(|b| b["value"].as_array().cloned().unwrap_or_default())
            .map(|n| {
                (
                    n["changeType"].as_str().unwrap_or("").to_string(),
                    n["resource"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if want.iter().all(|(c, r)| {
            seen.iter()
                .any(|(sc, sr)| sc == c && sr.eq_ignore_ascii_case(r))
        }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test]
async fn user_and_group_changes_notify_subscriptions() {
    let (sim, token) = start(3, Behaviour::default()).await;
    let (url, got) = receiver().await;
    let expires = (sim.state.clock.now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for resource in ["/users", "/groups"] {
        let (s, _, body) = send(
            &sim,
            Method::POST,
            "/v1.0/subscriptions",
            &token,
            Some(json!({
                "changeType": "updated,deleted",
                "notificationUrl": url,
                "resource": resource,
                "expirationDateTime": expires,
                "clientState": "directory-test",
            })),
            &[],
        )
        .await;
        assert_eq!(s, 201, "{resource}: {body}");
    }
    let user = uid(1);
    let g = "99999999-0000-4000-8000-000000000001";
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{user}"),
        &token,
        Some(json!({"officeLocation": "Desk 7"})),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let add = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", uid(2))});
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/groups/{g}/members/$ref"),
        &token,
        Some(add),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let want = [
        ("updated", format!("Users/{user}")),
        ("updated", format!("Groups/{g}")),
    ];
    let seen = wait_notifications(&got, &want).await;
    for (c, r) in &want {
        assert!(
            seen.iter()
                .any(|(sc, sr)| sc == c && sr.eq_ignore_ascii_case(r)),
            "{c} {r} not in {seen:?}"
        );
    }
}

#[tokio::test]
async fn deleted_users_can_be_listed_and_restored() {
    let (sim, token) = start(3, Behaviour::default()).await;
    let (_, link, _) = delta_round(&sim, "/v1.0/users/delta", &token, &[]).await;
    let id = uid(1);
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/v1.0/users/{id}"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, body) = get(
        &sim,
        "/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,deletedDateTime",
        &token,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body), vec![id.clone()]);
    assert!(body["value"][0]["deletedDateTime"].is_string());

    let (s, _, body) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/directory/deletedItems/{id}/restore"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(body["id"], id);
    let (s, _, _) = get(&sim, &format!("/v1.0/users/{id}"), &token).await;
    assert_eq!(s, 200);
    // Delete then restore within one round: the user comes back whole, without annotation.
    let (items, _, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], id);
    assert!(items[0].get("@removed").is_none());
    assert_eq!(items[0]["displayName"], "Person 1");
    let (s, _, body) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/directory/deletedItems/{id}/restore"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&body, "Request_ResourceNotFound");
}

#[tokio::test]
async fn group_updates_show_in_group_delta() {
    let (sim, token) = start(2, Behaviour::default()).await;
    set_roles(&sim, &["Group.ReadWrite.All", "Group.Read.All"]);
    let token_w = sim.app_token();
    let g = "99999999-0000-4000-8000-000000000002";
    let (_, link, _) = delta_round(&sim, "/v1.0/groups/delta", &token, &[]).await;
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/groups/{g}"),
        &token_w,
        Some(json!({"description": "EMEA sales team"})),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, body) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/groups/{g}"),
        &token_w,
        Some(json!({"mail": "x@contoso.com"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&body, "Request_BadRequest");
    let (items, _, _) = delta_round(&sim, &link, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(
        items,
        vec![json!({"id": g, "description": "EMEA sales team"})]
    );
}

#[tokio::test]
async fn get_by_ids_resolves_mixed_objects() {
    let (sim, _) = start(2, Behaviour::default()).await;
    set_roles(&sim, &["Directory.Read.All"]);
    let token = sim.app_token();
    let body = json!({"ids": [
        uid(0),
        "99999999-0000-4000-8000-000000000001",
        "cccccccc-0000-4000-8000-00000000c001",
        "does-not-exist"
    ]});
    let (s, _, got) = send(
        &sim,
        Method::POST,
        "/v1.0/directoryObjects/getByIds",
        &token,
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{got}");
    let types: Vec<&str> = got["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.user",
            "#microsoft.graph.group",
            "#microsoft.graph.orgContact"
        ]
    );
    let mut only_users = body;
    only_users["types"] = json!(["user"]);
    let (_, _, got) = send(
        &sim,
        Method::POST,
        "/v1.0/directoryObjects/getByIds",
        &token,
        Some(only_users),
        &[],
    )
    .await;
    assert_eq!(ids(&got), vec![uid(0)]);
}
