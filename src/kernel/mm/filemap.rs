// SPDX-License-Identifier: GPL-2.0-only
//! mm/filemap.c: kiocb_invalidate_pages(), filemap_write_and_wait_range(),
//! kiocb_invalidate_post_direct_write(), and generic_perform_write() as the buffered data path.
//! Identical in every version read, 6.12.y to 7.1.5, and in 7.2.12 and 7.3.4 (docs/model.md §2).

use crate::errno::*;
use crate::kernel::include::linux::fs::{IovIter, Kiocb};
use crate::kernel::mm::truncate::invalidate_inode_pages2_range;
use crate::model::*;
use crate::scenario::{Extent, PageState, Site, PAGE_SIZE, SECTOR};

/// filemap_write_and_wait_range(mapping, start, end): write back dirty folios in the byte range and
/// wait for writeback. A writeback error (injected at `site`) is returned and the folios stay dirty.
pub fn filemap_write_and_wait_range(cx: &mut Cx, start: u64, end: u64, site: Site) -> i64 {
    cx.enter(
        "filemap_write_and_wait_range",
        &[("start", start as i64), ("end", end as i64)],
    );
    let (first, last) = (Cx::page_of(start), Cx::page_of(end));
    let any_dirty = (first..=last).any(|p| {
        matches!(
            cx.page(p),
            PageState::Dirty | PageState::MappedDirty | PageState::Writeback
        )
    });
    if any_dirty {
        if let Some(e) = cx.fault(site) {
            return cx.ret("filemap_write_and_wait_range", e);
        }
    }
    // XFS: the last block this writeback allocated from delalloc and its extent (see below).
    let mut run = None;
    for p in first..=last.min(cx.pages.len().saturating_sub(1)) {
        match cx.page(p) {
            PageState::Dirty | PageState::MappedDirty => {
                writeback_page(cx, p, &mut run);
                if cx.pages[p] == PageState::Dirty {
                    cx.pages[p] = PageState::Clean;
                }
            }
            PageState::Writeback => {
                cx.end_writeback(p);
                cx.pages[p] = PageState::Clean;
            }
            _ => {}
        }
    }
    cx.ret("filemap_write_and_wait_range", 0)
}

/// ->writepages for one page: allocate (delalloc/hole -> written, unwritten -> converted) the
/// blocks of the page inside EOF and write them whole: cached sectors inside i_size, zeroes past
/// it (block_write_full_folio zeroes the EOF block's tail).
///
/// `run` carries, across the pages of one writeback, the last block XFS allocated from delalloc
/// and its extent: xfs_map_blocks() -> xfs_bmapi_convert_delalloc() allocates the whole delalloc
/// extent at once (the returned real extent may even be larger, "due to merging"; read in 7.3.4
/// fs/xfs/xfs_aops.c) and the next page reuses wpc->iomap, so logically contiguous delalloc blocks
/// written back together become one physical extent and one mapping for a later direct write.
/// ext4 keeps one allocation per page here (not measured).
fn writeback_page(cx: &mut Cx, p: usize, run: &mut Option<(u64, u32)>) {
    let spb = (cx.bs / SECTOR) as usize;
    let lim = cx.inode.i_size.div_ceil(SECTOR) as usize;
    let (a, b) = (p * 8, (p * 8 + 8).min(lim));
    if a >= b {
        return;
    }
    let mut id = None;
    for lblk in (a / spb) as u64..=((b - 1) / spb) as u64 {
        let blk = cx.blk(lblk);
        // A clean hole block of a page written only in part (blocks smaller than a page):
        // writeback writes dirty blocks only, the hole stays (crate::model::partial_dirty_holes).
        if blk.kind == Extent::Hole
            && cx.pages[p] == PageState::Dirty
            && cx.fs != crate::scenario::FsKind::Bdev
            && !cx.dirty_hole(lblk)
        {
            continue;
        }
        // XFS: a block with a CoW-fork extent is written through the CoW fork and remapped at
        // ioend (a new, unshared extent).
        if cx.fs == crate::scenario::FsKind::Xfs
            && crate::kernel::fs::xfs::xfs_reflink::xfs_writeback_cow_block(cx, lblk)
        {
            let ext = *id.get_or_insert_with(|| cx.new_extent_id());
            cx.set_blk(lblk, Blk::new(Extent::Written, ext));
        } else if blk.kind != Extent::Written {
            let xfs_delalloc =
                cx.fs == crate::scenario::FsKind::Xfs && blk.kind == Extent::Delalloc;
            let ext = match blk.kind {
                Extent::Unwritten => blk.extent,
                _ if xfs_delalloc => match *run {
                    Some((prev, ext)) if prev + 1 == lblk => ext,
                    _ => cx.new_extent_id(),
                },
                _ => *id.get_or_insert_with(|| cx.new_extent_id()),
            };
            *run = xfs_delalloc.then_some((lblk, ext));
            cx.set_blk(lblk, Blk::new(Extent::Written, ext));
        } else {
            *run = None;
        }
        let base = lblk as usize * spb;
        for s in base..(base + spb).min(cx.disk.len()) {
            cx.disk[s] = if s < lim { cx.cache[s] } else { TAG_ZERO };
        }
    }
    if (b * SECTOR as usize) as u64 > cx.inode.i_disksize {
        cx.inode.i_disksize = cx.inode.i_size;
    }
}

/// kiocb_invalidate_pages() -> filemap_invalidate_pages(mapping, pos, pos + count - 1, NOWAIT).
pub fn kiocb_invalidate_pages(cx: &mut Cx, ki: &Kiocb, count: u64) -> i64 {
    let (start, end) = (ki.ki_pos, ki.ki_pos + count.max(1) - 1);
    cx.enter(
        "kiocb_invalidate_pages",
        &[("start", start as i64), ("end", end as i64)],
    );
    let (first, last) = (Cx::page_of(start), Cx::page_of(end));
    let cached = (first..=last).any(|p| cx.page(p) != PageState::None);
    if ki.has(IOCB_NOWAIT) {
        if cached {
            cx.decide("kiocb_invalidate_pages: NOWAIT with cached folios");
            return cx.ret("kiocb_invalidate_pages", -EAGAIN);
        }
    } else if cached {
        let r = filemap_write_and_wait_range(cx, start, end, Site::FilemapWriteAndWait);
        if r != 0 {
            cx.decide("kiocb_invalidate_pages: writeback error");
            return cx.ret("kiocb_invalidate_pages", r);
        }
    }
    if !cached {
        return cx.ret("kiocb_invalidate_pages", 0);
    }
    let r = invalidate_inode_pages2_range(cx, first, last);
    cx.ret("kiocb_invalidate_pages", r)
}

/// kiocb_invalidate_post_direct_write(): drop folios a racing buffered read may have cached; a
/// failure only logs dio_warn_stale_pagecache() (pr_crit, not a WARN) and never fails the write.
pub fn kiocb_invalidate_post_direct_write(cx: &mut Cx, pos: u64, count: u64) {
    let (first, last) = (Cx::page_of(pos), Cx::page_of(pos + count.max(1) - 1));
    if (first..=last).all(|p| cx.page(p) == PageState::None) {
        return;
    }
    cx.enter(
        "kiocb_invalidate_post_direct_write",
        &[("pos", pos as i64), ("count", count as i64)],
    );
    if invalidate_inode_pages2_range(cx, first, last) != 0 {
        cx.decide("dio_warn_stale_pagecache");
    }
    cx.ret("kiocb_invalidate_post_direct_write", 0);
}

/// generic_perform_write(): copy user data into the page cache folio by folio
/// (->write_begin, copy_folio_from_iter_atomic, ->write_end). Stops short at an unfaultable user
/// page; -EFAULT only when nothing was copied. ki_pos and i_size advance in write_end.
pub fn generic_perform_write(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    delalloc: bool,
) -> i64 {
    cx.enter(
        "generic_perform_write",
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    cx.buffered_calls += 1;
    cx.decide("buffered write (generic_perform_write)");
    let mut written: u64 = 0;
    let mut status = 0;
    // Up to 7.0 ext4's ->write_end zeroes the partial blocks of [old i_size, pos) of a write that
    // starts past EOF (7.1+ ext4_write_checks does it before the copy).
    let old_size = cx.inode.i_size;
    let ext4_eof_zero = cx.fs == crate::scenario::FsKind::Ext4
        && !cx.v.ext4_eof_zero_in_write_checks
        && !cx.inode.flags.verity
        && ki.ki_pos > old_size;
    while iter.count > 0 {
        let pos = ki.ki_pos;
        let chunk = (PAGE_SIZE - pos % PAGE_SIZE).min(iter.count);
        if let Some(e) = cx.fault(Site::GenericPerformWrite) {
            status = e;
            break;
        }
        let copied = chunk.min(iter.faultable());
        if copied == 0 {
            // 6.14+ (switch write_begin_before_prefault): ->write_begin and ->write_end ran
            // before the fault-in failed; ext4's write_end set i_size to pos + 0
            // (ext4_da_do_write_end, ext4_write_end). Only the first chunk can start past EOF.
            if cx.v.write_begin_before_prefault
                && cx.fs == crate::scenario::FsKind::Ext4
                && pos > cx.inode.i_size
            {
                cx.decide("ext4 write_end with nothing copied past EOF: i_size = pos");
                cx.inode.i_size = pos;
                if ext4_eof_zero {
                    crate::kernel::fs::ext4::file::ext4_zero_partial_blocks(cx, old_size, pos);
                }
            }
            status = -EFAULT;
            break;
        }
        let p = Cx::page_of(pos);
        if p >= cx.pages.len() {
            break; // beyond the modelled span
        }
        if cx.page(p) == PageState::None {
            for s in p * 8..p * 8 + 8 {
                cx.cache[s] = cx.disk_visible(s);
            }
        }
        for s in
            (pos / SECTOR) as usize..((pos + copied).div_ceil(SECTOR) as usize).min(cx.cache.len())
        {
            cx.cache[s] = TAG_NEW;
        }
        if cx.page(p) != PageState::MappedDirty {
            cx.end_writeback(p);
            cx.pages[p] = PageState::Dirty;
        }
        for lblk in pos >> cx.blkbits..=(pos + copied - 1) >> cx.blkbits {
            if cx.blk(lblk).kind == Extent::Hole {
                if delalloc {
                    cx.set_blk(lblk, Blk::new(Extent::Delalloc, 0));
                } else {
                    // ->write_begin allocates it (ext4_write_begin, ext4_journalled_aops): the
                    // model allocates at writeback.
                    cx.dirty_hole_set(lblk);
                }
            }
        }
        iter.advance(copied);
        ki.ki_pos += copied;
        written += copied;
        if ki.ki_pos > cx.inode.i_size {
            cx.inode.i_size = ki.ki_pos;
        }
        if ext4_eof_zero && written == copied {
            crate::kernel::fs::ext4::file::ext4_zero_partial_blocks(cx, old_size, pos);
        }
        if copied < chunk {
            break;
        }
    }
    cx.buffered_bytes += written;
    cx.trace.push(Ev::Buffered {
        pos: ki.ki_pos - written,
        len: written,
        ret: if written > 0 { written as i64 } else { status },
    });
    let r = if written > 0 { written as i64 } else { status };
    cx.ret("generic_perform_write", r)
}
