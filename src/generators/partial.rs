// SPDX-License-Identifier: GPL-2.0-only
//! Partial blocks and pages for the random generator (issue 13, session 8; tools/src/live/partial.rs,
//! docs/live.md "Partial blocks"), drawn from a stream of their own so every other field of a
//! seed's scenario stays as it was:
//!
//! * on XFS with reflink, a shared block straddling EOF (a FICLONERANGE that ended at the
//!   source's EOF: `generic_remap_checks`, fs/remap_range.c, rounds the range up to the block):
//!   the written EOF block of an unaligned file made shared, or the file of a shared last block
//!   cut inside it;
//! * with 1 or 2 KiB blocks, a page written only in part: a dirty page some of whose blocks stay
//!   holes (a dirty page's delalloc blocks punched back to holes, or an uncached page over holes
//!   dirtied over some of them), which the model reads with clean hole blocks
//!   (`crate::model::Cx::new`).
//!
//! Every result is a valid world (src/validity.rs) that encodes; otherwise the scenario is left
//! as it was.

use super::random::Rng;
use crate::scenario::*;

/// Make about 30 % of the XFS reflink worlds that allow it a shared block straddling EOF, and
/// about 35 % of the worlds with 1 or 2 KiB blocks that allow it a partly dirty page.
pub(crate) fn partial_worlds(g: &mut Rng, s: &mut Scenario) {
    let k = g.below(100);
    let pick = g.next_u64();
    let cut = g.next_u64();
    // Worlds whose inode changes after open (a clone, an unshare, a flag), whose EOF block is
    // the i_disksize lag's, or whose pages are held during the call build their pages and
    // blocks otherwise: left alone.
    let held = |p: &PageState| {
        matches!(
            p,
            PageState::Writeback | PageState::Busy | PageState::MappedDirty
        )
    };
    if s.races
        .iter()
        .any(|r| matches!(r, Race::InodeFlagChangedAfterOpen(_)))
        || s.world.inode.disksize_lag
        || s.world.pages.iter().any(held)
    {
        return;
    }
    let before = s.clone();
    let changed = if s.fs == FsKind::Xfs && s.world.mount.xfs_reflink && k < 30 {
        shared_eof(s, cut)
    } else if s.fs != FsKind::Bdev && s.world.blkbits < 12 && k < 35 {
        partly_dirty(s, pick, cut)
    } else {
        false
    };
    if changed && (!crate::validity::is_valid(s) || s.encode().is_err()) {
        *s = before;
    }
}

/// The EOF block shared: the written block under an unaligned EOF, or the file cut inside a
/// shared written last block (to a sector count, or one byte into it where a sector count
/// cannot say it).
fn shared_eof(s: &mut Scenario, cut: u64) -> bool {
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    if w.i_size == 0 || w.inode.dax {
        return false;
    }
    let e = ((w.i_size - 1) / bs) as usize;
    let Some(b) = w.blocks.get(e).copied() else {
        return false;
    };
    if b.kind != Extent::Written {
        return false;
    }
    if w.i_size % bs != 0 {
        if b.shared {
            return false;
        }
        w.blocks[e].shared = true;
        w.inode.reflink = true;
        return true;
    }
    if !b.shared {
        return false;
    }
    let base = e as u64 * bs;
    let j = 1 + cut % (bs / SECTOR - 1).max(1);
    w.i_size = if (base + j * SECTOR) / SECTOR <= 255 && j * SECTOR < bs {
        base + j * SECTOR
    } else {
        base + 1
    };
    true
}

/// A page written only in part: `pick` chooses the page, `cut` which of its blocks below EOF
/// are holes (at least one, never all). A dirty page's delalloc blocks are punched back to
/// holes (its written and unwritten blocks stay), or an uncached or clean page over holes only
/// is dirtied over some of them (delalloc).
fn partly_dirty(s: &mut Scenario, pick: u64, cut: u64) -> bool {
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let per = PAGE_SIZE / bs;
    let kind = |w: &World, b: u64| w.blocks.get(b as usize).map_or(Extent::Hole, |x| x.kind);
    // The page's blocks below EOF (at least two).
    let below = |w: &World, p: u64| p * per..((p + 1) * per).min(w.i_size.div_ceil(bs));
    let pages: Vec<u64> = (0..w.pages.len() as u64)
        .filter(|&p| below(w, p).count() >= 2)
        .filter(|&p| match w.pages[p as usize] {
            PageState::Dirty => below(w, p).any(|b| kind(w, b) == Extent::Delalloc),
            PageState::None | PageState::Clean => below(w, p).all(|b| kind(w, b) == Extent::Hole),
            _ => false,
        })
        .collect();
    if pages.is_empty() {
        return false;
    }
    let p = pages[(pick % pages.len() as u64) as usize];
    let blocks = below(w, p);
    let n = blocks.clone().count() as u64;
    let mask = 1 + cut % ((1u64 << n) - 2);
    if w.blocks.len() < blocks.end as usize {
        w.blocks.resize(blocks.end as usize, BlockState::default());
    }
    let dirty = w.pages[p as usize] == PageState::Dirty;
    for (i, b) in blocks.clone().enumerate() {
        let hole = mask >> i & 1 == 1;
        let x = &mut w.blocks[b as usize];
        if dirty && x.kind == Extent::Delalloc && hole {
            x.kind = Extent::Hole;
        } else if !dirty && !hole {
            x.kind = Extent::Delalloc;
        }
    }
    w.pages[p as usize] = PageState::Dirty;
    let holes = blocks
        .clone()
        .filter(|&b| kind(w, b) == Extent::Hole)
        .count() as u64;
    holes > 0 && holes < n
}

#[cfg(test)]
mod tests {
    use super::super::random::generate;
    use super::*;

    /// The stream draws both worlds, valid and encodable, on their filesystems only.
    #[test]
    fn draws_shared_eof_blocks_and_partly_dirty_pages() {
        let (mut eof, mut part) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate(11, i, fs);
                let w = &s.world;
                let bs = 1u64 << w.blkbits;
                let e = w.i_size.saturating_sub(1) / bs;
                if w.i_size % bs != 0 && w.blocks.get(e as usize).is_some_and(|b| b.shared) {
                    assert_eq!(fs, FsKind::Xfs);
                    assert!(crate::validity::is_valid(&s), "{fs:?} {i}");
                    eof += 1;
                }
                if bs < PAGE_SIZE && partly(w) {
                    assert!(crate::validity::is_valid(&s), "{fs:?} {i}");
                    assert!(s.encode().is_ok());
                    part += 1;
                }
            }
        }
        assert!(eof > 20, "{eof}");
        assert!(part > 20, "{part}");
    }

    /// The stream changes only the block map, the pages, i_size and the reflink flag.
    #[test]
    fn changes_only_its_fields() {
        use super::super::random::generate_before;
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..1500 {
                // (Before the session-9 stable-NOWAIT stream, stable_nowait.rs.)
                let s = generate_before(Some("stable-nowait"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("partial"), 7, i, fs, None, 0);
                changed += (s != b) as u32;
                b.world.blocks = s.world.blocks.clone();
                b.world.pages = s.world.pages.clone();
                b.world.i_size = s.world.i_size;
                b.world.inode.reflink = s.world.inode.reflink;
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
        assert!(changed > 30, "{changed}");
    }

    /// A dirty page inside EOF with a hole block and a non-hole block.
    fn partly(w: &World) -> bool {
        let bs = 1u64 << w.blkbits;
        let per = (PAGE_SIZE / bs) as usize;
        (0..w.pages.len()).any(|p| {
            (p as u64 * PAGE_SIZE) < w.i_size
                && w.pages[p] == PageState::Dirty
                && (p * per..(p + 1) * per).any(|b| {
                    (b as u64) * bs < w.i_size
                        && w.blocks.get(b).map_or(Extent::Hole, |x| x.kind) == Extent::Hole
                })
                && (p * per..(p + 1) * per)
                    .any(|b| w.blocks.get(b).map_or(Extent::Hole, |x| x.kind) != Extent::Hole)
        })
    }
}
