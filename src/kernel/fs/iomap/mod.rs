// SPDX-License-Identifier: GPL-2.0-only
//! fs/iomap and include/linux/iomap.h: the iomap types, flags, and the ops tables the model
//! dispatches through (->iomap_begin, ->iomap_end, ->end_io).
pub mod direct_io;
pub mod iter;

use crate::model::Cx;

// iomap_iter flags (include/linux/iomap.h)
pub const IOMAP_WRITE: u32 = 1 << 0;
pub const IOMAP_ZERO: u32 = 1 << 1;
pub const IOMAP_DIRECT: u32 = 1 << 4;
pub const IOMAP_NOWAIT: u32 = 1 << 5;
pub const IOMAP_OVERWRITE_ONLY: u32 = 1 << 6;
pub const IOMAP_DAX: u32 = 1 << 8;
pub const IOMAP_ATOMIC: u32 = 1 << 9;

pub fn iomap_flag_names(f: u32) -> String {
    crate::model::trace::join_flags(
        f,
        &[
            (IOMAP_WRITE, "WRITE"),
            (IOMAP_ZERO, "ZERO"),
            (IOMAP_DIRECT, "DIRECT"),
            (IOMAP_NOWAIT, "NOWAIT"),
            (IOMAP_OVERWRITE_ONLY, "OVERWRITE_ONLY"),
            (IOMAP_DAX, "DAX"),
            (IOMAP_ATOMIC, "ATOMIC"),
        ],
        "IOMAP_",
    )
}

/// iomap_dio_rw()'s dio_flags by name (IOMAP_DIO_FORCE_WAIT|...), for the trace.
pub fn dio_flag_names(f: u32) -> String {
    crate::model::trace::join_flags(
        f,
        &[
            (IOMAP_DIO_FORCE_WAIT, "FORCE_WAIT"),
            (IOMAP_DIO_OVERWRITE_ONLY, "OVERWRITE_ONLY"),
            (IOMAP_DIO_PARTIAL, "PARTIAL"),
            (IOMAP_DIO_FSBLOCK_ALIGNED, "FSBLOCK_ALIGNED"),
            (IOMAP_DIO_BOUNCE, "BOUNCE"),
        ],
        "IOMAP_DIO_",
    )
}

/// The flags ->end_io gets (IOMAP_DIO_UNWRITTEN, IOMAP_DIO_COW) by name, for the trace.
pub fn end_io_flag_names(f: u32) -> String {
    crate::model::trace::join_flags(
        f,
        &[(IOMAP_DIO_UNWRITTEN, "UNWRITTEN"), (IOMAP_DIO_COW, "COW")],
        "IOMAP_DIO_",
    )
}

// iomap->flags
pub const IOMAP_F_NEW: u32 = 1 << 0;
pub const IOMAP_F_DIRTY: u32 = 1 << 1;
pub const IOMAP_F_SHARED: u32 = 1 << 2;
/// 6.15+ (370a6de7651b): the filesystem wants this mapping written as one REQ_ATOMIC bio.
pub const IOMAP_F_ATOMIC_BIO: u32 = 1 << 9;

// iomap_dio_rw() dio_flags
pub const IOMAP_DIO_FORCE_WAIT: u32 = 1 << 0;
pub const IOMAP_DIO_OVERWRITE_ONLY: u32 = 1 << 1;
pub const IOMAP_DIO_PARTIAL: u32 = 1 << 2;
pub const IOMAP_DIO_FSBLOCK_ALIGNED: u32 = 1 << 3;
pub const IOMAP_DIO_BOUNCE: u32 = 1 << 4;

// flags passed to ->end_io
pub const IOMAP_DIO_UNWRITTEN: u32 = 1 << 0;
pub const IOMAP_DIO_COW: u32 = 1 << 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IomapType {
    Hole,
    Delalloc,
    Mapped,
    Unwritten,
    Inline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iomap {
    pub offset: u64,
    pub length: u64,
    pub kind: IomapType,
    pub flags: u32,
}

/// The ->iomap_begin/->iomap_end tables the model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IomapOps {
    /// ext4_iomap_ops
    Ext4,
    /// ext4_iomap_overwrite_ops (6.12-6.19)
    Ext4Overwrite,
    /// xfs_direct_write_iomap_ops
    XfsDirectWrite,
    /// xfs_atomic_write_cow_iomap_ops (6.16+)
    XfsAtomicCow,
    /// blkdev_iomap_ops (not used for DIO writes: blkdev_direct_IO builds bios itself)
    Blkdev,
}

/// The iomap_dio_ops (->end_io) tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DioOps {
    Ext4,
    Xfs,
}

pub fn ops_begin(cx: &mut Cx, ops: IomapOps, pos: u64, len: u64, flags: u32) -> Result<Iomap, i64> {
    match ops {
        IomapOps::Ext4 => crate::kernel::fs::ext4::inode::ext4_iomap_begin(cx, pos, len, flags),
        IomapOps::Ext4Overwrite => {
            crate::kernel::fs::ext4::inode::ext4_iomap_overwrite_begin(cx, pos, len, flags)
        }
        IomapOps::XfsDirectWrite => {
            crate::kernel::fs::xfs::xfs_iomap::xfs_direct_write_iomap_begin(cx, pos, len, flags)
        }
        IomapOps::XfsAtomicCow => {
            crate::kernel::fs::xfs::xfs_iomap::xfs_atomic_write_cow_iomap_begin(cx, pos, len, flags)
        }
        IomapOps::Blkdev => Ok(Iomap {
            offset: pos,
            length: len,
            kind: IomapType::Mapped,
            flags: 0,
        }),
    }
}

/// 7.3: the table's ->iomap_next (DEFINE_IOMAP_ITER_NEXT[_END] in fs/ext4/inode.c,
/// fs/xfs/xfs_iomap.c, block/fops.c). ext4_iomap_overwrite_ops no longer exists then (7.0).
pub fn ops_next_name(ops: IomapOps) -> &'static str {
    match ops {
        IomapOps::Ext4 | IomapOps::Ext4Overwrite => "ext4_iomap_next",
        IomapOps::XfsDirectWrite => "xfs_direct_write_iomap_next",
        IomapOps::XfsAtomicCow => "xfs_atomic_write_cow_iomap_next",
        IomapOps::Blkdev => "blkdev_iomap_next",
    }
}

/// ->iomap_end, or None where the table has none.
pub fn ops_end(
    cx: &mut Cx,
    ops: IomapOps,
    pos: u64,
    len: u64,
    written: u64,
    flags: u32,
    iomap: &Iomap,
) -> Option<i64> {
    match ops {
        IomapOps::Ext4 | IomapOps::Ext4Overwrite => {
            crate::kernel::fs::ext4::inode::ext4_iomap_end(cx, pos, len, written, flags)
        }
        IomapOps::XfsDirectWrite | IomapOps::XfsAtomicCow => {
            crate::kernel::fs::xfs::xfs_iomap::xfs_iomap_end(
                cx, ops, pos, len, written, flags, iomap,
            )
        }
        IomapOps::Blkdev => None,
    }
}

pub fn dops_end_io(
    cx: &mut Cx,
    dops: DioOps,
    ki: &crate::kernel::include::linux::fs::Kiocb,
    size: u64,
    error: i64,
    flags: u32,
) -> i64 {
    match dops {
        DioOps::Ext4 => {
            crate::kernel::fs::ext4::file::ext4_dio_write_end_io(cx, ki, size, error, flags)
        }
        DioOps::Xfs => {
            crate::kernel::fs::xfs::xfs_file::xfs_dio_write_end_io(cx, ki, size, error, flags)
        }
    }
}
