//! Compact JWTs: the emulator signs its tokens with RS256 (as Entra does) and verifies client
//! assertions signed RS256 (older `x5t` form) or PS256 (newer `x5t#S256` form).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15;
use rsa::pss;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// Why a JWT could not be accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// `alg` is not one this verifier accepts.
    #[error("unsupported signing algorithm '{0}'")]
    UnsupportedAlg(String),
    /// The signature does not verify against the key.
    #[error("signature validation failed")]
    BadSignature,
}

/// A parsed, not yet verified JWT.
#[derive(Debug, Clone)]
pub struct Jwt {
    /// Decoded header.
    pub header: Map<String, Value>,
    /// Decoded claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Splits and decodes a compact JWT without checking its signature.
    pub fn parse(token: &str) -> Result<Jwt, JwtError> {
        let mut parts = token.split('.');
        let (h, c, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(c), Some(s), None) => (h, c, s),
            _ => return Err(JwtError::Malformed),
        };
        let decode_obj = |p: &str| -> Result<Map<String, Value>, JwtError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .map_err(|_| JwtError::Malformed)?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(JwtError::Malformed),
            }
        };
        Ok(Jwt {
            header: decode_obj(h)?,
            claims: decode_obj(c)?,
            signing_input: format!("{h}.{c}"),
            signature: URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| JwtError::Malformed)?,
        })
    }

    /// The header's `alg`.
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric claim (seconds since the epoch for `exp`, `nbf`, `iat`).
    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }

    /// Verifies the signature with `key`, accepting RS256 and PS256.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<(), JwtError> {
        match self.alg() {
            "RS256" => {
                let vk = pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
                let sig = pkcs1v15::Signature::try_from(self.signature.as_slice())
                    .map_err(|_| JwtError::BadSignature)?;
                vk.verify(self.signing_input.as_bytes(), &sig)
                    .map_err(|_| JwtError::BadSignature)
            }
            "PS256" => {
                let vk = pss::VerifyingKey::<Sha256>::new(key.clone());
                let sig = pss::Signature::try_from(self.signature.as_slice())
                    .map_err(|_| JwtError::BadSignature)?;
                vk.verify(self.signing_input.as_bytes(), &sig)
                    .map_err(|_| JwtError::BadSignature)
            }
            other => Err(JwtError::UnsupportedAlg(other.to_string())),
        }
    }
}

/// The emulator's token-signing key and its published key id.
pub struct SigningKey {
    /// `kid` in token headers and JWKS.
    pub kid: String,
    private: RsaPrivateKey,
    signer: pkcs1v15::SigningKey<Sha256>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh 2048-bit RSA key.
    pub fn generate() -> SigningKey {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .expect("RSA key generation with the OS random source");
        Self::from_private(key)
    }

    /// Wraps an existing private key.
    pub fn from_private(private: RsaPrivateKey) -> SigningKey {
        use sha2::Digest;
        let public = private.to_public_key();
        let digest = Sha256::digest(public.n().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&digest[..12]);
        let signer = pkcs1v15::SigningKey::<Sha256>::new(private.clone());
        SigningKey {
            kid,
            private,
            signer,
        }
    }

    /// The public half.
    pub fn public(&self) -> RsaPublicKey {
        self.private.to_public_key()
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid` (and `x5t` = `kid`, as Entra does).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{h}.{c}");
        let sig = self.signer.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// The JWKS entry for this key.
    pub fn jwk(&self) -> Value {
        let public = self.public();
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        })
    }
}

/// Signs arbitrary claims with a private key and the given algorithm and extra header fields.
/// Used by tests and by `/_sim` helpers that mint client assertions.
pub fn sign_with(
    key: &RsaPrivateKey,
    alg: &str,
    extra_header: &Map<String, Value>,
    claims: &Value,
) -> Result<String, JwtError> {
    let mut header = Map::new();
    header.insert("typ".into(), "JWT".into());
    header.insert("alg".into(), alg.into());
    for (k, v) in extra_header {
        header.insert(k.clone(), v.clone());
    }
    let h = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{h}.{c}");
    let sig = match alg {
        "RS256" => pkcs1v15::SigningKey::<Sha256>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
        "PS256" => {
            use rsa::signature::RandomizedSigner;
            pss::SigningKey::<Sha256>::new(key.clone())
                .sign_with_rng(&mut rand::thread_rng(), input.as_bytes())
                .to_vec()
        }
        other => return Err(JwtError::UnsupportedAlg(other.to_string())),
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap()
    }

    #[test]
    fn rs256_and_ps256_round_trip_and_tamper_fails() {
        let k = key();
        let claims = json!({"sub": "x", "exp": 1});
        for alg in ["RS256", "PS256"] {
            let t = sign_with(&k, alg, &Map::new(), &claims).unwrap();
            let jwt = Jwt::parse(&t).unwrap();
            assert_eq!(jwt.verify(&k.to_public_key()), Ok(()));
            let other = key();
            assert_eq!(
                jwt.verify(&other.to_public_key()),
                Err(JwtError::BadSignature)
            );
        }
        assert!(Jwt::parse("a.b").is_err());
        assert!(Jwt::parse("!!.!!.!!").is_err());
    }
}
