// SPDX-License-Identifier: GPL-2.0-only
//! The XFS reflink inode flag changed after open (`Race::InodeFlagChangedAfterOpen(12)`,
//! docs/live.md "Races after open"). Kernel functions read in 6.18 and 7.3.4 (fs/xfs/xfs_reflink.c,
//! xfs_file.c, fs/remap_range.c, fs/iomap/buffered-io.c); the same in both.
//!
//! * **Set after open: a clone.** `FICLONERANGE` through the call's file descriptor from a donor
//!   holding the OLD pattern: `xfs_reflink_remap_prep` -> `__generic_remap_file_range_prep`
//!   writes the destination range back, `xfs_reflink_set_inode_flag` sets the flag and
//!   `xfs_flush_unmap_range` drops the page cache over the range (rounded to the page). The set-up builds
//!   the world at open with the scenario's shared blocks as plain written OLD blocks (the model's
//!   world at open: the same layout, nothing shared); the clone after open shares exactly them,
//!   with the same data. Built when every page over a shared block is uncached at the write (the
//!   clone dropped it) and the CoW fork is empty.
//! * **Cleared after open: an unshare.** `fallocate(FALLOC_FL_UNSHARE_RANGE)` over one written
//!   block below EOF that the set-up cloned: `xfs_reflink_unshare` copies it through the page
//!   cache (`iomap_file_unshare`), writes it back and waits (`filemap_write_and_wait_range`:
//!   the pages stay cached, clean), then `xfs_reflink_try_clear_inode_flag` finds no shared
//!   extent left, cancels every CoW fork mapping (`xfs_reflink_cancel_cow_blocks`) and clears the
//!   flag; `xfs_falloc_unshare_range`'s `xfs_alloc_file_space` finds the block written. So the
//!   block chosen must lie under clean cached pages at the write, and the CoW fork must be empty.
//!
//! Both pass through `file_modified` (`generic_remap_file_range_prep`, `xfs_file_fallocate`),
//! which strips a setuid bit and sets S_NOSEC: refused for a not-IS_NOSEC inode at open. Run
//! first after open, before the chattr, the chmod and the lock holder ([`super::race::arm`]).

use super::plan::Unsupported;
use diofuzz::scenario::PAGE_SIZE;
use diofuzz::scenario::{Extent, FsKind, PageState, Race, Scenario, World};
use std::path::Path;

/// INODE_FLAG_NAMES index of the reflink flag.
pub const REFLINK: u8 = 12;

/// What happens to the file's blocks after open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// FICLONERANGE of the OLD pattern from the donor over these byte ranges.
    Clone(Vec<(u64, u64)>),
    /// fallocate(FALLOC_FL_UNSHARE_RANGE) over [off, off+len).
    Unshare { off: u64, len: u64 },
}

fn pages_of(w: &World, off: u64, len: u64) -> impl Iterator<Item = PageState> + '_ {
    (off / PAGE_SIZE..(off + len).div_ceil(PAGE_SIZE))
        .map(|p| w.pages.get(p as usize).copied().unwrap_or(PageState::None))
}

/// The world at open (`open`, whose inode flags are already `Scenario::inode_at_open`) adjusted
/// for a reflink flag turned to `to` after open, and the change that does it.
pub fn split(s: &Scenario, open: &mut Scenario, to: bool) -> Result<Change, Unsupported> {
    let w = &s.world;
    if s.fs != FsKind::Xfs || !w.mount.xfs_reflink {
        return Err("reflink flag changed after open without an XFS reflink filesystem".into());
    }
    if !open.world.inode.nosec || w.inode.unlinked || w.inode.swapfile {
        return Err("reflink flag changed after open on a setuid, unlinked or swap file (file_modified strips the setuid bit; not built)".into());
    }
    // generic_file_rw_checks: -EBADF for an O_APPEND destination; vfs_fallocate: -EPERM on an
    // append-only inode for anything but KEEP_SIZE.
    if s.request.open.append || open.world.inode.append_only {
        return Err("reflink flag changed after open through an O_APPEND or append-only file (generic_file_rw_checks: EBADF; not built)".into());
    }
    if !w.cow.is_empty() || s.has_race(Race::MmapRedirty) {
        return Err(
            "reflink flag changed after open with CoW-fork state or the mmap writer (not built)"
                .into(),
        );
    }
    let bs = 1u64 << w.blkbits;
    if to {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for i in (0..w.blocks.len()).filter(|&i| w.blocks[i].shared) {
            let off = i as u64 * bs;
            if pages_of(w, off, bs).any(|p| p != PageState::None) {
                return Err("reflink flag set after open: a cached page over a shared block (the clone drops it: xfs_flush_unmap_range)".into());
            }
            match ranges.last_mut() {
                Some((o, l)) if *o + *l == off => *l += bs,
                _ => ranges.push((off, bs)),
            }
            open.world.blocks[i].shared = false;
        }
        if ranges.is_empty() {
            return Err(
                "reflink flag set after open without a shared block at the write (not built)"
                    .into(),
            );
        }
        Ok(Change::Clone(ranges))
    } else {
        // xfs_can_free_cowblocks: no flag cleared while the mapping has dirty or writeback pages.
        if w.pages
            .iter()
            .any(|p| !matches!(p, PageState::None | PageState::Clean))
        {
            return Err("reflink flag cleared after open with dirty or writeback pages at the write (xfs_can_free_cowblocks keeps it)".into());
        }
        let i = (0..w.blocks.len())
            .find(|&i| {
                let off = i as u64 * bs;
                w.blocks[i].kind == Extent::Written
                    && off + bs <= w.i_size
                    && pages_of(w, off, bs).all(|p| p == PageState::Clean)
            })
            .ok_or("reflink flag cleared after open: no written block under clean cached pages to unshare (iomap_file_unshare leaves its pages cached)")?;
        open.world.blocks[i].shared = true;
        Ok(Change::Unshare {
            off: i as u64 * bs,
            len: bs,
        })
    }
}

/// Make the change through the call's descriptor `fd`; `path` is the scenario's file (the donor
/// is the set-up's, next to it: removed with it).
pub fn run(c: &Change, fd: i32, path: &Path) -> Result<(), String> {
    match c {
        Change::Clone(ranges) => {
            let donor = donor_of(path);
            for &(off, len) in ranges {
                super::exec::clone_old(fd, &donor, off, len)?;
            }
        }
        Change::Unshare { off, len } => {
            // The first unshare dirties the block's pages (I_DIRTY_PAGES), so its
            // xfs_reflink_clear_inode_flag leaves the flag (xfs_can_free_cowblocks); syncfs
            // lets the flusher clear I_DIRTY_PAGES (__writeback_single_inode); the second
            // unshare finds nothing shared, dirties nothing and clears the flag.
            unshare(fd, *off, *len)?;
            // SAFETY: syncfs on the caller's open descriptor.
            if unsafe { libc::syncfs(fd) } != 0 {
                return Err(format!("syncfs: {}", std::io::Error::last_os_error()));
            }
            unshare(fd, *off, *len)?;
        }
    }
    check(c, fd)
}

fn unshare(fd: i32, off: u64, len: u64) -> Result<(), String> {
    // SAFETY: fallocate on the caller's open descriptor.
    let r = unsafe { libc::fallocate(fd, libc::FALLOC_FL_UNSHARE_RANGE, off as i64, len as i64) };
    if r != 0 {
        return Err(format!(
            "fallocate(FALLOC_FL_UNSHARE_RANGE) after open: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Bytes of [off, off+len) that FIEMAP reports shared.
fn shared_bytes(fd: i32, off: u64, len: u64) -> Result<u64, String> {
    Ok(super::fiemap::fiemap(fd)?
        .iter()
        .filter(|e| e.3 & super::fiemap::FIEMAP_EXTENT_SHARED != 0)
        .map(|&(l, _, n, _)| (l + n).min(off + len).saturating_sub(l.max(off)))
        .sum())
}

/// After the change: the cloned ranges are shared, the unshared block is not (FIEMAP), else a
/// harness error (the world at the write would not be the scenario's).
fn check(c: &Change, fd: i32) -> Result<(), String> {
    let ok = match c {
        Change::Clone(ranges) => ranges
            .iter()
            .map(|&(o, l)| shared_bytes(fd, o, l).map(|n| n == l))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .all(|x| x),
        Change::Unshare { off, len } => shared_bytes(fd, *off, *len)? == 0,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("after open: FIEMAP does not show the {c:?}"))
    }
}

/// The donor file of the scenario file `dir/f-NAME`: `dir/d-NAME` (super::exec::execute).
fn donor_of(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.with_file_name(format!("d-{}", name.strip_prefix("f-").unwrap_or(name)))
}

/// The C reproducer's statements after the call's open (`cfd`; `donor` is the path of its donor).
pub fn c_code(c: &Change) -> String {
    match c {
        Change::Clone(ranges) => ranges
            .iter()
            .map(|(off, len)| {
                format!("\t{{ /* reflink flag set after open: clone {len} bytes at {off} */\n\t\tint d = open(donor, O_RDWR | O_CREAT, 0600);\n\t\tif (d < 0)\n\t\t\tdie(\"donor\");\n\t\twpat(d, {off}, {len}, 0x11);\n\t\tfsync(d);\n\t\tstruct file_clone_range r = {{ .src_fd = d, .src_offset = {off}, .src_length = {len}, .dest_offset = {off} }};\n\t\tif (ioctl(cfd, FICLONERANGE, &r)) {{\n\t\t\tprintf(\"COULD NOT RUN: FICLONERANGE after open: %s\\n\", strerror(errno));\n\t\t\treturn 2;\n\t\t}}\n\t\tclose(d);\n\t}}\n")
            })
            .collect(),
        Change::Unshare { off, len } => {
            let u = format!("syscall(SYS_fallocate, cfd, 0x40 /* FALLOC_FL_UNSHARE_RANGE */, (long long){off}, (long long){len})");
            format!("\t/* reflink flag cleared after open: unshare, syncfs (I_DIRTY_PAGES cleared), unshare again (xfs_reflink_clear_inode_flag) */\n\tif ({u} || syncfs(cfd) || {u}) {{\n\t\tprintf(\"COULD NOT RUN: FALLOC_FL_UNSHARE_RANGE after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{BlockState, InodeFlags};

    /// An XFS scenario: four written blocks of 4 KiB, i_size 16 KiB.
    fn xfs() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.world.blkbits = 12;
        s.world.mount.xfs_reflink = true;
        s.world.i_size = 4 * 4096;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            };
            4
        ];
        s.world.inode = InodeFlags {
            nosec: true,
            ..Default::default()
        };
        s
    }

    #[test]
    fn set_after_open_clones_the_shared_blocks_built_plain_at_open() {
        let mut s = xfs();
        s.world.blocks[1].shared = true;
        s.world.blocks[2].shared = true;
        s.world.inode.reflink = true;
        s.races.push(Race::InodeFlagChangedAfterOpen(REFLINK));
        let mut open = s.clone();
        open.world.inode = s.inode_at_open();
        assert!(!open.world.inode.reflink);
        let c = split(&s, &mut open, true).unwrap();
        assert_eq!(c, Change::Clone(vec![(4096, 8192)]));
        assert!(open.world.blocks.iter().all(|b| !b.shared));
        // A cached page over a shared block: the clone would have dropped it.
        s.world.pages = vec![PageState::None, PageState::Clean];
        assert!(split(&s, &mut s.clone(), true)
            .unwrap_err()
            .contains("xfs_flush_unmap_range"));
    }

    #[test]
    fn cleared_after_open_unshares_a_block_under_clean_pages() {
        let mut s = xfs();
        s.world.pages = vec![PageState::None, PageState::None, PageState::Clean];
        s.races.push(Race::InodeFlagChangedAfterOpen(REFLINK));
        let mut open = s.clone();
        open.world.inode = s.inode_at_open();
        assert!(open.world.inode.reflink);
        let c = split(&s, &mut open, false).unwrap();
        assert_eq!(
            c,
            Change::Unshare {
                off: 8192,
                len: 4096
            }
        );
        assert!(open.world.blocks[2].shared);
        assert_eq!(open.world.blocks.iter().filter(|b| b.shared).count(), 1);
        // A dirty page: xfs_can_free_cowblocks would keep the flag.
        let mut d = s.clone();
        d.world.pages[0] = PageState::Dirty;
        assert!(split(&d, &mut d.clone(), false)
            .unwrap_err()
            .contains("xfs_can_free_cowblocks"));
        // No clean page: the unshare would leave one cached.
        s.world.pages.clear();
        assert!(split(&s, &mut s.clone(), false).is_err());
        // A setuid file: file_modified would strip the bit.
        let mut t = xfs();
        t.world.pages = vec![PageState::Clean];
        t.world.inode.nosec = false;
        assert!(split(&t, &mut t.clone(), false).is_err());
    }

    #[test]
    fn plans_build_the_world_at_open_then_change_it() {
        use super::super::plan::{plan, Step};
        // Set after open: blocks 1-2 written plain in the set-up, cloned after open.
        let mut s = xfs();
        s.world.blocks[1].shared = true;
        s.world.blocks[2].shared = true;
        s.world.inode.reflink = true;
        s.races.push(Race::InodeFlagChangedAfterOpen(REFLINK));
        let p = plan(&s).unwrap();
        assert!(!p.steps.iter().any(|st| matches!(st, Step::CloneOld { .. })));
        assert_eq!(
            p.call.after_open.reflink,
            Some(Change::Clone(vec![(4096, 8192)]))
        );
        // Cleared after open: block 0 cloned in the set-up, cached, unshared after open.
        let mut s = xfs();
        s.world.pages = vec![PageState::Clean];
        s.races.push(Race::InodeFlagChangedAfterOpen(REFLINK));
        let p = plan(&s).unwrap();
        assert!(p.steps.contains(&Step::CloneOld { off: 0, len: 4096 }));
        assert!(p.steps.contains(&Step::ReadPage { off: 0 }));
        assert_eq!(
            p.call.after_open.reflink,
            Some(Change::Unshare { off: 0, len: 4096 })
        );
    }

    #[test]
    fn donor_is_the_set_up_donor() {
        assert_eq!(donor_of(Path::new("/m/dir/f-17")), Path::new("/m/dir/d-17"));
    }

    #[test]
    fn c_code_clones_and_unshares_through_the_call_fd() {
        let c = c_code(&Change::Clone(vec![(4096, 8192)]));
        assert!(c.contains("ioctl(cfd, FICLONERANGE") && c.contains(".src_length = 8192"));
        let u = c_code(&Change::Unshare { off: 0, len: 4096 });
        assert!(u.contains("SYS_fallocate, cfd, 0x40") && u.contains("syncfs(cfd)"));
    }
}
