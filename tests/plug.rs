// SPDX-License-Identifier: GPL-2.0-only
//! The bio completion order (model::BioCompletion): `Immediate` (default: a failed bio is seen by
//! the next iomap_dio_bio_iter() iteration, which stops) and `Plugged` (__iomap_dio_rw()'s
//! blk_start_plug() holds the requests, so their completion errors reach dio->error only at
//! blk_finish_plug(), or when blk_add_rq_to_plug() flushes a plug of BLK_MAX_REQUEST_COUNT).

mod common;
use common::go;
use diofuzz::errno::*;
use diofuzz::generators::{layout, non_atomic, xfs, KIB};
use diofuzz::model::{run_opts, BioCompletion, Execution, ModelOpts, TAG_NEW, TAG_OLD};
use diofuzz::scenario::*;

const PLUGGED: ModelOpts = ModelOpts {
    completion: BioCompletion::Plugged,
    placement: None,
    hibernate_resume: false,
    virt_boundary_mask: 0,
};

/// An O_DIRECT (non-atomic) write of `blocks` 4 KiB blocks at 0 over written blocks that are each
/// their own physical extent (one mapping, one bio per block), the first bio failing with -EIO.
fn faulted(fs: FsKind, blocks: usize) -> Scenario {
    let mut s = non_atomic(&xfs("WWWW", 0, 4096));
    s.fs = fs;
    s.world.blocks = layout(&"|W".repeat(blocks)).unwrap();
    s.world.i_size = blocks as u64 * 4 * KIB;
    s.request.len = blocks as u64 * 4 * KIB;
    s.request.open.direct = true;
    s.faults = vec![Fault {
        site: Site::BioEndIo,
        nth: 0,
        errno: EIO,
    }];
    s
}

/// What a reader sees in block `b` after the caches are dropped (all its sectors, one tag).
fn block(x: &Execution, b: usize) -> u32 {
    let spb = (4 * KIB / SECTOR) as usize;
    let tags = &x.after.on_disk[b * spb..(b + 1) * spb];
    assert!(tags.iter().all(|&t| t == tags[0]), "{tags:?}");
    tags[0]
}

#[test]
fn plugged_submits_the_bios_after_the_failed_one_immediate_stops() {
    for fs in [FsKind::Xfs, FsKind::Ext4] {
        for var in ["v6.12", "v6.18", "v7.3"] {
            let v = diofuzz::variant::by_name(var).unwrap();
            let s = faulted(fs, 4);
            let imm = go(&s, var);
            assert_eq!(imm.ret, -EIO, "{fs:?} {var}");
            assert_eq!(
                imm.bios.len(),
                1,
                "{fs:?} {var}: immediate stops after the failed bio"
            );
            assert!(imm
                .path
                .contains(&"iomap_dio_bio_iter: dio->error set, stop"));
            for b in 0..4 {
                assert_eq!(block(&imm, b), TAG_OLD, "{fs:?} {var} immediate block {b}");
            }
            let plug = run_opts(&s, v, PLUGGED);
            assert_eq!(plug.ret, -EIO, "{fs:?} {var}: plugged");
            assert_eq!(
                plug.bios.len(),
                4,
                "{fs:?} {var}: plugged submits every bio"
            );
            assert_eq!(plug.bios[0].status, -EIO);
            assert!(plug.bios[1..].iter().all(|b| b.status == 0));
            assert_eq!(
                block(&plug, 0),
                TAG_OLD,
                "{fs:?} {var}: the failed bio wrote nothing"
            );
            for b in 1..4 {
                assert_eq!(block(&plug, b), TAG_NEW, "{fs:?} {var} plugged block {b}");
            }
        }
    }
}

#[test]
fn plugged_flushes_at_blk_max_request_count() {
    // 40 bios: the plug holds 32 requests; adding the 33rd flushes them (blk_add_rq_to_plug), the
    // first one's -EIO is seen by the next iteration, which stops.
    let s = faulted(FsKind::Xfs, 40);
    let v = diofuzz::variant::by_name("v7.3").unwrap();
    let plug = run_opts(&s, v, PLUGGED);
    assert_eq!(plug.ret, -EIO);
    assert_eq!(plug.bios.len(), 33);
    assert_eq!(block(&plug, 32), TAG_NEW);
    assert_eq!(block(&plug, 33), TAG_OLD);
    assert_eq!(go(&s, "v7.3").bios.len(), 1);
}

#[test]
fn default_is_immediate_and_unchanged_without_a_device_error() {
    assert_eq!(ModelOpts::default().completion, BioCompletion::Immediate);
    let v = diofuzz::variant::by_name("v7.3").unwrap();
    let s = faulted(FsKind::Ext4, 4);
    let (a, b) = (go(&s, "v7.3"), run_opts(&s, v, ModelOpts::default()));
    assert_eq!(
        (a.ret, &a.bios, &a.after, &a.path),
        (b.ret, &b.bios, &b.after, &b.path)
    );
    // Without a fault the two orders are the same execution.
    let mut ok = s.clone();
    ok.faults.clear();
    let (a, b) = (go(&ok, "v7.3"), run_opts(&ok, v, PLUGGED));
    assert_eq!(
        (a.ret, &a.bios, &a.after, &a.path),
        (b.ret, &b.bios, &b.after, &b.path)
    );
    assert_eq!(a.ret, 16384);
}

const DEFERRED: ModelOpts = ModelOpts {
    completion: BioCompletion::Deferred,
    placement: None,
    hibernate_resume: false,
    virt_boundary_mask: 0,
};

/// The lab's ublk fault device (session 6, 7.3.4: gen-1-ext4-4 of `--groups ext4-ublk-fault
/// --count 20 --seed 1`): the first bio fails, the next user page cannot be faulted in. The
/// device completes after __iomap_dio_rw() has recorded bio_iov_iter_get_pages()'s -EFAULT, and
/// iomap_dio_set_error() keeps the first error: -EFAULT. In the plugged order the failed bio
/// completes inside blk_finish_plug(), before that: the bio's errno.
#[test]
fn deferred_completion_loses_to_the_loops_own_error() {
    for fs in [FsKind::Xfs, FsKind::Ext4] {
        for var in ["v6.12", "v6.18", "v7.3"] {
            let v = diofuzz::variant::by_name(var).unwrap();
            let mut s = faulted(fs, 2);
            s.faults[0].errno = ETIMEDOUT;
            s.request.fault_at = Some(4096);
            assert_eq!(go(&s, var).ret, -ETIMEDOUT, "{fs:?} {var}: immediate");
            assert_eq!(
                run_opts(&s, v, PLUGGED).ret,
                -ETIMEDOUT,
                "{fs:?} {var}: plugged"
            );
            let d = run_opts(&s, v, DEFERRED);
            assert_eq!(d.ret, -EFAULT, "{fs:?} {var}: deferred");
            assert!(d.bios[0].status == -ETIMEDOUT && block(&d, 0) == TAG_OLD);
            // Without a loop error the deferred order gives the bio's errno, as the plugged one.
            s.request.fault_at = None;
            let (p, d) = (run_opts(&s, v, PLUGGED), run_opts(&s, v, DEFERRED));
            assert_eq!((p.ret, d.ret), (-ETIMEDOUT, -ETIMEDOUT), "{fs:?} {var}");
            assert_eq!(p.after.on_disk, d.after.on_disk);
        }
    }
}
