// SPDX-License-Identifier: GPL-2.0-only
//! Advisory locks (flock(2)) that keep two `diofuzz fuzz` or `bench` sessions of one checkout
//! out of each other's working directory: a session deletes and rebuilds its directory at
//! start, so a second session on the same directory would destroy the first one's engine
//! corpora and libFuzzer's merge control file. [`wait`] also serialises the lab tests' QEMU
//! guests (tools/tests/lab.rs). The lock is released when the file closes, also when the
//! process is killed.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

fn open(path: &Path) -> Result<File, String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))
}

/// The lock file that guards the directory `dir`: `dir` with `.lock` appended (beside it,
/// because a session deletes its directory).
pub fn file_for(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Takes the lock of `dir` without waiting. When another process holds it, the error names
/// that process and what to do.
pub fn try_dir(dir: &Path) -> Result<Held, String> {
    let path = file_for(dir);
    let mut f = open(&path)?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(format!(
            "another diofuzz session (pid {}) is using {}: wait for it to end, or give this \
             session another --variant or checkout",
            holder.trim(),
            dir.display()
        ));
    }
    let _ = f.set_len(0);
    let _ = writeln!(f, "{}", std::process::id());
    Ok(Held { _file: f })
}

/// Takes the lock at `path`, waiting for its holder.
pub fn wait(path: &Path) -> Result<Held, String> {
    let f = open(path)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Held { _file: f });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_session_on_one_directory_is_refused_until_the_first_ends() {
        let dir = std::env::temp_dir().join(format!("diofuzz-lock-{}/work", std::process::id()));
        let first = try_dir(&dir).unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts exactly as another process's would.
        let e = try_dir(&dir).unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains(&dir.display().to_string()), "{e}");
        // Another directory is free.
        let other = try_dir(&dir.with_file_name("work-v6.18")).unwrap();
        drop(first);
        let again = try_dir(&dir).unwrap();
        drop((again, other));
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
