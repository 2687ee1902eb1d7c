// SPDX-License-Identifier: GPL-2.0-only
//! `live --worlds LIST`: of the generated scenarios run only those of some worlds (the lab's
//! `held-disk`, `bdev-held-disk`, `xfs-reflink-race`, `limits-loop` and `bdev-geometry` groups). The random
//! generator draws these worlds rarely (the reflink flag changed after open in about 2 % of XFS
//! scenarios), so a small lab run would meet none: live scans the generator's indices in order
//! and keeps the first `--count` that belong to one of the worlds, each with its own id
//! (`gen-SEED-FS-INDEX`, the same scenario `diofuzz live --seed SEED` generates at that index).

use clap::ValueEnum;
use diofuzz::generators::random::{generate_on, Disk};
use diofuzz::scenario::{FsKind, PageState, Race, Scenario, HUGE_MAXBYTES};

/// The worlds `--worlds` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum World {
    /// A page under writeback or an mmapped dirty page held during the call (super::pages,
    /// super::disk_hold).
    Held,
    /// The XFS reflink flag set or cleared after open (super::reflink_race).
    ReflinkRace,
    /// RLIMIT_FSIZE, stable writes, no O_LARGEFILE, a scaled s_maxbytes or s_bitmap_maxbytes, a
    /// zero-length request (super::limits).
    Limits,
    /// A shared block straddling EOF or a page dirty over hole blocks (super::partial).
    Partial,
    /// ext4 inline data converted after open (super::settle_race, super::settle_more).
    InlineConvert,
    /// The session 9 conversions (super::settle_more): page 0 under writeback, mmapped dirty or
    /// busy at the write, page 0 dirty with the truncate path, block 0 delayed on a block-mapped
    /// inode.
    InlineConvertHeld,
    /// ext4 inline data converted by a delalloc write, not yet written back
    /// (super::inline_delalloc).
    InlineDelalloc,
    /// Session 10: that state after a truncate to the inline size, with a scaled bitmap limit,
    /// or with a race after open; inline data converted after open with a scaled limit
    /// (super::inline_delalloc::session10_kind).
    InlineDelallocMore,
    /// A block device with stable writes (zram), the mmap writer or the i_rwsem holder
    /// (super::bdev_state).
    BdevState,
    /// A block device whose block size is not 4 KiB or whose size is not whole pages
    /// (super::bdev_geometry).
    BdevGeometry,
    /// ext4 `chattr -j` after open with a dirty, writeback or mmapped dirty page at the write
    /// (super::jflag_pages), drawn by `live --jflag-after-open`'s generator.
    JflagPages,
    /// RWF_NOWAIT on a stable-writes block device: an nvme-tcp namespace with the data digest
    /// (super::nvme_stable).
    StableNowait,
    /// Of those, the session-10 ones: a page under writeback or mmapped dirty at the call, or
    /// more than one iovec, contiguous or scattered (super::nvme_stable).
    StableNowaitHeld,
    /// ext4 `i_disksize` lag written back after open with the page at EOF still under
    /// writeback at the write (super::settle_race `Settle::WriteBackHeld`, on a
    /// `nodioread_nolock` mount), drawn by `live --settle-after-open`'s generator.
    LagWritebackHeld,
    /// Session 11: a loop device of 1 or 2 KiB logical blocks whose size is not whole logical
    /// blocks (diofuzz::generators::bdev_geometry::tail_small; super::bdev_geometry).
    TailSmall,
    /// Session 11: a page under writeback over an unwritten block inside EOF, converted when
    /// its I/O completes (ext4 on the default mount, XFS), the i_disksize lag variant among
    /// them (diofuzz::generators::writeback_unwritten, the random generator's last stage).
    WritebackUnwritten,
    /// Of those, the i_disksize lag written back after open with its writeback in flight on
    /// the default ext4 mount (super::settle_race `Settle::WriteBackHeld` with `unwritten`).
    LagWritebackUnwritten,
    /// Session 12: an ext4 or XFS file on a loop device of 1 or 2 KiB logical blocks
    /// (diofuzz::generators::file_small_lbs, the random generator's stage `file-small-lbs`).
    FileSmallLbs,
}

/// Index bound: at most this many indices per wanted scenario are generated.
const SCAN: u64 = 400;

/// Does `s` belong to world `w`?
pub fn is(w: World, s: &Scenario) -> bool {
    let x = &s.world;
    match w {
        World::Held => x
            .pages
            .iter()
            .any(|p| matches!(p, PageState::Writeback | PageState::MappedDirty)),
        World::ReflinkRace => s.races.contains(&Race::InodeFlagChangedAfterOpen(12)),
        World::InlineConvert => s.races.contains(&Race::InodeFlagChangedAfterOpen(2)),
        World::InlineConvertHeld => {
            s.races.contains(&Race::InodeFlagChangedAfterOpen(2))
                && super::settle_more::session9_kind(s).is_some()
        }
        World::InlineDelalloc => x.inline_delalloc,
        World::InlineDelallocMore => super::inline_delalloc::session10_kind(s).is_some(),
        World::Limits => {
            x.rlimit_fsize.is_some()
                || x.device.stable_writes
                || s.request.open.no_largefile
                || x.s_maxbytes != HUGE_MAXBYTES
                || x.s_bitmap_maxbytes != HUGE_MAXBYTES
                || s.request.len == 0
        }
        World::Partial => super::partial::is_partial(s),
        World::BdevState => {
            s.fs == FsKind::Bdev
                && (x.device.stable_writes
                    || s.has_race(Race::MmapRedirty)
                    || s.has_race(Race::LockContended))
        }
        World::BdevGeometry => diofuzz::generators::bdev_geometry::is_geometry(s),
        World::JflagPages => {
            diofuzz::validity::jflag_cleared_after_open(s)
                && x.pages.iter().any(|p| {
                    matches!(
                        p,
                        PageState::Dirty | PageState::Writeback | PageState::MappedDirty
                    )
                })
        }
        World::StableNowait => super::nvme_stable::wanted(s),
        World::StableNowaitHeld => {
            super::nvme_stable::wanted(s)
                && (is(World::Held, s) || s.request.nr_segs > 1 || s.request.scatter.is_some())
        }
        World::LagWritebackHeld => {
            s.races.contains(&Race::InodeFlagChangedAfterOpen(11))
                && x.pages.contains(&PageState::Writeback)
        }
        World::TailSmall => diofuzz::generators::bdev_geometry::is_tail_small(s),
        World::WritebackUnwritten => {
            diofuzz::generators::writeback_unwritten::is_writeback_unwritten(s)
        }
        World::LagWritebackUnwritten => diofuzz::generators::writeback_unwritten::is_lag(s),
        World::FileSmallLbs => diofuzz::generators::file_small_lbs::is_file_small_lbs(s),
    }
}

/// The first `count` generated scenarios of each filesystem of `fss` that belong to one of
/// `worlds`, with their ids.
pub fn generate(
    worlds: &[World],
    seed: u64,
    count: u64,
    fss: &[FsKind],
    disk: Option<&Disk>,
    cluster_bits: u8,
) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    for &fs in fss {
        let mut n = 0;
        for i in 0..count.saturating_mul(SCAN) {
            if n == count {
                break;
            }
            let s = if worlds == [World::JflagPages] && fs == FsKind::Ext4 {
                // Its own generator (`live --jflag-after-open`, the same ids).
                diofuzz::generators::flags::generate_jflag_on(seed, i, disk)
            } else if worlds == [World::LagWritebackHeld] && fs == FsKind::Ext4 {
                // Its own generator (`live --settle-after-open`, the same ids).
                diofuzz::generators::settle::generate_settle(seed, i)
            } else {
                generate_on(seed, i, fs, disk, cluster_bits)
            };
            if worlds.iter().any(|&w| is(w, &s)) {
                out.push((format!("gen-{seed}-{}-{i}", fs.name()), s));
                n += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each world is found, every kept scenario belongs to it, and its id names the index the
    /// plain generator gives the same scenario at.
    /// `--worlds inline-delalloc-more` finds each session-10 kind (the set measured in
    /// docs/live-bench.md "Session 10": seeds 1-3, count 30), every one built by the plan.
    #[test]
    fn inline_delalloc_more_finds_each_kind() {
        let mut kinds = std::collections::BTreeMap::new();
        for seed in 1..=3 {
            let v = generate(
                &[World::InlineDelallocMore],
                seed,
                30,
                &[FsKind::Ext4],
                None,
                0,
            );
            assert_eq!(v.len(), 30);
            for (id, s) in &v {
                let k = super::super::inline_delalloc::session10_kind(s).unwrap();
                let key = format!("{k} {} KiB", 1 << (s.world.blkbits - 10));
                *kinds.entry(key).or_insert(0) += 1;
                super::super::plan::plan(s).unwrap_or_else(|e| panic!("{id}: {e}"));
            }
        }
        eprintln!("{kinds:?}");
        for k in ["truncated", "scaled", "raced", "converted-scaled"] {
            assert!(kinds.keys().any(|x| x.starts_with(k)), "{k}: {kinds:?}");
        }
    }

    /// `--worlds inline-convert-held` finds every session-9 kind of conversion (the set
    /// measured in docs/live-bench.md "Session 9": seed 9, count 30).
    #[test]
    fn inline_convert_held_finds_each_kind() {
        let v = generate(&[World::InlineConvertHeld], 9, 30, &[FsKind::Ext4], None, 0);
        assert_eq!(v.len(), 30);
        let mut kinds = std::collections::BTreeMap::new();
        for (_, s) in &v {
            *kinds
                .entry(super::super::settle_more::session9_kind(s).unwrap())
                .or_insert(0) += 1;
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec![
                ("busy", 2),
                ("delalloc-block-mapped", 6),
                ("mapped-dirty", 6),
                ("truncate-dirty", 8),
                ("writeback", 8)
            ]
        );
    }

    /// `--worlds lag-writeback-held` scans the `--settle-after-open` generator (the same ids)
    /// and plans each on a layered `nodioread_nolock` filesystem with the page at EOF held.
    #[test]
    fn lag_writeback_held_from_the_settle_generator() {
        let v = generate(&[World::LagWritebackHeld], 5, 4, &[FsKind::Ext4], None, 0);
        assert_eq!(v.len(), 4);
        for (id, s) in &v {
            let i: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(
                *s,
                diofuzz::generators::settle::generate_settle(5, i),
                "{id}"
            );
            assert!(is(World::LagWritebackHeld, s));
            let p = super::super::plan::plan(s).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(p.key.dioread_lock && p.key.layered, "{id}");
            assert_eq!(
                p.key.mount_data(),
                Some("nodioread_nolock,noauto_da_alloc"),
                "{id}"
            );
            assert_eq!(p.call.pages.writeback.len(), 1, "{id}");
        }
        // The plain generator draws none.
        assert!(generate(&[World::LagWritebackHeld], 5, 1, &[FsKind::Xfs], None, 0).is_empty());
    }

    /// Session 11 (src/generators/nvme_gap.rs): of the nvme groups' scenarios (bdev-nvme-stable
    /// and bdev-nvme-mpath: stable-nowait; bdev-nvme-held: stable-nowait-held), the share whose
    /// iovec gaps at the namespace's 4 KiB virt boundary (6.12 - 6.18) and the share whose
    /// outcome the model gives differently for the masks 4095 and 0, on v6.12 and v6.18; the
    /// figures of docs/lab-bench.md "Session 11" (`cargo test -p diofuzz-tools
    /// nvme_groups_draw_gapping_writes -- --nocapture`).
    #[test]
    fn nvme_groups_draw_gapping_writes() {
        use diofuzz::generators::nvme_gap::{gaps, NVME_VIRT_BOUNDARY};
        use diofuzz::model::{run_opts, ModelOpts};
        let opts = |m| ModelOpts {
            virt_boundary_mask: m,
            ..super::super::fault::live_opts()
        };
        for (w, seeds) in [
            (World::StableNowait, [1u64, 2, 5]),
            (World::StableNowaitHeld, [1, 3, 5]),
        ] {
            for seed in seeds {
                let v = generate(&[w], seed, 30, &[FsKind::Bdev], None, 0);
                assert_eq!(v.len(), 30);
                let gap = v
                    .iter()
                    .filter(|(_, s)| gaps(s, NVME_VIRT_BOUNDARY))
                    .count();
                let differ = |name: &str| {
                    let k = diofuzz::variant::by_name(name).unwrap();
                    v.iter()
                        .filter(|(_, s)| {
                            run_opts(s, k, opts(NVME_VIRT_BOUNDARY)).ret
                                != run_opts(s, k, opts(0)).ret
                        })
                        .count()
                };
                let (d612, d618) = (differ("v6.12"), differ("v6.18"));
                println!(
                    "{w:?} seed {seed}: {gap} of 30 gap at 4095; the mask changes the outcome of {d612} on v6.12, {d618} on v6.18"
                );
                assert!(gap >= 5, "{w:?} {seed}: {gap}");
                assert!(d618 >= 2, "{w:?} {seed}: {d618}");
                for (id, s) in &v {
                    super::super::plan::plan_on(s, None).unwrap_or_else(|e| panic!("{id}: {e}"));
                }
            }
        }
    }

    /// `--worlds tail-small` (session 11) finds loop devices of 1 and 2 KiB logical blocks whose
    /// size is not whole logical blocks, and the plan builds every one: a loop device of that
    /// logical block size, the block size set where set_init_blocksize gives another, the bytes
    /// past the edge through the backing file.
    #[test]
    fn tail_small_worlds_are_planned() {
        let mut lbs = std::collections::BTreeSet::new();
        for seed in 1..=2 {
            let v = generate(&[World::TailSmall], seed, 20, &[FsKind::Bdev], None, 0);
            assert_eq!(v.len(), 20);
            for (id, s) in &v {
                let p =
                    super::super::plan::plan_on(s, None).unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(p.key.lbs_bits, s.world.lbs_bits, "{id}");
                assert!(matches!(p.key.lbs_bits, 10 | 11), "{id}");
                assert!(
                    super::super::bdev_geometry::edge(p.i_size, p.key.lbs_bits, p.key.blkbits)
                        .is_some(),
                    "{id}"
                );
                lbs.insert(s.world.lbs_bits);
            }
        }
        assert_eq!(lbs.len(), 2);
        // Never on the atomic disk (a partition must be whole logical blocks).
        let d = Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        assert!(generate(&[World::TailSmall], 1, 1, &[FsKind::Bdev], Some(&d), 0).is_empty());
    }

    /// `--worlds file-small-lbs` (session 12) finds ext4 and XFS files on devices of 1 and 2
    /// KiB logical blocks (both sizes on both filesystems, 2 KiB blocks among them), and the plan
    /// builds every one of seeds 1 and 2 (the runs of docs/live-bench.md "Session 12") on a loop
    /// device of that logical block size, made by mkfs with that sector size.
    #[test]
    fn file_small_lbs_worlds_are_planned() {
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 1..=2 {
            for fs in [FsKind::Ext4, FsKind::Xfs] {
                let v = generate(&[World::FileSmallLbs], seed, 60, &[fs], None, 0);
                assert_eq!(v.len(), 60);
                for (id, s) in &v {
                    let p = super::super::plan::plan_on(s, None)
                        .unwrap_or_else(|e| panic!("{id}: {e}"));
                    assert_eq!(p.key.lbs_bits, s.world.lbs_bits, "{id}");
                    assert!(matches!(p.key.lbs_bits, 10 | 11), "{id}");
                    assert!(!p.key.disk, "{id}");
                    let (_, args) = super::super::scratch::mkfs_argv(p.key).unwrap();
                    let lbs = 1u32 << s.world.lbs_bits;
                    if fs == FsKind::Xfs {
                        assert!(args.contains(&format!("size={lbs}")), "{id}: {args:?}");
                    }
                    kinds.insert((fs.name(), s.world.lbs_bits, s.world.blkbits));
                }
            }
        }
        for fs in ["ext4", "xfs"] {
            for (l, b) in [(10, 10), (10, 12), (11, 11), (11, 12)] {
                assert!(kinds.contains(&(fs, l, b)), "{fs} {l} {b}: {kinds:?}");
            }
        }
    }

    #[test]
    fn selects_only_the_worlds_and_keeps_the_index() {
        for (w, fs) in [
            (World::ReflinkRace, FsKind::Xfs),
            (World::Limits, FsKind::Ext4),
            (World::Held, FsKind::Xfs),
            (World::InlineConvert, FsKind::Ext4),
            (World::InlineConvertHeld, FsKind::Ext4),
            (World::InlineDelalloc, FsKind::Ext4),
            (World::BdevGeometry, FsKind::Bdev),
            (World::StableNowait, FsKind::Bdev),
        ] {
            let v = generate(&[w], 5, 6, &[fs], None, 0);
            assert_eq!(v.len(), 6, "{w:?}");
            for (id, s) in &v {
                assert!(is(w, s), "{id}");
                let i: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
                assert_eq!(*s, generate_on(5, i, fs, None, 0), "{id}");
            }
            // Some index was skipped: the world is not every scenario.
            let last: u64 = v[5].0.rsplit('-').next().unwrap().parse().unwrap();
            assert!(last > 5, "{w:?}");
        }
        // -j after open with held or dirty pages, from the jflag generator.
        let v = generate(&[World::JflagPages], 5, 4, &[FsKind::Ext4], None, 0);
        assert_eq!(v.len(), 4);
        for (id, s) in &v {
            let i: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(*s, diofuzz::generators::flags::generate_jflag(5, i), "{id}");
        }
        assert!(v.iter().any(|(_, s)| super::super::plan::plan(s).is_ok()));
        // A plain scenario is in none of them.
        let mut s = diofuzz::generators::random::generate(5, 0, FsKind::Ext4);
        s.world.pages.clear();
        s.races.clear();
        s.world.rlimit_fsize = None;
        s.world.device.stable_writes = false;
        s.request.open.no_largefile = false;
        s.world.s_maxbytes = HUGE_MAXBYTES;
        s.world.s_bitmap_maxbytes = HUGE_MAXBYTES;
        s.request.len = 4096;
        assert!(![
            World::Held,
            World::ReflinkRace,
            World::Limits,
            World::BdevGeometry
        ]
        .iter()
        .any(|&w| is(w, &s)));
    }
}
