// SPDX-License-Identifier: GPL-2.0-only
//! block/fops.c (placeholder until the block-device model lands).

use crate::errno::*;
use crate::include::linux::fs::{IovIter, Kiocb};
use crate::model::*;

pub fn blkdev_open_can_atomic(_cx: &mut Cx, _o_direct: bool) -> bool {
    false
}
pub fn bdev_statx_atomic(_cx: &Cx) -> (u32, u32) {
    (0, 0)
}
pub fn blkdev_write_iter(cx: &mut Cx, _ki: &mut Kiocb, _iter: &mut IovIter) -> i64 {
    cx.note("block device not modelled yet");
    -EOPNOTSUPP
}
