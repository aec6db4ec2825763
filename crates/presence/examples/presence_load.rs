//! The load generator and meter of `bench/presence/run.sh`; it drives a running
//! `pbx365 presence run` from both sides and prints what the bridge adds.
//!
//! - Teams side: `--rate` changes per second as a Teams client makes them (the emulator's
//!   `PUT /_sim/presence/{user}/teams`), cycling each user through Busy/InACall, Away/Away and
//!   DoNotDisturb/Presenting; a SIP watcher subscribed to those extensions records when the
//!   NOTIFY with the mapped state arrives.
//! - PBX side: `--rate` PUBLISHes per second as the phones (an agent of the bridge account,
//!   the only one Kamailio lets publish for any extension), each user alternating a call and
//!   idle; an observer app (its own registration, so its reads do not use the bridge's presence
//!   budget) reads `getPresencesByUserId` every 25 ms for the changes not yet shown.
//!
//! The two user sets are disjoint so that no extension carries a phone's and the bridge's
//! publication at once. Figures: latency per change end to end, the part the bridge adds
//! (Teams→PBX: from the bridge's reading of the change, its status file's `teams.at_ms`, to the
//! NOTIFY — the poll wait before that is the poll interval's, counted apart), and Graph
//! requests per change from the emulator's request log (the observer's own reads subtracted).
//!
//! Usage: see `bench/presence/run.sh`; every option is `--name value`.

use presence::StatusSnapshot;
use serde_json::{json, Value};
use sip::{AgentConfig, AgentEvent, Credentials, EventPackage, PbxState, Presence, PresenceAgent};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, String>;

/// The NOTIFYs the watcher got: per extension, each state with when it came.
type Notified = Arc<Mutex<HashMap<String, Vec<(PbxState, f64)>>>>;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Res<Args> {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let Some(name) = k.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {k:?} (options are --name value)"
                ));
            };
            let v = it.next().ok_or(format!("--{name} needs a value"))?;
            m.insert(name.to_string(), v);
        }
        Ok(Args(m))
    }
    fn get(&self, k: &str) -> Res<String> {
        self.0.get(k).cloned().ok_or(format!("--{k} is required"))
    }
    fn num(&self, k: &str, default: u64) -> Res<u64> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{k} {v:?} is not a number")),
        }
    }
}

/// One change made and when it was seen on the other side.
#[derive(Debug, Clone, Default)]
struct Change {
    user: String,
    ext: String,
    /// Wall-clock ms when the change was made (request sent).
    made: f64,
    /// When the other side showed it.
    seen: Option<f64>,
    /// Teams→PBX: when the bridge read it (status file).
    read: Option<f64>,
    /// PBX→Teams: expected (availability, activity); Teams→PBX: expected PBX state.
    want_teams: (String, String),
    want_pbx: Option<PbxState>,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 * p / 100.0).ceil() as usize).saturating_sub(1);
    v[i.min(v.len() - 1)]
}

async fn sim_requests(http: &reqwest::Client, sim: &str, key: &str) -> Res<Value> {
    http.get(format!("{sim}/_sim/requests"))
        .header("x-sim-key", key)
        .send()
        .await
        .map_err(|e| format!("/_sim/requests: {e}"))?
        .json()
        .await
        .map_err(|e| format!("/_sim/requests: {e}"))
}

fn count(log: &Value, part: &str) -> u64 {
    log["byEndpoint"].as_object().map_or(0, |m| {
        m.iter()
            .filter(|(k, _)| k.contains(part))
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    })
}

fn status_count(log: &Value, status: &str) -> u64 {
    log["byStatus"][status].as_u64().unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("presence_load: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Res<()> {
    let a = Args::parse()?;
    let sim = a.get("sim")?;
    let key = a.get("sim-key")?;
    let tenant = a.get("tenant")?;
    let sip_server: std::net::SocketAddr =
        a.get("sip")?.parse().map_err(|e| format!("--sip: {e}"))?;
    let domain = a.get("domain")?;
    let status_file = std::path::PathBuf::from(a.get("status-file")?);
    let rate = a.num("rate", 50)?.max(1);
    let duration = Duration::from_secs(a.num("duration", 60)?);
    let per_side = a.num("users-per-side", 1000)? as usize;
    let read_pw = |k: &str| -> Res<String> {
        std::fs::read_to_string(a.get(k)?)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("--{k}: {e}"))
    };
    let phone_pw = read_pw("phone-password-file")?;
    let watcher_pw = read_pw("watcher-password-file")?;
    let observer_id = a.get("observer-client-id")?;
    let observer_secret = read_pw("observer-secret-file")?;

    let snap = StatusSnapshot::load(&status_file).map_err(|e| e.to_string())?;
    let mut users: Vec<(String, String)> = snap
        .users
        .values()
        .map(|u| (u.user_id.clone(), u.extension.clone()))
        .collect();
    users.sort_by(|a, b| a.1.cmp(&b.1));
    if users.len() < 2 * per_side {
        return Err(format!(
            "{} users mapped; --users-per-side {per_side} needs {}",
            users.len(),
            2 * per_side
        ));
    }
    let teams_users = users[..per_side].to_vec();
    let pbx_users = users[users.len() - per_side..].to_vec();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(16)
        .build()
        .map_err(|e| e.to_string())?;
    // The observer's token (client credentials, its own app).
    let tok: Value = http
        .post(format!("{sim}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("client_id", observer_id.as_str()),
            ("client_secret", observer_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .map_err(|e| format!("observer token: {e}"))?
        .json()
        .await
        .map_err(|e| format!("observer token: {e}"))?;
    let token = tok["access_token"]
        .as_str()
        .ok_or(format!("observer token: {tok}"))?
        .to_string();

    // The watcher, subscribed to the Teams-side extensions.
    let (watcher, mut wev) = PresenceAgent::start(AgentConfig::new(
        sip_server,
        domain.clone(),
        Credentials::new("watcher", &watcher_pw),
    ))
    .await
    .map_err(|e| format!("watcher: {e}"))?;
    let notified: Notified = Arc::default();
    {
        let notified = notified.clone();
        tokio::spawn(async move {
            while let Some(e) = wev.recv().await {
                if let AgentEvent::State {
                    extension,
                    package: EventPackage::Presence,
                    state,
                } = e
                {
                    if let Ok(mut n) = notified.lock() {
                        n.entry(extension).or_default().push((state, now_ms()));
                    }
                }
            }
        });
    }
    eprintln!("presence_load: watcher subscribing to {per_side} extensions…");
    for (_, ext) in &teams_users {
        // Kamailio on SQLite answers 500 now and then when two subscriptions to one
        // presentity meet (its presence timer writing the same rows): try again, bounded.
        let mut tries = 0;
        while let Err(e) = watcher.subscribe(ext, EventPackage::Presence).await {
            tries += 1;
            if tries == 10 {
                return Err(format!("watcher subscribing to {ext}: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (phone, _pev) = PresenceAgent::start(AgentConfig::new(
        sip_server,
        domain.clone(),
        Credentials::new("bridge", &phone_pw),
    ))
    .await
    .map_err(|e| format!("phone agent: {e}"))?;
    let phone = Arc::new(phone);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before = sim_requests(&http, &sim, &key).await?;
    let observer_reads = Arc::new(AtomicU64::new(0));
    let teams_changes: Arc<Mutex<Vec<Change>>> = Arc::default();
    let pbx_changes: Arc<Mutex<Vec<Change>>> = Arc::default();
    let period = Duration::from_micros(1_000_000 / rate);
    let start = tokio::time::Instant::now();
    let end = start + duration;
    eprintln!(
        "presence_load: {rate} changes/s each way for {duration:?} over {} users",
        users.len()
    );

    // Teams side.
    let teams_gen = {
        let (http, sim, key, changes) = (
            http.clone(),
            sim.clone(),
            key.clone(),
            teams_changes.clone(),
        );
        tokio::spawn(async move {
            let cycle = [
                ("Busy", "InACall", PbxState::OnCall),
                ("Away", "Away", PbxState::Away),
                ("DoNotDisturb", "Presenting", PbxState::Dnd),
            ];
            let mut tick = tokio::time::interval(period);
            let mut i = 0usize;
            let mut inflight = Vec::new();
            while tokio::time::Instant::now() < end {
                tick.tick().await;
                let (user, ext) = teams_users[i % teams_users.len()].clone();
                let (av, ac, st) = cycle[(i / teams_users.len()) % cycle.len()];
                i += 1;
                let (http, sim, key, changes) =
                    (http.clone(), sim.clone(), key.clone(), changes.clone());
                inflight.push(tokio::spawn(async move {
                    let made = now_ms();
                    let r = http
                        .put(format!("{sim}/_sim/presence/{user}/teams"))
                        .header("x-sim-key", &key)
                        .json(&json!({"availability": av, "activity": ac}))
                        .send()
                        .await;
                    if r.as_ref().is_ok_and(|r| r.status().is_success()) {
                        if let Ok(mut c) = changes.lock() {
                            c.push(Change {
                                user,
                                ext,
                                made,
                                want_pbx: Some(st),
                                ..Default::default()
                            });
                        }
                    } else {
                        eprintln!("presence_load: a Teams change failed: {r:?}");
                    }
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        })
    };

    // PBX side.
    let pbx_gen = {
        let changes = pbx_changes.clone();
        let phone = phone.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut i = 0usize;
            let mut inflight = Vec::new();
            while tokio::time::Instant::now() < end {
                tick.tick().await;
                let (user, ext) = pbx_users[i % pbx_users.len()].clone();
                let call = (i / pbx_users.len()).is_multiple_of(2);
                i += 1;
                let (state, want) = if call {
                    (PbxState::OnCall, ("Busy", "InACall"))
                } else {
                    (PbxState::Idle, ("Offline", "Offline"))
                };
                let (phone, changes) = (phone.clone(), changes.clone());
                inflight.push(tokio::spawn(async move {
                    let made = now_ms();
                    match phone.publish(&ext, Presence::for_state(state)).await {
                        Ok(_) => {
                            if let Ok(mut c) = changes.lock() {
                                c.push(Change {
                                    user,
                                    ext,
                                    made,
                                    want_teams: (want.0.into(), want.1.into()),
                                    ..Default::default()
                                });
                            }
                        }
                        Err(e) => eprintln!("presence_load: a PUBLISH failed: {e}"),
                    }
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        })
    };

    // Observer of the PBX side: Teams as any Graph reader sees it.
    let observer = {
        let (http, sim, changes, reads) = (
            http.clone(),
            sim.clone(),
            pbx_changes.clone(),
            observer_reads.clone(),
        );
        tokio::spawn(async move {
            let deadline = end + Duration::from_secs(10);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let pending: Vec<String> = match changes.lock() {
                    Ok(c) => c
                        .iter()
                        .filter(|c| c.seen.is_none())
                        .map(|c| c.user.clone())
                        .collect(),
                    Err(_) => return,
                };
                if pending.is_empty() {
                    if tokio::time::Instant::now() > end + Duration::from_secs(1) {
                        return;
                    }
                    continue;
                }
                for chunk in pending.chunks(650) {
                    reads.fetch_add(1, Ordering::Relaxed);
                    let r = http
                        .post(format!("{sim}/v1.0/communications/getPresencesByUserId"))
                        .bearer_auth(&token)
                        .json(&json!({"ids": chunk}))
                        .send()
                        .await;
                    let at = now_ms();
                    let Ok(r) = r else { continue };
                    let Ok(v) = r.json::<Value>().await else {
                        continue;
                    };
                    let shown: HashMap<String, (String, String)> = v["value"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            (
                                p["id"].as_str().unwrap_or("").to_string(),
                                (
                                    p["availability"].as_str().unwrap_or("").to_string(),
                                    p["activity"].as_str().unwrap_or("").to_string(),
                                ),
                            )
                        })
                        .collect();
                    if let Ok(mut c) = changes.lock() {
                        for ch in c.iter_mut().filter(|c| c.seen.is_none()) {
                            if shown.get(&ch.user) == Some(&ch.want_teams) {
                                ch.seen = Some(at);
                            }
                        }
                    }
                }
            }
        })
    };

    // The bridge's readings of the Teams changes, from its status file (written every tick).
    let reader = {
        let (changes, file) = (teams_changes.clone(), status_file.clone());
        tokio::spawn(async move {
            let deadline = end + Duration::from_secs(10);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let Ok(s) = tokio::task::spawn_blocking({
                    let f = file.clone();
                    move || StatusSnapshot::load(&f)
                })
                .await
                else {
                    continue;
                };
                let Ok(s) = s else { continue };
                if let Ok(mut c) = changes.lock() {
                    for ch in c.iter_mut().filter(|c| c.read.is_none()) {
                        if let Some(t) = s.users.get(&ch.user).and_then(|u| u.teams.as_ref()) {
                            if t.at_ms as f64 >= ch.made - 1.0 {
                                ch.read = Some(t.at_ms as f64);
                            }
                        }
                    }
                }
            }
        })
    };

    let _ = teams_gen.await;
    let _ = pbx_gen.await;
    let made_all = start.elapsed();
    // Let the last changes through (bounded).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = sim_requests(&http, &sim, &key).await?;
    let _ = observer.await;
    let _ = reader.await;

    // Match NOTIFYs to Teams changes: the first NOTIFY of the wanted state after the change.
    let notified = notified.lock().map_err(|_| "lock")?.clone();
    let mut teams = teams_changes.lock().map_err(|_| "lock")?.clone();
    for ch in teams.iter_mut() {
        ch.seen = notified.get(&ch.ext).and_then(|v| {
            v.iter()
                .find(|(s, t)| Some(*s) == ch.want_pbx && *t >= ch.made)
                .map(|(_, t)| *t)
        });
    }
    let pbx = pbx_changes.lock().map_err(|_| "lock")?.clone();

    let mut t_e2e: Vec<f64> = teams
        .iter()
        .filter_map(|c| Some(c.seen? - c.made))
        .collect();
    let mut t_added: Vec<f64> = teams
        .iter()
        .filter_map(|c| Some(c.seen? - c.read?))
        .filter(|d| *d >= -1.0)
        .collect();
    let mut t_poll: Vec<f64> = teams
        .iter()
        .filter_map(|c| Some(c.read? - c.made))
        .collect();
    let mut p_e2e: Vec<f64> = pbx.iter().filter_map(|c| Some(c.seen? - c.made)).collect();
    let t_missed = teams.iter().filter(|c| c.seen.is_none()).count();
    let p_missed = pbx.iter().filter(|c| c.seen.is_none()).count();

    let obs = observer_reads.load(Ordering::Relaxed);
    let d = |part: &str| count(&after, part).saturating_sub(count(&before, part));
    let polls = d("getPresencesByUserId").saturating_sub(obs);
    let sets = d("setPresence");
    let clears = d("clearPresence");
    let throttled = status_count(&after, "429").saturating_sub(status_count(&before, "429"));
    let secs = made_all.as_secs_f64() + 5.0;

    println!("users_mapped={}", users.len());
    println!("rate_per_side={rate}");
    println!("duration_s={:.1}", made_all.as_secs_f64());
    println!("teams_changes={} teams_missed={t_missed}", teams.len());
    println!("pbx_changes={} pbx_missed={p_missed}", pbx.len());
    for (name, v) in [
        ("teams_to_pbx_end_to_end_ms", &mut t_e2e),
        ("teams_to_pbx_poll_wait_ms", &mut t_poll),
        ("teams_to_pbx_bridge_added_ms", &mut t_added),
        ("pbx_to_teams_ms", &mut p_e2e),
    ] {
        println!(
            "{name} n={} p50={:.0} p95={:.0} p99={:.0}",
            v.len(),
            pct(v, 50.0),
            pct(v, 95.0),
            pct(v, 99.0)
        );
    }
    println!("graph_set_presence={sets} graph_clear_presence={clears}");
    println!(
        "graph_writes_per_pbx_change={:.3}",
        (sets + clears) as f64 / pbx.len().max(1) as f64
    );
    println!(
        "graph_polls={polls} polls_per_30s={:.0} polls_per_teams_change={:.3}",
        polls as f64 * 30.0 / secs,
        polls as f64 / teams.len().max(1) as f64
    );
    println!(
        "graph_requests_per_change={:.3}",
        (sets + clears + polls) as f64 / (teams.len() + pbx.len()).max(1) as f64
    );
    println!(
        "bridge_presence_requests_per_30s={:.0} throttled_429={throttled} observer_reads={obs}",
        (sets + clears + polls) as f64 * 30.0 / secs
    );
    Ok(())
}
