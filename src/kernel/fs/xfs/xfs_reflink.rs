// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_reflink.c: CoW fork allocation for direct writes (xfs_reflink_allocate_cow with
//! xfs_bmap_trim_cow / xfs_reflink_trim_around_shared) and the remaps at I/O completion
//! (xfs_reflink_end_cow, and 6.16+ xfs_reflink_end_atomic_cow).

use super::xfs_iomap::Imap;
use super::*;
use crate::model::*;
use crate::scenario::{Extent, Site, SECTOR};

/// `cx.cow` value of a sector whose block has no CoW-fork extent. The CoW fork is tracked in
/// `cx.cow` itself: a block is in the CoW fork iff its sectors hold a data tag.
pub const COW_NONE: u32 = u32::MAX;

/// The CoW fork starts empty (no speculative CoW preallocations are modelled).
pub fn xfs_cow_fork_init(cx: &mut Cx) {
    for s in cx.cow.iter_mut() {
        *s = COW_NONE;
    }
}

/// Has block `lblk` an extent in the CoW fork?
pub fn xfs_cow_staged(cx: &Cx, lblk: u64) -> bool {
    let s = ((lblk * cx.bs) / SECTOR) as usize;
    cx.cow.get(s).is_some_and(|&t| t != COW_NONE)
}

/// The CoW fork at `lblk`: (in the fork, length of the run of blocks in the same state), at most
/// `max` blocks.
pub fn xfs_cow_run(cx: &Cx, lblk: u64, max: u64) -> (bool, u64) {
    let found = xfs_cow_staged(cx, lblk);
    let mut n = 1;
    while n < max && xfs_cow_staged(cx, lblk + n) == found {
        n += 1;
    }
    (found, n)
}

/// Allocate CoW staging blocks [lblk, lblk + n): written CoW-fork extents holding whatever the
/// freshly allocated blocks held (they are not zeroed).
pub fn xfs_cow_stage(cx: &mut Cx, lblk: u64, n: u64) {
    let bb = cx.blkbits;
    cx.cow_write(lblk << bb, n << bb, TAG_STALE);
}

/// xfs_reflink_allocate_cow() for a direct write (convert_now): trims `imap` to the shared (or
/// unshared) run at its start; if that run must be CoWed, allocates written CoW-fork blocks for it
/// and returns them as the CoW mapping. Ok(None): the start of `imap` is not shared.
pub fn xfs_reflink_allocate_cow(cx: &mut Cx, imap: &mut Imap) -> Result<Option<Imap>, i64> {
    const F: &str = "xfs_reflink_allocate_cow";
    cx.enter(
        F,
        &[
            ("offset_fsb", imap.startoff as i64),
            ("count_fsb", imap.blockcount as i64),
        ],
    );
    // xfs_find_trim_cow_extent(): a CoW fork extent at the start is used as it is (trimmed).
    let start = imap.startoff;
    let (found, n) = xfs_cow_run(cx, start, imap.blockcount);
    imap.blockcount = n;
    if found {
        cx.ret(F, 0);
        return Ok(Some(Imap {
            startoff: start,
            blockcount: n,
            kind: Extent::Written,
            extent: cx.blk(start).extent,
        }));
    }
    // Otherwise trim to the CoW fork hole, then xfs_bmap_trim_cow(): always-CoW inodes CoW any
    // real extent whole; reflink inodes trim around the shared region
    // (xfs_reflink_trim_around_shared). Holes, unwritten and delalloc are never shared.
    let first = block_needs_cow(cx, start);
    let mut n = 1;
    while n < imap.blockcount && block_needs_cow(cx, start + n) == first {
        n += 1;
    }
    imap.blockcount = n;
    if !first {
        cx.ret(F, 0);
        return Ok(None);
    }
    // Fill the CoW fork hole (xfs_reflink_fill_cow_hole), converted to written at once
    // (convert_now for direct I/O).
    if let Some(e) = cx.fault(Site::XfsIomapBegin) {
        cx.decide("xfs_reflink_allocate_cow: CoW allocation failed");
        return Err(cx.ret(F, e));
    }
    xfs_cow_stage(cx, start, n);
    let id = cx.new_extent_id();
    cx.ret(F, 0);
    Ok(Some(Imap {
        startoff: start,
        blockcount: n,
        kind: Extent::Written,
        extent: id,
    }))
}

/// Move the staged data of [lblk, lblk + n) into the data fork (one new extent, written,
/// unshared) and drop it from the CoW fork.
fn remap_blocks(cx: &mut Cx, lblk: u64, n: u64) {
    let id = cx.new_extent_id();
    let spb = cx.bs / SECTOR;
    for b in lblk..lblk + n {
        if !xfs_cow_staged(cx, b) {
            continue;
        }
        let a = (b * spb) as usize;
        for s in a..(a + spb as usize).min(cx.disk.len()) {
            cx.disk[s] = cx.cow[s];
            cx.cow[s] = COW_NONE;
        }
        cx.set_blk(b, Blk::new(Extent::Written, id));
    }
}

/// xfs_reflink_end_cow(): remap the CoW staging extents over [offset, offset + count), one
/// transaction per (model: contiguous run of) CoW extent. A failing transaction stops the walk; what was remapped stays remapped.
pub fn xfs_reflink_end_cow(cx: &mut Cx, offset: u64, count: u64) -> i64 {
    const F: &str = "xfs_reflink_end_cow";
    cx.enter(F, &[("offset", offset as i64), ("count", count as i64)]);
    let bb = cx.blkbits;
    let (mut b, end) = (offset >> bb, (offset + count).div_ceil(cx.bs));
    while b < end {
        if !xfs_cow_staged(cx, b) {
            b += 1;
            continue;
        }
        let mut n = 1;
        while b + n < end && xfs_cow_staged(cx, b + n) {
            n += 1;
        }
        if let Some(e) = cx.fault(Site::XfsEndIo) {
            cx.decide("xfs_reflink_end_cow: remap transaction failed");
            return cx.ret(F, e);
        }
        remap_blocks(cx, b, n);
        b += n;
    }
    cx.ret(F, 0)
}

/// xfs_reflink_end_atomic_cow() (6.16+): remap the whole range in one transaction; on error
/// nothing is remapped (the staging blocks stay in the CoW fork until garbage collection).
pub fn xfs_reflink_end_atomic_cow(cx: &mut Cx, offset: u64, count: u64) -> i64 {
    const F: &str = "xfs_reflink_end_atomic_cow";
    cx.enter(F, &[("offset", offset as i64), ("count", count as i64)]);
    if let Some(e) = cx.fault(Site::XfsEndIo) {
        cx.decide("xfs_reflink_end_atomic_cow: remap transaction failed, nothing remapped");
        return cx.ret(F, e);
    }
    let bb = cx.blkbits;
    let (b, end) = (offset >> bb, (offset + count).div_ceil(cx.bs));
    remap_blocks(cx, b, end - b);
    cx.atomic_remaps += 1;
    cx.ret(F, 0)
}
