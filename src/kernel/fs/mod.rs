// SPDX-License-Identifier: GPL-2.0-only
//! fs/: the VFS, iomap, ext4, XFS and libfs pieces of the write path.
pub mod dax;
pub mod ext4;
pub mod iomap;
pub mod libfs;
pub mod read_write;
pub mod xfs;

use crate::model::Cx;
use crate::scenario::FsKind;

/// STATX_WRITE_ATOMIC unit (min, max) for the file as it is at the time of the write
/// (ext4_getattr / xfs_vn_getattr / bdev_statx via generic_fill_statx_atomic_writes).
pub fn statx_atomic(cx: &Cx) -> (u32, u32) {
    match cx.fs {
        FsKind::Ext4 => ext4::file::ext4_statx_atomic(cx),
        FsKind::Xfs => xfs::xfs_file::xfs_statx_atomic(cx),
        FsKind::Bdev => crate::kernel::block::fops::bdev_statx_atomic(cx),
    }
}
