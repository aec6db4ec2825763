//! What `pbx365 serve` runs: the HTTP and LDAP listeners, how often the directory index
//! catches up with the store, and per site who may read the directory and whose fields win.
//! Raw (serde) shapes, validated models and their checks live together here.

use crate::error::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The HTTP front end's default listener: loopback only.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8360";
/// The LDAP front end's default listener: loopback, an unprivileged port.
pub const DEFAULT_LDAP_LISTEN: &str = "127.0.0.1:3389";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    #[serde(default)]
    pub allow: Vec<String>,
    pub body_limit_bytes: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub request_timeout_secs: Option<i64>,
    pub rate_per_second: Option<i64>,
    pub rate_burst: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLdap {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub ldaps_listen: Option<String>,
    pub starttls: Option<bool>,
    pub certificate_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    pub max_connections: Option<i64>,
    pub idle_timeout_secs: Option<i64>,
    pub size_limit: Option<i64>,
    pub sort_limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirectoryService {
    pub refresh_interval_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSiteDirectory {
    pub anonymous: Option<bool>,
    pub source_priority: Option<Vec<String>>,
}

/// The HTTP front end: vendor XML phonebooks, caller-ID lookup, CSV exports, REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http {
    /// Whether `serve` starts it.
    pub enabled: bool,
    /// Where it listens (loopback by default).
    pub listen: SocketAddr,
    /// Client networks allowed to connect (CIDR text as written; empty: everyone).
    pub allow: Vec<String>,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Requests served at once.
    pub max_concurrent: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Requests per second one client address may keep up (0: no rate limit).
    pub rate_per_second: u32,
    /// Requests a client may make at once after being idle.
    pub rate_burst: u32,
}

/// The LDAP front end for desk phones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ldap {
    /// Whether `serve` starts it.
    pub enabled: bool,
    /// Plain LDAP (and StartTLS) listener.
    pub listen: SocketAddr,
    /// LDAPS listener, when set (needs the certificate).
    pub ldaps_listen: Option<SocketAddr>,
    /// Whether StartTLS is offered on the plain listener (needs the certificate).
    pub starttls: bool,
    /// Certificate chain (PEM) for LDAPS and StartTLS.
    pub certificate_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub private_key_file: Option<PathBuf>,
    /// Connections served at once; more are refused.
    pub max_connections: usize,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// The most entries one search returns, whatever the client asks.
    pub size_limit: usize,
    /// The most matching entries a sorted search or a virtual list view sorts (its window is
    /// cut from them); a VLV over more is refused with adminLimitExceeded.
    pub sort_limit: usize,
}

/// How the directory index stays current.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryService {
    /// How often the index reads the store's committed changes.
    pub refresh_interval: Duration,
}

/// Who may read a site's directory and whose fields win when records merge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SiteDirectory {
    /// Whether clients without credentials may read the company phonebook and directory
    /// (some phones cannot bind). Off by default.
    pub anonymous: bool,
    /// Company sources in the order their fields win: `users`, `directory`, `company`.
    pub source_priority: Vec<String>,
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn address(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        ConfigError::invalid(
            key,
            q(value),
            "an IP address and port such as 127.0.0.1:8360 or [::1]:3389",
        )
    })
}

fn bounded(
    key: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            key,
            v.to_string(),
            format!("a whole number from {min} to {max}"),
        ))
    }
}

/// Checks an allow-list entry's shape: an address or `address/prefix` within the family's bits.
fn cidr(key: &str, value: &str) -> Result<String, ConfigError> {
    let bad = || {
        ConfigError::invalid(
            key,
            q(value),
            "an IP address (10.0.0.5) or a CIDR block (10.0.0.0/8, fd00::/8)",
        )
    };
    let (addr, prefix) = match value.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value.trim(), None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    if let Some(p) = prefix {
        let bits: u8 = p.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
    }
    Ok(value.trim().to_owned())
}

pub(crate) fn http(raw: RawHttp) -> Result<Http, ConfigError> {
    let listen = address(
        "http.listen",
        raw.listen.as_deref().unwrap_or(DEFAULT_HTTP_LISTEN),
    )?;
    let allow = raw
        .allow
        .iter()
        .enumerate()
        .map(|(i, a)| cidr(&format!("http.allow[{i}]"), a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Http {
        enabled: raw.enabled.unwrap_or(true),
        listen,
        allow,
        body_limit_bytes: bounded(
            "http.body_limit_bytes",
            raw.body_limit_bytes,
            16 * 1024,
            1024,
            16 << 20,
        )? as usize,
        max_concurrent: bounded("http.max_concurrent", raw.max_concurrent, 64, 1, 100_000)?
            as usize,
        request_timeout: Duration::from_secs(bounded(
            "http.request_timeout_secs",
            raw.request_timeout_secs,
            30,
            1,
            3600,
        )? as u64),
        rate_per_second: bounded(
            "http.rate_per_second",
            raw.rate_per_second,
            20,
            0,
            1_000_000,
        )? as u32,
        rate_burst: bounded("http.rate_burst", raw.rate_burst, 100, 1, 1_000_000)? as u32,
    })
}

pub(crate) fn ldap(raw: RawLdap, base_dir: &Path) -> Result<Ldap, ConfigError> {
    let listen = address(
        "ldap.listen",
        raw.listen.as_deref().unwrap_or(DEFAULT_LDAP_LISTEN),
    )?;
    let ldaps_listen = raw
        .ldaps_listen
        .as_deref()
        .map(|a| address("ldap.ldaps_listen", a))
        .transpose()?;
    let starttls = raw.starttls.unwrap_or(false);
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base_dir.join(p) };
    let certificate_file = raw.certificate_file.map(resolve);
    let private_key_file = raw.private_key_file.map(resolve);
    if (starttls || ldaps_listen.is_some())
        && (certificate_file.is_none() || private_key_file.is_none())
    {
        let key = if starttls {
            "ldap.starttls"
        } else {
            "ldap.ldaps_listen"
        };
        return Err(ConfigError::invalid(
            key,
            "set",
            "ldap.certificate_file and ldap.private_key_file (PEM) as well: TLS needs them",
        ));
    }
    if certificate_file.is_some() != private_key_file.is_some() {
        return Err(ConfigError::invalid(
            "ldap.private_key_file",
            if private_key_file.is_some() {
                "set"
            } else {
                "(not set)"
            },
            "both ldap.certificate_file and ldap.private_key_file, or neither",
        ));
    }
    Ok(Ldap {
        enabled: raw.enabled.unwrap_or(true),
        listen,
        ldaps_listen,
        starttls,
        certificate_file,
        private_key_file,
        max_connections: bounded("ldap.max_connections", raw.max_connections, 256, 1, 100_000)?
            as usize,
        idle_timeout: Duration::from_secs(bounded(
            "ldap.idle_timeout_secs",
            raw.idle_timeout_secs,
            300,
            1,
            86_400,
        )? as u64),
        size_limit: bounded("ldap.size_limit", raw.size_limit, 1000, 1, 1_000_000)? as usize,
        sort_limit: bounded("ldap.sort_limit", raw.sort_limit, 50_000, 1, 1_000_000)? as usize,
    })
}

pub(crate) fn directory_service(raw: RawDirectoryService) -> Result<DirectoryService, ConfigError> {
    Ok(DirectoryService {
        refresh_interval: Duration::from_secs(bounded(
            "directory.refresh_interval_secs",
            raw.refresh_interval_secs,
            10,
            1,
            3600,
        )? as u64),
    })
}

pub(crate) fn site_directory(p: &str, raw: RawSiteDirectory) -> Result<SiteDirectory, ConfigError> {
    let source_priority = raw
        .source_priority
        .unwrap_or_else(|| vec!["users".into(), "directory".into(), "company".into()]);
    let mut seen = Vec::new();
    for (i, s) in source_priority.iter().enumerate() {
        let name = s.trim().to_ascii_lowercase();
        if !["users", "directory", "company"].contains(&name.as_str()) || seen.contains(&name) {
            return Err(ConfigError::invalid(
                format!("{p}.directory.source_priority[{i}]"),
                q(s),
                "users, directory or company, each at most once",
            ));
        }
        seen.push(name);
    }
    Ok(SiteDirectory {
        anonymous: raw.anonymous.unwrap_or(false),
        source_priority: seen,
    })
}
