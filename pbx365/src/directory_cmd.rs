//! The directory on the command line: `pbx365 search`, `pbx365 lookup` and
//! `pbx365 credentials`, and [`open_service`], which builds the index every front end reads.

use anyhow::{bail, Context};
use directory::{BookScope, DirectoryService, Entry, LookupResult, Principal, SiteId, TextQuery};
use pbx365_index::{IndexService, SiteSettings, SourcePriority};
use std::path::PathBuf;
use std::sync::Arc;
use store::{CredentialOwner, CredentialUsername, Store};

/// The configuration file option every directory command shares.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    pub config: PathBuf,
    /// The site (default: the first in the file).
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
}

impl ConfigArg {
    /// Loads the configuration and picks the site.
    pub fn load(&self) -> anyhow::Result<(config::Config, SiteId)> {
        let config = config::Config::load(&self.config, std::env::vars())
            .with_context(|| format!("loading {}", self.config.display()))?;
        let name = match &self.site {
            Some(n) => match config.site(n) {
                Some(s) => s.name.clone(),
                None => bail!("{} has no site named {n:?}", self.config.display()),
            },
            None => config.sites[0].name.clone(),
        };
        let site = SiteId::new(&name).with_context(|| format!("site name {name:?}"))?;
        Ok((config, site))
    }
}

/// The directory settings of each configured site, as the index needs them.
pub fn site_settings(config: &config::Config) -> anyhow::Result<Vec<SiteSettings>> {
    config
        .sites
        .iter()
        .map(|s| {
            let id = SiteId::new(&s.name).with_context(|| format!("site name {:?}", s.name))?;
            let mut settings = SiteSettings::new(id, s.dialling.plan());
            settings.anonymous = s.directory.anonymous;
            settings.priority = SourcePriority::parse(&s.directory.source_priority)
                .with_context(|| format!("site {}: directory.source_priority", s.name))?;
            Ok(settings)
        })
        .collect()
}

/// Makes sure every configured site has its row in the store (a site not yet synced serves an
/// empty directory rather than failing), then loads the index over all of them.
pub async fn open_service(
    config: &config::Config,
    store: Arc<dyn Store>,
) -> anyhow::Result<Arc<IndexService>> {
    let settings = site_settings(config)?;
    for s in &settings {
        if store.get_site(&s.site).await?.is_none() {
            store
                .upsert_site(&store::Site {
                    id: s.site.clone(),
                    name: s.site.to_string(),
                    settings: serde_json::json!({}),
                })
                .await
                .with_context(|| format!("creating site {} in the store", s.site))?;
        }
    }
    let service = IndexService::load(store, settings)
        .await
        .context("loading the directory from the store")?;
    Ok(Arc::new(service))
}

/// Who a CLI query runs as: the company view, or one user's view with `--as-user`.
fn principal(site: &SiteId, as_user: Option<&str>) -> Principal {
    match as_user {
        Some(user) => Principal::Extension {
            site: site.clone(),
            user_id: user.to_owned(),
        },
        None => Principal::PhoneGroup {
            site: site.clone(),
            name: "pbx365-cli".into(),
        },
    }
}

async fn open(arg: &ConfigArg) -> anyhow::Result<(Arc<IndexService>, SiteId)> {
    let (config, site) = arg.load()?;
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    Ok((open_service(&config, store).await?, site))
}

/// Options of `pbx365 search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// What to look for: name parts, a company, or a number.
    term: String,
    /// At most this many hits.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Search as this user (Graph object id): their personal contacts are included.
    #[arg(long, value_name = "USER_ID")]
    as_user: Option<String>,
    /// Print the hits as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `pbx365 search`.
pub async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let (service, site) = open(&args.config).await?;
    let who = principal(&site, args.as_user.as_deref());
    let hits = service
        .search(
            &who,
            &TextQuery {
                text: args.term.clone(),
                scope: BookScope::All,
                limit: args.limit.max(1),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    if hits.is_empty() {
        eprintln!("no match for {:?}", args.term);
    }
    for hit in &hits {
        println!(
            "{:<10} {}",
            format!("{:?}", hit.rank).to_lowercase(),
            line(&hit.entry)
        );
    }
    Ok(())
}

/// One entry on one line: name, company, extension and numbers.
fn line(e: &Entry) -> String {
    let mut out = e.display_name.clone();
    if let Some(c) = e.company.as_deref().filter(|c| !c.is_empty()) {
        out.push_str(&format!(" ({c})"));
    }
    if let Some(x) = &e.extension {
        out.push_str(&format!("  ext {x}"));
    }
    for n in &e.numbers {
        let shown = n.e164.as_ref().map_or(n.raw.as_str(), |e| e.as_str());
        out.push_str(&format!("  {}:{shown}", n.kind.as_str()));
    }
    out
}

/// Options of `pbx365 lookup`.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The number in any form (`+49 30 1234567`, `030 1234567`, an extension).
    number: String,
    /// Look up as this user (Graph object id): their personal contacts are included.
    #[arg(long, value_name = "USER_ID")]
    as_user: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `pbx365 lookup`; exit code 1 when no one has the number.
pub async fn lookup(args: LookupArgs) -> anyhow::Result<bool> {
    let (service, site) = open(&args.config).await?;
    let who = principal(&site, args.as_user.as_deref());
    let result = service
        .lookup(&who, &args.number)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(match result {
        LookupResult::Entries { number, entries } => {
            if !args.json {
                for e in &entries {
                    println!("{number}  {}", line(e));
                }
            }
            true
        }
        LookupResult::Company { number, name } => {
            if !args.json {
                println!("{number}  {name} (company number, no one in particular)");
            }
            true
        }
        LookupResult::NotFound { number } => {
            if !args.json {
                eprintln!("{number}: no one has this number");
            }
            false
        }
    })
}

/// Options of `pbx365 credentials`.
#[derive(Debug, clap::Args)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    action: CredentialsAction,
}

#[derive(Debug, clap::Subcommand)]
enum CredentialsAction {
    /// Issue a credential for a phone: for one extension (sees that user's personal
    /// phonebook too) or for a group of phones. The secret is printed once.
    Issue {
        #[command(flatten)]
        config: ConfigArg,
        /// The user name phones bind with (letters, digits, '.', '_', '-', '@').
        username: String,
        /// For the extension with this number.
        #[arg(
            long,
            value_name = "NUMBER",
            conflicts_with = "group",
            required_unless_present = "group"
        )]
        extension: Option<String>,
        /// For a group of phones with this name.
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// List a site's credentials (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential: phones using it can no longer bind.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// The user name.
        username: String,
    },
}

/// Runs `pbx365 credentials …`.
pub async fn credentials(args: CredentialsArgs) -> anyhow::Result<()> {
    let open_store = |arg: &ConfigArg| {
        let loaded = arg.load();
        async move {
            let (config, site) = loaded?;
            let store = store::open(&config.store.url)
                .await
                .with_context(|| format!("opening the store {}", config.store.url))?;
            anyhow::Ok((store, site))
        }
    };
    match args.action {
        CredentialsAction::Issue {
            config,
            username,
            extension,
            group,
        } => {
            let (store, site) = open_store(&config).await?;
            let username = CredentialUsername::new(username)?;
            let owner = match (extension, group) {
                (Some(number), _) => {
                    let ext = store
                        .list_extensions(&site)
                        .await?
                        .into_iter()
                        .find(|e| e.number.as_str() == number)
                        .with_context(|| {
                            format!("site {site} has no extension {number}; run a sync first or check the number")
                        })?;
                    CredentialOwner::Extension {
                        user_id: ext.user_id,
                    }
                }
                (None, Some(name)) => CredentialOwner::PhoneGroup { name },
                (None, None) => bail!("give --extension NUMBER or --group NAME"),
            };
            let issued = store.issue_credential(&site, &username, &owner).await?;
            println!("user name  {}", issued.username.as_str());
            println!("secret     {}", issued.secret);
            eprintln!("Configure both on the phone now: the secret is not shown again.");
        }
        CredentialsAction::List { config, json } => {
            let (store, site) = open_store(&config).await?;
            let list = store.list_credentials(&site).await?;
            if json {
                let out: Vec<serde_json::Value> = list
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "username": c.username.as_str(),
                            "owner": owner_text(&c.owner),
                            "createdAt": c.created_at,
                            "revokedAt": c.revoked_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for c in &list {
                    let state = match c.revoked_at {
                        Some(t) => format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                        None => "active".into(),
                    };
                    println!(
                        "{:<24} {:<40} issued {}  {state}",
                        c.username.as_str(),
                        owner_text(&c.owner),
                        c.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
        }
        CredentialsAction::Revoke { config, username } => {
            let (store, site) = open_store(&config).await?;
            let username = CredentialUsername::new(username)?;
            if !store.revoke_credential(&site, &username).await? {
                bail!("site {site} has no active credential {}", username.as_str());
            }
            println!("revoked {}", username.as_str());
        }
    }
    Ok(())
}

fn owner_text(owner: &CredentialOwner) -> String {
    match owner {
        CredentialOwner::Extension { user_id } => format!("extension of user {user_id}"),
        CredentialOwner::PhoneGroup { name } => format!("phone group {name}"),
    }
}
