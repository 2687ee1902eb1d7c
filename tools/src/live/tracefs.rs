// SPDX-License-Identifier: GPL-2.0-only
//! tracefs: a private trace instance (`instances/diofuzz-live-<pid>-<n>`) with the write-path
//! events enabled and filtered to the executing thread (set_event_pid + event-fork, so a forked
//! RLIMIT child is followed). Nothing of the global trace settings is changed; the instance is
//! removed at the end. If tracefs is not mounted, it is mounted inside the scratch folder.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::scratch::PREFIX;

/// The events the harness enables when present (system, event).
pub const EVENTS: [(&str, &str); 11] = [
    ("iomap", "iomap_dio_rw_begin"),
    ("iomap", "iomap_dio_complete"),
    ("iomap", "iomap_dio_invalidate_fail"),
    ("xfs", "xfs_file_direct_write"),
    ("xfs", "xfs_file_buffered_write"),
    ("xfs", "xfs_iomap_atomic_write_cow"),
    ("xfs", "xfs_reflink_bounce_dio_write"),
    ("ext4", "ext4_da_write_begin"),
    ("ext4", "ext4_write_begin"),
    ("xfs", "xfs_end_io_direct_write"),
    // Each iomap iteration: a block device's buffered write shows as one from
    // iomap_file_buffered_write with flags WRITE (its direct writes do not use iomap).
    ("iomap", "iomap_iter"),
];

/// One parsed trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub pid: i32,
    pub name: String,
    /// The text after "name: ".
    pub args: String,
}

impl TraceEvent {
    /// The value of a `key value` pair in the event text (e.g. "ret", "error", "flags").
    pub fn field(&self, key: &str) -> Option<&str> {
        let mut it = self.args.split_whitespace();
        while let Some(k) = it.next() {
            if k == key {
                return it.next();
            }
        }
        None
    }
    /// A numeric field, decimal or 0x-hex.
    pub fn num(&self, key: &str) -> Option<i64> {
        let v = self.field(key)?;
        if let Some(h) = v.strip_prefix("0x") {
            i64::from_str_radix(h, 16).ok()
        } else {
            v.parse().ok()
        }
    }
}

/// Parse the `trace` file format: "  comm-PID  [CPU] FLAGS  TS: event: args".
pub fn parse_line(line: &str) -> Option<TraceEvent> {
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let br = line.find(" [")?;
    let task = line[..br].trim();
    let pid: i32 = task.rsplit('-').next()?.trim().parse().ok()?;
    let rest = &line[br + 2..];
    let close = rest.find(']')?;
    let rest = &rest[close + 1..];
    // After the flags and the timestamp comes ": event: args".
    let c1 = rest.find(": ")?;
    let rest = &rest[c1 + 2..];
    let (name, args) = match rest.find(": ") {
        Some(c2) => (&rest[..c2], &rest[c2 + 2..]),
        None => (rest.trim_end_matches(':'), ""),
    };
    if name.contains(' ') {
        return None;
    }
    Some(TraceEvent {
        pid,
        name: name.to_string(),
        args: args.trim().to_string(),
    })
}

pub fn parse(text: &str) -> Vec<TraceEvent> {
    text.lines().filter_map(parse_line).collect()
}

/// A trace instance of ours.
pub struct Tracer {
    pub root: PathBuf,
    pub inst: PathBuf,
    /// We mounted `root` (inside the scratch folder).
    mounted_by_us: bool,
    pub enabled: Vec<String>,
    pub missing: Vec<String>,
    done: bool,
}

fn find_tracefs() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    for l in mi.lines() {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next() == Some("tracefs") {
            let p = PathBuf::from(pre.split(' ').nth(4)?);
            // Another run's private tracefs (inside its scratch folder) goes away with that run:
            // seen in session 6, two runs at once, every later scenario of the second failed
            // with "clear trace: No such file or directory".
            let private = p
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with(PREFIX));
            if !private && p.join("instances").is_dir() {
                return Some(p);
            }
        }
    }
    None
}

fn write(p: &Path, v: &str) -> Result<(), String> {
    fs::write(p, v).map_err(|e| format!("write '{v}' to {}: {e}", p.display()))
}

impl Tracer {
    /// Set up the instance; `scratch_dir` is where tracefs is mounted when it is not already.
    pub fn new(scratch_dir: &Path, seq_name: &str) -> Result<Tracer, String> {
        let (root, mounted_by_us) = match find_tracefs() {
            Some(r) => (r, false),
            None => {
                let m = scratch_dir.join("tracefs");
                fs::create_dir(&m).map_err(|e| format!("create {}: {e}", m.display()))?;
                mount(
                    Some("nodev"),
                    m.as_path(),
                    Some("tracefs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None::<&str>,
                )
                .map_err(|e| format!("mount tracefs on {}: {e}", m.display()))?;
                (m, true)
            }
        };
        remove_stale_instances(&root);
        let inst = root.join("instances").join(seq_name);
        let mut t = Tracer {
            root,
            inst: inst.clone(),
            mounted_by_us,
            enabled: Vec::new(),
            missing: Vec::new(),
            done: false,
        };
        fs::create_dir(&inst)
            .map_err(|e| format!("create trace instance {}: {e}", inst.display()))?;
        let _ = write(&inst.join("buffer_size_kb"), "512");
        for (sys, ev) in EVENTS {
            let en = inst.join("events").join(sys).join(ev).join("enable");
            if en.exists() {
                write(&en, "1")?;
                t.enabled.push(format!("{sys}:{ev}"));
            } else {
                t.missing.push(format!("{sys}:{ev}"));
            }
        }
        let _ = write(&inst.join("options/event-fork"), "1");
        write(&inst.join("tracing_on"), "1")?;
        Ok(t)
    }

    /// Follow only this thread (and what it forks).
    pub fn follow(&self, tid: i32) -> Result<(), String> {
        write(&self.inst.join("set_event_pid"), &tid.to_string())
    }

    pub fn clear(&self) -> Result<(), String> {
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.inst.join("trace"))
            .map(|_| ())
            .map_err(|e| format!("clear trace: {e}"))
    }

    pub fn read(&self) -> Result<Vec<TraceEvent>, String> {
        let s =
            fs::read_to_string(self.inst.join("trace")).map_err(|e| format!("read trace: {e}"))?;
        Ok(parse(&s))
    }

    /// Disable our events, remove the instance, unmount tracefs if we mounted it.
    pub fn cleanup(&mut self) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut errs = Vec::new();
        let _ = write(&self.inst.join("tracing_on"), "0");
        for e in &self.enabled {
            let (sys, ev) = e.split_once(':').unwrap_or(("", ""));
            let en = self.inst.join("events").join(sys).join(ev).join("enable");
            if let Err(x) = write(&en, "0") {
                errs.push(x);
            }
        }
        let _ = write(&self.inst.join("set_event_pid"), "");
        if let Err(e) = fs::remove_dir(&self.inst) {
            errs.push(format!(
                "remove trace instance {}: {e}",
                self.inst.display()
            ));
        }
        if self.mounted_by_us {
            if let Err(e) = umount2(self.root.as_path(), MntFlags::empty()) {
                errs.push(format!("umount {}: {e}", self.root.display()));
            }
        }
        errs
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        for e in self.cleanup() {
            eprintln!("live: trace cleanup: {e}");
        }
    }
}

/// Remove `instances/diofuzz-live-<pid>-*` whose pid is gone.
pub fn remove_stale_instances(root: &Path) {
    let Ok(rd) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(Ok(pid)) = rest.split('-').next().map(|p| p.parse::<i32>()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        for (sys, ev) in EVENTS {
            let _ = fs::write(p.join("events").join(sys).join(ev).join("enable"), "0");
        }
        match fs::remove_dir(&p) {
            Ok(()) => eprintln!("live: removed stale trace instance {}", p.display()),
            Err(x) => eprintln!(
                "live: could not remove stale trace instance {}: {x}",
                p.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trace_lines() {
        let t = "# tracer: nop\n#\n           <...>-4242    [001] ..... 12345.678901: iomap_dio_rw_begin: dev 7:0 ino 0x83 size 0x0 offset 0x0 length 0x1000 done_before 0x0 flags DIRECT|WRITE|ATOMIC dio_flags  aio 0\n  my-prog-x-17  [000] d..1.  1.000001: iomap_dio_complete: dev 7:0 ino 0x83 size 0x1000 offset 0x1000 flags DIRECT|WRITE aio 0 error 0 ret 4096\n diofuzz-9 [003] ..... 5.5: ext4_da_write_begin: dev 7,0 ino 12 pos 0 len 4096\n";
        let ev = parse(t);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].pid, 4242);
        assert_eq!(ev[0].name, "iomap_dio_rw_begin");
        assert_eq!(ev[0].field("flags"), Some("DIRECT|WRITE|ATOMIC"));
        assert_eq!(ev[0].num("length"), Some(4096));
        assert_eq!(ev[1].pid, 17);
        assert_eq!(ev[1].num("ret"), Some(4096));
        assert_eq!(ev[1].num("error"), Some(0));
        assert_eq!(ev[2].name, "ext4_da_write_begin");
        assert_eq!(ev[2].num("pos"), Some(0));
    }
}
