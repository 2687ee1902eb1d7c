// SPDX-License-Identifier: GPL-2.0-only
//! zram, the second bio-based disk that never splits (`world.device.no_bio_split` with stable
//! writes and 4 KiB logical blocks: kernel::drivers::is_zram), under O_DIRECT writes whose
//! bvecs are not whole pages (docs/live-findings/pmem-misaligned-dio-6.18, "zram",
//! docs/live-findings/zram-subpage-bvec). zram_bio_write() -> zram_bvec_write() stores each
//! bvec's whole user page (is_partial_io() is false with 4 KiB pages) at index bi_sector >> 3:
//! - a buffer off the DMA alignment (511): refused on 6.12-6.17 (blkdev_dio_invalid's
//!   bdev_iter_is_aligned) and 7.2+ (14b007e17881), accepted on 6.18-7.1 and misplaced;
//! - a buffer 512 bytes into a page (DMA aligned): accepted and misplaced on every version.
//!
//! Measured on 6.18.44 (docs/live-findings/pmem-misaligned-dio-6.18/zram-brd.c): device page k of the
//! bio holds user page k + 1.

mod common;
use common::go;
use diofuzz::errno::*;
use diofuzz::generators::{bdev, KIB};
use diofuzz::model::{TAG_MISPLACED, TAG_NEW, TAG_ZERO};
use diofuzz::scenario::*;

const WINDOW: [&str; 4] = ["v6.18", "v6.19", "v7.0", "v7.1"];
const ZRAM: &str = "zram_bvec_write: is_partial_io() false with 4 KiB pages: a bvec not a whole page stores its whole user page: data misplaced";
const PMEM: &str = "pmem_submit_bio: segments not a multiple of 512 bytes, written at bv_len >> 9 sector steps: data misplaced";

/// A zram block device of 64 KiB (4 KiB logical blocks, stable writes, bio-based), a plain
/// O_DIRECT write of 16 KiB at 8 KiB from a buffer `off` bytes into a page.
fn zram(off: u32) -> Scenario {
    let mut s = bdev(8 * KIB, 16 * KIB);
    s.request.rwf.atomic = false;
    s.world.device.awu_min = 0;
    s.world.device.awu_max = 0;
    s.world.lbs_bits = 12;
    s.world.device.stable_writes = true;
    s.world.device.no_bio_split = true;
    s.request.buf_align = off;
    s
}

fn sectors(x: &diofuzz::model::Execution, a: u64, b: u64) -> &[u32] {
    &x.after.on_disk[(a / SECTOR) as usize..(b / SECTOR) as usize]
}

#[test]
fn zram_is_the_bio_based_disk_with_stable_writes() {
    let s = zram(1);
    assert!(
        diofuzz::validity::is_valid(&s),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    assert!(diofuzz::kernel::drivers::is_zram(&s.world));
    let mut p = s.clone();
    p.world.device.stable_writes = false;
    assert!(!diofuzz::kernel::drivers::is_zram(&p.world));
    p.world.device.stable_writes = true;
    p.world.lbs_bits = 9;
    assert!(!diofuzz::kernel::drivers::is_zram(&p.world));
}

/// 1 and 8 bytes off (live's gen-1-bdev-894, gen-1-bdev-254): the full length, every page of
/// the range holds the next user page: the first 3 pages other data, the last one the data's
/// last bytes in its first sector and zero user memory after it.
#[test]
fn zram_misaligned_buffer_is_accepted_and_misplaced_on_6_18_to_7_1() {
    for off in [1, 8] {
        let s = zram(off);
        for var in WINDOW {
            let x = go(&s, var);
            assert_eq!(x.ret, 16 * KIB as i64, "{var} {off}");
            assert!(x.trace.decided(ZRAM) && !x.trace.decided(PMEM), "{var}");
            assert!(sectors(&x, 8 * KIB, 20 * KIB + 512)
                .iter()
                .all(|&t| t == TAG_MISPLACED));
            assert!(sectors(&x, 20 * KIB + 512, 24 * KIB)
                .iter()
                .all(|&t| t == TAG_ZERO));
            let o6 = diofuzz::oracle::check(&x)
                .into_iter()
                .find(|f| f.property == diofuzz::oracle::Prop::O6)
                .expect("O6 flags the misplaced data");
            assert_eq!(diofuzz::known::label(&o6.signature, var), "known");
            assert!(
                o6.signature.contains("no bio_split_io_at"),
                "{}",
                o6.signature
            );
        }
        // 6.12 (bdev_iter_is_aligned) and 7.2+ (bio_iov_iter_get_pages) refuse it.
        for var in ["v6.12", "v6.17", "v7.2", "v7.3"] {
            assert_eq!(go(&s, var).ret, -EINVAL, "{var}");
        }
        // A blk-mq disk with the same limits: bio_split_io_at fails the bio on 6.18.
        let mut mq = s.clone();
        mq.world.device.no_bio_split = false;
        assert_eq!(go(&mq, "v6.18").ret, -EINVAL);
    }
}

/// A buffer 512 bytes into a page is DMA aligned: every version accepts it, and zram stores
/// whole user pages (live's gen-1-bdev-935 on 6.18.44; the regression zram_page_offset_512).
#[test]
fn zram_sector_aligned_buffer_inside_a_page_is_misplaced_on_every_version() {
    let s = zram(512);
    for var in ["v6.12", "v6.17", "v6.18", "v7.3"] {
        let x = go(&s, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert!(x.trace.decided(ZRAM), "{var}");
        assert!(sectors(&x, 8 * KIB, 20 * KIB)
            .iter()
            .all(|&t| t == TAG_MISPLACED));
        // The last page: user page 4, 512 bytes of data then zero memory.
        assert_eq!(sectors(&x, 20 * KIB, 20 * KIB + 512), &[TAG_MISPLACED]);
        assert!(sectors(&x, 20 * KIB + 512, 24 * KIB)
            .iter()
            .all(|&t| t == TAG_ZERO));
        let o6 = diofuzz::oracle::check(&x)
            .into_iter()
            .find(|f| f.property == diofuzz::oracle::Prop::O6)
            .expect("O6");
        assert_eq!(diofuzz::known::label(&o6.signature, var), "known", "{var}");
    }
}

/// A page-aligned buffer, and several contiguous iovecs whose ends share pages, are whole-page
/// bvecs: in place on every version.
#[test]
fn zram_whole_page_bvecs_land_in_place() {
    for segs in [1, 3] {
        let mut s = zram(0);
        s.request.nr_segs = segs;
        // (6.12 and 7.2+ refuse iovecs of 5461 bytes: the second starts off the DMA alignment; on
        // 6.18 they merge into whole-page bvecs, in place on 6.18.44: live's gen-1-bdev-1521)
        let vars: &[&str] = if segs == 1 {
            &["v6.12", "v6.18", "v7.3"]
        } else {
            &["v6.18"]
        };
        for &var in vars {
            let x = go(&s, var);
            assert_eq!(x.ret, 16 * KIB as i64, "{var}");
            assert!(!x.trace.decided(ZRAM), "{var}");
            assert!(sectors(&x, 8 * KIB, 24 * KIB).iter().all(|&t| t == TAG_NEW));
        }
    }
}

/// ext4 on zram (iomap_dio_bio_iter -> the same driver): a misaligned buffer is misplaced on
/// 6.18 the zram way (every sector), not pmem's (sectors before the first short segment kept).
#[test]
fn zram_under_ext4_places_bios_as_zram_does() {
    let mut s = zram(1);
    s.fs = FsKind::Ext4;
    s.world.blkbits = 12;
    s.world.i_size = 64 * KIB;
    s.world.blocks = vec![diofuzz::generators::written(); 16];
    assert!(
        diofuzz::validity::is_valid(&s),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, 16 * KIB as i64);
    assert!(x.trace.decided(ZRAM) && !x.trace.decided(PMEM));
    assert!(sectors(&x, 8 * KIB, 8 * KIB + 3584)
        .iter()
        .all(|&t| t == TAG_MISPLACED));
}
