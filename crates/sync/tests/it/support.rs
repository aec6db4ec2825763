//! Emulator, store and config for one test.
#![allow(dead_code)]

use graph_sim::tenant_file::TenantFile;
use graph_sim::{RunningSim, SimConfig, TenantSource};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use store::Store;
use sync::{JobReport, SyncOptions};

/// The PostgreSQL the tests use (trust auth).
pub const PG_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// An emulator, a store and a site config pointing at each other.
pub struct Env {
    pub sim: RunningSim,
    pub store: Arc<dyn Store>,
    pub site: config::Site,
    pub dir: PathBuf,
    pub pg_schema: Option<String>,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the emulator on `tenant` (a generated one when `None`).
pub async fn sim(tenant: Option<TenantFile>, users: usize) -> RunningSim {
    let mut cfg = SimConfig::loopback(users, 7);
    if let Some(t) = tenant {
        cfg.tenant = TenantSource::File(Box::new(t));
    }
    graph_sim::start(cfg).await.expect("emulator starts")
}

/// A temp folder of its own.
pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pbx365-sync-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The config text of one site on `sim`; `users` and `rest` are TOML put into `[site.users]`
/// and after it.
pub fn config_text(sim: &RunningSim, users: &str, rest: &str) -> String {
    // The DID range +49301234 100-199 fits 3-digit extensions only; the config rejects it
    // beside other lengths.
    let ranges = if rest.contains("length = 3") {
        "[[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 199"
    } else {
        ""
    };
    format!(
        r#"[store]
url = "sqlite://unused.db"

[[site]]
name = "main"

[site.tenant]
tenant_id = "{tid}"
client_id = "{cid}"
authority_url = "{http}"
graph_url = "{http}/v1.0"

[site.dialling]
country = "DE"
area_code = "30"

{ranges}

[site.users]
{users}

{rest}
"#,
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
    )
}

/// Parses a site config with the emulator's secret given through the environment.
pub fn site(sim: &RunningSim, text: &str, dir: &std::path::Path) -> config::Site {
    let env = vec![(
        "PBX365_SITE__0__TENANT__CLIENT_SECRET".to_string(),
        sim.credentials.client_secret.clone(),
    )];
    let cfg = config::Config::parse(text, &dir.join("pbx365.toml"), dir, env)
        .unwrap_or_else(|e| panic!("config: {e}"));
    cfg.sites.into_iter().next().expect("one site")
}

/// A fresh store: SQLite in the temp dir, or a fresh PostgreSQL schema.
pub async fn open_store(dir: &std::path::Path, postgres: bool) -> (Arc<dyn Store>, Option<String>) {
    if !postgres {
        let url = format!("sqlite://{}", dir.join("store.db").display());
        return (store::open(&url).await.expect("sqlite store"), None);
    }
    use sqlx::Connection;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(PG_URL)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {PG_URL} ({e})"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let _ = conn.close().await;
    let url = format!("{PG_URL}?options=-c%20search_path%3D{schema}");
    (
        store::open(&url).await.expect("postgres store"),
        Some(schema),
    )
}

/// Drops a PostgreSQL test schema.
pub async fn drop_schema(schema: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(PG_URL).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

impl Env {
    /// Emulator + store + site.
    pub async fn new(sim: RunningSim, users: &str, rest: &str, postgres: bool) -> Env {
        let dir = temp_dir();
        let site = site(&sim, &config_text(&sim, users, rest), &dir);
        let (store, pg_schema) = open_store(&dir, postgres).await;
        Env {
            sim,
            store,
            site,
            dir,
            pg_schema,
        }
    }

    /// Runs one job with a fresh client (as the CLI does).
    pub async fn run(&self, options: SyncOptions) -> JobReport {
        let client = sync::client_for_site(&self.site).expect("client");
        sync::run_users_job(self.store.clone(), &client, &self.site, options).await
    }

    /// The site's extensions.
    pub async fn extensions(&self) -> Vec<directory::Extension> {
        let id = directory::SiteId::new("main").expect("site id");
        self.store.list_extensions(&id).await.expect("list")
    }

    /// A `/_sim` or Graph call with the admin key or an app token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        admin: bool,
    ) -> u16 {
        let token = if admin {
            self.sim.credentials.admin_key.clone()
        } else {
            self.sim.app_token()
        };
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{}", self.sim.http_url(), path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request").status().as_u16()
    }

    /// Grants the default app one more application permission.
    pub async fn grant(&self, role: &str) {
        let path = format!("/_sim/apps/{}/roles/{role}", self.sim.credentials.client_id);
        let status = self.call(reqwest::Method::POST, &path, None, true).await;
        assert!((200..300).contains(&status), "grant {role}: {status}");
    }

    /// Ends the test: drops the PostgreSQL schema.
    pub async fn cleanup(&self) {
        if let Some(s) = &self.pg_schema {
            drop_schema(s).await;
        }
    }
}

/// `(number, display name, caller id, enabled)` of each extension, by number.
pub fn summary(exts: &[directory::Extension]) -> Vec<(String, String, Option<String>, bool)> {
    let mut v: Vec<_> = exts
        .iter()
        .map(|e| {
            (
                e.number.as_str().to_string(),
                e.display_name.clone(),
                e.outbound_caller_id
                    .as_ref()
                    .map(|c| c.as_str().to_string()),
                e.enabled,
            )
        })
        .collect();
    v.sort();
    v
}

/// Graph requests the emulator served by its request log (`/_sim/requests`): each request a
/// `$batch` carried counts, the batch itself and token requests do not.
pub fn graph_requests(seen: &Value) -> u64 {
    seen["byEndpoint"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.contains("/v1.0/") && k.as_str() != "POST /v1.0/$batch")
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

impl Env {
    /// Runs one job over every enabled source (narrowed by `options.sources`).
    pub async fn run_all(&self, options: SyncOptions) -> JobReport {
        let client = sync::client_for_site(&self.site).expect("client");
        sync::run_job(self.store.clone(), &client, &self.site, options).await
    }

    /// A `/_sim` or Graph call that returns its JSON body too.
    pub async fn call_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        admin: bool,
    ) -> (u16, Value) {
        let token = if admin {
            self.sim.credentials.admin_key.clone()
        } else {
            self.sim.app_token()
        };
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{}", self.sim.http_url(), path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// One phonebook as `(name, [(raw, e164)])`, by name then numbers.
    pub async fn phonebook(&self, book: &directory::PhonebookKind) -> Vec<Book> {
        let id = directory::SiteId::new("main").expect("site id");
        let mut v: Vec<Book> = self
            .store
            .list_contacts(&id, book)
            .await
            .expect("contacts")
            .into_iter()
            .map(|c| book_entry(&c))
            .collect();
        v.sort();
        v
    }
}

/// A contact as tests compare it: name and `(raw, e164)` numbers.
pub type Book = (String, Vec<(String, Option<String>)>);

/// A stored contact as a [`Book`] entry.
pub fn book_entry(c: &directory::ContactRecord) -> Book {
    (
        c.display_name.clone(),
        c.numbers
            .iter()
            .map(|n| {
                (
                    n.raw.clone(),
                    n.e164.as_ref().map(|e| e.as_str().to_string()),
                )
            })
            .collect(),
    )
}

/// The personal phonebook of `user`.
pub fn personal(user: &str) -> directory::PhonebookKind {
    directory::PhonebookKind::Personal {
        owner_user_id: user.to_string(),
    }
}

impl Env {
    /// Emulator + store + a site whose config text `edit` may change first.
    pub async fn with_config(
        sim: RunningSim,
        users: &str,
        rest: &str,
        postgres: bool,
        edit: impl Fn(String) -> String,
    ) -> Env {
        let dir = temp_dir();
        let site = site(&sim, &edit(config_text(&sim, users, rest)), &dir);
        let (store, pg_schema) = open_store(&dir, postgres).await;
        Env {
            sim,
            store,
            site,
            dir,
            pg_schema,
        }
    }
}
