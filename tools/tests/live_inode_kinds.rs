// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` builds inline-data and fscrypt-encrypted ext4 inodes on the running kernel
//! (tools/src/live/inode_kind.rs) and agrees with the model on them. Needs root, loop devices,
//! tracefs, mkfs.ext4 and a kernel with CONFIG_FS_ENCRYPTION; otherwise it prints
//! "SKIP live: <reason>" and returns (run with --nocapture, as .ci/live.sh does).

mod common;

use diofuzz::scenario::{BlockState, FsKind, PageState, Rwf, Scenario};

fn skip_reason() -> Option<String> {
    common::live_skip_reason(&[FsKind::Ext4])
}

fn ext4(f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.request.rwf = Rwf::default();
    s.request.open.direct = true;
    f(&mut s);
    s
}

fn inline(i_size: u64, blkbits: u8, clean: bool) -> Scenario {
    ext4(|s| {
        s.world.blkbits = blkbits;
        s.world.i_size = i_size;
        s.world.blocks = vec![BlockState::default()];
        s.world.inode.inline_data = true;
        s.world.inode.extents = false;
        if clean {
            s.world.pages = vec![PageState::Clean];
        }
        s.request.len = 4096;
    })
}

#[test]
fn inline_and_encrypted_inodes_agree() {
    if let Some(why) = skip_reason() {
        println!("SKIP live: {why}");
        return;
    }
    let scenarios = [
        ("enc-aligned", ext4(|s| s.world.inode.encrypted = true)),
        (
            "enc-unaligned",
            ext4(|s| {
                s.world.inode.encrypted = true;
                s.request.pos = 512;
            }),
        ),
        ("inline-4k", inline(513, 12, false)),
        ("inline-4k-clean", inline(3584, 12, true)),
        ("inline-empty", inline(0, 12, false)),
        ("inline-1k", inline(512, 10, false)),
    ];
    let dir = common::scenario_dir("live-inode-kinds", &scenarios);
    let (code, out, err) =
        common::diofuzz(&["live", "--fs", "ext4", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len());
    for r in results {
        let id = r["id"].as_str().unwrap();
        let verdict = r["verdict"].as_str().unwrap();
        let note = r["note"].as_str().unwrap();
        if id.contains("enc") && note.contains("FS_IOC_ADD_ENCRYPTION_KEY") {
            println!("SKIP live: {id}: this kernel cannot add fscrypt keys ({note})");
            continue;
        }
        // Agreement also says the inode was built: a kernel that had not made it inline or
        // encrypted skips it ("not possible here").
        assert_eq!(verdict, "agree", "{r}");
        if id.contains("inline") {
            // ext4_dio_alignment() is 0 for inline data in every version.
            assert_eq!(r["kernel"]["dio"], false, "{r}");
            assert_eq!(r["kernel"]["buffered"], true, "{r}");
        }
    }
    // Nothing of the run is left mounted (a concurrent live run's mounts, alive, are not ours).
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let left: Vec<&str> = mi
        .lines()
        .filter(|l| common::dead_live_owner(l) && (l.contains("-encrypt") || l.contains("-inline")))
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}

/// The transient inline state (world.inline_delalloc, rule W46): an inline file a delalloc write
/// converted (`ext4_da_convert_inline_data_to_extent`), not yet written back. Live builds it
/// (tools/src/live/inline_delalloc.rs), the kernel still shows FS_INLINE_DATA_FL at the call's
/// open, and the O_DIRECT write is buffered (`ext4_dio_alignment()` 0) and agrees with the model.
/// 4 KiB blocks only: with smaller blocks a folio past folio 0 that is not uptodate is zeroed by
/// the read-back (docs/live-findings/inline-read-zeroes).
#[test]
fn inline_data_converted_by_a_delalloc_write_agrees() {
    if let Some(why) = skip_reason() {
        println!("SKIP live: {why}");
        return;
    }
    let converted = |i_size: u64, blocks: &str, pages: &str, pos: u64, len: u64| {
        ext4(|s| {
            s.world.i_size = i_size;
            s.world.blocks = diofuzz::generators::layout(blocks).unwrap();
            s.world.pages = diofuzz::generators::pages(pages).unwrap();
            s.world.inode.inline_data = true;
            s.world.inode.extents = false;
            s.world.inline_delalloc = true;
            s.request.pos = pos;
            s.request.len = len;
        })
    };
    let scenarios = [
        (
            "delalloc-inline-extend",
            converted(5121, "DD", "DD", 8192, 4096),
        ),
        (
            "delalloc-inline-over",
            converted(8192, "DD", "DD", 512, 4096),
        ),
        (
            "delalloc-inline-hole",
            converted(12289, "DHDD", "DNDD", 4096, 4096),
        ),
    ];
    for (id, s) in &scenarios {
        assert!(diofuzz::validity::is_valid(s), "{id}");
    }
    let dir = common::scenario_dir("live-inline-delalloc", &scenarios);
    let (code, out, err) =
        common::diofuzz(&["live", "--fs", "ext4", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len());
    for r in results {
        // Agreement also says the state was built: destroyed inline data (a writeback before the
        // call, another process's sync()) is skipped ("not possible here"), never compared.
        if r["verdict"] == "skipped" && r["note"].as_str().unwrap_or("").contains("written back") {
            println!("SKIP live: {}: {}", r["id"], r["note"]);
            continue;
        }
        assert_eq!(r["verdict"], "agree", "{r}");
        assert_eq!(r["kernel"]["dio"], false, "{r}");
        assert_eq!(r["kernel"]["buffered"], true, "{r}");
    }
}
