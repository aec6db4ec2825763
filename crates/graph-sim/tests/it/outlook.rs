//! Tests of the outlook endpoints over real HTTP: folders, contacts and paging, delta,
//! immutable ids, access rules, throttling, photos, free/busy, mailbox settings, sendMail.

use crate::common::{assert_graph_error, get, send, sim_with};
use graph_sim::model::{
    CalendarBlock, Contact, ContactFolder, EmailAddress, MailboxData, MailboxKind, Photo, User,
};
use graph_sim::tenant_file::{TenantFile, UserRecord, UserWithInternals};
use graph_sim::{RunningSim, SimConfig, TenantSource};
use reqwest::Method;
use serde_json::{json, Value};

const ANN: &str = "11111111-1111-4111-8111-111111111111";
const BOB: &str = "22222222-2222-4222-8222-222222222222";
const GUEST: &str = "33333333-3333-4333-8333-333333333333";
const SHARED: &str = "44444444-4444-4444-8444-444444444444";
const DEF: &str = "AQMkADdefaultAnn";
const F1: &str = "AAMkAGZmbF1";
const F2: &str = "AAMkAGZmbF2";
const F1A: &str = "AAMkAGZmbF1a";

fn user(
    id: &str,
    name: &str,
    upn: &str,
    kind: MailboxKind,
    mailbox: Option<MailboxData>,
) -> UserRecord {
    UserRecord {
        user: UserWithInternals {
            user: User {
                id: id.into(),
                display_name: Some(name.into()),
                user_principal_name: Some(upn.into()),
                mail: Some(upn.into()),
                user_type: Some(
                    if kind == MailboxKind::None {
                        "Guest"
                    } else {
                        "Member"
                    }
                    .into(),
                ),
                ..Default::default()
            },
            mailbox: kind,
            photo: None,
        },
        mailbox_data: mailbox,
        presence: None,
    }
}

fn contact(n: usize, folder: &str) -> Contact {
    Contact {
        id: format!("AAMkADc2contact{n:02}"),
        display_name: Some(format!("Person {n:02}")),
        given_name: Some("Person".into()),
        surname: Some(format!("{n:02}")),
        parent_folder_id: Some(folder.into()),
        change_key: Some(format!("ck{n}")),
        created_date_time: Some("2023-05-01T08:00:00Z".into()),
        last_modified_date_time: Some("2023-05-01T08:00:00Z".into()),
        business_phones: vec![format!("+49 30 555{n:02}")],
        email_addresses: vec![EmailAddress {
            name: Some(format!("Person {n:02}")),
            address: Some(format!("person{n:02}@example.com")),
        }],
        ..Default::default()
    }
}

fn tenant() -> TenantFile {
    let folder = |id: &str, name: &str, parent: &str| ContactFolder {
        id: id.into(),
        display_name: Some(name.into()),
        parent_folder_id: Some(parent.into()),
    };
    let mut contacts: Vec<Contact> = (0..12).map(|n| contact(n, DEF)).collect();
    contacts.push(contact(20, F1));
    contacts.push(contact(21, F1));
    let ann_mb = MailboxData {
        default_folder_id: DEF.into(),
        root_folder_id: "AQMkADrootAnn".into(),
        folders: vec![
            folder(F1, "Suppliers", DEF),
            folder(F2, "Family", DEF),
            folder(F1A, "Old", F1),
        ],
        contacts,
        calendar: vec![CalendarBlock {
            start: "2030-01-07T09:00:00".into(),
            end: "2030-01-07T10:00:00".into(),
            status: "busy".into(),
            subject: Some("Standup".into()),
        }],
        automatic_replies: Default::default(),
    };
    let mut ann = user(
        ANN,
        "Ann Lee",
        "ann@contoso.com",
        MailboxKind::User,
        Some(ann_mb),
    );
    ann.user.photo = Some(Photo {
        content_type: "image/jpeg".into(),
        size: 240,
        etag: "\"BA09D118\"".into(),
        bytes: vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9],
    });
    TenantFile {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        domain: "contoso.com".into(),
        display_name: "Contoso".into(),
        apps: Vec::new(),
        users: vec![
            ann,
            user(BOB, "Bob Roe", "bob@contoso.com", MailboxKind::User, None),
            user(
                GUEST,
                "Gus Guest",
                "gus_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                MailboxKind::None,
                None,
            ),
            user(
                SHARED,
                "Reception",
                "reception@contoso.com",
                MailboxKind::Shared,
                None,
            ),
        ],
        groups: Vec::new(),
        org_contacts: Vec::new(),
    }
}

async fn start(tweak: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut cfg = SimConfig::loopback(0, 1);
    cfg.tls_listen = None;
    cfg.tenant = TenantSource::File(Box::new(tenant()));
    cfg.behaviour.retry_after_omit_rate = 0.0;
    tweak(&mut cfg);
    sim_with(cfg).await
}

fn grant(sim: &RunningSim, role: &str) {
    let mut t = sim.state.tenant.write();
    if let Some(a) = t.apps.get_mut(&sim.credentials.client_id) {
        a.app_roles.insert(role.to_string());
    }
}

fn revoke(sim: &RunningSim, role: &str) {
    let mut t = sim.state.tenant.write();
    if let Some(a) = t.apps.get_mut(&sim.credentials.client_id) {
        a.app_roles.remove(role);
    }
}

async fn sim_call(
    sim: &RunningSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let key = sim.credentials.admin_key.clone();
    let (s, _, b) = send(sim, method, path, "", body, &[("x-sim-key", &key)]).await;
    (s, b)
}

fn ids(v: &Value) -> Vec<String> {
    v["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Follows a delta round to its deltaLink; returns all entries and the deltaLink.
async fn delta_round(
    sim: &RunningSim,
    url: &str,
    tok: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String, usize) {
    let mut url = url.to_string();
    let mut out = Vec::new();
    for pages in 1..=50 {
        let (s, _, b) = send(sim, Method::GET, &url, tok, None, headers).await;
        assert_eq!(s, 200, "{b}");
        out.extend(b["value"].as_array().cloned().unwrap_or_default());
        if let Some(d) = b["@odata.deltaLink"].as_str() {
            return (out, d.to_string(), pages);
        }
        url = b["@odata.nextLink"]
            .as_str()
            .expect("nextLink or deltaLink")
            .to_string();
    }
    panic!("delta round did not end");
}

#[tokio::test]
async fn folders_list_excludes_the_default_folder() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contactFolders", &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b), vec![F1.to_string(), F2.to_string()]);
    assert!(b["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["parentFolderId"] == DEF));
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#users('ann@contoso.com')/contactFolders"));

    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{DEF}"),
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["displayName"], "Contacts");
    assert_eq!(b["parentFolderId"], "AQMkADrootAnn");

    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F1}/childFolders"),
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b), vec![F1A.to_string()]);
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F1}/childFolders/{F1A}"),
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["displayName"], "Old");
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/childFolders/{F1A}"),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorItemNotFound");

    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/nope"),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorItemNotFound");

    // Creating folders needs Contacts.ReadWrite.
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders"),
        &tok,
        Some(json!({"displayName": "New"})),
        &[],
    )
    .await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
    grant(&sim, "Contacts.ReadWrite");
    let tok = sim.app_token();
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders"),
        &tok,
        Some(json!({"displayName": "New"})),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["parentFolderId"], DEF);
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders"),
        &tok,
        Some(json!({"displayName": "new"})),
        &[],
    )
    .await;
    assert_eq!(s, 409);
    assert_graph_error(&b, "ErrorFolderExists");
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/childFolders"),
        &tok,
        Some(json!({"displayName": "Kids"})),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["parentFolderId"], F2);
    let kid = b["id"].as_str().unwrap().to_string();
    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{ANN}/contactFolders/{kid}"),
        &tok,
        Some(json!({"displayName": "Children"})),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["displayName"], "Children");
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("/v1.0/users/{ANN}/contactFolders/{kid}"),
        &tok,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{kid}"),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorItemNotFound");
}

#[tokio::test]
async fn contacts_page_filter_order_and_select() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts", &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"].as_array().unwrap().len(), 10);
    let next = b["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(
        next.ends_with("/v1.0/users/ann@contoso.com/contacts?$skip=10"),
        "{next}"
    );
    assert_eq!(b["value"][0]["@odata.etag"], "W/\"ck0\"");
    let (s, _, b) = get(&sim, &next, &tok).await;
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().unwrap().len(), 2);
    assert!(b.get("@odata.nextLink").is_none());

    let (_, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts?$top=5&$orderby=displayName%20desc&$select=displayName", &tok).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 5);
    assert_eq!(b["value"][0]["displayName"], "Person 11");
    assert_eq!(b["value"][0]["id"], "AAMkADc2contact11");
    assert!(b["value"][0].get("surname").is_none());
    assert!(b["@odata.nextLink"].as_str().unwrap().contains("$skip=5"));

    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts?$filter=emailAddresses/any(a:a/address%20eq%20'PERSON03@example.com')", &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b), vec!["AAMkADc2contact03".to_string()]);
    let (_, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts?$filter=startswith(displayName,'Person%200')&$count=true", &tok).await;
    assert_eq!(b["@odata.count"], 10);
    let (s, _, b) = get(
        &sim,
        "/v1.0/users/ann@contoso.com/contacts?$filter=emailAddresses/any(a:a/name%20eq%20'x')",
        &tok,
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "ErrorInvalidUrlQueryFilter");

    let (_, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F1}/contacts"),
        &tok,
    )
    .await;
    assert_eq!(
        ids(&b),
        vec![
            "AAMkADc2contact20".to_string(),
            "AAMkADc2contact21".to_string()
        ]
    );
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F1}/contacts/AAMkADc2contact20"),
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["parentFolderId"], F1);
    let (s, _, _) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts/AAMkADc2contact20"),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn contacts_crud_through_graph() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let url = "/v1.0/users/ann@contoso.com/contacts";
    let body = json!({"givenName": "Zed", "displayName": "Zed Zulu", "businessPhones": ["+1 425 555 0100"]});
    let (s, _, b) = send(&sim, Method::POST, url, &tok, Some(body.clone()), &[]).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
    grant(&sim, "Contacts.ReadWrite");
    let tok = sim.app_token();
    let (s, _, b) = send(&sim, Method::POST, url, &tok, Some(body), &[]).await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("AAMkAD"));
    assert_eq!(b["parentFolderId"], DEF);
    assert!(b["createdDateTime"].is_string());
    let ck = b["changeKey"].as_str().unwrap().to_string();

    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("{url}/{id}"),
        &tok,
        Some(json!({"mobilePhone": "+1 555 0101"})),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["mobilePhone"], "+1 555 0101");
    assert_ne!(b["changeKey"].as_str().unwrap(), ck);
    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("{url}/{id}"),
        &tok,
        Some(json!({"changeKey": "x"})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "BadRequest");
    let (s, _, b) = send(&sim, Method::POST, url, &tok, Some(json!({"nope": 1})), &[]).await;
    assert_eq!(s, 400, "{b}");
    assert_graph_error(&b, "BadRequest");

    let (s, _, b) = get(&sim, &format!("{url}/{id}"), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(b["displayName"], "Zed Zulu");
    let (_, _, b) = get(&sim, &format!("{url}?$top=100"), &tok).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 13);

    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("{url}/{id}"),
        &tok,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, b) = get(&sim, &format!("{url}/{id}"), &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorItemNotFound");

    // Contacts in a folder.
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts"),
        &tok,
        Some(json!({"displayName": "Mum"})),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["parentFolderId"], F2);
}

#[tokio::test]
async fn folder_delta_initial_and_incremental_are_exact() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let start_url = format!(
        "{}/v1.0/users/{ANN}/contactFolders/{F1}/contacts/delta",
        sim.http_url()
    );
    let (items, delta, pages) =
        delta_round(&sim, &start_url, &tok, &[("Prefer", "odata.maxpagesize=1")]).await;
    assert_eq!(pages, 2, "one item per page, the deltaLink on the last");
    assert_eq!(
        ids(&json!({"value": items})),
        vec!["AAMkADc2contact20", "AAMkADc2contact21"]
    );
    assert!(delta.contains("$deltatoken="));

    // No changes: empty value with a new deltaLink.
    let (items, delta, _) = delta_round(&sim, &delta, &tok, &[]).await;
    assert!(items.is_empty());

    // Create in F1, update 20, delete 21, move default-folder contact 05 into F1 and
    // a new one out again, create elsewhere (not seen).
    let (s, c) = sim_call(
        &sim,
        Method::POST,
        &format!("/_sim/mailboxes/{ANN}/contacts"),
        Some(json!({"displayName": "New One", "parentFolderId": F1})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let new_id = c["id"].as_str().unwrap().to_string();
    let (s, _) = sim_call(
        &sim,
        Method::PATCH,
        &format!("/_sim/mailboxes/{ANN}/contacts/AAMkADc2contact20"),
        Some(json!({"jobTitle": "Buyer"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = sim_call(
        &sim,
        Method::DELETE,
        &format!("/_sim/mailboxes/{ANN}/contacts/AAMkADc2contact21"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, moved) = sim_call(
        &sim,
        Method::PATCH,
        &format!("/_sim/mailboxes/{ANN}/contacts/AAMkADc2contact05"),
        Some(json!({"parentFolderId": F1})),
    )
    .await;
    assert_eq!(s, 200, "{moved}");
    let moved_in = moved["id"].as_str().unwrap().to_string();
    assert_ne!(
        moved_in, "AAMkADc2contact05",
        "regular ids change on a move"
    );
    let (s, _) = sim_call(
        &sim,
        Method::POST,
        &format!("/_sim/mailboxes/{ANN}/contacts"),
        Some(json!({"displayName": "Elsewhere"})),
    )
    .await;
    assert_eq!(s, 201);

    let (items, delta2, _) = delta_round(&sim, &delta, &tok, &[]).await;
    let mut seen: Vec<(String, bool)> = items
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v.get("@removed").is_some(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        ("AAMkADc2contact20".to_string(), false),
        ("AAMkADc2contact21".to_string(), true),
        (moved_in.clone(), false),
        (new_id.clone(), false),
    ];
    want.sort();
    assert_eq!(seen, want, "{items:?}");
    let removed = items.iter().find(|v| v.get("@removed").is_some()).unwrap();
    assert_eq!(removed["@odata.type"], "#microsoft.graph.contact");
    assert_eq!(removed["@removed"]["reason"], "deleted");
    let updated = items
        .iter()
        .find(|v| v["id"] == "AAMkADc2contact20")
        .unwrap();
    assert_eq!(updated["jobTitle"], "Buyer");
    assert_eq!(
        updated["displayName"], "Person 20",
        "updated contacts come whole"
    );

    // Move the new one out of F1: removed there, under the id it had in F1.
    let (s, _) = sim_call(
        &sim,
        Method::PATCH,
        &format!("/_sim/mailboxes/{ANN}/contacts/{new_id}"),
        Some(json!({"parentFolderId": F2})),
    )
    .await;
    assert_eq!(s, 200);
    let (items, _, _) = delta_round(&sim, &delta2, &tok, &[]).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], new_id.as_str());
    assert_eq!(items[0]["@removed"]["reason"], "deleted");

    // The default-folder form sees contact 05 leave.
    let (items, _, _) = delta_round(
        &sim,
        &format!(
            "{}/v1.0/users/{ANN}/contacts/delta()?$select=displayName",
            sim.http_url()
        ),
        &tok,
        &[],
    )
    .await;
    assert_eq!(items.len(), 12, "11 originals + 'Elsewhere'");
    assert!(items
        .iter()
        .all(|v| v.get("surname").is_none() && v["displayName"].is_string()));
}

#[tokio::test]
async fn contact_folders_delta_tracks_folder_changes() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let url = format!("{}/v1.0/users/{ANN}/contactFolders/delta", sim.http_url());
    let (items, delta, _) = delta_round(&sim, &url, &tok, &[]).await;
    assert_eq!(items.len(), 3);
    let (s, f) = sim_call(
        &sim,
        Method::POST,
        &format!("/_sim/mailboxes/{ANN}/folders"),
        Some(json!({"displayName": "Vendors"})),
    )
    .await;
    assert_eq!(s, 201, "{f}");
    let (s, _) = sim_call(
        &sim,
        Method::DELETE,
        &format!("/_sim/mailboxes/{ANN}/folders/{F2}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (items, _, _) = delta_round(&sim, &delta, &tok, &[]).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let removed = items.iter().find(|v| v["id"] == F2).unwrap();
    assert_eq!(removed["@removed"]["reason"], "deleted");
    assert_eq!(removed["@odata.type"], "#microsoft.graph.contactFolder");
    assert!(items
        .iter()
        .any(|v| v["id"] == f["id"] && v["displayName"] == "Vendors"));
}

#[tokio::test]
async fn immutable_ids_survive_a_move() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let imm = [("Prefer", "IdType=\"ImmutableId\"")];
    let (s, h, b) = send(
        &sim,
        Method::GET,
        "/v1.0/users/ann@contoso.com/contacts/AAMkADc2contact04",
        &tok,
        None,
        &imm,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(h["preference-applied"], "IdType=\"ImmutableId\"");
    let imm_id = b["id"].as_str().unwrap().to_string();
    assert!(imm_id.starts_with("AAkALg"), "{imm_id}");
    let (s, h, _) = get(
        &sim,
        "/v1.0/users/ann@contoso.com/contacts/AAMkADc2contact04",
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert!(h.get("preference-applied").is_none());

    let (s, _) = sim_call(
        &sim,
        Method::PATCH,
        &format!("/_sim/mailboxes/{ANN}/contacts/{imm_id}"),
        Some(json!({"parentFolderId": F2})),
    )
    .await;
    assert_eq!(s, 200);
    // The immutable id still resolves and is still what Graph shows, in any folder path.
    let (s, _, b) = send(
        &sim,
        Method::GET,
        &format!("/v1.0/users/{ANN}/contacts/{imm_id}"),
        &tok,
        None,
        &imm,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["parentFolderId"], F2);
    let (s, _, b) = send(
        &sim,
        Method::GET,
        &format!("/v1.0/users/{ANN}/contactFolders/{DEF}/contacts/{imm_id}"),
        &tok,
        None,
        &imm,
    )
    .await;
    assert_eq!(s, 404, "not in the default folder any more");
    assert_graph_error(&b, "ErrorItemNotFound");
    let (s, _, b) = send(
        &sim,
        Method::GET,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts/{imm_id}"),
        &tok,
        None,
        &imm,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], imm_id.as_str());
    let (_, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts"),
        &tok,
    )
    .await;
    let regular = ids(&b)[0].clone();
    // Delta shows the same immutable id when asked.
    let (items, _, _) = delta_round(
        &sim,
        &format!(
            "{}/v1.0/users/{ANN}/contactFolders/{F2}/contacts/delta",
            sim.http_url()
        ),
        &tok,
        &imm,
    )
    .await;
    assert_eq!(ids(&json!({ "value": items })), vec![imm_id.clone()]);
    assert_ne!(regular, "AAMkADc2contact04");
    // The old regular id no longer resolves; the new one does.
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts/AAMkADc2contact04"),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorItemNotFound");
    let (s, _, _) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/contactFolders/{F2}/contacts/{regular}"),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn mailbox_rules_answer_like_exchange() {
    let scoped_app = "55555555-5555-4555-8555-555555555555";
    let sim = start(|cfg| {
        if let TenantSource::File(f) = &mut cfg.tenant {
            let mut app = graph_sim::generate::default_app(&mut rand::thread_rng());
            app.client_id = scoped_app.into();
            // Not picked as the emulator's default app (that one needs a secret beyond 2030).
            app.secrets[0].end_date_time = "2029-12-31T00:00:00Z".into();
            app.mailbox_scope = Some(["bob@contoso.com".to_string()].into_iter().collect());
            f.apps.push(app);
        }
    })
    .await;
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, &format!("/v1.0/users/{GUEST}/contacts"), &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "MailboxNotEnabledForRESTAPI");
    let (s, _, b) = get(&sim, "/v1.0/users/nobody@contoso.com/contacts", &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ErrorInvalidUser");
    // Shared mailboxes work with the application permission.
    let (s, _, b) = get(&sim, "/v1.0/users/reception@contoso.com/contacts", &tok).await;
    assert_eq!(s, 200, "{b}");

    // Application access policy: Bob only.
    let scoped = sim.state.issue_app_token(scoped_app).unwrap().access_token;
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts", &scoped).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
    let (s, _, _) = get(&sim, &format!("/v1.0/users/{BOB}/contacts"), &scoped).await;
    assert_eq!(s, 200);

    // Missing role.
    revoke(&sim, "Contacts.Read");
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts", &tok).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");

    // Delegated: own mailbox only.
    let scopes = vec!["Contacts.Read".to_string()];
    let bob = sim
        .state
        .issue_delegated_token(&sim.credentials.client_id, BOB, &scopes)
        .unwrap()
        .access_token;
    let (s, _, _) = get(&sim, "/v1.0/users/bob@contoso.com/contacts", &bob).await;
    assert_eq!(s, 200);
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/contacts", &bob).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
    let (s, _, b) = get(&sim, "/v1.0/me/contactFolders", &bob).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["@odata.context"].as_str().unwrap().contains(BOB));
    // /me needs a signed-in user.
    let (s, _, b) = get(&sim, "/v1.0/me/contacts", &scoped).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "BadRequest");
}

#[tokio::test]
async fn concurrent_requests_on_one_mailbox_are_throttled() {
    // Latency injected through the fault controls is service time: Outlook spends it holding
    // one of the mailbox's four concurrency slots.
    let sim = start(|cfg| {
        cfg.latency = Some(graph_sim::faults::Latency::Fixed { ms: 400.0 });
    })
    .await;
    let tok = sim.app_token();
    let mut tasks = Vec::new();
    for i in 0..9 {
        let url = if i < 8 {
            format!("{}/v1.0/users/{ANN}/contactFolders", sim.http_url())
        } else {
            format!("{}/v1.0/users/{BOB}/contactFolders", sim.http_url())
        };
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            let r = crate::common::client()
                .get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (
                r.status().as_u16(),
                retry,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ann = &results[..8];
    let ok = ann.iter().filter(|r| r.0 == 200).count();
    let throttled: Vec<_> = ann.iter().filter(|r| r.0 == 429).collect();
    // Four run at once; the rest arrive while those hold their slots (400 ms each).
    assert!(
        ann.iter().filter(|r| r.0 == 200).count() <= 4 + 1,
        "at most four at once (one may slip in after a slot frees): {results:?}"
    );
    assert!(ok >= 4, "{results:?}");
    assert!(!throttled.is_empty(), "{results:?}");
    assert_eq!(ok + throttled.len(), 8, "{results:?}");
    for t in throttled {
        assert!(t.1.is_some(), "Retry-After present");
        assert_graph_error(&t.2, "TooManyRequests");
    }
    assert_eq!(results[8].0, 200, "another mailbox is unaffected");
}

#[tokio::test]
async fn photos_metadata_bytes_and_not_in_user_delta() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, "/v1.0/users/ann@contoso.com/photo", &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["@odata.mediaContentType"], "image/jpeg");
    assert_eq!(b["@odata.mediaEtag"], "\"BA09D118\"");
    assert_eq!(b["id"], "240x240");
    assert_eq!(b["width"], 240);
    let r = crate::common::client()
        .get(format!("{}/v1.0/users/{ANN}/photo/$value", sim.http_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["etag"], "\"BA09D118\"");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]
    );
    let (s, _, _) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/photos/48x48/$value"),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, b) = get(&sim, &format!("/v1.0/users/{ANN}/photos/360x360"), &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ImageNotFound");
    let (s, _, b) = get(&sim, &format!("/v1.0/users/{BOB}/photo/$value"), &tok).await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ImageNotFound");

    // A photo change is no user change.
    let before = sim.state.tenant.read().users.entry(BOB).unwrap().version;
    let r = crate::common::client()
        .put(format!("{}/_sim/users/{BOB}/photo?size=96", sim.http_url()))
        .header("x-sim-key", &sim.credentials.admin_key)
        .header("content-type", "image/png")
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _, b) = get(&sim, &format!("/v1.0/users/{BOB}/photo"), &tok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["@odata.mediaContentType"], "image/png");
    assert_eq!(b["id"], "96x96");
    assert_eq!(
        sim.state.tenant.read().users.entry(BOB).unwrap().version,
        before
    );

    revoke(&sim, "User.Read.All");
    let tok = sim.app_token();
    let (s, _, b) = get(&sim, &format!("/v1.0/users/{ANN}/photo"), &tok).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
}

#[tokio::test]
async fn get_schedule_reports_blocks() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let body = json!({
        "schedules": ["ann@contoso.com", "bob@contoso.com", "ghost@contoso.com"],
        "startTime": {"dateTime": "2030-01-07T08:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"},
        "availabilityViewInterval": 30
    });
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/calendar/getSchedule"),
        &tok,
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"][0]["scheduleId"], "ann@contoso.com");
    assert_eq!(b["value"][0]["availabilityView"], "002200");
    assert_eq!(b["value"][0]["scheduleItems"][0]["status"], "busy");
    assert_eq!(
        b["value"][0]["scheduleItems"][0]["start"]["dateTime"],
        "2030-01-07T09:00:00.0000000"
    );
    assert_eq!(
        b["value"][0]["scheduleItems"][0]["start"]["timeZone"],
        "UTC"
    );
    assert_eq!(b["value"][1]["availabilityView"], "000000");
    assert_eq!(
        b["value"][2]["error"]["responseCode"],
        "ErrorMailRecipientNotFound"
    );

    let (s, _) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/mailboxes/bob@contoso.com/calendar",
        Some(json!([
            {"start": "2030-01-07T10:00:00", "end": "2030-01-07T11:00:00", "status": "oof"}
        ])),
    )
    .await;
    assert_eq!(s, 204);
    let (_, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/calendar/getSchedule"),
        &tok,
        Some(body),
        &[],
    )
    .await;
    assert_eq!(b["value"][1]["availabilityView"], "000033");

    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/calendar/getSchedule"),
        &tok,
        Some(json!({"schedules": []})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "ErrorInvalidParameter");
}

#[tokio::test]
async fn automatic_replies_read_and_write() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let (s, _, b) = get(
        &sim,
        "/v1.0/users/reception@contoso.com/mailboxSettings",
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["userPurpose"], "shared");
    assert_eq!(b["automaticRepliesSetting"]["status"], "disabled");
    assert_eq!(
        b["automaticRepliesSetting"]["scheduledStartDateTime"]["timeZone"],
        "UTC"
    );

    let patch = json!({"automaticRepliesSetting": {
        "status": "scheduled",
        "scheduledStartDateTime": {"dateTime": "2030-02-01T00:00:00", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2030-02-10T00:00:00", "timeZone": "UTC"},
        "internalReplyMessage": "Away"
    }});
    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{ANN}/mailboxSettings"),
        &tok,
        Some(patch.clone()),
        &[],
    )
    .await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "ErrorAccessDenied");
    grant(&sim, "MailboxSettings.ReadWrite");
    let tok = sim.app_token();
    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{ANN}/mailboxSettings"),
        &tok,
        Some(patch),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = get(
        &sim,
        &format!("/v1.0/users/{ANN}/mailboxSettings/automaticRepliesSetting"),
        &tok,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "scheduled");
    assert_eq!(b["internalReplyMessage"], "Away");
    assert_eq!(
        b["scheduledEndDateTime"]["dateTime"],
        "2030-02-10T00:00:00.0000000"
    );
    let (s, _, b) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{ANN}/mailboxSettings"),
        &tok,
        Some(json!({"automaticRepliesSetting": {"status": "sometimes"}})),
        &[],
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_graph_error(&b, "ErrorInvalidParameter");

    // Always-on automatic replies show in presence.
    let (_, _, p) = get(&sim, &format!("/v1.0/users/{ANN}/presence"), &tok).await;
    assert_eq!(p["outOfOfficeSettings"]["isOutOfOffice"], false, "{p}");
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("/v1.0/users/{ANN}/mailboxSettings"),
        &tok,
        Some(json!({"automaticRepliesSetting": {"status": "alwaysEnabled"}})),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    let (_, _, p) = get(&sim, &format!("/v1.0/users/{ANN}/presence"), &tok).await;
    assert_eq!(p["outOfOfficeSettings"]["isOutOfOffice"], true, "{p}");
    assert_eq!(p["outOfOfficeSettings"]["message"], "Away");
}

#[tokio::test]
async fn send_mail_queues_into_the_outbox() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let mail = json!({"message": {
        "subject": "Your extension",
        "body": {"contentType": "Text", "content": "It is 1234."},
        "toRecipients": [{"emailAddress": {"address": "bob@contoso.com"}}]
    }, "saveToSentItems": false});
    let (s, h, b) = send(
        &sim,
        Method::POST,
        "/v1.0/users/ann@contoso.com/sendMail",
        &tok,
        Some(mail),
        &[],
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b, Value::Null);
    assert!(h.get("request-id").is_some());
    let (s, b) = sim_call(&sim, Method::GET, "/_sim/outbox", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    assert_eq!(b["value"][0]["message"]["subject"], "Your extension");
    assert_eq!(b["value"][0]["saveToSentItems"], false);

    let (s, _, b) = send(
        &sim,
        Method::POST,
        "/v1.0/users/ann@contoso.com/sendMail",
        &tok,
        Some(json!({"message": {"subject": "x"}})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "ErrorInvalidRecipients");
    let r = crate::common::client()
        .post(format!("{}/v1.0/users/{ANN}/sendMail", sim.http_url()))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_graph_error(&b, "BadRequest");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unable to read JSON"));
    let (s, _, b) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{GUEST}/sendMail"),
        &tok,
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "MailboxNotEnabledForRESTAPI");

    // MIME form: base64 of the whole message, text/plain.
    let post_mime = |body: &'static str| {
        crate::common::client()
            .post(format!("{}/v1.0/users/{ANN}/sendMail", sim.http_url()))
            .bearer_auth(&tok)
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    let r = post_mime(
        "RnJvbTogYW5uQGNvbnRvc28uY29tDQpUbzogYm9iQGNvbnRvc28uY29tDQpTdWJqZWN0OiBIaQ0KDQpIZWxsbw==",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let r = post_mime("not*base64").await.unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_graph_error(&b, "ErrorMimeContentInvalidBase64String");
    let (_, b) = sim_call(&sim, Method::GET, "/_sim/outbox", None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 2);

    let (s, _) = sim_call(&sim, Method::DELETE, "/_sim/outbox", None).await;
    assert_eq!(s, 204);
    let (_, b) = sim_call(&sim, Method::GET, "/_sim/outbox", None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_and_reset_delta_tokens() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let url = format!(
        "{}/v1.0/users/{ANN}/contactFolders/{F1}/contacts/delta",
        sim.http_url()
    );
    let (_, delta, _) = delta_round(&sim, &url, &tok, &[]).await;
    let (s, _, b) = get(&sim, &format!("{url}?$deltatoken=garbage"), &tok).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "ErrorInvalidSyncStateData");
    // A token for another folder is refused too.
    let tokpart = delta.split("$deltatoken=").nth(1).unwrap();
    let (s, _, b) = get(
        &sim,
        &format!(
            "{}/v1.0/users/{ANN}/contactFolders/{F2}/contacts/delta?$deltatoken={tokpart}",
            sim.http_url()
        ),
        &tok,
    )
    .await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "ErrorInvalidSyncStateData");
    // Outlook tokens do not expire by time.
    sim.state.clock.advance(chrono::Duration::days(60));
    let tok = sim.app_token();
    let (s, _, _) = get(&sim, &delta, &tok).await;
    assert_eq!(s, 200);
    // Until the sync state is reset.
    let (s, _) = sim_call(
        &sim,
        Method::POST,
        "/_sim/mailboxes/ann@contoso.com/reset-sync-state",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, h, b) = get(&sim, &delta, &tok).await;
    assert_eq!(s, 410);
    assert_graph_error(&b, "syncStateNotFound");
    assert_eq!(h["location"].to_str().unwrap(), url);
    let (s, _, _) = get(&sim, &url, &tok).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn delta_quirks_come_from_behaviour() {
    let sim = start(|cfg| {
        cfg.behaviour.delta_empty_page_rate = 1.0;
        cfg.behaviour.delta_duplicate_rate = 1.0;
    })
    .await;
    let tok = sim.app_token();
    let url = format!(
        "{}/v1.0/users/{ANN}/contactFolders/{F1}/contacts/delta",
        sim.http_url()
    );
    let (items, delta, pages) =
        delta_round(&sim, &url, &tok, &[("Prefer", "odata.maxpagesize=1")]).await;
    assert_eq!(pages, 4, "an empty page before each real one");
    let got: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        vec![
            "AAMkADc2contact20",
            "AAMkADc2contact20",
            "AAMkADc2contact21",
            "AAMkADc2contact21"
        ]
    );
    let (s, h, _) = send(
        &sim,
        Method::GET,
        &delta,
        &tok,
        None,
        &[("Prefer", "odata.maxpagesize=5")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["preference-applied"], "odata.maxpagesize=5");
}

#[tokio::test]
async fn delta_replay_repeats_the_round_before() {
    let sim = start(|cfg| cfg.behaviour.delta_replay_rate = 1.0).await;
    let tok = sim.app_token();
    let url = format!(
        "{}/v1.0/users/{ANN}/contactFolders/{F1}/contacts/delta",
        sim.http_url()
    );
    let (_, d1, _) = delta_round(&sim, &url, &tok, &[]).await;
    let (s, _) = sim_call(
        &sim,
        Method::PATCH,
        &format!("/_sim/mailboxes/{ANN}/contacts/AAMkADc2contact21"),
        Some(json!({"nickName": "Twenty-one"})),
    )
    .await;
    assert_eq!(s, 200);
    let (items, d2, _) = delta_round(&sim, &d1, &tok, &[]).await;
    assert_eq!(ids(&json!({ "value": items })), vec!["AAMkADc2contact21"]);
    // Nothing changed since, but the replay sends the previous round's change again.
    let (items, _, _) = delta_round(&sim, &d2, &tok, &[]).await;
    assert_eq!(ids(&json!({ "value": items })), vec!["AAMkADc2contact21"]);
}

/// Lists a whole collection by following nextLinks.
async fn all_pages(sim: &RunningSim, path: &str, tok: &str) -> Vec<Value> {
    let mut url = format!("{}{path}", sim.http_url());
    let mut out = Vec::new();
    for _ in 0..1000 {
        let (s, _, b) = get(sim, &url, tok).await;
        assert_eq!(s, 200, "{url}: {b}");
        out.extend(b["value"].as_array().cloned().unwrap_or_default());
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => return out,
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn generated_tenant_contacts_are_all_reachable_through_folders() {
    let sim = crate::common::sim(40).await;
    // The generated tenant has several consented apps; use the unrestricted one that reads
    // contacts (the emulator's default app can be any of them).
    let app = {
        let t = sim.state.tenant.read();
        t.apps
            .values()
            .find(|a| {
                a.admin_consented
                    && a.mailbox_scope.is_none()
                    && a.app_roles.contains("Contacts.Read")
            })
            .map(|a| a.client_id.clone())
            .expect("an unrestricted app")
    };
    let tok = sim.state.issue_app_token(&app).unwrap().access_token;
    let (owner, total) = {
        let t = sim.state.tenant.read();
        t.mailboxes
            .iter()
            .max_by_key(|(_, m)| (m.folders.live_count(), m.contacts.live_count()))
            .map(|(id, m)| (id.clone(), m.contacts.live_count()))
            .expect("a mailbox")
    };
    assert!(total > 10, "the busiest mailbox has more than one page");
    // Default folder plus every folder below it, depth first.
    let mut seen = all_pages(&sim, &format!("/v1.0/users/{owner}/contacts"), &tok)
        .await
        .len();
    let mut stack: Vec<String> =
        all_pages(&sim, &format!("/v1.0/users/{owner}/contactFolders"), &tok)
            .await
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
    while let Some(f) = stack.pop() {
        seen += all_pages(
            &sim,
            &format!("/v1.0/users/{owner}/contactFolders/{f}/contacts"),
            &tok,
        )
        .await
        .len();
        for c in all_pages(
            &sim,
            &format!("/v1.0/users/{owner}/contactFolders/{f}/childFolders"),
            &tok,
        )
        .await
        {
            stack.push(c["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, total);
}

/// A webhook receiver on loopback: answers validation, records notification bodies.
async fn webhook() -> (String, std::sync::Arc<parking_lot::Mutex<Vec<Value>>>) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    type Seen = std::sync::Arc<parking_lot::Mutex<Vec<Value>>>;
    async fn hook(
        State(seen): State<Seen>,
        Query(q): Query<HashMap<String, String>>,
        body: bytes::Bytes,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if let Some(t) = q.get("validationToken") {
            return ([("content-type", "text/plain")], t.clone()).into_response();
        }
        if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(&body) {
            if let Some(Value::Array(items)) = m.remove("value") {
                seen.lock().extend(items);
            }
        }
        axum::http::StatusCode::ACCEPTED.into_response()
    }
    let seen: Seen = Default::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn contact_writes_are_notified_to_subscriptions() {
    let sim = start(|_| {}).await;
    grant(&sim, "Contacts.ReadWrite");
    let tok = sim.app_token();
    let (url, seen) = webhook().await;
    let expires = (sim.state.clock.now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (s, _, b) = send(
        &sim,
        Method::POST,
        "/v1.0/subscriptions",
        &tok,
        Some(json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": url,
            "resource": format!("/users/{ANN}/contacts"),
            "expirationDateTime": expires,
            "clientState": "s3cret",
        })),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let base = "/v1.0/users/ann@contoso.com/contacts";
    let (s, _, c) = send(
        &sim,
        Method::POST,
        base,
        &tok,
        Some(json!({"displayName": "Hook"})),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    let id = c["id"].as_str().unwrap().to_string();
    let (s, _, _) = send(
        &sim,
        Method::PATCH,
        &format!("{base}/{id}"),
        &tok,
        Some(json!({"jobTitle": "X"})),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        &sim,
        Method::DELETE,
        &format!("{base}/{id}"),
        &tok,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 204);
    // A contact in another folder is not in this subscription's resource.
    let (s, _, _) = send(
        &sim,
        Method::POST,
        &format!("/v1.0/users/{ANN}/contactFolders/{F1}/contacts"),
        &tok,
        Some(json!({"displayName": "Other"})),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    let mut got = Vec::new();
    for _ in 0..200 {
        got = seen.lock().clone();
        if got.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got_all = seen.lock().clone();
    assert_eq!(got_all.len(), 3, "{got_all:?}");
    let mut kinds: Vec<&str> = got
        .iter()
        .map(|n| n["changeType"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["created", "deleted", "updated"]);
    for n in &got {
        assert_eq!(n["clientState"], "s3cret");
        assert_eq!(n["resource"], format!("Users/{ANN}/Contacts/{id}"));
        assert_eq!(n["resourceData"]["id"], id.as_str());
        assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Contact");
    }
}

#[tokio::test]
async fn churn_changes_a_deterministic_share_that_delta_reports() {
    let sim = start(|_| {}).await;
    let tok = sim.app_token();
    let start_url = format!(
        "{}/v1.0/users/{ANN}/contactFolders/{F1}/contacts/delta",
        sim.http_url()
    );
    let (before, delta, _) = delta_round(&sim, &start_url, &tok, &[]).await;
    assert!(!before.is_empty());

    let (s, b) = sim_call(
        &sim,
        Method::POST,
        "/_sim/churn",
        Some(json!({"contactsPercent": 100, "seed": 3})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let all = b["changed"].as_u64().expect("changed");
    assert!(all >= before.len() as u64, "{b}");
    // Every contact of the folder changed: the next round reports each once, with its new title.
    let (items, _, _) = delta_round(&sim, &delta, &tok, &[]).await;
    assert_eq!(
        ids(&json!({"value": items})),
        ids(&json!({"value": before}))
    );
    assert!(items.iter().all(|c| c["jobTitle"]
        .as_str()
        .is_some_and(|t| t.starts_with("Churn 3"))));

    // 0 % changes nothing; a share picks the same contacts for the same seed.
    let (_, b) = sim_call(
        &sim,
        Method::POST,
        "/_sim/churn",
        Some(json!({"contactsPercent": 0})),
    )
    .await;
    assert_eq!(b["changed"], 0);
    let (_, x) = sim_call(
        &sim,
        Method::POST,
        "/_sim/churn",
        Some(json!({"contactsPercent": 50, "seed": 9})),
    )
    .await;
    let (_, y) = sim_call(
        &sim,
        Method::POST,
        "/_sim/churn",
        Some(json!({"contactsPercent": 50, "seed": 9})),
    )
    .await;
    assert_eq!(x["changed"], y["changed"]);
    assert_eq!(
        x["contactIds"], y["contactIds"],
        "the same contacts for the same seed"
    );
    assert_eq!(
        x["contactIds"].as_array().map(Vec::len) as Option<usize>,
        x["changed"].as_u64().map(|n| n as usize),
        "every changed contact is named: {x}"
    );
    assert_eq!(
        x["immutableIds"].as_array().map(Vec::len),
        x["contactIds"].as_array().map(Vec::len),
        "and by its immutable id too: {x}"
    );
    assert!(x["changed"].as_u64() < Some(all), "{x} of {all}");
    // Bad input is refused with what is expected.
    let (s, b) = sim_call(
        &sim,
        Method::POST,
        "/_sim/churn",
        Some(json!({"contactsPercent": 150})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = sim_call(&sim, Method::POST, "/_sim/churn", Some(json!({"share": 1}))).await;
    assert_eq!(s, 400);
}
