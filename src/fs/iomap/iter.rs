// SPDX-License-Identifier: GPL-2.0-only
//! fs/iomap/iter.c: iomap_iter() with both protocols (spec §3).
//! - 6.12-6.14: the actor returns processed bytes / 0 / -errno; ->iomap_end's error is returned
//!   only when processed == 0 (an actor error wins).
//! - 6.15+ (bc264fea0f6f): the actor advances the iterator and sets status; ->iomap_end's error is
//!   returned whenever nothing was advanced, over the actor's own error.

use super::*;
use crate::errno::*;
use crate::model::Cx;
use crate::variant::IterProtocol;

#[derive(Clone, Debug)]
pub struct IomapIter {
    pub pos: u64,
    pub len: u64,
    pub flags: u32,
    /// 6.12-6.14: bytes processed by the actor, or -errno.
    pub processed: i64,
    /// 6.15+: the actor's status (0 or -errno); progress is pos - iter_start_pos.
    pub status: i64,
    pub iter_start_pos: u64,
    pub iomap: Option<Iomap>,
}

impl IomapIter {
    pub fn new(pos: u64, len: u64, flags: u32) -> Self {
        IomapIter {
            pos,
            len,
            flags,
            processed: 0,
            status: 0,
            iter_start_pos: pos,
            iomap: None,
        }
    }
    /// iomap_length(): what is left of the request inside the current mapping.
    pub fn length(&self) -> u64 {
        match &self.iomap {
            Some(m) => self.len.min((m.offset + m.length).saturating_sub(self.pos)),
            None => 0,
        }
    }
    /// iomap_iter_advance() (6.15+): pos += n, len -= n; WARN and -EIO if n exceeds the mapping.
    pub fn advance(&mut self, cx: &mut Cx, n: u64) -> i64 {
        if n > self.length() {
            cx.warn("iomap_iter_advance: count > iomap_length");
            return -EIO;
        }
        self.pos += n;
        self.len -= n;
        0
    }
}

/// iomap_iter(): finish the previous mapping (->iomap_end), advance, map the next (->iomap_begin).
/// > 0: go on with iter.iomap; 0: done; < 0: error.
pub fn iomap_iter(cx: &mut Cx, it: &mut IomapIter, ops: IomapOps) -> i64 {
    match cx.v.iter_protocol {
        IterProtocol::Processed => iomap_iter_processed(cx, it, ops),
        IterProtocol::AdvanceStatus => iomap_iter_advance_status(cx, it, ops),
    }
}

fn begin(cx: &mut Cx, it: &mut IomapIter, ops: IomapOps) -> i64 {
    match ops_begin(cx, ops, it.pos, it.len, it.flags) {
        Ok(m) => {
            it.iomap = Some(m);
            it.iter_start_pos = it.pos;
            1
        }
        Err(e) => {
            if e == -ENOTBLK {
                cx.decide("->iomap_begin returned -ENOTBLK");
            }
            e
        }
    }
}

/// 6.12-6.14.
fn iomap_iter_processed(cx: &mut Cx, it: &mut IomapIter, ops: IomapOps) -> i64 {
    if let Some(m) = it.iomap {
        let len = it.length();
        let written = it.processed.max(0) as u64;
        if let Some(r) = ops_end(cx, ops, it.pos, len, written, it.flags, &m) {
            // Only when the actor returned exactly 0 is ->iomap_end's error returned.
            if r < 0 && it.processed == 0 {
                if r == -ENOTBLK {
                    cx.decide("->iomap_end returned -ENOTBLK after zero progress");
                }
                return r;
            }
        }
        // iomap_iter_advance() of 6.12-6.14
        if it.processed < 0 {
            return it.processed;
        }
        if it.processed == 0 {
            cx.decide("iomap_iter: actor made no progress, iteration ends");
            return 0;
        }
        if it.processed as u64 > len {
            cx.warn("iomap_iter_advance: processed > iomap_length");
            return -EIO;
        }
        it.pos += it.processed as u64;
        it.len -= it.processed as u64;
        it.processed = 0;
        it.iomap = None;
        if it.len == 0 {
            return 0;
        }
    }
    begin(cx, it, ops)
}

/// 6.15+.
fn iomap_iter_advance_status(cx: &mut Cx, it: &mut IomapIter, ops: IomapOps) -> i64 {
    if let Some(m) = it.iomap {
        let advanced = it.pos - it.iter_start_pos;
        let olen = it.len + advanced;
        if let Some(r) = ops_end(
            cx,
            ops,
            it.iter_start_pos,
            olen.min(m.offset + m.length - it.iter_start_pos),
            advanced,
            it.flags,
            &m,
        ) {
            if r < 0 && advanced == 0 {
                if r == -ENOTBLK {
                    cx.decide("->iomap_end returned -ENOTBLK after zero progress");
                }
                if it.status < 0 && r != it.status {
                    cx.decide("->iomap_end error overrides the actor's error");
                }
                return r;
            }
        }
        let ret;
        if it.status > 0 {
            cx.warn("iomap_iter: status > 0");
            it.status = -EIO;
        }
        if it.status < 0 {
            ret = it.status;
        } else if it.len == 0 || advanced == 0 {
            if advanced == 0 {
                cx.decide("iomap_iter: actor made no progress, iteration ends");
            }
            ret = 0;
        } else {
            ret = 1;
        }
        it.status = 0;
        it.iomap = None;
        if ret <= 0 {
            return ret;
        }
    }
    begin(cx, it, ops)
}
