// SPDX-License-Identifier: GPL-2.0-only
//! Scenarios with an injected bio completion error for the lab's fault groups (`diofuzz live
//! --fault-device`, `diofuzz lab --groups bdev-fault,xfs-fault,ext4-fault`): a random scenario of
//! [`super::random`] plus one `bio_endio` -EIO fault ([`Site::BioEndIo`]) on one of the bios the
//! model submits for it, picked at random. The model is run to count the bios (a fault on a bio
//! that does not exist would not fire), so the generator takes the variant the run compares with.
//!
//! A file scenario gets its request's blocks allocated before the call (holes under the range
//! become written blocks below EOF and unwritten ones above it, dirty pages there clean): a
//! device-level fault needs the bio's sectors known before the call (FIEMAP after the set-up),
//! which an allocation during the call would not give. Other blocks keep the random layout.

use super::random::{generate_unheld, Disk, Rng};
use crate::errno::{EINVAL, EIO, ENOMEM, ENOSPC, ETIMEDOUT};
use crate::model::{self, Ev};
use crate::scenario::{Extent, Fault, FsKind, PageState, Scenario, Site, PAGE_SIZE};
use crate::variant::Variant;

/// XFS functions whose writes go to CoW-fork blocks allocated during the call
/// (xfs_direct_write_iomap_begin -> xfs_reflink_allocate_cow, and the software atomic write's
/// xfs_atomic_write_cow_iomap_begin, 7.3.4 fs/xfs/xfs_iomap.c).
pub const COW_PATHS: [&str; 2] = [
    "xfs_reflink_allocate_cow",
    "xfs_atomic_write_cow_iomap_begin",
];

/// The `bio_endio` errnos the lab's atomic scsi_debug disk gives a REQ_ATOMIC bio through its
/// error-injection rule's sense data (tools/src/live/bioerr.rs: ILLEGAL REQUEST → BLK_STS_IOERR;
/// DATA PROTECT, ASC 0x27 ASCQ 0x07 → BLK_STS_NOSPC; `scsi_check_sense`,
/// `scsi_io_completion_action`, `scsi_result_to_blk_status`, read in 7.3.4). null_blk's bad
/// blocks give -EIO only.
pub const SCSI_ERRNOS: &[i64] = &[EIO, ENOSPC];

/// The `bio_endio` errnos the lab's ublk fault device gives any bio (its server completes the
/// request with -errno; `__ublk_complete_rq` -> errno_to_blk_status): the model's bio errnos but
/// -EAGAIN (validity rule F2: a REQ_NOWAIT bio only). Not REQ_ATOMIC bios: ublk has no atomic
/// write limits.
pub const UBLK_ERRNOS: &[i64] = &[EIO, ENOSPC, ETIMEDOUT, EINVAL, ENOMEM];

/// How many random scenarios are tried for one with a bio before giving up (the last one is
/// returned without a fault).
pub(crate) const TRIES: u64 = 32;

/// A bio the model submitted that reached the device's completion (`bio_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelBio {
    /// File (or device) position and length.
    pub pos: u64,
    pub len: u64,
    /// REQ_ATOMIC.
    pub atomic: bool,
    /// It carried the injected `bio_endio` fault.
    pub faulted: bool,
    /// Its completion status (0, or -errno).
    pub status: i64,
}

/// The bios `x` submitted, in order. A bio the block layer rejected before the driver (6.18+
/// `bio_split_io_at`) is listed too (its status comes from there, not from the fault site).
pub fn completed_bios(x: &model::Execution) -> Vec<ModelBio> {
    let mut out = Vec::new();
    let mut faulted = false;
    for e in &x.trace.events {
        match e {
            Ev::Fault(Site::BioEndIo, _) => faulted = true,
            Ev::Bio {
                pos,
                len,
                atomic,
                status,
                ..
            } => {
                out.push(ModelBio {
                    pos: *pos,
                    len: *len,
                    atomic: *atomic,
                    faulted,
                    status: *status,
                });
                faulted = false;
            }
            _ => {}
        }
    }
    out
}

/// The bios that carry an injected `bio_endio` fault in `x`: (position, length).
pub fn faulted_bios(x: &model::Execution) -> Vec<(u64, u64)> {
    completed_bios(x)
        .into_iter()
        .filter(|b| b.faulted)
        .map(|b| (b.pos, b.len))
        .collect()
}

/// Do the faulted bios of `x` reach the device? A completion error of the device can only
/// happen on a bio the block layer passed to it; the model takes the `bio_endio` fault before
/// the block layer's own checks (`bio_status`: before blk_validate_atomic_write_op_size), so a
/// fault on a bio that the unfaulted run (`bare`) shows failing there (-EINVAL: an atomic bio off
/// the device's unit, 6.18+ `bio_split_io_at`) is not a real world.
pub fn faults_reach_the_device(x: &model::Execution, bare: &model::Execution) -> bool {
    let b = completed_bios(bare);
    completed_bios(x).iter().enumerate().all(|(i, f)| {
        !f.faulted
            || b.get(i)
                .is_some_and(|u| u.pos == f.pos && u.len == f.len && u.status == 0)
    })
}

/// Is the faulted bio of `x` its first REQ_ATOMIC bio (what a fault rule on the WRITE ATOMIC(16)
/// opcode of an atomic-capable SCSI disk fails)?
pub fn fault_on_first_atomic_bio(x: &model::Execution) -> bool {
    let b = completed_bios(x);
    let first = b.iter().position(|b| b.atomic);
    b.iter().filter(|b| b.faulted).count() == 1 && first.is_some_and(|i| b[i].faulted)
}

/// Where a write's data lands: O_APPEND / RWF_APPEND write at EOF (RWF_NOAPPEND undoes
/// O_APPEND).
pub fn landing(s: &Scenario) -> u64 {
    let q = &s.request;
    if q.rwf.append || (q.open.append && !q.rwf.noappend) {
        s.world.i_size
    } else {
        q.pos
    }
}

/// Allocate the request's blocks of a file scenario before the call (see the module doc).
pub(crate) fn allocate_request_range(s: &mut Scenario) {
    if s.fs == FsKind::Bdev {
        return;
    }
    let bs = 1u64 << s.world.blkbits;
    let i_size = s.world.i_size;
    let (pos, len) = (landing(s), s.request.len);
    let first = pos / bs;
    let last = (pos + len).div_ceil(bs);
    let w = &mut s.world;
    if w.blocks.len() < last as usize {
        w.blocks.resize(last as usize, Default::default());
    }
    for b in first..last {
        let off = b * bs;
        let blk = &mut w.blocks[b as usize];
        if blk.shared {
            continue;
        }
        match blk.kind {
            Extent::Hole | Extent::Delalloc => {
                blk.kind = if off < i_size {
                    Extent::Written
                } else {
                    Extent::Unwritten
                };
            }
            Extent::Written | Extent::Unwritten => {}
        }
    }
    // A dirty page's delalloc blocks are written now: the page is clean.
    for p in (first * bs / PAGE_SIZE)..(last * bs).div_ceil(PAGE_SIZE) {
        if let Some(st @ PageState::Dirty) = w.pages.get_mut(p as usize) {
            *st = PageState::Clean;
        }
    }
    // Delalloc blocks left elsewhere under a page made clean lose their dirty page: write them.
    for (i, blk) in w.blocks.iter_mut().enumerate() {
        let p = (i as u64 * bs / PAGE_SIZE) as usize;
        if blk.kind == Extent::Delalloc && !matches!(w.pages.get(p), Some(PageState::Dirty)) {
            blk.kind = Extent::Written;
        }
    }
}

/// Scenario `index` of `seed` for `fs` on `disk` (the fault device's geometry) with one
/// `bio_endio` -EIO fault on a random bio of its execution under `v` — on a disk with atomic
/// write units (the scsi_debug disk, whose fault rule matches the WRITE ATOMIC(16) opcode) on its
/// first REQ_ATOMIC bio. `None` when no scenario of [`TRIES`] submits such a bio.
pub fn generate_faulted(
    seed: u64,
    index: u64,
    fs: FsKind,
    disk: Option<&Disk>,
    v: &'static Variant,
) -> Option<Scenario> {
    let atomic_disk = disk.is_some_and(|d| d.awu_max > 0);
    let errnos = if atomic_disk { SCSI_ERRNOS } else { &[EIO] };
    generate_faulted_with(seed, index, fs, disk, v, errnos)
}

/// [`generate_faulted`] with the fault's errno drawn from `errnos` (what the fault device gives:
/// [`UBLK_ERRNOS`] on a ublk fault device).
pub fn generate_faulted_with(
    seed: u64,
    index: u64,
    fs: FsKind,
    disk: Option<&Disk>,
    v: &'static Variant,
    errnos: &[i64],
) -> Option<Scenario> {
    let mut r = Rng::new(seed ^ index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xB10E_0D10);
    for t in 0..TRIES {
        let mut s = generate_unheld(seed ^ 0xFA17, index * TRIES + t, fs, disk, 0);
        allocate_request_range(&mut s);
        if !crate::validity::is_valid(&s) {
            continue;
        }
        let bare = model::run(&s, v);
        let bios = completed_bios(&bare);
        let atomic_disk = disk.is_some_and(|d| d.awu_max > 0);
        let nth = if atomic_disk {
            match bios.iter().position(|b| b.atomic) {
                Some(i) => i,
                None => continue,
            }
        } else if bios.is_empty() {
            continue;
        } else {
            r.below(bios.len().min(255) as u64) as usize
        };
        s.faults.push(Fault {
            site: Site::BioEndIo,
            nth: nth.min(255) as u8,
            errno: fault_errno(seed, index, errnos),
        });
        // The fault must fire (it does unless the set of bios depends on an earlier one), and
        // its bio must go where the set-up put the data: not through XFS's CoW fork (a shared
        // block, a software atomic write), whose blocks are allocated in the call.
        let x = model::run(&s, v);
        if faulted_bios(&x).is_empty()
            || !faults_reach_the_device(&x, &bare)
            || (atomic_disk && !fault_on_first_atomic_bio(&x))
            || COW_PATHS.iter().any(|f| x.trace.entered(f))
            || !crate::validity::is_valid(&s)
            // The request's blocks allocated up to block 63: past the input format's 32 blocks
            // (13 % of the atomic disk's XFS worlds, session 10) `live --save` and `repro`
            // could not load it back.
            || s.encode().is_err()
        {
            continue;
        }
        return Some(s);
    }
    None
}

/// The errno of scenario `index`'s fault: -EIO on the null_blk device; on the atomic disk one of
/// [`SCSI_ERRNOS`], on the ublk device one of [`UBLK_ERRNOS`], drawn from a stream of its own
/// (the scenario and its `nth` are what they were before the devices gave other errnos).
pub(crate) fn fault_errno(seed: u64, index: u64, errnos: &[i64]) -> i64 {
    if errnos.len() < 2 {
        return errnos.first().copied().unwrap_or(EIO);
    }
    let mut r = Rng::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xE5_0C0D);
    errnos[r.below(errnos.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faulted_scenarios_fire_their_fault() {
        let v = crate::variant::by_name("v7.3").expect("v7.3");
        for fs in [FsKind::Bdev, FsKind::Xfs, FsKind::Ext4] {
            let mut n = 0;
            for i in 0..60 {
                let Some(s) = generate_faulted(5, i, fs, None, v) else {
                    continue;
                };
                n += 1;
                assert_eq!(s.faults.len(), 1);
                assert_eq!((s.faults[0].site, s.faults[0].errno), (Site::BioEndIo, EIO));
                let x = model::run(&s, v);
                let f = faulted_bios(&x);
                assert_eq!(f.len(), 1, "{fs:?} {i}: {:?}", s);
                // The faulted bio is the nth completed one.
                let all = completed_bios(&x);
                assert_eq!(
                    all.iter().position(|b| b.faulted),
                    Some(s.faults[0].nth as usize)
                );
                // Deterministic.
                assert_eq!(generate_faulted(5, i, fs, None, v), Some(s));
            }
            assert!(n > 30, "{fs:?}: only {n} of 60 faulted scenarios");
        }
    }

    #[test]
    fn atomic_disk_faults_hit_the_first_atomic_bio() {
        let v = crate::variant::by_name("v7.3").expect("v7.3");
        let d = Disk {
            awu_min: 1024,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        let mut errnos = std::collections::BTreeSet::new();
        for fs in [FsKind::Bdev, FsKind::Xfs, FsKind::Ext4] {
            let mut n = 0;
            for i in 0..40 {
                let Some(s) = generate_faulted(5, i, fs, Some(&d), v) else {
                    continue;
                };
                n += 1;
                let x = model::run(&s, v);
                assert!(fault_on_first_atomic_bio(&x), "{fs:?} {i}");
                assert!(s.request.rwf.atomic);
                assert!(SCSI_ERRNOS.contains(&s.faults[0].errno));
                errnos.insert(s.faults[0].errno);
                // The call fails with the bio's errno (no retry turns -ENOSPC into something else).
                assert_eq!(x.ret, -s.faults[0].errno, "{fs:?} {i}");
            }
            assert!(n > 20, "{fs:?}: only {n} of 40");
        }
        // Both of the disk's errnos are drawn.
        assert_eq!(errnos.into_iter().collect::<Vec<_>>(), SCSI_ERRNOS.to_vec());
    }

    #[test]
    fn ublk_faults_draw_every_device_errno_with_the_same_scenarios() {
        let v = crate::variant::by_name("v7.3").expect("v7.3");
        let d = Disk {
            awu_min: 0,
            awu_max: 0,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        let mut errnos = std::collections::BTreeSet::new();
        for fs in [FsKind::Bdev, FsKind::Xfs, FsKind::Ext4] {
            for i in 0..30 {
                let eio = generate_faulted(5, i, fs, Some(&d), v);
                let u = generate_faulted_with(5, i, fs, Some(&d), v, UBLK_ERRNOS);
                let (Some(eio), Some(mut u)) = (eio, u) else {
                    continue;
                };
                assert!(crate::validity::is_valid(&u), "{fs:?} {i}");
                errnos.insert(u.faults[0].errno);
                // Only the errno differs from the null_blk scenario.
                u.faults[0].errno = EIO;
                assert_eq!(u, eio, "{fs:?} {i}");
            }
        }
        assert_eq!(
            errnos.into_iter().collect::<Vec<_>>(),
            [EIO, ENOMEM, EINVAL, ENOSPC, ETIMEDOUT]
        );
    }

    #[test]
    fn request_range_is_allocated_for_files() {
        let v = crate::variant::by_name("v7.3").expect("v7.3");
        for i in 0..60 {
            let Some(s) = generate_faulted(9, i, FsKind::Xfs, None, v) else {
                continue;
            };
            let bs = 1u64 << s.world.blkbits;
            let pos = landing(&s);
            for b in pos / bs..(pos + s.request.len).div_ceil(bs) {
                let k = s.world.blocks[b as usize];
                assert!(
                    k.shared || matches!(k.kind, Extent::Written | Extent::Unwritten),
                    "{i}: block {b} is {:?}",
                    k.kind
                );
            }
        }
    }
}
