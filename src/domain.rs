// SPDX-License-Identifier: GPL-2.0-only
//! The meaningful values of each scenario field: one source for `diofuzz check`'s domain
//! shorthands, the field-aware mutator (`mutate.rs`) and the generated fuzzing dictionary
//! (`fuzz/dio_write.dict`).
//!
//! Sizes are chosen relative to the scenario at hand: at and around i_size, the filesystem block,
//! the 4 KiB page, the 512-byte sector, and the device's atomic unit (powers of two inside and just
//! outside [awu_min, awu_max]). Only values format 1 can encode are returned.

use crate::scenario::*;

/// Layout letters (the layout language of [`crate::generators::layout`]): H hole, U unwritten,
/// W written, D delalloc, S written and shared (XFS reflink); `|` before a letter starts a new
/// physical extent.
pub const BLOCK_LETTERS: [char; 5] = ['H', 'U', 'W', 'D', 'S'];
/// Page-cache letters ([`crate::generators::pages`]): N none, C clean, D dirty, W writeback,
/// M mapped and re-dirtied, B busy.
pub const PAGE_LETTERS: [char; 6] = ['N', 'C', 'D', 'W', 'M', 'B'];

/// The block state of a layout letter (`new_extent`: a `|` came before it).
pub fn block_of_letter(c: char, new_extent: bool) -> Option<BlockState> {
    let spec = format!("{}{c}", if new_extent { "|" } else { "" });
    crate::generators::layout(&spec).ok()?.first().copied()
}

/// Every block state the encoding distinguishes (letters, each with and without a new extent).
pub fn block_states() -> Vec<BlockState> {
    let mut v = Vec::new();
    for brk in [false, true] {
        for c in BLOCK_LETTERS {
            v.extend(block_of_letter(c, brk));
        }
    }
    v
}

/// Every state of a CoW-fork block at rest (XFS).
pub fn cow_states() -> [CowExtent; 3] {
    [CowExtent::None, CowExtent::Delalloc, CowExtent::Unwritten]
}

/// The cowextsize hints the encoding can hold (0 = none: the default 32 blocks).
pub const COWEXTSIZES: [u8; 7] = [0, 1, 2, 4, 8, 16, 32];

/// Every page state.
pub fn page_states() -> Vec<PageState> {
    crate::generators::pages(&PAGE_LETTERS.iter().collect::<String>()).unwrap_or_default()
}

/// Every injected fault `check`'s `"fault": ["all"]` expands to: each call site x each errno the
/// real function can return there x its first or second call. iomap_dio_zero is left out: it
/// cannot fail at the model's block sizes.
pub fn all_faults() -> Vec<Fault> {
    let mut v = Vec::new();
    for site in ALL_SITES {
        if site == Site::DioZero {
            continue;
        }
        for &errno in site.errnos() {
            for nth in 0..2 {
                v.push(Fault { site, nth, errno });
            }
        }
    }
    v
}

/// The call sites a fault can be injected at (iomap_dio_zero left out, as in [`all_faults`]).
pub fn fault_sites() -> Vec<Site> {
    ALL_SITES
        .iter()
        .copied()
        .filter(|s| *s != Site::DioZero)
        .collect()
}

/// Atomic write shapes (length, position) the generic checks accept: a power-of-two length
/// within the device unit (or one block without one), at a position aligned to the length: 0,
/// inside the file, at the aligned i_size and one unit past it.
pub fn atomic_shapes(s: &Scenario) -> Vec<(u64, u64)> {
    let (bs, mn, mx) = units(s);
    let isz = s.world.i_size;
    let mut v = Vec::new();
    let mut len = mn.max(512);
    while len <= mx {
        for pos in [
            0,
            len,
            round_down(isz, len),
            round_up(isz, len),
            round_up(isz, len) + len,
        ] {
            if size_encodable(len, bs) && size_encodable(pos, bs) {
                v.push((len, pos));
            }
        }
        len *= 2;
    }
    if v.is_empty() {
        v.push((bs, 0));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Every race event (each inode flag for the flag-changed-after-open race).
pub fn all_races() -> Vec<Race> {
    let mut v = vec![
        Race::MmapRedirty,
        Race::FcntlToggleDirect,
        Race::LockContended,
    ];
    v.extend((0..INODE_FLAG_NAMES.len() as u8).map(Race::InodeFlagChangedAfterOpen));
    v
}

/// Device atomic write units [awu_min, awu_max] worth trying: none, one block, ranges around 4 KiB
/// and 64 KiB (the pairs `check` uses, and their neighbours).
pub const DEVICE_UNITS: [(u32, u32); 8] = [
    (0, 0),
    (4096, 65536),
    (8192, 16384),
    (512, 4096),
    (4096, 4096),
    (512, 65536),
    (4096, 16384),
    (16384, 65536),
];

/// Device DMA alignment masks worth trying (`world.device.dma_alignment`): a loop device's
/// default 511, a SCSI disk's 3 (x86; also NVMe's), 7, and a page (the largest blk_validate_limits takes).
pub const DMA_ALIGNMENTS: [u32; 4] = [DEFAULT_DMA_ALIGNMENT, 7, 3, 4095];

/// RWF combinations `check` uses for writes (atomic alone and with its companions).
pub const RWF_SETS: [u32; 7] = [
    RWF_ATOMIC,
    RWF_ATOMIC | RWF_NOWAIT,
    RWF_ATOMIC | RWF_DSYNC,
    RWF_ATOMIC | RWF_APPEND,
    RWF_ATOMIC | RWF_SYNC,
    0,
    RWF_NOWAIT,
];

/// Can format 1 encode this position / length / i_size (block size `bs`)?
pub fn size_encodable(v: u64, bs: u64) -> bool {
    let base = v - (v % SECTOR == 1) as u64;
    base % SECTOR == 0 && (base / SECTOR <= 255 || (base % bs == 0 && base / bs < MAX_BLOCK_COUNT))
}

fn round_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}
fn round_down(v: u64, a: u64) -> u64 {
    v / a * a
}

/// The scenario's boundaries: (block size, atomic unit min, atomic unit max), with 4 KiB / 64 KiB
/// standing in for a device without atomic writes.
fn units(s: &Scenario) -> (u64, u64, u64) {
    let bs = 1u64 << s.world.blkbits;
    let d = s.world.device;
    let (mn, mx) = if d.awu_max == 0 {
        (4096, 65536)
    } else {
        (d.awu_min.max(512) as u64, d.awu_max as u64)
    };
    (bs, mn, mx)
}

fn finish(mut v: Vec<u64>, bs: u64) -> Vec<u64> {
    v.retain(|&x| size_encodable(x, bs));
    v.sort_unstable();
    v.dedup();
    v
}

/// Positions: block, page and sector boundaries, i_size and its neighbours, the atomic unit and
/// its multiples, and one byte past a few of them.
pub fn positions(s: &Scenario) -> Vec<u64> {
    let (bs, mn, mx) = units(s);
    let isz = s.world.i_size;
    let mut v = vec![0, 512, 1024, 2048, 4096, 4608, 8192, 16384, 32768, 65536];
    v.extend((1..=4).map(|k| k * bs));
    v.extend([mn, mx, 2 * mx, mx / 2]);
    v.extend([
        isz,
        isz.saturating_sub(512),
        isz + 512,
        round_down(isz, bs),
        round_up(isz, bs),
        round_up(isz, mn),
        round_up(isz, mx),
        round_down(isz, SECTOR),
        round_up(isz, SECTOR),
    ]);
    let odd: Vec<u64> = [0, bs, isz].iter().map(|x| x + 1).collect();
    v.extend(odd);
    finish(v, bs)
}

/// Lengths: powers of two from one sector up to twice the atomic unit max (inside and just outside
/// the unit), the block, sub-block and block-and-a-bit, up to i_size and to the next boundaries.
pub fn lengths(s: &Scenario) -> Vec<u64> {
    let (bs, mn, mx) = units(s);
    let (isz, pos) = (s.world.i_size, s.request.pos);
    let mut v: Vec<u64> = (9..=17).map(|b| 1u64 << b).collect();
    v.extend([
        1,
        mn,
        mx,
        2 * mx,
        mn / 2,
        bs,
        bs - 512,
        bs + 512,
        3 * bs,
        3 * 4096,
    ]);
    if isz > pos {
        v.extend([isz - pos, round_up(isz, bs) - pos, round_up(isz, mx) - pos]);
    }
    v.retain(|&x| x > 0);
    finish(v, bs)
}

/// i_size values: empty, block and page multiples, one sector or byte past them, at and after the
/// request.
pub fn i_sizes(s: &Scenario) -> Vec<u64> {
    let (bs, _, mx) = units(s);
    let (pos, len) = (s.request.pos, s.request.len);
    let mut v = vec![0, 512, 4096, 4608, 16384, 16896, 65536];
    for k in 1..=4 {
        v.extend([k * bs, k * bs + 512, k * bs + 1, k * bs - 512]);
    }
    v.extend([
        pos,
        pos + 512,
        pos + 1,
        pos + len,
        pos + len + 512,
        (pos + len).saturating_sub(512),
        round_up(pos + len, bs),
        mx,
        mx + 512,
    ]);
    finish(v, bs)
}

/// Where the user buffer stops being faultable: never, at its start, inside and at the end of the
/// first page / block, one sector before the end of the write.
pub fn fault_ats(s: &Scenario) -> Vec<Option<u64>> {
    let (bs, _, _) = units(s);
    let len = s.request.len;
    let mut v = vec![0, 512, 4096, bs, bs / 2, bs + 512];
    v.extend([len / 2, len.saturating_sub(512), round_down(len / 2, 4096)]);
    v.retain(|x| x % SECTOR == 0 && x / SECTOR < 255);
    v.sort_unstable();
    v.dedup();
    std::iter::once(None)
        .chain(v.into_iter().map(Some))
        .collect()
}

/// RLIMIT_FSIZE: unlimited, or at the write's start, inside it, at i_size and at block boundaries.
pub fn rlimits(s: &Scenario) -> Vec<Option<u64>> {
    let (bs, _, _) = units(s);
    let (isz, pos, len) = (s.world.i_size, s.request.pos, s.request.len);
    let mut v = vec![
        4096,
        8192,
        bs,
        pos,
        pos + 512,
        pos + len / 2,
        pos + len - 512.min(len),
        isz,
        isz + 512,
        round_up(isz, bs),
    ];
    v.retain(|x| x % SECTOR == 0 && (1..=255).contains(&(x / SECTOR)));
    v.sort_unstable();
    v.dedup();
    std::iter::once(None)
        .chain(v.into_iter().map(Some))
        .collect()
}

/// s_maxbytes / s_bitmap_maxbytes: the real value, or block counts at and around the write's end.
pub fn maxbytes(s: &Scenario) -> Vec<u64> {
    let bs = 1u64 << s.world.blkbits;
    let end = s.request.pos + s.request.len;
    let mut v = vec![HUGE_MAXBYTES];
    for b in [
        1,
        2,
        4,
        s.request.pos / bs,
        end / bs,
        end.div_ceil(bs),
        end.div_ceil(bs) + 1,
    ] {
        if (1..=255).contains(&b) {
            v.push(b * bs);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Block indices worth changing: the first, the ones holding the write's start and end and
/// i_size, and one past the layout.
pub fn block_indices(s: &Scenario) -> Vec<usize> {
    let bs = 1u64 << s.world.blkbits;
    let r = &s.request;
    let mut v = vec![
        0,
        (r.pos / bs) as usize,
        ((r.pos + r.len.max(1) - 1) / bs) as usize,
        (s.world.i_size / bs) as usize,
        (s.world.i_size.saturating_sub(1) / bs) as usize,
        s.world.blocks.len(),
    ];
    v.retain(|&i| i < MAX_BLOCKS);
    v.sort_unstable();
    v.dedup();
    v
}

/// Page indices worth changing (4 KiB pages): the write's first and last page, i_size's page.
pub fn page_indices(s: &Scenario) -> Vec<usize> {
    let r = &s.request;
    let mut v = vec![
        0,
        (r.pos / PAGE_SIZE) as usize,
        ((r.pos + r.len.max(1) - 1) / PAGE_SIZE) as usize,
        (s.world.i_size / PAGE_SIZE) as usize,
        s.world.pages.len(),
    ];
    v.retain(|&i| i < MAX_PAGES);
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encodable_and_around_the_boundaries() {
        let mut s = Scenario::default();
        s.world.i_size = 4608;
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        let p = positions(&s);
        for want in [0, 4096, 4608, 8192, 4097, 65536] {
            assert!(p.contains(&want), "{want} missing from {p:?}");
        }
        let l = lengths(&s);
        for want in [512, 2048, 4096, 65536, 131072, 3584] {
            assert!(l.contains(&want), "{want} missing from {l:?}");
        }
        for x in p.iter().chain(&l).chain(&i_sizes(&s)) {
            assert!(size_encodable(*x, 4096), "{x}");
        }
        assert!(!size_encodable(1 << 20, 4096));
        assert!(!size_encodable(700, 4096));
        assert!(fault_ats(&s).contains(&None));
        assert!(rlimits(&s).contains(&Some(4608)));
    }

    #[test]
    fn every_fault_is_one_the_site_returns() {
        let f = all_faults();
        assert!(f.iter().all(|f| f.site.errnos().contains(&f.errno)));
        assert!(f.iter().any(|f| f.site == Site::DioGetPages && f.nth == 1));
        assert!(!f.iter().any(|f| f.site == Site::DioZero));
        assert_eq!(all_races().len(), 3 + 13);
        assert_eq!(block_states().len(), 10);
        assert_eq!(page_states().len(), 6);
    }
}
