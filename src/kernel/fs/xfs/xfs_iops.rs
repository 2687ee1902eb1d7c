// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_iops.c and xfs_inode.h: atomic write capability and limits
//! (docs/model.md §6.6, §1.4).

use super::*;
use crate::model::Cx;
use crate::variant::XfsAtomic;

/// The software (CoW) atomic write limit in fs blocks: the model's stand-in for
/// xfs_calc_atomic_write_unit_max() (limited by the AG size, the log reservation and the
/// max_atomic_write mount option). Measured by `diofuzz live` on Linux 6.18 (default mkfs.xfs
/// -m reflink=1 of a 512 MiB image, xfs_calc_atomic_write_unit_max trace event): 128 blocks with
/// 1 KiB blocks, 256 blocks with 4 KiB blocks. 2 KiB blocks: 256 (STATX_WRITE_ATOMIC's
/// unit max 524288 on 6.18.44, session 12's `live --worlds file-small-lbs`, mkfs.xfs -b
/// size=2048 on loop devices of 1 and 2 KiB logical blocks; the logical block size changes none
/// of the three).
pub fn xfs_sw_awu_max_blocks(cx: &Cx) -> u64 {
    if cx.blkbits == 10 {
        128
    } else {
        256
    }
}

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
            xfs_sw_awu_max_blocks(cx) * cx.bs
        }
    }
}
