// SPDX-License-Identifier: GPL-2.0-only
//! drivers/: the block drivers whose own behaviour reaches the model.

pub mod block;
pub mod nvdimm;

use crate::kernel::include::linux::fs::IovIter;
use crate::model::Cx;
use crate::scenario::World;

/// A bio as a bio-based driver that never splits (`world.device.no_bio_split`) receives it:
/// `submit_bio()` hands it over as built, with no `bio_split_io_at()` (drivers/nvdimm/pmem.c,
/// drivers/block/zram/zram_drv.c). Which driver: zram where the world has stable writes (of
/// pmem, brd, zram, btt, dcssblk, ps3vram and n64cart only zram_add declares
/// `BLK_FEAT_STABLE_WRITES`, read in 7.3.4) and 4 KiB logical blocks
/// (`ZRAM_LOGICAL_BLOCK_SIZE`), pmem otherwise (brd places a bio's bytes as pmem does: brd_rw_bvec, 7.3.4, copies
/// `bv_len` cut to `PAGE_SIZE - offset`, a multiple of 512, and steps `bi_sector` by
/// `bv_len >> SECTOR_SHIFT`, so the pieces of a segment land where pmem's one copy does).
pub enum NoSplitBio {
    /// pmem_submit_bio: the bio's single-page segment lengths.
    Pmem(Vec<u64>),
    /// zram_bio_write: what each sector of the bio's range holds afterwards.
    Zram(Vec<Option<block::zram::zram_drv::Held>>),
}

/// Whether `w`'s bio-based disk is zram (see [`NoSplitBio`]).
pub fn is_zram(w: &World) -> bool {
    w.device.no_bio_split
        && w.device.stable_writes
        && 1u64 << w.lbs_bits == block::zram::zram_drv::ZRAM_LOGICAL_BLOCK_SIZE
}

impl NoSplitBio {
    /// The bio at device position `pos` built from the next `n` bytes of `iter`.
    pub fn build(w: &World, iter: &IovIter, pos: u64, n: u64) -> NoSplitBio {
        if is_zram(w) {
            NoSplitBio::Zram(block::zram::zram_drv::zram_bio_write(iter, pos, n))
        } else {
            NoSplitBio::Pmem(iter.page_segments(n))
        }
    }

    /// The driver's ->submit_bio for a write of `tag` at `pos` (`shared`: the CoW fork's blocks).
    pub fn submit(&self, cx: &mut Cx, pos: u64, tag: u32, shared: bool) -> bool {
        match self {
            NoSplitBio::Pmem(segs) => nvdimm::pmem::pmem_submit_bio(cx, pos, segs, tag, shared),
            NoSplitBio::Zram(held) => {
                block::zram::zram_drv::zram_submit_bio(cx, pos, held, tag, shared)
            }
        }
    }
}

/// What a never-splitting driver leaves in the sectors of a bio at `pos`: per sector the tag it
/// now holds, or None for a sector no bvec reached (it keeps what it held). Written to the CoW
/// fork's blocks when `shared`, else to the disk. Returns whether any sector did not get `tag`
/// (a sector no bvec reached counts).
pub(crate) fn store_sectors(
    cx: &mut Cx,
    pos: u64,
    sectors: impl IntoIterator<Item = Option<u32>>,
    tag: u32,
    shared: bool,
) -> bool {
    let first = (pos / crate::scenario::SECTOR) as usize;
    let mut wrong = false;
    for (k, t) in sectors.into_iter().enumerate() {
        let Some(t) = t else {
            wrong = true;
            continue;
        };
        wrong |= t != tag;
        let area = if shared { &mut cx.cow } else { &mut cx.disk };
        if let Some(s) = area.get_mut(first + k) {
            *s = t;
        }
    }
    wrong
}
