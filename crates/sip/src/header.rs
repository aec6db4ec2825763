//! Grammar of the header values this crate reads: name-addr (`From`, `To`, `Contact`),
//! `Via`, SIP URIs, parameters, and `Subscription-State`.

use std::net::SocketAddr;

use crate::message::ParseError;

/// `;name=value` parameters in order; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// Reads `;a=b;c` (the leading `;` optional).
    pub fn parse(s: &str) -> Params {
        Params(
            s.split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((n, v)) => (n.trim().to_string(), Some(unquote(v.trim()))),
                    None => (p.to_string(), None),
                })
                .collect(),
        )
    }

    /// The value of `name` (`Some("")`-like flags give `None`; use [`Params::has`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether `name` is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

/// Splits a header value into its comma-separated elements, ignoring commas inside
/// quotes and angle brackets (`Via: a, b` or `Contact: <x>, <y>`).
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// A `name-addr` or `addr-spec` with header parameters: `"Bob" <sip:bob@h>;tag=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, if any.
    pub display: Option<String>,
    /// The URI inside the brackets.
    pub uri: String,
    /// Parameters after the URI (e.g. `tag`, `expires`).
    pub params: Params,
}

impl NameAddr {
    /// Reads a name-addr; errors name the header as `From/To/Contact`.
    pub fn parse(value: &str) -> Result<NameAddr, ParseError> {
        let bad = || ParseError::BadHeaderValue {
            name: "From/To/Contact",
            value: value.to_string(),
        };
        let v = value.trim();
        if let Some(lt) = v.find('<') {
            let gt = v[lt..].find('>').ok_or_else(bad)? + lt;
            let display = v[..lt].trim();
            let display = (!display.is_empty()).then(|| unquote(display));
            let uri = v[lt + 1..gt].trim();
            if uri.is_empty() {
                return Err(bad());
            }
            Ok(NameAddr {
                display,
                uri: uri.to_string(),
                params: Params::parse(&v[gt + 1..]),
            })
        } else {
            // addr-spec: parameters after the URI belong to the header
            let (uri, params) = v.split_once(';').unwrap_or((v, ""));
            if uri.is_empty() || uri.contains(' ') {
                return Err(bad());
            }
            Ok(NameAddr {
                display: None,
                uri: uri.to_string(),
                params: Params::parse(params),
            })
        }
    }

    /// The `tag` parameter (dialog identification, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }
}

/// One `Via` entry: `SIP/2.0/UDP host:port;branch=z9hG4bK…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport, upper case (`UDP`, `TCP`, `TLS`).
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (`branch`, `received`, `rport`).
    pub params: Params,
}

impl Via {
    /// Reads one Via element (not a comma-separated list).
    pub fn parse(value: &str) -> Result<Via, ParseError> {
        let bad = || ParseError::BadHeaderValue {
            name: "Via",
            value: value.to_string(),
        };
        let (proto, rest) = value
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(bad)?;
        let transport = proto
            .strip_prefix("SIP/2.0/")
            .filter(|t| !t.is_empty())
            .ok_or_else(bad)?
            .to_ascii_uppercase();
        let (sent_by, params) = rest.trim().split_once(';').unwrap_or((rest.trim(), ""));
        let (host, port) = split_host_port(sent_by.trim()).ok_or_else(bad)?;
        Ok(Via {
            transport,
            host,
            port,
            params: Params::parse(params),
        })
    }

    /// The transaction identifier (RFC 3261 §17.2.3).
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }
}

/// The top-most Via of a message (first element of the first Via line).
pub fn top_via(headers: &crate::message::Headers) -> Option<Via> {
    let first = headers.get("Via")?;
    Via::parse(split_list(first).first()?).ok()
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((format!("[{host}]"), port));
    }
    match s.split_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_string(), Some(p.parse().ok()?))),
        Some(_) => None,
        None => Some((s.to_string(), None)),
    }
}

/// A `sip:` or `sips:` URI, split into the parts a UA needs to route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`.
    pub scheme: String,
    /// User part, if any.
    pub user: Option<String>,
    /// Host (IPv6 in brackets).
    pub host: String,
    /// Port, if written.
    pub port: Option<u16>,
    /// URI parameters (`transport`, `lr`…).
    pub params: Params,
}

impl SipUri {
    /// Reads a SIP URI; headers after `?` are ignored.
    pub fn parse(s: &str) -> Result<SipUri, ParseError> {
        let bad = || ParseError::BadHeaderValue {
            name: "SIP URI",
            value: s.to_string(),
        };
        let (scheme, rest) = s.trim().split_once(':').ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Err(bad());
        }
        let rest = rest.split('?').next().unwrap_or_default();
        let (userhost, params) = rest.split_once(';').unwrap_or((rest, ""));
        let (user, hostport) = match userhost.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_string()), h),
            None => (None, userhost),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(bad)?;
        Ok(SipUri {
            scheme,
            user,
            host,
            port,
            params: Params::parse(params),
        })
    }

    /// The socket address if the host is an IP literal.
    pub fn socket_addr(&self, default_port: u16) -> Option<SocketAddr> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, self.port.unwrap_or(default_port)))
    }
}

/// `Subscription-State` (RFC 6665 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Accepted; `expires` seconds left, if stated.
    Active {
        /// Seconds the subscription still lasts.
        expires: Option<u32>,
    },
    /// Awaiting authorisation; `expires` seconds left, if stated.
    Pending {
        /// Seconds the subscription still lasts.
        expires: Option<u32>,
    },
    /// Ended by the notifier.
    Terminated {
        /// Why (`deactivated`, `timeout`, `rejected`, `noresource`, …).
        reason: Option<String>,
        /// Seconds to wait before subscribing again, if stated.
        retry_after: Option<u32>,
    },
}

impl SubscriptionState {
    /// Reads the header value.
    pub fn parse(value: &str) -> Result<SubscriptionState, ParseError> {
        let (state, params) = value.split_once(';').unwrap_or((value, ""));
        let params = Params::parse(params);
        let num = |n: &str| params.get(n).and_then(|v| v.parse::<u32>().ok());
        match state.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(SubscriptionState::Active {
                expires: num("expires"),
            }),
            "pending" => Ok(SubscriptionState::Pending {
                expires: num("expires"),
            }),
            "terminated" => Ok(SubscriptionState::Terminated {
                reason: params.get("reason").map(str::to_ascii_lowercase),
                retry_after: num("retry-after"),
            }),
            _ => Err(ParseError::BadHeaderValue {
                name: "Subscription-State",
                value: value.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            "\"Alice \\\"A\\\"\" <sip:alice@127.0.0.1;transport=udp>;tag=x1;expires=60",
        )
        .expect("parse");
        assert_eq!(n.display.as_deref(), Some("Alice \"A\""));
        assert_eq!(n.uri, "sip:alice@127.0.0.1;transport=udp");
        assert_eq!((n.tag(), n.params.get("expires")), (Some("x1"), Some("60")));
        let n = NameAddr::parse("sip:bob@h;tag=9").expect("addr-spec");
        assert_eq!((n.uri.as_str(), n.tag()), ("sip:bob@h", Some("9")));
        assert!(NameAddr::parse("<>").is_err());
        assert!(NameAddr::parse("<sip:a@h").is_err());
        assert!(NameAddr::parse("").is_err());
    }

    #[test]
    fn sip_uri_and_via() {
        let u = SipUri::parse("sip:watcher@127.0.0.1:40000;transport=udp").expect("uri");
        assert_eq!(u.user.as_deref(), Some("watcher"));
        assert_eq!(
            u.socket_addr(5060),
            Some("127.0.0.1:40000".parse().expect("addr"))
        );
        let u = SipUri::parse("sips:[::1]").expect("v6");
        assert_eq!(
            u.socket_addr(5061),
            Some("[::1]:5061".parse().expect("addr"))
        );
        assert!(SipUri::parse("http://x").is_err());
        assert!(SipUri::parse("sip:h:notaport").is_err());
        let v =
            Via::parse("SIP/2.0/udp 127.0.0.1:5090;rport=4000;received=10.0.0.1;branch=z9hG4bKa")
                .expect("via");
        assert_eq!(
            (v.transport.as_str(), v.params.get("rport")),
            ("UDP", Some("4000"))
        );
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("HTTP/1.1 h").is_err());
        assert_eq!(
            split_list("<sip:a,b@h>, \"x, y\" <sip:c@h>"),
            vec!["<sip:a,b@h>", "\"x, y\" <sip:c@h>"]
        );
    }

    #[test]
    fn subscription_state() {
        assert_eq!(
            SubscriptionState::parse("active;expires=600"),
            Ok(SubscriptionState::Active { expires: Some(600) })
        );
        assert_eq!(
            SubscriptionState::parse("terminated;reason=timeout;retry-after=5"),
            Ok(SubscriptionState::Terminated {
                reason: Some("timeout".into()),
                retry_after: Some(5)
            })
        );
        assert_eq!(
            SubscriptionState::parse("Pending"),
            Ok(SubscriptionState::Pending { expires: None })
        );
        assert!(SubscriptionState::parse("gone").is_err());
    }
}
