// SPDX-License-Identifier: GPL-2.0-only
//! drivers/nvdimm/pmem.c: the pmem block driver (`world.device.no_bio_split`). It is bio-based:
//! `pmem_fops.submit_bio = pmem_submit_bio`, no blk-mq queue, and it never calls
//! `bio_split_to_limits()`, so `submit_bio()` hands it every bio as built, without the
//! `__bio_split_to_limits()` -> `bio_split_io_at()` walk that fails a bvec off the queue's
//! `dma_alignment` on a blk-mq disk (read in 7.3.4 drivers/nvdimm/pmem.c and block/blk-core.c;
//! brd and zram are bio-based without splitting too). Which bios can reach it misaligned is the
//! callers' business: 6.18-7.1 build them unchecked (`dma_align_at_bio_split` without
//! `bio_validates_user_vectors`), before and after that the user vector is refused first.

use crate::model::{Cx, TAG_MISPLACED};
use crate::scenario::SECTOR;

/// Where each byte of a bio of `segs` (its single-page segments, in order) lands on the device,
/// relative to the bio's start: pmem_submit_bio() walks the bio with bio_for_each_segment() and
/// pmem_do_write() copies each segment's `bv_len` bytes to the device at `iter.bi_sector`, which
/// bio_advance_iter_single() then moves by `bv_len >> 9` (read in 7.3.4 drivers/nvdimm/pmem.c,
/// include/linux/bio.h; the 6.18 driver has the same loop). A segment whose length is not a
/// multiple of 512 therefore makes every later segment start up to 511 bytes early, overwriting
/// the end of the one before, and the bio's last bytes are never written. Returns, per sector of
/// the bio, `Some(true)` when it holds exactly its own data, `Some(false)` when it holds data of
/// the bio but not its own (torn or shifted), `None` when nothing was written to it.
pub fn sector_placement(segs: &[u64]) -> Vec<Option<bool>> {
    let n: u64 = segs.iter().sum();
    // The source offset each byte of the bio's device range holds (u64::MAX: not written).
    let mut src = vec![u64::MAX; n as usize];
    let (mut sector, mut from) = (0u64, 0u64);
    for &len in segs {
        let at = sector * SECTOR;
        for j in 0..len {
            if let Some(b) = src.get_mut((at + j) as usize) {
                *b = from + j;
            }
        }
        from += len;
        sector += len >> 9;
    }
    src.chunks(SECTOR as usize)
        .enumerate()
        .map(|(k, c)| {
            let base = k as u64 * SECTOR;
            if c.iter().all(|&b| b == u64::MAX) {
                None
            } else {
                Some(c.iter().enumerate().all(|(j, &b)| b == base + j as u64))
            }
        })
        .collect()
}

/// pmem_submit_bio() for a write bio at file position `pos` whose segments are `segs`: the
/// sectors get `tag` where they hold their own data, [`TAG_MISPLACED`] where they hold other
/// bytes of the bio, and keep what they held where nothing reached them. Returns whether any
/// sector did not get its own data. `shared`: the bio goes to the CoW fork's blocks.
pub fn pmem_submit_bio(cx: &mut Cx, pos: u64, segs: &[u64], tag: u32, shared: bool) -> bool {
    let placed = sector_placement(segs)
        .into_iter()
        .map(|p| p.map(|own| if own { tag } else { TAG_MISPLACED }));
    let wrong = crate::kernel::drivers::store_sectors(cx, pos, placed, tag, shared);
    if wrong {
        cx.decide("pmem_submit_bio: segments not a multiple of 512 bytes, written at bv_len >> 9 sector steps: data misplaced");
    }
    wrong
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmem_submit_bio_places_whole_sector_segments_exactly() {
        assert_eq!(sector_placement(&[4096, 4096, 1024]), vec![Some(true); 18]);
    }

    /// A buffer at page offset 1: the first segment is 4095 bytes, its sector step 7 (3584
    /// bytes), so every later segment lands 511 bytes early and the bio's last 511 bytes are
    /// never written.
    #[test]
    fn pmem_submit_bio_shifts_segments_after_a_partial_sector_one() {
        let p = sector_placement(&[4095, 4096, 1]);
        assert_eq!(p.len(), 16);
        assert!(p[..7].iter().all(|&x| x == Some(true)));
        assert!(p[7..15].iter().all(|&x| x == Some(false)));
        // The 1-byte last segment lands at sector 15 (7 + 8): written, but not its own data.
        assert_eq!(p[15], Some(false));
        let p = sector_placement(&[4095, 4096, 4096, 1]);
        assert_eq!(p[23], Some(false));
        let p = sector_placement(&[2559, 4096]);
        // 2559 >> 9 = 4: the second segment covers sectors 4..12, the last 511 bytes of the bio
        // (sector 12 of 13) are never written.
        assert_eq!(p.len(), 13);
        assert_eq!(p[12], None);
    }
}
