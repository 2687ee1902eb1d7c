// SPDX-License-Identifier: GPL-2.0-only
//! O12 (docs/oracle.md §2): after the call no written ext4 block wholly past EOF holds stale
//! device data (a later truncate up or extending write would expose it:
//! docs/live-findings/ext4-prealloc-dio-stale). Per variant: where it fires (an O_DIRECT write
//! past EOF that writes part of its range, stops short and whose buffered fallback fails, into
//! preallocated blocks or holes, 6.12-7.2) and where it is silent (7.3, whose tail-zeroing fix
//! fails the DIO and truncates the blocks back; XFS, which zeroes what it exposes; full writes;
//! preallocated blocks left unwritten past EOF).

use diofuzz::errno::EFAULT;
use diofuzz::model::run;
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;
use diofuzz::variant::VARIANTS;

/// An empty file with `blocks` (one letter per block: U unwritten, H hole), O_DIRECT `len` bytes
/// at `pos` from a buffer faulting at `fault_at`.
fn past_eof(fs: FsKind, blocks: &str, pos: u64, len: u64, fault_at: Option<u64>) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Default::default()
    };
    s.world.lbs_bits = 9;
    s.world.i_size = 0;
    s.world.blocks = blocks
        .chars()
        .map(|c| BlockState {
            kind: if c == 'U' {
                Extent::Unwritten
            } else {
                Extent::Hole
            },
            ..Default::default()
        })
        .collect();
    s.request.rwf.atomic = false;
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = len;
    s.request.nr_segs = 1;
    s.request.buf_align = 4096;
    s.request.fault_at = fault_at;
    s
}

/// The O12 findings of a scenario on every variant: (variant, signature, detail).
fn o12(s: &Scenario) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for v in VARIANTS.iter() {
        for f in check(&run(s, v)) {
            if f.property == Prop::O12 {
                out.push((v.name, f.signature, f.detail));
            }
        }
    }
    out
}

const UP_TO_7_2: [&str; 14] = [
    "v6.12",
    "thread-v1",
    "thread-v2",
    "thread-v3",
    "v6.13",
    "v6.14",
    "v6.15",
    "v6.16",
    "v6.17",
    "v6.18",
    "v6.19",
    "v7.0",
    "v7.1",
    "v7.2",
];

fn names(found: &[(&'static str, String, String)]) -> Vec<&'static str> {
    let mut v: Vec<_> = found.iter().map(|(v, _, _)| *v).collect();
    v.sort();
    v
}

fn sorted(v: &[&'static str]) -> Vec<&'static str> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The live finding's world (tests/data/live_probe_ext4_prealloc_stale.json): 40 KiB
/// preallocated, 28672 bytes at 15872, the buffer faulting after 16384 bytes.
#[test]
fn failed_dio_into_preallocated_blocks_past_eof_fires_up_to_7_2_and_is_known() {
    let s = past_eof(FsKind::Ext4, "UUUUUUUUUU", 15872, 28672, Some(16384));
    let found = o12(&s);
    assert_eq!(names(&found), sorted(&UP_TO_7_2));
    for (v, sig, detail) in &found {
        assert!(
            sig.ends_with("buffered fallback failed, DIO bytes discarded from the result"),
            "{v}: {sig}"
        );
        // i_size 32256 (block 7 holds EOF): blocks 8 and 9 were converted at map time.
        assert!(
            detail.starts_with("block 8 (past EOF at 32256)"),
            "{v}: {detail}"
        );
        assert_eq!(diofuzz::known::label(sig, v), "known", "{v}");
    }
    // 7.3: the DIO fails with the error and the blocks past i_size are truncated.
    let x = run(&s, diofuzz::variant::by_name("v7.3").unwrap());
    assert_eq!(x.ret, -EFAULT);
    assert_eq!(x.stale_past_eof, None);
}

/// Over holes the blocks are allocated written at map time (ext4_iomap_alloc past i_size uses
/// EXT4_GET_BLOCKS_CREATE): the same (the C reproducer's P2 on 6.18.44 reads 0x55 at 12288).
#[test]
fn failed_dio_over_holes_past_eof_fires_up_to_7_2() {
    let s = past_eof(FsKind::Ext4, "HHHH", 5120, 8192, Some(4096));
    let found = o12(&s);
    assert_eq!(names(&found), sorted(&UP_TO_7_2));
    for (v, _, detail) in &found {
        assert!(
            detail.starts_with("block 3 (past EOF at 9216)"),
            "{v}: {detail}"
        );
    }
}

#[test]
fn silent_on_xfs_on_full_writes_and_on_unwritten_blocks_past_eof() {
    // XFS zeroes what a truncate up or an extending write exposes (iomap_zero_range).
    let s = past_eof(FsKind::Xfs, "UUUUUUUUUU", 15872, 28672, Some(16384));
    assert_eq!(o12(&s), vec![]);
    // A full write: nothing is left past EOF.
    let s = past_eof(FsKind::Ext4, "UUUUUUUUUU", 15872, 28672, None);
    assert_eq!(o12(&s), vec![]);
    // Preallocation the write does not reach stays unwritten past EOF: not stale to a reader.
    let s = past_eof(FsKind::Ext4, "UUUUUUUUUU", 0, 4096, None);
    assert_eq!(o12(&s), vec![]);
    let x = run(&s, diofuzz::variant::by_name("v6.18").unwrap());
    assert_eq!((x.ret, x.after.i_size), (4096, 4096));
}
