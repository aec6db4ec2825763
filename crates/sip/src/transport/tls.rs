//! TLS settings for the stream transport (RFC 3261 §26, RFC 5922): which certificate
//! authorities the SIP server's certificate must chain to, and which name it must carry.
//! Verification is never switched off: without a CA file the public roots are used.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// How the SIP server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the CA certificates the server's certificate must chain to; `None`: the
    /// public roots (Mozilla's set, as compiled into `webpki-roots`).
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must carry, also sent as SNI; `None`: the server's IP
    /// address (the proxy address the agent is configured with, RFC 5922 §4).
    pub server_name: Option<String>,
}

/// Why TLS could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read.
    #[error("cannot read the CA file {path}: {source}")]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("the CA file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in the CA file is not a valid trust anchor.
    #[error("the CA file {path} holds a certificate that is not a usable CA: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("{0:?} is not a DNS name or IP address usable as the TLS server name")]
    ServerName(String),
    /// rustls refused the protocol settings (should not happen with its defaults).
    #[error("TLS client setup failed: {0}")]
    Setup(String),
}

/// Reads a PEM file of CA certificates into a root store; errors name the file.
pub fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadCa {
        path: path.to_owned(),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            path: path.to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| TlsError::BadCertificate {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Checks that `name` can be the TLS server name (a DNS name or an IP address).
pub fn check_server_name(name: &str) -> Result<(), TlsError> {
    ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| TlsError::ServerName(name.to_string()))
}

/// A ready TLS client for one server: connector and the name checked against its certificate.
#[derive(Clone)]
pub(crate) struct TlsClient {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .finish()
    }
}

impl TlsClient {
    /// Builds the client for `server` from the settings (reads the CA file).
    pub(crate) fn new(settings: &TlsSettings, server: SocketAddr) -> Result<TlsClient, TlsError> {
        let roots = match &settings.ca_file {
            Some(path) => load_ca_file(path)?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let name = match &settings.server_name {
            Some(n) => {
                ServerName::try_from(n.clone()).map_err(|_| TlsError::ServerName(n.clone()))?
            }
            None => ServerName::IpAddress(server.ip().into()),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The name as text, for error messages.
    pub(crate) fn name_text(&self) -> String {
        match &self.name {
            ServerName::DnsName(d) => d.as_ref().to_string(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            other => format!("{other:?}"),
        }
    }
}
