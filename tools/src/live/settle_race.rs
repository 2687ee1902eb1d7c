// SPDX-License-Identifier: GPL-2.0-only
//! Two ext4 inode states that settle after open (`Race::InodeFlagChangedAfterOpen(2)` and
//! `(11)` cleared; docs/live.md "Races after open"). Kernel functions read in 6.12.117 and
//! 7.3.4 (fs/ext4/inline.c, extents.c, inode.c); the same in both, 7.2.12 too.
//!
//! * **Inline data converted away after open** (flag 2, inline at open, not at the write; the
//!   steps after the conversion that reach more worlds, and the truncate path: super::settle_more).
//!   `fallocate(FALLOC_FL_KEEP_SIZE, 0, 1)` through the call's file: `ext4_fallocate` calls
//!   `ext4_convert_inline_data` before anything else (before the extents test of
//!   `ext4_do_fallocate`, which refuses a block-mapped inode with -EOPNOTSUPP *after* the
//!   conversion). `ext4_convert_inline_data_nolock` reads the inline bytes
//!   (`ext4_get_inline_size`), `ext4_destroy_inline_data_nolock` clears the flag and, on a
//!   filesystem with the extents feature, sets EXTENTS (`ext4_ext_tree_init`), then block 0 is
//!   allocated and filled with the inline bytes and zeroes past them (`memset`, `memcpy`,
//!   journalled as metadata: `ext4_handle_dirty_metadata`). The file's page cache is not
//!   touched. On an extent-mapped result the fallocate of [0, 1) finds block 0 mapped and does
//!   nothing more. So the set-up writes the OLD pattern into the inline file (not the zeroes of
//!   an inline world at rest) and the world at the write is the scenario's: block 0 written
//!   with OLD below EOF and zeroes past it, every other block a hole, the (clean) cached page
//!   0 as it was. A block-mapped inode at the write on a filesystem with extents is the
//!   conversion followed by `chattr -e` (`ext4_ind_migrate`). Each runs on a filesystem of its
//!   own (`FsKey::own`): block 0 sits in the journal as metadata, and the jbd2 checkpoint writes
//!   that copy home later, over whatever the block holds then
//!   (docs/live-findings/inline-convert-checkpoint); a reused filesystem could hand the freed
//!   block to a later scenario's file.
//! * **i_disksize written back after open** (flag 11, the lag at open, none at the write). The
//!   lag at open is built as at rest (super::inode_state: a delalloc block at EOF under a dirty
//!   page, written by a buffered write that extends i_size); after open
//!   `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` over that page: `ext4_do_writepages` ->
//!   `mpage_map_and_submit_extent` allocates the page's delayed blocks, writes them and moves
//!   i_disksize to i_size (the end of the mapped pages, `mpd->first_page` in 6.12.117,
//!   `mpd->start_pos` in 7.3.4, capped at i_size); the page is clean afterwards, every other
//!   dirty page untouched (the range is the page). So the set-up writes that page with the OLD
//!   pattern (not OLD_DIRTY) and the world at the write has the page clean and the blocks under
//!   it below EOF written with OLD.

use super::plan::{Plan, Step, Unsupported, FS_EXTENT_FL};
pub use super::settle_more::Op;
use diofuzz::scenario::{Extent, FsKind, PageState, Race, Scenario, PAGE_SIZE};

/// INODE_FLAG_NAMES indices.
pub const INLINE_DATA: u8 = 2;
pub const DISKSIZE_LAG: u8 = 11;

/// What settles between the call's open and the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// `ops[0]` converts (fallocate: ext4_fallocate -> ext4_convert_inline_data, or ftruncate
    /// past the inline size: ext4_setattr -> ext4_convert_inline_data), the rest shape the
    /// converted file ([`Op`], super::settle_more); with `sync` (`live --sync-after-convert`)
    /// a syncfs right after the conversion, which writes the journalled block 0 home
    /// ([`with_sync`]).
    ConvertInline { sync: bool, ops: Vec<Op> },
    /// sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) over [off, off+len), the page at EOF;
    /// with `drop` then posix_fadvise(DONTNEED) over it (the clean page reclaimed: not cached at
    /// the write).
    WriteBackEof { off: u64, len: u64, drop: bool },
    /// The same writeback, held in flight through the call (session 10; session 9 built and
    /// backed it out): the page at EOF is under writeback at the write. The hold
    /// ([`super::pages`]) freezes the lower filesystem and starts it
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): `mpage_map_and_submit_extent` allocates the
    /// delayed block and moves `i_disksize` when it submits, before the I/O completes. On the
    /// default mount (`dioread_nolock`) `mpage_map_one_extent` allocates it *unwritten*
    /// (`EXT4_GET_BLOCKS_UNWRIT_EXT`) and `ext4_end_io_end` -> `ext4_convert_unwritten_io_end_vec`
    /// converts it only at completion, while the call's `ext4_dio_write_checks` reads the block
    /// map (`ext4_overwrite_io` up to 7.2, `ext4_dio_needs_zeroing` in 7.3) *before* its
    /// writeback wait: a state the model has no page state for. So the filesystem is mounted
    /// `-o nodioread_nolock` ([`super::plan::FsKey::dioread_lock`]): `ext4_should_dioread_nolock`
    /// is false and the block is allocated written at submission (`EXT4_GET_BLOCKS_CREATE`),
    /// which is exactly the model's page under writeback over a written block holding what the
    /// disk will hold (the OLD pattern). Read in 6.12.117 and 7.3.4 (fs/ext4/inode.c,
    /// page-io.c, file.c, ext4_jbd2.h).
    ///
    /// Session 11: with `unwritten`, the same on the default mount (`-o noauto_da_alloc`
    /// only, [`super::plan::FsKey::noauto_da_alloc`]): the world at the write has the block at
    /// EOF unwritten under the page under writeback (the model converts it at its writeback
    /// wait, `Cx::converts_at_completion`); `i_disksize` moved at submission all the same
    /// (`mpage_map_and_submit_extent`, 6.12.117 and 7.3.4: nothing in fs/ext4/page-io.c moves
    /// it). FIEMAP checks the block unwritten during the hold (`CallPages::unwritten`).
    WriteBackHeld { off: u64, len: u64, unwritten: bool },
}

/// C: the held lag world needs a `nodioread_nolock` mount (on the default mount the block the
/// writeback allocates is unwritten until the I/O completes: a world the model does not have);
/// the longest mount point of /proc/self/mounts that holds the file must show the option.
const C_DIOREAD_LOCK: &str = r#"	{
		char *mrp = realpath(path, NULL), line[2048], best[1024] = "";
		size_t bl = 0;
		FILE *mf = fopen("/proc/self/mounts", "r");
		while (mrp && mf && fgets(line, sizeof(line), mf)) {
			char dev[256], mnt[512], type[64], opts[1024];
			if (sscanf(line, "%255s %511s %63s %1023s", dev, mnt, type, opts) != 4)
				continue;
			size_t n = strlen(mnt);
			if (n >= bl && !strncmp(mrp, mnt, n) && (n == 1 || mrp[n] == '/' || !mrp[n])) {
				bl = n;
				snprintf(best, sizeof(best), "%s", opts);
			}
		}
		if (mf)
			fclose(mf);
		free(mrp);
		if (!strstr(best, "nodioread_nolock")) {
			printf("COULD NOT RUN: the filesystem is not mounted -o nodioread_nolock (options %s)\n", best);
			return 2;
		}
	}
"#;

/// The world at open (`open`, whose inode is already `Scenario::inode_at_open`) for flag `i`
/// cleared after open, and what settles it (None: nothing to do, a lag of nothing at a block-
/// aligned i_size: the model's i_disksize is i_size rounded down to a block).
pub fn split(s: &Scenario, open: &mut Scenario, i: u8) -> Result<Option<Settle>, Unsupported> {
    let w = &s.world;
    if s.fs != FsKind::Ext4 {
        return Err("inline data or an i_disksize lag settled after open off ext4".into());
    }
    if s.has_race(Race::MmapRedirty) || w.inode.swapfile || w.mount.shutdown || w.mount.emergency_ro
    {
        return Err(
            "inline data or an i_disksize lag settled after open with the mmap writer, on a swap file or a filesystem brought down (not built)"
                .into(),
        );
    }
    let bs = 1u64 << w.blkbits;
    match i {
        INLINE_DATA => {
            let ops = super::settle_more::convert_ops(s, open)?;
            Ok(Some(Settle::ConvertInline { sync: false, ops }))
        }
        DISKSIZE_LAG => {
            let f = w.inode;
            if w.mount.data_journal || f.journal_data || f.inline_data || f.dax {
                return Err(
                    "i_disksize written back after open without delalloc (no such lag: ext4_update_inode_size moves i_disksize on every non-delalloc path, rule W37 at the write)".into(),
                );
            }
            if w.i_size % bs == 0 {
                // No lag at open either (src/model: i_disksize = i_size rounded down).
                return Ok(None);
            }
            let page = w.i_size / PAGE_SIZE;
            let at_write = w
                .pages
                .get(page as usize)
                .copied()
                .unwrap_or(PageState::None);
            if !matches!(
                at_write,
                PageState::Clean | PageState::None | PageState::Writeback
            ) {
                return Err("i_disksize written back after open: the page at EOF is dirty or mmapped at the write (sync_file_range leaves it clean)".into());
            }
            let (first, eof) = ((page * PAGE_SIZE / bs) as usize, (w.i_size / bs) as usize);
            let last = ((page + 1) * PAGE_SIZE / bs) as usize;
            // Held on the default mount: the delayed block at EOF allocated unwritten.
            let unwritten = at_write == PageState::Writeback
                && w.blocks.get(eof).map(|x| (x.kind, x.shared))
                    == Some((Extent::Unwritten, false));
            for b in first..last {
                let k = w.blocks.get(b).map_or(Extent::Hole, |x| x.kind);
                let held_unwritten = unwritten && b == eof;
                if b <= eof && k != Extent::Written && !held_unwritten || k == Extent::Delalloc {
                    return Err(format!("i_disksize written back after open: block {b} under the page at EOF is {k:?} at the write (the writeback leaves the blocks below EOF written)"));
                }
            }
            let ow = &mut open.world;
            ow.blocks[eof].kind = Extent::Delalloc;
            if ow.pages.len() <= page as usize {
                ow.pages.resize(page as usize + 1, PageState::None);
            }
            ow.pages[page as usize] = PageState::Dirty;
            if !diofuzz::generators::random::disksize_lag_buildable(open) {
                return Err(
                    "i_disksize written back after open: the lag at open is not buildable".into(),
                );
            }
            if at_write == PageState::Writeback {
                let (off, len) = (page * PAGE_SIZE, w.i_size - page * PAGE_SIZE);
                let held = super::pages::CallPages {
                    writeback: vec![(off, len)],
                    ..Default::default()
                };
                super::pages::check_held(s, &held, false)?;
                return Ok(Some(Settle::WriteBackHeld {
                    off,
                    len,
                    unwritten,
                }));
            }
            Ok(Some(Settle::WriteBackEof {
                off: page * PAGE_SIZE,
                len: PAGE_SIZE,
                drop: at_write == PageState::None,
            }))
        }
        _ => Err(format!("flag {i} does not settle after open")),
    }
}

/// The plan of the world at open, turned into the set-up this race needs: the OLD pattern where
/// the settling keeps the data (the inline bytes, the dirty page at EOF), a filesystem of its
/// own for a conversion, and the chattr the conversion makes or still needs.
pub fn adjust(s: &Scenario, st: &Settle, p: &mut Plan) {
    match st {
        Settle::ConvertInline { ops, .. } => {
            // A scaled limit: the call and the read-back next to the real one, the inline file
            // at open left at 0 (super::inline_scaled, session 10).
            super::inline_scaled::shift(s, p);
            // The inline bytes of the file at open (super::settle_more: its size may be below
            // the size at the write).
            for step in p.steps.iter_mut() {
                if let Step::WriteZero { off: 0, len } = *step {
                    if len > 0 {
                        *step = Step::WriteOld { off: 0, len };
                    }
                }
            }
            p.key.own = true;
            // ext4_destroy_inline_data_nolock sets EXTENTS on a filesystem with the feature: no
            // chattr +e; a block-mapped inode at the write is chattr -e after the conversion.
            let a = &mut p.call.after_open;
            a.set &= !FS_EXTENT_FL;
            if clears_extents_late(s, ops) {
                a.clear |= FS_EXTENT_FL;
            }
            // Page 0 under writeback or mmapped dirty at the write (super::settle_more): held
            // around the call on a layered filesystem (super::pages), after the conversion.
            let n = s.world.i_size.min(PAGE_SIZE);
            match s.world.pages.first() {
                Some(PageState::Writeback) => p.call.pages.writeback.push((0, n)),
                Some(PageState::MappedDirty) => p.call.pages.mapped.push((0, n)),
                _ => {}
            }
            // (On the --device disk its write commands are held instead: super::disk_hold.)
            p.key.layered |= p.call.pages.held() && !p.key.disk;
        }
        Settle::WriteBackEof { off, len, drop } => {
            // A scaled s_maxbytes moves every offset of the plan (super::limits::shift), the
            // set-up's steps already, the page written back here too.
            let real = *off + p.shift;
            for step in p.steps.iter_mut() {
                if let Step::WriteDirty { off: o, len } = *step {
                    if o == real {
                        *step = Step::WriteOld { off: o, len };
                    }
                }
            }
            p.call.after_open.settle = Some(Settle::WriteBackEof {
                off: real,
                len: *len,
                drop: *drop,
            });
        }
        Settle::WriteBackHeld {
            off,
            len,
            unwritten,
        } => {
            // The plan at open wrote the dirty page at EOF with OLD_DIRTY and holds nothing.
            for step in p.steps.iter_mut() {
                if let Step::WriteDirty { off: o, len } = *step {
                    if o == *off {
                        *step = Step::WriteOld { off: o, len };
                    }
                }
            }
            p.call.pages.writeback.push((*off, *len));
            // The lab's atomic disk holds its own write commands (super::disk_hold).
            p.key.layered |= !p.key.disk;
            if *unwritten {
                // The default mount: the block at EOF allocated unwritten (session 11).
                let bs = 1u64 << s.world.blkbits;
                let eof = s.world.i_size / bs * bs;
                p.call.pages.unwritten.push((eof, bs));
                p.key.noauto_da_alloc = true;
            } else {
                p.key.dioread_lock = true;
            }
        }
    }
}

/// Is a block-mapped inode after the conversion the chattr -e of the after-open flags (after
/// every step of `ops`), not an [`Op::ClearExtents`] among them?
pub fn clears_extents_late(s: &Scenario, ops: &[Op]) -> bool {
    s.world.mount.extents_feature && !s.world.inode.extents && !ops.contains(&Op::ClearExtents)
}

/// `live --sync-after-convert`: a conversion after open is followed by syncfs, which writes the
/// journalled block 0 to its home location. The world at the write is the same (a converted
/// world has no dirty page), and the kernel bug docs/live-findings/inline-convert-stale-read
/// (block 0 reads the device's old content until then) no longer hides the rest of the
/// comparison.
pub fn with_sync(mut p: Plan, sync: bool) -> Plan {
    if let Some(Settle::ConvertInline { sync: s, .. }) = &mut p.call.after_open.settle {
        *s = sync;
    }
    p
}

/// FS_INLINE_DATA_FL (include/uapi/linux/fs.h).
const FS_INLINE_DATA_FL: u32 = super::inode_kind::FS_INLINE_DATA_FL;
/// SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER.
const SFR_ALL: u32 = 7;

/// Settle the state through the call's descriptor `fd`, then check that it did (else a harness
/// error: the world at the write would not be the scenario's).
pub fn run(st: &Settle, fd: i32) -> Result<(), String> {
    match st {
        Settle::ConvertInline { sync, ops } => {
            for (i, op) in ops.iter().enumerate() {
                super::settle_more::run_op(op, fd)?;
                if i > 0 {
                    continue;
                }
                let fl = super::inode_kind::get_flags(fd)?;
                if fl & FS_INLINE_DATA_FL != 0 {
                    return Err(format!(
                        "after open: the inline data was not converted (FS_IOC_GETFLAGS {fl:#x})"
                    ));
                }
                // SAFETY: syncfs on the caller's open descriptor.
                if *sync && unsafe { libc::syncfs(fd) } != 0 {
                    return Err(format!(
                        "syncfs after the conversion: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
        Settle::WriteBackEof { off, len, drop } => {
            // SAFETY: sync_file_range on the caller's open descriptor.
            let r = unsafe { libc::sync_file_range(fd, *off as i64, *len as i64, SFR_ALL) };
            if r != 0 {
                return Err(format!(
                    "sync_file_range after open: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let delayed = super::fiemap::fiemap(fd)?.iter().any(|&(l, _, n, fl)| {
                fl & super::fiemap::FIEMAP_EXTENT_DELALLOC != 0 && l < off + len && l + n > *off
            });
            if delayed {
                return Err("after open: FIEMAP still shows a delalloc block under the page at EOF (not written back)".into());
            }
            // SAFETY: advisory call on the caller's open descriptor.
            let r = if *drop {
                unsafe {
                    libc::posix_fadvise(fd, *off as i64, *len as i64, libc::POSIX_FADV_DONTNEED)
                }
            } else {
                0
            };
            if r != 0 {
                return Err(format!("posix_fadvise after the writeback: errno {r}"));
            }
        }
        // Started by the hold, right before the call.
        Settle::WriteBackHeld { .. } => {}
    }
    Ok(())
}

/// The C reproducer's statements after the call's open (`cfd`).
pub fn c_code(st: &Settle) -> String {
    match st {
        Settle::ConvertInline { sync, ops } => super::settle_more::c_ops(ops, *sync),
        Settle::WriteBackHeld {
            off,
            unwritten: true,
            ..
        } => format!("\t/* i_disksize written back after open, the page at EOF ({off}) held under writeback through the call on the default dioread_nolock mount: the hold below starts it, its block at EOF is unwritten until the I/O completes (checked with FIEMAP) */\n"),
        Settle::WriteBackHeld { off, .. } => format!("\t/* i_disksize written back after open, the page at EOF ({off}) held under writeback through the call: the hold below starts it */\n{C_DIOREAD_LOCK}"),
        Settle::WriteBackEof { off, len, drop } => format!("\t/* i_disksize written back after open: the dirty page at EOF (ext4_do_writepages -> mpage_map_and_submit_extent) */\n\tif (sync_file_range(cfd, {off}, {len}, 7 /* WAIT_BEFORE | WRITE | WAIT_AFTER */)) {{\n\t\tprintf(\"COULD NOT RUN: sync_file_range after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n{}", if *drop { format!("\tposix_fadvise(cfd, {off}, {len}, POSIX_FADV_DONTNEED); /* the clean page not cached at the write */\n") } else { String::new() }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::plan;
    use super::*;
    use diofuzz::scenario::BlockState;

    fn written() -> BlockState {
        BlockState {
            kind: Extent::Written,
            ..Default::default()
        }
    }

    /// An inline file of 512 bytes converted after open, on a filesystem with extents.
    fn converted() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        let w = &mut s.world;
        w.i_size = 512;
        w.blocks = vec![written(), Default::default()];
        w.pages = vec![PageState::Clean];
        s.request.len = 4096;
        s.request.open.direct = true;
        s.races = vec![
            Race::InodeFlagChangedAfterOpen(0),
            Race::InodeFlagChangedAfterOpen(INLINE_DATA),
        ];
        assert!(diofuzz::validity::violations(&s).is_empty(), "valid");
        s
    }

    /// A 1 KiB-block file of 5633 bytes whose i_disksize lag (5120) is written back after open.
    fn written_back() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        let w = &mut s.world;
        w.blkbits = 10;
        w.i_size = 5633;
        w.blocks = vec![written(); 6];
        w.pages = vec![PageState::None, PageState::Clean];
        s.request.len = 1024;
        s.races = vec![Race::InodeFlagChangedAfterOpen(DISKSIZE_LAG)];
        assert!(diofuzz::validity::violations(&s).is_empty(), "valid");
        s
    }

    #[test]
    fn inline_converted_after_open_writes_old_inline_then_fallocates() {
        let s = converted();
        let p = plan(&s).unwrap();
        assert_eq!(
            p.call.after_open.settle,
            Some(Settle::ConvertInline {
                sync: false,
                ops: vec![Op::Fallocate(4096)]
            })
        );
        // The inline file holds the OLD pattern (block 0's data after the conversion), not the
        // zeroes of an inline world at rest, on an inline-data filesystem of its own.
        assert!(p.steps.contains(&Step::WriteOld { off: 0, len: 512 }));
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteZero { .. })));
        assert!(
            p.key.own && p.key.label().contains("-inline"),
            "{}",
            p.key.label()
        );
        // The conversion sets EXTENTS itself: no chattr +e.
        assert_eq!((p.call.after_open.set, p.call.after_open.clear), (0, 0));
        assert!(p.steps.contains(&Step::ExpectInodeFlags(
            super::super::inode_kind::FS_INLINE_DATA_FL
        )));
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(c.contains("fallocate(cfd, 1"), "{c}");
        // A block-mapped inode at the write on a filesystem with extents: chattr -e after it.
        let mut b = s.clone();
        b.races = vec![Race::InodeFlagChangedAfterOpen(INLINE_DATA)];
        b.world.inode.extents = false;
        let p = plan(&b).unwrap();
        assert_eq!(p.call.after_open.clear, FS_EXTENT_FL);
    }

    #[test]
    fn inline_conversion_refuses_what_it_cannot_leave() {
        for (f, word) in [
            (
                (|s: &mut Scenario| s.world.blocks[1] = written()) as fn(&mut Scenario),
                "block 0 written",
            ),
            (
                // Session 9 builds a held page 0, not one with RLIMIT_FSIZE (super::pages).
                |s| {
                    s.world.pages = vec![PageState::Writeback];
                    s.world.rlimit_fsize = Some(1 << 20);
                },
                "RLIMIT_FSIZE",
            ),
            (|s| s.races.push(Race::MmapRedirty), "mmap writer"),
        ] {
            let mut s = converted();
            f(&mut s);
            let e = plan(&s).unwrap_err();
            assert!(e.contains(word), "{word}: {e}");
        }
    }

    /// Session 9: the page at EOF still under writeback at the write: no sync after open, the
    /// hold starts the writeback of the lag's page (written with OLD) on a layered filesystem.
    #[test]
    fn lag_written_back_with_the_page_held_under_writeback() {
        let mut s = written_back();
        s.world.pages[1] = PageState::Writeback;
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        let p = plan(&s).unwrap();
        assert_eq!(
            p.call.after_open.settle,
            Some(Settle::WriteBackHeld {
                off: 4096,
                len: 5633 - 4096,
                unwritten: false
            })
        );
        assert_eq!(p.call.pages.writeback, vec![(4096, 5633 - 4096)]);
        assert!(p.key.layered && p.key.dioread_lock);
        assert_eq!(p.key.mount_data(), Some("nodioread_nolock,noauto_da_alloc"));
        assert!(p.steps.contains(&Step::WriteOld {
            off: 4096,
            len: 5633 - 4096
        }));
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { .. })));
        // With a scaled s_maxbytes (shifted offsets) it is not built.
        let mut sc = s.clone();
        sc.world.blkbits = 12;
        sc.world.i_size = 7680;
        sc.world.blocks.truncate(2);
        sc.world.s_maxbytes = 1 << 20;
        assert!(plan(&sc).unwrap_err().contains("held"));
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(c.contains("held under writeback through the call"), "{c}");
        assert!(
            c.contains("mounted with -o nodioread_nolock,noauto_da_alloc"),
            "{c}"
        );
        assert!(
            c.contains("COULD NOT RUN: the filesystem is not mounted -o nodioread_nolock"),
            "{c}"
        );
        super::super::repro::assert_c_compiles("settle-lag-held", &c, &["-O2"]);
        assert!(!c.contains("sync_file_range(cfd, 4096, 4096, 7"), "{c}");
    }

    #[test]
    fn lag_written_back_after_open_syncs_the_page_at_eof() {
        let s = written_back();
        let p = plan(&s).unwrap();
        assert_eq!(
            p.call.after_open.settle,
            Some(Settle::WriteBackEof {
                off: 4096,
                len: 4096,
                drop: false
            })
        );
        // At open: truncated to i_disksize 5120, the page at EOF written with OLD (a dirty
        // page over the delalloc block 5, extending i_size to 5633), no OLD_DIRTY.
        assert!(p.steps.contains(&Step::Truncate(5120)));
        assert!(p.steps.contains(&Step::WriteOld {
            off: 4096,
            len: 5633 - 4096
        }));
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { .. })));
        assert!(!p.key.own);
        // A scaled s_maxbytes shifts the set-up next to the real limit, the writeback too.
        let mut sc = s.clone();
        sc.world.blkbits = 12;
        sc.world.i_size = 7680;
        sc.world.blocks.truncate(2);
        sc.world.s_maxbytes = 1 << 20;
        let ps = plan(&sc).unwrap();
        assert!(ps.shift > 0);
        let real = 4096 + ps.shift;
        assert!(ps.steps.contains(&Step::WriteOld {
            off: real,
            len: 7680 - 4096
        }));
        assert!(!ps
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { .. })));
        assert_eq!(
            ps.call.after_open.settle,
            Some(Settle::WriteBackEof {
                off: real,
                len: 4096,
                drop: false
            })
        );
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(c.contains("sync_file_range(cfd, 4096, 4096, 7"), "{c}");
        // Refused: the page at EOF not clean at the write, or a block under it not written.
        let mut d = s.clone();
        d.world.pages[1] = PageState::Dirty;
        d.world.blocks[5].kind = Extent::Delalloc;
        assert!(plan(&d).unwrap_err().contains("dirty or mmapped"));
        // The page at EOF not cached at the write: written back, then dropped (reclaimed).
        let mut n = s.clone();
        n.world.pages = vec![];
        let p = plan(&n).unwrap();
        assert!(matches!(
            p.call.after_open.settle,
            Some(Settle::WriteBackEof { drop: true, .. })
        ));
        assert!(super::super::repro::c_program(&n)
            .unwrap()
            .contains("POSIX_FADV_DONTNEED); /* the clean page"));
        // A block-aligned i_size has no lag at open (i_disksize = i_size rounded down): nothing
        // to do after open.
        let mut a = s.clone();
        a.world.i_size = 5120;
        a.world.blocks.truncate(5);
        let p = plan(&a).unwrap();
        assert_eq!(p.call.after_open.settle, None);
        let mut h = s.clone();
        h.world.blocks[4].kind = Extent::Unwritten;
        assert!(plan(&h).unwrap_err().contains("block 4"));
    }

    #[test]
    fn c_code_compiles() {
        for (n, s) in [("settle-i", converted()), ("settle-l", written_back())] {
            let src = super::super::repro::c_program(&s).unwrap();
            super::super::repro::assert_c_compiles(n, &src, &["-O2"]);
        }
    }
}
