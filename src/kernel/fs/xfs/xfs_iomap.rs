// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_iomap.c: xfs_direct_write_iomap_begin (xfs_direct_write_iomap_ops), the 6.16+
//! xfs_atomic_write_cow_iomap_begin (xfs_atomic_write_cow_iomap_ops), xfs_iomap_write_direct,
//! xfs_iomap_write_unwritten, and the HW-atomic feasibility test (docs/model.md §6.5).
//! Neither ops table has an ->iomap_end in any version read (6.13, 6.18).

use super::xfs_reflink::*;
use super::*;
use crate::errno::*;
use crate::kernel::fs::iomap::*;
use crate::model::*;
use crate::scenario::{Extent, Site, PAGE_SIZE};
use crate::variant::{AtomicLenRule, XfsAtomic};

/// struct xfs_bmbt_irec as the model sees it: a run of file blocks with one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Imap {
    pub startoff: u64,
    pub blockcount: u64,
    /// Hole / Delalloc (no real blocks), Unwritten or Written.
    pub kind: Extent,
    /// Physical extent number (0 for holes and delalloc).
    pub extent: u32,
}

impl Imap {
    pub fn end(&self) -> u64 {
        self.startoff + self.blockcount
    }
    /// br_startblock: HOLESTARTBLOCK (-2), DELAYSTARTBLOCK (-1), else the physical block
    /// (extents are aligned to their file offset in the model, see the module comment).
    fn startblock(&self) -> u64 {
        match self.kind {
            Extent::Hole => u64::MAX - 1,
            Extent::Delalloc => u64::MAX,
            _ => ((self.extent as u64) << 20) + self.startoff,
        }
    }
}

/// xfs_bmapi_read(ip, offset_fsb, len, &imap, &nimaps = 1): the data-fork run at offset_fsb,
/// trimmed to `len` blocks.
pub fn xfs_bmapi_read(cx: &Cx, offset_fsb: u64, len: u64) -> Imap {
    let first = cx.blk(offset_fsb);
    let real = matches!(first.kind, Extent::Written | Extent::Unwritten);
    let mut n = 1;
    while n < len {
        let b = cx.blk(offset_fsb + n);
        if b.kind != first.kind || (real && b.extent != first.extent) {
            break;
        }
        n += 1;
    }
    Imap {
        startoff: offset_fsb,
        blockcount: n,
        kind: first.kind,
        extent: if real { first.extent } else { 0 },
    }
}

/// xfs_iomap_end_fsb(): the first block past [offset, offset + length).
fn xfs_iomap_end_fsb(cx: &Cx, offset: u64, length: u64) -> u64 {
    (offset + length).div_ceil(cx.bs)
}

/// imap_spans_range(): the mapping covers [offset_fsb, end_fsb).
fn imap_spans_range(imap: &Imap, offset_fsb: u64, end_fsb: u64) -> bool {
    imap.startoff <= offset_fsb && imap.end() >= end_fsb
}

/// IS_ALIGNED(x, a) (include/vdso/align.h): the mask test `(x & (a - 1)) == 0`, which is a
/// divisibility test only for a power-of-two `a`. It is not one here: after a short bio the next
/// mapping of an atomic write is the rest of the range (3 blocks of 4, say), and the kernel tests
/// that count with the mask, not with a modulo.
fn is_aligned(x: u64, a: u64) -> bool {
    x & a.wrapping_sub(1) == 0
}

/// br_startblock of `imap` as the kernel has it: where a real run measured the placement of the
/// world's extents at rest ([`ModelOpts::placement`]: live's FIEMAP after the set-up), the disk
/// block of the mapping's first file block; else [`Imap::startblock`], the model's assumption.
/// FIEMAP gives the linear block, the kernel tests the AG-encoded one (agno << agblklog | agbno):
/// the two agree in alignment when the AG size is a multiple of the write's blocks, as on the
/// lab's disks (the C reproducer's placement check, tools/src/live/repro_fault.rs, assumes it
/// too).
fn startblock(cx: &Cx, imap: &Imap) -> u64 {
    let real = matches!(imap.kind, Extent::Written | Extent::Unwritten);
    match cx.opts.placement {
        Some(p) if real && imap.extent <= cx.rest_extents => {
            p.of(imap.startoff).unwrap_or_else(|| imap.startblock())
        }
        _ => imap.startblock(),
    }
}

/// xfs_bmap_hw_atomic_write_possible() (6.16+): naturally aligned start block
/// (IS_ALIGNED(br_startblock, br_blockcount)), one mapping over the whole range, length within the
/// buffer target's atomic unit max.
fn xfs_bmap_hw_atomic_write_possible(cx: &Cx, imap: &Imap, offset_fsb: u64, end_fsb: u64) -> bool {
    let len = (end_fsb - offset_fsb) << cx.blkbits;
    if !is_aligned(startblock(cx, imap), imap.blockcount) {
        return false;
    }
    if !imap_spans_range(imap, offset_fsb, end_fsb) {
        return false;
    }
    len <= xfs_buftarg_awu(cx).1
}

/// imap_needs_alloc(): holes and delalloc need real blocks for a direct write.
fn imap_needs_alloc(imap: &Imap) -> bool {
    matches!(imap.kind, Extent::Hole | Extent::Delalloc)
}

/// xfs_bmbt_to_iomap().
fn xfs_bmbt_to_iomap(cx: &Cx, imap: &Imap, iomap_flags: u32) -> Iomap {
    let kind = match imap.kind {
        Extent::Hole => IomapType::Hole,
        Extent::Delalloc => IomapType::Delalloc,
        Extent::Unwritten => IomapType::Unwritten,
        Extent::Written => IomapType::Mapped,
    };
    Iomap {
        offset: imap.startoff << cx.blkbits,
        length: imap.blockcount << cx.blkbits,
        kind,
        flags: iomap_flags,
    }
}

/// xfs_iomap_write_direct(): allocate the hole/delalloc run at offset_fsb (at most count_fsb
/// blocks) as one new extent. XFS_BMAPI_PREALLOC: always unwritten for a non-DAX direct write,
/// inside or beyond EOF (an earlier summary's "unwritten for holes inside EOF" is narrower than the
/// code; docs/model.md §10).
fn xfs_iomap_write_direct(cx: &mut Cx, offset_fsb: u64, count_fsb: u64) -> Result<Imap, i64> {
    const F: &str = "xfs_iomap_write_direct";
    cx.enter(
        F,
        &[
            ("offset_fsb", offset_fsb as i64),
            ("count_fsb", count_fsb as i64),
        ],
    );
    // xfs_trans_alloc_inode() / xfs_bmapi_write(): ENOSPC, EDQUOT, EIO, ENOMEM.
    if let Some(e) = cx.fault(Site::XfsIomapBegin) {
        cx.decide("xfs_iomap_write_direct: allocation failed");
        return Err(cx.ret(F, e));
    }
    let mut n = 1;
    while n < count_fsb && imap_needs_alloc(&xfs_bmapi_read(cx, offset_fsb + n, 1)) {
        n += 1;
    }
    let id = cx.new_extent_id();
    let bb = cx.blkbits;
    for b in offset_fsb..offset_fsb + n {
        cx.set_blk(b, Blk::new(Extent::Unwritten, id));
        cx.disk_write(b << bb, cx.bs, TAG_STALE);
    }
    cx.ret(F, 0);
    Ok(Imap {
        startoff: offset_fsb,
        blockcount: n,
        kind: Extent::Unwritten,
        extent: id,
    })
}

/// xfs_direct_write_iomap_begin() (docs/model.md §6.5; read in 6.13 and 6.18).
pub fn xfs_direct_write_iomap_begin(
    cx: &mut Cx,
    offset: u64,
    length: u64,
    flags: u32,
) -> Result<Iomap, i64> {
    const F: &str = "xfs_direct_write_iomap_begin";
    cx.enter(
        F,
        &[
            ("offset", offset as i64),
            ("length", length as i64),
            ("iomap_flags", flags as i64),
        ],
    );
    if cx.s.world.mount.shutdown {
        return Err(cx.ret(F, -EIO));
    }
    let mut length = length;
    let mut iomap_flags = 0;
    if offset + length > cx.inode.i_size {
        iomap_flags |= IOMAP_F_DIRTY;
    }
    let atomic = flags & IOMAP_ATOMIC != 0;
    // "HW-offload atomics are always used in this path" (6.16+, 370a6de7651b). The model sets it
    // wherever iomap knows the flag (6.15+), so 6.15's one-block XFS atomics also get REQ_ATOMIC;
    // 6.13/6.14 iomap takes REQ_ATOMIC from IOMAP_ATOMIC itself.
    if atomic && cx.v.atomic_len == AtomicLenRule::CoversIter {
        iomap_flags |= IOMAP_F_ATOMIC_BIO;
    }
    // The HW/SW split with -ENOPROTOOPT exists from 6.16 (xfs_file_dio_write_atomic retries).
    let hw_checks = atomic && cx.v.xfs_atomic == XfsAtomic::HwSw;
    let bb = cx.blkbits;
    let offset_fsb = offset >> bb;
    let mut end_fsb = xfs_iomap_end_fsb(cx, offset, length);
    let orig_end_fsb = end_fsb;
    // xfs_ilock_for_iomap(): the extent list is always in core in the model (no NOWAIT -EAGAIN).
    let mut imap = xfs_bmapi_read(cx, offset_fsb, end_fsb - offset_fsb);

    // imap_needs_cow(): every write to a CoW inode goes through xfs_reflink_allocate_cow.
    if xfs_is_cow_inode(cx) {
        if flags & IOMAP_NOWAIT != 0 {
            cx.decide("xfs_direct_write_iomap_begin: NOWAIT on a CoW inode -> -EAGAIN");
            return Err(cx.ret(F, -EAGAIN));
        }
        match xfs_reflink_allocate_cow(cx, &mut imap) {
            Err(e) => return Err(cx.ret(F, e)),
            Ok(Some(cmap)) => {
                if hw_checks && !xfs_bmap_hw_atomic_write_possible(cx, &cmap, offset_fsb, end_fsb) {
                    cx.decide(
                        "xfs_direct_write_iomap_begin: CoW range not HW-atomic -> -ENOPROTOOPT",
                    );
                    return Err(cx.ret(F, -ENOPROTOOPT));
                }
                xfs_check_cow_mapping(cx, &cmap);
                // out_found_cow: only IOMAP_F_SHARED (no F_DIRTY, no F_ATOMIC_BIO, as in 6.18):
                // an atomic write over a shared range is written as ordinary bios into the CoW
                // staging blocks and made visible by the atomic remap at end_io.
                cx.decide("xfs_direct_write_iomap_begin: shared extent -> CoW mapping");
                let m = xfs_bmbt_to_iomap(cx, &cmap, IOMAP_F_SHARED);
                cx.ret(F, 0);
                return Ok(m);
            }
            Ok(None) => {
                end_fsb = imap.end();
                length = (end_fsb << bb) - offset;
            }
        }
    }

    let needs_alloc = imap_needs_alloc(&imap);
    if hw_checks {
        // Allocating more than one block could give several extents, so no REQ_ATOMIC.
        if needs_alloc && orig_end_fsb - offset_fsb > 1 {
            cx.decide("xfs_direct_write_iomap_begin: atomic write needs a multi-block allocation -> -ENOPROTOOPT");
            return Err(cx.ret(F, -ENOPROTOOPT));
        }
        if !xfs_bmap_hw_atomic_write_possible(cx, &imap, offset_fsb, orig_end_fsb) {
            cx.decide("xfs_direct_write_iomap_begin: mapping not HW-atomic -> -ENOPROTOOPT");
            return Err(cx.ret(F, -ENOPROTOOPT));
        }
    }

    if needs_alloc {
        // allocate_blocks:
        if flags & (IOMAP_NOWAIT | IOMAP_OVERWRITE_ONLY) != 0 {
            cx.decide("xfs_direct_write_iomap_begin: allocation needed under NOWAIT/OVERWRITE_ONLY -> -EAGAIN");
            return Err(cx.ret(F, -EAGAIN));
        }
        length = length.min(1024 * PAGE_SIZE);
        end_fsb = xfs_iomap_end_fsb(cx, offset, length);
        if offset + length > cx.inode.i_size {
            // xfs_iomap_eof_align_last_fsb(): no extent size hint or stripe alignment modelled.
        } else {
            end_fsb = end_fsb.min(imap.end());
        }
        let new = match xfs_iomap_write_direct(cx, offset_fsb, end_fsb - offset_fsb) {
            Ok(m) => m,
            Err(e) => return Err(cx.ret(F, e)),
        };
        let m = xfs_bmbt_to_iomap(cx, &new, iomap_flags | IOMAP_F_NEW);
        cx.ret(F, 0);
        return Ok(m);
    }

    // NOWAIT and OVERWRITE_ONLY need one mapping over the whole request.
    if flags & (IOMAP_NOWAIT | IOMAP_OVERWRITE_ONLY) != 0
        && !imap_spans_range(&imap, offset_fsb, end_fsb)
    {
        cx.decide("xfs_direct_write_iomap_begin: NOWAIT/OVERWRITE_ONLY mapping does not span the write -> -EAGAIN");
        return Err(cx.ret(F, -EAGAIN));
    }
    // OVERWRITE_ONLY cannot convert unwritten extents that need sub-block zeroing.
    if flags & IOMAP_OVERWRITE_ONLY != 0
        && imap.kind != Extent::Written
        && (offset | length) & (cx.bs - 1) != 0
    {
        cx.decide("xfs_direct_write_iomap_begin: OVERWRITE_ONLY over unwritten with sub-block zeroing -> -EAGAIN");
        return Err(cx.ret(F, -EAGAIN));
    }
    let m = xfs_bmbt_to_iomap(cx, &imap, iomap_flags);
    cx.trace.push(Ev::Val("iomap.offset", m.offset as i64));
    cx.trace.push(Ev::Val("iomap.length", m.length as i64));
    cx.ret(F, 0);
    Ok(m)
}

/// xfs_atomic_write_cow_iomap_begin() (6.16+, the software atomic path): stage the range in
/// written CoW-fork blocks and return them as IOMAP_F_SHARED, without IOMAP_F_ATOMIC_BIO.
/// Order as in 6.18: shutdown, no reflink (-EINVAL with an ASSERT), NOWAIT (-EAGAIN).
pub fn xfs_atomic_write_cow_iomap_begin(
    cx: &mut Cx,
    offset: u64,
    length: u64,
    flags: u32,
) -> Result<Iomap, i64> {
    const F: &str = "xfs_atomic_write_cow_iomap_begin";
    cx.enter(
        F,
        &[
            ("offset", offset as i64),
            ("length", length as i64),
            ("iomap_flags", flags as i64),
        ],
    );
    if cx.s.world.mount.shutdown {
        return Err(cx.ret(F, -EIO));
    }
    // xfs_can_sw_atomic_write(): 6.18 tests reflink first, then NOWAIT (docs/model.md §10).
    if !xfs_has_reflink(cx) {
        cx.decide("xfs_atomic_write_cow_iomap_begin: no reflink -> -EINVAL");
        return Err(cx.ret(F, -EINVAL));
    }
    if flags & IOMAP_NOWAIT != 0 {
        cx.decide(
            "xfs_atomic_write_cow_iomap_begin: NOWAIT -> -EAGAIN (blocks are always allocated)",
        );
        return Err(cx.ret(F, -EAGAIN));
    }
    let bb = cx.blkbits;
    let offset_fsb = offset >> bb;
    let end_fsb = (offset + length).div_ceil(cx.bs);
    let count_fsb = end_fsb - offset_fsb;
    // retry: (after convert_delay)
    let mut converted_delay = false;
    let cmap = loop {
        let (k, n) = xfs_cow_run(cx, offset_fsb, count_fsb);
        match k {
            Extent::Delalloc if cx.v.xfs_atomic_cow_convert_delay && !converted_delay => {
                // convert_delay: xfs_bmapi_convert_delalloc(XFS_COW_FORK), then retry.
                cx.decide("xfs_atomic_write_cow_iomap_begin: delalloc CoW reservation -> convert_delay, retry");
                if let Some(e) = cx.fault(Site::XfsIomapBegin) {
                    cx.decide("xfs_atomic_write_cow_iomap_begin: CoW allocation failed");
                    return Err(cx.ret(F, e));
                }
                xfs_cow_convert_delalloc(cx, offset_fsb);
                converted_delay = true;
            }
            Extent::Hole => {
                // The CoW-fork hole up to the next CoW extent: transaction, then
                // xfs_bmapi_write(COWFORK | PREALLOC | EXTSZALIGN), unwritten.
                if let Some(e) = cx.fault(Site::XfsIomapBegin) {
                    cx.decide("xfs_atomic_write_cow_iomap_begin: CoW allocation failed");
                    return Err(cx.ret(F, e));
                }
                xfs_bmapi_write_cow(cx, offset_fsb, n);
                cx.decide("xfs_atomic_write_cow_iomap_begin: range staged in the CoW fork");
                break (Extent::Unwritten, n, false);
            }
            // found: the extent at the offset, trimmed to the write range. Before 8d54eacd82a0 a
            // delalloc extent arrives here too: its br_state is XFS_EXT_NORM, so it is returned
            // as it is (a DELALLOC mapping).
            k => {
                if k == Extent::Delalloc {
                    cx.decide("xfs_atomic_write_cow_iomap_begin: delalloc CoW extent returned as the mapping");
                }
                break (k, n, true);
            }
        }
    };
    let (k, n, found) = cmap;
    if k == Extent::Unwritten {
        // found: xfs_reflink_convert_cow_locked() -- 8d7bba1e8314: exactly cmap; before: from the
        // offset over the whole write range (count_fsb; in the allocation path the hole's length).
        let conv = if cx.v.xfs_atomic_cow_trim || !found {
            n
        } else {
            count_fsb
        };
        if conv > n {
            cx.decide(
                "xfs_atomic_write_cow_iomap_begin: converts the write range, not the mapping",
            );
        }
        xfs_reflink_convert_cow_locked(cx, offset_fsb, conv);
    }
    let cmap = Imap {
        startoff: offset_fsb,
        blockcount: n,
        kind: if k == Extent::Delalloc {
            Extent::Delalloc
        } else {
            Extent::Written
        },
        extent: cx.new_extent_id(),
    };
    xfs_check_cow_mapping(cx, &cmap);
    let m = xfs_bmbt_to_iomap(cx, &cmap, IOMAP_F_SHARED);
    cx.ret(F, 0);
    Ok(m)
}

/// ->iomap_end of xfs_direct_write_iomap_ops / xfs_atomic_write_cow_iomap_ops: none.
pub fn xfs_iomap_end(
    _cx: &mut Cx,
    _ops: IomapOps,
    _pos: u64,
    _len: u64,
    _written: u64,
    _flags: u32,
    _m: &Iomap,
) -> Option<i64> {
    None
}

/// xfs_iomap_write_unwritten(ip, offset, count, update_isize = true): convert the range to
/// written, one transaction per extent; each step moves i_size up to what it converted. A failing
/// transaction stops the walk.
pub fn xfs_iomap_write_unwritten(cx: &mut Cx, offset: u64, count: u64) -> i64 {
    const F: &str = "xfs_iomap_write_unwritten";
    cx.enter(F, &[("offset", offset as i64), ("count", count as i64)]);
    let bb = cx.blkbits;
    let (mut b, end) = (offset >> bb, (offset + count).div_ceil(cx.bs));
    while b < end {
        let imap = xfs_bmapi_read(cx, b, end - b);
        if let Some(e) = cx.fault(Site::XfsEndIo) {
            cx.decide("xfs_iomap_write_unwritten: conversion transaction failed");
            return cx.ret(F, e);
        }
        if imap.kind == Extent::Unwritten {
            for x in imap.startoff..imap.end() {
                let mut k = cx.blk(x);
                k.kind = Extent::Written;
                cx.set_blk(x, k);
            }
        }
        let isize = (imap.end() << bb).min(offset + count);
        if isize > cx.inode.i_size {
            cx.inode.i_size = isize;
        }
        if isize > cx.inode.i_disksize {
            cx.inode.i_disksize = isize;
        }
        b = imap.end();
    }
    cx.ret(F, 0)
}
