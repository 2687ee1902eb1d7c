// SPDX-License-Identifier: GPL-2.0-only
//! Every generator's scenario encodes in the input format: `diofuzz repro`, `live --save` and the
//! corpus load scenarios back through it, so a world the format cannot hold could be run but
//! never replayed (session 10 found three generators that drew such worlds: swap devices of more
//! than 32 blocks, i_disksize-lag sizes that are not a multiple of 512 or one more, and faulted
//! writes on the atomic disk whose blocks reach past block 31).

use diofuzz::generators::random::Disk;
use diofuzz::generators::{dax, fault, fault_segs, flags, random, settle};
use diofuzz::scenario::{FsKind, Scenario};

#[test]
fn every_generator_output_encodes() {
    let disk = Disk {
        awu_min: 4096,
        awu_max: 65536,
        lbs_bits: 12,
        dma_alignment: 3,
    };
    let pmem = Disk {
        awu_min: 0,
        awu_max: 0,
        lbs_bits: 9,
        dma_alignment: 511,
    };
    let v = diofuzz::variant::newest();
    let mut n = 0;
    let mut check = |what: &str, i: u64, s: Option<Scenario>| {
        if let Some(s) = s {
            n += 1;
            if let Err(e) = s.encode() {
                panic!("{what} {i}: {e:?}");
            }
        }
    };
    for i in 0..300 {
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            check("generate", i, Some(random::generate(1, i, fs)));
            check(
                "generate_on disk",
                i,
                Some(random::generate_on(1, i, fs, Some(&disk), 0)),
            );
            check("generate_swap", i, Some(flags::generate_swap(1, i, fs)));
            check(
                "generate_faulted",
                i,
                fault::generate_faulted(1, i, fs, None, v),
            );
            check(
                "generate_faulted disk",
                i,
                fault::generate_faulted(1, i, fs, Some(&disk), v),
            );
            if i < 60 {
                check(
                    "generate_multi_bio_faulted",
                    i,
                    fault_segs::generate_multi_bio_faulted(1, i, fs, None, v, fault::UBLK_ERRNOS),
                );
            }
        }
        check(
            "generate_on bigalloc",
            i,
            Some(random::generate_on(1, i, FsKind::Ext4, Some(&disk), 2)),
        );
        check("generate_jflag", i, Some(flags::generate_jflag(1, i)));
        check("generate_settle", i, Some(settle::generate_settle(1, i)));
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            check("generate_dax", i, Some(dax::generate_dax(1, i, fs, &pmem)));
        }
    }
    assert!(n > 4000, "{n}");
}

/// Session 11's tail devices of 1 or 2 KiB logical blocks (the tail-small stage): session 10
/// wrote such a stream and every draw failed to encode (lbs_bits was 9 or 12 in the format);
/// with LBS_SECTION every one encodes and decodes back.
#[test]
fn small_logical_block_tails_encode() {
    let mut n = 0;
    for i in 0..1000 {
        let s = random::generate(2, i, FsKind::Bdev);
        if !diofuzz::generators::bdev_geometry::is_tail_small(&s) {
            continue;
        }
        n += 1;
        let b = s.encode().unwrap_or_else(|e| panic!("{i}: {e:?}"));
        assert_eq!(Scenario::decode(&b).unwrap(), s, "{i}");
    }
    assert!(n > 30, "{n}");
}
