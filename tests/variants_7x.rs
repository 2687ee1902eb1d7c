// SPDX-License-Identifier: GPL-2.0-only
//! The variants read from Debian's 7.2.12 and 7.3.4 trees (and 6.19 from the mainline history):
//! one contrast test per switch they added. Each test runs the same scenario on the variant and on
//! a copy of it with only that switch turned back, and asserts the difference the kernel source
//! describes (docs/model-versions.md).

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{hole, unwritten, with, written, KIB};
use diofuzz::model::{run, Execution, TAG_NEW};
use diofuzz::oracle::Prop;
use diofuzz::scenario::*;
use diofuzz::seeds;
use diofuzz::variant::{by_name, IomapNext, Variant};

/// `var` with one switch changed by `f` (leaked: the model takes &'static variants).
fn without(var: &str, f: impl FnOnce(&mut Variant)) -> &'static Variant {
    let mut v = by_name(var).unwrap().clone();
    f(&mut v);
    Box::leak(Box::new(v))
}

fn seed(name: &str) -> Scenario {
    seeds::all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .scenario
}

/// ext4, non-atomic O_DIRECT write over written blocks, 512-byte logical blocks (the loop device).
fn plain(pos: u64, len: u64, f: impl FnOnce(&mut Scenario)) -> Scenario {
    with(|s| {
        s.request.rwf.atomic = false;
        s.world.lbs_bits = 9;
        s.request.pos = pos;
        s.request.len = len;
        f(s)
    })
}

const VALIDATE: &str = "bio_iov_iter_get_pages: user vector not DMA aligned (-EINVAL)";

fn nothing_written(x: &Execution) -> bool {
    !x.after.on_disk.contains(&TAG_NEW) && x.buffered_calls == 0
}

// ------------------------------------------------------- 14b007e17881 (7.2.y, 7.3)

/// The shapes `diofuzz live` found answered with -EINVAL on 7.3.4 where v7.1 writes: a buffer
/// aligned below 512 bytes, and iovec segments whose lengths are not multiples of 512.
#[test]
fn user_vectors_are_validated_when_the_bio_is_built() {
    let cases = [
        (
            "8-byte aligned buffer inside one page",
            plain(0, 2048, |s| s.request.buf_align = 8),
        ),
        (
            "byte-aligned buffer",
            plain(4096, 3584, |s| s.request.buf_align = 1),
        ),
        (
            "two 3328-byte segments",
            plain(0, 6656, |s| s.request.nr_segs = 2),
        ),
        (
            "three segments of 1365/1365/1366",
            plain(0, 4096, |s| s.request.nr_segs = 3),
        ),
    ];
    for (what, s) in &cases {
        let old = go(s, "v7.1");
        assert_eq!(old.ret, s.request.len as i64, "{what} on v7.1");
        for var in ["v7.2", "v7.3"] {
            let x = go(s, var);
            assert_eq!(x.ret, -EINVAL, "{what} on {var}");
            assert!(x.trace.decided(VALIDATE), "{what} on {var}");
            assert!(
                x.bios.iter().all(|b| b.zero),
                "{what} on {var}: no data bio"
            );
            assert!(nothing_written(&x), "{what} on {var}");
            assert!(props(&x).is_empty(), "{what} on {var}");
        }
        // The switch alone makes the difference.
        let v = without("v7.3", |v| v.bio_validates_user_vectors = false);
        assert_eq!(
            run(s, v).ret,
            s.request.len as i64,
            "{what}: v7.3 without the check"
        );
    }
    // Aligned vectors pass: two 2048-byte segments from a 512-aligned buffer.
    let s = plain(0, 4096, |s| {
        s.request.nr_segs = 2;
        s.request.buf_align = 512;
    });
    for var in ["v7.1", "v7.2", "v7.3"] {
        assert_eq!(go(&s, var).ret, 4096, "{var}");
    }
}

#[test]
fn user_vectors_are_validated_on_xfs_and_the_block_device() {
    let mut x = plain(0, 2048, |s| s.request.buf_align = 8);
    x.fs = FsKind::Xfs;
    assert_eq!(go(&x, "v7.1").ret, 2048);
    assert_eq!(go(&x, "v7.3").ret, -EINVAL);
    let bdev = Scenario {
        fs: FsKind::Bdev,
        world: World {
            lbs_bits: 9,
            i_size: 64 * KIB,
            ..World::default()
        },
        request: Request {
            len: 2048,
            buf_align: 8,
            ..Request::default()
        },
        faults: vec![],
        races: vec![],
    };
    assert_eq!(go(&bdev, "v7.1").ret, 2048);
    let y = go(&bdev, "v7.2");
    assert_eq!(y.ret, -EINVAL);
    assert!(y.trace.decided(VALIDATE));
    assert!(y.bios.is_empty());
}

/// A misaligned user buffer behind an unaligned position in an unwritten block: on 7.2 the
/// -EINVAL is lost to the tail zeroing (iomap_dio_zero's 0), the iteration ends with no progress
/// and ext4 writes the whole request through the page cache; 7.3.4 keeps the -EINVAL.
#[test]
fn validation_error_lost_to_the_tail_zeroing_on_7_2() {
    let s = plain(512, 2048, |s| {
        s.request.buf_align = 8;
        s.world.blocks[0] = unwritten();
    });
    let x = go(&s, "v7.2");
    assert!(x.trace.decided(VALIDATE));
    assert!(x
        .trace
        .decided("iomap_dio_bio_iter: tail zeroing overwrote the error"));
    assert_eq!(x.ret, 2048);
    assert!(x.buffered_calls > 0);
    let y = go(&s, "v7.3");
    assert_eq!(y.ret, -EINVAL);
    assert_eq!(y.buffered_calls, 0);
}

/// The extraction check itself: segment by segment, the rest of each iovec segment, the count of
/// an ITER_UBUF, and the segment at an unfaultable page.
#[test]
fn extract_misaligned_checks_each_segment_as_it_is_reached() {
    use diofuzz::kernel::include::linux::fs::IovIter;
    let it = |nr_segs: u8, total: u64, addr: u64| IovIter {
        count: total,
        nr_segs,
        consumed: 0,
        total,
        addr,
        fault_at: None,
        scatter: None,
    };
    // 1024 + 1024 + 1025: the first two pass, the third fails after 2048 bytes were extracted.
    assert_eq!(
        it(3, 3073, 0).extract_misaligned(3073, 511, false),
        Some(2048)
    );
    // ... unless the bio stops before reaching it.
    assert_eq!(it(3, 3073, 0).extract_misaligned(2048, 511, false), None);
    // ... but a bio stopped by an unfaultable page at the third segment checks it first.
    assert_eq!(
        it(3, 3073, 0).extract_misaligned(2048, 511, true),
        Some(2048)
    );
    // ITER_UBUF: the address and the remaining count.
    assert_eq!(it(1, 4096, 8).extract_misaligned(4096, 511, false), Some(0));
    assert_eq!(it(1, 4096, 512).extract_misaligned(4096, 511, false), None);
    let mut u = it(1, 4096, 512);
    u.truncate(1000);
    assert_eq!(u.extract_misaligned(1000, 511, false), Some(0));
    // ITER_IOVEC: truncation does not shorten the segment's own length.
    let mut v = it(2, 4096, 0);
    v.truncate(1000);
    assert_eq!(v.extract_misaligned(1000, 511, false), None);
}

// ------------------------------------------------------- 7.3.4: the tail zeroing keeps the error

/// The seed thread's S4: an O_APPEND atomic write moved to an unaligned EOF whose pinning fails.
/// Up to 7.2 the tail zeroing replaces -EFAULT by 0, the zero-progress iteration ends and ext4
/// falls back to buffered IO (O1, with the WARN: O7); 7.3.4 returns the error.
#[test]
fn tail_zeroing_keeps_the_bio_error() {
    let s = seed("thread_s4_append_efault");
    for var in ["v6.18", "v7.1", "v7.2"] {
        let x = go(&s, var);
        assert!(
            x.trace
                .decided("iomap_dio_bio_iter: tail zeroing overwrote the error"),
            "{var}"
        );
        assert!(props(&x).contains(&Prop::O1), "{var}");
    }
    let x = go(&s, "v7.3");
    assert!(x.ret < 0, "{}", x.ret);
    assert_eq!(x.buffered_calls, 0);
    assert!(props(&x).is_empty(), "{:?}", props(&x));
    let v = without("v7.3", |v| v.dio_zero_keeps_error = false);
    let y = run(&s, v);
    assert!(y.buffered_calls > 0);
    assert!(props(&y).contains(&Prop::O1));
}

// ------------------------------------------------------- ->iomap_next (7.2.y core, 7.3 ops)

/// Same decisions, different structure: 7.2 goes through iomap_iter_next(begin, end), 7.3
/// through the filesystems' own ->iomap_next.
#[test]
fn iomap_next_keeps_the_decisions() {
    let layouts = [
        ("ext4 mapped", with(|_| {})),
        ("ext4 hole", with(|s| s.world.blocks[0] = hole())),
        (
            "ext4 two mappings",
            with(|s| {
                s.request.rwf.atomic = false;
                s.request.len = 8192;
                s.world.blocks = vec![written(), unwritten(), written(), written()];
            }),
        ),
    ];
    for (what, s) in &layouts {
        let old = go(s, "v7.1");
        let v72 = go(s, "v7.2");
        let v73 = go(s, "v7.3");
        for x in [&v72, &v73] {
            assert_eq!(x.ret, old.ret, "{what}");
            assert_eq!(x.bios.len(), old.bios.len(), "{what}");
            assert_eq!(x.after.on_disk, old.after.on_disk, "{what}");
        }
        assert!(!old.trace.entered("iomap_iter_next") && !old.trace.entered("ext4_iomap_next"));
        assert!(v72.trace.entered("iomap_iter_next"), "{what}");
        assert!(v73.trace.entered("ext4_iomap_next"), "{what}");
        assert!(v73.trace.entered("ext4_iomap_begin"), "{what}");
        let back = run(s, without("v7.3", |v| v.iomap_next = IomapNext::BeginEnd));
        assert!(!back.trace.entered("ext4_iomap_next"));
        assert_eq!(back.ret, v73.ret);
    }
    let mut x = with(|s| s.request.rwf.atomic = false);
    x.fs = FsKind::Xfs;
    assert!(go(&x, "v7.3").trace.entered("xfs_direct_write_iomap_next"));
}

// ------------------------------------------------------- 7.3: ext4_dio_needs_zeroing

/// NOWAIT, aligned, over a written block and a hole inside i_size. Up to 7.2 the write is not an
/// overwrite, needs the exclusive lock, and NOWAIT gives -EAGAIN before any I/O. With
/// ext4_dio_needs_zeroing the shared lock is kept (no partial block to zero); the first mapping
/// is written and the hole's allocation returns -EAGAIN from ext4_iomap_alloc: the call fails
/// after data reached the disk. On 7.3 as a whole kiocb_modified() answers -EAGAIN first (the
/// timestamps need an update), so this shows only where the timestamps are current.
#[test]
fn aligned_nowait_write_into_a_hole_keeps_the_shared_lock() {
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.request.rwf.nowait = true;
        s.request.len = 8192;
        s.world.blocks = vec![written(), hole(), written(), written()];
        s.world.pages = vec![];
    });
    let x = go(&s, "v7.2");
    assert_eq!(x.ret, -EAGAIN);
    assert!(x
        .trace
        .decided("ext4_dio_write_checks: NOWAIT needs the exclusive lock -> -EAGAIN"));
    assert!(x.bios.is_empty());
    let current_times = without("v7.3", |v| v.ext4_kiocb_modified = false);
    let y = run(&s, current_times);
    assert_eq!(y.ret, -EAGAIN);
    assert!(y
        .trace
        .decided("ext4_iomap_alloc: IOMAP_NOWAIT needs an allocation -> -EAGAIN"));
    assert_eq!(y.bios.len(), 1);
    assert_eq!((y.bios[0].pos, y.bios[0].len), (0, 4096));
    assert!(y.after.on_disk[..8].iter().all(|&t| t == TAG_NEW));
    let z = run(
        &s,
        without("v7.3", |v| {
            v.ext4_kiocb_modified = false;
            v.ext4_dio_needs_zeroing = false;
        }),
    );
    assert_eq!(z.ret, -EAGAIN);
    assert!(z.bios.is_empty());
}

/// 7.3: ext4 checks the timestamps with kiocb_modified(), so a NOWAIT write that would have gone
/// through on 7.2 (an aligned overwrite under the shared lock) is -EAGAIN before any I/O, as on
/// XFS.
#[test]
fn ext4_nowait_write_needs_current_timestamps_from_7_3() {
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.request.rwf.nowait = true;
        s.world.pages = vec![];
    });
    let x = go(&s, "v7.2");
    assert_eq!(x.ret, 4096);
    let y = go(&s, "v7.3");
    assert_eq!(y.ret, -EAGAIN);
    assert!(y
        .trace
        .decided("kiocb_modified: NOWAIT and the timestamps need an update -> -EAGAIN"));
    assert!(y.bios.is_empty());
    let z = run(&s, without("v7.3", |v| v.ext4_kiocb_modified = false));
    assert_eq!(z.ret, 4096);
}

/// An unaligned overwrite of written blocks by an inode with setuid bits (!IS_NOSEC, exclusive
/// lock): up to 7.2 IOMAP_DIO_FORCE_WAIT makes the aio complete synchronously; 7.3 forces the wait
/// only when a partial block needs zeroing, so the aio is queued.
#[test]
fn unaligned_overwrite_waits_only_when_zeroing_is_needed() {
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.request.aio = true;
        s.request.pos = 512;
        s.request.len = 1024;
        s.world.lbs_bits = 9;
        s.world.inode.nosec = false;
        s.world.pages = vec![];
    });
    let x = go(&s, "v7.2");
    assert_eq!((x.submit_ret, x.ret), (1024, 1024));
    let y = go(&s, "v7.3");
    assert_eq!((y.submit_ret, y.ret), (-EIOCBQUEUED, 1024));
    // Into an unwritten block the zeroing is needed: both wait.
    let mut u = s.clone();
    u.world.blocks[0] = unwritten();
    assert_eq!(go(&u, "v7.3").submit_ret, 1024);
    // ext4_dio_needs_zeroing looks at the partial head and the partial tail block: 512..4608
    // over two written blocks needs none; with the tail block unwritten it does.
    let mut two = s.clone();
    two.request.len = 4096;
    assert_eq!(go(&two, "v7.3").submit_ret, -EIOCBQUEUED);
    two.world.blocks[1] = unwritten();
    assert_eq!(go(&two, "v7.3").submit_ret, 4096);
    // ... and a hole at the head.
    let mut head = s.clone();
    head.request.len = 4096;
    head.world.blocks[0] = hole();
    assert_eq!(go(&head, "v7.3").submit_ret, 4096);
    let z = run(&s, without("v7.3", |v| v.ext4_dio_needs_zeroing = false));
    assert_eq!(z.submit_ret, 1024);
}

// ------------------------------------------------------- block device (7.3-rc1)

#[test]
fn bdev_accepts_rwf_dontcache_from_7_3() {
    let s = Scenario {
        fs: FsKind::Bdev,
        world: World {
            i_size: 64 * KIB,
            ..World::default()
        },
        request: Request {
            len: 4096,
            rwf: Rwf {
                dontcache: true,
                ..Rwf::default()
            },
            ..Request::default()
        },
        faults: vec![],
        races: vec![],
    };
    assert_eq!(go(&s, "v7.2").ret, -EOPNOTSUPP);
    assert_eq!(go(&s, "v7.3").ret, 4096);
    assert_eq!(
        run(&s, without("v7.3", |v| v.bdev_dontcache = false)).ret,
        -EOPNOTSUPP
    );
}

/// __blkdev_direct_IO (more than BIO_MAX_VECS pages), async, a bio that cannot be built: up to
/// 7.2 it ends with BLK_STS_IOERR (-EIO at completion); 75ae18ca9426 keeps the errno.
#[test]
fn bdev_async_get_pages_error_keeps_its_errno_from_7_3() {
    let s = Scenario {
        fs: FsKind::Bdev,
        world: World {
            i_size: 4096 * KIB,
            ..World::default()
        },
        request: Request {
            aio: true,
            len: 2048 * KIB,
            ..Request::default()
        },
        faults: vec![Fault {
            site: Site::DioGetPages,
            nth: 1,
            errno: ENOMEM,
        }],
        races: vec![],
    };
    let x = go(&s, "v7.3");
    assert_eq!((x.submit_ret, x.ret), (-EIOCBQUEUED, -ENOMEM));
    let y = go(&s, "v7.2");
    assert_eq!((y.submit_ret, y.ret), (-EIOCBQUEUED, -EIO));
    assert!(y
        .trace
        .decided("__blkdev_direct_IO: bio not built -> BLK_STS_IOERR"));
    let z = run(&s, without("v7.3", |v| v.bdev_get_pages_errno = false));
    assert_eq!(z.ret, -EIO);
}

// ------------------------------------------------------- 7.0: fserror reports

#[test]
fn dio_errors_are_reported_to_fserror_from_7_0() {
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.faults = vec![Fault {
            site: Site::BioEndIo,
            nth: 0,
            errno: EIO,
        }];
    });
    let x = go(&s, "v7.0");
    assert_eq!(x.ret, -EIO);
    assert!(x.trace.render().contains("fserror_report_io"));
    assert!(!go(&s, "v6.19").trace.render().contains("fserror_report_io"));
    let y = run(&s, without("v7.0", |v| v.dio_fserror = false));
    assert_eq!(y.ret, -EIO);
    assert!(!y.trace.render().contains("fserror_report_io"));
}

// ------------------------------------------------------- 6.19 (001397f5ef49, 8caec6c9fef7)

/// XFS always-CoW inode, 512-aligned buffer: 6.18 reroutes to the unaligned path (an atomic write
/// goes buffered), 6.19 aligns each bio to the fs block instead.
#[test]
fn v6_19_always_cow_uses_fsblock_aligned() {
    let mut s = with(|s| s.request.buf_align = 512);
    s.fs = FsKind::Xfs;
    s.world.mount.xfs_always_cow = true;
    let x = go(&s, "v6.18");
    assert!(x.buffered_calls > 0);
    let y = go(&s, "v6.19");
    assert_eq!(y.ret, 4096);
    assert_eq!(y.buffered_calls, 0);
    let z = run(
        &s,
        without("v6.19", |v| {
            v.dio_fsblock_aligned = false;
            v.xfs_always_cow_iov_reroute = true;
        }),
    );
    assert!(z.buffered_calls > 0);
}

// ------------------------------------------------------- corrections from the source reading

/// ext4_iomap_begin() does not return a failed query's error on the write path: it goes on to
/// ext4_iomap_alloc(), whose own ext4_map_blocks() decides (6.12.117, 7.2.12 and 7.3.4 read). Up
/// to 6.19 an aligned overwrite under the shared lock uses ext4_iomap_overwrite_ops, which clear
/// IOMAP_WRITE and take the read branch, where the error is returned; 7.0 removed those ops.
#[test]
fn ext4_iomap_begin_ignores_a_failed_query_on_the_write_path() {
    // nth: ext4_overwrite_io() queries first up to 7.2; 7.3 asks nothing for an aligned write.
    let s = |nth: u8| {
        with(|s| {
            s.request.rwf.atomic = false;
            s.faults = vec![Fault {
                site: Site::Ext4MapBlocksQuery,
                nth,
                errno: ENOMEM,
            }];
        })
    };
    for (var, nth) in [("v7.0", 1), ("v7.2", 1), ("v7.3", 0)] {
        let x = go(&s(nth), var);
        assert!(x.trace.entered("ext4_iomap_alloc"), "{var}");
        assert_eq!(x.ret, 4096, "{var}");
        assert!(x.after.on_disk[..8].iter().all(|&t| t == TAG_NEW), "{var}");
    }
    let y = go(&s(1), "v6.18");
    assert!(!y.trace.entered("ext4_iomap_alloc"));
    assert_eq!(y.ret, -ENOMEM);
}
