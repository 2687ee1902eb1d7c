// SPDX-License-Identifier: GPL-2.0-only
//! Behaviour of the block-device model (docs/model.md §7): open-time atomic capability per version,
//! the no-truncation rule at the device end, the invalidation -EBUSY -> buffered fallback of an
//! atomic write, one REQ_ATOMIC bio, the one-bio limit, and direct_write_fallback.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::model::TAG_NEW;
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;

use diofuzz::generators::{bdev, KIB};

const ALL: [&str; 11] = [
    "v6.12", "v6.13", "v6.14", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
];

#[test]
fn atomic_write_is_one_req_atomic_bio() {
    for var in ALL {
        let x = go(&bdev(16 * KIB, 16 * KIB), var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert_eq!(x.bios.len(), 1);
        assert!(x.bios[0].atomic);
        assert_eq!((x.bios[0].pos, x.bios[0].len), (16 * KIB, 16 * KIB));
        assert_eq!((x.statx_unit_min, x.statx_unit_max), (4096, 65536));
        assert!(props(&x).is_empty(), "{var}: {:?}", check(&x));
        let s = (16 * KIB / SECTOR) as usize;
        assert!(x.after.on_disk[s..2 * s].iter().all(|&t| t == TAG_NEW));
    }
}

#[test]
fn atomic_past_device_end_is_einval_non_atomic_is_truncated() {
    // pos 56K is not aligned to 16K: -EINVAL from 6.13 on. Plain 6.12 validates only in
    // blkdev_direct_IO, after the truncation to 8K, which is aligned: a short atomic write.
    let s = bdev(56 * KIB, 16 * KIB);
    for var in &ALL[1..] {
        assert_eq!(go(&s, var).ret, -EINVAL, "{var}");
    }
    let x = go(&s, "v6.12");
    assert_eq!(x.ret, 8 * KIB as i64);
    assert!(props(&x).contains(&Prop::O2));
    // Aligned atomic write that crosses the end of a 40 KiB device.
    let mut s = bdev(32 * KIB, 16 * KIB);
    s.world.i_size = 40 * KIB;
    for var in ["v6.13", "v6.18", "v7.1"] {
        let x = go(&s, var);
        assert_eq!(x.ret, -EINVAL, "{var}");
        assert!(x
            .trace
            .decided("blkdev_write_iter: atomic write past the device end -> -EINVAL"));
        assert!(x.bios.is_empty());
        let mut n = s.clone();
        n.request.rwf.atomic = false;
        let y = go(&n, var);
        assert_eq!(y.ret, 8 * KIB as i64, "{var}");
        assert!(y
            .trace
            .decided("blkdev_write_iter: truncated at the device end"));
        assert!(props(&y).is_empty(), "{:?}", check(&y));
    }
    // Plain 6.12 (before the no-truncation fix) truncates the atomic write like any other; here
    // the truncated length is still a valid atomic unit, so a short atomic write results.
    let mut s = bdev(32 * KIB, 32 * KIB);
    s.world.i_size = 48 * KIB;
    let x = go(&s, "v6.12");
    assert_eq!(x.ret, 16 * KIB as i64);
    assert!(x.bios[0].atomic);
    assert!(props(&x).contains(&Prop::O2), "{:?}", check(&x));
    assert_eq!(go(&s, "v6.13").ret, -EINVAL);
    // At or past the end: -ENOSPC before the atomic checks.
    let mut s = bdev(64 * KIB, 4 * KIB);
    s.world.i_size = 64 * KIB;
    assert_eq!(go(&s, "v6.18").ret, -ENOSPC);
}

#[test]
fn invalidation_ebusy_falls_back_to_buffered_even_for_atomic() {
    let mut s = bdev(0, 4096);
    s.world.pages = vec![PageState::Busy];
    for var in ["v6.13", "v6.18", "v7.1"] {
        let x = go(&s, var);
        assert!(x
            .trace
            .decided("blkdev_direct_write: invalidation -EBUSY -> 0"));
        assert!(x.trace.entered("direct_write_fallback"));
        assert_eq!(x.ret, 4096);
        assert!(x.buffered_calls > 0);
        assert!(props(&x).contains(&Prop::O1), "{var}: {:?}", check(&x));
    }
    // Other invalidation errors are returned (writeback error on a dirty page).
    let mut s = bdev(0, 4096);
    s.world.pages = vec![PageState::Dirty];
    s.faults = vec![Fault {
        site: Site::FilemapWriteAndWait,
        nth: 0,
        errno: EIO,
    }];
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EIO);
    assert_eq!(x.buffered_calls, 0);
}

#[test]
fn open_capability_needs_o_direct_only_before_c3be7ebbbce5() {
    // Opened without O_DIRECT: plain 6.12 gives no capability (kiocb_set_rw_flags), 6.13+ has it
    // and generic_atomic_write_valid refuses the I/O.
    let mut s = bdev(0, 4096);
    s.request.open.direct = false;
    let x = go(&s, "v6.12");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert!(!x.trace.entered("generic_atomic_write_valid"));
    let x = go(&s, "v6.13");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert_eq!(
        x.trace.returns("generic_atomic_write_valid"),
        vec![-EOPNOTSUPP]
    );
    // Opened with O_DIRECT, O_DIRECT cleared by fcntl before the write: plain 6.12 writes the
    // atomic request through the page cache; 6.13 refuses it.
    let mut s = bdev(0, 4096);
    s.races = vec![Race::FcntlToggleDirect];
    let x = go(&s, "v6.12");
    assert!(x.buffered_calls > 0);
    assert!(props(&x).contains(&Prop::O1));
    let x = go(&s, "v6.13");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert_eq!(x.buffered_calls, 0);
}

#[test]
fn atomic_write_above_device_unit_is_rejected_by_the_device() {
    let mut s = bdev(0, 32 * KIB);
    s.world.device.awu_max = 16 * KIB as u32;
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert!(x
        .trace
        .decided("device rejected the REQ_ATOMIC bio (BLK_STS_INVAL)"));
    assert_eq!(x.before, x.after);
}

#[test]
fn atomic_needing_several_bios_is_einval_non_atomic_splits() {
    // 2 MiB spans 512 pages > BIO_MAX_VECS.
    let mut s = bdev(0, 2048 * KIB);
    s.world.i_size = 4096 * KIB;
    s.world.device.awu_max = 4096 * KIB as u32;
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert!(x
        .trace
        .decided("blkdev_direct_IO: atomic write needs more than one bio -> -EINVAL"));
    let mut n = s.clone();
    n.request.rwf.atomic = false;
    let y = go(&n, "v6.18");
    assert_eq!(y.ret, 2048 * KIB as i64);
    assert_eq!(y.bios.len(), 2);
    assert!(props(&y).is_empty(), "{:?}", check(&y));
}

/// The model's prediction for a user buffer that faults part-way through an atomic write: the
/// single bio is cut at the fault (bio_iov_iter_get_pages keeps what it pinned), the device
/// accepts the shorter REQ_ATOMIC bio (a multiple of its unit), and blkdev_write_iter writes the
/// rest through the page cache: short atomic bio + buffered remainder.
#[test]
fn atomic_with_faulting_buffer_is_split_into_direct_and_buffered() {
    let mut s = bdev(0, 16 * KIB);
    s.request.fault_at = Some(8 * KIB);
    let x = go(&s, "v6.18");
    assert_eq!(x.bios.len(), 1);
    assert_eq!(x.bios[0].len, 8 * KIB);
    assert!(x.bios[0].atomic);
    assert!(x.trace.entered("direct_write_fallback"));
    // The buffered part faults at once: direct_write_fallback returns the direct bytes.
    assert_eq!(x.ret, 8 * KIB as i64);
    let p = props(&x);
    assert!(p.contains(&Prop::O1) && p.contains(&Prop::O2), "{p:?}");
}

#[test]
fn async_atomic_reports_at_completion() {
    let mut s = bdev(0, 4096);
    s.request.aio = true;
    let x = go(&s, "v6.18");
    assert_eq!(x.submit_ret, -EIOCBQUEUED);
    assert_eq!(x.ret, 4096);
    assert!(props(&x).is_empty(), "{:?}", check(&x));
}

#[test]
fn no_atomic_unit_no_capability() {
    let mut s = bdev(0, 4096);
    s.world.device = Device::default();
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (0, 0));
}
