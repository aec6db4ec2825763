//! The directory end to end through the real binary: a hand-written tenant synced by
//! `pbx365 sync`, credentials issued by `pbx365 credentials`, `pbx365 serve` queried with
//! `ldapsearch` (each vendor's default filters) and over HTTP, visibility between users, and a
//! change made in the tenant reaching a running server without a restart.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const GROUP: &str = "99999999-0000-4000-8000-000000000001";
const SKU: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
const ANN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const RECEPTION: &str = "aaaaaaaa-0000-4000-8000-000000000009";

fn user(id: &str, name: &str, upn: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut u = json!({
        "id": id, "displayName": name, "userPrincipalName": upn, "mail": upn,
        "accountEnabled": true, "userType": "Member", "usageLocation": "DE",
        "assignedLicenses": [{"skuId": SKU, "disabledPlans": []}],
    });
    if let (Some(m), Some(x)) = (u.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            m.insert(k.clone(), v.clone());
        }
    }
    u
}

fn tenant() -> graph_sim::tenant_file::TenantFile {
    let t = json!({
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "domain": "contoso.onmicrosoft.com",
        "displayName": "Contoso",
        "users": [
            user(ANN, "Ann Meier", "ann@contoso.com", json!({
                "givenName": "Ann", "surname": "Meier", "businessPhones": ["+49 30 1234 100"],
                "mailboxData": {
                    "defaultFolderId": "AnnContacts", "rootFolderId": "AnnRoot",
                    "contacts": [
                        {"id": "AnnPaula", "displayName": "Paula Privat", "surname": "Privat",
                         "parentFolderId": "AnnContacts", "mobilePhone": "0151 11111111"}
                    ]
                }
            })),
            user(BOB, "Bob Maier", "bob@contoso.com", json!({
                "givenName": "Bob", "surname": "Maier", "businessPhones": ["+49 30 1234 101"],
                "mailboxData": {
                    "defaultFolderId": "BobContacts", "rootFolderId": "BobRoot",
                    "contacts": [
                        {"id": "BobDentist", "displayName": "Dr. Zahn", "surname": "Zahn",
                         "parentFolderId": "BobContacts", "businessPhones": ["030 5555555"]}
                    ]
                }
            })),
            user(RECEPTION, "Reception", "reception@contoso.com", json!({
                "mailbox": "shared", "accountEnabled": false, "assignedLicenses": [],
                "mailboxData": {
                    "defaultFolderId": "RecContacts", "rootFolderId": "RecRoot",
                    "contacts": [
                        {"id": "RecTaxi", "displayName": "Taxi Central", "companyName": "Taxi Central",
                         "parentFolderId": "RecContacts", "businessPhones": ["030 4455667"]}
                    ]
                }
            })),
        ],
        "groups": [{
            "id": GROUP, "displayName": "Phones", "securityEnabled": true, "mailEnabled": false,
            "members": [ANN, BOB]
        }],
        "orgContacts": [
            {"id": "bbbbbbbb-0000-4000-8000-000000000001", "displayName": "Lieferant GmbH",
             "companyName": "Lieferant GmbH",
             "phones": [{"number": "089 1234567", "type": "business"}]}
        ],
    });
    serde_json::from_value(t).expect("tenant file")
}

struct TempDir(PathBuf);

/// A child process killed when the test ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pbx365(args: &[&str], config: &Path, secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pbx365"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("PBX365_CONFIG")
        .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", secret)
        .output()
        .expect("run pbx365")
}

/// `ldapsearch` bound as `who` (`None`: anonymous); returns (exit code, stdout).
fn ldapsearch(
    ldap: &str,
    who: Option<(&str, &str)>,
    filter: &str,
    attrs: &[&str],
) -> (i32, String) {
    let mut c = Command::new("ldapsearch");
    c.args([
        "-x",
        "-LLL",
        "-H",
        &format!("ldap://{ldap}"),
        "-b",
        "o=main,dc=pbx365",
    ]);
    if let Some((user, secret)) = who {
        c.args(["-D", &format!("cn={user},o=main,dc=pbx365"), "-w", secret]);
    }
    c.arg(filter).args(attrs);
    let out = c.output().expect("ldapsearch (apt-get install ldap-utils)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `cn` values of an LDIF answer, sorted.
fn names(ldif: &str) -> Vec<String> {
    let mut v: Vec<String> = ldif
        .lines()
        .filter_map(|l| l.strip_prefix("cn: "))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn issue(config: &Path, secret: &str, user: &str, target: &[&str]) -> String {
    let mut args = vec!["credentials", "issue", user];
    args.extend_from_slice(target);
    let out = pbx365(&args, config, secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("secret").map(|s| s.trim().to_owned()))
        .expect("secret printed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_served_to_phones() {
    let mut cfg = graph_sim::SimConfig::loopback(0, 1);
    cfg.tls_listen = None;
    cfg.tenant = graph_sim::TenantSource::File(Box::new(tenant()));
    let sim = graph_sim::start(cfg).await.expect("emulator");
    let dir = TempDir(std::env::temp_dir().join(format!("pbx365-dir-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let config = dir.0.join("pbx365.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{db}\"\n\n[[site]]\nname = \"main\"\nshared_mailboxes = [\"reception@contoso.com\"]\n\n\
             [site.tenant]\ntenant_id = \"{tid}\"\nclient_id = \"{cid}\"\nauthority_url = \"{http}\"\ngraph_url = \"{http}/v1.0\"\n\n\
             [site.dialling]\ncountry = \"DE\"\narea_code = \"30\"\noutside_line_prefix = \"0\"\n\n\
             [[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 199\ncompany = \"Contoso\"\n\n\
             [site.users]\ngroup_id = \"{GROUP}\"\n\n[site.extensions]\nfirst_number = 100\nlength = 3\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[ldap]\nlisten = \"127.0.0.1:0\"\n\n[directory]\nrefresh_interval_secs = 1\n",
            db = dir.0.join("store.db").display(),
            tid = sim.credentials.tenant_id,
            cid = sim.credentials.client_id,
            http = sim.http_url(),
        ),
    )
    .expect("config");
    let secret = sim.credentials.client_secret.clone();

    let out = pbx365(&["sync"], &config, &secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ann = issue(&config, &secret, "ann-phone", &["--extension", "100"]);
    let bob = issue(&config, &secret, "bob-phone", &["--extension", "101"]);
    let lobby = issue(&config, &secret, "lobby", &["--group", "lobby"]);

    let mut serve = Reaped(
        Command::new(env!("CARGO_BIN_EXE_pbx365"))
            .args([
                "serve",
                "--no-initial-sync",
                "--sync-every",
                "0",
                "--config",
            ])
            .arg(&config)
            .env_remove("PBX365_CONFIG")
            .env("PBX365_SITE__0__TENANT__CLIENT_SECRET", &secret)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve"),
    );
    let stderr = serve.0.stderr.take().expect("stderr");
    // Read stderr to its end (a closed pipe would fail the server's own messages), handing
    // over the addresses once it says it serves.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (mut http, mut ldap) = (String::new(), String::new());
        let mut ready = Some(ready_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("HTTP front end on http://") {
                http = rest.split_whitespace().next().unwrap_or("").to_owned();
            }
            if let Some(rest) = line.strip_prefix("LDAP front end on ldap://") {
                ldap = rest.split_whitespace().next().unwrap_or("").to_owned();
            }
            if line.contains("serving; Ctrl-C stops") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send((http.clone(), ldap.clone()));
                }
            }
        }
    });
    let (http, ldap) = tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .expect("serve ready within a minute")
        .expect("serve printed its addresses");
    assert!(!http.is_empty() && !ldap.is_empty(), "{http:?} {ldap:?}");

    let lobby_who = Some(("lobby", lobby.as_str()));
    // Yealink's default name filter, prefix typed by the user.
    let (rc, ldif) = ldapsearch(
        &ldap,
        lobby_who,
        "(|(cn=Mei*)(sn=Mei*))",
        &["cn", "telephoneNumber"],
    );
    assert_eq!(
        (rc, names(&ldif)),
        (0, vec!["Ann Meier".to_owned()]),
        "{ldif}"
    );
    assert!(
        ldif.contains("telephoneNumber: 100"),
        "dialable form of a DID is the extension: {ldif}"
    );
    // Yealink's number filter with the number as a caller shows it (national form).
    let (rc, ldif) = ldapsearch(
        &ldap,
        lobby_who,
        "(|(telephoneNumber=030 4455667)(mobile=030 4455667)(ipPhone=030 4455667))",
        &["cn"],
    );
    assert_eq!(
        (rc, names(&ldif)),
        (0, vec!["Taxi Central".to_owned()]),
        "{ldif}"
    );
    // Snom/Gigaset: explicit '*' after the typed digits; Tancredi's name filter with o=.
    let (_, ldif) = ldapsearch(
        &ldap,
        lobby_who,
        "(|(telephoneNumber=0304455*)(mobile=0304455*)(homePhone=0304455*))",
        &["cn"],
    );
    assert_eq!(names(&ldif), vec!["Taxi Central".to_owned()], "{ldif}");
    let (_, ldif) = ldapsearch(&ldap, lobby_who, "(|(cn=Lief*)(o=Lief*))", &["cn"]);
    assert_eq!(names(&ldif), vec!["Lieferant GmbH".to_owned()], "{ldif}");
    // Sounds-alike: Maier finds Meier too.
    let (_, ldif) = ldapsearch(&ldap, lobby_who, "(cn~=Maier)", &["cn"]);
    assert_eq!(
        names(&ldif),
        vec!["Ann Meier".to_owned(), "Bob Maier".to_owned()],
        "{ldif}"
    );

    // Visibility: a personal contact is its owner's alone, its number included.
    let (_, ldif) = ldapsearch(
        &ldap,
        Some(("ann-phone", &ann)),
        "(mobile=*11111111)",
        &["cn"],
    );
    assert_eq!(names(&ldif), vec!["Paula Privat".to_owned()], "{ldif}");
    for who in [Some(("bob-phone", bob.as_str())), lobby_who] {
        let (rc, ldif) = ldapsearch(
            &ldap,
            who,
            "(objectClass=*)",
            &["cn", "mobile", "telephoneNumber"],
        );
        assert_eq!(rc, 0);
        assert!(
            !ldif.contains("Paula") && !ldif.contains("11111111"),
            "{ldif}"
        );
    }
    // Anonymous access is off: refused.
    let (rc, _) = ldapsearch(&ldap, None, "(cn=*)", &["cn"]);
    assert_ne!(rc, 0, "anonymous must be refused");
    let (rc, _) = ldapsearch(&ldap, Some(("lobby", "wrong")), "(cn=*)", &["cn"]);
    assert_eq!(rc, 49, "wrong secret: invalidCredentials");

    // HTTP: the caller-ID lookup in the forms PBXs pass, as text.
    let client = reqwest::Client::new();
    let lookup = |who: (&'static str, String), number: &str| {
        let url = format!(
            "http://{http}/lookup?number={}",
            number.replace(' ', "%20").replace('+', "%2B")
        );
        let client = client.clone();
        async move {
            let resp = client
                .get(&url)
                .basic_auth(who.0, Some(who.1))
                .send()
                .await
                .expect("lookup");
            assert_eq!(resp.status(), 200, "{url}");
            resp.text().await.expect("body")
        }
    };
    let l = ("lobby", lobby.clone());
    assert_eq!(lookup(l.clone(), "+49894455667").await, "");
    assert_eq!(lookup(l.clone(), "089 1234567").await, "Lieferant GmbH");
    assert_eq!(lookup(l.clone(), "004930 4455667").await, "Taxi Central");
    assert_eq!(lookup(l.clone(), "101").await, "Bob Maier");
    assert_eq!(
        lookup(l.clone(), "030 1234199").await,
        "Contoso",
        "DID block, no one"
    );
    assert_eq!(
        lookup(l.clone(), "0151 11111111").await,
        "",
        "Ann's private number"
    );
    assert_eq!(
        lookup(("ann-phone", ann.clone()), "0151 11111111").await,
        "Paula Privat"
    );
    assert_eq!(lookup(l.clone(), "anonymous").await, "");
    let xml = client
        .get(format!("http://{http}/yealink/directory.xml"))
        .basic_auth("lobby", Some(&lobby))
        .send()
        .await
        .expect("yealink")
        .text()
        .await
        .expect("body");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let shown: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Name"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        shown.contains(&"Taxi Central") && shown.contains(&"Ann Meier"),
        "{xml}"
    );
    assert!(!xml.contains("Paula"), "{xml}");

    // A contact added in the tenant reaches the running server after the next sync, unrestarted.
    let status = client
        .post(format!(
            "{}/_sim/mailboxes/{RECEPTION}/contacts",
            sim.http_url()
        ))
        .header("x-sim-key", &sim.credentials.admin_key)
        .json(&json!({"displayName": "Pizza Roma", "businessPhones": ["030 7777777"]}))
        .send()
        .await
        .expect("add contact")
        .status();
    assert!(status.is_success(), "{status}");
    let out = pbx365(&["sync"], &config, &secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, ldif) = ldapsearch(&ldap, lobby_who, "(telephoneNumber=0307777777)", &["cn"]);
        if names(&ldif) == vec!["Pizza Roma".to_owned()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new contact never showed: {ldif}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(serve.0.id() as i32, libc::SIGINT);
    }
    let status = tokio::task::spawn_blocking(move || serve.0.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}
