// SPDX-License-Identifier: GPL-2.0-only
//! ext4 inode states that settle after open (tools/src/live/settle_race.rs; docs/live.md "Races
//! after open"), drawn by the random generator from a stream of its own:
//!
//! * inline data converted away after open (`Race::InodeFlagChangedAfterOpen(2)`, with `(0)` on
//!   a filesystem with extents: `ext4_destroy_inline_data_nolock` sets EXTENTS). The world at
//!   the write is what `ext4_convert_inline_data_nolock` leaves: block 0 written, every other
//!   block a hole, i_size as it was (at most what an inode holds inline), the cached page 0 (if
//!   any) clean;
//! * the i_disksize lag written back after open (`Race::InodeFlagChangedAfterOpen(11)`): the
//!   world at the write has the page at EOF clean over written blocks, which at open was a
//!   dirty page over a delalloc block at EOF (the lag, `random::disksize_lag_buildable`).
//!
//! Every result is a valid world (src/validity.rs); a world that does not allow it is left as it
//! was.

use super::random::{disksize_lag_buildable, Rng};
use crate::scenario::*;

/// INODE_FLAG_NAMES indices.
const EXTENTS: u8 = 0;
const INLINE_DATA: u8 = 2;
const DISKSIZE_LAG: u8 = 11;

/// No race after open but the fcntl toggle, and a filesystem not brought down (live builds the
/// settling on neither).
fn only_toggle(s: &Scenario) -> bool {
    let m = s.world.mount;
    s.races.iter().all(|x| *x == Race::FcntlToggleDirect) && !m.shutdown && !m.emergency_ro
}

/// Keep `s` when it is valid, else restore `before`; whether it was kept.
fn keep_valid(s: &mut Scenario, before: Scenario) -> bool {
    if s.races.len() > MAX_RACES || !crate::validity::violations(s).is_empty() {
        *s = before;
        false
    } else {
        true
    }
}

/// A scaled s_maxbytes with the EXTENTS flag that the conversion sets (not drawn here: the
/// stream of session 10, inline_delalloc::converted_scaled, scales the plain conversion's world,
/// which tools/src/live/inline_scaled.rs builds).
fn scaled_migration(s: &Scenario) -> bool {
    let w = &s.world;
    w.mount.extents_feature
        && (w.s_maxbytes != HUGE_MAXBYTES || w.s_bitmap_maxbytes != HUGE_MAXBYTES)
}

/// Turn an inline-data world (at rest) into the world its conversion after open leaves.
pub fn inline_converted(s: &mut Scenario) -> bool {
    let f = s.world.inode;
    if s.fs != FsKind::Ext4
        || !f.inline_data
        || !f.nosec
        || f.swapfile
        || !only_toggle(s)
        || s.world.i_size > crate::validity::max_inline(1 << s.world.blkbits)
        || scaled_migration(s)
    {
        return false;
    }
    let before = s.clone();
    let w = &mut s.world;
    w.inode.inline_data = false;
    w.inode.extents = w.mount.extents_feature;
    w.blocks.iter_mut().for_each(|b| *b = Default::default());
    if w.blocks.is_empty() {
        w.blocks.push(Default::default());
    }
    w.blocks[0].kind = Extent::Written;
    let i_size = w.i_size;
    for (p, st) in w.pages.iter_mut().enumerate() {
        if *st != PageState::Clean || p as u64 * PAGE_SIZE >= i_size {
            *st = PageState::None;
        }
    }
    if s.world.mount.extents_feature {
        s.races.push(Race::InodeFlagChangedAfterOpen(EXTENTS));
    }
    s.races.push(Race::InodeFlagChangedAfterOpen(INLINE_DATA));
    keep_valid(s, before)
}

/// The world at open of a lag written back after open (the page at EOF at the write clean or,
/// session 10, still under writeback): the page at EOF dirty over a delalloc block at EOF, the
/// lag set.
pub fn lag_at_open(s: &Scenario) -> Option<Scenario> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let (page, eof) = (w.i_size / PAGE_SIZE, (w.i_size / bs) as usize);
    if w.i_size % bs == 0
        || !matches!(
            w.pages.get(page as usize),
            Some(PageState::Clean | PageState::Writeback)
        )
        || w.blocks.get(eof).map(|b| b.kind) != Some(Extent::Written)
    {
        return None;
    }
    let mut open = s.clone();
    open.races.clear();
    open.world.inode = s.inode_at_open();
    open.world.inode.disksize_lag = true;
    open.world.blocks[eof].kind = Extent::Delalloc;
    open.world.pages[page as usize] = PageState::Dirty;
    disksize_lag_buildable(&open).then_some(open)
}

/// Make the page at EOF of `s` one the writeback after open left: clean, over written blocks
/// below EOF and no delayed block.
pub fn lag_written_back(s: &mut Scenario) -> bool {
    let w = &s.world;
    let f = w.inode;
    if s.fs != FsKind::Ext4
        || f.inline_data
        || f.disksize_lag
        || f.swapfile
        || f.dax
        || !only_toggle(s)
        || held_pages(s)
        || lag_at_open(s).is_none()
    {
        return false;
    }
    let bs = 1u64 << w.blkbits;
    let page = w.i_size / PAGE_SIZE;
    let eof = w.i_size / bs;
    let under_page_ok = (page * PAGE_SIZE / bs..(page + 1) * PAGE_SIZE / bs).all(|b| {
        let k = w.blocks.get(b as usize).map_or(Extent::Hole, |x| x.kind);
        k != Extent::Delalloc && (b > eof || k == Extent::Written)
    });
    if !under_page_ok {
        return false;
    }
    let before = s.clone();
    s.races.push(Race::InodeFlagChangedAfterOpen(DISKSIZE_LAG));
    keep_valid(s, before)
}

/// Pages held during the call (under writeback, mmapped dirty): live builds none with a lag at
/// open (tools/src/live/pages.rs: the lag's own write would write them).
fn held_pages(s: &Scenario) -> bool {
    s.world.pages.iter().any(|p| p.held())
}

/// A world with a dirty page over a delalloc block at an unaligned EOF (the lag buildable, set
/// or not) made the one that page's writeback after open leaves: the page clean, the blocks
/// under it below EOF written, no lag; then [`lag_written_back`].
pub fn lag_settled(s: &mut Scenario) -> bool {
    if !disksize_lag_buildable(s) || !only_toggle(s) || held_pages(s) {
        return false;
    }
    let before = s.clone();
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let (page, eof) = (w.i_size / PAGE_SIZE, w.i_size / bs);
    for b in page * PAGE_SIZE / bs..=eof {
        if let Some(k) = w.blocks.get_mut(b as usize) {
            k.kind = Extent::Written;
        }
    }
    w.pages[page as usize] = PageState::Clean;
    w.inode.disksize_lag = false;
    if lag_written_back(s) {
        true
    } else {
        *s = before;
        false
    }
}

/// Make 30 % of the inline-data worlds one converted after open, and 60 % of the (rarer) worlds
/// with a clean page over a written block at an unaligned EOF, or a dirty one over a delalloc
/// block there, one whose i_disksize lag was written back after open.
pub fn settle_after_open(r: &mut Rng, s: &mut Scenario) {
    if s.fs != FsKind::Ext4 {
        return;
    }
    let k = r.below(100);
    if s.world.inode.inline_data {
        if k < 30 {
            inline_converted(s);
        }
    } else if k < 60 && !lag_written_back(s) {
        lag_settled(s);
    }
}

/// An inline world at rest that the conversion streams may take: ext4, inline, not a swap file,
/// only the fcntl toggle, at most an inode's worth, the real s_maxbytes, no held page.
fn convertible(s: &Scenario) -> bool {
    let w = &s.world;
    s.fs == FsKind::Ext4
        && w.inode.inline_data
        && !w.inode.swapfile
        && only_toggle(s)
        && w.i_size <= crate::validity::max_inline(1 << w.blkbits)
        && w.s_maxbytes == HUGE_MAXBYTES
        && w.s_bitmap_maxbytes == HUGE_MAXBYTES
        && !held_pages(s)
}

/// The races of a conversion after open (EXTENTS too where the inode is extent-mapped at the
/// write), kept when `s` encodes and is valid, else `before` restored.
fn converted_races(s: &mut Scenario, before: Scenario) -> bool {
    if s.world.mount.extents_feature && s.world.inode.extents {
        s.races.push(Race::InodeFlagChangedAfterOpen(EXTENTS));
    }
    s.races.push(Race::InodeFlagChangedAfterOpen(INLINE_DATA));
    if s.encode().is_err() {
        *s = before;
        return false;
    }
    keep_valid(s, before)
}

/// Turn an inline-data world at rest (one [`inline_converted`] left alone: 40 % of them, drawn
/// from `r`, a stream of its own) into one of the worlds a conversion after open reaches with
/// more steps after it (tools/src/live/settle_more.rs, session 8), a quarter each: unwritten
/// blocks after block 0 (a fallocate over them), page 0 dirty over block 0 (a buffered
/// overwrite), block 0 delayed under a dirty page 0 (truncated to 0 and written again), or
/// i_size past an inode's worth (the ext4_setattr truncate path). IS_NOSEC as it was (a setuid
/// inode keeps its bit: root has CAP_FSETID). Left as it was when the result is not valid.
pub fn inline_converted_more(r: &mut Rng, s: &mut Scenario) -> bool {
    if !convertible(s) || !r.pct(40) {
        return false;
    }
    let kind = r.below(4);
    let extra = r.below(3);
    let grow = r.below(16);
    let before = s.clone();
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let ext = w.mount.extents_feature;
    w.inode.inline_data = false;
    w.inode.extents = ext;
    let clean0 = w.pages.first() == Some(&PageState::Clean) && w.i_size > 0;
    w.pages.clear();
    let block = |kind| BlockState {
        kind,
        ..Default::default()
    };
    w.blocks = vec![block(Extent::Written)];
    match kind {
        0 if ext => w
            .blocks
            .extend((0..=extra).map(|_| block(Extent::Unwritten))),
        1 if w.i_size > 0 => w.pages.push(PageState::Dirty),
        2 if ext && w.i_size > 0 => {
            w.blocks[0].kind = Extent::Delalloc;
            w.pages.push(PageState::Dirty);
        }
        3 => {
            // Past an inode's worth, in sectors (or one byte more), up to 2 blocks further.
            let max = crate::validity::max_inline(bs);
            w.i_size = (max / SECTOR + 1 + grow % (2 * bs / SECTOR)) * SECTOR + (grow & 1);
            w.blocks
                .resize(w.i_size.div_ceil(bs) as usize, Default::default());
        }
        _ => {
            *s = before;
            return false;
        }
    }
    if clean0 && s.world.pages.is_empty() {
        s.world.pages.push(PageState::Clean);
    }
    converted_races(s, before)
}

/// Session 9: the inline worlds the first two streams left (still inline at rest) turned into
/// the converted worlds with page 0 held at the write (under writeback, mmapped dirty, busy
/// buffers on journalled data), a dirty page 0 with the truncate path (`ext4_setattr`), or block
/// 0 delayed under a dirty page 0 on a block-mapped inode (tools/src/live/settle_more.rs; 30 %,
/// a fifth per kind). A kind the world does not allow (a rule forbids it) leaves it as it was.
pub fn inline_converted_held(r: &mut Rng, s: &mut Scenario) -> bool {
    if !convertible(s) || s.world.i_size == 0 || !r.pct(30) {
        return false;
    }
    let f = s.world.inode;
    let kind = r.below(5);
    let grow = r.below(16);
    let before = s.clone();
    let w = &mut s.world;
    let bs = 1u64 << w.blkbits;
    let ext = w.mount.extents_feature;
    w.inode.inline_data = false;
    w.inode.extents = ext;
    w.pages.clear();
    let block = |kind| BlockState {
        kind,
        ..Default::default()
    };
    w.blocks = vec![block(Extent::Written)];
    // What live holds a page with (tools/src/live/pages.rs check_held): no RLIMIT_FSIZE, no
    // injected fault, no journalled data; a mapped one not append-only or immutable.
    let holdable = w.rlimit_fsize.is_none()
        && before.faults.is_empty()
        && !w.mount.data_journal
        && !f.journal_data;
    match kind {
        0 if holdable => w.pages.push(PageState::Writeback),
        1 if holdable && !f.append_only && !f.immutable => w.pages.push(PageState::MappedDirty),
        2 => w.pages.push(PageState::Busy),
        3 => {
            // Past an inode's worth (in sectors, or one byte more: the encoding's sizes), up
            // to a block further with blocks of a page or more, a byte into block 1 with
            // smaller ones (a hole under the dirty page 0, super::partial).
            let sectors = if bs >= PAGE_SIZE { bs / SECTOR } else { 1 };
            w.i_size = (bs / SECTOR + grow % sectors) * SECTOR + (grow & 1);
            w.blocks
                .resize(w.i_size.div_ceil(bs) as usize, Default::default());
            w.pages.push(PageState::Dirty);
        }
        4 => {
            w.inode.extents = false;
            w.blocks[0].kind = Extent::Delalloc;
            w.pages.push(PageState::Dirty);
        }
        _ => {
            *s = before;
            return false;
        }
    }
    converted_races(s, before)
}

/// Scenario `index` of `seed` for `live --settle-after-open` and the lab's `ext4-settle` group:
/// an ext4 scenario with one of the two races, half each, made from the random generator's
/// scenario (its races but the fcntl toggle dropped, the world shaped for the race: an inline
/// file of a drawn size, or the page at EOF clean over written blocks at an unaligned EOF).
/// A world that cannot take the race even so (a rule forbids it) is replaced by the next index's
/// (in a numbering of its own).
pub fn generate_settle(seed: u64, index: u64) -> Scenario {
    let mut r = Rng::stream(seed, index, 0x94D0_49BB_1331_11EB, 0x5E77 << 48);
    let inline = r.pct(50);
    let mut last = None;
    for j in 0..64u64 {
        // Without the session-11 stage (its pages under writeback over unwritten blocks): the
        // scenarios of older seeds stay what they were.
        let mut s = super::random::generate_before(
            Some("writeback-unwritten"),
            seed ^ 0x5E77_1E00,
            index * 64 + j,
            FsKind::Ext4,
            None,
            0,
        );
        super::flags::only_toggle_races(&mut s);
        let w = &mut s.world;
        w.inode.disksize_lag = false;
        w.inode.swapfile = false;
        w.inode.nosec = true;
        w.inode.dax = false;
        w.mount.shutdown = false;
        w.mount.emergency_ro = false;
        // Unscaled limits: the lag branch grows i_size (a scaled s_bitmap_maxbytes could then
        // lie below it), and a scaled limit with the conversion's EXTENTS change is not built.
        w.s_maxbytes = HUGE_MAXBYTES;
        w.s_bitmap_maxbytes = HUGE_MAXBYTES;
        let bs = 1u64 << w.blkbits;
        let ok = if inline {
            let max = crate::validity::max_inline(bs);
            w.inode.inline_data = true;
            w.inode.extents = false;
            w.inode.encrypted = false;
            w.i_size = r.below(max / SECTOR + 1) * SECTOR + r.below(2);
            w.i_size = w.i_size.min(max);
            w.blocks.iter_mut().for_each(|b| *b = Default::default());
            inline_converted(&mut s)
        } else {
            w.inode.inline_data = false;
            w.inode.journal_data = false;
            w.mount.data_journal = false;
            if w.i_size % bs == 0 {
                // Inside the last block, as the input format holds a size: a multiple of 512 or
                // one more (session 10: 1,135 of 3,000 drawn worlds had another size and did
                // not encode, so repro and live --save could not load them). One draw, as before.
                let v = 1 + r.below(bs - 1);
                w.i_size += if v % SECTOR <= 1 {
                    v
                } else {
                    v - v % SECTOR + 1
                };
            }
            let (page, eof) = (w.i_size / PAGE_SIZE, w.i_size / bs);
            let end = (page + 1) * PAGE_SIZE / bs;
            if (w.blocks.len() as u64) < end {
                w.blocks.resize(end as usize, Default::default());
            }
            for b in page * PAGE_SIZE / bs..end {
                let k = &mut w.blocks[b as usize];
                if b <= eof {
                    *k = BlockState {
                        kind: Extent::Written,
                        ..Default::default()
                    };
                } else if k.kind == Extent::Delalloc {
                    k.kind = Extent::Hole;
                }
            }
            if (w.pages.len() as u64) <= page {
                w.pages.resize(page as usize + 1, PageState::None);
            }
            w.pages[page as usize] = PageState::Clean;
            lag_written_back(&mut s) && {
                // Session 10, a stream of its own: a third of them have that writeback still
                // in flight at the write (the page at EOF under writeback, held by live on a
                // nodioread_nolock mount: tools/src/live/settle_race.rs
                // `Settle::WriteBackHeld`), where live holds a page (no RLIMIT_FSIZE, no
                // injected fault: tools/src/live/pages.rs `check_held`).
                let mut h = Rng::stream(seed, index, 0x94D0_49BB_1331_11EB, 0x5E78 << 48);
                if h.pct(33) && s.world.rlimit_fsize.is_none() && s.faults.is_empty() {
                    let before = s.clone();
                    s.world.pages[page as usize] = PageState::Writeback;
                    if !crate::validity::is_valid(&s) {
                        s = before;
                    }
                }
                true
            }
        };
        if ok {
            return s;
        }
        last = Some(s);
    }
    last.expect("64 tries")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag_races(s: &Scenario) -> Vec<u8> {
        s.races
            .iter()
            .filter_map(|r| match r {
                Race::InodeFlagChangedAfterOpen(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn generate_settle_draws_both_races_valid() {
        let (mut inline, mut lag, mut held) = (0, 0, 0);
        for i in 0..200 {
            let s = generate_settle(3, i);
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            // Every world encodes (repro and live --save load it back).
            assert!(s.encode().is_ok(), "{i}: {:?}", s.encode());
            let f = flag_races(&s);
            if f.contains(&INLINE_DATA) {
                inline += 1;
                let w = &s.world;
                assert!(!w.inode.inline_data && s.inode_at_open().inline_data);
                assert_eq!(w.blocks[0].kind, Extent::Written);
                assert!(w.blocks[1..].iter().all(|b| b.kind == Extent::Hole));
                assert_eq!(f.contains(&EXTENTS), w.mount.extents_feature, "{i}");
            }
            if f.contains(&DISKSIZE_LAG) {
                lag += 1;
                assert!(!s.world.inode.disksize_lag && s.inode_at_open().disksize_lag);
                assert!(lag_at_open(&s).is_some());
                // Session 10: the page at EOF still under writeback, only where live holds it.
                let page = (s.world.i_size / PAGE_SIZE) as usize;
                if s.world.pages[page] == PageState::Writeback {
                    held += 1;
                    assert!(s.world.rlimit_fsize.is_none() && s.faults.is_empty(), "{i}");
                }
            }
        }
        assert!(inline > 60 && lag > 60, "{inline} {lag}");
        assert!(held > 10 && held < lag, "{held} of {lag}");
    }

    #[test]
    fn converted_world_is_block_0_written() {
        let mut s = generate_settle(1, 0);
        s.races.clear();
        s.world.inode.disksize_lag = false;
        // Not an inline world: nothing to convert.
        assert!(!inline_converted(&mut s.clone()));
        s.world.inode.inline_data = true;
        s.world.inode.extents = false;
        s.world.inode.journal_data = false;
        s.world.inode.encrypted = false;
        s.world.mount.data_journal = false;
        s.world.i_size = 100;
        s.world.blocks = vec![Default::default(); 3];
        s.world.pages = vec![PageState::Clean, PageState::Dirty];
        assert!(inline_converted(&mut s), "{s:?}");
        assert_eq!(s.world.pages, vec![PageState::Clean, PageState::None]);
        assert!(s.world.inode.extents == s.world.mount.extents_feature);
    }

    /// The random generator's second stream draws every kind of [`inline_converted_more`],
    /// valid, and only on worlds that were inline at rest.
    #[test]
    fn random_stream_draws_the_more_worlds() {
        let mut kinds = [0u32; 5];
        for i in 0..6000 {
            let s = crate::generators::random::generate(23, i, FsKind::Ext4);
            if !flag_races(&s).contains(&INLINE_DATA) {
                continue;
            }
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            let w = &s.world;
            let k = w.blocks.first().map(|b| b.kind);
            let i = if w.i_size > crate::validity::max_inline(1 << w.blkbits) {
                3
            } else if k == Some(Extent::Delalloc) {
                2
            } else if w.pages.first() == Some(&PageState::Dirty) {
                1
            } else if w.blocks.iter().any(|b| b.kind == Extent::Unwritten) {
                0
            } else {
                4
            };
            kinds[i] += 1;
        }
        assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
    }

    /// The random generator's third stream (session 9) draws every kind of
    /// [`inline_converted_held`], valid.
    #[test]
    fn random_stream_draws_the_held_worlds() {
        let mut kinds = [0u32; 5];
        for i in 0..20000 {
            let s = crate::generators::random::generate(31, i, FsKind::Ext4);
            if !flag_races(&s).contains(&INLINE_DATA) {
                continue;
            }
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            let w = &s.world;
            let max = crate::validity::max_inline(1 << w.blkbits);
            let k = match w.pages.first() {
                Some(PageState::Writeback) => 0,
                Some(PageState::MappedDirty) => 1,
                Some(PageState::Busy) => 2,
                Some(PageState::Dirty) if w.i_size > max => 3,
                Some(PageState::Dirty) if !w.inode.extents => 4,
                _ => continue,
            };
            kinds[k] += 1;
        }
        assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
    }

    /// The random generator's stream draws both, and nothing else changes for a scenario it
    /// leaves alone.
    #[test]
    fn random_stream_draws_both() {
        let (mut inline, mut lag) = (0, 0);
        for i in 0..3000 {
            let s = crate::generators::random::generate(21, i, FsKind::Ext4);
            let f = flag_races(&s);
            inline += f.contains(&INLINE_DATA) as u32;
            lag += f.contains(&DISKSIZE_LAG) as u32;
        }
        assert!(inline > 5 && lag > 5, "{inline} {lag}");
    }
}
