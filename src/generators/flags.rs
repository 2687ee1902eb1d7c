// SPDX-License-Identifier: GPL-2.0-only
//! Inode states and flag changes after open that live builds since session 6
//! (tools/src/live/swap.rs, inode_state.rs, race.rs; docs/live.md "Races after open"):
//!
//! * [`flag_worlds`], drawn by the random generator from a stream of its own: an unlinked
//!   append-only inode (unlinked, then `chattr +a` through the open file), an unlinked inode on
//!   a filesystem brought down, IS_NOSEC cleared after open (`fchmod` of a setuid mode through
//!   the open file), the inode unlinked after open, and swap files (at rest, `swapon` after
//!   open, `swapoff` after open: only the lab's guests build them, `live --swapon`).
//! * [`generate_swap`]: the lab's swap groups (`ext4-swap`, `xfs-swap`): every scenario a swap
//!   file world.
//!
//! Every result is a valid world (src/validity.rs; rule W27 for swap files, W28 for the changes
//! after open no call makes).

use super::random::{Disk, Rng};
use crate::scenario::*;

const PAGE: u64 = 4096;
/// INODE_FLAG_NAMES indices.
const NOSEC: u8 = 8;
const SWAPFILE: u8 = 9;
const UNLINKED: u8 = 10;

/// Dirty, writeback and mmapped dirty pages written back (clean).
fn clean_pages(w: &mut World) {
    for p in w.pages.iter_mut() {
        if matches!(
            p,
            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
        ) {
            *p = PageState::Clean;
        }
    }
}

/// Delayed blocks allocated (what a flush or a nodelalloc write would have made).
fn delalloc_written(w: &mut World) {
    for b in w.blocks.iter_mut() {
        if b.kind == Extent::Delalloc {
            b.kind = Extent::Written;
        }
    }
}

/// Drop every race but the fcntl toggle; the inode is then the one at open.
pub(crate) fn only_toggle_races(s: &mut Scenario) {
    let open = s.inode_at_open();
    s.races.retain(|x| *x == Race::FcntlToggleDirect);
    s.world.inode = open;
}

/// Make `s` an active swap file in the nearest layout swapon accepts (rule W27): at least two
/// pages, every block below i_size written or (past the header page) unwritten, nothing shared,
/// delayed or dirty, not inline, encrypted, DAX or unlinked, no mmap writer. Block and page
/// states beyond that stay as drawn.
pub fn swapfile_world(s: &mut Scenario) {
    let w = &mut s.world;
    w.i_size = w.i_size.max(2 * PAGE);
    let bs = 1u64 << w.blkbits;
    let n = w.i_size.div_ceil(bs) as usize;
    if w.blocks.len() < n {
        w.blocks.resize(n, BlockState::default());
    }
    for (i, b) in w.blocks.iter_mut().enumerate() {
        b.shared = false;
        let header = (i as u64) < PAGE / bs;
        b.kind = match b.kind {
            Extent::Delalloc if i >= n => Extent::Hole,
            k if i >= n => k,
            Extent::Unwritten if !header => Extent::Unwritten,
            _ => Extent::Written,
        };
    }
    clean_pages(w);
    w.cow.clear();
    w.cowextsize = 0;
    w.inode.reflink = false;
    w.inode.inline_data = false;
    w.inode.encrypted = false;
    w.inode.dax = false;
    w.inode.unlinked = false;
    w.inode.disksize_lag = false;
    w.mount.dax = false;
    w.inode.swapfile = true;
    s.races.retain(|r| *r != Race::MmapRedirty);
}

/// The swap-file scenario number `index` of `seed` for the lab's swap groups: the random
/// generator's scenario made a swap file ([`swapfile_world`]), a quarter of them `swapon` after
/// the call's open and a tenth `swapoff` after it (the race), normalised.
pub fn generate_swap(seed: u64, index: u64, fs: FsKind) -> Scenario {
    // (Without the session-11 stage: older seeds' scenarios stay what they were.)
    let mut s =
        super::random::generate_before(Some("writeback-unwritten"), seed, index, fs, None, 0);
    let mut r = Rng::stream(seed, index, 0x9E6C_63D0_676A_9A99, 0x5A4 << 48 ^ fs as u64);
    // One race at most besides the fcntl toggle: the swap flag's.
    only_toggle_races(&mut s);
    // On 1 KiB blocks swapon counts only whole pages inside physically contiguous runs
    // (iomap_swapfile_add_extent) and needs two: the live set-up allocates the page-aligned
    // part of the file in one physically page-aligned piece (tools/src/live/swap.rs
    // aligned_prefix: FALLOC_FL_COLLAPSE_RANGE, XFS and ext4 extent files; session 8), so half
    // of the 1 KiB-block worlds (a stream of their own) stay on 1 KiB blocks, two pages at
    // least; a block-mapped ext4 file (no collapse) is allocated in one piece wherever the
    // allocator puts it, whose 4p blocks hold p - 1 whole pages: three pages at least. The rest,
    // as before, on 4 KiB blocks.
    let mut b = Rng::stream(seed, index, 0xD6E8_FEB8_6659_FD93, 0x5A5 << 48 ^ fs as u64);
    if s.world.blkbits == 10 && b.pct(50) {
        let block_mapped = fs == FsKind::Ext4 && !s.world.inode.extents;
        let pages = if block_mapped { 3 } else { 2 };
        s.world.i_size = s.world.i_size.max(pages * PAGE);
    } else {
        four_kib_blocks(&mut s);
    }
    s.world.mount.shutdown = false;
    s.world.mount.emergency_ro = false;
    // The real limits: live builds a scaled one by shifting the file terabytes in, past a hole
    // swapon refuses (tools/src/live/swap.rs refuse; seen in the lab, session 7).
    s.world.s_maxbytes = HUGE_MAXBYTES;
    s.world.s_bitmap_maxbytes = HUGE_MAXBYTES;
    swapfile_world(&mut s);
    let k = r.below(100);
    if k < 45 {
        // swapon and swapoff open the file O_RDWR: not on an append-only inode (rule W32).
        s.world.inode.append_only = false;
    }
    if k < 35 {
        // swapon after open: a plain file at open.
        s.races.push(Race::InodeFlagChangedAfterOpen(SWAPFILE));
    } else if k < 45 {
        // swapoff after open: the file at the write is no longer a swap file.
        s.world.inode.swapfile = false;
        s.races.push(Race::InodeFlagChangedAfterOpen(SWAPFILE));
    }
    // A swap device (`live --fs bdev --swapon`): only the swap flag and no race but its own
    // (src/generators/bdev_state.rs).
    if fs == FsKind::Bdev {
        s.world.inode = InodeFlags {
            swapfile: s.world.inode.swapfile,
            ..InodeFlags::default()
        };
        s.world.device.stable_writes = false;
        super::bdev_state::swapoff_keeps_header_page(&mut s);
        // Session 10, a stream of its own: 40 % get another task holding the device's i_rwsem
        // (live builds it on the hibernation resume device, `live --hibernate-resume`; on
        // another swap device the holder's own write gives -ETXTBSY before the lock and the
        // scenario is built without it: tools/src/live/bdev_state.rs holder_built).
        let mut h = Rng::stream(seed, index, 0x9E6C_63D0_676A_9A99, 0x5A6 << 48);
        if h.pct(40) && s.races.len() < MAX_RACES {
            s.races.push(Race::LockContended);
        }
    }
    crate::validity::normalise(&mut s);
    if s.world.blocks.len() > crate::scenario::MAX_BLOCKS {
        // A swap device of more than 32 KiB on 1 KiB blocks has more blocks than the input
        // format holds (it would not encode, so `repro` and `--save` could not load it): on
        // 4 KiB blocks instead.
        four_kib_blocks(&mut s);
        crate::validity::normalise(&mut s);
    }
    s
}

/// The world on 4 KiB blocks: each run of four 1 KiB blocks becomes one block of the kind of
/// its first (the page states are per page already).
fn four_kib_blocks(s: &mut Scenario) {
    let w = &mut s.world;
    // (2 KiB blocks come from the lfs stream, src/generators/lfs.rs)
    let per = match w.blkbits {
        10 => 4,
        11 => 2,
        _ => return,
    };
    w.blocks = w.blocks.chunks(per).map(|c| c[0]).collect();
    w.blkbits = 12;
    w.lbs_bits = w.lbs_bits.min(12);
}

/// The lab's `ext4-jflag` group (`live --jflag-after-open`): the random generator's ext4
/// scenario with `chattr +j` after the call's open (`Race::InodeFlagChangedAfterOpen(1)`; the
/// flag in effect at the write), on a delalloc mount (data=journal off), normalised: rule W20
/// turns delayed blocks written, W21 leaves no dirty page after the flag's flush. 30 % are the
/// other direction: +j at open, `chattr -j` (and `mount -o remount,delalloc`) after it, with
/// no cached page, clean pages, or (session 9) the drawn dirty, writeback and mmapped dirty
/// pages.
pub fn generate_jflag(seed: u64, index: u64) -> Scenario {
    generate_jflag_on(seed, index, None)
}

/// [`generate_jflag`] on the lab's atomic disk (`live --device --jflag-after-open`, group
/// `ext4-disk-jflag`, session 9).
pub fn generate_jflag_on(seed: u64, index: u64, disk: Option<&Disk>) -> Scenario {
    // (Without the session-11 stage: older seeds' scenarios stay what they were.)
    let mut s = super::random::generate_before(
        Some("writeback-unwritten"),
        seed,
        index,
        FsKind::Ext4,
        disk,
        0,
    );
    only_toggle_races(&mut s);
    let w = &mut s.world;
    w.mount.data_journal = false;
    w.mount.shutdown = false;
    w.mount.emergency_ro = false;
    w.inode.journal_data = true;
    w.inode.inline_data = false;
    w.inode.encrypted = false;
    w.inode.unlinked = false;
    w.inode.disksize_lag = false;
    delalloc_written(w);
    let drawn = w.pages.clone();
    clean_pages(w);
    s.races.retain(|r| *r != Race::MmapRedirty);
    let mut r = Rng::stream(seed, index, 0xC2B2_AE3D_27D4_EB4F, 0x1F1A << 48);
    if r.pct(30) {
        // chattr -j after open: +j at open (nodelalloc), then `mount -o remount,delalloc` and
        // chattr -j. Half of them keep their clean pages inside EOF (session 8, a stream of its
        // own: kernels that evict the page cache on the flag change, 7.2+, skip them:
        // tools/src/live/jflag_pages.rs), the others have none.
        let mut k = Rng::stream(seed, index, 0xC2B2_AE3D_27D4_EB4F, 0x1F1B << 48);
        // Session 9 (a stream of its own): half of those with a dirty, writeback or mmapped
        // dirty page inside EOF keep them (tools/src/live/jflag_pages.rs; rule W45 then turns
        // unwritten blocks under them written).
        let mut d = Rng::stream(seed, index, 0xC2B2_AE3D_27D4_EB4F, 0x1F1C << 48);
        let w = &mut s.world;
        w.inode.journal_data = false;
        let eof_pages = w.i_size.div_ceil(PAGE_SIZE) as usize;
        let dirtied = |p: &PageState| {
            matches!(
                p,
                PageState::Dirty | PageState::Writeback | PageState::MappedDirty
            )
        };
        if d.pct(50) && drawn.iter().take(eof_pages).any(dirtied) {
            w.pages = drawn
                .iter()
                .take(eof_pages)
                .map(|p| {
                    if *p == PageState::Busy {
                        PageState::Clean
                    } else {
                        *p
                    }
                })
                .collect();
        } else if k.pct(50)
            && w.pages
                .iter()
                .take(eof_pages)
                .any(|p| *p == PageState::Clean)
        {
            w.pages.truncate(eof_pages);
        } else {
            w.pages.clear();
        }
    }
    s.races.push(Race::InodeFlagChangedAfterOpen(1));
    crate::validity::normalise(&mut s);
    s
}

/// Journalled data on the lab's pmem device (ext4, `live --pmem`, tools/src/live/dax.rs):
/// 8 % a journalled-data inode (+j, inherited from its directory on a `nodelalloc` mount) under
/// `dax=always`, which the kernel does not make DAX (ext4_should_enable_dax:
/// ext4_should_journal_data), 6 % a data=journal mount with `dax=inode` (no file is DAX then;
/// `dax=always` with data=journal is refused by ext4: "both data=journal and dax"), 6 % a +j
/// inode on `dax=inode`. Delalloc blocks become written (W20); left unchanged when the result
/// would not be valid.
pub fn journalled_on_pmem(r: &mut Rng, s: &mut Scenario) {
    if s.fs != FsKind::Ext4 {
        return;
    }
    let before = s.clone();
    let k = r.below(100);
    let w = &mut s.world;
    match k {
        0..8 => {
            w.mount.dax = true;
            w.inode.dax = false;
            w.inode.journal_data = true;
        }
        8..14 => {
            w.mount.dax = false;
            w.inode.dax = false;
            w.mount.data_journal = true;
        }
        14..20 => {
            w.mount.dax = false;
            w.inode.dax = false;
            w.inode.journal_data = true;
        }
        _ => return,
    }
    delalloc_written(w);
    if !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

/// Non-DAX ext4 files on the lab's pmem device that session 7 builds (`live --pmem`,
/// tools/src/live/dax.rs), drawn only where [`journalled_on_pmem`] left the scenario without
/// journalled data: 8 % an encrypted file under `dax=always` (not DAX: `__ext4_new_inode` sets
/// the encrypt flag before `ext4_set_inode_flags(inode, true)`, the only call that sets S_DAX,
/// and `ext4_should_enable_dax` refuses encrypted inodes), 6 % the same file with `chattr +j`
/// after the call's open, 6 % a plain non-DAX file on `dax=inode` with `chattr +j` after open
/// (`ext4_ioctl_setflags` -> `ext4_change_inode_journal_flag` on an inode that is not DAX; a DAX
/// inode would give -EBUSY, rule W3). With +j after open: no other race after open, delayed
/// blocks written (W20) and no cached page at the write (W21: the flag's flush; 7.2+ evict the
/// page cache). Left unchanged when the result would not be valid.
pub fn non_dax_on_pmem(r: &mut Rng, s: &mut Scenario) {
    let w = &s.world;
    if s.fs != FsKind::Ext4
        || w.cluster_bits != 0
        || w.mount.data_journal
        || w.inode.journal_data
        || s.inode_at_open().journal_data
    {
        return;
    }
    let before = s.clone();
    let (encrypt, jflag) = match r.below(100) {
        0..8 => (true, false),
        8..14 => (true, true),
        14..20 => (false, true),
        _ => return,
    };
    if jflag {
        only_toggle_races(s);
    }
    let w = &mut s.world;
    w.inode.dax = false;
    w.mount.dax = encrypt;
    w.inode.encrypted = encrypt;
    w.inode.inline_data &= !encrypt;
    if jflag {
        delalloc_written(w);
        w.pages.clear();
        w.inode.journal_data = true;
        s.races.retain(|x| *x != Race::MmapRedirty);
        s.races.push(Race::InodeFlagChangedAfterOpen(1));
    }
    if !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

/// Draw the worlds of this module into `s` (the random generator's own stream `r`); left
/// unchanged when the result would not be a valid world.
pub fn flag_worlds(r: &mut Rng, s: &mut Scenario) {
    if s.fs == FsKind::Bdev {
        return;
    }
    let before = s.clone();
    let f = s.world.inode;
    let m = s.world.mount;
    let down = m.shutdown || m.emergency_ro;
    let only_toggle = s.races.iter().all(|x| *x == Race::FcntlToggleDirect);
    let room = s.races.len() < MAX_RACES;
    let k = r.below(100);
    if f.append_only && !f.unlinked && k < 30 {
        // unlink, then chattr +a through the open file (may_delete refuses the other order).
        s.world.inode.unlinked = true;
    } else if down && !f.unlinked && k < 30 {
        s.world.inode.unlinked = true;
    } else if down || !room {
        // The filesystem brought down is built without other races after open.
    } else if k < 4 && f.nosec {
        s.world.inode.nosec = false;
        s.races.push(Race::InodeFlagChangedAfterOpen(NOSEC));
    } else if k < 8 && !f.unlinked {
        s.world.inode.unlinked = true;
        s.races.push(Race::InodeFlagChangedAfterOpen(UNLINKED));
    } else if k < 11 && only_toggle {
        swapfile_world(s);
        if k == 10 {
            s.races.push(Race::InodeFlagChangedAfterOpen(SWAPFILE));
        }
    }
    if !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_worlds_are_valid_swap_files() {
        let (mut on, mut after, mut off, mut one_kib, mut two_pages) = (0, 0, 0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..300 {
                let s = generate_swap(3, i, fs);
                // Every world encodes (repro and live --save write it; session 10 found swap
                // devices of more than 32 blocks).
                assert!(s.encode().is_ok(), "{fs:?} {i}: {:?}", s.encode());
                if fs == FsKind::Bdev {
                    assert!(crate::validity::is_valid(&s), "bdev {i}");
                    continue;
                }
                if s.world.blkbits == 10 {
                    // On 1 KiB blocks two pages at least (the set-up places them page-aligned:
                    // tools/src/live/swap.rs aligned_prefix); a block-mapped ext4 file, which
                    // it cannot move, three (two whole pages in any contiguous run of 12
                    // blocks: iomap_swapfile_add_extent).
                    let block_mapped = fs == FsKind::Ext4 && !s.world.inode.extents;
                    let min = if block_mapped { 3 } else { 2 };
                    assert!(s.world.i_size >= min * PAGE, "{i}");
                    two_pages += (s.world.i_size < 3 * PAGE) as u32;
                    one_kib += 1;
                }
                assert!(
                    crate::validity::is_valid(&s),
                    "{i}: {:?}",
                    crate::validity::violations(&s)
                );
                assert_eq!(s, generate_swap(3, i, fs), "deterministic");
                let open = s.inode_at_open();
                assert!(s.world.inode.swapfile || open.swapfile, "{i}");
                match (open.swapfile, s.world.inode.swapfile) {
                    (true, true) => on += 1,
                    (false, true) => after += 1,
                    _ => off += 1,
                }
            }
        }
        assert!(
            on > 200 && after > 120 && off > 25 && one_kib > 60 && two_pages > 5,
            "{on} {after} {off} {one_kib} {two_pages}"
        );
    }

    #[test]
    fn jflag_worlds_set_or_clear_the_flag_after_open() {
        let (mut set, mut clear, mut kept, mut dirtied) = (0, 0, 0, 0);
        for i in 0..300 {
            let s = generate_jflag(4, i);
            assert!(crate::validity::is_valid(&s), "{i}");
            if s.has_race(Race::InodeFlagChangedAfterOpen(1)) {
                let (open, now) = (s.inode_at_open().journal_data, s.world.inode.journal_data);
                assert_ne!(open, now);
                if now {
                    set += 1;
                } else {
                    // Session 9: dirty, writeback and mmapped dirty pages too, never busy ones
                    // (rule W25), and no delayed block (rule W45).
                    assert!(!s.world.pages.contains(&PageState::Busy), "{i}");
                    assert!(
                        s.world.blocks.iter().all(|b| b.kind != Extent::Delalloc),
                        "{i}"
                    );
                    kept += s.world.pages.contains(&PageState::Clean) as u32;
                    dirtied += s.world.pages.iter().any(|p| {
                        matches!(
                            p,
                            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
                        )
                    }) as u32;
                    clear += 1;
                }
            }
        }
        assert!(set > 170 && clear > 60, "{set} +j, {clear} -j of 300");
        assert!(kept > 5, "{kept} -j with clean pages kept");
        assert!(dirtied > 5, "{dirtied} -j with dirty pages");
    }

    #[test]
    fn random_generator_draws_the_new_worlds() {
        let (mut ua, mut ud, mut nosec, mut unl, mut swap) = (0, 0, 0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = super::super::random::generate(11, i, fs);
                assert!(crate::validity::is_valid(&s));
                let f = s.world.inode;
                ua += (f.unlinked && f.append_only) as u32;
                ud += (f.unlinked && (s.world.mount.shutdown || s.world.mount.emergency_ro)) as u32;
                nosec += s.has_race(Race::InodeFlagChangedAfterOpen(NOSEC)) as u32;
                unl += s.has_race(Race::InodeFlagChangedAfterOpen(UNLINKED)) as u32;
                swap += (f.swapfile || s.inode_at_open().swapfile) as u32;
            }
        }
        assert!(
            ua > 5 && ud > 5 && nosec > 60 && unl > 60 && swap > 20,
            "{ua} {ud} {nosec} {unl} {swap}"
        );
    }
}
