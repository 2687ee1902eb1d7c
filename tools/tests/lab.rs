// SPDX-License-Identifier: GPL-2.0-only
//! Integration tests of `diofuzz lab`. Those that boot a kernel need QEMU, the host tools the
//! initramfs takes (busybox-static, e2fsprogs, xfsprogs, cpio, kmod) and a kernel already in the
//! cache (`.ci/lab.sh` downloads the newest); without them they print "SKIP lab: <reason>" (run
//! with --nocapture) and return. The error paths run everywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_diofuzz")
}

fn cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("diofuzz/lab")
}

/// The newest cached Debian kernel version ("7.3.4"), or why the boot tests cannot run.
fn cached_kernel() -> Result<String, String> {
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !qemu {
        return Err("no qemu-system-x86_64 (apt-get install qemu-system-x86)".into());
    }
    for t in ["busybox", "cpio", "depmod", "mkfs.xfs", "mkfs.ext4"] {
        let found = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(t).exists());
        if !found {
            return Err(format!("no {t} on the host"));
        }
    }
    let mut v: Vec<String> = std::fs::read_dir(cache().join("kernels"))
        .map_err(|_| {
            format!(
                "no kernel in the cache {} (.ci/lab.sh downloads one)",
                cache().display()
            )
        })?
        .flatten()
        .filter(|e| e.path().join(".complete").exists())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .split('+')
                .next()
                .map(str::to_string)
        })
        .collect();
    let key = |s: &String| {
        s.split('.')
            .map(|x| x.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    v.sort_by_key(key);
    v.pop().ok_or_else(|| {
        format!(
            "no kernel in the cache {} (.ci/lab.sh downloads one)",
            cache().display()
        )
    })
}

/// The cached kernel to boot and the guest lock, or None after printing why the boot tests
/// cannot run. The lock (flock on `lab-guest.lock` in the cache) lets one QEMU guest run at a
/// time, among this binary's test threads and other test runs on the machine: TCG guests that
/// share the CPUs run past their timeouts. It is released when the test ends.
fn guest() -> Option<(String, diofuzz_tools::engines::lock::Held)> {
    let k = match cached_kernel() {
        Ok(k) => k,
        Err(why) => {
            println!("SKIP lab: {why}");
            return None;
        }
    };
    let held = diofuzz_tools::engines::lock::wait(&cache().join("lab-guest.lock"))
        .unwrap_or_else(|e| panic!("{e}"));
    Some((k, held))
}

/// The scenario results of a guest's stream.jsonl (`stream`): its lines with a verdict.
fn results(stream: &str) -> impl Iterator<Item = serde_json::Value> + '_ {
    stream
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("verdict").is_some())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("diofuzz-labtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    // Own build without the needed modules: named, with their config options.
    let d = tmp("mods");
    std::fs::create_dir_all(d.join("kernel")).unwrap();
    std::fs::write(d.join("bzImage"), b"").unwrap();
    let o = Command::new(bin())
        .args(["lab", "--kernel"])
        .arg(d.join("bzImage"))
        .arg("--modules")
        .arg(&d)
        .args(["--out"])
        .arg(d.join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("qemu-system-x86_64 not found") || err.contains("missing on the host") {
        // Without QEMU or the host tools that is the error (exit 2), which is also a clear one.
        assert_eq!(o.status.code(), Some(2), "{err}");
        println!("SKIP lab: modules check needs QEMU and the host tools: {err}");
    } else {
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("loop, ext4, xfs, scsi_debug, sd_mod")
                && err.contains("CONFIG_SCSI_DEBUG"),
            "{err}"
        );
    }
    // An unknown group.
    let o = Command::new(bin())
        .args(["lab", "--kernel", "7.3", "--groups", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown group nope"));
    // No --kernel.
    let o = Command::new(bin()).args(["lab"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&d);
}

/// `diofuzz lab --kernel K --groups G --count N --json --out OUT`: its JSON (exit 0 or 1).
fn lab_json(k: &str, groups: &str, count: u32, out: &Path) -> serde_json::Value {
    let o = Command::new(bin())
        .args(["lab", "--kernel", k, "--groups", groups, "--json"])
        .args(["--count", &count.to_string()])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "exit {:?}: {err}",
        o.status.code()
    );
    serde_json::from_slice(&o.stdout).expect("lab --json")
}

#[test]
fn boots_the_cached_kernel_and_runs_ext4_atomic_on_the_disk() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("boot");
    let j = lab_json(&k, "ext4-disk", 12, &out);
    let kr = &j["kernels"][0];
    assert_eq!(kr["version"], k.as_str());
    assert!(kr["crash"].is_null(), "{}", kr["crash"]);
    let g = &kr["groups"][0];
    assert_eq!(g["group"], "ext4-disk");
    assert_eq!(g["total"], 12, "{g}");
    assert_eq!(g["rc"], 0, "{g}");
    // Atomic writes ran on the disk, and the model was compared on them.
    assert!(g["atomic"].as_u64().unwrap() > 0, "{g}");
    assert!(
        g["agree"].as_u64().unwrap() + g["disagree"].as_u64().unwrap() > 6,
        "{g}"
    );
    assert!(out.join(&k).join("console.log").exists());
    assert!(out.join("lab.json").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn fault_groups_fail_exactly_the_faulted_bio() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("fault");
    let j = lab_json(&k, "bdev-fault,bdev-disk-fault", 8, &out);
    let groups = j["kernels"][0]["groups"]
        .as_array()
        .expect("groups")
        .clone();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut group = String::new();
    let mut seen = std::collections::BTreeMap::new();
    for v in stream
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if let Some(g) = v.get("group").and_then(|g| g.as_str()) {
            group = g.to_string();
        }
        if v.get("verdict").is_none() {
            continue;
        }
        *seen.entry(group.clone()).or_insert(0) += 1;
        // Every scenario carries a bio_endio fault (-EIO on null_blk; -EIO or -ENOSPC on the
        // atomic disk); the kernel failed exactly that bio (the block trace saw one request with
        // that errno at its first sector, of its length) and returned it as the model does.
        assert_eq!(v["scenario"]["faults"][0]["site"], "bio_endio", "{v}");
        let errno = v["scenario"]["faults"][0]["errno"].as_str().unwrap_or("");
        if group == "bdev-fault" {
            assert_eq!(errno, "EIO", "{v}");
        } else {
            assert!(errno == "EIO" || errno == "ENOSPC", "{v}");
        }
        let note = v["note"].as_str().unwrap_or("");
        assert!(
            note.contains(&format!("exactly the faulted bio failed, -{errno}")),
            "{group} {}: {note}",
            v["id"]
        );
        assert_eq!(v["kernel"]["ret"], format!("-{errno}"), "{v}");
        assert_eq!(v["verdict"], "agree", "{v}");
        if group == "bdev-disk-fault" {
            // The hardware atomic bio is the one that failed.
            assert_eq!(v["scenario"]["request"]["rwf"]["atomic"], true, "{v}");
        }
    }
    for g in &groups {
        let name = g["group"].as_str().unwrap_or("");
        if g["rc"] == 2 {
            // A kernel whose null_blk has no badblocks_once (6.12): said, not run.
            println!("SKIP lab: no fault device for {name} on {k}");
            continue;
        }
        assert_eq!(g["rc"], 0, "{g}");
        // A scenario refused for the device (a dirty page over the faulted bio) is not run.
        assert!(
            seen.get(name).copied().unwrap_or(0) >= 6,
            "{name}: {seen:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Pages held during the call on the atomic disk (session 7, tools/src/live/disk_hold.rs): every
/// scenario of `bdev-held-disk` has a page under writeback or an mmapped dirty page, the disk's
/// held write commands kept the writeback page under writeback (else the scenario is skipped
/// "not possible here"), and the kernel agrees with the model.
#[test]
fn held_pages_on_the_disk_are_held() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("held");
    let j = lab_json(&k, "bdev-held-disk", 6, &out);
    let g = &j["kernels"][0]["groups"][0];
    assert_eq!(g["group"], "bdev-held-disk", "{g}");
    assert_eq!(g["rc"], 0, "{g}");
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut n = 0;
    for v in results(&stream) {
        let pages = v["scenario"]["world"]["pages"].to_string();
        assert!(
            pages.contains("writeback") || pages.contains("mapped_dirty"),
            "{v}"
        );
        assert_eq!(v["verdict"], "agree", "{v}");
        n += 1;
    }
    assert_eq!(n, 6);
    let _ = std::fs::remove_dir_all(&out);
}

/// The ublk fault device (session 6): the guest's `diofuzz ublk-fault` server completes the
/// request holding the armed sector with the fault's errno; the block trace saw exactly that
/// bio fail with it, and the kernel agrees with the model (its `Deferred` order).
#[test]
fn ublk_fault_groups_give_timeout_einval_and_enomem() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("ublk");
    let j = lab_json(&k, "bdev-ublk-fault,xfs-ublk-fault", 8, &out);
    let groups = j["kernels"][0]["groups"]
        .as_array()
        .expect("groups")
        .clone();
    assert_eq!(groups.len(), 2, "{groups:?}");
    for g in &groups {
        if g["rc"] == 2 {
            println!("SKIP lab: no ublk fault device on {k}: {g}");
            let _ = std::fs::remove_dir_all(&out);
            return;
        }
        assert_eq!(g["rc"], 0, "{g}");
    }
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut errnos = std::collections::BTreeSet::new();
    let mut n = 0;
    for v in results(&stream) {
        n += 1;
        assert_eq!(v["scenario"]["faults"][0]["site"], "bio_endio", "{v}");
        let errno = v["scenario"]["faults"][0]["errno"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let note = v["note"].as_str().unwrap_or("");
        assert!(
            note.contains(&format!("exactly the faulted bio failed, -{errno}")),
            "{}: {note}",
            v["id"]
        );
        // The bio's errno, or -EFAULT when the next user page failed first (deferred order).
        let ret = v["kernel"]["ret"].as_str().unwrap_or("");
        assert!(ret == format!("-{errno}") || ret == "-EFAULT", "{v}");
        assert_eq!(v["verdict"], "agree", "{v}");
        errnos.insert(errno);
    }
    assert!(n >= 12, "only {n} scenarios compared");
    for e in ["ETIMEDOUT", "EINVAL", "ENOMEM"] {
        assert!(errnos.contains(e), "{e} never drawn: {errnos:?}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn faulted_reproducers_make_their_fault_in_the_guest() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    // The C program makes the device-side fault itself (live/repro_fault.rs): the scsi_debug
    // rule with DATA PROTECT 27/07 sense (-ENOSPC) on the atomic disk, and a null_blk bad sector
    // (-EIO) under an XFS file whose second bio is still written (the plugged order), and the
    // ublk server's armed sector (-ETIMEDOUT).
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lab-repro");
    for (f, want) in [
        ("fault_bdev_atomic_enospc.json", "errno 28"),
        ("fault_xfs_eio_later_bio_written.json", "errno 5"),
        // The ublk fault device (session 6): -ETIMEDOUT under an XFS file.
        ("fault_ublk_xfs_etimedout.json", "errno 110"),
    ] {
        let o = Command::new(bin())
            .args(["repro", "--run", "--kernel", &k])
            .arg(docs.join(f))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        if err.contains("install build-essential") {
            println!("SKIP lab: {f}: {err}");
            continue;
        }
        if out.contains("without badblocks_once") {
            println!("SKIP lab: {f}: this kernel's null_blk has no badblocks_once");
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{f}: {out}\n{err}");
        for w in [want, "fault: fired", "REPRODUCED", "REPRO-END rc=0"] {
            assert!(out.contains(w), "{f}: no {w:?} in\n{out}\n{err}");
        }
    }
}

/// Processes whose command line mentions `needle` (our unique output folder).
fn procs_mentioning(needle: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&c).contains(needle) {
                v.push(pid);
            }
        }
    }
    v
}

#[test]
fn sigterm_stops_qemu_and_leaves_nothing_running() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("term");
    let needle = out.display().to_string();
    let mut child = Command::new(bin())
        .args([
            "lab", "--kernel", &k, "--groups", "xfs-loop", "--count", "500",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until QEMU runs (its command line names our output folder).
    let t0 = Instant::now();
    while procs_mentioning(&needle).len() < 2 && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        procs_mentioning(&needle).len() >= 2,
        "QEMU did not start within 120 s"
    );
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "interrupted runs exit 130");
    std::thread::sleep(Duration::from_millis(500));
    let left = procs_mentioning(&needle);
    assert!(left.is_empty(), "still running after SIGTERM: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Faults between two bios of one write (session 8): scattered writes of several 256-bvec bios
/// on the ublk fault device, the fault on a bio after the first; each injection failed exactly
/// the model's whole bio (the device did not split it) and the kernel agrees with the model.
#[test]
fn ublk_segs_fault_group_fails_a_bio_between_others() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("ublk-segs");
    let j = lab_json(&k, "xfs-ublk-segs-fault", 6, &out);
    let g = &j["kernels"][0]["groups"][0];
    if g["rc"] == 2 {
        println!("SKIP lab: no ublk fault device on {k}: {g}");
        let _ = std::fs::remove_dir_all(&out);
        return;
    }
    assert_eq!(g["rc"], 0, "{g}");
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut n = 0;
    for v in results(&stream) {
        n += 1;
        let s = &v["scenario"];
        assert!(s["request"]["scatter"].is_object(), "{v}");
        assert!(s["faults"][0]["nth"].as_u64().unwrap_or(0) >= 1, "{v}");
        let note = v["note"].as_str().unwrap_or("");
        assert!(
            note.contains("exactly the faulted bio failed"),
            "{}: {note}",
            v["id"]
        );
        assert_eq!(v["verdict"], "agree", "{v}");
    }
    // 6.12 - 6.17 have no file scenarios here (docs/lab.md): none compared is a pass there.
    assert!(
        n >= 4 || k.starts_with("6.1"),
        "only {n} scenarios compared on {k}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// `chattr -j` after open of a `+j` file under `dax=always` (session 8): seed 20's scenarios 2,
/// 4 and 8 of the `ext4-dax` group are that world; each runs on a pmem filesystem of its own
/// (`dax=always,nodelalloc`, remounted `delalloc` after open), the file is not DAX at the call
/// (else "skipped": the world was not built), and the kernel agrees with the model.
#[test]
fn jflag_cleared_after_open_under_dax_always_runs_on_pmem() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("djdax");
    let o = Command::new(bin())
        .args(["lab", "--kernel", &k, "--groups", "ext4-dax", "--json"])
        .args(["--count", "9", "--seed", "20", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut n = 0;
    for v in results(&stream) {
        let w = &v["scenario"]["world"];
        let jclear = w["mount"]["dax"] == true
            && w["inode"]["journal_data"] == false
            && v["scenario"]["races"]
                .to_string()
                .contains("InodeFlagChangedAfterOpen\":1}");
        if !jclear {
            continue;
        }
        assert_eq!(v["verdict"], "agree", "{v}");
        assert_eq!(v["probes"]["world"], "own-fs", "{v}");
        n += 1;
    }
    assert_eq!(n, 3, "{stream}");
    let _ = std::fs::remove_dir_all(&out);
}

/// RWF_NOWAIT on a stable-writes block device (session 9, tools/src/live/nvme_stable.rs): every
/// scenario of `bdev-nvme-stable` runs on an nvme-tcp namespace connected with the data digest
/// (the set-up checks its queue/stable_writes, and refuses to run otherwise), none is skipped or
/// an error, and the kernel agrees with the model (or the mmap writer makes it racy).
#[test]
fn nowait_on_stable_writes_runs_on_an_nvme_tcp_namespace() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("nvme-stable");
    let j = lab_json(&k, "bdev-nvme-stable", 5, &out);
    let g = &j["kernels"][0]["groups"][0];
    assert_eq!(g["group"], "bdev-nvme-stable", "{g}");
    assert_eq!(g["rc"], 0, "{g}");
    assert_eq!(g["skipped"], 0, "{g}");
    assert_eq!(g["errors"], 0, "{g}");
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let mut n = 0;
    for v in results(&stream) {
        let s = &v["scenario"];
        assert_eq!(s["world"]["device"]["stable_writes"], true, "{v}");
        assert_eq!(s["request"]["rwf"]["nowait"], true, "{v}");
        assert!(v["verdict"] == "agree" || v["verdict"] == "racy", "{v}");
        n += 1;
    }
    assert_eq!(n, 5, "{stream}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Held pages, more than one iovec and the multipath head on the nvme namespace (session 10,
/// tools/src/live/nvme_stable.rs): `bdev-nvme-held`'s scenarios each have a held page or more
/// than one iovec, the held ones are held (a writeback page not under writeback is skipped),
/// `bdev-nvme-mpath` runs on the head (the newest cached kernel's head has the atomic units),
/// none is skipped or an error, and the kernel agrees with the model (or the mmap writer makes
/// it racy).
#[test]
fn held_pages_and_the_multipath_head_on_the_nvme_namespace() {
    let Some((k, _guest)) = guest() else {
        return;
    };
    let out = tmp("nvme-held");
    let j = lab_json(&k, "bdev-nvme-held,bdev-nvme-mpath", 5, &out);
    for (i, name) in ["bdev-nvme-held", "bdev-nvme-mpath"].iter().enumerate() {
        let g = &j["kernels"][0]["groups"][i];
        assert_eq!(g["group"], *name, "{g}");
        assert_eq!(g["rc"], 0, "{g}");
        assert_eq!(g["skipped"], 0, "{g}");
        assert_eq!(g["errors"], 0, "{g}");
    }
    let stream = std::fs::read_to_string(out.join(&k).join("stream.jsonl")).unwrap();
    let (mut n, mut held) = (0, 0);
    for v in results(&stream) {
        let s = &v["scenario"];
        assert_eq!(s["world"]["device"]["stable_writes"], true, "{v}");
        assert_eq!(s["request"]["rwf"]["nowait"], true, "{v}");
        assert!(v["verdict"] == "agree" || v["verdict"] == "racy", "{v}");
        let pages = s["world"]["pages"].as_array().unwrap();
        held += pages
            .iter()
            .any(|p| p == "writeback" || p == "mapped_dirty") as u32;
        n += 1;
    }
    assert_eq!(n, 10, "{stream}");
    assert!(held >= 3, "{held} held: {stream}");
    let _ = std::fs::remove_dir_all(&out);
}
