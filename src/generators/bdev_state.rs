// SPDX-License-Identifier: GPL-2.0-only
//! Block-device states that live builds on a device of their own (tools/src/live/bdev_state.rs),
//! drawn for loop-device block-device scenarios from a stream of their own (`Rng::stream`), so
//! every other field of a bdev seed is what it was: 6 % a stable-writes device (a zram device,
//! 4 KiB logical blocks, bio-based: `world.device.no_bio_split` since session 10, nothing held), 5 % the mmap writer, 5 % another task holding i_rwsem
//! (three quarters of those with RWF_NOWAIT; since session 9 a fifth of them with aio, a sixth
//! with RLIMIT_FSIZE). Left unchanged when the result would not be a
//! valid world. Swap devices are the lab's (`generate_swap` on a block device, `live --swapon`).

use super::random::Rng;
use crate::scenario::*;

/// Draw the block-device states for `s` (a loop-device block-device scenario).
pub fn bdev_states(r: &mut Rng, s: &mut Scenario) {
    if s.fs != FsKind::Bdev {
        return;
    }
    let before = s.clone();
    let k = r.below(100);
    let nowait = r.pct(75);
    if k < 6 {
        // (zram has no BLK_FEAT_NOWAIT: RWF_NOWAIT is not built there, live's bdev_state.rs)
        if held(s) || s.request.rwf.nowait {
            return;
        }
        s.world.device.stable_writes = true;
        s.world.lbs_bits = 12;
        // zram is bio-based and never splits (zram_submit_bio: no bio_split_to_limits), so
        // the world says so (session 10: kernel::drivers::block::zram; before, the model took
        // it for a blk-mq disk and 6.18's misaligned writes disagreed).
        s.world.device.no_bio_split = true;
    } else if k < 11 {
        if !s.races.contains(&Race::MmapRedirty) {
            s.races.push(Race::MmapRedirty);
        }
    } else if k < 16 {
        // (live calls it positioned, aio and the RLIMIT_FSIZE child too: blkdev_llseek waits
        // for the holder.)
        s.races.push(Race::LockContended);
        s.request.rwf.nowait |= nowait;
        // The main generator draws neither aio nor RLIMIT_FSIZE for a block device: here a fifth
        // of the holders get aio, a sixth a limit (no effect: blkdev_write_iter makes no
        // generic_write_checks, block/fops.c 6.12.117 - 7.3.4). Drawn after the stream's other
        // draws, so those stay what they were.
        let (extra, limit) = (r.below(100), r.below(65) * SECTOR);
        if extra < 20 && !s.request.rwf.hipri {
            s.request.aio = true;
        } else if (20..37).contains(&extra) && !held(s) {
            // (live runs an RLIMIT_FSIZE call in a child, which its hold watchdog does not watch)
            s.world.rlimit_fsize = Some(limit);
        }
    }
    if s.races.len() > MAX_RACES
        || !crate::validity::violations(s).is_empty()
        || s.encode().is_err()
    {
        *s = before;
    }
}

/// A page held under writeback or mapped dirty during the call (live's super::pages).
fn held(s: &Scenario) -> bool {
    s.world.pages.iter().any(|p| p.held())
}

/// A swap device with `swapoff` after the call's open keeps the header page swapon read into
/// its page cache (mm/swapfile.c `read_mapping_folio`): page 0 is a clean cached page.
pub fn swapoff_keeps_header_page(s: &mut Scenario) {
    if s.fs != FsKind::Bdev || s.world.inode.swapfile || !s.inode_at_open().swapfile {
        return;
    }
    let w = &mut s.world;
    if w.pages.is_empty() {
        w.pages.push(PageState::Clean);
    } else {
        w.pages[0] = PageState::Clean;
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::{generate, generate_before};
    use crate::scenario::*;

    /// The stream changes only its own fields: every other field of every seed is what it was,
    /// and files are untouched.
    #[test]
    fn changes_only_its_fields() {
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..1500 {
                // (Before the session-8 geometry stream, bdev_geometry.rs.)
                let s = generate_before(Some("geometry"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("bdev-state"), 7, i, fs, None, 0);
                changed += (s != b) as u32;
                if fs == FsKind::Bdev {
                    b.world.device.stable_writes = s.world.device.stable_writes;
                    b.world.device.no_bio_split = s.world.device.no_bio_split;
                    b.world.lbs_bits = s.world.lbs_bits;
                    b.races = s.races.clone();
                    b.request.rwf.nowait = s.request.rwf.nowait;
                    b.request.aio = s.request.aio;
                    b.world.rlimit_fsize = s.world.rlimit_fsize;
                }
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
        assert!(changed > 100, "{changed}");
    }

    #[test]
    fn drawn_on_a_stream_of_their_own_and_valid() {
        let (mut stable, mut writer, mut holder, mut holder_aio_rl) = (0, 0, 0, 0);
        for i in 0..2000 {
            let s = generate(21, i, FsKind::Bdev);
            assert!(crate::validity::is_valid(&s), "{i}");
            stable += s.world.device.stable_writes as u32;
            writer += s.has_race(Race::MmapRedirty) as u32;
            holder += s.has_race(Race::LockContended) as u32;
            holder_aio_rl += (s.has_race(Race::LockContended)
                && (s.request.aio || s.world.rlimit_fsize.is_some()))
                as u32;
            if s.world.device.stable_writes && !s.request.rwf.nowait {
                // A zram device: 4 KiB logical blocks, bio-based.
                assert_eq!(s.world.lbs_bits, 12);
                assert!(s.world.device.no_bio_split, "{i}");
                assert!(crate::kernel::drivers::is_zram(&s.world), "{i}");
            }
            // Files never get them from this stream.
            let f = generate(21, i, FsKind::Ext4);
            assert!(!f.has_race(Race::LockContended) || f.fs == FsKind::Ext4);
        }
        assert!(
            stable > 60 && writer > 50 && holder > 60 && holder_aio_rl > 5,
            "{stable} {writer} {holder} {holder_aio_rl}"
        );
    }
}
