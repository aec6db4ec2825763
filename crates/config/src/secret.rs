//! Secrets: a newtype that never prints its content, and reading secrets from files.

use crate::error::ConfigError;
use std::fmt;
use std::path::Path;

/// A secret value (client secret, private key). `Debug` and `Display` print `[redacted]`, so a
/// secret cannot leak through logs or error messages by accident; use [`Secret::expose`] at the
/// one place that needs the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the code that sends it (token requests, signing).
    pub fn expose(&self) -> &str {
        &self.0
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

/// Reads a file named by config key `key`: the content without its trailing newline, plus a
/// warning when other users of the machine can read it.
pub(crate) fn read_text_file(
    key: &str,
    path: &Path,
) -> Result<(String, Option<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned();
    Ok((trimmed, world_readable_warning(key, path)))
}

/// Reads a secret file; an empty file is an error (it is always a mistake).
pub(crate) fn read_secret_file(
    key: &str,
    path: &Path,
) -> Result<(Secret, Option<String>), ConfigError> {
    let (text, warning) = read_text_file(key, path)?;
    if text.trim().is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("{:?}", path.display().to_string()),
            "a file that contains the secret (this one is empty)",
        ));
    }
    Ok((Secret(text), warning))
}

#[cfg(unix)]
fn world_readable_warning(key: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "{key}: {} is readable by every user on this machine (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn world_readable_warning(_key: &str, _path: &Path) -> Option<String> {
    None
}
