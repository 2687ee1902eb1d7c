// SPDX-License-Identifier: GPL-2.0-only
//! A page written only in part with blocks smaller than a page (issue 13, session 8): the hole
//! blocks the write left out stay clean holes (`__block_commit_write`, fs/buffer.c: only the
//! buffers inside the write are dirtied; iomap's per-block dirty state, `ifs_set_range_dirty`),
//! read as zeroes, and writeback skips them (`mpage_process_page_bufs`, fs/ext4/inode.c;
//! `iomap_writeback_folio` / `iomap_find_dirty_range`, fs/iomap/buffered-io.c; 6.12's
//! `iomap_writepage_map`). The model reads such a world in `Cx::new` (`partial_dirty_holes`).
//! And a shared block straddling EOF on XFS: the tail past EOF reads zero in the model, as the
//! donor's writeback left it (a reflink shares the whole block).

mod common;
use common::go;
use diofuzz::generators::{layout, pages, KIB};
use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_OLD_DIRTY, TAG_ZERO};
use diofuzz::scenario::*;

/// 1 KiB blocks, page 0 dirty over delalloc, hole, hole, delalloc (the buffered writes covered
/// blocks 0 and 3 only), page 1 over written blocks; a plain O_DIRECT write of block 1 (a hole).
fn partly_dirty(fs: FsKind) -> Scenario {
    let mut s =
        diofuzz::generators::atomic_write(fs, 8 * KIB, layout("DHHDWWWW").unwrap(), KIB, KIB);
    s.world.blkbits = 10;
    s.world.pages = pages("DN").unwrap();
    s.request.rwf.atomic = false;
    s.world.device.awu_min = 0;
    s.world.device.awu_max = 0;
    s
}

/// Sectors of block `b` (1 KiB blocks).
fn sect(b: usize) -> std::ops::Range<usize> {
    b * 2..b * 2 + 2
}

#[test]
fn writeback_of_a_partly_dirty_page_leaves_its_hole_blocks_holes() {
    for fs in [FsKind::Ext4, FsKind::Xfs] {
        let s = partly_dirty(fs);
        assert!(diofuzz::validity::is_valid(&s), "{fs:?}");
        for var in ["v6.12", "v7.3"] {
            let x = go(&s, var);
            assert_eq!(x.ret, KIB as i64, "{fs:?} {var}");
            // Before: the dirty blocks hold the newer data, the holes read zeroes.
            for b in [0, 3] {
                assert!(x.before.cached[sect(b)].iter().all(|&t| t == TAG_OLD_DIRTY));
            }
            for b in [1, 2] {
                assert!(
                    x.before.cached[sect(b)].iter().all(|&t| t == TAG_ZERO),
                    "{fs:?} {var}: hole block {b} of a partly dirty page reads zeroes"
                );
            }
            // After: kiocb_invalidate_pages wrote back blocks 0 and 3 only; the direct write
            // filled block 1; block 2 is still a hole (zeroes on the disk, not the page's data).
            let d = &x.after.on_disk;
            assert!(
                d[sect(0)].iter().all(|&t| t == TAG_OLD_DIRTY),
                "{fs:?} {var}"
            );
            assert!(d[sect(1)].iter().all(|&t| t == TAG_NEW), "{fs:?} {var}");
            assert!(
                d[sect(2)].iter().all(|&t| t == TAG_ZERO),
                "{fs:?} {var}: writeback allocated a clean hole block"
            );
            assert!(
                d[sect(3)].iter().all(|&t| t == TAG_OLD_DIRTY),
                "{fs:?} {var}"
            );
            assert!(d[sect(4)].iter().all(|&t| t == TAG_OLD), "{fs:?} {var}");
        }
    }
}

/// A dirty page whose every block is dirty (no hole) is written back whole, as before.
#[test]
fn a_wholly_dirty_page_is_written_back_whole() {
    let mut s = partly_dirty(FsKind::Ext4);
    s.world.blocks = layout("DDDDWWWW").unwrap();
    let x = go(&s, "v7.3");
    assert!(x.after.on_disk[sect(2)].iter().all(|&t| t == TAG_OLD_DIRTY));
}

/// XFS, a written block shared and straddling EOF (6 KiB into an 8 KiB file of 4 KiB blocks), a
/// 4 KiB direct write at 8 KiB: the tail of the EOF block past the old EOF reads zeroes after
/// the write (`xfs_file_write_zero_eof` zeroes it, through the CoW fork for a shared block; the
/// donor's writeback had zeroed it on the disk already), the OLD data below EOF stays.
#[test]
fn a_shared_block_straddling_eof_reads_zero_past_the_old_eof() {
    let mut s = diofuzz::generators::xfs("WS", 8 * KIB, 4 * KIB);
    s.world.i_size = 6 * KIB;
    s.world.inode.reflink = true;
    s.request.rwf.atomic = false;
    s.world.device.awu_min = 0;
    s.world.device.awu_max = 0;
    assert!(diofuzz::validity::is_valid(&s));
    for var in ["v6.12", "v7.3"] {
        let x = go(&s, var);
        assert_eq!(x.ret, 4 * KIB as i64, "{var}");
        assert_eq!(x.after.i_size, 12 * KIB, "{var}");
        let c = &x.after.cached;
        assert!(c[..12].iter().all(|&t| t == TAG_OLD), "{var}: {c:?}");
        assert!(c[12..16].iter().all(|&t| t == TAG_ZERO), "{var}: {c:?}");
        assert!(c[16..24].iter().all(|&t| t == TAG_NEW), "{var}: {c:?}");
    }
}

/// A block device has no holes: its "hole" blocks are device blocks holding zeroes, and a dirty
/// page there is dirty in every buffer (the set-up and the model dirty whole pages;
/// `block_write_full_folio` writes every dirty buffer). The partly-dirty reading above must
/// not apply: with 1 KiB blocks the dirty page's data over zeroed device blocks is what a read
/// sees and what writeback writes (a regression of the session-8 merge: live's bdev-geometry
/// worlds disagreed, "model zero / kernel old-dirty").
#[test]
fn a_block_device_dirty_page_is_dirty_over_every_block() {
    let mut s = partly_dirty(FsKind::Bdev);
    // Page 0 over written, zeroed, zeroed, written device blocks (a file would call blocks 1
    // and 2 holes under a partly dirty page).
    s.world.blocks.iter_mut().for_each(|b| {
        if b.kind == Extent::Delalloc {
            b.kind = Extent::Written;
        }
    });
    s.world.inode = InodeFlags::default();
    s.world.mount = Mount::default();
    s.request.open.direct = false;
    diofuzz::validity::normalise(&mut s);
    assert_eq!((s.fs, s.world.blkbits), (FsKind::Bdev, 10));
    assert_eq!(s.world.blocks[1].kind, Extent::Hole);
    for var in ["v6.12", "v7.3"] {
        let x = go(&s, var);
        for b in 0..4 {
            assert!(
                x.before.cached[sect(b)].iter().all(|&t| t == TAG_OLD_DIRTY),
                "{var}: block {b} of a dirty bdev page holds the page's data, {:?}",
                &x.before.cached[sect(b)]
            );
        }
    }
}
