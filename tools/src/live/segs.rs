// SPDX-License-Identifier: GPL-2.0-only
//! The user buffer of a live call: where each iovec lies in the anonymous mapping, how large the
//! mapping is, and where it turns PROT_NONE (`fault_at`). One place for the executor
//! (super::exec) and the C reproducer (super::repro), so both build the iovec the model reads
//! (diofuzz::kernel::include::linux::fs::IovIter):
//! - contiguous: `nr_segs` segments one after another from `buf_offset`;
//! - scattered (`request.scatter`, docs/model.md "Scattered iovecs"): segment i at
//!   i * stride + offset, each in its own run of pages with a gap page after it, so no two
//!   segments share a page and no bvec continues the previous segment's (the mapping is made
//!   MADV_NOHUGEPAGE so no large folio joins neighbouring pages into one bvec).

use super::plan::Call;
use diofuzz::scenario::{Scenario, PAGE_SIZE};

/// The buffer as the call uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the anonymous mapping (whole pages).
    pub map_len: u64,
    /// (offset in the mapping, length) of each iovec, in data order.
    pub iov: Vec<(u64, u64)>,
    /// The mapping is PROT_NONE from this (page-aligned) offset to its end.
    pub prot_none_from: Option<u64>,
    /// Scattered: the mapping is made MADV_NOHUGEPAGE.
    pub scattered: bool,
}

/// Mapping offsets of the scattered segments (None for a contiguous buffer).
pub fn scatter_at(s: &Scenario) -> Option<Vec<u64>> {
    let sc = s.request.scatter?;
    let stride = sc.stride(s.request.len);
    Some(
        (0..sc.segs.max(1) as u64)
            .map(|i| i * stride + sc.offset as u64)
            .collect(),
    )
}

impl Call {
    /// Where the iovecs lie (see the module doc).
    pub fn layout(&self) -> Layout {
        let mut iov = Vec::with_capacity(self.segs.len());
        if self.seg_at.is_empty() {
            let mut at = self.buf_offset;
            for &l in &self.segs {
                iov.push((at, l));
                at += l;
            }
            let map_len = ((self.buf_offset + self.len).div_ceil(PAGE_SIZE) + 1) * PAGE_SIZE;
            return Layout {
                map_len,
                iov,
                prot_none_from: self
                    .fault_at
                    .map(|fa| self.buf_offset + fa)
                    .filter(|&p| p < map_len),
                scattered: false,
            };
        }
        iov.extend(self.seg_at.iter().copied().zip(self.segs.iter().copied()));
        let end = iov.last().map_or(0, |&(a, l)| a + l);
        let map_len = (end.div_ceil(PAGE_SIZE) + 1) * PAGE_SIZE;
        // The page holding data byte fa (IovIter::faultable in the model).
        let prot_none_from = self.fault_at.and_then(|fa| {
            let mut d = 0;
            iov.iter().find_map(|&(a, l)| {
                let hit = fa < d + l;
                let at = a + fa.saturating_sub(d);
                d += l;
                hit.then_some(at / PAGE_SIZE * PAGE_SIZE)
            })
        });
        Layout {
            map_len,
            iov,
            prot_none_from,
            scattered: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::Scatter;

    #[test]
    fn scattered_segments_have_their_own_pages() {
        let mut s = Scenario::default();
        s.request.len = 8192;
        s.request.scatter = Some(Scatter {
            segs: 1024,
            offset: 8,
        });
        s.request.fault_at = Some(5120);
        let p = super::super::plan::plan(&s).unwrap();
        let l = p.call.layout();
        assert_eq!(l.iov.len(), 1024);
        assert!(l.iov.iter().all(|&(_, n)| n == 8));
        assert_eq!(l.iov[1].0 - l.iov[0].0, 2 * PAGE_SIZE, "a gap page");
        assert_eq!(l.iov[3].0, 3 * 2 * PAGE_SIZE + 8);
        // Data byte 5120 is segment 640's first byte: PROT_NONE from its page.
        assert_eq!(l.prot_none_from, Some(640 * 2 * PAGE_SIZE));
        assert!(l.map_len >= 1024 * 2 * PAGE_SIZE);
    }
}
