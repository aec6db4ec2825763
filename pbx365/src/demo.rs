//! `pbx365 demo`: everything on one machine with nothing to set up — the tenant emulator with a
//! generated tenant, a sync into a SQLite file, and the directory served over LDAP and HTTP on
//! loopback — then prints what to try.

use crate::serve::{interrupted, start, sync_all, Shutdown};
use anyhow::Context;
use graph_sim::model::MailboxKind;
use graph_sim::{SimConfig, TenantSource};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use store::{CredentialOwner, CredentialUsername};

/// Options of `pbx365 demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's configuration, client secret and SQLite store (made fresh at
    /// every start: the emulated tenant is new each time).
    #[arg(long, value_name = "DIR", default_value = "pbx365-demo")]
    dir: PathBuf,
    /// People in the generated tenant.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Seed of the generated tenant.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// HTTP front end address.
    #[arg(long, default_value = "127.0.0.1:8360")]
    http_listen: SocketAddr,
    /// LDAP front end address.
    #[arg(long, default_value = "127.0.0.1:3389")]
    ldap_listen: SocketAddr,
    /// Stop after this many seconds instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long, value_name = "SECONDS")]
    exit_after: Option<u64>,
}

/// Writes `text` to `path` readable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    for file in ["demo.db", "demo.db-wal", "demo.db-shm"] {
        let p = args.dir.join(file);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating the demo folder {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;

    eprintln!("starting the tenant emulator ({} people)…", args.users);
    let mut sim_config = SimConfig::loopback(args.users, args.seed);
    sim_config.tls_listen = None;
    sim_config.tenant = TenantSource::Generate {
        users: args.users,
        seed: args.seed,
        contacts: None,
    };
    sim_config.ca_file = dir.join("sim-ca.pem");
    let sim = graph_sim::start(sim_config)
        .await
        .context("the emulator could not start")?;
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .context("the generated tenant has no Phone Users group")?;
    let shared: Vec<String> = snapshot
        .users
        .iter()
        .filter(|u| u.user.mailbox == MailboxKind::Shared)
        .filter_map(|u| u.user.user.user_principal_name.clone())
        .collect();

    let secret_file = dir.join("client-secret");
    write_private(&secret_file, &sim.credentials.client_secret)?;
    let config_file = dir.join("pbx365.toml");
    let shared_list = shared
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let plan = ExtensionPlan::for_users(args.users);
    let text = format!(
        "# Written by `pbx365 demo` for its emulated tenant; rewritten at every start.\n\
         [store]\nurl = \"sqlite://{db}\"\n\n\
         [[site]]\nname = \"demo\"\nshared_mailboxes = [{shared_list}]\n\n\
         [site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nclient_secret_file = \"client-secret\"\n\
         authority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n\
         [site.dialling]\ncountry = \"DE\"\narea_code = \"30\"\noutside_line_prefix = \"0\"\n\n\
         [[site.dialling.did_ranges]]\nbase = \"{did_base}\"\nfirst = {first}\nlast = {last}\ncompany = \"Contoso (demo)\"\n\n\
         [site.users]\ngroup_id = \"{gid}\"\n\n\
         [site.extensions]\nfirst_number = {first}\nlength = {length}\n\n\
         [site.directory]\nanonymous = false\n\n\
         [http]\nlisten = \"{http_listen}\"\n\n\
         [ldap]\nlisten = \"{ldap_listen}\"\n\n\
         [directory]\nrefresh_interval_secs = 2\n",
        db = dir.join("demo.db").display(),
        did_base = plan.did_base,
        first = plan.first,
        last = plan.last,
        length = plan.length,
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
        gid = group.group.id,
        http_listen = args.http_listen,
        ldap_listen = args.ldap_listen,
    );
    write_private(&config_file, &text)?;
    let config = config::Config::load(&config_file, std::iter::empty::<(String, String)>())
        .with_context(|| format!("loading the demo configuration {}", config_file.display()))?;
    let config = Arc::new(config);
    let store = store::open(&config.store.url).await?;

    eprintln!("syncing the tenant into {}…", dir.join("demo.db").display());
    let service = crate::directory_cmd::open_service(&config, store.clone()).await?;
    sync_all(&config, &store, &service, store::JobTrigger::Manual).await;
    drop(service);

    let site = directory::SiteId::new("demo")?;
    let username = CredentialUsername::new("demo-phone")?;
    let issued = store
        .issue_credential(
            &site,
            &username,
            &CredentialOwner::PhoneGroup {
                name: "demo phones".into(),
            },
        )
        .await
        .context("issuing the demo phones' credential")?;

    let (stop, shutdown) = Shutdown::new();
    let running = start(
        config.clone(),
        store,
        Some(Duration::from_secs(5 * 60)),
        shutdown,
    )
    .await?;
    let http = running
        .http
        .map(|a| a.to_string())
        .unwrap_or_else(|| "(off)".into());
    let ldap = running
        .ldap
        .map(|a| a.to_string())
        .unwrap_or_else(|| "(off)".into());
    let secret = &issued.secret;
    let cfg = config_file.display();
    println!(
        "\npbx365 demo is running (tenant emulator at {sim_http}).\n\n\
         Phones bind as user demo-phone with secret {secret}\n\n\
         Try:\n  \
         curl -u demo-phone:{secret} 'http://{http}/yealink/directory.xml'\n  \
         curl -u demo-phone:{secret} 'http://{http}/lookup?number=030%201234100'\n  \
         curl -u demo-phone:{secret} 'http://{http}/api/v1/search?q=meier'\n  \
         ldapsearch -x -H ldap://{ldap} -D cn=demo-phone,o=demo,dc=pbx365 -w {secret} -b o=demo,dc=pbx365 '(|(cn=Mei*)(sn=Mei*))' cn telephoneNumber mobile\n  \
         ldapsearch -x -H ldap://{ldap} -D cn=demo-phone,o=demo,dc=pbx365 -w {secret} -b o=demo,dc=pbx365 '(telephoneNumber=030 1234100)' cn\n  \
         pbx365 search --config {cfg} meier\n  \
         pbx365 lookup --config {cfg} 100\n\n\
         Ctrl-C stops it.",
        sim_http = sim.http_url(),
    );
    match args.exit_after {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => interrupted().await,
    }
    eprintln!("stopping…");
    let _ = stop.send(true);
    running.wait().await?;
    drop(sim);
    Ok(())
}

/// The demo's extension numbers: long enough for every generated person (3 digits up to 800
/// people, 4 up to 8,000, 5 beyond), with the company's DID block covering them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExtensionPlan {
    length: u32,
    first: u64,
    last: u64,
    did_base: &'static str,
}

impl ExtensionPlan {
    fn for_users(users: usize) -> ExtensionPlan {
        let (length, did_base) = match users {
            0..=800 => (3, "+49301234"),
            801..=8_000 => (4, "+4930123"),
            _ => (5, "+493012"),
        };
        ExtensionPlan {
            length,
            first: 10u64.pow(length - 1),
            last: 10u64.pow(length) - 1,
            did_base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExtensionPlan;

    #[test]
    fn extensions_grow_with_the_tenant() {
        assert_eq!(ExtensionPlan::for_users(200).length, 3);
        assert_eq!(ExtensionPlan::for_users(2_000).length, 4);
        let big = ExtensionPlan::for_users(20_000);
        assert_eq!(
            (big.first, big.last, big.did_base),
            (10_000, 99_999, "+493012")
        );
    }
}
