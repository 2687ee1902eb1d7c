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
//! Refused: an i_size not reached by a write (the block holding the last byte not delayed under
//! a dirty page): a truncate above `i_inline_size` converts at once (`ext4_setattr` ->
//! `ext4_convert_inline_data`, which flushes when EXT4_STATE_MAY_INLINE_DATA is clear), a
//! truncate below the inline size drops the delayed extents (rule W46). Session 10 builds the
//! truncate to exactly `i_inline_size`, a scaled bitmap limit and the races after open that
//! leave the state ([`adjust`], [`unshifted_step`], [`keeps_state`]). The `disksize_lag`
//! flag: the kernel's i_disksize after the conversion is the inline size (`ext4_da_do_write_end`
//! moves it for no delayed buffer), which neither value of the flag says; the model reads
//! i_disksize only on the direct path, which an inline inode never takes, so live builds the
//! same file for both.

use super::plan::{Plan, Step, Unsupported};
use diofuzz::scenario::{Extent, PageState, Race, Scenario, HUGE_MAXBYTES, PAGE_SIZE};
use diofuzz::validity::max_inline;

/// The worlds with a conversion pending that live does not build.
pub fn refuse(s: &Scenario) -> Result<(), Unsupported> {
    let w = &s.world;
    if !w.inline_delalloc {
        return Ok(());
    }
    let bs = 1u64 << w.blkbits;
    let last = (w.i_size.max(1) - 1) / bs;
    let delayed = w
        .blocks
        .get(last as usize)
        .is_some_and(|b| b.kind == Extent::Delalloc);
    let dirty =
        w.pages.get(((w.i_size.max(1) - 1) / PAGE_SIZE) as usize) == Some(&PageState::Dirty);
    if !delayed || !dirty {
        return Err(
            "inline conversion pending with an i_size no write reached (the last block not delayed under a dirty page: a truncate would convert or drop the delayed extents)"
                .into(),
        );
    }
    if let Some(r) = s.races.iter().find(|r| !keeps_state(r)) {
        return Err(format!(
            "inline conversion pending with the race {r:?} after open (not built: only +a, a setuid chmod, an unlink and the i_rwsem holder leave the state as it is; +i, +j, swapon and a store through a shared mapping write the file back or convert it)"
        ));
    }
    Ok(())
}

/// The races after open live builds on the state (session 10): the fcntl toggle, i_rwsem held
/// by another task, and the flag changes that neither flush nor convert: `+a` (append_only set:
/// `ext4_ioctl_setflags` writes back only for `+i`), IS_NOSEC cleared (a setuid `fchmod`:
/// `ext4_setattr` without ATTR_SIZE), an unlink (`ext4_unlink` writes nothing back). The
/// generator draws them in that direction only (src/generators/inline_delalloc.rs `raced`).
fn keeps_state(r: &Race) -> bool {
    matches!(
        r,
        Race::FcntlToggleDirect | Race::LockContended | Race::InodeFlagChangedAfterOpen(7 | 8 | 10)
    )
}

/// Which of session 10's worlds `s` is (`live --worlds inline-delalloc-more`): "truncated" (an
/// i_size the inode holds inline, not shifted), "scaled" (a scaled bitmap limit), "raced" (a
/// race after open other than the fcntl toggle), "converted-scaled" (inline data converted after
/// open with a scaled limit: super::inline_scaled); None for another world.
pub fn session10_kind(s: &Scenario) -> Option<&'static str> {
    let w = &s.world;
    if super::inline_scaled::wanted(s) {
        Some("converted-scaled")
    } else if !w.inline_delalloc {
        None
    } else if shifted(s) {
        Some("scaled")
    } else if s.races.iter().any(|r| *r != Race::FcntlToggleDirect) {
        Some("raced")
    } else if w.i_size <= max_inline(1 << w.blkbits) {
        Some("truncated")
    } else {
        None
    }
}

/// Does the plan move the file next to the real bitmap limit (a scaled `s_bitmap_maxbytes` on
/// an inline inode, which has no EXTENTS flag: super::limits::shift)?
fn shifted(s: &Scenario) -> bool {
    s.world.s_bitmap_maxbytes != HUGE_MAXBYTES
}

/// Make the plan's file a one-byte inline file instead of truncating it to `i_size`: the dirty
/// pages' writes (the first from byte 0) convert it and set i_size. Not truncated back to 0:
/// `ext4_truncate` to 0 sets EXT4_STATE_DA_ALLOC_CLOSE, and the close of the set-up's file
/// then runs `ext4_alloc_da_blocks` (`ext4_release_file`, auto_da_alloc), whose writeback
/// destroys the inline data (seen on 6.18.44: the call took the direct path).
///
/// Session 10, an i_size the inode holds inline (at least 60: rule W46): the truncated state.
/// The file is made inline with `i_size` bytes (the plan's truncate, which
/// super::inode_kind::adjust_steps turns into that write: `ext4_create_inline_data` /
/// `ext4_update_inline_data` set `i_inline_size` to max(i_size, 60)), page 0's write goes one
/// byte past what the inode holds (it converts: block 0 delayed, folio 0 dirty) and a truncate
/// back to `i_size` = `i_inline_size` follows: `ext4_setattr` converts only past
/// `i_inline_size`, and `ext4_inline_data_truncate` drops the delayed extents only below the
/// inline size, so the state stays; `truncate_pagecache` zeroes folio 0 past i_size (folio 0
/// stays dirty). With a shift ([`shifted`]) no truncate is needed: page 0's write lands next to
/// the real limit, far past what the inode holds, and converts there.
pub fn adjust(s: &Scenario, steps: &mut Vec<Step>) {
    let w = &s.world;
    if !w.inline_delalloc {
        return;
    }
    let top = max_inline(1 << w.blkbits);
    if w.i_size <= top && !shifted(s) {
        let page0 = Step::WriteDirty {
            off: 0,
            len: w.i_size,
        };
        if let Some(i) = steps.iter().position(|st| *st == page0) {
            let convert = Step::WriteDirty {
                off: 0,
                len: top + 1,
            };
            steps.splice(i..=i, [convert, Step::Truncate(w.i_size)]);
        }
        return;
    }
    if let Some(i) = steps.iter().position(|st| *st == Step::Truncate(w.i_size)) {
        steps[i] = MAKE_INLINE;
    }
}

/// The set-up's one-byte write that makes the file inline ([`adjust`]).
const MAKE_INLINE: Step = Step::WriteZero { off: 0, len: 1 };

/// The index of the set-up step a shift must leave at offset 0 (super::limits::shift): the
/// one-byte write that makes the file inline. Inline data lives at offset 0 whatever the
/// file's size; the writes next to the limit then convert it
/// (`ext4_da_convert_inline_data_to_extent` always maps folio 0).
pub fn unshifted_step(s: &Scenario, steps: &[Step]) -> Option<usize> {
    if !s.world.inline_delalloc {
        return None;
    }
    steps.iter().position(|st| *st == MAKE_INLINE)
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
    if inline_at_open(plan) && keeps_inline(&plan.call.after_open) && o.dio() {
        return Err(format!(
            "{}: the inline data was written back before the call (the kernel wrote directly)",
            super::exec::UNAVAILABLE
        ));
    }
    Ok(())
}

/// An after-open history that leaves an inline inode inline (session 10: the races of
/// [`keeps_state`]; the conversions of super::settle_race and a chattr of the EXTENTS or
/// journal flag do not).
fn keeps_inline(a: &super::race::AfterOpen) -> bool {
    use super::plan::FS_APPEND_FL;
    let mut only = a.clone();
    only.lock_holder = false;
    only.chmod = None;
    only.unlink = false;
    (a.set & !FS_APPEND_FL == 0) && a.clear == 0 && {
        only.set = 0;
        only.is_empty()
    }
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
    fn sizes_no_write_reached_and_races_that_end_the_state_are_refused() {
        // 1 KiB blocks: a 1 KiB inode holds 896 bytes inline; since session 10 a smaller i_size
        // is the truncated state (below).
        let s = converted(10, 1024, "D", "D");
        assert!(refuse(&s).is_ok());
        let mut small = converted(10, 513, "D", "D");
        small.world.i_size = 800;
        assert!(refuse(&small).is_ok());
        // The block at EOF is a hole: i_size came from a truncate.
        let s = converted(12, 8192, "DH", "D");
        assert!(refuse(&s)
            .unwrap_err()
            .to_string()
            .contains("no write reached"));
        // Races after open: +a, a setuid chmod, an unlink, the i_rwsem holder are built.
        for (flag, set) in [(7u8, true), (8, false), (10, true)] {
            let mut r = converted(12, 8193, "DHD", "DND");
            match flag {
                7 => r.world.inode.append_only = set,
                8 => r.world.inode.nosec = set,
                _ => r.world.inode.unlinked = set,
            }
            r.races.push(Race::InodeFlagChangedAfterOpen(flag));
            assert!(diofuzz::validity::is_valid(&r), "{flag}");
            assert!(refuse(&r).is_ok(), "{flag}");
            let p = crate::live::plan::plan(&r).unwrap();
            assert!(
                keeps_inline(&p.call.after_open),
                "{flag}: {:?}",
                p.call.after_open
            );
        }
        let mut held = converted(12, 8193, "DHD", "DND");
        held.races.push(Race::LockContended);
        assert!(refuse(&held).is_ok());
        // A store through a shared mapping converts (ext4_page_mkwrite): not built.
        let mut mapped = converted(12, 8193, "DHD", "DND");
        mapped.races.push(Race::MmapRedirty);
        assert!(refuse(&mapped).unwrap_err().contains("MmapRedirty"));
    }

    /// Session 10: an i_size the inode holds inline is the state a truncate to exactly
    /// i_inline_size leaves: the file made inline with i_size bytes, page 0's write one byte
    /// past what the inode holds (it converts), the truncate back, then the flag check.
    #[test]
    fn the_truncated_state_is_made_inline_converted_and_truncated_back() {
        for (bits, i_size) in [(12u8, 512u64), (12, 3585), (10, 513)] {
            let s = converted(bits, i_size, "D", "D");
            let p = crate::live::plan::plan(&s).unwrap();
            let st = &p.steps;
            let at = |x: &Step| {
                st.iter()
                    .position(|y| y == x)
                    .unwrap_or_else(|| panic!("{x:?} in {st:?}"))
            };
            let top = max_inline(1 << bits);
            let made = at(&Step::WriteZero {
                off: 0,
                len: i_size,
            });
            let drop = at(&Step::DropCache);
            let conv = at(&Step::WriteDirty {
                off: 0,
                len: top + 1,
            });
            let back = at(&Step::Truncate(i_size));
            let flag = at(&Step::ExpectInodeFlags(FS_INLINE_DATA_FL));
            assert!(
                made < drop && drop < conv && conv < back && back < flag,
                "{st:?}"
            );
            assert_eq!(
                st.iter().filter(|x| matches!(x, Step::Truncate(_))).count(),
                1
            );
            assert_eq!(p.shift, 0);
        }
    }

    /// Session 10: a scaled bitmap limit moves every set-up write but the one-byte inline write
    /// next to ext4_max_bitmap_size (an inline inode has no EXTENTS flag); page 0's write
    /// there converts, so no truncate is needed even for a small i_size.
    #[test]
    fn a_scaled_limit_shifts_all_but_the_inline_write() {
        for (i_size, blocks, pg) in [(8193u64, "DHD", "DND"), (513, "D", "D")] {
            let mut s = converted(12, i_size, blocks, pg);
            s.request.open.direct = false;
            s.request.pos = i_size;
            let n = i_size.div_ceil(4096) + 1;
            s.world.s_bitmap_maxbytes = n * 4096;
            assert!(
                diofuzz::validity::is_valid(&s),
                "{:?}",
                diofuzz::validity::violations(&s)
            );
            let p = crate::live::plan::plan(&s).unwrap();
            let delta = crate::live::limits::ext4_max_bitmap_size(12) - n * 4096;
            assert_eq!(p.shift, delta);
            let st = &p.steps;
            assert_eq!(
                st.iter().find(|x| matches!(x, Step::WriteZero { .. })),
                Some(&Step::WriteZero { off: 0, len: 1 }),
                "{st:?}"
            );
            assert!(
                st.contains(&Step::WriteDirty {
                    off: delta,
                    len: i_size.min(4096)
                }),
                "{st:?}"
            );
            assert!(!st.iter().any(|x| matches!(x, Step::Truncate(_))), "{st:?}");
            assert_eq!(p.call.pos, i_size + delta);
        }
    }
}
