//! Opaque tokens (`$skiptoken`, `$deltatoken`): serialised state, base64url, with a keyed tag
//! so a garbled or forged token is detected instead of misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Encodes and checks opaque tokens with a per-emulator key.
#[derive(Debug, Clone)]
pub struct TokenCodec {
    key: [u8; 32],
}

impl TokenCodec {
    /// A codec with a random key.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        TokenCodec { key }
    }

    fn tag(&self, payload: &[u8]) -> [u8; 12] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(payload);
        let d = h.finalize();
        let mut t = [0u8; 12];
        t.copy_from_slice(&d[..12]);
        t
    }

    /// Serialises `value` into an opaque, URL-safe token.
    pub fn encode<T: Serialize>(&self, value: &T) -> String {
        let payload = serde_json::to_vec(value).unwrap_or_default();
        let mut raw = self.tag(&payload).to_vec();
        raw.extend_from_slice(&payload);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes a token made by [`TokenCodec::encode`]; `None` when garbled or forged.
    pub fn decode<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (tag, payload) = raw.split_at(12);
        if tag != self.tag(payload) {
            return None;
        }
        serde_json::from_slice(payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = TokenCodec::random();
        let t = c.encode(&(7u64, "abc"));
        assert_eq!(c.decode::<(u64, String)>(&t), Some((7, "abc".into())));
        let mut bad = t.clone();
        bad.replace_range(20..21, if &t[20..21] == "A" { "B" } else { "A" });
        assert_eq!(c.decode::<(u64, String)>(&bad), None);
        assert_eq!(c.decode::<(u64, String)>("%%%"), None);
        assert_eq!(TokenCodec::random().decode::<(u64, String)>(&t), None);
    }
}
