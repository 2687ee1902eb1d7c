// SPDX-License-Identifier: GPL-2.0-only
//! block/fops.c: blkdev_open (atomic capability), bdev_statx's atomic units, blkdev_write_iter,
//! blkdev_direct_write, blkdev_direct_IO with its three bio builders, blkdev_buffered_write
//! (docs/model.md §7; read in 6.12.y, 6.13 and 6.18).
//!
//! The device is the file: its size is the scenario's i_size and every block inside it is
//! readable device content (holes, unwritten and delalloc blocks of the layout read as zeroes and
//! are turned into plain written blocks of zeroes before the write). The block device does not use
//! iomap for direct I/O: it builds its bios itself.

use crate::errno::*;
use crate::kernel::fs::libfs::{direct_write_fallback, iomap_file_buffered_write};
use crate::kernel::fs::read_write::generic_atomic_write_valid;
use crate::kernel::include::linux::fs::{generic_write_sync, IovIter, Kiocb};
use crate::kernel::mm::filemap::{kiocb_invalidate_pages, kiocb_invalidate_post_direct_write};
use crate::model::*;
use crate::scenario::{Extent, PageState, Site, PAGE_SIZE};

/// BIO_MAX_VECS: one bio holds at most this many pages.
const BIO_MAX_VECS: u64 = 256;

/// bdev_can_atomic_write(): the queue has an atomic write unit (partition alignment of the start
/// sector is not modelled: the file is the whole device).
fn bdev_can_atomic_write(cx: &Cx) -> bool {
    cx.s.world.device.awu_min > 0
}

/// blkdev_open(): FMODE_CAN_ATOMIC_WRITE.
/// 6.11/plain 6.12: only for an O_DIRECT open (bdev_can_atomic_write && O_DIRECT);
/// c3be7ebbbce5 (6.13, 6.12.y) moved the O_DIRECT test to generic_atomic_write_valid (per I/O,
/// -EOPNOTSUPP), and blkdev_open sets the flag for any open of an atomic-capable device
/// (6.12.y, 6.13 and 6.18 read: no O_DIRECT test there; docs/model.md §7.1).
pub fn blkdev_open_can_atomic(cx: &mut Cx, o_direct: bool) -> bool {
    bdev_can_atomic_write(cx) && (cx.v.atomic_valid_checks_direct || o_direct)
}

/// bdev_statx() STATX_WRITE_ATOMIC: the queue's atomic unit min/max (0 when it cannot).
pub fn bdev_statx_atomic(cx: &Cx) -> (u32, u32) {
    if bdev_can_atomic_write(cx) {
        let d = cx.s.world.device;
        (d.awu_min, d.awu_max)
    } else {
        (0, 0)
    }
}

/// The device has no holes: make every block inside it a written block (reading as zeroes where
/// the layout had no data), so device writes are visible. Done once, when the model's state is
/// built (`Cx::new`): the file image before the call already reads the device this way.
pub fn bdev_normalize(cx: &mut Cx) {
    let n = cx.inode.i_size.div_ceil(cx.bs).min(MODEL_SPAN / cx.bs);
    for b in 0..n {
        let k = cx.blk(b);
        if k.kind != Extent::Written {
            let bb = cx.blkbits;
            cx.disk_write(b << bb, cx.bs, TAG_ZERO);
            cx.set_blk(b, Blk::new(Extent::Written, 1));
        }
    }
}

/// blkdev_write_iter() (docs/model.md §7.2, which gives the order of its checks).
pub fn blkdev_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "blkdev_write_iter";
    cx.enter(
        F,
        &[
            ("pos", ki.ki_pos as i64),
            ("count", iter.count as i64),
            ("ki_flags", ki.ki_flags as i64),
        ],
    );
    let atomic = ki.has(IOCB_ATOMIC);
    let size = cx.inode.i_size;
    // bdev_read_only() -> -EPERM: not modelled (no read-only device input).
    // IS_SWAPFILE: -ETXTBSY unless is_hibernate_resume_dev (kernel/power/user.c, 6.12.117 -
    // 7.3.4: hibernation_available() and the device the snapshot device's SNAPSHOT_SET_SWAP_AREA
    // named, kept while /dev/snapshot is open; not /sys/power/resume's swsusp_resume_device).
    if cx.inode.flags.swapfile {
        if !cx.opts.hibernate_resume {
            return cx.ret(F, -ETXTBSY);
        }
        cx.decide("blkdev_write_iter: a swap device that is the hibernation resume device");
    }
    if iter.count == 0 {
        return cx.ret(F, 0);
    }
    if ki.ki_pos >= size {
        cx.decide("blkdev_write_iter: position at or past the device end -> -ENOSPC");
        return cx.ret(F, -ENOSPC);
    }
    if ki.has(IOCB_NOWAIT) && !ki.has(IOCB_DIRECT) {
        return cx.ret(F, -EOPNOTSUPP);
    }
    // c3be7ebbbce5 (6.13, 6.12.y): validated here; plain 6.12 validates in blkdev_direct_IO.
    if atomic && cx.v.atomic_valid_checks_direct {
        let r = generic_atomic_write_valid(cx, ki, iter);
        if r != 0 {
            return cx.ret(F, r);
        }
    }
    let room = size - ki.ki_pos;
    let mut shorted = 0;
    if iter.count > room {
        // 6.13 (6.12.y): no truncation of an atomic write; plain 6.12 truncates it like any write.
        if atomic && cx.v.bdev_atomic_no_truncate {
            cx.decide("blkdev_write_iter: atomic write past the device end -> -EINVAL");
            return cx.ret(F, -EINVAL);
        }
        cx.decide("blkdev_write_iter: truncated at the device end");
        shorted = iter.count - room;
        iter.truncate(room);
    }
    // file_update_time()
    if let Some(e) = cx.fault(Site::FileModified) {
        return cx.ret(F, e);
    }
    let mut r;
    if ki.has(IOCB_DIRECT) {
        r = blkdev_direct_write(cx, ki, iter);
        if r >= 0 && iter.count > 0 {
            cx.decide("blkdev_write_iter: direct write left a remainder -> buffered fallback");
            let b = blkdev_buffered_write(cx, ki, iter);
            r = direct_write_fallback(cx, ki, iter, r, b);
        }
    } else {
        r = blkdev_buffered_write(cx, ki, iter);
    }
    if r > 0 {
        r = generic_write_sync(cx, ki, r);
    }
    iter.count += shorted;
    cx.ret(F, r)
}

/// blkdev_buffered_write() = iomap_file_buffered_write(blkdev_iomap_ops).
///
/// A device whose size is not whole logical blocks (a loop device with 4 KiB logical blocks
/// over a file of 512 n bytes: lo_calculate_size counts sectors; docs/live.md "Block size and
/// size of a block device"): the buffer head over the device end is never readable.
/// __block_write_begin_int (fs/buffer.c, from iomap_write_begin for IOMAP_F_BUFFER_HEAD) reads
/// a buffer the write covers only in part; its bio is cut at the device end by guard_bio_eod
/// (block/bio.c, from submit_bh_wbc) to a length that is not whole logical blocks, and
/// blk_mq_submit_bio fails it (bio_unaligned, block/blk-mq.c: -EIO). The write reaches i_size at
/// most (blkdev_write_iter truncated it), so it covers that buffer only in part: the folio over
/// it fails with -EIO and iomap_write_iter returns the bytes of the folios before it
/// (iomap_file_buffered_write: iter.pos - ki_pos once anything was written). Read in 6.12.117
/// and 7.3.4, which are the same here (blkdev_buffered_write = iomap_file_buffered_write with
/// IOMAP_F_BUFFER_HEAD from blkdev_iomap_begin, __block_write_begin_int's bh_read_nowait +
/// wait_on_buffer -> -EIO, submit_bh_wbc's guard_bio_eod, bio_unaligned; the loop device's size
/// in sectors: 6.12 get_size, 7.3 lo_calculate_size), so the branch holds for every variant;
/// measured on 6.18.44. Rule W41 keeps that page out of the page cache.
///
/// Session 10: with buffers smaller than a page (1 or 2 KiB logical blocks and block size) the
/// boundary is the buffer holding the end, not its folio: __block_write_begin_int reads only
/// the buffers a write covers in part (fs/buffer.c, 6.12.117 and 7.3.4), so a write into that
/// folio that ends before the end buffer is written. Measured on 6.18.44 with loop devices of
/// `losetup -b 1024/2048` (docs/live-bdev-tail/small-logical-blocks.py: 12 of 12 agree). The
/// input format holds only 512-byte and 4 KiB logical blocks (byte 0 bit 4, scenario.rs), so
/// only Rust-built scenarios reach this (tests/bdev_geometry.rs).
fn blkdev_buffered_write(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    let size = cx.inode.i_size;
    let bs = cx.bs.max(cx.lbs);
    if size % cx.lbs == 0 || iter.count == 0 {
        return iomap_file_buffered_write(cx, ki, iter, false);
    }
    // The buffer head that holds the device end, and the folio over it. With buffers smaller
    // than a page (1 or 2 KiB logical blocks, session 10) a write that ends before that buffer
    // reads none of it: __block_write_begin_int reads only the buffers the write covers in part
    // (block_start < to && block_end > from), and those below the end buffer are whole logical
    // blocks inside the device.
    let end_buf = size & !(bs - 1);
    let folio = end_buf & !(PAGE_SIZE - 1);
    if ki.ki_pos + iter.count <= end_buf || cx.page(Cx::page_of(folio)) != PageState::None {
        return iomap_file_buffered_write(cx, ki, iter, false);
    }
    if ki.ki_pos >= folio {
        cx.decide("__block_write_begin_int: the buffer over the device end is not whole logical blocks: read fails -> -EIO");
        // The buffered path ran (iomap_file_buffered_write), writing nothing.
        cx.buffered_calls += 1;
        cx.trace.push(Ev::Buffered {
            pos: ki.ki_pos,
            len: 0,
            ret: -EIO,
        });
        return -EIO;
    }
    let rest = ki.ki_pos + iter.count - folio;
    iter.truncate(iter.count - rest);
    let r = iomap_file_buffered_write(cx, ki, iter, false);
    iter.count += rest;
    if r > 0 && iter.count == rest {
        cx.decide("__block_write_begin_int: the folio over the device end fails to read (-EIO): short write");
    }
    r
}

/// blkdev_direct_write(): invalidation (-EBUSY becomes 0, i.e. "nothing written directly"),
/// blkdev_direct_IO, ki_pos, and the iter reverted to the unwritten remainder.
fn blkdev_direct_write(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "blkdev_direct_write";
    let count = iter.count;
    cx.enter(F, &[("pos", ki.ki_pos as i64), ("count", count as i64)]);
    let w = kiocb_invalidate_pages(cx, ki, count);
    if w != 0 {
        if w == -EBUSY {
            cx.decide("blkdev_direct_write: invalidation -EBUSY -> 0");
            return cx.ret(F, 0);
        }
        return cx.ret(F, w);
    }
    let w = blkdev_direct_IO(cx, ki, iter);
    let mut left = count;
    if w > 0 {
        kiocb_invalidate_post_direct_write(cx, ki.ki_pos, count);
        ki.ki_pos += w as u64;
        left -= w as u64;
    }
    if w != -EIOCBQUEUED {
        // iov_iter_revert(from, count - iov_iter_count(from))
        let n = left.saturating_sub(iter.count);
        iter.revert(n);
    }
    cx.ret(F, w)
}

/// One bio to the device: completion status from the fault plan; a REQ_ATOMIC bio must fit the
/// queue's atomic unit (blk_validate_atomic_write_op_size: size <= max, size % min == 0).
/// 6.18+: a bio whose bvecs are off the DMA alignment is failed with -EINVAL by bio_split_io_at()
/// before it reaches the driver (IovIter::bio_rejected_at_split; `iter` is before the advance).
/// A REQ_NOWAIT bio (`nowait`) that gaps at the queue's virt boundary (ModelOpts::
/// virt_boundary_mask, an nvme-tcp namespace up to 6.18) needs a split: `bio_split_rw_at`
/// (6.12) / `bio_split_io_at` (6.18 - 7.3.4) returns -EAGAIN and `__bio_split_to_limits` ends
/// the bio with BLK_STS_AGAIN (the same for the bio-based nvme multipath head,
/// `nvme_ns_head_submit_bio` -> `bio_split_to_limits`). 6.18+ checks each bvec's DMA alignment
/// before its gap, so a misaligned bvec at or before the gap still fails it with -EINVAL.
fn bdev_submit_bio(
    cx: &mut Cx,
    iter: &IovIter,
    pos: u64,
    len: u64,
    atomic: bool,
    nowait: bool,
) -> i64 {
    // A bio-based disk that never splits (pmem, zram: world.device.no_bio_split) gets the bio as
    // built (kernel::drivers::NoSplitBio).
    let no_split = cx.s.world.device.no_bio_split;
    let gap = match nowait && !atomic && !no_split {
        true => iter.virt_boundary_gap(len, cx.opts.virt_boundary_mask),
        false => None,
    };
    let misaligned =
        cx.v.dma_align_at_bio_split && iter.bio_rejected_at_split(len, cx.dma_align, cx.dma_align);
    let misaligned_first = gap.map_or(true, |g| {
        iter.first_misaligned_bvec(len, cx.dma_align, cx.dma_align)
            .is_some_and(|m| m <= g)
    });
    let status = if misaligned && !no_split && misaligned_first {
        cx.decide("bio_split_io_at: bvec not DMA aligned, bio failed (-EINVAL)");
        -EINVAL
    } else if gap.is_some() {
        cx.decide(
            "bio_split_rw_at: REQ_NOWAIT bio gaps at the virt boundary, needs a split -> -EAGAIN",
        );
        -EAGAIN
    } else {
        if misaligned {
            cx.decide(
                "submit_bio: bio-based disk, no bio_split_io_at: misaligned bvecs reach the driver",
            );
        }
        super::blk_core::bio_status(cx, len, atomic)
    };
    if status == 0 && no_split {
        let bio = crate::kernel::drivers::NoSplitBio::build(&cx.s.world, iter, pos, len);
        bio.submit(cx, pos, TAG_NEW, false);
    } else if status == 0 {
        cx.disk_write(pos, len, TAG_NEW);
    }
    // blkdev_bio_end_io[_async] / __blkdev_direct_IO_simple: bio_release_pages() at completion.
    cx.release_user_pages(iter.pages_spanned(len));
    cx.trace.push(Ev::Bio {
        pos,
        len,
        atomic,
        zero: false,
        status,
    });
    cx.bios.push(Bio {
        pos,
        len,
        atomic,
        zero: false,
        status,
    });
    status
}

/// bio_iov_iter_get_pages(bio, iter, lbs - 1) for one bio of at most `cap` bytes: the bytes
/// pinned (aligned down to the logical block size when short), or -errno when nothing was.
/// 6.18+ it checks no memory alignment (read in 6.18.2 block/bio.c); the block layer does, at
/// submission (bdev_submit_bio).
fn bdev_get_pages(cx: &mut Cx, iter: &IovIter, cap: u64) -> i64 {
    if let Some(e) = cx.fault(Site::DioGetPages) {
        return e;
    }
    let f = iter.faultable();
    let n = iter.count.min(f).min(cap);
    // 14b007e17881 (7.2.y, 7.3): blkdev_iov_iter_get_pages() passes bdev_dma_alignment() as the
    // memory mask; a misaligned segment fails the bio with -EINVAL (IovIter::extract_misaligned).
    if cx.v.bio_validates_user_vectors
        && iter
            .extract_misaligned(n, cx.dma_align, f < iter.count && n == f)
            .is_some()
    {
        cx.decide("bio_iov_iter_get_pages: user vector not DMA aligned (-EINVAL)");
        return -EINVAL;
    }
    let n = if n < iter.count { n & !(cx.lbs - 1) } else { n };
    if n == 0 {
        cx.decide("bio_iov_iter_get_pages: user page fault (-EFAULT)");
        return -EFAULT;
    }
    if n < iter.count {
        cx.decide("bio_iov_iter_get_pages: pinned only part of the buffer");
    }
    cx.pin_user_pages(iter.pages_spanned(n));
    n as i64
}

/// blkdev_direct_IO(): alignment, then one bio (sync: __blkdev_direct_IO_simple, async:
/// __blkdev_direct_IO_async) when the buffer spans at most BIO_MAX_VECS pages, else -EINVAL for an
/// atomic write or several bios (__blkdev_direct_IO).
#[allow(non_snake_case)]
fn blkdev_direct_IO(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "blkdev_direct_IO";
    let count = iter.count;
    cx.enter(F, &[("pos", ki.ki_pos as i64), ("count", count as i64)]);
    if count == 0 {
        return cx.ret(F, 0);
    }
    let atomic = ki.has(IOCB_ATOMIC);
    // blkdev_dio_invalid(): logical block alignment of pos and count; before 6.18 also the user
    // memory alignment (bdev_iter_is_aligned), which 6.18 checks in bio_iov_iter_get_pages.
    if (ki.ki_pos | count) & (cx.lbs - 1) != 0 {
        cx.decide("blkdev_direct_IO: not aligned to the logical block size");
        return cx.ret(F, -EINVAL);
    }
    if !cx.v.dma_align_at_bio_split && !iter.is_dma_aligned(cx.dma_align, cx.lbs) {
        cx.decide("blkdev_direct_IO: user buffer not DMA aligned");
        return cx.ret(F, -EINVAL);
    }
    // Plain 6.12: blkdev_dio_invalid() also ran generic_atomic_write_valid(iter, pos).
    if atomic && !cx.v.atomic_valid_checks_direct && generic_atomic_write_valid(cx, ki, iter) != 0 {
        return cx.ret(F, -EINVAL);
    }
    // bio_iov_vecs_to_alloc(): pages the user buffer spans (one more per extra segment).
    let nr_pages = iter.npages();
    let pos = ki.ki_pos;
    if nr_pages <= BIO_MAX_VECS {
        // One bio with a vec per page: fragmentation cannot split it.
        let n = bdev_get_pages(cx, iter, u64::MAX);
        if n < 0 {
            return cx.ret(F, n);
        }
        let n = n as u64;
        let status = bdev_submit_bio(cx, iter, pos, n, atomic, ki.has(IOCB_NOWAIT));
        iter.advance(n);
        let res = if status != 0 { status } else { n as i64 };
        if !ki.is_sync {
            // __blkdev_direct_IO_async: the completion reports the bio's size or status.
            cx.decide("blkdev_direct_IO: async bio queued (-EIOCBQUEUED)");
            cx.aio_result = Some(res);
            // aio has no file position; report the notional one so ki_pos matches the result.
            cx.aio_ki_pos = Some(if res > 0 { pos + res as u64 } else { pos });
            return cx.ret(F, -EIOCBQUEUED);
        }
        return cx.ret(F, res);
    }
    if atomic {
        cx.decide("blkdev_direct_IO: atomic write needs more than one bio -> -EINVAL");
        return cx.ret(F, -EINVAL);
    }
    // __blkdev_direct_IO(): a bio per BIO_MAX_VECS pages; a get_pages failure ends the loop and
    // its error is the result (earlier bios have written their data). A bio holds BIO_MAX_VECS
    // bvecs: a vec per user page (IovIter::bvec_cap; a scattered iovec: per page of a segment).
    let (mut size, mut p, mut ret, mut status) = (0u64, pos, 0i64, 0i64);
    while iter.count > 0 {
        let n = bdev_get_pages(cx, iter, iter.bvec_cap(BIO_MAX_VECS));
        if n < 0 {
            ret = n;
            break;
        }
        let n = n as u64;
        let before = *iter;
        iter.advance(n);
        if ki.has(IOCB_NOWAIT) && iter.count > 0 {
            cx.decide("__blkdev_direct_IO: NOWAIT needs more than one bio -> -EAGAIN");
            // fail: bio_release_pages(bio, false); bio_put(bio)
            cx.release_user_pages(before.pages_spanned(n));
            return cx.ret(F, -EAGAIN);
        }
        let st = bdev_submit_bio(cx, &before, p, n, false, ki.has(IOCB_NOWAIT));
        if st != 0 && status == 0 {
            status = st;
        }
        size += n;
        p += n;
    }
    let res = if ret != 0 {
        ret
    } else if status != 0 {
        status
    } else {
        size as i64
    };
    if !ki.is_sync {
        // A bio that could not be built is ended with BLK_STS_IOERR (-EIO at completion) up to
        // 7.2; 75ae18ca9426 (7.3) ends it with errno_to_blk_status(ret) (-EINVAL, -ENOMEM, -EAGAIN
        // survive; anything else is BLK_STS_IOERR).
        let res = if ret != 0
            && !(cx.v.bdev_get_pages_errno && [-EINVAL, -ENOMEM, -EAGAIN].contains(&ret))
        {
            cx.decide("__blkdev_direct_IO: bio not built -> BLK_STS_IOERR");
            -EIO
        } else {
            res
        };
        cx.aio_result = Some(res);
        cx.aio_ki_pos = Some(if res > 0 { pos + res as u64 } else { pos });
        return cx.ret(F, -EIOCBQUEUED);
    }
    cx.ret(F, res)
}
