// SPDX-License-Identifier: GPL-2.0-only
//! drivers/block/zram/zram_drv.c: the zram block driver, a bio-based disk that never splits
//! (`world.device.no_bio_split` with `world.device.stable_writes`: of the `->submit_bio`
//! drivers that never call `bio_split_to_limits()`, zram is the one whose `zram_add` declares
//! `BLK_FEAT_STABLE_WRITES`; read in 6.12.117 and 7.3.4, the same there).
//!
//! `zram_add` gives the disk `logical_block_size = ZRAM_LOGICAL_BLOCK_SIZE` (4096) and no
//! `dma_alignment`, so the queue's is 511 (blk_validate_limits' default): a direct I/O bvec may
//! start at any 512-byte boundary of a user page (all versions), or anywhere on 6.18-7.1 (no
//! user-memory check before the bio exists, and no `bio_split_io_at()` on a bio-based disk:
//! docs/live-findings/pmem-misaligned-dio-6.18). zram assumes whole pages: with
//! `PAGE_SIZE == 4096` `is_partial_io()` is `false` whatever the bvec, so `zram_bvec_write()`
//! stores the bvec's whole user page (`bv_page`, ignoring `bv_offset` and `bv_len`) as device
//! page `index` (docs/live-findings/pmem-misaligned-dio-6.18, "zram").

use crate::kernel::include::linux::fs::IovIter;
use crate::model::{Cx, TAG_MISPLACED, TAG_ZERO};
use crate::scenario::{PAGE_SIZE, SECTOR};

/// ZRAM_LOGICAL_BLOCK_SIZE (drivers/block/zram/zram_drv.h, 6.12-7.3): the disk's logical block.
pub const ZRAM_LOGICAL_BLOCK_SIZE: u64 = 4096;

/// SECTORS_PER_PAGE (zram_drv.h): 8 with 4 KiB pages.
const SECTORS_PER_PAGE: u64 = PAGE_SIZE / SECTOR;

/// What a sector of the bio's device range holds after zram_bio_write().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Exactly the bio's data for this sector.
    Own,
    /// Other bytes of the write's user buffer, or its data mixed with memory outside it.
    Other,
    /// Only user memory outside the write's iovecs (zero in live's and the reproducer's
    /// anonymous mappings, which hold nothing but the iovecs' data).
    Outside,
}

/// is_partial_io() (zram_drv.c, 6.12-7.3): `bv_len != PAGE_SIZE` only where
/// `PAGE_SIZE != 4096`; with 4 KiB pages (x86-64, the model's) it is `false` for every bvec.
fn is_partial_io(_bv_len: u64) -> bool {
    PAGE_SIZE != 4096
}

/// The single-page bvecs of a bio built from the next `n` bytes of `iter`, as (user address,
/// length): bio_iter_iovec() yields at most the rest of one page (bvec_iter_bvec). Contiguous
/// iovecs merge into one bvec where one ends and the next begins in the same page
/// (bvec_try_merge_page, as IovIter::page_segments); scattered ones never do.
fn page_bvecs(iter: &IovIter, n: u64) -> Vec<(u64, u64)> {
    let pieces: Vec<(u64, u64)> = if iter.scatter.is_some() {
        iter.pieces(iter.consumed, iter.consumed + n)
            .map(|(_, addr, len)| (addr, len))
            .collect()
    } else {
        vec![(iter.addr + iter.consumed, n)]
    };
    pieces
        .into_iter()
        .flat_map(|(addr, len)| {
            let end = addr + len;
            (addr / PAGE_SIZE..end.div_ceil(PAGE_SIZE)).map(move |p| {
                let s = addr.max(p * PAGE_SIZE);
                (s, end.min((p + 1) * PAGE_SIZE) - s)
            })
        })
        .collect()
}

/// The user page `page`'s bytes [at, at + SECTOR) against the data the sector should hold
/// (`own`: the data offset of its first byte).
fn sector_of_page(iter: &IovIter, page: u64, at: u64, own: u64) -> Held {
    let (a, b) = (page * PAGE_SIZE + at, page * PAGE_SIZE + at + SECTOR);
    let mut touched = false;
    // (contiguous iovecs are one run of data from `addr`)
    let runs: Vec<(u64, u64, u64)> = if iter.scatter.is_some() {
        iter.segments().collect()
    } else {
        vec![(0, iter.total, iter.addr)]
    };
    for (off, len, addr) in runs {
        let (x, y) = (addr.max(a), (addr + len).min(b));
        if y <= x {
            continue;
        }
        if x == a && y == b && off + (a - addr) == own {
            return Held::Own;
        }
        touched = true;
    }
    if touched {
        Held::Other
    } else {
        Held::Outside
    }
}

/// zram_bio_write() (zram_drv.c, 6.12-7.3) for a write bio at device position `pos` built from
/// the next `n` bytes of `iter`: per bvec, `index = bi_sector >> SECTORS_PER_PAGE_SHIFT`,
/// `offset` = the sector's byte offset in that page, `bv_len` cut to `PAGE_SIZE - offset`;
/// zram_bvec_write() -> zram_write_page(bv_page, index) (is_partial_io() false) stores the whole
/// user page; bio_advance_iter_single() moves `bi_sector` by `bv_len >> 9`. The last bvec to
/// reach a device page wins. Returns, per sector of [pos, pos + n), what it holds (`None`: no
/// bvec reached its page, it keeps what it held).
pub fn zram_bio_write(iter: &IovIter, pos: u64, n: u64) -> Vec<Option<Held>> {
    let first = pos / PAGE_SIZE;
    let pages = (pos + n).div_ceil(PAGE_SIZE) - first;
    let mut stored: Vec<Option<u64>> = vec![None; pages as usize];
    let mut sector = pos / SECTOR;
    for (mut addr, mut len) in page_bvecs(iter, n) {
        while len > 0 {
            let index = sector / SECTORS_PER_PAGE;
            let offset = (sector % SECTORS_PER_PAGE) * SECTOR;
            let l = len.min(PAGE_SIZE - offset);
            // zram_bvec_write(): zram_bvec_write_partial (read-modify-write of bv_len bytes at
            // offset) only where PAGE_SIZE != 4096, never in the model; else
            // zram_write_page(bv_page, index).
            debug_assert!(!is_partial_io(l));
            if let Some(s) = stored.get_mut((index - first) as usize) {
                *s = Some(addr / PAGE_SIZE);
            }
            sector += l >> 9;
            addr += l;
            len -= l;
        }
    }
    let (from, to) = (pos / SECTOR, (pos + n).div_ceil(SECTOR));
    (from..to)
        .map(|s| {
            let page = stored[(s / SECTORS_PER_PAGE - first) as usize]?;
            let own = iter.consumed + (s * SECTOR - pos);
            Some(sector_of_page(
                iter,
                page,
                (s % SECTORS_PER_PAGE) * SECTOR,
                own,
            ))
        })
        .collect()
}

/// The device side of zram_bio_write() for the placement `held` of a bio at `pos`: a sector
/// that holds its own data gets `tag`, one with other data [`TAG_MISPLACED`], one with only
/// user memory outside the iovecs [`TAG_ZERO`]; a sector no bvec reached keeps what it held.
/// Returns whether any sector did not get its own data. `shared`: the CoW fork's blocks.
pub fn zram_submit_bio(
    cx: &mut Cx,
    pos: u64,
    held: &[Option<Held>],
    tag: u32,
    shared: bool,
) -> bool {
    let placed = held.iter().map(|h| {
        h.map(|h| match h {
            Held::Own => tag,
            Held::Other => TAG_MISPLACED,
            Held::Outside => TAG_ZERO,
        })
    });
    let wrong = crate::kernel::drivers::store_sectors(cx, pos, placed, tag, shared);
    if wrong {
        cx.decide("zram_bvec_write: is_partial_io() false with 4 KiB pages: a bvec not a whole page stores its whole user page: data misplaced");
    }
    wrong
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iter(addr: u64, total: u64) -> IovIter {
        IovIter {
            count: total,
            nr_segs: 1,
            consumed: 0,
            total,
            addr,
            fault_at: None,
            scatter: None,
        }
    }

    #[test]
    fn zram_bio_write_stores_page_aligned_bvecs_in_place() {
        let it = iter(0, 16384);
        assert_eq!(zram_bio_write(&it, 4096, 16384), vec![Some(Held::Own); 32]);
    }

    /// A buffer 1 byte into a page (measured on 6.18.44: device page k holds user page k + 1,
    /// docs/live-findings/pmem-misaligned-dio-6.18, "zram"): a 4095-byte bvec stores user page 0 at index 0,
    /// advances 7 sectors, the next page's bvec is cut to 512 bytes and stores user page 1 over
    /// it, and so on; the last device page holds the last user page, one byte of data and
    /// memory past the buffer.
    #[test]
    fn zram_bio_write_a_misaligned_buffer_shifts_every_page_by_one_user_page() {
        let it = iter(1, 8192);
        let h = zram_bio_write(&it, 0, 8192);
        assert_eq!(h.len(), 16);
        // Page 0 holds user page 1: data [4095, 8191), not its own.
        assert!(h[..8].iter().all(|&x| x == Some(Held::Other)));
        // Page 1 holds user page 2: its first sector the last data byte and memory past the
        // buffer, the rest memory past it.
        assert_eq!(h[8], Some(Held::Other));
        assert!(h[9..].iter().all(|&x| x == Some(Held::Outside)));
        // 8 and 1537 bytes off (measured the same way): the same placement.
        for off in [8, 512, 1537, 4095] {
            let h = zram_bio_write(&iter(off, 12288), 8192, 12288);
            assert!(h[..16].iter().all(|&x| x == Some(Held::Other)), "{off}");
        }
    }

    /// Contiguous iovecs whose ends share a page merge into one bvec per page (live's
    /// gen-1-bdev-1521: 3 iovecs of 5461, 5461 and 5462 bytes from a page boundary, in place on
    /// 6.18.44).
    #[test]
    fn zram_bio_write_contiguous_iovecs_are_whole_page_bvecs() {
        let mut it = iter(0, 16384);
        it.nr_segs = 3;
        assert_eq!(zram_bio_write(&it, 16384, 16384), vec![Some(Held::Own); 32]);
    }

    /// Eight 512-byte iovecs at byte 512 of their own pages (docs/live-findings/zram-subpage-bvec):
    /// all eight bvecs land on index 0, the last one's page wins: sector 1 holds the eighth
    /// iovec's data, the others memory outside the iovecs.
    #[test]
    fn zram_bio_write_sub_page_iovecs_keep_the_last_user_page() {
        let mut it = iter(0, 4096);
        it.scatter = Some(crate::scenario::Scatter {
            segs: 8,
            offset: 512,
        });
        let h = zram_bio_write(&it, 0, 4096);
        assert_eq!(h[0], Some(Held::Outside));
        assert_eq!(h[1], Some(Held::Other));
        assert!(h[2..].iter().all(|&x| x == Some(Held::Outside)));
    }

    /// Short iovecs that leave the sector count behind: 8 x 500 + 96 bytes advance only 0 + ...
    /// sectors, so the bio's later device pages are never reached.
    #[test]
    fn zram_bio_write_leaves_pages_it_never_reaches() {
        let mut it = iter(0, 8192);
        it.scatter = Some(crate::scenario::Scatter {
            segs: 32,
            offset: 0,
        });
        // 32 iovecs of 256 bytes: each advances 0 sectors, all on index 0.
        let h = zram_bio_write(&it, 0, 8192);
        assert!(h[..8].iter().all(|x| x.is_some()));
        assert!(h[8..].iter().all(|x| x.is_none()));
    }
}
