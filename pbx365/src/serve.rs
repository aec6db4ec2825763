//! `pbx365 serve`: the directory served over HTTP (and LDAP), kept current from the store, with
//! sync jobs on a schedule. [`start`] is shared with `pbx365 demo`.

use crate::directory_cmd::open_service;
use anyhow::Context;
use directory::{DirectoryService, SiteId};
use pbx365_http::{Cidr, HttpConfig, RateLimit};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::watch;

/// Options of `pbx365 serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// Minutes between sync jobs of each site (changes only); 0 turns the schedule off.
    #[arg(long, value_name = "MINUTES", default_value_t = 15)]
    sync_every: u64,
    /// Do not run a sync job at start (serve what the store has).
    #[arg(long)]
    no_initial_sync: bool,
}

/// A shutdown signal every task watches: flips to `true` once.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Completes when shutdown was asked for (or the trigger is gone).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// What runs, once started.
pub struct Running {
    /// The HTTP front end's address, when it runs.
    pub http: Option<SocketAddr>,
    /// The LDAP front end's plain listener, when it runs.
    pub ldap: Option<SocketAddr>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<anyhow::Result<()>>)>,
}

impl Running {
    /// Waits for every task to stop (after the shutdown signal), reporting the first failure.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut first = Ok(());
        for (name, task) in self.tasks {
            let result = match task.await {
                Ok(r) => r.with_context(|| format!("{name} failed")),
                Err(e) => Err(anyhow::anyhow!("{name} panicked: {e}")),
            };
            if let Err(e) = result {
                eprintln!("error: {e:#}");
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

/// The HTTP front end's settings from the configuration; numbers in the first site's form.
fn http_config(config: &config::Config) -> anyhow::Result<HttpConfig> {
    let h = &config.http;
    let allow = h
        .allow
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.parse::<Cidr>()
                .map_err(|e| anyhow::anyhow!("http.allow[{i}] = {a:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = &config.sites[0];
    Ok(HttpConfig {
        listen: h.listen,
        allow,
        body_limit: h.body_limit_bytes,
        concurrency_limit: h.max_concurrent,
        request_timeout: h.request_timeout,
        rate_limit: (h.rate_per_second > 0).then_some(RateLimit {
            per_second: h.rate_per_second,
            burst: h.rate_burst,
        }),
        number_form: first.dialling.number_form,
        default_site: Some(SiteId::new(&first.name)?),
        ..HttpConfig::default()
    })
}

/// The LDAP front end's settings from the configuration; numbers in the first site's form.
fn ldap_config(config: &config::Config) -> anyhow::Result<pbx365_ldap::LdapConfig> {
    let l = &config.ldap;
    let first = &config.sites[0];
    let tls = match (&l.certificate_file, &l.private_key_file) {
        (Some(cert), Some(key)) => Some(pbx365_ldap::TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let limits = pbx365_ldap::Limits {
        max_connections: l.max_connections,
        idle_timeout: l.idle_timeout,
        max_results: l.size_limit,
        max_sorted: l.sort_limit,
        ..pbx365_ldap::Limits::default()
    };
    Ok(pbx365_ldap::LdapConfig {
        listen: vec![l.listen],
        listen_tls: l.ldaps_listen.into_iter().collect(),
        starttls: l.starttls,
        tls,
        default_site: Some(SiteId::new(&first.name)?),
        number_form: first.dialling.number_form,
        limits,
    })
}

/// Runs one sync job per site now and refreshes the directory after it; failures are reported
/// and the last good directory stays served.
pub async fn sync_all(
    config: &config::Config,
    store: &Arc<dyn Store>,
    service: &pbx365_index::IndexService,
    trigger: store::JobTrigger,
) {
    for site in &config.sites {
        let client = match sync::client_for_site(site) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("site {}: cannot build the Graph client: {e}", site.name);
                continue;
            }
        };
        let options = sync::SyncOptions {
            trigger,
            ..sync::SyncOptions::default()
        };
        let report = sync::run_job(store.clone(), &client, site, options).await;
        match &report.error {
            None => tracing::info!(site = %site.name, job = ?report.job, "sync job succeeded"),
            Some(e) => eprintln!("site {}: sync job failed: {e}", site.name),
        }
    }
    if let Err(e) = service.refresh().await {
        eprintln!("directory refresh failed (the last good directory stays served): {e}");
    }
}

/// Starts everything `serve` runs: the index with its refresh loop, the HTTP front end and the
/// sync schedule. Stops when `shutdown` fires.
pub async fn start(
    config: Arc<config::Config>,
    store: Arc<dyn Store>,
    sync_every: Option<Duration>,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let service = open_service(&config, store.clone()).await?;
    let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<anyhow::Result<()>>)> = Vec::new();

    let refresh = service
        .clone()
        .spawn_refresh_loop(config.directory.refresh_interval, shutdown.clone().wait());
    tasks.push((
        "directory refresh",
        tokio::spawn(async move {
            refresh.await.context("refresh loop")?;
            Ok(())
        }),
    ));

    let mut http = None;
    if config.http.enabled {
        let dyn_service: Arc<dyn DirectoryService> = service.clone();
        let handle =
            pbx365_http::serve(http_config(&config)?, dyn_service, shutdown.clone().wait())
                .await
                .context("starting the HTTP front end")?;
        http = Some(handle.local_addr());
        tasks.push((
            "HTTP front end",
            tokio::spawn(async move { Ok(handle.wait().await?) }),
        ));
    }

    let mut ldap = None;
    if config.ldap.enabled {
        let dyn_service: Arc<dyn DirectoryService> = service.clone();
        let handle =
            pbx365_ldap::serve(ldap_config(&config)?, dyn_service, shutdown.clone().wait())
                .await
                .context("starting the LDAP front end")?;
        ldap = handle.plain_addrs().first().copied();
        tasks.push((
            "LDAP front end",
            tokio::spawn(async move {
                handle.stopped().await;
                Ok(())
            }),
        ));
    }

    if let Some(every) = sync_every {
        let (config, store, service, stop) =
            (config.clone(), store.clone(), service.clone(), shutdown);
        tasks.push((
            "sync schedule",
            tokio::spawn(async move {
                let mut stop = std::pin::pin!(stop.wait());
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await; // the first tick is now: the initial sync ran already
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tick.tick() => {}
                    }
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = sync_all(&config, &store, &service, store::JobTrigger::Schedule) => {}
                    }
                }
                Ok(())
            }),
        ));
    }
    Ok(Running { http, ldap, tasks })
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs `pbx365 serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = config::Config::load(&args.config, std::env::vars())
        .with_context(|| format!("loading {}", args.config.display()))?;
    for w in config.warnings() {
        eprintln!("warning: {w}");
    }
    let config = Arc::new(config);
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    if !args.no_initial_sync {
        let service = open_service(&config, store.clone()).await?;
        eprintln!(
            "running the initial sync of {} site(s)…",
            config.sites.len()
        );
        sync_all(&config, &store, &service, store::JobTrigger::Startup).await;
    }
    let (stop, shutdown) = Shutdown::new();
    let every = (args.sync_every > 0).then(|| Duration::from_secs(args.sync_every * 60));
    let running = start(config, store, every, shutdown).await?;
    if let Some(a) = running.http {
        eprintln!("HTTP front end on http://{a} (OpenAPI: http://{a}/api/v1/openapi.json)");
    }
    if let Some(a) = running.ldap {
        eprintln!("LDAP front end on ldap://{a} (base dc=pbx365)");
    }
    eprintln!("serving; Ctrl-C stops");
    interrupted().await;
    eprintln!("stopping…");
    let _ = stop.send(true);
    running.wait().await
}
