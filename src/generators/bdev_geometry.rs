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
    let nblk = (w.i_size.div_ceil(bs) as usize).min(MAX_BLOCKS);
    let mut blocks: Vec<BlockState> = (0..nblk)
        .map(|j| {
            let start = j as u64 * bs;
            let old = w
                .blocks
                .get((start / old_bs) as usize)
                .is_some_and(|b| b.kind == Extent::Written);
            let written = old != (flips >> (j % 64) & 1 == 1 && j % 5 == (flips % 5) as usize);
            BlockState {
                kind: if written {
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
    // No atomic write: the device has no atomic units (awu_max 0), so RWF_ATOMIC is
    // -EOPNOTSUPP before the size is read (kiocb_set_rw_flags: no FMODE_CAN_ATOMIC_WRITE); 15
    // of 58 tail worlds of seeds 1 and 2 ended there.
    q.rwf.atomic = false;
    if buffered {
        q.open.direct = false;
    }
    if !q.open.direct {
        // Nor RWF_NOWAIT: blkdev_write_iter refuses it without O_DIRECT (-EOPNOTSUPP, block/fops.c
        // 6.12.117 and 7.3.4) before the size is read; 5 of 30 buffered tail worlds did.
        q.rwf.nowait = false;
    }
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

/// Is `s` one of these worlds: a block device whose block size or size is not a page?
pub fn is_geometry(s: &Scenario) -> bool {
    s.fs == FsKind::Bdev
        && (s.world.blkbits != 12 || s.world.i_size % PAGE_SIZE != 0 || s.world.i_size == 0)
}

#[cfg(test)]
mod tests {
    use super::super::random::generate;
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
