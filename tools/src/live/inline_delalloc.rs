// SPDX-License-Identifier: GPL-2.0-only
//! ext4 inline data converted by a delayed-allocation write, not yet written back
//! (`world.inline_delalloc`, validity rule W46; docs/live.md "Inline-data and encrypted
//! inodes"), built on a live kernel (session 9).
//!
//! On the inline-data filesystem ([`super::inode_kind::InodeKind::Inline`]: `-O inline_data -I
//! BLOCKSIZE`) the new file gets inline data from a one-byte write (`ext4_create_inline_data`),
//! in place of the truncate to `i_size` (a truncate to 0 would arm auto_da_alloc: [`adjust`]). The plan's dirty pages then come
//! from its buffered writes of the OLD_DIRTY pattern, page by page from page 0: the first one
//! that ends past what the inode holds inline (`ext4_da_write_begin` ->
//! `ext4_generic_write_inline_data` / 6.12 `ext4_da_write_inline_data_begin`: -ENOSPC from
//! `ext4_prepare_inline_data`) runs `ext4_da_convert_inline_data_to_extent`: folio 0 read from
//! the inode, block 0 delayed, folio 0 dirty and uptodate, EXT4_STATE_MAY_INLINE_DATA cleared,
//! INLINE_DATA kept; every later write takes the delalloc path. The last write ends at i_size.
//! `FS_IOC_GETFLAGS` must still show FS_INLINE_DATA_FL after them (a writeback would have
//! destroyed it: `ext4_do_writepages` -> `ext4_destroy_inline_data`), so the scenario is skipped
//! when something wrote the file back. Nothing in the set-up after the writes flushes: the
//! cache drop (POSIX_FADV_DONTNEED, which writes back first) comes before them.
//!
//! Refused: i_size not past what a block-sized inode holds inline (the converting write ends
//! past `max_inline`), and an i_size not reached by a write (the block holding the last byte
//! not delayed under a dirty page): a truncate up converts at once (`ext4_setattr` ->
//! `ext4_convert_inline_data`, which flushes when EXT4_STATE_MAY_INLINE_DATA is clear), a
//! truncate down below the inline size drops the delayed extents (rule W46). The `disksize_lag`
//! flag: the kernel's i_disksize after the conversion is the inline size (`ext4_da_do_write_end`
//! moves it for no delayed buffer), which neither value of the flag says; the model reads
//! i_disksize only on the direct path, which an inline inode never takes, so live builds the
//! same file for both.

use super::plan::{Plan, Step, Unsupported};
use diofuzz::scenario::{Extent, PageState, Scenario, PAGE_SIZE};
use diofuzz::validity::max_inline;

/// The worlds with a conversion pending that live does not build.
pub fn refuse(s: &Scenario) -> Result<(), Unsupported> {
    let w = &s.world;
    if !w.inline_delalloc {
        return Ok(());
    }
    let bs = 1u64 << w.blkbits;
    if w.i_size <= max_inline(bs) {
        return Err(format!(
            "inline conversion pending at an i_size of {} (the converting write ends past the {} bytes a {bs}-byte inode holds inline)",
            w.i_size,
            max_inline(bs)
        )
        );
    }
    let last = (w.i_size - 1) / bs;
    let delayed = w
        .blocks
        .get(last as usize)
        .is_some_and(|b| b.kind == Extent::Delalloc);
    let dirty = w.pages.get(((w.i_size - 1) / PAGE_SIZE) as usize) == Some(&PageState::Dirty);
    if !delayed || !dirty {
        return Err(
            "inline conversion pending with an i_size no write reached (the last block not delayed under a dirty page: a truncate would convert or drop the delayed extents)"
                .into(),
        );
    }
    if !s.races.is_empty()
        && s.races
            .iter()
            .any(|r| *r != diofuzz::scenario::Race::FcntlToggleDirect)
    {
        return Err("inline conversion pending with a race after open (not built)".into());
    }
    Ok(())
}

/// Make the plan's file a one-byte inline file instead of truncating it to `i_size`: the dirty
/// pages' writes (the first from byte 0) convert it and set i_size. Not truncated back to 0:
/// `ext4_truncate` to 0 sets EXT4_STATE_DA_ALLOC_CLOSE, and the close of the set-up's file
/// then runs `ext4_alloc_da_blocks` (`ext4_release_file`, auto_da_alloc), whose writeback
/// destroys the inline data (seen on 6.18.44: the call took the direct path).
pub fn adjust(s: &Scenario, steps: &mut [Step]) {
    if !s.world.inline_delalloc {
        return;
    }
    if let Some(i) = steps
        .iter()
        .position(|st| *st == Step::Truncate(s.world.i_size))
    {
        steps[i] = Step::WriteZero { off: 0, len: 1 };
    }
}

/// On the call's descriptor, right after its open: an inline plan's inode must still be inline
/// (the set-up checked it before closing its own descriptor; a flush at that close, such as
/// auto_da_alloc's, would destroy a pending conversion's inline data unseen). Else the scenario
/// is skipped ([`super::exec::UNAVAILABLE`]).
pub fn check_at_open(plan: &Plan, fd: i32) -> Result<(), String> {
    if inline_at_open(plan) {
        super::inode_kind::expect_flags(fd, super::inode_kind::FS_INLINE_DATA_FL)
    } else {
        Ok(())
    }
}

/// After the call: an inline inode never takes the direct path (`ext4_dio_alignment()` is 0), so
/// a direct write means the inline data was destroyed after the check at open, by a writeback
/// nothing in the scenario asked for (another process's sync() on a busy host: seen once in the
/// live tests at load 8). The world was not the scenario's: skipped
/// ([`super::exec::UNAVAILABLE`]).
pub fn check_after_call(plan: &Plan, o: &super::exec::Observation) -> Result<(), String> {
    // (Not with a change after open: the conversion races of super::settle_race make the inode
    // block-mapped before the call on purpose.)
    if inline_at_open(plan) && plan.call.after_open.is_empty() && o.dio() {
        return Err(format!(
            "{}: the inline data was written back before the call (the kernel wrote directly)",
            super::exec::UNAVAILABLE
        ));
    }
    Ok(())
}

/// Does the plan's inode have inline data when the call opens it: the set-up checks the flag and
/// no step after the check may convert the inode (a test's hand-made plan appends a fallocate:
/// tools/tests/live_probes.rs)?
fn inline_at_open(plan: &Plan) -> bool {
    let inline = Step::ExpectInodeFlags(super::inode_kind::FS_INLINE_DATA_FL);
    let Some(at) = plan.steps.iter().position(|st| *st == inline) else {
        return false;
    };
    !plan.steps[at..].iter().any(|st| {
        matches!(
            st,
            Step::Fallocate { .. }
                | Step::Truncate(_)
                | Step::WriteOld { .. }
                | Step::WriteDirty { .. }
                | Step::WriteZero { .. }
                | Step::CloneOld { .. }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::inode_kind::FS_INLINE_DATA_FL;
    use diofuzz::generators::{layout, pages};
    use diofuzz::scenario::FsKind;

    fn converted(blkbits: u8, i_size: u64, blocks: &str, pg: &str) -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        s.world.blkbits = blkbits;
        s.world.i_size = i_size;
        s.world.blocks = layout(blocks).unwrap();
        s.world.pages = pages(pg).unwrap();
        s.world.inode.inline_data = true;
        s.world.inode.extents = false;
        s.world.inline_delalloc = true;
        s.request.open.direct = true;
        s.request.len = 4096;
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        s
    }

    #[test]
    fn the_plan_makes_an_empty_inline_file_then_the_dirty_writes_convert_it() {
        let s = converted(12, 8193, "DHD", "DND");
        let p = crate::live::plan::plan(&s).unwrap();
        let st = &p.steps;
        let at = |x: &Step| {
            st.iter()
                .position(|y| y == x)
                .unwrap_or_else(|| panic!("{x:?} in {st:?}"))
        };
        // Inline data first, then the cache drop, then the writes: page 0's (it converts), the
        // last one ending at i_size; the flag checked after them.
        let made = at(&Step::WriteZero { off: 0, len: 1 });
        // No truncate at all (to 0 it would arm auto_da_alloc's flush at close).
        assert!(!st.iter().any(|x| matches!(x, Step::Truncate(_))), "{st:?}");
        let drop = at(&Step::DropCache);
        let w0 = at(&Step::WriteDirty { off: 0, len: 4096 });
        let w2 = at(&Step::WriteDirty { off: 8192, len: 1 });
        let flag = at(&Step::ExpectInodeFlags(FS_INLINE_DATA_FL));
        assert!(made < drop && drop < w0 && w0 < w2 && w2 < flag, "{st:?}");
        assert!(p.key.label().ends_with("-inline"));
    }

    #[test]
    fn the_call_checks_the_flag_unless_a_later_step_converts() {
        let mut p = crate::live::plan::plan(&converted(12, 8193, "DHD", "DND")).unwrap();
        assert!(inline_at_open(&p));
        p.steps.push(Step::Fallocate { off: 0, len: 1024 });
        assert!(!inline_at_open(&p));
        let mut plain = converted(12, 8193, "DHD", "DND");
        plain.world.inode = Default::default();
        plain.world.inline_delalloc = false;
        assert!(!inline_at_open(&crate::live::plan::plan(&plain).unwrap()));
    }

    #[test]
    fn small_sizes_and_sizes_no_write_reached_are_refused() {
        // 1 KiB blocks: a 1 KiB inode holds 896 bytes inline.
        let s = converted(10, 1024, "D", "D");
        assert!(refuse(&s).is_ok());
        let mut small = converted(10, 513, "D", "D");
        small.world.i_size = 800;
        assert!(refuse(&small)
            .unwrap_err()
            .to_string()
            .contains("past the 896 bytes"));
        // The block at EOF is a hole: i_size came from a truncate.
        let s = converted(12, 8192, "DH", "D");
        assert!(refuse(&s)
            .unwrap_err()
            .to_string()
            .contains("no write reached"));
    }
}
