//! Query-string and form parameters. Decoded by hand because phones are not browsers: a
//! Gigaset base sends ISO-8859-1 percent escapes (`ln=M%FCller`), so a value that is not UTF-8
//! is read as Latin-1 instead of being mangled.

use crate::error::HttpError;
use std::collections::HashMap;

/// The parameters of one request (query string, or a form body); the last value of a repeated
/// name wins.
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Decodes `a=1&b=x+y&c=%C3%BC` (either a query string or an
    /// `application/x-www-form-urlencoded` body).
    pub fn parse(text: &str) -> Self {
        let mut map = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(key), decode(value));
        }
        Self(map)
    }

    /// Adds the pairs of `other` that this set lacks (a POST body's fields next to the query).
    pub fn merge_missing(&mut self, other: Params) {
        for (key, value) in other.0 {
            self.0.entry(key).or_insert(value);
        }
    }

    /// A parameter's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A parameter's raw value, `Some("")` when present but empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A positive whole number parameter, `default` when absent; a clear error otherwise.
    pub fn positive(&self, name: &str, default: usize) -> Result<usize, HttpError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(HttpError::BadRequest(format!(
                    "parameter {name}={text:?} must be a whole number of at least 1"
                ))),
            },
        }
    }

    /// All pairs, sorted by name (for rebuilding links).
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<_> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort();
        pairs
    }
}

/// Percent-decodes one component (`+` is a space); bytes that are not UTF-8 are read as
/// ISO-8859-1.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(err) => err.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_latin1_and_junk() {
        assert_eq!(decode("M%C3%BCller"), "Müller");
        assert_eq!(decode("M%FCller"), "Müller");
        assert_eq!(decode("a+b%2Bc"), "a b+c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn parses_and_round_trips() {
        let p = Params::parse("q=J%C3%BCrgen&page=2&empty=&flag&token=alice%3As%26cret");
        assert_eq!(p.get("q"), Some("Jürgen"));
        assert_eq!(p.positive("page", 1).unwrap(), 2);
        assert_eq!(p.get("empty"), None);
        assert_eq!(p.raw("empty"), Some(""));
        assert_eq!(p.raw("flag"), Some(""));
        assert_eq!(p.get("token"), Some("alice:s&cret"));
        assert_eq!(decode(&encode("alice:s&cret ü")), "alice:s&cret ü");
        assert!(Params::parse("page=0").positive("page", 1).is_err());
        assert!(Params::parse("page=x").positive("page", 1).is_err());
    }
}
