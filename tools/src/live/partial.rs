// SPDX-License-Identifier: GPL-2.0-only
//! Partial blocks and partial pages in the set-up (issue 13, session 8; docs/live.md "Partial
//! blocks: a shared block straddling EOF, a page dirty over holes"):
//!
//! * a shared (reflinked) block straddling EOF: FICLONERANGE of a range ending at the donor's
//!   EOF, which may end inside a block (`generic_remap_checks`, fs/remap_range.c, rounds such a
//!   range up to the block; `generic_remap_check_len` lets an unaligned length through when it
//!   reaches the destination's EOF; read in 7.3.4). The donor is written up to the scenario's
//!   `i_size` and the clone runs from the block to `i_size`, so `xfs_reflink_remap_blocks` shares
//!   the whole EOF block;
//! * a page dirty over hole blocks with blocks smaller than a page: a buffered write of only the
//!   page's non-hole blocks, so the others stay holes with clean buffers (ext4) or clean
//!   per-block state (iomap). The model reads the same world (`partial_dirty_holes`,
//!   src/model/mod.rs).

use super::plan::Unsupported;
use diofuzz::scenario::{Extent, PageState, Scenario, World, PAGE_SIZE};

/// The clone of written block `off` (`bs` bytes) of a file of `i_size` bytes: the whole block,
/// or up to `i_size` for the EOF block (the donor ends there too: the clone reaches both files'
/// EOF). `seed`: an unwritten CoW seed ([`super::cow`]), which the set-up rewrites whole after
/// the clone, so it cannot straddle EOF.
pub fn clone_range(off: u64, bs: u64, i_size: u64, seed: bool) -> Result<(u64, u64), Unsupported> {
    if off + bs <= i_size {
        return Ok((off, bs));
    }
    if seed {
        return Err("unwritten CoW seed straddling EOF (its rewrite would extend the file)".into());
    }
    Ok((off, i_size - off))
}

/// The ranges a buffered write must dirty for dirty page `page` (of state `st`) of a file of
/// `i_size` bytes: the page's blocks below EOF, but for hole blocks, which stay holes under a
/// page written in part (blocks smaller than a page). Refused: a hole under a page with
/// page-sized blocks, a page whose every block is a hole, and a hole under an mmapped dirty
/// page (a store reserves every block of the folio: `ext4_page_mkwrite` -> `block_page_mkwrite`,
/// `iomap_page_mkwrite`), which are not worlds the kernel makes.
pub fn dirty_ranges(
    w: &World,
    page: u64,
    st: PageState,
    i_size: u64,
) -> Result<Vec<(u64, u64)>, Unsupported> {
    let bs = 1u64 << w.blkbits;
    let off = page * PAGE_SIZE;
    let wend = (off + PAGE_SIZE).min(i_size);
    let kind = |b: u64| {
        w.blocks
            .get(b as usize)
            .map(|x| x.kind)
            .unwrap_or(Extent::Hole)
    };
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut holes = false;
    let mut b = off / bs;
    while b * bs < wend {
        let (a, e) = (b * bs, ((b + 1) * bs).min(wend));
        if kind(b) == Extent::Hole {
            holes = true;
        } else {
            match runs.last_mut() {
                Some(r) if r.0 + r.1 == a => r.1 = e - r.0,
                _ => runs.push((a, e - a)),
            }
        }
        b += 1;
    }
    if holes && (bs >= PAGE_SIZE || runs.is_empty() || st != PageState::Dirty) {
        return Err("dirty page over a hole not marked delalloc".into());
    }
    Ok(runs)
}

/// Does `s` have a shared block straddling EOF, or a dirty page inside EOF over a hole block
/// next to a non-hole one (blocks smaller than a page)? (`live --worlds partial`)
pub fn is_partial(s: &Scenario) -> bool {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let kind = |b: u64| w.blocks.get(b as usize).map_or(Extent::Hole, |x| x.kind);
    let eof = w.i_size % bs != 0
        && w.blocks
            .get((w.i_size / bs) as usize)
            .is_some_and(|b| b.shared);
    let page = bs < PAGE_SIZE
        && (0..w.pages.len() as u64).any(|p| {
            let blocks = p * PAGE_SIZE / bs..((p + 1) * PAGE_SIZE / bs).min(w.i_size.div_ceil(bs));
            w.pages[p as usize] == PageState::Dirty
                && blocks.clone().any(|b| kind(b) == Extent::Hole)
                && blocks.clone().any(|b| kind(b) != Extent::Hole)
        });
    eof || page
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::BlockState as Block;

    fn world(blkbits: u8, kinds: &[Extent], i_size: u64) -> World {
        let mut w = Scenario::default().world;
        w.blkbits = blkbits;
        w.i_size = i_size;
        w.blocks = kinds
            .iter()
            .map(|&kind| Block {
                kind,
                ..Block::default()
            })
            .collect();
        w
    }

    /// The EOF block's clone ends at EOF; whole blocks before it; a seed there is refused.
    #[test]
    fn clone_of_the_eof_block_ends_at_eof() {
        assert_eq!(clone_range(0, 4096, 6000, false), Ok((0, 4096)));
        assert_eq!(clone_range(4096, 4096, 6000, false), Ok((4096, 1904)));
        assert_eq!(clone_range(4096, 4096, 8192, false), Ok((4096, 4096)));
        assert!(clone_range(4096, 4096, 6000, true).is_err());
    }

    /// A 1 KiB-block page over delalloc, hole, hole, written: two runs, the holes left out.
    #[test]
    fn a_partly_dirty_page_writes_only_its_non_hole_blocks() {
        use Extent::*;
        let w = world(10, &[Delalloc, Hole, Hole, Written], 4096);
        assert_eq!(
            dirty_ranges(&w, 0, PageState::Dirty, 4096),
            Ok(vec![(0, 1024), (3072, 1024)])
        );
        // Cut at EOF inside the last block.
        assert_eq!(
            dirty_ranges(&w, 0, PageState::Dirty, 3500),
            Ok(vec![(0, 1024), (3072, 428)])
        );
        // No hole: the whole page, as before.
        let full = world(11, &[Delalloc, Written], 4096);
        assert_eq!(
            dirty_ranges(&full, 0, PageState::Dirty, 4096),
            Ok(vec![(0, 4096)])
        );
    }

    /// Holes under a page that the kernel dirties whole are refused.
    #[test]
    fn holes_the_kernel_would_have_reserved_are_refused() {
        use Extent::*;
        let w = world(10, &[Delalloc, Hole, Hole, Hole], 4096);
        assert!(dirty_ranges(&w, 0, PageState::MappedDirty, 4096).is_err());
        let none = world(10, &[Hole, Hole, Hole, Hole], 4096);
        assert!(dirty_ranges(&none, 0, PageState::Dirty, 4096).is_err());
        let page = world(12, &[Hole], 4096);
        assert!(dirty_ranges(&page, 0, PageState::Dirty, 4096).is_err());
        // A hole past EOF does not count.
        let eof = world(10, &[Delalloc, Hole], 1024);
        assert_eq!(
            dirty_ranges(&eof, 0, PageState::Dirty, 1024),
            Ok(vec![(0, 1024)])
        );
    }

    /// The generator's partial worlds plan: the EOF block is cloned up to EOF, and a partly
    /// dirty page is written over its non-hole blocks only.
    #[test]
    fn generated_partial_worlds_plan_with_partial_clones_and_writes() {
        use super::super::plan::{plan, Step};
        use super::super::select::{generate, World as W};
        use diofuzz::scenario::FsKind;
        let (mut eof, mut page) = (0, 0);
        for (id, s) in generate(&[W::Partial], 3, 12, &[FsKind::Ext4, FsKind::Xfs], None, 0) {
            assert!(is_partial(&s), "{id}");
            let Ok(p) = plan(&s) else { continue };
            let w = &s.world;
            let bs = 1u64 << w.blkbits;
            let hole = |o: u64| {
                w.blocks
                    .get((o / bs) as usize)
                    .is_none_or(|b| b.kind == Extent::Hole)
            };
            for st in &p.steps {
                match *st {
                    Step::CloneOld { off, len } if off + len > w.i_size / bs * bs => {
                        assert_eq!(off + len, w.i_size, "{id}");
                        eof += 1;
                    }
                    Step::WriteDirty { off, len } => {
                        assert!((off..off + len).step_by(512).all(|o| !hole(o)), "{id}");
                        page +=
                            (bs < PAGE_SIZE && (len < PAGE_SIZE || off % PAGE_SIZE != 0)) as u32;
                    }
                    _ => {}
                }
            }
        }
        assert!(eof > 0 && page > 0, "{eof} {page}");
    }
}
