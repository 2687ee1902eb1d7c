// SPDX-License-Identifier: GPL-2.0-only
//! ext4 inline data converted after open with a scaled `s_maxbytes` (or, block-mapped at the
//! write, `s_bitmap_maxbytes`): issue 13, session 10 (docs/live.md "A conversion after open with
//! a scaled `s_maxbytes`").
//!
//! A scaled limit stands for a file next to the real one (super::limits::shift), but inline data
//! cannot be moved there: it lives at offset 0 whatever the file's size, and an inline inode
//! holds at most `i_inline_size` bytes (`ext4_setattr` converts a truncate past it; a write past
//! `ext4_get_max_inline_size()` converts). The real world is the model's moved by delta plus
//! the conversion's block 0 at offset 0, outside the window the comparison reads:
//!
//! * at open an inline file at offset 0 (unshifted: the plan of the world at open gets the real
//!   limits, so super::limits::shift leaves it alone);
//! * after open `fallocate(KEEP_SIZE, 0, bs)` converts (`ext4_convert_inline_data`;
//!   `ext4_destroy_inline_data_nolock` sets EXTENTS on a filesystem with extents, and
//!   `ext4_do_fallocate` fails with -EOPNOTSUPP on a block-mapped one);
//! * then `ftruncate(delta + i_size)` (now allowed: the inode has EXTENTS, or delta is the
//!   bitmap one), the inline bytes' OLD pattern written at delta, written back
//!   (`sync_file_range`: the block allocated and, with dioread_nolock, converted before the
//!   writeback ends) and the page dropped where the world has none cached.
//!
//! The `ext4_setattr` truncate path cannot convert here: it checks `s_bitmap_maxbytes` first on
//! an inode without EXTENTS (an inline one, 7.3.4 and 6.12.117): -EFBIG past about 4 TiB at
//! 4 KiB blocks, while an extent-mapped world needs the file next to `ext4_max_size()` (16 TiB).
//! Built for the world the plain conversion leaves (block 0 written, every other block a hole,
//! page 0 clean or not cached, a non-empty file; also past an inode's worth, the model's
//! truncate path, with an inode's worth inline at open); refused otherwise with the reason.

use super::plan::{Plan, Unsupported};
use super::settle_race::Op;
use diofuzz::scenario::{Extent, PageState, Race, Scenario, HUGE_MAXBYTES, PAGE_SIZE};

/// INODE_FLAG_NAMES index of inline_data.
const INLINE_DATA: u8 = 2;

/// Is `s` an inline conversion after open with a scaled limit the write meets?
pub fn wanted(s: &Scenario) -> bool {
    let w = &s.world;
    s.has_race(Race::InodeFlagChangedAfterOpen(INLINE_DATA))
        && !w.inode.inline_data
        && (w.s_maxbytes != HUGE_MAXBYTES || w.s_bitmap_maxbytes != HUGE_MAXBYTES)
}

/// The shift to the real limit the inode at the write meets (as super::limits::shift computes
/// it for a file at rest): `ext4_max_size()` - s_maxbytes with EXTENTS, else
/// `ext4_max_bitmap_size()` - s_bitmap_maxbytes (W24 keeps that one at or below s_maxbytes).
pub fn delta(s: &Scenario) -> Result<u64, Unsupported> {
    let w = &s.world;
    let (real, scaled) = if w.inode.extents {
        (super::limits::ext4_max_size(w.blkbits), w.s_maxbytes)
    } else {
        (
            super::limits::ext4_max_bitmap_size(w.blkbits),
            w.s_bitmap_maxbytes,
        )
    };
    if scaled == HUGE_MAXBYTES {
        return Err("inline data converted after open with a scaled limit the write does not meet (a bitmap limit on an extent-mapped inode: run unscaled; not built)".into());
    }
    if scaled > real || w.i_size > scaled {
        return Err(format!(
            "inline data converted after open: scaled limit {scaled} above the real {real} or below i_size"
        ));
    }
    let d = real - scaled;
    let mut align = PAGE_SIZE.max(1 << w.blkbits);
    if s.request.rwf.atomic {
        align = align.max(s.request.len.next_power_of_two());
    }
    if d % align != 0 {
        return Err(format!(
            "inline data converted after open with a scaled limit: the shift ({d} bytes) is not a multiple of {align}"
        ));
    }
    Ok(d)
}

/// The operations after open (`ops[0]` converts) and the world at open (`open`: the inline file
/// at offset 0, the real limits), for [`wanted`] scenarios (super::settle_more::convert_ops).
pub fn convert_ops(s: &Scenario, open: &mut Scenario) -> Result<Vec<Op>, Unsupported> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let n = w.i_size;
    let kind = |b: usize| w.blocks.get(b).map_or(Extent::Hole, |x| x.kind);
    let p0 = w.pages.first().copied().unwrap_or(PageState::None);
    if n == 0
        || kind(0) != Extent::Written
        || (1..w.blocks.len()).any(|b| kind(b) != Extent::Hole)
        || !matches!(p0, PageState::Clean | PageState::None)
        || w.pages.iter().skip(1).any(|p| *p != PageState::None)
    {
        return Err("inline data converted after open with a scaled s_maxbytes: only the plain conversion's world (block 0 written below a non-zero i_size, every other block a hole, page 0 clean or not cached) is built".into());
    }
    if w.rlimit_fsize.is_some() || s.request.open.no_largefile {
        return Err("inline data converted after open with a scaled s_maxbytes and RLIMIT_FSIZE or no O_LARGEFILE (the ftruncate after open would meet them: not built)".into());
    }
    let d = delta(s)?;
    let max = diofuzz::validity::max_inline(bs);
    let ow = &mut open.world;
    ow.s_maxbytes = HUGE_MAXBYTES;
    ow.s_bitmap_maxbytes = HUGE_MAXBYTES;
    ow.blocks.iter_mut().for_each(|b| *b = Default::default());
    if p0 != PageState::Clean || n > max {
        ow.pages.clear();
    }
    // An i_size past an inode's worth (the model's truncate path, super::settle_more): at open
    // an inode's worth inline; the ftruncate after the conversion sets the rest.
    ow.i_size = n.min(max);
    let mut ops = vec![
        Op::Fallocate(bs),
        Op::Truncate(d + n),
        // Block 0 below EOF: OLD (the inline bytes; past an inode's worth the model's block 0
        // is OLD throughout).
        Op::WriteOld {
            off: d,
            len: n.min(bs),
        },
        Op::SyncPage(d),
    ];
    if p0 == PageState::None {
        ops.push(Op::DropPage(d));
    }
    Ok(ops)
}

/// Move the plan of the world at open by the shift ([`delta`]): the call's position, i_size,
/// the read-back window; the set-up (the inline file at 0) stays where it is.
pub fn shift(s: &Scenario, p: &mut Plan) {
    if !wanted(s) {
        return;
    }
    if let Ok(d) = delta(s) {
        p.shift = d;
        p.i_size += d;
        p.call.pos += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::plan::Step;
    use diofuzz::scenario::{BlockState, FsKind};

    /// The plain conversion after open (1 KiB of OLD in a 4 KiB-block inline file), the write
    /// at 4096 meeting a scaled limit of two blocks.
    fn converted(extents: bool, i_size: u64) -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        let w = &mut s.world;
        w.mount.extents_feature = extents;
        w.inode.extents = extents;
        w.i_size = i_size;
        w.blocks = vec![BlockState {
            kind: Extent::Written,
            ..Default::default()
        }];
        w.pages = vec![PageState::Clean];
        if extents {
            w.s_maxbytes = 8192;
            s.races.push(Race::InodeFlagChangedAfterOpen(0));
        } else {
            w.s_bitmap_maxbytes = 8192;
        }
        s.races.push(Race::InodeFlagChangedAfterOpen(INLINE_DATA));
        s.request.open.direct = true;
        s.request.pos = 4096;
        s.request.len = 8192;
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        s
    }

    #[test]
    fn the_inline_file_stays_at_0_and_the_rest_moves_next_to_the_limit_the_write_meets() {
        for extents in [true, false] {
            let s = converted(extents, 1024);
            assert!(wanted(&s));
            let d = delta(&s).unwrap();
            let real = if extents {
                super::super::limits::ext4_max_size(12)
            } else {
                super::super::limits::ext4_max_bitmap_size(12)
            };
            assert_eq!(d, real - 8192);
            let p = super::super::plan::plan(&s).unwrap();
            assert_eq!((p.shift, p.call.pos, p.i_size), (d, 4096 + d, 1024 + d));
            // The inline file at open: OLD at 0, not moved.
            assert!(
                p.steps.contains(&Step::WriteOld { off: 0, len: 1024 }),
                "{:?}",
                p.steps
            );
            let ops = match &p.call.after_open.settle {
                Some(super::super::settle_race::Settle::ConvertInline { ops, .. }) => ops.clone(),
                x => panic!("{x:?}"),
            };
            assert_eq!(
                ops,
                vec![
                    Op::Fallocate(4096),
                    Op::Truncate(d + 1024),
                    Op::WriteOld { off: d, len: 1024 },
                    Op::SyncPage(d),
                ]
            );
        }
        // Past an inode's worth: an inode's worth inline at open, the whole block 0 written.
        let mut s = converted(true, 8705);
        s.world.s_maxbytes = 16384;
        s.request.pos = 12288;
        let p = super::super::plan::plan(&s).unwrap();
        assert!(
            p.steps.contains(&Step::WriteOld { off: 0, len: 3968 }),
            "{:?}",
            p.steps
        );
    }

    #[test]
    fn other_worlds_after_the_conversion_are_refused_with_the_reason() {
        let mut s = converted(true, 1024);
        s.world.pages = vec![PageState::Dirty];
        let e = super::super::plan::plan(&s).unwrap_err();
        assert!(e.contains("only the plain conversion"), "{e}");
        let mut r = converted(true, 1024);
        r.world.rlimit_fsize = Some(1 << 20);
        let e = super::super::plan::plan(&r).unwrap_err();
        assert!(e.contains("RLIMIT_FSIZE"), "{e}");
    }
}
