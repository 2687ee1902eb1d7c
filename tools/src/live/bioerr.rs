// SPDX-License-Identifier: GPL-2.0-only
//! Which bio completion errnos a device can give a write bio, and how the lab's fault devices
//! are made to give them (`live --fault-device`, `live --device --atomic-faults`, the C
//! reproducer).
//!
//! The errno of a failed bio is `blk_status_to_errno(bi_status)` (block/blk-core.c, the
//! `blk_errors` table: BLK_STS_IOERR -EIO, BLK_STS_NOSPC -ENOSPC, BLK_STS_TIMEOUT -ETIMEDOUT,
//! BLK_STS_TARGET -EREMOTEIO, BLK_STS_MEDIUM -ENODATA, BLK_STS_PROTECTION -EILSEQ, BLK_STS_AGAIN
//! -EAGAIN, BLK_STS_INVAL -EINVAL, BLK_STS_RESOURCE -ENOMEM, ...; read in 7.3.4).
//!
//! - null_blk's bad blocks (`null_handle_badblocks`, drivers/block/null_blk/main.c) complete the
//!   request with BLK_STS_IOERR only: -EIO.
//! - scsi_debug's debugfs `error` rule `ERR_FAIL_CMD` (`sdebug_fail_cmd`, drivers/scsi/scsi_debug.c,
//!   6.8+) completes the matched command with the status byte and the sense key/ASC/ASCQ the rule
//!   names. The SCSI midlayer turns that into the block status (read in 7.3.4): CHECK CONDITION →
//!   `scsi_decide_disposition` → `scsi_check_sense` (drivers/scsi/scsi_error.c) sets the midlayer
//!   byte, `scsi_io_completion_action` (drivers/scsi/scsi_lib.c) decides fail or retry, and
//!   `scsi_result_to_blk_status` gives the status:
//!   * ILLEGAL REQUEST, ASC 0 → SUCCESS, no midlayer byte, ACTION_FAIL, DID_OK with a bad status
//!     → BLK_STS_IOERR → **-EIO**;
//!   * DATA PROTECT, ASC 0x27 ASCQ 0x07 ("space allocation failed write protect", the thin
//!     provisioning hard threshold) → SCSIML_STAT_NOSPC, ACTION_FAIL → BLK_STS_NOSPC →
//!     **-ENOSPC**.
//!
//!   Not in the model's list of `bio_endio` errnos, for the record (the same rule gives them):
//!   HARDWARE ERROR (without `retry_hwerror`) and ILLEGAL REQUEST ASC 0x20-0x27 →
//!   SCSIML_STAT_TGT_FAILURE → BLK_STS_TARGET → -EREMOTEIO; MEDIUM ERROR ASC 0x11/0x13/0x14 →
//!   SCSIML_STAT_MED_ERROR → BLK_STS_MEDIUM → -ENODATA; ABORTED COMMAND ASC 0x10 and ILLEGAL
//!   REQUEST ASC 0x10 → BLK_STS_PROTECTION → -EILSEQ.
//!
//! The model's other `bio_endio` errnos (`Site::BioEndIo::errnos`), read in 7.3.4 (every
//! drivers/ and block/ source) and 6.12.117:
//! - -ETIMEDOUT (BLK_STS_TIMEOUT): set by null_blk (`null_timeout_rq`), mtip32xx, nbd (config
//!   gone), the s390 DASD/EADM/SCM drivers, and as `errno_to_blk_status` of a server's or backing
//!   file's -ETIMEDOUT by ublk (`__ublk_complete_rq`) and loop in direct-I/O mode
//!   (`lo_complete_rq`). No SCSI or NVMe completion gives it (`scsi_result_to_blk_status`,
//!   `nvme_error_status`: a timed-out command ends BLK_STS_IOERR), and those are the only
//!   devices with atomic write units (md/dm stack them): validity rule W29 (-ETIMEDOUT on a
//!   device with atomic units → -EIO). Elsewhere real: the lab's ublk fault device gives it.
//! - -EAGAIN: only a REQ_NOWAIT bio (validity rule F2).
//! - -EINVAL (BLK_STS_INVAL): the block layer for a REQ_ATOMIC bio it would have to split or
//!   that breaks the atomic limits (`bio_split_rw_at`, `blk_validate_atomic_write_op_size`),
//!   NVMe for an atomic write across its boundary (`nvme_setup_rw`), and ublk/loop with any
//!   errno: real; the ublk fault device gives it (not on REQ_ATOMIC bios: ublk has no atomic
//!   limits, and scsi_debug's sense data cannot give it).
//! - -ENOMEM (BLK_STS_RESOURCE): 6.12's `bio_integrity_prep` when its kmalloc fails (7.x uses a
//!   mempool), blk-crypto-fallback's allocations, dm-integrity, and ublk/loop: real; the ublk
//!   fault device gives it. Not on the atomic disk: Debian's kernels have no fault injection
//!   (no CONFIG_FAULT_INJECTION / FAILSLAB; 7.3's new CONFIG_BLK_ERROR_INJECTION, a debugfs
//!   list of any status per sector range, is not set in Debian 7.3.4: no `blk_error_inject`
//!   symbol in its vmlinuz).

use diofuzz::errno::{EIO, ENOSPC};

/// The errnos the null_blk fault device gives (bad blocks: BLK_STS_IOERR).
pub const NULLBLK_ERRNOS: &[i64] = &[EIO];

/// The errnos the scsi_debug atomic disk's rule gives: [`diofuzz::generators::fault::SCSI_ERRNOS`].
pub use diofuzz::generators::fault::SCSI_ERRNOS;

/// The errnos the ublk fault device gives any (not REQ_ATOMIC) bio ([`super::ublk`]): every
/// `bio_endio` errno of the model but -EAGAIN (validity rule F2).
pub use diofuzz::generators::fault::UBLK_ERRNOS;

/// The WRITE ATOMIC(16) opcode (`sd_setup_atomic_cmnd`): only REQ_ATOMIC bios use it.
pub const WRITE_ATOMIC_16: u8 = 0x9c;

/// SCSI sense key, ASC, ASCQ whose completion the midlayer turns into `-errno` (module doc).
pub fn scsi_sense(errno: i64) -> Option<(u8, u8, u8)> {
    match errno {
        EIO => Some((0x5, 0x0, 0x0)),     // ILLEGAL REQUEST
        ENOSPC => Some((0x7, 0x27, 0x7)), // DATA PROTECT, space allocation failed write protect
        _ => None,
    }
}

/// scsi_debug's `ERR_FAIL_CMD` rule (`sdebug_error_write`: "TYPE COUNT OPCODE HOST DRIVER STATUS
/// SENSE_KEY ASC ASCQ"): type 2, count -1 (fail the next matching command once), `opcode`, host
/// and driver byte 0, status 0x2 (CHECK CONDITION), the sense of [`scsi_sense`].
pub fn scsi_rule(opcode: u8, errno: i64) -> Option<String> {
    let (k, a, q) = scsi_sense(errno)?;
    Some(format!("2 -1 {opcode:#x} 0x0 0x0 0x2 {k:#x} {a:#x} {q:#x}"))
}

/// The errno of the scenario's `bio_endio` faults: they must all have the same one (a device rule
/// has one sense), else None.
pub fn fault_errno(s: &diofuzz::scenario::Scenario) -> Option<i64> {
    let mut e = s
        .faults
        .iter()
        .filter(|f| f.site == diofuzz::scenario::Site::BioEndIo)
        .map(|f| f.errno);
    let first = e.next().unwrap_or(EIO);
    e.all(|x| x == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::Site;

    #[test]
    fn every_device_errno_has_a_sense_and_is_a_model_errno() {
        for &e in SCSI_ERRNOS {
            assert!(scsi_sense(e).is_some(), "{e}");
            assert!(Site::BioEndIo.errnos().contains(&e));
        }
        for &e in NULLBLK_ERRNOS {
            assert!(Site::BioEndIo.errnos().contains(&e));
        }
        assert_eq!(scsi_sense(diofuzz::errno::ETIMEDOUT), None);
    }

    #[test]
    fn rules() {
        // The -EIO rule is the one the lab has used since session 3.
        assert_eq!(
            scsi_rule(WRITE_ATOMIC_16, EIO).unwrap(),
            "2 -1 0x9c 0x0 0x0 0x2 0x5 0x0 0x0"
        );
        assert_eq!(
            scsi_rule(WRITE_ATOMIC_16, ENOSPC).unwrap(),
            "2 -1 0x9c 0x0 0x0 0x2 0x7 0x27 0x7"
        );
        assert_eq!(scsi_rule(0x9c, diofuzz::errno::EAGAIN), None);
    }

    #[test]
    fn one_errno_per_scenario() {
        use diofuzz::scenario::{Fault, Scenario};
        let mut s = Scenario::default();
        assert_eq!(fault_errno(&s), Some(EIO));
        s.faults.push(Fault {
            site: Site::BioEndIo,
            nth: 0,
            errno: ENOSPC,
        });
        assert_eq!(fault_errno(&s), Some(ENOSPC));
        s.faults.push(Fault {
            site: Site::BioEndIo,
            nth: 2,
            errno: EIO,
        });
        assert_eq!(fault_errno(&s), None);
    }
}
