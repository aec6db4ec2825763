//! The running bridge for one site: polls Teams, watches the PBX through a
//! [`PresenceAgent`], feeds both into [`BridgeCore`] and carries out its commands; renews the
//! Teams sessions, refreshes publications (recovering them after a presence-server restart)
//! and keeps the status snapshot and its state file current.

use crate::bridge::{BridgeCore, Command, MappedUser};
use crate::calendar::{CalendarReader, CalendarRules, CalendarUser};
use crate::guard::FlapLimits;
use crate::maps::{StatusMaps, TeamsAction};
use crate::notifications::Subscriber;
use crate::status::StatusSnapshot;
use crate::teams_side::{
    PollRate, PreparedWrite, TeamsReader, TeamsUpdate, TeamsWriter, WriteDone,
};
use crate::write_queue::{Queued, WriteQueue, DEFAULT_WRITES_IN_FLIGHT};
use graph::GraphClient;
use pbx365_http::webhook::WebhookEvent;
use sip::{AgentEvent, EventPackage, Presence, PresenceAgent};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// How a bridge runs.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// The site's name (in logs and the status).
    pub site: String,
    /// The checked status maps (their keep-alive sets the Teams session renewal).
    pub maps: StatusMaps,
    /// The flap detector's limits.
    pub flap: FlapLimits,
    /// How often a poll round of Teams presence starts.
    pub poll_every: Duration,
    /// `getPresencesByUserId` requests allowed per 30 s.
    pub rate: PollRate,
    /// How often keep-alives are checked and the state file written.
    pub tick: Duration,
    /// Teams writes (`setPresence`/`clearPresence`) in flight at once; per user they go out
    /// one at a time, in order, only the newest pending state.
    pub writes_in_flight: usize,
    /// How often every publication is refreshed (a server that lost it answers 412 and the
    /// agent publishes it again).
    pub republish_every: Duration,
    /// Where the status snapshot is written (`pbx365 presence status` reads it).
    pub status_file: Option<PathBuf>,
    /// Outlook calendar → PBX status (`None`: off). Needs `Calendars.Read` and
    /// `MailboxSettings.Read`; without them the bridge runs without it and logs which is missing.
    pub calendar: Option<CalendarRules>,
    /// Users' SMTP addresses by Entra id, for `getSchedule` (a user not listed is asked for
    /// by id, which the emulator accepts and Microsoft may not).
    pub calendar_addresses: HashMap<String, String>,
}

impl BridgeSettings {
    /// Defaults for `site`: poll every 10 s at [`PollRate::DEFAULT`], tick every second,
    /// [`DEFAULT_WRITES_IN_FLIGHT`] Teams writes at once,
    /// refresh publications every minute, default flap limits, no state file.
    pub fn new(site: impl Into<String>, maps: StatusMaps) -> BridgeSettings {
        BridgeSettings {
            site: site.into(),
            maps,
            flap: FlapLimits::default(),
            poll_every: Duration::from_secs(10),
            rate: PollRate::DEFAULT,
            tick: Duration::from_secs(1),
            writes_in_flight: DEFAULT_WRITES_IN_FLIGHT,
            republish_every: Duration::from_secs(60),
            status_file: None,
            calendar: None,
            calendar_addresses: HashMap::new(),
        }
    }
}

/// A bridge running in the background.
#[derive(Debug)]
pub struct BridgeHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    status: Arc<Mutex<StatusSnapshot>>,
}

impl BridgeHandle {
    /// The status of every user now.
    pub fn status(&self) -> StatusSnapshot {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Stops the bridge cleanly: clears its Teams sessions, withdraws its publications and
    /// ends its subscriptions; waits for that to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Ends the bridge at once without any clean-up, as a crash would (its Teams sessions and
    /// publications stay until they expire); the next start clears the Teams sessions it
    /// finds in the state file.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Whether the bridge stopped on its own (its agent's event stream ended).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Teams presence by change notification: the subscriptions and the webhook receiver's
/// queue (see [`crate::notifications`]).
#[derive(Debug)]
pub struct NotificationInput {
    /// The site's presence subscriptions.
    pub subscriber: Subscriber,
    /// What the webhook receiver accepted.
    pub events: mpsc::Receiver<WebhookEvent>,
}

/// Starts the bridge for `users`: Teams through `client`, the PBX through `agent` (whose
/// events are `events`). Subscribes to each extension's presence and dialog state first.
pub async fn start(
    settings: BridgeSettings,
    client: GraphClient,
    agent: PresenceAgent,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    users: Vec<MappedUser>,
) -> BridgeHandle {
    start_inner(settings, client, agent, events, users, None).await
}

/// [`start`], reading Teams presence by change notification where `input`'s subscriptions
/// cover a user, and polling only the others; a `getPresencesByUserId` round of everyone
/// reconciles after any subscription trouble and every `reconcile_every` anyway.
pub async fn start_with_notifications(
    settings: BridgeSettings,
    client: GraphClient,
    agent: PresenceAgent,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    users: Vec<MappedUser>,
    input: NotificationInput,
) -> BridgeHandle {
    start_inner(settings, client, agent, events, users, Some(input)).await
}

async fn start_inner(
    settings: BridgeSettings,
    client: GraphClient,
    agent: PresenceAgent,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    users: Vec<MappedUser>,
    input: Option<NotificationInput>,
) -> BridgeHandle {
    let calendar = match &settings.calendar {
        None => None,
        Some(rules) => {
            let cal_users = users
                .iter()
                .map(|u| CalendarUser {
                    user_id: u.user_id.clone(),
                    address: settings
                        .calendar_addresses
                        .get(&u.user_id)
                        .cloned()
                        .unwrap_or_else(|| u.user_id.clone()),
                })
                .collect();
            match CalendarReader::connect(client.clone(), rules.clone(), cal_users).await {
                Ok(reader) => Some(reader),
                Err(e) => {
                    tracing::error!(site = %settings.site, "calendar status is off: {e}");
                    None
                }
            }
        }
    };
    let mut core = BridgeCore::new(
        settings.site.clone(),
        settings.maps.clone(),
        users,
        settings.flap,
    );
    core.set_calendar_wins(calendar.as_ref().is_some_and(|c| c.rules().calendar_wins));
    let keepalive = Duration::from_secs(u64::from(settings.maps.keepalive_minutes().max(1)) * 60);
    let status = Arc::new(Mutex::new(StatusSnapshot::default()));
    let (stop_tx, stop_rx) = oneshot::channel();
    let agent = Arc::new(agent);
    let (sip_jobs, jobs_rx) = mpsc::unbounded_channel();
    let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
    let sip_worker = tokio::spawn(sip_worker(agent.clone(), jobs_rx, outcomes_tx));
    let mut runner = Runner {
        reader: TeamsReader::new(client.clone(), settings.rate),
        calendar,
        writer: TeamsWriter::new(client.clone(), keepalive),
        writes: WriteQueue::new(settings.writes_in_flight),
        write_tasks: JoinSet::new(),
        writing: HashMap::new(),
        status_dirty: false,
        clock: client.config().clock.clone(),
        core,
        agent,
        settings,
        status: status.clone(),
        republishing: None,
        sip_jobs,
        sip_worker,
        subscriber: None,
        last_reconcile: None,
        notified: std::collections::BTreeSet::new(),
    };
    let webhook = input.map(|i| {
        runner.subscriber = Some(i.subscriber);
        i.events
    });
    runner.clear_leftover_sessions().await;
    runner.drop_stale_releases();
    runner.subscribe_all();
    let task =
        tokio::spawn(async move { runner.run_with(events, outcomes, stop_rx, webhook).await });
    BridgeHandle {
        stop: Some(stop_tx),
        task,
        status,
    }
}

struct Runner {
    reader: TeamsReader,
    calendar: Option<CalendarReader>,
    writer: TeamsWriter,
    /// The order of Teams writes; the requests run in `write_tasks`.
    writes: WriteQueue,
    write_tasks: JoinSet<WriteDone>,
    /// What each write task is doing: its user, and whether it is a keep-alive.
    writing: HashMap<tokio::task::Id, (String, Queued)>,
    /// The status changed since it was last published; the next tick publishes it. A
    /// snapshot covers every user, so building one per SIP event made start-up quadratic
    /// (5,000 users: ~5 subscriptions/s, the bridge's CPU the limit).
    status_dirty: bool,
    clock: graph::auth::Clock,
    core: BridgeCore,
    agent: Arc<PresenceAgent>,
    settings: BridgeSettings,
    status: Arc<Mutex<StatusSnapshot>>,
    republishing: Option<JoinHandle<()>>,
    sip_jobs: mpsc::UnboundedSender<SipJob>,
    sip_worker: JoinHandle<()>,
    /// Presence subscriptions, when Teams presence is read by notification.
    subscriber: Option<Subscriber>,
    /// When the last reconciling poll of every user ran.
    last_reconcile: Option<tokio::time::Instant>,
    /// Users a change notification named, read together on the next notification round
    /// (notifications without resource data carry no state).
    notified: std::collections::BTreeSet<String>,
}

/// The next webhook event, or never when there is no receiver (or it closed).
async fn next_webhook(rx: &mut Option<mpsc::Receiver<WebhookEvent>>) -> WebhookEvent {
    match rx {
        Some(r) => match r.recv().await {
            Some(e) => e,
            None => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// SIP work, done in order by one worker so that a stalled server (a transaction waits up to
/// 32 s) never holds up Teams polling, keep-alives or the other side.
#[derive(Debug)]
enum SipJob {
    Subscribe {
        user_id: String,
        extension: String,
    },
    Publish {
        user_id: String,
        extension: String,
        state: sip::PbxState,
    },
    Withdraw {
        user_id: String,
        extension: String,
    },
}

/// How a [`SipJob`] ended, for the status.
#[derive(Debug)]
struct SipOutcome {
    user_id: String,
    subscribe: bool,
    result: Result<(), String>,
}

async fn sip_worker(
    agent: Arc<PresenceAgent>,
    mut jobs: mpsc::UnboundedReceiver<SipJob>,
    outcomes: mpsc::UnboundedSender<SipOutcome>,
) {
    while let Some(job) = jobs.recv().await {
        let subscribe = matches!(job, SipJob::Subscribe { .. });
        let (user_id, result) = match job {
            SipJob::Subscribe { user_id, extension } => {
                let mut result = Ok(());
                for package in [EventPackage::Presence, EventPackage::Dialog] {
                    if let Err(e) = agent.subscribe(&extension, package).await {
                        result = Err(format!("subscribing to {}: {e}", package.as_str()));
                    }
                }
                (user_id, result)
            }
            SipJob::Publish {
                user_id,
                extension,
                state,
            } => (
                user_id,
                agent
                    .publish(&extension, Presence::for_state(state))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("publishing for {extension}: {e}")),
            ),
            SipJob::Withdraw { user_id, extension } => (
                user_id,
                agent
                    .unpublish(&extension)
                    .await
                    .map_err(|e| format!("withdrawing {extension}'s publication: {e}")),
            ),
        };
        if outcomes
            .send(SipOutcome {
                user_id,
                subscribe,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

impl Runner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0)
    }

    /// Clears the Teams sessions a previous run left behind (it crashed or was killed): the
    /// state file lists the users it had a session for. Read back, a leftover session would
    /// look like the user's own state and be carried to the PBX.
    async fn clear_leftover_sessions(&mut self) {
        let Some(path) = &self.settings.status_file else {
            return;
        };
        let previous = match StatusSnapshot::load(path) {
            Ok(p) => p,
            Err(crate::status::StatusError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return
            }
            Err(e) => {
                tracing::warn!(site = %self.settings.site, "{e}; leftover Teams sessions are not cleared");
                return;
            }
        };
        let writes = previous
            .users
            .values()
            .filter(|u| u.bridge_teams != "none")
            .map(|u| self.writer.prepare_leftover_clear(&u.user_id))
            .collect();
        for done in send_all(writes, self.settings.writes_in_flight).await {
            match done.result {
                Ok(()) => tracing::info!(
                    site = %self.settings.site,
                    user = %done.user,
                    "cleared the Teams session a previous run left"
                ),
                Err(e) => tracing::warn!(
                    site = %self.settings.site,
                    user = %done.user,
                    "clearing a leftover Teams session failed (it lapses on its own): {e}"
                ),
            }
        }
    }

    /// Queues the subscriptions to every extension's presence and dialog state.
    fn subscribe_all(&mut self) {
        for u in self.core.users() {
            let _ = self.sip_jobs.send(SipJob::Subscribe {
                user_id: u.user_id.clone(),
                extension: u.extension.clone(),
            });
        }
        self.publish_status();
    }

    async fn run_with(
        &mut self,
        events: mpsc::UnboundedReceiver<AgentEvent>,
        outcomes: mpsc::UnboundedReceiver<SipOutcome>,
        stop: oneshot::Receiver<()>,
        mut webhook: Option<mpsc::Receiver<WebhookEvent>>,
    ) {
        if let Some(s) = self.subscriber.as_mut() {
            s.maintain().await;
        }
        self.run(events, outcomes, stop, &mut webhook).await;
    }

    async fn run(
        &mut self,
        mut events: mpsc::UnboundedReceiver<AgentEvent>,
        mut outcomes: mpsc::UnboundedReceiver<SipOutcome>,
        mut stop: oneshot::Receiver<()>,
        webhook: &mut Option<mpsc::Receiver<WebhookEvent>>,
    ) {
        let mut poll = tokio::time::interval(self.settings.poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut republish = tokio::time::interval(self.settings.republish_every);
        republish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        republish.tick().await;
        let calendar_every = self
            .calendar
            .as_ref()
            .map_or(Duration::from_secs(3600), |c| c.rules().poll_every);
        let mut calendar_poll = tokio::time::interval(calendar_every);
        calendar_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut notified_round = tokio::time::interval(NOTIFIED_ROUND);
        notified_round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                event = events.recv() => match event {
                    Some(e) => self.agent_event(e).await,
                    None => {
                        tracing::error!(site = %self.settings.site, "the SIP presence agent stopped; the bridge stops");
                        break;
                    }
                },
                Some(o) = outcomes.recv() => {
                    if o.subscribe {
                        self.core.watching(&o.user_id, o.result.is_ok());
                    }
                    match o.result {
                        Ok(()) => self.core.succeeded(&o.user_id),
                        Err(e) => {
                            tracing::warn!(site = %self.settings.site, user = %o.user_id, "{e}");
                            self.core.failed(&o.user_id, e);
                        }
                    }
                    self.publish_user(&o.user_id);
                }
                Some(done) = self.write_tasks.join_next_with_id(), if !self.write_tasks.is_empty() => {
                    self.write_ended(done);
                }
                event = next_webhook(webhook) => self.webhook_event(event).await,
                _ = poll.tick() => self.poll().await,
                _ = notified_round.tick(), if !self.notified.is_empty() => self.read_notified().await,
                _ = calendar_poll.tick(), if self.calendar.is_some() => self.poll_calendar().await,
                _ = tick.tick() => {
                    self.keepalive().await;
                    if let Some(s) = self.subscriber.as_mut() {
                        s.maintain().await;
                    }
                    self.take_releases().await;
                    if std::mem::take(&mut self.status_dirty) {
                        self.publish_status();
                    }
                    self.save_status();
                }
                _ = republish.tick() => self.republish(),
            }
        }
        self.shutdown().await;
    }

    /// Discards release requests made while no bridge ran: a start begins with no latch.
    fn drop_stale_releases(&self) {
        let Some(path) = &self.settings.status_file else {
            return;
        };
        match crate::control::take_releases(path) {
            Ok((stale, _)) if !stale.is_empty() => tracing::info!(
                site = %self.settings.site,
                count = stale.len(),
                "discarded release requests made before this start (a start latches nobody)"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(site = %self.settings.site, "{e}"),
        }
    }

    /// Carries out the admins' release requests (`pbx365 presence release`).
    async fn take_releases(&mut self) {
        let Some(path) = &self.settings.status_file else {
            return;
        };
        let (releases, rejected) = match crate::control::take_releases(path) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(site = %self.settings.site, "reading release requests: {e}");
                return;
            }
        };
        for r in rejected {
            tracing::warn!(site = %self.settings.site, "{r}");
        }
        if releases.is_empty() {
            return;
        }
        for r in releases {
            let users = match r {
                crate::control::Release::User(u) => vec![u],
                crate::control::Release::All => {
                    self.core.latched().into_iter().map(|(u, _)| u).collect()
                }
            };
            for u in users {
                let now = self.now_ms();
                match self.core.release(&u, now) {
                    Some(commands) => {
                        // What writes were pending at the latch were dropped; the release
                        // carries what each side shows now.
                        self.execute(commands).await;
                        self.publish_user(&u);
                    }
                    None => {
                        tracing::info!(site = %self.settings.site, user = %u, "release requested for a user who is not latched")
                    }
                }
            }
        }
        self.publish_status();
    }

    async fn agent_event(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::State {
                extension,
                package,
                state,
            } => {
                let now = self.now_ms();
                let commands = self.core.pbx_observed(&extension, package, state, now);
                self.execute(commands).await;
                if let Some(user) = self.core.user_of(&extension).map(str::to_owned) {
                    self.publish_user(&user);
                }
            }
            AgentEvent::PublishFailed {
                extension,
                error,
                retrying,
            } => self.agent_trouble(&extension, format!("publishing: {error}"), retrying),
            AgentEvent::SubscriptionLost {
                extension,
                package,
                reason,
                retrying,
            } => self.agent_trouble(
                &extension,
                format!("{} subscription: {reason}", package.as_str()),
                retrying,
            ),
            AgentEvent::Published { extension, .. } | AgentEvent::Subscribed { extension, .. } => {
                if let Some(user) = self.core.user_of(&extension).map(str::to_owned) {
                    self.core.succeeded(&user);
                }
            }
        }
        self.status_dirty = true;
    }

    fn agent_trouble(&mut self, extension: &str, what: String, retrying: bool) {
        tracing::warn!(site = %self.settings.site, extension, retrying, "{what}");
        if let Some(user) = self.core.user_of(extension).map(str::to_owned) {
            self.core.failed(&user, what);
        }
    }

    /// The users a poll round reads: everyone without notifications; with them, only the
    /// users no subscription covers — unless a reconciling round of everyone is due.
    fn poll_ids(&mut self) -> Vec<String> {
        let all: Vec<String> = self.core.users().map(|u| u.user_id.clone()).collect();
        let Some(s) = self.subscriber.as_mut() else {
            return all;
        };
        let every = s.reconcile_every();
        let due = s.take_reconcile() || self.last_reconcile.is_none_or(|t| t.elapsed() >= every);
        if due {
            self.last_reconcile = Some(tokio::time::Instant::now());
            tracing::debug!(site = %self.settings.site, "reconciling Teams presence of every user");
            return all;
        }
        let polled: std::collections::HashSet<String> = s.polled_users().into_iter().collect();
        all.into_iter().filter(|u| polled.contains(u)).collect()
    }

    /// A change notification or lifecycle event from the webhook receiver.
    async fn webhook_event(&mut self, event: WebhookEvent) {
        let Some(s) = self.subscriber.as_mut() else {
            return;
        };
        match event {
            WebhookEvent::Changed {
                subscription_id,
                resource,
                resource_id,
                ..
            } => {
                let Some(user) = s.user_of(&subscription_id, &resource, resource_id.as_deref())
                else {
                    tracing::warn!(site = %self.settings.site, subscription = %subscription_id, %resource, "a notification for no user this bridge subscribed to was ignored");
                    return;
                };
                // Read on the next notification round, together with the others named by
                // then: one getPresencesByUserId for up to 650 users, not a GET each, which at
                // tens of changes a second would queue behind one another and hold the loop.
                self.notified.insert(user);
            }
            WebhookEvent::Lifecycle {
                subscription_id,
                event,
            } => s.lifecycle(&subscription_id, &event).await,
        }
        self.status_dirty = true;
    }

    /// Reads the users change notifications named since the last round (those with one of
    /// the bridge's writes pending or in flight wait for the next round: a reading now may
    /// predate the write) and carries what changed.
    async fn read_notified(&mut self) {
        let (ready, waiting): (Vec<String>, Vec<String>) = std::mem::take(&mut self.notified)
            .into_iter()
            .partition(|u| !self.writes.busy(u));
        self.notified.extend(waiting);
        if ready.is_empty() {
            return;
        }
        match self.reader.poll(&ready).await {
            Ok(updates) => {
                for u in updates {
                    if self.set_aside(&u.user_id) {
                        self.notified.insert(u.user_id);
                        continue;
                    }
                    self.carry_teams(u).await;
                }
            }
            Err(e) => {
                tracing::warn!(site = %self.settings.site, users = ready.len(), "reading notified presence failed (tried again next round): {e}");
                self.notified.extend(ready);
            }
        }
        self.status_dirty = true;
    }

    /// Carries one Teams reading to the PBX side and shows it in the status.
    async fn carry_teams(&mut self, u: TeamsUpdate) {
        let now = self.now_ms();
        let commands = self.core.teams_observed(&u.user_id, u.presence, now);
        self.execute(commands).await;
        self.publish_user(&u.user_id);
    }

    /// Whether a Teams reading of `user` is set aside because one of the bridge's writes for
    /// them is pending or on its way: the reading may predate it, and the echo guard expects
    /// the newest write. The user is read again, whatever the `sequenceNumber`, next round.
    fn set_aside(&mut self, user: &str) -> bool {
        if !self.writes.busy(user) {
            return false;
        }
        self.reader.reread(user);
        true
    }

    async fn poll(&mut self) {
        let ids = self.poll_ids();
        if ids.is_empty() {
            return;
        }
        match self.reader.poll(&ids).await {
            Ok(updates) => {
                for u in updates {
                    if self.set_aside(&u.user_id) {
                        continue;
                    }
                    self.carry_teams(u).await;
                }
            }
            Err(e) => tracing::warn!(
                site = %self.settings.site,
                "reading Teams presence failed (tried again next round): {e}"
            ),
        }
        self.status_dirty = true;
    }

    /// Reads every user's calendar, a chunk per `getSchedule`, and carries what they ask for.
    async fn poll_calendar(&mut self) {
        let chunks = self.calendar.as_ref().map_or(0, CalendarReader::chunks);
        for _ in 0..chunks {
            let Some(reader) = self.calendar.as_mut() else {
                return;
            };
            match reader.read_next().await {
                Ok(readings) => {
                    for r in readings {
                        let now = self.now_ms();
                        let commands = self.core.calendar_observed(&r.user_id, r.state, now);
                        self.execute(commands).await;
                    }
                }
                Err(e) => tracing::warn!(
                    site = %self.settings.site,
                    "reading calendars failed (tried again next round): {e}"
                ),
            }
        }
        self.status_dirty = true;
    }

    async fn execute(&mut self, commands: Vec<Command>) {
        for c in commands {
            match c {
                Command::Publish { extension, state } => {
                    if let Some(user_id) = self.core.user_of(&extension).map(str::to_owned) {
                        let _ = self.sip_jobs.send(SipJob::Publish {
                            user_id,
                            extension,
                            state,
                        });
                    }
                }
                Command::Withdraw { extension } => {
                    if let Some(user_id) = self.core.user_of(&extension).map(str::to_owned) {
                        let _ = self.sip_jobs.send(SipJob::Withdraw { user_id, extension });
                    }
                }
                Command::Teams { user_id, action } => self.writes.push(&user_id, action),
                Command::Latched { user_id } => {
                    if self.writes.latch(&user_id) {
                        self.writer.forget(&user_id);
                    }
                }
            }
        }
        self.start_writes();
    }

    /// Starts the queued Teams writes the in-flight limit allows, each on its own task.
    fn start_writes(&mut self) {
        while let Some((user, queued)) = self.writes.take_next() {
            let prepared: Option<PreparedWrite> = match queued {
                Queued::Action(action) => self.writer.prepare(&user, action),
                Queued::Renew(p) => Some(self.writer.prepare_renewal(&user, p)),
            };
            match prepared {
                Some(w) => {
                    let id = self.write_tasks.spawn(w.send()).id();
                    self.writing.insert(id, (user, queued));
                }
                None => {
                    // Teams already shows it: done without a request.
                    self.writes.ended(&user);
                    self.core.succeeded(&user);
                }
            }
        }
    }

    /// A Teams write's task ended: records its outcome and starts the next writes.
    fn write_ended(
        &mut self,
        joined: Result<(tokio::task::Id, WriteDone), tokio::task::JoinError>,
    ) {
        let now = self.now_ms();
        let (id, done) = match joined {
            Ok(ok) => ok,
            Err(e) => {
                // Only a panic gets here (the tasks are never aborted while the loop runs).
                if let Some((user, _)) = self.writing.remove(&e.id()) {
                    tracing::error!(site = %self.settings.site, user = %user, "a Teams write failed: {e}");
                    let ended = self.writes.ended(&user);
                    if !ended.superseded {
                        self.core.teams_write_failed(&user);
                    }
                    if ended.forget {
                        self.writer.forget(&user);
                    }
                }
                self.start_writes();
                return;
            }
        };
        let queued = self.writing.remove(&id).map(|(_, q)| q);
        tracing::debug!(site = %self.settings.site, user = %done.user, ?queued, ok = done.result.is_ok(), "Teams write ended");
        self.writer.finish(&done, now);
        let ended = self.writes.ended(&done.user);
        match (&done.result, queued) {
            (Ok(()), Some(Queued::Renew(p))) => {
                // A user latched meanwhile is no longer bridged: their guard learns nothing.
                if !ended.forget {
                    self.core.renewed(&done.user, p);
                }
                self.core.succeeded(&done.user);
            }
            (Ok(()), _) => self.core.succeeded(&done.user),
            (Err(e), Some(Queued::Renew(_))) => {
                tracing::warn!(site = %self.settings.site, user = %done.user, "renewing the bridge's Teams session failed: {e}");
            }
            (Err(e), q) => {
                // A newer write for the user follows: the guard keeps expecting that one.
                if !ended.superseded {
                    self.core.teams_write_failed(&done.user);
                }
                let what = match q {
                    Some(Queued::Action(a)) => a.to_string(),
                    _ => "?".to_owned(),
                };
                let e = format!("writing Teams presence {what}: {e}");
                tracing::warn!(site = %self.settings.site, user = %done.user, "{e}");
                self.core.failed(&done.user, e);
            }
        }
        if ended.forget {
            self.writer.forget(&done.user);
        }
        self.publish_user(&done.user);
        self.start_writes();
    }

    /// Queues a keep-alive for every Teams session due one (behind the user's own writes).
    async fn keepalive(&mut self) {
        let now = self.now_ms();
        let due = self.writer.due(now);
        if !due.is_empty() {
            tracing::debug!(site = %self.settings.site, count = due.len(), "renewing Teams sessions");
        }
        for (user, p) in due {
            self.writes.push_renewal(&user, p);
        }
        self.start_writes();
    }

    /// Refreshes every publication in the background (a refresh waits for a server that is
    /// down; the loop must not), one round at a time.
    fn republish(&mut self) {
        if self.republishing.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let extensions: Vec<String> = self.core.users().map(|u| u.extension.clone()).collect();
        let agent = self.agent.clone();
        let site = self.settings.site.clone();
        self.republishing = Some(tokio::spawn(async move {
            for ext in extensions {
                match agent.refresh(&ext).await {
                    Ok(_) | Err(sip::SipError::NotPublished(_)) => {}
                    Err(e) => {
                        tracing::warn!(site = %site, extension = %ext, "refreshing the publication: {e}")
                    }
                }
            }
        }));
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.subscriber.as_mut() {
            s.stop().await;
        }
        if let Some(t) = self.republishing.take() {
            t.abort();
        }
        self.sip_worker.abort();
        while let Some(joined) = self.write_tasks.join_next().await {
            if let Ok(done) = joined {
                self.writer.finish(&done, self.now_ms());
            }
        }
        let users: Vec<String> = self.core.users().map(|u| u.user_id.clone()).collect();
        let writes = users
            .iter()
            .filter_map(|u| self.writer.prepare(u, TeamsAction::Clear))
            .collect();
        let now = self.now_ms();
        for done in send_all(writes, self.settings.writes_in_flight).await {
            if let Err(e) = &done.result {
                tracing::warn!(site = %self.settings.site, user = %done.user, "clearing the bridge's Teams session at stop: {e}");
            }
            self.writer.finish(&done, now);
        }
        if let Err(e) = self.agent.shutdown().await {
            tracing::warn!(site = %self.settings.site, "ending SIP publications and subscriptions at stop: {e}");
        }
        self.publish_status();
        self.save_status();
    }

    /// Updates one user's entry in the status snapshot (the whole snapshot is rebuilt on the
    /// next tick when something else changed).
    fn publish_user(&self, user_id: &str) {
        let Some(u) = self.core.user_status(user_id) else {
            return;
        };
        let now = self.now_ms();
        let mut s = match self.status.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.at_ms = now;
        s.users.insert(user_id.to_owned(), u);
    }

    fn publish_status(&self) {
        let mut snap = self.core.snapshot(self.now_ms());
        if let Some(s) = &self.subscriber {
            snap.alerts = s.alerts();
            snap.subscriptions = s
                .live()
                .into_iter()
                .map(|(reader, id, expires)| crate::status::SubscriptionStatus {
                    reader,
                    id,
                    expires: expires.to_rfc3339(),
                })
                .collect();
        }
        match self.status.lock() {
            Ok(mut s) => *s = snap,
            Err(poisoned) => *poisoned.into_inner() = snap,
        }
    }

    fn save_status(&self) {
        let Some(path) = &self.settings.status_file else {
            return;
        };
        let snap = match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Err(e) = snap.save(path) {
            tracing::warn!(site = %self.settings.site, "{e}");
        }
    }
}

/// How often the users change notifications named are read (together). Graph itself
/// delivers notifications in batches; this adds at most this much to a Teams change.
const NOTIFIED_ROUND: Duration = Duration::from_millis(100);

/// Sends `writes` with at most `limit` in flight, as the running bridge does: stop and start
/// clear every session at once, which one after the other takes minutes at a few thousand
/// users. Returns how each ended, in the order they ended.
async fn send_all(
    writes: Vec<crate::teams_side::PreparedWrite>,
    limit: usize,
) -> Vec<crate::teams_side::WriteDone> {
    let mut pending = writes.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut ended = Vec::new();
    loop {
        while running.len() < limit.max(1) {
            match pending.next() {
                Some(w) => {
                    running.spawn(w.send());
                }
                None => break,
            }
        }
        match running.join_next().await {
            Some(Ok(done)) => ended.push(done),
            Some(Err(e)) => tracing::error!("a Teams write failed: {e}"),
            None => return ended,
        }
    }
}
