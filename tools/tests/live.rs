// SPDX-License-Identifier: GPL-2.0-only
//! Integration tests of `diofuzz live` on the running kernel. They need root, loop devices,
//! tracefs and mkfs.xfs/mkfs.ext4; without them each test prints an explicit
//! "SKIP live: <reason>" line (run with --nocapture, as .ci/live.sh does) and returns.
//!
//! The tests run one after another inside one #[test] so that scratch resources never overlap.

use std::path::Path;
use std::process::Command;

use diofuzz::scenario::{FsKind, Rwf, Scenario};
use diofuzz_tools::live::{self, scratch};

fn skip_reason() -> Option<String> {
    let m = scratch::prereqs().missing(&[FsKind::Ext4, FsKind::Xfs]);
    if !m.is_empty() {
        return Some(m.join("; "));
    }
    // The test's expectations (XFS software atomic writes, the model variant picked from the
    // release) hold from 6.16 on, and only for a release the model has a variant for.
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse::<u32>().ok());
    let (maj, min) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    if (maj, min) < (6, 16) || diofuzz_tools::live::variant_for_release(&rel).is_none() {
        return Some(format!(
            "kernel {rel}: the live test needs 6.16 or later with a matching model variant"
        ));
    }
    None
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_diofuzz")
}

/// Resources of diofuzz live runs whose owner is no longer running: the runs this test started
/// have all exited when it looks, while another developer's concurrent `diofuzz live` (alive) is
/// not this test's business.
fn ours_left() -> Vec<String> {
    let dead_owner = |text: &str| -> bool {
        let Some(i) = text.find(scratch::PREFIX) else {
            return false;
        };
        let rest = &text[i + scratch::PREFIX.len()..];
        let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists()
    };
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(scratch::PREFIX) && dead_owner(&n) {
                v.push(n);
            }
        }
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    v.extend(mi.lines().filter(|l| dead_owner(l)).map(|l| l.to_string()));
    v
}

fn json_run(args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(bin())
        .arg("live")
        .args(args)
        .arg("--json")
        .output()
        .expect("run diofuzz");
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

#[test]
fn live_kernel() {
    if let Some(why) = skip_reason() {
        println!("SKIP live: {why}");
        // The refusal itself is tested: a clear message and exit 2.
        let out = Command::new(bin())
            .args(["live", "--count", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to run"));
        return;
    }
    // Clean start (removes only dead runs' resources).
    let st = Command::new(bin())
        .args(["live", "--cleanup"])
        .status()
        .unwrap();
    assert!(st.success());
    let before = ours_left();

    // 1. Generated scenarios on both filesystems: all executed, JSON well formed.
    let (code, v) = json_run(&["--count", "12", "--seed", "5"]);
    assert_eq!(code, 0, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 24);
    for r in results {
        let verdict = r["verdict"].as_str().unwrap();
        assert_ne!(verdict, "error", "harness error: {r}");
        // (chattr +j needs CAP_SYS_RESOURCE, which a container may lack.)
        assert!(
            verdict != "skipped" || r["note"].as_str().unwrap().starts_with("not possible here"),
            "generated scenario not expressible: {r}"
        );
    }
    assert!(v["bench"]["kernel_syscalls_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(ours_left(), before, "resources left after a run");

    // 2. Fixed facts of this kernel: ext4 on loop rejects RWF_ATOMIC (EOPNOTSUPP, statx says no);
    //    XFS with reflink accepts a 16 KiB atomic write through the software CoW path.
    let dir = std::env::temp_dir().join(format!("dfz-live-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ext4 = Scenario::default();
    ext4.request.rwf = Rwf {
        atomic: true,
        ..Default::default()
    };
    let mut xfs = ext4.clone();
    xfs.fs = FsKind::Xfs;
    xfs.request.len = 16384;
    xfs.world.i_size = 65536;
    for (name, s) in [("ext4.json", &ext4), ("xfs.json", &xfs)] {
        std::fs::write(dir.join(name), serde_json::to_string(s).unwrap()).unwrap();
    }
    let (code, v) = json_run(&[
        dir.join("ext4.json").to_str().unwrap(),
        dir.join("xfs.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["kernel"]["ret"], "-EOPNOTSUPP", "{}", r[0]);
    assert_eq!(r[0]["kernel"]["statx_unit_min"], 0);
    assert_eq!(r[0]["verdict"], "agree", "{}", r[0]);
    assert_eq!(r[1]["kernel"]["ret"], "16384", "{}", r[1]);
    assert_eq!(r[1]["kernel"]["buffered"], false);
    assert_eq!(r[1]["kernel"]["dio"], true);
    assert_eq!(r[1]["kernel"]["sw_atomic"], true, "{}", r[1]);
    assert!(
        r[1]["kernel_findings"].as_array().unwrap().is_empty(),
        "{}",
        r[1]
    );

    // 3. The C reproducer, compiled and run on a scratch XFS by `repro --run`, reports the same
    //    return value.
    let c = live::repro::c_program(&xfs).unwrap();
    assert!(c.contains("pwritev2"));
    if scratch::which("cc").is_some() {
        let out = Command::new(bin())
            .args(["repro", dir.join("xfs.json").to_str().unwrap(), "--run"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("= 16384 (full"), "{text}");
        assert!(text.contains("STATX_WRITE_ATOMIC: supported"), "{text}");
        // --source: an edited program runs in the generated one's place, on the same scratch
        // filesystem (its directory is argv[1]), and its exit status is the verdict.
        let edited = dir.join("edited.c");
        std::fs::write(
            &edited,
            c.replace("int main(int argc, char **argv)\n{", "int main(int argc, char **argv)\n{\n\tprintf(\"EDITED in %s\\n\", argc > 1 ? argv[1] : \".\");"),
        )
        .unwrap();
        let out = Command::new(bin())
            .args([
                "repro",
                dir.join("xfs.json").to_str().unwrap(),
                "--run",
                "--source",
            ])
            .arg(&edited)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("EDITED in /") && text.contains("= 16384 (full"),
            "{text}"
        );
    } else {
        println!("SKIP live repro --run: no cc");
    }
    assert_eq!(ours_left(), before, "resources left after repro --run");

    // 3b. The XFS CoW fork at rest, aio, data=journal, block-mapped and append-only inodes: built
    //     on the kernel (the CoW fork checked there) and in agreement with the model.
    let reg = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/regressions/");
    let mut extra = vec![
        format!("{reg}cow_xfs_atomic_delalloc_eio"),
        format!("{reg}cow_xfs_atomic_unwritten_prealloc"),
    ];
    let mut base = Scenario::default();
    base.world.i_size = 16384;
    base.world.blocks = vec![
        diofuzz::scenario::BlockState {
            kind: diofuzz::scenario::Extent::Written,
            ..Default::default()
        };
        2
    ];
    base.request.pos = 4096;
    base.request.len = 8192;
    type Edit<'a> = &'a dyn Fn(&mut Scenario);
    let variants: [(&str, Edit); 4] = [
        ("aio", &|s| s.request.aio = true),
        ("journal", &|s| s.world.mount.data_journal = true),
        ("indirect", &|s| s.world.inode.extents = false),
        ("append", &|s| {
            s.world.inode.append_only = true;
            s.request.open.append = true
        }),
    ];
    for (name, f) in variants {
        let mut s = base.clone();
        f(&mut s);
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_string(&s).unwrap()).unwrap();
        extra.push(p.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
    let (code, v) = json_run(&args);
    assert_eq!(code, 0, "{v}");
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "agree", "{r}");
    }
    if scratch::which("cc").is_some() {
        for (file, want) in [
            (extra[0].as_str(), "CoW fork"),
            (
                extra[2].as_str(),
                "aio_rw(pos 4096, len 8192, rwf 0x0) = 8192",
            ),
        ] {
            let out = Command::new(bin())
                .args(["repro", file, "--run"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(text.contains(want) && text.contains("REPRODUCED"), "{text}");
        }
    }
    assert_eq!(
        ours_left(),
        before,
        "resources left after the CoW/aio/mount runs"
    );

    // 3c. Pages held during the call (tools/src/live/pages.rs): a page under writeback (the
    //     call waits for it; RWF_NOWAIT gets -EAGAIN) and an mmapped page dirty again after the
    //     flush (the write falls back to buffered I/O), on a layered scratch filesystem whose
    //     lower filesystem is frozen for the call and always thawed.
    use diofuzz::scenario::PageState;
    let mut held = Vec::new();
    for fs in [FsKind::Ext4, FsKind::Xfs] {
        for (name, page, nowait) in [
            ("wb", PageState::Writeback, false),
            ("wbnowait", PageState::Writeback, true),
            ("md", PageState::MappedDirty, false),
        ] {
            let mut s = base.clone();
            s.fs = fs;
            s.request.pos = 0;
            s.request.len = 4096;
            s.request.rwf.nowait = nowait;
            s.world.pages = vec![page];
            let p = dir.join(format!("{}-{name}.json", fs.name()));
            std::fs::write(&p, serde_json::to_string(&s).unwrap()).unwrap();
            held.push(p.to_str().unwrap().to_string());
        }
    }
    let args: Vec<&str> = held.iter().map(|s| s.as_str()).collect();
    let (code, v) = json_run(&args);
    assert_eq!(code, 0, "{v}");
    for (i, r) in v["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["verdict"], "agree", "{r}");
        match i % 3 {
            0 => assert_eq!(r["kernel"]["buffered"], false, "{r}"),
            1 => assert_eq!(r["kernel"]["ret"], "-EAGAIN", "{r}"),
            _ => assert_eq!(r["kernel"]["buffered"], true, "{r}"),
        }
    }
    // A buffered write over an mmapped dirty page that blocks (journal, dirty throttling): the
    // watchdog's racing store must not put the set-up's bytes back over what the call copied
    // (it did once: a false O6 "kernel finding", host seed 3, gen-3-ext4-26).
    let (code, v) = json_run(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/live_held_mapped_buffered.json"
    )]);
    assert_eq!(code, 0, "{v}");
    let r = &v["results"][0];
    assert_eq!(r["verdict"], "agree", "{r}");
    assert_eq!(r["kernel"]["buffered"], true, "{r}");
    assert_eq!(ours_left(), before, "resources left after the held pages");

    // 4. SIGKILL leaves resources; the next start removes them (pid is dead).
    let mut child = Command::new(bin())
        .args(["live", "--count", "400", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until its scratch folder exists and a filesystem is mounted.
    let prefix = format!("{}{}-", scratch::PREFIX, child.id());
    let mut seen = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if mi.contains(&prefix) && mi.contains("mnt-") {
            seen = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen, "the killed run never mounted anything");
    assert_ne!(
        ours_left(),
        before,
        "a killed run should leave resources behind"
    );
    let st = Command::new(bin())
        .args(["live", "--cleanup"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(ours_left(), before, "stale resources not removed");
    // No loop device is left backed by a file of ours.
    let l = Command::new("losetup").arg("-a").output();
    if let Ok(l) = l {
        assert!(!String::from_utf8_lossy(&l.stdout).contains(&prefix));
    }
    assert!(!Path::new(&prefix).exists());

    // 5. The raw block device: generated scenarios on a loop device made per scenario, all
    //    executed and agreeing (loop: no atomic unit, so RWF_ATOMIC is -EOPNOTSUPP), an explicit
    //    direct write observed on the device, nothing left behind.
    let (code, v) = json_run(&["--fs", "bdev", "--count", "12", "--seed", "5"]);
    assert_eq!(code, 0, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for r in results {
        assert_eq!(r["fs"], "bdev");
        let verdict = r["verdict"].as_str().unwrap();
        // RWF_NOWAIT on stable writes needs an nvme-tcp namespace (session 9,
        // nvme_stable.rs): skipped where the modules are missing, as on this host.
        let nvme = r["scenario"]["world"]["device"]["stable_writes"] == true
            && r["scenario"]["request"]["rwf"]["nowait"] == true;
        let unavailable = verdict == "skipped"
            && r["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("not possible here"));
        assert!(
            verdict == "agree" || verdict == "disagree" || (nvme && unavailable),
            "{r}"
        );
    }
    let mut b = Scenario {
        fs: FsKind::Bdev,
        ..Default::default()
    };
    b.world.i_size = 65536;
    b.request.pos = 8192;
    b.request.len = 16384;
    std::fs::write(dir.join("bdev.json"), serde_json::to_string(&b).unwrap()).unwrap();
    let (code, v) = json_run(&["--fs", "bdev", dir.join("bdev.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let r = &v["results"][0];
    assert_eq!(r["verdict"], "agree", "{r}");
    assert_eq!(r["kernel"]["ret"], "16384", "{r}");
    assert_eq!(r["kernel"]["buffered"], false, "{r}");
    assert_eq!(r["kernel"]["i_size"], 65536, "{r}");
    b.request.open.direct = false;
    std::fs::write(
        dir.join("bdev-buf.json"),
        serde_json::to_string(&b).unwrap(),
    )
    .unwrap();
    let (_, v) = json_run(&["--fs", "bdev", dir.join("bdev-buf.json").to_str().unwrap()]);
    assert_eq!(
        v["results"][0]["kernel"]["buffered"], true,
        "{}",
        v["results"][0]
    );
    assert_eq!(ours_left(), before, "resources left after a bdev run");
    // Held pages on the device (its image on a frozen lower filesystem: docs/live.md "On a
    // block device"): an mmapped dirty page stored to again while the flush waits makes
    // invalidate_inode_pages2_range fail, so blkdev_direct_write writes nothing and the rest
    // goes buffered; a page under writeback is waited for and the write stays direct.
    b.request.open.direct = true;
    for (st, buffered) in [
        (PageState::MappedDirty, true),
        (PageState::Writeback, false),
    ] {
        b.world.pages = vec![PageState::None, PageState::None, st];
        let f = dir.join("bdev-held.json");
        std::fs::write(&f, serde_json::to_string(&b).unwrap()).unwrap();
        let (code, v) = json_run(&["--fs", "bdev", f.to_str().unwrap()]);
        assert_eq!(code, 0, "{v}");
        let r = &v["results"][0];
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel"]["ret"], "16384", "{r}");
        assert_eq!(r["kernel"]["buffered"], buffered, "{st:?} {r}");
    }
    assert_eq!(ours_left(), before, "resources left after held bdev pages");

    // 6. SIGTERM during a bdev run: exit 130, its loop device and folder removed.
    let mut child = Command::new(bin())
        .args(["live", "--fs", "bdev", "--count", "2000", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("{}{}-", scratch::PREFIX, child.id());
    let mut seen = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let l = Command::new("losetup").arg("-a").output().unwrap();
        if String::from_utf8_lossy(&l.stdout).contains(&prefix) {
            seen = true;
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert!(seen, "the bdev run never attached a loop device");
    assert_eq!(st.code(), Some(130));
    assert_eq!(ours_left(), before, "a SIGTERMed bdev run left resources");
    let l = Command::new("losetup").arg("-a").output().unwrap();
    assert!(!String::from_utf8_lossy(&l.stdout).contains(&prefix));
    let _ = std::fs::remove_dir_all(&dir);
}
