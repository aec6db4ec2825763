//! `pbx365 jobs`: the job history of a site, and one job with its log.

use anyhow::{bail, Context};
use std::path::PathBuf;
use store::JobId;

/// Options of `pbx365 jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// The configuration file (for the store's URL and the site names).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG",
        global = true
    )]
    config: PathBuf,
    /// The site (default: the first in the file).
    #[arg(long, value_name = "NAME", global = true)]
    site: Option<String>,
    /// Print JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Show one job instead of the list.
    #[command(subcommand)]
    action: Option<JobsAction>,
}

/// What to show.
#[derive(Debug, clap::Subcommand)]
pub enum JobsAction {
    /// One job with its counts and log.
    Show {
        /// The job's id (from `pbx365 jobs`).
        id: String,
    },
}

/// Lists the site's recent jobs, or shows one.
pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let config = config::Config::load(&args.config, std::env::vars())
        .with_context(|| format!("loading {}", args.config.display()))?;
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    if let Some(JobsAction::Show { id }) = &args.action {
        let id: JobId = id.parse().with_context(|| {
            format!("{id:?} is not a job id (a UUID as `pbx365 jobs` lists them)")
        })?;
        let Some(job) = store.get_job(&id).await? else {
            bail!("there is no job {id}");
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&job)?);
        } else {
            let j = &job.job;
            println!(
                "job {} (site {}, {} {}, {})",
                j.id, j.site, j.trigger, j.kind, j.status
            );
            println!(
                "started {}, ended {}",
                j.started_at.to_rfc3339(),
                j.ended_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into())
            );
            println!(
                "counts {}; {} requests, {} throttled, {} warnings, {} errors",
                j.counts, j.requests, j.throttled, j.warnings, j.errors
            );
            for l in &job.log {
                println!("{} {}", l.at.to_rfc3339(), l.line);
            }
        }
        return Ok(());
    }
    let site = match &args.site {
        Some(name) => config
            .site(name)
            .with_context(|| format!("{} has no site named {name:?}", args.config.display()))?,
        None => config
            .sites
            .first()
            .context("the configuration has no site")?,
    };
    let site_id = directory::SiteId::new(site.name.clone())?;
    let jobs = store.list_jobs(&site_id, 50).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
    } else if jobs.is_empty() {
        println!("no jobs yet for site {}", site.name);
    } else {
        for j in jobs {
            println!(
                "{} {} {} {} {} requests={} throttled={} warnings={} errors={} counts={}",
                j.id,
                j.started_at.to_rfc3339(),
                j.trigger,
                j.kind,
                j.status,
                j.requests,
                j.throttled,
                j.warnings,
                j.errors,
                j.counts
            );
        }
    }
    Ok(())
}
