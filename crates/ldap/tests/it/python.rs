//! Python's `ldap3` (PyPI, pinned in tests/python/requirements.txt) against the server, run by
//! the interpreter in `$PBX365_PYTHON` (else the workspace's `.venv`): paged results page by
//! page, the paged-search generator, abandoning a paged search, and "who am I".

use crate::start;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ldap3_paged_results() {
    // $PBX365_PYTHON, else the workspace's .venv that scripts/test builds; never skipped.
    let python = std::env::var("PBX365_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
        assert!(
            std::path::Path::new(venv).exists(),
            "no Python with ldap3: run scripts/test (it builds .venv), or set PBX365_PYTHON to a \
             python with crates/ldap/tests/python/requirements.txt installed"
        );
        venv.to_owned()
    });
    let server = start(|_| {}).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/paged.py");
    let (host, port) = (
        server.plain.ip().to_string(),
        server.plain.port().to_string(),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).args([script, &host, &port]).output()
    })
    .await
    .expect("join")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    assert_eq!(report["bound"], true, "{report}");
    assert!(report["naming_contexts"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("o=acme,dc=pbx365")));
    let pages: Vec<Vec<String>> = serde_json::from_value(report["pages"].clone()).unwrap();
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![5, 5, 2],
        "{report}"
    );
    let all: Vec<String> = pages.concat();
    let expected: Vec<String> = (1..=12).map(|i| format!("Filler {i:02}")).collect();
    assert_eq!(all, expected);
    assert_eq!(report["last_result"], "success");
    assert_eq!(report["generator_count"], 12);
    assert_eq!(report["abandon_result"], "success");
    assert_eq!(report["after_abandon"], "unwillingToPerform", "{report}");
    assert_eq!(report["lookup"], serde_json::json!(["Carla Kunde"]));
    assert_eq!(report["whoami"], "dn:cn=201,o=acme,dc=pbx365");
    server.stop().await;
}
