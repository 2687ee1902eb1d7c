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

/// Session 10 (issue 13, "the transient inline state after a truncate, with races after open,
/// with a scaled s_maxbytes"): one more stream, applied after [`inline_delalloc`]. On an ext4
/// world that allows the state (and is not yet one), 5 % become the state a truncate to exactly
/// `i_inline_size` leaves ([`truncated`]); of the worlds in the state, 40 % of those on loop
/// devices with 4 KiB blocks get a scaled bitmap limit at or just past the write's end
/// ([`scaled`]), else 30 % one race after open that leaves the state as it is ([`raced`]).
pub fn inline_delalloc_more(r: &mut Rng, s: &mut Scenario, on_loop: bool) -> bool {
    let (k, a, b) = (r.below(100), r.next_u64(), r.next_u64());
    if s.has_race(Race::InodeFlagChangedAfterOpen(INLINE_DATA)) {
        // (Inline data converted after open: 40 % of the plain ones get a scaled limit.)
        return k < 40 && on_loop && converted_scaled(a, s);
    }
    if !s.world.inline_delalloc {
        return k < 5 && truncated(a, s);
    }
    if k < 40 && on_loop && scaled(a, b, s) {
        return true;
    }
    (40..70).contains(&k) && raced(a, s)
}

/// The state after a truncate to exactly `i_inline_size` (60 for an inline file of at most 60
/// bytes, else the end of its largest inline write): `ext4_setattr` converts only past
/// `i_inline_size`, `ext4_inline_data_truncate` drops the delayed extents only below it, so
/// block 0 stays delayed under the dirty page 0 at an i_size the inode holds inline (rule W46;
/// live: tools/src/live/inline_delalloc.rs makes the inline file i_size bytes long, converts
/// it with a write past what the inode holds and truncates back).
pub fn truncated(pick: u64, s: &mut Scenario) -> bool {
    if !allows(s) {
        return false;
    }
    let before = s.clone();
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let top = max_inline(bs);
    // (Sizes the format holds: whole 512-byte sectors or one byte more. 60 itself is real but
    // has no encoding.)
    let sizes = [512, 513, 1024, 2049, 3584, 3585];
    let sizes: Vec<u64> = sizes.into_iter().filter(|&n| n <= top).collect();
    w.i_size = sizes[(pick % sizes.len() as u64) as usize];
    w.blocks = vec![BlockState {
        kind: Extent::Delalloc,
        ..BlockState::default()
    }];
    w.pages = vec![PageState::Dirty];
    w.inode.inline_data = true;
    w.inode.extents = false;
    w.inode.disksize_lag = false;
    w.inline_delalloc = true;
    keep_valid(s, before)
}

/// A scaled s_bitmap_maxbytes at or just past the write's end (the limit
/// `ext4_generic_write_checks` applies to an inode without EXTENTS, an inline one included),
/// in a third of the draws with s_maxbytes scaled to the same value (W24: never below it). Live
/// moves the file next to `ext4_max_bitmap_size()` (tools/src/live/limits.rs); the one-byte
/// inline write stays at 0 and the first write near the limit converts (the conversion's
/// folio is folio 0 whatever the write's position: `ext4_da_convert_inline_data_to_extent`).
/// 4 KiB blocks only, as the limits stream; not with no O_LARGEFILE (its early open would come
/// before the flag check) nor a race after open.
pub fn scaled(pick: u64, same: u64, s: &mut Scenario) -> bool {
    let w = &s.world;
    if w.blkbits != 12
        || s.request.open.no_largefile
        || w.s_maxbytes != HUGE_MAXBYTES
        || w.s_bitmap_maxbytes != HUGE_MAXBYTES
        || s.races.iter().any(|x| *x != Race::FcntlToggleDirect)
    {
        return false;
    }
    let before = s.clone();
    let bs = 1u64 << w.blkbits;
    let q = &s.request;
    let end = (q.pos + q.len).div_ceil(bs);
    let least = w
        .i_size
        .div_ceil(bs)
        .max(w.blocks.len() as u64)
        .max(w.pages.len() as u64 * PAGE_SIZE / bs)
        .max(1);
    let n = (end + pick % 3).saturating_sub(1).max(least);
    let unit = if q.rwf.atomic {
        q.len.next_power_of_two().max(bs) / bs
    } else {
        1
    };
    // (ext4_max_bitmap_size(12) in blocks - n must be a multiple of the unit.)
    if n > 255 || (1_074_791_436 - n) % unit != 0 {
        return false;
    }
    s.world.s_bitmap_maxbytes = n * bs;
    if same % 3 == 0 {
        s.world.s_maxbytes = n * bs;
    }
    keep_valid(s, before)
}

/// One race after open that leaves the state as it is (no flush, no conversion): `chattr +a`
/// (`ext4_ioctl_setflags` flushes only for `+i`), a setuid `fchmod` (IS_NOSEC cleared:
/// `ext4_setattr` without ATTR_SIZE), an unlink (`ext4_unlink` writes nothing back), or
/// i_rwsem held by another task (its buffered write blocks in a user fault with the lock held).
/// The races that end the state are not drawn: `+i` and `+j` write the file back
/// (`ext4_ioctl_setflags`, `ext4_change_inode_journal_flag`), swapon runs `vfs_fsync`, a store
/// through a shared mapping converts (`ext4_page_mkwrite` -> `ext4_convert_inline_data`,
/// `filemap_flush`), and no other flag can change on an inline inode (W6, W9).
pub fn raced(pick: u64, s: &mut Scenario) -> bool {
    if s.races.len() >= MAX_RACES
        || s.races.iter().any(|x| *x != Race::FcntlToggleDirect)
        || s.world.s_maxbytes != HUGE_MAXBYTES
        || s.world.s_bitmap_maxbytes != HUGE_MAXBYTES
    {
        return false;
    }
    let before = s.clone();
    let f = &mut s.world.inode;
    let race = match pick % 4 {
        0 if !f.append_only => {
            f.append_only = true;
            Race::InodeFlagChangedAfterOpen(APPEND_ONLY)
        }
        1 if f.nosec => {
            f.nosec = false;
            Race::InodeFlagChangedAfterOpen(NOSEC)
        }
        2 if !f.unlinked => {
            f.unlinked = true;
            Race::InodeFlagChangedAfterOpen(UNLINKED)
        }
        _ => Race::LockContended,
    };
    s.races.push(race);
    keep_valid(s, before)
}

/// The world the plain conversion after open leaves (src/generators/settle.rs
/// `inline_converted`: block 0 written below a non-zero i_size, every other block a hole, page 0
/// clean or not cached) with a scaled limit at or just past the write's end: s_maxbytes on an
/// inode extent-mapped at the write (`ext4_destroy_inline_data_nolock` set EXTENTS),
/// s_bitmap_maxbytes on a block-mapped one. Live keeps the inline file at 0 and builds the
/// rest next to the real limit after the conversion (tools/src/live/inline_scaled.rs). 4 KiB
/// blocks, no RLIMIT_FSIZE, O_LARGEFILE.
pub fn converted_scaled(pick: u64, s: &mut Scenario) -> bool {
    let w = &s.world;
    let kind = |b: usize| w.blocks.get(b).map_or(Extent::Hole, |x| x.kind);
    let plain = w.i_size > 0
        && !w.inode.inline_data
        && kind(0) == Extent::Written
        && (1..w.blocks.len()).all(|b| kind(b) == Extent::Hole)
        && matches!(
            w.pages.first(),
            None | Some(PageState::Clean) | Some(PageState::None)
        )
        && w.pages.iter().skip(1).all(|p| *p == PageState::None);
    if !plain
        || w.blkbits != 12
        || w.rlimit_fsize.is_some()
        || s.request.open.no_largefile
        || w.s_maxbytes != HUGE_MAXBYTES
        || w.s_bitmap_maxbytes != HUGE_MAXBYTES
    {
        return false;
    }
    let before = s.clone();
    let bs = 1u64 << w.blkbits;
    let q = &s.request;
    // (At or past i_size: ext4_setattr refuses a size past the limit.)
    let n = ((q.pos + q.len).div_ceil(bs) + pick % 3)
        .saturating_sub(1)
        .max(w.i_size.div_ceil(bs))
        .max(1);
    if !super::random::set_scaled_limit(s, n) {
        return false;
    }
    keep_valid(s, before)
}

/// INODE_FLAG_NAMES indices.
const INLINE_DATA: u8 = 2;
const APPEND_ONLY: u8 = 7;
const NOSEC: u8 = 8;
const UNLINKED: u8 = 10;

/// Keep `s` when it is valid and encodes, else restore `before`; whether it was kept.
fn keep_valid(s: &mut Scenario, before: Scenario) -> bool {
    if crate::validity::violations(s).is_empty() && s.encode().is_ok() {
        true
    } else {
        *s = before;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream draws the state on ext4 only, always valid, in the shape live builds.
    #[test]
    fn draws_valid_ext4_conversions_live_can_build() {
        use crate::generators::random::generate_before;
        let mut n = 0;
        for i in 0..600 {
            for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
                // (Before session 10's stream, which truncates: below.)
                let s = generate_before(Some("inline-delalloc-more"), 3, i, fs, None, 0);
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
                let s = generate_before(Some("inline-delalloc-more"), 7, i, fs, None, 0);
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

    /// Session 10's stream draws each of its kinds, always valid: the truncated state (i_size
    /// from 60 up to what the inode holds inline), a scaled bitmap limit (4 KiB blocks), and one
    /// race after open that leaves the state.
    #[test]
    fn the_session10_stream_draws_truncated_scaled_and_raced_states() {
        use crate::generators::random::generate_before;
        let (mut small, mut scaled, mut raced, mut conv) = (0, 0, 0, 0);
        for i in 0..3000 {
            // (up to the next stage, nvme-held)
            let s = generate_before(Some("nvme-held"), 11, i, FsKind::Ext4, None, 0);
            let b = generate_before(Some("inline-delalloc-more"), 11, i, FsKind::Ext4, None, 0);
            if s != b && s.has_race(Race::InodeFlagChangedAfterOpen(INLINE_DATA)) {
                // A conversion after open given a scaled limit.
                assert!(crate::validity::violations(&s).is_empty(), "{i}");
                let w = &s.world;
                assert_ne!(
                    (w.s_maxbytes, w.s_bitmap_maxbytes),
                    (b.world.s_maxbytes, b.world.s_bitmap_maxbytes)
                );
                assert!(w.s_maxbytes.min(w.s_bitmap_maxbytes) >= w.i_size, "{i}");
                conv += 1;
                continue;
            }
            if s == b || !s.world.inline_delalloc {
                continue;
            }
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            let w = &s.world;
            let bs = 1u64 << w.blkbits;
            if w.i_size <= max_inline(bs) && !b.world.inline_delalloc {
                assert!(w.i_size >= 512, "{i}");
                assert_eq!(w.blocks.len(), 1);
                small += 1;
            } else if w.s_bitmap_maxbytes != HUGE_MAXBYTES {
                assert_eq!(w.blkbits, 12);
                assert!(w.s_maxbytes == HUGE_MAXBYTES || w.s_maxbytes == w.s_bitmap_maxbytes);
                scaled += 1;
            } else {
                assert!(s.races.len() > b.races.len(), "{i}");
                raced += 1;
            }
        }
        assert!(
            small > 5 && scaled > 3 && raced > 3 && conv > 3,
            "{small} {scaled} {raced} {conv}"
        );
    }

    /// The stream changes only the state's fields, the limits and the race list.
    #[test]
    fn the_session10_stream_changes_only_its_fields() {
        use crate::generators::random::generate_before;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..800 {
                // (up to the next stage, nvme-held)
                let s = generate_before(Some("nvme-held"), 5, i, fs, None, 0);
                let mut b = generate_before(Some("inline-delalloc-more"), 5, i, fs, None, 0);
                let (w, x) = (&s.world, &mut b.world);
                x.blocks.clone_from(&w.blocks);
                x.pages.clone_from(&w.pages);
                x.i_size = w.i_size;
                x.inode = w.inode;
                x.inline_delalloc = w.inline_delalloc;
                x.s_maxbytes = w.s_maxbytes;
                x.s_bitmap_maxbytes = w.s_bitmap_maxbytes;
                b.races.clone_from(&s.races);
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
    }
}
