//! TCP: one connection to the server, opened again on the next request after it drops
//! (e.g. the server restarted). No retransmissions (the stream is reliable); Timer F still
//! bounds the wait for a final response. The server sends its requests (NOTIFY) over the
//! same connection, addressed to the Contact carrying the connection's local port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::{dispatch, lock, Incoming, Pending, PendingGuard, Timers, TransportError};
use crate::header::top_via;
use crate::message::{Message, Request, Response};

struct Conn {
    writer: OwnedWriteHalf,
    alive: Arc<Alive>,
    reader: JoinHandle<()>,
}

/// Whether a connection still stands, and a wake-up for transactions waiting on it.
#[derive(Default)]
struct Alive {
    closed: AtomicBool,
    notify: Notify,
}

impl Alive {
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.notify.notify_waiters();
    }

    fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A TCP connection to one SIP server, matching responses to client transactions.
pub struct TcpTransport {
    bind: SocketAddr,
    server: SocketAddr,
    timers: Timers,
    pending: Pending,
    requests: mpsc::Sender<Incoming>,
    local: Mutex<SocketAddr>,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("local", &self.local_addr())
            .field("server", &self.server)
            .finish()
    }
}

impl TcpTransport {
    /// Connects to `server` from `bind` (port 0 for any); incoming requests arrive on the
    /// returned receiver.
    pub async fn connect(
        bind: SocketAddr,
        server: SocketAddr,
        timers: Timers,
    ) -> std::io::Result<(TcpTransport, mpsc::Receiver<Incoming>)> {
        let (requests, rx) = mpsc::channel(256);
        let t = TcpTransport {
            bind,
            server,
            timers,
            pending: Pending::default(),
            requests,
            local: Mutex::new(bind),
            conn: tokio::sync::Mutex::new(None),
        };
        let conn = t.open().await?;
        *t.conn.lock().await = Some(conn);
        Ok((t, rx))
    }

    async fn open(&self) -> std::io::Result<Conn> {
        let socket = if self.server.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(self.bind)?;
        let stream = socket.connect(self.server).await?;
        stream.set_nodelay(true)?;
        *lock(&self.local) = stream.local_addr()?;
        let (reader, writer) = stream.into_split();
        let alive = Arc::new(Alive::default());
        let reader = tokio::spawn(read_loop(
            reader,
            self.server,
            self.pending.clone(),
            self.requests.clone(),
            alive.clone(),
        ));
        Ok(Conn {
            writer,
            alive,
            reader,
        })
    }

    /// Opens a new connection if the last one dropped.
    pub async fn ready(&self) -> Result<(), TransportError> {
        let mut conn = self.conn.lock().await;
        if conn.as_ref().is_some_and(|c| c.alive.is_open()) {
            return Ok(());
        }
        *conn = None;
        let c = self
            .open()
            .await
            .map_err(|source| TransportError::Connect {
                to: self.server,
                source,
            })?;
        *conn = Some(c);
        Ok(())
    }

    /// The local address of the current connection.
    pub fn local_addr(&self) -> SocketAddr {
        *lock(&self.local)
    }

    /// Writes to the current connection; returns its liveness for the caller to watch.
    async fn send(&self, bytes: &[u8], method: &str) -> Result<Arc<Alive>, TransportError> {
        let mut conn = self.conn.lock().await;
        let result = match conn.as_mut() {
            Some(c) => c.writer.write_all(bytes).await.map(|_| c.alive.clone()),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        };
        result.map_err(|source| {
            // the next request reconnects
            *conn = None;
            TransportError::Send {
                method: method.to_string(),
                to: self.server,
                source,
            }
        })
    }

    /// Runs a client non-INVITE transaction over the connection.
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
        let method = req.method.to_string();
        let alive = self.send(&req.to_bytes(), &method).await?;
        let closed = alive.notify.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        let deadline = tokio::time::Instant::now() + self.timers.timer_f;
        loop {
            if !alive.is_open() {
                return Err(TransportError::Closed { to: self.server });
            }
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) if r.status >= 200 => return Ok(r),
                    Some(_) => continue,
                    None => return Err(TransportError::Closed { to: self.server }),
                },
                _ = &mut closed => return Err(TransportError::Closed { to: self.server }),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(TransportError::Timeout {
                        method,
                        to: self.server,
                        after: self.timers.timer_f,
                    })
                }
            }
        }
    }

    /// Sends a response over the connection.
    pub async fn respond(&self, resp: &Response) -> std::io::Result<()> {
        self.send(&resp.to_bytes(), "response")
            .await
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

async fn read_loop(
    mut reader: OwnedReadHalf,
    server: SocketAddr,
    pending: Pending,
    requests: mpsc::Sender<Incoming>,
    alive: Arc<Alive>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match Message::parse_stream(&buf) {
                Ok(Some((msg, used))) => {
                    buf.drain(..used);
                    dispatch(msg, server, &pending, &requests);
                }
                Ok(None) => break,
                Err(e) => {
                    // a stream cannot resynchronise after a framing error: drop it
                    tracing::warn!(error = %e, "malformed SIP on TCP; closing the connection");
                    alive.close();
                    return;
                }
            }
        }
    }
    tracing::debug!(%server, "SIP TCP connection closed");
    alive.close();
}
