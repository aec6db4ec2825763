//! The UDP transport and the client non-INVITE transaction (RFC 3261 §17.1.2): requests are
//! retransmitted on Timer E (T1 doubling up to T2) until a final response, and given up on
//! Timer F (64·T1). Incoming requests go out through a channel for the layer above.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::header::top_via;
use crate::message::{Message, Request, Response, MAX_MESSAGE_BYTES};

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

type Pending = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>>;

/// A UDP socket talking to one SIP server, matching responses to client transactions.
#[derive(Debug)]
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    server: SocketAddr,
    timers: Timers,
    pending: Pending,
    receiver: JoinHandle<()>,
}

impl Drop for UdpTransport {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

impl UdpTransport {
    /// Binds `bind` (port 0 for any) and starts reading; incoming requests arrive on the
    /// returned receiver.
    pub async fn bind(
        bind: SocketAddr,
        server: SocketAddr,
        timers: Timers,
    ) -> std::io::Result<(UdpTransport, mpsc::Receiver<Incoming>)> {
        let socket = Arc::new(UdpSocket::bind(bind).await?);
        let local = socket.local_addr()?;
        let pending: Pending = Arc::default();
        let (tx, rx) = mpsc::channel(256);
        let receiver = tokio::spawn(receive_loop(socket.clone(), pending.clone(), tx));
        Ok((
            UdpTransport {
                socket,
                local,
                server,
                timers,
                pending,
                receiver,
            },
            rx,
        ))
    }

    /// The bound local address (goes into Via and Contact).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server every request goes to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Runs a client non-INVITE transaction: sends `req` (which must carry a Via branch),
    /// retransmits on Timer E and returns the final response, or times out on Timer F.
    pub async fn transact(&self, req: &Request) -> Result<Response, TransportError> {
        let branch = top_via(&req.headers)
            .and_then(|v| v.branch().map(str::to_string))
            .ok_or(TransportError::NoBranch)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.pending).insert(branch.clone(), tx);
        let _guard = PendingGuard {
            pending: &self.pending,
            branch,
        };
        let bytes = req.to_bytes();
        let method = req.method.to_string();
        let deadline = tokio::time::Instant::now() + self.timers.timer_f;
        let mut interval = self.timers.t1;
        self.send_bytes(&bytes, &method).await?;
        let mut next = tokio::time::Instant::now() + interval;
        loop {
            tokio::select! {
                resp = rx.recv() => match resp {
                    Some(r) if r.status >= 200 => return Ok(r),
                    // provisional: keep retransmitting at T2 (RFC 3261 §17.1.2.2)
                    Some(_) => interval = self.timers.t2,
                    None => return Err(self.timeout(method)),
                },
                _ = tokio::time::sleep_until(next) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.timeout(method));
                    }
                    self.send_bytes(&bytes, &method).await?;
                    interval = (interval * 2).min(self.timers.t2);
                    next = (tokio::time::Instant::now() + interval).min(deadline);
                }
            }
        }
    }

    fn timeout(&self, method: String) -> TransportError {
        TransportError::Timeout {
            method,
            to: self.server,
            after: self.timers.timer_f,
        }
    }

    async fn send_bytes(&self, bytes: &[u8], method: &str) -> Result<(), TransportError> {
        self.socket
            .send_to(bytes, self.server)
            .await
            .map(|_| ())
            .map_err(|source| TransportError::Send {
                method: method.to_string(),
                to: self.server,
                source,
            })
    }

    /// Sends a response (server transactions are stateless here: a retransmitted request
    /// gets the same response again from the layer above).
    pub async fn respond(&self, resp: &Response, to: SocketAddr) -> std::io::Result<()> {
        self.socket.send_to(&resp.to_bytes(), to).await.map(|_| ())
    }
}

struct PendingGuard<'a> {
    pending: &'a Pending,
    branch: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.branch);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn receive_loop(socket: Arc<UdpSocket>, pending: Pending, requests: mpsc::Sender<Incoming>) {
    let mut buf = vec![0u8; MAX_MESSAGE_BYTES + 1];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable surfaces here on Linux; keep reading
                tracing::debug!(error = %e, "SIP UDP receive error");
                continue;
            }
        };
        match Message::parse(&buf[..n]) {
            Ok(Message::Response(resp)) => {
                let branch = top_via(&resp.headers).and_then(|v| v.branch().map(str::to_string));
                let tx = branch.and_then(|b| lock(&pending).get(&b).cloned());
                match tx {
                    Some(tx) => {
                        let _ = tx.send(resp);
                    }
                    None => {
                        tracing::debug!(status = resp.status, "SIP response matches no transaction")
                    }
                }
            }
            Ok(Message::Request(request)) => {
                if requests.try_send(Incoming { request, source }).is_err() {
                    tracing::warn!("SIP request dropped: the agent is not keeping up");
                }
            }
            Err(e) => tracing::debug!(%source, error = %e, "malformed SIP datagram dropped"),
        }
    }
}
