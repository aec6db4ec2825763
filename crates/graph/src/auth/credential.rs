//! App credentials, with secrets that never show in logs or `Debug` output.

use super::assertion::AssertionAlg;
use std::fmt;

/// A secret value (client secret, private key, token). `Debug` and `Display` print
/// `[redacted]`; [`Secret::expose`] is the only way to the value.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the app proves who it is to Entra.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret (its *Value*, not its Secret ID).
    Secret(Secret),
    /// A certificate registered on the app and its private key (PEM, PKCS#8 or PKCS#1);
    /// the token request carries a signed `client_assertion`.
    Certificate {
        /// The certificate, PEM.
        cert_pem: String,
        /// Its RSA private key, PEM.
        key_pem: Secret,
        /// Signature algorithm of the assertion.
        alg: AssertionAlg,
    },
}
