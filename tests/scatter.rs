// SPDX-License-Identifier: GPL-2.0-only
//! Scattered iovecs (`request.scatter`, the optional SEGS_SECTION of the input format): hundreds
//! of iovecs, each in its own page, so a bio's BIO_MAX_VECS (256) bvecs hold a few KiB and a
//! direct write spans several bios. Per variant:
//! - 6.12-6.17: bdev_iter_is_aligned() wants every segment's length a multiple of the logical
//!   block size: sub-sector segments are -EINVAL before any bio;
//! - 6.18-7.1: no user-memory check while the bio is built; bio_split_io_at() checks each bvec
//!   (offset and length) against the queue's dma_alignment at submission;
//! - 7.2.y/7.3 (14b007e17881): iov_iter_extract_bvecs() checks each segment as it is extracted.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{with, written, KIB};
use diofuzz::model::TAG_NEW;
use diofuzz::scenario::*;

const ALL: [&str; 11] = [
    "v6.12", "v6.13", "v6.14", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
];
const PRE_6_18: [&str; 5] = ["v6.12", "v6.13", "v6.14", "v6.16", "v6.17"];

/// A non-atomic O_DIRECT write of `len` at 0 over written blocks from `segs` iovecs at `offset`
/// in their own pages, on a device with DMA alignment `dma`.
fn scattered(fs: FsKind, len: u64, segs: u16, offset: u16, dma: u32) -> Scenario {
    with(|s| {
        s.fs = fs;
        s.world.i_size = 64 * KIB;
        s.world.blocks = if fs == FsKind::Bdev {
            vec![]
        } else {
            vec![written(); 16]
        };
        s.world.device.dma_alignment = dma;
        s.request.rwf.atomic = false;
        s.request.pos = 0;
        s.request.len = len;
        s.request.scatter = Some(Scatter { segs, offset });
    })
}

fn bios(x: &diofuzz::model::Execution) -> Vec<(u64, u64, i64)> {
    x.bios
        .iter()
        .filter(|b| !b.zero)
        .map(|b| (b.pos, b.len, b.status))
        .collect()
}

const MEM_CHECK: &str = "iomap_dio_bio_iter: user buffer not DMA aligned";
const BDEV_MEM_CHECK: &str = "blkdev_direct_IO: user buffer not DMA aligned";

/// 1024 iovecs of 8 bytes (8 KiB) on a SCSI-like disk (dma_alignment 7): refused by the
/// segment-length check before 6.18; from 6.18 written in four bios of 256 bvecs (2 KiB each).
#[test]
fn sub_sector_segments_span_several_bios() {
    for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
        let s = scattered(fs, 8 * KIB, 1024, 0, 7);
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        for var in ALL {
            let x = go(&s, var);
            if PRE_6_18.contains(&var) {
                assert!(
                    x.trace.decided(MEM_CHECK) || x.trace.decided(BDEV_MEM_CHECK),
                    "{fs:?} {var}: bdev_iter_is_aligned refuses 8-byte segments"
                );
                assert!(bios(&x).is_empty(), "{fs:?} {var}");
                continue;
            }
            assert_eq!(x.ret, 8 * KIB as i64, "{fs:?} {var}");
            assert_eq!(
                bios(&x),
                vec![
                    (0, 2048, 0),
                    (2048, 2048, 0),
                    (4096, 2048, 0),
                    (6144, 2048, 0)
                ],
                "{fs:?} {var}"
            );
            assert!(
                x.after.on_disk[0..16].iter().all(|&t| t == TAG_NEW),
                "{fs:?} {var}"
            );
            assert!(props(&x).is_empty(), "{fs:?} {var}: {:?}", props(&x));
        }
        // On a loop device (dma_alignment 511) the bvecs are refused: at the split (6.18-7.1)
        // or as each segment is extracted (7.2+).
        let s = scattered(fs, 8 * KIB, 1024, 0, DEFAULT_DMA_ALIGNMENT);
        for var in ALL {
            let x = go(&s, var);
            if !PRE_6_18.contains(&var) {
                assert_eq!(x.ret, -EINVAL, "{fs:?} {var}");
            }
        }
    }
}

/// 512-byte segments each in its own page: 256 per bio (128 KiB); a 192 KiB write is two bios
/// on every variant (the lengths are sector multiples, the addresses page aligned).
#[test]
fn sector_segments_fill_a_bio_with_256_pages_of_512_bytes() {
    for fs in [FsKind::Xfs, FsKind::Bdev] {
        let mut s = scattered(fs, 192 * KIB, 384, 0, DEFAULT_DMA_ALIGNMENT);
        s.world.i_size = 256 * KIB;
        if fs == FsKind::Xfs {
            s.world.blocks = vec![written(); 32];
            s.world.i_size = 128 * KIB;
        }
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        for var in ALL {
            let x = go(&s, var);
            assert_eq!(x.ret, 192 * KIB as i64, "{fs:?} {var}");
            let b: Vec<u64> = bios(&x).iter().map(|b| b.1).collect();
            assert_eq!(b, vec![128 * KIB, 64 * KIB], "{fs:?} {var}");
        }
    }
}

/// A multi-bio write whose third bio completes with -EIO: the write fails with -EIO on every
/// variant that builds the bios, with the first two bios' data on the disk.
#[test]
fn a_later_bio_fails() {
    for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
        let mut s = scattered(fs, 8 * KIB, 1024, 0, 7);
        s.faults = vec![Fault {
            site: Site::BioEndIo,
            nth: 2,
            errno: EIO,
        }];
        for var in ALL.iter().filter(|v| !PRE_6_18.contains(v)) {
            let x = go(&s, var);
            assert_eq!(x.ret, -EIO, "{fs:?} {var}");
            let b = bios(&x);
            assert_eq!(
                &b[..3],
                &[(0, 2048, 0), (2048, 2048, 0), (4096, 2048, -EIO)],
                "{fs:?} {var}"
            );
            assert!(
                x.after.on_disk[0..8].iter().all(|&t| t == TAG_NEW),
                "{fs:?} {var}"
            );
        }
    }
}

/// The user memory faults from data byte 5120 (segment 640's page): the first two bios are full,
/// the third stops at the fault (1 KiB), the next pins nothing: -EFAULT (XFS: iomap without
/// IOMAP_DIO_PARTIAL sets dio->error; the block device: __blkdev_direct_IO's get-pages error is
/// the result), with 5120 bytes on the disk.
#[test]
fn a_fault_ends_the_write_between_bios() {
    for fs in [FsKind::Xfs, FsKind::Bdev] {
        let mut s = scattered(fs, 8 * KIB, 1024, 0, 7);
        s.request.fault_at = Some(5120);
        for var in ALL.iter().filter(|v| !PRE_6_18.contains(v)) {
            let x = go(&s, var);
            assert_eq!(x.ret, -EFAULT, "{fs:?} {var}");
            assert!(
                x.after.on_disk[0..10].iter().all(|&t| t == TAG_NEW),
                "{fs:?} {var}"
            );
            let b: Vec<u64> = bios(&x).iter().map(|b| b.1).collect();
            assert_eq!(b, vec![2048, 2048, 1024], "{fs:?} {var}");
            assert_eq!(x.pinned_left, 0, "{fs:?} {var}");
        }
    }
}

/// The scattered-iovec section round-trips, and bytes without it decode with no scatter.
#[test]
fn scatter_section_round_trips() {
    let s = scattered(FsKind::Xfs, 8 * KIB, 1024, 40, 7);
    let b = s.encode().unwrap();
    assert_eq!(&b[b.len() - 5..], &[SEGS_SECTION, 0xff, 3, 40, 0]);
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    let mut plain = s.clone();
    plain.request.scatter = None;
    let pb = plain.encode().unwrap();
    assert_eq!(pb.len() + 5, b.len());
    assert_eq!(Scenario::decode(&pb).unwrap(), plain);
    // After the limits section.
    let mut l = s.clone();
    l.world.rlimit_fsize = Some(0);
    let lb = l.encode().unwrap();
    assert_eq!(&lb[lb.len() - 7..lb.len() - 5], &[LIMITS_SECTION, 1]);
    assert_eq!(Scenario::decode(&lb).unwrap(), l);
    // Totality: the count and offset wrap, a truncated section reads zeros, nr_segs and
    // buf_align are replaced.
    let mut raw = pb.clone();
    let n = raw.len();
    raw[n - 6] = 7; // (nr_segs byte is not the last: fault_at, max_bio, faults, races follow)
    raw.extend_from_slice(&[SEGS_SECTION, 0xff, 0xff, 0xff, 0xff]);
    let d = Scenario::decode_raw(&raw).unwrap();
    assert_eq!(
        d.request.scatter,
        Some(Scatter {
            segs: 1024,
            offset: 4095
        })
    );
    assert_eq!((d.request.nr_segs, d.request.buf_align), (1, 4096));
    let mut short = pb.clone();
    short.push(SEGS_SECTION);
    let (d, defaulted) = Scenario::decode_reporting_defaults(&short).unwrap();
    assert_eq!(d.request.scatter, Some(Scatter { segs: 1, offset: 0 }));
    assert!(defaulted.contains(&"request.scatter"));
    // encode refuses what the section cannot say.
    let mut bad = s.clone();
    bad.request.nr_segs = 3;
    assert!(bad.encode().is_err());
    bad.request.nr_segs = 1;
    bad.request.scatter = Some(Scatter {
        segs: 1025,
        offset: 0,
    });
    assert!(bad.encode().is_err());
}

/// Every committed input decodes exactly as before the section existed: none of them holds it
/// (so each decodes to the scenario it did, with no scattered iovec).
#[test]
fn committed_inputs_have_no_scatter_section() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dirs: Vec<std::path::PathBuf> = ["corpus", "tests/data", "examples"]
        .iter()
        .map(|d| root.join(d))
        .filter(|d| d.exists())
        .collect();
    let files = diofuzz::input::walk(&dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0;
    for f in files {
        if let Ok(l) = diofuzz::input::load(&f) {
            // (session 10's regression of the zram sub-page bug is a scattered write by design)
            if f.to_string_lossy().contains("zram_subpage_bvec") {
                assert!(l.scenario.request.scatter.is_some());
                continue;
            }
            assert_eq!(l.scenario.request.scatter, None, "{}", f.display());
            n += 1;
        }
    }
    assert!(n >= 80, "{n}");
}

/// 512-byte segments that cross a page boundary (offset 3840): two bvecs each, so a bio holds
/// 128 of them (64 KiB). The 6.12 - 6.17 world of small bios: bdev_iter_is_aligned() accepts
/// them on a device whose DMA alignment clears the offset (3); a loop device's 511 refuses them
/// (6.12 - 6.17: the address check; 6.18+: the bvec offsets at the split or extraction).
#[test]
fn page_crossing_sector_segments_take_two_bvecs_each() {
    for fs in [FsKind::Xfs, FsKind::Bdev] {
        let mut s = scattered(fs, 96 * KIB, 192, 3840, 3);
        s.world.i_size = 128 * KIB;
        if fs == FsKind::Xfs {
            s.world.blocks = vec![written(); 32];
        }
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        for var in ALL {
            let x = go(&s, var);
            assert_eq!(x.ret, 96 * KIB as i64, "{fs:?} {var}");
            let b: Vec<u64> = bios(&x).iter().map(|b| b.1).collect();
            assert_eq!(b, vec![64 * KIB, 32 * KIB], "{fs:?} {var}");
        }
        s.world.device.dma_alignment = DEFAULT_DMA_ALIGNMENT;
        for var in ALL {
            let x = go(&s, var);
            assert_eq!(x.ret, -EINVAL, "{fs:?} {var}");
            assert!(
                bios(&x).iter().all(|b| b.2 != 0),
                "{fs:?} {var}: no bio written"
            );
        }
    }
}

/// Every variant: 384 sector segments (two bios, 128 + 64 KiB), the second bio completes with
/// -EIO: the write fails, the first bio's 128 KiB are on the disk.
#[test]
fn the_second_of_two_bios_fails_on_every_variant() {
    for fs in [FsKind::Xfs, FsKind::Bdev] {
        let mut s = scattered(fs, 192 * KIB, 384, 0, DEFAULT_DMA_ALIGNMENT);
        s.world.i_size = 192 * KIB;
        if fs == FsKind::Xfs {
            s.world.blocks = vec![written(); 48];
        }
        s.faults = vec![Fault {
            site: Site::BioEndIo,
            nth: 1,
            errno: EIO,
        }];
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        for var in ALL {
            let x = go(&s, var);
            assert_eq!(x.ret, -EIO, "{fs:?} {var}");
            assert_eq!(
                bios(&x),
                vec![(0, 128 * KIB, 0), (128 * KIB, 64 * KIB, -EIO)],
                "{fs:?} {var}"
            );
            assert!(
                x.after.on_disk[0..256].iter().all(|&t| t == TAG_NEW),
                "{fs:?} {var}"
            );
        }
    }
}
