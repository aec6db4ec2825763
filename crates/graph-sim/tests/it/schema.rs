//! Graph's own schema (`shared/graph/v1.0-cleanMetadata.xml`) against what the emulator sends:
//! every property of user, group, contact, contactFolder, orgContact, presence and
//! subscription must be declared there with a matching type.

use serde_json::Value;
use std::collections::HashMap;

/// A property's declared type.
#[derive(Debug, Clone)]
struct Prop {
    ty: String,
}

/// Structured types by qualified name (`microsoft.graph.user`), with base types resolved.
struct Schema {
    types: HashMap<String, (Option<String>, HashMap<String, Prop>)>,
    enums: std::collections::HashSet<String>,
}

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/graph/v1.0-cleanMetadata.xml")
}

impl Schema {
    fn load() -> Schema {
        let path = schema_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("Graph's schema at {}: {e}", path.display()));
        let doc = roxmltree::Document::parse_with_options(
            &text,
            roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            },
        )
        .expect("CSDL parses");
        let mut types = HashMap::new();
        let mut enums = std::collections::HashSet::new();
        for schema in doc.descendants().filter(|n| n.has_tag_name("Schema")) {
            let ns = schema.attribute("Namespace").unwrap_or("");
            for t in schema.children().filter(|n| n.is_element()) {
                let name = match t.attribute("Name") {
                    Some(n) => format!("{ns}.{n}"),
                    None => continue,
                };
                match t.tag_name().name() {
                    "EntityType" | "ComplexType" => {
                        let base = t.attribute("BaseType").map(qualify);
                        let props = t
                            .children()
                            .filter(|p| p.has_tag_name("Property"))
                            .filter_map(|p| {
                                Some((
                                    p.attribute("Name")?.to_string(),
                                    Prop {
                                        ty: qualify(p.attribute("Type")?),
                                    },
                                ))
                            })
                            .collect();
                        types.insert(name, (base, props));
                    }
                    "EnumType" => {
                        enums.insert(name);
                    }
                    _ => {}
                }
            }
        }
        Schema { types, enums }
    }

    fn property(&self, ty: &str, name: &str) -> Option<Prop> {
        let mut cur = Some(ty.to_string());
        while let Some(t) = cur {
            let (base, props) = self.types.get(&t)?;
            if let Some(p) = props.get(name) {
                return Some(p.clone());
            }
            cur = base.clone();
        }
        None
    }

    /// Checks an object against a structured type; returns problems.
    fn check(&self, ty: &str, obj: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(map) = obj.as_object() else {
            problems.push(format!("{path}: expected an object of {ty}, got {obj}"));
            return;
        };
        for (k, v) in map {
            if k.starts_with('@') || k.contains("@odata.") || k.contains("@delta") {
                continue;
            }
            match self.property(ty, k) {
                None => problems.push(format!("{path}.{k}: not a property of {ty}")),
                Some(p) => self.check_value(&p.ty, v, &format!("{path}.{k}"), problems),
            }
        }
    }

    fn check_value(&self, ty: &str, v: &Value, path: &str, problems: &mut Vec<String>) {
        if v.is_null() {
            return;
        }
        if let Some(inner) = ty
            .strip_prefix("Collection(")
            .and_then(|t| t.strip_suffix(')'))
        {
            match v.as_array() {
                Some(a) => {
                    for (i, x) in a.iter().enumerate() {
                        self.check_value(inner, x, &format!("{path}[{i}]"), problems);
                    }
                }
                None => problems.push(format!("{path}: expected an array of {inner}, got {v}")),
            }
            return;
        }
        let ok = match ty {
            "Edm.String" | "Edm.Guid" | "Edm.Binary" | "Edm.Duration" | "Edm.Date"
            | "Edm.TimeOfDay" => v.is_string(),
            "Edm.DateTimeOffset" => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "Edm.Boolean" => v.is_boolean(),
            "Edm.Int32" | "Edm.Int64" | "Edm.Int16" | "Edm.Byte" => v.is_i64() || v.is_u64(),
            "Edm.Double" | "Edm.Single" | "Edm.Decimal" => v.is_number(),
            t if self.enums.contains(t) => v.is_string(),
            t if self.types.contains_key(t) => {
                self.check(t, v, path, problems);
                true
            }
            _ => {
                problems.push(format!("{path}: unknown type {ty}"));
                true
            }
        };
        if !ok {
            problems.push(format!("{path}: {v} is not a {ty}"));
        }
    }
}

fn qualify(t: &str) -> String {
    // The main schema's alias is `graph`; `self` aliases microsoft.graph.security.
    if let Some(inner) = t
        .strip_prefix("Collection(")
        .and_then(|x| x.strip_suffix(')'))
    {
        return format!("Collection({})", qualify(inner));
    }
    if let Some(rest) = t.strip_prefix("graph.") {
        format!("microsoft.graph.{rest}")
    } else if let Some(rest) = t.strip_prefix("self.") {
        format!("microsoft.graph.security.{rest}")
    } else {
        t.to_string()
    }
}

fn assert_all(schema: &Schema, ty: &str, values: &[Value]) {
    assert!(!values.is_empty(), "no {ty} to check");
    let mut problems = Vec::new();
    for (i, v) in values.iter().enumerate() {
        schema.check(ty, v, &format!("{ty}[{i}]"), &mut problems);
    }
    assert!(
        problems.is_empty(),
        "schema mismatches:\n{}",
        problems.join("\n")
    );
}

fn values(body: &Value) -> Vec<Value> {
    body["value"].as_array().cloned().unwrap_or_default()
}

#[test]
fn schema_loads_the_types_we_check() {
    let s = Schema::load();
    for t in [
        "microsoft.graph.user",
        "microsoft.graph.group",
        "microsoft.graph.contact",
        "microsoft.graph.contactFolder",
        "microsoft.graph.orgContact",
        "microsoft.graph.presence",
        "microsoft.graph.subscription",
    ] {
        assert!(s.types.contains_key(t), "{t} missing from the CSDL");
    }
    assert_eq!(
        s.property("microsoft.graph.user", "businessPhones")
            .map(|p| p.ty),
        Some("Collection(Edm.String)".into())
    );
    // Inherited through outlookItem and entity.
    assert!(s.property("microsoft.graph.contact", "changeKey").is_some());
    assert_eq!(
        s.property("microsoft.graph.contact", "id").map(|p| p.ty),
        Some("Edm.String".into())
    );
    let mut problems = Vec::new();
    s.check(
        "microsoft.graph.user",
        &serde_json::json!({"displayName": 5, "madeUp": 1}),
        "u",
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[tokio::test]
async fn directory_and_outlook_entities_match_graph_schema() {
    use crate::common::{get, sim};
    let schema = Schema::load();
    let sim = sim(60).await;
    let token = sim.app_token();
    let all_user_props: Vec<String> = {
        let u = sim
            .state
            .tenant
            .read()
            .users
            .live()
            .next()
            .cloned()
            .expect("a user");
        serde_json::to_value(&u)
            .expect("json")
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect()
    };

    // Users: default set is exactly Graph's, and every property we can select is declared.
    let (st, _, body) = get(&sim, "/v1.0/users", &token).await;
    assert_eq!(st, 200, "{body}");
    let users = values(&body);
    for u in &users {
        let mut keys: Vec<&str> = u
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut want: Vec<&str> = graph_sim::model::USER_DEFAULT_PROPERTIES.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "GET /users without $select");
    }
    assert_all(&schema, "microsoft.graph.user", &users);
    let (st, _, body) = get(
        &sim,
        &format!("/v1.0/users?$select={}", all_user_props.join(",")),
        &token,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_all(&schema, "microsoft.graph.user", &values(&body));

    let (st, _, body) = get(&sim, "/v1.0/groups", &token).await;
    assert_eq!(st, 200, "{body}");
    assert_all(&schema, "microsoft.graph.group", &values(&body));

    let (st, _, body) = get(&sim, "/v1.0/contacts", &token).await;
    assert_eq!(st, 200, "{body}");
    assert_all(&schema, "microsoft.graph.orgContact", &values(&body));

    // Personal contacts and folders of the mailbox with the most folders.
    let owner = {
        let t = sim.state.tenant.read();
        t.mailboxes
            .iter()
            .filter(|(uid, _)| {
                t.users
                    .get(uid)
                    .is_some_and(|u| u.mailbox == graph_sim::model::MailboxKind::User)
            })
            .max_by_key(|(_, m)| (m.folders.live_count(), m.contacts.live_count()))
            .map(|(u, _)| u.clone())
            .expect("a mailbox")
    };
    let (st, _, body) = get(
        &sim,
        &format!("/v1.0/users/{owner}/contacts?$top=50"),
        &token,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let contacts = values(&body);
    assert_all(&schema, "microsoft.graph.contact", &contacts);
    // The properties shared/notes/graph.md §7 lists are all present on every contact.
    for c in &contacts {
        for p in [
            "id",
            "changeKey",
            "createdDateTime",
            "lastModifiedDateTime",
            "categories",
            "parentFolderId",
            "displayName",
            "givenName",
            "middleName",
            "surname",
            "nickName",
            "initials",
            "title",
            "generation",
            "fileAs",
            "companyName",
            "department",
            "jobTitle",
            "officeLocation",
            "profession",
            "manager",
            "assistantName",
            "businessPhones",
            "homePhones",
            "mobilePhone",
            "emailAddresses",
            "imAddresses",
            "businessAddress",
            "homeAddress",
            "otherAddress",
            "businessHomePage",
            "birthday",
            "spouseName",
            "children",
            "personalNotes",
        ] {
            assert!(c.get(p).is_some(), "contact lacks {p}: {c}");
        }
    }
    let (st, _, body) = get(&sim, &format!("/v1.0/users/{owner}/contactFolders"), &token).await;
    assert_eq!(st, 200, "{body}");
    assert_all(&schema, "microsoft.graph.contactFolder", &values(&body));

    // Presence: declared properties and documented values only.
    let ids: Vec<String> = sim
        .state
        .tenant
        .read()
        .users
        .live()
        .take(40)
        .map(|u| u.id.clone())
        .collect();
    let (st, _, body) = crate::common::send(
        &sim,
        reqwest::Method::POST,
        "/v1.0/communications/getPresencesByUserId",
        &token,
        Some(serde_json::json!({ "ids": ids })),
        &[],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let presences = values(&body);
    assert_all(&schema, "microsoft.graph.presence", &presences);
    const AVAILABILITY: &[&str] = &[
        "Available",
        "AvailableIdle",
        "Away",
        "BeRightBack",
        "Busy",
        "BusyIdle",
        "DoNotDisturb",
        "Offline",
        "PresenceUnknown",
    ];
    const ACTIVITY: &[&str] = &[
        "Available",
        "Away",
        "BeRightBack",
        "Busy",
        "DoNotDisturb",
        "InACall",
        "InAConferenceCall",
        "Inactive",
        "InAMeeting",
        "Offline",
        "OffWork",
        "OutOfOffice",
        "PresenceUnknown",
        "Presenting",
        "UrgentInterruptionsOnly",
        "AvailableInactive",
    ];
    for p in &presences {
        let a = p["availability"].as_str().unwrap_or("");
        let b = p["activity"].as_str().unwrap_or("");
        assert!(AVAILABILITY.contains(&a), "availability {a} undocumented");
        assert!(ACTIVITY.contains(&b), "activity {b} undocumented");
    }
}

#[tokio::test]
async fn subscription_matches_graph_schema() {
    use axum::routing::post;
    let schema = Schema::load();
    let sim = crate::common::sim(20).await;
    // A receiver that answers Graph's validation handshake correctly.
    let app = axum::Router::new().route(
        "/hook",
        post(
            |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                q.get("validationToken").cloned().unwrap_or_default()
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let expiry = (sim.state.clock.now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (st, _, body) = crate::common::send(
        &sim,
        reqwest::Method::POST,
        "/v1.0/subscriptions",
        &sim.app_token(),
        Some(serde_json::json!({
            "changeType": "updated,deleted",
            "notificationUrl": format!("http://{addr}/hook"),
            "resource": "/users",
            "expirationDateTime": expiry,
            "clientState": "secret-state",
        })),
        &[],
    )
    .await;
    server.abort();
    assert_eq!(st, 201, "{body}");
    assert_all(&schema, "microsoft.graph.subscription", &[body]);
}
