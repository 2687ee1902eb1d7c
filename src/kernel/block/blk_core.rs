// SPDX-License-Identifier: GPL-2.0-only
//! block/blk-core.c: what submit_bio_noacct() and the device decide about a bio.

use crate::errno::EINVAL;
use crate::model::Cx;
use crate::scenario::Site;

/// The completion status of a bio of `len` bytes: an injected bio error (blk_status_to_errno), or
/// for a REQ_ATOMIC bio blk_validate_atomic_write_op_size() (6.13-7.3, read in 6.18 and 7.3.4:
/// size <= the queue's atomic unit max and a multiple of its min, BLK_STS_INVAL otherwise; the
/// start is not checked). 0 = success.
pub fn bio_status(cx: &mut Cx, len: u64, atomic: bool) -> i64 {
    bio_status_from(cx, len, atomic).0
}

/// [`bio_status`] and where it came from: true = the device's completion (the injected
/// `bio_endio` error, reported when the request completes, after the plug is flushed), false = the
/// block layer at submission (blk_validate_atomic_write_op_size() in submit_bio_noacct()).
pub fn bio_status_from(cx: &mut Cx, len: u64, atomic: bool) -> (i64, bool) {
    let status = cx.fault(Site::BioEndIo).unwrap_or(0);
    if atomic && status == 0 {
        let d = cx.s.world.device;
        if d.awu_max == 0 || len > d.awu_max as u64 || len % (d.awu_min.max(1) as u64) != 0 {
            cx.decide("device rejected the REQ_ATOMIC bio (BLK_STS_INVAL)");
            return (-EINVAL, false);
        }
    }
    (status, status != 0)
}
