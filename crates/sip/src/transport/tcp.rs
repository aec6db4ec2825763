//! TCP and TLS: one connection to the server, opened again on the next request after it
//! drops (e.g. the server restarted). No retransmissions (the stream is reliable); Timer F
//! still bounds the wait for a final response. The server sends its requests (NOTIFY) over
//! the same connection, addressed to the Contact carrying the connection's local port.
//! With TLS every connection is verified afresh (certificate chain and name).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::tls::TlsClient;
use super::{dispatch, lock, Incoming, Pending, PendingGuard, Timers, TransportError};
use crate::header::top_via;
use crate::message::{Message, Request, Response};

struct Conn {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
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

/// A TCP (or TLS over TCP) connection to one SIP server, matching responses to client
/// transactions.
pub struct TcpTransport {
    bind: SocketAddr,
    server: SocketAddr,
    tls: Option<TlsClient>,
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
            .field("tls", &self.tls)
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
    ) -> Result<(TcpTransport, mpsc::Receiver<Incoming>), TransportError> {
        TcpTransport::start(bind, server, None, timers).await
    }

    /// Connects to `server` over TLS, verifying its certificate as `tls` says.
    pub(crate) async fn connect_tls(
        bind: SocketAddr,
        server: SocketAddr,
        tls: TlsClient,
        timers: Timers,
    ) -> Result<(TcpTransport, mpsc::Receiver<Incoming>), TransportError> {
        TcpTransport::start(bind, server, Some(tls), timers).await
    }

    async fn start(
        bind: SocketAddr,
        server: SocketAddr,
        tls: Option<TlsClient>,
        timers: Timers,
    ) -> Result<(TcpTransport, mpsc::Receiver<Incoming>), TransportError> {
        let (requests, rx) = mpsc::channel(256);
        let t = TcpTransport {
            bind,
            server,
            tls,
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

    /// Whether this carries TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    async fn open(&self) -> Result<Conn, TransportError> {
        let connect_error = |source| TransportError::Connect {
            to: self.server,
            source,
        };
        let socket = if self.server.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|source| TransportError::Bind {
            addr: self.bind,
            source,
        })?;
        socket
            .bind(self.bind)
            .map_err(|source| TransportError::Bind {
                addr: self.bind,
                source,
            })?;
        // bounded: a black-holed server must not hold the connection lock forever
        let limit = self.timers.timer_f;
        let timed_out = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no {what} within {limit:?}"),
            )
        };
        let stream = tokio::time::timeout(limit, socket.connect(self.server))
            .await
            .unwrap_or_else(|_| Err(timed_out("connection")))
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let local = stream.local_addr().map_err(connect_error)?;
        let alive = Arc::new(Alive::default());
        let spawn_reader = |reader| {
            tokio::spawn(read_loop(
                reader,
                self.server,
                self.pending.clone(),
                self.requests.clone(),
                alive.clone(),
            ))
        };
        let (reader, writer): (JoinHandle<()>, Box<dyn AsyncWrite + Send + Unpin>) = match &self.tls
        {
            None => {
                let (r, w) = stream.into_split();
                (spawn_reader(Box::new(r)), Box::new(w))
            }
            Some(tls) => {
                let handshake = tls.connector.connect(tls.name.clone(), stream);
                let stream = tokio::time::timeout(limit, handshake)
                    .await
                    .unwrap_or_else(|_| Err(timed_out("TLS handshake answer")))
                    .map_err(|source| TransportError::Tls {
                        to: self.server,
                        name: tls.name_text(),
                        source,
                    })?;
                let (r, w) = tokio::io::split(stream);
                (spawn_reader(Box::new(r)), Box::new(w))
            }
        };
        *lock(&self.local) = local;
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
        *conn = Some(self.open().await?);
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
            Some(c) => match c.writer.write_all(bytes).await {
                // TLS buffers records until flushed
                Ok(()) => c.writer.flush().await.map(|_| c.alive.clone()),
                Err(e) => Err(e),
            },
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
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
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
                    tracing::warn!(error = %e, "malformed SIP on a stream; closing the connection");
                    alive.close();
                    return;
                }
            }
        }
    }
    tracing::debug!(%server, "SIP stream connection closed");
    alive.close();
}
