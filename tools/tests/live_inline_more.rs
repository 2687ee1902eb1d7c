// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` builds session 10's inline worlds on the running kernel and agrees with the
//! model (docs/live.md "Inline-data and encrypted inodes", session 10, and "A conversion after
//! open with a scaled `s_maxbytes`"): an ext4 inline conversion pending after a truncate to
//! exactly `i_inline_size`, with a scaled `s_bitmap_maxbytes` (next to the real limit, the
//! inline write at 0), with `chattr +a` or an unlink after open; inline data converted after
//! open with a scaled `s_maxbytes` (extent-mapped) or `s_bitmap_maxbytes` (block-mapped). 4 KiB
//! blocks (1 and 2 KiB blocks show the kernel bug docs/live-findings/inline-read-zeroes). Needs
//! root, loop devices, tracefs and mkfs.ext4; otherwise it prints "SKIP live: <reason>".

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Race, Scenario};

/// An inline conversion pending (block 0 delayed under the dirty page 0) of `i_size` bytes, an
/// O_DIRECT write of 4096 at 4096, changed by `f`.
fn pending(i_size: u64, f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.world.i_size = i_size;
    s.world.blocks = vec![BlockState {
        kind: Extent::Delalloc,
        ..Default::default()
    }];
    s.world.pages = vec![PageState::Dirty];
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    s.world.inline_delalloc = true;
    s.request.open.direct = true;
    s.request.pos = 4096;
    s.request.len = 4096;
    f(&mut s);
    s
}

/// Inline data (513 bytes) converted after open: block 0 written, page 0 clean; an O_DIRECT
/// write of 8192 at 4096 against a limit of two blocks.
fn converted(extents: bool) -> Scenario {
    let mut s = pending(513, |_| {});
    let w = &mut s.world;
    w.inline_delalloc = false;
    w.inode.inline_data = false;
    w.inode.extents = extents;
    w.mount.extents_feature = extents;
    w.blocks[0].kind = Extent::Written;
    w.pages = vec![PageState::Clean];
    if extents {
        w.s_maxbytes = 8192;
        s.races.push(Race::InodeFlagChangedAfterOpen(0));
    } else {
        w.s_bitmap_maxbytes = 8192;
    }
    s.races.push(Race::InodeFlagChangedAfterOpen(2));
    s.request.len = 8192;
    s
}

#[test]
fn session10_inline_worlds_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Ext4]) {
        println!("SKIP live: {why}");
        return;
    }
    let scenarios = [
        ("truncated", pending(513, |_| {})),
        (
            "scaled",
            pending(8193, |s| {
                let w = &mut s.world;
                w.blocks.push(BlockState::default());
                w.blocks.push(BlockState {
                    kind: Extent::Delalloc,
                    ..Default::default()
                });
                w.pages = vec![PageState::Dirty, PageState::None, PageState::Dirty];
                w.s_bitmap_maxbytes = 12288;
                s.request.pos = 8192;
            }),
        ),
        (
            "append",
            pending(513, |s| {
                s.world.inode.append_only = true;
                s.races.push(Race::InodeFlagChangedAfterOpen(7));
            }),
        ),
        (
            "unlink",
            pending(513, |s| {
                s.world.inode.unlinked = true;
                s.races.push(Race::InodeFlagChangedAfterOpen(10));
            }),
        ),
        ("conv-smax", converted(true)),
        ("conv-bmap", converted(false)),
    ];
    let dir = common::scenario_dir("live-inline-more", &scenarios);
    let (code, out, err) = common::diofuzz(&["live", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len());
    for r in results {
        let id = r["id"].as_str().unwrap();
        assert_eq!(r["verdict"], "agree", "{r}");
        // Every call writes 4096: the pending ones whole (appended at EOF after +a), the
        // scaled ones cut at the limit (12288 - 8192, 8192 - 4096).
        assert_eq!(r["kernel"]["ret"], "4096", "{r}");
        // A pending conversion is written through the page cache (no DIO on an inline inode);
        // a converted extent-mapped or block-mapped file takes the direct path.
        let dio = r["kernel"]["dio"].as_bool().unwrap();
        assert_eq!(dio, id.contains("conv-"), "{r}");
    }
}
