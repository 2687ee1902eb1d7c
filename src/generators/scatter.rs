// SPDX-License-Identifier: GPL-2.0-only
//! Scattered iovecs for the random generator (`request.scatter`, docs/model.md §4.6), drawn from
//! a stream of their own so every other field of a seed's scenario stays as it was.

use super::random::Rng;
use crate::scenario::{Scatter, Scenario, IOV_MAX, PAGE_SIZE, SECTOR};

/// Make 6 % of the non-atomic O_DIRECT writes of at least two sectors a scattered iovec: segments
/// of a length the device's DMA alignment lets through on 6.18+ (sector-sized on a loop device's
/// 511, also 4 / 8 / 64 bytes on a smaller alignment), at an offset on that alignment, at most
/// IOV_MAX of them, splitting the length exactly. Left unchanged when the result would not be a
/// valid world.
pub(crate) fn scatter(g: &mut Rng, s: &mut Scenario) {
    let q = &s.request;
    if !g.pct(6) || !q.open.direct || q.read || q.rwf.atomic || q.len < 2 * SECTOR {
        return;
    }
    let dma = s.world.device.dma_alignment as u64;
    let seg = g.pick(&[SECTOR, SECTOR, 64, 8, 4]).max(dma + 1);
    let segs = q.len / seg;
    if q.len % seg != 0 || !(2..=IOV_MAX as u64).contains(&segs) {
        return;
    }
    let offset = g.pick(&[0, 1, 2, PAGE_SIZE / seg - 1]) * seg;
    let before = s.clone();
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
