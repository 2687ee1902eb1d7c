// SPDX-License-Identifier: GPL-2.0-only
//! Behaviour of the ext4 model (with the iomap and VFS paths it takes) per variant: the truth
//! tables of docs/model.md, the fstests atomic-write checks A1-A7 / E1-E4 / E6 on v6.13 and v6.18,
//! per-variant expectations, and the seed thread's own argument.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{base, bigalloc, hole, unwritten, with, written, KIB};
use diofuzz::model::{run, Execution, TAG_NEW};
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;
use diofuzz::seeds;

fn seed(name: &str) -> Scenario {
    seeds::all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .scenario
}

/// Every variant whose ext4 supports atomic writes (the fstests checks run on each): derived from
/// the variants' own `ext4_atomic` switch, so a new variant is covered without editing this file.
fn atomic_variants() -> Vec<&'static str> {
    let v: Vec<&str> = diofuzz::variant::VARIANTS
        .iter()
        .filter(|v| v.ext4_atomic)
        .map(|v| v.name)
        .collect();
    assert!(
        v.len() >= 11,
        "expected the ext4 atomic variants, got {v:?}"
    );
    v
}

// ---------------------------------------------------------------- A1-A7

#[test]
fn a1_statx_units() {
    for var in atomic_variants() {
        let x = go(&base(), var);
        assert_eq!(
            (x.statx_unit_min, x.statx_unit_max),
            (4096, 4096),
            "{var}: ext4 without bigalloc: min = max = block size"
        );
    }
    // bigalloc: max = min(cluster, device max) from 6.16; one block before.
    let s = bigalloc(|_| {});
    assert_eq!(
        (
            go(&s, "v6.18").statx_unit_min,
            go(&s, "v6.18").statx_unit_max
        ),
        (4096, 16384)
    );
    assert_eq!(go(&s, "v6.13").statx_unit_max, 4096);
    // device min above the block size: min = device min
    let s = bigalloc(|s| s.world.device.awu_min = 8192);
    assert_eq!(go(&s, "v6.18").statx_unit_min, 8192);
    // no atomic device: no support reported
    let s = with(|s| s.world.device = Device::default());
    for var in atomic_variants() {
        assert_eq!(go(&s, var).statx_unit_min, 0);
    }
    // 6.12 has no ext4 atomic writes at all
    assert_eq!(go(&base(), "v6.12").statx_unit_min, 0);
}

#[test]
fn a2_to_a7_errnos() {
    let cases: &[(&str, i64)] = &[
        ("a2_len_below_min", -EINVAL),
        ("a2_len_above_max", -EINVAL),
        ("a4_pos_unaligned", -EINVAL),
        ("a5_two_iovecs", -EINVAL),
        ("a6_no_odirect", -EOPNOTSUPP),
        ("a7_read_atomic", -EOPNOTSUPP),
        ("a7_no_atomic_device", -EOPNOTSUPP),
    ];
    for var in atomic_variants() {
        for (name, want) in cases {
            let x = go(&seed(name), var);
            assert_eq!(x.ret, *want, "{name} on {var}");
            assert!(check(&x).is_empty(), "{name} on {var}: {:?}", check(&x));
        }
    }
    // A3 needs a multi-block unit: 12 KiB with bigalloc on 6.16+ is not a power of two.
    assert_eq!(go(&seed("a3_len_not_pow2"), "v6.18").ret, -EINVAL);
}

#[test]
fn a2_length_bounds_are_checked_before_the_generic_checks() {
    // Two iovecs AND too long: ext4 reports the length first (same errno, but through the bounds check).
    let s = with(|s| {
        s.request.len = 8192;
        s.request.nr_segs = 2;
    });
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert!(!x.trace.entered("generic_atomic_write_valid"));
}

#[test]
fn a6_fcntl_clearing_odirect_after_open() {
    // O_DIRECT at open, cleared by fcntl: c3be7ebbbce5 checks IOCB_DIRECT per I/O.
    let s = with(|s| s.races = vec![Race::FcntlToggleDirect]);
    assert_eq!(go(&s, "v6.18").ret, -EOPNOTSUPP);
}

// ---------------------------------------------------------------- E1-E4, E6

fn assert_clean_atomic(x: &Execution, len: u64, what: &str) {
    assert_eq!(x.ret, len as i64, "{what}: E1 full length");
    assert_eq!(x.buffered_calls, 0, "{what}: E2 never buffered");
    let data: Vec<_> = x.bios.iter().filter(|b| !b.zero).collect();
    assert_eq!(data.len(), 1, "{what}: E3 one bio");
    assert!(
        data[0].atomic && data[0].len == len,
        "{what}: E3 REQ_ATOMIC over the full length"
    );
    assert!(check(x).is_empty(), "{what}: {:?}", check(x));
}

#[test]
fn e1_e3_e4_layouts() {
    let layouts: Vec<(&str, Scenario)> = vec![
        ("mapped", base()),
        ("unwritten", with(|s| s.world.blocks[0] = unwritten())),
        ("hole inside EOF", with(|s| s.world.blocks[0] = hole())),
        ("EOF extending", with(|s| s.request.pos = 16 * KIB)),
        ("beyond EOF with a gap", with(|s| s.request.pos = 32 * KIB)),
    ];
    for var in atomic_variants() {
        for (what, s) in &layouts {
            let x = go(s, var);
            assert_clean_atomic(&x, 4096, &format!("{what} on {var}"));
            // E4: the same bytes as an equivalent non-atomic write.
            let mut plain = s.clone();
            plain.request.rwf.atomic = false;
            let y = go(&plain, var);
            assert_eq!(
                x.after.cached, y.after.cached,
                "{what} on {var}: same bytes as a plain write"
            );
            assert_eq!(x.after.i_size, y.after.i_size);
        }
    }
    // bigalloc multi-block (6.16+): written extent, and a mixed mapping through the slow path
    for s in [seed("e3_bigalloc_full"), seed("e3_bigalloc_mixed")] {
        let x = go(&s, "v6.18");
        assert_clean_atomic(&x, 16 * KIB, "bigalloc");
        assert!(x.after.cached[..32].iter().all(|&t| t == TAG_NEW));
    }
}

#[test]
fn e6_out_of_space_is_all_or_nothing() {
    for var in atomic_variants() {
        let x = go(&seed("e6_enospc"), var);
        assert_eq!(x.ret, -ENOSPC, "{var}");
        assert_eq!(x.before.cached, x.after.cached, "{var}: no byte changed");
        assert_eq!(x.after.i_size, x.before.i_size, "{var}: size unchanged");
        assert!(check(&x).is_empty(), "{var}: {:?}", check(&x));
    }
    // One ENOSPC is retried after a commit (ext4_should_retry_alloc) and then succeeds.
    let s = with(|s| {
        s.request.pos = 16 * KIB;
        s.faults = vec![Fault {
            site: Site::Ext4MapBlocksCreate,
            nth: 0,
            errno: ENOSPC,
        }];
    });
    assert_eq!(go(&s, "v6.18").ret, 4096);
}

// ---------------------------------------------------------------- the seed thread

/// Dave Chinner's point, as a test: on thread-v1 an atomic write whose ->iomap_end returns
/// -ENOTBLK after zero progress reaches the buffered path with no WARN (the WARN only guards an
/// -ENOTBLK *returned* by iomap_dio_rw, and that one is consumed); v6.13 does not stay silent.
#[test]
fn thread_v1_enotblk_after_zero_progress_goes_buffered_silently() {
    let s = seed("thread_s4_append_zero_progress");
    let x = go(&s, "thread-v1");
    assert!(
        x.trace
            .decided("->iomap_end returned -ENOTBLK after zero progress"),
        "{}",
        x.trace.render()
    );
    assert!(x
        .trace
        .decided("__iomap_dio_rw consumed -ENOTBLK (short write)"));
    assert!(x.buffered_calls > 0, "reaches generic_perform_write");
    assert!(x.warns.is_empty(), "and no WARN fires");
    assert!(props(&x).contains(&Prop::O1));
    // thread v2 (-EIO without WARN) changes nothing here either.
    let x2 = go(&s, "thread-v2");
    assert!(x2.buffered_calls > 0 && x2.warns.is_empty());
    // v6.13: ->iomap_end no longer returns -ENOTBLK for atomic writes, and the fallback WARNs.
    let y = go(&s, "v6.13");
    assert!(!y
        .trace
        .decided("->iomap_end returned -ENOTBLK after zero progress"));
    assert!(
        y.warns
            .iter()
            .any(|w| w.contains("before the buffered fallback")),
        "{:?}",
        y.warns
    );
    assert!(props(&y).contains(&Prop::O7));
}

#[test]
fn thread_s2_invalidation_failure_per_variant() {
    let s = seed("thread_s2_invalidate_busy");
    // 9e0933c21c12 (6.13+): atomic writes get -EAGAIN, nothing written, nothing buffered.
    for var in ["thread-v1", "v6.13", "v6.18"] {
        let x = go(&s, var);
        assert_eq!(x.ret, -EAGAIN, "{var}");
        assert_eq!(x.buffered_calls, 0, "{var}");
        assert!(check(&x).is_empty(), "{var}: {:?}", check(&x));
    }
    // A non-atomic write falls back to buffered IO: allowed, no finding.
    let x = go(&seed("thread_s2_nonatomic_fallback"), "v6.18");
    assert_eq!(x.ret, 4096);
    assert!(x.buffered_calls > 0);
    assert!(check(&x).is_empty(), "{:?}", check(&x));
}

#[test]
fn thread_s3_indirect_hole() {
    let s = seed("thread_s3_indirect_hole");
    // 6.13-6.15: capability ignores the inode format: -ENOTBLK from ext4_iomap_alloc is consumed
    // and the atomic write is written buffered (WARN on v6.13, silent on thread-v1).
    let x = go(&s, "v6.13");
    assert!(x
        .trace
        .decided("S3: ext4_iomap_alloc: hole in an indirect inode -> -ENOTBLK"));
    assert!(x.buffered_calls > 0 && !x.warns.is_empty());
    let x = go(&s, "thread-v1");
    assert!(x.buffered_calls > 0 && x.warns.is_empty());
    // 1c972b1d13dd (6.16+): no FMODE_CAN_ATOMIC_WRITE for a non-extent inode.
    assert_eq!(go(&s, "v6.16").ret, -EOPNOTSUPP);
    // ... unless the inode lost its EXTENTS flag after open (migration): then the 6.16+
    // allocation slow path zero-fills the hole (WARN: no bigalloc) instead of -ENOTBLK.
    let mut s2 = s.clone();
    s2.races = vec![Race::InodeFlagChangedAfterOpen(0)];
    let x = go(&s2, "v6.18");
    assert!(!x
        .trace
        .decided("S3: ext4_iomap_alloc: hole in an indirect inode -> -ENOTBLK"));
    assert!(
        x.warns.iter().any(|w| w.contains("!bigalloc")),
        "{}",
        x.trace.render()
    );
}

#[test]
fn s1_should_use_dio_false_is_silent_in_every_atomic_variant() {
    for var in ["thread-v1", "thread-v3", "v6.13", "v6.16", "v6.18", "v7.1"] {
        let x = go(&seed("thread_s1_data_journal"), var);
        assert!(x.buffered_calls > 0 && x.warns.is_empty(), "{var}");
        assert_eq!(props(&x), vec![Prop::O1], "{var}");
    }
}

// ---------------------------------------------------------------- per-variant switches

#[test]
fn v6_15_iomap_end_error_overrides_the_actor_error() {
    // Non-atomic write misaligned to a 4 KiB logical block: the actor fails with -EINVAL.
    let s = seed("nonatomic_unaligned_lbs");
    let x = go(&s, "v6.14");
    assert_eq!(x.ret, -EINVAL, "6.14: the actor's error wins");
    assert_eq!(x.buffered_calls, 0);
    for var in ["v6.15", "v6.16", "v6.17"] {
        let x = go(&s, var);
        assert!(
            x.trace
                .decided("->iomap_end error overrides the actor's error"),
            "{var}"
        );
        assert_eq!(
            x.ret, s.request.len as i64,
            "{var}: silently written buffered"
        );
        assert!(x.buffered_calls > 0, "{var}");
    }
    // 963845748fe6 (6.18): no ->iomap_end, the -EINVAL reaches the caller.
    assert_eq!(go(&s, "v6.18").ret, -EINVAL);
}

#[test]
fn v6_12_iomap_end_enotblk_on_zero_progress() {
    // 6.12 ext4_iomap_end: -ENOTBLK for WRITE|DIRECT with written == 0.
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.request.open.append = true;
        s.world.i_size = 4608;
        s.world.blocks = vec![written()];
        s.faults = vec![Fault {
            site: Site::DioGetPages,
            nth: 0,
            errno: ENOMEM,
        }];
    });
    let x = go(&s, "v6.12");
    assert!(x
        .trace
        .decided("->iomap_end returned -ENOTBLK after zero progress"));
    assert!(x.buffered_calls > 0);
}

#[test]
fn atomic_length_rule_per_variant() {
    // A one-block atomic write through a mapping that covers less than a block from pos
    // (unaligned O_APPEND position): 6.13 rule "length == fs block size" -> EINVAL.
    let s = with(|s| {
        s.request.open.append = true;
        s.world.i_size = 4608;
        s.world.blocks = vec![written(), written()];
    });
    let x = go(&s, "v6.13");
    assert_eq!(x.ret, -EINVAL);
    assert!(x
        .trace
        .decided("iomap_dio_bio_iter: atomic length != fs block size"));
    // 6.15 (786e3080cbe9 + 370a6de7651b): the rule is "one mapping covers the request".
    let y = go(&s, "v6.15");
    assert_eq!(y.ret, -EINVAL);
    assert!(!y
        .trace
        .decided("iomap_dio_bio_iter: atomic length != fs block size"));
    assert!(y
        .trace
        .decided("iomap_dio_bio_iter: atomic mapping does not cover the request"));
}

#[test]
fn rlimit_truncation_makes_a_short_atomic_write() {
    // generic_write_checks truncates after generic_atomic_write_valid (S6): a short "successful"
    // atomic write in 6.16+ with bigalloc.
    let x = go(&seed("rlimit_truncates_atomic"), "v6.18");
    assert_eq!(x.ret, 8192);
    assert!(props(&x).contains(&Prop::O2));
}

#[test]
fn dax_dispatch_before_atomic_checks() {
    // A real ext4 DAX inode: its device (pmem) has no atomic units, so FMODE_CAN_ATOMIC_WRITE is
    // never set and RWF_ATOMIC is refused before the write path (validity rule W1).
    let real = seed("dax_atomic");
    assert!(diofuzz::validity::is_valid(&real));
    for v in ["v6.13", "v6.16", "v6.17", "v7.1"] {
        let x = go(&real, v);
        assert_eq!(x.ret, -EOPNOTSUPP, "{v}");
        assert!(check(&x).is_empty(), "{v}");
    }
    // The branch order itself (DAX dispatched before the atomic checks), on a world no system
    // has (DAX with atomic units): up to 6.16 dax_iomap_rw copies the data non-atomically;
    // e7fb9b71326f (6.17) WARNs and -EIO.
    let s = with(|s| s.world.inode.dax = true);
    assert!(!diofuzz::validity::is_valid(&s));
    let x = go(&s, "v6.16");
    assert!(x.dax_calls > 0 && props(&x).contains(&Prop::O1));
    let y = go(&s, "v6.17");
    assert_eq!(y.ret, -EIO);
    assert_eq!(props(&y), vec![Prop::O7]);
}

#[test]
fn dax_nowait_extending_write() {
    // A DAX inode on a pmem device (no atomic units, 4 KiB blocks): an RWF_NOWAIT write past
    // i_disksize. ext4_dax_write_iter (fs/ext4/file.c) would start a journal handle and add the
    // inode to the orphan list; 7.3.4 returns -EAGAIN there (switch
    // ext4_dax_nowait_extend_eagain), 6.12.117 and 7.2.12 copy the data.
    let mut s = with(|s| {
        s.world.inode.dax = true;
        s.world.i_size = 4096;
        s.world.blocks = diofuzz::generators::layout("W").unwrap();
        s.request.pos = 4096;
        s.request.len = 4096;
        s.request.rwf = Rwf {
            nowait: true,
            ..Rwf::default()
        };
    });
    s.world.device = Device::default();
    s.world.lbs_bits = 9;
    assert!(
        diofuzz::validity::is_valid(&s),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    for v in ["v6.12", "v7.2"] {
        let x = go(&s, v);
        assert_eq!((x.ret, x.dax_calls, x.after.i_size), (4096, 1, 8192), "{v}");
    }
    // On 7.3 kiocb_modified() in ext4_write_checks (ext4_kiocb_modified) refuses every NOWAIT
    // write whose timestamps need an update first, which shadows the new test in the model;
    // the branch itself, with the switch alone on 7.2:
    assert_eq!(go(&s, "v7.3").ret, -EAGAIN);
    let v = diofuzz::variant::resolve_one("v7.2+ext4_dax_nowait_extend_eagain=true").unwrap();
    let x = run(&s, v);
    assert_eq!((x.ret, x.dax_calls, x.after.i_size), (-EAGAIN, 0, 4096));
    // Inside i_disksize, or without RWF_NOWAIT, the write is copied.
    let mut t = s.clone();
    t.request.pos = 0;
    assert_eq!(run(&t, v).ret, 4096);
    t.request.pos = 4096;
    t.request.rwf.nowait = false;
    assert_eq!(run(&t, v).ret, 4096);
}

#[test]
fn aio_atomic_write_completes_asynchronously() {
    let x = go(&seed("aio_atomic"), "v6.18");
    assert_eq!(x.submit_ret, -EIOCBQUEUED);
    assert_eq!(x.ret, 4096);
    assert!(check(&x).is_empty());
}

#[test]
fn nowait_paths() {
    assert_eq!(go(&seed("nowait_cached_page"), "v6.18").ret, -EAGAIN);
    let s = with(|s| {
        s.request.rwf.nowait = true;
        s.races = vec![Race::LockContended];
    });
    assert_eq!(go(&s, "v6.18").ret, -EAGAIN);
    // An extending NOWAIT write needs the exclusive lock and FORCE_WAIT: -EAGAIN.
    let s = with(|s| {
        s.request.rwf.nowait = true;
        s.request.pos = 16 * KIB;
    });
    assert_eq!(go(&s, "v6.18").ret, -EAGAIN);
}

#[test]
fn dsync_error_after_data() {
    let s = with(|s| {
        s.request.rwf.dsync = true;
        s.faults = vec![Fault {
            site: Site::GenericWriteSync,
            nth: 0,
            errno: EIO,
        }];
    });
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EIO);
    assert!(x
        .trace
        .decided("generic_write_sync failed after the data was written"));
    // The data is on disk although the caller got an error: O2 for an atomic write.
    assert!(props(&x).contains(&Prop::O2));
}

#[test]
fn rwf_dontcache_unknown_before_6_14() {
    let s = with(|s| s.request.rwf.dontcache = true);
    assert_eq!(go(&s, "v6.13").ret, -EOPNOTSUPP);
    assert!(go(&s, "v6.13")
        .trace
        .decided("kiocb_set_rw_flags: unknown RWF bit"));
    assert!(!go(&s, "v6.14")
        .trace
        .decided("kiocb_set_rw_flags: unknown RWF bit"));
    // 6.14-6.16: known, but no filesystem sets FOP_DONTCACHE; 6.17+: ext4 accepts it (confirmed
    // against Linux 6.18 by `diofuzz live`), except on DAX inodes.
    assert_eq!(go(&s, "v6.14").ret, -EOPNOTSUPP);
    assert_eq!(go(&s, "v6.18").ret, 4096);
    let mut dax = s.clone();
    dax.world.inode.dax = true;
    assert_eq!(go(&dax, "v6.18").ret, -EOPNOTSUPP);
}

#[test]
fn nonatomic_error_after_progress_per_variant() {
    let s = seed("nonatomic_extend_efault");
    // 6.14 / 6.18: progress on the first mapping, -EFAULT on the next one wins through
    // dio->error (docs/model.md §4.5 case 4): an error although data was written; the failed
    // extension is truncated away, nothing buffered.
    for var in ["v6.14", "v6.18"] {
        let x = go(&s, var);
        assert_eq!(x.ret, -EFAULT, "{var}");
        assert_eq!(x.buffered_calls, 0, "{var}");
        assert_eq!(x.after.i_size, 16 * KIB, "{var}");
    }
    // 6.15-6.17: ->iomap_end's -ENOTBLK overrides the second mapping's -EFAULT, the short DIO
    // falls back, the buffered copy faults, and ext4 returns -EFAULT after ki_pos moved past
    // the DIO bytes (docs/model.md §1.1: ki_pos and the return value disagree).
    let x = go(&s, "v6.15");
    assert_eq!(x.ret, -EFAULT);
    assert!(x.trace.decided(
        "ext4_dio_write_iter: buffered fallback failed, DIO bytes discarded from the result"
    ));
    assert_eq!(x.ki_pos_after, 24 * KIB);
    assert_eq!(x.after.i_size, 24 * KIB);
}

#[test]
fn every_variant_runs_every_seed() {
    for s in seeds::all() {
        for var in diofuzz::variant::VARIANTS.iter() {
            let x = run(&s.scenario, var);
            // O5 must never fire on the seeds: no internal errno leaks in any variant.
            assert!(
                !props(&x).contains(&Prop::O5),
                "{} on {}: {:?}",
                s.name,
                var.name,
                check(&x)
            );
        }
    }
}

// ------------------------------------------- user-buffer / segment alignment (6.18 rules)
//
// 6.12-6.17: iomap_dio_bio_iter() (and blkdev_direct_IO) reject with -EINVAL, before any bio, an
// iter whose segments are not on the DMA alignment (address & 511) or the logical block size
// (length). 6.18+: no memory check there; the block layer (bio_split_io_at) fails a bio with
// BLK_STS_INVAL only when it crosses a page with a bvec off the DMA alignment. Each case below
// was observed on Linux 6.18 with `diofuzz live` (loop device, lbs 512, dma_alignment 511).

/// ext4, non-atomic O_DIRECT write over written blocks.
fn plain(pos: u64, len: u64, f: impl FnOnce(&mut Scenario)) -> Scenario {
    with(|s| {
        s.request.rwf.atomic = false;
        s.world.lbs_bits = 9;
        s.request.pos = pos;
        s.request.len = len;
        f(s)
    })
}

/// Before 6.18 the check is in iomap_dio_bio_iter [A]; its -EINVAL is the result in 6.13/6.14
/// (6.15-6.17: ext4's ->iomap_end turns the zero-progress error into a buffered fallback).
const PRE_6_18: [&str; 3] = ["v6.13", "v6.15", "v6.17"];
const MEM_CHECK: &str = "iomap_dio_bio_iter: user buffer not DMA aligned";
/// 6.18-7.1: no memory check when the bio is built (7.2.y and 7.3 validate each segment again,
/// see tests/variants_7x.rs).
const FROM_6_18: [&str; 4] = ["v6.18", "v6.19", "v7.0", "v7.1"];

#[test]
fn misaligned_buffer_inside_one_page_is_written_from_6_18() {
    // 8-byte aligned buffer, 2 KiB: the one bio stays inside the first page (gen-1-ext4-62).
    let s = plain(0, 2048, |s| s.request.buf_align = 8);
    for var in PRE_6_18 {
        let x = go(&s, var);
        assert!(x.trace.decided(MEM_CHECK), "{var}");
        assert!(x.bios.is_empty(), "{var}");
    }
    assert_eq!(go(&s, "v6.13").ret, -EINVAL);
    for var in FROM_6_18 {
        let x = go(&s, var);
        assert_eq!(x.ret, 2048, "{var}");
        assert!(x.after.on_disk[..4].iter().all(|&t| t == TAG_NEW), "{var}");
        assert!(x.bios.iter().all(|b| b.status == 0), "{var}");
    }
    // Byte-aligned buffer, 3584 bytes: 1 + 3584 <= 4096, still one page.
    let s = plain(4096, 3584, |s| s.request.buf_align = 1);
    assert_eq!(go(&s, "v6.18").ret, 3584);
    assert!(!go(&s, "v6.18").trace.decided(MEM_CHECK));
    assert!(go(&s, "v6.17").trace.decided(MEM_CHECK));
}

#[test]
fn misaligned_buffer_crossing_a_page_fails_at_bio_submission_from_6_18() {
    // 8 KiB from an 8-byte aligned buffer: one mapping, one bio of three page pieces whose first
    // bvec is at offset 8 -> bio_split_io_at() -> -EINVAL, nothing written.
    let s = plain(0, 8192, |s| s.request.buf_align = 8);
    for var in FROM_6_18 {
        let x = go(&s, var);
        assert_eq!(x.ret, -EINVAL, "{var}");
        assert!(x
            .trace
            .decided("bio_split_io_at: bvec not DMA aligned, bio failed (-EINVAL)"));
        assert_eq!(x.bios.len(), 1, "{var}");
        assert_eq!(x.bios[0].status, -EINVAL, "{var}");
        assert!(!x.after.on_disk.contains(&TAG_NEW), "{var}");
    }
    // A 512-byte aligned buffer crossing pages is fine everywhere (every piece is on 512).
    let s = plain(0, 8192, |s| s.request.buf_align = 512);
    for var in PRE_6_18.iter().chain(FROM_6_18.iter()) {
        assert_eq!(go(&s, var).ret, 8192, "{var}");
    }
}

#[test]
fn segment_lengths_off_the_block_size_are_accepted_from_6_18() {
    // Two 3328-byte segments, page-aligned buffer: the page pieces are 4096 + 2560 (gen-1-ext4-73).
    let s = plain(0, 6656, |s| s.request.nr_segs = 2);
    for var in PRE_6_18 {
        assert!(go(&s, var).trace.decided(MEM_CHECK), "{var}");
    }
    assert_eq!(go(&s, "v6.14").ret, -EINVAL);
    for var in FROM_6_18 {
        let x = go(&s, var);
        assert_eq!(x.ret, 6656, "{var}");
        assert!(x.after.on_disk[..13].iter().all(|&t| t == TAG_NEW), "{var}");
    }
    // Three segments of 1365/1365/1366 bytes in one page (gen-1-xfs-150 shape): one bvec.
    let s = plain(0, 4096, |s| s.request.nr_segs = 3);
    assert_eq!(go(&s, "v6.18").ret, 4096);
    assert!(go(&s, "v6.17").trace.decided(MEM_CHECK));
}

#[test]
fn first_bio_written_then_einval_from_6_18() {
    // gen-1-ext4-26: an extending write at 7168 from an 8-byte aligned buffer. The first mapping
    // (1 KiB, the rest of block 1) is a bio inside the first page and is written; the next
    // mapping's bio crosses pages and fails, so the call returns -EINVAL with that 1 KiB on disk.
    // Before 6.18 nothing is written. (The old 6.18 model failed in get_pages, the tail zeroing
    // overwrote the error, and ext4 fell back to buffered: 20480.)
    let s = with(|s| {
        s.request.rwf.atomic = false;
        s.world.lbs_bits = 9;
        s.world.i_size = 1536;
        s.world.blocks = vec![hole(), unwritten()];
        s.world.pages = vec![];
        s.request.pos = 7168;
        s.request.len = 20480;
        s.request.buf_align = 8;
    });
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert_eq!(x.buffered_calls, 0);
    let data: Vec<_> = x.bios.iter().filter(|b| !b.zero).collect();
    assert_eq!(data.len(), 2, "{:?}", x.bios);
    assert_eq!((data[0].pos, data[0].len, data[0].status), (7168, 1024, 0));
    assert_eq!(data[1].status, -EINVAL);
    let x = go(&s, "v6.14");
    assert_eq!(x.ret, -EINVAL);
    assert!(x.trace.decided(MEM_CHECK));
    assert!(x.bios.iter().all(|b| b.zero), "{:?}", x.bios);
}

#[test]
fn split_rejection_is_not_masked_by_tail_zeroing() {
    // gen-1-xfs-183: XFS, unwritten blocks, sub-block position, 8-byte aligned buffer crossing a
    // page: the kernel returns -EINVAL (the old model lost the error to the tail zeroing and
    // returned 0).
    let s = Scenario {
        fs: FsKind::Xfs,
        world: World {
            blkbits: 12,
            lbs_bits: 9,
            i_size: 24576,
            blocks: vec![unwritten(), unwritten()],
            pages: vec![
                PageState::None,
                PageState::None,
                PageState::Clean,
                PageState::Clean,
            ],
            ..World::default()
        },
        request: Request {
            pos: 1024,
            len: 7680,
            buf_align: 8,
            ..Request::default()
        },
        faults: vec![],
        races: vec![],
    };
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert!(!x.after.on_disk.contains(&TAG_NEW));
}

#[test]
fn bdev_follows_the_same_rule() {
    let s = |len: u64, align: u32| Scenario {
        fs: FsKind::Bdev,
        world: World {
            lbs_bits: 9,
            i_size: 64 * KIB,
            ..World::default()
        },
        request: Request {
            len,
            buf_align: align,
            ..Request::default()
        },
        faults: vec![],
        races: vec![],
    };
    assert_eq!(go(&s(2048, 8), "v6.18").ret, 2048);
    assert_eq!(go(&s(2048, 8), "v6.17").ret, -EINVAL);
    assert!(go(&s(2048, 8), "v6.17")
        .trace
        .decided("blkdev_direct_IO: user buffer not DMA aligned"));
    let x = go(&s(8192, 8), "v6.18");
    assert_eq!(x.ret, -EINVAL);
    assert_eq!(x.bios.len(), 1);
    assert!(!x.after.on_disk.contains(&TAG_NEW));
    assert_eq!(go(&s(8192, 512), "v6.18").ret, 8192);
}

/// ext4_file_write_iter(): a shut-down ext4 gives -EIO on every variant (ext4_forced_shutdown /
/// ext4_emergency_state); the emergency read-only state gives -EROFS from 6.15 (0a1b2f5ea987,
/// EXT4_FLAGS_EMERGENCY_RO from 8f984530c242) and -EIO before, where ext4_handle_error() under
/// errors=remount-ro set EXT4_FLAGS_SHUTDOWN (Debian 6.12.117 fs/ext4/super.c). Nothing is
/// written and no I/O path is entered.
#[test]
fn ext4_file_write_iter_shutdown_and_emergency_ro_per_variant() {
    for v in diofuzz::variant::VARIANTS.iter() {
        // A plain (non-atomic) O_DIRECT write: RWF_ATOMIC is refused before write_iter on 6.12.
        let plain = |f: fn(&mut Scenario)| {
            with(|s| {
                s.request.rwf.atomic = false;
                f(s)
            })
        };
        let down = plain(|s| s.world.mount.shutdown = true);
        let x = go(&down, v.name);
        assert_eq!(x.ret, -EIO, "{}: shut down", v.name);
        assert!(!x.trace.entered("iomap_dio_rw") && x.buffered_calls == 0);
        let ro = plain(|s| s.world.mount.emergency_ro = true);
        let x = go(&ro, v.name);
        let want = if v.ext4_emergency_state { -EROFS } else { -EIO };
        assert_eq!(x.ret, want, "{}: emergency read-only", v.name);
        assert!(!x.after.on_disk.contains(&TAG_NEW));
        // Both: the shutdown test comes first.
        let both = plain(|s| {
            s.world.mount.shutdown = true;
            s.world.mount.emergency_ro = true
        });
        assert_eq!(go(&both, v.name).ret, -EIO, "{}", v.name);
    }
    let on = |n: &str| diofuzz::variant::by_name(n).unwrap().ext4_emergency_state;
    assert!(!on("v6.14") && on("v6.15") && on("v6.16") && on("v7.3"));
}
