//! The site: one tenant connection plus its phone-system settings. Every stored row carries one.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A site's identifier: 1–64 characters of `a-z`, `0-9`, `-` and `_`, so it is safe in URLs,
/// file names and log lines alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteId(String);

/// Why a text is not a [`SiteId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("site id {0:?} is not 1-64 characters of a-z, 0-9, '-' and '_'")]
pub struct SiteIdError(pub String);

impl SiteId {
    /// Checks and wraps a site id.
    pub fn new(id: impl Into<String>) -> Result<Self, SiteIdError> {
        let id = id.into();
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(id))
        } else {
            Err(SiteIdError(id))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SiteId {
    type Error = SiteIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<SiteId> for String {
    fn from(s: SiteId) -> String {
        s.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids() {
        assert_eq!(SiteId::new("acme-1").unwrap().as_str(), "acme-1");
        assert!(SiteId::new("").is_err());
        assert!(SiteId::new("Acme").is_err());
        assert!(SiteId::new("a/b").is_err());
        assert!(SiteId::new("a".repeat(65)).is_err());
    }
}
