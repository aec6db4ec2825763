//! UDP: the client non-INVITE transaction retransmits on Timer E (T1 doubling up to T2)
//! until a final response and gives up on Timer F (RFC 3261 §17.1.2).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{dispatch, lock, Incoming, Pending, PendingGuard, Timers, TransportError};
use crate::header::top_via;
use crate::message::{Message, Request, Response, MAX_MESSAGE_BYTES};

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
            Ok(msg) => dispatch(msg, source, &pending, &requests),
            Err(e) => tracing::debug!(%source, error = %e, "malformed SIP datagram dropped"),
        }
    }
}
