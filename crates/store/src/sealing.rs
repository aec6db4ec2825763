//! Secrets kept in the store (presence readers' refresh tokens) are sealed with
//! ChaCha20-Poly1305 under a 32-byte key that lives outside the database, in a file or the
//! environment. Whoever copies the database alone learns nothing; a changed row fails to
//! open. Losing the key means signing the readers in again.

use std::fmt;
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// A secret as stored: ciphertext with its tag, and the nonce it was sealed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext followed by the 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
    /// The random 96-bit nonce.
    pub nonce: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// Why a key could not be had or a secret not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read.
    #[error("cannot read the store key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not 32 bytes written as 64 hexadecimal digits.
    #[error("the store key {origin} must hold 32 random bytes as 64 hexadecimal digits (make one with `openssl rand -hex 32`)")]
    Format {
        /// Where it came from.
        origin: String,
    },
    /// The secret does not open under this key (another key, or the row was changed).
    #[error("a sealed secret does not open with this store key (the key changed, or the row was altered); sign the reader in again")]
    Open,
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// The key secrets are sealed under. Never printed.
pub struct SealingKey {
    key: LessSafeKey,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

impl SealingKey {
    /// A key from 64 hexadecimal digits (surrounding white space ignored); `origin` names
    /// where they came from, for the error.
    pub fn from_hex(text: &str, origin: &str) -> Result<SealingKey, SealError> {
        let format = || SealError::Format {
            origin: origin.to_owned(),
        };
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format());
        }
        let mut raw = [0u8; 32];
        for (i, byte) in raw.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| format())?;
        }
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &raw).map_err(|_| format())?;
        raw.fill(0);
        Ok(SealingKey {
            key: LessSafeKey::new(unbound),
        })
    }

    /// The key in `path` (64 hexadecimal digits).
    pub fn from_file(path: &Path) -> Result<SealingKey, SealError> {
        let text = std::fs::read_to_string(path).map_err(|source| SealError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SealingKey::from_hex(&text, &format!("file {}", path.display()))
    }

    /// Seals `plain`, bound to `context` (a sealed value moved to another row fails to open).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        Ok(Sealed {
            ciphertext: data,
            nonce: nonce.to_vec(),
        })
    }

    /// Opens what [`SealingKey::seal`] sealed with the same `context`.
    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| SealError::Open)?;
        let mut data = sealed.ciphertext.clone();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens_only_in_its_context() {
        let k = SealingKey::from_hex(KEY, "test").expect("key");
        let s = k.seal("site\0reader", b"refresh-token").expect("seal");
        assert!(!s
            .ciphertext
            .windows(b"refresh-token".len())
            .any(|w| w == b"refresh-token"));
        assert_eq!(k.open("site\0reader", &s).expect("open"), b"refresh-token");
        assert!(k.open("site\0other", &s).is_err());
        let mut changed = s.clone();
        changed.ciphertext[0] ^= 1;
        assert!(k.open("site\0reader", &changed).is_err());
        let other = SealingKey::from_hex(&KEY.replace('0', "f"), "test").expect("key");
        assert!(other.open("site\0reader", &s).is_err());
        assert_ne!(
            k.seal("c", b"x").expect("seal").nonce,
            k.seal("c", b"x").expect("seal").nonce
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in ["", "00", &KEY[..62], &format!("{}zz", &KEY[..62])] {
            assert!(SealingKey::from_hex(bad, "test").is_err(), "{bad}");
        }
        assert!(!format!("{:?}", SealingKey::from_hex(KEY, "t").expect("key")).contains("0001"));
    }
}
