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
                // "\x89PNG\r\n\x1a\nann", base64.
                "photo": {"contentType": "image/png", "size": 48, "etag": "\"ANN-PHOTO-1\"",
                          "bytes": "iVBORw0KGgphbm4="},
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
    let mut t = t;
    // A dozen more company contacts, so that paging has pages to turn.
    if let Some(contacts) = t["users"][2]["mailboxData"]["contacts"].as_array_mut() {
        for i in 1..=12 {
            contacts.push(json!({
                "id": format!("RecKunde{i:02}"), "displayName": format!("Kunde {i:02}"),
                "surname": "Kunde", "companyName": format!("Kunde {i:02} KG"),
                "parentFolderId": "RecContacts", "businessPhones": [format!("030 55501{i:02}")]
            }));
        }
    }
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

/// `pbx365 serve` over the synced [`tenant`], with credentials issued for Ann's and Bob's
/// extensions and for the lobby phone group.
struct Served {
    sim: graph_sim::RunningSim,
    config: PathBuf,
    secret: String,
    ann: String,
    bob: String,
    lobby: String,
    http: String,
    ldap: String,
    serve: Reaped,
    _dir: TempDir,
}

impl Served {
    async fn start(name: &str) -> Self {
        let mut cfg = graph_sim::SimConfig::loopback(0, 1);
        cfg.tls_listen = None;
        cfg.tenant = graph_sim::TenantSource::File(Box::new(tenant()));
        let sim = graph_sim::start(cfg).await.expect("emulator");
        let dir =
            TempDir(std::env::temp_dir().join(format!("pbx365-{name}-{}", std::process::id())));
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
        let out = pbx365(&["photos", "sync"], &config, &secret);
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
        // Read stderr to its end (a closed pipe would fail the server's own messages),
        // handing over the addresses once it says it serves.
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
        Self {
            sim,
            config,
            secret,
            ann,
            bob,
            lobby,
            http,
            ldap,
            serve,
            _dir: dir,
        }
    }

    /// Stops the server with Ctrl-C and checks it exits cleanly.
    async fn stop(self) {
        let mut serve = self.serve;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_served_to_phones() {
    let served = Served::start("dir").await;
    let Served {
        ref sim,
        ref config,
        ref secret,
        ref ann,
        ref bob,
        ref lobby,
        ref http,
        ref ldap,
        ..
    } = served;
    let (config, secret, http, ldap) = (
        config.as_path(),
        secret.as_str(),
        http.as_str(),
        ldap.as_str(),
    );
    let lobby_who = Some(("lobby", lobby.as_str()));
    // Yealink's default name filter, prefix typed by the user.
    let (rc, ldif) = ldapsearch(
        ldap,
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
        ldap,
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
        ldap,
        lobby_who,
        "(|(telephoneNumber=0304455*)(mobile=0304455*)(homePhone=0304455*))",
        &["cn"],
    );
    assert_eq!(names(&ldif), vec!["Taxi Central".to_owned()], "{ldif}");
    let (_, ldif) = ldapsearch(ldap, lobby_who, "(|(cn=Lief*)(o=Lief*))", &["cn"]);
    assert_eq!(names(&ldif), vec!["Lieferant GmbH".to_owned()], "{ldif}");
    // Sounds-alike: Maier finds Meier too.
    let (_, ldif) = ldapsearch(ldap, lobby_who, "(cn~=Maier)", &["cn"]);
    assert_eq!(
        names(&ldif),
        vec!["Ann Meier".to_owned(), "Bob Maier".to_owned()],
        "{ldif}"
    );

    // Visibility: a personal contact is its owner's alone, its number included.
    let (_, ldif) = ldapsearch(
        ldap,
        Some(("ann-phone", ann)),
        "(mobile=*11111111)",
        &["cn"],
    );
    assert_eq!(names(&ldif), vec!["Paula Privat".to_owned()], "{ldif}");
    for who in [Some(("bob-phone", bob.as_str())), lobby_who] {
        let (rc, ldif) = ldapsearch(
            ldap,
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
    let (rc, _) = ldapsearch(ldap, None, "(cn=*)", &["cn"]);
    assert_ne!(rc, 0, "anonymous must be refused");
    let (rc, _) = ldapsearch(ldap, Some(("lobby", "wrong")), "(cn=*)", &["cn"]);
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
    let out = pbx365(&["sync"], config, secret);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, ldif) = ldapsearch(ldap, lobby_who, "(telephoneNumber=0307777777)", &["cn"]);
        if names(&ldif) == vec!["Pizza Roma".to_owned()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new contact never showed: {ldif}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    served.stop().await;
}

/// The Python interpreter with ldap3: `$PBX365_PYTHON`, else the workspace's `.venv` that
/// scripts/test builds. Missing both fails the test with what to do.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PBX365_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with ldap3: run scripts/test (it builds .venv), or set PBX365_PYTHON to a \
         python with crates/ldap/tests/python/requirements.txt installed"
    );
    venv
}

/// `ldapsearch -LL` with controls and standard input (for the virtual list view's prompt).
fn ldapsearch_ll(ldap: &str, who: (&str, &str), args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new("ldapsearch")
        .args([
            "-x",
            "-LL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &format!("ldap://{ldap}"),
        ])
        .args([
            "-b",
            "o=main,dc=pbx365",
            "-D",
            &format!("cn={},o=main,dc=pbx365", who.0),
        ])
        .args(["-w", who.1])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ldapsearch (apt-get install ldap-utils)");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("ldapsearch output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `cn` values of an LDIF answer, in the order they came.
fn names_in_order(ldif: &str) -> Vec<String> {
    ldif.lines()
        .filter_map(|l| l.strip_prefix("cn: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_ldap_clients_against_the_binary() {
    let served = Served::start("clients").await;
    let ldap = served.ldap.as_str();
    let lobby = Some(("lobby", served.lobby.as_str()));

    // Ordering filters: a DID block as a range of E.164 numbers, and names.
    let (rc, ldif) = ldapsearch(
        ldap,
        lobby,
        "(&(telephoneNumber>=+49301234100)(telephoneNumber<=+49301234199))",
        &["cn"],
    );
    assert_eq!(rc, 0, "{ldif}");
    assert_eq!(names(&ldif), ["Ann Meier", "Bob Maier"], "{ldif}");
    let (_, ldif) = ldapsearch(ldap, lobby, "(&(cn>=Ta)(cn<=Tz))", &["cn"]);
    assert_eq!(names(&ldif), ["Taxi Central"], "{ldif}");
    let (_, ldif) = ldapsearch(
        ldap,
        lobby,
        "(&(sn=Kunde)(telephoneNumber<=030 5550103))",
        &["cn"],
    );
    assert_eq!(names(&ldif), ["Kunde 01", "Kunde 02", "Kunde 03"], "{ldif}");
    // Extensible match: a rule pbx365 implements, and one it does not (Undefined, also
    // under '!').
    let (_, ldif) = ldapsearch(ldap, lobby, "(sn:caseIgnoreMatch:=MEIER)", &["cn"]);
    assert_eq!(names(&ldif), ["Ann Meier"], "{ldif}");
    let (rc, ldif) = ldapsearch(ldap, lobby, "(!(sn:caseExactMatch:=Meier))", &["cn"]);
    assert_eq!((rc, names(&ldif)), (0, Vec::<String>::new()), "{ldif}");

    // The virtual list view, sorted by name: the 2nd to 4th of the Kunden.
    let (_, ldif) = ldapsearch_ll(
        ldap,
        ("lobby", &served.lobby),
        &["-E", "sss=cn", "-E", "vlv=1/1/3/0", "(sn=Kunde)", "cn"],
        "stop\n",
    );
    assert_eq!(
        names_in_order(&ldif),
        ["Kunde 02", "Kunde 03", "Kunde 04"],
        "{ldif}"
    );
    assert!(ldif.contains("pos=3 count=12"), "{ldif}");

    // Python ldap3: a bound paged search; every entry arrives once across the pages.
    let (host, port) = ldap.rsplit_once(':').expect("host:port");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/directory_paged.py"
    );
    let out = Command::new(python())
        .args([
            script,
            host,
            port,
            "cn=lobby,o=main,dc=pbx365",
            &served.lobby,
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    assert_eq!(report["bound"], true, "{report}");
    let pages: Vec<Vec<String>> = serde_json::from_value(report["pages"].clone()).expect("pages");
    assert!(pages.len() > 1, "{report}");
    assert!(pages.iter().all(|p| p.len() <= 4), "{report}");
    let mut all: Vec<String> = pages.concat();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "an entry came twice: {report}");
    let (_, ldif) = ldapsearch(ldap, lobby, "(objectClass=*)", &["1.1"]);
    let mut expected: Vec<String> = ldif
        .lines()
        .filter_map(|l| l.strip_prefix("dn: "))
        .map(str::to_owned)
        .collect();
    expected.sort();
    assert_eq!(all, expected, "paged and unpaged see the same entries");
    assert_eq!(
        expected.len(),
        16,
        "2 users, 13 company contacts, 1 org contact: {ldif}"
    );
    assert_eq!(report["last_result"], "success");
    let generator: Vec<String> = serde_json::from_value(report["generator"].clone()).unwrap();
    assert_eq!(
        generator,
        (1..=12)
            .map(|i| format!("Kunde {i:02}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(report["number"], serde_json::json!(["Kunde 07"]));

    // The Rust ldap3 client: bound searches, a number filter, and visibility.
    use ldap3::{LdapConnAsync, Scope, SearchEntry};
    let connect = |who: &'static str, secret: String| async move {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{ldap}"))
            .await
            .expect("connect");
        ldap3::drive!(conn);
        ldap.simple_bind(&format!("cn={who},o=main,dc=pbx365"), &secret)
            .await
            .expect("bind")
            .success()
            .expect("bind accepted");
        ldap
    };
    let find = |ldap: &mut ldap3::Ldap, filter: &'static str| {
        let mut ldap = ldap.clone();
        async move {
            let (entries, _) = ldap
                .search("o=main,dc=pbx365", Scope::Subtree, filter, vec!["cn"])
                .await
                .expect("search")
                .success()
                .expect("search succeeds");
            let mut v: Vec<String> = entries
                .into_iter()
                .map(|e| SearchEntry::construct(e).attrs["cn"][0].clone())
                .collect();
            v.sort();
            v
        }
    };
    let mut ann = connect("ann-phone", served.ann.clone()).await;
    let mut bob = connect("bob-phone", served.bob.clone()).await;
    assert_eq!(find(&mut ann, "(|(cn=Mei*)(sn=Mei*))").await, ["Ann Meier"]);
    assert_eq!(
        find(&mut ann, "(telephoneNumber=+49 30 4455667)").await,
        ["Taxi Central"]
    );
    // A's personal contact is A's alone; B's is B's alone.
    assert_eq!(find(&mut ann, "(cn=Paula*)").await, ["Paula Privat"]);
    assert!(find(&mut bob, "(cn=Paula*)").await.is_empty());
    assert!(find(&mut bob, "(mobile=*11111111)").await.is_empty());
    assert_eq!(find(&mut bob, "(cn=Dr*)").await, ["Dr. Zahn"]);
    assert!(find(&mut ann, "(telephoneNumber=030 5555555)")
        .await
        .is_empty());
    ann.unbind().await.expect("unbind");
    bob.unbind().await.expect("unbind");

    // Avatars over HTTP: Ann's photo as `photos sync` stored it, Graph's mediaEtag as ETag.
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/entries/u:{ANN}/photo", served.http);
    let resp = client
        .get(&url)
        .basic_auth("lobby", Some(&served.lobby))
        .send()
        .await
        .expect("photo");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["etag"], "\"ANN-PHOTO-1\"");
    assert_eq!(
        resp.bytes().await.expect("body").as_ref(),
        b"\x89PNG\r\n\x1a\nann"
    );
    let resp = client
        .get(&url)
        .basic_auth("lobby", Some(&served.lobby))
        .header("if-none-match", "\"ANN-PHOTO-1\"")
        .send()
        .await
        .expect("photo");
    assert_eq!(resp.status(), 304);
    let resp = client
        .get(format!(
            "http://{}/api/v1/entries/u:{BOB}/photo",
            served.http
        ))
        .basic_auth("lobby", Some(&served.lobby))
        .send()
        .await
        .expect("photo");
    assert_eq!(resp.status(), 404, "Bob has no photo");
    let resp = client.get(&url).send().await.expect("photo");
    assert_eq!(resp.status(), 401, "no credentials");

    served.stop().await;
}
