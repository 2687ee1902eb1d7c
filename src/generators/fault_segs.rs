// SPDX-License-Identifier: GPL-2.0-only
//! Injected bio errors between two bios of one write (`live --fault-device DEV
//! --multi-bio-faults`, the lab's `*-ublk-segs-fault` groups): a scattered O_DIRECT write
//! (`request.scatter`, docs/model.md §4.6) that the model submits as several bios of 256 bvecs
//! (`IovIter::bvec_cap`), with a `bio_endio` fault on one of its bios after the first. What the
//! write then returns and leaves on the disk depends on the bios before and after the failed one
//! (`iomap_dio_bio_iter`'s `dio->error` test between bios, the plugged or deferred completion of
//! the failed request, `__blkdev_direct_IO`'s first failed status).
//!
//! Why a scattered write: sub-page segments each in their own pages (a gap page between them)
//! are bvecs that no kernel version merges (6.12's `bvec_try_merge_page` needs physical
//! adjacency), so the kernel's bio boundaries are the model's on every version; a contiguous
//! buffer's 256-bvec bio would need 1 MiB of data and, on 6.12 – 7.1, its boundary moves when
//! neighbouring pages happen to be physically adjacent.
//!
//! A stream of its own (its own seed mixing, its own scenario indices): no other generator's
//! scenarios change.

use super::fault::{
    allocate_request_range, completed_bios, fault_errno, faulted_bios, faults_reach_the_device,
    COW_PATHS, TRIES,
};
use super::random::{generate_unheld, Disk, Rng};
use crate::model;
use crate::scenario::{Fault, FsKind, Scatter, Scenario, Site, IOV_MAX, PAGE_SIZE, SECTOR};
use crate::variant::Variant;

/// Make `s` a scattered O_DIRECT write that needs several bios of 256 bvecs: segments of a
/// length the device's DMA alignment lets through (sector-sized, 64, 8 or 4 bytes: 128 KiB, 16,
/// 2 or 1 KiB per bio), more than 256 of them, at an offset on that length in their first page.
fn scatter_several_bios(g: &mut Rng, s: &mut Scenario) {
    let dma = s.world.device.dma_alignment as u64;
    let seg = g.pick(&[SECTOR, SECTOR, 64, 8, 4]).max(dma + 1);
    let segs = if seg == SECTOR {
        // 160, 192 or 252 KiB: two bios of at most 128 KiB.
        g.pick(&[320, 384, 504])
    } else {
        g.pick(&[512, 768, IOV_MAX as u64])
    };
    let len = segs * seg;
    let offset = g.pick(&[0, 1, 2, PAGE_SIZE / seg - 1]) * seg;
    // No races: an mmap writer or a flag change after open would take the write to the page
    // cache, whose writeback then meets the armed sector (lab, 6.12.117 gen-1-ext4-7: racy, and
    // ext4_end_bio's "I/O error" warning in the log).
    s.races.clear();
    let q = &mut s.request;
    q.read = false;
    q.open.direct = true;
    q.rwf.atomic = false;
    q.len = len;
    q.nr_segs = 1;
    q.buf_align = PAGE_SIZE as u32;
    q.scatter = Some(Scatter {
        segs: segs as u16,
        offset: offset as u16,
    });
    // On the logical block (a misaligned position is refused before any bio).
    q.pos = q.pos / SECTOR * SECTOR;
}

/// Scenario `index` of `seed` for `fs` on `disk` (the fault device's geometry): a scattered
/// O_DIRECT write that the model under `v` submits as two or more bios, with one `bio_endio`
/// fault (errno drawn from `errnos`, as [`super::fault::generate_faulted_with`]) on a bio after
/// the first. The request's blocks are allocated before the call (the faulted bio's sectors must
/// be known: FIEMAP after the set-up). `None` when [`TRIES`] draws give no such write (e.g. on
/// 6.12 – 6.17 a sub-sector segment is -EINVAL before any bio: `bdev_iter_is_aligned`).
pub fn generate_multi_bio_faulted(
    seed: u64,
    index: u64,
    fs: FsKind,
    disk: Option<&Disk>,
    v: &'static Variant,
    errnos: &[i64],
) -> Option<Scenario> {
    let mut g = Rng::stream(seed, index, 0xA24B_AED4_963E_E407, 0x5E65_FA17);
    for t in 0..TRIES {
        let mut s = generate_unheld(seed ^ 0x5E65_B105, index * TRIES + t, fs, disk, 0);
        scatter_several_bios(&mut g, &mut s);
        let end = s.request.pos + s.request.len;
        if fs == FsKind::Bdev {
            // The device holds the whole write (blkdev_write_iter truncates at its end).
            s.world.i_size = s.world.i_size.max(end.next_multiple_of(PAGE_SIZE));
        } else if g.pct(75) {
            // Mostly an overwrite inside i_size: its blocks become written ones, so the data of
            // the bios around the failed one is visible after the call (an extending or
            // unwritten-block write that fails leaves it unconverted or past EOF).
            s.world.i_size = s
                .world
                .i_size
                .max(end.next_multiple_of(1 << s.world.blkbits));
        }
        allocate_request_range(&mut s);
        if !crate::validity::is_valid(&s) {
            continue;
        }
        let bare = model::run(&s, v);
        let bios = completed_bios(&bare);
        if bios.len() < 2 || bios.len() > 255 {
            continue;
        }
        // A bio with bios on both sides where there are three or more (the write ends with an
        // error between two of its bios), else the last.
        let nth = if bios.len() >= 3 {
            1 + g.below(bios.len() as u64 - 2) as usize
        } else {
            1
        };
        s.faults.push(Fault {
            site: Site::BioEndIo,
            nth: nth as u8,
            errno: fault_errno(seed ^ 0x5E65 ^ (fs as u64) << 40, index, errnos),
        });
        let x = model::run(&s, v);
        if faulted_bios(&x).is_empty()
            || !faults_reach_the_device(&x, &bare)
            || COW_PATHS.iter().any(|f| x.trace.entered(f))
            || !crate::validity::is_valid(&s)
            || !encodes(&s)
        {
            continue;
        }
        return Some(s);
    }
    None
}

/// Does `s` survive the input format unchanged? A readable scenario may say only what the byte
/// format can (`input::parse`), so `live FILE`, `repro FILE` and a saved disagreement read it
/// back. This rules out the file writes of sector-sized segments over two bios: more than 128
/// KiB, whose allocated blocks are more than the format's 32 (`MAX_BLOCKS`) — the only
/// multi-bio file writes 6.12 – 6.17 take (they refuse sub-sector segments), so those versions
/// get block-device scenarios only.
fn encodes(s: &Scenario) -> bool {
    s.encode()
        .ok()
        .and_then(|b| Scenario::decode(&b).ok())
        .is_some_and(|d| d == *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::EIO;
    use crate::model::{BioCompletion, ModelOpts};

    /// The ublk fault device's geometry (docs/lab.md "The ublk fault device").
    const UBLK: Disk = Disk {
        awu_min: 0,
        awu_max: 0,
        lbs_bits: 9,
        dma_alignment: 3,
    };

    #[test]
    fn faults_land_between_bios_of_one_scattered_write() {
        let v = crate::variant::by_name("v7.3").unwrap();
        let errnos = super::super::fault::UBLK_ERRNOS;
        let (mut n_all, mut middle) = (0, 0);
        for fs in [FsKind::Bdev, FsKind::Xfs, FsKind::Ext4] {
            let mut n = 0;
            for i in 0..20 {
                let Some(s) = generate_multi_bio_faulted(3, i, fs, Some(&UBLK), v, errnos) else {
                    continue;
                };
                n += 1;
                assert!(s.request.scatter.is_some(), "{fs:?} {i}");
                assert!(s.races.is_empty(), "{fs:?} {i}");
                assert!(errnos.contains(&s.faults[0].errno));
                assert!(encodes(&s), "{fs:?} {i}");
                // In the plugged order (what live compares) every bio is submitted.
                let p = model::run_opts(
                    &s,
                    v,
                    ModelOpts {
                        completion: BioCompletion::Plugged,
                        placement: None,
                        hibernate_resume: false,
                        virt_boundary_mask: 0,
                    },
                );
                let all = completed_bios(&p);
                let at = all.iter().position(|b| b.faulted).unwrap();
                assert!(at >= 1, "{fs:?} {i}: the fault is on the first bio");
                // With three bios or more, bios on both sides of the failed one.
                assert!(at + 1 < all.len() || all.len() == 2, "{fs:?} {i}");
                middle += (at + 1 < all.len()) as u32;
                // The call returns the bio's errno unless an earlier error (an unfaultable
                // page: -EFAULT) was recorded first.
                if s.request.fault_at.is_none() {
                    assert_eq!(
                        p.ret,
                        -s.faults[0].errno,
                        "{fs:?} {i}: {}",
                        p.trace.render()
                    );
                }
                // Deterministic.
                assert_eq!(
                    generate_multi_bio_faulted(3, i, fs, Some(&UBLK), v, errnos),
                    Some(s)
                );
            }
            assert!(n >= 10, "{fs:?}: only {n} of 20");
            n_all += n;
        }
        assert!(n_all >= 30);
        assert!(middle >= 10, "{middle}");
    }

    #[test]
    fn six_twelve_gets_block_device_writes_of_sector_segments_only() {
        // 6.12 – 6.17: bdev_iter_is_aligned refuses sub-sector segments before any bio, so the
        // faults there are on writes of sector-sized segments (two bios of <= 128 KiB), and
        // only on the block device.
        let v = crate::variant::by_name("v6.12").unwrap();
        let mut n = 0;
        for i in 0..20 {
            let Some(s) = generate_multi_bio_faulted(3, i, FsKind::Bdev, Some(&UBLK), v, &[EIO])
            else {
                continue;
            };
            n += 1;
            let sc = s.request.scatter.unwrap();
            assert_eq!(s.request.len / sc.segs as u64, SECTOR, "{i}");
        }
        assert!(n >= 10, "{n}");
        // Files: none (two bios of sector segments are more than 32 blocks: see `encodes`).
        for fs in [FsKind::Xfs, FsKind::Ext4] {
            assert!((0..20)
                .all(|i| generate_multi_bio_faulted(3, i, fs, Some(&UBLK), v, &[EIO]).is_none()));
        }
    }
}
