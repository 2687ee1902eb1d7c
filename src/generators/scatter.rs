// SPDX-License-Identifier: GPL-2.0-only
//! Scattered iovecs for the random generator (`request.scatter`, docs/model.md §4.6), drawn from
//! a stream of their own so every other field of a seed's scenario stays as it was.

use super::random::Rng;
use crate::scenario::{Scatter, Scenario, IOV_MAX, PAGE_SIZE, SECTOR};

/// Make 6 % of the non-atomic O_DIRECT writes of at least two sectors a scattered iovec: segments
/// of a length the device's DMA alignment lets through on 6.18+ (sector-sized on a loop device's
/// 511, also 4 / 8 / 64 bytes on a smaller alignment), at an offset on that alignment, at most
/// IOV_MAX of them, splitting the length exactly; half of those with 4 KiB blocks get a length of
/// 160, 192 or 252 KiB (several bios). Left unchanged when the result would not be a valid world.
pub(crate) fn scatter(g: &mut Rng, s: &mut Scenario) {
    let q = &s.request;
    if !g.pct(6) || !q.open.direct || q.read || q.rwf.atomic || q.len < 2 * SECTOR {
        return;
    }
    let dma = s.world.device.dma_alignment as u64;
    let seg = g.pick(&[SECTOR, SECTOR, 64, 8, 4]).max(dma + 1);
    // Half of them long enough for several bios of 256 bvecs (sector segments: 128 KiB each),
    // where the length can say it (4 KiB blocks: up to 63 blocks).
    let long = g.pick(&[160 * 1024, 192 * 1024, 252 * 1024]);
    let len = if g.pct(50) && s.world.blkbits == 12 {
        long
    } else {
        q.len
    };
    let segs = len / seg;
    if len % seg != 0 || !(2..=IOV_MAX as u64).contains(&segs) {
        return;
    }
    let offset = g.pick(&[0, 1, 2, PAGE_SIZE / seg - 1]) * seg;
    let before = s.clone();
    s.request.len = len;
    s.request.scatter = Some(Scatter {
        segs: segs as u16,
        offset: offset as u16,
    });
    s.request.nr_segs = 1;
    s.request.buf_align = PAGE_SIZE as u32;
    if !crate::validity::is_valid(s) {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::FsKind;

    /// The stream draws valid scattered writes, some of them several bios long on 6.18.
    #[test]
    fn draws_valid_scattered_writes_some_over_several_bios() {
        let v = crate::variant::by_name("v6.18").unwrap();
        let (mut n, mut multi) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..1500 {
                let s = super::super::random::generate(7, i, fs);
                let Some(sc) = s.request.scatter else {
                    continue;
                };
                n += 1;
                assert!(crate::validity::is_valid(&s), "{fs:?} {i}");
                assert!(s.encode().is_ok(), "{fs:?} {i}");
                assert!((2..=1024).contains(&sc.segs));
                let x = crate::model::run(&s, v);
                multi += (x.bios.iter().filter(|b| !b.zero).count() > 1) as u32;
            }
        }
        assert!(n > 40, "{n}");
        assert!(multi > 5, "{multi}");
    }
}
