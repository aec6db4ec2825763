//! pbx365-ldap's integration tests: a fixed fake directory behind the real server, driven by
//! real clients — OpenLDAP's `ldapsearch`, Python's `ldap3`, the `ldap3` Rust crate, and raw TCP with hand-made and
//! broken requests.

mod fake;
mod ldapsearch;
mod python;
mod raw;
mod rust_client;

use fake::Fake;
use pbx365_ldap::{serve, LdapConfig, ServerHandle, TlsSource};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running server over a fresh [`Fake`].
pub struct Server {
    pub fake: Arc<Fake>,
    pub plain: SocketAddr,
    pub tls: Option<SocketAddr>,
    /// The self-signed certificate the server uses, as a CA file for clients.
    pub ca: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<ServerHandle>,
}

impl Server {
    /// Shuts down and waits until every connection is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), h.stopped())
                .await
                .expect("server stops within 10 s");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A fresh path under the temp directory, unique to this process and call.
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("pbx365-ldap-{}-{n}-{name}", std::process::id()))
}

/// Starts a server on 127.0.0.1 port 0 (plain and LDAPS, StartTLS on) after `tweak` adjusts the
/// configuration.
pub async fn start(tweak: impl FnOnce(&mut LdapConfig)) -> Server {
    start_with(Fake::new(), tweak).await
}

/// Like [`start`], over a given fake.
pub async fn start_with(fake: Fake, tweak: impl FnOnce(&mut LdapConfig)) -> Server {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    let ca = temp_path("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).expect("write CA file");
    let mut config = LdapConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        listen_tls: vec!["127.0.0.1:0".parse().unwrap()],
        starttls: true,
        tls: Some(TlsSource::Pem {
            cert: cert.cert.pem(),
            key: cert.key_pair.serialize_pem(),
        }),
        ..LdapConfig::default()
    };
    tweak(&mut config);
    let fake = Arc::new(fake);
    let (tx, rx) = oneshot::channel();
    let handle = serve(config, fake.clone(), async {
        let _ = rx.await;
    })
    .await
    .expect("server starts");
    Server {
        fake,
        plain: handle.plain_addrs()[0],
        tls: handle.tls_addrs().first().copied(),
        ca,
        stop: Some(tx),
        handle: Some(handle),
    }
}

#[tokio::test]
async fn config_errors_are_clear() {
    let fake: Arc<dyn directory::DirectoryService> = Arc::new(Fake::new());
    let none = serve(LdapConfig::default(), fake.clone(), async {}).await;
    assert!(none.unwrap_err().to_string().contains("no listen address"));
    let tls_without_cert = LdapConfig {
        listen_tls: vec!["127.0.0.1:0".parse().unwrap()],
        ..LdapConfig::default()
    };
    let e = serve(tls_without_cert, fake.clone(), async {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("need a TLS certificate"), "{e}");
    let bad_files = LdapConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        tls: Some(TlsSource::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        }),
        ..LdapConfig::default()
    };
    let e = serve(bad_files, fake.clone(), async {}).await.unwrap_err();
    assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    let garbage = LdapConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        tls: Some(TlsSource::Pem {
            cert: "not a pem".into(),
            key: "nor this".into(),
        }),
        ..LdapConfig::default()
    };
    let e = serve(garbage, fake.clone(), async {}).await.unwrap_err();
    assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
    // An address in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = LdapConfig {
        listen: vec![taken.local_addr().unwrap()],
        ..LdapConfig::default()
    };
    let e = serve(in_use, fake, async {}).await.unwrap_err();
    assert!(e.to_string().contains("cannot listen on"), "{e}");
}
