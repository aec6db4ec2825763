//! Listening: binds the plain and LDAPS sockets, enforces the connection limit, and hands each
//! accepted client to its own task until shutdown.

use crate::config::LdapConfig;
use crate::conn::{self, Io, Shared};
use crate::tls;
use directory::DirectoryService;
use ldap3_proto::proto::LdapResultCode;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listen address could not be bound (in use, no permission for ports below 1024).
    #[error(
        "cannot listen on {addr}: {source}; pick a free address or run with the right to bind it"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS certificate or key is missing or unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The configuration contradicts itself (LDAPS listeners without a certificate, no
    /// listener at all).
    #[error("LDAP configuration: {0}")]
    Config(String),
}

/// A running server: where it listens, and a way to wait for it to finish after shutdown.
#[derive(Debug)]
pub struct ServerHandle {
    plain: Vec<SocketAddr>,
    tls: Vec<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound plain-LDAP addresses (with the real port when 0 was asked for).
    pub fn plain_addrs(&self) -> &[SocketAddr] {
        &self.plain
    }

    /// The bound LDAPS addresses.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls
    }

    /// Waits until the server has stopped (after the shutdown future completed and every
    /// connection closed).
    pub async fn stopped(self) {
        // A panicking connection task is contained by the JoinSet; nothing to report here.
        let _ = self.task.await;
    }
}

/// Starts serving `service` over LDAP as `config` says, until `shutdown` completes. Returns
/// once every listener is bound.
pub async fn serve(
    config: LdapConfig,
    service: Arc<dyn DirectoryService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ServerHandle, ServeError> {
    if config.listen.is_empty() && config.listen_tls.is_empty() {
        return Err(ServeError::Config(
            "no listen address: set at least one plain or LDAPS address".into(),
        ));
    }
    let acceptor = match &config.tls {
        Some(source) => Some(TlsAcceptor::from(tls::server_config(source)?)),
        None if !config.listen_tls.is_empty() => {
            return Err(ServeError::Config(
                "LDAPS listeners need a TLS certificate and key".into(),
            ))
        }
        None => None,
    };
    let mut listeners = Vec::new();
    let (mut plain, mut tls_addrs) = (Vec::new(), Vec::new());
    for (addrs, is_tls) in [(&config.listen, false), (&config.listen_tls, true)] {
        for addr in addrs {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: *addr,
                    source,
                })?;
            let local = l.local_addr().map_err(|source| ServeError::Bind {
                addr: *addr,
                source,
            })?;
            if is_tls {
                tls_addrs.push(local);
            } else {
                plain.push(local);
            }
            listeners.push((l, is_tls));
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(shared(&config, service, acceptor));
    let task = tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        for (l, is_tls) in listeners {
            tasks.spawn(accept_loop(l, is_tls, shared.clone(), stop_rx.clone()));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
    });
    Ok(ServerHandle {
        plain,
        tls: tls_addrs,
        task,
    })
}

/// What the connections of a server share.
pub(crate) fn shared(
    config: &LdapConfig,
    service: Arc<dyn DirectoryService>,
    acceptor: Option<TlsAcceptor>,
) -> Shared {
    Shared {
        limits: config.limits.clone(),
        starttls: config.starttls && acceptor.is_some(),
        acceptor,
        default_site: config.default_site.clone(),
        number_form: config.number_form,
        service,
        slots: Arc::new(Semaphore::new(config.limits.max_connections)),
    }
}

async fn accept_loop(
    listener: TcpListener,
    is_tls: bool,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "LDAP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "LDAP connection limit reached; refusing");
            let write_timeout = shared.limits.write_timeout;
            conns.spawn(async move {
                conn::refuse(
                    stream,
                    LdapResultCode::Busy,
                    "too many connections",
                    write_timeout,
                )
                .await;
            });
            continue;
        };
        let shared = shared.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            match open(stream, is_tls, &shared).await {
                Some(io) => conn::run(shared, io, is_tls, stop).await,
                None => tracing::debug!(%peer, "LDAPS handshake failed"),
            }
        });
    }
    while conns.join_next().await.is_some() {}
}

async fn open(stream: TcpStream, is_tls: bool, shared: &Shared) -> Option<Box<dyn Io>> {
    if !is_tls {
        return Some(Box::new(stream));
    }
    let acceptor = shared.acceptor.as_ref()?;
    let tls = tokio::time::timeout(shared.limits.idle_timeout, acceptor.accept(stream))
        .await
        .ok()?
        .ok()?;
    Some(Box::new(tls))
}
