//! `pbx365 sync` and `pbx365 jobs` run as real processes against an in-process emulator.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args` and the secret in the environment, off the async runtime.
async fn pbx365(args: Vec<String>, secret: String) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pbx365"))
            .args(&args)
            .env_remove("PBX365_CONFIG")
            .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", secret)
            .output()
            .expect("run pbx365")
    })
    .await
    .expect("join")
}

fn args(list: &[&str], config: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.push("--config".into());
    v.push(config.display().to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_jobs_commands() {
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(20, 11))
        .await
        .expect("emulator");
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users");
    // Oracle: the group's enabled, non-guest user members.
    let expected = snapshot
        .users
        .iter()
        .map(|r| &r.user.user)
        .filter(|u| group.members.contains(&u.id))
        .filter(|u| u.account_enabled != Some(false) && u.user_type.as_deref() != Some("Guest"))
        .count();
    assert!(expected > 10, "{expected}");

    let dir = TempDir(std::env::temp_dir().join(format!("pbx365-sync-cli-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let config = dir.0.join("pbx365.toml");
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{gid}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n",
        db = dir.0.join("store.db").display(),
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
        gid = group.group.id,
    );
    std::fs::write(&config, text).expect("write config");
    let secret = sim.credentials.client_secret.clone();

    // --help says which sources the sync covers.
    let out = pbx365(vec!["sync".into(), "--help".into()], secret.clone()).await;
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Entra users → extensions, personal contacts → phonebooks"),
        "{help}"
    );

    // A dry run prints the plan and records nothing.
    let out = pbx365(args(&["sync", "--dry-run"], &config), secret.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let planned = stdout
        .lines()
        .filter(|l| l.starts_with("main: would create (new) "))
        .count();
    assert_eq!(planned, expected, "{stdout}");
    let out = pbx365(args(&["jobs", "--json"], &config), secret.clone()).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).ok(),
        Some(Value::Array(vec![]))
    );

    let out = pbx365(args(&["sync", "--json"], &config), secret.clone()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("site main: syncing users → extensions, personal contacts → phonebooks, shared mailboxes → company phonebook, org contacts → company directory…"),
        "{stderr}"
    );
    let reports: Value = serde_json::from_slice(&out.stdout).expect("json");
    let report = &reports[0]["report"];
    assert_eq!(reports[0]["site"], "main");
    assert_eq!(report["succeeded"], true);
    assert_eq!(report["counts"]["created"], expected as u64);
    let job_id = report["job"].as_str().expect("job id").to_string();

    let out = pbx365(args(&["jobs", "--json"], &config), secret.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1));
    assert_eq!(jobs[0]["id"], job_id.as_str());
    assert_eq!(jobs[0]["status"], "succeeded");

    let out = pbx365(args(&["jobs", "show", &job_id], &config), secret.clone()).await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.starts_with(&format!(
            "job {job_id} (site main, manual delta, succeeded)"
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("{expected} created")), "{shown}");

    // Consent revoked: the job fails, the exit code says so, the advice is printed.
    let status = revoke_consent(&sim).await;
    assert!((200..300).contains(&status), "{status}");
    sim.state.clock.advance(chrono_hours(2));
    let out = pbx365(args(&["sync"], &config), secret.clone()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("admin consent missing or revoked: open"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_source_narrows_the_job() {
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(20, 12))
        .await
        .expect("emulator");
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users");
    // Oracle: the contacts in the mailboxes of the group's enabled, non-guest members.
    let members: Vec<&graph_sim::tenant_file::UserRecord> = snapshot
        .users
        .iter()
        .filter(|r| group.members.contains(&r.user.user.id))
        .filter(|r| {
            r.user.user.account_enabled != Some(false)
                && r.user.user.user_type.as_deref() != Some("Guest")
        })
        .collect();
    let contacts: usize = members
        .iter()
        .filter(|r| r.user.mailbox != graph_sim::model::MailboxKind::None)
        .filter_map(|r| r.mailbox_data.as_ref())
        .map(|d| d.contacts.len())
        .sum();
    let org = snapshot
        .org_contacts
        .iter()
        .filter(|c| c.deleted_date_time.is_none())
        .count();
    assert!(contacts > 20 && org > 0, "{contacts} {org}");

    let dir = TempDir(
        std::env::temp_dir().join(format!("pbx365-sync-cli-source-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).expect("dir");
    let config = dir.0.join("pbx365.toml");
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{gid}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n",
        db = dir.0.join("store.db").display(),
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
        gid = group.group.id,
    );
    std::fs::write(&config, text).expect("write config");
    let secret = sim.credentials.client_secret.clone();
    let report = |out: &Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v[0]["report"].clone()
    };

    // Users only: no contacts read.
    let out = pbx365(
        args(&["sync", "--source", "users", "--json"], &config),
        secret.clone(),
    )
    .await;
    let r = report(&out);
    assert_eq!(r["counts"]["created"], members.len() as u64);
    assert_eq!(r["contacts"]["personal"]["created"], 0);
    assert_eq!(r["contacts"]["directory"]["created"], 0);

    // Personal contacts only: every synced user's contacts; no org contacts, no users round.
    let out = pbx365(
        args(&["sync", "--source", "contacts", "--json"], &config),
        secret.clone(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("site main: syncing personal contacts → phonebooks…"),
        "{stderr}"
    );
    let r = report(&out);
    assert_eq!(r["succeeded"], true);
    assert_eq!(r["contacts"]["personal"]["created"], contacts as u64);
    assert_eq!(r["contacts"]["directory"]["created"], 0);
    assert_eq!(r["counts"]["created"], 0);
    let job_id = r["job"].as_str().expect("job").to_string();
    let out = pbx365(
        args(&["jobs", "show", &job_id, "--json"], &config),
        secret.clone(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    let shown = shown.to_string();
    assert!(
        shown.contains(&format!("\"personal_contacts\":{{\"created\":{contacts}")),
        "{shown}"
    );

    // A comma list; plain output names the counts.
    let out = pbx365(
        args(&["sync", "--source", "org,contacts"], &config),
        secret.clone(),
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("directory {org} created")),
        "{stdout}"
    );
    assert!(
        stdout.contains("personal 0 created, 0 updated, 0 deleted"),
        "{stdout}"
    );

    // An unknown source is refused with the ones there are.
    let out = pbx365(
        args(&["sync", "--source", "calendar"], &config),
        secret.clone(),
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("users, contacts, shared, org"), "{stderr}");
}

/// `DELETE /_sim/apps/{id}/consent` over a plain TCP socket (the binary's crate has no HTTP
/// client of its own).
async fn revoke_consent(sim: &graph_sim::RunningSim) -> u16 {
    use std::io::{Read, Write};
    let addr = sim.http_addr;
    let path = format!("/_sim/apps/{}/consent", sim.credentials.client_id);
    let key = sim.credentials.admin_key.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(s, "DELETE {path} HTTP/1.1\r\nHost: {addr}\r\nx-sim-key: {key}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").expect("send");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    })
    .await
    .expect("join")
}

fn chrono_hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}
