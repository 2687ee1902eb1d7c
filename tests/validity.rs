// SPDX-License-Identifier: GPL-2.0-only
//! World validity (src/validity.rs): one test per rule (a scenario that breaks it is rejected with
//! that rule, and normalise() turns it into a valid one), decoding always yields valid worlds,
//! valid scenarios are fixed points, and the fuzz target reports nothing on an invalid world.

use diofuzz::errno::*;
use diofuzz::generators::{base, written};
use diofuzz::scenario::*;
use diofuzz::validity::{self, *};

fn ext4() -> Scenario {
    base()
}
fn xfs() -> Scenario {
    Scenario {
        fs: FsKind::Xfs,
        ..base()
    }
}
fn bdev() -> Scenario {
    let mut s = base();
    s.fs = FsKind::Bdev;
    s.world.i_size = 65536;
    s
}
fn blocks(spec: &str) -> Vec<BlockState> {
    spec.chars()
        .map(|c| BlockState {
            kind: match c {
                'U' => Extent::Unwritten,
                'W' => Extent::Written,
                'D' => Extent::Delalloc,
                _ => Extent::Hole,
            },
            ..BlockState::default()
        })
        .collect()
}
fn flag_race(i: u8) -> Race {
    Race::InodeFlagChangedAfterOpen(i)
}

/// `s` breaks exactly `rule` first, and normalise() makes it valid.
fn rejected(mut s: Scenario, rule: Rule) {
    let v = validity::violations(&s);
    assert!(
        v.iter().any(|x| x.rule == rule),
        "expected {} in {:?}",
        rule.id,
        v.iter().map(|x| x.rule.id).collect::<Vec<_>>()
    );
    let applied = validity::normalise(&mut s);
    assert!(!applied.is_empty());
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
}

fn accepted(s: &Scenario) {
    assert!(validity::is_valid(s), "{:?}", validity::violations(s));
    let mut t = s.clone();
    assert!(validity::normalise(&mut t).is_empty());
    assert_eq!(&t, s, "a valid scenario is a fixed point");
}

#[test]
fn w21_dax_always_makes_every_file_dax() {
    // XFS with dax=always: every regular file is DAX (xfs_inode_should_enable_dax).
    let mut x = xfs();
    x.world.device = Device::default();
    x.world.mount.dax = true;
    rejected(x.clone(), DAX_ALWAYS_EVERY_FILE);
    // Normalised to the mount without the option; the file stays as it was.
    let mut n = x.clone();
    validity::normalise(&mut n);
    assert!(!n.world.mount.dax && !n.world.inode.dax);
    x.world.inode.dax = true;
    accepted(&x);
    // ext4: a journalled-data inode is not DAX under dax=always (ext4_should_enable_dax).
    let mut e = ext4();
    e.world.device = Device::default();
    e.world.mount.dax = true;
    rejected(e.clone(), DAX_ALWAYS_EVERY_FILE);
    e.world.inode.journal_data = true;
    accepted(&e);
    // S_DAX is decided at inode load: a +j file (not DAX) whose +j is cleared after open stays
    // not DAX at the write (ext4_set_inode_flags(inode, false) keeps S_DAX as it was).
    let mut j = e.clone();
    j.world.inode.journal_data = false;
    j.races = vec![flag_race(1)];
    assert!(j.inode_at_open().journal_data);
    assert!(
        validity::violations(&j)
            .iter()
            .all(|v| v.rule != DAX_ALWAYS_EVERY_FILE),
        "{:?}",
        validity::violations(&j)
    );
    // Without the race the same file at the write would have been made DAX at load.
    j.races.clear();
    rejected(j, DAX_ALWAYS_EVERY_FILE);
}

/// W24: ext4_max_bitmap_size() < ext4_max_size() (fs/ext4/super.c), and
/// ext4_generic_write_checks applies the bitmap limit to every inode without EXTENTS: a scaled
/// s_maxbytes on a block-mapped inode needs a scaled bitmap limit at or below it.
#[test]
fn w24_bitmap_limit_below_s_maxbytes() {
    let mut s = ext4();
    s.world.i_size = 8192;
    s.world.blocks = blocks("WW");
    s.request.pos = 4096;
    s.request.len = 8192;
    s.world.s_maxbytes = 3 * 4096;
    accepted(&s);
    s.world.inode.extents = false;
    rejected(s.clone(), EXT4_BITMAP_BELOW_MAXBYTES);
    let mut n = s.clone();
    validity::normalise(&mut n);
    assert_eq!(n.world.s_bitmap_maxbytes, 3 * 4096);
    s.world.s_bitmap_maxbytes = 4 * 4096;
    rejected(s.clone(), EXT4_BITMAP_BELOW_MAXBYTES);
    s.world.s_bitmap_maxbytes = 3 * 4096;
    accepted(&s);
    s.world.s_maxbytes = HUGE_MAXBYTES;
    s.world.s_bitmap_maxbytes = 2 * 4096;
    accepted(&s);
    // XFS has no bitmap limit.
    let mut x = xfs();
    x.world.i_size = 8192;
    x.world.blocks = blocks("WW");
    x.world.s_maxbytes = 3 * 4096;
    x.world.inode.extents = false;
    assert!(validity::violations(&x)
        .iter()
        .all(|v| v.rule != EXT4_BITMAP_BELOW_MAXBYTES));
}

#[test]
fn w1_dax_inode_on_an_atomic_device() {
    let mut s = ext4();
    s.world.inode.dax = true;
    rejected(s.clone(), DAX_NO_ATOMIC_DEVICE);
    // Normalised the way the kernel decides: the inode is not DAX on a non-DAX device.
    validity::normalise(&mut s);
    assert!(!s.world.inode.dax && s.world.device.awu_max == 65536);
    let mut x = xfs();
    x.world.inode.dax = true;
    x.world.device = Device::default();
    accepted(&x);
}

#[test]
fn w2_dax_needs_page_sized_blocks() {
    let mut s = xfs();
    s.world.device = Device::default();
    s.world.inode.dax = true;
    s.world.blkbits = 10;
    rejected(s, DAX_PAGE_BLOCKS);
}

#[test]
fn w3_ext4_dax_exclusions() {
    let mut s = ext4();
    s.world.device = Device::default();
    s.world.inode.dax = true;
    accepted(&s);
    s.world.inode.journal_data = true;
    rejected(s.clone(), EXT4_DAX_EXCLUSIONS);
    s.world.inode.journal_data = false;
    s.world.mount.dax = true;
    s.world.mount.data_journal = true;
    rejected(s, EXT4_DAX_EXCLUSIONS);
}

#[test]
fn w4_dax_has_no_page_cache() {
    let mut s = xfs();
    s.world.device = Device::default();
    s.world.inode.dax = true;
    s.world.blocks = blocks("WDWW");
    rejected(s.clone(), DAX_NO_PAGE_CACHE);
    s.world.blocks = blocks("WWWW");
    s.races = vec![Race::MmapRedirty];
    rejected(s, DAX_NO_PAGE_CACHE);
}

#[test]
fn w5_verity_inode_with_a_writer() {
    let mut s = ext4();
    s.world.inode.verity = true;
    rejected(s.clone(), VERITY_NO_WRITER);
    // enabled after open by another fd while this one writes: deny_write_access refuses
    s.races = vec![flag_race(4)];
    rejected(s.clone(), VERITY_NO_WRITER);
    // a read of a verity file is fine
    s.races.clear();
    s.request.read = true;
    accepted(&s);
}

#[test]
fn w6_inline_data_with_extent_blocks() {
    let mut s = ext4();
    s.world.inode.inline_data = true;
    rejected(s.clone(), INLINE_DATA_ALONE);
    validity::normalise(&mut s);
    assert!(!s.world.inode.extents && s.world.i_size < 4096);
    assert!(s.world.blocks.iter().all(|b| b.kind == Extent::Hole));
}

#[test]
fn w7_indirect_inode_has_no_unwritten_blocks_or_bigalloc() {
    let mut s = ext4();
    s.world.inode.extents = false;
    accepted(&s);
    s.world.blocks = blocks("WUWW");
    rejected(s.clone(), INDIRECT_LAYOUT);
    s.world.blocks = blocks("WWWW");
    s.world.cluster_bits = 2;
    rejected(s, INDIRECT_LAYOUT);
}

#[test]
fn w8_extent_inode_needs_the_extents_feature() {
    let mut s = ext4();
    s.world.mount.extents_feature = false;
    rejected(s.clone(), EXTENTS_FEATURE);
    s.world.inode.extents = false;
    accepted(&s);
}

#[test]
fn w9_chattr_e_on_layouts_ext4_ind_migrate_refuses() {
    // extents at open, indirect at the write: chattr -e after open.
    let mut s = ext4();
    s.world.inode.extents = false;
    s.races = vec![flag_race(0)];
    // one written extent inside the first 12 blocks: accepted
    s.world.blocks = blocks("WWWW");
    accepted(&s);
    // two extents (a hole between them)
    s.world.blocks = blocks("WHWW");
    rejected(s.clone(), FLAG_CHANGE_AFTER_OPEN);
    // a physical break = two extents
    let mut b = blocks("WWWW");
    b[2].new_extent = true;
    s.world.blocks = b;
    rejected(s.clone(), FLAG_CHANGE_AFTER_OPEN);
    // an unwritten extent (W7 also applies at the write)
    s.world.blocks = blocks("UUUU");
    rejected(s.clone(), FLAG_CHANGE_AFTER_OPEN);
    // past EXT4_NDIR_BLOCKS
    s.world.blocks = blocks("HHHHHHHHHHHHW");
    rejected(s, FLAG_CHANGE_AFTER_OPEN);
}

#[test]
fn w9_flags_that_cannot_change_on_an_open_file() {
    for (i, setup) in [(5u8, "dax"), (3, "encrypted"), (2, "inline")] {
        let mut s = ext4();
        s.world.device = Device::default();
        match setup {
            "dax" => s.world.inode.dax = true,
            "encrypted" => s.world.inode.encrypted = true,
            _ => {
                // not inline at open, inline at the write
                s.world.inode.inline_data = true;
                s.world.inode.extents = false;
                s.world.blocks.clear();
                s.world.i_size = 100;
            }
        }
        s.races = vec![flag_race(i)];
        rejected(s, FLAG_CHANGE_AFTER_OPEN);
    }
    // ext4 flags on XFS
    let mut x = xfs();
    x.races = vec![flag_race(1)];
    rejected(x, FLAG_CHANGE_AFTER_OPEN);
    // chattr +j / +i / reflink after open are real
    let mut s = ext4();
    s.world.inode.journal_data = true;
    s.races = vec![flag_race(1)];
    accepted(&s);
}

#[test]
fn w10_no_write_fd_on_an_immutable_or_append_only_inode() {
    let mut s = ext4();
    s.world.inode.immutable = true;
    rejected(s.clone(), WRITE_OPEN_FLAGS);
    // normalised to "set after open", which keeps the write's -EPERM
    validity::normalise(&mut s);
    assert!(s.world.inode.immutable && s.has_race(flag_race(6)));
    let mut a = ext4();
    a.world.inode.append_only = true;
    rejected(a.clone(), WRITE_OPEN_FLAGS);
    a.request.open.append = true;
    accepted(&a);
}

#[test]
fn w11_options_of_another_filesystem() {
    let mut s = ext4();
    s.world.blocks[0].shared = true;
    rejected(s, FS_OPTIONS);
    let mut x = xfs();
    x.world.inode.journal_data = true;
    rejected(x.clone(), FS_OPTIONS);
    x.world.inode.journal_data = false;
    x.world.cluster_bits = 2;
    rejected(x, FS_OPTIONS);
    let mut b = bdev();
    b.world.inode.dax = true;
    rejected(b, FS_OPTIONS);
}

#[test]
fn w12_shared_blocks_need_reflink() {
    let mut x = xfs();
    x.world.mount.xfs_reflink = false;
    x.world.blocks[1].shared = true;
    rejected(x, REFLINK_FEATURE);
}

#[test]
fn w13_device_units_are_well_formed() {
    let mut s = ext4();
    s.world.device.awu_min = 65536;
    s.world.device.awu_max = 4096;
    rejected(s.clone(), DEVICE_UNITS);
    s.world.device.awu_min = 512;
    s.world.device.awu_max = 0;
    rejected(s.clone(), DEVICE_UNITS);
    s.world.lbs_bits = 12;
    s.world.device.awu_min = 512;
    s.world.device.awu_max = 16384;
    rejected(s.clone(), DEVICE_UNITS);
    validity::normalise(&mut s);
    assert_eq!(
        (s.world.device.awu_min, s.world.device.awu_max),
        (4096, 16384)
    );
}

#[test]
fn w14_xfs_folios_release_when_clean() {
    let mut x = xfs();
    x.world.pages = vec![PageState::Busy];
    rejected(x, XFS_NO_BUSY_FOLIO);
    let mut s = ext4();
    s.world.pages = vec![PageState::Busy];
    s.world.mount.data_journal = true;
    accepted(&s);
}

#[test]
fn w26_chattr_i_after_open_flushes_on_ext4() {
    // ext4_ioctl_setflags: +i on a regular file runs filemap_write_and_wait first.
    let mut s = ext4();
    s.world.inode.immutable = true;
    s.races = vec![Race::InodeFlagChangedAfterOpen(6)];
    s.world.pages = vec![PageState::Clean, PageState::Writeback];
    rejected(s.clone(), IMMUTABLE_FLUSH);
    validity::normalise(&mut s);
    assert_eq!(s.world.pages, vec![PageState::Clean, PageState::Clean]);
    assert_eq!(s.races, vec![Race::InodeFlagChangedAfterOpen(6)]);
    // Clean pages are what the flush leaves.
    let mut c = ext4();
    c.world.inode.immutable = true;
    c.races = vec![Race::InodeFlagChangedAfterOpen(6)];
    c.world.pages = vec![PageState::Clean];
    accepted(&c);
    // XFS is not covered (xfs_fileattr_set).
    let mut x = xfs();
    x.world.inode.immutable = true;
    x.races = vec![Race::InodeFlagChangedAfterOpen(6)];
    x.world.pages = vec![PageState::Dirty];
    assert!(!validity::violations(&x)
        .iter()
        .any(|v| v.rule == IMMUTABLE_FLUSH));
}

#[test]
fn w25_ext4_folios_release_unless_journalled() {
    // ext4_release_folio: an ordered-mode folio's buffers have no journal head; only a dirty one
    // fails to release, and that is PageState::Dirty / MappedDirty.
    let mut s = ext4();
    s.world.pages = vec![PageState::Clean, PageState::Busy];
    rejected(s.clone(), EXT4_NO_BUSY_FOLIO);
    validity::normalise(&mut s);
    assert_eq!(s.world.pages, vec![PageState::Clean, PageState::Clean]);
    // Journalled data keeps its buffers on a transaction (jbd2_journal_try_to_free_buffers).
    let mut j = ext4();
    j.world.pages = vec![PageState::Busy];
    j.world.mount.data_journal = true;
    accepted(&j);
    // The block device's buffers (a mounted filesystem's, the bh LRU) are another matter.
    let mut b = ext4();
    b.fs = FsKind::Bdev;
    b.world.blocks = vec![];
    b.world.i_size = 65536;
    b.world.pages = vec![PageState::Busy];
    accepted(&b);
}

/// An XFS reflink inode whose CoW fork holds `cow` (4 KiB blocks: block b is page b).
fn cow(c: &str, pages: &str) -> Scenario {
    let mut s = xfs();
    s.world.inode.reflink = true;
    s.world.cow = diofuzz::generators::cow_fork(c).unwrap();
    s.world.pages = diofuzz::generators::pages(pages).unwrap();
    s
}

#[test]
fn w15_cow_fork_needs_xfs_reflink() {
    accepted(&cow("UUNU", ""));
    let mut s = cow("UUNU", "");
    s.world.mount.xfs_reflink = false;
    s.world.inode.reflink = false;
    rejected(s, COW_FORK_REFLINK);
    let mut e = ext4();
    e.world.cow = vec![CowExtent::Unwritten];
    rejected(e.clone(), COW_FORK_REFLINK);
    validity::normalise(&mut e);
    assert!(e.world.cow.is_empty());
    let mut h = ext4();
    h.world.cowextsize = 4;
    rejected(h, COW_FORK_REFLINK);
}

#[test]
fn w16_cow_delalloc_needs_a_cow_inode() {
    let mut s = cow("DN", "D");
    accepted(&s);
    s.world.inode.reflink = false;
    rejected(s.clone(), COW_DELALLOC_COW_INODE);
    // An unwritten preallocation is possible on any inode of a reflink filesystem (6.16+
    // xfs_atomic_write_cow_iomap_begin creates the fork on a non-reflink inode) ...
    let mut u = s.clone();
    u.world.cow = vec![CowExtent::Unwritten];
    accepted(&u);
    // ... and always_cow or a shared block make the inode a CoW inode.
    let mut a = s.clone();
    a.world.mount.xfs_always_cow = true;
    accepted(&a);
    s.world.blocks = diofuzz::generators::layout("SW").unwrap();
    accepted(&s);
}

#[test]
fn w17_one_block_cowextsize_leaves_nothing_at_rest() {
    let mut s = cow("UD", "ND");
    s.world.cowextsize = 1;
    rejected(s.clone(), COW_EXTSIZE_ONE);
    // Under dirty (or writeback) pages the blocks are the buffered write's own.
    s.world.pages = diofuzz::generators::pages("WD").unwrap();
    accepted(&s);
    s.world.cowextsize = 2;
    s.world.pages.clear();
    s.world.cow = vec![CowExtent::Unwritten; 2];
    accepted(&s);
}

#[test]
fn w18_delalloc_cow_reservation_is_held_by_a_dirty_page() {
    // A dirty page anywhere over the delalloc run holds the whole reservation.
    accepted(&cow("DDDD", "NNND"));
    rejected(cow("DDDD", ""), COW_DELALLOC_DIRTY);
    // A writeback page was already mapped: its delalloc was converted.
    rejected(cow("DDNU", "W"), COW_DELALLOC_DIRTY);
    // Each run on its own.
    let mut s = cow("DNDD", "NNND");
    rejected(s.clone(), COW_DELALLOC_DIRTY);
    validity::normalise(&mut s);
    assert_eq!(s.world.cow, diofuzz::generators::cow_fork("NNDD").unwrap());
}

#[test]
fn w19_dma_alignment_is_a_mask_up_to_a_page() {
    let mut s = ext4();
    for m in [1, 7, 511, 4095] {
        s.world.device.dma_alignment = m;
        accepted(&s);
    }
    for (bad, fixed) in [(0, 511), (8, 15), (6, 7), (4096, 4095), (u32::MAX, 4095)] {
        s.world.device.dma_alignment = bad;
        rejected(s.clone(), DMA_ALIGNMENT_MASK);
        let mut t = s.clone();
        validity::normalise(&mut t);
        assert_eq!(t.world.device.dma_alignment, fixed, "{bad}");
    }
}

#[test]
fn f1_fault_sites_of_another_filesystem() {
    let mut x = xfs();
    x.faults = vec![Fault {
        site: Site::Ext4MapBlocksCreate,
        nth: 0,
        errno: ENOSPC,
    }];
    rejected(x.clone(), FAULT_SITE_FS);
    x.faults[0].site = Site::XfsIomapBegin;
    accepted(&x);
    let mut s = ext4();
    s.faults = vec![Fault {
        site: Site::DioZero,
        nth: 0,
        errno: EINVAL,
    }];
    rejected(s, FAULT_SITE_FS);
}

#[test]
fn f2_bio_eagain_needs_req_nowait() {
    let mut s = xfs();
    s.request.rwf.atomic = false;
    s.request.len = 512;
    s.faults = vec![Fault {
        site: Site::BioEndIo,
        nth: 0,
        errno: EAGAIN,
    }];
    // the 15-minute run's case: no O_DIRECT at open, toggled by fcntl, no NOWAIT
    s.request.open.direct = false;
    s.races = vec![Race::FcntlToggleDirect];
    rejected(s.clone(), BIO_EAGAIN_NOWAIT);
    // iomap: REQ_NOWAIT only through bio_set_polled (aio + HIPRI + NOWAIT)
    s.request.rwf.nowait = true;
    rejected(s.clone(), BIO_EAGAIN_NOWAIT);
    s.request.rwf.hipri = true;
    s.request.aio = true;
    accepted(&s);
    // the block device: REQ_NOWAIT for every IOCB_NOWAIT bio
    let mut b = bdev();
    b.faults = s.faults.clone();
    rejected(b.clone(), BIO_EAGAIN_NOWAIT);
    b.request.rwf.nowait = true;
    accepted(&b);
}

#[test]
fn f3_invalidation_fails_only_with_ebusy() {
    let mut s = ext4();
    s.faults = vec![Fault {
        site: Site::InvalidateFolio,
        nth: 0,
        errno: EIO,
    }];
    rejected(s, INVALIDATE_EIO_LAUNDER);
}

#[test]
fn f4_no_quota_on_a_block_device() {
    let mut b = bdev();
    b.faults = vec![Fault {
        site: Site::GenericWriteSync,
        nth: 0,
        errno: EDQUOT,
    }];
    rejected(b, BDEV_NO_QUOTA);
}

#[test]
fn f5_file_modified_fails_only_where_something_can_fail() {
    let fault = |errno| Fault {
        site: Site::FileModified,
        nth: 0,
        errno,
    };
    // ext4, IS_NOSEC: neither privilege stripping nor the timestamp update can fail
    let mut s = ext4();
    s.faults = vec![fault(EPERM)];
    rejected(s.clone(), FILE_MODIFIED_PRIVS);
    s.world.inode.nosec = false;
    accepted(&s);
    // XFS: the timestamp transaction can fail with -EIO even for IS_NOSEC
    let mut x = xfs();
    x.faults = vec![fault(EIO)];
    accepted(&x);
    x.faults = vec![fault(ENOMEM)];
    rejected(x, FILE_MODIFIED_PRIVS);
    // the block device node: nothing in file_update_time can fail
    let mut b = bdev();
    b.faults = vec![fault(EIO)];
    rejected(b, FILE_MODIFIED_PRIVS);
}

#[test]
fn w20_no_delalloc_under_journalled_data() {
    let mut s = ext4();
    s.world.blocks = blocks("D");
    accepted(&s);
    let mut j = s.clone();
    j.world.inode.journal_data = true;
    rejected(j.clone(), JOURNAL_DATA_NO_DELALLOC);
    let mut m = s.clone();
    m.world.mount.data_journal = true;
    rejected(m, JOURNAL_DATA_NO_DELALLOC);
    // normalised: the block was allocated at write_begin
    validity::normalise(&mut j);
    assert!(j.world.blocks.iter().all(|b| b.kind == Extent::Written));
    assert!(validity::is_valid(&j));
}

#[test]
fn w21_journal_flag_change_flushes_the_file() {
    // chattr +j after open, dirty page at the write: ext4_change_inode_journal_flag wrote it back.
    let mut s = ext4();
    s.world.i_size = 4096;
    s.world.blocks = blocks("W");
    s.world.inode.journal_data = true;
    s.races = vec![Race::InodeFlagChangedAfterOpen(1)];
    accepted(&s);
    let mut d = s.clone();
    d.world.pages = vec![PageState::Dirty];
    rejected(d.clone(), JOURNAL_FLAG_FLUSH);
    // -j after open: 6.12.117 flushes only when the flag is set, so dirty pages may stay.
    let mut m = d.clone();
    m.world.inode.journal_data = false;
    accepted(&m);
    // A clean page is what the flush leaves: fine.
    let mut c = s.clone();
    c.world.pages = vec![PageState::Clean];
    accepted(&c);
    // Without the race the dirty page is fine; normalising drops the race.
    validity::normalise(&mut d);
    assert!(d.races.is_empty());
    assert!(validity::is_valid(&d));
}

#[test]
fn w29_no_bio_timeout_on_an_atomic_device() {
    let timeout = |s: &mut Scenario| {
        s.faults = vec![Fault {
            site: Site::BioEndIo,
            nth: 0,
            errno: ETIMEDOUT,
        }];
    };
    for mut s in [xfs(), ext4(), bdev()] {
        s.request.rwf.atomic = false;
        s.request.len = 4096;
        timeout(&mut s);
        // null_blk, loop, ublk, mtip32xx: no atomic units, a timeout is theirs to give.
        s.world.device.awu_min = 0;
        s.world.device.awu_max = 0;
        accepted(&s);
        // sd / NVMe (the atomic devices): scsi_result_to_blk_status and nvme_error_status have
        // no BLK_STS_TIMEOUT, a timed-out command ends BLK_STS_IOERR.
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        rejected(s.clone(), BIO_TIMEOUT_ATOMIC_DEVICE);
        validity::normalise(&mut s);
        assert_eq!(s.faults[0].errno, EIO);
        // The other errnos the model injects stay: -EIO, -ENOSPC (sd sense), -EINVAL (an atomic
        // bio the block layer must split or NVMe finds across an atomic boundary), -ENOMEM
        // (6.12 bio_integrity_prep).
        for e in [EIO, ENOSPC, EINVAL, ENOMEM] {
            s.faults[0].errno = e;
            accepted(&s);
        }
    }
}

#[test]
fn w30_no_bio_size_limit_from_fifteen_segments() {
    for mut s in [xfs(), ext4(), bdev()] {
        s.request.nr_segs = 15;
        s.request.buf_align = 512;
        s.request.max_bio = Some(255 * SECTOR);
        rejected(s.clone(), MAX_BIO_LAYOUT);
        s.request.max_bio = Some(SECTOR);
        rejected(s.clone(), MAX_BIO_LAYOUT);
        validity::normalise(&mut s);
        assert_eq!(s.request.max_bio, None);
        accepted(&s);
    }
    // Decoding keeps the byte (decode_raw) and drops the limit (decode normalises).
    let mut s = bdev();
    s.request.max_bio = Some(64 * SECTOR);
    let bytes = s.encode().unwrap();
    let raw = Scenario::decode_raw(&bytes).unwrap();
    assert_eq!(raw.request.max_bio, Some(64 * SECTOR));
    assert_eq!(Scenario::decode(&bytes).unwrap().request.max_bio, None);
}

/// W42: a bio-based disk that never splits (pmem_attach_disk, brd_alloc, zram_add) sets no
/// dma_alignment (blk_validate_limits: 511) and no atomic write limits.
#[test]
fn w42_bio_based_disk_has_default_dma_alignment_and_no_atomic_units() {
    for mut s in [ext4(), xfs(), bdev()] {
        s.world.device.no_bio_split = true;
        s.world.device.awu_min = 0;
        s.world.device.awu_max = 0;
        s.request.rwf.atomic = false;
        accepted(&s);
        let mut d = s.clone();
        d.world.device.dma_alignment = 3;
        rejected(d, BIO_BASED_DEVICE);
        let mut a = s.clone();
        a.world.device.awu_min = 4096;
        a.world.device.awu_max = 65536;
        rejected(a.clone(), BIO_BASED_DEVICE);
        validity::normalise(&mut a);
        assert!(!a.world.device.no_bio_split);
        assert_eq!(a.world.device.awu_max, 65536);
    }
}

/// fs/xfs/xfs_reflink.c xfs_reflink_remap_extent / xfs_reflink_trim_around_shared: only written
/// extents are ever shared; a written shared block on a reflink XFS is a real world.
#[test]
fn w31_only_written_blocks_are_shared() {
    let mut ok = xfs();
    ok.world.mount.xfs_reflink = true;
    ok.world.inode.reflink = true;
    ok.world.i_size = 4 * 4096;
    ok.world.blocks = blocks("WWUH");
    ok.world.blocks[0].shared = true;
    accepted(&ok);
    for (i, kind) in [(2, Extent::Unwritten), (3, Extent::Hole)] {
        let mut s = ok.clone();
        assert_eq!(s.world.blocks[i].kind, kind);
        s.world.blocks[i].shared = true;
        rejected(s.clone(), SHARED_WRITTEN_ONLY);
        validity::normalise(&mut s);
        assert!(!s.world.blocks[i].shared, "{kind:?} still shared");
        assert!(
            s.world.blocks[0].shared,
            "the written shared block stays shared"
        );
        accepted(&s);
    }
}

/// mm/swapfile.c swapon of a block device: a usable page after the header, then
/// inode_drain_writes; afterwards blkdev_write_iter (-ETXTBSY) and do_mmap refuse writers.
#[test]
fn w35_swap_devices_are_two_pages_and_clean() {
    let mut s = bdev();
    s.world.inode.swapfile = true;
    s.world.i_size = 2 * 4096;
    s.world.pages = vec![PageState::Clean];
    accepted(&s);
    let mut d = s.clone();
    d.world.pages = vec![PageState::Dirty];
    rejected(d.clone(), SWAP_DEVICE);
    validity::normalise(&mut d);
    assert!(!d.world.inode.swapfile);
    let mut small = s.clone();
    small.world.i_size = 4096;
    rejected(small, SWAP_DEVICE);
}

/// W41: on a 6 KiB device of 4 KiB logical blocks (a loop device over a 6 KiB file) no page over
/// the last, partial logical block is cached (its read fails: guard_bio_eod + blk_mq_submit_bio's
/// bio_unaligned); the page before it may be, and 512-byte logical blocks have no such block.
#[test]
fn w41_the_partial_last_logical_block_is_never_cached() {
    let mut s = bdev();
    s.world.i_size = 12 * SECTOR;
    s.world.lbs_bits = 12;
    s.world.pages = vec![PageState::Dirty, PageState::None];
    accepted(&s);
    for st in [
        PageState::Clean,
        PageState::Dirty,
        PageState::Writeback,
        PageState::MappedDirty,
        PageState::Busy,
    ] {
        let mut t = s.clone();
        t.world.pages[1] = st;
        rejected(t.clone(), BDEV_TAIL_UNCACHED);
        validity::normalise(&mut t);
        assert_eq!(t.world.pages[1], PageState::None);
        let mut small = t.clone();
        small.world.lbs_bits = 9;
        small.world.pages[1] = st;
        accepted(&small);
    }
    // Whole logical blocks: nothing to refuse.
    let mut w = s.clone();
    w.world.i_size = 16 * SECTOR;
    w.world.pages[1] = PageState::Dirty;
    accepted(&w);
}

/// W41 at 1 and 2 KiB logical blocks (session 11): the page over the buffer that holds the end is
/// never cached, whatever block size the buffers have; the page before it may be, and with
/// 1 KiB buffers the end buffer's page is the last one even when buffers below it lie in it (a
/// dirty, not uptodate folio is real there, but no page state says "not uptodate": a blind
/// spot, never an impossible world).
#[test]
fn w41_small_logical_blocks_keep_the_end_buffers_page_uncached() {
    // 9.5 KiB of 1 KiB logical blocks: the end buffer is [9, 10) KiB with 1 KiB buffers,
    // [8, 10) KiB with 2 KiB ones, [8, 12) KiB with 4 KiB ones: always in page 2.
    for (lbs_bits, size) in [(10, 19 * SECTOR), (11, 19 * SECTOR), (11, 21 * SECTOR)] {
        for blkbits in lbs_bits..=12 {
            let mut s = bdev();
            s.world.lbs_bits = lbs_bits;
            s.world.blkbits = blkbits;
            s.world.i_size = size;
            s.world.pages = vec![PageState::Clean, PageState::Dirty];
            accepted(&s);
            let mut t = s.clone();
            t.world.pages.push(PageState::Dirty);
            rejected(t.clone(), BDEV_TAIL_UNCACHED);
            validity::normalise(&mut t);
            assert_eq!(t.world.pages[2], PageState::None);
        }
    }
}

/// W48: ext4 submits a folio for writeback only once every buffer of it is mapped (no delayed
/// block under a page under writeback), and only dioread_nolock keeps an unwritten block
/// unwritten through the I/O (journalled data converts it at submission).
#[test]
fn w48_writeback_over_unwritten_only_where_it_converts_at_completion() {
    let mut s = ext4();
    s.request.rwf.atomic = false;
    s.world.device = Device::default();
    s.world.pages = vec![PageState::Writeback];
    s.world.blocks[0].kind = Extent::Unwritten;
    accepted(&s);
    for journalled in [false, true] {
        let mut t = s.clone();
        if journalled {
            t.world.mount.data_journal = true;
        } else {
            t.world.blocks[0].kind = Extent::Delalloc;
        }
        rejected(t.clone(), WRITEBACK_CONVERTED);
        validity::normalise(&mut t);
        assert_eq!(
            t.world.blocks[0].kind,
            Extent::Written,
            "journalled {journalled}"
        );
    }
    // XFS converts at completion too, with no such restriction.
    let mut x = xfs();
    x.request.rwf.atomic = false;
    x.world.device = Device::default();
    x.world.pages = vec![PageState::Writeback];
    x.world.blocks[0].kind = Extent::Unwritten;
    assert!(!validity::violations(&x)
        .iter()
        .any(|v| v.rule == WRITEBACK_CONVERTED));
}

/// W47: 1 and 2 KiB logical blocks come from loop devices and SCSI disks (and what stacks on
/// them), never from a DAX device (pmem: 512 or 4096, dcssblk 4096) or a bio-based disk that
/// never splits (pmem, brd 512, zram 4096).
#[test]
fn w47_small_logical_blocks_only_on_devices_that_have_them() {
    for lbs_bits in [10, 11] {
        for mut s in [ext4(), xfs(), bdev()] {
            s.world.device = Device::default();
            s.request.rwf.atomic = false;
            s.world.lbs_bits = lbs_bits;
            accepted(&s);
            let mut split = s.clone();
            split.world.device.no_bio_split = true;
            rejected(split.clone(), SMALL_LBS_DEVICE);
            validity::normalise(&mut split);
            assert_eq!(split.world.lbs_bits, 9);
            assert!(split.world.device.no_bio_split);
            if s.fs != FsKind::Bdev {
                let mut d = s.clone();
                d.world.inode.dax = true;
                d.world.pages.clear();
                rejected(d.clone(), SMALL_LBS_DEVICE);
                validity::normalise(&mut d);
                assert_eq!(d.world.lbs_bits, 9);
            }
        }
        // 512-byte and 4 KiB logical blocks stay where they were.
        let mut p = bdev();
        p.world.device = Device::default();
        p.request.rwf.atomic = false;
        p.world.device.no_bio_split = true;
        accepted(&p);
    }
}

/// block/bdev.c bdev_set_nr_sectors: a block device's size is a whole number of sectors (a file's
/// is not bound so); bdev_open: every open of a block device has O_LARGEFILE.
#[test]
fn w33_block_devices_hold_whole_sectors_and_are_large_files() {
    let mut n = bdev();
    n.request.open.no_largefile = true;
    rejected(n.clone(), BDEV_OPEN_SIZE);
    validity::normalise(&mut n);
    assert!(!n.request.open.no_largefile);
    let mut f = xfs();
    f.request.open.no_largefile = true;
    accepted(&f);
    let mut s = bdev();
    s.world.i_size = 8 * SECTOR + 1;
    rejected(s.clone(), BDEV_OPEN_SIZE);
    validity::normalise(&mut s);
    assert_eq!(s.world.i_size, 8 * SECTOR);
    accepted(&s);
    // A sector multiple that is not a page multiple is a real device (a loop device over a 6 KiB
    // file); so is an empty one.
    s.world.i_size = 12 * SECTOR;
    accepted(&s);
    s.world.i_size = 0;
    accepted(&s);
    // Files may end anywhere.
    let mut f = ext4();
    f.world.i_size = 4097;
    assert!(validity::violations(&f)
        .iter()
        .all(|v| v.rule != BDEV_OPEN_SIZE));
    // The format's odd-byte bit decodes to the sector below on a block device.
    let mut b = bdev();
    b.world.i_size = 16 * SECTOR + 1;
    let bytes = b.encode().unwrap();
    assert_eq!(
        Scenario::decode_raw(&bytes).unwrap().world.i_size,
        16 * SECTOR + 1
    );
    assert_eq!(Scenario::decode(&bytes).unwrap().world.i_size, 16 * SECTOR);
}

/// mm/swapfile.c swapon, fs/iomap/swapfile.c iomap_swapfile_activate (read in 7.3.4).
#[test]
fn w27_swap_files_are_what_swapon_accepts() {
    for mk in [ext4 as fn() -> Scenario, xfs] {
        let mut s = mk();
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.blocks = blocks("WWUW");
        s.world.inode.swapfile = true;
        accepted(&s);
        let mut h = s.clone();
        h.world.blocks = blocks("WHWW");
        rejected(h, SWAPFILE_LAYOUT);
        let mut small = s.clone();
        small.world.i_size = 4096;
        rejected(small, SWAPFILE_LAYOUT);
        let mut header = s.clone();
        header.world.blocks = blocks("UWWW");
        rejected(header, SWAPFILE_LAYOUT);
        let mut dirty = s.clone();
        dirty.world.pages = vec![PageState::Dirty];
        rejected(dirty, SWAPFILE_LAYOUT);
        // swapon after open needs the same file.
        let mut race = s.clone();
        race.world.blocks = blocks("WWHW");
        race.races.push(flag_race(9));
        rejected(race, SWAPFILE_LAYOUT);
    }
}

/// mm/swapfile.c swapon/swapoff open the file O_RDWR without O_APPEND: fs/namei.c may_open
/// refuses an append-only inode (-EPERM), inode_permission an immutable one (read in 7.3.4).
#[test]
fn w32_no_swapon_or_swapoff_after_open_of_an_append_only_inode() {
    for mk in [ext4 as fn() -> Scenario, xfs] {
        let mut s = mk();
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.blocks = blocks("WWUW");
        s.world.inode.swapfile = true;
        s.world.inode.append_only = true;
        s.request.open.append = true;
        // An append-only swap file at rest is real (swapon, then chattr +a).
        accepted(&s);
        // swapon after open (swap at the write, not at open) of an append-only inode: -EPERM.
        let mut on = s.clone();
        on.races.push(flag_race(9));
        rejected(on.clone(), SWAP_CHANGE_WRITE_OPEN);
        // ... normalised to the file as it was at open: not a swap file.
        validity::normalise(&mut on);
        assert!(!on.world.inode.swapfile && on.races.is_empty(), "{on:?}");
        accepted(&on);
        // swapoff after open: the same.
        let mut off = s.clone();
        off.world.inode.swapfile = false;
        off.races.push(flag_race(9));
        rejected(off, SWAP_CHANGE_WRITE_OPEN);
        // +a set after open as well: the swapon may come first (real).
        let mut a = s.clone();
        a.races.push(flag_race(9));
        a.races.push(flag_race(7));
        assert!(!validity::violations(&a)
            .iter()
            .any(|v| v.rule == SWAP_CHANGE_WRITE_OPEN));
    }
}

/// fs/inode.c file_remove_privs_flags, fs/namei.c vfs_link, ext4_da_do_write_end.
#[test]
fn w28_changes_after_open_that_no_call_makes() {
    let mut s = ext4();
    s.races.push(flag_race(8));
    // world: IS_NOSEC (the default) at the write, clear at open: set after open.
    rejected(s.clone(), FLAG_CHANGE_NO_CALL);
    s.world.inode.nosec = false;
    accepted(&s);
    let mut u = xfs();
    u.races.push(flag_race(10));
    // linked at the write, unlinked at open.
    rejected(u.clone(), FLAG_CHANGE_NO_CALL);
    u.world.inode.unlinked = true;
    accepted(&u);
}

/// ext4_write_end, ext4_journalled_write_end and ext4_write_inline_data_end move i_disksize with
/// i_size (ext4_update_inode_size); only ext4_da_do_write_end leaves the lag (W37).
#[test]
fn w37_disksize_lag_needs_delalloc() {
    let mut s = ext4();
    s.world.i_size = 5000;
    s.world.inode.disksize_lag = true;
    accepted(&s);
    let mut j = s.clone();
    j.world.mount.data_journal = true;
    rejected(j.clone(), DISKSIZE_LAG_DELALLOC);
    validity::normalise(&mut j);
    assert!(!j.world.inode.disksize_lag && j.world.mount.data_journal);
    let mut f = s.clone();
    f.world.inode.journal_data = true;
    rejected(f, DISKSIZE_LAG_DELALLOC);
    // The lag at open on a +j inode, written back after open (flag 11 cleared): judged only at
    // the write (the model reads i_disksize there; a committed regression input has it).
    let mut o = ext4();
    o.world.i_size = 5000;
    o.world.inode.journal_data = true;
    o.world.mount.data_journal = true;
    o.races.push(flag_race(11));
    assert!(!validity::violations(&o)
        .iter()
        .any(|v| v.rule == DISKSIZE_LAG_DELALLOC));
    // XFS has no such field in the model's sense: not this rule's business.
    let mut x = xfs();
    x.world.i_size = 5000;
    x.world.inode.disksize_lag = true;
    assert!(!validity::violations(&x)
        .iter()
        .any(|v| v.rule == DISKSIZE_LAG_DELALLOC));
}

/// A `chattr -j` after open: the file's writes went through the journalled paths, which never
/// delay an allocation and convert an unwritten extent they write into (W45).
#[test]
fn w45_jflag_cleared_leaves_no_delayed_or_dirtied_unwritten_block() {
    let mut s = ext4();
    s.world.i_size = 8192;
    s.world.blocks = vec![
        BlockState {
            kind: Extent::Written,
            ..Default::default()
        };
        2
    ];
    s.world.pages = vec![PageState::Dirty, PageState::None];
    s.races.push(flag_race(1));
    assert!(s.inode_at_open().journal_data && !s.world.inode.journal_data);
    accepted(&s);
    let mut d = s.clone();
    d.world.blocks[0].kind = Extent::Delalloc;
    rejected(d.clone(), JFLAG_CLEARED_BLOCKS);
    validity::normalise(&mut d);
    assert_eq!(d.world.blocks[0].kind, Extent::Written);
    assert!(d.has_race(flag_race(1)));
    let mut u = s.clone();
    u.world.blocks[0].kind = Extent::Unwritten;
    rejected(u, JFLAG_CLEARED_BLOCKS);
    // Under a clean page an unwritten block is fine (a read caches zeroes).
    let mut c = s.clone();
    c.world.blocks[0].kind = Extent::Unwritten;
    c.world.pages[0] = PageState::Clean;
    accepted(&c);
    // Without the race the same delayed block is the ordinary delalloc world.
    let mut n = s.clone();
    n.races.clear();
    n.world.blocks[0].kind = Extent::Delalloc;
    assert!(!validity::violations(&n)
        .iter()
        .any(|v| v.rule == JFLAG_CLEARED_BLOCKS));
}

/// W46: a delalloc conversion pending (ext4_da_convert_inline_data_to_extent) only in the world
/// it leaves; the rest is in tests/inline_delalloc.rs.
#[test]
fn w46_inline_delalloc_only_as_the_conversion_leaves_it() {
    let mut s = ext4();
    s.world.i_size = 5121;
    s.world.blocks = diofuzz::generators::layout("DD").unwrap();
    s.world.pages = diofuzz::generators::pages("DD").unwrap();
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    s.world.inline_delalloc = true;
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    // ext4_da_get_block_prep maps block 0 delayed, folio 0 is dirtied.
    let mut c = s.clone();
    c.world.pages[0] = PageState::Clean;
    rejected(c, INLINE_DELALLOC);
    // Only the delalloc aops: a +j inode converts at once.
    let mut j = s.clone();
    j.world.inode.journal_data = true;
    rejected(j, INLINE_DELALLOC);
    // Without INLINE_DATA there is nothing pending.
    let mut n = s.clone();
    n.world.inode.inline_data = false;
    n.world.inode.extents = true;
    rejected(n, INLINE_DELALLOC);
}

#[test]
fn every_rule_has_a_test_above() {
    let src = include_str!("validity.rs");
    for r in RULES {
        let konst = validity_const_name(r);
        assert!(src.contains(konst), "no test uses {konst} ({})", r.id);
    }
}

fn validity_const_name(r: &Rule) -> &'static str {
    match r.id {
        "W1-dax-device" => "DAX_NO_ATOMIC_DEVICE",
        "W2-dax-blocksize" => "DAX_PAGE_BLOCKS",
        "W3-ext4-dax" => "EXT4_DAX_EXCLUSIONS",
        "W4-dax-no-cache" => "DAX_NO_PAGE_CACHE",
        "W5-verity-writer" => "VERITY_NO_WRITER",
        "W6-inline" => "INLINE_DATA_ALONE",
        "W7-indirect" => "INDIRECT_LAYOUT",
        "W8-extents-feature" => "EXTENTS_FEATURE",
        "W9-flag-race" => "FLAG_CHANGE_AFTER_OPEN",
        "W10-open-for-write" => "WRITE_OPEN_FLAGS",
        "W11-fs-options" => "FS_OPTIONS",
        "W12-reflink" => "REFLINK_FEATURE",
        "W13-device-units" => "DEVICE_UNITS",
        "W14-xfs-release" => "XFS_NO_BUSY_FOLIO",
        "W15-cow-fork" => "COW_FORK_REFLINK",
        "W16-cow-delalloc" => "COW_DELALLOC_COW_INODE",
        "W17-cowextsize" => "COW_EXTSIZE_ONE",
        "W18-cow-delalloc-dirty" => "COW_DELALLOC_DIRTY",
        "W19-dma-alignment" => "DMA_ALIGNMENT_MASK",
        "W20-journal-delalloc" => "JOURNAL_DATA_NO_DELALLOC",
        "W21-journal-flag-flush" => "JOURNAL_FLAG_FLUSH",
        "W22-dax-always" => "DAX_ALWAYS_EVERY_FILE",
        "W24-bitmap-maxbytes" => "EXT4_BITMAP_BELOW_MAXBYTES",
        "W25-ext4-release" => "EXT4_NO_BUSY_FOLIO",
        "W26-immutable-flush" => "IMMUTABLE_FLUSH",
        "W27-swapfile" => "SWAPFILE_LAYOUT",
        "W28-flag-no-call" => "FLAG_CHANGE_NO_CALL",
        "W29-bio-timeout" => "BIO_TIMEOUT_ATOMIC_DEVICE",
        "W30-max-bio" => "MAX_BIO_LAYOUT",
        "W31-shared-written" => "SHARED_WRITTEN_ONLY",
        "W32-swap-open" => "SWAP_CHANGE_WRITE_OPEN",
        "W33-bdev" => "BDEV_OPEN_SIZE",
        "W37-disksize-delalloc" => "DISKSIZE_LAG_DELALLOC",
        "W45-jflag-cleared" => "JFLAG_CLEARED_BLOCKS",
        "W35-swap-device" => "SWAP_DEVICE",
        "W42-bio-based-device" => "BIO_BASED_DEVICE",
        "W41-bdev-tail" => "BDEV_TAIL_UNCACHED",
        "W46-inline-delalloc" => "INLINE_DELALLOC",
        "W47-small-lbs" => "SMALL_LBS_DEVICE",
        "W48-writeback-unwritten" => "WRITEBACK_CONVERTED",
        "F1-site" => "FAULT_SITE_FS",
        "F2-bio-eagain" => "BIO_EAGAIN_NOWAIT",
        "F3-launder" => "INVALIDATE_EIO_LAUNDER",
        "F4-bdev-errno" => "BDEV_NO_QUOTA",
        "F5-file-modified" => "FILE_MODIFIED_PRIVS",
        other => panic!("rule {other} has no test: add one"),
    }
}

/// Every byte string decodes to a valid world, and normalising it again changes nothing.
#[test]
fn decoding_yields_real_worlds() {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for n in 0..20000 {
        let len = (n % 96) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let Ok(s) = Scenario::decode(&bytes) else {
            continue;
        };
        assert!(
            validity::is_valid(&s),
            "{bytes:?}: {:?}",
            validity::violations(&s)
        );
        let mut t = s.clone();
        assert!(validity::normalise(&mut t).is_empty(), "{bytes:?}");
    }
}

/// The fuzz target never reports a finding on an impossible world, whatever the model says.
#[test]
fn target_is_silent_on_invalid_worlds() {
    use diofuzz::target::{first_finding_scenario, Config};
    let v = diofuzz::variant::resolve("all").unwrap();
    let cfg = Config::new(v, Default::default());
    // ext4 DAX inode with atomic device units: the model reports the DAX escape (O1/O7)...
    let mut s = ext4();
    s.world.inode.dax = true;
    assert!(!validity::is_valid(&s));
    let any = diofuzz::variant::VARIANTS
        .iter()
        .any(|v| !diofuzz::oracle::check(&diofuzz::model::run_quiet(&s, v)).is_empty());
    assert!(any, "the model itself reports the impossible world");
    // ...the target does not.
    assert!(first_finding_scenario(&s, &cfg).is_none());
    let _ = written();
}
