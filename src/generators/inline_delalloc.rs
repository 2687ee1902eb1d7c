// SPDX-License-Identifier: GPL-2.0-only
//! ext4 inline data converted by a delayed-allocation write and not yet written back
//! (`world.inline_delalloc`, validity rule W46; docs/live.md "Inline-data and encrypted
//! inodes"), drawn by the random generator from a stream of its own (session 9).
//!
//! The world is what `ext4_da_convert_inline_data_to_extent` (fs/ext4/inline.c) and the
//! delalloc writes after it leave: INLINE_DATA without EXTENTS, EXT4_STATE_MAY_INLINE_DATA
//! clear, block 0 delayed under a dirty page 0, every other block a hole or delayed under a
//! dirty page, nothing allocated. Drawn so that live can build it
//! (tools/src/live/inline_delalloc.rs): i_size past what a block-sized inode holds inline (the
//! converting write ends there) and the block holding the last byte delayed (i_size comes from a
//! write: a truncate up would convert through `ext4_setattr` -> `ext4_convert_inline_data`).

use super::random::Rng;
use crate::scenario::*;
use crate::validity::max_inline;

/// Percent of the ext4 scenarios that allow it which become such a world.
const PCT: u64 = 12;

/// Turn an ext4 world into one with an inline conversion pending; whether it did (a result
/// that is not a valid world is not kept).
pub fn inline_delalloc(r: &mut Rng, s: &mut Scenario) -> bool {
    let (k, size_pick, pick) = (r.below(100), r.next_u64(), r.next_u64());
    if k >= PCT || !allows(s) {
        return false;
    }
    let before = s.clone();
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let sizes: Vec<u64> = [
        bs,
        bs + 1,
        bs + 512,
        2 * bs,
        PAGE_SIZE + 512,
        3 * bs + 1,
        2 * PAGE_SIZE,
    ]
    .into_iter()
    .filter(|&n| n > max_inline(bs) && n <= MAX_BLOCKS as u64 * bs)
    .collect();
    if w.i_size <= max_inline(bs) || w.i_size > 4 * PAGE_SIZE {
        w.i_size = sizes[(size_pick % sizes.len() as u64) as usize];
    }
    let n = w.i_size.div_ceil(bs) as usize;
    let last = ((w.i_size - 1) / bs) as usize;
    w.blocks.resize(n, BlockState::default());
    for (i, b) in w.blocks.iter_mut().enumerate() {
        // Delayed where the world had data (the writes after the conversion), block 0 (the
        // conversion's own) and the last (the write that set i_size); a hole elsewhere.
        let data = b.kind != Extent::Hole || pick >> (i % 64) & 1 != 0;
        *b = if i == 0 || i == last || data {
            BlockState {
                kind: Extent::Delalloc,
                ..BlockState::default()
            }
        } else {
            BlockState::default()
        };
    }
    let pages = w.i_size.div_ceil(PAGE_SIZE) as usize;
    let old = std::mem::take(&mut w.pages);
    w.pages = (0..pages)
        .map(|p| {
            let under = (p as u64 * PAGE_SIZE / bs..(p as u64 + 1) * PAGE_SIZE / bs).any(|b| {
                w.blocks
                    .get(b as usize)
                    .is_some_and(|x| x.kind == Extent::Delalloc)
            });
            if under {
                PageState::Dirty
            } else if old.get(p) == Some(&PageState::Clean) {
                PageState::Clean
            } else {
                PageState::None
            }
        })
        .collect();
    while w.pages.last() == Some(&PageState::None) {
        w.pages.pop();
    }
    w.inode.inline_data = true;
    w.inode.extents = false;
    w.inode.disksize_lag = false;
    w.inline_delalloc = true;
    if crate::validity::violations(s).is_empty() {
        true
    } else {
        *s = before;
        false
    }
}

/// An ext4 delalloc inode that is not encrypted, verity, DAX, a swap file or append-only, on a
/// filesystem neither shut down nor read-only, with no race after open but the fcntl toggle and
/// no scaled s_maxbytes (live builds the state on none of the others: tools/src/live/limits.rs
/// refuses a scaled limit on an inline inode).
fn allows(s: &Scenario) -> bool {
    let (w, f) = (&s.world, s.world.inode);
    s.fs == FsKind::Ext4
        && !w.mount.data_journal
        && !w.mount.dax
        && !w.mount.shutdown
        && !w.mount.emergency_ro
        && !f.journal_data
        && !f.encrypted
        && !f.verity
        && !f.dax
        && !f.swapfile
        && !f.append_only
        && !f.immutable
        && s.races.iter().all(|x| *x == Race::FcntlToggleDirect)
        && w.s_maxbytes == HUGE_MAXBYTES
        && w.s_bitmap_maxbytes == HUGE_MAXBYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::random::generate_on;

    /// The stream draws the state on ext4 only, always valid, in the shape live builds.
    #[test]
    fn draws_valid_ext4_conversions_live_can_build() {
        let mut n = 0;
        for i in 0..600 {
            for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
                let s = generate_on(3, i, fs, None, 0);
                if !s.world.inline_delalloc {
                    continue;
                }
                assert_eq!(fs, FsKind::Ext4);
                assert!(crate::validity::violations(&s).is_empty(), "{i}");
                let w = &s.world;
                let bs = 1u64 << w.blkbits;
                assert!(w.i_size > max_inline(bs), "{i}");
                assert_eq!(
                    w.blocks[((w.i_size - 1) / bs) as usize].kind,
                    Extent::Delalloc
                );
                n += 1;
            }
        }
        assert!(n > 10, "only {n} drawn");
    }

    /// The stream changes only the fields of the state (an earlier seed's other fields stay).
    #[test]
    fn changes_only_its_fields() {
        use crate::generators::random::generate_before;
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..1500 {
                // (Before the session-10 nvme-held stream, stable_nowait.rs.)
                let s = generate_before(Some("nvme-held"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("inline-delalloc"), 7, i, fs, None, 0);
                changed += (s != b) as u32;
                let (w, x) = (&s.world, &mut b.world);
                x.blocks.clone_from(&w.blocks);
                x.pages.clone_from(&w.pages);
                x.i_size = w.i_size;
                x.inode.inline_data = w.inode.inline_data;
                x.inode.extents = w.inode.extents;
                x.inode.disksize_lag = w.inode.disksize_lag;
                x.inline_delalloc = w.inline_delalloc;
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
        assert!(changed > 30, "{changed}");
    }
}
