// SPDX-License-Identifier: GPL-2.0-only
//! fs/ext4/inode.c: ext4_map_blocks (as far as the DIO path sees it), ext4_iomap_begin,
//! ext4_iomap_overwrite_begin, ext4_iomap_alloc, ext4_map_blocks_atomic_write[_slow],
//! ext4_set_iomap, ext4_iomap_end, ext4_dio_alignment / ext4_should_use_dio
//! (docs/model.md §5.3, §5.7).

use crate::errno::*;
use crate::kernel::fs::iomap::*;
use crate::kernel::include::linux::fs::{IovIter, Kiocb};
use crate::model::*;
use crate::scenario::{Extent, Site};
use crate::variant::Ext4IomapEnd;

pub const EXT4_MAP_NEW: u32 = 1 << 0;
pub const EXT4_MAP_MAPPED: u32 = 1 << 1;
pub const EXT4_MAP_UNWRITTEN: u32 = 1 << 2;

// ext4_map_blocks() create flags
pub const EXT4_GET_BLOCKS_CREATE: u32 = 1 << 0;
pub const EXT4_GET_BLOCKS_UNWRIT_EXT: u32 = 1 << 1;
pub const EXT4_GET_BLOCKS_IO_CREATE_EXT: u32 =
    EXT4_GET_BLOCKS_CREATE | EXT4_GET_BLOCKS_UNWRIT_EXT | (1 << 3);
pub const EXT4_GET_BLOCKS_ZERO: u32 = 1 << 9;
pub const EXT4_GET_BLOCKS_CREATE_ZERO: u32 = EXT4_GET_BLOCKS_CREATE | EXT4_GET_BLOCKS_ZERO;

/// struct ext4_map_blocks
#[derive(Clone, Copy, Debug)]
pub struct MapBlocks {
    pub lblk: u64,
    pub len: u64,
    pub flags: u32,
}

/// ext4_should_journal_data() via ext4_inode_journal_mode(): a data=journal mount, or the per-inode
/// JOURNAL_DATA flag where it takes effect (journal present, nodelalloc mount; 6.18: no large
/// folios). The scenario's `journal_data` inode flag stands for "the flag takes effect". Encrypted
/// regular files are never journalled (ordered mode). Correction to an earlier summary
/// (docs/model.md §5.3, §10), read in 6.13 and 6.18: `chattr +j` alone does not force the fallback
/// on a delalloc mount.
pub fn ext4_should_journal_data(cx: &Cx) -> bool {
    (cx.s.world.mount.data_journal || cx.inode.flags.journal_data) && !cx.inode.flags.encrypted
}

/// ext4_dio_alignment(): 0 = no DIO, 1 = any alignment, else the required alignment; with the
/// condition that decided it (for the trace).
fn ext4_dio_alignment(cx: &Cx) -> (u64, &'static str) {
    let f = cx.inode.flags;
    if f.verity {
        return (0, "fsverity file (IS_VERITY)");
    }
    if ext4_should_journal_data(cx) {
        return (
            0,
            if cx.s.world.mount.data_journal {
                "ext4_should_journal_data(): data=journal mount"
            } else {
                "ext4_should_journal_data(): JOURNAL_DATA inode flag"
            },
        );
    }
    if f.inline_data {
        return (0, "inline data (ext4_has_inline_data)");
    }
    if f.encrypted {
        // 6.12-7.2: fscrypt_dio_supported(), true only for a file that uses inline crypto (an
        // `-o inlinecrypt` mount with blk-crypto support); 7.3: always (blk-crypto fallback).
        return if cx.v.ext4_encrypted_dio_always {
            (
                cx.bs,
                "encrypted file (7.3: blk-crypto for every file): fs-block alignment",
            )
        } else if cx.s.world.mount.inline_crypt {
            (
                cx.bs,
                "encrypted file with inline crypto: fs-block alignment",
            )
        } else {
            (
                0,
                "encrypted file without inline crypto (fscrypt_dio_supported() false)",
            )
        };
    }
    (1, "")
}

/// ext4_should_use_dio() (all versions 6.12-7.3; 7.2.12 and 7.3.4 read). The trace says which
/// condition decided a false (a note: signatures do not change).
pub fn ext4_should_use_dio(cx: &mut Cx, ki: &Kiocb, iter: &IovIter) -> bool {
    let (align, why) = ext4_dio_alignment(cx);
    let r = match align {
        0 => false,
        1 => true,
        a => (ki.ki_pos | iter.alignment()) & (a - 1) == 0,
    };
    cx.trace.push(Ev::Val("ext4_should_use_dio", r as i64));
    if !r {
        cx.trace.push(Ev::Note(if align == 0 {
            why
        } else {
            "position or user buffer not aligned to the fs block (encrypted file)"
        }));
    }
    r
}

/// ext4_map_blocks() as the DIO path sees it. `create` = 0 is a lookup. Returns the number of
/// blocks mapped from map.lblk (the run of one extent), 0 for a hole/delalloc lookup (map.len then
/// holds the hole length), or -errno. Allocation makes one new physically contiguous extent.
pub fn ext4_map_blocks(cx: &mut Cx, map: &mut MapBlocks, create: u32, site: Site) -> i64 {
    if let Some(e) = cx.fault(site) {
        return e;
    }
    map.flags = 0;
    let first = cx.blk(map.lblk);
    if matches!(first.kind, Extent::Written | Extent::Unwritten) {
        let mut n = 1;
        while n < map.len {
            let b = cx.blk(map.lblk + n);
            if b.kind != first.kind || b.extent != first.extent {
                break;
            }
            n += 1;
        }
        map.len = n;
        if first.kind == Extent::Unwritten
            && create & EXT4_GET_BLOCKS_CREATE != 0
            && create & EXT4_GET_BLOCKS_UNWRIT_EXT == 0
        {
            // ext4_ext_handle_unwritten_extents() (read in 7.3.4 fs/ext4/extents.c): a create
            // request that does not ask for unwritten extents (ext4_iomap_alloc() past i_size
            // passes plain EXT4_GET_BLOCKS_CREATE) converts the unwritten range at map time
            // (ext4_ext_convert_to_initialized(): a split, then written) and returns it MAPPED |
            // NEW; with EXT4_GET_BLOCKS_ZERO, ext4_map_blocks() zeroes it. A later iteration of
            // the same DIO then maps written blocks and does no head zeroing over them.
            let id = cx.new_extent_id();
            let zero = create & EXT4_GET_BLOCKS_ZERO != 0;
            let spb = cx.bs / crate::scenario::SECTOR;
            for b in map.lblk..map.lblk + n {
                let k = cx.blk(b);
                cx.set_blk(
                    b,
                    Blk {
                        kind: Extent::Written,
                        extent: id,
                        ..k
                    },
                );
                if zero {
                    cx.disk_write(
                        b * spb * crate::scenario::SECTOR,
                        spb * crate::scenario::SECTOR,
                        TAG_ZERO,
                    );
                }
            }
            map.flags = EXT4_MAP_NEW | EXT4_MAP_MAPPED;
            return n as i64;
        }
        map.flags = if first.kind == Extent::Written {
            EXT4_MAP_MAPPED
        } else {
            EXT4_MAP_UNWRITTEN
        };
        return n as i64;
    }
    // Hole (or delayed): how long?
    let mut n = 1;
    while n < map.len && matches!(cx.blk(map.lblk + n).kind, Extent::Hole | Extent::Delalloc) {
        n += 1;
    }
    map.len = n;
    if create == 0 {
        return 0;
    }
    let kind = if create & EXT4_GET_BLOCKS_UNWRIT_EXT != 0 {
        Extent::Unwritten
    } else {
        Extent::Written
    };
    let zero = create & EXT4_GET_BLOCKS_ZERO != 0;
    let id = cx.new_extent_id();
    let spb = cx.bs / crate::scenario::SECTOR;
    for b in map.lblk..map.lblk + n {
        cx.set_blk(b, Blk::new(kind, id));
        // A fresh block holds whatever was on the device unless zeroed.
        let tag = if zero { TAG_ZERO } else { TAG_STALE };
        cx.disk_write(
            b * spb * crate::scenario::SECTOR,
            spb * crate::scenario::SECTOR,
            tag,
        );
    }
    map.flags = EXT4_MAP_NEW
        | if kind == Extent::Written {
            EXT4_MAP_MAPPED
        } else {
            EXT4_MAP_UNWRITTEN
        };
    n as i64
}

/// ext4_map_blocks_atomic_write() and its slow path (6.16+): a mixed mapping forces the slow
/// path, which zero-allocates the whole range as one extent (needs bigalloc) or fails.
fn ext4_map_blocks_atomic_write(
    cx: &mut Cx,
    map: &mut MapBlocks,
    m_flags: u32,
    force_commit: &mut bool,
) -> i64 {
    let m_len = map.len;
    let r = ext4_map_blocks(cx, map, m_flags, Site::Ext4MapBlocksCreate);
    if r < 0 || r as u64 == m_len {
        return r;
    }
    cx.decide("ext4_map_blocks_atomic_write: mixed mapping -> slow path");
    *force_commit = true;
    if cx.s.world.cluster_bits == 0 {
        cx.warn("ext4_map_blocks_atomic_write_slow: WARN_ON_ONCE(!bigalloc)");
    }
    map.len = m_len;
    // A bigalloc cluster is physically contiguous; a range that jumps to another physical run
    // cannot be made one mapping.
    if (map.lblk + 1..map.lblk + m_len).any(|b| cx.blk(b).phys_break) {
        cx.decide("ext4_map_blocks_atomic_write_slow: non-contiguous -> -EFSCORRUPTED");
        return -EFSCORRUPTED;
    }
    let ext = (map.lblk..map.lblk + m_len)
        .map(|b| cx.blk(b))
        .find(|k| matches!(k.kind, Extent::Written | Extent::Unwritten))
        .map(|k| k.extent);
    let id = ext.unwrap_or_else(|| cx.new_extent_id());
    let spb = cx.bs / crate::scenario::SECTOR;
    for b in map.lblk..map.lblk + m_len {
        let k = cx.blk(b);
        if k.kind != Extent::Written {
            cx.disk_write(
                b * spb * crate::scenario::SECTOR,
                spb * crate::scenario::SECTOR,
                TAG_ZERO,
            );
        }
        cx.set_blk(b, Blk::new(Extent::Written, id));
    }
    map.flags = EXT4_MAP_MAPPED;
    m_len as i64
}

/// ext4_iomap_alloc() (docs/model.md §5.7).
fn ext4_iomap_alloc(cx: &mut Cx, map: &mut MapBlocks, flags: u32) -> i64 {
    const F: &str = "ext4_iomap_alloc";
    cx.enter(F, &[("lblk", map.lblk as i64), ("len", map.len as i64)]);
    // 7.3 (with ext4_dio_needs_zeroing: writes into holes may now hold the shared lock).
    if cx.v.ext4_dio_needs_zeroing && flags & IOMAP_NOWAIT != 0 {
        cx.decide("ext4_iomap_alloc: IOMAP_NOWAIT needs an allocation -> -EAGAIN");
        return cx.ret(F, -EAGAIN);
    }
    let mut tries = 0;
    loop {
        if let Some(e) = cx.fault(Site::Ext4IomapAllocJournalStart) {
            return cx.ret(F, e);
        }
        let m_flags = if cx.inode.flags.dax {
            EXT4_GET_BLOCKS_CREATE_ZERO
        } else if map.lblk << cx.blkbits >= cx.inode.i_size {
            EXT4_GET_BLOCKS_CREATE
        } else if cx.inode.flags.extents {
            EXT4_GET_BLOCKS_IO_CREATE_EXT
        } else {
            0
        };
        let mut force_commit = false;
        let mut r = if flags & IOMAP_ATOMIC != 0 && cx.v.ext4_multi_fsblock_atomic {
            ext4_map_blocks_atomic_write(cx, map, m_flags, &mut force_commit)
        } else {
            ext4_map_blocks(cx, map, m_flags, Site::Ext4MapBlocksCreate)
        };
        // S3: "we cannot fill holes in indirect-mapped files inside i_size".
        if m_flags == 0 && r == 0 {
            if flags & IOMAP_ATOMIC != 0 && cx.v.ext4_atomic_hole_einval {
                // Variant switch ext4_atomic_hole_einval (a hypothetical patch): refuse the
                // atomic write rather than send it to the buffered fallback.
                cx.decide(
                    "ext4_iomap_alloc: atomic write into a hole of an indirect inode -> -EINVAL",
                );
                r = -EINVAL;
            } else {
                cx.decide("S3: ext4_iomap_alloc: hole in an indirect inode -> -ENOTBLK");
                r = -ENOTBLK;
            }
        }
        // ext4_journal_stop()
        if r == -ENOSPC && tries == 0 {
            // ext4_should_retry_alloc(): one more try after a journal commit.
            tries += 1;
            continue;
        }
        if r > 0 && force_commit {
            if let Some(e) = cx.fault(Site::Ext4ForceCommit) {
                return cx.ret(F, e);
            }
        }
        return cx.ret(F, r);
    }
}

/// ext4_set_iomap().
fn ext4_set_iomap(cx: &Cx, map: &MapBlocks, offset: u64, length: u64, flags: u32) -> Iomap {
    let mut f = 0;
    if offset + length > cx.inode.i_size {
        f |= IOMAP_F_DIRTY;
    }
    if map.flags & EXT4_MAP_NEW != 0 {
        f |= IOMAP_F_NEW;
    }
    // 6.15+: "HW-offload atomics are always used".
    if cx.v.ext4_sets_atomic_bio && flags & IOMAP_ATOMIC != 0 {
        f |= IOMAP_F_ATOMIC_BIO;
    }
    let kind = if map.flags & EXT4_MAP_UNWRITTEN != 0 {
        IomapType::Unwritten
    } else if map.flags & EXT4_MAP_MAPPED != 0 {
        IomapType::Mapped
    } else if matches!(cx.blk(map.lblk).kind, Extent::Delalloc) {
        IomapType::Delalloc
    } else {
        IomapType::Hole
    };
    Iomap {
        offset: map.lblk << cx.blkbits,
        length: map.len << cx.blkbits,
        kind,
        flags: f,
    }
}

/// ext4_iomap_begin() (docs/model.md §5.7).
pub fn ext4_iomap_begin(cx: &mut Cx, offset: u64, length: u64, flags: u32) -> Result<Iomap, i64> {
    const F: &str = "ext4_iomap_begin";
    cx.enter(
        F,
        &[
            ("offset", offset as i64),
            ("length", length as i64),
            ("iomap_flags", flags as i64),
        ],
    );
    if cx.inode.flags.inline_data {
        cx.warn("ext4_iomap_begin: WARN_ON_ONCE(ext4_has_inline_data)");
        return Err(cx.ret(F, -ERANGE));
    }
    let bb = cx.blkbits;
    let lblk = offset >> bb;
    let orig_mlen = ((offset + length - 1) >> bb) - lblk + 1;
    let mut map = MapBlocks {
        lblk,
        len: orig_mlen,
        flags: 0,
    };
    let atomic = flags & IOMAP_ATOMIC != 0;
    let r: i64;
    'out: {
        if flags & IOMAP_WRITE != 0 {
            if offset + length <= cx.inode.i_size {
                // A failed query is not returned: the code goes on to ext4_iomap_alloc(), whose
                // own ext4_map_blocks() decides (read in 6.12.117, 7.2.12 and 7.3.4).
                let q = ext4_map_blocks(cx, &mut map, 0, Site::Ext4MapBlocksQuery);
                if q < 0 {
                    cx.note("ext4_iomap_begin: query failed (ignored), allocate");
                }
                let mapped = map.flags & EXT4_MAP_MAPPED != 0;
                let unwritten = map.flags & EXT4_MAP_UNWRITTEN != 0;
                let done = if cx.v.ext4_begin_accepts_unwritten {
                    // 7.0+
                    (mapped || (!cx.inode.flags.dax && unwritten))
                        && (q as u64 == orig_mlen || (!atomic && q > 0))
                } else if cx.v.ext4_multi_fsblock_atomic {
                    // 6.16-6.19
                    mapped && ((!atomic && q > 0) || (atomic && q as u64 >= orig_mlen))
                } else {
                    // 6.12-6.15: partial coverage is fine
                    q > 0 && mapped
                };
                if done {
                    r = q;
                    break 'out;
                }
                if cx.v.ext4_multi_fsblock_atomic {
                    map.len = orig_mlen;
                }
            }
            r = ext4_iomap_alloc(cx, &mut map, flags);
        } else {
            r = ext4_map_blocks(cx, &mut map, 0, Site::Ext4MapBlocksQuery);
        }
        if r < 0 {
            return Err(cx.ret(F, r));
        }
    }
    let _ = r;
    // fscrypt_limit_io_blocks(): inline-crypt files may get a shorter mapping.
    if cx.inode.flags.encrypted && map.len > 1 && cx.fault(Site::FscryptLimitIoBlocks).is_some() {
        cx.decide("fscrypt_limit_io_blocks shortened the mapping");
        map.len = 1;
    }
    if cx.v.ext4_multi_fsblock_atomic && atomic && map.len < (length >> bb) {
        cx.warn("ext4_iomap_begin: WARN_ON_ONCE(atomic mapping shorter than the write)");
        return Err(cx.ret(F, -EINVAL));
    }
    let m = ext4_set_iomap(cx, &map, offset, length, flags);
    cx.trace.push(Ev::Val("iomap.offset", m.offset as i64));
    cx.trace.push(Ev::Val("iomap.length", m.length as i64));
    cx.ret(F, 0);
    Ok(m)
}

/// ext4_iomap_overwrite_begin() (6.12-6.19): IOMAP_WRITE stripped, must find a MAPPED extent.
pub fn ext4_iomap_overwrite_begin(
    cx: &mut Cx,
    offset: u64,
    length: u64,
    flags: u32,
) -> Result<Iomap, i64> {
    let r = ext4_iomap_begin(cx, offset, length, flags & !IOMAP_WRITE);
    if let Ok(m) = &r {
        if m.kind != IomapType::Mapped {
            cx.warn("ext4_iomap_overwrite_begin: WARN_ON_ONCE(type != IOMAP_MAPPED)");
        }
    }
    r
}

/// ext4_iomap_end() (docs/model.md §5.7; S4 of docs/oracle.md §5). None: the variant has no
/// ->iomap_end (6.18+).
pub fn ext4_iomap_end(
    cx: &mut Cx,
    _offset: u64,
    _length: u64,
    written: u64,
    flags: u32,
) -> Option<i64> {
    let write_or_direct = flags & (IOMAP_WRITE | IOMAP_DIRECT) != 0;
    let atomic = flags & IOMAP_ATOMIC != 0;
    let enotblk = match cx.v.ext4_iomap_end {
        Ext4IomapEnd::None => return None,
        Ext4IomapEnd::WriteOrDirect => write_or_direct && written == 0,
        Ext4IomapEnd::NotAtomicWriteOrDirect => !atomic && write_or_direct && written == 0,
        Ext4IomapEnd::WantDirectioFallback => {
            flags & IOMAP_WRITE != 0 && flags & IOMAP_DIRECT != 0 && !atomic && written == 0
        }
    };
    cx.enter(
        "ext4_iomap_end",
        &[("written", written as i64), ("iomap_flags", flags as i64)],
    );
    let r = if enotblk { -ENOTBLK } else { 0 };
    Some(cx.ret("ext4_iomap_end", r))
}
