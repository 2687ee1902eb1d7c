// SPDX-License-Identifier: GPL-2.0-only
//! RWF_NOWAIT on a stable-writes block device (session 9; tools/src/live/nvme_stable.rs):
//! live builds it on an nvme-tcp namespace with the data digest (blk-mq: `BLK_FEAT_NOWAIT`;
//! `nvme_alloc_ns`: `BLK_FEAT_STABLE_WRITES`), whose logical block is 4 KiB (an nvmet file
//! namespace on tmpfs), whose DMA alignment is 3 (`nvme_set_ctrl_limits`) and whose atomic
//! write unit is 4096 (`nvme_configure_atomic_write`). Drawn for 6 % of
//! the loop-device block-device scenarios from a stream of its own (`Rng::stream`), so every
//! other field of a seed is what it was: RWF_NOWAIT, stable writes, 4 KiB logical blocks,
//! DMA alignment 3 and atomic units 4096 on a scenario with one iovec and nothing held. Left unchanged when the result
//! would not be a valid world.

use super::random::Rng;
use crate::scenario::*;

/// The DMA alignment of the nvme-tcp namespace (drivers/nvme/host/core.c
/// `nvme_set_ctrl_limits`, 6.12 and 7.3.4).
pub const NVME_DMA_ALIGNMENT: u32 = 3;

/// Its atomic write unit, min and max (`nvme_configure_atomic_write`: the logical block, as
/// nvmet reports AWUPF 0; 6.12 and 7.3.4).
pub const NVME_ATOMIC_UNIT: u32 = 4096;

/// Draw the world for `s` (a loop-device block-device scenario).
pub fn stable_nowait(r: &mut Rng, s: &mut Scenario) {
    if s.fs != FsKind::Bdev || s.world.device.stable_writes || !r.pct(6) {
        return;
    }
    let held = s.world.pages.iter().any(|p| p.held());
    if held || s.request.scatter.is_some() || s.request.nr_segs > 1 {
        return;
    }
    to_namespace(s);
}

/// Session 10 (tools/src/live/nvme_stable.rs): the same world for 30 % of the loop-device
/// block-device scenarios the first stream left alone because a page is held (under writeback
/// or mmapped dirty at the call: the namespace's target then exports a loop device on a lower
/// filesystem the hold freezes) or because the iovec has more than one segment (contiguous
/// ones never gap at the nvme virt boundary of 6.12 - 6.18; scattered ones starting inside a
/// page do: the model reads the boundary, `ModelOpts::virt_boundary_mask`). From a stream of
/// its own.
pub fn nvme_held(r: &mut Rng, s: &mut Scenario) {
    if s.fs != FsKind::Bdev || s.world.device.stable_writes {
        return;
    }
    let held = s.world.pages.iter().any(|p| p.held());
    if !(held || s.request.nr_segs > 1 || s.request.scatter.is_some()) || !r.pct(30) {
        return;
    }
    to_namespace(s);
}

/// RWF_NOWAIT, stable writes and the namespace's geometry, unless the result is not a valid
/// world (then `s` is left as it was).
fn to_namespace(s: &mut Scenario) {
    // (A block size below 4 KiB, the geometry stream's, cannot be on 4 KiB logical blocks.)
    if s.world.i_size == 0 || s.world.blkbits < 12 {
        return;
    }
    let before = s.clone();
    s.request.rwf.nowait = true;
    s.world.device.stable_writes = true;
    s.world.device.dma_alignment = NVME_DMA_ALIGNMENT;
    s.world.device.awu_min = NVME_ATOMIC_UNIT;
    s.world.device.awu_max = NVME_ATOMIC_UNIT;
    s.world.lbs_bits = 12;
    if s.world.i_size % 4096 != 0
        || !crate::validity::violations(s).is_empty()
        || s.encode().is_err()
    {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::generate_before;
    use crate::scenario::*;

    /// The stream changes only its own fields, only on block devices.
    #[test]
    fn changes_only_its_fields() {
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..1500 {
                let s = generate_before(Some("stable-nowait"), 7, i, fs, None, 0);
                // (Before the session-9 inline-conversion stream, inline_delalloc.rs.)
                let mut b = generate_before(Some("inline-delalloc"), 7, i, fs, None, 0);
                if s != b {
                    changed += 1;
                    assert_eq!(fs, FsKind::Bdev);
                    assert!(b.request.rwf.nowait && b.world.device.stable_writes);
                    b.request.rwf.nowait = s.request.rwf.nowait;
                    b.world.device = s.world.device;
                    b.world.lbs_bits = s.world.lbs_bits;
                }
                assert_eq!(s, b, "{fs:?} {i}");
            }
        }
        assert!(changed > 30, "{changed}");
    }

    /// The session-10 stream changes only its own fields, only on block devices, and only
    /// where a page is held or the iovec has more than one segment; what it draws is valid.
    #[test]
    fn nvme_held_changes_only_its_fields() {
        let (mut held, mut segs, mut scattered) = (0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..3000 {
                // (Up to the next stage, session 11's writeback-unwritten.)
                let s = generate_before(Some("writeback-unwritten"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("nvme-held"), 7, i, fs, None, 0);
                if s == b {
                    continue;
                }
                assert_eq!(fs, FsKind::Bdev);
                assert!(!b.world.device.stable_writes && s.world.device.stable_writes);
                assert!(s.request.rwf.nowait);
                assert!(crate::validity::is_valid(&s), "{i}");
                assert_eq!(s.world.device.dma_alignment, super::NVME_DMA_ALIGNMENT);
                assert_eq!(s.world.lbs_bits, 12);
                if s.world.pages.iter().any(|p| p.held()) {
                    held += 1;
                } else if s.request.scatter.is_some() {
                    scattered += 1;
                } else {
                    assert!(s.request.nr_segs > 1, "{i}");
                    segs += 1;
                }
                b.request.rwf.nowait = true;
                b.world.device = s.world.device;
                b.world.lbs_bits = s.world.lbs_bits;
                assert_eq!(s, b, "{i}");
            }
        }
        assert!(
            held > 10 && segs > 10 && scattered > 5,
            "{held} held, {segs} with segments, {scattered} scattered"
        );
    }

    /// Valid worlds with what the namespace has: 4 KiB logical blocks, DMA alignment 3, one
    /// iovec, nothing held.
    #[test]
    fn drawn_valid_with_the_namespace_geometry() {
        let mut n = 0;
        for i in 0..2000 {
            // (The first stream's: before the session-10 one.)
            let s = generate_before(Some("nvme-held"), 23, i, FsKind::Bdev, None, 0);
            if !(s.world.device.stable_writes && s.request.rwf.nowait) {
                continue;
            }
            n += 1;
            assert!(crate::validity::is_valid(&s), "{i}");
            assert_eq!(s.world.lbs_bits, 12);
            assert_eq!(s.world.device.dma_alignment, super::NVME_DMA_ALIGNMENT);
            assert_eq!(s.world.device.awu_min, super::NVME_ATOMIC_UNIT);
            assert_eq!(s.world.device.awu_max, super::NVME_ATOMIC_UNIT);
            assert!(s.request.scatter.is_none() && s.request.nr_segs <= 1);
            assert!(s.world.i_size > 0 && s.world.i_size % 4096 == 0);
            assert_eq!(s.world.blkbits, 12);
            assert!(!s.world.pages.iter().any(|p| p.held()));
        }
        assert!(n > 30, "{n}");
    }
}
