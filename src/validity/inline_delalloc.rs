// SPDX-License-Identifier: GPL-2.0-only
//! Validity rule W46 (an ext4 inline inode whose inline data a delalloc write converted, not yet
//! written back): the check behind [`super::INLINE_DELALLOC`] (kernel citation there and in
//! docs/validity.md). The state is what `ext4_da_convert_inline_data_to_extent`
//! (fs/ext4/inline.c, 6.12.117 and 7.3.4) leaves and later delalloc writes add to: INLINE_DATA
//! and no EXTENTS flag, EXT4_STATE_MAY_INLINE_DATA clear, folio 0 dirty over a delayed block 0,
//! nothing allocated until `ext4_do_writepages` destroys the inline data.

use crate::scenario::*;

/// EXT4_MIN_INLINE_DATA_SIZE (fs/ext4/ext4.h): the inline data in i_block, the least
/// `ext4_get_max_inline_size()` gives an inline inode; the converting write ends past it.
pub const EXT4_MIN_INLINE_DATA_SIZE: u64 = 60;

/// Why a world with `world.inline_delalloc` set is not one the conversion leaves (None: it is).
pub fn refused(s: &Scenario) -> Option<&'static str> {
    let w = &s.world;
    if s.fs != FsKind::Ext4 {
        return Some("an inline conversion pending on a filesystem other than ext4");
    }
    let at_open = s.inode_at_open();
    if !w.inode.inline_data || !at_open.inline_data {
        return Some("an inline conversion pending without INLINE_DATA at open and at the write");
    }
    if w.mount.data_journal
        || w.inode.journal_data
        || at_open.journal_data
        || w.inode.dax
        || at_open.dax
    {
        return Some("an inline conversion pending on an inode without delayed allocation");
    }
    if w.blocks.first().map(|b| b.kind) != Some(Extent::Delalloc)
        || w.pages.first() != Some(&PageState::Dirty)
    {
        return Some("an inline conversion pending without block 0 delayed under a dirty page 0");
    }
    if w.blocks
        .iter()
        .any(|b| b.shared || !matches!(b.kind, Extent::Hole | Extent::Delalloc))
    {
        return Some("a block allocated before the writeback that destroys the inline data");
    }
    if w.pages.iter().any(|p| {
        matches!(
            p,
            PageState::Writeback | PageState::MappedDirty | PageState::Busy
        )
    }) {
        return Some(
            "a page under writeback, mmapped dirty or busy while the inline data is not destroyed",
        );
    }
    // Below 60, not at 60: a truncate to exactly i_inline_size (60 for an inline file of at
    // most 60 bytes) neither converts (ext4_setattr: only past i_inline_size) nor drops the
    // delayed extents (ext4_inline_data_truncate: only below the inline size). Session 10.
    if w.i_size < EXT4_MIN_INLINE_DATA_SIZE {
        return Some("an inline conversion pending with i_size below 60 bytes");
    }
    None
}
