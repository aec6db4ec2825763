use crate::{no_env, TempDir, MINIMAL};
use config::{Config, ConfigError, Credential, Secret};

#[test]
fn secret_file_is_read_and_trimmed() {
    let dir = TempDir::create();
    dir.write("secret", "abc~def.123\r\n", 0o600);
    let path = dir.write("config.toml", MINIMAL, 0o600);
    let c = Config::load(&path, no_env()).expect("loads");
    match &c.sites[0].tenant.credential {
        Credential::ClientSecret(s) => assert_eq!(s.expose(), "abc~def.123"),
        other => panic!("expected client secret, got {other:?}"),
    }
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn missing_secret_file_names_key_and_path() {
    let dir = TempDir::create();
    let path = dir.write("config.toml", MINIMAL, 0o600);
    match Config::load(&path, no_env()) {
        Err(ConfigError::SecretFile { key, path: p, .. }) => {
            assert_eq!(key, "site[0].tenant.client_secret_file");
            assert_eq!(p, dir.path().join("secret"));
        }
        other => panic!("expected SecretFile, got {other:?}"),
    }
}

#[test]
fn world_readable_secret_file_is_a_warning() {
    let dir = TempDir::create();
    let secret = dir.write("secret", "abc\n", 0o644);
    let path = dir.write("config.toml", MINIMAL, 0o600);
    let c = Config::load(&path, no_env()).expect("loads");
    assert_eq!(
        c.warnings(),
        &[format!(
            "site[0].tenant.client_secret_file: {} is readable by every user on this machine \
             (mode 644); run chmod 600 on it",
            secret.display()
        )]
    );
}

#[test]
fn empty_secret_file_is_rejected() {
    let dir = TempDir::create();
    let secret = dir.write("secret", "\n", 0o600);
    let path = dir.write("config.toml", MINIMAL, 0o600);
    match Config::load(&path, no_env()) {
        Err(ConfigError::Invalid { key, value, .. }) => {
            assert_eq!(key, "site[0].tenant.client_secret_file");
            assert_eq!(value, format!("{:?}", secret.display().to_string()));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn certificate_credential_reads_both_files() {
    let dir = TempDir::create();
    dir.write(
        "app.crt",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        0o644,
    );
    dir.write(
        "app.key",
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    let text = MINIMAL.replace(
        "client_secret_file = \"secret\"",
        "certificate_file = \"app.crt\"\nprivate_key_file = \"app.key\"",
    );
    let path = dir.write("config.toml", &text, 0o600);
    let c = Config::load(&path, no_env()).expect("loads");
    match &c.sites[0].tenant.credential {
        Credential::Certificate {
            certificate_pem,
            private_key_pem,
        } => {
            assert!(certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(private_key_pem.expose().contains("BEGIN PRIVATE KEY"));
        }
        other => panic!("expected certificate, got {other:?}"),
    }
}

#[test]
fn secret_prints_redacted() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s}"), "[redacted]");
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(s.expose(), "hunter2");
}
