//! The user-agent core: builds requests as one account (From, Via, Contact, CSeq),
//! answers digest challenges (401/407) and returns the final response.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::digest::{authorization, Challenge, Credentials, DigestError};
use crate::message::{Method, Request, Response};
use crate::transport::{Incoming, Timers, TlsSettings, Transport, TransportError, TransportKind};

/// Errors of SIP requests.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// The request got no response, or could not be sent.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The local socket could not be opened.
    #[error("could not open the local SIP socket on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server challenged the answer to its own fresh challenge: wrong user or password.
    #[error("the SIP server rejected the credentials of {user:?} for {method} (status {status}); check the account's password")]
    AuthRejected {
        /// Authentication user.
        user: String,
        /// Method of the request.
        method: String,
        /// 401 or 407.
        status: u16,
    },
    /// The server's challenge cannot be answered.
    #[error("cannot answer the SIP server's challenge: {0}")]
    Digest(#[from] DigestError),
    /// A final non-2xx response this layer does not handle itself.
    #[error("SIP {method} for {target} refused: {status} {reason}")]
    Rejected {
        /// Method of the request.
        method: String,
        /// Request target.
        target: String,
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// Seconds the server's `Retry-After` asked to wait before trying again (RFC 3261
        /// §20.33; sent with 500, 503, 404, 413, 480, 486, 600, 603), if it gave one.
        retry_after: Option<u32>,
    },
    /// A 2xx response lacks what the method requires (e.g. PUBLISH without SIP-ETag).
    #[error("SIP {method} response is missing {what}")]
    Protocol {
        /// Method of the request.
        method: String,
        /// What is missing.
        what: &'static str,
    },
    /// The agent has shut down.
    #[error("the SIP presence agent has stopped")]
    Stopped,
    /// The extension cannot be the user part of a SIP URI as given.
    #[error("extension {0:?} is not usable in a SIP URI (allowed: letters, digits, - _ . + *)")]
    InvalidExtension(String),
    /// The account name or domain cannot go into SIP headers as given.
    #[error("invalid SIP configuration: {0}")]
    InvalidConfig(String),
    /// `refresh` was asked for an extension the agent does not publish.
    #[error("the agent publishes nothing for extension {0:?}")]
    NotPublished(String),
}

impl SipError {
    /// The status code of a rejected request, if the server answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            SipError::Rejected { status, .. } | SipError::AuthRejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Where and as whom a user agent talks SIP.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// The SIP server (registrar/presence server); every request goes there.
    pub server: SocketAddr,
    /// Domain of the AORs and the digest realm (`sip:user@domain`).
    pub domain: String,
    /// The account the agent authenticates as.
    pub credentials: Credentials,
    /// Local address to bind (port 0 for any). Its IP goes into Via and Contact, where the
    /// server sends NOTIFYs, so it must be the address the server reaches us on.
    pub bind: SocketAddr,
    /// Transaction timers.
    pub timers: Timers,
    /// UDP, TCP or TLS.
    pub transport: TransportKind,
    /// How the server's certificate is verified when `transport` is TLS.
    pub tls: TlsSettings,
}

/// The request series of one dialog or publication: identifiers and the next CSeq.
#[derive(Debug, Clone)]
pub struct CallLeg {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From).
    pub local_tag: String,
    /// To header value (with the remote tag once the dialog exists).
    pub to: String,
    /// Request-URI (the remote target inside a dialog).
    pub uri: String,
    /// Route set (from Record-Route of the 2xx, reversed).
    pub route: Vec<String>,
    /// CSeq of the last request sent.
    pub cseq: u32,
}

impl CallLeg {
    /// A new leg towards `aor` with a fresh Call-ID and tag.
    pub fn new(aor: &str) -> CallLeg {
        CallLeg {
            call_id: format!("{}@pbx365", random_hex()),
            local_tag: random_hex(),
            to: format!("<{aor}>"),
            uri: aor.to_string(),
            route: Vec::new(),
            cseq: 0,
        }
    }
}

/// Whether `ext` can go into a SIP URI and header unescaped: letters, digits, `- _ . + *`.
/// Anything else (spaces, CR/LF, `@`, `;`, `<`) could change the message's meaning.
pub fn valid_extension(ext: &str) -> bool {
    !ext.is_empty()
        && ext.len() <= 64
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+*".contains(&b))
}

/// Whether `host` is a plausible host name, IPv4 or bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// A random token for Call-IDs, tags, branches and client nonces.
pub fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

struct CachedAuth {
    challenge: Challenge,
    proxy: bool,
    nc: u32,
}

/// One SIP account on one socket.
pub struct UserAgent {
    transport: Transport,
    config: UaConfig,
    auth: Mutex<Option<CachedAuth>>,
}

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("local", &self.transport.local_addr())
            .field("server", &self.config.server)
            .field("user", &self.config.credentials.username)
            .finish()
    }
}

impl UserAgent {
    /// Opens the socket; incoming requests arrive on the receiver.
    pub async fn new(config: UaConfig) -> Result<(UserAgent, mpsc::Receiver<Incoming>), SipError> {
        if !valid_extension(&config.credentials.username) {
            return Err(SipError::InvalidConfig(format!(
                "user name {:?} may hold only letters, digits, - _ . + *",
                config.credentials.username
            )));
        }
        if config.bind.ip().is_unspecified() {
            return Err(SipError::InvalidConfig(format!(
                "bind address {} is unspecified; use the address the SIP server reaches us on",
                config.bind
            )));
        }
        if !valid_host(&config.domain) {
            return Err(SipError::InvalidConfig(format!(
                "domain {:?} is not a host name or IP address",
                config.domain
            )));
        }
        let (transport, rx) = Transport::open(
            config.transport,
            config.bind,
            config.server,
            &config.tls,
            config.timers,
        )
        .await
        .map_err(|e| match e {
            TransportError::Bind { addr, source } => SipError::Bind { addr, source },
            other => SipError::Transport(other),
        })?;
        Ok((
            UserAgent {
                transport,
                config,
                auth: Mutex::new(None),
            },
            rx,
        ))
    }

    /// `sip:user@domain` (the user is not checked; see [`valid_extension`]).
    pub fn aor(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.config.domain)
    }

    /// The local socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    /// Sends a request on `leg` (incrementing its CSeq), answering one digest challenge,
    /// and returns the final response whatever its status.
    pub async fn request(
        &self,
        leg: &mut CallLeg,
        method: Method,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, SipError> {
        let mut fresh = false;
        let mut reconnected = false;
        let mut last_status = 407;
        // bounded: a server answering stale=true forever must not keep us looping
        for _ in 0..4 {
            leg.cseq += 1;
            self.transport.ready().await?;
            let mut req = self.build(leg, &method, headers, body);
            if let Some((name, value)) = self.auth_header(&method, &leg.uri) {
                req.headers.push(name, value);
            }
            let resp = match self.transport.transact(&req).await {
                // the connection died under the request (server restarted): once more
                // on a new connection, with Via and Contact of that connection
                Err(TransportError::Closed { .. }) if !reconnected => {
                    reconnected = true;
                    continue;
                }
                other => other?,
            };
            if resp.status != 401 && resp.status != 407 {
                return Ok(resp);
            }
            last_status = resp.status;
            let header = if resp.status == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            let challenge = Challenge::parse(resp.headers.get(header).unwrap_or_default())?;
            if fresh && !challenge.stale {
                return Err(SipError::AuthRejected {
                    user: self.config.credentials.username.clone(),
                    method: method.to_string(),
                    status: resp.status,
                });
            }
            fresh = true;
            *crate::transport::lock(&self.auth) = Some(CachedAuth {
                challenge,
                proxy: resp.status == 407,
                nc: 0,
            });
        }
        Err(SipError::AuthRejected {
            user: self.config.credentials.username.clone(),
            method: method.to_string(),
            status: last_status,
        })
    }

    fn auth_header(&self, method: &Method, uri: &str) -> Option<(&'static str, String)> {
        let mut guard = crate::transport::lock(&self.auth);
        let cached = guard.as_mut()?;
        cached.nc += 1;
        let value = authorization(
            &self.config.credentials,
            &cached.challenge,
            method.as_str(),
            uri,
            cached.nc,
            &random_hex(),
        );
        let name = if cached.proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        Some((name, value))
    }

    fn build(
        &self,
        leg: &CallLeg,
        method: &Method,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Request {
        let local = self.transport.local_addr();
        let user = &self.config.credentials.username;
        let mut req = Request::new(method.clone(), leg.uri.clone());
        let h = &mut req.headers;
        let kind = self.transport.kind();
        h.push(
            "Via",
            format!(
                "SIP/2.0/{} {local};rport;branch=z9hG4bK{}",
                kind.via_token(),
                random_hex()
            ),
        );
        h.push("Max-Forwards", "70");
        for r in &leg.route {
            h.push("Route", r.clone());
        }
        h.push(
            "From",
            format!("<{}>;tag={}", self.aor(user), leg.local_tag),
        );
        h.push("To", leg.to.clone());
        h.push("Call-ID", leg.call_id.clone());
        h.push("CSeq", format!("{} {method}", leg.cseq));
        let contact = match kind {
            TransportKind::Udp => format!("<sip:{user}@{local}>"),
            TransportKind::Tcp => format!("<sip:{user}@{local};transport=tcp>"),
            // RFC 3261 §26.2.2: a SIPS Contact asks for TLS on every hop back to us
            TransportKind::Tls => format!("<sips:{user}@{local}>"),
        };
        h.push("Contact", contact);
        h.push("User-Agent", "pbx365");
        for (n, v) in headers {
            h.push(n, v.clone());
        }
        if let Some((content_type, bytes)) = body {
            h.push("Content-Type", content_type);
            req.body = bytes.to_vec();
        }
        req
    }

    /// Sends a response to a received request.
    pub async fn respond(&self, resp: &Response, to: SocketAddr) {
        if let Err(e) = self.transport.respond(resp, to).await {
            tracing::debug!(error = %e, %to, "could not send SIP response");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in ["127.0.0.1", "pbx.example.com", "[::1]"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["", "pbx example", "a\r\nb", "x@y", "a;b"] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn extensions_that_could_inject_are_refused() {
        for ok in ["alice", "1001", "+4930123", "ext_7.b*"] {
            assert!(valid_extension(ok), "{ok}");
        }
        for bad in [
            "",
            "al ice",
            "a\r\nVia: x",
            "a@b",
            "a;b",
            "<a>",
            &"x".repeat(65),
        ] {
            assert!(!valid_extension(bad), "{bad:?}");
        }
    }
}
