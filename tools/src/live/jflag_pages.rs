// SPDX-License-Identifier: GPL-2.0-only
//! `chattr -j` after open with cached pages at the write (issue 13, sessions 8 and 9;
//! docs/live.md "Races after open").
//!
//! Clearing the journal flag (`ext4_change_inode_journal_flag`, fs/ext4/inode.c) on 6.12.117
//! writes back nothing and evicts nothing (`filemap_write_and_wait` only `if (val)`): under
//! `jbd2_journal_lock_updates` it runs `jbd2_journal_flush`, which commits the running
//! transaction and checkpoints every buffer of the journal, then clears the flag and switches
//! the aops (`ext4_set_aops`). 7.2.12 and 7.3.4 write back and then evict the whole page cache
//! in both directions (`filemap_write_and_wait`, `truncate_pagecache(inode, 0)`), so there a
//! page cached before the change is gone at the write. Which release between them started to
//! evict is not read here (no 6.13 - 7.1 source; the lab measured 6.18.15 keeping the pages):
//! the set-up does not guess, it asks the kernel.
//!
//! What the write finds where the pages are kept, and why the model needs no journal state
//! (session 9): the flag change leaves the journal empty (`jbd2_journal_flush` checkpoints
//! everything while updates are locked out), so nothing of the journal is left for the write.
//! A page a journalled write dirtied (`ext4_journalled_write_end` -> `ext4_dirty_journalled_data`:
//! `folio_mark_dirty` and the buffers on the running transaction as metadata) has, after the
//! flush: its data in place on disk (the commit's `__jbd2_journal_unfile_buffer` turns
//! `jbddirty` into `mark_buffer_dirty`, the checkpoint writes the buffer and clears its dirty
//! bit), its buffers clean and its folio still dirty (nothing clears `PG_dirty`). The write then
//! meets a dirty folio (`filemap_range_needs_writeback`: -EAGAIN under RWF_NOWAIT, as for the
//! model's dirty page), and its flush (`ext4_writepages`, now the delalloc aops) finds the
//! buffers mapped and clean: `ext4_bio_write_folio` cycles the folio through writeback with
//! nothing to submit (fs/ext4/page-io.c, "nr_to_submit"). So the model's dirty page over written
//! blocks is the world: the only difference, the disk holding the page's data before the
//! flush, is not observable (live reads the result through the page cache, and the flush writes
//! the same data). The blocks under it are written: the journalled write allocated them
//! (`ext4_get_block`, never delayed or unwritten: rule W45).
//!
//! How live builds each page state at the write (plan: [`prepare`], check: [`check_kept`]):
//! * clean: read before the open (`Step::ReadPage`);
//! * dirty: written buffered before the open, journalled;
//! * mmapped dirty: dirty before the open as above, then stored to through the hold's kept
//!   mapping right before the call (super::pages: after the change, on the delalloc aops);
//! * under writeback: read before the open, then after the change rewritten with the OLD data
//!   the disk holds (a buffered write through a second open file: the buffers dirty again, which
//!   the flag change left clean) and held under writeback right before the call (super::pages).
//!
//! After the `chattr -j` every page the set-up cached must still be in the page cache and every
//! page it dirtied still tagged dirty (cachestat(2), which faults nothing in and, unlike mincore,
//! counts a page that is not uptodate: one written in part over a hole); otherwise the scenario is "not possible here" (skipped), and
//! the C reproducer prints COULD NOT RUN.

use super::pages::CallPages;
use super::plan::{Plan, Step, Unsupported};
use super::settle_race::Op;
use diofuzz::scenario::{PageState, Scenario, PAGE_SIZE};
use std::fmt::Write as _;

/// The world at open for a `chattr -j` after open (`open`, changed here) and what the call
/// holds: an mmapped dirty page is dirty at open (stored to again by the hold), a page under
/// writeback is clean at open and rewritten after the change ([`Op::WriteOld`]).
pub fn prepare(s: &Scenario, open: &mut Scenario) -> Result<(CallPages, Vec<Op>), Unsupported> {
    let w = &s.world;
    let mut held = CallPages::default();
    let mut ops = Vec::new();
    for (p, st) in w.pages.iter().enumerate() {
        let off = p as u64 * PAGE_SIZE;
        let end = (off + PAGE_SIZE).min(w.i_size);
        let at_open = match st {
            PageState::None | PageState::Clean | PageState::Dirty => continue,
            PageState::MappedDirty => {
                if off >= w.i_size {
                    return Err("dirty page beyond EOF".into());
                }
                held.mapped.push((off, end - off));
                PageState::Dirty
            }
            PageState::Writeback => {
                let mut steps = Vec::new();
                super::pages::rewrite_page(w, off, w.i_size, &mut steps)?;
                ops.extend(steps.into_iter().filter_map(|st| match st {
                    Step::WriteOld { off, len } => Some(Op::WriteOld { off, len }),
                    _ => None,
                }));
                held.writeback.push((off, end - off));
                PageState::Clean
            }
            // Rule W25: no busy folio on an inode whose data is not journalled.
            PageState::Busy => {
                return Err("busy page after chattr -j (no such world: rule W25)".into())
            }
        };
        open.world.pages[p] = at_open;
    }
    if held.held() {
        super::pages::check_held(s, &held, false)?;
    }
    Ok((held, ops))
}

/// The pages (file offsets) the set-up caches before the open, when the plan clears the journal
/// flag after open, each with whether it is dirty; empty otherwise.
pub fn cached_pages(plan: &Plan) -> Vec<(u64, bool)> {
    if !plan.call.after_open.remount_delalloc {
        return Vec::new();
    }
    let mut v: Vec<(u64, bool)> = Vec::new();
    for st in &plan.steps {
        let (off, dirty) = match st {
            Step::ReadPage { off } => (*off, false),
            Step::WriteDirty { off, .. } => (off / PAGE * PAGE, true),
            _ => continue,
        };
        match v.iter_mut().find(|(o, _)| *o == off) {
            Some(e) => e.1 |= dirty,
            None => v.push((off, dirty)),
        }
    }
    v
}

/// The pages the set-up caches clean (see [`cached_pages`]).
pub fn clean_pages(plan: &Plan) -> Vec<u64> {
    cached_pages(plan)
        .into_iter()
        .filter(|(_, d)| !d)
        .map(|(o, _)| o)
        .collect()
}

const PAGE: u64 = 4096;

/// cachestat(2) (x86_64 number 451, since 6.5) of the page at `off` of `fd`: whether the page
/// cache holds it (uptodate or not: mincore would miss a page written only in part over a hole)
/// and whether it is tagged dirty (PAGECACHE_TAG_DIRTY, what filemap_range_needs_writeback
/// reads). mm/filemap.c filemap_cachestat, read in 7.3.4.
pub fn page_state(fd: i32, off: u64) -> Result<(bool, bool), String> {
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = [off, PAGE];
    // nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted
    let mut cs = [0u64; 5];
    // SAFETY: cachestat reads the range and writes the five counters.
    let r = unsafe { libc::syscall(SYS_CACHESTAT, fd, range.as_ptr(), cs.as_mut_ptr(), 0) };
    if r != 0 {
        return Err(format!("cachestat: {}", std::io::Error::last_os_error()));
    }
    Ok((cs[0] != 0, cs[1] != 0))
}

/// Which pages of `offs` the page cache of `fd` holds ([`page_state`]).
pub fn resident(fd: i32, offs: &[u64]) -> Result<Vec<bool>, String> {
    offs.iter()
        .map(|&o| page_state(fd, o).map(|s| s.0))
        .collect()
}

/// The kernel's answer for the answer's message.
fn evicted_msg(off: u64) -> String {
    format!(
        "{}: chattr -j after open evicted the page at {off} (this kernel's ext4_change_inode_journal_flag truncates the page cache when clearing the flag, as 7.2.12 and 7.3.4 do): the world's cached page is gone",
        super::exec::UNAVAILABLE
    )
}

/// After the `chattr -j`: every page the set-up cached must still be cached, every page it
/// dirtied still dirty.
pub fn check_kept(plan: &Plan, fd: i32) -> Result<(), String> {
    for (off, dirty) in cached_pages(plan) {
        let (cached, tagged) = page_state(fd, off)?;
        if !cached {
            return Err(evicted_msg(off));
        }
        if dirty && !tagged {
            return Err(format!(
                "{}: chattr -j after open left the page at {off} clean (the journalled dirty page is not dirty at the write)",
                super::exec::UNAVAILABLE
            ));
        }
    }
    Ok(())
}

/// The same check in the C reproducer, right after the after-open changes (on `cfd`), then the
/// rewrite of the pages held under writeback.
pub fn c_check(plan: &Plan) -> String {
    let pages = cached_pages(plan);
    let mut o = String::new();
    if !pages.is_empty() {
        o.push_str("\t/* chattr -j after open must leave the cached pages (7.2+ evict them) and the dirty ones dirty: cachestat(2) */\n");
    }
    for (off, dirty) in &pages {
        let _ = writeln!(
            o,
            "\t{{\n\t\tunsigned long long rg[2] = {{ {off}ULL, 4096 }}, cs[5] = {{ 0 }};\n\t\tif (syscall(451 /* cachestat */, cfd, rg, cs, 0))\n\t\t\tdie(\"cachestat\");\n\t\tif (!cs[0]) {{\n\t\t\tprintf(\"COULD NOT RUN: chattr -j after open evicted the page at {off} (ext4_change_inode_journal_flag: truncate_pagecache)\\n\");\n\t\t\treturn 2;\n\t\t}}"
        );
        if *dirty {
            let _ = writeln!(
                o,
                "\t\tif (!cs[1]) {{\n\t\t\tprintf(\"COULD NOT RUN: chattr -j after open left the page at {off} clean\\n\");\n\t\t\treturn 2;\n\t\t}}"
            );
        }
        o.push_str("\t}\n");
    }
    let ops = &plan.call.after_open.jflag_ops;
    if !ops.is_empty() {
        o.push_str("\t{\n\t/* after the change: the pages held under writeback rewritten with what the disk holds */\n");
        o.push_str(&super::settle_more::c_buffered_ops(ops));
        o.push_str("\t}\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{FsKind, PageState, Race, Scenario};

    /// A `-j` after open (journal_data at open, cleared at the write) with page 1 cached clean.
    fn scenario() -> Scenario {
        let mut s = diofuzz::generators::base();
        s.fs = FsKind::Ext4;
        s.world.device = Default::default();
        s.request.rwf.atomic = false;
        s.world.pages = vec![PageState::None, PageState::Clean];
        s.races.push(Race::InodeFlagChangedAfterOpen(1));
        s
    }

    /// The plan caches the page before the open and checks it after the chattr -j; the C
    /// program checks it too.
    #[test]
    fn clean_pages_are_kept_and_checked_after_clearing_the_flag() {
        let s = scenario();
        assert!(s.inode_at_open().journal_data && !s.world.inode.journal_data);
        let p = super::super::plan::plan(&s).expect("planned");
        assert!(p.call.after_open.remount_delalloc);
        assert_eq!(clean_pages(&p), vec![4096]);
        let c = c_check(&p);
        assert!(
            c.contains("rg[2] = { 4096ULL, 4096 }") && c.contains("if (!cs[0])"),
            "{c}"
        );
        assert!(!c.contains("if (!cs[1])"), "{c}");
    }

    /// The scenario with two written blocks, i_size 8 KiB, page 1 in state `st`.
    fn with_page(st: PageState) -> Scenario {
        let mut s = scenario();
        let w = &mut s.world;
        w.blkbits = 12;
        w.i_size = 8192;
        w.blocks = vec![
            diofuzz::scenario::BlockState {
                kind: diofuzz::scenario::Extent::Written,
                ..Default::default()
            };
            2
        ];
        w.pages[1] = st;
        s
    }

    /// Session 9: a dirty page is written (journalled) before the open and must be cached and
    /// dirty after the chattr -j; an mmapped dirty page is dirty before the open and stored to
    /// by the hold; a page under writeback is read before the open, rewritten after the change
    /// and held. Both held ones run on a layered filesystem of their own.
    #[test]
    fn dirty_mapped_and_writeback_pages_are_built_around_the_flag_change() {
        use super::super::plan::{plan, Step};
        let p = plan(&with_page(PageState::Dirty)).expect("dirty planned");
        assert_eq!(cached_pages(&p), vec![(4096, true)]);
        assert!(!p.call.pages.held() && p.call.after_open.jflag_ops.is_empty());
        let c = c_check(&p);
        assert!(c.contains("if (!cs[1])"), "{c}");

        let p = plan(&with_page(PageState::MappedDirty)).expect("mapped planned");
        assert!(p.steps.contains(&Step::WriteDirty {
            off: 4096,
            len: 4096
        }));
        assert_eq!(cached_pages(&p), vec![(4096, true)]);
        assert_eq!(p.call.pages.mapped, vec![(4096, 4096)]);
        assert!(p.key.layered && p.key.own);

        let p = plan(&with_page(PageState::Writeback)).expect("writeback planned");
        assert!(p.steps.contains(&Step::ReadPage { off: 4096 }));
        assert_eq!(cached_pages(&p), vec![(4096, false)]);
        assert_eq!(p.call.pages.writeback, vec![(4096, 4096)]);
        assert_eq!(
            p.call.after_open.jflag_ops,
            vec![Op::WriteOld {
                off: 4096,
                len: 4096
            }]
        );
        assert!(p.key.layered && p.key.own);
        let c = c_check(&p);
        assert!(c.contains("wpat(bfd, 4096, 4096, 0x11)"), "{c}");
        assert!(!c.contains("if (!cs[1])"), "{c}");

        // A page under writeback over a hole is refused (the rewrite would allocate).
        let mut h = with_page(PageState::Writeback);
        h.world.blocks[1].kind = diofuzz::scenario::Extent::Hole;
        assert!(plan(&h).is_err());
    }

    /// The C reproducer of a `-j` world with a dirty page and one with a page under writeback
    /// compiles (cachestat, the rewrite through `bfd`, the hold).
    #[test]
    fn c_programs_with_dirty_and_writeback_pages_compile() {
        let Some(cc) = super::super::scratch::which("cc") else {
            println!("SKIP c_programs_with_dirty_and_writeback_pages_compile: no cc");
            return;
        };
        let dir = std::env::temp_dir().join(format!("diofuzz-jflag2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for st in [
            PageState::Dirty,
            PageState::Writeback,
            PageState::MappedDirty,
        ] {
            let src = super::super::repro::c_program(&with_page(st)).unwrap();
            assert!(src.contains("cachestat"), "{st:?}");
            std::fs::write(dir.join("j.c"), &src).unwrap();
            let out = std::process::Command::new(&cc)
                .args(["-O2", "-o"])
                .arg(dir.join("j"))
                .arg(dir.join("j.c"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{st:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// cachestat sees a page read through the file.
    #[test]
    fn resident_tells_cached_pages_from_uncached_ones() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join(format!("diofuzz-mincore-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        f.write_all(&vec![7u8; 3 * PAGE as usize]).unwrap();
        f.sync_all().unwrap();
        // SAFETY: drop the file's clean pages (advice only).
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let mut b = [0u8; 16];
        std::os::unix::fs::FileExt::read_at(&f, &mut b, 2 * PAGE).unwrap();
        let r = resident(f.as_raw_fd(), &[0, 2 * PAGE]).unwrap();
        assert!(r[1], "{r:?}");
    }
}
