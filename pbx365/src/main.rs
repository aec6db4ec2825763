//! pbx365: connects a Microsoft 365 tenant to telephone systems.
//!
//! The binary only wires: each subcommand lives in its own module and calls into the crates.

mod demo;
mod directory_cmd;
mod init;
mod jobs_cmd;
mod photos_cmd;
mod presence_cmd;
mod presence_readers;
mod progress;
mod serve;
mod sim;
mod sync_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// pbx365 — Microsoft 365 users, contacts and presence for phone systems.
#[derive(Debug, Parser)]
#[command(name = "pbx365", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Try pbx365 with nothing to set up: an emulated tenant, synced into SQLite, served over
    /// LDAP and HTTP on loopback; prints what to try. Ctrl-C stops it.
    Demo(demo::DemoArgs),
    /// Run the Microsoft 365 tenant emulator (Entra ID + Graph) for tests and trials.
    Sim(sim::SimArgs),
    /// Write an example configuration and print what the Entra app registration needs.
    ///
    /// Writes a commented example configuration (mode 600; an existing file is kept unless
    /// --force) and prints the Microsoft Graph application permissions to add to the app
    /// registration (names and ids), the redirect URI to register, and the admin-consent URL
    /// a tenant administrator opens to grant them.
    Init(init::InitArgs),
    /// Run a sync job now: Entra users → extensions, personal contacts → phonebooks, shared
    /// mailboxes → company phonebook, org contacts → company directory.
    ///
    /// Reads the changes since the last run (or everything with --full) of every source the
    /// site has on (narrowed with --source), plans creates, updates and removals, commits each
    /// scope with its delta token, stops before removing more than the mass-deletion guard
    /// allows (--allow-mass-delete to confirm), and records the job. Progress goes to
    /// stderr: a progress bar on a terminal, plain lines in a pipe. --diagnostic adds a
    /// summary of every Graph request (secrets and tokens redacted) to the job's log. The exit
    /// code is non-zero when a job failed. Photos have their own job: `pbx365 photos sync`.
    Sync(sync_cmd::SyncArgs),
    /// List a site's recent sync jobs, or show one with `jobs show ID`.
    Jobs(jobs_cmd::JobsArgs),
    /// Serve the directory to phones and PBXs, kept current by scheduled sync jobs.
    ///
    /// Runs a sync job per site at start (unless --no-initial-sync) and every --sync-every
    /// minutes, and serves the directory over HTTP (vendor XML phonebooks, caller-ID lookup,
    /// CSV exports, REST API with users' photos) and LDAP (paged results, server-side sort,
    /// virtual list view, ordering filters) as configured in [http], [ldap] and [directory].
    /// Listeners bind to loopback unless configured otherwise. Ctrl-C or SIGTERM stops it
    /// cleanly.
    Serve(serve::ServeArgs),
    /// Search the directory: names (prefix, sounds-alike, typos), companies or numbers.
    Search(directory_cmd::SearchArgs),
    /// Who has this number? Any form: +49 30 1234567, 030 1234567, an extension.
    ///
    /// Exit code 0 when someone (or a company's number range) has it, 1 when no one does.
    Lookup(directory_cmd::LookupArgs),
    /// Issue, list and revoke the credentials phones bind with (LDAP, HTTP).
    Credentials(directory_cmd::CredentialsArgs),
    /// Users' photos → avatars: `photos sync` downloads the photos changed since the last run.
    Photos(photos_cmd::PhotosArgs),
    /// The presence bridge Teams ↔ PBX: `presence run`, `presence status [USER] [--json]`.
    Presence(presence_cmd::PresenceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PBX365_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Sim(args) => sim::run(args).await,
            Command::Init(args) => init::run(args),
            Command::Sync(args) => sync_cmd::run(args).await,
            Command::Jobs(args) => jobs_cmd::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Search(args) => directory_cmd::search(args).await,
            Command::Lookup(args) => match directory_cmd::lookup(args).await {
                Ok(true) => Ok(()),
                Ok(false) => return Err(None),
                Err(e) => Err(e),
            },
            Command::Credentials(args) => directory_cmd::credentials(args).await,
            Command::Photos(args) => photos_cmd::run(args).await,
            Command::Presence(args) => presence_cmd::run(args).await,
        }
        .map_err(Some)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A lookup that found no one: not an error, but the shell should know.
        Err(None) => ExitCode::from(1),
        Err(Some(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
