// SPDX-License-Identifier: GPL-2.0-only
//! Behaviour of the XFS model per variant (docs/model.md §6): the write_iter / DIO dispatch rules
//! that change between versions, the HW -> SW atomic retry, the DAX escape, the reflink and
//! always-CoW bounces to buffered I/O, and the fstests atomic-write checks A1-A6 / E1, E2, E4, E6.

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::model::trace::Ev;
use diofuzz::model::{Execution, TAG_NEW, TAG_OLD};
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;

use diofuzz::generators::{non_atomic, xfs, KIB};

/// The first `n` sectors of the file after the write, through the page cache and on disk.
fn data(x: &Execution, from: u64, len: u64) -> (Vec<u32>, Vec<u32>) {
    let (a, b) = ((from / SECTOR) as usize, ((from + len) / SECTOR) as usize);
    (
        x.after.cached[a..b].to_vec(),
        x.after.on_disk[a..b].to_vec(),
    )
}

fn assert_clean_full(x: &Execution, len: u64) {
    assert_eq!(x.ret, len as i64, "trace:\n{}", x.trace.render());
    assert_eq!(x.buffered_calls, 0);
    assert_eq!(x.dax_calls, 0);
    assert!(props(x).is_empty(), "findings: {:?}", check(x));
}

// ---------------------------------------------------------------- per-version rules

#[test]
fn v6_12_has_no_xfs_atomic_writes_v6_13_has() {
    let s = xfs("WWWWWWWW", 0, 4096);
    let x = go(&s, "v6.12");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (0, 0));
    let x = go(&s, "v6.13");
    assert_clean_full(&x, 4096);
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (4096, 4096));
}

#[test]
fn v6_13_one_block_rule_v6_16_multi_block() {
    let s = xfs("WWWWWWWW", 0, 8 * KIB);
    for var in ["v6.13", "v6.14", "v6.15"] {
        let x = go(&s, var);
        assert_eq!(x.ret, -EINVAL, "{var}");
        assert!(x
            .trace
            .decided("xfs_file_write_iter: atomic length != fs block size"));
        assert!(x.bios.is_empty());
    }
    for var in [
        "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
    ] {
        let x = go(&s, var);
        assert_clean_full(&x, 8 * KIB);
        // HW path: one REQ_ATOMIC bio, no remap.
        assert_eq!(x.bios.len(), 1);
        assert!(x.bios[0].atomic);
        assert_eq!(x.atomic_remaps, 0);
    }
}

#[test]
fn v6_16_hw_enoprotoopt_retries_with_software_cow() {
    // Two physical extents: no single REQ_ATOMIC bio is possible.
    let s = xfs("WW|WWWWWW", 0, 16 * KIB);
    for var in ["v6.16", "v6.18", "v7.1", "v7.3"] {
        let x = go(&s, var);
        assert_clean_full(&x, 16 * KIB);
        assert!(x
            .trace
            .returns("xfs_direct_write_iomap_begin")
            .contains(&-ENOPROTOOPT));
        assert!(x.trace.entered("xfs_atomic_write_cow_iomap_begin"));
        assert_eq!(x.atomic_remaps, 1, "{var}");
        assert!(x.bios.iter().all(|b| !b.atomic));
        let (c, d) = data(&x, 0, 16 * KIB);
        assert!(c.iter().chain(d.iter()).all(|&t| t == TAG_NEW));
    }
    // 6.13: the same request is refused by the one-block rule.
    assert_eq!(go(&s, "v6.13").ret, -EINVAL);
}

#[test]
fn no_reflink_means_no_software_atomics() {
    let mut s = xfs("WW|WWWWWW", 0, 16 * KIB);
    s.world.mount.xfs_reflink = false;
    let x = go(&s, "v6.18");
    // Hardware only: unit max is one block.
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (4096, 4096));
    assert_eq!(x.ret, -EINVAL);
    assert!(x
        .trace
        .decided("xfs_file_write_iter: atomic length above unit max"));
    // A long write straight to the SW path on a reflink fs (length > device atomic max).
    let s = xfs("WWWWWWWW", 0, 32 * KIB);
    let mut s2 = s.clone();
    s2.world.device.awu_max = 16384;
    let x = go(&s2, "v6.18");
    assert_clean_full(&x, 32 * KIB);
    assert!(!x.trace.entered("xfs_direct_write_iomap_begin"));
    assert_eq!(x.atomic_remaps, 1);
}

#[test]
fn dax_escape_on_v6_16_closed_on_v6_17() {
    let mut s = xfs("WWWWWWWW", 0, 4096);
    s.world.inode.dax = true;
    let x = go(&s, "v6.16");
    assert_eq!(x.ret, 4096);
    assert!(x.dax_calls > 0);
    assert!(props(&x).contains(&Prop::O1), "{:?}", check(&x));
    // 6.17: a DAX inode has no atomic capability at open.
    let x = go(&s, "v6.17");
    assert_eq!(x.ret, -EOPNOTSUPP);
    assert_eq!(x.dax_calls, 0);
    assert!(props(&x).is_empty());
    // DAX switched on after open: 6.17 checks the atomic limits (now 0) before DAX.
    let mut s = xfs("WWWWWWWW", 0, 4096);
    s.world.inode.dax = true;
    s.races = vec![Race::InodeFlagChangedAfterOpen(5)];
    let x = go(&s, "v6.17");
    assert_eq!(x.ret, -EINVAL);
    assert_eq!(x.dax_calls, 0);
    let x = go(&s, "v6.16");
    assert!(x.dax_calls > 0);
    assert!(props(&x).contains(&Prop::O1));
    // 6.13-6.15 dispatch DAX first as well.
    let x = go(&s, "v6.13");
    assert!(x.dax_calls > 0);
}

#[test]
fn always_cow_unaligned_buffer_bounces_atomic_to_buffered_6_15_to_6_18() {
    let mut s = xfs("WWWWWWWW", 0, 4096);
    s.world.mount.xfs_always_cow = true;
    s.request.buf_align = 512;
    for var in ["v6.16", "v6.18"] {
        let x = go(&s, var);
        assert!(x.trace.decided(
            "xfs_file_dio_write: always-CoW inode with a user buffer not block aligned -> unaligned path"
        ));
        assert!(x.buffered_calls > 0, "{var}");
        assert!(props(&x).contains(&Prop::O1));
    }
    // 6.19+ (v7.0 here): no reroute; the atomic path writes through the CoW fork.
    for var in ["v6.19", "v7.0", "v7.1", "v7.2", "v7.3"] {
        let x = go(&s, var);
        assert_clean_full(&x, 4096);
        assert_eq!(x.atomic_remaps, 1);
    }
    // 6.14: no reroute either (and the aligned path keeps REQ_ATOMIC).
    let x = go(&s, "v6.14");
    assert_clean_full(&x, 4096);
}

#[test]
fn unaligned_reflink_dio_bounces_to_buffered() {
    let mut s = xfs("SSWWWWWW", 512, 1024);
    s.request.rwf.atomic = false;
    let x = go(&s, "v6.18");
    assert_eq!(
        x.trace.returns("xfs_file_dio_write_unaligned"),
        vec![-ENOTBLK]
    );
    assert!(x.trace.entered("xfs_file_buffered_write"));
    assert_eq!(x.ret, 1024);
    assert!(props(&x).is_empty(), "{:?}", check(&x));
    // Without the reflink flag and shared blocks the write stays direct.
    let mut s = xfs("WWWWWWWW", 512, 1024);
    s.request.rwf.atomic = false;
    let x = go(&s, "v6.18");
    assert_eq!(x.buffered_calls, 0);
    assert_eq!(x.ret, 1024);
}

#[test]
fn unaligned_overwrite_only_retries_exclusive() {
    // Sub-block write into an unwritten extent inside EOF: OVERWRITE_ONLY -> -EAGAIN -> retry.
    let mut s = xfs("UUUUWWWW", 512, 1024);
    s.request.rwf.atomic = false;
    let x = go(&s, "v6.18");
    assert!(x
        .trace
        .decided("xfs_file_dio_write_unaligned: -EAGAIN -> retry exclusive"));
    assert_eq!(x.ret, 1024);
    assert!(props(&x).is_empty(), "{:?}", check(&x));
    // NOWAIT: an extending unaligned write gives -EAGAIN at once.
    let mut s = xfs("WWWWWWWW", 32 * KIB, 1024);
    s.request.rwf.atomic = false;
    s.request.rwf.nowait = true;
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EAGAIN);
    assert!(x.bios.is_empty());
}

#[test]
fn atomic_invalidation_failure_is_eagain_not_buffered() {
    let mut s = xfs("WWWWWWWW", 0, 4096);
    s.world.pages = vec![PageState::Busy];
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EAGAIN);
    assert_eq!(x.buffered_calls, 0);
    assert!(props(&x).is_empty());
    // Non-atomic: -ENOTBLK -> buffered fallback (allowed).
    let x = go(&non_atomic(&s), "v6.18");
    assert!(x
        .trace
        .decided("xfs_file_write_iter: -ENOTBLK -> xfs_file_buffered_write"));
    assert_eq!(x.ret, 4096);
}

#[test]
fn atomic_nowait_software_path_is_eagain() {
    let mut s = xfs("WW|WWWWWW", 0, 16 * KIB);
    s.request.rwf.nowait = true;
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EAGAIN);
    // kiocb_modified() refuses the NOWAIT write before any iomap call (live 6.18: no
    // iomap_dio_rw_begin event), so the software CoW ops are never reached.
    assert!(x
        .trace
        .decided("kiocb_modified: NOWAIT and the timestamps need an update -> -EAGAIN"));
    assert!(!x.trace.entered("xfs_atomic_write_cow_iomap_begin"));
    assert!(!x.trace.entered("iomap_dio_rw"));
    assert!(props(&x).is_empty());
}

#[test]
fn v6_13_atomic_on_shared_block_is_one_req_atomic_bio_into_cow() {
    // 6.13/6.14 iomap sets REQ_ATOMIC from IOMAP_ATOMIC, so the CoW write is one atomic bio.
    let s = xfs("SWWWWWWW", 0, 4096);
    let x = go(&s, "v6.13");
    assert_clean_full(&x, 4096);
    assert!(x.bios[0].atomic);
    assert_eq!(x.atomic_remaps, 1);
    // 6.15: iomap takes REQ_ATOMIC from IOMAP_F_ATOMIC_BIO, which XFS does not set on a CoW
    // mapping: an ordinary bio into the staging block, made visible by one remap transaction.
    let x = go(&s, "v6.15");
    assert_clean_full(&x, 4096);
    assert!(!x.bios[0].atomic);
    assert_eq!(x.atomic_remaps, 1);
    // 6.16+: the CoW mapping has no IOMAP_F_ATOMIC_BIO; atomicity comes from the one remap.
    let x = go(&s, "v6.18");
    assert_clean_full(&x, 4096);
    assert!(!x.bios[0].atomic);
    assert_eq!(x.atomic_remaps, 1);
}

// ---------------------------------------------------------------- A1-A6

#[test]
fn a1_statx_units() {
    let s = xfs("WWWWWWWW", 0, 4096);
    let x = go(&s, "v6.18");
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (4096, 256 * 4096));
    let x = go(&s, "v6.14");
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (4096, 4096));
    // Device atomic range that does not include the block size: 6.16+ ignores it.
    let mut s2 = s.clone();
    s2.world.device.awu_min = 8192;
    s2.world.mount.xfs_reflink = false;
    let x = go(&s2, "v6.18");
    assert_eq!((x.statx_unit_min, x.statx_unit_max), (0, 0));
    assert_eq!(x.ret, -EOPNOTSUPP);
    for var in ["v6.13", "v6.18", "v7.1", "v7.3"] {
        let x = go(&s, var);
        let (a, b) = (x.statx_unit_min, x.statx_unit_max);
        assert!(
            a <= b && a.is_power_of_two() && b.is_power_of_two(),
            "{var}"
        );
    }
}

#[test]
fn a2_to_a6_contract_errnos() {
    let cases: Vec<(&str, Scenario, i64)> = vec![
        ("below min", xfs("WWWWWWWW", 0, 2048), -EINVAL),
        ("above max", xfs("WWWWWWWW", 0, 2 << 20), -EINVAL),
        ("not pow2", xfs("WWWWWWWW", 0, 12 * KIB), -EINVAL),
        ("pos unaligned", xfs("WWWWWWWW", 4096, 8192), -EINVAL),
        (
            "two iovecs",
            {
                let mut s = xfs("WWWWWWWW", 0, 8192);
                s.request.nr_segs = 2;
                s
            },
            -EINVAL,
        ),
        (
            "no O_DIRECT",
            {
                let mut s = xfs("WWWWWWWW", 0, 4096);
                s.request.open.direct = false;
                s
            },
            -EOPNOTSUPP,
        ),
    ];
    for (what, s, e) in cases {
        for var in ["v6.16", "v6.18", "v7.1", "v7.3"] {
            let x = go(&s, var);
            assert_eq!(x.ret, e, "{what} on {var}");
            assert!(x.bios.is_empty() && x.buffered_calls == 0, "{what}");
        }
    }
}

// ---------------------------------------------------------------- E1, E2, E4, E6

/// E4: every layout ends with the same bytes as the non-atomic write of the same range.
#[test]
fn e4_layouts_match_non_atomic_write() {
    let cases: [(&str, &str, u64, u64, u64); 7] = [
        ("mapped", "WWWWWWWW", 32, 0, 16),
        ("unwritten", "UUUUWWWW", 32, 0, 16),
        ("hole one block", "HWWWWWWW", 32, 0, 4),
        ("hole", "HHHHWWWW", 32, 0, 16),
        ("shared", "SSSSWWWW", 32, 0, 16),
        ("eof extending", "WWWWWWWW", 32, 32, 16),
        ("mixed", "WUHS|WWWW", 32, 0, 16),
    ];
    for (what, spec, isize_k, pos_k, len_k) in cases {
        let mut s = xfs(spec, pos_k * KIB, len_k * KIB);
        s.world.i_size = isize_k * KIB;
        s.world.inode.reflink = spec.contains('S');
        for var in [
            "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
        ] {
            let x = go(&s, var);
            assert_clean_full(&x, len_k * KIB);
            let y = go(&non_atomic(&s), var);
            assert_eq!(y.ret, (len_k * KIB) as i64, "{what} non-atomic on {var}");
            assert_eq!(x.after, y.after, "{what} on {var}");
            let (c, _) = data(&x, pos_k * KIB, len_k * KIB);
            assert!(c.iter().all(|&t| t == TAG_NEW), "{what} on {var}");
            assert_eq!(x.after.i_size, (isize_k.max(pos_k + len_k)) * KIB);
        }
    }
    // One-block atomics on 6.13/6.14 over each block kind.
    for spec in ["WWWWWWWW", "UWWWWWWW", "HWWWWWWW", "SWWWWWWW"] {
        let mut s = xfs(spec, 0, 4096);
        s.world.inode.reflink = spec.contains('S');
        for var in ["v6.13", "v6.14"] {
            let x = go(&s, var);
            assert_clean_full(&x, 4096);
            assert_eq!(x.after, go(&non_atomic(&s), var).after, "{spec} on {var}");
        }
    }
}

/// E6: out of space (or a failing remap) -> the whole write or nothing.
#[test]
fn e6_out_of_space_all_or_nothing() {
    let enospc = |nth| Fault {
        site: Site::XfsIomapBegin,
        nth,
        errno: ENOSPC,
    };
    // HW path allocating a hole block; SW path allocating the CoW staging blocks.
    let cases = [
        ("hole, hw", xfs("HWWWWWWW", 0, 4096), enospc(0)),
        ("mixed, sw", xfs("WW|WWWWWW", 0, 16 * KIB), enospc(0)),
        (
            "shared, hw cow",
            {
                let mut s = xfs("SSSSWWWW", 0, 16 * KIB);
                s.world.inode.reflink = true;
                s
            },
            enospc(0),
        ),
    ];
    for (what, mut s, f) in cases {
        s.faults = vec![f];
        for var in ["v6.16", "v6.18", "v7.1", "v7.3"] {
            let x = go(&s, var);
            assert_eq!(x.ret, -ENOSPC, "{what} on {var}:\n{}", x.trace.render());
            assert_eq!(x.before, x.after, "{what} on {var}");
            assert!(props(&x).is_empty(), "{what}: {:?}", check(&x));
        }
    }
    // The atomic remap fails: nothing becomes visible.
    let mut s = xfs("WW|WWWWWW", 0, 16 * KIB);
    s.faults = vec![Fault {
        site: Site::XfsEndIo,
        nth: 0,
        errno: EIO,
    }];
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EIO);
    assert_eq!(x.atomic_remaps, 0);
    assert_eq!(x.before, x.after);
    assert!(props(&x).is_empty());
    let (c, _) = data(&x, 0, 16 * KIB);
    assert!(c.iter().all(|&t| t == TAG_OLD));
}

/// E1/E2 over a sweep of positions and lengths on the newest variant: every accepted atomic write
/// is full length, never buffered, and one unit.
#[test]
fn e1_e2_sweep() {
    let mut accepted = 0;
    for spec in ["WWWWWWWW", "WW|WWUUHH", "SSWWUUHH"] {
        for len_k in [4u64, 8, 16, 32] {
            for pos_k in (0..=32).step_by(4) {
                let mut s = xfs(spec, pos_k * KIB, len_k * KIB);
                s.world.inode.reflink = spec.contains('S');
                for var in ["v6.16", "v6.18", "v7.1", "v7.3"] {
                    let x = go(&s, var);
                    let p = props(&x);
                    assert!(
                        p.is_empty(),
                        "{spec} pos {pos_k}K len {len_k}K {var}: {:?}",
                        check(&x)
                    );
                    if x.ret > 0 {
                        accepted += 1;
                        assert_eq!(x.ret as u64, len_k * KIB);
                        assert_eq!(x.buffered_calls, 0);
                    }
                }
            }
        }
    }
    assert!(accepted > 50, "only {accepted} accepted");
}

// ---------------------------------------------------------------- model predictions
// Behaviours the model derives from the kernel code beyond what earlier summaries listed; each is a
// candidate finding to confirm on a live kernel.

/// O_APPEND moves ki_pos to an i_size that is sector- but not block-aligned after
/// xfs_file_dio_write chose the aligned path: a CoW write then starts inside a CoW staging block
/// whose head is neither written nor zeroed (iomap's DIO never reads the srcmap), and the remap at
/// end_io replaces the existing bytes before the write with the staging block's old content.
#[test]
fn o_append_past_the_aligned_dispatch_cows_a_partial_block() {
    let mut s = xfs("SSSSSSSS", 0, 4096);
    s.world.i_size = 27 * KIB;
    s.world.inode.reflink = true;
    s.request.rwf.atomic = false;
    s.request.open.append = true;
    let x = go(&s, "v6.18");
    assert_eq!(x.write_pos, 27 * KIB);
    assert_eq!(x.ret, 4096);
    assert!(x.trace.entered("xfs_file_dio_write_aligned"));
    let p = props(&x);
    assert!(p.contains(&Prop::O6), "{:?}", check(&x));
    // Atomic: accepted at a position not aligned to its length (O3), same corruption (O6).
    s.request.rwf.atomic = true;
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, 4096);
    let p = props(&x);
    assert!(p.contains(&Prop::O3) && p.contains(&Prop::O6), "{p:?}");
    // Without O_APPEND the same write is a clean aligned overwrite.
    s.request.open.append = false;
    assert!(props(&go(&s, "v6.18")).is_empty());
}

/// The software atomic path has no IOMAP_F_ATOMIC_BIO, so a user buffer that faults part-way
/// gives several bios; in an extending write the tail zeroing past EOF masks the -EFAULT, the
/// iteration ends without error and the atomic remap makes the written part visible: a short
/// atomic write.
#[test]
fn software_atomic_with_faulting_buffer_is_short_when_extending() {
    // Faults happen at page boundaries of the buffer's address: a 512-aligned buffer whose page
    // at buffer offset 3584 is unmapped stops the bio inside a block, so tail zeroing masks it.
    let mut s = xfs("WWWWWWWW", 32 * KIB, 16 * KIB);
    s.request.buf_align = 512;
    s.request.fault_at = Some(6 * KIB);
    let x = go(&s, "v6.18");
    assert!(x.trace.entered("xfs_atomic_write_cow_iomap_begin"));
    assert_eq!(x.ret, 3584, "{}", x.trace.render());
    assert_eq!(x.atomic_remaps, 1);
    assert!(props(&x).contains(&Prop::O2));
    // Inside EOF nothing masks the fault: -EFAULT and nothing visible.
    let mut s = xfs("WW|WWWWWW", 0, 16 * KIB);
    s.request.fault_at = Some(6 * KIB);
    let x = go(&s, "v6.18");
    assert_eq!(x.ret, -EFAULT);
    assert_eq!(x.atomic_remaps, 0);
    assert_eq!(x.before, x.after);
    assert!(props(&x).is_empty(), "{:?}", check(&x));
}

/// HW atomic write (6.16+, xfs_direct_write_iomap_ops) over a shared range: the first mapping is
/// the CoW staging extent over the whole range (out_found_cow, IOMAP_F_SHARED without
/// IOMAP_F_ATOMIC_BIO, so ordinary bios). A user buffer that faults at a page boundary part-way
/// gives a short bio; the next ->iomap_begin maps the rest of the same CoW extent, and
/// xfs_bmap_hw_atomic_write_possible accepts it: IS_ALIGNED() is a mask test, and the rest
/// (start base + 1, 3 blocks) has no bit in common with the mask 2. So the fault is reported as
/// -EFAULT, nothing is remapped, and -ENOPROTOOPT (which the aio completion would hand to the
/// caller once a bio is in flight) never comes back. The model used a modulo here and returned
/// -ENOPROTOOPT for (extent << 20) + 1 not divisible by 3.
#[test]
fn hw_atomic_cow_rest_after_short_bio_is_still_hw_possible() {
    for aio in [true, false] {
        let mut s = xfs("SSSSWWWW", 0, 16 * KIB);
        s.world.inode.reflink = true;
        s.request.aio = aio;
        s.request.fault_at = Some(4 * KIB);
        for var in ["v6.16", "v6.18", "v7.1", "v7.3"] {
            let x = go(&s, var);
            let t = x.trace.render();
            let begins = x.trace.returns("xfs_direct_write_iomap_begin");
            assert_eq!(begins, vec![0, 0], "{var} aio={aio}\n{t}");
            assert!(
                !x.trace.entered("xfs_atomic_write_cow_iomap_begin"),
                "{var}\n{t}"
            );
            assert_eq!(x.ret, -EFAULT, "{var} aio={aio}\n{t}");
            assert_eq!(x.atomic_remaps, 0);
            assert_eq!(x.before, x.after);
            assert!(props(&x).is_empty(), "{var}: {:?}", check(&x));
        }
    }
    // Without the fault the same write is one atomic remap of the whole range.
    let mut s = xfs("SSSSWWWW", 0, 16 * KIB);
    s.world.inode.reflink = true;
    s.request.aio = true;
    let x = go(&s, "v6.18");
    assert_clean_full(&x, 16 * KIB);
    assert_eq!(x.atomic_remaps, 1);
}

/// Non-atomic O_DIRECT write to an always-CoW inode (the debug always_cow knob).
fn always_cow(spec: &str, i_size: u64, pos: u64, len: u64) -> Scenario {
    let mut s = non_atomic(&xfs(spec, pos, len));
    s.world.mount.xfs_always_cow = true;
    s.world.i_size = i_size;
    s
}

fn decisions(x: &Execution, d: &str) -> usize {
    x.trace
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Decide(s) if *s == d))
        .count()
}

/// xfs_direct_write_iomap_begin on an always-CoW inode: imap_needs_cow() is true for every
/// write, but xfs_bmap_trim_cow() forces `shared` only for real extents
/// (`!isnullstartblock(br_startblock)`; HOLESTARTBLOCK and delalloc are "null" start blocks), and
/// xfs_reflink_trim_around_shared() never calls a hole shared. So a hole is allocated in the data
/// fork by xfs_iomap_write_direct (IOMAP_F_NEW, unwritten, converted at end_io), and only written
/// and unwritten extents get a CoW staging extent (out_found_cow, IOMAP_F_SHARED, remapped by
/// xfs_reflink_end_cow). Read in 6.12, 6.13, 6.14, 6.18 and 7.1.
#[test]
fn always_cow_fills_holes_in_the_data_fork_and_cows_real_extents() {
    let s = always_cow("HHWWUUWW", 32 * KIB, 0, 32 * KIB);
    for var in ["v6.14", "v6.18", "v7.1"] {
        let x = go(&s, var);
        let t = x.trace.render();
        let allocs: Vec<(i64, i64)> = x
            .trace
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Enter("xfs_iomap_write_direct", a, _) => Some((a[0].1, a[1].1)),
                _ => None,
            })
            .collect();
        assert_eq!(allocs, vec![(0, 2)], "{var}\n{t}");
        assert_eq!(
            decisions(
                &x,
                "xfs_direct_write_iomap_begin: shared extent -> CoW mapping"
            ),
            3,
            "{var}\n{t}"
        );
        assert!(x.trace.entered("xfs_reflink_end_cow"));
        assert!(x.trace.entered("xfs_iomap_write_unwritten"));
        assert_eq!(x.ret, 32 * KIB as i64);
        let (c, d) = data(&x, 0, 32 * KIB);
        assert!(c.iter().chain(d.iter()).all(|&t| t == TAG_NEW), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", check(&x));
    }
}

/// A user buffer can only stop being faultable at a page boundary of its address. On an
/// always-CoW inode a short bio that ends inside a block whose data-fork extent the first mapping
/// just allocated makes the next ->iomap_begin CoW that block (it is now a real extent); nothing
/// writes the staging block's head, and xfs_reflink_end_cow remaps it over the data the first bio
/// wrote. 6.12-6.14 reach that with a 512-byte aligned buffer whose page boundary falls inside a
/// block (a candidate finding of the debug-only knob); 6.15-6.18 send a buffer that is not
/// block aligned to the unaligned path (-ENOTBLK, buffered), so with 4 KiB pages and blocks the
/// fault falls on a block boundary and the write is clean.
#[test]
fn always_cow_short_bio_inside_a_block_before_6_15() {
    // Buffer address 512 mod 4096: its page boundary is 3584 bytes in.
    let mut s = always_cow("HHHH", 8 * KIB, 16 * KIB, 8 * KIB);
    s.request.buf_align = 512;
    s.request.fault_at = Some(3584);
    let x = go(&s, "v6.14");
    assert_eq!(x.ret, 3584, "{}", x.trace.render());
    assert!(props(&x).contains(&Prop::O6), "{:?}", check(&x));
    for var in ["v6.15", "v6.18"] {
        let x = go(&s, var);
        assert!(x.trace.decided(
            "xfs_file_dio_write: always-CoW inode with a user buffer not block aligned -> unaligned path"
        ));
        assert!(props(&x).is_empty(), "{var}: {:?}", check(&x));
    }
    // Page-aligned buffer, fault at a page (= block) boundary: no block is written twice.
    s.request.buf_align = 4096;
    s.request.fault_at = Some(4096);
    for var in ["v6.14", "v6.18"] {
        let x = go(&s, var);
        assert!(
            props(&x).is_empty(),
            "{var}: {:?}\n{}",
            check(&x),
            x.trace.render()
        );
    }
}

/// xfs_dontcache: on 6.16 XFS accepts RWF_DONTCACHE (FOP_DONTCACHE) while ext4 still refuses it,
/// as `diofuzz lab` measured on Debian's 6.16.3 and 6.16.12 (docs/lab-bench.md class F); before
/// 6.16 both refuse, from 6.17 both accept.
#[test]
fn xfs_accepts_rwf_dontcache_from_6_16_ext4_from_6_17() {
    let mut s = non_atomic(&xfs("WWWW", 0, 12 * KIB));
    s.request.rwf.dontcache = true;
    let mut e = diofuzz::generators::base();
    e.request.rwf.atomic = false;
    e.request.rwf.dontcache = true;
    assert_eq!(go(&s, "v6.16").ret, 12 * KIB as i64);
    assert_eq!(go(&e, "v6.16").ret, -EOPNOTSUPP);
    assert_eq!(go(&s, "v6.15").ret, -EOPNOTSUPP);
    assert_eq!(go(&e, "v6.17").ret, 4096);
    // The same v6.16 with only the switch turned back refuses it on XFS too.
    let mut v = diofuzz::variant::by_name("v6.16").unwrap().clone();
    v.xfs_dontcache = false;
    let v: &'static diofuzz::variant::Variant = Box::leak(Box::new(v));
    assert_eq!(diofuzz::model::run(&s, v).ret, -EOPNOTSUPP);
}
