// SPDX-License-Identifier: GPL-2.0-only
//! The XFS reflink inode flag changed after open (tools/src/live/reflink_race.rs; docs/live.md
//! "Races after open"), drawn by the random generator from a stream of its own: set by a clone
//! after open (`xfs_reflink_remap_prep` drops the page cache over the cloned blocks: none of
//! them cached at the write) or cleared by `FALLOC_FL_UNSHARE_RANGE` (`xfs_reflink_unshare`
//! leaves the unshared block's pages cached and clean, and `xfs_reflink_try_clear_inode_flag`
//! empties the CoW fork). Only worlds whose inode does not change otherwise after open; every
//! result is a valid world (src/validity.rs).

use super::random::Rng;
use crate::scenario::*;

const PAGE: u64 = 4096;
/// INODE_FLAG_NAMES index of the reflink flag.
const REFLINK: u8 = 12;

/// The pages over block `i`.
fn pages(w: &World, i: usize) -> impl Iterator<Item = PageState> + '_ {
    let bs = 1u64 << w.blkbits;
    let off = i as u64 * bs;
    (off / PAGE..(off + bs).div_ceil(PAGE))
        .map(|p| w.pages.get(p as usize).copied().unwrap_or(PageState::None))
}

/// Make 20 % of the XFS reflink worlds that allow it a reflink flag changed after open.
pub fn reflink_after_open(r: &mut Rng, s: &mut Scenario) {
    let w = &s.world;
    if s.fs != FsKind::Xfs
        || !w.mount.xfs_reflink
        || !w.inode.nosec
        || w.inode.unlinked
        || w.inode.swapfile
        || w.inode.append_only
        || s.request.open.append
        || !w.cow.is_empty()
        || s.races.iter().any(|x| *x != Race::FcntlToggleDirect)
        || !r.pct(20)
    {
        return;
    }
    let bs = 1u64 << w.blkbits;
    let ok = if w.inode.reflink {
        // Set by a clone after open: every shared block uncached at the write.
        let shared: Vec<usize> = (0..w.blocks.len())
            .filter(|&i| w.blocks[i].shared)
            .collect();
        !shared.is_empty()
            && shared
                .iter()
                .all(|&i| pages(w, i).all(|p| p == PageState::None))
    } else {
        // Cleared by an unshare: a written block below EOF under clean cached pages, and no
        // dirty or writeback page (xfs_can_free_cowblocks would keep the flag).
        w.pages
            .iter()
            .all(|p| matches!(p, PageState::None | PageState::Clean))
            && (0..w.blocks.len()).any(|i| {
                w.blocks[i].kind == Extent::Written
                    && (i as u64 + 1) * bs <= w.i_size
                    && pages(w, i).all(|p| p == PageState::Clean)
            })
    };
    if !ok {
        return;
    }
    let before = s.clone();
    s.races.push(Race::InodeFlagChangedAfterOpen(REFLINK));
    if s.races.len() > MAX_RACES || !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_directions_on_xfs_only() {
        let (mut set, mut cleared) = (0, 0);
        for i in 0..4000u64 {
            for fs in [FsKind::Xfs, FsKind::Ext4] {
                let s = super::super::random::generate_on(7, i, fs, None, 0);
                if !s.races.contains(&Race::InodeFlagChangedAfterOpen(REFLINK)) {
                    continue;
                }
                assert_eq!(s.fs, FsKind::Xfs);
                assert!(crate::validity::violations(&s).is_empty());
                if s.world.inode.reflink {
                    assert!(s.world.blocks.iter().any(|b| b.shared));
                    set += 1;
                } else {
                    assert!(s.inode_at_open().reflink);
                    cleared += 1;
                }
            }
        }
        assert!(set > 0 && cleared > 0, "set {set}, cleared {cleared}");
    }
}
