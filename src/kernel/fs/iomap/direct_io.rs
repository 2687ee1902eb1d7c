// SPDX-License-Identifier: GPL-2.0-only
//! fs/iomap/direct-io.c: iomap_dio_rw(), __iomap_dio_rw(), iomap_dio_iter(), iomap_dio_bio_iter(),
//! iomap_dio_zero(), iomap_dio_complete() (docs/model.md §4). Version differences are variant
//! switches.
//!
//! Timing model (`Cx::opts.completion`, [`BioCompletion`]): by default a bio completes when it is
//! submitted (so a failed bio is seen by the next loop iteration's dio->error test, the
//! adversarial order: the submitter slept and schedule() flushed the plug). `Plugged` holds the
//! bios in __iomap_dio_rw()'s blk_start_plug() (6.12-7.3, read in 6.12 and 7.3 fs/iomap/direct-io.c):
//! a device completion error reaches dio->error only when the plug is flushed — by
//! blk_add_rq_to_plug() at BLK_MAX_REQUEST_COUNT requests, or by blk_finish_plug() after the
//! iomap_iter() loop — so the later bios of the call are submitted and write their data.
//! `Deferred` also holds them there, and the device completes them only after __iomap_dio_rw()
//! has recorded the loop's own error (an asynchronous device: the lab's ublk server). An async
//! (aio) DIO that submitted bios is still in flight when __iomap_dio_rw returns, so it returns
//! -EIOCBQUEUED and the completion's result is what the caller gets.

use super::iter::{iomap_iter, IomapIter};
use super::*;
use crate::errno::*;
use crate::kernel::include::linux::fs::{generic_write_sync, IovIter, Kiocb};
use crate::kernel::mm::filemap::{kiocb_invalidate_pages, kiocb_invalidate_post_direct_write};
use crate::model::*;
use crate::scenario::Site;
use crate::variant::{AtomicLenRule, IterProtocol};

// Private dio->flags.
const DIO_WRITE: u32 = 1 << 30;
const DIO_NEED_SYNC: u32 = 1 << 29;
const DIO_WRITE_THROUGH: u32 = 1 << 28;

#[derive(Clone, Debug)]
pub struct Dio {
    pub size: u64,
    pub i_size: u64,
    pub error: i64,
    /// Private flags plus IOMAP_DIO_UNWRITTEN / IOMAP_DIO_COW for ->end_io.
    pub flags: u32,
    pub dio_flags: u32,
    pub done_before: i64,
    pub bios: u32,
    pub dops: DioOps,
    /// `Plugged` order: requests in the task's plug, and the device completion errors of those
    /// among them that will fail (iomap_dio_bio_end_io -> iomap_dio_set_error once dispatched).
    pub plug_rqs: u32,
    pub plug_errors: Vec<i64>,
    /// `Deferred` order: device completion errors of dispatched requests that arrive only when
    /// the submitter waits for the DIO, after __iomap_dio_rw() has set its own error.
    pub late_errors: Vec<i64>,
}

/// BLK_MAX_REQUEST_COUNT (block/blk.h, 6.12-7.3): blk_plug_max_rq_count() for one queue.
const BLK_MAX_REQUEST_COUNT: u32 = 32;

/// blk_mq_flush_plug_list() (block/blk-mq.c): the plugged requests go to the driver; their
/// completions (adversarially: at once) set dio->error, first error wins.
fn blk_flush_plug(cx: &mut Cx, dio: &mut Dio) {
    if dio.plug_rqs == 0 {
        return;
    }
    dio.plug_rqs = 0;
    for e in std::mem::take(&mut dio.plug_errors) {
        if cx.opts.completion == BioCompletion::Deferred {
            cx.note("blk_flush_plug: a plugged bio dispatched; its error arrives when the DIO is waited for");
            dio.late_errors.push(e);
            continue;
        }
        cx.note("blk_flush_plug: a plugged bio completed with an error");
        set_error(dio, e);
    }
}

/// blk_add_rq_to_plug() (block/blk-mq.c, 6.12-7.3): a plug already holding
/// blk_plug_max_rq_count() requests is flushed before the new one joins. Its other rule (flush
/// when the last request is >= BLK_PLUG_FLUSH_SIZE 128 KiB) applies only on a queue that allows
/// merges; the lab's fault device has queue/nomerges 2, and the model has no merge setting, so
/// it is not modelled (docs/lab.md "Completion order").
fn blk_add_rq_to_plug(cx: &mut Cx, dio: &mut Dio, device_error: i64) {
    if dio.plug_rqs >= BLK_MAX_REQUEST_COUNT {
        blk_flush_plug(cx, dio);
    }
    dio.plug_rqs += 1;
    if device_error != 0 {
        cx.note("plugged: the bio's error reaches dio->error when the plug is flushed");
        dio.plug_errors.push(device_error);
    }
}

fn set_error(dio: &mut Dio, e: i64) {
    if dio.error == 0 {
        dio.error = e;
    }
}

/// Submit a bio and complete it (data reaches the device, or the completion carries an error).
fn submit_bio(
    cx: &mut Cx,
    dio: &mut Dio,
    pos: u64,
    len: u64,
    atomic: bool,
    zero: bool,
    shared: bool,
) {
    submit_bio_status(cx, dio, pos, len, atomic, zero, shared, 0, None);
}

/// submit_bio() with the status the block layer gives the bio before it reaches the driver
/// (`rejected`: 6.18+ bio_split_io_at() -EINVAL, see IovIter::bio_rejected_at_split); such a bio
/// writes nothing and completes at once with that error.
#[allow(clippy::too_many_arguments)]
fn submit_bio_status(
    cx: &mut Cx,
    dio: &mut Dio,
    pos: u64,
    len: u64,
    atomic: bool,
    zero: bool,
    shared: bool,
    rejected: i64,
    nosplit: Option<&crate::kernel::drivers::NoSplitBio>,
) {
    dio.bios += 1;
    let (status, from_device) = if rejected != 0 {
        (rejected, false)
    } else {
        crate::kernel::block::blk_core::bio_status_from(cx, len, atomic)
    };
    // A bio the block layer accepted becomes a request (blk_mq_submit_bio); in the plugged order it
    // waits in the plug, and so does its completion error.
    let plugged = cx.opts.completion != BioCompletion::Immediate;
    if plugged && (status == 0 || from_device) {
        blk_add_rq_to_plug(cx, dio, status);
    }
    if status == 0 {
        let tag = if zero { TAG_ZERO } else { TAG_NEW };
        if let Some(bio) = nosplit {
            // A bio-based disk that never splits (pmem, zram) takes the bio as it is.
            bio.submit(cx, pos, tag, shared);
        } else if shared {
            cx.cow_write(pos, len, tag);
        } else {
            cx.disk_write(pos, len, tag);
        }
    } else if !(plugged && from_device) {
        set_error(dio, status);
    }
    cx.trace.push(Ev::Bio {
        pos,
        len,
        atomic,
        zero,
        status,
    });
    cx.bios.push(Bio {
        pos,
        len,
        atomic,
        zero,
        status,
    });
}

/// iomap_dio_zero(): write zeroes to a sub-block range. Its only failure (6.12-6.18, read in the
/// sources) is WARN_ON_ONCE(len > ZERO_PAGE_SIZE 64 KiB) -> -EINVAL, which the model's block sizes
/// (at most 4 KiB) cannot reach: the DioZero fault site fires only where the real one can.
/// 7.3.4 (dio_zero_keeps_error): iomap_dio_zero() returns nothing; its WARN case gives up
/// without an error.
fn iomap_dio_zero(cx: &mut Cx, dio: &mut Dio, pos: u64, len: u64, shared: bool) -> i64 {
    if len > 65536 {
        if let Some(e) = cx.fault(Site::DioZero) {
            cx.warn("iomap_dio_zero: WARN_ON_ONCE(len > ZERO_PAGE size)");
            return if cx.v.dio_zero_keeps_error { 0 } else { e };
        }
    }
    submit_bio(cx, dio, pos, len, false, true, shared);
    0
}

/// iomap_dio_rw(): __iomap_dio_rw + iomap_dio_complete. An ERR_PTR from __iomap_dio_rw
/// (e.g. the invalidation -ENOTBLK) surfaces here; NULL gives 0.
#[allow(clippy::too_many_arguments)]
pub fn iomap_dio_rw(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    ops: IomapOps,
    dops: DioOps,
    dio_flags: u32,
    done_before: i64,
) -> i64 {
    cx.enter(
        "iomap_dio_rw",
        &[
            ("pos", ki.ki_pos as i64),
            ("count", iter.count as i64),
            ("dio_flags", dio_flags as i64),
        ],
    );
    let r = match __iomap_dio_rw(cx, ki, iter, ops, dops, dio_flags, done_before) {
        Err(e) => e,
        Ok(None) => 0,
        Ok(Some(dio)) => iomap_dio_complete(cx, ki, dio),
    };
    cx.ret("iomap_dio_rw", r)
}

/// __iomap_dio_rw(): Err(-errno) for ERR_PTR (also -EIOCBQUEUED), Ok(None) for NULL.
#[allow(clippy::too_many_arguments)]
pub fn __iomap_dio_rw(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    ops: IomapOps,
    dops: DioOps,
    dio_flags: u32,
    done_before: i64,
) -> Result<Option<Dio>, i64> {
    let mut it = IomapIter::new(ki.ki_pos, iter.count, IOMAP_DIRECT);
    let mut wait = ki.is_sync || dio_flags & IOMAP_DIO_FORCE_WAIT != 0;
    if it.len == 0 {
        return Ok(None);
    }
    let mut dio = Dio {
        size: 0,
        i_size: cx.inode.i_size,
        error: 0,
        flags: DIO_WRITE,
        dio_flags,
        done_before,
        bios: 0,
        dops,
        plug_rqs: 0,
        plug_errors: Vec::new(),
        late_errors: Vec::new(),
    };
    if ki.has(IOCB_NOWAIT) {
        it.flags |= IOMAP_NOWAIT;
    }
    it.flags |= IOMAP_WRITE;
    if dio_flags & IOMAP_DIO_OVERWRITE_ONLY != 0 {
        if it.pos >= dio.i_size || it.pos + it.len > dio.i_size {
            return Err(-EAGAIN);
        }
        it.flags |= IOMAP_OVERWRITE_ONLY;
    }
    // 6.13+: iomap knows atomic writes (John Garry's series); 6.12 ignores IOCB_ATOMIC.
    if ki.has(IOCB_ATOMIC) && cx.v.atomic_len != AtomicLenRule::None {
        it.flags |= IOMAP_ATOMIC;
    }
    if ki.has(IOCB_DSYNC) {
        dio.flags |= DIO_NEED_SYNC;
        // FUA is not modelled (volatile write cache): WRITE_THROUGH is dropped in the bio actor, so
        // NEED_SYNC stays and generic_write_sync() runs at completion.
    }
    let r = kiocb_invalidate_pages(cx, ki, it.len);
    if r != 0 {
        let r = if r != -EAGAIN {
            // 9e0933c21c12 (6.13+): an atomic write gets -EAGAIN, others -ENOTBLK (fall back).
            if cx.v.invalidate_atomic_eagain && ki.has(IOCB_ATOMIC) {
                cx.decide("iomap: invalidation failed -> -EAGAIN (atomic)");
                -EAGAIN
            } else {
                cx.decide("iomap: invalidation failed -> -ENOTBLK");
                -ENOTBLK
            }
        } else {
            r
        };
        return Err(r);
    }
    if !wait && !cx.dio_done_wq {
        if let Some(e) = cx.fault(Site::InitDioDoneWq) {
            return Err(e);
        }
        cx.dio_done_wq = true;
    }
    // inode_dio_begin(); blk_start_plug() (the plug is modelled in the Plugged order only)
    let mut ret;
    loop {
        ret = iomap_iter(cx, &mut it, ops);
        if ret <= 0 {
            break;
        }
        let r = iomap_dio_iter(cx, &mut it, &mut dio, iter);
        match cx.v.iter_protocol {
            IterProtocol::Processed => it.processed = r,
            IterProtocol::AdvanceStatus => it.status = r,
        }
        ki.ki_flags &= !IOCB_HIPRI;
    }
    // blk_finish_plug(): the plugged requests are dispatched and complete (Plugged order).
    blk_flush_plug(cx, &mut dio);
    if ret == -EFAULT && dio.size > 0 && dio_flags & IOMAP_DIO_PARTIAL != 0 {
        if !ki.has(IOCB_NOWAIT) {
            wait = true;
        }
        ret = 0;
    }
    // The "magic error code to fall back to buffered I/O": consumed, becomes a short write.
    if ret == -ENOTBLK {
        cx.decide("__iomap_dio_rw consumed -ENOTBLK (short write)");
        wait = true;
        ret = 0;
    }
    if ret < 0 {
        set_error(&mut dio, ret);
    }
    // Deferred order: the device completes the dispatched requests while the submitter waits
    // (inode_dio_wait-style wait on dio->submit.waiter, or the aio completion): their errors come
    // after the loop's own (iomap_dio_set_error: the first error wins).
    for e in std::mem::take(&mut dio.late_errors) {
        cx.note("deferred: a dispatched bio completed with an error after the submission");
        set_error(&mut dio, e);
    }
    if dio.flags & DIO_WRITE_THROUGH != 0 {
        dio.flags &= !DIO_NEED_SYNC;
    }
    if dio.bios > 0 && !wait {
        // Bios in flight: the completion runs later (iomap_dio_bio_end_io -> iomap_dio_complete_work).
        cx.decide("async DIO queued (-EIOCBQUEUED)");
        let mut ki2 = *ki;
        let res = iomap_dio_complete(cx, &mut ki2, dio);
        cx.aio_result = Some(res);
        cx.aio_ki_pos = Some(ki2.ki_pos);
        return Err(-EIOCBQUEUED);
    }
    Ok(Some(dio))
}

/// iomap_dio_iter(): dispatch on the mapping type.
fn iomap_dio_iter(cx: &mut Cx, it: &mut IomapIter, dio: &mut Dio, iter: &mut IovIter) -> i64 {
    let m = it.iomap.expect("iomap_dio_iter without a mapping");
    match m.kind {
        IomapType::Hole => {
            // a hole on a write
            cx.warn("iomap_dio_iter: IOMAP_HOLE on a write");
            -EIO
        }
        IomapType::Unwritten | IomapType::Mapped => iomap_dio_bio_iter(cx, it, dio, iter),
        IomapType::Delalloc => {
            cx.decide("iomap_dio_iter: Direct I/O collision with buffered writes (DELALLOC)");
            -EIO
        }
        IomapType::Inline => {
            cx.warn("iomap_dio_iter: unexpected INLINE mapping");
            -EIO
        }
    }
}

/// The actor's result in the variant's protocol: bytes (6.12-6.14) or advance + 0 (6.15+).
fn actor_result(cx: &mut Cx, it: &mut IomapIter, copied: u64, ret: i64) -> i64 {
    if copied == 0 {
        return ret;
    }
    match cx.v.iter_protocol {
        IterProtocol::Processed => copied as i64,
        IterProtocol::AdvanceStatus => it.advance(cx, copied),
    }
}

/// iomap_dio_bio_iter() (docs/model.md §4.3).
fn iomap_dio_bio_iter(cx: &mut Cx, it: &mut IomapIter, dio: &mut Dio, iter: &mut IovIter) -> i64 {
    let m = it.iomap.expect("mapping");
    let length = it.length();
    let mut pos = it.pos;
    let fs_block_size = cx.bs;
    let atomic_iter = it.flags & IOMAP_ATOMIC != 0;
    cx.enter(
        "iomap_dio_bio_iter",
        &[
            ("pos", pos as i64),
            ("length", length as i64),
            ("iomap_flags", it.flags as i64),
            ("iomap.flags", m.flags as i64),
        ],
    );
    // [A] alignment. 6.19+: FSBLOCK_ALIGNED uses the fs block size.
    let align = if cx.v.dio_fsblock_aligned && dio.dio_flags & IOMAP_DIO_FSBLOCK_ALIGNED != 0 {
        fs_block_size
    } else {
        cx.lbs
    };
    let mut req_atomic = false;
    match cx.v.atomic_len {
        AtomicLenRule::None => {}
        AtomicLenRule::FsBlock => {
            // 6.13-6.14: checked first.
            if atomic_iter && length != fs_block_size {
                cx.decide("iomap_dio_bio_iter: atomic length != fs block size");
                return cx.ret("iomap_dio_bio_iter", -EINVAL);
            }
            req_atomic = atomic_iter;
        }
        AtomicLenRule::CoversIter => {}
    }
    if (pos | length) & (align - 1) != 0 {
        cx.decide("iomap_dio_bio_iter: position/length not aligned to the logical block size");
        return cx.ret("iomap_dio_bio_iter", -EINVAL);
    }
    // 6.12-6.17: bdev_iter_is_aligned() on the whole remaining iter (every segment's address on
    // the device's dma_alignment, its length on lbs). 6.18+ (read in 6.18.2 fs/iomap/direct-io.c) has no memory
    // check here at all: bio_iov_iter_get_pages(bio, iter, lbs - 1) only aligns the bio's size down,
    // and the block layer rejects a bio with a misaligned bvec when it is split (below).
    if !cx.v.dma_align_at_bio_split && !iter.is_dma_aligned(cx.dma_align, cx.lbs) {
        cx.decide("iomap_dio_bio_iter: user buffer not DMA aligned");
        return cx.ret("iomap_dio_bio_iter", -EINVAL);
    }
    if cx.v.atomic_len == AtomicLenRule::CoversIter && m.flags & IOMAP_F_ATOMIC_BIO != 0 {
        // 6.15+ (370a6de7651b): one mapping must cover the whole remaining request.
        if length != it.len {
            cx.decide("iomap_dio_bio_iter: atomic mapping does not cover the request");
            return cx.ret("iomap_dio_bio_iter", -EINVAL);
        }
        req_atomic = true;
    }
    let mut need_zeroout = false;
    if m.kind == IomapType::Unwritten {
        dio.flags |= IOMAP_DIO_UNWRITTEN;
        need_zeroout = true;
    }
    let shared = m.flags & IOMAP_F_SHARED != 0;
    if shared {
        dio.flags |= IOMAP_DIO_COW;
    }
    if m.flags & IOMAP_F_NEW != 0 {
        need_zeroout = true;
    }
    let orig_count = iter.count;
    iter.truncate(length);
    let mut copied: u64 = 0;
    let mut ret: i64 = 0;
    'out: {
        if iter.count == 0 {
            break 'out;
        }
        if need_zeroout {
            let pad = pos & (fs_block_size - 1);
            if pad != 0
                && cx
                    .bios
                    .iter()
                    .any(|b| !b.zero && b.status == 0 && b.pos < pos && b.pos + b.len > pos - pad)
            {
                // A second iteration of the same DIO over a block the first one already wrote into
                // (the block is still unwritten until completion): the head zeroing races with,
                // and may overwrite, this DIO's own data.
                cx.decide("iomap_dio_bio_iter: head zeroing over data this DIO already wrote");
            }
            if pad != 0 {
                ret = iomap_dio_zero(cx, dio, pos - pad, pad, shared);
                if ret != 0 {
                    break 'out;
                }
            }
        }
        'zero_tail: {
            while iter.count > 0 {
                if dio.error != 0 {
                    // [C] an earlier bio failed: stop early.
                    cx.decide("iomap_dio_bio_iter: dio->error set, stop");
                    if !cx.v.dio_error_keeps_copied {
                        iter.revert(copied);
                        copied = 0;
                    }
                    ret = 0;
                    break 'out;
                }
                // bio_iov_iter_get_pages()
                if let Some(e) = cx.fault(Site::DioGetPages) {
                    ret = e;
                    break 'zero_tail;
                }
                let f = iter.faultable();
                // 7.0+ IOMAP_DIO_BOUNCE (XFS on a stable-writes device): bio_iov_iter_bounce_write()
                // copies the data into kernel folios instead of pinning the user pages, so no
                // user-vector or bvec DMA-alignment check applies to it; a copy that comes up short
                // frees the whole bio and returns -EFAULT (read in 7.3.4 block/bio.c). The model's
                // requests stay below the 1 MiB copy chunk: one bio per mapping.
                let bounce = cx.v.dio_bounce && dio.dio_flags & IOMAP_DIO_BOUNCE != 0;
                if bounce && f < iter.count {
                    cx.decide("bio_iov_iter_bounce_write: user page fault, bio freed (-EFAULT)");
                    ret = -EFAULT;
                    break 'zero_tail;
                }
                // A bio holds BIO_MAX_VECS (256) bvecs, a bvec per user page (a scattered iovec:
                // per page of each segment, so a bio may hold a few KiB and the write spans
                // several bios); the pages pinned stop at the first one that cannot be faulted in.
                let cap = iter.bvec_cap(256);
                let n = iter.count.min(f).min(cap);
                // 14b007e17881 (7.2.y, 7.3): each segment is checked against the DMA alignment as
                // it is extracted, before its pages are pinned; a misaligned one fails the whole
                // bio with -EINVAL and the iter stays advanced over what was extracted.
                if cx.v.bio_validates_user_vectors && !bounce {
                    let by_fault = f < iter.count && n == f;
                    if let Some(done) = iter.extract_misaligned(n, cx.dma_align, by_fault) {
                        cx.decide("bio_iov_iter_get_pages: user vector not DMA aligned (-EINVAL)");
                        if done > 0 {
                            cx.decide("bio_iov_iter_get_pages: iter left advanced past the released pages");
                            iter.advance(done);
                        }
                        ret = -EINVAL;
                        break 'zero_tail;
                    }
                }
                if f == 0 {
                    cx.decide("bio_iov_iter_get_pages: user page fault (-EFAULT)");
                    ret = -EFAULT;
                    break 'zero_tail;
                }
                // bio_iov_iter_get_pages(bio, iter, alignment - 1) trims the bio down to whole
                // units of `alignment`: the logical block size, or (6.19+, IOMAP_DIO_FSBLOCK_ALIGNED
                // for XFS always-CoW) the fs block size; trimmed to nothing it is -EFAULT.
                let n = if n < iter.count { n & !(align - 1) } else { n };
                if n == 0 {
                    cx.decide("bio_iov_iter_get_pages: user page fault (-EFAULT)");
                    ret = -EFAULT;
                    break 'zero_tail;
                }
                // The bio now holds FOLL_PIN references on the user pages it spans (7.0+
                // IOMAP_DIO_BOUNCE copies instead of pinning).
                let pages = if bounce { 0 } else { iter.pages_spanned(n) };
                cx.pin_user_pages(pages);
                // [D] an atomic bio must cover the whole length.
                if req_atomic && n != length {
                    cx.warn("iomap_dio_bio_iter: atomic bio shorter than the length");
                    // 7.1+: out_bio_release_pages; before: bio_put() alone keeps the pins.
                    if cx.v.dio_atomic_short_releases_pages {
                        cx.release_user_pages(pages);
                    } else {
                        cx.decide("iomap_dio_bio_iter: bio_put() without bio_release_pages(): pinned user pages leak");
                    }
                    ret = -EINVAL;
                    break 'zero_tail;
                }
                // 6.18+: the bio is built and counted whatever its memory alignment; submit_bio()
                // -> __bio_split_to_limits() -> bio_split_io_at() fails a bio that crosses a page
                // with a bvec off the queue's dma_alignment (loop: 511, scsi_debug: 3; offset and length
                // both, bio_split_rw_at passes lim->dma_alignment as len_align_mask) -> BLK_STS_INVAL, so
                // dio->error = -EINVAL while earlier bios keep their data.
                // A bio-based disk that never splits (pmem, brd, zram: world.device.no_bio_split)
                // has no bio_split_io_at() on its path: 6.18-7.1 hand it the misaligned bvecs
                // (kernel::drivers: pmem, zram).
                let no_split = cx.s.world.device.no_bio_split;
                let rejected = if cx.v.dma_align_at_bio_split
                    && !bounce
                    && iter.bio_rejected_at_split(n, cx.dma_align, cx.dma_align)
                {
                    if no_split {
                        cx.decide("submit_bio: bio-based disk, no bio_split_io_at: misaligned bvecs reach the driver");
                        0
                    } else {
                        cx.decide("bio_split_io_at: bvec not DMA aligned, bio failed (-EINVAL)");
                        -EINVAL
                    }
                } else {
                    0
                };
                let nosplit = (no_split && !bounce)
                    .then(|| crate::kernel::drivers::NoSplitBio::build(&cx.s.world, iter, pos, n));
                dio.size += n;
                copied += n;
                submit_bio_status(
                    cx,
                    dio,
                    pos,
                    n,
                    req_atomic,
                    false,
                    shared,
                    rejected,
                    nosplit.as_ref(),
                );
                // iomap_dio_bio_end_io() -> bio_release_pages() (the bio completed at submission).
                cx.release_user_pages(pages);
                pos += n;
                iter.advance(n);
            }
        }
        // zero_tail: zero out from the end of the write to the end of the block.
        if need_zeroout || pos >= cx.inode.i_size {
            let pad = pos & (fs_block_size - 1);
            if pad != 0 {
                let zr = iomap_dio_zero(cx, dio, pos, fs_block_size - pad, shared);
                // 7.3.4 (dio_zero_keeps_error): the zeroing no longer replaces ret.
                if !cx.v.dio_zero_keeps_error {
                    if ret != 0 && zr == 0 && copied == 0 {
                        cx.decide("iomap_dio_bio_iter: tail zeroing overwrote the error");
                        cx.mask_dio_error(ret);
                    }
                    ret = zr;
                }
            }
        }
    }
    // iov_iter_reexpand(orig_count - copied)
    iter.count = orig_count - copied;
    let r = actor_result(cx, it, copied, ret);
    cx.ret("iomap_dio_bio_iter", r)
}

/// iomap_dio_complete() (all versions): ->end_io, result, post-write invalidation, ki_pos,
/// generic_write_sync.
pub fn iomap_dio_complete(cx: &mut Cx, ki: &mut Kiocb, dio: Dio) -> i64 {
    cx.enter(
        "iomap_dio_complete",
        &[("size", dio.size as i64), ("error", dio.error)],
    );
    let mut ret = dio.error;
    ret = dops_end_io(
        cx,
        dio.dops,
        ki,
        dio.size,
        ret,
        dio.flags & (IOMAP_DIO_UNWRITTEN | IOMAP_DIO_COW),
    );
    // 7.0+: fserror_report_io() for errors other than the retry codes (fsnotify only).
    if cx.v.dio_fserror && dio.error != 0 && dio.error != -EAGAIN && dio.error != -ENOTBLK {
        cx.note("fserror_report_io(FSERR_DIRECTIO_WRITE)");
    }
    if ret == 0 {
        ret = dio.size as i64;
    }
    if dio.error == 0 && dio.size > 0 {
        kiocb_invalidate_post_direct_write(cx, ki.ki_pos, dio.size);
    }
    // inode_dio_end()
    if ret > 0 {
        ki.ki_pos += ret as u64;
        if dio.flags & DIO_NEED_SYNC != 0 {
            ret = generic_write_sync(cx, ki, ret);
        }
        if ret > 0 {
            ret += dio.done_before;
        }
    }
    cx.ret("iomap_dio_complete", ret)
}
