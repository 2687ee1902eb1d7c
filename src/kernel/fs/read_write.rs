// SPDX-License-Identifier: GPL-2.0-only
//! fs/read_write.c: the pwritev2(2) entry (do_iter_readv_writev), generic_atomic_write_valid(),
//! generic_write_checks() and its helpers. Same in 6.12-7.3 (7.2.12, 7.3.4 read) except where a
//! variant switch says.

use crate::errno::*;
use crate::kernel::include::linux::fs::*;
use crate::model::*;
use crate::scenario::FsKind;

/// MAX_NON_LFS: the largest offset without O_LARGEFILE.
const MAX_NON_LFS: u64 = (1 << 31) - 1;

/// The file as opened: f_mode bits computed by the filesystem's ->open from the inode *at open*.
pub fn open_file(cx: &mut Cx) -> File {
    let r = &cx.s.request;
    let at_open = cx.s.inode_at_open();
    let can_atomic = match cx.fs {
        FsKind::Ext4 => crate::kernel::fs::ext4::file::ext4_file_open_can_atomic(cx, &at_open),
        FsKind::Xfs => crate::kernel::fs::xfs::xfs_file::xfs_file_open_can_atomic(cx, &at_open),
        FsKind::Bdev => crate::kernel::block::fops::blkdev_open_can_atomic(cx, r.open.direct),
    };
    File {
        o_append: r.open.append,
        o_direct: cx.s.direct_at_io(),
        o_dsync: r.open.dsync,
        o_sync: r.open.sync,
        o_largefile: !r.open.no_largefile,
        fmode_can_atomic_write: can_atomic,
        fmode_nowait: true,
    }
}

/// pwritev2(fd, iov, nr_segs, pos, rwf) or io_submit(IOCB_CMD_PWRITEV): vfs_writev ->
/// do_iter_readv_writev -> ->write_iter; aio reports the completion's result.
pub fn sys_pwritev2(cx: &mut Cx) -> SysResult {
    let r = cx.s.request.clone();
    cx.enter(
        if r.aio {
            "io_submit"
        } else if r.read {
            "preadv2"
        } else {
            "pwritev2"
        },
        &[
            ("pos", r.pos as i64),
            ("len", r.len as i64),
            ("rwf", r.rwf.bits() as i64),
            ("nr_segs", r.nr_segs as i64),
        ],
    );
    let file = open_file(cx);
    let mut ki = Kiocb {
        ki_pos: r.pos,
        ki_flags: iocb_flags(&file),
        is_sync: !r.aio,
    };
    let mut iter = IovIter {
        count: r.len,
        nr_segs: r.nr_segs,
        consumed: 0,
        total: r.len,
        addr: if r.buf_align >= 4096 {
            0
        } else {
            r.buf_align as u64
        },
        fault_at: r.fault_at,
        scatter: r.scatter,
    };
    let done = |cx: &mut Cx, ret: i64, ki: &Kiocb| {
        let name = if r.aio {
            "io_submit"
        } else if r.read {
            "preadv2"
        } else {
            "pwritev2"
        };
        cx.ret(name, ret);
        SysResult {
            ret,
            submit_ret: ret,
            write_pos: cx.write_pos.unwrap_or(r.pos),
            ki_pos: ki.ki_pos,
        }
    };
    // vfs_writev() / vfs_readv() (6.12-7.3, read in 7.2.12 and 7.3.4): a zero total length
    // returns 0 before rw_verify_area() and do_iter_readv_writev(), so before the RWF flags are
    // checked. io_submit (aio_write) checks the flags first (aio_prep_rw) and calls ->write_iter
    // even with nothing to write.
    if r.len == 0 && !r.aio {
        cx.decide("vfs_writev: zero-length request returns 0 before the RWF flags");
        return done(cx, 0, &ki);
    }
    let e = kiocb_set_rw_flags(
        cx,
        &mut ki,
        &file,
        r.rwf.bits(),
        !r.read,
        cx.inode.flags.append_only,
    );
    if e != 0 {
        return done(cx, e, &ki);
    }
    // FMODE_CAN_ATOMIC_WRITE is decided once at open (docs/model.md §1.1): note when the inode, as
    // it is now, would not get it (a flag changed after open).
    if ki.has(IOCB_ATOMIC)
        && cx.s.inode_at_open() != cx.inode.flags
        && crate::kernel::fs::statx_atomic(cx).0 == 0
    {
        cx.decide("FMODE_CAN_ATOMIC_WRITE from open() no longer holds for the inode");
    }
    if r.read {
        cx.note("read side not modelled beyond the flag checks");
        return done(cx, 0, &ki);
    }
    // rw_verify_area(): pos + count must not overflow loff_t (cannot with the model's sizes).
    ki.ki_flags |= IOCB_WRITE;
    let ret = match cx.fs {
        FsKind::Ext4 => crate::kernel::fs::ext4::file::ext4_file_write_iter(cx, &mut ki, &mut iter),
        FsKind::Xfs => {
            crate::kernel::fs::xfs::xfs_file::xfs_file_write_iter(cx, &mut ki, &mut iter)
        }
        FsKind::Bdev => crate::kernel::block::fops::blkdev_write_iter(cx, &mut ki, &mut iter),
    };
    let mut out = done(cx, ret, &ki);
    if ret == -EIOCBQUEUED && r.aio {
        // aio_complete(): the completion reports what iomap_dio_complete() computed.
        let res = cx.aio_result.unwrap_or(ret);
        cx.trace.push(Ev::Val("aio completion res", res));
        out.ret = res;
        out.ki_pos = cx.aio_ki_pos.unwrap_or(out.ki_pos);
    }
    out
}

/// generic_atomic_write_valid() (fs/read_write.c).
/// plain 6.12: (iter, pos), no IOCB_DIRECT test; c3be7ebbbce5 (6.13+, 6.12.y): (iocb, iter) + IOCB_DIRECT.
pub fn generic_atomic_write_valid(cx: &mut Cx, ki: &Kiocb, iter: &IovIter) -> i64 {
    let len = iter.count;
    cx.enter(
        "generic_atomic_write_valid",
        &[("pos", ki.ki_pos as i64), ("len", len as i64)],
    );
    if !iter.iter_is_ubuf() {
        cx.decide("generic_atomic_write_valid: not one segment");
        return cx.ret("generic_atomic_write_valid", -EINVAL);
    }
    if !len.is_power_of_two() {
        cx.decide("generic_atomic_write_valid: length not a power of two");
        return cx.ret("generic_atomic_write_valid", -EINVAL);
    }
    if ki.ki_pos % len != 0 {
        cx.decide("generic_atomic_write_valid: position not aligned to length");
        return cx.ret("generic_atomic_write_valid", -EINVAL);
    }
    if cx.v.atomic_valid_checks_direct && !ki.has(IOCB_DIRECT) {
        cx.decide("generic_atomic_write_valid: no IOCB_DIRECT");
        return cx.ret("generic_atomic_write_valid", -EOPNOTSUPP);
    }
    cx.ret("generic_atomic_write_valid", 0)
}

/// generic_write_checks() (fs/read_write.c, all versions): may move ki_pos (O_APPEND) and
/// truncate the iter (RLIMIT_FSIZE, s_maxbytes). Returns the count or -errno.
pub fn generic_write_checks(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    maxbytes: u64,
    o_largefile: bool,
) -> i64 {
    cx.enter(
        "generic_write_checks",
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    let mut count = iter.count;
    let r = generic_write_checks_count(cx, ki, &mut count, maxbytes, o_largefile);
    if r != 0 {
        return cx.ret("generic_write_checks", r);
    }
    if count < iter.count {
        cx.decide("generic_write_checks truncated the write");
    }
    iter.truncate(count);
    cx.ret("generic_write_checks", iter.count as i64)
}

/// generic_write_checks_count().
pub fn generic_write_checks_count(
    cx: &mut Cx,
    ki: &mut Kiocb,
    count: &mut u64,
    maxbytes: u64,
    o_largefile: bool,
) -> i64 {
    if cx.inode.flags.swapfile && cx.fs != FsKind::Bdev {
        return -ETXTBSY;
    }
    if *count == 0 {
        return 0;
    }
    if ki.has(IOCB_APPEND) {
        if ki.ki_pos != cx.inode.i_size {
            cx.decide("O_APPEND moved ki_pos to i_size");
        }
        ki.ki_pos = cx.inode.i_size;
    }
    if cx.write_pos.is_none() {
        cx.write_pos = Some(ki.ki_pos);
    }
    if ki.has(IOCB_NOWAIT) && !ki.has(IOCB_DIRECT) {
        // FOP_BUFFER_WASYNC: ext4 and XFS set it; the block device does not.
        if cx.fs == FsKind::Bdev {
            return -EINVAL;
        }
    }
    generic_write_check_limits(cx, ki.ki_pos, count, maxbytes, o_largefile)
}

/// Does the scenario's file sit below a scaled stand-in limit (world.s_maxbytes, or
/// world.s_bitmap_maxbytes for an ext4 block-mapped inode, other than the real value)?
fn scaled_limit(cx: &Cx) -> bool {
    let w = &cx.s.world;
    let ext4_indirect = cx.fs == FsKind::Ext4 && !cx.inode.flags.extents;
    w.s_maxbytes != crate::scenario::HUGE_MAXBYTES
        || (ext4_indirect && w.s_bitmap_maxbytes != crate::scenario::HUGE_MAXBYTES)
}

/// generic_write_check_limits(): RLIMIT_FSIZE (SIGXFSZ, -EFBIG at the limit, truncation below it),
/// then s_maxbytes / MAX_NON_LFS.
pub fn generic_write_check_limits(
    cx: &mut Cx,
    pos: u64,
    count: &mut u64,
    maxbytes: u64,
    o_largefile: bool,
) -> i64 {
    if let Some(lim) = cx.s.world.rlimit_fsize {
        if pos >= lim {
            cx.decide("RLIMIT_FSIZE: SIGXFSZ");
            return -EFBIG;
        }
        *count = (*count).min(lim - pos);
    }
    // Without O_LARGEFILE (a 32-bit process: the compat open() does not force it) the limit is
    // MAX_NON_LFS *instead of* s_maxbytes (6.12-7.3, read in 7.2.12 and 7.3.4). A scaled
    // s_maxbytes, or the scaled bitmap limit of an ext4 block-mapped inode, stands in for
    // positions just below the real limit (docs/validity.md), all of them past MAX_NON_LFS.
    let max = if o_largefile {
        maxbytes
    } else if scaled_limit(cx) {
        cx.decide("no O_LARGEFILE: a position near the real s_maxbytes is past MAX_NON_LFS");
        return -EFBIG;
    } else {
        MAX_NON_LFS
    };
    if pos >= max {
        return -EFBIG;
    }
    *count = (*count).min(max - pos);
    0
}
