// SPDX-License-Identifier: GPL-2.0-only
//! Validity rules W27 (swap files) and W28 (state changes after open that no call makes): the
//! checks behind [`super::SWAPFILE_LAYOUT`] and [`super::FLAG_CHANGE_NO_CALL`] (kernel citations
//! there and in docs/validity.md).

use crate::scenario::*;

const PAGE: u64 = 4096;
const NOSEC: u8 = 8;
const UNLINKED: u8 = 10;
const DISKSIZE_LAG: u8 = 11;

/// The flags whose change after open W28 looks at.
pub const NO_CALL_FLAGS: [u8; 3] = [NOSEC, UNLINKED, DISKSIZE_LAG];

fn get(f: &InodeFlags, i: u8) -> bool {
    ((f.to_bits() & (1 << i)) != 0) != matches!(i, 0 | 8)
}

fn changed(s: &Scenario, i: u8) -> bool {
    s.races
        .iter()
        .filter(|r| **r == Race::InodeFlagChangedAfterOpen(i))
        .count()
        % 2
        == 1
}

/// W28 for flag `i`: did it change after open in the direction no call makes without a write?
/// IS_NOSEC false -> true (file_remove_privs_flags on a write), unlinked true -> false (vfs_link:
/// -ENOENT for i_nlink 0 without I_LINKABLE), disksize_lag false -> true (a buffered write).
pub fn no_call_flag(s: &Scenario, i: u8) -> bool {
    if !changed(s, i) {
        return false;
    }
    let to = get(&s.world.inode, i);
    match i {
        NOSEC | DISKSIZE_LAG => to,
        UNLINKED => !to,
        _ => false,
    }
}

/// W28: the first such change, described.
pub fn no_call_change(s: &Scenario, _at_open: &InodeFlags) -> Option<String> {
    if s.races.is_empty() {
        return None;
    }
    NO_CALL_FLAGS
        .into_iter()
        .find(|&i| no_call_flag(s, i))
        .map(|i| {
            match i {
                NOSEC => "IS_NOSEC set after open (only a write sets S_NOSEC)",
                UNLINKED => "an unlinked inode linked again after open (vfs_link: -ENOENT)",
                _ => "i_disksize fell behind i_size after open (only a buffered write does that)",
            }
            .to_string()
        })
}

/// W27: why swapon would have refused this swap file (or what cannot have happened to it since).
pub fn swapfile_refused(s: &Scenario, at_open: &InodeFlags) -> Option<String> {
    let w = &s.world;
    let f = [w.inode, *at_open];
    if f.iter().any(|f| f.unlinked) {
        return Some("an unlinked swap file (swapon: -ENOENT; may_delete: -EPERM)".into());
    }
    if f.iter().any(|f| f.inline_data || f.encrypted || f.dax) {
        return Some("an inline, encrypted or DAX swap file".into());
    }
    if w.i_size < 2 * PAGE {
        return Some(format!(
            "a swap file of {} bytes (no usable page after the header)",
            w.i_size
        ));
    }
    let bs = 1u64 << w.blkbits;
    let span = ((w.i_size & !(PAGE - 1)) / bs) as usize;
    for i in 0..span {
        let b = w.blocks.get(i).copied().unwrap_or_default();
        if matches!(b.kind, Extent::Hole | Extent::Delalloc) {
            return Some(format!("swap file block {i} is {:?}", b.kind));
        }
        if b.shared {
            return Some(format!("swap file block {i} is shared"));
        }
        if (i as u64) < PAGE / bs && b.kind != Extent::Written {
            return Some(format!(
                "swap file block {i} (the header page) is not written"
            ));
        }
    }
    if w.blocks.iter().any(|b| b.kind == Extent::Delalloc) {
        return Some("a delalloc block on a swap file (vfs_fsync at swapon)".into());
    }
    if w.pages.iter().any(|p| {
        matches!(
            p,
            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
        )
    }) {
        return Some("a dirty or writeback page on a swap file".into());
    }
    if s.has_race(Race::MmapRedirty) {
        return Some("an mmap writer on a swap file (SIGBUS)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn swap_world(fs: FsKind) -> Scenario {
        let mut s = Scenario {
            fs,
            ..Default::default()
        };
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.blocks = crate::generators::layout("WWWW").unwrap();
        s.world.inode.swapfile = true;
        s.request.len = 4096;
        s
    }

    /// mm/swapfile.c swapon and fs/iomap/swapfile.c iomap_swapfile_activate.
    #[test]
    fn w27_swapfile_needs_what_swapon_accepts() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let s = swap_world(fs);
            assert!(is_valid(&s), "{:?}", violations(&s));
            let bad = |f: &dyn Fn(&mut Scenario)| {
                let mut t = swap_world(fs);
                f(&mut t);
                let v = violations(&t);
                assert!(v.iter().any(|v| v.rule.id == "W27-swapfile"), "{v:?}");
                normalise(&mut t);
                assert!(is_valid(&t) && !t.world.inode.swapfile);
            };
            bad(&|t| t.world.blocks[2].kind = Extent::Hole);
            bad(&|t| t.world.blocks[0].kind = Extent::Unwritten);
            bad(&|t| t.world.i_size = 4096);
            bad(&|t| t.world.pages = vec![PageState::None, PageState::Dirty]);
            bad(&|t| t.world.inode.unlinked = true);
            // Unwritten blocks past the header page are mapped for swap (IOMAP_UNWRITTEN).
            let mut u = swap_world(fs);
            u.world.blocks[3].kind = Extent::Unwritten;
            assert!(is_valid(&u), "{:?}", violations(&u));
        }
        let mut e = swap_world(FsKind::Ext4);
        e.world.inode.encrypted = true;
        assert!(violations(&e).iter().any(|v| v.rule.id == "W27-swapfile"));
        // swapon after open (the race) needs the same layout.
        let mut r = swap_world(FsKind::Xfs);
        r.world.blocks[1].kind = Extent::Hole;
        r.races.push(Race::InodeFlagChangedAfterOpen(9));
        assert!(violations(&r).iter().any(|v| v.rule.id == "W27-swapfile"));
    }

    /// fs/inode.c file_remove_privs_flags, fs/namei.c vfs_link, ext4_da_do_write_end.
    #[test]
    fn w28_changes_no_call_makes() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.i_size = 8192;
        s.request.len = 4096;
        // IS_NOSEC cleared after open (fchmod setuid): real.
        s.world.inode.nosec = false;
        s.races.push(Race::InodeFlagChangedAfterOpen(8));
        assert!(is_valid(&s), "{:?}", violations(&s));
        // Set after open: only a write does it.
        s.world.inode.nosec = true;
        assert!(violations(&s)
            .iter()
            .any(|v| v.rule.id == "W28-flag-no-call"));
        normalise(&mut s);
        assert!(s.races.is_empty() && s.world.inode.nosec);
        // Unlinked after open: real; linked again: not.
        let mut u = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        u.world.i_size = 8192;
        u.request.len = 4096;
        u.world.inode.unlinked = true;
        u.races.push(Race::InodeFlagChangedAfterOpen(10));
        assert!(is_valid(&u), "{:?}", violations(&u));
        u.world.inode.unlinked = false;
        assert!(violations(&u)
            .iter()
            .any(|v| v.rule.id == "W28-flag-no-call"));
    }
}
