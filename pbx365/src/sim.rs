//! `pbx365 sim`: starts the tenant emulator and prints how to reach it.

use anyhow::{bail, Context};
use graph_sim::faults::Latency;
use graph_sim::{SimConfig, TenantSource};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `pbx365 sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Plain-HTTP address (Graph, Entra and /_sim controls). Loopback by default.
    #[arg(long, default_value = "127.0.0.1:8365", env = "PBX365_SIM_LISTEN")]
    listen: SocketAddr,
    /// HTTPS address (same endpoints; needed by clients that insist on an https authority,
    /// such as Microsoft's Python credential library). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8366", env = "PBX365_SIM_TLS_LISTEN")]
    tls_listen: SocketAddr,
    /// Turn the HTTPS listener off.
    #[arg(long)]
    no_tls: bool,
    /// Number of people in the generated tenant.
    #[arg(long, default_value_t = 50, conflicts_with = "tenant")]
    users: usize,
    /// Seed of the generated tenant (same seed, same tenant).
    #[arg(long, default_value_t = 1, conflicts_with = "tenant")]
    seed: u64,
    /// Total personal contacts in the generated tenant (default: 10 per person).
    #[arg(long, conflicts_with = "tenant")]
    contacts: Option<usize>,
    /// Load the tenant from a JSON file instead (schema: README, "Tenant files").
    #[arg(long, value_name = "FILE")]
    tenant: Option<PathBuf>,
    /// Latency added to every request: `MS` (fixed) or `MIN-MAX` (uniform), in milliseconds.
    #[arg(long, value_name = "MS|MIN-MAX")]
    latency_ms: Option<String>,
    /// Where to write the CA certificate of the HTTPS listener.
    #[arg(long, value_name = "FILE", env = "PBX365_SIM_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// File holding the sim-admin key for /_sim (random when absent).
    #[arg(long, value_name = "FILE", env = "PBX365_SIM_ADMIN_KEY_FILE")]
    admin_key_file: Option<PathBuf>,
    /// Print the connection details as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_latency(s: &str) -> anyhow::Result<Latency> {
    let bad = || {
        anyhow::anyhow!(
            "--latency-ms '{s}' is not valid: give milliseconds, e.g. 20, or a range, e.g. 10-50"
        )
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let min: f64 = a.trim().parse().map_err(|_| bad())?;
            let max: f64 = b.trim().parse().map_err(|_| bad())?;
            if !(0.0..=60_000.0).contains(&min) || max < min || max > 60_000.0 {
                return Err(bad());
            }
            Ok(Latency::Uniform { min, max })
        }
        None => {
            let ms: f64 = s.trim().parse().map_err(|_| bad())?;
            if !(0.0..=60_000.0).contains(&ms) {
                return Err(bad());
            }
            Ok(Latency::Fixed { ms })
        }
    }
}

/// Runs the emulator until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let tenant = match &args.tenant {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the tenant file {}", path.display()))?;
            let file: graph_sim::tenant_file::TenantFile = serde_json::from_str(&text)
                .with_context(|| {
                    format!(
                        "{} is not a valid tenant file (see README, \"Tenant files\")",
                        path.display()
                    )
                })?;
            TenantSource::File(Box::new(file))
        }
        None => {
            if args.users > 2_000_000 {
                bail!(
                    "--users {} is more than this emulator holds (2,000,000)",
                    args.users
                );
            }
            TenantSource::Generate {
                users: args.users,
                seed: args.seed,
                contacts: args.contacts,
            }
        }
    };
    let admin_key = match &args.admin_key_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the admin key file {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let ca_file = args
        .ca_file
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("pbx365-sim").join("ca.pem"));
    let config = SimConfig {
        listen: args.listen,
        tls_listen: (!args.no_tls).then_some(args.tls_listen),
        tenant,
        behaviour: Default::default(),
        latency: args.latency_ms.as_deref().map(parse_latency).transpose()?,
        ca_file,
        admin_key,
    };
    let sim = graph_sim::start(config)
        .await
        .context("the emulator could not start")?;
    let c = &sim.credentials;
    let https = sim.https_url();
    let authority = https.clone().unwrap_or_else(|| sim.http_url());
    let snippet = format!(
        "[site.tenant]   # in the [[site]] that `pbx365 init` wrote\n\
         tenant_id = \"{}\"\n\
         client_id = \"{}\"\n\
         client_secret_file = \"sim-client-secret\"   # a file holding the secret above\n\
         authority_url = \"{}\"\n\
         graph_url = \"{}\"\n{}",
        c.tenant_id,
        c.client_id,
        authority,
        sim.graph_url(),
        if https.is_some() {
            format!("ca_file = \"{}\"\n", sim.ca_file.display())
        } else {
            String::new()
        }
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "http": sim.http_url(),
                "https": https,
                "graph": sim.graph_url(),
                "authority": format!("{authority}/{}", c.tenant_id),
                "tenantId": c.tenant_id,
                "clientId": c.client_id,
                "clientSecret": c.client_secret,
                "adminKey": c.admin_key,
                "caFile": sim.ca_file,
            })
        );
    } else {
        println!("pbx365 tenant emulator (Entra ID + Microsoft Graph v1.0)");
        println!("  http       {}", sim.http_url());
        if let Some(h) = &https {
            println!("  https      {h}   (CA: {})", sim.ca_file.display());
        }
        println!("  graph      {}", sim.graph_url());
        println!("  authority  {authority}/{}", c.tenant_id);
        println!("  tenant id  {}", c.tenant_id);
        println!("  client id  {}", c.client_id);
        println!("  secret     {}", c.client_secret);
        println!("  sim key    {}   (for /_sim/…)", c.admin_key);
        println!("\npbx365 config snippet:\n{snippet}");
        println!("Ctrl-C stops it.");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_forms() {
        assert!(matches!(parse_latency("20"), Ok(Latency::Fixed { ms }) if ms == 20.0));
        assert!(matches!(
            parse_latency("10-50"),
            Ok(Latency::Uniform { .. })
        ));
        assert!(parse_latency("50-10").is_err());
        assert!(parse_latency("fast").is_err());
        assert!(parse_latency("-5").is_err());
    }
}
