// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` on loop devices whose size is not whole logical blocks (4 KiB logical blocks
//! over a file of 512 n bytes; tools/src/live/bdev_geometry.rs, docs/live.md "Block size and size
//! of a block device"): the kernel fails the last, partial block (guard_bio_eod + bio_unaligned):
//! a buffered write into it is -EIO, one across its start stops before it, an O_DIRECT one there
//! is -EINVAL; and held pages and races run there (session 9): a page under writeback, an
//! mmapped dirty page, the mmap writer (which stores only below the edge: a fault past it is
//! SIGBUS) and the i_rwsem holder. The model agrees on each, and probe P1 runs (its read-back of
//! the last block goes through the backing file). Needs root, loop devices and tracefs;
//! otherwise it prints "SKIP live: <reason>".

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Race, Rwf, Scenario};

/// A 10 KiB device (two whole 4 KiB logical blocks and a 2 KiB one) of written blocks, a
/// buffered write of 8 KiB at 4096 (across the edge at 8192), changed by `f`.
fn device(f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Bdev,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.world.blkbits = 12;
    s.world.lbs_bits = 12;
    s.world.i_size = 10240;
    s.world.blocks = vec![
        BlockState {
            kind: Extent::Written,
            ..BlockState::default()
        };
        3
    ];
    s.request.rwf = Rwf::default();
    s.request.open.direct = false;
    s.request.pos = 4096;
    s.request.len = 8192;
    f(&mut s);
    s
}

#[test]
fn tail_devices_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Bdev]) {
        println!("SKIP live: {why}");
        return;
    }
    // (name, scenario, the kernel's return)
    let scenarios = [
        ("across-short", device(|_| {}), "4096"),
        (
            "into-eio",
            device(|s| {
                s.request.pos = 8192;
                s.request.len = 2048;
            }),
            "-EIO",
        ),
        (
            "direct-into-einval",
            device(|s| {
                s.request.open.direct = true;
                s.request.pos = 8192;
                s.request.len = 4096;
            }),
            "-EINVAL",
        ),
        (
            "held-writeback-across",
            device(|s| s.world.pages = vec![PageState::Writeback, PageState::Dirty]),
            "4096",
        ),
        (
            "mapped-dirty-into",
            device(|s| {
                s.world.pages = vec![PageState::Clean, PageState::MappedDirty];
                s.request.pos = 8192;
                s.request.len = 2048;
            }),
            "-EIO",
        ),
        (
            "writer-across",
            device(|s| {
                s.world.pages = vec![PageState::Dirty, PageState::Clean];
                s.races = vec![Race::MmapRedirty];
            }),
            "4096",
        ),
        (
            "holder-into",
            device(|s| {
                s.world.pages = vec![PageState::Dirty];
                s.races = vec![Race::LockContended];
                s.request.pos = 8192;
                s.request.len = 1024;
            }),
            "-EIO",
        ),
    ];
    for (id, s, _) in &scenarios {
        assert!(
            diofuzz::validity::violations(s).is_empty(),
            "{id}: {:?}",
            diofuzz::validity::violations(s)
        );
    }
    let plain: Vec<(&str, Scenario)> = scenarios.iter().map(|(n, s, _)| (*n, s.clone())).collect();
    let dir = common::scenario_dir("live-bdev-tail", &plain);
    let (code, out, err) =
        common::diofuzz(&["live", "--fs", "bdev", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len(), "{out}");
    for r in results {
        let id = r["id"].as_str().unwrap();
        let note = r["note"].as_str().unwrap();
        if note.starts_with("not possible here") {
            println!("SKIP live: {id}: {note}");
            continue;
        }
        let (_, _, ret) = scenarios
            .iter()
            .find(|(n, _, _)| id.contains(n))
            .unwrap_or_else(|| panic!("{id}"));
        // The mmap writer's outcome depends on timing: reported, not counted.
        if id.contains("writer") {
            assert!(r["verdict"] == "agree" || r["verdict"] == "racy", "{r}");
        } else {
            assert_eq!(r["verdict"], "agree", "{r}");
        }
        assert_eq!(r["kernel"]["ret"].as_str(), Some(*ret), "{r}");
        assert_eq!(r["probes"]["p1"], "ok", "{r}");
    }
}

/// Session 11: loop devices of 1 and 2 KiB logical blocks whose size is not whole logical blocks
/// (`losetup -b 1024/2048` over a file of 512 n bytes; LBS_SECTION in the input format). With
/// buffers smaller than a page the boundary is the buffer holding the end: a buffered write into
/// the last page that ends before it is written (its dirty buffers are read back after a
/// write-back: the folio is never uptodate), one reaching it is -EIO, one across the last page's
/// start short; O_DIRECT of whole logical blocks before the end is written, one reaching the end
/// -EINVAL. The model agrees on each.
#[test]
fn small_logical_block_tails_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Bdev]) {
        println!("SKIP live: {why}");
        return;
    }
    // A 9.5 KiB device of 1 KiB logical blocks and 1 KiB buffers (end buffer [9, 10) KiB), a
    // 10.5 KiB one of 2 KiB logical blocks with 2 or 4 KiB buffers (end buffer [10, 12) KiB or
    // [8, 12) KiB).
    let small = |lbs_bits: u8, blkbits: u8, sectors: u64, pos: u64, len: u64, direct: bool| {
        device(|s| {
            s.world.lbs_bits = lbs_bits;
            s.world.blkbits = blkbits;
            s.world.i_size = sectors * 512;
            s.world
                .blocks
                .truncate(((sectors * 512) >> blkbits) as usize);
            s.request.pos = pos;
            s.request.len = len;
            s.request.open.direct = direct;
        })
    };
    let scenarios = [
        (
            "k1-before-end",
            small(10, 10, 19, 8192, 1024, false),
            "1024",
        ),
        ("k1-end-eio", small(10, 10, 19, 9216, 512, false), "-EIO"),
        (
            "k1-across-short",
            small(10, 10, 19, 4096, 5632, false),
            "4096",
        ),
        (
            "k1-direct-before",
            small(10, 10, 19, 8192, 1024, true),
            "1024",
        ),
        (
            "k1-direct-einval",
            small(10, 10, 19, 8192, 2048, true),
            "-EINVAL",
        ),
        (
            "k2-before-end",
            small(11, 11, 21, 8192, 2048, false),
            "2048",
        ),
        ("k2-end-eio", small(11, 11, 21, 10240, 512, false), "-EIO"),
        ("k2-bs4k-eio", small(11, 12, 21, 8192, 1024, false), "-EIO"),
    ];
    for (id, s, _) in &scenarios {
        assert!(
            diofuzz::validity::violations(s).is_empty(),
            "{id}: {:?}",
            diofuzz::validity::violations(s)
        );
    }
    let plain: Vec<(&str, Scenario)> = scenarios.iter().map(|(n, s, _)| (*n, s.clone())).collect();
    let dir = common::scenario_dir("live-bdev-tail-small", &plain);
    let (code, out, err) =
        common::diofuzz(&["live", "--fs", "bdev", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len(), "{out}");
    for r in results {
        let id = r["id"].as_str().unwrap();
        let (_, _, ret) = scenarios
            .iter()
            .find(|(n, _, _)| id.contains(n))
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel"]["ret"].as_str(), Some(*ret), "{r}");
        assert_eq!(r["probes"]["p1"], "ok", "{r}");
    }
}
