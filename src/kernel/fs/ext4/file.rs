// SPDX-License-Identifier: GPL-2.0-only
//! fs/ext4/file.c: ext4_file_open (atomic capability), ext4_file_write_iter, ext4_dio_write_iter,
//! ext4_dio_write_checks, ext4_buffered_write_iter, ext4_write_checks, ext4_dio_write_end_io,
//! ext4_handle_inode_extension, ext4_inode_extension_cleanup (docs/model.md §5).

use super::inode::{ext4_map_blocks, ext4_should_use_dio, MapBlocks};
use super::super_::ext4_atomic_write_init;
use crate::errno::*;
use crate::kernel::fs::iomap::direct_io::iomap_dio_rw;
use crate::kernel::fs::iomap::*;
use crate::kernel::fs::read_write::{generic_atomic_write_valid, generic_write_checks};
use crate::kernel::include::linux::fs::{generic_write_sync, kiocb_modified, IovIter, Kiocb};
use crate::kernel::mm::filemap::{filemap_write_and_wait_range, generic_perform_write};
use crate::kernel::mm::truncate::invalidate_mapping_pages;
use crate::model::*;
use crate::scenario::{Extent, InodeFlags, PageState, Race, Site, PAGE_SIZE, SECTOR};
use crate::variant::Ext4Enotblk;

/// ext4_inode_can_atomic_write() (fs/ext4/ext4.h):
/// 6.13-6.15: S_ISREG && s_awu_min > 0; 1c972b1d13dd (6.16+): also the EXTENTS flag.
pub fn ext4_inode_can_atomic_write(cx: &Cx, f: &InodeFlags) -> bool {
    let (min, _) = ext4_atomic_write_init(cx);
    min > 0 && (!cx.v.ext4_atomic_needs_extents || f.extents)
}

/// ext4_file_open(): FMODE_CAN_ATOMIC_WRITE from the inode as it is at open().
pub fn ext4_file_open_can_atomic(cx: &mut Cx, at_open: &InodeFlags) -> bool {
    ext4_inode_can_atomic_write(cx, at_open)
}

/// ext4_getattr() STATX_WRITE_ATOMIC: (s_awu_min, s_awu_max) when the inode can, else (0, 0).
pub fn ext4_statx_atomic(cx: &Cx) -> (u32, u32) {
    if ext4_inode_can_atomic_write(cx, &cx.inode.flags) {
        ext4_atomic_write_init(cx)
    } else {
        (0, 0)
    }
}

fn is_dax(cx: &Cx) -> bool {
    cx.inode.flags.dax
}

/// ext4_file_write_iter() (docs/model.md §5.1).
pub fn ext4_file_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "ext4_file_write_iter";
    cx.enter(
        F,
        &[
            ("pos", ki.ki_pos as i64),
            ("count", iter.count as i64),
            ("ki_flags", ki.ki_flags as i64),
        ],
    );
    let m = cx.s.world.mount;
    // 6.15+ (0a1b2f5ea987): ext4_emergency_state(): EXT4_FLAGS_SHUTDOWN -> -EIO, then
    // EXT4_FLAGS_EMERGENCY_RO -> -EROFS. Before: ext4_forced_shutdown() -> -EIO, and the emergency
    // read-only state is EXT4_FLAGS_SHUTDOWN itself (ext4_handle_error() under errors=remount-ro,
    // 6.6-6.14: 95257987a638; 8f984530c242 gave it a flag of its own), so it is -EIO too.
    if m.shutdown || (m.emergency_ro && !cx.v.ext4_emergency_state) {
        if !m.shutdown {
            cx.decide("ext4_file_write_iter: errors=remount-ro set EXT4_FLAGS_SHUTDOWN (before 6.15) -> -EIO");
        }
        return cx.ret(F, -EIO);
    }
    if m.emergency_ro {
        return cx.ret(F, -EROFS);
    }
    // All versions up to 7.3 (7.3.4 read): DAX is dispatched before any atomic check.
    if is_dax(cx) {
        cx.decide("ext4_file_write_iter: DAX inode -> ext4_dax_write_iter");
        let r = ext4_dax_write_iter(cx, ki, iter);
        return cx.ret(F, r);
    }
    // 6.13+: atomic validation, length bounds first.
    if cx.v.ext4_atomic && ki.has(IOCB_ATOMIC) {
        let len = iter.count;
        let (min, max) = ext4_atomic_write_init(cx);
        if len < min as u64 || len > max as u64 {
            cx.decide("ext4_file_write_iter: atomic length outside [s_awu_min, s_awu_max]");
            return cx.ret(F, -EINVAL);
        }
        let r = generic_atomic_write_valid(cx, ki, iter);
        if r != 0 {
            return cx.ret(F, r);
        }
    }
    let r = if ki.has(IOCB_DIRECT) {
        ext4_dio_write_iter(cx, ki, iter)
    } else {
        ext4_buffered_write_iter(cx, ki, iter)
    };
    cx.ret(F, r)
}

/// ext4_dax_write_iter() (docs/model.md §5.9): exclusive lock, write checks, dax_iomap_rw, size
/// update.
fn ext4_dax_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "ext4_dax_write_iter";
    cx.enter(F, &[("pos", ki.ki_pos as i64)]);
    if ki.has(IOCB_NOWAIT) && cx.race(Race::LockContended) {
        return cx.ret(F, -EAGAIN);
    }
    let r = ext4_write_checks(cx, ki, iter);
    if r <= 0 {
        return cx.ret(F, r);
    }
    // An extending write starts a handle and adds the inode to the orphan list; 7.3 refuses
    // that under IOCB_NOWAIT (switch ext4_dax_nowait_extend_eagain; 6.12-7.2 go on).
    if cx.v.ext4_dax_nowait_extend_eagain
        && ki.has(IOCB_NOWAIT)
        && ki.ki_pos + iter.count > cx.inode.i_disksize
    {
        cx.decide("ext4_dax_write_iter: IOCB_NOWAIT write extends i_disksize -> -EAGAIN");
        return cx.ret(F, -EAGAIN);
    }
    let r = crate::kernel::fs::dax::dax_iomap_rw(cx, ki, iter);
    let r = if r > 0 {
        generic_write_sync(cx, ki, r)
    } else {
        r
    };
    cx.ret(F, r)
}

/// ext4_buffered_write_iter() (docs/model.md §5.5): no IOCB_ATOMIC check in any version.
pub fn ext4_buffered_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "ext4_buffered_write_iter";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    if ki.has(IOCB_NOWAIT) {
        return cx.ret(F, -EOPNOTSUPP);
    }
    // inode_lock()
    let mut r = ext4_write_checks(cx, ki, iter);
    if r > 0 && cx.inode.flags.inline_data {
        // ext4_da_write_begin (fs/ext4/inode.c, 6.12.117 - 7.3.4): with EXT4_STATE_MAY_INLINE_DATA
        // set, ext4_generic_write_inline_data writes into the inode while the data fits and
        // converts past it (ext4_da_convert_inline_data_to_extent: page 0 dirty over a delayed
        // block 0, INLINE_DATA kept); once that state is clear (world.inline_delalloc, rule W46)
        // the write takes the delalloc path directly. The model writes both through the page
        // cache: the data read back is the same (docs/model.md §5.5).
        cx.note(if cx.s.world.inline_delalloc {
            "ext4_da_write_begin: EXT4_STATE_MAY_INLINE_DATA clear (inline data converted, not written back): delalloc path"
        } else {
            "ext4_da_write_begin: EXT4_STATE_MAY_INLINE_DATA set: ext4_generic_write_inline_data"
        });
    }
    if r > 0 {
        let delalloc = !super::inode::ext4_should_journal_data(cx);
        r = generic_perform_write(cx, ki, iter, delalloc);
    }
    // inode_unlock()
    if r > 0 {
        r = generic_write_sync(cx, ki, r);
    }
    cx.ret(F, r)
}

/// ext4_generic_write_checks(): IMMUTABLE, generic_write_checks, the bitmap limit for indirect inodes.
pub fn ext4_generic_write_checks(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    if cx.inode.flags.immutable {
        return -EPERM;
    }
    let largefile = !cx.s.request.open.no_largefile;
    let r = generic_write_checks(cx, ki, iter, cx.s.world.s_maxbytes, largefile);
    if r <= 0 {
        return r;
    }
    if !cx.inode.flags.extents {
        let lim = cx.s.world.s_bitmap_maxbytes;
        if ki.ki_pos >= lim {
            return -EFBIG;
        }
        if iter.count > lim - ki.ki_pos {
            cx.decide("ext4_generic_write_checks: truncated at s_bitmap_maxbytes");
        }
        iter.truncate(lim - ki.ki_pos);
    }
    iter.count as i64
}

/// file_modified() up to 7.2 (blocks for the timestamp update), kiocb_modified() from 7.3
/// (ext4_kiocb_modified: IOCB_NOWAIT gives -EAGAIN), in ext4_write_checks and
/// ext4_dio_write_checks.
fn ext4_file_modified(cx: &mut Cx, ki: &Kiocb) -> i64 {
    if cx.v.ext4_kiocb_modified {
        return kiocb_modified(cx, ki);
    }
    cx.fault(Site::FileModified).unwrap_or(0)
}

/// ext4_write_checks() (buffered path): generic checks, file_modified, 7.1 EOF zeroing.
fn ext4_write_checks(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    let old_size = cx.inode.i_size;
    let count = ext4_generic_write_checks(cx, ki, iter);
    if count <= 0 {
        return count;
    }
    let r = ext4_file_modified(cx, ki);
    if r != 0 {
        return r;
    }
    if cx.v.ext4_eof_zero_in_write_checks && ki.ki_pos > old_size && !cx.inode.flags.verity {
        if ki.has(IOCB_NOWAIT) {
            return -EAGAIN;
        }
        cx.note("ext4_block_zero_eof(old i_size, ki_pos)");
        ext4_zero_partial_blocks(cx, old_size, ki.ki_pos);
    }
    count
}

/// ext4_zero_partial_blocks(old_size, pos - old_size) for a buffered write that starts past EOF
/// (up to 7.0 from ext4_da_do_write_end / ext4_write_end / ext4_journalled_write_end, read in
/// 6.12.117; 7.1+ from ext4_write_checks): the partial block at each end of [old_size, pos) is
/// zeroed through the page cache (ext4_block_zero_page_range: only a mapped block; a hole has
/// nothing to zero, an unwritten one reads as zeroes already), full blocks in between are not.
/// Matters once a block past EOF is written but not yet written by the caller (a DIO's
/// ext4_iomap_alloc() converted it, then fell back).
pub fn ext4_zero_partial_blocks(cx: &mut Cx, old_size: u64, pos: u64) {
    if pos <= old_size || cx.inode.flags.inline_data {
        return;
    }
    let bs = cx.bs;
    let mut ranges = Vec::new();
    if old_size / bs == (pos - 1) / bs {
        if old_size % bs != 0 || pos % bs != 0 {
            ranges.push((old_size, pos));
        }
    } else {
        if old_size % bs != 0 {
            ranges.push((old_size, old_size - old_size % bs + bs));
        }
        if pos % bs != 0 {
            ranges.push((pos - pos % bs, pos));
        }
    }
    for (a, b) in ranges {
        if cx.blk(a / bs).kind != Extent::Written {
            continue;
        }
        if is_dax(cx) {
            // ext4_block_zero_page_range: a DAX inode has no page cache, dax_zero_range() zeroes
            // the media (whole sectors here, as below).
            let (s0, s1) = (a.div_ceil(SECTOR) * SECTOR, b / SECTOR * SECTOR);
            if s1 > s0 {
                cx.disk_write(s0, s1 - s0, TAG_ZERO);
            }
            continue;
        }
        let p = Cx::page_of(a);
        if p >= cx.pages.len() {
            continue;
        }
        if cx.page(p) == PageState::None {
            for sct in p * 8..(p * 8 + 8).min(cx.cache.len()) {
                cx.cache[sct] = cx.disk_visible(sct);
            }
        }
        for sct in a.div_ceil(SECTOR) as usize..((b / SECTOR) as usize).min(cx.cache.len()) {
            cx.cache[sct] = TAG_ZERO;
        }
        if cx.page(p) != PageState::MappedDirty {
            cx.end_writeback(p);
            cx.pages[p] = PageState::Dirty;
        }
    }
}

struct DioChecks {
    ilock_shared: bool,
    extend: bool,
    unwritten: bool,
    dio_flags: u32,
}

/// ext4_overwrite_io(): a pure overwrite of one allocated extent inside i_size.
fn ext4_overwrite_io(cx: &mut Cx, pos: u64, len: u64, unwritten: &mut bool) -> bool {
    if pos + len > cx.inode.i_size {
        return false;
    }
    let bb = cx.blkbits;
    let lblk = pos >> bb;
    let blklen = ((pos + len + cx.bs - 1) >> bb) - lblk;
    let mut map = MapBlocks {
        lblk,
        len: blklen,
        flags: 0,
    };
    let r = ext4_map_blocks(cx, &mut map, 0, Site::Ext4MapBlocksQuery);
    if r != blklen as i64 {
        return false;
    }
    *unwritten = map.flags & super::inode::EXT4_MAP_MAPPED == 0;
    true
}

/// ext4_dio_needs_zeroing() (7.3, read in 7.3.4 fs/ext4/file.c): does an unaligned write need
/// iomap's partial-block zeroing? Yes past i_size, or when its partial head or tail block is not
/// a written mapping (hole, unwritten, or a failed query).
fn ext4_dio_needs_zeroing(cx: &mut Cx, pos: u64, len: u64) -> bool {
    if pos + len > cx.inode.i_size {
        return true;
    }
    let mask = cx.bs - 1;
    let (head_partial, tail_partial) = (pos & mask != 0, (pos + len) & mask != 0);
    let (head, tail) = (pos >> cx.blkbits, (pos + len - 1) >> cx.blkbits);
    let mapped = |cx: &mut Cx, lblk: u64, len: u64| {
        let mut map = MapBlocks {
            lblk,
            len,
            flags: 0,
        };
        let r = ext4_map_blocks(cx, &mut map, 0, Site::Ext4MapBlocksQuery);
        (r > 0 && map.flags & super::inode::EXT4_MAP_MAPPED != 0).then_some(r as u64)
    };
    if head_partial {
        match mapped(cx, head, tail - head + 1) {
            None => return true,
            Some(n) if !tail_partial || head + n > tail => return false,
            Some(_) => {}
        }
    }
    tail_partial && mapped(cx, tail, 1).is_none()
}

/// ext4_dio_write_checks() (docs/model.md §5.4).
fn ext4_dio_write_checks(
    cx: &mut Cx,
    ki: &mut Kiocb,
    iter: &mut IovIter,
    c: &mut DioChecks,
) -> i64 {
    const F: &str = "ext4_dio_write_checks";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    loop {
        let r = ext4_generic_write_checks(cx, ki, iter);
        if r <= 0 {
            return cx.ret(F, r);
        }
        let (offset, count) = (ki.ki_pos, r as u64);
        let unaligned = (offset | iter.alignment()) & (cx.bs - 1) != 0;
        c.extend = offset + count > cx.inode.i_size || offset + count > cx.inode.i_disksize;
        // Up to 7.2 the lock follows ext4_overwrite_io() (exclusive for anything but a pure
        // overwrite, or an unaligned write into unwritten blocks); 7.3 follows
        // ext4_dio_needs_zeroing() (exclusive only when iomap will zero a partial block).
        let (upgrade, force_wait, dio_wait) = if cx.v.ext4_dio_needs_zeroing {
            let z = unaligned && ext4_dio_needs_zeroing(cx, offset, count);
            (z, z, z)
        } else {
            let overwrite = ext4_overwrite_io(cx, offset, count, &mut c.unwritten);
            let zeroing = unaligned && (!overwrite || c.unwritten);
            (!overwrite || zeroing, unaligned, zeroing)
        };
        if c.ilock_shared && (!cx.inode.flags.nosec || c.extend || upgrade) {
            if ki.has(IOCB_NOWAIT) {
                cx.decide("ext4_dio_write_checks: NOWAIT needs the exclusive lock -> -EAGAIN");
                return cx.ret(F, -EAGAIN);
            }
            cx.note("upgrade i_rwsem to exclusive, restart");
            c.ilock_shared = false;
            continue;
        }
        if !c.ilock_shared && (force_wait || c.extend) {
            if ki.has(IOCB_NOWAIT) {
                cx.decide("ext4_dio_write_checks: NOWAIT unaligned or extending -> -EAGAIN");
                return cx.ret(F, -EAGAIN);
            }
            if dio_wait {
                cx.note("inode_dio_wait()");
            }
            c.dio_flags = IOMAP_DIO_FORCE_WAIT;
        }
        let r = ext4_file_modified(cx, ki);
        if r != 0 {
            return cx.ret(F, r);
        }
        return cx.ret(F, count as i64);
    }
}

/// ext4_dio_write_iter() (docs/model.md §5.2).
pub fn ext4_dio_write_iter(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "ext4_dio_write_iter";
    cx.enter(
        F,
        &[
            ("pos", ki.ki_pos as i64),
            ("count", iter.count as i64),
            ("ki_flags", ki.ki_flags as i64),
        ],
    );
    let (offset, count) = (ki.ki_pos, iter.count);
    let mut c = DioChecks {
        ilock_shared: offset + count <= cx.inode.i_size,
        extend: false,
        unwritten: false,
        dio_flags: 0,
    };
    if ki.has(IOCB_NOWAIT) && cx.race(Race::LockContended) {
        cx.decide("ext4_dio_write_iter: NOWAIT trylock failed -> -EAGAIN");
        return cx.ret(F, -EAGAIN);
    }
    // S1: the inode does not support DIO -> buffered for everything (no atomic check, no WARN).
    if !ext4_should_use_dio(cx, ki, iter) {
        cx.decide("S1: ext4_should_use_dio() false -> ext4_buffered_write_iter");
        let r = ext4_buffered_write_iter(cx, ki, iter);
        return cx.ret(F, r);
    }
    // clear EXT4_STATE_MAY_INLINE_DATA
    let r = ext4_dio_write_checks(cx, ki, iter, &mut c);
    if r <= 0 {
        return cx.ret(F, r);
    }
    let mut ret: i64;
    'out: {
        if c.extend {
            if let Some(e) = cx.fault(Site::Ext4ExtendJournalStart) {
                ret = e;
                break 'out;
            }
            if let Some(e) = cx.fault(Site::Ext4OrphanAdd) {
                ret = e;
                break 'out;
            }
            cx.inode.orphan = true;
        }
        let ops = if cx.v.ext4_overwrite_ops && c.ilock_shared && !c.unwritten {
            IomapOps::Ext4Overwrite
        } else {
            IomapOps::Ext4
        };
        ret = iomap_dio_rw(cx, ki, iter, ops, DioOps::Ext4, c.dio_flags, 0);
        if ret == -ENOTBLK {
            ret = 0;
            match cx.v.ext4_enotblk {
                Ext4Enotblk::Zero => cx.decide("S2: ext4_dio_write_iter: -ENOTBLK -> 0, fall back"),
                Ext4Enotblk::WarnEio if ki.has(IOCB_ATOMIC) => {
                    cx.warn(
                        "ext4_dio_write_iter: WARN_ON_ONCE(IOCB_ATOMIC) on -ENOTBLK (thread v1)",
                    );
                    ret = -EIO;
                }
                Ext4Enotblk::Eio if ki.has(IOCB_ATOMIC) => {
                    cx.decide("ext4_dio_write_iter: atomic -ENOTBLK -> -EIO (thread v2)");
                    ret = -EIO;
                }
                _ => cx.decide("S2: ext4_dio_write_iter: -ENOTBLK -> 0, fall back"),
            }
        }
        if c.extend {
            if ret == -EIOCBQUEUED {
                cx.warn(
                    "ext4_dio_write_iter: WARN_ON_ONCE(ret == -EIOCBQUEUED) on an extending write",
                );
            }
            ext4_inode_extension_cleanup(cx, ret < 0);
        }
    }
    // out: unlock
    if ret >= 0 && iter.count > 0 {
        // The buffered fallback for what DIO did not write.
        cx.decide("ext4_dio_write_iter: short DIO -> buffered fallback of the remainder");
        if cx.v.ext4_fallback_warn && ki.has(IOCB_ATOMIC) {
            cx.warn("ext4_dio_write_iter: WARN_ON_ONCE(IOCB_ATOMIC) before the buffered fallback");
        }
        let off = ki.ki_pos;
        let e = ext4_buffered_write_iter(cx, ki, iter);
        if e < 0 {
            cx.decide("ext4_dio_write_iter: buffered fallback failed, DIO bytes discarded from the result");
            return cx.ret(F, e);
        }
        ret += e;
        if e > 0 {
            let end = off + e as u64 - 1;
            let fe = filemap_write_and_wait_range(cx, off, end, Site::FallbackFlush);
            if fe == 0 {
                invalidate_mapping_pages(
                    cx,
                    (off / PAGE_SIZE) as usize,
                    (end / PAGE_SIZE) as usize,
                );
            } else {
                cx.decide("ext4_dio_write_iter: fallback flush failed (ignored)");
            }
        }
    }
    cx.ret(F, ret)
}

/// ext4_dio_write_end_io() (docs/model.md §5.6).
pub fn ext4_dio_write_end_io(cx: &mut Cx, ki: &Kiocb, size: u64, error: i64, flags: u32) -> i64 {
    const F: &str = "ext4_dio_write_end_io";
    cx.enter(
        F,
        &[
            ("size", size as i64),
            ("error", error),
            ("end_io_flags", flags as i64),
        ],
    );
    let pos = ki.ki_pos;
    let mut error = error;
    if error == 0 && size > 0 && flags & IOMAP_DIO_UNWRITTEN != 0 {
        let atomic = cx.v.ext4_multi_fsblock_atomic && ki.has(IOCB_ATOMIC);
        error = super::extents::ext4_convert_unwritten_extents(cx, pos, size, atomic);
    }
    if error != 0 {
        return cx.ret(F, error);
    }
    if pos + size <= cx.inode.i_disksize && pos + size <= cx.inode.i_size {
        let r = if cx.v.ext4_end_io_returns_size {
            size as i64
        } else {
            0
        };
        return cx.ret(F, r);
    }
    let e = ext4_handle_inode_extension(cx, pos, size, size);
    if e < 0 {
        cx.decide("ext4_dio_write_end_io: size update failed after the data was written");
    }
    let r = if cx.v.ext4_end_io_returns_size || e < 0 {
        e
    } else {
        0
    };
    cx.ret(F, r)
}

/// ext4_handle_inode_extension(): journal, i_size/i_disksize update, orphan removal.
fn ext4_handle_inode_extension(cx: &mut Cx, offset: u64, written: u64, count: u64) -> i64 {
    if let Some(e) = cx.fault(Site::Ext4InodeExtension) {
        return e;
    }
    let end = offset + written;
    if written == 0 && end > cx.inode.i_size {
        // An extending DIO that wrote nothing and failed nothing (up to 7.2 the tail zeroing's 0
        // over a pinning error; to 6.17 ->iomap_end's -ENOTBLK consumed): iomap_dio_complete()
        // still calls ->end_io with size 0, and ext4_update_inode_size(offset + 0) moves i_size
        // and i_disksize to the position (journalled: it survives a remount). Read in 6.12 and
        // 7.3; XFS's xfs_dio_write_end_io returns first when size is 0.
        cx.decide(
            "ext4_handle_inode_extension: nothing written past EOF: i_size = i_disksize = pos",
        );
    }
    if end > cx.inode.i_size {
        cx.inode.i_size = end;
    }
    if end > cx.inode.i_disksize {
        cx.inode.i_disksize = end;
    }
    if written == count && !cx.inode.flags.unlinked {
        cx.inode.orphan = false;
    }
    written as i64
}

/// ext4_inode_extension_cleanup(): after an extending DIO; on failure drop blocks past EOF.
fn ext4_inode_extension_cleanup(cx: &mut Cx, need_trunc: bool) {
    if need_trunc {
        cx.note("ext4_truncate_failed_write(): drop blocks beyond i_size");
        let first = cx.inode.i_size.div_ceil(cx.bs) as usize;
        for b in cx.inode.blocks.iter_mut().skip(first) {
            *b = Blk::HOLE;
        }
    }
    cx.inode.orphan = false;
}
