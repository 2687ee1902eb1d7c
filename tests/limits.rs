// SPDX-License-Identifier: GPL-2.0-only
//! The limits live now runs (issue 13): zero-length requests (vfs_writev returns 0 before the
//! RWF flags; io_submit checks the flags and calls ->write_iter with nothing to write) and
//! RLIMIT_FSIZE of 0 (generic_write_check_limits: -EFBIG at every position), and the input
//! format's limits section that carries the latter.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{base, with, xfs};
use diofuzz::scenario::*;

const ALL: [&str; 11] = [
    "v6.12", "v6.13", "v6.14", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
];

/// vfs_writev(): a zero total length returns 0 before rw_verify_area and do_iter_readv_writev,
/// so an RWF_ATOMIC request the file cannot take (no device atomic units: no
/// FMODE_CAN_ATOMIC_WRITE) and an unknown RWF bit are not refused.
#[test]
fn zero_length_pwritev2_returns_0_before_the_flags() {
    for var in ALL {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let mut s = base();
            s.fs = fs;
            s.world.device.awu_min = 0;
            s.world.device.awu_max = 0;
            s.request.len = 0;
            let x = go(&s, var);
            assert_eq!(x.ret, 0, "{var} {fs:?}");
            assert!(x
                .trace
                .decided("vfs_writev: zero-length request returns 0 before the RWF flags"));
            assert!(props(&x).is_empty(), "{var}");
            assert_eq!(x.before.on_disk, x.after.on_disk);
            // The same request with a length is refused by kiocb_set_rw_flags (ext4: XFS
            // has software atomic writes from 6.16).
            let mut n = s.clone();
            n.request.len = 4096;
            if fs == FsKind::Ext4 {
                assert_eq!(go(&n, var).ret, -EOPNOTSUPP, "{var}");
            }
        }
    }
}

/// io_submit (aio_write): aio_prep_rw checks the RWF flags first (-EOPNOTSUPP for RWF_ATOMIC
/// without FMODE_CAN_ATOMIC_WRITE); a zero-length request that passes them reaches
/// ->write_iter, whose generic_write_checks return 0 before the O_APPEND move.
#[test]
fn zero_length_aio_checks_the_flags_first() {
    for var in ALL {
        let mut s = base();
        s.world.device.awu_min = 0;
        s.world.device.awu_max = 0;
        s.request.len = 0;
        s.request.aio = true;
        let x = go(&s, var);
        assert_eq!(x.ret, -EOPNOTSUPP, "{var}");
        s.request.rwf.atomic = false;
        s.request.open.append = true;
        let x = go(&s, var);
        assert_eq!(x.ret, 0, "{var}");
        assert!(!x
            .trace
            .decided("vfs_writev: zero-length request returns 0 before the RWF flags"));
        assert_eq!(
            x.write_pos, 0,
            "{var}: a zero-length write does not move to EOF"
        );
    }
}

/// generic_write_check_limits(): with RLIMIT_FSIZE 0 every position is at or past the limit:
/// SIGXFSZ and -EFBIG, nothing written; a zero-length request returns 0 first.
#[test]
fn rlimit_fsize_zero_refuses_every_write() {
    let mut ran = 0;
    for var in ALL {
        for mut s in [
            base(),
            xfs("WWWWWWWW", 0, 4096),
            with(|s| s.request.rwf.atomic = false),
        ] {
            if go(&s, var).ret <= 0 {
                continue; // (RWF_ATOMIC refused earlier on this variant: 6.12 ext4)
            }
            s.world.rlimit_fsize = Some(0);
            ran += 1;
            let x = go(&s, var);
            assert_eq!(x.ret, -EFBIG, "{var}");
            assert!(x.trace.decided("RLIMIT_FSIZE: SIGXFSZ"));
            assert_eq!(x.before.on_disk, x.after.on_disk);
            assert!(props(&x).is_empty(), "{var}");
            s.request.len = 0;
            assert_eq!(go(&s, var).ret, 0, "{var}");
        }
    }
    assert!(ran >= 30, "{ran}");
}

/// RLIMIT_FSIZE 0 is carried by the limits section (byte 7's 0 means unlimited); inputs without
/// the section decode as before.
#[test]
fn limits_section_round_trips() {
    let mut s = base();
    s.world.rlimit_fsize = Some(0);
    let b = s.encode().unwrap();
    assert_eq!(&b[b.len() - 2..], &[LIMITS_SECTION, 1]);
    assert_eq!(b[7], 0);
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    // Without the section (or with bit 0 clear): unlimited, as before.
    let plain = base().encode().unwrap();
    assert_eq!(Scenario::decode(&plain).unwrap().world.rlimit_fsize, None);
    let mut cleared = plain.clone();
    cleared.extend_from_slice(&[LIMITS_SECTION, 0]);
    assert_eq!(Scenario::decode(&cleared).unwrap(), base());
    // After the DMA-alignment section.
    s.world.device.dma_alignment = 7;
    let b = s.encode().unwrap();
    assert_eq!(&b[b.len() - 4..], &[DMA_SECTION, 3, LIMITS_SECTION, 1]);
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    // A JSON scenario with RLIMIT_FSIZE 0 is accepted as input.
    let j = serde_json::to_string(&s).unwrap();
    let l = diofuzz::input::parse(j.as_bytes(), "x.json").unwrap();
    assert_eq!(l.scenario.world.rlimit_fsize, Some(0));
}

/// generic_write_check_limits(): without O_LARGEFILE the limit is MAX_NON_LFS *instead of*
/// s_maxbytes. A scaled s_maxbytes (or an ext4 block-mapped inode's scaled bitmap limit) stands
/// for positions just below the real limit, past MAX_NON_LFS: -EFBIG whatever the scaled
/// position; with the real limits the model's positions are far below MAX_NON_LFS.
#[test]
fn no_largefile_limits_at_max_non_lfs_instead_of_s_maxbytes() {
    for var in ALL {
        let mut s = with(|s| s.request.rwf.atomic = false);
        s.request.open.no_largefile = true;
        assert_eq!(go(&s, var).ret, 4096, "{var}: real limits");
        // Scaled s_maxbytes of 8 blocks, a write well below it.
        s.world.s_maxbytes = 8 * 4096;
        let x = go(&s, var);
        assert_eq!(x.ret, -EFBIG, "{var}");
        assert!(x
            .trace
            .decided("no O_LARGEFILE: a position near the real s_maxbytes is past MAX_NON_LFS"));
        // With O_LARGEFILE the scaled limit truncates only what crosses it.
        s.request.open.no_largefile = false;
        assert_eq!(go(&s, var).ret, 4096, "{var}");
        s.request.pos = 7 * 4096;
        s.request.len = 8192;
        assert_eq!(go(&s, var).ret, 4096, "{var}: truncated at s_maxbytes");
        // ext4 block-mapped inode: the scaled bitmap limit too; an extent inode ignores it.
        let mut t = with(|s| s.request.rwf.atomic = false);
        t.request.open.no_largefile = true;
        t.world.s_bitmap_maxbytes = 8 * 4096;
        assert_eq!(go(&t, var).ret, 4096, "{var}: extent inode");
        t.world.inode.extents = false;
        assert_eq!(go(&t, var).ret, -EFBIG, "{var}: block-mapped inode");
    }
}

/// 7.0+ XFS on a stable-writes device passes IOMAP_DIO_BOUNCE: bio_iov_iter_bounce_write()
/// copies the user data into kernel folios, so a buffer off the device's DMA alignment is
/// written (no user-vector check, no bvec rejected at the split), and a buffer that faults part
/// way frees the whole bio: -EFAULT with nothing written, where the pinned bio writes the pages
/// before the fault. Before 7.0, and on ext4, the flag
/// changes nothing.
#[test]
fn stable_writes_bounce_on_xfs_from_7_0() {
    let misaligned = |stable: bool| {
        let mut s = xfs("WWWWWWWW", 0, 4096);
        s.request.rwf.atomic = false;
        s.request.buf_align = 8;
        s.world.device.stable_writes = stable;
        s
    };
    for var in ["v7.0", "v7.1", "v7.2", "v7.3"] {
        assert!(go(&misaligned(false), var).ret < 0, "{var}");
        let x = go(&misaligned(true), var);
        assert_eq!(x.ret, 4096, "{var}");
        assert!(props(&x).is_empty(), "{var}");
    }
    for var in ["v6.18", "v6.19"] {
        assert_eq!(
            go(&misaligned(true), var).ret,
            go(&misaligned(false), var).ret,
            "{var}"
        );
    }
    let faulting = |stable: bool, fs: FsKind| {
        let mut s = xfs("WWWWWWWW", 0, 8192);
        s.fs = fs;
        s.request.rwf.atomic = false;
        s.request.fault_at = Some(4096);
        s.world.device.stable_writes = stable;
        s
    };
    for var in ["v7.0", "v7.3"] {
        // Pinned: the first page's bio is written (7.0+ then reports the fault: -EFAULT).
        let y = go(&faulting(false, FsKind::Xfs), var);
        assert_ne!(y.before.on_disk, y.after.on_disk, "{var}");
        let x = go(&faulting(true, FsKind::Xfs), var);
        assert_eq!(x.ret, -EFAULT, "{var}");
        assert!(x
            .trace
            .decided("bio_iov_iter_bounce_write: user page fault, bio freed (-EFAULT)"));
        assert_eq!(x.before.on_disk, x.after.on_disk, "{var}");
        // ext4 passes no IOMAP_DIO_BOUNCE.
        assert_eq!(
            go(&faulting(true, FsKind::Ext4), var).ret,
            go(&faulting(false, FsKind::Ext4), var).ret,
            "{var}"
        );
    }
}
