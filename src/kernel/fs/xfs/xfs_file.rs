// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_file.c: xfs_file_open (atomic capability), statx, xfs_file_write_iter,
//! xfs_file_dio_write and its unaligned / aligned / atomic paths, xfs_file_write_checks,
//! xfs_file_dax_write, xfs_file_buffered_write, xfs_dio_write_end_io (docs/model.md §6).
//! Zoned (RT) inodes are not modelled.

use super::xfs_iomap::xfs_iomap_write_unwritten;
use super::xfs_iops::*;
use super::xfs_reflink::*;
use super::*;
use crate::errno::*;
use crate::kernel::fs::iomap::direct_io::iomap_dio_rw;
use crate::kernel::fs::iomap::*;
use crate::kernel::fs::libfs::iomap_file_buffered_write;
use crate::kernel::fs::read_write::{generic_atomic_write_valid, generic_write_checks};
use crate::kernel::include::linux::fs::{generic_write_sync, kiocb_modified, IovIter, Kiocb};
use crate::model::*;
use crate::scenario::{Extent, InodeFlags, PageState, Race, SECTOR};
use crate::variant::XfsAtomic;

/// xfs_file_open(): FMODE_CAN_ATOMIC_WRITE from the inode as it is at open().
/// 6.13-6.15: xfs_inode_can_atomicwrite(); 6.16+: xfs_get_atomic_write_min() > 0 (which excludes
/// DAX inodes from 6.17, 68456d05eb57). No O_DIRECT test in any version.
pub fn xfs_file_open_can_atomic(cx: &mut Cx, at_open: &InodeFlags) -> bool {
    xfs_get_atomic_write_min(cx, at_open.dax) > 0
}

/// xfs_vn_getattr() STATX_WRITE_ATOMIC: 6.13-6.15 (blocksize, blocksize) or (0, 0);
/// 6.16+ (xfs_get_atomic_write_min, xfs_get_atomic_write_max).
pub fn xfs_statx_atomic(cx: &Cx) -> (u32, u32) {
    let dax = is_dax(cx);
    (
        xfs_get_atomic_write_min(cx, dax) as u32,
        xfs_get_atomic_write_max(cx, dax) as u32,
    )
}

/// xfs_ilock_iocb(): a NOWAIT trylock fails when another task holds the lock.
fn xfs_ilock_iocb(cx: &mut Cx, ki: &Kiocb) -> i64 {
    if ki.has(IOCB_NOWAIT) && cx.race(Race::LockContended) {
        cx.decide("xfs_ilock_iocb: NOWAIT trylock failed -> -EAGAIN");
        return -EAGAIN;
    }
    0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IoLock {
    Shared,
    Excl,
}

/// xfs_file_write_zero_eof(): zero [i_size, ki_pos) before a write that starts beyond EOF.
/// The kernel zeroes through the page cache (xfs_zero_range); the model writes the zeroes to the
/// written blocks of the gap directly (holes and unwritten blocks already read as zeroes).
fn xfs_file_write_zero_eof(cx: &mut Cx, ki: &Kiocb, iolock: &mut IoLock) -> i64 {
    let isize = cx.inode.i_size;
    if ki.ki_pos <= isize {
        return 0;
    }
    if ki.has(IOCB_NOWAIT) {
        cx.decide("xfs_file_write_zero_eof: NOWAIT write beyond EOF -> -EAGAIN");
        return -EAGAIN;
    }
    if *iolock == IoLock::Shared {
        // Upgrade to the exclusive iolock and redo the checks (returns 1 in the kernel).
        *iolock = IoLock::Excl;
        return 1;
    }
    cx.note("xfs_zero_range(old EOF, ki_pos)");
    // Whole sectors only: the sector holding the old EOF keeps its (invisible) tail.
    let (a, b) = (isize.div_ceil(SECTOR), ki.ki_pos.div_ceil(SECTOR));
    for s in a..b.min(cx.nsect() as u64) {
        let lblk = (s * SECTOR) >> cx.blkbits;
        if cx.blk(lblk).kind == Extent::Written {
            cx.disk[s as usize] = TAG_ZERO;
        }
        if cx.page(s as usize / 8) != PageState::None {
            cx.cache[s as usize] = TAG_ZERO;
        }
    }
    0
}

/// xfs_file_write_checks(): generic_write_checks (O_APPEND, limits), the IS_NOSEC lock upgrade,
/// EOF zeroing, kiocb_modified. Returns 0 or -errno (also 0 when the checks left nothing to write).
fn xfs_file_write_checks(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    iolock: &mut IoLock,
) -> i64 {
    const F: &str = "xfs_file_write_checks";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    let count = iter.count;
    loop {
        let largefile = !cx.s.request.open.no_largefile;
        let r = generic_write_checks(cx, ki, iter, cx.s.world.s_maxbytes, largefile);
        if r <= 0 {
            return cx.ret(F, r);
        }
        // Changing security info in file_remove_privs() needs the exclusive iolock.
        if *iolock == IoLock::Shared && !cx.inode.flags.nosec {
            *iolock = IoLock::Excl;
            let e = xfs_ilock_iocb(cx, ki);
            if e != 0 {
                return cx.ret(F, e);
            }
            iter.count = count;
            continue;
        }
        match xfs_file_write_zero_eof(cx, ki, iolock) {
            0 => {}
            1 => {
                // iov_iter_reexpand(from, count); goto restart
                iter.count = count;
                continue;
            }
            e => return cx.ret(F, e),
        }
        let r = kiocb_modified(cx, ki);
        return cx.ret(F, r);
    }
}

/// IOMAP_DIO_BOUNCE (7.0+, `mapping_stable_writes()`: a device that needs stable pages): the
/// bio copies the data instead of pinning the user pages (iomap_dio_bio_iter).
fn bounce_flag(cx: &Cx) -> u32 {
    if cx.v.dio_bounce && cx.s.world.device.stable_writes {
        IOMAP_DIO_BOUNCE
    } else {
        0
    }
}

/// xfs_file_write_iter() (docs/model.md §6.1).
pub fn xfs_file_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_write_iter";
    cx.enter(
        F,
        &[
            ("pos", ki.ki_pos as i64),
            ("count", iter.count as i64),
            ("ki_flags", ki.ki_flags as i64),
        ],
    );
    xfs_cow_fork_init(cx);
    let ocount = iter.count;
    if ocount == 0 {
        return cx.ret(F, 0);
    }
    if cx.s.world.mount.shutdown {
        return cx.ret(F, -EIO);
    }
    // 6.13-6.16: IS_DAX is dispatched before the atomic checks (the DAX escape, closed in
    // 6.17-rc2 by 68456d05eb57). 6.17+: atomic checks first.
    if !cx.v.xfs_atomic_before_dax && is_dax(cx) {
        cx.decide("xfs_file_write_iter: DAX inode -> xfs_file_dax_write");
        let r = xfs_file_dax_write(cx, ki, iter);
        return cx.ret(F, r);
    }
    if ki.has(IOCB_ATOMIC) && cx.v.xfs_atomic != XfsAtomic::None {
        let dax = is_dax(cx);
        match cx.v.xfs_atomic {
            XfsAtomic::OneBlock => {
                // 6.13-6.15: exactly one fs block.
                if ocount != cx.bs {
                    cx.decide("xfs_file_write_iter: atomic length != fs block size");
                    return cx.ret(F, -EINVAL);
                }
            }
            _ => {
                // 6.16+: within [xfs_get_atomic_write_min, xfs_get_atomic_write_max].
                if ocount < xfs_get_atomic_write_min(cx, dax) {
                    cx.decide("xfs_file_write_iter: atomic length below unit min");
                    return cx.ret(F, -EINVAL);
                }
                if ocount > xfs_get_atomic_write_max(cx, dax) {
                    cx.decide("xfs_file_write_iter: atomic length above unit max");
                    return cx.ret(F, -EINVAL);
                }
            }
        }
        let r = generic_atomic_write_valid(cx, ki, iter);
        if r != 0 {
            return cx.ret(F, r);
        }
    }
    if cx.v.xfs_atomic_before_dax && is_dax(cx) {
        cx.decide("xfs_file_write_iter: DAX inode -> xfs_file_dax_write");
        let r = xfs_file_dax_write(cx, ki, iter);
        return cx.ret(F, r);
    }
    if ki.has(IOCB_DIRECT) {
        // "Allow a directio write to fall back to a buffered write *only* in the case that we're
        // doing a reflink CoW": any -ENOTBLK, with no IOCB_ATOMIC test (all versions).
        let r = xfs_file_dio_write(cx, ki, iter);
        if r != -ENOTBLK {
            return cx.ret(F, r);
        }
        cx.decide("xfs_file_write_iter: -ENOTBLK -> xfs_file_buffered_write");
    }
    let r = xfs_file_buffered_write(cx, ki, iter);
    cx.ret(F, r)
}

/// xfs_file_dio_write(): the dispatch (docs/model.md §6.2). Uses ki_pos before
/// generic_write_checks.
fn xfs_file_dio_write(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_dio_write";
    let count = iter.count;
    cx.enter(F, &[("pos", ki.ki_pos as i64), ("count", count as i64)]);
    if (ki.ki_pos | count) & (cx.lbs - 1) != 0 {
        cx.decide("xfs_file_dio_write: not aligned to the logical sector size");
        return cx.ret(F, -EINVAL);
    }
    let blockmask = cx.bs - 1;
    let r = if (ki.ki_pos | count) & blockmask != 0 {
        cx.decide("xfs_file_dio_write: not fs-block aligned -> unaligned path");
        xfs_file_dio_write_unaligned(cx, ki, iter)
    } else if cx.v.xfs_always_cow_iov_reroute
        && xfs_is_always_cow_inode(cx)
        && iter.alignment() & blockmask != 0
    {
        // 6.15-6.18: always-CoW inodes check each iovec's alignment too (6.19 replaced this by
        // IOMAP_DIO_FSBLOCK_ALIGNED in the aligned path).
        cx.decide("xfs_file_dio_write: always-CoW inode with a user buffer not block aligned -> unaligned path");
        xfs_file_dio_write_unaligned(cx, ki, iter)
    } else if ki.has(IOCB_ATOMIC) && cx.v.xfs_atomic == XfsAtomic::HwSw {
        xfs_file_dio_write_atomic(cx, ki, iter)
    } else {
        xfs_file_dio_write_aligned(cx, ki, iter)
    };
    cx.ret(F, r)
}

/// xfs_file_dio_write_aligned() (docs/model.md §6.4).
fn xfs_file_dio_write_aligned(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_dio_write_aligned";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    let mut iolock = IoLock::Shared;
    let r = xfs_ilock_iocb(cx, ki);
    if r != 0 {
        return cx.ret(F, r);
    }
    let r = xfs_file_write_checks(cx, ki, iter, &mut iolock);
    if r != 0 {
        return cx.ret(F, r);
    }
    // Demote to shared (no effect in the model).
    let mut dio_flags = bounce_flag(cx);
    // 6.19+: always-CoW inodes need fs-block aligned bios.
    if cx.v.dio_fsblock_aligned && xfs_is_always_cow_inode(cx) {
        dio_flags |= IOMAP_DIO_FSBLOCK_ALIGNED;
    }
    let r = iomap_dio_rw(
        cx,
        ki,
        iter,
        IomapOps::XfsDirectWrite,
        DioOps::Xfs,
        dio_flags,
        0,
    );
    cx.ret(F, r)
}

/// xfs_file_dio_write_atomic() (6.16+, docs/model.md §6.5): HW (REQ_ATOMIC) ops first unless the
/// write is longer than the buffer target's atomic unit max; -ENOPROTOOPT from them retries with
/// the software CoW ops. Any other error, -EAGAIN included, is returned.
fn xfs_file_dio_write_atomic(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_dio_write_atomic";
    let ocount = iter.count;
    cx.enter(F, &[("pos", ki.ki_pos as i64), ("count", ocount as i64)]);
    let mut ops = if ocount > xfs_buftarg_awu(cx).1 {
        cx.decide(
            "xfs_file_dio_write_atomic: longer than the device atomic unit -> software CoW ops",
        );
        IomapOps::XfsAtomicCow
    } else {
        IomapOps::XfsDirectWrite
    };
    loop {
        let mut iolock = IoLock::Shared;
        let r = xfs_ilock_iocb(cx, ki);
        if r != 0 {
            return cx.ret(F, r);
        }
        let r = xfs_file_write_checks(cx, ki, iter, &mut iolock);
        if r != 0 {
            return cx.ret(F, r);
        }
        let r = iomap_dio_rw(cx, ki, iter, ops, DioOps::Xfs, bounce_flag(cx), 0);
        if r == -ENOPROTOOPT && ops == IomapOps::XfsDirectWrite {
            cx.decide("xfs_file_dio_write_atomic: -ENOPROTOOPT -> retry with software CoW ops");
            ops = IomapOps::XfsAtomicCow;
            continue;
        }
        return cx.ret(F, r);
    }
}

/// xfs_file_dio_write_unaligned() (docs/model.md §6.3): shared lock + OVERWRITE_ONLY first,
/// exclusive + FORCE_WAIT when extending or after -EAGAIN; CoW inodes bounce to buffered with
/// -ENOTBLK.
fn xfs_file_dio_write_unaligned(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_dio_write_unaligned";
    let isize = cx.inode.i_size;
    let count = iter.count;
    cx.enter(F, &[("pos", ki.ki_pos as i64), ("count", count as i64)]);
    let mut flags = IOMAP_DIO_OVERWRITE_ONLY;
    let mut iolock = IoLock::Shared;
    if ki.ki_pos > isize || ki.ki_pos + count >= isize {
        if ki.has(IOCB_NOWAIT) {
            cx.decide("xfs_file_dio_write_unaligned: NOWAIT extending write -> -EAGAIN");
            return cx.ret(F, -EAGAIN);
        }
        iolock = IoLock::Excl;
        flags = IOMAP_DIO_FORCE_WAIT;
    }
    // The kernel retries for as long as -EAGAIN comes back; the model stops after a few rounds
    // (an injected fault fires once, so the next round differs).
    for _ in 0..4 {
        let r = xfs_ilock_iocb(cx, ki);
        if r != 0 {
            return cx.ret(F, r);
        }
        // "We can't properly handle unaligned direct I/O to reflink files yet."
        if xfs_is_cow_inode(cx) {
            cx.decide("xfs_file_dio_write_unaligned: CoW inode -> -ENOTBLK (bounce to buffered)");
            return cx.ret(F, -ENOTBLK);
        }
        let r = xfs_file_write_checks(cx, ki, iter, &mut iolock);
        if r != 0 {
            return cx.ret(F, r);
        }
        if flags & IOMAP_DIO_FORCE_WAIT != 0 {
            cx.note("inode_dio_wait()");
        }
        let r = iomap_dio_rw(
            cx,
            ki,
            iter,
            IomapOps::XfsDirectWrite,
            DioOps::Xfs,
            flags | bounce_flag(cx),
            0,
        );
        if r == -EAGAIN && !ki.has(IOCB_NOWAIT) {
            cx.decide("xfs_file_dio_write_unaligned: -EAGAIN -> retry exclusive");
            iolock = IoLock::Excl;
            flags = IOMAP_DIO_FORCE_WAIT;
            continue;
        }
        return cx.ret(F, r);
    }
    cx.ret(F, -EAGAIN)
}

/// xfs_file_dax_write(): exclusive lock, write checks, dax_iomap_rw, size update, sync.
fn xfs_file_dax_write(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_dax_write";
    cx.enter(F, &[("pos", ki.ki_pos as i64)]);
    let mut iolock = IoLock::Excl;
    let r = xfs_ilock_iocb(cx, ki);
    if r != 0 {
        return cx.ret(F, r);
    }
    let r = xfs_file_write_checks(cx, ki, iter, &mut iolock);
    if r != 0 {
        return cx.ret(F, r);
    }
    // dax_iomap_rw() also moves i_size in the model (xfs_setfilesize here).
    let r = crate::kernel::fs::dax::dax_iomap_rw(cx, ki, iter);
    let r = if r > 0 {
        generic_write_sync(cx, ki, r)
    } else {
        r
    };
    cx.ret(F, r)
}

/// xfs_file_buffered_write(): exclusive lock, write checks, iomap_file_buffered_write (delalloc);
/// one retry after -EDQUOT / -ENOSPC (after freeing speculative preallocations); sync.
/// No IOCB_ATOMIC check in any version.
fn xfs_file_buffered_write(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "xfs_file_buffered_write";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    let mut cleared_space = false;
    let mut r;
    loop {
        let mut iolock = IoLock::Excl;
        r = xfs_ilock_iocb(cx, ki);
        if r != 0 {
            return cx.ret(F, r);
        }
        r = xfs_file_write_checks(cx, ki, iter, &mut iolock);
        if r != 0 {
            break;
        }
        r = iomap_file_buffered_write(cx, ki, iter, true);
        if (r == -EDQUOT || r == -ENOSPC) && !cleared_space {
            cx.note("xfs_blockgc_free_space / xfs_blockgc_free_quota, retry");
            cleared_space = true;
            continue;
        }
        break;
    }
    if r > 0 {
        r = generic_write_sync(cx, ki, r);
    }
    cx.ret(F, r)
}

/// xfs_dio_write_end_io() (docs/model.md §6.5; read in 6.13 and 6.18): CoW remap (6.16+: one atomic
/// remap for IOCB_ATOMIC), then unwritten conversion (which also moves i_size), else the size
/// update. An error from the DIO or from the remap is returned and nothing more is done.
pub fn xfs_dio_write_end_io(cx: &mut Cx, ki: &Kiocb, size: u64, error: i64, flags: u32) -> i64 {
    const F: &str = "xfs_dio_write_end_io";
    cx.enter(
        F,
        &[
            ("size", size as i64),
            ("error", error),
            ("end_io_flags", flags as i64),
        ],
    );
    let offset = ki.ki_pos;
    if cx.s.world.mount.shutdown {
        return cx.ret(F, -EIO);
    }
    if error != 0 {
        return cx.ret(F, error);
    }
    if size == 0 {
        return cx.ret(F, 0);
    }
    if flags & IOMAP_DIO_COW != 0 {
        // 6.16+: xfs_reflink_end_atomic_cow for IOCB_ATOMIC; before: xfs_reflink_end_cow always.
        let e = if ki.has(IOCB_ATOMIC) && cx.v.xfs_atomic == XfsAtomic::HwSw {
            xfs_reflink_end_atomic_cow(cx, offset, size)
        } else {
            // 6.13-6.15 atomic writes are one block: when that block was CoWed, the remap is one
            // transaction over the whole write, i.e. it too makes the data visible in one step.
            let (b, nb) = (
                offset >> cx.blkbits,
                (offset + size).div_ceil(cx.bs) - (offset >> cx.blkbits),
            );
            let one_step = ki.has(IOCB_ATOMIC) && xfs_cow_run(cx, b, nb) == (Extent::Written, nb);
            let e = xfs_reflink_end_cow(cx, offset, size);
            if e == 0 && one_step {
                cx.decide("xfs_reflink_end_cow: one remap transaction over the whole atomic write");
                cx.atomic_remaps += 1;
            }
            e
        };
        if e != 0 {
            return cx.ret(F, e);
        }
    }
    if flags & IOMAP_DIO_UNWRITTEN != 0 {
        let e = xfs_iomap_write_unwritten(cx, offset, size);
        return cx.ret(F, e);
    }
    if offset + size > cx.inode.i_size {
        // i_size_write() then xfs_setfilesize().
        cx.inode.i_size = offset + size;
        cx.inode.i_disksize = offset + size;
    }
    cx.ret(F, 0)
}
