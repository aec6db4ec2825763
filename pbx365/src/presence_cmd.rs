//! `pbx365 presence`: run a site's presence bridge, and show what it last saw per user.

use anyhow::{bail, Context};
use presence::{BridgeSettings, MappedUser, StatusSnapshot, UserStatus};
use std::path::PathBuf;

/// Options of `pbx365 presence`.
#[derive(Debug, clap::Args)]
pub struct PresenceArgs {
    #[command(subcommand)]
    command: PresenceCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PresenceCommand {
    /// Show each mapped user's Teams and PBX state, the last change and who made it.
    ///
    /// Reads the status file the running bridge writes (`[site.presence] status_file`).
    Status(StatusArgs),
    /// Run a site's presence bridge until interrupted (Ctrl-C).
    ///
    /// Maps the site's enabled extensions (from the store, as the last sync left them) minus
    /// the opt-outs, subscribes to their presence and dialog state on the SIP server, polls
    /// Teams, and carries each change to the other side under the configured status maps.
    Run(RunArgs),
    /// Manage the presence reader accounts (Teams presence by change notification).
    ///
    /// Graph lets only a signed-in user subscribe to presence changes, ≤ 650 users per
    /// subscription: a site with N bridged users needs ⌈N / 650⌉ reader accounts, each signed
    /// in once by device code. Their refresh tokens are stored encrypted ([store] key_file).
    /// Users no reader covers are polled.
    #[command(subcommand)]
    Readers(ReadersCommand),
    /// Release a user whose bridging the flap detector froze (latched), or every latched user.
    ///
    /// Hands the request to the running bridge through a folder beside its status file
    /// (`<status_file>.control/`), which the bridge reads every tick; then waits until the
    /// status file shows the user released. The release carries what each side shows now
    /// (a call on the phone to Teams, a Teams meeting to the PBX), then every later change.
    /// Check the status maps first: a map that flaps latches again.
    Release(ReleaseArgs),
}

#[derive(Debug, clap::Subcommand)]
enum ReadersCommand {
    /// Sign a reader account in by device code (prints the URL and code; waits until the
    /// sign-in is done, declined or expired) and store its refresh token encrypted.
    Add(SiteArgs),
    /// Show readers present vs needed, and how many users are left to polling.
    List {
        #[command(flatten)]
        site: SiteArgs,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a reader (by UPN or object id); its users go back to polling.
    Remove {
        /// The reader's UPN or object id.
        reader: String,
        #[command(flatten)]
        site: SiteArgs,
    },
}

/// The configuration file and site of a readers command.
#[derive(Debug, clap::Args)]
struct SiteArgs {
    /// The configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// The site (default: the only site with a [site.presence] section).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
}

/// Options of `pbx365 presence release`.
#[derive(Debug, clap::Args)]
struct ReleaseArgs {
    /// The latched user: Entra object id or extension.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    user: Option<String>,
    /// Release every latched user.
    #[arg(long)]
    all: bool,
    /// The configuration file (finds the status file of the site).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// The site (default: the only site with a [site.presence] section).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Use this status file instead of the one the configuration names.
    #[arg(long, value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// How long to wait for the running bridge to confirm, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    wait: u64,
}

/// Options of `pbx365 presence status`.
#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Only this user: Entra object id or extension.
    user: Option<String>,
    /// The configuration file (finds the status file of the site).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// The site (default: the only site with a [site.presence] section).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Read this status file instead of the one the configuration names.
    #[arg(long, value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Options of `pbx365 presence run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// The site (default: the only site with a [site.presence] section).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
}

/// Runs `pbx365 presence …`.
pub async fn run(args: PresenceArgs) -> anyhow::Result<()> {
    match args.command {
        PresenceCommand::Status(a) => status(a),
        PresenceCommand::Run(a) => run_bridge(a).await,
        PresenceCommand::Readers(c) => readers(c).await,
        PresenceCommand::Release(a) => release(a).await,
    }
}

/// The status file named on the command line, or the site's.
fn status_file(
    given: Option<PathBuf>,
    config: &std::path::Path,
    site: Option<&str>,
) -> anyhow::Result<PathBuf> {
    match given {
        Some(f) => Ok(f),
        None => {
            let c = load_config(config)?;
            let (_, p) = presence_site(&c, config, site)?;
            Ok(p.status_file.clone())
        }
    }
}

async fn release(args: ReleaseArgs) -> anyhow::Result<()> {
    let file = status_file(args.state_file, &args.config, args.site.as_deref())?;
    let snap = StatusSnapshot::load(&file)?;
    let (request, wanted): (presence::Release, Vec<String>) = match &args.user {
        Some(key) => {
            let Some(u) = snap.find(key) else {
                bail!(
                    "no user {key:?} in {} (give an Entra object id or an extension)",
                    file.display()
                );
            };
            if u.latched_at_ms.is_none() {
                println!(
                    "{} (ext {}) is not latched; nothing to release",
                    u.user_id, u.extension
                );
                return Ok(());
            }
            (
                presence::Release::User(u.user_id.clone()),
                vec![u.user_id.clone()],
            )
        }
        None => {
            let latched: Vec<String> = snap
                .users
                .values()
                .filter(|u| u.latched_at_ms.is_some())
                .map(|u| u.user_id.clone())
                .collect();
            if latched.is_empty() {
                println!("no user is latched; nothing to release");
                return Ok(());
            }
            (presence::Release::All, latched)
        }
    };
    let queued = presence::control::request_release(&file, &request)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    loop {
        // The bridge rewrites the status file every tick; a file that cannot be read for a
        // moment is being replaced.
        if let Ok(now) = StatusSnapshot::load(&file) {
            let still: Vec<&String> = wanted
                .iter()
                .filter(|id| {
                    now.users
                        .get(*id)
                        .is_some_and(|u| u.latched_at_ms.is_some())
                })
                .collect();
            if still.is_empty() {
                for id in &wanted {
                    let ext = now.users.get(id).map_or("?", |u| u.extension.as_str());
                    println!(
                        "released {id} (ext {ext}); each side now shows the other's current state"
                    );
                }
                return Ok(());
            }
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "the bridge did not take the request within {} s (queued as {}); is `pbx365 \
                 presence run` running with the status file {}? It takes the request when it runs",
                args.wait,
                queued.display(),
                file.display()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn readers(command: ReadersCommand) -> anyhow::Result<()> {
    let args = match &command {
        ReadersCommand::Add(a) => a,
        ReadersCommand::List { site, .. } | ReadersCommand::Remove { site, .. } => site,
    };
    let config = load_config(&args.config)?;
    let (site, p) = presence_site(&config, &args.config, args.site.as_deref())?;
    match &command {
        ReadersCommand::Add(_) => crate::presence_readers::add(&config, site, p).await,
        ReadersCommand::List { json, .. } => {
            crate::presence_readers::list(&config, site, p, *json).await
        }
        ReadersCommand::Remove { reader, .. } => {
            crate::presence_readers::remove(&config, site, reader).await
        }
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<config::Config> {
    let config = config::Config::load(path, std::env::vars())
        .with_context(|| format!("loading {}", path.display()))?;
    for w in config.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

/// The site named, or the only one with a presence section, and its presence settings.
fn presence_site<'a>(
    config: &'a config::Config,
    file: &std::path::Path,
    name: Option<&str>,
) -> anyhow::Result<(&'a config::Site, &'a config::PresenceBridge)> {
    let with: Vec<&config::Site> = config
        .sites
        .iter()
        .filter(|s| s.presence.is_some())
        .collect();
    let site = match name {
        Some(n) => match config.site(n) {
            Some(s) => s,
            None => bail!("{} has no site named {n:?}", file.display()),
        },
        None => match with.as_slice() {
            [one] => *one,
            [] => bail!(
                "no site in {} has a [site.presence] section; add one (see `pbx365 init`'s example)",
                file.display()
            ),
            _ => bail!("several sites have a presence bridge; choose one with --site NAME"),
        },
    };
    match &site.presence {
        Some(p) => Ok((site, p)),
        None => bail!(
            "site {:?} has no [site.presence] section; add one (see `pbx365 init`'s example)",
            site.name
        ),
    }
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let file = match args.state_file {
        Some(f) => f,
        None => {
            let config = load_config(&args.config)?;
            let (_, p) = presence_site(&config, &args.config, args.site.as_deref())?;
            p.status_file.clone()
        }
    };
    let snap = StatusSnapshot::load(&file)?;
    let users: Vec<&UserStatus> = match &args.user {
        Some(key) => match snap.find(key) {
            Some(u) => vec![u],
            None => bail!(
                "no user {key:?} in {} (give an Entra object id or an extension)",
                file.display()
            ),
        },
        None => snap.users.values().collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&users)?);
        return Ok(());
    }
    println!("site {} — status as of {}", snap.site, when(snap.at_ms));
    for a in &snap.alerts {
        println!("ALERT: {a}");
    }
    for s in &snap.subscriptions {
        println!(
            "presence subscription {} (reader {}) until {}",
            s.id, s.reader, s.expires
        );
    }
    let latched: Vec<String> = snap
        .users
        .values()
        .filter_map(|u| {
            Some(format!(
                "{} (ext {}) since {}",
                u.user_id,
                u.extension,
                when(u.latched_at_ms?)
            ))
        })
        .collect();
    if !latched.is_empty() && args.user.is_none() {
        println!(
            "{} latched (bridging frozen; `pbx365 presence release USER|--all`): {}",
            latched.len(),
            latched.join(", ")
        );
    }
    for u in users {
        println!("{}", render(u));
    }
    Ok(())
}

fn when(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "?".into(),
            |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        )
}

fn side(s: &Option<presence::status::SideStatus>) -> String {
    match s {
        Some(s) => format!("{} ({}, {})", s.state, s.origin, when(s.at_ms)),
        None => "not seen yet".into(),
    }
}

/// One user as lines of text.
fn render(u: &UserStatus) -> String {
    let mut out = format!(
        "{} ext {}{}\n  teams: {}\n  pbx:   {}\n  bridge writes: teams {}, pbx {}",
        u.user_id,
        u.extension,
        if u.watching {
            ""
        } else {
            " (not watched on the SIP server yet)"
        },
        side(&u.teams),
        side(&u.pbx),
        u.bridge_teams,
        u.bridge_pbx
    );
    if let Some((which, s)) = u.last_change() {
        out.push_str(&format!(
            "\n  last change: {which} → {} by {} at {}",
            s.state,
            s.origin,
            when(s.at_ms)
        ));
    }
    if let Some(at) = u.latched_at_ms {
        out.push_str(&format!("\n  LATCHED at {}", when(at)));
    }
    if let Some(a) = &u.alert {
        out.push_str(&format!("\n  alert: {a}"));
    }
    if let Some(e) = &u.last_error {
        out.push_str(&format!("\n  last error: {e}"));
    }
    out
}

async fn run_bridge(args: RunArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let (site, p) = presence_site(&config, &args.config, args.site.as_deref())?;
    if !p.enabled {
        bail!(
            "the presence bridge of site {:?} is off (enabled = false)",
            site.name
        );
    }
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let site_id = directory::SiteId::new(site.name.clone())?;
    let client = sync::client_for_site(site)?;
    let mut opted_out: Vec<String> = p.opt_out_ids.iter().map(|id| id.to_string()).collect();
    for upn in &p.opt_out_upns {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        match client
            .get_json::<Id>(&format!("/users/{upn}?$select=id"))
            .await
        {
            Ok(u) => opted_out.push(u.id),
            Err(e) => eprintln!(
                "warning: opt-out {upn}: cannot look the user up ({e}); matched by e-mail address only"
            ),
        }
    }
    let extensions = store
        .list_extensions(&site_id)
        .await
        .context("reading the site's extensions")?;
    let calendar_addresses: std::collections::HashMap<String, String> = extensions
        .iter()
        .filter_map(|e| Some((e.user_id.clone(), e.email.clone()?)))
        .collect();
    let users: Vec<MappedUser> = extensions
        .into_iter()
        .filter(|e| e.enabled)
        .filter(|e| !opted_out.iter().any(|o| o.eq_ignore_ascii_case(&e.user_id)))
        .filter(|e| !p.opted_out(&e.user_id, e.email.as_deref()))
        .map(|e| MappedUser {
            user_id: e.user_id,
            extension: e.number.to_string(),
        })
        .collect();
    if users.is_empty() {
        bail!(
            "site {:?} has no enabled extensions to bridge; run `pbx365 sync` first",
            site.name
        );
    }
    let mut agent_config = sip::AgentConfig::new(
        p.sip_server,
        p.sip_domain.clone(),
        sip::Credentials::new(p.username.clone(), p.password.expose()),
    );
    agent_config.ua.transport = match &p.transport {
        config::SipTransport::Udp => sip::transport::TransportKind::Udp,
        config::SipTransport::Tcp => sip::transport::TransportKind::Tcp,
        config::SipTransport::Tls(tls) => {
            agent_config.ua.tls = tls.clone();
            sip::transport::TransportKind::Tls
        }
    };
    agent_config.ua.bind = std::net::SocketAddr::new(local_ip_towards(p.sip_server)?, 0);
    let (agent, events) = sip::PresenceAgent::start(agent_config)
        .await
        .with_context(|| format!("starting the SIP agent towards {}", p.sip_server))?;
    let mut settings = BridgeSettings::new(site.name.clone(), p.maps.clone());
    settings.rate = p.poll_rate;
    settings.poll_every = p.poll_every;
    settings.writes_in_flight = p.writes_in_flight;
    settings.status_file = Some(p.status_file.clone());
    settings.calendar = p.calendar.clone();
    settings.calendar_addresses = calendar_addresses;
    eprintln!(
        "site {}: bridging presence of {} users with {} ({})",
        site.name,
        users.len(),
        p.sip_server,
        p.status_file.display()
    );
    let mut receiver_stop = None;
    let handle = match &p.notifications {
        None => presence::run::start(settings, client, agent, events, users).await,
        Some(n) => {
            let key = crate::presence_readers::store_key(&config)?;
            let (vault, accounts) =
                crate::presence_readers::StoreVault::open(store.clone(), key, site_id.clone())
                    .await?;
            let ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
            let needed = presence::readers_needed(ids.len());
            if accounts.len() < needed {
                eprintln!(
                    "warning: {} of {needed} presence readers present; users beyond them are polled (pbx365 presence readers add)",
                    accounts.len()
                );
            }
            let states = pbx365_http::webhook::ClientStates::default();
            let (receiver, webhook_events) = pbx365_http::webhook::WebhookReceiver::new(
                states.clone(),
                pbx365_http::webhook::WebhookLimits::default(),
            );
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let server = pbx365_http::webhook::serve(n.listen, receiver, async {
                let _ = stop_rx.await;
            })
            .await
            .with_context(|| format!("listening for Graph notifications on {}", n.listen))?;
            receiver_stop = Some((stop_tx, server));
            let mut ns = presence::NotificationSettings::new(
                &n.public_url,
                crate::presence_readers::reader_client_id(site, p),
            );
            ns.reconcile_every = n.reconcile_every;
            eprintln!(
                "site {}: Teams presence by notification: {} reader(s), Graph posts to {} (received on {})",
                site.name,
                accounts.len(),
                ns.notification_url,
                n.listen
            );
            let subscriber = presence::Subscriber::new(
                client.clone(),
                std::sync::Arc::new(vault),
                states,
                ns,
                accounts,
                &ids,
            );
            presence::run::start_with_notifications(
                settings,
                client,
                agent,
                events,
                users,
                presence::NotificationInput {
                    subscriber,
                    events: webhook_events,
                },
            )
            .await
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = async { while !handle.is_finished() { tokio::time::sleep(std::time::Duration::from_secs(1)).await } } => {
            bail!("the presence bridge stopped: the SIP agent ended (see the log)")
        }
    }
    eprintln!(
        "site {}: stopping (clearing Teams sessions, withdrawing publications)",
        site.name
    );
    handle.stop().await;
    if let Some((stop, server)) = receiver_stop {
        let _ = stop.send(());
        let _ = server.wait().await;
    }
    Ok(())
}

/// The local address the system routes `server` through (no packet is sent).
fn local_ip_towards(server: std::net::SocketAddr) -> anyhow::Result<std::net::IpAddr> {
    let any: std::net::SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let s = std::net::UdpSocket::bind(any).context("opening a UDP socket")?;
    s.connect(server)
        .with_context(|| format!("no route to the SIP server {server}"))?;
    Ok(s.local_addr()?.ip())
}
