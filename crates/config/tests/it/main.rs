//! Integration tests of pbx365-config: real files in a temp folder, environment passed in.

mod dialling;
mod emulator;
mod env;
mod errors;
mod example;
mod fingerprint;
mod presence_section;
mod registration;
mod secrets;
mod serve;

use config::{Config, ConfigError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn create() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pbx365-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` with `content` and mode `mode`.
    pub fn write(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join(name);
        std::fs::write(&p, content).expect("write file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small valid config whose credential is a secret file next to it.
pub const MINIMAL: &str = r#"
[[site]]
name = "hq"
shared_mailboxes = ["Reception@Contoso.com"]

[site.tenant]
tenant_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
client_id = "6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
client_secret_file = "secret"

[site.dialling]
country = "de"
area_code = "30"

[site.users]
group_id = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"

[site.extensions]
first_number = 100
length = 3
"#;

/// No environment at all.
pub fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// Loads `text` as `config.toml` in a temp dir that also holds a secret file `secret`.
pub fn load_with<I, K, V>(text: &str, env: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let dir = TempDir::create();
    dir.write("secret", "s3cr3t-value\n", 0o600);
    let path = dir.write("config.toml", text, 0o600);
    Config::load(&path, env)
}

/// Loads `text` (as above) without environment.
pub fn load(text: &str) -> Result<Config, ConfigError> {
    load_with(text, no_env())
}

/// `MINIMAL` with `from` replaced by `to` (which must occur).
pub fn minimal_with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from} not in MINIMAL");
    MINIMAL.replacen(from, to, 1)
}

/// Asserts an `Invalid` error with exactly this key, value and expectation.
pub fn assert_invalid(result: Result<Config, ConfigError>, key: &str, value: &str, expected: &str) {
    match result {
        Err(ConfigError::Invalid {
            key: k,
            value: v,
            expected: e,
        }) => {
            assert_eq!((k.as_str(), v.as_str(), e.as_str()), (key, value, expected));
        }
        other => panic!("expected Invalid for {key}, got {other:?}"),
    }
}
