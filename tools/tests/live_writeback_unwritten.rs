// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` builds a page under writeback over an UNWRITTEN block (session 11,
//! tools/src/live/pages.rs `rewrite_writeback_page`): on the default ext4 mount
//! (dioread_nolock) and on XFS the held writeback keeps the extent unwritten until its I/O
//! completes (the hold checks it with FIEMAP), the call reads the block map before its
//! writeback wait, and after the wait the block is written with the page's data; the model
//! (`Cx::converts_at_completion`) agrees. Also the i_disksize lag written back after open with
//! that writeback still in flight on the default mount (`Settle::WriteBackHeld` with
//! `unwritten`). Needs root, loop devices, tracefs, mkfs.ext4 and mkfs.xfs; otherwise it prints
//! "SKIP live: <reason>" and returns (run with --nocapture, as .ci/live.sh does).

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Race, Scenario};

fn blk(kind: Extent) -> BlockState {
    BlockState {
        kind,
        ..Default::default()
    }
}

/// `fs`, 4 KiB blocks, a 16 KiB file: block 0 unwritten under page 0 under writeback, the rest
/// written; a plain O_DIRECT write of `len` at `pos`.
fn uwb(fs: FsKind, pos: u64, len: u64) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Default::default()
    };
    s.world.device = Default::default();
    s.world.blkbits = 12;
    s.world.i_size = 16384;
    s.world.blocks = vec![
        blk(Extent::Unwritten),
        blk(Extent::Written),
        blk(Extent::Written),
        blk(Extent::Written),
    ];
    s.world.pages = vec![PageState::Writeback];
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = len;
    s
}

fn run(fs: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec!["live", "--fs", fs, "--json"];
    a.extend_from_slice(args);
    let (code, out, err) = common::diofuzz(&a);
    assert!(code == 0, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["results"].as_array().unwrap().clone()
}

/// Run `dir` up to three times while a result is a harness skip of the hold (a concurrent
/// sync(2) of another test of this binary may write the page back before the freeze).
fn run_held(fs: &str, dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut results = run(fs, &[dir.to_str().unwrap()]);
    for _ in 0..2 {
        if !results.iter().any(|r| {
            r["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("not possible here") && n.contains("writes held"))
        }) {
            break;
        }
        results = run(fs, &[dir.to_str().unwrap()]);
    }
    results
}

#[test]
fn ext4_writeback_over_unwritten_agrees() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    let e = FsKind::Ext4;
    let scenarios = [
        // The partial block around the write: zeroes if the model left it unwritten after the
        // wait (before session 11), the page's data in the kernel.
        ("uwb-unaligned", uwb(e, 512, 512)),
        ("uwb-aligned", uwb(e, 0, 4096)),
        ("uwb-elsewhere", uwb(e, 8192, 4096)),
        ("uwb-nowait", {
            let mut s = uwb(e, 512, 512);
            s.request.rwf.nowait = true;
            s
        }),
        ("uwb-1k", {
            let mut s = uwb(e, 2048, 1024);
            s.world.blkbits = 10;
            s.world.i_size = 6144;
            s.world.blocks = [
                Extent::Written,
                Extent::Unwritten,
                Extent::Unwritten,
                Extent::Written,
                Extent::Written,
                Extent::Written,
            ]
            .map(blk)
            .to_vec();
            s
        }),
        ("uwb-eof-extend", {
            let mut s = uwb(e, 4096, 4096);
            s.world.i_size = 1536;
            s.world.blocks = vec![blk(Extent::Unwritten)];
            s
        }),
        // The i_disksize lag written back after open, its writeback in flight on the default
        // mount: the delayed block at EOF allocated unwritten (1 KiB blocks, i_size 5633).
        ("lag-held-unwritten", {
            let mut s = uwb(e, 4096, 1024);
            s.world.blkbits = 10;
            s.world.i_size = 5633;
            s.world.blocks = vec![blk(Extent::Written); 6];
            s.world.blocks[5] = blk(Extent::Unwritten);
            s.world.pages = vec![PageState::None, PageState::Writeback];
            s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
            s
        }),
        ("lag-held-unwritten-eof", {
            let mut s = uwb(e, 5120 + 512, 512);
            s.world.blkbits = 10;
            s.world.i_size = 5633;
            s.world.blocks = vec![blk(Extent::Written); 6];
            s.world.blocks[5] = blk(Extent::Unwritten);
            s.world.pages = vec![PageState::None, PageState::Writeback];
            s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
            s
        }),
    ];
    for (id, s) in &scenarios {
        assert!(diofuzz::validity::violations(s).is_empty(), "{id}");
    }
    let dir = common::scenario_dir("live-uwb-ext4", &scenarios);
    let results = run_held("ext4", &dir);
    assert_eq!(results.len(), scenarios.len());
    for r in &results {
        assert_eq!(r["verdict"], "agree", "{r}");
    }
    let nowait = results
        .iter()
        .find(|r| r["id"].as_str().unwrap().contains("nowait"))
        .unwrap();
    assert_eq!(nowait["kernel"]["ret"], "-EAGAIN", "{nowait}");
    let _ = std::fs::remove_dir_all(&dir);
    // Generated: every one built (or refused with a reason) and agreeing.
    let results = run(
        "ext4",
        &[
            "--worlds",
            "writeback-unwritten",
            "--count",
            "8",
            "--seed",
            "3",
        ],
    );
    assert_eq!(results.len(), 8);
    for r in &results {
        if r["verdict"] == "skipped" {
            println!("skipped: {}", r["note"]);
            continue;
        }
        assert_eq!(r["verdict"], "agree", "{r}");
    }
}

#[test]
fn xfs_writeback_over_unwritten_agrees() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Xfs]) {
        println!("SKIP live: {why}");
        return;
    }
    let x = FsKind::Xfs;
    let scenarios = [
        ("uwb-xfs-unaligned", uwb(x, 512, 512)),
        ("uwb-xfs-aligned", uwb(x, 0, 4096)),
        ("uwb-xfs-elsewhere", uwb(x, 8192, 4096)),
    ];
    let dir = common::scenario_dir("live-uwb-xfs", &scenarios);
    let results = run_held("xfs", &dir);
    assert_eq!(results.len(), scenarios.len());
    for r in &results {
        assert_eq!(r["verdict"], "agree", "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
