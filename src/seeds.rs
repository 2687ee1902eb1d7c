// SPDX-License-Identifier: GPL-2.0-only
//! Named, readable seed scenarios: the fstests atomic-write checks (A1-A7, E1-E4 and E6 of
//! docs/oracle.md §6) and the seed thread's cases (docs/oracle.md §5). `diofuzz seeds` encodes them
//! into corpus/dio_write/ (one file per name); `cargo test` checks the committed files are up to
//! date.

use crate::generators::*;
use crate::scenario::*;
use std::path::Path;

pub struct Seed {
    pub name: &'static str,
    pub about: &'static str,
    pub scenario: Scenario,
}

fn xfs(f: impl FnOnce(&mut Scenario)) -> Scenario {
    with(|s| {
        s.fs = FsKind::Xfs;
        f(s)
    })
}

pub fn all() -> Vec<Seed> {
    let seed = |name, about, scenario| Seed {
        name,
        about,
        scenario,
    };
    vec![
        // ---- fstests-derived conformance (A1-A7)
        seed("a1_statx_one_block", "A1/E1: a one-block atomic write over written blocks", base()),
        seed("a2_len_below_min", "A2: length below unit_min -> EINVAL", with(|s| s.request.len = 2048)),
        seed("a2_len_above_max", "A2: length above unit_max -> EINVAL", with(|s| s.request.len = 8192)),
        seed("a3_len_not_pow2", "A3: 12 KiB with bigalloc -> EINVAL", bigalloc(|s| s.request.len = 12 * KIB)),
        seed("a4_pos_unaligned", "A4: position not a multiple of the length -> EINVAL", with(|s| s.request.pos = 512)),
        seed("a5_two_iovecs", "A5: two iovec segments -> EINVAL", with(|s| s.request.nr_segs = 2)),
        seed("a6_no_odirect", "A6: no O_DIRECT -> EOPNOTSUPP", with(|s| s.request.open.direct = false)),
        seed("a7_read_atomic", "A7: RWF_ATOMIC on a read -> EOPNOTSUPP", with(|s| s.request.read = true)),
        seed(
            "a7_no_atomic_device",
            "A7: the device has no atomic writes -> EOPNOTSUPP",
            with(|s| s.world.device = Device::default()),
        ),
        // ---- E1-E4 layouts
        seed("e4_unwritten", "E4: atomic write over a preallocated (unwritten) block", with(|s| s.world.blocks[0] = unwritten())),
        seed(
            "e4_eof_extend",
            "E4: atomic write extending the file into a hole past EOF",
            with(|s| {
                s.request.pos = 16 * KIB;
            }),
        ),
        seed(
            "e4_hole_inside",
            "E4: atomic write into a hole inside i_size",
            with(|s| s.world.blocks[1] = hole()),
        ),
        seed(
            "e3_bigalloc_full",
            "E1/E3: 16 KiB atomic write over one written extent (bigalloc)",
            bigalloc(|_| {}),
        ),
        seed(
            "e3_bigalloc_mixed",
            "E4: 16 KiB atomic write over written+hole+unwritten (mixed mapping, bigalloc slow path)",
            bigalloc(|s| {
                s.world.blocks[1] = hole();
                s.world.blocks[2] = unwritten();
            }),
        ),
        seed(
            "e6_enospc",
            "E6: ENOSPC allocating a hole for an atomic write",
            with(|s| {
                s.request.pos = 16 * KIB;
                s.faults = vec![
                    Fault { site: Site::Ext4MapBlocksCreate, nth: 0, errno: crate::errno::ENOSPC },
                    Fault { site: Site::Ext4MapBlocksCreate, nth: 1, errno: crate::errno::ENOSPC },
                ];
            }),
        ),
        // ---- the seed thread's cases
        seed(
            "thread_s2_invalidate_busy",
            "S2: page-cache invalidation fails (mmap re-dirty) -> -ENOTBLK/-EAGAIN",
            with(|s| s.world.pages = vec![PageState::MappedDirty]),
        ),
        seed(
            "thread_s2_nonatomic_fallback",
            "S2 non-atomic: invalidation fails (mmap re-dirty) -> buffered fallback (allowed)",
            with(|s| {
                s.request.rwf.atomic = false;
                // Not Busy: an ordered-mode ext4 folio always releases once clean (rule W25).
                s.world.pages = vec![PageState::MappedDirty];
            }),
        ),
        seed(
            "thread_s3_indirect_hole",
            "S3: hole in an indirect-mapped inode inside i_size -> -ENOTBLK from iomap_begin -> fallback",
            with(|s| {
                s.world.inode.extents = false;
                s.world.blocks[0] = hole();
            }),
        ),
        seed(
            "thread_s4_append_zero_progress",
            "S4/S5: O_APPEND to EOF 4608 (block 1 a hole inside i_size), bio_iov_iter_get_pages -ENOMEM, tail zeroing masks it, zero progress -> ->iomap_end -ENOTBLK (6.12/thread v1) -> buffered",
            with(|s| {
                s.request.open.append = true;
                s.world.i_size = 4608;
                s.world.blocks = vec![written()];
                s.faults = vec![Fault { site: Site::DioGetPages, nth: 0, errno: crate::errno::ENOMEM }];
            }),
        ),
        seed(
            "thread_s4_append_efault",
            "as above with an unmapped user buffer: the fallback's copy faults too (-EFAULT)",
            with(|s| {
                s.request.open.append = true;
                s.world.i_size = 4608;
                s.world.blocks = vec![written()];
                s.request.fault_at = Some(0);
            }),
        ),
        seed(
            "thread_s1_data_journal",
            "S1: data=journal mount: ext4_should_use_dio() false -> buffered (no WARN)",
            with(|s| s.world.mount.data_journal = true),
        ),
        seed(
            "thread_s1_journal_flag_after_open",
            "S1: JOURNAL_DATA set after open (chattr +j on nodelalloc)",
            with(|s| {
                s.world.inode.journal_data = true;
                s.races = vec![Race::InodeFlagChangedAfterOpen(1)];
            }),
        ),
        seed(
            "thread_v12_forced_atomic",
            "6.12: no atomic support, RWF_ATOMIC refused at kiocb_set_rw_flags",
            base(),
        ),
        // ---- other paths
        seed(
            "dax_atomic",
            "ext4 DAX inode: a DAX device has no atomic units, so RWF_ATOMIC is refused at open (-EOPNOTSUPP; validity rule W1)",
            with(|s| {
                s.world.inode.dax = true;
                s.world.device = Device::default();
            }),
        ),
        seed(
            "rlimit_truncates_atomic",
            "RLIMIT_FSIZE truncates an atomic write after validation",
            bigalloc(|s| s.world.rlimit_fsize = Some(8 * KIB)),
        ),
        seed("aio_atomic", "async (aio) atomic write", with(|s| s.request.aio = true)),
        seed(
            "nowait_cached_page",
            "RWF_NOWAIT atomic write with a cached page -> EAGAIN",
            with(|s| {
                s.request.rwf.nowait = true;
                s.world.pages = vec![PageState::Clean];
            }),
        ),
        seed(
            "nonatomic_unaligned_lbs",
            "non-atomic write misaligned to a 4 KiB logical block: EINVAL (6.15-6.17: ->iomap_end -ENOTBLK wins -> buffered)",
            with(|s| {
                s.request.rwf.atomic = false;
                s.world.lbs_bits = 12;
                s.request.pos = 512;
            }),
        ),
        seed(
            "nonatomic_extend_efault",
            "non-atomic extending write, user buffer faults half-way: short DIO, buffered remainder",
            with(|s| {
                s.request.rwf.atomic = false;
                s.request.pos = 16 * KIB;
                s.request.len = 16 * KIB;
                s.request.fault_at = Some(8 * KIB);
            }),
        ),
        seed(
            "nonatomic_dirty_page_flush",
            "non-atomic DIO over a dirty page: flush, invalidate, write",
            with(|s| {
                s.request.rwf.atomic = false;
                s.world.pages = vec![PageState::Dirty];
            }),
        ),
        seed(
            "xfs_atomic_one_block",
            "XFS: one-block atomic write over written blocks",
            xfs(|_| {}),
        ),
        seed(
            "xfs_atomic_sw_cow",
            "XFS: 16 KiB atomic write over a shared extent (software CoW atomic)",
            xfs(|s| {
                s.world.inode.reflink = true;
                s.world.blocks = vec![BlockState { kind: Extent::Written, new_extent: false, shared: true }; 4];
                s.request.len = 16 * KIB;
            }),
        ),
        seed(
            "xfs_unaligned_reflink",
            "XFS: unaligned DIO to a reflink inode -> -ENOTBLK -> buffered (non-atomic)",
            xfs(|s| {
                s.world.inode.reflink = true;
                s.request.rwf.atomic = false;
                s.request.pos = 512;
                s.request.len = 1024;
            }),
        ),
        seed(
            "bdev_atomic",
            "block device: one atomic write",
            with(|s| {
                s.fs = FsKind::Bdev;
                s.world.blocks = vec![];
                s.world.i_size = 64 * KIB;
            }),
        ),
        seed(
            "bdev_atomic_invalidate_busy",
            "block device: invalidation -EBUSY -> 0 -> buffered fallback of an atomic write",
            with(|s| {
                s.fs = FsKind::Bdev;
                s.world.blocks = vec![];
                s.world.i_size = 64 * KIB;
                s.world.pages = vec![PageState::Busy];
            }),
        ),
    ]
}

/// Write every seed, encoded, as DIR/NAME. Returns how many.
pub fn write_all(dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let all = all();
    for s in &all {
        let bytes = s
            .scenario
            .encode()
            .map_err(|e| format!("seed {}: {e}", s.name))?;
        let p = dir.join(s.name);
        std::fs::write(&p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(all.len())
}
