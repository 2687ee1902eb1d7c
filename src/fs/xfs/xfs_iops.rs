// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_iops.c and xfs_inode.h: atomic write capability and limits (spec §6.6, §1.4).

use super::*;
use crate::model::Cx;
use crate::variant::XfsAtomic;

/// The software (CoW) atomic write limit in fs blocks: the model's stand-in for the AG `awu_max`
/// (xfs_calc_group_awu_max: limited by the AG size, the log size and the max_atomic_write mount
/// option). A power of two, like the kernel's.
pub const XFS_SW_AWU_MAX_BLOCKS: u64 = 256;

/// xfs_inode_can_atomicwrite() (6.13-6.15): blocksize within the device's atomic unit range.
/// No DAX or reflink test.
fn xfs_inode_can_atomicwrite(cx: &Cx) -> bool {
    let (min, max) = xfs_buftarg_awu(cx);
    cx.bs >= min && cx.bs <= max
}

/// xfs_inode_can_hw_atomic_write() (6.16+): bt_awu_max > 0; 68456d05eb57 (6.17): and not DAX.
pub fn xfs_inode_can_hw_atomic_write(cx: &Cx, dax: bool) -> bool {
    if cx.v.xfs_atomic_before_dax && dax {
        return false;
    }
    xfs_buftarg_awu(cx).1 > 0
}

/// xfs_inode_can_sw_atomic_write() (6.16+): xfs_has_reflink; 68456d05eb57 (6.17): and not DAX.
pub fn xfs_inode_can_sw_atomic_write(cx: &Cx, dax: bool) -> bool {
    if cx.v.xfs_atomic_before_dax && dax {
        return false;
    }
    xfs_has_reflink(cx)
}

/// xfs_get_atomic_write_min() for an inode whose DAX flag is `dax`.
/// 6.13-6.15: blocksize if xfs_inode_can_atomicwrite, else 0.
pub fn xfs_get_atomic_write_min(cx: &Cx, dax: bool) -> u64 {
    match cx.v.xfs_atomic {
        XfsAtomic::None => 0,
        XfsAtomic::OneBlock => {
            if xfs_inode_can_atomicwrite(cx) {
                cx.bs
            } else {
                0
            }
        }
        XfsAtomic::HwSw => {
            if xfs_inode_can_hw_atomic_write(cx, dax) || xfs_inode_can_sw_atomic_write(cx, dax) {
                cx.bs
            } else {
                0
            }
        }
    }
}

/// xfs_get_atomic_write_max(): HW only -> one block; SW capable -> the CoW limit.
pub fn xfs_get_atomic_write_max(cx: &Cx, dax: bool) -> u64 {
    match cx.v.xfs_atomic {
        XfsAtomic::None => 0,
        XfsAtomic::OneBlock => xfs_get_atomic_write_min(cx, dax),
        XfsAtomic::HwSw => {
            if !xfs_inode_can_sw_atomic_write(cx, dax) {
                if xfs_inode_can_hw_atomic_write(cx, dax) {
                    return cx.bs;
                }
                return 0;
            }
            XFS_SW_AWU_MAX_BLOCKS * cx.bs
        }
    }
}
