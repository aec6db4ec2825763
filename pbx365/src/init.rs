//! `pbx365 init`: writes the commented example configuration and tells the admin what the
//! Entra app registration needs (permissions, redirect URI, admin-consent URL).

use anyhow::{bail, Context};
use config::registration::{admin_consent_url, PERMISSIONS};
use config::{Config, Uuid, DEFAULT_AUTHORITY_URL};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The example's placeholder ids, replaced by `--tenant` / `--client-id` when given.
const EXAMPLE_TENANT_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const EXAMPLE_CLIENT_ID: &str = "6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b";

/// Options of `pbx365 init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write the configuration.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "pbx365.toml",
        env = "PBX365_CONFIG"
    )]
    config: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
    /// Redirect URI for the admin consent; register it on the app (Authentication > Web).
    #[arg(
        long,
        value_name = "URI",
        default_value = "http://localhost:8080/consent"
    )]
    redirect_uri: String,
    /// Tenant id or domain for the consent URL (default: "organizations", the admin's own).
    /// A tenant id is also written into the configuration.
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
    /// The app registration's application (client) id; written into the configuration and
    /// the consent URL.
    #[arg(long, value_name = "ID")]
    client_id: Option<Uuid>,
}

/// Runs `pbx365 init`.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.as_deref().unwrap_or("organizations");
    let tenant_ok = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !tenant_ok {
        bail!("--tenant '{tenant}' is not valid: give a tenant id (GUID), a domain such as contoso.onmicrosoft.com, or 'organizations'");
    }
    let redirect_ok = (args.redirect_uri.starts_with("https://")
        || args.redirect_uri.starts_with("http://localhost"))
        && !args.redirect_uri.contains(char::is_whitespace);
    if !redirect_ok {
        bail!(
            "--redirect-uri '{}' is not valid: Entra accepts https:// URIs, or http://localhost for local use",
            args.redirect_uri
        );
    }
    let mut text = Config::example().to_owned();
    if let Ok(id) = Uuid::try_parse(tenant) {
        text = text.replacen(EXAMPLE_TENANT_ID, &id.to_string(), 1);
    }
    if let Some(id) = args.client_id {
        text = text.replacen(EXAMPLE_CLIENT_ID, &id.to_string(), 1);
    }
    write_config(&args.config, &text, args.force)?;

    let secret_file = args
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("pbx365-client-secret");
    let client_id = args
        .client_id
        .map(|c| c.to_string())
        .unwrap_or_else(|| "CLIENT-ID".to_owned());
    let url = admin_consent_url(
        DEFAULT_AUTHORITY_URL,
        tenant,
        &client_id,
        &args.redirect_uri,
    );

    let mut out = String::new();
    out.push_str(&format!(
        "Wrote {} (mode 600). Edit it, and put the app's client secret in {} (chmod 600).\n\n",
        args.config.display(),
        secret_file.display()
    ));
    out.push_str(
        "1. Add these Microsoft Graph application permissions to the app registration\n   \
         (API permissions > Add a permission > Microsoft Graph > Application permissions):\n\n",
    );
    for p in PERMISSIONS {
        let why = if p.optional {
            format!("(optional) {}", p.why)
        } else {
            p.why.to_owned()
        };
        out.push_str(&format!("   {:<24} {}  {}\n", p.name, p.id, why));
    }
    out.push_str(&format!(
        "\n2. Register this redirect URI on the app (Authentication > Add a platform > Web):\n\n   {}\n",
        args.redirect_uri
    ));
    out.push_str(&format!(
        "\n3. A tenant administrator opens this URL to grant the permissions (admin consent):\n\n   {url}\n"
    ));
    if args.client_id.is_none() {
        out.push_str("\n   (Replace CLIENT-ID with the app's application id, or run again with --client-id ID --force.)\n");
    }
    print!("{out}");
    Ok(())
}

/// Writes `text` to `path` with mode 600: refuses an existing file unless `force`, and replaces
/// through a temporary file and a rename so a crash never leaves half a config.
fn write_config(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if !force {
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "{} already exists; pass --force to replace it",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        };
        return f
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
