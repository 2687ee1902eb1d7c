// SPDX-License-Identifier: GPL-2.0-only
//! Session 12: ext4 and XFS files on loop devices of 1 or 2 KiB logical blocks
//! (`LOOP_CONFIGURE` block_size 1024 or 2048; live: `live --worlds file-small-lbs`, mkfs.ext4
//! -b and mkfs.xfs -b size= -s size= on the image, tools/src/live/scratch.rs). Drawn by the
//! random generator's stage `file-small-lbs` (src/generators/random.rs `STAGES`), on a stream of
//! its own, for ext4 and XFS files on loop devices (not the atomic disk):
//!
//! * 15 % of the file scenarios of 512-byte logical blocks without atomic units get 1 or 2 KiB
//!   logical blocks, never above the block size (a filesystem block below the device's logical
//!   block is refused at mount: `ext4_fill_super` "bad block size", mkfs.xfs refuses `-s size=`
//!   above `-b size=`); 1 KiB on 1 KiB blocks;
//! * on 4 KiB blocks with 2 KiB logical blocks, 35 % of those whose layout no other stream drew
//!   for the old block size (no CoW fork, no shared block, no race after open but the fcntl
//!   toggle, no held or busy page, no scaled limit) get 2 KiB blocks instead: each 4 KiB block
//!   becomes two of the same kind (the base generator draws 1 and 4 KiB blocks only);
//! * the request, where no other stream shaped it (no scattered iovec, no scaled limit, not a
//!   zero length): in 25 % aligned to 512 bytes but not to the logical block (the position or
//!   the length: O_DIRECT is -EINVAL in `iomap_dio_bio_iter`, ext4, and before it in
//!   `xfs_file_dio_write`'s `bt_logical_sectormask` test, XFS; 6.12 and 7.3), in 25 % aligned to
//!   the logical block but not the filesystem block (the unaligned paths of
//!   `ext4_dio_write_iter` and `xfs_file_dio_write_unaligned`; where the block is the logical
//!   block, the block-aligned case), in 25 % aligned to the filesystem block, else as drawn;
//!   O_DIRECT in 85 % (the logical block size is read only on the direct path), and RWF_ATOMIC
//!   in 25 % (else none; a power of two from the logical block to four filesystem blocks, at a position
//!   aligned to it: ext4 has no atomic unit on loop, `ext4_file_open` leaves
//!   FMODE_CAN_ATOMIC_WRITE clear; XFS 6.16+ writes it out of place, `xfs_get_atomic_write_min`
//!   one filesystem block whatever the logical block).
//!
//! Only valid worlds (`crate::validity::normalise` leaves them as they are: rule W47 keeps
//! them off DAX and bio-based disks) that encode; otherwise the scenario is left as it was.

use super::random::Rng;
use crate::scenario::*;

/// Is `s` one of these worlds: an ext4 or XFS file on a device of 1 or 2 KiB logical blocks?
pub fn is_file_small_lbs(s: &Scenario) -> bool {
    s.fs != FsKind::Bdev && matches!(s.world.lbs_bits, 10 | 11)
}

/// The request's alignment class on a device of `lbs`-byte logical blocks and `bs`-byte
/// filesystem blocks: "sector" (512-byte aligned only), "lbs" (logical block, not filesystem
/// block), "block" (filesystem block), "byte" (not even 512).
pub fn alignment_class(s: &Scenario) -> &'static str {
    let (lbs, bs) = (1u64 << s.world.lbs_bits, 1u64 << s.world.blkbits);
    let a = s.request.pos | s.request.len;
    if a % SECTOR != 0 {
        "byte"
    } else if a % lbs != 0 {
        "sector"
    } else if a % bs != 0 {
        "lbs"
    } else {
        "block"
    }
}

/// The stage (src/generators/random.rs `STAGES`, "file-small-lbs").
pub fn file_small_lbs(r: &mut Rng, s: &mut Scenario, disk: bool) {
    let k = r.below(100);
    let two = r.below(2) == 1;
    let relay = r.below(100) < 35;
    let aim = r.below(100);
    let m = r.next_u64();
    let atomic = r.below(100) < 25;
    let direct = r.below(100) < 85;
    let w = &s.world;
    if disk
        || s.fs == FsKind::Bdev
        || w.lbs_bits != 9
        || w.device.awu_min != 0
        || w.device.awu_max != 0
        || k >= 15
    {
        return;
    }
    let before = s.clone();
    // 2 KiB logical blocks only on 2 or 4 KiB filesystem blocks.
    let lbs_bits = if two && w.blkbits >= 11 { 11 } else { 10 };
    s.world.lbs_bits = lbs_bits;
    if lbs_bits == 11 && s.world.blkbits == 12 && relay && relayable(s) {
        halve_blocks(s);
    }
    if reshapeable(s) {
        reshape(s, aim, m, atomic, direct);
    }
    let ok = |s: &Scenario| {
        let mut n = s.clone();
        crate::validity::normalise(&mut n).is_empty()
            && n == *s
            && s.encode()
                .is_ok_and(|b| Scenario::decode(&b).is_ok_and(|d| d == *s))
    };
    if !ok(s) {
        // The logical block size alone, with the layout and request as drawn.
        let lbs = s.world.lbs_bits;
        *s = before.clone();
        s.world.lbs_bits = lbs;
        if !ok(s) {
            *s = before;
        }
    }
}

/// Was the layout drawn for the block size alone (nothing another stream placed by block)?
fn relayable(s: &Scenario) -> bool {
    let w = &s.world;
    w.cow.is_empty()
        && w.cowextsize == 0
        && !w.inode.reflink
        && !w.blocks.iter().any(|b| b.shared)
        && !w.inline_delalloc
        && !w.inode.inline_data
        && !w.inode.swapfile
        && w.s_maxbytes == HUGE_MAXBYTES
        && w.s_bitmap_maxbytes == HUGE_MAXBYTES
        && s.races.iter().all(|r| *r == Race::FcntlToggleDirect)
        && w.pages.iter().all(|p| {
            !matches!(
                p,
                PageState::Writeback | PageState::MappedDirty | PageState::Busy
            )
        })
}

/// 4 KiB blocks to 2 KiB ones: each block becomes two of its kind; a half past EOF of a
/// delayed block is a hole (a dirty page makes delayed blocks only below EOF).
fn halve_blocks(s: &mut Scenario) {
    let w = &mut s.world;
    w.blkbits = 11;
    let i_size = w.i_size;
    let mut blocks = Vec::with_capacity(w.blocks.len() * 2);
    for (i, b) in w.blocks.iter().enumerate() {
        for h in 0..2u64 {
            let off = (2 * i as u64 + h) * 2048;
            let mut x = *b;
            if h == 1 {
                x.new_extent = false;
            }
            if x.kind == Extent::Delalloc && off >= i_size {
                x = BlockState::default();
            }
            blocks.push(x);
        }
    }
    while blocks.last().is_some_and(|b| b.kind == Extent::Hole) {
        blocks.pop();
    }
    w.blocks = blocks;
}

/// Did no other stream shape the request (a scattered iovec, a limit moved next to the write's
/// end, a zero length)?
fn reshapeable(s: &Scenario) -> bool {
    let w = &s.world;
    s.request.scatter.is_none()
        && s.request.len != 0
        && w.s_maxbytes == HUGE_MAXBYTES
        && w.s_bitmap_maxbytes == HUGE_MAXBYTES
        && w.rlimit_fsize.is_none()
}

/// Align the request as the module doc says.
fn reshape(s: &mut Scenario, aim: u64, m: u64, atomic: bool, direct: bool) {
    let (lbs, bs) = (1u64 << s.world.lbs_bits, 1u64 << s.world.blkbits);
    let q = &mut s.request;
    let sectors = lbs / SECTOR;
    match aim {
        // 512-aligned, not the logical block: the position or the length (or both).
        0..=24 => {
            let odd = SECTOR * (1 + m % (sectors - 1));
            let (p, l) = (q.pos / SECTOR * SECTOR, q.len.div_ceil(SECTOR) * SECTOR);
            match (m >> 8) % 3 {
                0 => (q.pos, q.len) = (p / lbs * lbs + odd, l.div_ceil(lbs) * lbs),
                1 => (q.pos, q.len) = (p / lbs * lbs, l / lbs * lbs + odd),
                _ => (q.pos, q.len) = (p / lbs * lbs + odd, l.div_ceil(lbs) * lbs + odd),
            }
        }
        // The logical block, not the filesystem block (where they differ).
        25..=49 if bs > lbs => {
            let per = bs / lbs;
            q.pos = q.pos / bs * bs + lbs * (1 + m % (per - 1));
            q.len = lbs * (1 + (m >> 8) % (2 * per));
        }
        // The filesystem block.
        25..=74 => {
            q.pos = q.pos / bs * bs;
            q.len = (q.len / bs).max(1) * bs;
        }
        _ => {}
    }
    if atomic {
        // A power of two from the logical block up to four filesystem blocks, at a position
        // aligned to it (generic_atomic_write_valid).
        let len = if aim < 25 { lbs } else { bs << ((m >> 16) % 3) };
        q.len = len;
        q.pos = q.pos / len * len;
        q.rwf.atomic = true;
    } else {
        q.rwf.atomic = false;
    }
    if direct {
        q.open.direct = true;
    }
    if q.fault_at.is_some_and(|f| f >= q.len) {
        q.fault_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::{generate_before, generate_on, Disk};
    use super::*;

    /// The stage changes only its own fields (the logical block size, the block size and layout
    /// where it halves the blocks, the request's position, length, O_DIRECT, RWF_ATOMIC and
    /// fault_at), only on ext4 and XFS files, only into its worlds; the scenarios before it are
    /// every older stage's.
    #[test]
    fn changes_only_its_fields() {
        let mut changed = 0;
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            for i in 0..3000 {
                let s = generate_on(7, i, fs, None, 0);
                let mut b = generate_before(Some("file-small-lbs"), 7, i, fs, None, 0);
                if s == b {
                    continue;
                }
                changed += 1;
                assert_ne!(fs, FsKind::Bdev);
                assert!(is_file_small_lbs(&s) && !is_file_small_lbs(&b), "{i}");
                let mut n = s.clone();
                assert!(crate::validity::normalise(&mut n).is_empty(), "{i}");
                assert_eq!(n, s, "{i}");
                assert!(s.world.lbs_bits <= s.world.blkbits, "{i}");
                b.world.lbs_bits = s.world.lbs_bits;
                if s.world.blkbits != b.world.blkbits {
                    assert_eq!((b.world.blkbits, s.world.blkbits), (12, 11), "{i}");
                    b.world.blkbits = 11;
                    b.world.blocks = s.world.blocks.clone();
                }
                let (x, y) = (&mut b.request, &s.request);
                x.pos = y.pos;
                x.len = y.len;
                x.open.direct = y.open.direct;
                x.rwf.atomic = y.rwf.atomic;
                x.fault_at = y.fault_at;
                assert_eq!(s, b, "{i}");
            }
        }
        assert!(changed > 400, "{changed}");
    }

    /// 1 and 2 KiB logical blocks on both filesystems, on 1, 2 and 4 KiB blocks, with requests
    /// of every alignment class, direct and buffered, atomic and not; each valid, unchanged by
    /// normalise and round-tripping the input format; never on the atomic disk.
    #[test]
    fn draws_every_kind() {
        use std::collections::BTreeMap;
        let mut kinds: BTreeMap<String, u32> = BTreeMap::new();
        let (mut n, mut atomic, mut buffered) = (0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate_on(3, i, fs, None, 0);
                if !is_file_small_lbs(&s) {
                    continue;
                }
                n += 1;
                let w = &s.world;
                assert!(w.lbs_bits <= w.blkbits, "{i}");
                let b = s.encode().unwrap();
                assert_eq!(Scenario::decode(&b).unwrap(), s, "{i}");
                let mut c = s.clone();
                assert!(crate::validity::normalise(&mut c).is_empty(), "{i}");
                assert_eq!(c, s, "{i}");
                *kinds
                    .entry(format!("{} lbs{} bs{}", fs.name(), w.lbs_bits, w.blkbits))
                    .or_default() += 1;
                *kinds
                    .entry(format!("{} {}", fs.name(), alignment_class(&s)))
                    .or_default() += 1;
                atomic += s.request.rwf.atomic as u32;
                buffered += !s.request.open.direct as u32;
            }
        }
        eprintln!("{n}: {kinds:?}, atomic {atomic}, buffered {buffered}");
        for fs in ["ext4", "xfs"] {
            for k in ["lbs10 bs10", "lbs10 bs12", "lbs11 bs11", "lbs11 bs12"] {
                assert!(
                    kinds.contains_key(&format!("{fs} {k}")),
                    "{fs} {k}: {kinds:?}"
                );
            }
            for c in ["sector", "lbs", "block"] {
                assert!(
                    kinds.get(&format!("{fs} {c}")).is_some_and(|&v| v > 10),
                    "{fs} {c}: {kinds:?}"
                );
            }
        }
        assert!(n > 600 && n < 1200, "{n} of 6000");
        assert!(atomic * 8 > n && atomic * 5 < n * 2, "{atomic} of {n}");
        assert!(buffered > 10 && buffered * 5 < n, "{buffered} of {n}");
        let d = Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        for i in 0..500 {
            assert_eq!(
                generate_on(3, i, FsKind::Xfs, Some(&d), 0).world.lbs_bits,
                9
            );
        }
    }
}
