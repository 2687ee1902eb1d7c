// SPDX-License-Identifier: GPL-2.0-only
//! fs/dax.c: dax_iomap_rw() for writes, as far as the oracle needs it: a DAX write copies user data
//! straight into the media (not a DIO, not atomic). e7fb9b71326f (6.17+) rejects IOCB_ATOMIC.

use crate::errno::*;
use crate::kernel::include::linux::fs::{IovIter, Kiocb};
use crate::model::*;
use crate::scenario::Extent;

pub fn dax_iomap_rw(cx: &mut Cx, ki: &mut Kiocb, iter: &mut IovIter) -> i64 {
    const F: &str = "dax_iomap_rw";
    cx.enter(
        F,
        &[("pos", ki.ki_pos as i64), ("count", iter.count as i64)],
    );
    if cx.v.dax_rejects_atomic && ki.has(IOCB_ATOMIC) {
        cx.warn("dax_iomap_rw: WARN_ON_ONCE(IOCB_ATOMIC)");
        return cx.ret(F, -EIO);
    }
    cx.dax_calls += 1;
    cx.decide("DAX copy of user data (dax_iomap_rw)");
    let n = iter.faultable();
    if n == 0 {
        return cx.ret(F, -EFAULT);
    }
    let pos = ki.ki_pos;
    let bb = cx.blkbits;
    for b in pos >> bb..=(pos + n - 1) >> bb {
        let k = cx.blk(b);
        if k.kind != Extent::Written {
            let id = cx.new_extent_id();
            cx.disk_write(b << bb, cx.bs, TAG_ZERO);
            cx.set_blk(b, Blk::new(Extent::Written, id));
        }
    }
    cx.disk_write(pos, n, TAG_NEW);
    iter.advance(n);
    ki.ki_pos += n;
    if ki.ki_pos > cx.inode.i_size {
        cx.inode.i_size = ki.ki_pos;
        cx.inode.i_disksize = ki.ki_pos;
    }
    cx.ret(F, n as i64)
}
