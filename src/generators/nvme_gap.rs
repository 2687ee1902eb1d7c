// SPDX-License-Identifier: GPL-2.0-only
//! RWF_NOWAIT writes whose iovecs gap at the nvme virt boundary (session 11; the generator
//! stage "nvme-gap", tools/src/live/nvme_stable.rs).
//!
//! The nvme-tcp namespace of the `stable-nowait` worlds (src/generators/stable_nowait.rs) has a
//! queue `virt_boundary_mask` of `NVME_CTRL_PAGE_SIZE - 1` up to 6.18 (`nvme_set_ctrl_limits`,
//! drivers/nvme/host/core.c 6.12) and 0 from 7.2 (`nvmf_get_virt_boundary`,
//! drivers/nvme/host/fabrics.h 7.3.4); the multipath head stacks the path's. A bio whose bvecs
//! gap at it (`bvec_gap_to_prev`, block/blk.h: a bvec starting off the boundary, or the previous
//! one ending off it) needs a split, and `bio_split_rw_at` (block/blk-merge.c 6.12) /
//! `bio_split_io_at` (7.3.4) returns -EAGAIN for a REQ_NOWAIT bio that needs one. Contiguous
//! iovecs never gap (their bvecs merge inside a page and meet at page boundaries:
//! `IovIter::virt_boundary_gap`); scattered ones (`request.scatter`, each segment in pages of its
//! own) gap when their offset in the first page, or the segment length, is not whole 4 KiB.
//!
//! The stage (from a stream of its own, `Rng::stream`) gives 70 % of the namespace worlds with
//! one iovec and a direct non-atomic write a scattered iovec over whole 4 KiB blocks inside the
//! device (what reaches the block layer; a write elsewhere is moved and cut to 2 - 8 such
//! blocks for 60 % of them, else left alone): segments of whole 4 KiB blocks at an offset
//! inside the page (past 6.12's `bdev_iter_is_aligned`, which wants whole logical blocks per
//! segment: the mask decides there too), sub-block segments (6.12 refuses them with -EINVAL
//! first; 6.16 - 6.18 gap), and a few whole-page controls that never gap. Every offset and
//! length is a multiple of 4 (the namespace's DMA alignment 3: 7.2+'s `iov_iter_extract_bvecs`
//! and 6.18+'s `bio_split_io_at` check it before the gap). Left unchanged when the result would
//! not be a valid world. 85 % of them also drop the clean or dirty pages cached in the written
//! range (a cached page ends a NOWAIT direct write with -EAGAIN before any bio,
//! `kiocb_invalidate_pages`); held pages stay.

use super::random::Rng;
use crate::scenario::{PageState, Scatter, Scenario, IOV_MAX, PAGE_SIZE, SECTOR};

/// The namespace's virt boundary up to 6.18 (`NVME_CTRL_PAGE_SIZE - 1`).
pub const NVME_VIRT_BOUNDARY: u64 = 4095;

/// Does the user buffer of `s` gap at the virt boundary `mask` (a bvec after the first starting
/// off it or following one that ends off it, `bvec_gap_to_prev`), anywhere in the request? Only
/// a scattered iovec can: its segments lie in pages of their own, so a segment's first bvec
/// starts at `offset` and the previous segment's last bvec ends at `offset + length` modulo the
/// page.
pub fn gaps(s: &Scenario, mask: u64) -> bool {
    let Some(sc) = s.request.scatter else {
        return false;
    };
    if mask == 0 || sc.segs < 2 {
        return false;
    }
    let len = s.request.len;
    let off = sc.offset as u64;
    (0..sc.segs as u64 - 1).any(|i| off & mask != 0 || (off + sc.seg_len(len, i)) & mask != 0)
}

/// Draw the gapping iovec for `s` (a loop-device block-device scenario after every older stage).
pub fn nvme_gap(r: &mut Rng, s: &mut Scenario) {
    let q = &s.request;
    let namespace = s.fs == crate::scenario::FsKind::Bdev
        && s.world.device.stable_writes
        && q.rwf.nowait
        && s.world.lbs_bits == 12;
    if !namespace || q.scatter.is_some() || q.nr_segs > 1 || !r.pct(70) {
        return;
    }
    let k = r.below(100);
    let blocks_off = r.pick(&[4, 8, 512, 2048, 4092]);
    let sub = r.pick(&[SECTOR, 1024, 2048]);
    let sub_off = r.pick(&[0, 0, 512]);
    let uncached = r.pct(85);
    let fit = r.pct(60);
    if !q.open.direct || q.read || q.rwf.atomic {
        return;
    }
    // A write the block layer sees: whole logical blocks inside the device (others end
    // earlier: blkdev_dio_invalid's -EINVAL, the device end); 60 % of the others are moved and
    // cut to such a range.
    let size = s.world.i_size;
    let inside = q.pos % PAGE_SIZE == 0
        && q.len >= PAGE_SIZE
        && q.len % PAGE_SIZE == 0
        && q.pos + q.len <= size;
    let (pos, len) = match inside {
        true => (q.pos, q.len),
        false if fit && size >= 2 * PAGE_SIZE => {
            let len = (q.len / PAGE_SIZE).clamp(2, 8).min(size / PAGE_SIZE) * PAGE_SIZE;
            ((q.pos / PAGE_SIZE * PAGE_SIZE).min(size - len), len)
        }
        false => return,
    };
    // (segment length, offset): whole blocks at an offset (55 %), sub-block segments (35 %),
    // whole pages from the page start (10 %, no gap).
    let (seg, offset) = if k < 55 && len >= 2 * PAGE_SIZE && len % PAGE_SIZE == 0 {
        (PAGE_SIZE, blocks_off)
    } else if k < 90 {
        let seg = [sub, SECTOR]
            .into_iter()
            .find(|&g| len % g == 0 && len / g >= 2)
            .unwrap_or(0);
        (seg, sub_off)
    } else if len >= 2 * PAGE_SIZE && len % PAGE_SIZE == 0 {
        (PAGE_SIZE, 0)
    } else {
        (0, 0)
    };
    if seg == 0 || len / seg > IOV_MAX as u64 {
        return;
    }
    let before = s.clone();
    s.request.pos = pos;
    s.request.len = len;
    s.request.scatter = Some(Scatter {
        segs: (len / seg) as u16,
        offset: offset as u16,
    });
    s.request.nr_segs = 1;
    s.request.buf_align = PAGE_SIZE as u32;
    s.request.fault_at = None;
    if uncached {
        // A cached page in the range ends a NOWAIT direct write before any bio
        // (kiocb_invalidate_pages: -EAGAIN): most of these reach the block layer.
        let (a, b) = (pos / PAGE_SIZE, (pos + len).div_ceil(PAGE_SIZE));
        let pages = &mut s.world.pages;
        for p in a.min(pages.len() as u64)..b.min(pages.len() as u64) {
            if matches!(pages[p as usize], PageState::Clean | PageState::Dirty) {
                pages[p as usize] = PageState::None;
            }
        }
        while pages.last() == Some(&PageState::None) {
            pages.pop();
        }
    }
    if !crate::validity::is_valid(s) || s.encode().is_err() {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::generate_before;
    use super::*;
    use crate::model::{run_opts, ModelOpts};
    use crate::scenario::FsKind;

    fn namespace(s: &Scenario) -> bool {
        s.fs == FsKind::Bdev && s.world.device.stable_writes && s.request.rwf.nowait
    }

    /// The stage changes only the user buffer (scatter, nr_segs, buf_align, fault_at) of
    /// namespace worlds with one iovec; what it draws is valid, encodes, and gaps often.
    #[test]
    fn changes_only_the_buffer_of_namespace_worlds_and_gaps() {
        let (mut ns, mut changed, mut gapping) = (0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..4000 {
                let s = generate_before(Some("tail-small"), 7, i, fs, None, 0);
                let mut b = generate_before(Some("nvme-gap"), 7, i, fs, None, 0);
                ns += namespace(&s) as u32;
                if s == b {
                    continue;
                }
                changed += 1;
                assert!(namespace(&s), "{fs:?} {i}");
                assert!(b.request.scatter.is_none() && b.request.nr_segs <= 1, "{i}");
                assert!(crate::validity::is_valid(&s), "{i}");
                assert_eq!(Scenario::decode(&s.encode().unwrap()).unwrap(), s, "{i}");
                let sc = s.request.scatter.unwrap();
                assert!(sc.segs >= 2 && sc.offset % 4 == 0, "{i}: {sc:?}");
                assert_eq!(s.request.len % sc.segs as u64, 0, "{i}");
                gapping += gaps(&s, NVME_VIRT_BOUNDARY) as u32;
                b.request.scatter = s.request.scatter;
                b.request.nr_segs = s.request.nr_segs;
                b.request.buf_align = s.request.buf_align;
                b.request.fault_at = s.request.fault_at;
                b.request.pos = s.request.pos;
                b.request.len = s.request.len;
                assert!(
                    s.request.pos % 4096 == 0 && s.request.len % 4096 == 0,
                    "{i}"
                );
                assert!(s.request.pos + s.request.len <= s.world.i_size, "{i}");
                // Clean or dirty pages in the written range may be dropped; held ones stay.
                for (p, st) in b.world.pages.iter_mut().enumerate() {
                    if s.world.pages.get(p).copied().unwrap_or(PageState::None) == PageState::None
                        && matches!(st, PageState::Clean | PageState::Dirty)
                    {
                        let o = p as u64 * PAGE_SIZE;
                        assert!(
                            o < s.request.pos + s.request.len && o + PAGE_SIZE > s.request.pos,
                            "{i}"
                        );
                        *st = PageState::None;
                    }
                }
                while b.world.pages.last() == Some(&PageState::None) {
                    b.world.pages.pop();
                }
                assert_eq!(s, b, "{i}");
            }
        }
        assert!(changed > 30, "{changed} changed of {ns} namespace worlds");
        assert!(
            gapping * 10 >= changed * 7,
            "{gapping} gapping of {changed}"
        );
    }

    /// The stage's gapping writes against the model with both masks, per variant: 4095 (the
    /// namespace up to 6.18) gives -EAGAIN wherever the gap check is reached and 0 (7.2+) never
    /// does; 6.12 refuses sub-block segments with -EINVAL before (`blkdev_dio_invalid`), and a
    /// whole-page layout never gaps.
    #[test]
    fn both_masks_per_variant() {
        let opts = |m| ModelOpts {
            virt_boundary_mask: m,
            ..Default::default()
        };
        let mut differs = std::collections::BTreeMap::<&str, u32>::new();
        let (mut drawn, mut sub_612) = (0, 0);
        for i in 0..6000 {
            let s = generate_before(Some("tail-small"), 11, i, FsKind::Bdev, None, 0);
            let b = generate_before(Some("nvme-gap"), 11, i, FsKind::Bdev, None, 0);
            if s == b {
                continue;
            }
            drawn += 1;
            let gap = gaps(&s, NVME_VIRT_BOUNDARY);
            let sc = s.request.scatter.unwrap();
            let whole_blocks = s.request.len / sc.segs as u64 % 4096 == 0;
            for v in crate::variant::VARIANTS.iter() {
                let a = run_opts(&s, v, opts(NVME_VIRT_BOUNDARY));
                let z = run_opts(&s, v, opts(0));
                // Without a boundary nothing gaps: the mask only ever adds -EAGAIN.
                assert!(z.ret != -11 || a.ret == -11, "{i} {}", v.name);
                if a.ret != z.ret {
                    assert!(gap, "{i} {}: differs without a gap", v.name);
                    assert_eq!(a.ret, -11, "{i} {}", v.name);
                    *differs.entry(v.name).or_default() += 1;
                }
                if !gap {
                    assert_eq!(a.ret, z.ret, "{i} {}", v.name);
                }
                // 6.12 (bdev_iter_is_aligned): sub-block segments are refused (-EINVAL, or an
                // earlier error: a cached page's -EAGAIN, the device end) whatever the mask.
                if v.name == "v6.12" && !whole_blocks {
                    assert!(a.ret == z.ret && a.ret < 0, "{i}: {}", a.ret);
                    sub_612 += (a.ret == -22) as u32;
                }
            }
        }
        assert!(drawn > 20, "{drawn}");
        assert!(sub_612 > 3, "{sub_612}");
        for v in ["v6.12", "v6.16", "v6.18", "v7.2", "v7.3"] {
            assert!(
                differs.get(v).copied().unwrap_or(0) >= 3,
                "{v}: {differs:?} of {drawn}"
            );
        }
    }

    #[test]
    fn gaps_reads_the_layout() {
        let mut s = Scenario::default();
        s.request.len = 8192;
        assert!(!gaps(&s, 4095));
        s.request.scatter = Some(Scatter { segs: 2, offset: 8 });
        assert!(gaps(&s, 4095));
        assert!(!gaps(&s, 0));
        s.request.scatter = Some(Scatter { segs: 2, offset: 0 });
        assert!(!gaps(&s, 4095));
        s.request.scatter = Some(Scatter { segs: 4, offset: 0 });
        assert!(gaps(&s, 4095));
        s.request.scatter = Some(Scatter { segs: 1, offset: 8 });
        assert!(!gaps(&s, 4095));
    }
}
