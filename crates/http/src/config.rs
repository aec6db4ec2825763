//! [`HttpConfig`]: where the HTTP front end listens, who may reach it and how much they may ask,
//! plus the few presentation settings (number form, default site, page sizes).

use directory::{NumberForm, SiteId};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// The port pbx365 listens on for HTTP unless configured otherwise.
pub const DEFAULT_PORT: u16 = 8360;

/// Everything the HTTP front end needs to know besides the directory it serves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; loopback by default so nothing is exposed until the operator says so.
    pub listen: SocketAddr,
    /// Clients allowed to connect; empty means every address. Others get 403.
    pub allow: Vec<Cidr>,
    /// Largest request body accepted (Snom's POST); larger bodies get 413.
    pub body_limit: usize,
    /// Requests served at once; more get 503 at once instead of queueing without bound.
    pub concurrency_limit: usize,
    /// Longest a request may take before it is answered 503 (a slow directory must not hold
    /// connections and concurrency slots forever).
    pub request_timeout: Duration,
    /// Per-client-address request rate; `None` disables it. Excess requests get 429.
    pub rate_limit: Option<RateLimit>,
    /// Which form(s) of a number phonebooks and exports show.
    pub number_form: NumberForm,
    /// The site served at paths without a `/sites/{site}` prefix; `None` answers 404 there.
    pub default_site: Option<SiteId>,
    /// Entries per page of a vendor phonebook when the client asks for no size (and the
    /// vendor has no smaller limit of its own).
    pub page_size: usize,
    /// The most entries one response (phonebook, export, API page) ever holds.
    pub max_entries: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            allow: Vec::new(),
            body_limit: 16 * 1024,
            concurrency_limit: 64,
            request_timeout: Duration::from_secs(30),
            rate_limit: Some(RateLimit {
                per_second: 20,
                burst: 100,
            }),
            number_form: NumberForm::Dialable,
            default_site: None,
            page_size: 500,
            max_entries: 10_000,
        }
    }
}

impl HttpConfig {
    /// Checks the settings that would make the server useless or unsafe, naming the one to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit == 0 {
            return Err(ConfigError::Zero("body_limit"));
        }
        if self.concurrency_limit == 0 {
            return Err(ConfigError::Zero("concurrency_limit"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Zero("request_timeout"));
        }
        if self.page_size == 0 {
            return Err(ConfigError::Zero("page_size"));
        }
        if self.max_entries == 0 {
            return Err(ConfigError::Zero("max_entries"));
        }
        if let Some(rate) = &self.rate_limit {
            if rate.per_second == 0 || rate.burst == 0 {
                return Err(ConfigError::Zero("rate_limit (per_second and burst)"));
            }
        }
        Ok(())
    }

    /// True when `ip` may connect under the allow-list.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(ip))
    }
}

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second a client may keep up.
    pub per_second: u32,
    /// Requests a client may make at once after being idle.
    pub burst: u32,
}

/// Why an [`HttpConfig`] or one of its values is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit that must be at least 1 is 0.
    #[error("http setting {0} must be at least 1")]
    Zero(&'static str),
    /// An allow-list entry is not an address or `address/prefix`.
    #[error("allow-list entry {0:?} is not an IP network: write an address (10.0.0.5) or a CIDR block (10.0.0.0/8, fd00::/8)")]
    Cidr(String),
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a single address), as the
/// allow-list holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A network from an address and prefix length; `None` when the prefix is longer than the
    /// address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// True when `ip` lies in the network. An IPv4 network also matches the IPv4-mapped IPv6
    /// form of its addresses (what a dual-stack listener reports).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(
                u32::from(net) as u128,
                u32::from(ip) as u128,
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, ip: u128, prefix: u8, bits: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (net >> shift) == (ip >> shift)
}

impl FromStr for Cidr {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::Cidr(s.to_owned());
        let text = s.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Self::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let one: Cidr = "192.168.1.5".parse().unwrap();
        assert!(one.contains(ip("192.168.1.5")));
        assert!(!one.contains(ip("192.168.1.6")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn bad_cidrs_are_named() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "host", "::/129", "1.2.3.4/x", ""] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert_eq!(err, ConfigError::Cidr(bad.to_owned()));
            assert!(err.to_string().contains("CIDR"));
        }
    }

    #[test]
    fn validation_names_the_setting() {
        let config = HttpConfig {
            concurrency_limit: 0,
            ..HttpConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::Zero("concurrency_limit"))
        );
        assert!(HttpConfig::default().validate().is_ok());
        assert!(HttpConfig::default().listen.ip().is_loopback());
    }
}
