// SPDX-License-Identifier: GPL-2.0-only
//! Block devices of another geometry (issue 13, session 8): a block size other than 4 KiB
//! (`set_init_blocksize` at the first open, or `BLKBSZSET` while an opener holds the device,
//! block/bdev.c) and a size that is whole sectors but not whole pages (`bdev_set_nr_sectors`; a
//! loop device over a file of 512 n bytes, `lo_calculate_size`). live builds both
//! (tools/src/live/bdev_geometry.rs). Drawn from a stream of its own by
//! [`super::random::generate_on`], so every other field of every seed is what it was.

use super::random::Rng;
use crate::scenario::*;

/// Of the block-device scenarios with a 512-byte logical block (a loop device, or a partition of
/// the atomic disk, whose BLKPG length is then whole logical blocks too): give 15 % a block size
/// of 1 or 2 KiB, 2 % an empty device (loop only), and 13 % a size 512 to 3584 bytes short of the page
/// multiple it had, with the
/// block size `set_init_blocksize` gives it (when that is in the format: 1 KiB or more), the page
/// it had or 1 or 2 KiB; the written blocks are re-laid in the new block size (each sub-block
/// keeps the kind of the 4 KiB block it lies in, about one in ten flipped between written
/// and hole), and a third of them get a position on a block or at the device end. Left unchanged when
/// the result would not be a valid world.
pub fn bdev_geometry(r: &mut Rng, s: &mut Scenario, disk: bool) {
    let k = r.below(100);
    let pick = r.below(3);
    let short = 1 + r.below(7);
    let aim = r.below(100);
    let flips = r.next_u64();
    let at = r.next_u64();
    if s.fs != FsKind::Bdev || s.world.lbs_bits != 9 || s.world.blkbits != 12 {
        return;
    }
    if k >= 30 {
        return;
    }
    let before = s.clone();
    let old_bs = 1u64 << s.world.blkbits;
    let w = &mut s.world;
    if k >= 28 {
        if disk {
            // blkpg_do_ioctl refuses a partition of length 0 (-EINVAL): no empty partition.
            return;
        }
        // A loop device over an empty file: -ENOSPC for any write but an empty one.
        let w = &mut s.world;
        w.i_size = 0;
        w.blocks.clear();
        w.pages.clear();
        s.request.pos = 0;
        if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
            *s = before;
        }
        return;
    }
    let blkbits = if k < 15 {
        10 + pick.min(1) as u8
    } else {
        w.i_size -= short * SECTOR;
        let init = (w.i_size & w.i_size.wrapping_neg()).min(PAGE_SIZE);
        match pick {
            0 if init >= 1024 => init.trailing_zeros() as u8,
            0 | 1 => 10 + (short % 2) as u8,
            _ => 12,
        }
    };
    let bs = 1u64 << blkbits;
    let blocks = recut(w, old_bs, w.i_size, bs, |j| {
        flips >> (j % 64) & 1 == 1 && j % 5 == (flips % 5) as usize
    });
    w.blkbits = blkbits;
    w.blocks = blocks;
    let size = w.i_size;
    w.pages.truncate(size.div_ceil(PAGE_SIZE) as usize);
    while w.pages.last() == Some(&PageState::None) {
        w.pages.pop();
    }
    let q = &mut s.request;
    match aim {
        0..=14 => q.pos = at % size.div_ceil(bs) * bs,
        15..=24 => q.pos = size.saturating_sub(q.len) / SECTOR * SECTOR,
        25..=32 => q.pos = size / PAGE_SIZE * PAGE_SIZE,
        _ => {}
    }
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

/// Of the loop-device scenarios of 4 KiB blocks and whole pages (no atomic units, not a
/// partition: BLKPG lengths are whole logical blocks): give 12 % 4 KiB logical blocks and a size
/// 512 to 3584 bytes short of the page multiple it had (not on a stable-writes device: live builds
/// those on zram, whose size is whole pages) (a loop device with `LOOP_CONFIGURE`
/// block_size 4096 over a file of 512 n bytes: lo_calculate_size counts sectors). Nothing can
/// cache the page over its last, partial block (rule W41), so that page is dropped (held pages
/// and races elsewhere stay); the write is put at that page (-EIO buffered, -EINVAL direct) in
/// 40 %, across its start in 30 %, never RWF_ATOMIC, and buffered (not RWF_NOWAIT) in half of
/// them: the base generator's block-device requests are mostly O_DIRECT, which stops at the edge
/// with -EINVAL and never reaches the buffered -EIO (session 9: 37 of 39 tail worlds of seeds 1
/// and 2 were direct). Left unchanged when the result would not be a valid world. Drawn from a
/// stream of its own.
pub fn bdev_tail(r: &mut Rng, s: &mut Scenario, disk: bool) {
    let k = r.below(100);
    let short = 1 + r.below(7);
    let aim = r.below(100);
    let buffered = r.below(100) < 50;
    let w = &s.world;
    if disk
        || s.fs != FsKind::Bdev
        || w.blkbits != 12
        || w.i_size < PAGE_SIZE
        || w.i_size % PAGE_SIZE != 0
        || w.device.awu_max != 0
        || w.device.stable_writes
        || k >= 12
    {
        return;
    }
    let before = s.clone();
    let w = &mut s.world;
    w.lbs_bits = 12;
    w.i_size -= short * SECTOR;
    let edge = w.i_size / PAGE_SIZE * PAGE_SIZE;
    let n = w.i_size.div_ceil(PAGE_SIZE) as usize;
    w.blocks.truncate(n);
    w.pages.truncate(n);
    if let Some(p) = w.pages.get_mut(n - 1) {
        *p = PageState::None;
    }
    while w.pages.last() == Some(&PageState::None) {
        w.pages.pop();
    }
    let q = &mut s.request;
    match aim {
        0..=39 => q.pos = edge,
        40..=69 if edge >= PAGE_SIZE => q.pos = edge - PAGE_SIZE,
        _ => {}
    }
    // (15 of 58 tail worlds of seeds 1 and 2 ended at RWF_ATOMIC's -EOPNOTSUPP, 5 of 30
    // buffered ones at RWF_NOWAIT's, before this.)
    reach_the_size(s, before, buffered);
}

/// Session 11: loop devices of 1 or 2 KiB logical blocks (`LOOP_CONFIGURE` block_size 1024 or
/// 2048) whose size is not whole logical blocks (lo_calculate_size counts 512-byte sectors), on
/// 14 % of the loop-device scenarios of 512-byte logical blocks without atomic units, stable
/// writes or a bio-based disk (rule W47). The size is the scenario's less a page, plus 0 to 3
/// logical blocks (inside that page) and 512 to 1536 bytes past them; the block size is what
/// `set_init_blocksize` gives that size in 40 % (block/bdev.c: the first power of two from the
/// logical block size up that is a bit of the size, at most a page), else any of the logical
/// block size up to a page (`BLKBSZSET` while live holds the device), and the written blocks are
/// re-laid in it (each block keeps the kind of the old block its start lies in). Nothing caches
/// the page over the buffer that holds the device end (rule W41), so that page and those after
/// it are dropped. The write goes, in 30 %, into that page before the end buffer (written:
/// `__block_write_begin_int` reads only the buffers a write covers in part, session 10's
/// boundary), in 20 % at the end buffer (-EIO buffered, -EINVAL direct), in 20 % across the
/// page start (a short write), with a length of whole logical blocks in half of those; buffered
/// in 55 % (never RWF_NOWAIT then: -EOPNOTSUPP before the size is read), never RWF_ATOMIC (no
/// atomic units: -EOPNOTSUPP). Left unchanged when the result would not be a valid world.
/// Drawn from a stream of its own.
pub fn tail_small(r: &mut Rng, s: &mut Scenario, disk: bool) {
    let k = r.below(100);
    let two = r.below(2) == 1;
    let short = r.below(3);
    let init = r.below(100) < 40;
    let pick = r.below(3);
    let aim = r.below(100);
    let m = r.next_u64();
    let blocks_len = r.below(2) == 0;
    let buffered = r.below(100) < 55;
    let sub = r.below(4);
    let w = &s.world;
    if disk
        || s.fs != FsKind::Bdev
        || w.lbs_bits != 9
        || w.i_size < 2 * PAGE_SIZE
        || w.device.awu_max != 0
        || w.device.stable_writes
        || w.device.no_bio_split
        || k >= 14
    {
        return;
    }
    let before = s.clone();
    let lbs_bits = if two { 11 } else { 10 };
    let lbs = 1u64 << lbs_bits;
    // 512 n bytes past a logical block: 512 for 1 KiB, 512, 1024 or 1536 for 2 KiB.
    let tail = if two { (1 + short) * SECTOR } else { SECTOR };
    let size = (s.world.i_size - PAGE_SIZE) / lbs * lbs + sub % (PAGE_SIZE / lbs) * lbs + tail;
    let blkbits = if init {
        let mut bs = lbs;
        while bs < PAGE_SIZE && size & bs == 0 {
            bs <<= 1;
        }
        bs.trailing_zeros() as u8
    } else {
        lbs_bits + (pick % (13 - lbs_bits as u64)) as u8
    };
    let old_bs = 1u64 << s.world.blkbits;
    let bs = 1u64 << blkbits;
    let w = &mut s.world;
    let blocks = recut(w, old_bs, size, bs, |_| false);
    w.lbs_bits = lbs_bits;
    w.blkbits = blkbits;
    w.i_size = size;
    w.blocks = blocks;
    // The buffer that holds the end and the page over it (rule W41): nothing from it on.
    let end_buf = size & !(bs.max(lbs) - 1);
    let page = end_buf & !(PAGE_SIZE - 1);
    w.pages.truncate((page / PAGE_SIZE) as usize);
    while w.pages.last() == Some(&PageState::None) {
        w.pages.pop();
    }
    let q = &mut s.request;
    let units = |n: u64| (n / lbs).max(1) * lbs;
    match aim {
        // Into the end page, before the end buffer (a whole buffer or less, or up to it).
        0..=29 if end_buf > page => {
            let room = (end_buf - page) / lbs;
            q.pos = page + m % room * lbs;
            q.len = if blocks_len {
                units(end_buf - q.pos)
            } else {
                (m >> 8) % ((end_buf - q.pos) / SECTOR) * SECTOR + SECTOR
            };
        }
        // At the end buffer.
        0..=49 => {
            q.pos = end_buf + (m % 2) * SECTOR.min(size - end_buf - SECTOR);
            if blocks_len {
                q.len = units(q.len);
            }
        }
        // Across the end page's start.
        50..=69 => {
            q.pos = page.saturating_sub(lbs * (1 + m % 4));
            if blocks_len {
                q.len = units(q.len.max(size - q.pos));
            }
        }
        _ => {}
    }
    reach_the_size(s, before, buffered);
}

/// The end of both tail streams: a request that reaches the device's size, buffered if
/// `buffered`; `before` back if the world is not real or does not encode.
/// - No RWF_ATOMIC: the device has no atomic units (awu_max 0), so it is -EOPNOTSUPP before the
///   size is read (kiocb_set_rw_flags: no FMODE_CAN_ATOMIC_WRITE).
/// - No RWF_NOWAIT without O_DIRECT: blkdev_write_iter refuses it (-EOPNOTSUPP, block/fops.c
///   6.12.117 and 7.3.4) before the size is read.
fn reach_the_size(s: &mut Scenario, before: Scenario, buffered: bool) {
    let q = &mut s.request;
    q.rwf.atomic = false;
    if buffered {
        q.open.direct = false;
    }
    if !q.open.direct {
        q.rwf.nowait = false;
    }
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

/// Is `s` one of the session-11 worlds: a device of 1 or 2 KiB logical blocks whose size is not
/// whole logical blocks?
pub fn is_tail_small(s: &Scenario) -> bool {
    s.fs == FsKind::Bdev
        && matches!(s.world.lbs_bits, 10 | 11)
        && s.world.i_size % (1 << s.world.lbs_bits) != 0
}

/// Is `s` one of these worlds: a block device whose block size or size is not a page?
pub fn is_geometry(s: &Scenario) -> bool {
    s.fs == FsKind::Bdev
        && (s.world.blkbits != 12 || s.world.i_size % PAGE_SIZE != 0 || s.world.i_size == 0)
}

/// A device's layout re-cut into blocks of `bs` bytes over its first `size` bytes: block `j` is
/// written when the old block (of `old_bs` bytes) under its start was, toggled where `flip(j)`;
/// trailing holes dropped (a device reads zeroes there either way).
fn recut(
    w: &World,
    old_bs: u64,
    size: u64,
    bs: u64,
    flip: impl Fn(usize) -> bool,
) -> Vec<BlockState> {
    let nblk = (size.div_ceil(bs) as usize).min(MAX_BLOCKS);
    let mut blocks: Vec<BlockState> = (0..nblk)
        .map(|j| {
            let old = w
                .blocks
                .get((j as u64 * bs / old_bs) as usize)
                .is_some_and(|b| b.kind == Extent::Written);
            BlockState {
                kind: if old != flip(j) {
                    Extent::Written
                } else {
                    Extent::Hole
                },
                ..BlockState::default()
            }
        })
        .collect();
    while blocks.last().is_some_and(|b| b.kind == Extent::Hole) {
        blocks.pop();
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::super::random::{generate, generate_on};
    use super::*;

    /// Both worlds are drawn, at about the rates said, valid and encodable; a block layout in the
    /// new block size never has a written block past the device end.
    #[test]
    fn draws_both_worlds_valid() {
        let (mut small, mut odd, mut set_init, mut empty, mut n) = (0, 0, 0, 0, 0);
        for i in 0..2000 {
            let s = generate(3, i, FsKind::Bdev);
            if s.world.lbs_bits != 9 {
                continue;
            }
            n += 1;
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            assert!(s.encode().is_ok(), "{i}");
            let bs = 1u64 << s.world.blkbits;
            assert!(
                s.world.blocks.len() as u64 * bs < s.world.i_size + bs,
                "{i}"
            );
            small += (s.world.i_size % PAGE_SIZE == 0 && s.world.blkbits != 12) as u32;
            empty += (s.world.i_size == 0) as u32;
            if s.world.i_size % PAGE_SIZE != 0 {
                odd += 1;
                assert_eq!(s.world.i_size % SECTOR, 0);
                let init = (s.world.i_size & s.world.i_size.wrapping_neg()).min(PAGE_SIZE);
                set_init += (init == bs) as u32;
            }
        }
        let (lo, hi) = (n / 10, n / 5);
        assert!((lo..hi).contains(&small), "{small} of {n}");
        assert!((lo..hi).contains(&odd), "{odd} of {n}");
        assert!(set_init > 0 && set_init < odd, "{set_init} of {odd}");
        assert!(empty > 0 && empty < n / 25, "{empty} of {n}");
    }

    /// The tail worlds: about 12 % of the loop scenarios that were whole pages of 4 KiB blocks,
    /// valid, with nothing cached over the last page, the write at or across it often, buffered
    /// in a fair share (blkdev_buffered_write's -EIO; the base draws are mostly O_DIRECT), and
    /// held pages and races kept where the base generator drew them.
    #[test]
    fn draws_tail_worlds_valid() {
        let (mut tail, mut at, mut n, mut buffered, mut held_or_race) = (0, 0, 0, 0, 0);
        let mut any_atomic = false;
        for i in 0..3000 {
            let s = generate(5, i, FsKind::Bdev);
            n += 1;
            if s.world.lbs_bits == 12 && s.world.i_size % PAGE_SIZE != 0 {
                tail += 1;
                assert!(crate::validity::violations(&s).is_empty(), "{i}");
                assert!(s.encode().is_ok(), "{i}");
                let last = (s.world.i_size / PAGE_SIZE) as usize;
                assert!(s.world.pages.len() <= last, "{i}");
                at += (s.request.pos + s.request.len > last as u64 * PAGE_SIZE) as u32;
                buffered += !s.request.open.direct as u32;
                any_atomic |= s.request.rwf.atomic;
                assert!(s.request.open.direct || !s.request.rwf.nowait, "{i}");
                held_or_race +=
                    (!s.races.is_empty() || s.world.pages.iter().any(|p| p.held())) as u32;
            }
        }
        assert!(tail > n / 100 && tail < n / 5, "{tail} of {n}");
        assert!(at * 2 > tail, "{at} of {tail}");
        assert!(
            buffered * 3 > tail && buffered * 4 < tail * 3,
            "{buffered} of {tail}"
        );
        assert!(held_or_race > 0, "{held_or_race} of {tail}");
        assert!(!any_atomic, "RWF_ATOMIC on a device with no atomic units");
    }

    /// Session 11's worlds: 1 and 2 KiB logical blocks on loop devices whose size is not whole
    /// logical blocks, each valid and encodable (the LBS_SECTION round trip), with both block
    /// sizes' kinds (set_init_blocksize's and another), nothing cached from the page over the
    /// end buffer on, and writes into that page before the end buffer, at it and across its
    /// start, buffered and direct; never on the atomic disk.
    #[test]
    fn draws_small_logical_block_tails() {
        let (mut n, mut one, mut two, mut init, mut other) = (0, 0, 0, 0, 0);
        let (mut before_end, mut at_end, mut across, mut buffered) = (0, 0, 0, 0);
        for i in 0..3000 {
            let s = generate(6, i, FsKind::Bdev);
            if !is_tail_small(&s) {
                continue;
            }
            n += 1;
            let w = &s.world;
            assert!(crate::validity::violations(&s).is_empty(), "{i}");
            let b = s.encode().unwrap();
            assert_eq!(Scenario::decode(&b).unwrap(), s, "{i}");
            assert_eq!(&b[b.len() - 2..], &[LBS_SECTION, w.lbs_bits], "{i}");
            assert!(w.lbs_bits <= w.blkbits && w.i_size % SECTOR == 0, "{i}");
            let (lbs, bs) = (1u64 << w.lbs_bits, 1u64 << w.blkbits);
            one += (lbs == 1024) as u32;
            two += (lbs == 2048) as u32;
            let mut first = lbs;
            while first < PAGE_SIZE && w.i_size & first == 0 {
                first <<= 1;
            }
            if first == bs {
                init += 1;
            } else {
                other += 1;
            }
            let end_buf = w.i_size & !(bs - 1);
            let page = end_buf & !(PAGE_SIZE - 1);
            assert!(w.pages.len() as u64 * PAGE_SIZE <= page, "{i}");
            let q = &s.request;
            assert!(!q.rwf.atomic && (q.open.direct || !q.rwf.nowait), "{i}");
            buffered += !q.open.direct as u32;
            let end = q.pos + q.len;
            before_end += (q.pos >= page && end <= end_buf) as u32;
            at_end += (q.pos >= end_buf) as u32;
            across += (q.pos < page && end > page) as u32;
            assert!(
                generate_on(6, i, FsKind::Bdev, Some(&DISK), 0)
                    .world
                    .lbs_bits
                    == 9
            );
        }
        assert!(n > 3000 / 30 && n < 3000 / 8, "{n}");
        assert!(
            one * 4 > n && two * 4 > n,
            "{one} 1 KiB, {two} 2 KiB of {n}"
        );
        assert!(
            init * 5 > n && other * 5 > n,
            "{init} set_init_blocksize, {other} other"
        );
        assert!(
            before_end * 8 > n,
            "{before_end} before the end buffer of {n}"
        );
        assert!(at_end * 8 > n, "{at_end} at the end buffer of {n}");
        assert!(across * 8 > n, "{across} across the end page of {n}");
        assert!(
            buffered * 3 > n && buffered * 4 < n * 3,
            "{buffered} of {n}"
        );
    }

    const DISK: super::super::random::Disk = super::super::random::Disk {
        awu_min: 4096,
        awu_max: 65536,
        lbs_bits: 9,
        dma_alignment: 511,
    };

    /// The tail-small stream is its own: a scenario it did not change is the one the stages
    /// before it gave, and one it changed differs only in the world and the request's
    /// position, length, O_DIRECT, RWF_ATOMIC and RWF_NOWAIT.
    #[test]
    fn tail_small_touches_only_its_worlds() {
        let mut changed = 0;
        for i in 0..600 {
            for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
                let s =
                    super::super::random::generate_before(Some("tail-small"), 4, i, fs, None, 0);
                let t = super::super::random::generate_before(
                    Some("writeback-unwritten"),
                    4,
                    i,
                    fs,
                    None,
                    0,
                );
                if is_tail_small(&t) {
                    changed += 1;
                    let mut u = s.clone();
                    u.world = t.world.clone();
                    let (a, b) = (&mut u.request, &t.request);
                    a.pos = b.pos;
                    a.len = b.len;
                    a.open.direct = b.open.direct;
                    a.rwf.atomic = b.rwf.atomic;
                    a.rwf.nowait = b.rwf.nowait;
                    assert_eq!(u, t, "{i}");
                } else {
                    assert_eq!(s, t, "{i} {fs:?}");
                }
            }
        }
        assert!(changed > 20, "{changed}");
    }

    /// The stream is the geometry's own: a scenario it did not change is the one the generator
    /// gave before it (every other stream draws what it drew).
    #[test]
    fn other_worlds_are_untouched() {
        let mut changed = 0;
        for i in 0..400 {
            for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
                let s = super::super::random::generate_before(Some("partial"), 9, i, fs, None, 0);
                let t = super::super::random::generate_before(Some("geometry"), 9, i, fs, None, 0);
                if is_geometry(&s) && fs == FsKind::Bdev && !is_geometry(&t) {
                    changed += 1;
                    // Only the world and the position moved (and on a tail device, bdev_tail,
                    // O_DIRECT, RWF_ATOMIC and RWF_NOWAIT).
                    let mut u = s.clone();
                    u.world = t.world.clone();
                    u.request.pos = t.request.pos;
                    if s.world.i_size % (1 << s.world.lbs_bits) != 0 {
                        u.request.open.direct = t.request.open.direct;
                        u.request.rwf.atomic = t.request.rwf.atomic;
                        u.request.rwf.nowait = t.request.rwf.nowait;
                    }
                    assert_eq!(u, t, "{i}");
                } else {
                    assert_eq!(s, t, "{i} {fs:?}");
                }
            }
        }
        assert!(changed > 40, "{changed}");
    }
}
