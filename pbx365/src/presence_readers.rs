//! `pbx365 presence readers`: the presence reader accounts whose delegated sign-in lets the
//! bridge subscribe to Teams presence changes (Graph allows presence subscriptions only on a
//! user's behalf, ≤ 650 users each); and the vault that keeps their refresh tokens sealed in
//! the store.

use anyhow::{bail, Context};
use graph::auth::DeviceCodePrompt;
use graph::{GraphClient, Request, Secret};
use presence::notifications::{readers_needed, ReaderAccount, ReaderVault, READER_SCOPES};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use store::{PresenceReader, SealingKey, Store};

/// The store key, from `[store] key_file` (or `PBX365_STORE__KEY_FILE`).
pub fn store_key(config: &config::Config) -> anyhow::Result<SealingKey> {
    let Some(file) = &config.store.key_file else {
        bail!(
            "presence readers' refresh tokens are kept encrypted under a key outside the \
             database: set [store] key_file (or PBX365_STORE__KEY_FILE) to a file holding 64 \
             hexadecimal digits, e.g. `openssl rand -hex 32 > /etc/pbx365/store.key && chmod \
             600 /etc/pbx365/store.key`"
        );
    };
    warn_if_readable_by_others(file);
    Ok(SealingKey::from_file(file)?)
}

#[cfg(unix)]
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(file) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: the store key file {} is readable by others; chmod 600 it",
                file.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_file: &Path) {}

/// The app the readers sign in to: `reader_client_id`, else the site's own app.
pub fn reader_client_id(site: &config::Site, p: &config::PresenceBridge) -> String {
    p.notifications
        .as_ref()
        .and_then(|n| n.reader_client_id)
        .unwrap_or(site.tenant.client_id)
        .to_string()
}

/// Keeps readers' tokens sealed in the store: the rotated refresh token replaces the old one
/// after every use; a reader that stopped working gets its error recorded.
pub struct StoreVault {
    store: Arc<dyn Store>,
    key: SealingKey,
    site: directory::SiteId,
    rows: Mutex<HashMap<String, PresenceReader>>,
}

impl StoreVault {
    /// The vault of `site`'s readers, and the readers whose tokens open (those that do not
    /// are reported and left out: sign them in again).
    pub async fn open(
        store: Arc<dyn Store>,
        key: SealingKey,
        site: directory::SiteId,
    ) -> anyhow::Result<(StoreVault, Vec<ReaderAccount>)> {
        let vault = StoreVault {
            store,
            key,
            site,
            rows: Mutex::new(HashMap::new()),
        };
        let accounts = vault.load().await.context("reading the presence readers")?;
        Ok((vault, accounts))
    }

    /// Reads the readers from the store (keeping the rows for later saves) and opens their
    /// tokens; a reader whose token does not open is reported and left out.
    async fn load(&self) -> Result<Vec<ReaderAccount>, store::StoreError> {
        let rows = self.store.list_presence_readers(&self.site).await?;
        let mut accounts = Vec::new();
        for r in &rows {
            let ctx = PresenceReader::context(&self.site, &r.reader_id);
            match self.key.open(&ctx, &r.refresh_token) {
                Ok(plain) => match String::from_utf8(plain) {
                    Ok(token) => accounts.push(ReaderAccount {
                        reader_id: r.reader_id.clone(),
                        upn: r.upn.clone(),
                        refresh_token: Secret::new(token),
                    }),
                    Err(_) => {
                        tracing::error!(reader = %r.upn, "the stored token is not text; sign the reader in again")
                    }
                },
                Err(e) => tracing::error!(reader = %r.upn, "{e}"),
            }
        }
        *self.rows.lock().unwrap_or_else(|p| p.into_inner()) =
            rows.into_iter().map(|r| (r.reader_id.clone(), r)).collect();
        Ok(accounts)
    }
}

#[async_trait::async_trait]
impl ReaderVault for StoreVault {
    async fn token_rotated(&self, reader_id: &str, refresh_token: &Secret) -> Result<(), String> {
        let ctx = PresenceReader::context(&self.site, reader_id);
        let sealed = self
            .key
            .seal(&ctx, refresh_token.expose().as_bytes())
            .map_err(|e| e.to_string())?;
        let row = {
            let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            let Some(row) = rows.get_mut(reader_id) else {
                return Err(format!("reader {reader_id} is no longer in the store"));
            };
            row.refresh_token = sealed;
            row.updated_at = chrono::Utc::now();
            row.last_error = None;
            row.clone()
        };
        self.store
            .save_presence_reader(&row)
            .await
            .map_err(|e| e.to_string())
    }

    async fn accounts(&self) -> Result<Vec<ReaderAccount>, String> {
        self.load().await.map_err(|e| e.to_string())
    }

    async fn reader_failed(&self, reader_id: &str, error: Option<&str>) {
        if let Err(e) = self
            .store
            .set_presence_reader_error(&self.site, reader_id, error)
            .await
        {
            tracing::warn!(reader = %reader_id, "recording the reader's state failed: {e}");
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    id: String,
    user_principal_name: Option<String>,
}

fn show_prompt(p: &DeviceCodePrompt) {
    eprintln!(
        "To sign the presence reader account in, open {} and enter the code {}",
        p.verification_uri, p.user_code
    );
    eprintln!(
        "(sign in as the reader account — a user licensed for Teams is not needed; the code \
         expires in {} minutes)",
        p.expires_in / 60
    );
}

/// `presence readers add`: device-code sign-in, then the sealed refresh token is stored.
pub async fn add(
    config: &config::Config,
    site: &config::Site,
    p: &config::PresenceBridge,
) -> anyhow::Result<()> {
    let key = store_key(config)?;
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let site_id = directory::SiteId::new(site.name.clone())?;
    let client: GraphClient = sync::client_for_site(site)?;
    let auth = client.delegated(&reader_client_id(site, p));
    let prompt = auth
        .start_device_code(&READER_SCOPES)
        .await
        .context("starting the device-code sign-in (the app must allow public client flows)")?;
    show_prompt(&prompt);
    let tokens = match auth.poll_device_code(&prompt).await {
        Ok(t) => t,
        Err(e) if e.error == "authorization_declined" => {
            bail!("the sign-in was declined; nothing was stored")
        }
        Err(e) if e.error == "expired_token" => {
            bail!("the code expired before the sign-in finished; run the command again")
        }
        Err(e) => return Err(e).context("signing the reader in"),
    };
    let Some(refresh) = tokens.refresh_token else {
        bail!("Entra issued no refresh token (was offline_access refused?); nothing was stored");
    };
    if !tokens
        .access
        .info
        .scopes
        .iter()
        .any(|s| s.eq_ignore_ascii_case("Presence.Read.All"))
    {
        bail!(
            "the sign-in did not grant Presence.Read.All (granted: {}); grant admin consent for \
             it on the reader app",
            tokens.scope
        );
    }
    let me: Me = client
        .send_json(Request::get("/me?$select=id,userPrincipalName").as_user(&tokens.access.secret))
        .await
        .context("reading who signed in")?;
    let upn = me.user_principal_name.unwrap_or_else(|| me.id.clone());
    let ctx = PresenceReader::context(&site_id, &me.id);
    let now = chrono::Utc::now();
    let existing = store.list_presence_readers(&site_id).await?;
    let created_at = existing
        .iter()
        .find(|r| r.reader_id == me.id)
        .map_or(now, |r| r.created_at);
    store
        .save_presence_reader(&PresenceReader {
            site: site_id.clone(),
            reader_id: me.id.clone(),
            upn: upn.clone(),
            refresh_token: key.seal(&ctx, refresh.expose().as_bytes())?,
            created_at,
            updated_at: now,
            last_error: None,
        })
        .await
        .context("storing the reader")?;
    println!("presence reader {upn} ({}) signed in and stored", me.id);
    let users = mapped_users(&*store, &site_id, p).await?;
    let present = store.list_presence_readers(&site_id).await?.len();
    println!(
        "{present} of {} readers needed for {users} users",
        readers_needed(users)
    );
    Ok(())
}

/// How many users the bridge maps (enabled extensions minus opt-outs by id or address).
async fn mapped_users(
    store: &dyn Store,
    site: &directory::SiteId,
    p: &config::PresenceBridge,
) -> anyhow::Result<usize> {
    Ok(store
        .list_extensions(site)
        .await
        .context("reading the site's extensions")?
        .iter()
        .filter(|e| e.enabled && !p.opted_out(&e.user_id, e.email.as_deref()))
        .count())
}

/// `presence readers list`: readers present vs needed, and how many users stay on polling.
pub async fn list(
    config: &config::Config,
    site: &config::Site,
    p: &config::PresenceBridge,
    json: bool,
) -> anyhow::Result<()> {
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let site_id = directory::SiteId::new(site.name.clone())?;
    let readers = store.list_presence_readers(&site_id).await?;
    let users = mapped_users(&*store, &site_id, p).await?;
    let needed = readers_needed(users);
    let working = readers.iter().filter(|r| r.last_error.is_none()).count();
    let polled = users.saturating_sub(working * presence::notifications::USERS_PER_READER);
    let notifications = p.notifications.is_some();
    if json {
        let v = serde_json::json!({
            "site": site.name,
            "notifications": notifications,
            "users": users,
            "needed": needed,
            "present": readers.len(),
            "working": working,
            "polledUsers": if notifications { polled } else { users },
            "readers": readers.iter().map(|r| serde_json::json!({
                "id": r.reader_id, "upn": r.upn,
                "createdAt": r.created_at.to_rfc3339(), "updatedAt": r.updated_at.to_rfc3339(),
                "lastError": r.last_error,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "site {}: {users} users need {needed} presence reader(s); {} present, {working} working",
        site.name,
        readers.len()
    );
    for r in &readers {
        println!(
            "  {} ({}) signed in {}, token renewed {}{}",
            r.upn,
            r.reader_id,
            r.created_at.format("%Y-%m-%d %H:%MZ"),
            r.updated_at.format("%Y-%m-%d %H:%MZ"),
            r.last_error
                .as_deref()
                .map(|e| format!(
                    "\n    NOT WORKING: {e}\n    sign it in again: pbx365 presence readers add"
                ))
                .unwrap_or_default()
        );
    }
    if !notifications {
        println!("notifications are off ([site.presence.notifications] public_url unset): every user is polled");
    } else if polled > 0 {
        println!(
            "{polled} users are left to polling; add {} more reader(s) with `pbx365 presence readers add`",
            needed.saturating_sub(working)
        );
    } else {
        println!("every user is covered by a subscription");
    }
    Ok(())
}

/// `presence readers remove KEY`.
pub async fn remove(config: &config::Config, site: &config::Site, key: &str) -> anyhow::Result<()> {
    let store = store::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let site_id = directory::SiteId::new(site.name.clone())?;
    if !store.remove_presence_reader(&site_id, key).await? {
        bail!(
            "site {} has no presence reader {key:?} (give its UPN or object id)",
            site.name
        );
    }
    println!("presence reader {key} removed (its subscription lapses within the hour)");
    Ok(())
}
