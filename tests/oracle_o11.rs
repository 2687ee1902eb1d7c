// SPDX-License-Identifier: GPL-2.0-only
//! O11 (docs/oracle.md §2): a write moves i_size only over the bytes it reports. Per variant:
//! where it fires (the ext4 buffered write past EOF whose buffer faults at its first byte,
//! 6.14+; the ext4 DIO that completes with nothing written past EOF, up to 7.2; the DIO part
//! extending i_size before a failed fallback, up to 7.2) and where it is silent (6.12/6.13 for
//! the buffered case, 7.3 for the DIO cases, XFS everywhere, short and full writes).

use diofuzz::errno::EFAULT;
use diofuzz::model::run;
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;
use diofuzz::variant::VARIANTS;

fn past_eof(fs: FsKind, direct: bool, pos: u64, len: u64, fault_at: Option<u64>) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Default::default()
    };
    s.world.lbs_bits = 9;
    s.world.i_size = 0;
    s.request.rwf.atomic = false;
    s.request.open.direct = direct;
    s.request.pos = pos;
    s.request.len = len;
    s.request.nr_segs = 1;
    s.request.buf_align = 4096;
    s.request.fault_at = fault_at;
    s
}

/// The O11 findings of a scenario on every variant: (variant, signature).
fn o11(s: &Scenario) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for v in VARIANTS.iter() {
        for f in check(&run(s, v)) {
            if f.property == Prop::O11 {
                out.push((v.name, f.signature));
            }
        }
    }
    out
}

fn names(found: &[(&'static str, String)]) -> Vec<&'static str> {
    found.iter().map(|(v, _)| *v).collect()
}

#[test]
fn buffered_write_past_eof_faulting_at_its_first_byte_fires_from_6_14_on_ext4() {
    let s = past_eof(FsKind::Ext4, false, 8192, 4096, Some(0));
    let found = o11(&s);
    assert_eq!(
        names(&found),
        ["v6.14", "v6.15", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3"]
    );
    for (v, sig) in &found {
        assert!(
            sig.ends_with("ext4 write_end with nothing copied past EOF: i_size = pos"),
            "{v}: {sig}"
        );
        assert_eq!(diofuzz::known::label(sig, v), "known", "{v}");
    }
    // The same call on 6.13: -EFAULT and the size untouched (fault-in before ->write_begin).
    let x = run(&s, diofuzz::variant::by_name("v6.13").unwrap());
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 0));
}

#[test]
fn xfs_is_silent_for_the_same_writes() {
    for (direct, pos, len, fault_at) in [
        (false, 8192, 4096, 0),
        (true, 8704, 512, 0),
        (true, 8704, 8192, 4096),
    ] {
        let s = past_eof(FsKind::Xfs, direct, pos, len, Some(fault_at));
        assert_eq!(o11(&s), vec![], "direct {direct} pos {pos} len {len}");
    }
}

#[test]
fn ext4_dio_completing_with_nothing_written_past_eof_fires_up_to_7_2() {
    let s = past_eof(FsKind::Ext4, true, 8704, 512, Some(0));
    let found = o11(&s);
    let vs = names(&found);
    assert!(!vs.contains(&"v7.3"), "7.3.4 keeps the pinning error");
    assert_eq!(vs.len(), VARIANTS.len() - 1, "{vs:?}");
    for (v, sig) in &found {
        assert!(
            sig.contains(
                "ext4_handle_inode_extension: nothing written past EOF: i_size = i_disksize = pos"
            ),
            "{v}: {sig}"
        );
        assert_eq!(diofuzz::known::label(sig, v), "known", "{v}");
    }
    let x = run(&s, diofuzz::variant::by_name("v6.18").unwrap());
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 8704));
    let x = run(&s, diofuzz::variant::by_name("v7.3").unwrap());
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 0));
}

#[test]
fn ext4_dio_part_then_failed_fallback_fires_up_to_7_2() {
    let s = past_eof(FsKind::Ext4, true, 8704, 8192, Some(4096));
    let found = o11(&s);
    assert!(!names(&found).contains(&"v7.3"));
    assert!(names(&found).contains(&"v6.12") && names(&found).contains(&"v7.2"));
    let x = run(&s, diofuzz::variant::by_name("v6.18").unwrap());
    // What live measured on 6.18.44: -EFAULT, the first 4096 bytes written, i_size 12800.
    assert_eq!((x.ret, x.after.i_size), (-EFAULT, 12800));
}

#[test]
fn short_and_full_writes_are_silent() {
    // A buffered write faulting after one page: 4096 reported, i_size 12288 = pos + ret.
    let s = past_eof(FsKind::Ext4, false, 8192, 8192, Some(4096));
    assert_eq!(o11(&s), vec![]);
    // Whole writes past EOF, buffered and direct.
    for direct in [false, true] {
        let s = past_eof(FsKind::Ext4, direct, 8192, 4096, None);
        assert_eq!(o11(&s), vec![], "direct {direct}");
    }
    // A write inside the file that fails moves nothing.
    let mut s = past_eof(FsKind::Ext4, false, 0, 4096, Some(0));
    s.world.i_size = 16384;
    assert_eq!(o11(&s), vec![]);
}
