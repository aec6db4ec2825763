//! `pbx365 sync`: one sync job per site, now, over every enabled source (users → extensions,
//! personal contacts, shared mailboxes, org contacts) or the ones `--source` names.

use anyhow::{bail, Context};
use std::path::PathBuf;
use sync::{JobReport, SyncOptions};

/// Options of `pbx365 sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The configuration file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// Only this site (default: every site).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Read every user again instead of the changes since the last run.
    #[arg(long)]
    full: bool,
    /// Print what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply removals even when there are more than the mass-deletion guard allows.
    #[arg(long)]
    allow_mass_delete: bool,
    /// Add a summary of every Graph request (method, URL, status, request-id, duration,
    /// bytes; secrets and tokens never) to the job's log.
    #[arg(long)]
    diagnostic: bool,
    /// Print the job reports as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Read only these sources (repeat or comma-separate; default: every source the site has
    /// on): users, contacts (personal), shared (shared mailboxes), org (org contacts).
    #[arg(long = "source", value_name = "SOURCE", value_delimiter = ',')]
    sources: Vec<SourceArg>,
}

/// A source as `--source` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SourceArg {
    /// Entra users → extensions.
    Users,
    /// Users' Outlook contacts → personal phonebooks.
    Contacts,
    /// Shared mailboxes' contacts → the company phonebook.
    Shared,
    /// Exchange org contacts → the company directory.
    Org,
}

impl SourceArg {
    fn source(self) -> config::Source {
        match self {
            SourceArg::Users => config::Source::Users,
            SourceArg::Contacts => config::Source::PersonalContacts,
            SourceArg::Shared => config::Source::SharedMailboxes,
            SourceArg::Org => config::Source::OrgContacts,
        }
    }
}

/// What a source does, for progress lines.
fn describe(source: config::Source) -> &'static str {
    match source {
        config::Source::Users => "users → extensions",
        config::Source::PersonalContacts => "personal contacts → phonebooks",
        config::Source::SharedMailboxes => "shared mailboxes → company phonebook",
        config::Source::OrgContacts => "org contacts → company directory",
    }
}

/// Runs the job of each selected site; fails when any job failed.
pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let config = config::Config::load(&args.config, std::env::vars())
        .with_context(|| format!("loading {}", args.config.display()))?;
    for w in config.warnings() {
        eprintln!("warning: {w}");
    }
    let sites: Vec<&config::Site> = match &args.site {
        Some(name) => match config.site(name) {
            Some(s) => vec![s],
            None => bail!("{} has no site named {name:?}", args.config.display()),
        },
        None => config.sites.iter().collect(),
    };
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let mut reports: Vec<(String, JobReport)> = Vec::new();
    let mut failed = Vec::new();
    let display = crate::progress::Display::new();
    let asked: Option<Vec<config::Source>> =
        (!args.sources.is_empty()).then(|| args.sources.iter().map(|s| s.source()).collect());
    for site in sites {
        let sources: Vec<config::Source> = config::Source::ALL
            .into_iter()
            .filter(|s| site.sources.is_on(*s))
            .filter(|s| asked.as_ref().is_none_or(|a| a.contains(s)))
            .collect();
        if sources.is_empty() {
            display.line(&format!(
                "site {}: none of the asked sources is on; nothing to do",
                site.name
            ));
            continue;
        }
        let what: Vec<&str> = sources.iter().map(|s| describe(*s)).collect();
        display.line(&format!(
            "site {}: syncing {}{}{}…",
            site.name,
            what.join(", "),
            if args.full { " (full)" } else { "" },
            if args.dry_run { " (dry run)" } else { "" }
        ));
        let client = sync::client_for_site(site)?;
        let options = SyncOptions {
            progress: Some(display.progress(&site.name)),
            steps: display.steps(&site.name),
            full: args.full,
            dry_run: args.dry_run,
            allow_mass_delete: args.allow_mass_delete,
            diagnostic: args.diagnostic,
            sources: Some(sources),
            ..SyncOptions::default()
        };
        let report = sync::run_job(store.clone(), &client, site, options).await;
        if let Some(e) = &report.error {
            failed.push(format!("site {}: {e}", site.name));
        }
        reports.push((site.name.clone(), report));
    }
    display.finish();
    if args.json {
        let out: Vec<serde_json::Value> = reports
            .iter()
            .map(|(name, r)| serde_json::json!({ "site": name, "report": r }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (name, r) in &reports {
            if r.dry_run {
                for line in &r.plan {
                    println!("{name}: would {line}");
                }
            }
            let c = r.counts;
            let job = r.job.map(|j| j.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "{name}: {} job {job}: {} created, {} updated, {} unchanged, {} disabled, {} pending deletion, {} deleted, {} kept; {} requests, {} retries, {} throttled",
                if r.succeeded { "succeeded" } else { "FAILED" },
                c.created, c.updated, c.unchanged, c.disabled, c.pending_deletion, c.deleted, c.kept,
                r.requests, r.retries, r.throttled
            );
            let k = r.contacts;
            if k != sync::ContactCounts::default() {
                println!(
                    "{name}: contacts: personal {} created, {} updated, {} deleted; company {} created, {} updated, {} deleted; directory {} created, {} updated, {} deleted; {} pending deletion; {} invalid numbers kept raw; {} mailboxes unreadable",
                    k.personal.created, k.personal.updated, k.personal.deleted,
                    k.company.created, k.company.updated, k.company.deleted,
                    k.directory.created, k.directory.updated, k.directory.deleted,
                    k.personal.pending_deletion + k.company.pending_deletion + k.directory.pending_deletion,
                    k.invalid_numbers, k.unreadable_mailboxes
                );
            }
            for w in &r.warnings {
                println!("{name}: warning: {w}");
            }
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}
