//! Resume: `pbx365 sync` killed with SIGKILL at ten points of a run, then run once more, leaves
//! the store exactly equal to the tenant — no duplicates, no losses — and the delta continuing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic stream of fractions in (0, 1) (xorshift), so a failure can be replayed.
struct Points(u64);

impl Points {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0
    }
}

fn write_config(dir: &Path, db: &str, sim: &graph_sim::RunningSim, group: &str) -> PathBuf {
    let config = dir.join(format!("{db}.toml"));
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{group}\"\n\n[site.extensions]\nfirst_number = 1000\nlength = 4\n",
        db = dir.join(format!("{db}.db")).display(),
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
    );
    std::fs::write(&config, text).expect("write config");
    config
}

fn command(config: &Path, secret: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pbx365"));
    c.args(["sync", "--json", "--config"])
        .arg(config)
        .env_remove("PBX365_CONFIG")
        .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// What the store holds, keyed by user: (number, display name, mail, enabled).
type Snapshot = BTreeMap<String, (String, String, Option<String>, bool)>;

async fn snapshot(dir: &Path, db: &str) -> Snapshot {
    let url = format!("sqlite://{}", dir.join(format!("{db}.db")).display());
    let store = store::open(&url).await.expect("open store");
    let site = directory::SiteId::new("main").expect("site id");
    let list = store.list_extensions(&site).await.expect("extensions");
    let mut out = Snapshot::new();
    for e in list {
        let prev = out.insert(
            e.user_id.clone(),
            (
                e.number.as_str().to_owned(),
                e.display_name,
                e.email,
                e.enabled,
            ),
        );
        assert!(prev.is_none(), "user {} twice", e.user_id);
    }
    out
}

/// Every stored contact as (phonebook, source id, name, numbers), sorted; duplicates fail.
async fn contacts(dir: &Path, db: &str) -> Vec<String> {
    let url = format!("sqlite://{}", dir.join(format!("{db}.db")).display());
    let store = store::open(&url).await.expect("open store");
    let site = directory::SiteId::new("main").expect("site id");
    let mut out: Vec<String> = store
        .list_site_contacts(&site)
        .await
        .expect("contacts")
        .into_iter()
        .map(|c| {
            let r = c.record;
            let numbers: Vec<String> = r
                .numbers
                .iter()
                .map(|n| format!("{}={}", n.raw, n.e164.as_ref().map_or("-", |e| e.as_str())))
                .collect();
            format!(
                "{:?} {} {} {}",
                r.phonebook,
                r.source_id,
                r.display_name,
                numbers.join(",")
            )
        })
        .collect();
    out.sort();
    let n = out.len();
    out.dedup();
    assert_eq!(n, out.len(), "a contact stored twice");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_ten_points_then_the_store_equals_the_tenant() {
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(200, 23))
        .await
        .expect("emulator");
    // Latency makes a run long enough to be interrupted at many different steps.
    sim.state.faults.write().latency = Some(graph_sim::faults::Latency::Fixed { ms: 8.0 });
    let snapshot_sim = graph_sim::control::snapshot(&sim.state);
    let group = snapshot_sim
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users");
    // Oracle, independent of the sync's mapping: the group's enabled, non-guest members.
    let expected: BTreeMap<String, (String, Option<String>)> = snapshot_sim
        .users
        .iter()
        .map(|r| &r.user.user)
        .filter(|u| group.members.contains(&u.id))
        .filter(|u| u.account_enabled != Some(false) && u.user_type.as_deref() != Some("Guest"))
        .map(|u| {
            (
                u.id.clone(),
                (u.display_name.clone().unwrap_or_default(), u.mail.clone()),
            )
        })
        .collect();
    assert!(expected.len() > 50, "{}", expected.len());

    let dir = TempDir(std::env::temp_dir().join(format!("pbx365-resume-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let secret = sim.credentials.client_secret.clone();
    let group_id = group.group.id.clone();

    // A reference run, uninterrupted, to learn how long a whole run takes.
    let reference = write_config(&dir.0, "reference", &sim, &group_id);
    let started = Instant::now();
    let out = command(&reference, &secret).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = started.elapsed();

    let config = write_config(&dir.0, "killed", &sim, &group_id);
    let mut points = Points(0x5eed_1234_abcd);
    let mut killed = 0;
    // Each run resumes where the last one was killed, so later runs have less left to do: a
    // run that ended before its kill point sets the span the next points are drawn from.
    let mut span = whole;
    for _ in 0..10 {
        let at = span.mul_f64(points.next());
        let started = Instant::now();
        let mut child = command(&config, &secret).spawn().expect("spawn");
        let mut finished = None;
        while started.elapsed() < at {
            if child.try_wait().expect("wait").is_some() {
                finished = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match finished {
            Some(took) => span = took,
            None => {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
        }
        let _ = child.wait();
    }
    assert!(
        killed >= 5,
        "only {killed} of 10 runs were still going when killed"
    );

    let out = command(&config, &secret).output().expect("final run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let got = snapshot(&dir.0, "killed").await;
    let got_people: BTreeMap<String, (String, Option<String>)> = got
        .iter()
        .map(|(id, (_, name, mail, enabled))| {
            assert!(enabled, "{id} disabled");
            (id.clone(), (name.clone(), mail.clone()))
        })
        .collect();
    assert_eq!(got_people, expected, "the store equals the tenant");
    let mut numbers: Vec<&String> = got.values().map(|(n, ..)| n).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), got.len(), "every number once");
    assert_eq!(
        snapshot(&dir.0, "reference").await.len(),
        got.len(),
        "same as the uninterrupted run"
    );

    let reference_contacts = contacts(&dir.0, "reference").await;
    assert!(
        reference_contacts.len() > 100,
        "{}",
        reference_contacts.len()
    );
    assert_eq!(
        contacts(&dir.0, "killed").await,
        reference_contacts,
        "every phonebook equals the uninterrupted run's"
    );

    // The delta goes on from the last committed round: a run now changes nothing.
    let out = command(&config, &secret).output().expect("delta run");
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let counts = &reports[0]["report"]["counts"];
    assert_eq!(counts["created"], 0, "{counts}");
    assert_eq!(counts["updated"], 0, "{counts}");
    assert!(
        whole > Duration::from_millis(200),
        "a whole run took only {whole:?}: too short to interrupt meaningfully"
    );
}
