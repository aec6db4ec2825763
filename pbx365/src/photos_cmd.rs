//! `pbx365 photos sync`: users' photos → avatars, now (the scheduler runs the same job per
//! `[site.photos] schedule`).

use anyhow::{bail, Context};
use std::path::PathBuf;
use sync::{PhotosReport, SyncOptions};

/// Options of `pbx365 photos`.
#[derive(Debug, clap::Args)]
pub struct PhotosArgs {
    /// What to do.
    #[command(subcommand)]
    action: PhotosAction,
}

/// What `pbx365 photos` does.
#[derive(Debug, clap::Subcommand)]
pub enum PhotosAction {
    /// Bring every extension's avatar up to date with the user's photo in Microsoft 365.
    ///
    /// Reads each extension's photo metadata and downloads the photo only when its
    /// `@odata.mediaEtag` changed since the last run (Graph's user delta never reports photo
    /// changes); a user without photo loses their avatar. Sites whose `[site.photos]
    /// schedule` is "off" are skipped. Progress goes to stderr; the exit code is non-zero
    /// when a job failed.
    Sync(SyncArgs),
}

/// Options of `pbx365 photos sync`.
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
    /// Download every photo again, changed or not.
    #[arg(long)]
    full: bool,
    /// Say what would be downloaded or removed, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Add a summary of every Graph request (method, URL, status, request-id, duration,
    /// bytes; secrets and tokens never) to the job's log.
    #[arg(long)]
    diagnostic: bool,
    /// Print the job reports as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `pbx365 photos …`.
pub async fn run(args: PhotosArgs) -> anyhow::Result<()> {
    match args.action {
        PhotosAction::Sync(a) => sync_photos(a).await,
    }
}

async fn sync_photos(args: SyncArgs) -> anyhow::Result<()> {
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
    let display = crate::progress::Display::new();
    let mut reports: Vec<(String, PhotosReport)> = Vec::new();
    let mut failed = Vec::new();
    for site in sites {
        if site.photos.schedule == config::PhotoSchedule::Off {
            display.line(&format!(
                "site {}: photos are off ([site.photos] schedule = \"off\"); nothing to do",
                site.name
            ));
            continue;
        }
        let client = sync::client_for_site(site)?;
        let options = SyncOptions {
            progress: Some(display.progress(&site.name)),
            steps: display.steps(&site.name),
            full: args.full,
            dry_run: args.dry_run,
            diagnostic: args.diagnostic,
            ..SyncOptions::default()
        };
        let report = sync::run_photos_job(store.clone(), &client, site, options).await;
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
            let c = r.counts;
            let job = r.job.map(|j| j.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "{name}: {} photos job {job}: {} checked, {} fetched, {} unchanged, {} cleared, {} without photo, {} failed; {} requests, {} throttled",
                if r.succeeded { "succeeded" } else { "FAILED" },
                c.checked, c.fetched, c.unchanged, c.cleared, c.without, c.failed,
                r.requests, r.throttled
            );
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}
