//! The one error type of this crate: every message names the key, the value and what was expected.

use std::path::PathBuf;

/// Why a configuration was rejected. Each variant names the key path (`site[0].tenant.client_id`)
/// so the admin can find the line to fix; secret values are never echoed back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file itself could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        /// The file we tried to read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file (or `<text>` when parsing a string).
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key the configuration does not know (often a typo).
    #[error("unknown key {key}: expected {expected}")]
    UnknownKey {
        /// Full path of the unknown key, e.g. `site[0].users.grup_id`.
        key: String,
        /// The keys that are accepted at that place (`one of a, b, c`).
        expected: String,
    },
    /// A key whose value is missing, of the wrong type or out of range.
    #[error("{key} = {value}: expected {expected}")]
    Invalid {
        /// Full path of the key, e.g. `site[0].extensions.first_number`.
        key: String,
        /// The value as given (`(not set)` when missing, `[redacted]` for secrets).
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A `PBX365_…` environment variable that cannot be applied.
    #[error("environment variable {var} (key {key}): {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// The key path it addresses.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A secret (or certificate) file named by a `*_file` key cannot be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    SecretFile {
        /// The key that names the file.
        key: String,
        /// The file as resolved (relative paths are taken from the config file's folder).
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// The key path this error is about, when it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Env { key, .. }
            | ConfigError::SecretFile { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}
