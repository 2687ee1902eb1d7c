// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` builds the two ext4 inode states that settle after the call's open
//! (tools/src/live/settle_race.rs): inline data converted away (fallocate) and the i_disksize lag
//! written back (sync_file_range), and agrees with the model on them. Needs root, loop devices,
//! tracefs and mkfs.ext4; otherwise it prints "SKIP live: <reason>" and returns (run with
//! --nocapture, as .ci/live.sh does).

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Race, Scenario};

fn written() -> BlockState {
    BlockState {
        kind: Extent::Written,
        ..Default::default()
    }
}

/// An inline file of `i_size` bytes converted after open: an aligned O_DIRECT write of one
/// block at `pos`.
fn converted(blkbits: u8, i_size: u64, pos: u64, clean: bool) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Default::default()
    };
    s.world.device = Default::default();
    s.world.blkbits = blkbits;
    s.world.i_size = i_size;
    s.world.blocks = vec![written(), BlockState::default()];
    if clean {
        s.world.pages = vec![PageState::Clean];
    }
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = 1 << blkbits;
    s.races = vec![
        Race::InodeFlagChangedAfterOpen(0),
        Race::InodeFlagChangedAfterOpen(2),
    ];
    s
}

/// 1 KiB blocks, i_size 5633, the lag (i_disksize 5120) written back after open.
fn written_back(pos: u64) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Default::default()
    };
    s.world.device = Default::default();
    s.world.blkbits = 10;
    s.world.i_size = 5633;
    s.world.blocks = vec![written(); 6];
    s.world.pages = vec![PageState::None, PageState::Clean];
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = 1024;
    s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
    s
}

/// One `live` run at a time in this binary: every run's set-up calls sync(2) (the stale fill,
/// the layered images), and a sync while another run's page waits to be held under writeback
/// writes that page back first (a "not possible here ... writes held" skip: CI on a loaded
/// machine saw all three of `lag_written_back_with_the_page_held_agrees`'s attempts skip).
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(args: &[&str]) -> Vec<serde_json::Value> {
    let _one = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut a = vec!["live", "--fs", "ext4", "--json"];
    a.extend_from_slice(args);
    let (code, out, err) = common::diofuzz(&a);
    assert!(code == 0, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["results"].as_array().unwrap().clone()
}

#[test]
fn settled_after_open_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    let scenarios = [
        ("inline-4k-write-b1", converted(12, 512, 4096, false)),
        ("inline-4k-write-b0", converted(12, 3073, 0, true)),
        ("inline-1k-write-b1", converted(10, 513, 1024, false)),
        // Block-mapped after the conversion: a filesystem without extents (ext4_do_fallocate
        // refuses with -EOPNOTSUPP after converting), or chattr -e after it.
        ("inline-noext-write-b1", {
            let mut s = converted(12, 512, 4096, false);
            s.world.mount.extents_feature = false;
            s.world.inode.extents = false;
            s.races = vec![Race::InodeFlagChangedAfterOpen(2)];
            s
        }),
        ("inline-chattr-e-write-b1", {
            let mut s = converted(12, 512, 4096, false);
            s.world.inode.extents = false;
            s.races = vec![Race::InodeFlagChangedAfterOpen(2)];
            s
        }),
        ("lag-write-b4", written_back(4096)),
        ("lag-write-b0", written_back(0)),
    ];
    let dir = common::scenario_dir("live-settle", &scenarios);
    let d = dir.to_str().unwrap();
    // With syncfs after the conversion (the kernel bug inline-convert-stale-read out of the
    // way): all agree, and the converted file takes the O_DIRECT path (an inline one would go
    // buffered: ext4_dio_alignment is 0 for inline data), so the conversion was built.
    let results = run(&["--sync-after-convert", d]);
    assert_eq!(results.len(), scenarios.len());
    for r in &results {
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel"]["dio"], true, "{r}");
    }
    // The faithful history (no sync): the only disagreements allowed are the kernel bug's, the
    // data of block 0 read from the device before the checkpoint
    // (docs/live-findings/inline-convert-stale-read).
    for r in run(&[d]) {
        let id = r["id"].as_str().unwrap();
        if r["verdict"] == "agree" {
            continue;
        }
        assert!(id.contains("inline-") && id.contains("-b1"), "{r}");
        for m in r["mismatches"].as_array().unwrap() {
            let k = m["kernel"].as_str().unwrap();
            assert!(
                m["field"] == "data" && !k.contains("new"),
                "not the known conversion bug: {r}"
            );
        }
        println!(
            "KNOWN KERNEL BUG {id}: inline-convert-stale-read ({})",
            r["mismatches"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Generated scenarios of both races: every one executed and agreeing.
    let results = run(&[
        "--settle-after-open",
        "--sync-after-convert",
        "--count",
        "8",
        "--seed",
        "2",
    ]);
    assert_eq!(results.len(), 8);
    let mut seen = [false; 2];
    for r in &results {
        // (chattr +j at open needs CAP_SYS_RESOURCE, which a container may lack.)
        if r["verdict"] == "skipped" {
            assert!(
                r["note"].as_str().unwrap().starts_with("not possible here"),
                "{r}"
            );
            continue;
        }
        assert_eq!(r["verdict"], "agree", "{r}");
        let races = r["scenario"]["races"].to_string();
        seen[0] |= races.contains(r#"{"InodeFlagChangedAfterOpen":2}"#);
        seen[1] |= races.contains(r#"{"InodeFlagChangedAfterOpen":11}"#);
    }
    assert!(seen[0] && seen[1], "both races drawn: {results:?}");
}

/// The lag written back after open next to preallocated blocks past EOF (`live --seed 21`,
/// gen-21-ext4-485): the file was truncated to 0 first, so the set-up descriptor's close
/// flushed block 0 (ext4_alloc_da_blocks) as an unwritten extent converted at end_io, and P2's
/// stale seed, written over the file's unwritten blocks through the device, used to land over
/// that in-flight block's data: a false O2 ("data at byte 0 changed on disk") and P1. The seed
/// now waits for the writeback (probes::seed_unwritten).
#[test]
fn lag_next_to_preallocation_agrees_without_findings() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Default::default()
    };
    s.world.device = Default::default();
    s.world.i_size = 1024;
    s.world.blocks = vec![written()];
    s.world.blocks.extend(vec![
        BlockState {
            kind: Extent::Unwritten,
            ..Default::default()
        };
        8
    ]);
    s.world.pages = vec![PageState::Clean];
    s.request.open.direct = true;
    s.request.rwf.dsync = true;
    s.request.rwf.nowait = true;
    s.request.rwf.atomic = true;
    s.request.pos = 65536;
    s.request.len = 16384;
    s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
    let dir = common::scenario_dir("live-settle-prealloc", &[("lag-prealloc", s)]);
    for _ in 0..3 {
        let results = run(&[dir.to_str().unwrap()]);
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel_findings"].as_array().unwrap().len(), 0, "{r}");
        assert_eq!(r["probes"]["p1"], "ok", "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn blocks(kinds: &[Extent]) -> Vec<BlockState> {
    kinds
        .iter()
        .map(|&kind| BlockState {
            kind,
            ..Default::default()
        })
        .collect()
}

/// The worlds a conversion after open reaches with steps after it (tools/src/live/settle_more.rs):
/// unwritten blocks after block 0, page 0 dirty over block 0, block 0 delayed, i_size past an
/// inode's worth (the ext4_setattr truncate path), a setuid inode.
#[test]
fn more_conversions_after_open_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    use Extent::{Delalloc, Hole, Unwritten, Written};
    let mk = |kinds: &[Extent], pages: &[PageState], i_size: u64, pos: u64| {
        let mut s = converted(12, i_size, pos, false);
        s.world.blocks = blocks(kinds);
        s.world.pages = pages.to_vec();
        s
    };
    let scenarios = [
        (
            "unwritten-b1",
            mk(&[Written, Unwritten, Unwritten], &[], 512, 4096),
        ),
        ("dirty-b1", mk(&[Written], &[PageState::Dirty], 512, 4096)),
        ("delayed-b0", mk(&[Delalloc], &[PageState::Dirty], 512, 0)),
        ("truncate-b1", mk(&[Written, Hole], &[], 5121, 4096)),
        ("truncate-1k-b2", {
            let mut s = converted(10, 3073, 2048, false);
            s.world.blocks = blocks(&[Written, Hole, Hole, Hole]);
            s
        }),
        ("setuid-b1", {
            let mut s = mk(&[Written, Hole], &[], 512, 4096);
            s.world.inode.nosec = false;
            s
        }),
    ];
    let dir = common::scenario_dir("live-settle-more", &scenarios);
    let d = dir.to_str().unwrap();
    // With syncfs after the conversion every one agrees, written by DIO (converted).
    let results = run(&["--sync-after-convert", d]);
    assert_eq!(results.len(), scenarios.len());
    for r in &results {
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel"]["dio"], true, "{r}");
    }
    // Without it: only the kernel bug's disagreements.
    only_the_stale_read(&run(&[d]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every disagreement is the kernel bug's (data read from block 0's stale home location, or
/// page 0 differing from it; never the call's own bytes): docs/live-findings/
/// inline-convert-stale-read.
fn only_the_stale_read(results: &[serde_json::Value]) {
    for r in results {
        if r["verdict"] == "agree" {
            continue;
        }
        if r["verdict"] == "racy" {
            // (the mapped page's watchdog missed the flush: see held_and_block_mapped_...)
            assert!(
                r["note"].as_str().unwrap().contains("not stored to again"),
                "{r}"
            );
            continue;
        }
        assert_eq!(r["verdict"], "disagree", "{r}");
        for m in r["mismatches"].as_array().unwrap() {
            let k = m["kernel"].as_str().unwrap();
            // (stale_page: page 0 clean but not what the stale home location holds.)
            assert!(
                (m["field"] == "data" || m["field"] == "stale_page") && !k.contains("new"),
                "not the known conversion bug: {r}"
            );
        }
        println!(
            "KNOWN KERNEL BUG {}: inline-convert-stale-read ({})",
            r["id"], r["mismatches"]
        );
    }
}

/// Session 9 (tools/src/live/settle_more.rs): page 0 under writeback, mmapped dirty or busy at
/// the write after the conversion, page 0 dirty with the truncate path, block 0 delayed on a
/// block-mapped inode (chattr -e right after the conversion, or no extents feature).
#[test]
fn held_and_block_mapped_conversions_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    use Extent::{Delalloc, Hole, Written};
    let mk = |kinds: &[Extent], page: PageState, i_size: u64, pos: u64| {
        let mut s = converted(12, i_size, pos, false);
        s.world.blocks = blocks(kinds);
        s.world.pages = vec![page];
        s
    };
    let block_mapped = |ext: bool| {
        let mut s = mk(&[Delalloc], PageState::Dirty, 512, 4096);
        s.world.mount.extents_feature = ext;
        s.world.inode.extents = false;
        s.races = vec![Race::InodeFlagChangedAfterOpen(2)];
        s
    };
    let scenarios = [
        ("writeback-b0", mk(&[Written], PageState::Writeback, 512, 0)),
        ("mapped-b0", mk(&[Written], PageState::MappedDirty, 512, 0)),
        ("busy-b0", {
            let mut s = mk(&[Written], PageState::Busy, 512, 0);
            s.world.mount.data_journal = true;
            s
        }),
        (
            "truncate-dirty-b1",
            mk(&[Written, Hole], PageState::Dirty, 5121, 4096),
        ),
        ("delayed-chattr-e-b1", block_mapped(true)),
        ("delayed-noext-b1", block_mapped(false)),
    ];
    for (id, s) in &scenarios {
        assert!(diofuzz::validity::violations(s).is_empty(), "{id}");
    }
    let dir = common::scenario_dir("live-settle-held", &scenarios);
    let d = dir.to_str().unwrap();
    let results = run(&["--sync-after-convert", d]);
    assert_eq!(results.len(), scenarios.len());
    for r in &results {
        // On a loaded machine the watchdog can miss the call blocked in its flush: the mapped
        // page is then not dirty again, the world not the scenario's, and live says so (racy,
        // with the reason) instead of disagreeing (seen under full-suite load, session 10).
        if r["verdict"] == "racy" && r["id"].as_str().unwrap().contains("mapped-b0") {
            let n = r["note"].as_str().unwrap();
            assert!(n.contains("not stored to again"), "{r}");
            println!("RACY {}: {n}", r["id"]);
            continue;
        }
        assert_eq!(r["verdict"], "agree", "{r}");
    }
    only_the_stale_read(&run(&[d]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Session 10 (tools/src/live/settle_race.rs `Settle::WriteBackHeld`): the lag written back
/// after open with the page at EOF still under writeback at the write, on a `nodioread_nolock`
/// mount (the delayed block allocated written at submission: the model's writeback page over a
/// written block; the hold's FIEMAP check fails the scenario as a harness error otherwise). An
/// aligned overwrite under the page, an unaligned write ending at EOF (the partial block that
/// `ext4_dio_needs_zeroing` / `ext4_overwrite_io` read before the writeback wait), RWF_NOWAIT
/// (-EAGAIN: the page needs writeback) and a buffered write.
#[test]
fn lag_written_back_with_the_page_held_agrees() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    let held = |pos: u64, len: u64| {
        let mut s = written_back(pos);
        s.world.pages[1] = PageState::Writeback;
        s.request.len = len;
        s
    };
    let scenarios = [
        ("lag-held-b4", held(4096, 1024)),
        ("lag-held-unaligned-eof", held(5120 + 512, 512)),
        ("lag-held-extend", held(5120, 2048)),
        ("lag-held-nowait", {
            let mut s = held(4096, 1024);
            s.request.rwf.nowait = true;
            s
        }),
        ("lag-held-buffered", {
            let mut s = held(4096, 1024);
            s.request.open.direct = false;
            s
        }),
    ];
    for (id, s) in &scenarios {
        assert!(diofuzz::validity::violations(s).is_empty(), "{id}");
    }
    let dir = common::scenario_dir("live-settle-lag-held", &scenarios);
    // A sync(2) from outside this binary (the runs inside it are serialised: `LIVE`) may still
    // write the lag's page back before the hold freezes the writes ("not under writeback after
    // sync_file_range"), or keep the flusher on the folio lock past the set-up deadline: skips
    // of the harness, not of the world. Up to three runs.
    let mut results = run(&[dir.to_str().unwrap()]);
    for _ in 0..2 {
        if !results.iter().any(|r| {
            r["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("not possible here") && n.contains("writes held"))
        }) {
            break;
        }
        results = run(&[dir.to_str().unwrap()]);
    }
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
}
