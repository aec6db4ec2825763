//! Test harness: a real SIP phone, baresip (Debian `baresip-core`), registered on a test
//! Kamailio and driven through its TCP control interface (netstring-framed JSON); killed when
//! dropped.

use crate::kamailio::{password, Kamailio, DOMAIN};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/bin/baresip";
const INSTALL: &str = "apt-get install -y baresip-core";

/// A running baresip.
pub struct Baresip {
    dir: PathBuf,
    child: Child,
    ctrl_port: u16,
    token: u32,
}

/// A port free for UDP and TCP, whose next port is free too (baresip binds TLS on port + 1).
fn free_pair() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("addr").port();
        if port == u16::MAX {
            continue;
        }
        let ok = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok();
        if ok {
            return port;
        }
    }
    panic!("no free port pair on 127.0.0.1");
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind TCP")
        .local_addr()
        .expect("addr")
        .port()
}

impl Baresip {
    /// Starts baresip as `user` on `k` (auto-answering calls, not publishing presence) and
    /// waits until it is registered.
    pub fn start(k: &Kamailio, user: &str) -> Baresip {
        Baresip::start_with(k, user, 0)
    }

    /// Starts baresip as `user` on `k`, publishing its presence (open) every `pubint` seconds
    /// with that expiry, and waits until it is registered.
    pub fn start_publishing(k: &Kamailio, user: &str, pubint: u32) -> Baresip {
        Baresip::start_with(k, user, pubint)
    }

    fn start_with(k: &Kamailio, user: &str, pubint: u32) -> Baresip {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "baresip is not installed; install it with: {INSTALL}"
        );
        let dir =
            std::env::temp_dir().join(format!("pbx365-baresip-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("baresip folder");
        let sip_port = free_pair();
        let ctrl_port = free_tcp();
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             audio_player aufile,/dev/null\n\
             audio_source ausine,440\n\
             ausrc_srate 48000\n\
             ausrc_channels 2\n\
             audio_alert aufile,/dev/null\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module ausine.so\n\
             module aufile.so\n\
             module_tmp uuid.so\n\
             module_tmp account.so\n\
             module_app contact.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             {presence}",
            presence = if pubint > 0 {
                "module_app presence.so\n"
            } else {
                ""
            }
        );
        std::fs::write(dir.join("config"), config).expect("baresip config");
        let account = format!(
            "<sip:{user}@{DOMAIN}:{kport}>;auth_pass={pw};regint=600;pubint={pubint};answermode=auto\n",
            kport = k.addr().port(),
            pw = password(user)
        );
        std::fs::write(dir.join("accounts"), account).expect("baresip accounts");
        std::fs::write(dir.join("contacts"), "").expect("baresip contacts");
        let log = std::fs::File::create(dir.join("baresip.log")).expect("baresip log");
        let child = Command::new(BINARY)
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start baresip");
        let mut b = Baresip {
            dir,
            child,
            ctrl_port,
            token: 0,
        };
        b.wait_registered();
        b
    }

    fn wait_registered(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("baresip exited with {status}; log:\n{}", self.log());
            }
            if let Some(reply) = self.try_command("reginfo", None) {
                if reply["data"].as_str().is_some_and(|d| d.contains("OK")) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("baresip did not register within 10 s; log:\n{}", self.log());
    }

    /// Quits as a phone shut down does (SIGTERM): baresip un-registers and withdraws its
    /// publication, then exits (bounded: 10 s).
    pub fn quit(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("baresip did not quit within 10 s; log:\n{}", self.log());
    }

    /// Dies without a word (SIGKILL), as a phone losing power: its registration and
    /// publication stay on the server until they expire.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// baresip's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Runs a control command and returns its response; panics when it fails.
    pub fn command(&mut self, command: &str, params: Option<&str>) -> Value {
        let reply = self
            .try_command(command, params)
            .unwrap_or_else(|| panic!("baresip gave no answer to {command}; log:\n{}", self.log()));
        assert_eq!(reply["ok"], true, "{command}: {reply}");
        reply
    }

    fn try_command(&mut self, command: &str, params: Option<&str>) -> Option<Value> {
        self.token += 1;
        let token = format!("t{}", self.token);
        let mut msg = serde_json::json!({"command": command, "token": token});
        if let Some(p) = params {
            msg["params"] = p.into();
        }
        let body = msg.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
        s.write_all(format!("{}:{body},", body.len()).as_bytes())
            .ok()?;
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
            // netstrings: LEN:JSON,
            let mut rest = &buf[..];
            while let Some(colon) = rest.iter().position(|b| *b == b':') {
                let Some(len) = std::str::from_utf8(&rest[..colon])
                    .ok()
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    break;
                };
                if rest.len() < colon + 1 + len + 1 {
                    break;
                }
                let item = &rest[colon + 1..colon + 1 + len];
                if let Ok(v) = serde_json::from_slice::<Value>(item) {
                    if v["token"] == token.as_str() {
                        return Some(v);
                    }
                }
                rest = &rest[colon + 1 + len + 1..];
            }
        }
        None
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
