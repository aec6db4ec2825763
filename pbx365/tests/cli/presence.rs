//! `pbx365 presence status` and `presence run`'s refusals, run as real processes.

use presence::{BridgeCore, FlapLimits, MappedUser, StatusMaps};
use sip::{EventPackage, PbxState};
use std::path::PathBuf;
use std::process::{Command, Output};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let d = std::env::temp_dir().join(format!("pbx365-cli-presence-{}", rand_suffix()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

fn pbx365(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pbx365"))
        .args(args)
        .env_remove("PBX365_CONFIG")
        .output()
        .expect("run pbx365")
}

/// A status file as the bridge writes it: alice's phone is on a call, which the bridge carried
/// to Teams and Teams echoed back.
fn state_file(dir: &TempDir) -> PathBuf {
    let mut core = BridgeCore::new(
        "hq",
        StatusMaps::defaults(4),
        vec![
            MappedUser {
                user_id: "00000000-0000-4000-8000-000000000001".into(),
                extension: "201".into(),
            },
            MappedUser {
                user_id: "00000000-0000-4000-8000-000000000002".into(),
                extension: "202".into(),
            },
        ],
        FlapLimits::default(),
    );
    let t0 = 1_795_900_000_000;
    core.pbx_observed("201", EventPackage::Dialog, PbxState::OnCall, t0);
    core.teams_observed(
        "00000000-0000-4000-8000-000000000001",
        presence::TeamsPresence::new(presence::Availability::Busy, presence::Activity::InACall),
        t0 + 1_000,
    );
    let file = dir.0.join("presence-status.json");
    core.snapshot(t0 + 2_000).save(&file).expect("save");
    file
}

#[test]
fn status_shows_both_sides_and_the_last_change_with_its_origin() {
    let dir = TempDir::new();
    let file = state_file(&dir);
    let f = file.to_str().expect("utf-8 path");

    let out = pbx365(&["presence", "status", "201", "--state-file", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ext 201"), "{text}");
    assert!(text.contains("teams: Busy/InACall (bridge,"), "{text}");
    assert!(text.contains("pbx:   on_call (external,"), "{text}");
    assert!(
        text.contains("last change: teams → Busy/InACall by bridge"),
        "{text}"
    );
    assert!(!text.contains("ext 202"), "only the user asked for: {text}");

    let out = pbx365(&["presence", "status", "--json", "--state-file", f]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let users = v.as_array().expect("array");
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["pbx"]["state"], "on_call");
    assert_eq!(users[0]["bridge_teams"], "Busy/InACall");
    assert!(users[1]["teams"].is_null(), "nothing seen for 202 yet");

    let out = pbx365(&["presence", "status", "999", "--state-file", f]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user \"999\""));
}

#[test]
fn status_without_a_state_file_says_what_to_check() {
    let dir = TempDir::new();
    let missing = dir.0.join("nope.json");
    let out = pbx365(&[
        "presence",
        "status",
        "--state-file",
        missing.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.json") && err.contains("is the bridge running"),
        "{err}"
    );
}

#[test]
fn run_refuses_a_site_without_a_presence_section() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("secret"), "s\n").expect("secret");
    let cfg = dir.0.join("pbx365.toml");
    std::fs::write(
        &cfg,
        r#"
[[site]]
name = "hq"
[site.tenant]
tenant_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
client_id = "6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
client_secret_file = "secret"
[site.dialling]
country = "DE"
[site.users]
group_id = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"
[site.extensions]
first_number = 100
length = 3
"#,
    )
    .expect("config");
    let out = pbx365(&["presence", "run", "--config", cfg.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[site.presence]"), "{err}");
}

#[path = "../../../crates/sip/tests/it/kamailio.rs"]
#[allow(dead_code)]
mod kamailio;

#[path = "../../../crates/sip/tests/it/pki.rs"]
mod pki;

/// What Teams shows for `user`, read over HTTP as the app.
async fn shown(sim: &graph_sim::RunningSim, user: &str) -> (String, String) {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/users/{user}/presence", sim.graph_url()))
        .bearer_auth(sim.app_token())
        .send()
        .await
        .expect("presence")
        .json()
        .await
        .expect("json");
    (
        v["availability"].as_str().unwrap_or("").into(),
        v["activity"].as_str().unwrap_or("").into(),
    )
}

/// A bridge run by the binary: a real Kamailio, the emulator, `sync` into a fresh store and
/// `presence run` watching every synced extension (killed when dropped).
struct RunningBridge {
    k: kamailio::Kamailio,
    sim: graph_sim::RunningSim,
    /// Removed when the bridge is dropped.
    _dir: TempDir,
    cfg: String,
    status_file: PathBuf,
    child: Option<std::process::Child>,
    /// Everything the bridge wrote to stderr, drained as it comes: an undrained pipe fills
    /// up and blocks the bridge's logging, and with it the bridge. Printed when a test fails.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RunningBridge {
    /// A `pbx365` command with the secrets in the environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pbx365"));
        c.args(args)
            .env_remove("PBX365_CONFIG")
            .env(
                "PBX365_SITE__0__TENANT__CLIENT_SECRET",
                &self.sim.credentials.client_secret,
            )
            .env(
                "PBX365_SITE__0__PRESENCE__PASSWORD",
                kamailio::password("bridge"),
            );
        c
    }

    async fn start() -> (RunningBridge, presence::StatusSnapshot) {
        RunningBridge::start_on(kamailio::Kamailio::start(), None).await
    }

    /// Like [`RunningBridge::start`] against `k`; with `ca_file`, over TLS to its TLS listener.
    async fn start_on(
        k: kamailio::Kamailio,
        ca_file: Option<PathBuf>,
    ) -> (RunningBridge, presence::StatusSnapshot) {
        let sim = graph_sim::start(graph_sim::SimConfig::loopback(20, 11))
            .await
            .expect("emulator");
        let snapshot = graph_sim::control::snapshot(&sim.state);
        let group = snapshot
            .groups
            .iter()
            .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
            .expect("Phone Users");
        let dir = TempDir::new();
        let config = dir.0.join("pbx365.toml");
        let status_file = dir.0.join("presence-status.json");
        let text = format!(
            "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{gid}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n\n[site.presence]\nsip_server = \"{sip}\"\nsip_domain = \"{domain}\"\nusername = \"bridge\"\npoll_seconds = 1\nstatus_file = \"{status}\"\n",
            db = dir.0.join("store.db").display(),
            tid = sim.credentials.tenant_id,
            cid = sim.credentials.client_id,
            http = sim.http_url(),
            gid = group.group.id,
            sip = k.addr(),
            domain = kamailio::DOMAIN,
            status = status_file.display(),
        );
        let text = match &ca_file {
            None => text,
            Some(ca) => format!(
                "{}transport = \"tls\"\nca_file = \"{}\"\n",
                text.replace(&k.addr().to_string(), &k.tls_addr().to_string()),
                ca.display()
            ),
        };
        std::fs::write(&config, text).expect("config");
        let cfg = config.to_str().expect("utf-8").to_string();
        let mut b = RunningBridge {
            k,
            sim,
            _dir: dir,
            cfg,
            status_file,
            child: None,
            log: Default::default(),
        };
        let out = tokio::task::block_in_place(|| {
            b.cmd(&["sync", "--config", &b.cfg]).output().expect("sync")
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = b
            .cmd(&["presence", "run", "--config", &b.cfg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("presence run");
        if let Some(stderr) = child.stderr.take() {
            let log = b.log.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        // Wait (bounded) until every extension is watched.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let snap = loop {
            if let Ok(s) = presence::StatusSnapshot::load(&b.status_file) {
                if !s.users.is_empty() && s.users.values().all(|u| u.watching) {
                    break s;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                // The drain ends with the pipe; give it a moment to take the last lines.
                std::thread::sleep(std::time::Duration::from_millis(200));
                panic!("presence run exited with {st}: {}", b.log_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the bridge never watched every extension"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        b.child = Some(child);
        (b, snap)
    }

    /// A user whose own Teams state a call outranks and the bridge publishes nothing for (two
    /// publications' RPID activities do not merge in Kamailio's aggregated NOTIFY).
    async fn callable_user(&self, snap: &presence::StatusSnapshot) -> (String, String, String) {
        for u in snap.users.values() {
            let (a, _) = shown(&self.sim, &u.user_id).await;
            if ["Offline", "Available", "AvailableIdle"].contains(&a.as_str()) {
                return (u.user_id.clone(), u.extension.clone(), a);
            }
        }
        panic!("no user a call outranks")
    }

    /// A phone: a second agent of the bridge account, which may publish for any extension.
    async fn phone(&self) -> sip::PresenceAgent {
        let (phone, _events) = sip::PresenceAgent::start(sip::AgentConfig::new(
            self.k.addr(),
            kamailio::DOMAIN,
            sip::Credentials::new("bridge", kamailio::password("bridge")),
        ))
        .await
        .expect("phone agent");
        phone
    }
}

/// A child process killed (and reaped) when the test lets go of it, also when the test fails
/// half-way: a `presence run` left behind keeps its ports and its Kamailio busy.
struct KillOnDrop(std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl RunningBridge {
    /// What the bridge logged so far.
    fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- the bridge's log ---\n{}", self.log_text());
        }
    }
}

/// The whole binary: `sync` fills the store, `presence run` bridges its extensions through a
/// real Kamailio, a call published for one extension shows in Teams, `presence status` tells
/// it, and Ctrl-C (SIGINT) stops the bridge cleanly, clearing its Teams session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_run_bridges_the_synced_extensions_and_stops_cleanly() {
    let (mut b, snap) = RunningBridge::start().await;
    let (user, ext, before) = b.callable_user(&snap).await;
    let phone = b.phone().await;
    let (sim, status_file, cfg) = (&b.sim, b.status_file.clone(), b.cfg.clone());
    phone
        .publish(&ext, sip::Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish a call");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while shown(sim, &user).await != ("Busy".into(), "InACall".into()) {
        assert!(
            std::time::Instant::now() < deadline,
            "Teams never showed the call for {ext} (was {before}, now {:?}): {:#?}",
            shown(sim, &user).await,
            presence::StatusSnapshot::load(&status_file)
                .ok()
                .and_then(|s| s.find(&ext).cloned())
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // `presence status` tells it (the state file is written every second).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let out = tokio::task::block_in_place(|| {
        b.cmd(&["presence", "status", &ext, "--config", &cfg])
            .output()
            .expect("status")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("ext {ext}")), "{text}");
    assert!(text.contains("pbx:   on_call (external"), "{text}");
    assert!(text.contains("bridge writes: teams Busy/InACall"), "{text}");

    // Ctrl-C: the bridge clears its Teams session and exits 0.
    let mut child = KillOnDrop(b.child.take().expect("presence run"));
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "presence run did not stop on SIGINT"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let after = shown(&b.sim, &user).await;
    assert_ne!(
        after,
        ("Busy".into(), "InACall".into()),
        "the session was cleared"
    );
}

/// `presence run` with `transport = "tls"`: the bridge watches every extension over a
/// verified TLS connection to Kamailio's TLS listener and a call reaches Teams; with a CA file
/// that did not sign the server's certificate it refuses to start and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_run_over_tls_and_the_refusal_of_an_unknown_ca() {
    let server = pki::test_pki("pbx365 test CA");
    let k = kamailio::Kamailio::start_tls(&server);
    let ca = k.write_file("sip-ca.pem", &server.ca_pem);
    let (mut b, snap) = RunningBridge::start_on(k, Some(ca.clone())).await;
    let (user, ext, before) = b.callable_user(&snap).await;
    // the phone publishes over UDP; the bridge learns it by NOTIFY over its TLS connection
    let phone = b.phone().await;
    phone
        .publish(&ext, sip::Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish a call");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while shown(&b.sim, &user).await != ("Busy".into(), "InACall".into()) {
        assert!(
            std::time::Instant::now() < deadline,
            "Teams never showed the call for {ext} (was {before})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if let Some(mut c) = b.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }

    // the same configuration, but the CA file now holds a CA that did not sign the server's
    std::fs::write(&ca, pki::test_pki("some other CA").ca_pem).expect("replace the CA file");
    let out = tokio::task::block_in_place(|| {
        b.cmd(&["presence", "run", "--config", &b.cfg])
            .output()
            .expect("presence run")
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS handshake"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains(&b.k.tls_addr().to_string()), "{err}");
}

/// A phone that flaps between a call and idle faster than any person makes the flap detector
/// latch the user; `presence status` lists the latch, `presence release EXT` lifts it in the
/// running bridge (no restart) and carries the call the phone shows now to Teams, and the next
/// change on the phone reaches Teams again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_release_lifts_a_latch_in_the_running_bridge() {
    let (b, snap) = RunningBridge::start().await;
    let (user, ext, _) = b.callable_user(&snap).await;
    let phone = b.phone().await;
    let status = |b: &RunningBridge| presence::StatusSnapshot::load(&b.status_file).ok();
    let mut latched = false;
    // Default flap limit: more than 10 writes in 2 minutes. Bounded: 40 changes.
    for i in 0..40 {
        let state = if i % 2 == 0 {
            PbxState::OnCall
        } else {
            PbxState::Idle
        };
        phone
            .publish(&ext, sip::Presence::for_state(state))
            .await
            .expect("publish");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if status(&b)
            .and_then(|s| s.find(&ext).and_then(|u| u.latched_at_ms))
            .is_some()
        {
            latched = true;
            break;
        }
    }
    assert!(latched, "the flapping phone never latched {ext}");
    // A call on the phone while latched is not carried; the release carries it.
    phone
        .publish(&ext, sip::Presence::for_state(PbxState::OnCall))
        .await
        .expect("publish");
    let out = tokio::task::block_in_place(|| {
        b.cmd(&["presence", "status", "--config", &b.cfg])
            .output()
            .expect("status")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 latched") && text.contains(&format!("(ext {ext}) since")),
        "{text}"
    );
    assert!(text.contains("LATCHED at"), "{text}");

    // Release by extension; the command waits for the bridge to confirm.
    let out = tokio::task::block_in_place(|| {
        b.cmd(&["presence", "release", &ext, "--config", &b.cfg])
            .output()
            .expect("release")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("released {user} (ext {ext})")),
        "{text}"
    );
    let after = status(&b).expect("status file");
    assert!(after.find(&ext).expect("user").latched_at_ms.is_none());
    // Releasing again says there is nothing to release; --all too.
    let out = tokio::task::block_in_place(|| {
        b.cmd(&["presence", "release", "--all", "--config", &b.cfg])
            .output()
            .expect("release --all")
    });
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no user is latched"));

    // The release carries what the phone shows now (the call) without another change…
    wait_shown(
        &b,
        &user,
        |s| s == ("Busy", "InACall"),
        "the call at the release",
    )
    .await;
    // …and bridging goes on with the next change: the call ends, the bridge's session goes.
    phone
        .publish(&ext, sip::Presence::for_state(PbxState::Idle))
        .await
        .expect("publish");
    wait_shown(&b, &user, |s| s.1 != "InACall", "the end of the call").await;
}

/// Waits (bounded: 15 s) until Teams shows `user` as `want` accepts; fails with the bridge's
/// log otherwise.
async fn wait_shown(
    b: &RunningBridge,
    user: &str,
    want: impl Fn((&str, &str)) -> bool,
    what: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (a, c) = shown(&b.sim, user).await;
        if want((&a, &c)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never reached Teams (it shows {a}/{c})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn release_of_a_user_who_is_not_latched_changes_nothing() {
    let dir = TempDir::new();
    let file = state_file(&dir);
    let f = file.to_str().expect("utf-8 path");
    let out = pbx365(&["presence", "release", "201", "--state-file", f]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not latched"));
    assert!(
        !presence::control::control_dir(&file).exists(),
        "no request was queued"
    );
    let out = pbx365(&["presence", "release", "999", "--state-file", f]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user \"999\""));
    let out = pbx365(&["presence", "release", "--state-file", f]);
    assert!(!out.status.success(), "a user or --all is required");
}

/// A `/_sim` control call on `sim`.
async fn sim_control(
    sim: &graph_sim::RunningSim,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.http_url()))
        .header("x-sim-key", &sim.credentials.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("control");
    let s = resp.status().as_u16();
    let t = resp.text().await.unwrap_or_default();
    (
        s,
        serde_json::from_str(&t).unwrap_or(serde_json::Value::Null),
    )
}

/// Waits (bounded) until the status file satisfies `ok`.
async fn wait_status(
    file: &std::path::Path,
    what: &str,
    ok: impl Fn(&presence::StatusSnapshot) -> bool,
) -> presence::StatusSnapshot {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(s) = presence::StatusSnapshot::load(file) {
            if ok(&s) {
                return s;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {:#?}",
            presence::StatusSnapshot::load(file).ok()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Teams presence by change notification through the binary: `presence readers add` signs a
/// reader in by device code (approved in the emulator), `presence run` subscribes with it and
/// receives a Teams change by notification (no getPresencesByUserId in between); the reader's
/// sessions revoked → an alert in `presence status` and `readers list`, and polling carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_by_notification_from_reader_sign_in_to_revocation() {
    let k = kamailio::Kamailio::start();
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(20, 11))
        .await
        .expect("emulator");
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users");
    let reader_app = snapshot
        .apps
        .iter()
        .find(|a| a.allow_public_client && a.delegated_scopes.contains("Presence.Read.All"))
        .expect("the public-client app")
        .client_id
        .clone();
    let reader = snapshot
        .users
        .iter()
        .find(|u| u.user.user.account_enabled == Some(true))
        .expect("an enabled user")
        .user
        .user
        .id
        .clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let dir = TempDir::new();
    let config = dir.0.join("pbx365.toml");
    let status_file = dir.0.join("presence-status.json");
    std::fs::write(dir.0.join("store.key"), format!("{}\n", "7e".repeat(32))).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.0.join("store.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\nkey_file = \"store.key\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{gid}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n\n[site.presence]\nsip_server = \"{sip}\"\nsip_domain = \"{domain}\"\nusername = \"bridge\"\npoll_seconds = 1\nstatus_file = \"{status}\"\n\n[site.presence.notifications]\npublic_url = \"http://127.0.0.1:{port}\"\nlisten = \"127.0.0.1:{port}\"\nreader_client_id = \"{reader_app}\"\nreconcile_minutes = 60\n",
        db = dir.0.join("store.db").display(),
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
        gid = group.group.id,
        sip = k.addr(),
        domain = kamailio::DOMAIN,
        status = status_file.display(),
    );
    std::fs::write(&config, text).expect("config");
    let cfg = config.to_str().expect("utf-8").to_string();
    let secret = sim.credentials.client_secret.clone();
    let run = |args: Vec<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pbx365"));
        c.args(args)
            .env_remove("PBX365_CONFIG")
            .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", &secret)
            .env(
                "PBX365_SITE__0__PRESENCE__PASSWORD",
                kamailio::password("bridge"),
            );
        c
    };
    let out =
        tokio::task::block_in_place(|| run(vec!["sync", "--config", &cfg]).output().expect("sync"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = |run: &dyn Fn(Vec<&str>) -> Command| -> serde_json::Value {
        let out = tokio::task::block_in_place(|| {
            run(vec![
                "presence", "readers", "list", "--json", "--config", &cfg,
            ])
            .output()
            .expect("readers list")
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let v = list(&run);
    assert_eq!(v["needed"], 1, "{v}");
    assert_eq!(v["present"], 0, "{v}");

    // A declined sign-in stores nothing and says so.
    let mut declined = run(vec!["presence", "readers", "add", "--config", &cfg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("readers add");
    let stderr = declined.stderr.take().expect("stderr");
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = line_tx.send(line);
        }
    });
    let code = tokio::task::block_in_place(|| loop {
        let line = line_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the device code is printed");
        if let Some(code) = line.split("enter the code ").nth(1) {
            break code.trim().to_string();
        }
    });
    let (s, b) = sim_control(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/decline",
        Some(serde_json::json!({"userCode": code})),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {b}");
    let st = tokio::task::block_in_place(|| declined.wait().expect("readers add ends"));
    assert!(!st.success());
    // The reader thread ends at the pipe's end, which the exit closed.
    let rest: Vec<String> = tokio::task::block_in_place(|| line_rx.iter().collect());
    assert!(
        rest.iter()
            .any(|l| l.contains("declined; nothing was stored")),
        "{rest:?}"
    );
    assert_eq!(list(&run)["present"], 0);

    // `readers add`: the code is printed; the user approves it in the emulator.
    let mut add = run(vec!["presence", "readers", "add", "--config", &cfg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("readers add");
    let stderr = add.stderr.take().expect("stderr");
    let (code_tx, code_rx) = std::sync::mpsc::channel::<String>();
    let add_err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let add_err2 = add_err.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(mut e) = add_err2.lock() {
                e.push_str(&line);
                e.push('\n');
            }
            if let Some(code) = line.split("enter the code ").nth(1) {
                let _ = code_tx.send(code.trim().to_string());
            }
        }
    });
    let code = tokio::task::block_in_place(|| {
        code_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the device code is printed")
    });
    let (s, b) = sim_control(
        &sim,
        reqwest::Method::POST,
        "/_sim/devicecode/approve",
        Some(serde_json::json!({"userCode": code, "userId": reader})),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {b}");
    let out = tokio::task::block_in_place(|| add.wait_with_output().expect("readers add ends"));
    assert!(
        out.status.success(),
        "readers add failed: {}",
        add_err.lock().map(|e| e.clone()).unwrap_or_default()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signed in and stored"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = list(&run);
    assert_eq!(
        (v["present"].as_u64(), v["working"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["polledUsers"], 0, "{v}");
    let signed_in_token_at = v["readers"][0]["updatedAt"].clone();

    // `presence run` subscribes with the reader.
    let mut child = KillOnDrop(
        run(vec!["presence", "run", "--config", &cfg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("presence run"),
    );
    let snap = wait_status(&status_file, "watching and subscribed", |s| {
        !s.users.is_empty() && s.users.values().all(|u| u.watching) && s.subscriptions.len() == 1
    })
    .await;
    assert!(snap.alerts.is_empty(), "{:?}", snap.alerts);
    let sub_id = snap.subscriptions[0].id.clone();
    // Using the refresh token rotated it; the new one was stored.
    let v = list(&run);
    assert_ne!(v["readers"][0]["updatedAt"], signed_in_token_at, "{v}");
    // Let the first (reconciling) poll round finish, then watch the request log.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (s, _) = sim_control(&sim, reqwest::Method::DELETE, "/_sim/requests", None).await;
    assert!(s == 200 || s == 204);
    let user = snap.users.values().next().expect("a user").user_id.clone();
    let (s, b) = sim_control(
        &sim,
        reqwest::Method::PUT,
        &format!("/_sim/presence/{user}/teams"),
        Some(serde_json::json!({"availability": "DoNotDisturb", "activity": "Presenting"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    wait_status(&status_file, "the notified change", |s| {
        s.users
            .get(&user)
            .and_then(|u| u.teams.as_ref())
            .is_some_and(|t| t.state == "DoNotDisturb/Presenting")
    })
    .await;
    // Read by notification, not by poll: the notified user is read once, in one
    // getPresencesByUserId round; polling every second would have read more than that over
    // the 2.5 s that follow.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (_, log) = sim_control(&sim, reqwest::Method::GET, "/_sim/requests", None).await;
    let presence_reads: u64 = log["byEndpoint"]
        .as_object()
        .expect("byEndpoint")
        .iter()
        .filter(|(k, _)| k.contains("getPresencesByUserId") || k.contains("presences/"))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        presence_reads, 1,
        "read by notification, not by poll: {log}"
    );

    // The reader's sessions are revoked; at the next token use (reauthorizationRequired) the
    // bridge raises an alert and polls.
    let (s, b) = sim_control(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/users/{reader}/revoke-sessions"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = sim_control(
        &sim,
        reqwest::Method::POST,
        &format!("/_sim/subscriptions/{sub_id}/lifecycle"),
        Some(serde_json::json!({"event": "reauthorizationRequired"})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    wait_status(&status_file, "the alert", |s| {
        s.alerts.iter().any(|a| a.contains("invalid_grant")) && s.subscriptions.is_empty()
    })
    .await;
    let out = tokio::task::block_in_place(|| {
        run(vec!["presence", "status", "--config", &cfg])
            .output()
            .expect("status")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALERT: presence reader"), "{text}");
    let v = list(&run);
    assert_eq!(v["working"], 0, "{v}");
    assert!(
        v["readers"][0]["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_grant"),
        "{v}"
    );
    // Polling carries the next change.
    let (s, _) = sim_control(
        &sim,
        reqwest::Method::PUT,
        &format!("/_sim/presence/{user}/teams"),
        Some(serde_json::json!({"availability": "Away", "activity": "Away"})),
    )
    .await;
    assert_eq!(s, 200);
    wait_status(&status_file, "the polled change", |s| {
        s.users
            .get(&user)
            .and_then(|u| u.teams.as_ref())
            .is_some_and(|t| t.state == "Away/Away")
    })
    .await;
    let (_, log) = sim_control(&sim, reqwest::Method::GET, "/_sim/requests", None).await;
    assert!(log.to_string().contains("getPresencesByUserId"), "{log}");

    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "presence run did not stop on SIGINT"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
