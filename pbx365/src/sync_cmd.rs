//! `pbx365 sync`: one sync job per site, now (users → extensions for now).

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
    for site in sites {
        if !site.sources.users {
            display.line(&format!(
                "site {}: the users source is off; nothing to do",
                site.name
            ));
            continue;
        }
        display.line(&format!(
            "site {}: syncing users → extensions{}{}…",
            site.name,
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
            ..SyncOptions::default()
        };
        let report = sync::run_users_job(store.clone(), &client, site, options).await;
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
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}
