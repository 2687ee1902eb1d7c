// SPDX-License-Identifier: GPL-2.0-only
//! A page under writeback over an UNWRITTEN block inside EOF (session 11): the writeback's I/O
//! carries the page's data and the extent is converted only when it completes (ext4 on the
//! default dioread_nolock mount: `ext4_end_io_end` -> `ext4_convert_unwritten_io_end_vec`, the
//! folio leaving writeback after it; XFS: `xfs_end_ioend` -> `xfs_iomap_write_unwritten`). The
//! call reads the block map before its writeback wait (ext4_dio_write_checks:
//! `ext4_overwrite_io` up to 7.2, `ext4_dio_needs_zeroing` in 7.3) and sees it unwritten; after
//! the wait (`filemap_write_and_wait_range`) it is written and holds the page's data. Every
//! variant (docs/model.md §2.1).

mod common;
use common::{go, props};
use diofuzz::errno::*;
use diofuzz::generators::{hole, unwritten, written, xfs, KIB};
use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_ZERO};
use diofuzz::scenario::*;

fn variants() -> Vec<&'static str> {
    diofuzz::variant::VARIANTS.iter().map(|v| v.name).collect()
}

/// ext4, 4 KiB blocks, 16 KiB file: block 0 unwritten under page 0 under writeback, the rest
/// written; a plain O_DIRECT write of `len` at `pos`.
fn ext4_uwb(pos: u64, len: u64) -> Scenario {
    let mut s = diofuzz::generators::base();
    s.world.blocks = vec![unwritten(), written(), written(), written()];
    s.world.pages = vec![PageState::Writeback];
    s.request.rwf.atomic = false;
    s.request.pos = pos;
    s.request.len = len;
    assert!(
        diofuzz::validity::violations(&s).is_empty(),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    s
}

#[test]
fn an_unaligned_write_finds_the_block_converted_after_the_wait() {
    let s = ext4_uwb(512, 512);
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, 512, "{var}");
        // The world at the write: the page's data is what a reader gets (through the cache, and
        // from disk once the writeback in flight has completed).
        assert!(x.before.on_disk[..8].iter().all(|&t| t == TAG_OLD), "{var}");
        assert!(x.before.cached[..8].iter().all(|&t| t == TAG_OLD), "{var}");
        // After the call: the converted block holds the page's data around the new sector.
        // (Without the conversion at the wait the block stays unwritten, the DIO zeroes its
        // partial block and sectors 0, 2..8 read zeroes.)
        assert_eq!(x.after.on_disk[0], TAG_OLD, "{var}");
        assert_eq!(x.after.on_disk[1], TAG_NEW, "{var}");
        assert!(x.after.on_disk[2..8].iter().all(|&t| t == TAG_OLD), "{var}");
        assert_eq!(x.stale_page, None, "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
        assert!(
            x.trace
                .render()
                .contains("writeback completion: unwritten blocks"),
            "{var}"
        );
    }
}

/// The lock decision reads the block map before the wait: an unaligned write into a block
/// unwritten until the writeback completes needs the exclusive lock (`ext4_overwrite_io` up to
/// 7.2: an unaligned write into unwritten blocks; 7.3 `ext4_dio_needs_zeroing`: the partial
/// head block is not a written mapping), so RWF_NOWAIT fails on the lock upgrade, which it does
/// not over a written block.
#[test]
fn nowait_fails_on_the_lock_upgrade_read_before_the_wait() {
    let mut s = ext4_uwb(512, 512);
    s.request.rwf.nowait = true;
    let mut w = s.clone();
    w.world.blocks[0] = written();
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, -EAGAIN, "{var}");
        assert!(
            x.path
                .contains(&"ext4_dio_write_checks: NOWAIT needs the exclusive lock -> -EAGAIN"),
            "{var}: {:?}",
            x.path
        );
        // Nothing completed: the page is still under writeback, the image unchanged.
        assert_eq!(x.after.on_disk, x.before.on_disk, "{var}");
        // Over a written block the shared lock is kept (the call fails later: the timestamps
        // under 7.3's kiocb_modified, the cached folio before).
        let y = go(&w, var);
        assert_eq!(y.ret, -EAGAIN, "{var}");
        assert!(
            !y.path
                .contains(&"ext4_dio_write_checks: NOWAIT needs the exclusive lock -> -EAGAIN"),
            "{var}: {:?}",
            y.path
        );
    }
}

/// A write elsewhere leaves the page under writeback: the block is still unwritten in the block
/// map, and the image (the disk once the writeback completes) keeps the page's data.
#[test]
fn a_write_elsewhere_leaves_the_writeback_in_flight() {
    let s = ext4_uwb(8 * KIB, 4 * KIB);
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, 4096, "{var}");
        assert_eq!(x.after.on_disk[..8], x.before.on_disk[..8], "{var}");
        assert!(x.after.on_disk[..8].iter().all(|&t| t == TAG_OLD), "{var}");
        assert!(
            x.after.on_disk[16..24].iter().all(|&t| t == TAG_NEW),
            "{var}"
        );
        assert_eq!(x.stale_page, None, "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

/// 1 KiB blocks: page 0 over a written, two unwritten and a hole block; a 1 KiB write into
/// block 2. Both unwritten blocks are converted with the page's data at the wait; the hole
/// (a buffer the page's writeback does not write) stays a hole.
#[test]
fn blocks_smaller_than_a_page() {
    let mut s = ext4_uwb(2 * KIB, KIB);
    s.world.blkbits = 10;
    s.world.i_size = 6 * KIB;
    s.world.blocks = vec![
        written(),
        unwritten(),
        unwritten(),
        hole(),
        written(),
        written(),
    ];
    assert!(
        diofuzz::validity::violations(&s).is_empty(),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, 1024, "{var}");
        let d = &x.after.on_disk;
        assert!(d[0..4].iter().all(|&t| t == TAG_OLD), "{var}: {d:?}");
        assert!(d[4..6].iter().all(|&t| t == TAG_NEW), "{var}: {d:?}");
        assert!(d[2..4].iter().all(|&t| t == TAG_OLD), "{var}: {d:?}");
        assert!(d[6..8].iter().all(|&t| t == TAG_ZERO), "{var}: {d:?}");
        assert_eq!(x.stale_page, None, "{var}");
    }
}

/// The page at EOF: the unwritten EOF block is converted with the page's data below EOF and the
/// zeroes the writeback wrote past it; an extending write past it reads them.
#[test]
fn the_page_at_eof() {
    let mut s = ext4_uwb(4 * KIB, 4 * KIB);
    s.world.i_size = 1536;
    s.world.blocks = vec![unwritten()];
    assert!(
        diofuzz::validity::violations(&s).is_empty(),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, 4096, "{var}");
        assert_eq!(x.after.i_size, 8192, "{var}");
        let d = &x.after.on_disk;
        assert!(d[0..3].iter().all(|&t| t == TAG_OLD), "{var}: {d:?}");
        assert!(d[3..8].iter().all(|&t| t == TAG_ZERO), "{var}: {d:?}");
        assert!(d[8..16].iter().all(|&t| t == TAG_NEW), "{var}: {d:?}");
    }
}

/// XFS reads no block map before the wait; after it the block is written with the page's data.
#[test]
fn xfs_converts_at_the_wait_too() {
    let mut s = xfs("UWWWWWWW", 512, 512);
    s.world.pages = vec![PageState::Writeback];
    s.request.rwf.atomic = false;
    assert!(
        diofuzz::validity::violations(&s).is_empty(),
        "{:?}",
        diofuzz::validity::violations(&s)
    );
    for var in variants() {
        let x = go(&s, var);
        assert_eq!(x.ret, 512, "{var}");
        assert_eq!(x.after.on_disk[0], TAG_OLD, "{var}");
        assert_eq!(x.after.on_disk[1], TAG_NEW, "{var}");
        assert!(x.after.on_disk[2..8].iter().all(|&t| t == TAG_OLD), "{var}");
        assert!(props(&x).is_empty(), "{var}: {:?}", props(&x));
    }
}

/// W48-writeback-unwritten: an ext4 page under writeback over a delayed block inside EOF, or
/// over an unwritten block with journalled data, is no world (normalised: the block written);
/// over an unwritten block on a delalloc extent-mapped inode, over a hole with blocks smaller
/// than a page, on XFS, or past EOF it is.
#[test]
fn w48_writeback_over_delayed_or_journalled_unwritten() {
    let ids = |s: &Scenario| -> Vec<&'static str> {
        diofuzz::validity::violations(s)
            .into_iter()
            .map(|v| v.rule.id)
            .collect()
    };
    let ok = ext4_uwb(512, 512);
    assert!(ids(&ok).is_empty());
    let mut d = ok.clone();
    d.world.blocks[0].kind = Extent::Delalloc;
    assert_eq!(ids(&d), vec!["W48-writeback-unwritten"]);
    let mut n = d.clone();
    assert_eq!(
        diofuzz::validity::normalise(&mut n),
        vec!["W48-writeback-unwritten"]
    );
    assert_eq!(n.world.blocks[0].kind, Extent::Written);
    let mut j = ok.clone();
    j.world.mount.data_journal = true;
    assert!(
        ids(&j).contains(&"W48-writeback-unwritten"),
        "{:?}",
        ids(&j)
    );
    let mut j = ok.clone();
    j.world.inode.journal_data = true;
    assert!(
        ids(&j).contains(&"W48-writeback-unwritten"),
        "{:?}",
        ids(&j)
    );
    // The page clean, dirty or not cached over the delayed block: other rules' business.
    let mut c = d.clone();
    c.world.pages = vec![PageState::Dirty];
    assert!(!ids(&c).contains(&"W48-writeback-unwritten"));
    // XFS: real (the rule is ext4's).
    let mut x = xfs("UWWWWWWW", 512, 512);
    x.world.pages = vec![PageState::Writeback];
    assert!(ids(&x).is_empty(), "{:?}", ids(&x));
}

/// An extending write elsewhere: the unwritten block past the old EOF under the same page is
/// not part of the writeback in flight (found by live, gen-1-xfs-52): it stays unwritten and
/// reads zeroes; the page's own block keeps its data.
#[test]
fn an_extending_write_does_not_widen_the_writeback() {
    for fs in [FsKind::Ext4, FsKind::Xfs] {
        let mut s = ext4_uwb(8 * KIB, 4 * KIB);
        s.fs = fs;
        s.world.blkbits = 10;
        s.world.i_size = KIB;
        s.world.blocks = vec![unwritten(), unwritten()];
        assert!(
            diofuzz::validity::violations(&s).is_empty(),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        for var in variants() {
            let x = go(&s, var);
            assert_eq!(x.ret, 4096, "{fs:?} {var}");
            let d = &x.after.on_disk;
            assert!(d[0..2].iter().all(|&t| t == TAG_OLD), "{fs:?} {var}: {d:?}");
            assert!(
                d[2..16].iter().all(|&t| t == TAG_ZERO),
                "{fs:?} {var}: {d:?}"
            );
            assert_eq!(x.stale_page, None, "{fs:?} {var}");
        }
    }
}
