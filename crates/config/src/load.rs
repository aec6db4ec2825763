//! The loading pipeline: read the file, parse TOML, apply `PBX365_…` variables, type it (unknown
//! keys rejected with their path), validate, read secret files.

use crate::env;
use crate::error::ConfigError;
use crate::model::{Site, Store};
use crate::raw::RawConfig;
use crate::validate::Validator;
use std::path::Path;
use toml::{Table, Value};

/// The whole validated configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where state is kept.
    pub store: Store,
    /// The sites, in file order (at least one).
    pub sites: Vec<Site>,
    /// The HTTP front end.
    pub http: crate::serve::Http,
    /// The LDAP front end.
    pub ldap: crate::serve::Ldap,
    /// How the directory index stays current.
    pub directory: crate::serve::DirectoryService,
    warnings: Vec<String>,
}

/// The commented example that `pbx365 init` writes.
const EXAMPLE: &str = include_str!("example.toml");

impl Config {
    /// Loads and validates the file at `path`, with `env` (usually `std::env::vars()`) applied
    /// on top. Relative `*_file` paths are taken from the file's folder.
    pub fn load<I, K, V>(path: &Path, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base_dir, env)
    }

    /// Parses and validates `text` as if read from `origin` (used in messages); relative
    /// `*_file` paths are taken from `base_dir`.
    ///
    /// ```
    /// use config::{Config, ConfigError};
    /// use std::path::Path;
    ///
    /// let text = r#"
    /// [[site]]
    /// name = "hq"
    /// [site.tenant]
    /// tenant_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    /// client_id = "6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    /// [site.dialling]
    /// country = "DE"
    /// [site.users]
    /// group_id = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"
    /// [site.extensions]
    /// first_number = 100
    /// length = 3
    /// "#;
    /// let env = [("PBX365_SITE__0__TENANT__CLIENT_SECRET", "s3cret")];
    /// let config = Config::parse(text, Path::new("pbx365.toml"), Path::new("."), env).unwrap();
    /// assert_eq!(config.sites[0].extensions.first_number, 100);
    ///
    /// let env = [
    ///     ("PBX365_SITE__0__TENANT__CLIENT_SECRET", "s3cret"),
    ///     ("PBX365_SITE__0__EXTENSIONS__FIRST_NUMBER", "42"),
    /// ];
    /// let err = Config::parse(text, Path::new("pbx365.toml"), Path::new("."), env).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "site[0].extensions.first_number = 42: expected a number with 3 digits \
    ///      (extensions.length), from 100 to 999"
    /// );
    /// ```
    pub fn parse<I, K, V>(
        text: &str,
        origin: &Path,
        base_dir: &Path,
        env: I,
    ) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: origin.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        let secret_in_file = secrets_in_file(&table);
        let presence_password_in_file = crate::presence_bridge::passwords_in_file(&table);
        env::apply(&mut table, env)?;
        let raw = typed(table)?;
        let mut v = Validator {
            base_dir,
            secret_in_file,
            presence_password_in_file,
            warnings: Vec::new(),
        };
        let store = v.store(raw.store)?;
        let sites = v.sites(raw.site)?;
        let http = crate::serve::http(raw.http)?;
        let ldap = crate::serve::ldap(raw.ldap, base_dir)?;
        let directory = crate::serve::directory_service(raw.directory)?;
        Ok(Config {
            store,
            sites,
            http,
            ldap,
            directory,
            warnings: v.warnings,
        })
    }

    /// The commented example configuration; it loads once its client secret file exists.
    pub fn example() -> &'static str {
        EXAMPLE
    }

    /// Things that work but deserve attention (secret files others can read, plain-http
    /// endpoints, an empty shared-mailbox list), one sentence each, for the caller to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The site called `name`.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }
}

/// For each `[[site]]`, whether the file itself holds `tenant.client_secret` (only the
/// environment may).
fn secrets_in_file(table: &Table) -> Vec<bool> {
    let Some(Value::Array(sites)) = table.get("site") else {
        return Vec::new();
    };
    sites
        .iter()
        .map(|s| {
            s.get("tenant")
                .and_then(|t| t.get("client_secret"))
                .is_some()
        })
        .collect()
}

/// Types the merged tree; serde errors become key-path errors with the offending value.
fn typed(table: Table) -> Result<RawConfig, ConfigError> {
    let value = Value::Table(table);
    let result: Result<RawConfig, _> = serde_path_to_error::deserialize(value.clone());
    result.map_err(|e| {
        let mut segments: Vec<Seg> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                _ => None,
            })
            .collect();
        // The toml deserializer appends "\nin `path`"; our own path is better.
        let message = e.inner().to_string();
        let message = message.lines().next().unwrap_or("").trim_end().to_owned();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
            if !matches!(segments.last(), Some(Seg::Key(k)) if k == field) {
                segments.push(Seg::Key(field.to_owned()));
            }
            let expected = expected
                .trim_start_matches(", ")
                .trim_start_matches("expected ")
                .replace('`', "");
            return ConfigError::UnknownKey {
                key: render(&segments),
                expected: if expected.is_empty() {
                    "no key here".into()
                } else {
                    expected
                },
            };
        }
        if let Some(rest) = message.strip_prefix("missing field `") {
            let field = rest.split('`').next().unwrap_or(rest);
            segments.push(Seg::Key(field.to_owned()));
            return ConfigError::invalid(render(&segments), "(not set)", "a value (required)");
        }
        let shown = lookup(&value, &segments)
            .map(|v| show(&segments, v))
            .unwrap_or_else(|| "(not set)".into());
        let expected = message
            .split_once(", expected ")
            .map(|(_, exp)| plain_type(exp).to_owned())
            .unwrap_or(message);
        ConfigError::invalid(render(&segments), shown, expected)
    })
}

/// Serde's Rust-flavoured type names, in words an admin reads.
fn plain_type(expected: &str) -> &str {
    match expected {
        "i64" | "u64" | "u32" | "i32" => "a whole number",
        "a boolean" => "true or false",
        "a sequence" => "a list such as [\"a\", \"b\"]",
        "struct RawConfig"
        | "struct RawStore"
        | "struct RawSite"
        | "struct RawTenant"
        | "struct RawDialling"
        | "struct RawDidRange"
        | "struct RawExtensionRange"
        | "struct RawUsers"
        | "struct RawExtensions"
        | "struct RawDeprovisioning"
        | "struct RawGuards"
        | "struct RawSources"
        | "struct RawPhotos"
        | "struct RawHttp"
        | "struct RawLdap"
        | "struct RawDirectoryService"
        | "struct RawSiteDirectory"
        | "struct RawPresence"
        | "struct RawMaps" => "a table",
        other => other,
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn render(segments: &[Seg]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn lookup<'a>(value: &'a Value, segments: &[Seg]) -> Option<&'a Value> {
    segments.iter().try_fold(value, |v, s| match s {
        Seg::Key(k) => v.get(k.as_str()),
        Seg::Index(i) => v.get(*i),
    })
}

/// A value as TOML, except secrets.
fn show(segments: &[Seg], v: &Value) -> String {
    if matches!(segments.last(), Some(Seg::Key(k)) if k == "client_secret" || k == "password") {
        return "[redacted]".into();
    }
    v.to_string()
}
