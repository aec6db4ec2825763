//! HTTP digest authentication as SIP uses it (RFC 2617, RFC 8760 §2.6 keeps MD5 for
//! interoperability): reading a `WWW-Authenticate`/`Proxy-Authenticate` challenge and
//! computing the matching `Authorization`/`Proxy-Authorization` value, with `qop=auth`
//! (nonce count and client nonce) or without qop.

use std::fmt;

use md5::{Digest, Md5};

/// Why a challenge could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The challenge is not `Digest …`.
    #[error("authentication scheme is not Digest: {0:?}")]
    NotDigest(String),
    /// A required parameter (`realm`, `nonce`) is absent.
    #[error("digest challenge lacks the {0} parameter")]
    MissingParam(&'static str),
    /// The server asks for an algorithm other than MD5.
    #[error("digest algorithm {0:?} is not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// The server offers qop values but not `auth` (e.g. only `auth-int`).
    #[error("digest qop {0:?} is not supported (only auth)")]
    UnsupportedQop(String),
}

/// A user name and password; the password never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authentication user name.
    pub username: String,
    password: String,
}

impl Credentials {
    /// Pairs a user name with its password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A parsed digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space; for Kamailio the domain.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo back.
    pub opaque: Option<String>,
    /// Whether to use `qop=auth` (the server offered it).
    pub qop_auth: bool,
    /// The server says the previous nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Reads the value of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let v = value.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest(scheme.chars().take(40).collect()));
        }
        let params = auth_params(rest);
        let get = |n: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        if let Some(alg) = get("algorithm") {
            if !alg.eq_ignore_ascii_case("MD5") {
                return Err(DigestError::UnsupportedAlgorithm(alg));
            }
        }
        let qop_auth = match get("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return Err(DigestError::UnsupportedQop(q));
                }
            }
        };
        Ok(Challenge {
            realm: get("realm").ok_or(DigestError::MissingParam("realm"))?,
            nonce: get("nonce").ok_or(DigestError::MissingParam("nonce"))?,
            opaque: get("opaque"),
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes and backslash escapes.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.trim().is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n)
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((name.trim().to_string(), value.trim().to_string()));
    }
    out
}

fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request-digest of RFC 2617 §3.2.2.1 for `qop=auth` (`Some((nc, cnonce))`) or no qop.
pub fn response_value(
    creds: &Credentials,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(u32, &str)>,
) -> String {
    let ha1 = md5_hex(&format!("{}:{realm}:{}", creds.username, creds.password));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The `Authorization`/`Proxy-Authorization` header value answering `challenge` for a
/// request `method uri`; `nc` counts uses of this nonce (from 1), `cnonce` is fresh.
pub fn authorization(
    creds: &Credentials,
    challenge: &Challenge,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let qop = challenge.qop_auth.then_some((nc, cnonce));
    let response = response_value(creds, &challenge.realm, &challenge.nonce, method, uri, qop);
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5",
        quote_escape(&creds.username),
        quote_escape(&challenge.realm),
        quote_escape(&challenge.nonce),
    );
    if let Some(opaque) = &challenge.opaque {
        v.push_str(&format!(", opaque=\"{}\"", quote_escape(opaque)));
    }
    if challenge.qop_auth {
        v.push_str(&format!(", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""));
    }
    v
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_section_3_5_example() {
        let creds = Credentials::new("Mufasa", "Circle Of Life");
        let challenge = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("challenge");
        assert!(challenge.qop_auth);
        let header = authorization(&creds, &challenge, "GET", "/dir/index.html", 1, "0a4f113b");
        assert_eq!(
            header,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001, cnonce=\"0a4f113b\""
        );
    }

    #[test]
    fn without_qop() {
        let creds = Credentials::new("bridge", "secret-bridge");
        let challenge =
            Challenge::parse("Digest realm=\"127.0.0.1\", nonce=\"5f3c9a\"").expect("challenge");
        assert!(!challenge.qop_auth);
        let header = authorization(&creds, &challenge, "PUBLISH", "sip:alice@127.0.0.1", 1, "x");
        assert!(
            header.contains("response=\"137d15e618f80ac2c7d8f3f338be423b\""),
            "{header}"
        );
        assert!(!header.contains("qop"), "{header}");
    }

    #[test]
    fn kamailio_challenge_with_stale() {
        let c = Challenge::parse(
            "Digest realm=\"127.0.0.1\", nonce=\"ZW1+Y2V4YW1wbGU=\", qop=\"auth\", stale=true",
        )
        .expect("challenge");
        assert_eq!(
            (c.realm.as_str(), c.nonce.as_str(), c.qop_auth, c.stale),
            ("127.0.0.1", "ZW1+Y2V4YW1wbGU=", true, true)
        );
    }

    #[test]
    fn unusable_challenges_are_errors() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest("Basic".into()))
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(DigestError::MissingParam("realm"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"),
            Err(DigestError::UnsupportedAlgorithm("SHA-256".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        assert_eq!(Challenge::parse(""), Err(DigestError::NotDigest("".into())));
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let s = format!("{:?}", Credentials::new("bridge", "hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("bridge"), "{s}");
    }
}
