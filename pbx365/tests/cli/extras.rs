//! `pbx365 photos sync`, `pbx365 sync --diagnostic` and the progress display (plain lines in
//! a pipe, a bar on a pseudo-terminal), as real processes against an in-process emulator.

use std::path::{Path, PathBuf};
use std::process::Output;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_diagnostic_and_progress() {
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(20, 11))
        .await
        .expect("emulator");
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users");
    // Oracle: the group's enabled, non-guest user members become extensions; those with a
    // photo get an avatar.
    let members: Vec<_> = snapshot
        .users
        .iter()
        .map(|r| &r.user)
        .filter(|u| group.members.contains(&u.user.id))
        .filter(|u| {
            u.user.account_enabled != Some(false) && u.user.user_type.as_deref() != Some("Guest")
        })
        .collect();
    let with_photo = members.iter().filter(|u| u.photo.is_some()).count();
    assert!(with_photo > 0, "the generated tenant has photos");

    let dir =
        TempDir(std::env::temp_dir().join(format!("pbx365-extras-cli-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let config = dir.0.join("pbx365.toml");
    let body = format!(
        "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\n\n[site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n[site.dialling]\ncountry = \"DE\"\n\n[site.users]\ngroup_id = \"{gid}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n",
        db = dir.0.join("store.db").display(),
        tid = sim.credentials.tenant_id,
        cid = sim.credentials.client_id,
        http = sim.http_url(),
        gid = group.group.id,
    );
    std::fs::write(&config, &body).expect("write config");
    let secret = sim.credentials.client_secret.clone();

    // --help documents the new commands and flags.
    let out = pbx365(
        vec!["photos".into(), "sync".into(), "--help".into()],
        secret.clone(),
    )
    .await;
    let help = text(&out.stdout);
    assert!(help.contains("@odata.mediaEtag"), "{help}");
    let out = pbx365(vec!["sync".into(), "--help".into()], secret.clone()).await;
    let help = text(&out.stdout);
    assert!(help.contains("--diagnostic"), "{help}");
    assert!(
        help.contains("a progress bar on a terminal, plain lines in a pipe"),
        "{help}"
    );

    // In a pipe: plain lines, no terminal control codes.
    let out = pbx365(args(&["sync", "--diagnostic"], &config), secret.clone()).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("\nsite main: users → extensions\n"),
        "{stderr}"
    );
    assert!(stderr.contains("site main: http: GET "), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let stdout = text(&out.stdout);
    let job = stdout
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .expect("job id")
        .trim_end_matches(':')
        .to_string();

    // The diagnostic job's log, as `jobs show` prints it: summaries, no secret, no token.
    let out = pbx365(args(&["jobs", "show", &job], &config), secret.clone()).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains(" http: POST "), "{shown}");
    assert!(shown.contains("/users/delta?$select="), "{shown}");
    assert!(shown.contains(", request-id "), "{shown}");
    assert!(!shown.contains(&secret), "{shown}");
    assert!(!shown.contains("eyJ"), "{shown}");

    // Photos: the first run downloads every photo, the second none.
    let out = pbx365(args(&["photos", "sync"], &config), secret.clone()).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = format!(
        "{} checked, {with_photo} fetched, 0 unchanged, 0 cleared, {} without photo, 0 failed",
        members.len(),
        members.len() - with_photo
    );
    assert!(
        stdout.starts_with("main: succeeded photos job "),
        "{stdout}"
    );
    assert!(stdout.contains(&first), "{stdout}\nwant: {first}");
    let out = pbx365(args(&["photos", "sync"], &config), secret.clone()).await;
    let stdout = text(&out.stdout);
    let again = format!(
        "{} checked, 0 fetched, {with_photo} unchanged, 0 cleared",
        members.len()
    );
    assert!(stdout.contains(&again), "{stdout}");
    let out = pbx365(args(&["jobs", "--json"], &config), secret.clone()).await;
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(jobs[0]["kind"], "photos");
    assert_eq!(jobs[0]["counts"]["photos"]["unchanged"], with_photo as u64);

    // Photos off: skipped, said so.
    let off = dir.0.join("off.toml");
    std::fs::write(&off, format!("{body}\n[site.photos]\nschedule = \"off\"\n")).expect("write");
    let out = pbx365(args(&["photos", "sync"], &off), secret.clone()).await;
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("photos are off"),
        "{}",
        text(&out.stderr)
    );

    // On a terminal (a pseudo-terminal from util-linux `script`): the bar path runs to the
    // end and the job's lines still show.
    if Path::new("/usr/bin/script").exists() {
        let cmd = format!(
            "{} photos sync --full --config {}",
            env!("CARGO_BIN_EXE_pbx365"),
            config.display()
        );
        let s = secret.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("/usr/bin/script")
                .args(["-qec", &cmd, "/dev/null"])
                .env_remove("PBX365_CONFIG")
                .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", s)
                .output()
                .expect("run script")
        })
        .await
        .expect("join");
        let all = text(&out.stdout);
        assert!(out.status.success(), "{all}");
        assert!(all.contains("site main: photos → avatars"), "{all}");
        assert!(all.contains(&format!("{with_photo} fetched")), "{all}");
        assert!(
            all.contains('\u{1b}'),
            "a terminal gets the bar's control codes: {all:?}"
        );
    }
}
