// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` runs the limits of tools/src/live/limits.rs on the running kernel and agrees
//! with the model: zero-length requests (pwritev2 and io_submit, O_APPEND), RLIMIT_FSIZE 0, a
//! stable-writes loop device, a file opened without O_LARGEFILE (the ia32 open), and a scaled
//! ext4 s_maxbytes (and a block-mapped inode's s_bitmap_maxbytes) moved next to the real limit (a
//! write cut short there, one past it; without O_LARGEFILE -EFBIG at MAX_NON_LFS, the call's file
//! opened before the set-up grew it: open(2) refuses a larger file with EOVERFLOW). Needs
//! root, loop devices, tracefs and both mkfs; otherwise it prints "SKIP live: <reason>".

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Rwf, Scenario};

fn skip_reason() -> Option<String> {
    common::live_skip_reason(&[FsKind::Ext4, FsKind::Xfs])
}

/// 8 KiB of written blocks, O_DIRECT 8192 at 4096, changed by `f`.
fn file(fs: FsKind, f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.world.i_size = 8192;
    s.world.blocks = vec![
        BlockState {
            kind: Extent::Written,
            ..Default::default()
        };
        2
    ];
    s.request.rwf = Rwf::default();
    s.request.open.direct = true;
    s.request.pos = 4096;
    s.request.len = 8192;
    f(&mut s);
    s
}

#[test]
fn limit_worlds_agree() {
    if let Some(why) = skip_reason() {
        println!("SKIP live: {why}");
        return;
    }
    let scenarios = [
        (
            "zero-len-atomic",
            file(FsKind::Ext4, |s| {
                s.request.len = 0;
                s.request.rwf.atomic = true;
            }),
        ),
        (
            "zero-len-append",
            file(FsKind::Xfs, |s| {
                s.request.len = 0;
                s.request.open.append = true;
                s.request.open.direct = false;
            }),
        ),
        (
            "zero-len-aio",
            file(FsKind::Ext4, |s| {
                s.request.len = 0;
                s.request.aio = true;
            }),
        ),
        (
            "rlimit-0",
            file(FsKind::Xfs, |s| s.world.rlimit_fsize = Some(0)),
        ),
        (
            "stable-dirty",
            file(FsKind::Ext4, |s| {
                s.world.device.stable_writes = true;
                s.world.pages = vec![PageState::Dirty];
                s.request.open.direct = false;
            }),
        ),
        (
            "no-largefile",
            file(FsKind::Xfs, |s| s.request.open.no_largefile = true),
        ),
        (
            "smax-cross",
            file(FsKind::Ext4, |s| s.world.s_maxbytes = 2 * 4096),
        ),
        (
            "smax-past",
            file(FsKind::Ext4, |s| {
                s.world.s_maxbytes = 2 * 4096;
                s.request.pos = 8192;
            }),
        ),
        // ext4 block-mapped inodes (chattr -e): the scaled s_bitmap_maxbytes moved next to
        // ext4_max_bitmap_size (about 4 TiB).
        (
            "bmap-cross",
            file(FsKind::Ext4, |s| {
                s.world.inode.extents = false;
                s.world.s_bitmap_maxbytes = 2 * 4096;
            }),
        ),
        (
            "bmap-past",
            file(FsKind::Ext4, |s| {
                s.world.inode.extents = false;
                s.world.s_bitmap_maxbytes = 2 * 4096;
                s.request.pos = 8192;
            }),
        ),
        (
            "bmap-smax-cross-buffered",
            file(FsKind::Ext4, |s| {
                s.world.inode.extents = false;
                s.world.s_bitmap_maxbytes = 2 * 4096;
                s.world.s_maxbytes = 3 * 4096;
                s.request.open.direct = false;
            }),
        ),
        (
            "smax-nolfs",
            file(FsKind::Ext4, |s| {
                s.world.s_maxbytes = 16 * 4096;
                s.request.open.no_largefile = true;
            }),
        ),
        (
            "bmap-nolfs-buffered",
            file(FsKind::Ext4, |s| {
                s.world.inode.extents = false;
                s.world.s_bitmap_maxbytes = 16 * 4096;
                s.request.open.no_largefile = true;
                s.request.open.direct = false;
            }),
        ),
    ];
    let dir = common::scenario_dir("live-limits", &scenarios);
    let (code, out, err) = common::diofuzz(&["live", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len());
    for r in results {
        let id = r["id"].as_str().unwrap();
        let note = r["note"].as_str().unwrap();
        if note.starts_with("not possible here") {
            println!("SKIP live: {id}: {note}");
            continue;
        }
        assert_eq!(r["verdict"], "agree", "{r}");
        assert!(r["kernel_findings"].as_array().unwrap().is_empty(), "{r}");
        let ret = r["kernel"]["ret"].as_str().unwrap_or_default().to_string();
        let want = match id {
            i if i.contains("zero-len") => "0",
            // past MAX_NON_LFS (the file grew after the ia32 open): generic_write_check_limits
            i if i.contains("nolfs") => "-EFBIG",
            i if i.contains("rlimit-0") || i.contains("-past") => "-EFBIG",
            // cut at the scaled limit, 8 KiB: 4096 bytes from 4096
            i if i.contains("smax-cross") || i.contains("bmap-cross") => "4096",
            _ => "8192",
        };
        assert_eq!(ret, want, "{r}");
    }
    // The stable-writes loop device was given back with queue/stable_writes 0 (only live sets
    // it: any loop device still at 1, unbound or bound to a finished run's file, was left by a
    // run of it).
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // A loop device bound to a file of a live run still running is that run's business.
        let backing =
            std::fs::read_to_string(e.path().join("loop/backing_file")).unwrap_or_default();
        let alive = backing.contains(diofuzz_tools::live::scratch::PREFIX)
            && !common::dead_live_owner(&backing);
        if name.starts_with("loop") && !alive {
            let v =
                std::fs::read_to_string(e.path().join("queue/stable_writes")).unwrap_or_default();
            assert_ne!(v.trim(), "1", "{name} left with stable_writes 1");
        }
    }
}

/// Generated worlds `live` used to stop on with a harness error (session 10, `live --seed 21,
/// 31, 32, 33`): a page held under writeback on an append-only inode (the writeback check
/// mapped it MAP_SHARED: EACCES), an i_rwsem holder on an append-only inode (its open lacked
/// O_APPEND: EPERM) and on a file at its scaled size limit (its write at EOF got -EFBIG before
/// it faulted), and a call past the scaled s_maxbytes (lseek: EINVAL; now made at its offset).
/// Each runs and agrees.
#[test]
fn harness_error_worlds_run() {
    if let Some(why) = skip_reason() {
        println!("SKIP live: {why}");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/live-harness");
    let (code, out, err) =
        common::diofuzz(&["live", "--json", "--fs", "both", dir.to_str().unwrap()]);
    assert!(code == 0, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["verdict"], "agree", "{r}");
    }
}
