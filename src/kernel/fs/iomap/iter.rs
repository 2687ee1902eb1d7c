// SPDX-License-Identifier: GPL-2.0-only
//! fs/iomap/iter.c: iomap_iter() with both protocols (docs/model.md §3).
//! - 6.12-6.14: the actor returns processed bytes / 0 / -errno; ->iomap_end's error is returned
//!   only when processed == 0 (an actor error wins).
//! - 6.15+ (bc264fea0f6f): the actor advances the iterator and sets status; ->iomap_end's error is
//!   returned whenever nothing was advanced, over the actor's own error.

use super::*;
use crate::errno::*;
use crate::model::Cx;
use crate::variant::{IomapNext, IterProtocol};

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
    match (cx.v.iter_protocol, cx.v.iomap_next) {
        (IterProtocol::Processed, _) => iomap_iter_processed(cx, it, ops),
        (IterProtocol::AdvanceStatus, IomapNext::BeginEnd) => {
            iomap_iter_advance_status(cx, it, ops)
        }
        // 7.2.y / 7.3: iomap_iter() calls ops->iomap_next when the table has one (7.3: ext4, XFS
        // and the block device, each a DEFINE_IOMAP_ITER_NEXT[_END] around its begin/end
        // functions), else the inline iomap_iter_next(iter, begin, end). Both run the 6.15
        // sequence: ->iomap_end of the previous mapping (if any), iomap_iter_continue() (the
        // precedence table below), ->iomap_begin; then iomap_iter_done() and status = 0.
        (IterProtocol::AdvanceStatus, next) => {
            let name = match next {
                IomapNext::FsNext => ops_next_name(ops),
                _ => "iomap_iter_next",
            };
            cx.enter(name, &[("pos", it.pos as i64), ("len", it.len as i64)]);
            let r = iomap_iter_advance_status(cx, it, ops);
            cx.ret(name, r)
        }
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

/// What the actor did on one mapping, protocol-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorOutcome {
    /// Bytes written on this mapping.
    pub progress: u64,
    /// 0, or the actor's -errno (6.15+ status; 6.12-6.14: only when progress is 0, since a
    /// byte-count return cannot carry an error).
    pub error: i64,
}

/// The precedence table of docs/model.md §3.2: given what the actor did and what ->iomap_end
/// returned (None: no ->iomap_end), what iomap_iter returns for the mapping: Some(ret) to stop (0
/// or -errno), None to go on to the next mapping.
pub fn iter_precedence(p: IterProtocol, a: ActorOutcome, end: Option<i64>) -> Option<i64> {
    let end_err = end.filter(|&r| r < 0);
    match p {
        // 6.12-6.14: ->iomap_end's error counts only when the actor returned exactly 0.
        IterProtocol::Processed => {
            if a.progress > 0 {
                return None;
            }
            if a.error < 0 {
                return Some(a.error);
            }
            Some(end_err.unwrap_or(0))
        }
        // 6.15+ (bc264fea0f6f): ->iomap_end's error wins whenever nothing was advanced.
        IterProtocol::AdvanceStatus => {
            if a.progress == 0 {
                if let Some(e) = end_err {
                    return Some(e);
                }
            }
            if a.error < 0 {
                return Some(a.error);
            }
            if a.progress == 0 {
                return Some(0);
            }
            None
        }
    }
}

/// Record why iomap_iter stopped, in the finding path.
fn note_stop(cx: &mut Cx, a: ActorOutcome, end: Option<i64>, r: i64) {
    if a.progress == 0 && end.is_some_and(|e| e < 0) && r == end.unwrap_or(0) {
        if r == -ENOTBLK {
            cx.decide("->iomap_end returned -ENOTBLK after zero progress");
        }
        if a.error < 0 && a.error != r {
            cx.decide("->iomap_end error overrides the actor's error");
            cx.mask_dio_error(a.error);
        }
    } else if r == 0 && a.progress == 0 {
        cx.decide("iomap_iter: actor made no progress, iteration ends");
    }
}

/// 6.12-6.14.
fn iomap_iter_processed(cx: &mut Cx, it: &mut IomapIter, ops: IomapOps) -> i64 {
    if let Some(m) = it.iomap {
        let len = it.length();
        let a = ActorOutcome {
            progress: it.processed.max(0) as u64,
            error: it.processed.min(0),
        };
        let end = ops_end(cx, ops, it.pos, len, a.progress, it.flags, &m);
        if let Some(r) = iter_precedence(IterProtocol::Processed, a, end) {
            note_stop(cx, a, end, r);
            return r;
        }
        // iomap_iter_advance() of 6.12-6.14
        if a.progress > len {
            cx.warn("iomap_iter_advance: processed > iomap_length");
            return -EIO;
        }
        it.pos += a.progress;
        it.len -= a.progress;
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
        let olen = (it.len + advanced).min(m.offset + m.length - it.iter_start_pos);
        let end = ops_end(cx, ops, it.iter_start_pos, olen, advanced, it.flags, &m);
        if it.status > 0 {
            cx.warn("iomap_iter: status > 0");
            it.status = -EIO;
        }
        let a = ActorOutcome {
            progress: advanced,
            error: it.status,
        };
        let r = iter_precedence(IterProtocol::AdvanceStatus, a, end);
        it.status = 0;
        it.iomap = None;
        match r {
            Some(r) => {
                note_stop(cx, a, end, r);
                return r;
            }
            None if it.len == 0 => return 0,
            None => {}
        }
    }
    begin(cx, it, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IterProtocol::*;

    const X: i64 = -ENOTBLK;
    const Y: i64 = -EINVAL;

    fn a(progress: u64, error: i64) -> ActorOutcome {
        ActorOutcome { progress, error }
    }

    /// The precedence table of docs/model.md §3.2, row by row, for both protocols.
    #[test]
    fn precedence_table() {
        // advanced n>0, status 0, any E: continue
        for p in [Processed, AdvanceStatus] {
            assert_eq!(iter_precedence(p, a(4096, 0), Some(X)), None);
            assert_eq!(iter_precedence(p, a(4096, 0), Some(0)), None);
        }
        // 0 bytes, status 0, E = 0: stop
        assert_eq!(iter_precedence(Processed, a(0, 0), Some(0)), Some(0));
        assert_eq!(iter_precedence(AdvanceStatus, a(0, 0), Some(0)), Some(0));
        // 0 bytes, status 0, E = -X: -X
        assert_eq!(iter_precedence(Processed, a(0, 0), Some(X)), Some(X));
        assert_eq!(iter_precedence(AdvanceStatus, a(0, 0), Some(X)), Some(X));
        // error -Y, 0 bytes, E = 0: -Y
        assert_eq!(iter_precedence(Processed, a(0, Y), Some(0)), Some(Y));
        assert_eq!(iter_precedence(AdvanceStatus, a(0, Y), Some(0)), Some(Y));
        // error -Y, 0 bytes, E = -X: 6.12-6.14 -Y, 6.15+ -X (the behaviour change)
        assert_eq!(iter_precedence(Processed, a(0, Y), Some(X)), Some(Y));
        assert_eq!(iter_precedence(AdvanceStatus, a(0, Y), Some(X)), Some(X));
        // advanced n>0 then error -Y, E = -X: 6.15+ returns -Y (E ignored since advanced > 0)
        assert_eq!(iter_precedence(AdvanceStatus, a(4096, Y), Some(X)), Some(Y));
        // no ->iomap_end at all (ext4 6.18+)
        assert_eq!(iter_precedence(AdvanceStatus, a(0, Y), None), Some(Y));
        assert_eq!(iter_precedence(AdvanceStatus, a(0, 0), None), Some(0));
    }
}
