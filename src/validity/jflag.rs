// SPDX-License-Identifier: GPL-2.0-only
//! Validity rule W45 (`chattr -j` after open): the check behind [`super::JFLAG_CLEARED_BLOCKS`]
//! (kernel citation there and in docs/validity.md).

use crate::scenario::*;

const JOURNAL_DATA: u8 = 1;

/// The journal-data flag was in effect at open and is cleared at the write, on an ext4 file
/// (a data=journal mount journals every file whatever the flag).
pub fn cleared_after_open(s: &Scenario) -> bool {
    s.fs == FsKind::Ext4
        && !s.world.mount.data_journal
        && !s.world.inode.journal_data
        && s.inode_at_open().journal_data
        && s.races
            .iter()
            .filter(|r| **r == Race::InodeFlagChangedAfterOpen(JOURNAL_DATA))
            .count()
            % 2
            == 1
}

/// The blocks that cannot be what the scenario says after a `chattr -j` after open: every
/// delayed block, and an unwritten block under a dirty, writeback or mmapped dirty page inside
/// EOF (the journalled write or page fault that dirtied it converted it).
pub fn impossible_blocks(s: &Scenario) -> impl Iterator<Item = usize> + '_ {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let on = cleared_after_open(s);
    w.blocks.iter().enumerate().filter_map(move |(i, b)| {
        let off = i as u64 * bs;
        let page = w
            .pages
            .get((off / PAGE_SIZE) as usize)
            .copied()
            .unwrap_or_default();
        let dirtied = matches!(
            page,
            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
        ) && off < w.i_size;
        let bad = match b.kind {
            Extent::Delalloc => true,
            Extent::Unwritten => dirtied,
            _ => false,
        };
        (on && bad).then_some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ext4 file +j at open, -j at the write: 4 blocks of 4 KiB, i_size 16 KiB.
    fn cleared() -> Scenario {
        let mut s = crate::generators::base();
        s.fs = FsKind::Ext4;
        s.world.device = Default::default();
        s.request.rwf.atomic = false;
        let w = &mut s.world;
        w.blkbits = 12;
        w.i_size = 16384;
        w.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            };
            4
        ];
        w.pages = vec![PageState::None; 4];
        w.inode.journal_data = false;
        s.races.push(Race::InodeFlagChangedAfterOpen(JOURNAL_DATA));
        s
    }

    #[test]
    fn a_delayed_block_or_an_unwritten_one_under_a_dirty_page_breaks_w45() {
        let mut s = cleared();
        assert!(cleared_after_open(&s));
        assert_eq!(impossible_blocks(&s).count(), 0);
        s.world.blocks[1].kind = Extent::Delalloc;
        s.world.pages[1] = PageState::Dirty;
        assert_eq!(impossible_blocks(&s).collect::<Vec<_>>(), vec![1]);
        let v = crate::validity::violations(&s);
        assert!(v.iter().any(|v| v.rule.id == "W45-jflag-cleared"), "{v:?}");
        crate::validity::normalise(&mut s);
        assert_eq!(s.world.blocks[1].kind, Extent::Written);
        assert!(s.has_race(Race::InodeFlagChangedAfterOpen(JOURNAL_DATA)));
        // Unwritten: only under a page the journalled data path dirtied.
        s.world.blocks[2].kind = Extent::Unwritten;
        assert_eq!(impossible_blocks(&s).count(), 0);
        for st in [
            PageState::Dirty,
            PageState::MappedDirty,
            PageState::Writeback,
        ] {
            s.world.pages[2] = st;
            assert_eq!(impossible_blocks(&s).collect::<Vec<_>>(), vec![2], "{st:?}");
        }
        s.world.pages[2] = PageState::Clean;
        assert_eq!(impossible_blocks(&s).count(), 0);
        // Not a -j after open: +j at the write, or the flag at open and at the write.
        let mut p = cleared();
        p.world.blocks[0].kind = Extent::Delalloc;
        p.world.pages[0] = PageState::Dirty;
        p.races.clear();
        assert!(!cleared_after_open(&p));
        // A data=journal mount journals the file whatever the flag.
        let mut m = cleared();
        m.world.mount.data_journal = true;
        assert!(!cleared_after_open(&m));
    }
}
