// SPDX-License-Identifier: GPL-2.0-only
//! Where XFS put the scenario's extents (docs/lab.md "Class C, physical placement").
//!
//! The model takes an extent's disk block to be its file block. The kernel reads the disk block
//! in one place on the paths compared: `xfs_bmap_hw_atomic_write_possible` (fs/xfs/xfs_iomap.c,
//! 6.16 – 7.3.4) takes the hardware atomic path only when the mapping's *physical* start block
//! is aligned to its length in blocks. So an XFS atomic write whose extent the allocator placed
//! otherwise took the other path than the model said (gen-7-xfs-88 of `held-disk` on 7.3.4).
//!
//! Live now reads the placement with FIEMAP after the set-up ([`measure`], from the step
//! between set-up and call) and the model runs again with it after the call
//! ([`diofuzz::model::ModelOpts::placement`], read by the model's
//! `xfs_bmap_hw_atomic_write_possible`); blocks the call allocates keep the model's assumption.
//! The placement is the current scenario's, kept per thread like the fault device's completion
//! order ([`super::fault::live_opts`] reads both).

use super::fiemap::{
    fiemap, Extent4, FIEMAP_EXTENT_DATA_INLINE, FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_ENCODED,
    FIEMAP_EXTENT_NOT_ALIGNED, FIEMAP_EXTENT_UNKNOWN,
};
use diofuzz::model::{Execution, Placement};
use diofuzz::scenario::{FsKind, Scenario};
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::path::Path;

thread_local! {
    static CURRENT: Cell<Option<Placement>> = const { Cell::new(None) };
}

/// The placement measured for the scenario being run (None: not measured, the model's
/// assumption).
pub fn current() -> Option<Placement> {
    CURRENT.with(|c| c.get())
}

/// Forget the last scenario's placement (before each scenario).
pub fn clear() {
    set(None);
}

/// Take `p` as the current scenario's placement (what [`measure`] does with FIEMAP's; tests).
pub fn set(p: Option<Placement>) {
    CURRENT.with(|c| c.set(p));
}

/// Whether a scenario's result can depend on where its blocks are: an XFS file's atomic write
/// (the hardware path's alignment test). Elsewhere nothing is measured.
pub fn applies(s: &Scenario) -> bool {
    s.fs == FsKind::Xfs && s.request.rwf.atomic
}

/// The disk block of each file block from FIEMAP's extents (bytes), `bs` the block size. Blocks
/// in no extent, or in one whose disk address FIEMAP does not give (delayed, inline, encoded,
/// unknown, not aligned), stay unknown; so do those past [`Placement::MAX_EXTENTS`] extents.
pub fn from_extents(extents: &[Extent4], bs: u64) -> Placement {
    let bad = FIEMAP_EXTENT_UNKNOWN
        | FIEMAP_EXTENT_DELALLOC
        | FIEMAP_EXTENT_ENCODED
        | FIEMAP_EXTENT_NOT_ALIGNED
        | FIEMAP_EXTENT_DATA_INLINE;
    let mut p = Placement::unknown();
    for &(l, ph, n, _) in extents.iter().filter(|e| e.3 & bad == 0) {
        // Whole blocks only (XFS's extents are; a partial one would not be a block mapping).
        let first = l.div_ceil(bs);
        let end = (l + n) / bs;
        if end > first && !p.place(first, (ph + (first * bs - l)) / bs, end - first) {
            break;
        }
    }
    p
}

/// Read the placement of the scenario's file at `path` (after the set-up, before the call) when
/// it [`applies`]. A file FIEMAP cannot map (a filesystem already shut down, a name already gone)
/// leaves it unmeasured: the model keeps its assumption, as before.
pub fn measure(s: &Scenario, path: &Path) {
    if !applies(s) {
        return;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    if let Ok(e) = fiemap(f.as_raw_fd()) {
        CURRENT.with(|c| c.set(Some(from_extents(&e, 1 << s.world.blkbits))));
    }
}

/// The measured placement as "file block->disk block" pairs (for the note and `--verbose`).
pub fn describe(p: &Placement) -> String {
    let mut e: Vec<(u64, u64, u64)> = p.extents.iter().copied().filter(|e| e.2 > 0).collect();
    e.sort();
    e.iter()
        .flat_map(|&(f, d, n)| (0..n).map(move |i| format!("{}->{}", f + i, d + i)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kernel functions an execution entered, in order.
fn entered(x: &Execution) -> Vec<&'static str> {
    x.trace
        .events
        .iter()
        .filter_map(|e| match e {
            diofuzz::model::trace::Ev::Enter(f, ..) => Some(*f),
            _ => None,
        })
        .collect()
}

/// The note of an outcome whose model took another path with the measured placement than with
/// the assumed one (`assumed`: the model's execution without it).
pub fn note(assumed: &Execution, placed: &Execution) -> Option<String> {
    let p = current()?;
    if entered(assumed) == entered(placed) {
        return None;
    }
    Some(format!(
        "placement: XFS put the file blocks at disk blocks {} (FIEMAP after the set-up); the model compared with that placement, which changes its path (xfs_bmap_hw_atomic_write_possible; docs/lab.md \"Class C\")",
        describe(&p)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{BlockState, Extent};

    #[test]
    fn disk_blocks_come_from_the_extents_and_unknown_elsewhere() {
        let bs = 4096;
        // File blocks 0-1 at disk block 9, block 3 delayed, block 4 unwritten at disk block 100.
        let e = [
            (0, 9 * bs, 2 * bs, 0),
            (3 * bs, 0, bs, FIEMAP_EXTENT_DELALLOC),
            (4 * bs, 100 * bs, bs, 0x800),
        ];
        let p = from_extents(&e, bs);
        assert_eq!((p.of(0), p.of(1)), (Some(9), Some(10)));
        assert_eq!((p.of(2), p.of(3)), (None, None));
        assert_eq!(p.of(4), Some(100));
        assert_eq!(p.of(31), None);
        assert_eq!(describe(&p), "0->9 1->10 4->100");
        // Past the input format's 32 blocks (the fault groups' worlds allocate their request's
        // blocks before the call: gen-1-xfs-5 of xfs-disk-fault wrote blocks 48-63).
        let far = from_extents(&[(48 * bs, 8195 * bs, 16 * bs, 0x1)], bs);
        assert_eq!(
            (far.of(47), far.of(48), far.of(63)),
            (None, Some(8195), Some(8210))
        );
        assert_eq!(far.of(64), None);
    }

    /// An XFS atomic write over two unwritten blocks at file block 6: the model assumes disk
    /// block 6 (aligned to 2, the hardware path on a device with atomic units); placed at an odd
    /// disk block, `xfs_bmap_hw_atomic_write_possible` says no and the write takes the CoW path
    /// (the shape of gen-7-xfs-88 in docs/lab-bench.md).
    #[test]
    fn a_misplaced_extent_turns_the_hardware_path_into_the_cow_one() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Scenario::default()
        };
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        s.world.i_size = 8 * 4096;
        s.world.blocks = vec![BlockState::default(); 8];
        for b in &mut s.world.blocks[6..8] {
            b.kind = Extent::Unwritten;
        }
        s.request.open.direct = true;
        s.request.rwf.atomic = true;
        s.request.pos = 6 * 4096;
        s.request.len = 8192;
        let run = |placement| {
            diofuzz::model::run_opts(
                &s,
                v,
                diofuzz::model::ModelOpts {
                    placement,
                    ..Default::default()
                },
            )
        };
        let assumed = run(None);
        let mut aligned = Placement::unknown();
        aligned.place(6, 40, 2);
        let mut odd = Placement::unknown();
        odd.place(6, 41, 2);
        let cow = |x: &Execution| entered(x).contains(&"xfs_atomic_write_cow_iomap_begin");
        assert!(!cow(&assumed), "{:?}", entered(&assumed));
        assert_eq!(
            entered(&run(Some(aligned))),
            entered(&assumed),
            "aligned: as assumed"
        );
        let placed = run(Some(odd));
        assert!(cow(&placed), "{:?}", entered(&placed));
        assert_eq!((assumed.ret, placed.ret), (8192, 8192));
    }
}
