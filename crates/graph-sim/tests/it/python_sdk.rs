//! Microsoft's own Python Graph SDK (`msgraph-sdk` + `azure-identity`) against the emulator:
//! the proof that a client written for Microsoft works here with only its base URLs changed.

use std::process::Command;

fn python() -> String {
    std::env::var("PBX365_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        root.to_string_lossy().into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgraph_sdk_lists_pages_reads_contacts_and_runs_delta() {
    let sim = crate::common::sim(1500).await;
    let (expect_users, contacts_user, contacts_expected) = {
        let mut t = sim.state.tenant.write();
        let app = t
            .apps
            .get_mut(&sim.credentials.client_id)
            .expect("default app");
        app.app_roles.insert("User.ReadWrite.All".into());
        let users = t.users.live_count();
        let (who, n) = t
            .mailboxes
            .iter()
            .map(|(uid, m)| {
                let n = m
                    .contacts
                    .live()
                    .filter(|c| c.parent_folder_id.as_deref() == Some(&m.default_folder_id))
                    .count();
                (uid.clone(), n)
            })
            .filter(|(uid, n)| {
                *n > 10
                    && t.users
                        .get(uid)
                        .is_some_and(|u| u.mailbox == graph_sim::model::MailboxKind::User)
            })
            .max_by_key(|(_, n)| *n)
            .expect("a user with contacts in the default folder");
        (users, who, n)
    };
    let py = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sdk_roundtrip.py");
    let https = sim.https_url().expect("https listener");
    let out = tokio::task::spawn_blocking({
        let sim_graph = sim.graph_url();
        let ca = sim.ca_file.clone();
        let creds = sim.credentials.clone();
        move || {
            Command::new(&py)
                .arg(script)
                .env("SIM_AUTHORITY", &https)
                .env("SIM_GRAPH", sim_graph)
                .env("SIM_TENANT", &creds.tenant_id)
                .env("SIM_CLIENT_ID", &creds.client_id)
                .env("SIM_CLIENT_SECRET", &creds.client_secret)
                .env("SIM_EXPECT_USERS", expect_users.to_string())
                .env("SIM_CONTACTS_USER", &contacts_user)
                .env("REQUESTS_CA_BUNDLE", &ca)
                .env("SSL_CERT_FILE", &ca)
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {py}: {e}. Run the tests with `scripts/test`, which creates .venv with msgraph-sdk and azure-identity"
                    )
                })
        }
    })
    .await
    .expect("python task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap_or("")).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["users"], expect_users as u64);
    assert_eq!(
        report["userPages"],
        (expect_users as u64).div_ceil(999),
        "{report}"
    );
    assert_eq!(report["contacts"], contacts_expected as u64, "{report}");
    assert_eq!(report["initialDelta"], expect_users as u64, "{report}");
    assert_eq!(report["deltaChanges"], 1);
}
