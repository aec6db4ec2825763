//! `pbx365 init` run as a real process: writes a config that loads, refuses to overwrite,
//! prints the permissions and the consent URL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pbx365-init-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn init(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pbx365"))
        .arg("init")
        .args(args)
        .env_remove("PBX365_CONFIG")
        .output()
        .expect("run pbx365")
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

#[test]
fn init_writes_a_loadable_config_and_prints_the_consent_url() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::create("ok");
    let path = dir.path().join("pbx365.toml");
    let out = init(&[
        "--config",
        path.to_str().expect("utf-8 path"),
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--redirect-uri",
        "https://pbx.example.com/consent",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&path)
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let consent = format!(
        "https://login.microsoftonline.com/{TENANT}/adminconsent?client_id={CLIENT}\
         &redirect_uri=https%3A%2F%2Fpbx.example.com%2Fconsent"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == consent),
        "no consent URL line in:\n{stdout}"
    );
    assert!(
        stdout.contains("   https://pbx.example.com/consent\n"),
        "{stdout}"
    );
    for (name, id) in [
        ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214"),
        (
            "OrgContact.Read.All",
            "e1a88a34-94c4-4418-be12-c87b00e26bea",
        ),
        (
            "Presence.ReadWrite.All",
            "83cded22-8297-4ff6-a7fa-e97e9545a259",
        ),
        ("User.ReadWrite.All", "741f803b-c850-494e-b5df-cde7c675a1ca"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().take(2).eq([name, id])),
            "{name} {id} missing in:\n{stdout}"
        );
    }

    // The written file loads once the secret file it names exists, with our ids in it.
    std::fs::write(dir.path().join("pbx365-client-secret"), "x\n").expect("secret");
    std::fs::set_permissions(
        dir.path().join("pbx365-client-secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let config = config::Config::load(&path, Vec::<(String, String)>::new()).expect("loads");
    assert_eq!(config.sites[0].tenant.tenant_id.to_string(), TENANT);
    assert_eq!(config.sites[0].tenant.client_id.to_string(), CLIENT);
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = TempDir::create("force");
    let path = dir.path().join("pbx365.toml");
    std::fs::write(&path, "# mine\n").expect("write");
    let out = init(&["--config", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {} already exists; pass --force to replace it",
            path.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "# mine\n");

    let out = init(&["--config", path.to_str().expect("utf-8 path"), "--force"]);
    assert!(out.status.success());
    let written = std::fs::read_to_string(&path).expect("read");
    assert_eq!(written, config::Config::example());
    // Without --tenant/--client-id the URL uses "organizations" and a placeholder.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "   https://login.microsoftonline.com/organizations/adminconsent?client_id=CLIENT-ID\
             &redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fconsent\n"
        ),
        "{stdout}"
    );
}

#[test]
fn init_rejects_a_bad_client_id() {
    let dir = TempDir::create("badid");
    let path = dir.path().join("pbx365.toml");
    let out = init(&[
        "--config",
        path.to_str().expect("utf-8 path"),
        "--client-id",
        "my-app",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!path.exists());
}
