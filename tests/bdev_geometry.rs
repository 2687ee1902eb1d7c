// SPDX-License-Identifier: GPL-2.0-only
//! Block devices of another geometry (issue 13, session 8; docs/live.md "Block size and size of a
//! block device"): the block size (`i_blkbits`, set_init_blocksize / BLKBSZSET) is read nowhere on
//! the model's block-device path, as in the kernel, and a device whose size ends inside a page
//! truncates a write at its end (blkdev_write_iter) on the direct and the buffered path.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{bdev, random::generate, KIB};
use diofuzz::model::{TAG_NEW, TAG_ZERO};
use diofuzz::scenario::*;

const VARIANTS: [&str; 5] = ["v6.12", "v6.13", "v6.18", "v7.2", "v7.3"];

/// `s` with the block size `1 << blkbits` and the same content: every block of the old layout
/// becomes the blocks of the new size it holds.
fn reblocked(s: &Scenario, blkbits: u8) -> Scenario {
    let mut t = s.clone();
    let per = 1usize << (s.world.blkbits - blkbits);
    t.world.blkbits = blkbits;
    t.world.blocks = s
        .world
        .blocks
        .iter()
        .flat_map(|b| std::iter::repeat(*b).take(per))
        .take(MAX_BLOCKS)
        .collect();
    t
}

/// blkdev_dio_invalid (block/fops.c) checks the logical block size, not i_blkbits; the buffered
/// path (iomap_file_buffered_write with IOMAP_F_BUFFER_HEAD: __block_write_begin_int over
/// buffer heads of i_blkbits) reads only the partly written blocks, and a short copy into a
/// folio that is not uptodate (block_write_end: 0) is retried with the copied length by
/// iomap_write_iter (7.3.4). So the same write on a device of 1 or 2 KiB blocks has the same
/// outcome as on one of 4 KiB blocks: return, position, bios and content.
#[test]
fn block_size_changes_nothing_on_a_block_device() {
    let mut n = 0;
    // 700 indices: the tail stream (session 9) and the nvme-held stream (session 10) take some of
    // these worlds to 4 KiB logical blocks, the tail-small stream (session 11) to 1 or 2 KiB.
    for i in 0..700 {
        let s = generate(21, i, FsKind::Bdev);
        if s.world.blkbits != 12 || s.world.lbs_bits != 9 || s.world.blocks.len() > 8 {
            continue;
        }
        n += 1;
        for var in VARIANTS {
            let a = go(&s, var);
            for bb in [10, 11] {
                let t = reblocked(&s, bb);
                assert!(diofuzz::validity::violations(&t).is_empty(), "{i}");
                let b = go(&t, var);
                let what = format!("{i} {var} blkbits {bb}");
                assert_eq!((a.ret, a.ki_pos_after), (b.ret, b.ki_pos_after), "{what}");
                assert_eq!(a.bios, b.bios, "{what}");
                assert_eq!(a.after.cached, b.after.cached, "{what}");
                assert_eq!(a.after.on_disk, b.after.on_disk, "{what}");
                assert_eq!(props(&a), props(&b), "{what}");
            }
        }
    }
    assert!(n > 100, "{n}");
}

/// A 6.5 KiB device (13 sectors: set_init_blocksize gives it 512-byte blocks): a 4 KiB write at
/// 4 KiB is cut to the 2.5 KiB left (blkdev_write_iter: iov_iter_truncate to bdev_nr_bytes), one
/// bio of that size on the direct path (blkdev_direct_IO: 2560 is whole logical blocks), the
/// same bytes through the page cache on the buffered path; at the end, -ENOSPC.
#[test]
fn a_write_across_a_partial_last_page_is_truncated() {
    let size = 13 * SECTOR;
    for blkbits in [10, 11, 12] {
        let mut s = bdev(4 * KIB, 4 * KIB);
        s.request.rwf.atomic = false;
        s.world.i_size = size;
        s.world.blkbits = blkbits;
        s.world.lbs_bits = 9;
        assert!(diofuzz::validity::violations(&s).is_empty());
        for var in VARIANTS {
            for direct in [true, false] {
                s.request.open.direct = direct;
                let x = go(&s, var);
                assert_eq!(x.ret, 2560, "{var} {direct}");
                assert!(x
                    .trace
                    .decided("blkdev_write_iter: truncated at the device end"));
                let bios: Vec<(u64, u64)> = x.bios.iter().map(|b| (b.pos, b.len)).collect();
                assert_eq!(bios, if direct { vec![(4096, 2560)] } else { vec![] });
                let sec = |t: &[u32], k: usize| t[k];
                for k in 8..13 {
                    assert_eq!(sec(&x.after.cached, k), TAG_NEW, "{var} {direct} {k}");
                }
                for k in 0..8 {
                    assert_eq!(sec(&x.after.cached, k), TAG_ZERO, "{var} {direct} {k}");
                }
                assert!(props(&x).is_empty(), "{var}");
            }
        }
        s.request.pos = size;
        assert_eq!(go(&s, "v7.3").ret, -ENOSPC);
        // An atomic write across the end: -EINVAL from 6.13 (no truncation of an atomic write).
        let mut a = bdev(4 * KIB, 4 * KIB);
        a.world.i_size = size;
        a.world.blkbits = blkbits;
        assert_eq!(go(&a, "v7.3").ret, -EINVAL);
    }
}

/// A 6 KiB device of 4 KiB logical blocks (a loop device over a 6 KiB file: lo_calculate_size
/// counts sectors): the buffer head over the device end cannot be read (guard_bio_eod cuts its
/// bio to 2 KiB, blk_mq_submit_bio fails it: bio_unaligned), so a buffered write into it is -EIO
/// (__block_write_begin_int) and one across it stops after the folio before it; a direct write
/// there is truncated to 2 KiB, which blkdev_dio_invalid refuses (-EINVAL). Measured on 6.18.44
/// (docs/live.md "Block size and size of a block device").
#[test]
fn the_partial_last_logical_block_cannot_be_written() {
    let mut s = bdev(4 * KIB, 4 * KIB);
    s.request.rwf.atomic = false;
    s.world.device = Default::default();
    s.world.i_size = 12 * SECTOR;
    s.world.blkbits = 12;
    s.world.lbs_bits = 12;
    s.world.pages.clear();
    assert!(
        diofuzz::validity::violations(&s).is_empty(),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    for var in VARIANTS {
        s.request.open.direct = false;
        s.request.pos = 4096;
        let x = go(&s, var);
        assert_eq!(x.ret, -EIO, "{var}");
        assert!(x.after.cached[8..12].iter().all(|&t| t != TAG_NEW), "{var}");
        s.request.pos = 0;
        s.request.len = 8 * KIB;
        let x = go(&s, var);
        assert_eq!((x.ret, x.ki_pos_after), (4096, 4096), "{var}");
        assert!(x.after.cached[..8].iter().all(|&t| t == TAG_NEW), "{var}");
        assert!(x.after.cached[8..12].iter().all(|&t| t != TAG_NEW), "{var}");
        s.request.len = 4 * KIB;
        s.request.open.direct = true;
        s.request.pos = 4096;
        assert_eq!(go(&s, var).ret, -EINVAL, "{var}");
        // 512-byte logical blocks: the 2 KiB left are written.
        let mut t = s.clone();
        t.world.lbs_bits = 9;
        t.request.open.direct = false;
        assert_eq!(go(&t, var).ret, 2048, "{var}");
    }
}

/// A 9.5 KiB device of 1 KiB logical blocks (a loop device with block_size 1024 over a 9.5 KiB
/// file; session 10): the buffer holding the end is [9, 10) KiB. With 4 KiB buffers the folio at
/// 8 KiB is one buffer, read for any write into it (-EIO, as with 4 KiB logical blocks); with
/// 1 KiB buffers __block_write_begin_int (fs/buffer.c, 6.12.117 and 7.3.4) reads only the
/// buffers a write covers in part, so a write that ends by 9 KiB never reads the end buffer and
/// is written, one reaching past 9 KiB fails in that folio (-EIO at it, short before it). With
/// 2 KiB buffers the end buffer is [8, 10) KiB: its read is cut to 1.5 KiB at the device end
/// (guard_bio_eod), which is not whole logical blocks (bio_unaligned: -EIO).
#[test]
fn one_kib_logical_blocks_fail_only_at_the_end_buffer() {
    let mut s = bdev(4 * KIB, 4 * KIB);
    s.request.rwf.atomic = false;
    s.world.device = Default::default();
    s.world.i_size = 19 * SECTOR;
    s.world.lbs_bits = 10;
    s.world.pages.clear();
    s.request.open.direct = false;
    for var in VARIANTS {
        for (blkbits, pos, len, ret) in [
            (12, 8192, 1024, -EIO),
            (12, 4096, 5 * KIB, 4096),
            (10, 8192, 1024, 1024),
            (10, 8192 + 100, 500, 500),
            (11, 8192, 1024, -EIO),
            (10, 8192, 1536, -EIO),
            (10, 9216, 512, -EIO),
            (11, 8192, 1024 + 512, -EIO),
            (10, 4096, 5 * KIB, 5120),
            (10, 4096, 5 * KIB + 512, 4096),
            (10, 4096, 4 * KIB + 512, 4608),
        ] {
            s.world.blkbits = blkbits;
            s.world.blocks = vec![BlockState::default(); (19 * 512) >> blkbits];
            s.request.pos = pos;
            s.request.len = len;
            assert!(
                diofuzz::validity::violations(&s).is_empty(),
                "{:?}",
                diofuzz::validity::violations(&s)
            );
            assert_eq!(go(&s, var).ret, ret, "{var} {blkbits} {pos} {len}");
        }
    }
}

/// The logical-block-size section (LBS_SECTION 0x1B, session 11): 1 and 2 KiB logical blocks
/// round-trip, and only they write it, so a scenario of 512-byte or 4 KiB logical blocks encodes
/// to the bytes it had before the section existed; decoding ignores a value other than 10 or 11
/// or one above the block size, and the section comes after the inline-conversion section.
#[test]
fn lbs_section_round_trips_and_leaves_old_inputs_alone() {
    let mut s = bdev(4 * KIB, 4 * KIB);
    s.request.rwf.atomic = false;
    s.world.device = Default::default();
    s.world.i_size = 19 * SECTOR;
    s.world.blocks.clear();
    s.world.pages.clear();
    for (lbs_bits, blkbits) in [(10, 10), (10, 11), (10, 12), (11, 11), (11, 12)] {
        s.world.lbs_bits = lbs_bits;
        s.world.blkbits = blkbits;
        let b = s.encode().unwrap();
        assert_eq!(&b[b.len() - 2..], &[LBS_SECTION, lbs_bits]);
        assert_eq!(Scenario::decode(&b).unwrap(), s);
        // Byte 0 says 512-byte logical blocks: without the section, that is what it decodes to.
        let old = Scenario::decode(&b[..b.len() - 2]).unwrap();
        assert_eq!(old.world.lbs_bits, 9);
        // Ignored values.
        for v in [0, 9, 12, 13, 0xFF] {
            let mut c = b.clone();
            *c.last_mut().unwrap() = v;
            assert_eq!(Scenario::decode_raw(&c).unwrap().world.lbs_bits, 9, "{v}");
        }
    }
    // Above the block size: ignored.
    s.world.lbs_bits = 10;
    s.world.blkbits = 10;
    let mut b = s.encode().unwrap();
    *b.last_mut().unwrap() = 11;
    assert_eq!(Scenario::decode_raw(&b).unwrap().world.lbs_bits, 9);
    // ... and encode refuses it.
    let mut bad = s.clone();
    bad.world.lbs_bits = 11;
    assert!(bad.encode().is_err());
    // 512-byte and 4 KiB logical blocks: no section.
    for lbs_bits in [9, 12] {
        let mut t = s.clone();
        t.world.blkbits = 12;
        t.world.lbs_bits = lbs_bits;
        t.world.i_size = 16 * SECTOR;
        let b = t.encode().unwrap();
        assert!(!b.ends_with(&[LBS_SECTION, lbs_bits]));
        assert_eq!(Scenario::decode(&b).unwrap(), t);
    }
    // After the inline-conversion section (an ext4 world: decode_raw, no validity).
    let mut e = Scenario::default();
    e.world.lbs_bits = 11;
    e.world.inline_delalloc = true;
    let b = e.encode().unwrap();
    assert_eq!(&b[b.len() - 4..], &[INLINE_SECTION, 1, LBS_SECTION, 11]);
    assert_eq!(Scenario::decode_raw(&b).unwrap(), e);
}

/// Every committed input (corpus, regressions, test data) was written before the section: each
/// decodes to 512-byte or 4 KiB logical blocks, as it did.
#[test]
fn committed_inputs_have_no_small_logical_blocks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = diofuzz::input::walk(&[root.join("corpus"), root.join("tests/data")]).unwrap();
    let mut n = 0;
    for f in files {
        let Ok(l) = diofuzz::input::load(&f) else {
            continue;
        };
        n += 1;
        assert!(
            matches!(l.scenario.world.lbs_bits, 9 | 12),
            "{}",
            f.display()
        );
    }
    assert!(n > 50, "{n}");
}

/// O_DIRECT and RWF_ATOMIC on devices of 1 and 2 KiB logical blocks (session 11: `LBS_SECTION`;
/// a loop device of `losetup -b 1024/2048`, a SCSI disk of such sectors): blkdev_dio_invalid
/// (block/fops.c, 6.12.117 and 7.3.4) checks position and length against the logical block size,
/// not the block size; an RWF_ATOMIC write against the device's units (here 1 KiB .. 8 KiB, rule
/// W13: the minimum at least a logical block): a power of two inside them, aligned to its
/// length (blkdev_atomic_write_valid in 6.12, generic_atomic_write_valid + the bdev unit check
/// later). The same in every variant.
#[test]
fn small_logical_blocks_direct_and_atomic() {
    for var in VARIANTS {
        for (lbs_bits, blkbits, pos, len, atomic, ret) in [
            (10, 10, 1024, 1024, false, 1024),
            (10, 12, 1024, 3072, false, 3072),
            (10, 10, 512, 1024, false, -EINVAL),
            (10, 10, 1024, 1536, false, -EINVAL),
            (11, 11, 2048, 2048, false, 2048),
            (11, 12, 1024, 2048, false, -EINVAL),
            (11, 11, 2048, 1024, false, -EINVAL),
            (10, 10, 1024, 1024, true, 1024),
            (10, 12, 4096, 4096, true, 4096),
            (10, 10, 1024, 2048, true, -EINVAL),
            (10, 10, 0, 16 * KIB, true, -EINVAL),
            (11, 11, 2048, 2048, true, 2048),
        ] {
            let mut s = bdev(pos, len);
            s.world.lbs_bits = lbs_bits;
            s.world.blkbits = blkbits;
            s.world.device.awu_min = 1024.max(1 << lbs_bits);
            s.world.device.awu_max = 8192;
            s.world.blocks.clear();
            s.request.rwf.atomic = atomic;
            assert!(
                diofuzz::validity::violations(&s).is_empty(),
                "{:?}",
                diofuzz::validity::violations(&s)
            );
            let what = format!("{var} lbs {lbs_bits} bs {blkbits} {pos}+{len} atomic {atomic}");
            let x = go(&s, var);
            assert_eq!(x.ret, ret, "{what}");
            if ret > 0 {
                assert_eq!(x.bios.len(), 1, "{what}");
            }
        }
    }
}
