//! The server's settings: where it listens, TLS, the limits that keep one client from hurting
//! the others, and how phone numbers are written into entries.

use directory::{NumberForm, SiteId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`crate::serve`] needs besides the directory itself.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// Plain LDAP listeners (usually port 389); StartTLS is offered on them when
    /// [`LdapConfig::starttls`] is on and [`LdapConfig::tls`] is set.
    pub listen: Vec<SocketAddr>,
    /// LDAPS listeners (usually port 636); need [`LdapConfig::tls`].
    pub listen_tls: Vec<SocketAddr>,
    /// Offer the StartTLS extended operation on the plain listeners.
    pub starttls: bool,
    /// Certificate and key for LDAPS and StartTLS.
    pub tls: Option<TlsSource>,
    /// The site a client means when its bind DN (or an anonymous bind) names none. When unset
    /// and the directory serves exactly one site, that site.
    pub default_site: Option<SiteId>,
    /// Which form(s) of each number go into the phone attributes.
    pub number_form: NumberForm,
    /// Limits.
    pub limits: Limits,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            listen_tls: Vec::new(),
            starttls: true,
            tls: None,
            default_site: None,
            number_form: NumberForm::Dialable,
            limits: Limits::default(),
        }
    }
}

/// Where the TLS certificate chain and private key come from (both PEM).
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Files on disk, read once at start.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// PEM text held in memory (tests, or a secret store).
    Pem {
        /// The certificate chain, leaf first.
        cert: String,
        /// The private key.
        key: String,
    },
}

/// Bounds on what one client may ask of the server. Requests on one connection run one at a
/// time (the next is not read before the answer is written), so a client never has more than
/// one request outstanding and pipelined requests wait in its own socket buffer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections over all listeners; the next one is told "busy" and closed.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A client that does not take a response within this long is disconnected.
    pub write_timeout: Duration,
    /// The largest request message accepted, in bytes; a larger one closes the connection.
    pub max_message_bytes: usize,
    /// The deepest BER nesting accepted while decoding a request.
    pub max_ber_depth: usize,
    /// The deepest filter nesting (and/or/not levels) a search may use.
    pub max_filter_depth: usize,
    /// The most filter elements (every and/or/not and comparison counts) a search may use.
    pub max_filter_elements: usize,
    /// The most entries one search returns, whatever the client's sizeLimit.
    pub max_results: usize,
    /// The most matching entries a sorted search or a virtual list view sorts: a VLV window
    /// is cut from up to this many (a VLV over more is adminLimitExceeded), a sorted search
    /// sorts this many before the size limit applies.
    pub max_sorted: usize,
    /// The longest a search may take, whatever the client's timeLimit.
    pub max_time: Duration,
    /// Paged-results searches a connection may hold open at once; starting another drops the
    /// oldest.
    pub max_paged_searches: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            max_message_bytes: 64 * 1024,
            max_ber_depth: 32,
            max_filter_depth: 10,
            max_filter_elements: 64,
            max_results: 1000,
            max_sorted: 50_000,
            max_time: Duration::from_secs(10),
            max_paged_searches: 4,
        }
    }
}
