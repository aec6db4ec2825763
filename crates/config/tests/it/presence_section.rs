//! `[site.presence]`: defaults, the bridge password's sources, the map loop check at load,
//! opt-outs and bad values.

use crate::{assert_invalid, load, load_with, no_env, TempDir, MINIMAL};
use config::{Config, ConfigError, SipTransport};
use presence::{StatusMaps, TeamsAction, TeamsPresence};
use sip::PbxState;

const SECTION: &str = r#"
[site.presence]
sip_server = "127.0.0.1:5060"
sip_domain = "pbx.example.com"
username = "bridge"
"#;

fn with(extra: &str) -> String {
    format!("{MINIMAL}{SECTION}{extra}")
}

fn pw_env() -> Vec<(&'static str, &'static str)> {
    vec![("PBX365_SITE__0__PRESENCE__PASSWORD", "123456")]
}

#[test]
fn a_site_without_the_section_has_no_bridge() {
    let c = load(MINIMAL).expect("loads");
    assert!(c.sites[0].presence.is_none());
}

#[test]
fn defaults_and_a_password_from_the_environment_taken_verbatim() {
    let c = load_with(&with(""), pw_env()).expect("loads");
    let p = c.sites[0].presence.as_ref().expect("presence");
    assert!(p.enabled);
    assert_eq!(p.sip_server, "127.0.0.1:5060".parse().unwrap());
    assert_eq!(p.transport, SipTransport::Udp);
    assert_eq!(p.password.expose(), "123456", "not read as a number");
    assert_eq!(p.keepalive_minutes, 4);
    assert_eq!(p.maps, StatusMaps::defaults(4));
    assert_eq!(p.poll_rate.per_30s(), 300);
    assert_eq!(p.writes_in_flight, 16);
    assert_eq!(p.status_file.file_name().unwrap(), "presence-status.json");
    assert!(format!("{p:?}").contains("[redacted]"));
}

#[test]
fn password_file_and_the_refusal_of_a_password_in_the_file() {
    let dir = TempDir::create();
    dir.write("secret", "s\n", 0o600);
    dir.write("sip.pw", "pw-from-file\n", 0o600);
    let path = dir.write(
        "config.toml",
        &with("password_file = \"sip.pw\"\ntransport = \"tcp\"\n"),
        0o600,
    );
    let c = Config::load(&path, no_env()).expect("loads");
    let p = c.sites[0].presence.as_ref().expect("presence");
    assert_eq!(p.password.expose(), "pw-from-file");
    assert_eq!(p.transport, SipTransport::Tcp);
    let c = load_with(&with("teams_writes_in_flight = 4\n"), pw_env()).expect("loads");
    assert_eq!(c.sites[0].presence.as_ref().unwrap().writes_in_flight, 4);

    assert_invalid(
        load(&with("password = \"hunter2\"\n")),
        "site[0].presence.password",
        "[redacted]",
        "no password in the file: use password_file = \"PATH\" or the variable \
         PBX365_SITE__0__PRESENCE__PASSWORD",
    );
    match load(&with("")) {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "site[0].presence.password_file"),
        other => panic!("expected the missing password, got {other:?}"),
    }
}

#[test]
fn a_looping_map_is_refused_at_load_with_the_checks_message() {
    let maps = r#"
[site.presence.maps]
teams_to_pbx = [
  { teams = "Available/*", pbx = "idle" },
  { teams = "*/InACall", pbx = "on_call" },
  { teams = "Away/*", pbx = "away" },
  { teams = "*", pbx = "none" },
]
[site.presence.maps.pbx_to_teams]
idle = "clear"
ringing = "clear"
on_call = "Busy/InACall"
dnd = "Available/Available"
away = "clear"
offline = "clear"
"#;
    match load_with(&with(maps), pw_env()) {
        Err(ConfigError::Invalid { key, expected, .. }) => {
            assert_eq!(key, "site[0].presence.maps");
            assert!(
                expected.contains(
                    "PBX dnd → Teams Available/Available (shows Available/Available) → PBX idle"
                ),
                "{expected}"
            );
        }
        other => panic!("expected the loop check to refuse it, got {other:?}"),
    }
    // The same map with DND kept off Teams passes and is used.
    let fixed = maps.replace("dnd = \"Available/Available\"", "dnd = \"clear\"");
    let c = load_with(&with(&fixed), pw_env()).expect("loads");
    let m = &c.sites[0].presence.as_ref().unwrap().maps;
    assert_eq!(
        m.to_teams(PbxState::OnCall),
        Some(TeamsAction::Set(TeamsPresence::new(
            presence::Availability::Busy,
            presence::Activity::InACall
        )))
    );
    assert_eq!(m.to_teams(PbxState::Dnd), Some(TeamsAction::Clear));
}

#[test]
fn opt_outs_by_upn_or_id() {
    let c = load_with(
        &with("opt_out = [\"Ann@Contoso.com\", \"3fa85f64-5717-4562-b3fc-2c963f66afa6\"]\n"),
        pw_env(),
    )
    .expect("loads");
    let p = c.sites[0].presence.as_ref().unwrap();
    assert!(p.opted_out("x", Some("ann@contoso.com")));
    assert!(p.opted_out("3FA85F64-5717-4562-B3FC-2C963F66AFA6", None));
    assert!(!p.opted_out("x", Some("bob@contoso.com")));
    assert_invalid(
        load_with(&with("opt_out = [\"ann\"]\n"), pw_env()),
        "site[0].presence.opt_out[0]",
        "\"ann\"",
        "a user principal name (ann@contoso.com) or an Entra object id (GUID)",
    );
}

#[test]
fn bad_values_name_the_key() {
    assert_invalid(
        load_with(&with("poll_requests_per_30s = 2000\n"), pw_env()),
        "site[0].presence.poll_requests_per_30s",
        "2000",
        "1 to 1500 requests per 30 seconds (Graph's presence limit)",
    );
    assert_invalid(
        load_with(&with("teams_writes_in_flight = 0\n"), pw_env()),
        "site[0].presence.teams_writes_in_flight",
        "0",
        "1 to 64 Teams writes in flight at once",
    );
    assert_invalid(
        load_with(
            &format!(
                "{MINIMAL}{}",
                SECTION.replace("127.0.0.1:5060", "pbx.example.com")
            ),
            pw_env(),
        ),
        "site[0].presence.sip_server",
        "\"pbx.example.com\"",
        "an IP address and port, e.g. \"192.0.2.10:5060\" (host names are not resolved)",
    );
    assert_invalid(
        load_with(&with("transport = \"sctp\"\n"), pw_env()),
        "site[0].presence.transport",
        "\"sctp\"",
        "\"udp\", \"tcp\" or \"tls\"",
    );
    match load_with(&with("colour = 1\n"), pw_env()) {
        Err(ConfigError::UnknownKey { key, .. }) => assert_eq!(key, "site[0].presence.colour"),
        other => panic!("expected an unknown key, got {other:?}"),
    }
}

#[test]
fn tls_with_a_ca_file_and_server_name_and_its_bad_values() {
    let dir = TempDir::create();
    dir.write("secret", "s\n", 0o600);
    let ca = graph_sim::server::generate_tls().expect("a test CA").ca_pem;
    dir.write("sip-ca.pem", &ca, 0o644);
    dir.write("not-a-ca.pem", "hello\n", 0o644);
    let load_dir = |extra: &str| {
        let path = dir.write("config.toml", &with(extra), 0o600);
        Config::load(&path, pw_env())
    };
    let c = load_dir(
        "transport = \"tls\"\nca_file = \"sip-ca.pem\"\ntls_server_name = \"pbx.example.com\"\n",
    )
    .expect("loads");
    let p = c.sites[0].presence.as_ref().expect("presence");
    assert_eq!(
        p.transport,
        SipTransport::Tls(sip::transport::TlsSettings {
            ca_file: Some(dir.0.join("sip-ca.pem")),
            server_name: Some("pbx.example.com".into()),
        })
    );
    // without a CA file: the public roots, the name from the server address
    let c = load_dir("transport = \"tls\"\n").expect("loads");
    let p = c.sites[0].presence.as_ref().expect("presence");
    assert_eq!(
        p.transport,
        SipTransport::Tls(sip::transport::TlsSettings::default())
    );

    let not_pem = dir.0.join("not-a-ca.pem");
    assert_invalid(
        load_dir("transport = \"tls\"\nca_file = \"not-a-ca.pem\"\n"),
        "site[0].presence.ca_file",
        "\"not-a-ca.pem\"",
        &format!(
            "a PEM file of the CA certificates that sign the SIP server's (the CA file {} holds \
             no PEM certificate (-----BEGIN CERTIFICATE-----))",
            not_pem.display()
        ),
    );
    match load_dir("transport = \"tls\"\nca_file = \"missing.pem\"\n") {
        Err(ConfigError::Invalid { key, expected, .. }) => {
            assert_eq!(key, "site[0].presence.ca_file");
            assert!(expected.contains("cannot read the CA file"), "{expected}");
        }
        other => panic!("expected the missing CA file, got {other:?}"),
    }
    assert_invalid(
        load_dir("transport = \"tls\"\ntls_server_name = \"pbx example\"\n"),
        "site[0].presence.tls_server_name",
        "\"pbx example\"",
        "the DNS name or IP address the SIP server's certificate carries",
    );
    assert_invalid(
        load_dir("ca_file = \"sip-ca.pem\"\n"),
        "site[0].presence.ca_file",
        "(set)",
        "only with transport = \"tls\" (remove it, or set the transport)",
    );
    assert_invalid(
        load_dir("transport = \"tcp\"\ntls_server_name = \"pbx.example.com\"\n"),
        "site[0].presence.tls_server_name",
        "(set)",
        "only with transport = \"tls\" (remove it, or set the transport)",
    );
}

#[test]
fn the_examples_commented_section_loads_and_spells_out_the_defaults() {
    let example = Config::example();
    let start = example
        .find("# [site.presence]")
        .expect("the example has a presence section");
    let section: String = example[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .filter(|l| !l.starts_with("password_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = load_with(&format!("{MINIMAL}{section}"), pw_env()).expect("loads");
    let p = c.sites[0].presence.as_ref().expect("presence");
    assert_eq!(p.maps, StatusMaps::defaults(4));
    assert_eq!(p.opt_out_upns, vec!["someone@contoso.com".to_string()]);
}

#[test]
fn calendar_is_off_unless_enabled_and_defaults_to_dnd_and_away() {
    let c = load_with(&with(""), pw_env()).expect("loads");
    assert!(c.sites[0].presence.as_ref().unwrap().calendar.is_none());
    let off = "[site.presence.calendar]\nbusy = \"away\"\n";
    let c = load_with(&with(off), pw_env()).expect("loads");
    assert!(
        c.sites[0].presence.as_ref().unwrap().calendar.is_none(),
        "enabled defaults to false"
    );
    let c = load_with(
        &with("[site.presence.calendar]\nenabled = true\n"),
        pw_env(),
    )
    .expect("loads");
    let cal = c.sites[0]
        .presence
        .as_ref()
        .unwrap()
        .calendar
        .clone()
        .expect("calendar");
    assert_eq!(cal.busy, Some(PbxState::Dnd));
    assert_eq!(cal.tentative, Some(PbxState::Dnd), "tentative follows busy");
    assert_eq!(cal.out_of_office, Some(PbxState::Away));
    assert!(!cal.calendar_wins);
    assert_eq!(cal.poll_every, std::time::Duration::from_secs(60));
}

#[test]
fn calendar_statuses_wins_and_poll_rate_as_given() {
    let section = r#"
[site.presence.calendar]
enabled = true
busy = "on_call"
tentative = "none"
out_of_office = "Offline"
calendar_wins = true
poll_seconds = 30
"#;
    let c = load_with(&with(section), pw_env()).expect("loads");
    let cal = c.sites[0]
        .presence
        .as_ref()
        .unwrap()
        .calendar
        .clone()
        .expect("calendar");
    assert_eq!(cal.busy, Some(PbxState::OnCall));
    assert_eq!(cal.tentative, None);
    assert_eq!(cal.out_of_office, Some(PbxState::Offline));
    assert!(cal.calendar_wins);
    assert_eq!(cal.poll_every, std::time::Duration::from_secs(30));
}

#[test]
fn bad_calendar_values_name_the_key() {
    let states = "one of \"dnd\", \"away\", \"on_call\", \"offline\", \"idle\" or \"none\"";
    assert_invalid(
        load_with(
            &with("[site.presence.calendar]\nenabled = true\nbusy = \"meeting\"\n"),
            pw_env(),
        ),
        "site[0].presence.calendar.busy",
        "\"meeting\"",
        states,
    );
    assert_invalid(
        load_with(
            &with("[site.presence.calendar]\nout_of_office = \"ringing\"\n"),
            pw_env(),
        ),
        "site[0].presence.calendar.out_of_office",
        "\"ringing\"",
        states,
    );
    assert_invalid(
        load_with(
            &with("[site.presence.calendar]\npoll_seconds = 1\n"),
            pw_env(),
        ),
        "site[0].presence.calendar.poll_seconds",
        "1",
        "5 to 3600 seconds between calendar reads",
    );
    match load_with(&with("[site.presence.calendar]\nwins = true\n"), pw_env()) {
        Err(ConfigError::UnknownKey { key, .. }) => {
            assert_eq!(key, "site[0].presence.calendar.wins")
        }
        other => panic!("expected an unknown key, got {other:?}"),
    }
}

#[test]
fn notifications_are_off_without_a_public_url_and_checked_when_given() {
    let c = load_with(&with(""), pw_env()).expect("loads");
    assert!(c.sites[0]
        .presence
        .as_ref()
        .expect("p")
        .notifications
        .is_none());
    let c = load_with(
        &with("[site.presence.notifications]\nreconcile_minutes = 3\n"),
        pw_env(),
    )
    .expect("loads");
    assert!(
        c.sites[0]
            .presence
            .as_ref()
            .expect("p")
            .notifications
            .is_none(),
        "no public_url: polling only"
    );
    let c = load_with(
        &with("[site.presence.notifications]\npublic_url = \"https://pbx365.example.com/\"\n"),
        pw_env(),
    )
    .expect("loads");
    let n = c.sites[0]
        .presence
        .as_ref()
        .expect("p")
        .notifications
        .clone()
        .expect("on");
    assert_eq!(n.public_url, "https://pbx365.example.com");
    assert_eq!(n.listen, "127.0.0.1:8366".parse().unwrap());
    assert_eq!(n.reconcile_every, std::time::Duration::from_secs(300));
    assert_eq!(n.reader_client_id, None);
    // Plain http only towards loopback (the emulator).
    assert!(load_with(
        &with("[site.presence.notifications]\npublic_url = \"http://127.0.0.1:9000\"\n"),
        pw_env()
    )
    .is_ok());
    assert_invalid(
        load_with(
            &with("[site.presence.notifications]\npublic_url = \"http://pbx365.example.com\"\n"),
            pw_env(),
        ),
        "site[0].presence.notifications.public_url",
        "\"http://pbx365.example.com\"",
        "the HTTPS base URL Graph posts to, e.g. \"https://pbx365.example.com\" (plain http only for a loopback emulator)",
    );
    assert_invalid(
        load_with(
            &with("[site.presence.notifications]\npublic_url = \"https://x.example\"\nreconcile_minutes = 0\n"),
            pw_env(),
        ),
        "site[0].presence.notifications.reconcile_minutes",
        "0",
        "1 to 60 minutes between reconciling rounds",
    );
}

#[test]
fn the_store_key_file_comes_from_the_file_or_the_environment() {
    let c = load(MINIMAL).expect("loads");
    assert_eq!(c.store.key_file, None);
    let c = load_with(
        MINIMAL,
        vec![("PBX365_STORE__KEY_FILE", "/etc/pbx365/store.key")],
    )
    .expect("loads");
    assert_eq!(
        c.store.key_file.as_deref(),
        Some(std::path::Path::new("/etc/pbx365/store.key"))
    );
}
