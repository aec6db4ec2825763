//! The certificate credential's `client_assertion`: a JWT signed with the app's private key,
//! naming the certificate by thumbprint (`x5t` SHA-1 for RS256, `x5t#S256` for PS256).

use crate::error::AuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::json;
use sha1::Digest;
use std::fmt;

/// How the assertion is signed. Entra's older documents name RS256 with `x5t`, the 2025 one
/// PS256 with `x5t#S256`; both are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256; header `x5t` = base64url SHA-1 of the certificate.
    #[default]
    Rs256,
    /// RSASSA-PSS with SHA-256; header `x5t#S256` = base64url SHA-256 of the certificate.
    Ps256,
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text.
fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let len = pem[start..].find(END)?;
    let b64: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|der| !der.is_empty())
}

/// A parsed certificate (DER) and its RSA private key, ready to sign assertions.
#[derive(Clone)]
pub struct CertificateKey {
    der: Vec<u8>,
    key: RsaPrivateKey,
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateKey(x5t {}, key [redacted])", self.x5t())
    }
}

impl CertificateKey {
    /// Reads the first certificate of `cert_pem` and an RSA key (PKCS#8 or PKCS#1 PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CertificateKey, AuthError> {
        let der = first_certificate_der(cert_pem).ok_or_else(|| {
            AuthError::local(
                "invalid_credential",
                "the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
            )
        })?;
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|_| {
                AuthError::local(
                    "invalid_credential",
                    "the private key is not an RSA key in PEM (PKCS#8 or PKCS#1)",
                )
            })?;
        Ok(CertificateKey { der, key })
    }

    /// base64url SHA-1 thumbprint of the certificate (`x5t`).
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&self.der))
    }

    /// base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.der))
    }

    /// A signed assertion for `client_id` towards `audience` (the token endpoint), valid
    /// from `now` for ten minutes.
    pub fn assertion(
        &self,
        alg: AssertionAlg,
        client_id: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let (alg_name, thumb) = match alg {
            AssertionAlg::Rs256 => ("RS256", json!({ "x5t": self.x5t() })),
            AssertionAlg::Ps256 => ("PS256", json!({ "x5t#S256": self.x5t_s256() })),
        };
        let mut header = json!({ "alg": alg_name, "typ": "JWT" });
        if let (Some(h), Some(t)) = (header.as_object_mut(), thumb.as_object()) {
            h.extend(t.clone());
        }
        let now = now.timestamp();
        let claims = json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now, "iat": now, "exp": now + 600,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match alg {
            AssertionAlg::Rs256 => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone())
                .try_sign(input.as_bytes())
                .map(|s| s.to_vec()),
            AssertionAlg::Ps256 => rsa::pss::SigningKey::<sha2::Sha256>::new(self.key.clone())
                .try_sign_with_rng(&mut rand::thread_rng(), input.as_bytes())
                .map(|s| s.to_vec()),
        }
        .map_err(|e| AuthError::local("invalid_credential", format!("signing failed: {e}")))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks() {
        assert_eq!(first_certificate_der("no certificate here"), None);
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n";
        assert_eq!(first_certificate_der(pem), Some(vec![1, 2, 3, 4]));
        assert!(CertificateKey::from_pem(pem, "not a key").is_err());
    }
}
