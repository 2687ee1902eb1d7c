// SPDX-License-Identifier: GPL-2.0-only
//! fs/libfs.c: direct_write_fallback() (docs/model.md §2.4), used by the block device after a short
//! or refused direct write. Also the thin iomap_file_buffered_write() the XFS and block-device
//! buffered paths call (fs/iomap/buffered-io.c; kept here until iomap has a buffered-io module).

use crate::kernel::include::linux::fs::{IovIter, Kiocb};
use crate::kernel::mm::filemap::{filemap_write_and_wait_range, generic_perform_write};
use crate::kernel::mm::truncate::invalidate_mapping_pages;
use crate::model::*;
use crate::scenario::{Site, PAGE_SIZE};

/// iomap_file_buffered_write(): the iomap buffered data path, a page-cache copy of user data
/// (counted as buffered: generic_perform_write does the copy). `delalloc`: holes become delalloc
/// reservations (XFS); the block device has no holes.
pub fn iomap_file_buffered_write(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    delalloc: bool,
) -> i64 {
    const F: &str = "iomap_file_buffered_write";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    let r = generic_perform_write(cx, ki, iter, delalloc);
    cx.ret(F, r)
}

/// direct_write_fallback(iocb, iter, direct_written, buffered_written) (all versions): combine a
/// direct write with the buffered write of its remainder. The buffered error wins only when
/// nothing was written directly; a failed flush rolls ki_pos back over the buffered bytes and
/// reports only the direct ones. There is no IOCB_ATOMIC test.
pub fn direct_write_fallback(
    cx: &mut Cx,
    ki: &mut Kiocb,
    _iter: &mut IovIter,
    direct_written: i64,
    buffered_written: i64,
) -> i64 {
    const F: &str = "direct_write_fallback";
    cx.enter(
        F,
        &[("direct", direct_written), ("buffered", buffered_written)],
    );
    if buffered_written < 0 {
        cx.decide("direct_write_fallback: buffered write failed");
        let r = if direct_written != 0 {
            direct_written
        } else {
            buffered_written
        };
        return cx.ret(F, r);
    }
    if buffered_written == 0 {
        // Nothing buffered: the flush/invalidate of an empty range is a no-op.
        return cx.ret(F, direct_written);
    }
    let pos = ki.ki_pos - buffered_written as u64;
    let end = ki.ki_pos - 1;
    let err = filemap_write_and_wait_range(cx, pos, end, Site::FallbackFlush);
    if err < 0 {
        cx.decide(
            "direct_write_fallback: flush failed, ki_pos rolled back over the buffered bytes",
        );
        ki.ki_pos -= buffered_written as u64;
        let r = if direct_written != 0 {
            direct_written
        } else {
            err
        };
        return cx.ret(F, r);
    }
    invalidate_mapping_pages(cx, (pos / PAGE_SIZE) as usize, (end / PAGE_SIZE) as usize);
    cx.ret(F, direct_written + buffered_written)
}
