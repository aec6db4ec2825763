//! Admin requests to a running bridge, handed over as files: `pbx365 presence release` drops
//! a request into a folder next to the status file ([`control_dir`]) and the bridge takes the
//! requests on its next tick ([`take_releases`]). Files, not a socket: the bridge needs no
//! listener, a request survives a bridge that is busy or restarting, and each request is its
//! own file (written under a temporary name, then renamed), so concurrent admins never
//! overwrite each other.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What an admin asks the bridge to release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// One user (Entra object id): the flap latch is lifted and bridging resumes.
    User(String),
    /// Every latched user.
    All,
}

/// Why a request could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The control folder or a request in it could not be read or written.
    #[error("presence control folder {path}: {source}")]
    Io {
        /// The folder or file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// The folder of requests for the bridge whose status file is `status_file`:
/// `<status file>.control/` beside it.
pub fn control_dir(status_file: &Path) -> PathBuf {
    let mut name = status_file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "presence-status".into());
    name.push(".control");
    status_file.with_file_name(name)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Queues `release` for the bridge whose status file is `status_file`; returns the request's
/// file. The folder is created private to its owner.
pub fn request_release(status_file: &Path, release: &Release) -> Result<PathBuf, ControlError> {
    let dir = control_dir(status_file);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(io(&dir))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = format!("release-{stamp}-{}-{:08x}", std::process::id(), sequence());
    let tmp = dir.join(format!("{name}.tmp"));
    let file = dir.join(format!("{name}.json"));
    let body = serde_json::to_vec(release).map_err(|e| ControlError::Io {
        path: tmp.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&tmp, body).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &file).map_err(io(&file))?;
    Ok(file)
}

/// A few bits that tell two requests of one process in one millisecond apart.
fn sequence() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Takes every complete request queued for the bridge whose status file is `status_file`, in
/// the order they were made, deleting them. A file that is not a request is renamed
/// `*.rejected` (kept for the admin to see) and reported in the second list.
pub fn take_releases(status_file: &Path) -> Result<(Vec<Release>, Vec<String>), ControlError> {
    let dir = control_dir(status_file);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut releases = Vec::new();
    let mut rejected = Vec::new();
    for f in files {
        let text = std::fs::read(&f).map_err(io(&f))?;
        match serde_json::from_slice::<Release>(&text) {
            Ok(r) => {
                std::fs::remove_file(&f).map_err(io(&f))?;
                releases.push(r);
            }
            Err(e) => {
                let bad = f.with_extension("rejected");
                std::fs::rename(&f, &bad).map_err(io(&f))?;
                rejected.push(format!("{} is not a release request ({e})", bad.display()));
            }
        }
    }
    Ok((releases, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_back_in_order_once_and_bad_files_are_kept_aside() {
        let dir = std::env::temp_dir().join(format!("pbx365-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = dir.join("presence-status.json");
        assert_eq!(take_releases(&status).unwrap(), (vec![], vec![]));
        request_release(&status, &Release::User("u1".into())).unwrap();
        request_release(&status, &Release::All).unwrap();
        std::fs::write(control_dir(&status).join("zz.json"), b"{nonsense").unwrap();
        std::fs::write(control_dir(&status).join("half.tmp"), b"\"all\"").unwrap();
        let (got, bad) = take_releases(&status).unwrap();
        assert_eq!(got, vec![Release::User("u1".into()), Release::All]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(control_dir(&status).join("zz.rejected").exists());
        assert_eq!(take_releases(&status).unwrap(), (vec![], vec![]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
