//! The route table, the [`router`] built from it with its limits, and [`serve`], which binds a
//! listener and runs the router until shut down.

use crate::config::{ConfigError, HttpConfig};
use crate::error::{Failure, Flavour, HttpError};
use crate::guard::{self, RateLimiter};
use crate::{api, export, lookup, phones};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use directory::DirectoryService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The settings.
    pub config: Arc<HttpConfig>,
    /// The directory every request is answered from.
    pub service: Arc<dyn DirectoryService>,
    /// The per-address rate limiter, when configured.
    pub limiter: Option<Arc<RateLimiter>>,
}

/// One route: its methods and path, and whether it also exists under `/sites/{site}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP methods, lower case (as OpenAPI spells them).
    pub methods: Vec<&'static str>,
    /// The path in axum's syntax (`{id}` for parameters), which is also OpenAPI's.
    pub path: String,
    /// True for routes answered per site (default site here, any site under `/sites/{site}`).
    pub site_scoped: bool,
}

struct Spec {
    methods: &'static [&'static str],
    path: &'static str,
    site_scoped: bool,
    handler: MethodRouter<AppState>,
}

fn spec(
    methods: &'static [&'static str],
    path: &'static str,
    site_scoped: bool,
    handler: MethodRouter<AppState>,
) -> Spec {
    Spec {
        methods,
        path,
        site_scoped,
        handler,
    }
}

/// The one list the router is built from (and [`routes`] reports).
fn specs() -> Vec<Spec> {
    vec![
        spec(&["get"], "/healthz", false, get(healthz)),
        spec(&["get"], "/api/v1/openapi.json", false, get(api::openapi)),
        spec(
            &["get"],
            "/yealink/directory.xml",
            true,
            get(phones::yealink_directory),
        ),
        spec(
            &["get"],
            "/yealink/phonebook.xml",
            true,
            get(phones::yealink_phonebook),
        ),
        spec(
            &["get"],
            "/snom/directory.xml",
            true,
            get(phones::snom_directory),
        ),
        spec(
            &["get", "post"],
            "/snom/remote.xml",
            true,
            get(phones::snom_remote).post(phones::snom_remote),
        ),
        spec(
            &["get"],
            "/cisco/directory.xml",
            true,
            get(phones::cisco_directory),
        ),
        spec(
            &["get"],
            "/cisco/search.xml",
            true,
            get(phones::cisco_search),
        ),
        spec(
            &["get"],
            "/grandstream/phonebook.xml",
            true,
            get(phones::grandstream),
        ),
        spec(&["get"], "/fanvil/directory.xml", true, get(phones::fanvil)),
        spec(
            &["get"],
            "/polycom/directory.xml",
            true,
            get(phones::polycom),
        ),
        spec(
            &["get"],
            "/gigaset/phonebook.xml",
            true,
            get(phones::gigaset),
        ),
        spec(&["get"], "/lookup", true, get(lookup::text)),
        spec(&["get"], "/export/3cx.csv", true, get(export::threecx)),
        spec(&["get"], "/export/freepbx.csv", true, get(export::freepbx)),
        spec(&["get"], "/api/v1/search", true, get(api::search)),
        spec(&["get"], "/api/v1/entries/{id}", true, get(api::entry)),
        spec(
            &["get"],
            "/api/v1/entries/{id}/photo",
            true,
            get(api::photo),
        ),
        spec(&["get"], "/api/v1/phonebooks", true, get(api::phonebooks)),
        spec(
            &["get"],
            "/api/v1/phonebooks/{book}",
            true,
            get(api::phonebook),
        ),
        spec(&["get"], "/api/v1/extensions", true, get(api::extensions)),
        spec(&["get"], "/api/v1/lookup", true, get(lookup::api)),
    ]
}

/// Every route the router answers, site-scoped ones twice (bare, for the default site, and
/// under `/sites/{site}`).
pub fn routes() -> Vec<RouteInfo> {
    let mut out = Vec::new();
    for spec in specs() {
        out.push(RouteInfo {
            methods: spec.methods.to_vec(),
            path: spec.path.to_owned(),
            site_scoped: spec.site_scoped,
        });
        if spec.site_scoped {
            out.push(RouteInfo {
                methods: spec.methods.to_vec(),
                path: format!("/sites/{{site}}{}", spec.path),
                site_scoped: true,
            });
        }
    }
    out
}

/// `GET /healthz`: 200 `ok` when the directory answers, 503 otherwise. No credentials needed.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.service.sites().await {
        Ok(_) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: directory unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "directory unavailable\n").into_response()
        }
    }
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    Failure {
        error: HttpError::NotFound(format!("no such page {}", uri.path())),
        flavour: Flavour::of_path(uri.path()),
    }
    .into_response()
}

/// Turns the limit layers' errors into answers in the route's flavour.
async fn overloaded(OriginalUri(uri): OriginalUri, err: tower::BoxError) -> Response {
    let error = if err.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!(path = uri.path(), "request timed out");
        HttpError::TimedOut
    } else {
        HttpError::Busy
    };
    Failure {
        error,
        flavour: Flavour::of_path(uri.path()),
    }
    .into_response()
}

/// The HTTP front end as an axum router: every route of [`routes`], behind the allow-list,
/// the rate limit, the concurrency limit (excess requests get 503 at once), the request
/// timeout (503), the body size limit (413) and ETag handling. Serve it with connect info (`SocketAddr`) so the allow-list
/// and rate limit see client addresses; [`serve`] does.
pub fn router(config: HttpConfig, service: Arc<dyn DirectoryService>) -> Router {
    let limiter = config
        .rate_limit
        .map(|rate| Arc::new(RateLimiter::new(rate)));
    let body_limit = config.body_limit;
    let concurrency = config.concurrency_limit.max(1);
    let timeout = config
        .request_timeout
        .max(std::time::Duration::from_millis(1));
    let state = AppState {
        config: Arc::new(config),
        service,
        limiter,
    };
    let mut root = Router::new();
    let mut site = Router::new();
    for spec in specs() {
        if spec.site_scoped {
            site = site.route(spec.path, spec.handler);
        } else {
            root = root.route(spec.path, spec.handler);
        }
    }
    root.merge(site.clone())
        .nest("/sites/{site}", site)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(guard::etag))
        .layer(
            // Router::layer wraps each route on its own; the global layer shares one
            // semaphore between them, so the limit is for the whole server.
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(concurrency))
                .timeout(timeout),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source} (is another program using the port? set a different http listen address)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Accepting or serving connections failed.
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("HTTP server task ended abnormally: {0}")]
    Task(String),
}

/// A running server: its bound address and the task serving it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    pub(crate) fn new(
        addr: SocketAddr,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    ) -> ServerHandle {
        ServerHandle { addr, task }
    }

    /// The address actually bound (the real port when the configuration said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server has shut down (after the shutdown future completed and open
    /// requests finished).
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(result) => result.map_err(ServeError::Io),
            Err(err) => Err(ServeError::Task(err.to_string())),
        }
    }
}

/// Validates `config`, binds its listen address and serves [`router`] on it in a background
/// task until `shutdown` completes.
pub async fn serve(
    config: HttpConfig,
    service: Arc<dyn DirectoryService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ServerHandle, ServeError> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let app = router(config, service).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    tracing::info!(%addr, "HTTP front end listening");
    Ok(ServerHandle { addr, task })
}
