// SPDX-License-Identifier: GPL-2.0-only
//! include/uapi/linux/fs.h: the pwritev2() RWF_* flags (the values user space passes).

pub const RWF_HIPRI: u32 = 0x01;
pub const RWF_DSYNC: u32 = 0x02;
pub const RWF_SYNC: u32 = 0x04;
pub const RWF_NOWAIT: u32 = 0x08;
pub const RWF_APPEND: u32 = 0x10;
pub const RWF_NOAPPEND: u32 = 0x20;
/// 6.11+: an untorn write (all or nothing); the kernel maps it to IOCB_ATOMIC.
pub const RWF_ATOMIC: u32 = 0x40;
/// 6.14+: uncached buffered IO (accepted by ext4 and XFS from 6.17).
pub const RWF_DONTCACHE: u32 = 0x80;
