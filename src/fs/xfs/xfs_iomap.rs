// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs/xfs_iomap.c (placeholder until the XFS model lands).

use crate::errno::*;
use crate::fs::iomap::*;
use crate::model::*;

pub fn xfs_direct_write_iomap_begin(
    _cx: &mut Cx,
    _pos: u64,
    _len: u64,
    _flags: u32,
) -> Result<Iomap, i64> {
    Err(-EOPNOTSUPP)
}
pub fn xfs_atomic_write_cow_iomap_begin(
    _cx: &mut Cx,
    _pos: u64,
    _len: u64,
    _flags: u32,
) -> Result<Iomap, i64> {
    Err(-EOPNOTSUPP)
}
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
