//! Test harness: a private Kamailio presence server built from `kamailio/` in the repo, with
//! its own SQLite database, runtime folder and free port (and, for TLS, a test CA and a
//! server certificate for 127.0.0.1); killed when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

const TEMPLATE: &str = include_str!("../../../../kamailio/kamailio-presence-dialog.cfg");
const INSTALL: &str =
    "apt-get install -y kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3";
const TLS_MODULE: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so";
const SCHEMAS: [&str; 4] = ["standard", "auth_db", "usrloc", "presence"];

/// The SIP domain and digest realm of every test account.
pub const DOMAIN: &str = "127.0.0.1";
/// Accounts created in every server, each with password `secret-<name>`.
pub const USERS: [&str; 4] = ["alice", "bob", "watcher", "bridge"];

/// The password of a test account.
pub fn password(user: &str) -> String {
    format!("secret-{user}")
}

/// A running Kamailio.
pub struct Kamailio {
    dir: PathBuf,
    cfg: PathBuf,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// A CA certificate and a server certificate with key it signed, all PEM.
pub struct TestPki {
    /// The CA certificate (what the agent's `ca_file` holds).
    pub ca_pem: String,
    /// The server certificate (for `127.0.0.1`).
    pub server_pem: String,
    /// The server's private key.
    pub server_key: String,
}

fn find_binary() -> PathBuf {
    for p in ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("kamailio is not installed; install it with: {INSTALL}");
}

fn free_port() -> u16 {
    // the config listens on UDP and TCP: the port must be free for both
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on 127.0.0.1");
        let port = udp.local_addr().expect("local address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

fn free_tcp_port(not: u16) -> u16 {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP socket on 127.0.0.1");
        let port = l.local_addr().expect("local address").port();
        if port != not {
            return port;
        }
    }
    panic!("no second free TCP port on 127.0.0.1");
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sqlite(db: &Path, sql: &str) {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sqlite3 ({e}); install it with: {INSTALL}"));
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("sqlite3 stdin")
        .write_all(sql.as_bytes())
        .expect("write SQL to sqlite3");
    let out = child.wait_with_output().expect("wait for sqlite3");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Kamailio {
    /// Writes config and database into a fresh temporary folder and starts Kamailio;
    /// returns once it answers OPTIONS.
    pub fn start() -> Kamailio {
        Kamailio::start_with(None)
    }

    /// Like [`Kamailio::start`], with the config's `WITH_TLS` listener on another free port
    /// serving `pki`'s server certificate.
    pub fn start_tls(pki: &TestPki) -> Kamailio {
        assert!(
            Path::new(TLS_MODULE).exists(),
            "Kamailio's TLS module is missing; install it with: apt-get install -y kamailio-tls-modules"
        );
        Kamailio::start_with(Some(pki))
    }

    fn start_with(pki: Option<&TestPki>) -> Kamailio {
        let _ = find_binary();
        let dir =
            std::env::temp_dir().join(format!("pbx365-kamailio-{:016x}", rand::random::<u64>()));
        let run = dir.join("run");
        std::fs::create_dir_all(&run).expect("create the Kamailio temp folder");
        let db = dir.join("kamailio.sqlite");
        let port = free_port();
        let cfg_text = TEMPLATE
            .replace(
                "#!substdef \"!PBX365_PORT!5090!g\"",
                &format!("#!substdef \"!PBX365_PORT!{port}!g\""),
            )
            .replace(
                "/var/lib/pbx365/kamailio.sqlite",
                db.to_str().expect("UTF-8 temp path"),
            )
            .replace(
                "/run/pbx365-kamailio",
                run.to_str().expect("UTF-8 temp path"),
            );
        assert_ne!(
            cfg_text, TEMPLATE,
            "the config template lost its substdef lines"
        );
        let mut tls_port = None;
        let cfg_text = match pki {
            None => cfg_text,
            Some(pki) => {
                let tls_dir = dir.join("tls");
                std::fs::create_dir_all(&tls_dir).expect("create the TLS folder");
                std::fs::write(tls_dir.join("server.pem"), &pki.server_pem)
                    .expect("write the server certificate");
                std::fs::write(tls_dir.join("server.key"), &pki.server_key)
                    .expect("write the server key");
                let port = free_tcp_port(port);
                tls_port = Some(port);
                let text = cfg_text
                    .replace(
                        "#!substdef \"!PBX365_TLS_PORT!5091!g\"",
                        &format!("#!substdef \"!PBX365_TLS_PORT!{port}!g\""),
                    )
                    .replace(
                        "/etc/pbx365/kamailio-tls",
                        tls_dir.to_str().expect("UTF-8 temp path"),
                    );
                assert!(
                    text.contains(&format!("!PBX365_TLS_PORT!{port}!g"))
                        && !text.contains("/etc/pbx365/kamailio-tls"),
                    "the config template lost its TLS substdef lines"
                );
                text
            }
        };
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, cfg_text).expect("write the Kamailio config");

        let mut sql = String::new();
        for schema in SCHEMAS {
            let path = format!("/usr/share/kamailio/db_sqlite/{schema}-create.sql");
            sql.push_str(
                &std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {path} ({e}); install: {INSTALL}")),
            );
            sql.push('\n');
        }
        sql.push_str("PRAGMA journal_mode=WAL;\n");
        for user in USERS {
            let ha1 = md5_hex(&format!("{user}:{DOMAIN}:{}", password(user)));
            sql.push_str(&format!(
                "INSERT INTO subscriber(username,domain,password,ha1,ha1b) VALUES('{user}','{DOMAIN}','','{ha1}','');\n"
            ));
        }
        sqlite(&db, &sql);

        let mut k = Kamailio {
            dir,
            cfg,
            port,
            tls_port,
            child: None,
        };
        k.spawn();
        k
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("kamailio.log"))
            .expect("open the Kamailio log");
        let child = Command::new(find_binary())
            .arg("-f")
            .arg(&self.cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .args(if self.tls_port.is_some() {
                &["-A", "WITH_TLS"][..]
            } else {
                &[]
            })
            .arg("-P")
            .arg(self.dir.join("run/kamailio.pid"))
            .arg("-Y")
            .arg(self.dir.join("run"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("socket timeout");
        let local = sock.local_addr().expect("probe address");
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("kamailio exited with {status}; log:\n{}", self.log());
            }
            let probe = format!(
                "OPTIONS sip:{DOMAIN}:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{n}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag=p\r\nTo: <sip:{DOMAIN}:{p}>\r\n\
                 Call-ID: probe-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                p = self.port,
                n = rand::random::<u32>()
            );
            let _ = sock.send_to(probe.as_bytes(), self.addr());
            if let Ok(n) = sock.recv(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!(
            "kamailio did not answer OPTIONS within 15 s; log:\n{}",
            self.log()
        );
    }

    /// The server's SIP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's SIP-over-TLS address (only from [`Kamailio::start_tls`]).
    pub fn tls_addr(&self) -> SocketAddr {
        let port = self.tls_port.expect("Kamailio started without TLS");
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A file in the server's temporary folder (e.g. a CA file for the agent).
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write a test file");
        path
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// Stops Kamailio (losing in-memory state such as publications) and starts it again on
    /// the same port and database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Restarts Kamailio with its subscriptions wiped from the database, as after a crash
    /// before they were saved: watchers' in-dialog refreshes then fail.
    pub fn restart_losing_subscriptions(&mut self) {
        self.stop();
        sqlite(
            &self.dir.join("kamailio.sqlite"),
            "DELETE FROM active_watchers; DELETE FROM watchers;",
        );
        self.spawn();
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM lets the main process stop its worker processes (which hold the port)
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
