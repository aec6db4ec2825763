//! `pbx365 demo`: what it prints works as printed, and Ctrl-C stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_what_it_prints_and_stops_on_ctrl_c() {
    let dir = std::env::temp_dir().join(format!("pbx365-demo-test-{}", std::process::id()));
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_pbx365"))
            .args(["demo", "--users", "40", "--http-listen", "127.0.0.1:0"])
            .args(["--ldap-listen", "127.0.0.1:0", "--dir"])
            .arg(&dir)
            .env_remove("PBX365_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start demo"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let printed = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read");
            let done = line.contains("Ctrl-C stops it.");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let printed = tokio::time::timeout(Duration::from_secs(120), printed)
        .await
        .expect("demo ready within 2 minutes")
        .expect("join");

    // Every curl line it printed answers 200 with a body, using the printed credential.
    let curls: Vec<Vec<String>> = printed
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .map(|l| {
            l.split_whitespace()
                .map(|w| w.trim_matches('\'').to_owned())
                .collect()
        })
        .collect();
    assert_eq!(curls.len(), 3, "{printed:#?}");
    let client = reqwest::Client::new();
    for words in &curls {
        let (user, secret) = words[2].split_once(':').expect("user:secret");
        let url = &words[3];
        let resp = client
            .get(url)
            .basic_auth(user, Some(secret))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{url}");
        let body = resp.text().await.expect("body");
        assert!(!body.is_empty(), "{url} answered an empty body");
        if url.contains("/lookup") {
            // The demo's DID range maps 030 1234100 to extension 100, the first user.
            assert!(!body.contains('<') && body.len() < 100, "{body}");
        }
        if url.contains("yealink") {
            assert!(body.contains("<YealinkIPPhoneDirectory>"), "{body}");
        }
    }
    // Without the credential the private directory is refused.
    let resp = client.get(&curls[0][3]).send().await.expect("request");
    assert_eq!(resp.status(), 401);

    // The ldapsearch lines it printed, run by a shell exactly as printed, find people.
    let ldap_lines: Vec<&String> = printed
        .iter()
        .filter(|l| l.trim_start().starts_with("ldapsearch "))
        .collect();
    assert_eq!(ldap_lines.len(), 2, "{printed:#?}");
    for line in ldap_lines {
        let line = line.trim().to_owned();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("sh")
                .arg("-c")
                .arg(&line)
                .output()
                .expect("run ldapsearch")
        })
        .await
        .expect("join");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("\ncn: "), "no entry found: {text}");
        assert!(text.contains("result: 0 Success"), "{text}");
    }

    // The CLI lines it printed work too.
    let search = printed
        .iter()
        .find(|l| l.trim_start().starts_with("pbx365 search"))
        .expect("search line");
    let words: Vec<&str> = search.split_whitespace().collect();
    let out = Command::new(env!("CARGO_BIN_EXE_pbx365"))
        .args(&words[1..])
        .env_remove("PBX365_CONFIG")
        .output()
        .expect("search");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ctrl-C: a clean stop, exit code 0.
    let started = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGINT);
    }
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
}
