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
