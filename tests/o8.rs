// SPDX-License-Identifier: GPL-2.0-only
//! O8, the non-atomic DIO error contract (docs/oracle-o8.md): per variant, which historical
//! kernels it flags, and that it is silent where the kernel behaves (the error is returned, or the
//! fallback was the filesystem's own -ENOTBLK signal, or the DIO wrote data before failing).

use diofuzz::errno::*;
use diofuzz::generators::{base, written};
use diofuzz::model::run_quiet;
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::*;
use diofuzz::variant::{by_name, VARIANTS};

fn nonatomic(f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = base();
    s.request.rwf.atomic = false;
    f(&mut s);
    assert!(
        diofuzz::validity::is_valid(&s),
        "test scenario must be a real world"
    );
    s
}

/// The variants on which `s` has an O8 finding.
fn o8_on(s: &Scenario) -> Vec<&'static str> {
    VARIANTS
        .iter()
        .filter(|v| {
            check(&run_quiet(s, v))
                .iter()
                .any(|f| f.property == Prop::O8)
        })
        .map(|v| v.name)
        .collect()
}

#[test]
fn misaligned_position_becomes_buffered_success_on_6_15_to_6_17() {
    // Position not aligned to the 512-byte logical block: iomap_dio_bio_iter -EINVAL.
    let s = nonatomic(|s| s.request.pos = 1);
    assert_eq!(o8_on(&s), vec!["v6.15", "v6.16", "v6.17"]);
    // Where it is silent the kernel returns the error (6.12-6.14: the actor's error wins;
    // 6.18+: ext4 has no ->iomap_end, 963845748fe6).
    for v in ["v6.12", "v6.14", "v6.18", "v7.1"] {
        let x = run_quiet(&s, by_name(v).unwrap());
        assert_eq!(x.ret, -EINVAL, "{v}");
        assert_eq!(x.buffered_calls, 0, "{v}");
    }
    let x = run_quiet(&s, by_name("v6.16").unwrap());
    assert_eq!((x.ret, x.dio_error_masked), (4096, Some(-EINVAL)));
}

#[test]
fn misaligned_user_buffer_becomes_buffered_success_on_6_15_to_6_17() {
    let s = nonatomic(|s| s.request.buf_align = 8);
    assert_eq!(o8_on(&s), vec!["v6.15", "v6.16", "v6.17"]);
    // 6.18+: the block layer fails the bio (bio_split_io_at) and the write returns -EINVAL.
    assert_eq!(run_quiet(&s, by_name("v6.18").unwrap()).ret, -EINVAL);
}

#[test]
fn tail_zeroing_masks_a_pinning_error_until_7_3() {
    // O_APPEND to an unaligned EOF: the write starts inside a new block (head and tail zeroing);
    // bio_iov_iter_get_pages fails with -ENOMEM before the first bio.
    let s = nonatomic(|s| {
        s.world.i_size = 4608;
        s.world.blocks = vec![written(), BlockState::default()];
        s.request.open.append = true;
        s.faults = vec![Fault {
            site: Site::DioGetPages,
            nth: 0,
            errno: ENOMEM,
        }];
    });
    // Every variant whose tail zeroing still replaces the error; 7.3.4 keeps it
    // (dio_zero_keeps_error) and returns -ENOMEM.
    let want: Vec<&str> = VARIANTS
        .iter()
        .filter(|v| !v.dio_zero_keeps_error)
        .map(|v| v.name)
        .collect();
    assert!(want.contains(&"v6.12") && want.contains(&"v7.2") && !want.contains(&"v7.3"));
    assert_eq!(o8_on(&s), want);
    assert_eq!(run_quiet(&s, by_name("v7.3").unwrap()).ret, -ENOMEM);
    // The same pinning error on a block-aligned overwrite (no zeroing) is returned as -ENOMEM,
    // except on 6.15-6.17, where ext4_iomap_end's -ENOTBLK wins over it (bc264fea0f6f).
    let t = nonatomic(|s| {
        s.faults = vec![Fault {
            site: Site::DioGetPages,
            nth: 0,
            errno: ENOMEM,
        }];
    });
    assert_eq!(o8_on(&t), vec!["v6.15", "v6.16", "v6.17"]);
    assert_eq!(run_quiet(&t, by_name("v7.1").unwrap()).ret, -ENOMEM);
    assert_eq!(run_quiet(&t, by_name("v6.14").unwrap()).ret, -ENOMEM);
}

#[test]
fn silent_for_the_fallback_signal_and_for_partial_dio() {
    // S2: page-cache invalidation fails (-EBUSY: the mapped folio dirty again after the flush;
    // a clean busy folio is no ext4 world, rule W25) -> -ENOTBLK, the documented fallback.
    let s = nonatomic(|s| s.world.pages = vec![PageState::MappedDirty]);
    for v in VARIANTS.iter() {
        let x = run_quiet(&s, v);
        assert!(x.buffered_calls > 0, "{}: S2 falls back", v.name);
    }
    assert!(o8_on(&s).is_empty());
    // S1: ext4_should_use_dio() false never enters the DIO path.
    let s = nonatomic(|s| s.world.mount.data_journal = true);
    assert!(o8_on(&s).is_empty());
    // The DIO wrote 2048 bytes before the user buffer faulted: a short DIO, not a rejection.
    let s = nonatomic(|s| {
        s.request.len = 8192;
        s.request.fault_at = Some(2048);
    });
    assert!(o8_on(&s).is_empty());
}

#[test]
fn silent_on_xfs_the_block_device_and_atomic_writes() {
    // XFS and the block device return the DIO path's error (no ->iomap_end, no fallback but
    // -ENOTBLK); atomic writes are judged by O1-O4 instead.
    for fs in [FsKind::Xfs, FsKind::Bdev] {
        let s = nonatomic(|s| {
            s.fs = fs;
            s.world.i_size = 65536;
            s.request.pos = 1;
        });
        assert!(o8_on(&s).is_empty(), "{fs:?}");
    }
    let mut s = base();
    s.request.pos = 1;
    assert!(o8_on(&s).is_empty());
}
