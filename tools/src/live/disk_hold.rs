// SPDX-License-Identifier: GPL-2.0-only
//! Holding a page under writeback (or a mapped dirty page's flush) on the lab's scsi_debug
//! atomic disk (`live --device`), where no lower filesystem can be frozen
//! ([`super::pages`] holds a layered loop device's writes with FIFREEZE).
//!
//! scsi_debug's per-device debugfs `error` file (`/sys/kernel/debug/scsi_debug/H:C:T:L/error`,
//! drivers/scsi/scsi_debug.c `sdebug_error_write`, 6.8+; read in 7.3.4) takes an
//! `ERR_FAIL_QUEUE_CMD` rule `1 COUNT OPCODE RET`: `sdebug_fail_queue_cmd` makes
//! `scsi_debug_queuecommand` return RET for every command with that opcode while COUNT > 0.
//! RET = `SCSI_MLQUEUE_HOST_BUSY` (0x1055): `scsi_queue_rq` (drivers/scsi/scsi_lib.c) calls
//! `scsi_set_blocked` and returns `BLK_STS_RESOURCE`, blk-mq puts the request back on the
//! dispatch list (`__blk_mq_requeue_request`: idle again, so no command timeout runs) and runs
//! the queue again later. The command is never failed and never retried against a limit: the
//! write bio stays in flight, its folio under writeback, until the rules are removed
//! (`- 1 OPCODE`) and the next queue run dispatches it. Writes only: WRITE(10) 0x2a, WRITE(16)
//! 0x8a and WRITE ATOMIC(16) 0x9c (`sd_setup_read_write_cmnd`, `sd_setup_atomic_cmnd`); reads
//! and cache flushes pass, as under a frozen lower filesystem.
//!
//! The disk keeps its own queue limits (atomic write units, DMA alignment 3): unlike a
//! device-mapper target stacked over it, whose `blk_set_stacking_limits` starts the DMA
//! alignment at 511 and `blk_stack_limits` keeps the larger (block/blk-settings.c, 7.3.4), and
//! which on 6.12 has no atomic write units at all (dm atomic writes: `DM_TARGET_ATOMIC_WRITES`,
//! v6.14; see docs/live.md "Pages held on the atomic disk").

use std::fs;
use std::path::{Path, PathBuf};

/// The write opcodes held: WRITE(10), WRITE(16), WRITE ATOMIC(16).
pub const OPCODES: [u8; 3] = [0x2a, 0x8a, 0x9c];
/// `SCSI_MLQUEUE_HOST_BUSY` (include/scsi/scsi.h).
pub const HOST_BUSY: u32 = 0x1055;

/// The rule that holds `op`: type 1 (`ERR_FAIL_QUEUE_CMD`), count 1 (every matching command).
pub fn rule(op: u8) -> String {
    format!("1 1 {op:#x} {HOST_BUSY:#x}")
}

/// The line that removes it.
pub fn unrule(op: u8) -> String {
    format!("- 1 {op:#x}")
}

/// The scsi_debug `error` file of the disk holding device number `dev` (a partition: its
/// disk), if it is a scsi_debug disk and debugfs is mounted.
pub fn error_file(dev: u64) -> Option<PathBuf> {
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    let mut sys = fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")).ok()?;
    if sys.join("partition").exists() {
        sys = sys.parent()?.to_path_buf();
    }
    let hctl = fs::canonicalize(sys.join("device")).ok()?;
    let model = fs::read_to_string(sys.join("device/model")).unwrap_or_default();
    if !model.starts_with("scsi_debug") {
        return None;
    }
    let f = Path::new("/sys/kernel/debug/scsi_debug")
        .join(hctl.file_name()?)
        .join("error");
    f.exists().then_some(f)
}

/// Hold every write command of the disk (the rules added).
pub fn close(error: &Path) -> Result<(), String> {
    for op in OPCODES {
        if let Err(e) = fs::write(error, rule(op)) {
            open(error);
            return Err(format!("{}: {e}", error.display()));
        }
    }
    Ok(())
}

/// Let them go: the rules removed (a missing rule is not an error), then the disk's queue run
/// (blk-mq debugfs `state`: "run"), in case no rerun is pending. Never fails: used by every
/// release path.
pub fn open(error: &Path) {
    for op in OPCODES {
        let _ = fs::write(error, unrule(op));
    }
    if let Some(disk) = disk_name(error) {
        let _ = fs::write(format!("/sys/kernel/debug/block/{disk}/state"), "run");
    }
}

/// The block device name (sdX) of the scsi_debug device whose error file is `error`.
fn disk_name(error: &Path) -> Option<String> {
    let hctl = error.parent()?.file_name()?.to_string_lossy().to_string();
    let dir = fs::read_dir(format!("/sys/class/scsi_device/{hctl}/device/block")).ok()?;
    dir.flatten()
        .next()
        .map(|e| e.file_name().to_string_lossy().to_string())
}

/// Remove rules a killed run may have left on the disk `dev` (a block device path): at the
/// start of `live --device` and in its cleanup.
pub fn clear(dev: &Path) {
    use std::os::unix::fs::MetadataExt;
    if let Some(f) = fs::metadata(dev).ok().and_then(|m| error_file(m.rdev())) {
        open(&f);
    }
}

/// C for the reproducer: the same hold on a scsi_debug disk (`hold_scsi`, the error file; set by
/// `hold_freeze` when the file is on no loop device). Used by [`super::pages::C_PRELUDE`]'s
/// functions.
pub const C_SCSI: &str = r#"
#include <sys/sysmacros.h>
/* A scsi_debug disk (diofuzz tools/src/live/disk_hold.rs): its debugfs error file gets
 * "1 1 OPCODE 0x1055" (ERR_FAIL_QUEUE_CMD, SCSI_MLQUEUE_HOST_BUSY) for the write opcodes:
 * every write command is requeued, not failed, until the rules are removed. */
static char hold_scsi[256];
static const unsigned char hold_ops[3] = { 0x2a, 0x8a, 0x9c };

static void hold_scsi_write(const char *line)
{
	int f = open(hold_scsi, O_WRONLY);
	if (f >= 0) {
		if (write(f, line, strlen(line)) < 0) { /* a missing rule: nothing to remove */ }
		close(f);
	}
}

static void hold_scsi_open(void)
{
	char l[32];
	for (int i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), "- 1 0x%x", hold_ops[i]);
		hold_scsi_write(l);
	}
}

/* The error file of the scsi_debug disk under `path` (its partition's disk), or "". */
static int hold_scsi_find(const char *path)
{
	struct stat st;
	char sys[1024], p[1200], r[1024], m[64] = "";
	if (stat(path, &st))
		return -1;
	dev_t d = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	char *rp;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(d), minor(d));
	if (!(rp = realpath(p, NULL)))
		return -1;
	snprintf(sys, sizeof(sys), "%.1000s", rp);
	free(rp);
	snprintf(p, sizeof(p), "%s/partition", sys);
	if (access(p, F_OK) == 0)
		*strrchr(sys, '/') = 0;
	snprintf(p, sizeof(p), "%s/device/model", sys);
	int f = open(p, O_RDONLY);
	if (f < 0)
		return -1;
	if (read(f, m, sizeof(m) - 1) < 0)
		m[0] = 0;
	close(f);
	if (strncmp(m, "scsi_debug", 10))
		return -1;
	snprintf(p, sizeof(p), "%s/device", sys);
	if (!(rp = realpath(p, NULL)))
		return -1;
	snprintf(r, sizeof(r), "%.1000s", rp);
	free(rp);
	snprintf(hold_scsi, sizeof(hold_scsi), "/sys/kernel/debug/scsi_debug/%.64s/error", strrchr(r, '/') + 1);
	if (access(hold_scsi, W_OK)) {
		hold_scsi[0] = 0;
		return -1;
	}
	return 0;
}

static int hold_scsi_close(void)
{
	char l[48];
	for (int i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), "1 1 0x%x 0x1055", hold_ops[i]);
		int f = open(hold_scsi, O_WRONLY);
		if (f < 0 || write(f, l, strlen(l)) < 0) {
			if (f >= 0)
				close(f);
			hold_scsi_open();
			return -1;
		}
		close(f);
	}
	return 0;
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines scsi_debug's `sdebug_error_write` parses ("%d %d %hhx %x" for type 1) and
    /// `sdebug_err_remove` ("- %d %hhx").
    #[test]
    fn rules_are_scsi_debug_lines() {
        assert_eq!(rule(0x2a), "1 1 0x2a 0x1055");
        assert_eq!(rule(0x9c), "1 1 0x9c 0x1055");
        assert_eq!(unrule(0x8a), "- 1 0x8a");
    }
}
