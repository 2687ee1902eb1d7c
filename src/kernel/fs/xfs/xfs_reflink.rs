// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_reflink.c: CoW fork allocation for direct writes (xfs_reflink_allocate_cow with
//! xfs_bmap_trim_cow / xfs_reflink_trim_around_shared) and the remaps at I/O completion
//! (xfs_reflink_end_cow, and 6.16+ xfs_reflink_end_atomic_cow).

use super::xfs_iomap::Imap;
use super::*;
use crate::model::*;
use crate::scenario::{CowExtent, Extent, PageState, Site, DEFAULT_COWEXTSZ, PAGE_SIZE, SECTOR};

/// `cx.cow` value of a sector whose block has no CoW-fork extent.
pub const COW_NONE: u32 = u32::MAX;

/// The CoW fork as the write finds it: the scenario's CoW fork at rest (`World::cow`: delalloc
/// reservations and unwritten preallocations left by earlier writes; empty by default). An
/// unwritten preallocation's blocks hold whatever the allocator gave them (stale data).
pub fn xfs_cow_fork_init(cx: &mut Cx) {
    for s in cx.cow.iter_mut() {
        *s = COW_NONE;
    }
    let nblocks = (cx.nsect() as u64 * SECTOR / cx.bs) as usize;
    cx.cow_kind = vec![Extent::Hole; nblocks];
    let bb = cx.blkbits;
    for (i, c) in cx.s.world.cow.iter().enumerate().take(nblocks) {
        match c {
            CowExtent::None => {}
            CowExtent::Delalloc => cx.cow_kind[i] = Extent::Delalloc,
            CowExtent::Unwritten => {
                cx.cow_kind[i] = Extent::Unwritten;
                cx.cow_write((i as u64) << bb, cx.bs, TAG_STALE);
            }
        }
    }
    // A dirty page over a block that must be CoWed was written through the CoW fork: the
    // buffered write (or the page_mkwrite of a mapped store) reserved delalloc blocks there
    // (xfs_buffered_write_iomap_begin: xfs_bmap_trim_cow -> allocfork = XFS_COW_FORK; on an
    // always-CoW inode holes too), so the reservation exists whether or not the scenario lists it.
    // Its cowextsize tail (xfs_bmapi_reserve_delalloc, use_cowextszhint) exists only when listed:
    // later writes may have consumed it.
    let spp = (PAGE_SIZE / cx.bs).max(1);
    for p in 0..cx.pages.len() {
        if !matches!(cx.pages[p], PageState::Dirty | PageState::MappedDirty) {
            continue;
        }
        let first = p as u64 * PAGE_SIZE / cx.bs;
        for b in first..first + spp {
            let hole_on_always_cow = xfs_is_always_cow_inode(cx) && cx.blk(b).kind == Extent::Hole;
            if (b as usize) < nblocks
                && cx.cow_kind[b as usize] == Extent::Hole
                && (block_needs_cow(cx, b) || hole_on_always_cow)
            {
                cx.cow_kind[b as usize] = Extent::Delalloc;
            }
        }
    }
}

/// The CoW-fork state of block `lblk` (Hole: no CoW extent).
pub fn xfs_cow_kind(cx: &Cx, lblk: u64) -> Extent {
    cx.cow_kind
        .get(lblk as usize)
        .copied()
        .unwrap_or(Extent::Hole)
}

fn set_cow_kind(cx: &mut Cx, lblk: u64, k: Extent) {
    if let Some(x) = cx.cow_kind.get_mut(lblk as usize) {
        *x = k;
    }
}

/// Has block `lblk` written CoW staging blocks (a write in progress, remapped at end_io)?
pub fn xfs_cow_staged(cx: &Cx, lblk: u64) -> bool {
    xfs_cow_kind(cx, lblk) == Extent::Written
}

/// The CoW fork at `lblk`: (state, length of the run of blocks in that state), at most `max`
/// blocks (xfs_iext_lookup_extent + xfs_trim_extent; a run of one state is one extent: the model
/// allocates CoW extents physically contiguous, see the module comment of fs/xfs).
pub fn xfs_cow_run(cx: &Cx, lblk: u64, max: u64) -> (Extent, u64) {
    let k = xfs_cow_kind(cx, lblk);
    let mut n = 1;
    while n < max && xfs_cow_kind(cx, lblk + n) == k {
        n += 1;
    }
    (k, n)
}

/// The whole CoW extent containing `lblk` (not trimmed): (first block, length).
fn cow_extent_around(cx: &Cx, lblk: u64) -> (u64, u64) {
    let k = xfs_cow_kind(cx, lblk);
    let mut a = lblk;
    while a > 0 && xfs_cow_kind(cx, a - 1) == k {
        a -= 1;
    }
    let mut e = lblk + 1;
    while (e as usize) < cx.cow_kind.len() && xfs_cow_kind(cx, e) == k {
        e += 1;
    }
    (a, e - a)
}

/// xfs_get_cowextsz_hint(): the inode's cowextsize hint, else XFS_DEFAULT_COWEXTSZ_HINT.
pub fn xfs_get_cowextsz_hint(cx: &Cx) -> u64 {
    match cx.s.world.cowextsize {
        0 => DEFAULT_COWEXTSZ,
        n => n as u64,
    }
}

/// xfs_bmapi_write(XFS_BMAPI_COWFORK | XFS_BMAPI_PREALLOC) over the CoW-fork hole
/// [lblk, lblk + n): xfs_bmap_compute_alignments() aligns every CoW-fork allocation to the
/// cowextsize hint (xfs_bmap_extsize_align, bounded by the neighbouring CoW extents), so the new
/// unwritten extent can start before and end after the request: the speculative preallocation.
/// xfs_bmapi_trim_map() returns only the requested part. The model's allocator never fails part
/// way (no fragmentation), so the returned mapping is exactly the request.
pub fn xfs_bmapi_write_cow(cx: &mut Cx, lblk: u64, n: u64) {
    let e = xfs_get_cowextsz_hint(cx);
    let (lo, hi) = (
        lblk - lblk % e,
        ((lblk + n).div_ceil(e) * e).min(cx.cow_kind.len() as u64),
    );
    let mut a = lblk;
    while a > lo && xfs_cow_kind(cx, a - 1) == Extent::Hole {
        a -= 1;
    }
    let mut end = lblk + n;
    while end < hi && xfs_cow_kind(cx, end) == Extent::Hole {
        end += 1;
    }
    // Trace only (not a decision: with the default hint nearly every CoW allocation
    // preallocates, and signatures must not change with it).
    cx.enter(
        "xfs_bmapi_write(COWFORK)",
        &[
            ("offset_fsb", lblk as i64),
            ("count_fsb", n as i64),
            ("prealloc_start", a as i64),
            ("prealloc_end", end as i64),
        ],
    );
    let bb = cx.blkbits;
    for b in a..end.max(lblk + n) {
        set_cow_kind(cx, b, Extent::Unwritten);
        cx.cow_write(b << bb, cx.bs, TAG_STALE);
    }
    cx.ret("xfs_bmapi_write(COWFORK)", 0);
}

/// xfs_reflink_convert_cow_locked(ip, offset_fsb, count_fsb): every unwritten CoW extent in the
/// range becomes written ("write in progress"). A delalloc extent has br_state XFS_EXT_NORM, so
/// the `br_state == XFS_EXT_NORM` test skips it before the WARN_ON_ONCE(isnullstartblock) could
/// see it (read in 7.3.4): delalloc reservations in the range stay as they are.
pub fn xfs_reflink_convert_cow_locked(cx: &mut Cx, lblk: u64, n: u64) {
    for b in lblk..lblk + n {
        if xfs_cow_kind(cx, b) == Extent::Unwritten {
            set_cow_kind(cx, b, Extent::Written);
        }
    }
}

/// xfs_bmapi_convert_delalloc(ip, XFS_COW_FORK, ...) / the CoW-fork part of
/// xfs_reflink_fill_delalloc: the delalloc reservation containing `lblk` becomes a real,
/// unwritten extent (whole: the model's allocator does not fragment).
pub fn xfs_cow_convert_delalloc(cx: &mut Cx, lblk: u64) {
    let (a, n) = cow_extent_around(cx, lblk);
    let bb = cx.blkbits;
    for b in a..a + n {
        set_cow_kind(cx, b, Extent::Unwritten);
        cx.cow_write(b << bb, cx.bs, TAG_STALE);
    }
}

/// Writeback of a dirty page over a CoW-fork block (xfs_map_blocks uses the CoW fork:
/// xfs_bmapi_convert_delalloc turns a delalloc reservation into unwritten blocks, the page is
/// written there and xfs_reflink_end_cow remaps the block at ioend). Returns true when the block
/// went through the CoW fork (the caller then writes the page as a new, unshared extent).
pub fn xfs_writeback_cow_block(cx: &mut Cx, lblk: u64) -> bool {
    match xfs_cow_kind(cx, lblk) {
        Extent::Hole => false,
        k => {
            if k == Extent::Delalloc {
                xfs_cow_convert_delalloc(cx, lblk);
            }
            set_cow_kind(cx, lblk, Extent::Hole);
            let spb = (cx.bs / SECTOR) as usize;
            let a = lblk as usize * spb;
            let e = (a + spb).min(cx.cow.len());
            cx.cow[a.min(e)..e].fill(COW_NONE);
            true
        }
    }
}

/// The O10 check on a mapping ->iomap_begin returns with IOMAP_F_SHARED: iomap writes through it
/// into CoW staging blocks, and end_io remaps only written CoW extents
/// (xfs_reflink_end_cow_extent_locked skips the rest), so every block of it must be a written
/// CoW-fork extent -- what 8d7bba1e8314's DEBUG assertion xfs_check_atomic_cow_conversion checks.
pub fn xfs_check_cow_mapping(cx: &mut Cx, cmap: &Imap) {
    for b in cmap.startoff..cmap.end() {
        let why = match xfs_cow_kind(cx, b) {
            Extent::Written => continue,
            Extent::Delalloc => "CoW mapping over a delalloc reservation",
            Extent::Unwritten => "CoW mapping over unwritten CoW blocks",
            Extent::Hole => "CoW mapping over a CoW-fork hole",
        };
        if !cx.cow_errors.contains(&why) {
            cx.cow_errors.push(why);
        }
    }
}

/// xfs_reflink_allocate_cow() for a direct write (convert_now), read in 7.2.12 and 7.3.4 (the
/// fill_cow_hole / fill_delalloc / convert_unwritten structure is older than 6.12; taken as the
/// same in every modelled version, 7.3's re-read of a racing data fork aside -- races are not
/// modelled):
/// xfs_find_trim_cow_extent() first -- a CoW-fork extent at the start of `imap` is used whatever
/// the data fork holds there ("even if the extent is not shared we might have a preallocation");
/// a delalloc one is filled (xfs_reflink_fill_delalloc); otherwise `imap` is trimmed to the
/// CoW-fork hole and xfs_bmap_trim_cow decides whether it must be CoWed (xfs_reflink_fill_cow_hole
/// allocates it). xfs_reflink_convert_unwritten() then converts the unwritten CoW extents over
/// the whole of `imap` -- not only the returned `cmap` -- and trims `cmap` to `imap`.
/// Ok(None): the start of `imap` is not CoWed.
pub fn xfs_reflink_allocate_cow(cx: &mut Cx, imap: &mut Imap) -> Result<Option<Imap>, i64> {
    const F: &str = "xfs_reflink_allocate_cow";
    cx.enter(
        F,
        &[
            ("offset_fsb", imap.startoff as i64),
            ("count_fsb", imap.blockcount as i64),
        ],
    );
    let start = imap.startoff;
    let mut k = xfs_cow_kind(cx, start);
    if k == Extent::Hole {
        // Trim imap to the CoW-fork hole, then xfs_bmap_trim_cow(): always-CoW inodes CoW any
        // real extent whole; reflink inodes trim around the shared region
        // (xfs_reflink_trim_around_shared). Holes, unwritten and delalloc are never shared.
        let (_, hole) = xfs_cow_run(cx, start, imap.blockcount);
        let first = block_needs_cow(cx, start);
        let mut n = 1;
        while n < hole && block_needs_cow(cx, start + n) == first {
            n += 1;
        }
        imap.blockcount = n;
        if !first {
            cx.ret(F, 0);
            return Ok(None);
        }
        // xfs_reflink_fill_cow_hole(): transaction, then xfs_bmapi_write on the CoW fork.
        if let Some(e) = cx.fault(Site::XfsIomapBegin) {
            cx.decide("xfs_reflink_allocate_cow: CoW allocation failed");
            return Err(cx.ret(F, e));
        }
        xfs_bmapi_write_cow(cx, start, n);
        k = Extent::Unwritten;
    } else if k == Extent::Delalloc {
        // xfs_find_trim_cow_extent() trims imap to the delalloc extent; then
        // xfs_reflink_fill_delalloc(): the reservation becomes real unwritten blocks.
        let (_, dn) = xfs_cow_run(cx, start, imap.blockcount);
        imap.blockcount = dn;
        cx.decide(
            "xfs_reflink_allocate_cow: delalloc CoW reservation -> xfs_reflink_fill_delalloc",
        );
        if let Some(e) = cx.fault(Site::XfsIomapBegin) {
            cx.decide("xfs_reflink_allocate_cow: CoW allocation failed");
            return Err(cx.ret(F, e));
        }
        xfs_cow_convert_delalloc(cx, start);
        k = Extent::Unwritten;
    }
    // xfs_reflink_convert_unwritten(): cmap (the extent at the start) trimmed to imap; the
    // conversion covers all of imap.
    let (_, n) = xfs_cow_run(cx, start, imap.blockcount);
    if k == Extent::Unwritten {
        xfs_reflink_convert_cow_locked(cx, start, imap.blockcount);
    }
    let cmap = Imap {
        startoff: start,
        blockcount: n,
        kind: Extent::Written,
        extent: cx.new_extent_id(),
    };
    cx.ret(F, 0);
    Ok(Some(cmap))
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
        set_cow_kind(cx, b, Extent::Hole);
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
