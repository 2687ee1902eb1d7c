// SPDX-License-Identifier: GPL-2.0-only
//! ext4 inline data converted by a delayed-allocation write and not yet written back
//! (`world.inline_delalloc`, validity rule W46, session 9): the world
//! `ext4_da_convert_inline_data_to_extent` (fs/ext4/inline.c) leaves (INLINE_DATA kept,
//! EXT4_STATE_MAY_INLINE_DATA clear, page 0 dirty over a delayed block 0) is real; an O_DIRECT
//! write on it is buffered (`ext4_dio_alignment` is 0 with inline data) and takes the delalloc
//! path of `ext4_da_write_begin`; its encoding is an optional section at the end.

mod common;
use common::go;
use diofuzz::generators::{hole, layout, pages};
use diofuzz::model::{TAG_NEW, TAG_OLD_DIRTY, TAG_ZERO};
use diofuzz::scenario::*;
use diofuzz::validity;

/// An O_DIRECT write of `len` at `pos` on the state a 4 KiB-block ext4 inline file is in after a
/// buffered write of [0, 5121) outgrew the inode: blocks 0 and 1 delayed under dirty pages.
fn converted(pos: u64, len: u64) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Scenario::default()
    };
    s.world.i_size = 5121;
    s.world.blocks = layout("DD").unwrap();
    s.world.pages = pages("DD").unwrap();
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    s.world.inline_delalloc = true;
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = len;
    s
}

fn rules(s: &Scenario) -> Vec<&'static str> {
    validity::violations(s).iter().map(|v| v.rule.id).collect()
}

#[test]
fn ext4_da_convert_inline_data_to_extent_leaves_a_real_world() {
    let s = converted(8192, 4096);
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    // ext4_da_do_write_end leaves i_disksize behind for delayed buffers: W37 allows the lag.
    let mut lag = s.clone();
    lag.world.inode.disksize_lag = true;
    assert!(validity::is_valid(&lag), "{:?}", validity::violations(&lag));
    // Without the pending conversion the same blocks are an inline inode owning blocks (W6),
    // normalised to the plain inline inode.
    let mut plain = s.clone();
    plain.world.inline_delalloc = false;
    assert_eq!(rules(&plain), ["W6-inline"]);
    validity::normalise(&mut plain);
    assert!(plain.world.inode.inline_data);
    assert!(plain.world.blocks.iter().all(|b| b.kind == Extent::Hole));
    assert!(plain.world.i_size <= validity::max_inline(4096));
}

#[test]
fn w46_refuses_what_the_conversion_does_not_leave() {
    let base = converted(0, 4096);
    let refused = |f: &dyn Fn(&mut Scenario)| {
        let mut s = base.clone();
        f(&mut s);
        let r = rules(&s);
        assert!(r.contains(&"W46-inline-delalloc"), "{r:?}");
        // Normalised to a real world (W6 may already have made it one: an allocated block
        // cleared), else no conversion pending and the plain inline inode of W6.
        validity::normalise(&mut s);
        assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    };
    // Only the delalloc aops convert this way (ext4_write_begin / the journalled aops convert
    // at once: ext4_convert_inline_data_to_extent).
    refused(&|s| s.world.mount.data_journal = true);
    // ext4_da_convert_inline_data_to_extent maps block 0 delayed and dirties folio 0.
    refused(&|s| s.world.blocks[0] = hole());
    refused(&|s| s.world.pages[0] = PageState::Clean);
    // Nothing allocates before ext4_do_writepages destroys the inline data.
    refused(&|s| s.world.blocks[1].kind = Extent::Written);
    refused(&|s| s.world.blocks[1].kind = Extent::Unwritten);
    // No writeback runs and no store faults in (ext4_page_mkwrite converts, flushing first).
    refused(&|s| s.world.pages[1] = PageState::Writeback);
    refused(&|s| s.world.pages[1] = PageState::MappedDirty);
    // The converting write ended past EXT4_MIN_INLINE_DATA_SIZE; a truncate below the inline
    // size (ext4_inline_data_truncate) drops the delayed extents.
    refused(&|s| s.world.i_size = 59);
    // ext4 only, INLINE_DATA at open too.
    refused(&|s| s.world.inode.inline_data = false);
    refused(&|s| {
        s.fs = FsKind::Xfs;
        s.world.inode.extents = true;
    });
}

/// Session 10: a truncate to exactly i_inline_size after the conversion keeps the state
/// (ext4_setattr converts only past i_inline_size; ext4_inline_data_truncate drops the delayed
/// extents only below the inline size): i_size from 60 up to what the inode holds, block 0
/// delayed under the dirty page 0.
#[test]
fn a_truncate_to_the_inline_size_keeps_the_conversion_pending() {
    for i_size in [60, 61, 500, validity::max_inline(4096)] {
        let mut s = converted(8192, 4096);
        s.world.i_size = i_size;
        s.world.blocks = layout("D").unwrap();
        s.world.pages = pages("D").unwrap();
        assert!(
            validity::is_valid(&s),
            "{i_size}: {:?}",
            validity::violations(&s)
        );
    }
}

#[test]
fn an_o_direct_write_after_the_conversion_is_a_buffered_delalloc_write() {
    // ext4_dio_write_iter -> ext4_should_use_dio -> ext4_dio_alignment: 0 with inline data, in
    // every version; ext4_buffered_write_iter -> ext4_da_write_begin, EXT4_STATE_MAY_INLINE_DATA
    // clear: the delalloc path (ext4_da_get_block_prep), no inline write, no WARN in
    // ext4_iomap_begin.
    let s = converted(8192, 4096);
    for v in ["v6.12", "v6.18", "v7.2", "v7.3"] {
        let x = go(&s, v);
        assert!(!x.trace.entered("iomap_dio_rw"), "{v}");
        assert!(!x.trace.entered("ext4_iomap_begin"), "{v}");
        assert!(x.buffered_calls > 0, "{v}");
        assert!(x.warns.is_empty(), "{v}: {:?}", x.warns);
        assert_eq!((x.ret, x.after.i_size), (4096, 12288), "{v}");
        let c = &x.after.cached;
        // Page 0 keeps what the conversion and the writes after it dirtied; the hole after
        // EOF reads zeroes; the new page holds the data.
        assert!(
            c[..8].iter().all(|&t| t == TAG_OLD_DIRTY),
            "{v}: {:?}",
            &c[..8]
        );
        assert!(c[16..24].iter().all(|&t| t == TAG_NEW), "{v}");
        assert!(
            x.trace.events.iter().any(|e| matches!(e,
                diofuzz::model::Ev::Note(n) if n.contains("EXT4_STATE_MAY_INLINE_DATA clear"))),
            "{v}"
        );
    }
    // Unwritten to disk: nothing was written back (O_DIRECT did not flush).
    let x = go(&s, "v7.3");
    assert!(x.after.on_disk.iter().all(|&t| t == TAG_ZERO));
}

#[test]
fn an_atomic_write_after_the_conversion_is_refused_from_6_16() {
    // ext4_inode_can_atomic_write needs EXT4_INODE_EXTENTS, which the conversion does not set
    // (ext4_destroy_inline_data_nolock sets it at writeback).
    let mut s = converted(8192, 4096);
    s.request.rwf.atomic = true;
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    assert_eq!(go(&s, "v6.18").ret, -diofuzz::errno::EOPNOTSUPP);
    assert_eq!(go(&s, "v7.3").ret, -diofuzz::errno::EOPNOTSUPP);
}

#[test]
fn the_inline_section_round_trips_and_absent_bytes_mean_no_conversion() {
    let s = converted(8192, 4096);
    let b = s.encode().unwrap();
    assert_eq!(&b[b.len() - 2..], &[INLINE_SECTION, 1]);
    assert_eq!(Scenario::decode(&b).unwrap(), s);
    // Without the section: no conversion pending (W6 then makes it the plain inline inode).
    let d = Scenario::decode_raw(&b[..b.len() - 2]).unwrap();
    assert!(!d.world.inline_delalloc);
    // After a scattered-iovec section.
    let mut sc = s.clone();
    sc.request.scatter = Some(Scatter { segs: 3, offset: 0 });
    sc.request.nr_segs = 1;
    sc.request.buf_align = PAGE_SIZE as u32;
    let b = sc.encode().unwrap();
    assert_eq!(Scenario::decode_raw(&b).unwrap(), sc);
    // After the device-kind section (pmem618, session 9): both, in that order.
    let mut dv = s.clone();
    dv.world.device.no_bio_split = true;
    let b = dv.encode().unwrap();
    assert_eq!(&b[b.len() - 4..], &[DEVICE_SECTION, 1, INLINE_SECTION, 1]);
    assert_eq!(Scenario::decode_raw(&b).unwrap(), dv);
    // JSON: the field only when set.
    let j = serde_json::to_string(&converted(0, 512)).unwrap();
    assert!(j.contains("\"inline_delalloc\":true"));
    let mut off = converted(0, 512);
    off.world.inline_delalloc = false;
    assert!(!serde_json::to_string(&off)
        .unwrap()
        .contains("inline_delalloc"));
}

/// Every committed input decodes as before: none holds the new section (so none has a
/// conversion pending, and the normalisation of every other field is unchanged).
#[test]
fn no_committed_input_holds_the_inline_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["corpus/dio_write", "corpus/regressions"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some() {
                continue;
            }
            let b = std::fs::read(&p).unwrap();
            if let Ok(s) = Scenario::decode_raw(&b) {
                assert!(!s.world.inline_delalloc, "{}", p.display());
                n += 1;
            }
        }
    }
    assert!(n >= 90, "{n}");
}
