//! `[http]`, `[ldap]`, `[directory]` and `[site.directory]`: what `pbx365 serve` runs.

use crate::{assert_invalid, load, load_with, minimal_with, MINIMAL};
use std::time::Duration;

#[test]
fn listeners_default_to_loopback_and_anonymous_is_off() {
    let c = load(MINIMAL).expect("loads");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8360");
    assert!(c.http.enabled && c.ldap.enabled);
    assert_eq!(c.ldap.listen.to_string(), "127.0.0.1:3389");
    assert_eq!(c.ldap.ldaps_listen, None);
    assert!(!c.ldap.starttls);
    assert_eq!(c.directory.refresh_interval, Duration::from_secs(10));
    assert!(!c.sites[0].directory.anonymous);
    assert_eq!(
        c.sites[0].directory.source_priority,
        ["users", "directory", "company"]
    );
}

#[test]
fn sections_are_read_and_environment_overrides_them() {
    let text = format!(
        "{MINIMAL}\n[site.directory]\nanonymous = true\nsource_priority = [\"Directory\", \"users\"]\n\n\
         [http]\nlisten = \"0.0.0.0:8080\"\nallow = [\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.7\"]\n\
         rate_per_second = 0\n\n[ldap]\nenabled = false\n\n[directory]\nrefresh_interval_secs = 3\n"
    );
    let env = [("PBX365_LDAP__MAX_CONNECTIONS", "12")];
    let c = load_with(&text, env).expect("loads");
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.http.allow, ["10.0.0.0/8", "fd00::/8", "192.0.2.7"]);
    assert_eq!(c.http.rate_per_second, 0);
    assert!(!c.ldap.enabled);
    assert_eq!(c.ldap.max_connections, 12);
    assert_eq!(c.directory.refresh_interval, Duration::from_secs(3));
    assert!(c.sites[0].directory.anonymous);
    assert_eq!(c.sites[0].directory.source_priority, ["directory", "users"]);
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    assert_invalid(
        load(&format!("{MINIMAL}\n[http]\nlisten = \"localhost\"\n")),
        "http.listen",
        "\"localhost\"",
        "an IP address and port such as 127.0.0.1:8360 or [::1]:3389",
    );
    assert_invalid(
        load(&format!("{MINIMAL}\n[http]\nallow = [\"10.0.0.0/33\"]\n")),
        "http.allow[0]",
        "\"10.0.0.0/33\"",
        "an IP address (10.0.0.5) or a CIDR block (10.0.0.0/8, fd00::/8)",
    );
    assert_invalid(
        load(&format!("{MINIMAL}\n[http]\nmax_concurrent = 0\n")),
        "http.max_concurrent",
        "0",
        "a whole number from 1 to 100000",
    );
    assert_invalid(
        load(&format!("{MINIMAL}\n[ldap]\nstarttls = true\n")),
        "ldap.starttls",
        "set",
        "ldap.certificate_file and ldap.private_key_file (PEM) as well: TLS needs them",
    );
    assert_invalid(
        load(&minimal_with(
            "[site.tenant]",
            "[site.directory]\nsource_priority = [\"users\", \"users\"]\n\n[site.tenant]",
        )),
        "site[0].directory.source_priority[1]",
        "\"users\"",
        "users, directory or company, each at most once",
    );
    let err = load(&format!("{MINIMAL}\n[ldap]\nport = 389\n")).unwrap_err();
    assert!(
        err.to_string().starts_with("unknown key ldap.port"),
        "{err}"
    );
}
