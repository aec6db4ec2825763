//! graph-sim: an emulator of Microsoft Entra ID and Microsoft Graph v1.0, faithful to Graph's
//! wire format (URLs, JSON shapes, headers, status codes, error bodies), paging, delta,
//! throttling and change notifications, so that pbx365 is tested — and demonstrated —
//! without a Microsoft tenant, and points at Microsoft or here by base URL alone.
//!
//! Table of contents:
//! - the shell: [`server`] (listeners, TLS, the Graph envelope), [`error`] (Graph's error
//!   body), [`odata`] (query options and links), [`caller`] (bearer tokens → permissions);
//! - the data: [`model`] (Graph's entity shapes), [`collection`] (versioned collections
//!   behind delta), [`state`] (the tenant and everything else), [`tenant_file`] and
//!   [`generate`] (where tenants come from);
//! - the services: [`entra`] (tokens, device code, OIDC), [`directory`] (users, groups, org
//!   contacts), [`outlook`] (contacts, folders, photos, calendar, mail), [`presence`],
//!   [`subscriptions`] (change notifications), [`batch`] (`$batch`);
//! - the emulator's own: [`control`] (`/_sim`), [`faults`], [`throttle`], [`clock`],
//!   [`reqlog`], [`config`] (behaviour parameters).

#![warn(missing_docs)]

pub mod batch;
pub mod caller;
pub mod clock;
pub mod collection;
pub mod config;
pub mod control;
pub mod directory;
pub mod entra;
pub mod error;
pub mod faults;
pub mod generate;
pub mod jwt;
pub mod model;
pub mod odata;
pub mod opaque;
pub mod outlook;
pub mod presence;
pub mod reqlog;
pub mod server;
pub mod state;
pub mod subscriptions;
pub mod tenant_file;
pub mod throttle;
pub mod tokens;

use crate::collection::Collection;
use crate::state::{AppState, Endpoints, Mailbox, SimState, TenantData};
use crate::tenant_file::TenantFile;
use axum::extract::DefaultBodyLimit;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the emulated tenant comes from.
#[derive(Debug, Clone)]
pub enum TenantSource {
    /// The deterministic generator.
    Generate {
        /// Number of people (members) to generate; guests, shared and resource mailboxes come on top.
        users: usize,
        /// Seed: the same seed gives the same tenant.
        seed: u64,
        /// Total personal contacts to spread over mailboxes (`None`: about 10 per user).
        contacts: Option<usize>,
    },
    /// A tenant file already read.
    File(Box<TenantFile>),
}

/// How to start the emulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Plain HTTP listener (port 0 = any free port).
    pub listen: SocketAddr,
    /// HTTPS listener (port 0 = any free port; `None` = no HTTPS).
    pub tls_listen: Option<SocketAddr>,
    /// The tenant.
    pub tenant: TenantSource,
    /// Behaviour parameters.
    pub behaviour: config::Behaviour,
    /// Latency added to every request.
    pub latency: Option<faults::Latency>,
    /// Where to write the CA certificate of the HTTPS listener.
    pub ca_file: PathBuf,
    /// Key for `/_sim` (random when `None`).
    pub admin_key: Option<String>,
}

impl SimConfig {
    /// Loopback on free ports, a generated tenant of `users` people, CA file in a temp dir.
    pub fn loopback(users: usize, seed: u64) -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            tenant: TenantSource::Generate {
                users,
                seed,
                contacts: None,
            },
            behaviour: config::Behaviour::default(),
            latency: None,
            ca_file: std::env::temp_dir()
                .join(format!("graph-sim-{}", uuid::Uuid::new_v4().simple()))
                .join("ca.pem"),
            admin_key: None,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The tenant file is inconsistent.
    #[error("the tenant is invalid: {0}")]
    Tenant(String),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// TLS material could not be made or written.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Credentials of the app a client should use.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCredentials {
    /// Tenant id.
    pub tenant_id: String,
    /// Client id of the fully consented app.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Key for `/_sim` calls (`Authorization: Bearer <key>` or `x-sim-key`).
    pub admin_key: String,
}

/// A running emulator.
pub struct RunningSim {
    /// The shared state (for in-process tests).
    pub state: AppState,
    /// HTTP address.
    pub http_addr: SocketAddr,
    /// HTTPS address.
    pub https_addr: Option<SocketAddr>,
    /// Where the CA PEM was written.
    pub ca_file: PathBuf,
    /// Credentials to use.
    pub credentials: SimCredentials,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `https://127.0.0.1:PORT`, when HTTPS is on.
    pub fn https_url(&self) -> Option<String> {
        self.https_addr.map(|a| format!("https://{a}"))
    }

    /// Graph base URL over HTTP (`…/v1.0`).
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.http_url())
    }

    /// An app-only token for the default app, minted directly (no HTTP round trip).
    pub fn app_token(&self) -> String {
        self.state
            .issue_app_token(&self.credentials.client_id)
            .map(|t| t.access_token)
            .unwrap_or_default()
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Builds the tenant's in-memory form.
pub fn tenant_data(file: TenantFile) -> Result<TenantData, String> {
    file.validate()?;
    let mut t = TenantData {
        tenant_id: file.tenant_id,
        domain: file.domain,
        display_name: file.display_name,
        ..Default::default()
    };
    for a in file.apps {
        t.apps.insert(a.client_id.clone(), a);
    }
    let mut users = Collection::default();
    for rec in file.users {
        let mut user = rec.user.user;
        user.mailbox = rec.user.mailbox;
        user.photo = rec.user.photo;
        let id = user.id.clone();
        if user.mailbox != model::MailboxKind::None {
            let data = rec
                .mailbox_data
                .unwrap_or_else(|| generate::empty_mailbox(&id));
            t.mailboxes.insert(id.clone(), Mailbox::from_data(data));
        }
        if let Some(p) = rec.presence {
            t.presence.insert(id.clone(), p);
        }
        users.insert(user, 0);
    }
    t.users = users;
    for g in file.groups {
        let mut group = g.group;
        group.members = g.members.into_iter().collect();
        t.groups.insert(group, 0);
    }
    for c in file.org_contacts {
        t.org_contacts.insert(c, 0);
    }
    Ok(t)
}

/// Makes sure some app is fully consented with a secret, adding the default one if not,
/// and returns its client id and secret.
fn ensure_default_app(t: &mut TenantData) -> (String, String) {
    let usable = |a: &model::App| {
        a.admin_consented
            && a.mailbox_scope.is_none()
            && a.secrets.iter().any(|s| s.end_date_time.as_str() > "2030")
    };
    // The app named "pbx365" (the generator's default) wins; otherwise any usable app.
    let existing = t
        .apps
        .values()
        .find(|a| usable(a) && a.display_name == "pbx365")
        .or_else(|| t.apps.values().find(|a| usable(a)));
    if let Some(a) = existing {
        let secret = a
            .secrets
            .iter()
            .find(|s| s.end_date_time.as_str() > "2030")
            .map(|s| s.value.clone())
            .unwrap_or_default();
        return (a.client_id.clone(), secret);
    }
    let app = generate::default_app(&mut rand::thread_rng());
    let out = (app.client_id.clone(), app.secrets[0].value.clone());
    t.apps.insert(app.client_id.clone(), app);
    out
}

/// Assembles every route behind the Graph envelope.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(entra::routes())
        .merge(directory::routes())
        .merge(outlook::routes())
        .merge(presence::routes())
        .merge(subscriptions::routes())
        .merge(batch::routes())
        .merge(control::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(server::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            server::envelope,
        ))
        .with_state(state)
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
) -> error::GraphError {
    let uri = req.uri().clone();
    // Graph authenticates before it routes: a bad token is a 401 even on an unknown path.
    if server::surface(uri.path()) == server::Surface::Graph {
        let (mut parts, _) = req.into_parts();
        if let Err(e) =
            <caller::Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
        {
            return e;
        }
    }
    let seg = uri
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    error::GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{seg}'."),
    )
}

/// Hands the memory freed while building the tenant (the generator's intermediate form) back
/// to the operating system, so the resident size is what the tenant really holds.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Starts the emulator: builds the tenant, binds the listeners, writes the CA file.
pub async fn start(config: SimConfig) -> Result<RunningSim, StartError> {
    let file = match config.tenant {
        TenantSource::File(f) => *f,
        TenantSource::Generate {
            users,
            seed,
            contacts,
        } => generate::generate(&generate::GenerateOptions {
            users,
            seed,
            contacts,
        }),
    };
    let mut tenant = tenant_data(file).map_err(StartError::Tenant)?;
    release_freed_memory();
    let (client_id, client_secret) = ensure_default_app(&mut tenant);
    let tenant_id = tenant.tenant_id.clone();
    let admin_key = config
        .admin_key
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let state: AppState = Arc::new(SimState {
        tenant: parking_lot::RwLock::new(tenant),
        clock: clock::SimClock::default(),
        signing_key: jwt::SigningKey::generate(),
        tokens: opaque::TokenCodec::random(),
        verified_tokens: parking_lot::Mutex::new(Default::default()),
        behaviour: parking_lot::RwLock::new(config.behaviour),
        throttle: throttle::Throttle::default(),
        faults: parking_lot::RwLock::new(faults::Faults {
            latency: config.latency,
            rules: Vec::new(),
        }),
        reqlog: reqlog::RequestLog::default(),
        outbox: parking_lot::Mutex::new(Vec::new()),
        admin_key: admin_key.clone(),
        entra: parking_lot::Mutex::new(entra::EntraState::default()),
        subscriptions: subscriptions::Subscriptions::default(),
        router: std::sync::OnceLock::new(),
        endpoints: std::sync::OnceLock::new(),
    });
    let app = router(state.clone());
    let _ = state.router.set(app.clone());

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let mut tasks = vec![tokio::spawn(server::serve(listener, app.clone(), None))];
    let mut https_addr = None;
    if let Some(addr) = config.tls_listen {
        let tls = server::generate_tls().map_err(StartError::Tls)?;
        server::write_ca(&config.ca_file, &tls.ca_pem)
            .map_err(|e| StartError::Tls(format!("writing {}: {e}", config.ca_file.display())))?;
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        https_addr = Some(
            l.local_addr()
                .map_err(|source| StartError::Bind { addr, source })?,
        );
        tasks.push(tokio::spawn(server::serve(l, app, Some(tls.acceptor))));
    }
    let _ = state.endpoints.set(Endpoints {
        http: format!("http://{http_addr}"),
        https: https_addr.map(|a| format!("https://{a}")),
    });
    tasks.extend(subscriptions::spawn_workers(state.clone()));
    Ok(RunningSim {
        state,
        http_addr,
        https_addr,
        ca_file: config.ca_file,
        credentials: SimCredentials {
            tenant_id,
            client_id,
            client_secret,
            admin_key,
        },
        tasks,
    })
}
