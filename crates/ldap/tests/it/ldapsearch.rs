//! OpenLDAP's `ldapsearch` (Debian ldap-utils) against the server: every phone vendor's default
//! name and number filters, rootDSE, binds, visibility, limits, paging, sorting, LDAPS and
//! StartTLS.

use crate::{start, start_with, Server};
use directory::{Attribute, BookScope, Filter, Principal};
use std::process::Command;
use std::sync::atomic::Ordering;

const BASE: &str = "o=acme,dc=pbx365";
const ALICE: &str = "uid=u-alice,ou=users,o=acme,dc=pbx365";
const BOB: &str = "uid=u-bob,ou=users,o=acme,dc=pbx365";
const CARLA: &str = "uid=c-carla,ou=company,o=acme,dc=pbx365";
const DIETER: &str = "uid=d-dieter,ou=directory,o=acme,dc=pbx365";
const PAULA: &str = "uid=p-paula,ou=personal,o=acme,dc=pbx365";

/// What one ldapsearch run printed.
#[derive(Debug)]
struct Out {
    code: i32,
    stderr: String,
    stdout: String,
    entries: Vec<(String, Vec<(String, String)>)>,
}

impl Out {
    fn dns(&self) -> Vec<&str> {
        self.entries.iter().map(|(dn, _)| dn.as_str()).collect()
    }

    fn values(&self, dn: &str, attr: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(d, _)| d == dn)
            .flat_map(|(_, a)| a.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case(attr))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn ldapsearch_available() -> bool {
    match Command::new("ldapsearch").arg("-VV").output() {
        Ok(_) => true,
        Err(_) => {
            // The CI script installs ldap-utils; a developer machine without it cannot run these.
            panic!(
                "ldapsearch not found: install Debian's ldap-utils (apt-get install -y ldap-utils)"
            );
        }
    }
}

/// Runs ldapsearch with `args` (after `-x -LLL -o ldif-wrap=no`), the server's CA trusted.
async fn run(server: &Server, args: &[&str]) -> Out {
    run_with(server, "-LLL", args).await
}

/// Like [`run`], with `-L`, `-LL` or `-LLL` as given (fewer L: more comments in the output).
async fn run_with(server: &Server, ldif: &str, args: &[&str]) -> Out {
    run_input(server, ldif, args, "").await
}

/// Like [`run_with`], with `input` on ldapsearch's standard input (what it reads between the
/// windows of a virtual list view).
async fn run_input(server: &Server, ldif: &str, args: &[&str], input: &str) -> Out {
    assert!(ldapsearch_available());
    let mut cmd = Command::new("ldapsearch");
    cmd.args([
        "-x",
        ldif,
        "-o",
        "ldif-wrap=no",
        "-o",
        "nettimeout=10",
        "-l",
        "20",
    ])
    .args(args)
    .env("LDAPCONF", "/dev/null")
    .env("LDAPRC", "/dev/null")
    .env("LDAPTLS_CACERT", &server.ca)
    .env("LDAPTLS_REQCERT", "demand");
    let input = input.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // ldapsearch may exit before reading it all.
            let _ = stdin.write_all(input.as_bytes());
        }
        child.wait_with_output()
    })
    .await
    .expect("join")
    .expect("run ldapsearch");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut entries: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in stdout.lines() {
        if let Some(dn) = line.strip_prefix("dn: ") {
            entries.push((dn.to_owned(), Vec::new()));
        } else if line == "dn:" {
            entries.push((String::new(), Vec::new()));
        } else if let Some((a, v)) = line.split_once(": ") {
            if let Some(e) = entries.last_mut() {
                e.1.push((a.to_owned(), v.to_owned()));
            }
        } else if let Some(a) = line.strip_suffix(':') {
            if let Some(e) = entries.last_mut() {
                e.1.push((a.to_owned(), String::new()));
            }
        }
    }
    Out {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout,
        entries,
    }
}

fn ldap_url(server: &Server) -> String {
    format!("ldap://{}", server.plain)
}

/// A search bound as extension 201 (Alice) under the site base.
async fn as_alice(server: &Server, filter: &str, attrs: &[&str]) -> Out {
    let url = ldap_url(server);
    let mut args = vec![
        "-H",
        &url,
        "-D",
        "cn=201,o=acme,dc=pbx365",
        "-w",
        "secret201",
        "-b",
        BASE,
        filter,
    ];
    args.extend_from_slice(attrs);
    let out = run(server, &args).await;
    assert_eq!(out.code, 0, "{filter}: {}", out.stderr);
    out
}

fn sub(attribute: Attribute, initial: &str) -> Filter {
    Filter::Substring {
        attribute,
        initial: Some(initial.into()),
        any: vec![],
        last: None,
    }
}

fn eq(attribute: Attribute, v: &str) -> Filter {
    Filter::Equals(attribute, v.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_dse_lists_naming_contexts_controls_and_starttls() {
    let server = start(|_| {}).await;
    let url = ldap_url(&server);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-s",
            "base",
            "-b",
            "",
            "(objectClass=*)",
            "*",
            "+",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.dns(), vec![""]);
    let ctx = out.values("", "namingContexts");
    assert!(ctx.contains(&"dc=pbx365") && ctx.contains(&BASE), "{ctx:?}");
    assert_eq!(out.values("", "supportedLDAPVersion"), vec!["3"]);
    let controls = out.values("", "supportedControl");
    assert!(controls.contains(&"1.2.840.113556.1.4.319"), "{controls:?}");
    assert!(controls.contains(&"1.2.840.113556.1.4.473"), "{controls:?}");
    assert!(out
        .values("", "supportedExtension")
        .contains(&"1.3.6.1.4.1.1466.20037"));
    // Named attributes only.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-s",
            "base",
            "-b",
            "",
            "(objectClass=*)",
            "namingContexts",
        ],
    )
    .await;
    assert_eq!(
        out.entries[0]
            .1
            .iter()
            .filter(|(a, _)| a != "namingContexts")
            .count(),
        0,
        "{:?}",
        out.entries
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yealink_default_filters() {
    let server = start(|_| {}).await;
    // Yealink (and Grandstream, Fanvil) turn '%' into the typed prefix followed by '*'.
    let out = as_alice(&server, "(|(cn=Ali*)(sn=Ali*))", &[]).await;
    assert_eq!(out.dns(), vec![ALICE]);
    let call = server.fake.last_call().unwrap();
    assert_eq!(
        call.filter,
        Filter::Or(vec![
            sub(Attribute::CommonName, "Ali"),
            sub(Attribute::Surname, "Ali")
        ])
    );
    assert_eq!(call.scope, BookScope::All);
    assert_eq!(
        call.who,
        Principal::Extension {
            site: crate::fake::site(),
            user_id: "u-alice".into()
        }
    );
    // Every inetOrgPerson attribute phones read, numbers in the dialable form.
    assert_eq!(out.values(ALICE, "cn"), vec!["Alice Example"]);
    assert_eq!(out.values(ALICE, "sn"), vec!["Example"]);
    assert_eq!(out.values(ALICE, "givenName"), vec!["Alice"]);
    assert_eq!(out.values(ALICE, "displayName"), vec!["Alice Example"]);
    assert_eq!(out.values(ALICE, "o"), vec!["Example GmbH"]);
    assert_eq!(out.values(ALICE, "ou"), vec!["Sales"]);
    assert_eq!(out.values(ALICE, "title"), vec!["Manager"]);
    assert_eq!(out.values(ALICE, "mail"), vec!["alice@example.com"]);
    assert_eq!(out.values(ALICE, "telephoneNumber"), vec!["201"]);
    assert_eq!(out.values(ALICE, "mobile"), vec!["001701234567"]);
    assert_eq!(out.values(ALICE, "ipPhone"), vec!["201"]);
    assert!(out.values(ALICE, "objectClass").contains(&"inetOrgPerson"));

    // Incoming-call lookup: the caller's number, here in national form.
    let out = as_alice(
        &server,
        "(|(telephoneNumber=030 1234201)(mobile=030 1234201)(ipPhone=030 1234201))",
        &["cn"],
    )
    .await;
    assert_eq!(out.dns(), vec![ALICE]);
    assert_eq!(
        out.entries[0].1,
        vec![("cn".to_owned(), "Alice Example".to_owned())]
    );
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Or(vec![
            eq(Attribute::BusinessPhone, "030 1234201"),
            eq(Attribute::Mobile, "030 1234201"),
            eq(Attribute::Extension, "030 1234201"),
        ])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snom_and_gigaset_default_filters() {
    let server = start(|_| {}).await;
    // Snom wiki defaults.
    let out = as_alice(&server, "(&(telephoneNumber=*)(sn=Exa*))", &[]).await;
    assert_eq!(out.dns(), vec![ALICE]);
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::And(vec![
            Filter::Present(Attribute::BusinessPhone),
            sub(Attribute::Surname, "Exa")
        ])
    );
    let out = as_alice(&server, "(&(telephoneNumber=+4940555123)(sn=*))", &[]).await;
    assert_eq!(out.dns(), vec![CARLA]);
    // Tancredi's defaults for Snom D7xx/D3xx and Gigaset P (explicit '*').
    let out = as_alice(&server, "(|(cn=Kun*)(o=Kun*))", &[]).await;
    assert_eq!(out.dns(), vec![CARLA]);
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Or(vec![
            sub(Attribute::CommonName, "Kun"),
            sub(Attribute::Company, "Kun")
        ])
    );
    let out = as_alice(
        &server,
        "(|(telephoneNumber=017012*)(mobile=017012*)(homePhone=017012*))",
        &[],
    )
    .await;
    assert_eq!(out.dns(), vec![ALICE]);
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Or(vec![
            sub(Attribute::BusinessPhone, "017012"),
            sub(Attribute::Mobile, "017012"),
            sub(Attribute::HomePhone, "017012"),
        ])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grandstream_fanvil_and_polycom_default_filters() {
    let server = start(|_| {}).await;
    // Grandstream: name filter, number filter with its capitalised "Mobile".
    let out = as_alice(&server, "(|(cn=Bob*)(sn=Bob*))", &[]).await;
    assert_eq!(out.dns(), vec![BOB]);
    let out = as_alice(&server, "(|(telephoneNumber=202)(Mobile=202))", &[]).await;
    assert_eq!(out.dns(), vec![BOB]);
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Or(vec![
            eq(Attribute::BusinessPhone, "202"),
            eq(Attribute::Mobile, "202")
        ])
    );
    // Fanvil: "other" stands for any number, so a home number is found too.
    let out = as_alice(
        &server,
        "(|(telephoneNumber=+4989777888)(mobile=+4989777888)(other=+4989777888))",
        &[],
    )
    .await;
    assert_eq!(out.dns(), vec![DIETER]);
    assert_eq!(out.values(DIETER, "homePhone"), vec!["0089777888"]);
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Or(vec![
            eq(Attribute::BusinessPhone, "+4989777888"),
            eq(Attribute::Mobile, "+4989777888"),
            eq(Attribute::AnyPhone, "+4989777888"),
        ])
    );
    // Polycom: filter prefix (objectclass=person) + attribute filter, server-side sort on sn.
    let out = as_alice(
        &server,
        "(&(objectclass=person)(sn=*e*))",
        &["-E", "sss=-sn", "sn"],
    )
    .await;
    let names: Vec<&str> = out
        .entries
        .iter()
        .map(|(dn, _)| out.values(dn, "sn")[0])
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.to_lowercase()));
    assert_eq!(names, sorted);
    assert!(names.len() >= 3, "{names:?}");
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::And(vec![
            eq(Attribute::ObjectClass, "person"),
            Filter::Substring {
                attribute: Attribute::Surname,
                initial: None,
                any: vec!["e".into()],
                last: None
            }
        ])
    );
    // OpenLDAP reads the sort result control: success, or noSuchAttribute for an attribute
    // pbx365 does not serve (the entries then come unsorted).
    let url = ldap_url(&server);
    let out = run_with(
        &server,
        "-L",
        &["-H", &url, "-E", "sss=sn", "-b", BASE, "(sn=*e*)", "sn"],
    )
    .await;
    assert!(out.stdout.contains("sortResult: (0)"), "{}", out.stdout);
    let out = run_with(
        &server,
        "-L",
        &["-H", &url, "-E", "sss=bogus", "-b", BASE, "(sn=*e*)", "sn"],
    )
    .await;
    assert!(out.stdout.contains("sortResult: (16)"), "{}", out.stdout);
    // Proximity search is passed on as such.
    as_alice(&server, "(cn~=Alise)", &[]).await;
    assert_eq!(
        server.fake.last_call().unwrap().filter,
        Filter::Approx(Attribute::CommonName, "Alise".into())
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_and_visibility() {
    let server = start(|_| {}).await;
    let url = ldap_url(&server);
    // The personal phonebook: Alice's extension sees her own contact...
    let out = as_alice(&server, "(cn=Paula*)", &[]).await;
    assert_eq!(out.dns(), vec![PAULA]);
    // ...as does a search based at her personal phonebook...
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            "ou=personal,o=acme,dc=pbx365",
            "(objectClass=*)",
        ],
    )
    .await;
    assert_eq!(out.dns(), vec![PAULA], "{}", out.stderr);
    assert_eq!(server.fake.last_call().unwrap().scope, BookScope::Personal);
    // ...a phone group (bare username bind) does not.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "lobby",
            "-w",
            "lobbypw",
            "-b",
            BASE,
            "(cn=Paula*)",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.dns().is_empty());
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=lobby,dc=pbx365",
            "-w",
            "lobbypw",
            "-b",
            "ou=personal,o=acme,dc=pbx365",
            "(objectClass=*)",
        ],
    )
    .await;
    assert_eq!(out.code, 50, "insufficientAccessRights: {}", out.stderr);
    // A phonebook base narrows the scope.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "lobby",
            "-w",
            "lobbypw",
            "-b",
            "ou=company,o=acme,dc=pbx365",
            "(cn=Carla*)",
        ],
    )
    .await;
    assert_eq!(out.dns(), vec![CARLA]);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "lobby",
            "-w",
            "lobbypw",
            "-b",
            "ou=users,o=acme,dc=pbx365",
            "(cn=Carla*)",
        ],
    )
    .await;
    assert!(out.dns().is_empty());
    // One entry by its DN.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "lobby",
            "-w",
            "lobbypw",
            "-s",
            "base",
            "-b",
            CARLA,
            "(objectClass=*)",
            "cn",
        ],
    )
    .await;
    assert_eq!(out.dns(), vec![CARLA]);
    // The site's phonebooks, one level down (no personal one for a phone group).
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "lobby",
            "-w",
            "lobbypw",
            "-s",
            "one",
            "-b",
            BASE,
            "(objectClass=*)",
        ],
    )
    .await;
    assert_eq!(
        out.dns(),
        vec![
            "ou=users,o=acme,dc=pbx365",
            "ou=company,o=acme,dc=pbx365",
            "ou=directory,o=acme,dc=pbx365"
        ]
    );
    // A base outside the tree.
    let out = run(&server, &["-H", &url, "-b", "dc=example,dc=com", "(cn=*)"]).await;
    assert_eq!(out.code, 32, "noSuchObject: {}", out.stderr);

    // Wrong password, unknown user, DN without a password.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "wrong",
            "-b",
            BASE,
            "(cn=*)",
        ],
    )
    .await;
    assert_eq!(out.code, 49, "invalidCredentials: {}", out.stderr);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=nobody,o=acme,dc=pbx365",
            "-w",
            "x",
            "-b",
            BASE,
            "(cn=*)",
        ],
    )
    .await;
    assert_eq!(out.code, 49, "{}", out.stderr);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=201,o=other,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            BASE,
            "(cn=*)",
        ],
    )
    .await;
    assert_eq!(out.code, 49, "{}", out.stderr);

    // Anonymous: on, it sees the shared books but no personal contact.
    let out = run(
        &server,
        &["-H", &url, "-b", BASE, "(|(cn=Carla*)(cn=Paula*))"],
    )
    .await;
    assert_eq!(out.dns(), vec![CARLA], "{}", out.stderr);
    assert_eq!(
        server.fake.last_call().unwrap().who,
        Principal::Anonymous {
            site: crate::fake::site()
        }
    );
    // Off: the anonymous bind is refused, and so is a search without any bind.
    server.fake.anonymous.store(false, Ordering::SeqCst);
    let out = run(&server, &["-H", &url, "-b", BASE, "(cn=Carla*)"]).await;
    assert_eq!(out.code, 48, "inappropriateAuthentication: {}", out.stderr);
    assert!(out.dns().is_empty());
    // Credentials still work.
    let out = as_alice(&server, "(cn=Carla*)", &[]).await;
    assert_eq!(out.dns(), vec![CARLA]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_time_limits() {
    let server = start(|c| {
        c.limits.max_results = 5;
        c.limits.max_time = std::time::Duration::from_millis(300);
    })
    .await;
    let url = ldap_url(&server);
    // The client's sizeLimit: the first entries, then sizeLimitExceeded (exit 4).
    let out = run(
        &server,
        &["-H", &url, "-z", "3", "-b", BASE, "(cn=Filler*)"],
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(out.dns().len(), 3);
    assert_eq!(server.fake.last_call().unwrap().limit, 4);
    // The server's maximum applies when the client asks for more (or for no limit).
    let out = run(
        &server,
        &["-H", &url, "-z", "0", "-b", BASE, "(cn=Filler*)"],
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(out.dns().len(), 5);
    // Under the limit: success.
    let out = run(
        &server,
        &["-H", &url, "-z", "3", "-b", BASE, "(cn=Filler 01)"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A search slower than the time limit: timeLimitExceeded (exit 3), server still fine.
    let out = run(&server, &["-H", &url, "-b", BASE, "(cn=slow)"]).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let out = run(&server, &["-H", &url, "-b", BASE, "(cn=Carla*)"]).await;
    assert_eq!(out.dns(), vec![CARLA]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_results_and_controls() {
    let server = start(|_| {}).await;
    let url = ldap_url(&server);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-E",
            "pr=5/noprompt",
            "-b",
            BASE,
            "(cn=Filler*)",
            "cn",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut dns = out.dns();
    assert_eq!(dns.len(), 12, "{}", out.stdout);
    dns.dedup();
    assert_eq!(dns.len(), 12);
    // One directory call for the whole paged search.
    assert_eq!(server.fake.calls.lock().unwrap().len(), 1);
    // An unknown critical control is refused; a non-critical one is ignored.
    let out = run(
        &server,
        &["-H", &url, "-E", "!1.2.3.4.5", "-b", BASE, "(cn=Carla*)"],
    )
    .await;
    assert_eq!(out.code, 12, "unavailableCriticalExtension: {}", out.stderr);
    let out = run(
        &server,
        &["-H", &url, "-E", "1.2.3.4.5", "-b", BASE, "(cn=Carla*)"],
    )
    .await;
    assert_eq!(out.dns(), vec![CARLA], "{}", out.stderr);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls() {
    let server = start(|c| c.number_form = directory::NumberForm::Both).await;
    let ldaps = format!("ldaps://{}", server.tls.unwrap());
    let out = run(
        &server,
        &[
            "-H",
            &ldaps,
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            BASE,
            "(cn=Alice*)",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.dns(), vec![ALICE]);
    // Both number forms, dialable first.
    assert_eq!(
        out.values(ALICE, "telephoneNumber"),
        vec!["201", "+49301234201"]
    );
    let url = ldap_url(&server);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-ZZ",
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            BASE,
            "(cn=Bob*)",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.dns(), vec![BOB]);
    server.stop().await;

    // Without StartTLS, -ZZ fails while plain LDAP works.
    let server = start(|c| c.starttls = false).await;
    let url = format!("ldap://{}", server.plain);
    let out = run(&server, &["-H", &url, "-ZZ", "-b", BASE, "(cn=Bob*)"]).await;
    assert_ne!(out.code, 0, "{}", out.stdout);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-b",
            "",
            "-s",
            "base",
            "(objectClass=*)",
            "supportedExtension",
        ],
    )
    .await;
    assert!(!out
        .values("", "supportedExtension")
        .contains(&"1.3.6.1.4.1.1466.20037"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sites() {
    let mut fake = crate::fake::Fake::new();
    fake.extra_sites = vec![directory::SiteId::new("other").unwrap()];
    let server = start_with(fake, |_| {}).await;
    let url = ldap_url(&server);
    // Every site is a naming context.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-s",
            "base",
            "-b",
            "",
            "(objectClass=*)",
            "namingContexts",
        ],
    )
    .await;
    assert_eq!(
        out.values("", "namingContexts"),
        vec!["dc=pbx365", BASE, "o=other,dc=pbx365"]
    );
    // A bare username cannot say which site: refused with a hint.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "201",
            "-w",
            "secret201",
            "-b",
            BASE,
            "(cn=Alice*)",
        ],
    )
    .await;
    assert_eq!(out.code, 49, "{}", out.stderr);
    assert!(out.stderr.contains("o=<site>"), "{}", out.stderr);
    // The full DN works, and a bound client stays in its site.
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            "dc=pbx365",
            "(cn=Alice*)",
        ],
    )
    .await;
    assert_eq!(out.dns(), vec![ALICE], "{}", out.stderr);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "cn=201,o=acme,dc=pbx365",
            "-w",
            "secret201",
            "-b",
            "o=other,dc=pbx365",
            "(cn=*)",
        ],
    )
    .await;
    assert_eq!(out.code, 50, "{}", out.stderr);
    // Anonymous: the base names the site.
    let out = run(&server, &["-H", &url, "-b", BASE, "(cn=Carla*)"]).await;
    assert_eq!(out.dns(), vec![CARLA], "{}", out.stderr);
    let out = run(&server, &["-H", &url, "-b", "o=other,dc=pbx365", "(cn=*)"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        server.fake.last_call().unwrap().who,
        Principal::Anonymous {
            site: directory::SiteId::new("other").unwrap()
        }
    );
    let out = run(&server, &["-H", &url, "-b", "dc=pbx365", "(cn=Carla*)"]).await;
    assert_eq!(out.code, 53, "unwillingToPerform: {}", out.stderr);
    server.stop().await;

    // With a default site configured, the bare username works again.
    let mut fake = crate::fake::Fake::new();
    fake.extra_sites = vec![directory::SiteId::new("other").unwrap()];
    let server = start_with(fake, |c| c.default_site = Some(crate::fake::site())).await;
    let url = ldap_url(&server);
    let out = run(
        &server,
        &[
            "-H",
            &url,
            "-D",
            "201",
            "-w",
            "secret201",
            "-b",
            "dc=pbx365",
            "(cn=Alice*)",
        ],
    )
    .await;
    assert_eq!(out.dns(), vec![ALICE], "{}", out.stderr);
    server.stop().await;
}

/// The `cn` values of an answer, in the order they came.
fn cns(out: &Out) -> Vec<String> {
    out.entries
        .iter()
        .flat_map(|(_, a)| a.iter())
        .filter(|(n, _)| n == "cn")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The `# vlvResult…` comments ldapsearch prints (with `-LL`), one per window.
fn vlv_comments(out: &Out) -> Vec<&str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("# vlvResult"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_list_view() {
    let server = start(|_| {}).await;
    let url = ldap_url(&server);
    // ldapsearch asks for the next window after each one, reading a new
    // "before/after(/offset/count|:value)" from standard input (an empty line scrolls on by
    // the after count); a line it cannot parse ends it with exit code 1.
    let vlv = |spec: &str, sort: Option<&str>, filter: &str, input: &str| {
        let mut args: Vec<String> = vec!["-H".into(), url.clone()];
        if let Some(s) = sort {
            args.extend(["-E".into(), format!("sss={s}")]);
        }
        args.extend([
            "-E".into(),
            format!("vlv={spec}"),
            "-b".into(),
            BASE.into(),
            filter.into(),
            "cn".into(),
        ]);
        let (server, input) = (&server, input.to_owned());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_input(server, "-LL", &args, &input).await
        }
    };
    let filler = |i: usize| format!("Filler {i:02}");
    let fillers = |r: std::ops::RangeInclusive<usize>| r.map(filler).collect::<Vec<_>>();
    // byOffset: 1 before, 2 after the 5th of 12; then "stop".
    let out = vlv("1/2/5/0", Some("cn"), "(cn=Filler*)", "stop\n").await;
    assert_eq!(cns(&out), fillers(4..=7), "{}", out.stdout);
    let comments = vlv_comments(&out);
    assert_eq!(comments.len(), 1, "{}", out.stdout);
    assert!(comments[0].contains("pos=5 count=12"), "{}", out.stdout);
    // Scrolling to the end the way ldapsearch does by itself (offset += after, with the
    // server's count): the window after the last is offsetRangeError, which ends it.
    let out = vlv("0/3/1/0", Some("cn"), "(cn=Filler*)", "").await;
    assert_eq!(out.code, 76, "virtualListViewError: {}", out.stderr);
    let mut seen = cns(&out);
    assert_eq!(
        seen.len(),
        15,
        "windows 1-4, 4-7, 7-10, 10-12: {}",
        out.stdout
    );
    seen.dedup();
    assert_eq!(seen, fillers(1..=12));
    assert!(
        vlv_comments(&out)
            .last()
            .is_some_and(|c| c.contains("(76)") || c.contains("(61)")),
        "{}",
        out.stdout
    );
    // Reverse order: the 1st is Filler 12.
    let out = vlv("0/1/1/0", Some("-cn"), "(cn=Filler*)", "stop\n").await;
    assert_eq!(cns(&out), vec![filler(12), filler(11)], "{}", out.stdout);
    // The client's content count scales the offset: 24 of 24 is the last.
    let out = vlv("2/0/24/24", Some("cn"), "(cn=Filler*)", "stop\n").await;
    assert_eq!(cns(&out), fillers(10..=12), "{}", out.stdout);
    assert!(
        vlv_comments(&out)[0].contains("pos=12 count=12"),
        "{}",
        out.stdout
    );
    // greaterThanOrEqual: the first at or after "filler 1" is Filler 10; then, in the same
    // session, a window after every entry: position count + 1 and the entries before it.
    let out = vlv(
        "0/1:filler 1",
        Some("cn"),
        "(cn=Filler*)",
        "2/2:zzz\nstop\n",
    )
    .await;
    assert_eq!(
        cns(&out),
        vec![filler(10), filler(11), filler(11), filler(12)],
        "{}",
        out.stdout
    );
    let comments = vlv_comments(&out);
    assert!(comments[0].contains("pos=10 count=12"), "{}", out.stdout);
    assert!(comments[1].contains("pos=13 count=12"), "{}", out.stdout);
    // A filter that matches nothing: an empty window at position 0.
    let out = vlv("1/1/1/0", Some("cn"), "(cn=Nobody*)", "stop\n").await;
    assert!(cns(&out).is_empty());
    assert!(
        vlv_comments(&out)[0].contains("pos=0 count=0"),
        "{}",
        out.stdout
    );
    // (Without the sort control ldapsearch refuses to send it: see raw::vlv_by_hand.)
    // Offset 0: offsetRangeError.
    let out = vlv("0/0/0/0", Some("cn"), "(cn=Filler*)", "").await;
    assert_eq!(out.code, 76, "{}\n{}", out.stdout, out.stderr);
    assert!(vlv_comments(&out)[0].contains("(61)"), "{}", out.stdout);
    // The root DSE lists the control.
    let out = run(
        &server,
        &["-H", &url, "-b", "", "-s", "base", "supportedControl"],
    )
    .await;
    assert!(
        out.values("", "supportedControl")
            .contains(&"2.16.840.1.113730.3.4.9"),
        "{}",
        out.stdout
    );
    server.stop().await;
}
