//! pbx365: connects a Microsoft 365 tenant to telephone systems.
//!
//! The binary only wires: each subcommand lives in its own module and calls into the crates.

mod init;
mod jobs_cmd;
mod presence_cmd;
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
    /// Run the Microsoft 365 tenant emulator (Entra ID + Graph) for tests and trials.
    Sim(sim::SimArgs),
    /// Write an example configuration and print what the Entra app registration needs.
    ///
    /// Writes a commented example configuration (mode 600; an existing file is kept unless
    /// --force) and prints the Microsoft Graph application permissions to add to the app
    /// registration (names and ids), the redirect URI to register, and the admin-consent URL
    /// a tenant administrator opens to grant them.
    Init(init::InitArgs),
    /// Run a sync job now: Entra users → extensions (the only source so far).
    ///
    /// Reads the changes since the last run (or everything with --full), plans creates,
    /// updates and removals, stops before removing more extensions than the mass-deletion
    /// guard allows (--allow-mass-delete to confirm), and records the job. Progress goes to
    /// stderr; the exit code is non-zero when a job failed.
    Sync(sync_cmd::SyncArgs),
    /// List a site's recent sync jobs, or show one with `jobs show ID`.
    Jobs(jobs_cmd::JobsArgs),
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
            Command::Sim(args) => sim::run(args).await,
            Command::Init(args) => init::run(args),
            Command::Sync(args) => sync_cmd::run(args).await,
            Command::Jobs(args) => jobs_cmd::run(args).await,
            Command::Presence(args) => presence_cmd::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
