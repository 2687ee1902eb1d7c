// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs: the DIO write path (xfs_file.c), the direct-write and atomic CoW ->iomap_begin
//! (xfs_iomap.c), CoW fork allocation and remapping (xfs_reflink.c), and the atomic write limits
//! (xfs_iops.c / xfs_inode.h), docs/model.md §6.
//!
//! Model conventions: the data fork is the block map of [`crate::model::Cx`] (one `Blk` per fs
//! block, `extent` = the physical extent, `shared` = the block is shared with another file).
//! The CoW fork lives in `cx.cow`: a block is in the CoW fork iff its sectors there hold a data tag
//! (not [`xfs_reflink::COW_NONE`]); bios through an `IOMAP_F_SHARED` mapping write there, and
//! end_io moves the staged data into the data fork. Physical block
//! numbers are `(extent << 20) + logical block`, i.e. every extent is allocated aligned to its file
//! offset, so the HW-atomic alignment test (`IS_ALIGNED(br_startblock, br_blockcount)`, a mask
//! test) never fails for the real extents of a naturally aligned atomic write: its first mapping starts at a
//! multiple of its power-of-two length, and the rest of the range after a short bio (start
//! `base + j`, `2^k - j` blocks) has no bit in common with the mask either. The scenario has no
//! physical misalignment input.
pub mod xfs_file;
pub mod xfs_iomap;
pub mod xfs_iops;
pub mod xfs_reflink;

use crate::model::Cx;
use crate::scenario::Extent;

/// xfs_has_reflink(mp): the filesystem was made with reflink (the mount's feature).
pub fn xfs_has_reflink(cx: &Cx) -> bool {
    cx.s.world.mount.xfs_reflink
}

/// xfs_is_reflink_inode(ip): the inode's REFLINK flag. A block marked shared implies the flag
/// (the kernel sets it before sharing any extent), so the model treats either as the flag.
pub fn xfs_is_reflink_inode(cx: &Cx) -> bool {
    xfs_has_reflink(cx) && (cx.inode.flags.reflink || cx.inode.blocks.iter().any(|b| b.shared))
}

/// xfs_is_always_cow_inode(ip): the debug always_cow knob on a reflink filesystem (6.15+: or a
/// zoned RT inode, not modelled).
pub fn xfs_is_always_cow_inode(cx: &Cx) -> bool {
    cx.s.world.mount.xfs_always_cow && xfs_has_reflink(cx)
}

/// xfs_is_cow_inode(ip) = reflink inode || always-CoW inode.
pub fn xfs_is_cow_inode(cx: &Cx) -> bool {
    xfs_is_reflink_inode(cx) || xfs_is_always_cow_inode(cx)
}

/// IS_DAX(inode).
pub fn is_dax(cx: &Cx) -> bool {
    cx.inode.flags.dax
}

/// The data-fork block must be CoWed by a write (imap_needs_cow + xfs_bmap_trim_cow):
/// always-CoW inodes CoW every real (written or unwritten) extent; reflink inodes CoW written
/// blocks that are shared. Holes and delalloc are never CoWed here, on always-CoW inodes too:
/// xfs_bmap_trim_cow forces `shared` only for `!isnullstartblock(br_startblock)`, and
/// HOLESTARTBLOCK / DELAYSTARTBLOCK are null start blocks; xfs_reflink_trim_around_shared then
/// reports "not shared" for anything not written. xfs_direct_write_iomap_begin therefore
/// allocates a hole in the data fork (xfs_iomap_write_direct), also in always-CoW mode (read in
/// 6.12-6.14, 6.18, 7.1, 7.3.4). Only a CoW-fork extent already at the offset (xfs_find_trim_cow_extent,
/// `found`) gives a CoW mapping over a hole.
pub fn block_needs_cow(cx: &Cx, lblk: u64) -> bool {
    let b = cx.blk(lblk);
    if xfs_is_always_cow_inode(cx) && matches!(b.kind, Extent::Written | Extent::Unwritten) {
        return true;
    }
    xfs_is_reflink_inode(cx) && b.kind == Extent::Written && b.shared
}

/// Buffer-target atomic write unit (bt_awu_min, bt_awu_max) in bytes.
/// 6.13-6.15 (`bt_bdev_awu_min/max`): the device's raw values.
/// 6.16+ (xfs_configure_buftarg_atomic_writes): zeroed unless min <= blocksize <= max.
pub fn xfs_buftarg_awu(cx: &Cx) -> (u64, u64) {
    let d = cx.s.world.device;
    let (min, max) = (d.awu_min as u64, d.awu_max as u64);
    if cx.v.xfs_atomic == crate::variant::XfsAtomic::HwSw
        && (min > max || min > cx.bs || max < cx.bs)
    {
        return (0, 0);
    }
    (min, max)
}
