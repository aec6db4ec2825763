//! Reading Teams presence by change notification: Graph allows presence subscriptions only on
//! a signed-in user's behalf, ≤ 650 users each, one per user and application, for ≤ 60
//! minutes. So ⌈N / 650⌉ "presence reader" accounts, signed in once by device code, each hold
//! one subscription on `/communications/presences?$filter=id in (…)`.
//!
//! [`Subscriber`] keeps them alive: it redeems each reader's refresh token (saving the rotated
//! one through a [`ReaderVault`] before using the new access token), creates the subscription
//! with a random `clientState` registered with the webhook receiver first, renews it well
//! before it ends, answers `reauthorizationRequired` with `POST …/reauthorize`, recreates it
//! after `subscriptionRemoved` or a failed renewal, and asks for a reconciling
//! `getPresencesByUserId` round after any trouble. An `invalid_grant` (inactivity, a password
//! change, Conditional Access) turns into an alert and the reader's users go back to polling.

use graph::auth::{AccessToken, DelegatedAuth};
use graph::subscriptions::NewSubscription;
use graph::{GraphClient, GraphError, Secret};
use pbx365_http::webhook::ClientStates;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Users one presence subscription covers at most (Graph's limit).
pub const USERS_PER_READER: usize = 650;

/// The longest a presence subscription may live (Graph: 60 minutes).
pub const MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The delegated scopes a reader signs in with: presence, `User.Read` (to learn who signed
/// in, `/me`) and `offline_access` (a refresh token).
pub const READER_SCOPES: [&str; 3] = [
    "https://graph.microsoft.com/Presence.Read.All",
    "https://graph.microsoft.com/User.Read",
    "offline_access",
];

/// How many reader accounts `users` mapped users need: ⌈users / 650⌉.
pub fn readers_needed(users: usize) -> usize {
    users.div_ceil(USERS_PER_READER)
}

/// A signed-in reader account.
#[derive(Debug, Clone)]
pub struct ReaderAccount {
    /// Its Entra object id.
    pub reader_id: String,
    /// Its UPN (for logs and alerts).
    pub upn: String,
    /// Its current refresh token.
    pub refresh_token: Secret,
}

/// Where readers' tokens are kept: the rotated refresh token is saved after every use, and a
/// reader that stopped working is marked. The binary's vault seals them in the store.
#[async_trait::async_trait]
pub trait ReaderVault: Send + Sync {
    /// Saves `reader_id`'s new refresh token (Entra rotates it on every use).
    async fn token_rotated(&self, reader_id: &str, refresh_token: &Secret) -> Result<(), String>;
    /// Records why a reader stopped working (`None`: it works again).
    async fn reader_failed(&self, reader_id: &str, error: Option<&str>);
    /// The readers as stored now: picks up readers signed in (again) while the bridge runs.
    async fn accounts(&self) -> Result<Vec<ReaderAccount>, String>;
}

/// How often the stored readers are looked at again while a reader is down or users lack one.
const RELOAD_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// How subscriptions are made and kept.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// The public HTTPS URL notifications are posted to (the receiver's
    /// [`pbx365_http::webhook::NOTIFICATIONS_PATH`] behind the reverse proxy).
    pub notification_url: String,
    /// The public HTTPS URL lifecycle events are posted to.
    pub lifecycle_url: String,
    /// The client id of the public-client app the readers signed in to.
    pub reader_client_id: String,
    /// How long each subscription is asked to live (at most 60 minutes).
    pub lifetime: Duration,
    /// Renewed this long before it ends.
    pub renew_before: Duration,
    /// A reconciling `getPresencesByUserId` round at least this often.
    pub reconcile_every: Duration,
}

impl NotificationSettings {
    /// Defaults: 55-minute subscriptions renewed 15 minutes before they end, a reconciling
    /// round every 5 minutes.
    pub fn new(public_url: &str, reader_client_id: impl Into<String>) -> NotificationSettings {
        let base = public_url.trim_end_matches('/');
        NotificationSettings {
            notification_url: format!("{base}{}", pbx365_http::webhook::NOTIFICATIONS_PATH),
            lifecycle_url: format!("{base}{}", pbx365_http::webhook::LIFECYCLE_PATH),
            reader_client_id: reader_client_id.into(),
            lifetime: Duration::from_secs(55 * 60),
            renew_before: Duration::from_secs(15 * 60),
            reconcile_every: Duration::from_secs(5 * 60),
        }
    }
}

/// One reader's subscription as Graph has it.
#[derive(Debug, Clone)]
struct Live {
    id: String,
    expires: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug)]
struct Reader {
    account: ReaderAccount,
    users: Vec<String>,
    access: Option<AccessToken>,
    live: Option<Live>,
    client_state: Secret,
    /// Set when the refresh token is refused for good: its users are polled.
    alert: Option<String>,
}

/// What a reader's token request ended in.
enum TokenTrouble {
    /// Refused for good (`invalid_grant`): sign the reader in again.
    Revoked(String),
    /// Anything else (network, Entra unavailable): tried again later.
    Transient(String),
}

/// The presence subscriptions of one site.
pub struct Subscriber {
    client: GraphClient,
    auth: DelegatedAuth,
    vault: Arc<dyn ReaderVault>,
    states: ClientStates,
    settings: NotificationSettings,
    readers: Vec<Reader>,
    uncovered: Vec<String>,
    reconcile_due: bool,
    last_reload: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("readers", &self.readers.len())
            .field("uncovered", &self.uncovered.len())
            .finish_non_exhaustive()
    }
}

/// A fresh random `clientState` (32 bytes as hex: the same length for every subscription).
fn client_state() -> Secret {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    Secret::new(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

impl Subscriber {
    /// Spreads `users` over `accounts`, 650 each in id order; users beyond what the accounts
    /// cover are left to polling ([`Subscriber::polled_users`]).
    pub fn new(
        client: GraphClient,
        vault: Arc<dyn ReaderVault>,
        states: ClientStates,
        settings: NotificationSettings,
        accounts: Vec<ReaderAccount>,
        users: &[String],
    ) -> Subscriber {
        let auth = client.delegated(&settings.reader_client_id);
        let mut sorted: Vec<String> = users.to_vec();
        sorted.sort();
        sorted.dedup();
        let mut chunks = sorted.chunks(USERS_PER_READER);
        let readers: Vec<Reader> = accounts
            .into_iter()
            .map_while(|account| {
                chunks.next().map(|c| Reader {
                    account,
                    users: c.to_vec(),
                    access: None,
                    live: None,
                    client_state: client_state(),
                    alert: None,
                })
            })
            .collect();
        let uncovered = chunks.flatten().cloned().collect::<Vec<_>>();
        if !uncovered.is_empty() {
            tracing::warn!(
                users = uncovered.len(),
                needed = readers_needed(sorted.len()),
                present = readers.len(),
                "not enough presence reader accounts: these users are polled"
            );
        }
        Subscriber {
            client,
            auth,
            vault,
            states,
            settings,
            readers,
            uncovered,
            reconcile_due: true,
            last_reload: None,
        }
    }

    /// Users no live subscription covers (those of readers without a subscription, readers
    /// whose sign-in was refused, and those beyond the readers' capacity): poll them.
    pub fn polled_users(&self) -> Vec<String> {
        let mut out = self.uncovered.clone();
        for r in self.readers.iter().filter(|r| r.live.is_none()) {
            out.extend(r.users.iter().cloned());
        }
        out
    }

    /// Users a live subscription covers.
    pub fn covered_users(&self) -> HashSet<String> {
        self.readers
            .iter()
            .filter(|r| r.live.is_some())
            .flat_map(|r| r.users.iter().cloned())
            .collect()
    }

    /// How often a reconciling round runs anyway.
    pub fn reconcile_every(&self) -> Duration {
        self.settings.reconcile_every
    }

    /// Whether a reconciling round is due (after trouble); reading it clears it.
    pub fn take_reconcile(&mut self) -> bool {
        std::mem::take(&mut self.reconcile_due)
    }

    /// The alerts now: readers whose sign-in was refused, users left to polling.
    pub fn alerts(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .readers
            .iter()
            .filter_map(|r| {
                r.alert.as_ref().map(|a| {
                    format!(
                        "presence reader {} stopped working ({a}); its {} users are polled until it is signed in again (pbx365 presence readers add)",
                        r.account.upn,
                        r.users.len()
                    )
                })
            })
            .collect();
        if !self.uncovered.is_empty() {
            out.push(format!(
                "{} users need more presence reader accounts and are polled",
                self.uncovered.len()
            ));
        }
        out
    }

    /// The user a change notification is about, when it comes from one of our live
    /// subscriptions and names a user that subscription covers.
    pub fn user_of(
        &self,
        subscription_id: &str,
        resource: &str,
        resource_id: Option<&str>,
    ) -> Option<String> {
        let reader = self
            .readers
            .iter()
            .find(|r| r.live.as_ref().is_some_and(|l| l.id == subscription_id))?;
        let from_path = resource
            .trim_start_matches('/')
            .strip_prefix("communications/presences/")
            .or_else(|| {
                resource
                    .trim_start_matches('/')
                    .strip_prefix("users/")
                    .and_then(|r| r.strip_suffix("/presence"))
            });
        let user = from_path.or(resource_id)?;
        reader
            .users
            .iter()
            .find(|u| u.eq_ignore_ascii_case(user))
            .cloned()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.client.config().clock.now()
    }

    /// A valid access token of reader `i`, redeeming (and saving) its refresh token when the
    /// one held expires within 5 minutes.
    async fn token(&mut self, i: usize) -> Result<Secret, TokenTrouble> {
        let now = self.now();
        if let Some(a) = &self.readers[i].access {
            if a.info.expires_at > now + chrono::Duration::minutes(5) {
                return Ok(a.secret.clone());
            }
        }
        let refresh = self.readers[i].account.refresh_token.clone();
        match self.auth.refresh(&refresh, &READER_SCOPES).await {
            Ok(t) => {
                let reader_id = self.readers[i].account.reader_id.clone();
                if let Some(rotated) = t.refresh_token {
                    if let Err(e) = self.vault.token_rotated(&reader_id, &rotated).await {
                        // The new token is used anyway: the old one stays valid for a while,
                        // and the next use saves again.
                        tracing::error!(reader = %self.readers[i].account.upn, "saving the rotated refresh token failed: {e}");
                    }
                    self.readers[i].account.refresh_token = rotated;
                }
                if self.readers[i].alert.take().is_some() {
                    self.vault.reader_failed(&reader_id, None).await;
                }
                let secret = t.access.secret.clone();
                self.readers[i].access = Some(t.access);
                Ok(secret)
            }
            Err(e) if e.error == "invalid_grant" || e.error == "interaction_required" => {
                Err(TokenTrouble::Revoked(e.to_string()))
            }
            Err(e) => Err(TokenTrouble::Transient(e.to_string())),
        }
    }

    /// Handles a token failure of reader `i`: a refused grant raises the alert and moves its
    /// users to polling.
    async fn token_failed(&mut self, i: usize, trouble: TokenTrouble) {
        self.reconcile_due = true;
        match trouble {
            TokenTrouble::Revoked(e) => {
                let r = &mut self.readers[i];
                tracing::error!(
                    reader = %r.account.upn,
                    users = r.users.len(),
                    "ALERT: the presence reader's sign-in was refused ({e}); its users are polled until it is signed in again with `pbx365 presence readers add`"
                );
                r.alert = Some(e.clone());
                r.access = None;
                r.live = None;
                self.states.remove(r.client_state.expose());
                let id = r.account.reader_id.clone();
                self.vault.reader_failed(&id, Some(&e)).await;
            }
            TokenTrouble::Transient(e) => {
                tracing::warn!(reader = %self.readers[i].account.upn, "getting a token for the presence reader failed (tried again later): {e}");
            }
        }
    }

    /// Creates, renews and recreates subscriptions as due; called every tick (it calls Graph
    /// only when something is due). A reader whose sign-in was refused is left alone.
    pub async fn maintain(&mut self) {
        let wanting = !self.uncovered.is_empty() || self.readers.iter().any(|r| r.alert.is_some());
        let now = self.now();
        if wanting && self.last_reload.is_none_or(|t| now - t >= RELOAD_EVERY) {
            self.last_reload = Some(now);
            self.reload().await;
        }
        let renew_before = chrono::Duration::from_std(self.settings.renew_before)
            .unwrap_or(chrono::Duration::minutes(15));
        let renew_at = |l: &Live| l.expires - renew_before;
        for i in 0..self.readers.len() {
            if self.readers[i].alert.is_some() {
                continue;
            }
            let now = self.now();
            match self.readers[i].live.clone() {
                None => self.create(i).await,
                Some(l) if now >= l.expires => {
                    tracing::warn!(reader = %self.readers[i].account.upn, subscription = %l.id, "the presence subscription ended before renewal; recreating it");
                    self.readers[i].live = None;
                    self.reconcile_due = true;
                    self.create(i).await;
                }
                Some(l) if now >= renew_at(&l) => self.renew(i, &l.id).await,
                Some(_) => {}
            }
        }
    }

    /// Takes readers signed in while the bridge runs: one whose sign-in was refused and that
    /// has a new token works again; a new one takes up to 650 of the polled users.
    async fn reload(&mut self) {
        let accounts = match self.vault.accounts().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("reading the presence readers again failed: {e}");
                return;
            }
        };
        for a in accounts {
            match self
                .readers
                .iter_mut()
                .find(|r| r.account.reader_id == a.reader_id)
            {
                Some(r)
                    if r.alert.is_some()
                        && a.refresh_token.expose() != r.account.refresh_token.expose() =>
                {
                    tracing::info!(reader = %a.upn, "the presence reader was signed in again; subscribing");
                    r.account = a;
                    r.alert = None;
                    r.access = None;
                }
                Some(_) => {}
                None if !self.uncovered.is_empty() => {
                    let take = self.uncovered.len().min(USERS_PER_READER);
                    let users: Vec<String> = self.uncovered.drain(..take).collect();
                    tracing::info!(reader = %a.upn, users = users.len(), "a new presence reader takes polled users");
                    self.readers.push(Reader {
                        account: a,
                        users,
                        access: None,
                        live: None,
                        client_state: client_state(),
                        alert: None,
                    });
                }
                None => {}
            }
        }
    }

    async fn create(&mut self, i: usize) {
        let token = match self.token(i).await {
            Ok(t) => t,
            Err(e) => return self.token_failed(i, e).await,
        };
        let expiration = self.now() + lifetime(&self.settings);
        let r = &mut self.readers[i];
        // A fresh secret per subscription, known to the receiver before Graph may use it.
        self.states.remove(r.client_state.expose());
        r.client_state = client_state();
        self.states.add(r.client_state.expose());
        let ids = r
            .users
            .iter()
            .map(|u| format!("'{u}'"))
            .collect::<Vec<_>>()
            .join(",");
        let new = NewSubscription {
            change_type: "updated".into(),
            resource: format!("/communications/presences?$filter=id in ({ids})"),
            notification_url: self.settings.notification_url.clone(),
            lifecycle_notification_url: Some(self.settings.lifecycle_url.clone()),
            expiration,
            client_state: r.client_state.clone(),
        };
        let upn = r.account.upn.clone();
        let mut created = self.client.create_subscription(&token, &new).await;
        if matches!(created, Err(GraphError::Api { status: 403, .. })) {
            // Graph allows one presence subscription per user and app: one a previous run
            // left (it crashed, or Graph removed it late) is deleted and creation tried again.
            if self.delete_leftovers(&token).await > 0 {
                created = self.client.create_subscription(&token, &new).await;
            }
        }
        match created {
            Ok(info) => {
                tracing::info!(reader = %upn, subscription = %info.id, users = self.readers[i].users.len(), expires = %info.expiration_date_time, "presence subscription created");
                self.readers[i].live = Some(Live {
                    id: info.id,
                    expires: info.expiration_date_time,
                });
                // What changed before the subscription existed is read once.
                self.reconcile_due = true;
            }
            Err(e) => {
                self.reconcile_due = true;
                tracing::warn!(reader = %upn, "creating the presence subscription failed (its users are polled; tried again next tick): {e}");
            }
        }
    }

    /// Deletes the reader's subscriptions that post to our notification URL; how many.
    async fn delete_leftovers(&self, token: &Secret) -> usize {
        let list = match self.client.list_subscriptions(token).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("listing the reader's subscriptions failed: {e}");
                return 0;
            }
        };
        let mut n = 0;
        for s in list
            .iter()
            .filter(|s| s.notification_url == self.settings.notification_url)
        {
            if let Ok(true) = self.client.delete_subscription(token, &s.id).await {
                tracing::info!(subscription = %s.id, "deleted a presence subscription left over");
                n += 1;
            }
        }
        n
    }

    async fn renew(&mut self, i: usize, id: &str) {
        let token = match self.token(i).await {
            Ok(t) => t,
            Err(e) => return self.token_failed(i, e).await,
        };
        let expiration = self.now() + lifetime(&self.settings);
        match self.client.renew_subscription(&token, id, expiration).await {
            Ok(info) => {
                tracing::debug!(subscription = %id, expires = %info.expiration_date_time, "presence subscription renewed");
                if let Some(l) = self.readers[i].live.as_mut() {
                    l.expires = info.expiration_date_time;
                }
            }
            Err(e) => {
                tracing::warn!(reader = %self.readers[i].account.upn, subscription = %id, "renewing the presence subscription failed; recreating it: {e}");
                self.reconcile_due = true;
                self.readers[i].live = None;
                if !matches!(e, GraphError::Api { status: 404, .. }) {
                    let _ = self.client.delete_subscription(&token, id).await;
                }
                self.create(i).await;
            }
        }
    }

    /// Acts on a lifecycle event of one of our subscriptions (others are ignored):
    /// `reauthorizationRequired` → reauthorize with a fresh token (recreate if that fails);
    /// `subscriptionRemoved` → recreate; `missed` → reconcile.
    pub async fn lifecycle(&mut self, subscription_id: &str, event: &str) {
        let Some(i) = self
            .readers
            .iter()
            .position(|r| r.live.as_ref().is_some_and(|l| l.id == subscription_id))
        else {
            tracing::debug!(subscription = %subscription_id, event, "a lifecycle event for a subscription this bridge does not hold");
            return;
        };
        tracing::info!(reader = %self.readers[i].account.upn, subscription = %subscription_id, event, "lifecycle event");
        self.reconcile_due = true;
        match event {
            "reauthorizationRequired" => {
                // The held access token is the one about to lapse: always redeem anew.
                self.readers[i].access = None;
                let token = match self.token(i).await {
                    Ok(t) => t,
                    Err(e) => return self.token_failed(i, e).await,
                };
                match self
                    .client
                    .reauthorize_subscription(&token, subscription_id)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(subscription = %subscription_id, "presence subscription reauthorized")
                    }
                    Err(e) => {
                        tracing::warn!(subscription = %subscription_id, "reauthorizing failed; recreating the subscription: {e}");
                        self.readers[i].live = None;
                        self.create(i).await;
                    }
                }
            }
            "subscriptionRemoved" => {
                self.readers[i].live = None;
                self.create(i).await;
            }
            _ => {}
        }
    }

    /// Deletes every live subscription (at stop) and forgets their secrets.
    pub async fn stop(&mut self) {
        for i in 0..self.readers.len() {
            let Some(l) = self.readers[i].live.take() else {
                continue;
            };
            self.states.remove(self.readers[i].client_state.expose());
            if let Ok(token) = self.token(i).await {
                if let Err(e) = self.client.delete_subscription(&token, &l.id).await {
                    tracing::warn!(subscription = %l.id, "deleting the presence subscription at stop failed (it lapses on its own): {e}");
                }
            }
        }
    }

    /// The subscriptions now: `(reader UPN, subscription id, expiry)` of the live ones.
    pub fn live(&self) -> Vec<(String, String, chrono::DateTime<chrono::Utc>)> {
        self.readers
            .iter()
            .filter_map(|r| {
                r.live
                    .as_ref()
                    .map(|l| (r.account.upn.clone(), l.id.clone(), l.expires))
            })
            .collect()
    }

    /// Reader UPNs with their users (for `presence readers list`).
    pub fn assignment(&self) -> Vec<(String, BTreeSet<String>)> {
        self.readers
            .iter()
            .map(|r| (r.account.upn.clone(), r.users.iter().cloned().collect()))
            .collect()
    }
}

fn lifetime(s: &NotificationSettings) -> chrono::Duration {
    chrono::Duration::from_std(s.lifetime.min(MAX_LIFETIME))
        .unwrap_or(chrono::Duration::minutes(55))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_needed_rounds_up() {
        assert_eq!(readers_needed(0), 0);
        assert_eq!(readers_needed(1), 1);
        assert_eq!(readers_needed(650), 1);
        assert_eq!(readers_needed(651), 2);
        assert_eq!(readers_needed(5_000), 8);
    }

    #[test]
    fn client_states_are_random_and_of_one_length() {
        let a = client_state();
        let b = client_state();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().len() <= 128, "Graph's limit");
    }
}
