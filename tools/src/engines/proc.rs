// SPDX-License-Identifier: GPL-2.0-only
//! Engine processes: each one starts in its own process group (setpgid), so that Ctrl-C (SIGINT)
//! or SIGTERM sent to diofuzz stops every engine process it started and everything they forked
//! (killpg via `nix`), and diofuzz itself goes on to write the summary.

use nix::sys::signal::{self, killpg, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNO: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    STOP.store(true, Ordering::SeqCst);
    SIGNO.store(sig, Ordering::SeqCst);
}

/// Install SIGINT/SIGTERM/SIGHUP handlers that only set a flag (async-signal-safe).
pub fn install_handlers() {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to atomics.
        unsafe {
            let _ = signal::sigaction(s, &act);
        }
    }
}

/// True once Ctrl-C / SIGTERM arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The signal that stopped us, if any (for the summary).
pub fn stop_signal() -> Option<i32> {
    match SIGNO.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Sleep in small steps, returning early when a stop signal arrives.
pub fn sleep(d: Duration) {
    let end = Instant::now() + d;
    while !stopped() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// (ppid, start time in clock ticks) of a process, from /proc/PID/stat.
fn stat_of(pid: i32) -> Option<(i32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest fields: state(0) ppid(1) ... starttime(19)
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?))
}

/// Every live descendant of `root` as (pid, start time), found through /proc.
pub fn descendants(root: i32) -> Vec<(i32, u64)> {
    let mut all: Vec<(i32, i32, u64)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() {
                if let Some((ppid, st)) = stat_of(pid) {
                    all.push((pid, ppid, st));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, st) in &all {
            if *ppid == p && !out.iter().any(|x: &(i32, u64)| x.0 == *pid) {
                out.push((*pid, *st));
                frontier.push(*pid);
            }
        }
    }
    out
}

/// A child process leading its own process group. Engines may move their own children to other
/// sessions (AFL++'s fork server calls setsid()), so the descendants seen while it runs are
/// remembered and killed one by one as well.
pub struct Group {
    pub child: Child,
    pub name: String,
    seen: Vec<(i32, u64)>,
    last_track: Option<Instant>,
    /// When it was started, seconds since the epoch (shm ctime resolution).
    started: u64,
}

impl Group {
    /// Spawn `cmd` in a new process group with stdout+stderr appended to `log`.
    pub fn spawn(mut cmd: Command, name: &str, log: &Path) -> Result<Group, String> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open log {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open log {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(Group {
            child,
            name: name.to_string(),
            seen: Vec::new(),
            last_track: None,
            started: epoch_secs(),
        })
    }

    /// Remember the current descendants (at most every 500 ms).
    pub fn track(&mut self) {
        if self
            .last_track
            .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return;
        }
        self.last_track = Some(Instant::now());
        for d in descendants(self.pid()) {
            if !self.seen.contains(&d) {
                self.seen.push(d);
            }
        }
    }

    /// SIGKILL the remembered descendants that are still the same processes (same start time),
    /// and every process of a session one of them led (AFL++'s fork server session: its stopped
    /// persistent-mode child outlives the fork server otherwise).
    fn kill_seen(&mut self) {
        if self.seen.is_empty() {
            return;
        }
        let leaders: Vec<i32> = self.seen.iter().map(|x| x.0).collect();
        for (pid, st) in self.seen.drain(..) {
            if stat_of(pid).map(|x| x.1) == Some(st) {
                let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for (pid, f) in proc_stats() {
            // state(0) ppid(1) pgrp(2) session(3)
            let sid: i32 = f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
            if sid > 1 && leaders.contains(&sid) {
                let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Has it exited? (Reaps it.)
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stop the whole group: SIGINT (engines then write their final stats), SIGTERM after
    /// `grace`, SIGKILL after twice that. Always reaps the leader.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let r = self.stop_group(grace);
        let seen = self.seen.clone();
        self.kill_seen();
        self.seen = seen;
        self.remove_orphan_shm();
        self.seen.clear();
        r
    }

    /// Each signal goes to the whole group, and the next one is sent only when some member of
    /// the group is still alive after `grace`: a wrapper leader (cargo-afl) dies at once on
    /// SIGINT, while the afl-fuzz it started is still writing its state and removing its
    /// shared memory; killing the group as soon as the leader was gone leaked three SysV shm
    /// segments (160 MB with cmplog) per AFL++ attempt.
    fn stop_group(&mut self, grace: Duration) -> Option<ExitStatus> {
        let pgid = self.pid();
        if let Some(s) = self.try_wait() {
            if group_members(pgid).is_empty() {
                return Some(s);
            }
        } else {
            self.track();
        }
        for (sig, wait) in [
            (Signal::SIGINT, grace),
            (Signal::SIGTERM, grace),
            (Signal::SIGKILL, Duration::from_secs(5)),
        ] {
            let _ = killpg(Pid::from_raw(pgid), sig);
            let end = Instant::now() + wait;
            while Instant::now() < end {
                let leader = self.try_wait();
                if leader.is_some() && group_members(pgid).is_empty() {
                    return leader;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.try_wait()
    }

    /// Remove the System V shared memory segments that a process of this group created and that
    /// nothing is attached to any more (AFL++'s coverage, cmplog and input maps when afl-fuzz
    /// could not clean up: killed, or crashed). Only segments whose creator is the leader or a
    /// descendant seen while it ran, created after the group started, are touched.
    fn remove_orphan_shm(&self) {
        let mut ours: Vec<i32> = self.seen.iter().map(|x| x.0).collect();
        ours.push(self.pid());
        for id in orphan_shm(&ours, self.started) {
            // SAFETY: IPC_RMID with a null buffer only marks the segment for removal.
            unsafe {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}

/// Live (not zombie) processes whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    proc_stats()
        .filter(|(_, f)| {
            // state(0) ppid(1) pgrp(2)
            f.first().map(String::as_str) != Some("Z")
                && f.get(2).and_then(|x| x.parse().ok()) == Some(pgid)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Every process as (pid, the fields of /proc/PID/stat after the command name). The name may
/// hold spaces and parentheses: the fields start after the last ')'.
fn proc_stats() -> impl Iterator<Item = (i32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &s[s.rfind(')')? + 1..];
            Some((pid, rest.split_whitespace().map(String::from).collect()))
        })
}

/// Segment ids in /proc/sysvipc/shm created by one of `pids` no earlier than `since` (seconds
/// since the epoch) with no process attached.
pub fn orphan_shm(pids: &[i32], since: u64) -> Vec<i32> {
    let Ok(t) = std::fs::read_to_string("/proc/sysvipc/shm") else {
        return Vec::new();
    };
    let mut lines = t.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = head.split_whitespace().collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(ci), Some(cp), Some(na), Some(ct)) =
        (col("shmid"), col("cpid"), col("nattch"), col("ctime"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok());
        if let (Some(id), Some(cpid), Some(0), Some(ctime)) = (num(ci), num(cp), num(na), num(ct)) {
            if pids.contains(&(cpid as i32)) && ctime >= since as i64 {
                out.push(id as i32);
            }
        }
    }
    out
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.stop(Duration::from_millis(500));
        }
    }
}

/// Run a command to completion in its own process group, output to `log`; stops it (and returns
/// an error) on Ctrl-C.
pub fn run_logged(cmd: Command, name: &str, log: &Path) -> Result<ExitStatus, String> {
    let mut g = Group::spawn(cmd, name, log)?;
    loop {
        if let Some(s) = g.try_wait() {
            return Ok(s);
        }
        if stopped() {
            g.stop(Duration::from_secs(2));
            return Err(format!("{name}: interrupted"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run a command with inherited output in its own process group; stop it on Ctrl-C.
pub fn run_inherit(mut cmd: Command, name: &str) -> Result<ExitStatus, String> {
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
    let mut g = Group {
        child,
        name: name.to_string(),
        seen: Vec::new(),
        last_track: None,
        started: epoch_secs(),
    };
    loop {
        if let Some(s) = g.try_wait() {
            return Ok(s);
        }
        if stopped() {
            g.stop(Duration::from_secs(2));
            return Err(format!("{}: interrupted", g.name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_stop_kills_grandchildren() {
        let dir = std::env::temp_dir().join(format!("diofuzz-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30 & echo $! ; wait"]);
        let mut g = Group::spawn(c, "sh", &log).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        assert!(g.stop(Duration::from_millis(300)).is_some());
        assert!(t.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&log)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // The grandchild is gone (or a zombie reaped by init): kill(pid, 0) fails.
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true);
        assert!(!alive, "grandchild {pid} survived");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The leader dies at the first signal, a member of its group is still cleaning up (as
    /// afl-fuzz does under cargo-afl): stop waits for the member instead of killing it.
    #[test]
    fn group_stop_waits_for_members_after_the_leader_died() {
        let dir = std::env::temp_dir().join(format!("diofuzz-proc-m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let done = dir.join("cleaned");
        let mut c = Command::new("sh");
        // The background shell ignores SIGINT (non-interactive sh) and cleans up on SIGTERM for
        // about a second; the leader (exec'd sleep) dies on SIGINT.
        c.arg("-c").arg(format!(
            "sh -c 'trap \"sleep 1; touch {}; exit 0\" TERM; while :; do sleep 0.1; done' & exec sleep 30",
            done.display()
        ));
        let mut g = Group::spawn(c, "sh", &log).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(g.stop(Duration::from_secs(2)).is_some());
        assert!(done.exists(), "the member was killed before it cleaned up");
        assert!(group_members(g.pid()).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// orphan_shm lists a segment created by one of the given pids with nothing attached, and
    /// nothing else.
    #[test]
    fn orphan_shm_selects_only_our_unattached_segments() {
        let since = epoch_secs();
        // SAFETY: plain SysV calls on a private segment this test creates and removes.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            eprintln!("no SysV shm here; skipped");
            return;
        }
        let me = std::process::id() as i32;
        assert!(orphan_shm(&[me], since).contains(&id));
        assert!(!orphan_shm(&[me + 1], since).contains(&id));
        assert!(!orphan_shm(&[me], since + 3600).contains(&id));
        let p = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        assert!(p as isize != -1);
        assert!(!orphan_shm(&[me], since).contains(&id), "attached");
        unsafe {
            libc::shmdt(p);
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}
