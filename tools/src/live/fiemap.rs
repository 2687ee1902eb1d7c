// SPDX-License-Identifier: GPL-2.0-only
//! FS_IOC_FIEMAP (include/uapi/linux/fiemap.h): a file's data-fork extents, for the CoW-fork
//! count (cow.rs) and the fault groups' sector lookup (fault.rs). Without FIEMAP_FLAG_SYNC: a
//! sync would write back the dirty pages a scenario wants dirty (XFS reports delalloc as such,
//! `xfs_read_iomap_begin`).

use std::os::fd::RawFd;

/// _IOWR('f', 11, struct fiemap).
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
pub const FIEMAP_EXTENT_UNKNOWN: u32 = 0x2;
pub const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
pub const FIEMAP_EXTENT_ENCODED: u32 = 0x8;
pub const FIEMAP_EXTENT_NOT_ALIGNED: u32 = 0x100;
pub const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
pub const FIEMAP_EXTENT_DATA_INLINE: u32 = 0x200;
pub const FIEMAP_EXTENT_SHARED: u32 = 0x2000;
/// Room for this many extents; a file that fills it is refused (its map would be cut short).
const FIEMAP_EXTENTS: usize = 128;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; FIEMAP_EXTENTS],
}

/// One extent of a file: (logical, physical, length, flags), bytes.
pub type Extent4 = (u64, u64, u64, u32);

/// The extents of the file open on `fd`.
pub fn fiemap(fd: RawFd) -> Result<Vec<Extent4>, String> {
    let mut m = Box::new(Fiemap {
        start: 0,
        length: u64::MAX,
        flags: 0,
        mapped_extents: 0,
        extent_count: FIEMAP_EXTENTS as u32,
        reserved: 0,
        extents: [FiemapExtent::default(); FIEMAP_EXTENTS],
    });
    // SAFETY: FS_IOC_FIEMAP fills at most extent_count extents of our buffer.
    if unsafe { libc::ioctl(fd, FS_IOC_FIEMAP as _, &mut *m as *mut Fiemap) } != 0 {
        return Err(format!(
            "FS_IOC_FIEMAP: {}",
            std::io::Error::last_os_error()
        ));
    }
    if m.mapped_extents as usize >= FIEMAP_EXTENTS {
        return Err("FS_IOC_FIEMAP: too many extents".into());
    }
    Ok(m.extents[..m.mapped_extents as usize]
        .iter()
        .map(|e| (e.logical, e.physical, e.length, e.flags))
        .collect())
}
