//! Certificate credentials: a client assertion (RFC 7523 JWT) signed with the private key of a
//! certificate registered on the app, found by its thumbprint (`x5t` = SHA-1 for RS256, the
//! newer `x5t#S256` = SHA-256 with PS256), checked for audience, issuer, time range and replay.

use super::errors::{EntraError, EntraResult};
use crate::jwt::{Jwt, JwtError};
use crate::model::App;
use crate::state::SimState;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew Entra tolerates on `nbf` and `exp`.
pub const SKEW_SECS: i64 = 300;

/// Longest assertion lifetime accepted (the docs ask for 5–10 minutes), beyond the skew.
pub const MAX_LIFETIME_SECS: i64 = 600;

/// A registered certificate's public key and thumbprints.
#[derive(Debug, Clone)]
pub struct RegisteredCert {
    /// The RSA public key from the certificate.
    pub key: RsaPublicKey,
    /// base64url SHA-1 of the DER (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 of the DER (`x5t#S256`).
    pub x5t_s256: String,
    /// SHA-1 of the DER.
    pub sha1: Vec<u8>,
    /// SHA-256 of the DER.
    pub sha256: Vec<u8>,
}

/// Why a registered certificate could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    /// No `-----BEGIN CERTIFICATE-----` block, or bad base64 inside.
    #[error("not a PEM certificate")]
    NotPem,
    /// The DER does not parse as an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
    /// The certificate's key is not RSA.
    #[error("the certificate's key is not an RSA key")]
    NotRsa,
}

/// Parses one PEM certificate into its key and thumbprints.
pub fn parse_certificate(pem: &str) -> Result<RegisteredCert, CertError> {
    use x509_cert::der::{Decode, Encode};
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin).ok_or(CertError::NotPem)? + begin.len();
    let stop = pem[start..].find(end).ok_or(CertError::NotPem)? + start;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(b64).map_err(|_| CertError::NotPem)?;
    let cert =
        x509_cert::Certificate::from_der(&der).map_err(|e| CertError::NotX509(e.to_string()))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CertError::NotX509(e.to_string()))?;
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| CertError::NotRsa)?;
    let sha1 = Sha1::digest(&der).to_vec();
    let sha256 = Sha256::digest(&der).to_vec();
    Ok(RegisteredCert {
        key,
        x5t: URL_SAFE_NO_PAD.encode(&sha1),
        x5t_s256: URL_SAFE_NO_PAD.encode(&sha256),
        sha1,
        sha256,
    })
}

fn header_str<'a>(jwt: &'a Jwt, name: &str) -> Option<&'a str> {
    jwt.header.get(name).and_then(Value::as_str)
}

/// Decodes a thumbprint header: base64url or base64, padded or not (MSAL pads), or hex.
fn thumbprint_bytes(value: &str) -> Option<Vec<u8>> {
    let normalized: String = value
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let from_hex = || -> Option<Vec<u8>> {
        if !value.len().is_multiple_of(2) || !value.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        (0..value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&value[i..i + 2], 16).ok())
            .collect()
    };
    match URL_SAFE_NO_PAD.decode(normalized) {
        Ok(b) if b.len() == 20 || b.len() == 32 => Some(b),
        _ => from_hex(),
    }
}

/// Finds the registered certificate the assertion's header points at (`x5t#S256`, `x5t`, or
/// a `kid` holding the SHA-1 thumbprint).
fn find_cert(app: &App, jwt: &Jwt) -> EntraResult<RegisteredCert> {
    let wanted: Vec<(&str, Vec<u8>)> = ["x5t#S256", "x5t", "kid"]
        .into_iter()
        .filter_map(|h| Some((h, thumbprint_bytes(header_str(jwt, h)?)?)))
        .collect();
    let found = app
        .certificates
        .iter()
        .filter_map(|p| parse_certificate(p).ok())
        .find(|c| {
            wanted.iter().any(|(h, b)| match *h {
                "x5t#S256" => *b == c.sha256,
                _ => *b == c.sha1,
            })
        });
    found.ok_or_else(|| {
        let shown = ["x5t#S256", "x5t", "kid"]
            .into_iter()
            .find_map(|h| header_str(jwt, h))
            .unwrap_or("");
        EntraError::invalid_client(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments#app-registration-and-token-service-root-endpoints to know more about the token service endpoints.]",
                app.client_id
            ),
        )
    })
}

fn entra_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string())
        .unwrap_or_default()
}

fn aud_matches(jwt: &Jwt, audiences: &[String]) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    let ok = |a: &str| audiences.iter().any(|x| norm(x) == norm(a));
    match jwt.claims.get("aud") {
        Some(Value::String(a)) => ok(a),
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).any(ok),
        _ => false,
    }
}

/// Verifies `assertion` as `app`'s credential: signature by a registered certificate, `iss` =
/// `sub` = client id, `aud` one of `audiences`, `nbf`/`exp` around the emulated now, `jti`
/// not seen before (remembered until its `exp`).
pub fn verify(
    state: &SimState,
    app: &App,
    assertion: &str,
    audiences: &[String],
) -> EntraResult<()> {
    let jwt = Jwt::parse(assertion).map_err(|_| {
        EntraError::bad(
            "invalid_request",
            50027,
            "JWT token is invalid or is malformed.",
        )
    })?;
    let cert = find_cert(app, &jwt)?;
    jwt.verify(&cert.key).map_err(|e| match e {
        JwtError::UnsupportedAlg(alg) => EntraError::invalid_client(
            700027,
            format!("Client assertion failed signature validation. The signing algorithm '{alg}' is not supported."),
        ),
        _ => EntraError::invalid_client(700027, "Client assertion failed signature validation."),
    })?;
    let iss = jwt.claim_str("iss").unwrap_or("");
    let sub = jwt.claim_str("sub").unwrap_or("");
    if iss != sub {
        return Err(EntraError::invalid_client(
            50048,
            "Subject mismatches Issuer claim in the client assertion.",
        ));
    }
    if !iss.eq_ignore_ascii_case(&app.client_id) {
        return Err(EntraError::invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
        ));
    }
    if !aud_matches(&jwt, audiences) {
        let aud = jwt
            .claims
            .get("aud")
            .map(Value::to_string)
            .unwrap_or_default();
        return Err(EntraError::invalid_client(
            50027,
            format!("JWT token is invalid or is malformed: the audience {aud} of the client assertion is not this tenant's token endpoint."),
        ));
    }
    let now = state.clock.unix();
    let exp = jwt.claim_i64("exp");
    let nbf = jwt.claim_i64("nbf").or_else(|| jwt.claim_i64("iat"));
    let in_range = match exp {
        Some(exp) => {
            now <= exp + SKEW_SECS
                && nbf.is_none_or(|n| n <= now + SKEW_SECS)
                && exp - now <= MAX_LIFETIME_SECS + SKEW_SECS
        }
        None => false,
    };
    if !in_range {
        return Err(EntraError::invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                entra_time(now),
                nbf.map(entra_time).unwrap_or_default(),
                exp.map(entra_time).unwrap_or_default(),
            ),
        ));
    }
    if let Some(jti) = jwt.claim_str("jti") {
        let exp = exp.unwrap_or(now) + SKEW_SECS;
        let mut entra = state.entra.lock();
        entra.used_jtis.retain(|_, until| *until >= now);
        let key = (app.client_id.clone(), jti.to_string());
        if entra.used_jtis.contains_key(&key) {
            // ⚠ Entra's exact code for a replayed assertion is not documented.
            return Err(EntraError::invalid_client(
                700027,
                format!("Client assertion failed validation: the assertion with jti '{jti}' has already been used. Create a new assertion for every token request."),
            ));
        }
        entra.used_jtis.insert(key, exp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_decode_in_every_spelling() {
        let raw: Vec<u8> = (0..20).map(|i| i * 13).collect();
        let hex: String = raw.iter().map(|b| format!("{b:02X}")).collect();
        for spelled in [
            URL_SAFE_NO_PAD.encode(&raw),
            base64::engine::general_purpose::URL_SAFE.encode(&raw),
            STANDARD.encode(&raw),
            hex.clone(),
            hex.to_ascii_lowercase(),
        ] {
            assert_eq!(
                thumbprint_bytes(&spelled).as_deref(),
                Some(raw.as_slice()),
                "{spelled}"
            );
        }
        assert_eq!(thumbprint_bytes("not a thumbprint"), None);
    }
}
