// SPDX-License-Identifier: GPL-2.0-only
//! fs/ext4/extents.c: ext4_convert_unwritten_extents() and (6.16+) the atomic variant
//! ext4_convert_unwritten_extents_atomic(), which converts the whole range in one handle.

use crate::model::*;
use crate::scenario::{Extent, Site};

/// Convert the unwritten blocks of [pos, pos+size) to written. An injected error leaves them
/// unwritten (the data stays invisible) and is returned.
pub fn ext4_convert_unwritten_extents(cx: &mut Cx, pos: u64, size: u64, atomic: bool) -> i64 {
    let name = if atomic {
        "ext4_convert_unwritten_extents_atomic"
    } else {
        "ext4_convert_unwritten_extents"
    };
    cx.enter(name, &[("pos", pos as i64), ("size", size as i64)]);
    if let Some(e) = cx.fault(Site::Ext4ConvertUnwritten) {
        return cx.ret(name, e);
    }
    let bb = cx.blkbits;
    for b in pos >> bb..=(pos + size - 1) >> bb {
        let k = cx.blk(b);
        if k.kind == Extent::Unwritten {
            cx.set_blk(
                b,
                Blk {
                    kind: Extent::Written,
                    ..k
                },
            );
        }
    }
    cx.ret(name, 0)
}
