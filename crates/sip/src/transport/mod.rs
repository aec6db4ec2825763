//! Transports to the one SIP server the agent talks to: UDP (with retransmissions), TCP and
//! TLS (with reconnection). All run the client non-INVITE transaction (Timer F) and hand
//! incoming requests to the layer above through a channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::header::top_via;
use crate::message::{Message, Request, Response};

pub mod tcp;
pub mod tls;
pub mod udp;

pub use tcp::TcpTransport;
pub use tls::{TlsError, TlsSettings};
pub use udp::UdpTransport;

/// Transaction timers; RFC 3261 defaults are T1 = 500 ms, T2 = 4 s, Timer F = 64·T1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate: first retransmission interval.
    pub t1: Duration,
    /// Longest retransmission interval.
    pub t2: Duration,
    /// Give up on a transaction with no final response after this long.
    pub timer_f: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            timer_f: Duration::from_secs(32),
        }
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket refused to send.
    #[error("could not send a SIP {method} to {to}: {source}")]
    Send {
        /// Method of the request.
        method: String,
        /// Destination.
        to: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// No final response before Timer F fired: the server is down or unreachable.
    #[error("no response to SIP {method} from {to} within {after:?}; is the SIP server running?")]
    Timeout {
        /// Method of the request.
        method: String,
        /// Destination.
        to: SocketAddr,
        /// Timer F.
        after: Duration,
    },
    /// The local socket could not be opened or bound.
    #[error("could not open the local SIP socket on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// No TCP connection to the server could be opened.
    #[error("could not connect to the SIP server at {to} over TCP: {source}")]
    Connect {
        /// The server.
        to: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The TLS handshake failed; most often the server's certificate does not chain to the
    /// configured CA or does not carry the expected name.
    #[error(
        "TLS handshake with the SIP server at {to} failed: {source}; its certificate must be \
         signed by a CA in ca_file (or a public CA without it) and name {name}"
    )]
    Tls {
        /// The server.
        to: SocketAddr,
        /// The name its certificate was checked against.
        name: String,
        /// The handshake error (rustls' reason inside).
        source: std::io::Error,
    },
    /// The TLS settings cannot be used (CA file, server name).
    #[error(transparent)]
    TlsSetup(#[from] TlsError),
    /// The TCP connection closed before the final response (the server went away).
    #[error("the TCP connection to the SIP server at {to} closed before a response")]
    Closed {
        /// The server.
        to: SocketAddr,
    },
    /// The request carries no Via branch to match responses with (a bug in the caller).
    #[error("SIP request has no Via branch parameter")]
    NoBranch,
}

/// A request received from the network, with the address it came from.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The request.
    pub request: Request,
    /// Where to send responses (the datagram's source).
    pub source: SocketAddr,
}

/// Which transport carries SIP to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportKind {
    /// UDP datagrams, retransmitted by the transaction layer.
    #[default]
    Udp,
    /// One TCP connection, opened again when it drops.
    Tcp,
    /// One TLS connection over TCP, verified and opened again when it drops
    /// (`SIP/2.0/TLS` in Via, a `sips:` Contact).
    Tls,
}

impl TransportKind {
    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
}

/// Either transport, behind one interface.
#[derive(Debug)]
pub enum Transport {
    /// UDP.
    Udp(UdpTransport),
    /// TCP or TLS.
    Tcp(TcpTransport),
}

impl Transport {
    /// Opens the transport towards `server` (`tls` applies to [`TransportKind::Tls`] only);
    /// incoming requests arrive on the receiver.
    pub async fn open(
        kind: TransportKind,
        bind: SocketAddr,
        server: SocketAddr,
        tls: &TlsSettings,
        timers: Timers,
    ) -> Result<(Transport, mpsc::Receiver<Incoming>), TransportError> {
        Ok(match kind {
            TransportKind::Udp => {
                let (t, rx) = UdpTransport::bind(bind, server, timers)
                    .await
                    .map_err(|source| TransportError::Bind { addr: bind, source })?;
                (Transport::Udp(t), rx)
            }
            TransportKind::Tcp => {
                let (t, rx) = TcpTransport::connect(bind, server, timers).await?;
                (Transport::Tcp(t), rx)
            }
            TransportKind::Tls => {
                let client = tls::TlsClient::new(tls, server)?;
                let (t, rx) = TcpTransport::connect_tls(bind, server, client, timers).await?;
                (Transport::Tcp(t), rx)
            }
        })
    }

    /// Which kind this is.
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Udp(_) => TransportKind::Udp,
            Transport::Tcp(t) if t.is_tls() => TransportKind::Tls,
            Transport::Tcp(_) => TransportKind::Tcp,
        }
    }

    /// Makes sure a connection exists (TCP reconnects here), so that [`Transport::local_addr`]
    /// is the address the next request will leave from.
    pub async fn ready(&self) -> Result<(), TransportError> {
        match self {
            Transport::Udp(_) => Ok(()),
            Transport::Tcp(t) => t.ready().await,
        }
    }

    /// The local address requests leave from (Via, Contact).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Transport::Udp(t) => t.local_addr(),
            Transport::Tcp(t) => t.local_addr(),
        }
    }

    /// Runs a client non-INVITE transaction and returns the final response.
    pub async fn transact(&self, req: &Request) -> Result<Response, TransportError> {
        match self {
            Transport::Udp(t) => t.transact(req).await,
            Transport::Tcp(t) => t.transact(req).await,
        }
    }

    /// Sends a response to a request that came from `to`.
    pub async fn respond(&self, resp: &Response, to: SocketAddr) -> std::io::Result<()> {
        match self {
            Transport::Udp(t) => t.respond(resp, to).await,
            Transport::Tcp(t) => t.respond(resp).await,
        }
    }
}

pub(crate) type Pending = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>>;

/// Removes a transaction's response route when the transaction ends.
pub(crate) struct PendingGuard<'a> {
    pub(crate) pending: &'a Pending,
    pub(crate) branch: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.branch);
    }
}

/// Locks a std mutex, ignoring poisoning (the data stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Routes a received message: responses to their transaction, requests to the channel.
pub(crate) fn dispatch(
    msg: Message,
    source: SocketAddr,
    pending: &Pending,
    requests: &mpsc::Sender<Incoming>,
) {
    match msg {
        Message::Response(resp) => {
            let branch = top_via(&resp.headers).and_then(|v| v.branch().map(str::to_string));
            let tx = branch.and_then(|b| lock(pending).get(&b).cloned());
            match tx {
                Some(tx) => {
                    let _ = tx.send(resp);
                }
                None => {
                    tracing::debug!(status = resp.status, "SIP response matches no transaction")
                }
            }
        }
        Message::Request(request) => {
            if requests.try_send(Incoming { request, source }).is_err() {
                tracing::warn!("SIP request dropped: the agent is not keeping up");
            }
        }
    }
}
