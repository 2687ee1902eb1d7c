// SPDX-License-Identifier: GPL-2.0-only
//! mm/truncate.c: invalidate_inode_pages2_range() and invalidate_mapping_pages().
//! Identical in every version read, 6.12.y to 7.1.5, and in 7.2.12 and 7.3.4 (docs/model.md
//! §2.1).

use crate::errno::*;
use crate::model::*;
use crate::scenario::{PageState, Race, Site};

/// invalidate_inode_pages2_range(mapping, start, end) over page indices [first, last]:
/// unmap, wait for writeback, then remove each folio; a folio that is dirty again (a racing mmap
/// store), whose buffers cannot be released, or whose launder fails is kept and the last error
/// (-EBUSY, or the launder error) is returned.
pub fn invalidate_inode_pages2_range(cx: &mut Cx, first: usize, last: usize) -> i64 {
    cx.enter(
        "invalidate_inode_pages2_range",
        &[("first", first as i64), ("last", last as i64)],
    );
    let mut ret = 0;
    let redirty = cx.race(Race::MmapRedirty);
    for p in first..=last.min(cx.pages.len().saturating_sub(1)) {
        let st = cx.page(p);
        if st == PageState::None {
            continue;
        }
        // folio_wait_writeback(): the writeback in flight completes (and converts).
        cx.end_writeback(p);
        if let Some(e) = cx.fault(Site::InvalidateFolio) {
            ret = e;
            continue;
        }
        match st {
            PageState::Busy => {
                cx.decide("invalidate: filemap_release_folio failed (busy buffers)");
                ret = -EBUSY;
            }
            PageState::MappedDirty => {
                cx.decide("invalidate: mapped folio re-dirtied by a racing store");
                ret = -EBUSY;
            }
            PageState::Dirty => {
                // No ->launder_folio on ext4/XFS/bdev: a dirty folio cannot be invalidated.
                cx.decide("invalidate: folio still dirty");
                ret = -EBUSY;
            }
            PageState::Clean | PageState::Writeback if redirty => {
                cx.decide("invalidate: mapped folio re-dirtied by a racing store");
                cx.pages[p] = PageState::MappedDirty;
                ret = -EBUSY;
            }
            _ => cx.pages[p] = PageState::None,
        }
    }
    cx.ret("invalidate_inode_pages2_range", ret)
}

/// invalidate_mapping_pages(): best effort, drops clean unmapped folios only, never fails.
pub fn invalidate_mapping_pages(cx: &mut Cx, first: usize, last: usize) {
    cx.enter(
        "invalidate_mapping_pages",
        &[("first", first as i64), ("last", last as i64)],
    );
    for p in first..=last.min(cx.pages.len().saturating_sub(1)) {
        if cx.page(p) == PageState::Clean && !cx.race(Race::MmapRedirty) {
            cx.pages[p] = PageState::None;
        }
    }
    cx.ret("invalidate_mapping_pages", 0);
}
