// SPDX-License-Identifier: GPL-2.0-only
//! Files opened without O_LARGEFILE where the limit matters (issue 13, session 7): a file next to a
//! scaled s_maxbytes or s_bitmap_maxbytes, which stands for a file near the real limit, far past
//! MAX_NON_LFS, so it grew past it after the 32-bit process's open (generic_file_open refuses a
//! larger file: -EOVERFLOW; live opens the call's file before the set-up's truncate,
//! tools/src/live/limits.rs `open_before_growth`), block devices written past their end, faults
//! inside a page, more iovecs than bytes and 2 KiB blocks. (A
//! block device always has O_LARGEFILE: bdev_open sets it, rule W33.) Drawn from a stream of its
//! own by [`super::random::generate_on`].

use super::random::Rng;
use crate::scenario::*;

/// Give 40 % of the scenarios with a scaled limit a file opened without O_LARGEFILE, and 4 % of
/// the block-device ones a position past the device's end
/// (a positioned pwritev2: blkdev_llseek refuses it, the call does not; live makes such a call at
/// its position, tools/src/live/limits.rs `positioned`). Left unchanged when the result would not
/// be a valid world.
pub fn lfs_worlds(r: &mut Rng, s: &mut Scenario) {
    let k = r.below(100);
    let past = r.below(4) + 1;
    user_buffer(r, s);
    two_kib_blocks(r, s);
    if s.fs == FsKind::Bdev && (50..54).contains(&k) {
        let before = s.clone();
        s.request.pos = s.world.i_size + past * SECTOR;
        if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
            *s = before;
        }
        return;
    }
    if s.request.open.no_largefile {
        return;
    }
    let scaled = s.world.s_maxbytes != HUGE_MAXBYTES || s.world.s_bitmap_maxbytes != HUGE_MAXBYTES;
    if s.fs == FsKind::Bdev || !scaled || k >= 40 {
        return;
    }
    let before = s.clone();
    s.request.open.no_largefile = true;
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

/// Give 10 % of the scenarios whose buffer faults a fault point inside a page (one sector on: the
/// buffer is unmapped from that page's start, as in the model, tools/src/live/limits.rs
/// `fault_page`) and 2 % a one-byte request split over 2 to 15 iovecs (the model's even split:
/// n - 1 empty ones). Left unchanged when the result would not be a valid world.
fn user_buffer(r: &mut Rng, s: &mut Scenario) {
    let j = r.below(100);
    let n = 2 + r.below(14) as u8;
    let before = s.clone();
    match (j, s.request.fault_at) {
        (0..=9, Some(f)) if (f + SECTOR) % PAGE_SIZE != 0 => s.request.fault_at = Some(f + SECTOR),
        (10..=11, _) => {
            s.request.len = 1;
            s.request.nr_segs = n;
            s.request.fault_at = None;
        }
        _ => return,
    }
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

/// Give 15 % of the 1 KiB-block file scenarios without shared blocks, a CoW fork, races after
/// open (but the fcntl toggle) or held pages 2 KiB blocks
/// (mkfs -b 2048: the format's block size 11, which live builds since session 7). Block k of the
/// new layout is block 2k of the old one: it starts at the same byte, lies under the same page
/// and on the same side of EOF, so a layout the old blocks could build stays buildable. Left
/// unchanged when the result would not be a valid world.
fn two_kib_blocks(r: &mut Rng, s: &mut Scenario) {
    let k = r.below(100);
    let w = &s.world;
    if k >= 15
        || s.fs == FsKind::Bdev
        || w.blkbits != 10
        || w.inode.reflink
        || !w.cow.is_empty()
        || w.cowextsize != 0
        || w.blocks.iter().any(|b| b.shared)
        // (races and held pages were drawn for the old layout: a written block under a cached
        // page to unshare, a page to hold under writeback)
        || s.races.iter().any(|r| *r != Race::FcntlToggleDirect)
        || w.pages.iter().any(|p| {
            matches!(
                p,
                PageState::Writeback | PageState::MappedDirty | PageState::Busy
            )
        })
    {
        return;
    }
    let before = s.clone();
    s.world.blkbits = 11;
    s.world.blocks = s.world.blocks.iter().step_by(2).copied().collect();
    if !crate::validity::violations(s).is_empty() || s.encode().is_err() {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use crate::generators::random::{generate, generate_before};
    use crate::scenario::*;

    /// The stream changes only its own fields: every other field of every seed is what it was.
    #[test]
    fn changes_only_its_fields() {
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..2000 {
                let s = generate_before(Some("bdev-state"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("lfs"), 7, i, fs, None, 0);
                changed += (s != b) as u32;
                b.request.open.no_largefile = s.request.open.no_largefile;
                b.request.fault_at = s.request.fault_at;
                b.request.len = s.request.len;
                b.request.nr_segs = s.request.nr_segs;
                b.request.pos = s.request.pos;
                if s.world.blkbits != b.world.blkbits {
                    b.world.blkbits = s.world.blkbits;
                    b.world.blocks = s.world.blocks.clone();
                }
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
        assert!(changed > 100, "{changed}");
    }

    /// The stream draws both worlds, always valid, and never a block device without O_LARGEFILE.
    #[test]
    fn draws_no_largefile_next_to_scaled_limits_and_devices_written_past_the_end() {
        let (mut scaled, mut bdev) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Bdev] {
            for i in 0..3000 {
                let s = generate(7, i, fs);
                if !s.request.open.no_largefile {
                    continue;
                }
                let lim = s.world.s_maxbytes != HUGE_MAXBYTES
                    || s.world.s_bitmap_maxbytes != HUGE_MAXBYTES;
                scaled += lim as u32;
                bdev += (fs == FsKind::Bdev) as u32;
                assert!(crate::validity::violations(&s).is_empty(), "{i}");
            }
        }
        assert!(scaled > 10, "{scaled}");
        assert_eq!(bdev, 0);
        let past = (0..3000)
            .map(|i| generate(7, i, FsKind::Bdev))
            .filter(|s| s.request.pos > s.world.i_size)
            .count();
        assert!(past > 40, "{past}");
        // Faults inside a page and more segments than bytes, on files and devices.
        let (mut mid, mut segs) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..3000 {
                let s = generate(7, i, fs);
                let r = &s.request;
                let off = if r.buf_align >= 4096 {
                    0
                } else {
                    r.buf_align as u64
                };
                mid += r.fault_at.is_some_and(|f| (off + f) % PAGE_SIZE != 0) as u32;
                segs += (r.len == 1 && r.nr_segs > 1) as u32;
            }
        }
        assert!(mid > 10 && segs > 60, "{mid} {segs}");
        // 2 KiB blocks on both filesystems.
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let n = (0..3000)
                .filter(|&i| generate(7, i, fs).world.blkbits == 11)
                .count();
            assert!(n > 30, "{fs:?} {n}");
        }
    }
}
