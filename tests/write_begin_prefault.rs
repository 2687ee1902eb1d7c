// SPDX-License-Identifier: GPL-2.0-only
//! Switch `write_begin_before_prefault` (6.14, "filemap: move prefaulting out of hot write
//! path"): an ext4 buffered write past EOF whose user buffer faults at its first byte returns
//! -EFAULT, and from 6.14 ext4's write_end (run before the fault-in) has set i_size to the
//! position. Measured by `live` on 6.18.44 and in the lab on 6.16.12 and 7.3.4; 6.12.117 leaves
//! i_size alone (docs/live-bench.md, session 5).

use diofuzz::errno::EFAULT;
use diofuzz::model::run;
use diofuzz::scenario::*;
use diofuzz::variant::by_name;

fn past_eof(fs: FsKind, fault_at: u64, direct: bool) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Default::default()
    };
    s.world.lbs_bits = 9;
    s.world.i_size = 0;
    s.request.rwf.atomic = false;
    s.request.open.direct = direct;
    s.request.pos = 8192;
    s.request.len = 4096;
    s.request.nr_segs = 1;
    s.request.buf_align = 4096;
    s.request.fault_at = Some(fault_at);
    s
}

#[test]
fn ext4_failed_buffered_write_past_eof_moves_i_size_from_6_14() {
    let s = past_eof(FsKind::Ext4, 0, false);
    for (v, size) in [
        ("v6.12", 0),
        ("v6.13", 0),
        ("v6.14", 8192),
        ("v6.18", 8192),
        ("v7.3", 8192),
    ] {
        let x = run(&s, by_name(v).unwrap());
        assert_eq!(x.ret, -EFAULT, "{v}");
        assert_eq!(x.after.i_size, size, "{v}");
    }
}

#[test]
fn not_on_xfs_not_for_direct_io_not_after_progress() {
    let v = by_name("v7.3").unwrap();
    // XFS faults the buffer in before iomap_write_begin.
    let x = run(&past_eof(FsKind::Xfs, 0, false), v);
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 0));
    // The direct path fails before any page-cache write.
    let x = run(&past_eof(FsKind::Ext4, 0, true), v);
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 0));
    // A fault after the first page: a short write; the zero-byte write_end of the second page
    // is at the new EOF, so i_size covers exactly what was copied.
    let mut s = past_eof(FsKind::Ext4, 4096, false);
    s.request.len = 8192;
    let x = run(&s, v);
    assert_eq!((x.ret, x.after.i_size), (4096, 12288));
}
