// SPDX-License-Identifier: GPL-2.0-only
//! `chattr -j` after open with clean cached pages at the write (issue 13, session 8; docs/live.md
//! "Races after open").
//!
//! Clearing the journal flag (`ext4_change_inode_journal_flag`, fs/ext4/inode.c) keeps the page
//! cache on 6.12.117: it writes back nothing and evicts nothing when clearing
//! (`filemap_write_and_wait` only `if (val)`), only `jbd2_journal_flush` checkpoints the journal.
//! 7.2.12 and 7.3.4 write back and then evict the whole page cache in both directions
//! (`filemap_write_and_wait`, `truncate_pagecache(inode, 0)`), so there a cached page at the
//! write after a `chattr -j` is no world. Which release between them started to evict is not
//! read here (no 6.13 - 7.1 source; the lab measured 6.18.15 keeping the pages): the set-up
//! does not guess, it asks the kernel. The pages
//! the set-up cached clean (`Step::ReadPage`) before the open must still be in the page cache
//! after the `chattr -j` (mincore of a shared read-only mapping, which faults nothing in);
//! otherwise the scenario is "not possible here" (skipped), and the C reproducer prints COULD
//! NOT RUN. Dirty, writeback and mmapped dirty pages stay refused (`race::plan_after_open`):
//! a journalled inode's dirty buffers sit on the transaction, which the flag change
//! checkpoints, and the model has no journal state.

use super::plan::{Plan, Step};
use std::fmt::Write as _;

/// The pages (file offsets) the set-up caches clean, when the plan clears the journal flag
/// after open; empty otherwise.
pub fn clean_pages(plan: &Plan) -> Vec<u64> {
    if !plan.call.after_open.remount_delalloc {
        return Vec::new();
    }
    plan.steps
        .iter()
        .filter_map(|st| match st {
            Step::ReadPage { off } => Some(*off),
            _ => None,
        })
        .collect()
}

const PAGE: u64 = 4096;

/// Which pages of `offs` the page cache of `fd` holds (mincore of a shared read-only mapping).
pub fn resident(fd: i32, offs: &[u64]) -> Result<Vec<bool>, String> {
    let Some(len) = offs.iter().max().map(|o| o + PAGE) else {
        return Ok(Vec::new());
    };
    // SAFETY: a new read-only shared mapping of our file, unmapped below; nothing is accessed.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if m == libc::MAP_FAILED {
        return Err(format!(
            "mmap for mincore: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut vec = vec![0u8; (len / PAGE) as usize];
    // SAFETY: `vec` has one byte per page of the mapping.
    let r = unsafe { libc::mincore(m, len as usize, vec.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(m, len as usize) };
    if r != 0 {
        return Err(format!("mincore: {err}"));
    }
    Ok(offs
        .iter()
        .map(|o| vec[(o / PAGE) as usize] & 1 != 0)
        .collect())
}

/// The kernel's answer for the answer's message.
fn evicted_msg(off: u64) -> String {
    format!(
        "{}: chattr -j after open evicted the page at {off} (this kernel's ext4_change_inode_journal_flag truncates the page cache when clearing the flag, as 7.2.12 and 7.3.4 do): the world's cached page is gone",
        super::exec::UNAVAILABLE
    )
}

/// After the `chattr -j`: every page the set-up cached must still be cached.
pub fn check_kept(plan: &Plan, fd: i32) -> Result<(), String> {
    let offs = clean_pages(plan);
    let res = resident(fd, &offs)?;
    match offs.iter().zip(res).find(|(_, r)| !r) {
        Some((off, _)) => Err(evicted_msg(*off)),
        None => Ok(()),
    }
}

/// The same check in the C reproducer, right after the after-open changes (on `cfd`).
pub fn c_check(plan: &Plan) -> String {
    let offs = clean_pages(plan);
    let Some(len) = offs.iter().max().map(|o| o + PAGE) else {
        return String::new();
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\t{{\n\t\t/* chattr -j after open must leave the cached pages (7.2+ evict them) */\n\t\tunsigned char mc[{n}];\n\t\tvoid *mm = mmap(NULL, {len}, PROT_READ, MAP_SHARED, cfd, 0);\n\t\tif (mm == MAP_FAILED || mincore(mm, {len}, mc))\n\t\t\tdie(\"mincore\");\n\t\tmunmap(mm, {len});",
        n = len / PAGE
    );
    for off in offs {
        let _ = writeln!(
            o,
            "\t\tif (!(mc[{p}] & 1)) {{\n\t\t\tprintf(\"COULD NOT RUN: chattr -j after open evicted the page at {off} (ext4_change_inode_journal_flag: truncate_pagecache)\\n\");\n\t\t\treturn 2;\n\t\t}}",
            p = off / PAGE
        );
    }
    o.push_str("\t}\n");
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
            c.contains("mincore(mm, 8192, mc)") && c.contains("mc[1] & 1"),
            "{c}"
        );
        // A dirty page at the write stays refused.
        let mut d = scenario();
        d.world.pages[1] = PageState::Dirty;
        d.world.blocks[1].kind = diofuzz::scenario::Extent::Written;
        assert!(super::super::plan::plan(&d).is_err());
    }

    /// mincore sees a page read through the file and not one never read.
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
