// SPDX-License-Identifier: GPL-2.0-only
//! The XFS CoW fork as model state (docs/model-state.md): delalloc reservations and unwritten
//! preallocations left by earlier writes, the paths that read them per variant
//! (xfs_reflink_allocate_cow, xfs_atomic_write_cow_iomap_begin before and after 8d54eacd82a0 and
//! 8d7bba1e8314), O10 and the input format (the validity rules W15-W18: tests/validity.rs).

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{non_atomic, xfs, KIB};
use diofuzz::model::TAG_NEW;
use diofuzz::oracle::Prop;
use diofuzz::scenario::*;
use diofuzz::validity;

const OLD: [&str; 2] = ["v6.16", "v6.17"];
const FIXED: [&str; 6] = ["v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3"];

/// A 4-block RWF_ATOMIC write at 0 on a reflink inode of a device without atomic units, so
/// 6.16+ takes the software CoW path at once (xfs_file_dio_write_atomic), over `cow`, with the
/// page cache `pages` (a delalloc reservation needs a dirty page somewhere over it: rule W18).
fn sw_atomic(cow: &[CowExtent], pages: &str) -> Scenario {
    let mut s = xfs("WWWWWWWW", 0, 16 * KIB);
    s.world.device = Device::default();
    s.world.inode.reflink = true;
    s.world.cow = cow.to_vec();
    s.world.pages = diofuzz::generators::pages(pages).unwrap();
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    s
}

fn new_data(x: &diofuzz::model::Execution, len: u64) -> bool {
    x.after.on_disk[..(len / SECTOR) as usize]
        .iter()
        .all(|&t| t == TAG_NEW)
}

#[test]
fn atomic_write_over_a_delalloc_cow_reservation_eio_before_8d54eacd82a0() {
    // The reservation's dirty page is page 7, outside the write: the flush before the write
    // leaves the reservation alone.
    let s = sw_atomic(&[CowExtent::Delalloc; 8], "NNNNNNND");
    for var in OLD {
        let x = go(&s, var);
        assert_eq!(x.ret, -EIO, "{var}\n{}", x.trace.render());
        assert!(x
            .trace
            .decided("iomap_dio_iter: Direct I/O collision with buffered writes (DELALLOC)"));
        assert!(x.bios.is_empty());
        assert_eq!(props(&x), vec![Prop::O10], "{var}");
    }
    for var in FIXED {
        let x = go(&s, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}\n{}", x.trace.render());
        assert!(x.trace.decided(
            "xfs_atomic_write_cow_iomap_begin: delalloc CoW reservation -> convert_delay, retry"
        ));
        assert_eq!(x.atomic_remaps, 1);
        assert!(new_data(&x, 16 * KIB), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

#[test]
fn unwritten_preallocation_is_used_and_remapped_on_every_variant() {
    // The preallocation covers the write and more: the mapping is trimmed to the write, the
    // rest stays unwritten, the data lands in one atomic remap.
    let s = sw_atomic(&[CowExtent::Unwritten; 8], "");
    for var in OLD.iter().chain(FIXED.iter()) {
        let x = go(&s, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert_eq!(x.atomic_remaps, 1, "{var}");
        assert!(new_data(&x, 16 * KIB), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

#[test]
fn over_conversion_of_the_write_range_before_8d7bba1e8314() {
    // CoW fork: unwritten, hole, unwritten unwritten. The first mapping is block 0 only; before
    // 8d7bba1e8314 the conversion covers the whole write range (blocks 2-3 become "write in
    // progress" although the mapping returned is block 0). A failed allocation of the hole at
    // block 1 then stops the write: the over-converted blocks are left written.
    let mut s = sw_atomic(
        &[
            CowExtent::Unwritten,
            CowExtent::None,
            CowExtent::Unwritten,
            CowExtent::Unwritten,
        ],
        "",
    );
    let label = "xfs_atomic_write_cow_iomap_begin: converts the write range, not the mapping";
    for var in OLD {
        let x = go(&s, var);
        assert!(x.trace.decided(label), "{var}");
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert!(new_data(&x, 16 * KIB), "{var}");
    }
    for var in FIXED {
        let x = go(&s, var);
        assert!(!x.trace.decided(label), "{var}");
        assert_eq!(x.ret, 16 * KIB as i64, "{var}");
        assert!(new_data(&x, 16 * KIB), "{var}");
    }
    // The same world with the hole's allocation failing: all-or-nothing holds on every variant
    // (nothing was remapped); the left-over written CoW blocks are damage for a later write.
    s.faults = vec![Fault {
        site: Site::XfsIomapBegin,
        nth: 0,
        errno: ENOSPC,
    }];
    for var in OLD.iter().chain(FIXED.iter()) {
        let x = go(&s, var);
        assert_eq!(x.ret, -ENOSPC, "{var}\n{}", x.trace.render());
        assert_eq!(x.atomic_remaps, 0);
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

#[test]
fn direct_write_uses_a_preallocation_over_unshared_blocks() {
    // xfs_find_trim_cow_extent: "even if the extent is not shared we might have a preallocation
    // for it in the COW fork": a plain direct write over written, unshared blocks goes through
    // the CoW fork and is remapped at end_io (6.12 on: no version difference).
    let mut s = non_atomic(&xfs("WWWWWWWW", 0, 8 * KIB));
    s.world.inode.reflink = true;
    s.world.cow = vec![CowExtent::Unwritten; 4];
    assert!(validity::is_valid(&s));
    for var in ["v6.12", "v6.15", "v6.17", "v7.3"] {
        let x = go(&s, var);
        assert_eq!(x.ret, 8 * KIB as i64, "{var}");
        assert!(x.trace.entered("xfs_reflink_end_cow"), "{var}");
        assert!(new_data(&x, 8 * KIB), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
    // Without the preallocation the same write is a plain overwrite.
    s.world.cow.clear();
    let x = go(&s, "v7.3");
    assert!(!x.trace.entered("xfs_reflink_end_cow"));
}

#[test]
fn direct_write_fills_a_delalloc_reservation_on_every_variant() {
    // xfs_reflink_allocate_cow -> xfs_reflink_fill_delalloc (all versions): the HW atomic path
    // and plain direct writes never hand iomap a delalloc mapping.
    let mut s = non_atomic(&xfs("WWWWWWWW", 0, 8 * KIB));
    s.world.blocks[0].shared = true;
    s.world.cow = vec![CowExtent::Delalloc; 4];
    s.world.pages = diofuzz::generators::pages("NNND").unwrap();
    assert!(validity::is_valid(&s));
    for var in ["v6.12", "v6.16", "v6.17", "v7.3"] {
        let x = go(&s, var);
        assert_eq!(x.ret, 8 * KIB as i64, "{var}");
        assert!(x.trace.decided(
            "xfs_reflink_allocate_cow: delalloc CoW reservation -> xfs_reflink_fill_delalloc"
        ));
        assert!(new_data(&x, 8 * KIB), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

#[test]
fn writeback_of_a_dirty_page_over_a_cow_reservation_remaps_it() {
    // The flush before the direct write writes page 0 through the CoW fork: the delalloc
    // reservation becomes unwritten blocks (xfs_bmapi_convert_delalloc converts the whole
    // extent) and block 0 is remapped. The atomic write then meets no delalloc extent, so even
    // 6.16/6.17 complete it.
    let s = sw_atomic(&[CowExtent::Delalloc; 8], "D");
    for var in OLD.iter().chain(FIXED.iter()) {
        let x = go(&s, var);
        assert_eq!(x.ret, 16 * KIB as i64, "{var}\n{}", x.trace.render());
        assert!(!x
            .trace
            .decided("iomap_dio_iter: Direct I/O collision with buffered writes (DELALLOC)"));
        assert!(new_data(&x, 16 * KIB), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

// ---------------------------------------------------------------- the input format

#[test]
fn cow_section_round_trips_and_absent_bytes_mean_an_empty_fork() {
    let mut s = sw_atomic(
        &[CowExtent::Delalloc, CowExtent::None, CowExtent::Unwritten],
        "D",
    );
    s.world.cowextsize = 8;
    let b = s.encode().unwrap();
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    let mut plain = s.clone();
    plain.world.pages.clear();
    plain.world.cow.clear();
    plain.world.cowextsize = 0;
    let mut paged = plain.clone();
    paged.world.pages = s.world.pages.clone();
    let (pb, gb) = (plain.encode().unwrap(), paged.encode().unwrap());
    assert_eq!(&b[..gb.len()], &gb[..], "the section is appended");
    assert_eq!(b[gb.len()], COW_SECTION);
    // A trailing byte other than the section marker is ignored, as before.
    let mut t = pb.clone();
    t.push(7);
    assert_eq!(Scenario::decode(&t).unwrap(), plain);
}

#[test]
fn every_earlier_committed_input_decodes_with_an_empty_cow_fork() {
    let mut n = 0;
    for dir in ["corpus/dio_write", "corpus/regressions"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            // The CoW-fork regressions are the only inputs written with the section.
            let cow_input = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cow_"));
            if p.extension().is_some() || cow_input {
                continue;
            }
            let b = std::fs::read(&p).unwrap();
            if let Ok(s) = Scenario::decode(&b) {
                assert!(
                    s.world.cow.is_empty() && s.world.cowextsize == 0,
                    "{}",
                    p.display()
                );
                n += 1;
            }
        }
    }
    assert!(n > 30, "{n} inputs");
}

#[test]
fn a_dirty_page_over_a_shared_block_is_a_cow_reservation() {
    // The buffered write that dirtied page 0 over shared block 0 reserved it in the CoW fork
    // (xfs_buffered_write_iomap_begin), listed or not: the flush before the atomic write remaps
    // the block, so the write finds it unshared and issues one REQ_ATOMIC bio in place.
    let mut s = xfs("SWWWWWWW", 0, 4 * KIB);
    s.world.inode.reflink = true;
    s.world.pages = vec![PageState::Dirty];
    assert!(validity::is_valid(&s));
    for var in ["v6.16", "v7.3"] {
        let x = go(&s, var);
        assert_eq!(x.ret, 4 * KIB as i64, "{var}");
        assert_eq!(x.bios.len(), 1, "{var}\n{}", x.trace.render());
        assert!(x.bios[0].atomic, "{var}");
        assert_eq!(x.atomic_remaps, 0, "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
    // Without the dirty page the block is still shared: CoW staging and one atomic remap.
    s.world.pages.clear();
    let x = go(&s, "v7.3");
    assert!(!x.bios[0].atomic);
    assert_eq!(x.atomic_remaps, 1);
}
