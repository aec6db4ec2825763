//! Loading the TLS certificate and key for LDAPS and StartTLS.

use crate::config::TlsSource;
use crate::server::ServeError;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

fn read(path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", path.display())))
}

/// Builds the rustls server configuration from PEM certificate chain and key.
pub(crate) fn server_config(source: &TlsSource) -> Result<Arc<ServerConfig>, ServeError> {
    let (cert_pem, key_pem, what) = match source {
        TlsSource::Files { cert, key } => (
            read(cert)?,
            read(key)?,
            format!("{} / {}", cert.display(), key.display()),
        ),
        TlsSource::Pem { cert, key } => (
            cert.as_bytes().to_vec(),
            key.as_bytes().to_vec(),
            "in-memory PEM".to_owned(),
        ),
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(format!("{what}: certificate PEM unreadable: {e}")))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{what}: no CERTIFICATE block found; give the PEM certificate chain, leaf first"
        )));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| ServeError::Tls(format!("{what}: private key PEM unreadable: {e}")))?
        .ok_or_else(|| {
            ServeError::Tls(format!(
                "{what}: no PRIVATE KEY block found; give a PKCS#8, PKCS#1 or SEC1 PEM key"
            ))
        })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(format!("{what}: certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}
