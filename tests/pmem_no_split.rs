// SPDX-License-Identifier: GPL-2.0-only
//! A bio-based disk that never splits (`world.device.no_bio_split`: pmem, brd, zram) under an
//! O_DIRECT write from a misaligned user buffer (docs/live-findings/pmem-misaligned-dio-6.18):
//! - 6.12-6.17: refused up front (bdev_iter_is_aligned in iomap_dio_bio_iter / blkdev_direct_IO);
//! - 6.18-7.1: nothing checks the user memory while the bio is built, and the only check left,
//!   bio_split_io_at(), runs from __bio_split_to_limits() on the blk-mq path, which a bio-based
//!   driver never takes: pmem_submit_bio() gets the bio and writes each page segment at
//!   bi_sector, advancing it by bv_len >> 9, so the data lands up to 511 bytes early and the
//!   write returns success;
//! - 7.2.y/7.3 (14b007e17881): refused in bio_iov_iter_get_pages() before the bio exists.

mod common;
use common::go;
use diofuzz::errno::*;
use diofuzz::generators::{bdev, with, written, KIB};
use diofuzz::model::{TAG_MISPLACED, TAG_NEW};
use diofuzz::scenario::*;

const WINDOW: [&str; 4] = ["v6.18", "v6.19", "v7.0", "v7.1"];
/// 6.12-6.17 refuse the buffer up front (-EINVAL on 6.12.117 in the lab; on 6.13-6.17 ext4's
/// ->iomap_end turns the nothing-written into -ENOTBLK and a buffered write, as on 6.16.12);
/// 7.2+ return -EINVAL.
const REFUSED: [&str; 4] = ["v6.12", "v6.16", "v7.2", "v7.3"];
const PMEM: &str = "pmem_submit_bio: segments not a multiple of 512 bytes, written at bv_len >> 9 sector steps: data misplaced";

/// The lab's gen-22-ext4-18 (docs/live-findings/pmem-misaligned-dio-6.18/scenario.json), on pmem.
fn gen22() -> Scenario {
    let j = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/live-findings/pmem-misaligned-dio-6.18/scenario.json"),
    )
    .unwrap();
    let mut s: Scenario = serde_json::from_str(&j).unwrap();
    s.world.device.no_bio_split = true;
    s
}

fn sectors(x: &diofuzz::model::Execution, a: u64, b: u64) -> &[u32] {
    &x.after.on_disk[(a / SECTOR) as usize..(b / SECTOR) as usize]
}

/// 6.18.15 in the lab (minimal.c, case gen22): 24576, i_size 31232, file [6656, 10240) right,
/// [10240, 24064) shifted by 511 bytes, [24064, 24576) one byte of data and 511 bytes never
/// written, [24576, 26624) right, [26624, 31232) shifted or torn: every sector but the right ones
/// reads as "other" in live.
#[test]
fn pmem_submit_bio_writes_a_misaligned_buffer_shifted_on_6_18_to_7_1() {
    let s = gen22();
    assert!(diofuzz::validity::is_valid(&s));
    for var in WINDOW {
        let x = go(&s, var);
        assert_eq!(x.ret, 24576, "{var}");
        assert_eq!(x.after.i_size, 31232, "{var}");
        assert!(x.trace.decided(PMEM), "{var}");
        assert!(sectors(&x, 6656, 10240).iter().all(|&t| t == TAG_NEW));
        // [24064, 24576): the last segment's one byte, the rest never written.
        assert!(sectors(&x, 10240, 24576)
            .iter()
            .all(|&t| t == TAG_MISPLACED));
        assert!(sectors(&x, 24576, 26624).iter().all(|&t| t == TAG_NEW));
        assert!(sectors(&x, 26624, 31232)
            .iter()
            .all(|&t| t == TAG_MISPLACED));
        let o6 = diofuzz::oracle::check(&x)
            .into_iter()
            .find(|f| f.property == diofuzz::oracle::Prop::O6)
            .expect("O6 flags the misplaced data");
        assert!(o6
            .detail
            .contains("byte 10240 should hold the new data but holds tag 5"));
    }
    // A blk-mq disk (loop: the same 511) on 6.18: the second bio fails in bio_split_io_at.
    let mut mq = s.clone();
    mq.world.device.no_bio_split = false;
    assert_eq!(go(&mq, "v6.18").ret, -EINVAL);
    assert!(!go(&mq, "v6.18").trace.decided(PMEM));
}

#[test]
fn misaligned_buffer_is_refused_before_6_18_and_from_7_2_on_pmem_too() {
    let s = gen22();
    for var in REFUSED {
        let x = go(&s, var);
        assert!(!x.trace.decided(PMEM), "{var}");
        if var != "v6.16" {
            assert_eq!(x.ret, -EINVAL, "{var}");
        } else {
            assert_eq!((x.ret, x.buffered_bytes), (24576, 24576), "{var}");
            assert!(sectors(&x, 6656, 31232).iter().all(|&t| t == TAG_NEW));
        }
    }
}

/// Segments of whole sectors (a 512-byte aligned buffer) land where they belong on pmem.
#[test]
fn pmem_submit_bio_places_a_sector_aligned_buffer_exactly() {
    let s = with(|s| {
        s.fs = FsKind::Ext4;
        s.world.i_size = 64 * KIB;
        s.world.blocks = vec![written(); 16];
        s.world.device.no_bio_split = true;
        s.request.rwf.atomic = false;
        s.request.pos = 8 * KIB;
        s.request.len = 24 * KIB;
        s.request.buf_align = 512;
    });
    for var in WINDOW.iter().chain(REFUSED.iter()) {
        let x = go(&s, var);
        assert_eq!(x.ret, 24 * KIB as i64, "{var}");
        assert!(!x.trace.decided(PMEM), "{var}");
        assert!(sectors(&x, 8 * KIB, 32 * KIB).iter().all(|&t| t == TAG_NEW));
    }
}

/// The raw block device on pmem (blkdev_direct_IO -> pmem_submit_bio): the same misplacement.
#[test]
fn pmem_block_device_write_from_a_misaligned_buffer_is_misplaced_on_6_18() {
    let mut s = bdev(8 * KIB, 8 * KIB);
    s.request.rwf.atomic = false;
    s.world.device.awu_min = 0;
    s.world.device.awu_max = 0;
    s.request.buf_align = 1;
    s.world.device.no_bio_split = true;
    assert!(
        diofuzz::validity::is_valid(&s),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, 8 * KIB as i64);
    assert!(x.trace.decided(PMEM));
    // 4095 bytes then a sector step of 7: sectors 0-6 of the range right, the rest shifted.
    assert!(sectors(&x, 8 * KIB, 8 * KIB + 3584)
        .iter()
        .all(|&t| t == TAG_NEW));
    assert!(sectors(&x, 8 * KIB + 3584, 16 * KIB)
        .iter()
        .all(|&t| t == TAG_MISPLACED));
    s.world.device.no_bio_split = false;
    assert_eq!(go(&s, "v6.18").ret, -EINVAL);
    s.world.device.no_bio_split = true;
    assert_eq!(go(&s, "v7.3").ret, -EINVAL);
}

/// The device-kind section: absent = a blk-mq disk; written only when set; round trips.
#[test]
fn device_section_round_trips_and_is_absent_by_default() {
    let mut s = gen22();
    let b = s.encode().unwrap();
    assert_eq!(&b[b.len() - 2..], &[DEVICE_SECTION, 1]);
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    s.world.device.no_bio_split = false;
    let plain = s.encode().unwrap();
    assert_ne!(plain.last(), Some(&1));
    assert!(!Scenario::decode(&plain).unwrap().world.device.no_bio_split);
    // After the scattered-iovec section.
    let mut sc = s.clone();
    sc.request.scatter = Some(Scatter { segs: 3, offset: 1 });
    sc.request.nr_segs = 1;
    sc.request.buf_align = 4096;
    sc.world.device.no_bio_split = true;
    let b = sc.encode().unwrap();
    assert_eq!(Scenario::decode(&b).unwrap(), sc);
}

/// Every committed input decodes with `no_bio_split` clear but the regressions made with it:
/// the section is new (a stray 0xB0 at the end of an old input would otherwise change its
/// scenario).
#[test]
fn committed_inputs_decode_as_blk_mq_disks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    let mut stack = vec![root.join("corpus")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if let Ok(l) = diofuzz::input::parse(&bytes, &p.to_string_lossy()) {
                n += 1;
                // (the regressions made with the flag: pmem's and, session 10, zram's)
                let name = p.to_string_lossy();
                if name.contains("pmem_misaligned") || name.contains("/zram_") {
                    continue;
                }
                assert!(!l.scenario.world.device.no_bio_split, "{}", p.display());
            }
        }
    }
    assert!(n > 50, "{n} inputs");
}
