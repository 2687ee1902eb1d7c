// SPDX-License-Identifier: GPL-2.0-only
//! A page under writeback over an UNWRITTEN block inside EOF (session 11; the model:
//! `Cx::converts_at_completion`, docs/model.md §2.1; live: tools/src/live/pages.rs
//! `rewrite_writeback_page`, `live --worlds writeback-unwritten`). Drawn by the random
//! generator's last stage, on a stream of its own, for ext4 and XFS files (not the atomic disk):
//!
//! * **plain**: 12 % of the scenarios with a page inside EOF whose blocks there are all plain
//!   written or unwritten get that page under writeback, each of those blocks unwritten with
//!   one chance in two (at least one): a buffered write into a fallocated range whose
//!   writeback is in flight (ext4 on the default `dioread_nolock` mount, XFS);
//! * **lag**: half of the scenarios whose i_disksize lag was written back after open
//!   (`Race::InodeFlagChangedAfterOpen(11)`, the page at EOF clean over written blocks, drawn
//!   by src/generators/settle.rs) get that writeback still in flight on the default mount: the
//!   page at EOF under writeback, the delayed block at EOF allocated unwritten by it
//!   (`mpage_map_one_extent`), `i_disksize` at `i_size` already (`mpage_map_and_submit_extent`
//!   moves it at submission).
//!
//! Only where live holds a page (no RLIMIT_FSIZE, no scaled limit, no injected fault, no
//! journalled data, no XFS CoW fork, no filesystem brought down, no lag at the write) and only
//! valid worlds
//! (`crate::validity`, rule W48); otherwise the scenario is left as it was.

use super::random::Rng;
use crate::scenario::*;

/// INODE_FLAG_NAMES index of the i_disksize lag.
const DISKSIZE_LAG: u8 = 11;

/// Does `s` have a page under writeback over an unwritten block inside EOF?
pub fn is_writeback_unwritten(s: &Scenario) -> bool {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    w.blocks.iter().enumerate().any(|(b, k)| {
        let p = (b as u64 * bs / PAGE_SIZE) as usize;
        k.kind == Extent::Unwritten
            && (b as u64) * bs < w.i_size
            && w.pages.get(p) == Some(&PageState::Writeback)
    })
}

/// Is it the lag variant (the i_disksize lag written back after open, its writeback in flight
/// over the unwritten block at EOF)?
pub fn is_lag(s: &Scenario) -> bool {
    is_writeback_unwritten(s)
        && s.races
            .contains(&Race::InodeFlagChangedAfterOpen(DISKSIZE_LAG))
}

/// Where live can hold a page (tools/src/live/pages.rs `check_held`, `held_pages` in
/// src/generators/random.rs).
fn holdable(s: &Scenario) -> bool {
    let w = &s.world;
    let f = w.inode;
    matches!(s.fs, FsKind::Ext4 | FsKind::Xfs)
        && !w.mount.data_journal
        && !f.journal_data
        && !f.inline_data
        && !f.dax
        && !f.disksize_lag
        && !w.inline_delalloc
        && w.rlimit_fsize.is_none()
        && w.s_maxbytes == HUGE_MAXBYTES
        && w.s_bitmap_maxbytes == HUGE_MAXBYTES
        && s.faults.is_empty()
        && !w.mount.shutdown
        && !w.mount.emergency_ro
        && w.cow.iter().all(|c| *c == CowExtent::None)
        && (s.fs != FsKind::Ext4 || f.extents)
        // (live's hold checks the unwritten blocks with FIEMAP, which waits for the i_rwsem
        // holder that RWF_NOWAIT with the contended lock gets: tools/src/live/pages.rs.)
        && !(s.has_race(Race::LockContended) && s.request.rwf.nowait)
}

/// The stage (src/generators/random.rs `STAGES`, "writeback-unwritten").
pub fn writeback_unwritten(r: &mut Rng, s: &mut Scenario) {
    let k = r.below(100);
    let pick = r.next_u64();
    let coins = r.next_u64();
    if !holdable(s) || is_writeback_unwritten(s) {
        return;
    }
    let before = s.clone();
    let changed = if s
        .races
        .contains(&Race::InodeFlagChangedAfterOpen(DISKSIZE_LAG))
    {
        k < 50 && lag(s)
    } else {
        k < 12 && plain(s, pick, coins)
    };
    if changed && !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

/// The lag variant: the page at EOF (clean over written blocks at an unaligned EOF) under
/// writeback, the block at EOF unwritten.
fn lag(s: &mut Scenario) -> bool {
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let (page, eof) = ((w.i_size / PAGE_SIZE) as usize, (w.i_size / bs) as usize);
    if s.fs != FsKind::Ext4
        || w.i_size % bs == 0
        || w.pages.get(page) != Some(&PageState::Clean)
        || w.blocks.get(eof).map(|b| (b.kind, b.shared)) != Some((Extent::Written, false))
    {
        return false;
    }
    w.pages[page] = PageState::Writeback;
    w.blocks[eof].kind = Extent::Unwritten;
    true
}

/// The plain variant: a page inside EOF over plain written or unwritten blocks.
fn plain(s: &mut Scenario, pick: u64, coins: u64) -> bool {
    if s.races
        .iter()
        .any(|r| matches!(r, Race::InodeFlagChangedAfterOpen(_)))
    {
        // (Flag changes after open rebuild the file's pages: settle, jflag, reflink streams.)
        return false;
    }
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let under = |w: &World, p: usize| {
        let (off, end) = (
            p as u64 * PAGE_SIZE,
            ((p as u64 + 1) * PAGE_SIZE).min(w.i_size),
        );
        (off < end).then(|| off / bs..end.div_ceil(bs))
    };
    let candidates: Vec<usize> = (0..w.pages.len())
        .filter(|&p| {
            w.pages[p] != PageState::Busy
                && under(w, p).is_some_and(|mut r| {
                    r.all(|b| {
                        w.blocks.get(b as usize).is_some_and(|x| {
                            matches!(x.kind, Extent::Written | Extent::Unwritten) && !x.shared
                        })
                    })
                })
        })
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let p = candidates[(pick % candidates.len() as u64) as usize];
    let blocks = under(w, p).expect("a candidate");
    let first = blocks.start;
    let mut any = false;
    for b in blocks {
        if coins >> (b - first) & 1 == 1 || w.blocks[b as usize].kind == Extent::Unwritten {
            w.blocks[b as usize].kind = Extent::Unwritten;
            any = true;
        }
    }
    if !any {
        w.blocks[first as usize].kind = Extent::Unwritten;
    }
    w.pages[p] = PageState::Writeback;
    true
}

#[cfg(test)]
mod tests {
    use super::super::random::{generate_before, generate_on};
    use super::*;

    /// The stage changes only its own fields (pages and block kinds), only on ext4 and XFS
    /// files, and only into its worlds; the scenarios before it are every older stage's.
    #[test]
    fn changes_only_its_fields() {
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..3000 {
                // (Up to the stage after its own, file-small-lbs.)
                let s = generate_before(Some("file-small-lbs"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("writeback-unwritten"), 7, i, fs, None, 0);
                if s == b {
                    continue;
                }
                changed += 1;
                assert_ne!(fs, FsKind::Bdev);
                assert!(
                    is_writeback_unwritten(&s) && !is_writeback_unwritten(&b),
                    "{i}"
                );
                assert!(crate::validity::is_valid(&s), "{i}");
                b.world.pages = s.world.pages.clone();
                for (x, y) in b.world.blocks.iter_mut().zip(&s.world.blocks) {
                    assert!(x.kind == y.kind || y.kind == Extent::Unwritten, "{i}");
                    x.kind = y.kind;
                }
                assert_eq!(s, b, "{i}");
            }
        }
        assert!(changed > 100, "{changed}");
    }

    /// Both variants are drawn, every one valid, on ext4 and XFS.
    #[test]
    fn draws_both_variants_valid() {
        let (mut plain, mut lag) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate_on(11, i, fs, None, 0);
                if is_writeback_unwritten(&s) {
                    assert!(crate::validity::is_valid(&s), "{i}");
                    assert!(holdable(&s), "{i}");
                    if is_lag(&s) {
                        lag += 1;
                    } else {
                        plain += 1;
                    }
                }
            }
        }
        eprintln!("plain {plain}, lag {lag}");
        assert!(plain > 50 && lag > 0, "plain {plain}, lag {lag}");
    }
}
