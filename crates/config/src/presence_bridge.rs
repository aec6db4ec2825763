//! `[site.presence]`: the presence bridge between Teams and the PBX — the SIP presence server
//! and bridge account, the status maps (checked for loops at load), keep-alive, poll rate and
//! the users who opt out.

use crate::error::ConfigError;
use crate::secret::{read_secret_file, Secret};
use presence::maps::pbx_state_name;
use presence::{CalendarRules, PollRate, RawMaps, StatusMaps};
use serde::Deserialize;
use sip::PbxState;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// The file's `[site.presence]` table as serde sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPresence {
    pub enabled: Option<bool>,
    pub sip_server: Option<String>,
    pub sip_domain: Option<String>,
    pub transport: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password: Option<String>,
    pub keepalive_minutes: Option<i64>,
    pub poll_requests_per_30s: Option<i64>,
    pub poll_seconds: Option<i64>,
    pub teams_writes_in_flight: Option<i64>,
    #[serde(default)]
    pub opt_out: Vec<String>,
    pub status_file: Option<PathBuf>,
    pub maps: Option<RawMaps>,
    pub calendar: Option<RawCalendar>,
    pub notifications: Option<RawNotifications>,
}

/// `[site.presence.notifications]` as serde sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifications {
    pub public_url: Option<String>,
    pub listen: Option<String>,
    pub reader_client_id: Option<String>,
    pub reconcile_minutes: Option<i64>,
}

/// Teams presence by change notification (`[site.presence.notifications]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceNotifications {
    /// The public base URL Graph posts to (HTTPS, the reverse proxy in front of `listen`);
    /// `/graph/notifications` and `/graph/lifecycle` are appended.
    pub public_url: String,
    /// Where `presence run` listens for those posts (plain HTTP, loopback by default).
    pub listen: SocketAddr,
    /// The public-client app the presence reader accounts sign in to by device code (default:
    /// the site's app, which then needs "Allow public client flows").
    pub reader_client_id: Option<Uuid>,
    /// A reconciling `getPresencesByUserId` round of every user at least this often.
    pub reconcile_every: Duration,
}

/// The default listen address of the notification receiver.
pub const DEFAULT_NOTIFICATIONS_LISTEN: &str = "127.0.0.1:8366";

/// `[site.presence.calendar]` as serde sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalendar {
    pub enabled: Option<bool>,
    pub busy: Option<String>,
    pub tentative: Option<String>,
    pub out_of_office: Option<String>,
    pub calendar_wins: Option<bool>,
    pub poll_seconds: Option<i64>,
}

/// How the bridge reaches the SIP presence server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipTransport {
    /// UDP (the default).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP, the server's certificate verified as the settings say.
    Tls(sip::transport::TlsSettings),
}

/// The validated presence bridge settings of a site.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PresenceBridge {
    /// Whether the bridge runs for this site.
    pub enabled: bool,
    /// The presence server (Kamailio, the PBX), `IP:port`.
    pub sip_server: SocketAddr,
    /// The SIP domain (and digest realm) of the extensions.
    pub sip_domain: String,
    /// UDP, TCP or TLS (with its certificate settings).
    pub transport: SipTransport,
    /// The bridge's SIP account (the one allowed to publish for every extension).
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// The checked status maps (defaults when `[site.presence.maps]` is absent).
    pub maps: StatusMaps,
    /// How often the bridge renews its Teams sessions (also in `maps`).
    pub keepalive_minutes: u32,
    /// `getPresencesByUserId` requests allowed per 30 seconds.
    pub poll_rate: PollRate,
    /// How often a poll round starts.
    pub poll_every: Duration,
    /// Teams writes (`setPresence`/`clearPresence`) in flight at once (per user one at a
    /// time, in order).
    pub writes_in_flight: usize,
    /// Users (lower-case UPNs) whose presence is not bridged.
    pub opt_out_upns: Vec<String>,
    /// Users (Entra object ids) whose presence is not bridged.
    pub opt_out_ids: Vec<Uuid>,
    /// Where the bridge writes its status snapshot (`pbx365 presence status` reads it).
    pub status_file: PathBuf,
    /// Outlook calendar → PBX status (`[site.presence.calendar]`); `None` when not enabled.
    pub calendar: Option<CalendarRules>,
    /// Teams presence by change notification; `None` (no `public_url`): polling only.
    pub notifications: Option<PresenceNotifications>,
}

impl PresenceBridge {
    /// Whether the user with this id or UPN opted out.
    pub fn opted_out(&self, user_id: &str, upn: Option<&str>) -> bool {
        self.opt_out_ids
            .iter()
            .any(|id| id.to_string().eq_ignore_ascii_case(user_id))
            || upn.is_some_and(|u| self.opt_out_upns.iter().any(|o| o.eq_ignore_ascii_case(u)))
    }
}

/// For each `[[site]]`, whether the file itself holds `presence.password` (only the
/// environment may).
pub(crate) fn passwords_in_file(table: &toml::Table) -> Vec<bool> {
    let Some(toml::Value::Array(sites)) = table.get("site") else {
        return Vec::new();
    };
    sites
        .iter()
        .map(|s| s.get("presence").and_then(|t| t.get("password")).is_some())
        .collect()
}

fn invalid(key: String, value: impl Into<String>, expected: impl Into<String>) -> ConfigError {
    ConfigError::invalid(key, value, expected)
}

/// Validates `[site.presence]` (`p` is `site[i]`); `password_in_file` says the file itself
/// holds `password` (only the environment may); relative paths are taken from `base_dir`.
pub(crate) fn validate(
    p: &str,
    i: usize,
    raw: RawPresence,
    password_in_file: bool,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<PresenceBridge, ConfigError> {
    let p = format!("{p}.presence");
    let resolve = |f: &Path| {
        if f.is_absolute() {
            f.to_owned()
        } else {
            base_dir.join(f)
        }
    };
    let required = |v: Option<String>, key: &str, what: &str| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid(format!("{p}.{key}"), "(not set)", what.to_owned()))
    };
    let server_text = required(
        raw.sip_server,
        "sip_server",
        "the presence server as IP:port, e.g. \"192.0.2.10:5060\"",
    )?;
    let sip_server: SocketAddr = server_text.trim().parse().map_err(|_| {
        invalid(
            format!("{p}.sip_server"),
            format!("{server_text:?}"),
            "an IP address and port, e.g. \"192.0.2.10:5060\" (host names are not resolved)",
        )
    })?;
    let sip_domain = required(
        raw.sip_domain,
        "sip_domain",
        "the SIP domain of the extensions, e.g. \"pbx.example.com\"",
    )?;
    if !sip_domain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err(invalid(
            format!("{p}.sip_domain"),
            format!("{sip_domain:?}"),
            "a host name or IP address",
        ));
    }
    let tls_keys_set = [
        ("ca_file", raw.ca_file.is_some()),
        ("tls_server_name", raw.tls_server_name.is_some()),
    ];
    let transport = match raw.transport.as_deref().unwrap_or("udp") {
        "udp" => SipTransport::Udp,
        "tcp" => SipTransport::Tcp,
        "tls" => {
            let ca_file = match raw.ca_file {
                None => None,
                Some(f) => {
                    let path = resolve(&f);
                    sip::transport::tls::load_ca_file(&path).map_err(|e| {
                        invalid(
                            format!("{p}.ca_file"),
                            format!("{:?}", f.display().to_string()),
                            format!("a PEM file of the CA certificates that sign the SIP server's ({e})"),
                        )
                    })?;
                    Some(path)
                }
            };
            let server_name = match raw.tls_server_name {
                None => None,
                Some(n) => {
                    sip::transport::tls::check_server_name(&n).map_err(|_| {
                        invalid(
                            format!("{p}.tls_server_name"),
                            format!("{n:?}"),
                            "the DNS name or IP address the SIP server's certificate carries",
                        )
                    })?;
                    Some(n)
                }
            };
            SipTransport::Tls(sip::transport::TlsSettings {
                ca_file,
                server_name,
            })
        }
        other => {
            return Err(invalid(
                format!("{p}.transport"),
                format!("{other:?}"),
                "\"udp\", \"tcp\" or \"tls\"",
            ))
        }
    };
    if !matches!(transport, SipTransport::Tls(_)) {
        for (key, set) in tls_keys_set {
            if set {
                return Err(invalid(
                    format!("{p}.{key}"),
                    "(set)",
                    "only with transport = \"tls\" (remove it, or set the transport)",
                ));
            }
        }
    }
    let username = required(raw.username, "username", "the bridge's SIP account name")?;
    if !sip::ua::valid_extension(&username) {
        return Err(invalid(
            format!("{p}.username"),
            format!("{username:?}"),
            "letters, digits and - _ . + * only",
        ));
    }
    if password_in_file {
        return Err(invalid(
            format!("{p}.password"),
            "[redacted]",
            format!(
                "no password in the file: use password_file = \"PATH\" or the variable \
                 PBX365_SITE__{i}__PRESENCE__PASSWORD"
            ),
        ));
    }
    let password = match (raw.password_file, raw.password) {
        (Some(file), None) => {
            let key = format!("{p}.password_file");
            let (secret, warning) = read_secret_file(&key, &resolve(&file))?;
            warnings.extend(warning);
            secret
        }
        (None, Some(pw)) if !pw.is_empty() => Secret::new(pw),
        (None, Some(_)) => {
            return Err(invalid(
                format!("{p}.password"),
                "\"\"",
                "the bridge account's password (it is empty)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                p.clone(),
                "password_file and password",
                "one of password_file or the PBX365_SITE__N__PRESENCE__PASSWORD variable",
            ))
        }
        (None, None) => {
            return Err(invalid(
                format!("{p}.password_file"),
                "(not set)",
                format!(
                    "the file holding the bridge account's password, or the variable \
                     PBX365_SITE__{i}__PRESENCE__PASSWORD"
                ),
            ))
        }
    };
    let keepalive_minutes = match raw.keepalive_minutes.unwrap_or(4) {
        m @ 1..=60 => m as u32,
        m => {
            return Err(invalid(
                format!("{p}.keepalive_minutes"),
                m.to_string(),
                "1 to 60 minutes (4 keeps an Available session from fading at 5)",
            ))
        }
    };
    let per_30s = raw
        .poll_requests_per_30s
        .unwrap_or(i64::from(PollRate::DEFAULT.per_30s()));
    let poll_rate = u32::try_from(per_30s)
        .map_err(|_| String::new())
        .and_then(PollRate::new)
        .map_err(|_| {
            invalid(
                format!("{p}.poll_requests_per_30s"),
                per_30s.to_string(),
                format!(
                    "1 to {} requests per 30 seconds (Graph's presence limit)",
                    presence::teams_side::GRAPH_PRESENCE_LIMIT_PER_30S
                ),
            )
        })?;
    let poll_every = match raw.poll_seconds.unwrap_or(10) {
        s @ 1..=3600 => Duration::from_secs(s as u64),
        s => {
            return Err(invalid(
                format!("{p}.poll_seconds"),
                s.to_string(),
                "1 to 3600 seconds between poll rounds",
            ))
        }
    };
    let writes_in_flight = match raw
        .teams_writes_in_flight
        .unwrap_or(presence::DEFAULT_WRITES_IN_FLIGHT as i64)
    {
        n @ 1..=64 => n as usize,
        n => {
            return Err(invalid(
                format!("{p}.teams_writes_in_flight"),
                n.to_string(),
                "1 to 64 Teams writes in flight at once",
            ))
        }
    };
    let maps = match &raw.maps {
        None => StatusMaps::defaults(keepalive_minutes),
        Some(m) => StatusMaps::from_raw(m, keepalive_minutes).map_err(|e| {
            invalid(
                format!("{p}.maps"),
                "(the maps given)",
                format!("status maps that pass the check: {e}"),
            )
        })?,
    };
    let mut opt_out_upns = Vec::new();
    let mut opt_out_ids = Vec::new();
    for (n, o) in raw.opt_out.iter().enumerate() {
        let o = o.trim();
        if let Ok(id) = Uuid::parse_str(o) {
            opt_out_ids.push(id);
        } else if o.contains('@') && !o.starts_with('@') && !o.ends_with('@') {
            opt_out_upns.push(o.to_ascii_lowercase());
        } else {
            return Err(invalid(
                format!("{p}.opt_out[{n}]"),
                format!("{o:?}"),
                "a user principal name (ann@contoso.com) or an Entra object id (GUID)",
            ));
        }
    }
    opt_out_upns.sort();
    opt_out_upns.dedup();
    let status_file = resolve(
        raw.status_file
            .as_deref()
            .unwrap_or(Path::new("presence-status.json")),
    );
    let notifications = match raw.notifications {
        Some(n) => validate_notifications(&p, n)?,
        None => None,
    };
    let calendar = match raw.calendar {
        Some(c) => validate_calendar(&p, c)?,
        None => None,
    };
    Ok(PresenceBridge {
        enabled: raw.enabled.unwrap_or(true),
        sip_server,
        sip_domain,
        transport,
        username,
        password,
        maps,
        keepalive_minutes,
        poll_rate,
        poll_every,
        writes_in_flight,
        opt_out_upns,
        opt_out_ids,
        status_file,
        calendar,
        notifications,
    })
}

/// Validates `[site.presence.notifications]`; `None` without `public_url` (polling only).
fn validate_notifications(
    p: &str,
    raw: RawNotifications,
) -> Result<Option<PresenceNotifications>, ConfigError> {
    let Some(url) = raw.public_url.filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let url = url.trim().trim_end_matches('/').to_owned();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit_once(':')
        .map_or(rest.split('/').next().unwrap_or(""), |(h, _)| h);
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let ok = !host.is_empty() && (scheme == "https" || (scheme == "http" && loopback));
    if !ok || url.contains(['?', '#']) {
        return Err(invalid(
            format!("{p}.notifications.public_url"),
            format!("{url:?}"),
            "the HTTPS base URL Graph posts to, e.g. \"https://pbx365.example.com\" (plain http only for a loopback emulator)",
        ));
    }
    let listen_text = raw
        .listen
        .unwrap_or_else(|| DEFAULT_NOTIFICATIONS_LISTEN.to_owned());
    let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
        invalid(
            format!("{p}.notifications.listen"),
            format!("{listen_text:?}"),
            "an IP address and port, e.g. \"127.0.0.1:8366\"",
        )
    })?;
    let reader_client_id = match raw.reader_client_id {
        Some(id) => Some(Uuid::parse_str(id.trim()).map_err(|_| {
            invalid(
                format!("{p}.notifications.reader_client_id"),
                format!("{id:?}"),
                "the application (client) id, a GUID",
            )
        })?),
        None => None,
    };
    let minutes = raw.reconcile_minutes.unwrap_or(5);
    if !(1..=60).contains(&minutes) {
        return Err(invalid(
            format!("{p}.notifications.reconcile_minutes"),
            minutes.to_string(),
            "1 to 60 minutes between reconciling rounds",
        ));
    }
    Ok(Some(PresenceNotifications {
        public_url: url,
        listen,
        reader_client_id,
        reconcile_every: Duration::from_secs(minutes as u64 * 60),
    }))
}

/// The PBX states a calendar may set, as the file spells them.
const CALENDAR_STATES: &str =
    "one of \"dnd\", \"away\", \"on_call\", \"offline\", \"idle\" or \"none\"";

/// Reads a calendar status key: a PBX state name, or `none` for "sets nothing".
fn calendar_status(
    p: &str,
    key: &str,
    value: Option<String>,
    default: Option<PbxState>,
) -> Result<Option<PbxState>, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let wanted = text.trim().to_ascii_lowercase();
    if wanted == "none" {
        return Ok(None);
    }
    [
        PbxState::Dnd,
        PbxState::Away,
        PbxState::OnCall,
        PbxState::Offline,
        PbxState::Idle,
    ]
    .into_iter()
    .find(|s| pbx_state_name(*s) == wanted)
    .map(Some)
    .ok_or_else(|| {
        invalid(
            format!("{p}.calendar.{key}"),
            format!("{text:?}"),
            CALENDAR_STATES,
        )
    })
}

/// Validates `[site.presence.calendar]` (`p` is `site[i].presence`); `None` when disabled.
fn validate_calendar(p: &str, raw: RawCalendar) -> Result<Option<CalendarRules>, ConfigError> {
    let defaults = CalendarRules::default();
    let busy = calendar_status(p, "busy", raw.busy, defaults.busy)?;
    let rules = CalendarRules {
        busy,
        tentative: calendar_status(p, "tentative", raw.tentative, busy)?,
        out_of_office: calendar_status(
            p,
            "out_of_office",
            raw.out_of_office,
            defaults.out_of_office,
        )?,
        calendar_wins: raw.calendar_wins.unwrap_or(false),
        poll_every: match raw.poll_seconds {
            None => defaults.poll_every,
            Some(s @ 5..=3600) => Duration::from_secs(s as u64),
            Some(s) => {
                return Err(invalid(
                    format!("{p}.calendar.poll_seconds"),
                    s.to_string(),
                    "5 to 3600 seconds between calendar reads",
                ))
            }
        },
    };
    Ok(raw.enabled.unwrap_or(false).then_some(rules))
}
