// SPDX-License-Identifier: GPL-2.0-only
//! The device's DMA alignment (`world.device.dma_alignment`, the queue's dma_alignment mask) where
//! the kernel checks user memory of a direct write, per variant:
//! - 6.12-6.17: bdev_iter_is_aligned() in iomap_dio_bio_iter() and blkdev_direct_IO()
//!   (address & dma_alignment, segment length & (lbs - 1));
//! - 6.18-7.1: bio_split_io_at() at submission (bvec offset and length & dma_alignment, for a bio
//!   that crosses a page);
//! - 7.2.y/7.3 (14b007e17881): also bio_iov_iter_get_pages() per segment (address and remaining
//!   length & dma_alignment).
//!
//! Loop devices have 511 (the default); a SCSI disk (scsi_debug in `diofuzz lab`) has 3, so an
//! 8-byte aligned buffer is accepted there (lab-bench.md class A).

mod common;
use common::go;
use diofuzz::errno::*;
use diofuzz::generators::{bdev, with, written, KIB};
use diofuzz::model::TAG_NEW;
use diofuzz::scenario::*;

const ALL: [&str; 11] = [
    "v6.12", "v6.13", "v6.14", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
];
const PRE_6_18: [&str; 5] = ["v6.12", "v6.13", "v6.14", "v6.16", "v6.17"];
const MEM_CHECK: &str = "iomap_dio_bio_iter: user buffer not DMA aligned";
const SPLIT_CHECK: &str = "bio_split_io_at: bvec not DMA aligned, bio failed (-EINVAL)";
const EXTRACT_CHECK: &str = "bio_iov_iter_get_pages: user vector not DMA aligned (-EINVAL)";

/// A non-atomic O_DIRECT write of `len` at `pos` over written blocks, from a buffer aligned to
/// `buf_align`, on a device with DMA alignment `dma`.
fn write(fs: FsKind, pos: u64, len: u64, buf_align: u32, dma: u32) -> Scenario {
    with(|s| {
        s.fs = fs;
        s.world.i_size = 64 * KIB;
        s.world.blocks = vec![written(); 16];
        s.world.device.dma_alignment = dma;
        s.request.rwf.atomic = false;
        s.request.pos = pos;
        s.request.len = len;
        s.request.buf_align = buf_align;
    })
}

fn any_check(x: &diofuzz::model::Execution) -> bool {
    [MEM_CHECK, SPLIT_CHECK, EXTRACT_CHECK]
        .iter()
        .any(|c| x.trace.decided(c))
}

#[test]
fn eight_byte_buffer_is_written_on_a_scsi_disk_on_every_variant() {
    for fs in [FsKind::Ext4, FsKind::Xfs] {
        // 12 KiB from an 8-byte aligned buffer: a bio crossing pages (gen-4242-ext4-103's shape).
        let s = write(fs, 20 * KIB, 12 * KIB, 8, 7);
        assert!(diofuzz::validity::is_valid(&s));
        for var in ALL {
            let x = go(&s, var);
            assert_eq!(x.ret, 12 * KIB as i64, "{fs:?} {var}");
            assert!(!any_check(&x), "{fs:?} {var}");
            assert_eq!(x.buffered_bytes, 0, "{fs:?} {var}: direct, not buffered");
            assert!(x.after.on_disk[40..64].iter().all(|&t| t == TAG_NEW));
        }
        // The same write on a loop device (511): refused by the memory check of each version.
        let s = write(fs, 20 * KIB, 12 * KIB, 8, DEFAULT_DMA_ALIGNMENT);
        for var in ALL {
            let x = go(&s, var);
            let pre = PRE_6_18.contains(&var);
            assert_eq!(x.trace.decided(MEM_CHECK), pre, "{fs:?} {var}");
            if !pre {
                assert_eq!(x.ret, -EINVAL, "{fs:?} {var}");
                assert!(x.trace.decided(SPLIT_CHECK) || x.trace.decided(EXTRACT_CHECK));
            }
        }
    }
}

#[test]
fn byte_aligned_buffer_is_refused_on_a_scsi_disk_too() {
    let s = write(FsKind::Ext4, 0, 8 * KIB, 1, 7);
    for var in ALL {
        let x = go(&s, var);
        assert!(any_check(&x), "{var}");
        assert!(
            !x.after.on_disk.contains(&TAG_NEW) || x.buffered_bytes > 0,
            "{var}"
        );
    }
}

#[test]
fn segment_lengths_are_checked_on_the_dma_mask_from_7_2() {
    // Two segments of 3328 bytes (3328 = 6.5 x 512): the length has bit 256 but none of 7.
    let s = write(FsKind::Xfs, 0, 6656, 4096, 7);
    // 7.2/7.3 check each segment's remaining length against dma_alignment: 7 passes.
    let mut t = s.clone();
    t.request.nr_segs = 2;
    for var in ["v7.2", "v7.3", "v6.18", "v7.1"] {
        assert_eq!(go(&t, var).ret, 6656, "{var}");
    }
    // Before 6.18 the lengths are checked against the logical block size: refused whatever the
    // DMA alignment.
    for var in PRE_6_18 {
        assert!(go(&t, var).trace.decided(MEM_CHECK), "{var}");
    }
    // On a loop device 7.2/7.3 refuse it at extraction.
    let mut l = t.clone();
    l.world.device.dma_alignment = DEFAULT_DMA_ALIGNMENT;
    for var in ["v7.2", "v7.3"] {
        let x = go(&l, var);
        assert_eq!(x.ret, -EINVAL, "{var}");
        assert!(x.trace.decided(EXTRACT_CHECK), "{var}");
    }
}

#[test]
fn block_device_direct_write_reads_the_dma_alignment() {
    let mut s = bdev(16 * KIB, 16 * KIB);
    s.request.rwf.atomic = false;
    s.request.buf_align = 8;
    s.world.device.dma_alignment = 7;
    for var in ALL {
        let x = go(&s, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert!(!x
            .trace
            .decided("blkdev_direct_IO: user buffer not DMA aligned"));
    }
    s.world.device.dma_alignment = DEFAULT_DMA_ALIGNMENT;
    for var in ALL {
        assert_eq!(go(&s, var).ret, -EINVAL, "{var}");
    }
    // An atomic write from an 8-byte aligned buffer is one REQ_ATOMIC bio on the SCSI disk.
    let mut a = bdev(16 * KIB, 16 * KIB);
    a.request.buf_align = 8;
    a.world.device.dma_alignment = 7;
    for var in ALL {
        let x = go(&a, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert!(x.bios.iter().all(|b| b.atomic), "{var}");
    }
}

#[test]
fn the_field_is_appended_to_the_encoding() {
    let s = write(FsKind::Ext4, 0, 4096, 8, 7);
    let mut d = s.clone();
    d.world.device.dma_alignment = DEFAULT_DMA_ALIGNMENT;
    let (bs, bd) = (s.encode().unwrap(), d.encode().unwrap());
    // Absent means 511: the default encodes exactly as before the field existed; otherwise a
    // section (marker, mask byte) is appended.
    assert_eq!(bs.len(), bd.len() + 2);
    assert_eq!(&bs[..bd.len()], &bd[..]);
    assert_eq!(&bs[bd.len()..], &[DMA_SECTION, 3]);
    // Any other trailing byte is ignored, as before.
    let mut t = bd.clone();
    t.push(7);
    assert_eq!(Scenario::decode(&t).unwrap(), d);
    assert_eq!(Scenario::decode(&bs).unwrap(), s);
    assert_eq!(Scenario::decode(&bd).unwrap(), d);
    // Not reported as read past the end in an older input.
    let (_, short) = Scenario::decode_reporting_defaults(&bd).unwrap();
    assert!(short.is_empty(), "{short:?}");
    // JSON: absent -> 511, and 511 is not written out.
    let j = serde_json::to_string(&d).unwrap();
    assert!(!j.contains("dma_alignment"));
    assert!(serde_json::to_string(&s)
        .unwrap()
        .contains("\"dma_alignment\":7"));
    for k in 1..=12u8 {
        let mut e = bd.clone();
        e.extend_from_slice(&[DMA_SECTION, k]);
        let x = Scenario::decode(&e).unwrap();
        assert_eq!(x.world.device.dma_alignment, (1 << k) - 1);
        assert_eq!(x.encode().unwrap(), if k == 9 { bd.clone() } else { e });
    }
}

#[test]
fn the_field_follows_the_cow_fork_section() {
    // XFS with a CoW fork (the other optional part): the DMA byte comes after its section.
    let mut s = write(FsKind::Xfs, 0, 4096, 8, 3);
    s.world.cow = vec![CowExtent::Unwritten; 2];
    let b = s.encode().unwrap();
    assert_eq!(*b.last().unwrap(), 2, "2^2 - 1 = 3");
    assert_eq!(Scenario::decode_raw(&b).unwrap(), s);
    let mut d = s.clone();
    d.world.device.dma_alignment = DEFAULT_DMA_ALIGNMENT;
    let bd = d.encode().unwrap();
    assert_eq!(bd.len() + 2, b.len());
    assert_eq!(Scenario::decode_raw(&bd).unwrap(), d);
    // Without a CoW fork the DMA section follows the races.
    let mut n = s.clone();
    n.world.cow.clear();
    assert_eq!(Scenario::decode_raw(&n.encode().unwrap()).unwrap(), n);
}
