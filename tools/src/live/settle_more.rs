// SPDX-License-Identifier: GPL-2.0-only
//! Inline data converted after open into worlds other than "block 0 written, nothing else"
//! (session 8; docs/live.md "ext4 inode states settled after open"). Kernel functions read in
//! 6.12.117, 7.2.12 and 7.3.4 (fs/ext4/inline.c, inode.c, extents.c, fs/attr.c, fs/inode.c).
//!
//! The conversion (`ext4_convert_inline_data` -> `ext4_convert_inline_data_nolock`) leaves
//! block 0 written with the inline bytes and zeroes past them, journalled as metadata, and sets
//! EXTENTS on a filesystem with the feature. What the world at the write may have besides, and
//! how it is reached through the call's descriptor ([`convert_ops`]):
//!
//! * **unwritten blocks 1..=k** (past EOF: an inline file is smaller than a block):
//!   `fallocate(FALLOC_FL_KEEP_SIZE, 0, (k+1) * bs)`. `ext4_fallocate` converts first, then
//!   `ext4_do_fallocate` -> `ext4_alloc_file_blocks` finds block 0 mapped and allocates the rest
//!   unwritten (`EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT`), `i_size` kept;
//! * **page 0 dirty over the written block 0**: the conversion, then a buffered overwrite of the
//!   OLD_DIRTY pattern over `[0, i_size)` (`ext4_da_write_begin` finds no inline data any more,
//!   block 0 mapped: no delayed block);
//! * **block 0 delayed under a dirty page 0**: the conversion, `ftruncate(0)` (frees block 0:
//!   `ext4_truncate`), then the buffered write of OLD_DIRTY over `[0, i_size)`
//!   (`ext4_da_get_block_prep` reserves it);
//! * **`i_size` past what an inode holds (the truncate path)**: at open an inline file of
//!   `max_inline(bs)` bytes; after open `ftruncate(fd, i_size)`: `ext4_setattr` calls
//!   `ext4_convert_inline_data` when the new size exceeds `i_inline_size` (6.12.117 has it as
//!   a backport, 7.2.12 and 7.3.4 too), then sets `i_size` and `i_disksize`. Block 0 then holds
//!   the inline bytes and zeroes; the model's written block 0 holds OLD throughout, so block 0
//!   below EOF is written with OLD again (buffered, the whole block: a partial write would read
//!   the stale home location) and written back
//!   (`sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`), page 0 dropped when the world has
//!   none cached, the world's clean pages read in;
//! * **a setuid inode** (IS_NOSEC clear at open and at the write): any of these. `file_modified`
//!   (fallocate, the buffered writes) and `do_truncate` strip the bit only without CAP_FSETID
//!   (`setattr_should_drop_suidgid`, fs/attr.c), and `file_remove_privs_flags` sets S_NOSEC only
//!   for a mode without it (`inode_has_no_xattr`): live and the C reproducer run as root, so the
//!   bit and the cleared IS_NOSEC stay.
//!
//!
//! Session 9 (6.12.117 and 7.3.4: inline.c, extents.c, migrate.c, inode.c):
//!
//! * **page 0 under writeback, mmapped dirty or busy** at the write: OLD rewritten over page 0
//!   below EOF after the conversion (writeback, busy: the page holds what the disk holds, as at
//!   rest, super::pages::rewrite_page), then the hold of super::pages right before the call on a
//!   layered filesystem of its own (settle_race::adjust); a busy page is journalled data
//!   (rule W25), its rewrite's buffers on the running transaction;
//! * **a dirty page 0 with the truncate path**: after the whole-block rewrite and its writeback,
//!   the buffered OLD_DIRTY write over page 0's non-hole blocks below EOF
//!   (super::partial::dirty_ranges);
//! * **block 0 delayed on a block-mapped inode**: [`Op::ClearExtents`] (chattr -e,
//!   `ext4_ind_migrate`) right after the conversion and before `ftruncate(0)` and the write:
//!   `ext4_ind_migrate` allocates delayed blocks first (`ext4_alloc_da_blocks`). Without the
//!   extents feature the conversion leaves the inode block-mapped;
//! * **unwritten blocks on a block-mapped inode**: no world (rule W7-indirect,
//!   [`UNWRITTEN_INDIRECT`]).
//!
//! Not built: a scaled `s_maxbytes` (the set-up would move the inline file).

use super::plan::{pattern, Unsupported};
use diofuzz::model::{TAG_OLD, TAG_OLD_DIRTY};
use diofuzz::scenario::{Extent, PageState, Scenario, HUGE_MAXBYTES, PAGE_SIZE};
use std::os::unix::fs::FileExt;

/// One step through the call's descriptor after open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// fallocate(FALLOC_FL_KEEP_SIZE, 0, len); -EOPNOTSUPP accepted (a block-mapped inode:
    /// ext4_do_fallocate refuses after the conversion).
    Fallocate(u64),
    /// ftruncate(fd, size).
    Truncate(u64),
    /// Buffered pwrite of the OLD pattern.
    WriteOld { off: u64, len: u64 },
    /// Buffered pwrite of the OLD_DIRTY pattern.
    WriteDirty { off: u64, len: u64 },
    /// sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) over one page.
    SyncPage(u64),
    /// posix_fadvise(POSIX_FADV_DONTNEED) over one (clean) page.
    DropPage(u64),
    /// Buffered pread of one page: a clean cached page.
    ReadPage(u64),
    /// chattr -e (FS_IOC_SETFLAGS without FS_EXTENT_FL: ext4_ind_migrate) right after the
    /// conversion, before a delayed block (session 9).
    ClearExtents,
}

/// The operations after open that turn the inline file at open (`open`, changed here: its size,
/// blocks and pages) into the world of `s` at the write; `ops[0]` converts.
pub fn convert_ops(s: &Scenario, open: &mut Scenario) -> Result<Vec<Op>, Unsupported> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let (n, max) = (w.i_size, diofuzz::validity::max_inline(bs));
    if super::inline_scaled::wanted(s) {
        // Session 10: the plain conversion's world next to the real limit.
        return super::inline_scaled::convert_ops(s, open);
    }
    if w.s_maxbytes != HUGE_MAXBYTES || w.s_bitmap_maxbytes != HUGE_MAXBYTES {
        return Err("inline data converted after open with a scaled s_maxbytes (not built)".into());
    }
    let p0 = w.pages.first().copied().unwrap_or(PageState::None);
    let clean_below_eof = |p: usize, st: &PageState| {
        *st == PageState::None || *st == PageState::Clean && (p as u64) * PAGE_SIZE < n
    };
    if !w
        .pages
        .iter()
        .enumerate()
        .skip(1)
        .all(|(p, st)| clean_below_eof(p, st))
    {
        return Err("inline data converted after open with a page other than page 0 that is not a clean one below EOF (not built)".into());
    }
    let kind = |b: usize| w.blocks.get(b).map_or(Extent::Hole, |x| x.kind);
    let last = w.blocks.len().max(1);
    let refuse = || -> Result<Vec<Op>, Unsupported> {
        Err("inline data converted after open: a layout the conversion and the steps after it do not leave (block 0 written and unwritten blocks after it, or block 0 delayed under a dirty page 0; past an inode's worth of data block 0 written and holes: ext4_convert_inline_data_nolock)".into())
    };
    // Page 0 held at the write (under writeback, mmapped dirty) or with busy buffers (journalled
    // data, rule W25): rewritten with the OLD pattern after the conversion, like a page at rest
    // (super::pages::rewrite_page), every block under it below EOF written.
    let held0 = matches!(
        p0,
        PageState::Writeback | PageState::MappedDirty | PageState::Busy
    );
    let page0 = (0, n.min(PAGE_SIZE));
    if held0 {
        if n == 0 || (0..n.min(PAGE_SIZE).div_ceil(bs)).any(|b| kind(b as usize) != Extent::Written)
        {
            return Err("inline data converted after open: page 0 under writeback, mmapped or busy at the write over a block that is not written below EOF (super::pages::rewrite_page)".into());
        }
        let c = super::pages::CallPages {
            writeback: (p0 == PageState::Writeback)
                .then_some(page0)
                .into_iter()
                .collect(),
            mapped: (p0 == PageState::MappedDirty)
                .then_some(page0)
                .into_iter()
                .collect(),
            idle_writer: false,
            unwritten: Vec::new(),
        };
        if c.held() {
            super::pages::check_held(s, &c, false)?;
        }
    }
    // OLD over page 0 below EOF: the held page's content is the disk's (the model's writeback,
    // mmapped or busy folio is filled from the disk; a mapped store of OLD_DIRTY follows right
    // before the call, super::pages::hold).
    let rewrite0 = |ops: &mut Vec<Op>| {
        if matches!(p0, PageState::Writeback | PageState::Busy) {
            ops.push(Op::WriteOld {
                off: 0,
                len: page0.1,
            });
        }
    };
    let ow = &mut open.world;
    ow.blocks.iter_mut().for_each(|b| *b = Default::default());
    if p0 != PageState::Clean {
        // A dirty, held or busy page 0 is not an inline world (ext4_write_inline_data_end
        // clears the bit); it is made after the conversion.
        if let Some(p) = ow.pages.first_mut() {
            *p = PageState::None;
        }
    }
    if n > max {
        // The truncate path (ext4_setattr).
        if kind(0) != Extent::Written || (1..last).any(|b| kind(b) != Extent::Hole) {
            return refuse();
        }
        ow.i_size = max;
        ow.pages.clear();
        let end = n.min(bs);
        let mut ops = vec![
            Op::Truncate(n),
            // The whole block, not only its tail past the inline bytes: ext4_setattr zeroes
            // the old EOF block's tail through the page cache, which reads block 0 from its
            // home location, stale until the checkpoint (inline-convert-stale-read); a write of
            // the whole block reads nothing.
            Op::WriteOld { off: 0, len: end },
            Op::SyncPage(0),
        ];
        match p0 {
            PageState::None => ops.push(Op::DropPage(0)),
            // Page 0 cached and clean after the writeback: the buffered write of OLD_DIRTY
            // over page 0's non-hole blocks below EOF (as at rest, super::partial) reads
            // nothing from the disk.
            PageState::Dirty => {
                for (off, len) in super::partial::dirty_ranges(w, 0, p0, n)? {
                    ops.push(Op::WriteDirty { off, len });
                }
            }
            _ => rewrite0(&mut ops),
        }
        ops.extend(
            w.pages
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, st)| **st == PageState::Clean)
                .map(|(p, _)| Op::ReadPage(p as u64 * PAGE_SIZE)),
        );
        return Ok(ops);
    }
    let dirty = p0 == PageState::Dirty;
    if dirty && n == 0 {
        return refuse();
    }
    match kind(0) {
        Extent::Written => {
            let k = (1..last)
                .take_while(|&b| kind(b) == Extent::Unwritten)
                .count();
            if (k + 1..last).any(|b| kind(b) != Extent::Hole) {
                return refuse();
            }
            if k > 0 && !w.inode.extents {
                // Unreachable for a valid scenario: rule W7-indirect judges the world at the
                // write (no unwritten state in an indirect map).
                return Err(UNWRITTEN_INDIRECT.into());
            }
            let mut ops = vec![Op::Fallocate((k as u64 + 1) * bs)];
            if dirty {
                ops.push(Op::WriteDirty { off: 0, len: n });
            }
            rewrite0(&mut ops);
            Ok(ops)
        }
        Extent::Delalloc if dirty && (1..last).all(|b| kind(b) == Extent::Hole) => {
            // On a block-mapped inode the chattr -e comes before the delayed block: after it
            // ext4_ind_migrate would allocate it first (ext4_alloc_da_blocks: filemap_flush,
            // the page under writeback). ext4_truncate (ext4_ind_truncate) frees block 0 and
            // ext4_da_write_begin -> ext4_da_get_block_prep reserves it again, as on an
            // extent-mapped inode (delayed allocation does not depend on the mapping). On a
            // filesystem without the extents feature the conversion leaves the inode
            // block-mapped and the fallocate fails with -EOPNOTSUPP after it.
            let mut ops = vec![Op::Fallocate(bs)];
            if !w.inode.extents && w.mount.extents_feature {
                ops.push(Op::ClearExtents);
            }
            ops.extend([Op::Truncate(0), Op::WriteDirty { off: 0, len: n }]);
            Ok(ops)
        }
        _ => refuse(),
    }
}

/// The world at the write that session 9 made buildable (`live --worlds inline-convert-held`),
/// by kind: page 0 under writeback, mmapped dirty or busy, page 0 dirty past an inode's worth
/// (the truncate path), or a delayed block on a block-mapped inode.
pub fn session9_kind(s: &Scenario) -> Option<&'static str> {
    let w = &s.world;
    let max = diofuzz::validity::max_inline(1 << w.blkbits);
    match w.pages.first().copied().unwrap_or(PageState::None) {
        PageState::Writeback => Some("writeback"),
        PageState::MappedDirty => Some("mapped-dirty"),
        PageState::Busy => Some("busy"),
        PageState::Dirty if w.i_size > max => Some("truncate-dirty"),
        _ if !w.inode.extents && w.blocks.iter().any(|b| b.kind == Extent::Delalloc) => {
            Some("delalloc-block-mapped")
        }
        _ => None,
    }
}

/// Live's refusal of unwritten blocks on a block-mapped inode after a conversion: no such world.
pub const UNWRITTEN_INDIRECT: &str = "inline data converted after open: unwritten blocks on a block-mapped inode (no such world, rule W7-indirect: an indirect map has no unwritten state, ext4_fallocate is -EOPNOTSUPP without EXT4_INODE_EXTENTS, ext4_ind_migrate refuses an unwritten extent)";

const SFR_ALL: u32 = 7;

/// The C program's `bfd`: a buffered open file of cfd's inode.
const BFD: &str = "\t/* a buffered open file of the same inode (cfd may be O_DIRECT) */\n\tchar bfd_path[64];\n\tsnprintf(bfd_path, sizeof bfd_path, \"/proc/self/fd/%d\", cfd);\n\tint bfd = open(bfd_path, O_RDWR);\n\tif (bfd < 0) {\n\t\tprintf(\"COULD NOT RUN: reopen after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}\n";

fn os(what: &str) -> String {
    format!("{what} after open: {}", std::io::Error::last_os_error())
}

fn fill(tag: u32, off: u64, len: u64) -> Vec<u8> {
    let mut b = vec![0u8; len as usize];
    pattern(tag, off, &mut b);
    b
}

/// Run `op` through the call's descriptor `fd`.
pub fn run_op(op: &Op, fd: i32) -> Result<(), String> {
    // The buffered I/O goes through a second open file of the same inode (the call's may be
    // O_DIRECT or O_APPEND): /proc/self/fd/N reopens it, an unlinked file too.
    let buffered = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/self/fd/{fd}"))
            .map_err(|e| format!("reopen after open: {e}"))
    };
    let pw = |tag, off: u64, len: u64| {
        buffered()?
            .write_all_at(&fill(tag, off, len), off)
            .map_err(|e| format!("pwrite after open: {e}"))
    };
    match *op {
        Op::Fallocate(len) => {
            // SAFETY: fallocate on the caller's open descriptor.
            let r = unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, len as i64) };
            if r != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(os("fallocate (inline conversion)"));
            }
        }
        // SAFETY: ftruncate on the caller's open descriptor.
        Op::Truncate(n) => {
            if unsafe { libc::ftruncate(fd, n as i64) } != 0 {
                return Err(os("ftruncate"));
            }
        }
        Op::WriteOld { off, len } => pw(TAG_OLD, off, len)?,
        Op::WriteDirty { off, len } => pw(TAG_OLD_DIRTY, off, len)?,
        Op::SyncPage(off) => {
            // SAFETY: sync_file_range on the caller's open descriptor.
            let r = unsafe { libc::sync_file_range(fd, off as i64, PAGE_SIZE as i64, SFR_ALL) };
            if r != 0 {
                return Err(os("sync_file_range"));
            }
        }
        Op::DropPage(off) => {
            // SAFETY: advisory call on the caller's open descriptor.
            let r = unsafe {
                libc::posix_fadvise(fd, off as i64, PAGE_SIZE as i64, libc::POSIX_FADV_DONTNEED)
            };
            if r != 0 {
                return Err(format!("posix_fadvise after open: errno {r}"));
            }
        }
        Op::ClearExtents => {
            super::exec::set_inode_flags(fd, 0, super::plan::FS_EXTENT_FL)?;
        }
        Op::ReadPage(off) => {
            let mut b = vec![0u8; PAGE_SIZE as usize];
            buffered()?
                .read_at(&mut b, off)
                .map_err(|e| format!("read page after open: {e}"))?;
        }
    }
    Ok(())
}

/// The C reproducer's statements after the call's open (`cfd`); a syncfs after the first with
/// `sync`.
pub fn c_ops(ops: &[Op], sync: bool) -> String {
    let mut o = String::new();
    if ops.iter().any(|op| {
        matches!(
            op,
            Op::WriteOld { .. } | Op::WriteDirty { .. } | Op::ReadPage(_)
        )
    }) {
        // A buffered open file of the same inode (cfd may be O_DIRECT or O_APPEND).
        o.push_str(BFD);
    }
    for (i, op) in ops.iter().enumerate() {
        o.push_str(&c_op(op, i == 0));
        if i == 0 {
            o.push_str("\t{\n\t\tint fl = 0;\n\t\tif (ioctl(cfd, 0x80086601UL, &fl) || (fl & 0x10000000)) {\n\t\t\tprintf(\"COULD NOT RUN: the inline data was not converted after open\\n\");\n\t\t\treturn 2;\n\t\t}\n\t}\n");
            if sync {
                o.push_str("\tsyncfs(cfd); /* live --sync-after-convert: the journalled block 0 written home */\n");
            }
        }
    }
    o
}

/// One operation after open in C (`first`: the one that converts the inline data).
fn c_op(op: &Op, first: bool) -> String {
    match *op {
        Op::Fallocate(len) => format!("\t/* inline data converted after open: ext4_fallocate -> ext4_convert_inline_data (-EOPNOTSUPP after it on a block-mapped inode) */\n\tif (fallocate(cfd, 1 /* FALLOC_FL_KEEP_SIZE */, 0, {len}) && errno != EOPNOTSUPP) {{\n\t\tprintf(\"COULD NOT RUN: fallocate after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n"),
        Op::Truncate(n) if first => format!("\t/* inline data converted after open: ext4_setattr -> ext4_convert_inline_data (the new size exceeds i_inline_size) */\n\tif (ftruncate(cfd, {n})) {{\n\t\tprintf(\"COULD NOT RUN: ftruncate after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n"),
        Op::Truncate(n) => format!("\tif (ftruncate(cfd, {n})) {{\n\t\tprintf(\"COULD NOT RUN: ftruncate after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n"),
        Op::WriteOld { off, len } => format!("\twpat(bfd, {off}, {len}, 0x11);\n"),
        Op::WriteDirty { off, len } => format!("\twpat(bfd, {off}, {len}, 0x22);\n"),
        Op::SyncPage(off) => format!("\tif (sync_file_range(cfd, {off}, 4096, 7)) {{\n\t\tprintf(\"COULD NOT RUN: sync_file_range after open: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}}\n"),
        Op::DropPage(off) => format!("\tposix_fadvise(cfd, {off}, 4096, POSIX_FADV_DONTNEED);\n"),
        Op::ClearExtents => format!("\t{{\n\t\tint fl = 0; /* chattr -e after the conversion, before the delayed block: ext4_ind_migrate */\n\t\tif (ioctl(cfd, 0x80086601UL, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tfl &= ~{:#x};\n\t\tif (ioctl(cfd, 0x40086602UL, &fl)) {{\n\t\t\tprintf(\"COULD NOT RUN: chattr -e after open: %s\\n\", strerror(errno));\n\t\t\treturn 2;\n\t\t}}\n\t}}\n", super::plan::FS_EXTENT_FL),
        Op::ReadPage(off) => format!("\t{{\n\t\tchar pg[4096];\n\t\tif (pread(bfd, pg, 4096, {off}) < 0) {{\n\t\t\tprintf(\"COULD NOT RUN: read page after open\\n\");\n\t\t\treturn 2;\n\t\t}}\n\t}}\n"),
    }
}

/// Buffered operations after open in C, through a second open file `bfd` (none converts).
pub fn c_buffered_ops(ops: &[Op]) -> String {
    let mut o = String::from(BFD);
    for op in ops {
        o.push_str(&c_op(op, false));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, Step, FS_EXTENT_FL};
    use super::super::settle_race::Settle;
    use super::*;
    use diofuzz::scenario::{BlockState, FsKind, Race};

    fn blk(kind: Extent) -> BlockState {
        BlockState {
            kind,
            ..Default::default()
        }
    }

    /// An inline file of 512 bytes at open, converted after open, on a filesystem with extents.
    fn converted(blocks: &[Extent], pages: &[PageState], i_size: u64) -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        let w = &mut s.world;
        w.i_size = i_size;
        w.blocks = blocks.iter().map(|k| blk(*k)).collect();
        w.pages = pages.to_vec();
        s.request.len = 4096;
        s.request.open.direct = true;
        s.races = vec![
            Race::InodeFlagChangedAfterOpen(0),
            Race::InodeFlagChangedAfterOpen(2),
        ];
        let v = diofuzz::validity::violations(&s);
        assert!(v.is_empty(), "valid: {v:?}");
        s
    }

    fn ops(s: &Scenario) -> Vec<Op> {
        match plan(s).unwrap().call.after_open.settle {
            Some(Settle::ConvertInline { ops, .. }) => ops,
            x => panic!("{x:?}"),
        }
    }

    use Extent::{Delalloc, Hole, Unwritten, Written};

    #[test]
    fn each_world_after_the_conversion_has_its_steps() {
        // Unwritten blocks after block 0: one fallocate over them (ext4_do_fallocate after the
        // conversion; W9 accepts the unwritten blocks: the conversion set EXTENTS).
        let u = converted(&[Written, Unwritten, Unwritten, Hole], &[], 512);
        assert_eq!(ops(&u), vec![Op::Fallocate(3 * 4096)]);
        // Page 0 dirty over the written block 0: the conversion, then the buffered overwrite;
        // the file at open has no dirty page (an inline world has none).
        let d = converted(&[Written], &[PageState::Dirty], 512);
        assert_eq!(
            ops(&d),
            vec![Op::Fallocate(4096), Op::WriteDirty { off: 0, len: 512 }]
        );
        let p = plan(&d).unwrap();
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { .. } | Step::ReadPage { .. })));
        // Block 0 delayed under the dirty page 0: converted, truncated to 0, written.
        let l = converted(&[Delalloc], &[PageState::Dirty], 512);
        assert_eq!(
            ops(&l),
            vec![
                Op::Fallocate(4096),
                Op::Truncate(0),
                Op::WriteDirty { off: 0, len: 512 }
            ]
        );
        // Past an inode's worth: the truncate path (ext4_setattr), block 0's tail written with
        // OLD and written back, page 0 dropped; the file at open holds 3968 OLD bytes inline.
        let t = converted(&[Written, Hole], &[PageState::None, PageState::Clean], 5000);
        assert_eq!(
            ops(&t),
            vec![
                Op::Truncate(5000),
                Op::WriteOld { off: 0, len: 4096 },
                Op::SyncPage(0),
                Op::DropPage(0),
                Op::ReadPage(4096),
            ]
        );
        let p = plan(&t).unwrap();
        assert!(p.steps.contains(&Step::WriteOld { off: 0, len: 3968 }));
        assert!(p.key.own);
        // A setuid inode: root keeps the bit (setattr_should_drop_suidgid with CAP_FSETID).
        let mut n = converted(&[Written], &[PageState::Clean], 512);
        n.world.inode.nosec = false;
        assert_eq!(ops(&n), vec![Op::Fallocate(4096)]);
        assert!(plan(&n).unwrap().steps.contains(&Step::SetMode(0o4600)));
    }

    /// Session 9: page 0 held or busy at the write, a dirty page 0 with the truncate path, a
    /// delayed block 0 on a block-mapped inode.
    #[test]
    fn session9_worlds_after_the_conversion() {
        // Under writeback: OLD rewritten over page 0 after the conversion, then the hold
        // (super::pages) starts its writeback right before the call, on a layered filesystem
        // of its own.
        let wb = converted(&[Written], &[PageState::Writeback], 512);
        assert_eq!(
            ops(&wb),
            vec![Op::Fallocate(4096), Op::WriteOld { off: 0, len: 512 }]
        );
        let p = plan(&wb).unwrap();
        assert_eq!(p.call.pages.writeback, vec![(0, 512)]);
        assert!(p.key.layered && p.key.own);
        // The file at open is inline with no cached page: the set-up writes OLD inline only.
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { .. } | Step::ReadPage { .. })));
        // Mmapped dirty: the hold stores OLD_DIRTY through a kept mapping after the conversion.
        let m = converted(&[Written], &[PageState::MappedDirty], 512);
        assert_eq!(ops(&m), vec![Op::Fallocate(4096)]);
        let p = plan(&m).unwrap();
        assert_eq!(p.call.pages.mapped, vec![(0, 512)]);
        assert!(p.key.layered && p.key.own);
        // Busy buffers (journalled data, rule W25): OLD rewritten, the buffers on the running
        // transaction; no hold.
        let mut b = converted(&[Written], &[PageState::Clean], 512);
        b.world.mount.data_journal = true;
        b.world.pages = vec![PageState::Busy];
        assert!(diofuzz::validity::violations(&b).is_empty());
        assert_eq!(
            ops(&b),
            vec![Op::Fallocate(4096), Op::WriteOld { off: 0, len: 512 }]
        );
        assert!(!plan(&b).unwrap().call.pages.held());
        // The truncate path with page 0 dirty: written back clean, then OLD_DIRTY over it.
        let t = converted(&[Written, Hole], &[PageState::Dirty], 5000);
        assert_eq!(
            ops(&t),
            vec![
                Op::Truncate(5000),
                Op::WriteOld { off: 0, len: 4096 },
                Op::SyncPage(0),
                Op::WriteDirty { off: 0, len: 4096 },
            ]
        );
        // Block 0 delayed on a block-mapped inode (filesystem with extents): chattr -e right
        // after the conversion (before the delayed block, which ext4_ind_migrate would
        // allocate: ext4_alloc_da_blocks), not among the flags after the steps.
        let mut l = converted(&[Delalloc], &[PageState::Dirty], 512);
        l.world.inode.extents = false;
        l.races = vec![Race::InodeFlagChangedAfterOpen(2)];
        assert!(diofuzz::validity::violations(&l).is_empty());
        assert_eq!(
            ops(&l),
            vec![
                Op::Fallocate(4096),
                Op::ClearExtents,
                Op::Truncate(0),
                Op::WriteDirty { off: 0, len: 512 }
            ]
        );
        assert_eq!(plan(&l).unwrap().call.after_open.clear & FS_EXTENT_FL, 0);
        // Without the extents feature: the conversion leaves it block-mapped.
        l.world.mount.extents_feature = false;
        assert!(diofuzz::validity::violations(&l).is_empty());
        assert_eq!(
            ops(&l),
            vec![
                Op::Fallocate(4096),
                Op::Truncate(0),
                Op::WriteDirty { off: 0, len: 512 }
            ]
        );
        // The clean block-mapped world keeps its late chattr -e (after the steps).
        let mut c = converted(&[Written], &[PageState::Clean], 512);
        c.world.inode.extents = false;
        c.races = vec![Race::InodeFlagChangedAfterOpen(2)];
        assert_ne!(plan(&c).unwrap().call.after_open.clear & FS_EXTENT_FL, 0);
    }

    /// Unwritten blocks on a block-mapped inode after a conversion: no such world (rule
    /// W7-indirect; ext4_fallocate is -EOPNOTSUPP without EXT4_INODE_EXTENTS).
    #[test]
    fn unwritten_on_a_block_mapped_inode_is_rule_w7() {
        let mut u = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        u.world.i_size = 512;
        u.world.blocks = vec![blk(Written), blk(Unwritten)];
        u.world.inode.extents = false;
        u.request.len = 4096;
        u.races = vec![Race::InodeFlagChangedAfterOpen(2)];
        let v = diofuzz::validity::violations(&u);
        assert!(v.iter().any(|x| x.rule.id.starts_with("W7")), "{v:?}");
        let mut open = u.clone();
        assert_eq!(convert_ops(&u, &mut open).unwrap_err(), UNWRITTEN_INDIRECT);
    }

    #[test]
    fn refuses_what_the_steps_do_not_leave() {
        for (s, word) in [
            (converted(&[Written, Hole, Unwritten], &[], 512), "a layout"),
            (
                converted(&[Written, Hole], &[PageState::Writeback], 0),
                "page 0 under writeback",
            ),
            (converted(&[Written, Written], &[], 5000), "a layout"),
        ] {
            let e = plan(&s).unwrap_err();
            assert!(e.contains(word), "{word}: {e}");
        }
    }

    /// Every generated conversion (the random generator's two streams) is planned.
    #[test]
    fn generated_conversions_are_built() {
        let mut n = 0;
        for i in 0..4000 {
            let s = diofuzz::generators::random::generate(29, i, FsKind::Ext4);
            // (A scaled s_maxbytes with the conversion's EXTENTS change is refused by
            // super::limits, not this module.)
            let scaled =
                s.world.s_maxbytes != HUGE_MAXBYTES || s.world.s_bitmap_maxbytes != HUGE_MAXBYTES;
            if !s.races.contains(&Race::InodeFlagChangedAfterOpen(2)) || scaled {
                continue;
            }
            n += 1;
            let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}: {s:?}"));
            assert!(matches!(
                p.call.after_open.settle,
                Some(Settle::ConvertInline { .. })
            ));
        }
        assert!(n > 20, "{n}");
    }

    #[test]
    fn c_ops_compile() {
        let mut b = converted(&[Delalloc], &[PageState::Dirty], 512);
        b.world.inode.extents = false;
        b.races = vec![Race::InodeFlagChangedAfterOpen(2)];
        for (n, s) in [
            ("b", b),
            ("w", converted(&[Written], &[PageState::Writeback], 512)),
            ("u", converted(&[Written, Unwritten], &[], 512)),
            ("l", converted(&[Delalloc], &[PageState::Dirty], 512)),
            (
                "t",
                converted(&[Written, Hole], &[PageState::None, PageState::Clean], 5000),
            ),
        ] {
            let c = super::super::repro::c_program(&s).unwrap();
            assert!(c.contains("the inline data was not converted"), "{c}");
            if n == "w" {
                // The held page 0 after the conversion and the rewrite of OLD (super::pages).
                let (a, b) = (
                    c.find("fallocate(cfd").unwrap(),
                    c.find("\thold_writeback(").unwrap(),
                );
                assert!(a < b && c[a..b].contains("wpat(bfd, 0, 512, 0x11)"), "{c}");
            }
            if n == "b" {
                let (a, b) = (
                    c.find("chattr -e after the conversion").unwrap(),
                    c.find("ftruncate(cfd, 0)").unwrap(),
                );
                assert!(a < b, "{c}");
            }
            super::super::repro::assert_c_compiles(&format!("settle-more-{n}"), &c, &["-O2"]);
        }
    }
}
