// SPDX-License-Identifier: GPL-2.0-only
//! The C reproducer of a scenario with an injected bio completion error (`bio_endio`, the lab's
//! fault groups): the program makes the same device-side fault as `live --fault-device` and
//! `live --device --atomic-faults` do (tools/src/live/fault.rs), on the device under the
//! filesystem it is given (or the block device / `-p DISK` partition it writes), runs the write,
//! says whether the fault fired, and removes the fault and restores the queue on every exit
//! (atexit, SIGINT, SIGTERM).
//!
//! Which device: the one under the file (`st_dev`) or the written device (`st_rdev`), through
//! `/sys/dev/block/MAJ:MIN` (a partition: its `start` and its disk). A null_blk device made
//! through configfs with `badblocks_once` (`/sys/kernel/config/nullb/NAME/badblocks`: the bio's
//! first sector is marked bad, -EIO only), or a scsi_debug disk with the debugfs `error` file
//! (`/sys/kernel/debug/scsi_debug/H:C:T:L/error`: the WRITE ATOMIC(16) rule with the errno's
//! sense, [`super::bioerr`]; only the scenario's first REQ_ATOMIC bio). `queue/nomerges` is 2
//! while the program runs. A file's sector comes from FIEMAP after the set-up's writeback of that
//! page (`sync_file_range(WAIT_BEFORE)`), as in live.

use std::fmt::Write;

use super::fault::{self, Limits};
use super::plan::Plan;
use diofuzz::model::Execution;
use diofuzz::scenario::{FsKind, Scenario};

/// The C functions of the fault (after the prelude).
const FAULT_PRELUDE: &str = r#"
/* Injected bio completion error (diofuzz live/repro_fault.rs). */
#include <sys/sysmacros.h>
#include <limits.h>
struct fiemap_extent_ { uint64_t logical, physical, length, r0[2]; uint32_t flags, r1[3]; };
struct fiemap_ { uint64_t start, length; uint32_t flags, mapped, count, r; struct fiemap_extent_ ext[128]; };
#define FS_IOC_FIEMAP_ 0xC020660BUL /* _IOWR('f', 11, struct fiemap): the 32-byte header */
/* UNKNOWN | DELALLOC | ENCODED | NOT_ALIGNED | DATA_INLINE | SHARED */
#define FIEMAP_NOT_PLAIN_ (0x2 | 0x4 | 0x8 | 0x100 | 0x200 | 0x2000)

static char fault_ctl[PATH_MAX];          /* null_blk badblocks, scsi_debug error or ublk arm file */
static int fault_kind;                    /* 1 null_blk, 2 scsi_debug, 3 ublk (diofuzz ublk-fault) */
static char fault_nm[PATH_MAX + 32], fault_nm_old[32];
static long long fault_sector = -1;
static int fault_armed;

static int fault_read(const char *p, char *b, size_t n)
{
	FILE *f = fopen(p, "r");
	size_t k;
	if (!f)
		return -1;
	k = fread(b, 1, n - 1, f);
	b[k] = 0;
	fclose(f);
	return 0;
}

static int fault_write(const char *p, const char *s)
{
	int d = open(p, O_WRONLY), r;
	if (d < 0)
		return -1;
	r = write(d, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(d);
	return r;
}

static int fault_write_new(const char *p, const char *s)
{
	int d = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600), r;
	if (d < 0)
		return -1;
	r = write(d, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(d);
	return r;
}

/* The ublk server's arm file, replaced whole (the server reads it for every write request). */
static int fault_write_whole(const char *p, const char *s)
{
	char t[PATH_MAX + 8];
	snprintf(t, sizeof(t), "%s.new", p);
	if (fault_write_new(t, s))
		return -1;
	return rename(t, p);
}

/* Remove the fault and restore the queue: at exit, also after SIGINT/SIGTERM. */
static void fault_release(void)
{
	char l[64];
	if (fault_armed && fault_kind == 3)
		fault_write_whole(fault_ctl, "");
	if (fault_armed && fault_kind == 1) {
		snprintf(l, sizeof(l), "-%lld-%lld", fault_sector, fault_sector);
		fault_write(fault_ctl, l);
	}
	if (fault_armed && fault_kind == 2)
		fault_write(fault_ctl, fault_rule_remove);
	fault_armed = 0;
	if (fault_nm[0]) {
		fault_write(fault_nm, fault_nm_old);
		fault_nm[0] = 0;
	}
}

static void fault_signal(int sig)
{
	(void)sig;
	exit(130);
}

/* Find the fault mechanism of the disk under device number `dev` (its partition's first
 * sector in *start), check the bio fits one request, turn merging off. */
static int fault_setup(dev_t dev, long long *start)
{
	char p[64], disk[PATH_MAX], f[PATH_MAX + 64], v[256];
	const char *name;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if (!realpath(p, disk)) {
		printf("COULD NOT RUN: no %s\n", p);
		return -1;
	}
	*start = 0;
	snprintf(f, sizeof(f), "%s/partition", disk);
	if (access(f, F_OK) == 0) {
		snprintf(f, sizeof(f), "%s/start", disk);
		if (fault_read(f, v, sizeof(v)))
			return -1;
		*start = atoll(v);
		*strrchr(disk, '/') = 0;
	}
	name = strrchr(disk, '/') + 1;
	if (!strncmp(name, "ublkb", 5)) {
		/* A ublk fault device of `diofuzz ublk-fault` (tools/src/live/ublk.rs): its server
		 * fails the first write request holding an armed sector with the armed errno, once. */
		const char *tmp = getenv("TMPDIR");
		snprintf(fault_ctl, sizeof(fault_ctl), "%s/diofuzz-%s/arm", tmp && *tmp ? tmp : "/tmp", name);
		if (access(fault_ctl, W_OK)) {
			printf("COULD NOT RUN: %s is a ublk device without the arm file %s of `diofuzz ublk-fault`\n", name, fault_ctl);
			return -1;
		}
		fault_kind = 3;
	} else if (snprintf(fault_ctl, sizeof(fault_ctl), "/sys/kernel/config/nullb/%s/badblocks", name),
		   access(fault_ctl, W_OK) == 0) {
		fault_kind = 1;
		snprintf(f, sizeof(f), "/sys/kernel/config/nullb/%s/badblocks_once", name);
		if (fault_read(f, v, sizeof(v)) || atoi(v) != 1) {
			printf("COULD NOT RUN: null_blk %s without badblocks_once 1 (a bad sector would fail every later request too; null_blk >= 6.16)\n", name);
			return -1;
		}
		if (fault_errno != EIO) {
			printf("COULD NOT RUN: null_blk bad blocks fail a bio with -EIO only; this fault is %s: run it on a scsi_debug disk with atomic writes or the ublk fault device\n", strerror(fault_errno));
			return -1;
		}
	} else {
		char hctl[PATH_MAX];
		snprintf(f, sizeof(f), "%s/device", disk);
		if (!realpath(f, hctl)) {
			hctl[0] = '/';
			hctl[1] = 0;
		}
		snprintf(fault_ctl, sizeof(fault_ctl), "/sys/kernel/debug/scsi_debug/%s/error", strrchr(hctl, '/') + 1);
		if (access(fault_ctl, W_OK)) {
			printf("COULD NOT RUN: %s is neither a configfs null_blk device (/sys/kernel/config/nullb/%s) nor a scsi_debug disk with a debugfs error file (%s; mount debugfs)\n", name, name, fault_ctl);
			return -1;
		}
		fault_kind = 2;
		if (!fault_rule[0]) {
			printf("COULD NOT RUN: no SCSI sense gives %s: run it on the ublk fault device (diofuzz ublk-fault)\n", strerror(fault_errno));
			return -1;
		}
		if (!fault_first_atomic) {
			printf("COULD NOT RUN: a scsi_debug rule fails the first WRITE ATOMIC(16) command; the faulted bio is not the first REQ_ATOMIC bio\n");
			return -1;
		}
	}
	snprintf(f, sizeof(f), "%s/queue/max_sectors_kb", disk);
	if (fault_read(f, v, sizeof(v)) == 0 && (uint64_t)atoll(v) * 1024 < fault_len) {
		printf("COULD NOT RUN: the faulted bio (%llu bytes) is larger than one request of %s (it would be split)\n", (unsigned long long)fault_len, name);
		return -1;
	}
	snprintf(f, sizeof(f), "%s/queue/max_segments", disk);
	if (fault_read(f, v, sizeof(v)) == 0 && (uint64_t)atoll(v) < fault_segs) {
		printf("COULD NOT RUN: the faulted bio has %llu bvecs, more than one request of %s holds (queue/max_segments %lld: it would be split)\n", (unsigned long long)fault_segs, name, atoll(v));
		return -1;
	}
	atexit(fault_release);
	signal(SIGINT, fault_signal);
	signal(SIGTERM, fault_signal);
	snprintf(fault_nm, sizeof(fault_nm), "%s/queue/nomerges", disk);
	if (fault_read(fault_nm, fault_nm_old, sizeof(fault_nm_old)) || fault_write(fault_nm, "2")) {
		fault_nm[0] = 0;
		printf("COULD NOT RUN: cannot turn merging off on %s (queue/nomerges)\n", name);
		return -1;
	}
	return 0;
}

/* The device sector of the faulted bio, then the fault armed. */
static int fault_arm(int fd, int bdev)
{
	struct stat st;
	long long start, sector;
	if (fstat(fd, &st))
		die("fstat");
	if (fault_setup(bdev ? st.st_rdev : st.st_dev, &start))
		return -1;
	if (sync_file_range(fd, fault_pos / 4096 * 4096, 4096, SYNC_FILE_RANGE_WAIT_BEFORE))
		die("sync_file_range");
	if (bdev) {
		sector = start + fault_pos / 512;
	} else {
		static struct fiemap_ fm;
		uint32_t i;
		memset(&fm, 0, sizeof(fm));
		fm.length = ~0ULL;
		fm.count = 128;
		if (ioctl(fd, FS_IOC_FIEMAP_, &fm))
			die("FIEMAP");
		for (i = 0; i < fm.mapped; i++)
			if (fm.ext[i].logical <= fault_pos && fault_pos < fm.ext[i].logical + fm.ext[i].length)
				break;
		if (i == fm.mapped || (fm.ext[i].flags & FIEMAP_NOT_PLAIN_)) {
			printf("COULD NOT RUN: byte %llu of the file is not in a plain allocated extent after the set-up\n", (unsigned long long)fault_pos);
			return -1;
		}
		sector = start + (fm.ext[i].physical + fault_pos - fm.ext[i].logical) / 512;
		if (fault_xfs_check) {
			/* xfs_bmap_hw_atomic_write_possible (fs/xfs/xfs_iomap.c, 6.16+): the hardware path
			 * only when one mapping covers the write and its disk block is aligned to the
			 * write's blocks. The expected outcome is the model's with the hardware path. */
			uint64_t n = fault_wlen / fault_xfs_bs, b;
			for (i = 0; i < fm.mapped; i++)
				if (fm.ext[i].logical <= fault_wpos && fault_wpos < fm.ext[i].logical + fm.ext[i].length)
					break;
			b = i < fm.mapped ? (fm.ext[i].physical + fault_wpos - fm.ext[i].logical) / fault_xfs_bs : 1;
			if (i == fm.mapped || fault_wpos + fault_wlen > fm.ext[i].logical + fm.ext[i].length || (b & (n - 1))) {
				printf("COULD NOT RUN: XFS placed the atomic write's blocks at disk block %llu%s: the kernel takes the software (CoW) path, the expected outcome is the hardware one's (the model's assumption; `diofuzz live` compares with the placement it measures). Run it again: a new file gets another placement\n",
				       (unsigned long long)b, i == fm.mapped || fault_wpos + fault_wlen > fm.ext[i].logical + fm.ext[i].length ? " (in several extents)" : ", not aligned to the write");
				return -1;
			}
		}
	}
	fault_sector = sector;
	if (fault_kind == 3) {
		char l[64];
		snprintf(l, sizeof(l), "%lld %d\n", sector, fault_errno);
		if (fault_write_whole(fault_ctl, l))
			die("write the ublk arm file");
		printf("fault: ublk armed sector %lld with -%d (%s), the bio at %llu, %llu bytes\n", sector, fault_errno,
		       fault_ctl, (unsigned long long)fault_pos, (unsigned long long)fault_len);
	} else if (fault_kind == 1) {
		char l[64];
		snprintf(l, sizeof(l), "+%lld-%lld", sector, sector);
		if (fault_write(fault_ctl, l))
			die("write badblocks");
		printf("fault: null_blk bad sector %lld (%s), the bio at %llu, %llu bytes\n", sector, fault_ctl,
		       (unsigned long long)fault_pos, (unsigned long long)fault_len);
	} else {
		if (fault_write(fault_ctl, fault_rule))
			die("write the scsi_debug error rule");
		printf("fault: scsi_debug rule \"%s\" (%s): the first WRITE ATOMIC(16), the bio at %llu (sector %lld), %llu bytes\n",
		       fault_rule, fault_ctl, (unsigned long long)fault_pos, sector, (unsigned long long)fault_len);
	}
	fault_armed = 1;
	return 0;
}

/* After the call: did the device fail the bio? Then the fault is removed. */
static int fault_fired(void)
{
	char b[4096], *l;
	int fired = 1;
	if (fault_read(fault_ctl, b, sizeof(b)) == 0) {
		for (l = strtok(b, "\n"); l; l = strtok(NULL, "\n")) {
			long long a, n;
			char op[16];
			if (fault_kind == 1 && sscanf(l, "%lld %lld", &a, &n) == 2 && a <= fault_sector && fault_sector < a + n)
				fired = 0;
			if (fault_kind == 2 && sscanf(l, "2 %lld %15s", &n, op) == 2 && !strcmp(op, "0x9c") && n != 0)
				fired = 0;
			if (fault_kind == 3 && sscanf(l, "%lld %lld", &a, &n) == 2 && a == fault_sector)
				fired = 0;
		}
	}
	fault_release();
	printf("fault: %s\n", fired ? "fired (the device failed the bio once)" : "DID NOT FIRE (no request reached the faulted bio's sector)");
	return fired;
}
"#;

/// The fault's C pieces for the program of `s`.
pub struct FaultC {
    /// Constants and functions, after the prelude.
    pub prelude: String,
    /// Arms the fault after the set-up (the set-up's fd is `fd`).
    pub arm: String,
    /// Right after the call: the fault's result, and removal.
    pub after: String,
    /// For the program's header comment.
    pub about: String,
}

/// The C pieces of `s`'s fault, or None without one; `x` is the model's faulted execution (what
/// the program expects), `p` the plan it follows. Refuses what the devices cannot do.
pub fn fault_c(s: &Scenario, p: &Plan, x: &Execution) -> Result<Option<FaultC>, String> {
    if s.faults.is_empty() {
        return Ok(None);
    }
    // The queue limits are checked by the program on the device; here only what the scenario
    // decides.
    let lim = Limits {
        max_bytes: u64::MAX,
        max_segments: u64::MAX,
    };
    let t = fault::targets(s, p, x, lim, false)?;
    let [t] = t.as_slice() else {
        return Err(format!(
            "{} faulted bios (the reproducer fails one)",
            t.len()
        ));
    };
    let first_atomic = diofuzz::generators::fault::fault_on_first_atomic_bio(x);
    if !super::bioerr::UBLK_ERRNOS.contains(&t.errno) {
        return Err(format!(
            "no fault device gives -{}",
            diofuzz::errno::name(t.errno)
        ));
    }
    // Empty for -ETIMEDOUT, -EINVAL, -ENOMEM: only the ublk fault device gives them.
    let rule =
        super::bioerr::scsi_rule(super::bioerr::WRITE_ATOMIC_16, t.errno).unwrap_or_default();
    // An XFS atomic write on a disk with atomic units takes the hardware path only where XFS
    // placed its blocks aligned: the program checks the placement after the set-up.
    let xfs_hw = s.fs == FsKind::Xfs && first_atomic;
    let mut prelude = String::new();
    let _ = writeln!(
        prelude,
        "\nstatic const uint64_t fault_pos = {}ULL, fault_len = {}ULL, fault_segs = {}ULL;\nstatic const int fault_errno = {}; /* {} */\nstatic const int fault_first_atomic = {};\nstatic const char fault_rule[] = \"{rule}\";\nstatic const char fault_rule_remove[] = \"- 2 0x9c\";",
        t.pos,
        t.len,
        fault::bio_segments(s, p, t.pos, t.len),
        t.errno,
        diofuzz::errno::name(t.errno),
        first_atomic as u8
    );
    let _ = writeln!(
        prelude,
        "static const int fault_xfs_check = {}; /* the XFS placement check: */\nstatic const uint64_t fault_xfs_bs = {}ULL, fault_wpos = {}ULL, fault_wlen = {}ULL; /* block size, the write */",
        xfs_hw as u8,
        1u64 << s.world.blkbits,
        diofuzz::generators::fault::landing(s),
        s.request.len
    );
    prelude.push_str(FAULT_PRELUDE);
    let bdev = s.fs == FsKind::Bdev;
    let arm = format!(
        "\tif (fault_arm(fd, {})) {{\n\t\t{}return 2;\n\t}}\n",
        bdev as u8,
        if bdev { "" } else { "unlink(path);\n\t\t" }
    );
    let after = "\tint fault_ok = fault_fired();\n".to_string();
    let scsi = if rule.is_empty() {
        "a scsi_debug disk cannot (no SCSI sense gives this errno)".to_string()
    } else {
        format!(
            "a scsi_debug disk (debugfs error rule \"{rule}\"\n *   on WRITE ATOMIC(16){})",
            if first_atomic {
                ": the faulted bio is the first REQ_ATOMIC one"
            } else {
                "; not usable here: the faulted bio is not the first REQ_ATOMIC one"
            }
        )
    };
    let about = format!(
        " * Injected fault: the bio at {} ({} bytes) completes with -{} (bio_endio). The program\n *   makes it on the device under the filesystem (or the device it writes): a null_blk\n *   device of configfs with badblocks_once (-EIO only; the bio's first sector is marked bad),\n *   {scsi},\n *   or a ublk device served by `diofuzz ublk-fault` (the sector armed in its arm file; any\n *   of -EIO, -ENOSPC, -ETIMEDOUT, -EINVAL, -ENOMEM), turns queue merging off, and removes\n *   the fault at exit.",
        t.pos,
        t.len,
        diofuzz::errno::name(t.errno),
    );
    Ok(Some(FaultC {
        prelude,
        arm,
        after,
        about,
    }))
}

/// A `repro --run --kernel` guest script for the scsi_debug disk (`guest::repro_script` or
/// `repro_bdev_script` with `disk`) turned to the lab's null_blk fault device (`$NDEV`, made by the
/// guest's init as for the fault groups): the filesystem is made on it, or `-p` adds the
/// partition to it.
pub fn on_fault_device(disk_script: &str) -> String {
    disk_script
        .replace("\nT=$DEV\n", "\nT=$NDEV\n")
        .replace("A=\"-p $DEV\"", "A=\"-p $NDEV\"")
}

/// The same for the ublk fault device (`$UDEV`, started by the guest's init: `diofuzz ublk-fault`),
/// whose server gives the errnos no null_blk or SCSI completion gives.
pub fn on_ublk_device(disk_script: &str) -> String {
    disk_script
        .replace("\nT=$DEV\n", "\nT=$UDEV\n")
        .replace("A=\"-p $DEV\"", "A=\"-p $UDEV\"")
}

/// After the verdict: a fault that did not fire means the scenario did not run as written.
pub const FAULT_VERDICT: &str = "\tif (!fault_ok) {\n\t\tprintf(\"COULD NOT RUN: the injected fault did not fire\\n\");\n\t\tverdict_code = 2;\n\t}\n";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use diofuzz::scenario::{Fault, Site};

    /// A generated fault-group scenario of `fs` (the null_blk device's geometry).
    pub(crate) fn faulted(fs: FsKind) -> Scenario {
        let v = super::super::repro::default_variant();
        (0..20)
            .find_map(|i| diofuzz::generators::fault::generate_faulted(1, i, fs, None, v))
            .expect("a faulted scenario")
    }

    fn bdev_faulted() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.blkbits = 12;
        s.world.i_size = 32768;
        s.request.pos = 8192;
        s.request.len = 8192;
        s.request.open.direct = true;
        s.faults.push(Fault::default());
        s
    }

    #[test]
    fn pieces_name_the_bio_and_the_rule() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let s = bdev_faulted();
        let x = fault::model_run(&s, v);
        let p = fault::plan_faulted(&s, None).unwrap();
        let f = fault_c(&s, &p, &x).unwrap().unwrap();
        assert!(f
            .prelude
            .contains("fault_pos = 8192ULL, fault_len = 8192ULL, fault_segs = 2ULL"));
        assert!(f.prelude.contains("fault_errno = 5;"));
        assert!(f.prelude.contains("fault_first_atomic = 0;"));
        assert!(f.arm.contains("fault_arm(fd, 1)"));
        // Without a fault: nothing.
        let mut bare = s.clone();
        bare.faults.clear();
        assert!(fault_c(&bare, &p, &fault::model_run(&bare, v))
            .unwrap()
            .is_none());
    }

    #[test]
    fn xfs_atomic_writes_check_the_placement() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        // An 8 KiB RWF_ATOMIC write at block 6 of an XFS file on the atomic disk: the model's
        // hardware path holds only if XFS put blocks 6-7 at an even disk block, in one extent.
        let (s, p) = fault::tests::xfs_atomic_disk();
        let f = fault_c(&s, &p, &fault::model_run(&s, v)).unwrap().unwrap();
        assert!(f.prelude.contains("fault_first_atomic = 1;"));
        assert!(f.prelude.contains("fault_xfs_check = 1;"));
        assert!(
            f.prelude
                .contains("fault_xfs_bs = 4096ULL, fault_wpos = 24576ULL, fault_wlen = 8192ULL"),
            "{}",
            f.prelude
        );
        assert!(f
            .prelude
            .contains("the kernel takes the software (CoW) path"));
        let src = super::super::repro::c_program_for(&s, v).unwrap();
        super::super::repro::assert_c_compiles(
            "xfs-atomic-fault",
            &src,
            &["-Wall", "-Werror", "-O1"],
        );
        // Not an XFS atomic write: no check.
        let b = bdev_faulted();
        let pb = fault::plan_faulted(&b, None).unwrap();
        let fb = fault_c(&b, &pb, &fault::model_run(&b, v)).unwrap().unwrap();
        assert!(fb.prelude.contains("fault_xfs_check = 0;"));
    }

    #[test]
    fn ublk_errnos_arm_the_ublk_server() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = bdev_faulted();
        s.faults[0].errno = diofuzz::errno::ETIMEDOUT;
        let x = fault::model_run(&s, v);
        let p = fault::plan_faulted(&s, None).unwrap();
        let f = fault_c(&s, &p, &x).unwrap().unwrap();
        // No SCSI sense: the rule is empty and only the ublk arm file can make the fault.
        assert!(f.prelude.contains("fault_errno = 110;"));
        assert!(f.prelude.contains("fault_rule[] = \"\";"));
        assert!(f.prelude.contains("diofuzz-%s/arm"));
        assert!(f.about.contains("ETIMEDOUT") && f.about.contains("ublk"));
        let g = on_ublk_device("x\nT=$DEV\nA=\"-p $DEV\"\n");
        assert_eq!(g, "x\nT=$UDEV\nA=\"-p $UDEV\"\n");
        // -EAGAIN has no device at all.
        s.faults[0].errno = diofuzz::errno::EAGAIN;
        assert!(fault_c(&s, &p, &x).is_err());
    }

    #[test]
    fn enospc_gets_its_sense() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = bdev_faulted();
        s.faults[0].errno = diofuzz::errno::ENOSPC;
        let x = fault::model_run(&s, v);
        let p = fault::plan_faulted(&s, None).unwrap();
        let f = fault_c(&s, &p, &x).unwrap().unwrap();
        assert!(f
            .prelude
            .contains("fault_rule[] = \"2 -1 0x9c 0x0 0x0 0x2 0x7 0x27 0x7\""));
        assert!(f.about.contains("ENOSPC"));
    }

    #[test]
    fn guest_scripts_use_the_fault_device() {
        let g = crate::lab::guest::repro_bdev_script(true, 32768, 512);
        let f = on_fault_device(&g);
        assert!(f.contains("\nT=$NDEV\nA=\"-p $NDEV\"\n"), "{f}");
        let g = crate::lab::guest::repro_script("xfs", "mkfs.xfs -f -q", Some("$DEV"), 512);
        let f = on_fault_device(&g);
        assert!(f.contains("\nT=$NDEV\n") && !f.contains("T=$DEV"), "{f}");
    }

    #[test]
    fn the_host_run_says_where_it_can_run() {
        // `repro --run` on the host (loop devices) cannot make the fault: it says where it can.
        let s = bdev_faulted();
        let why = super::super::plan::plan_on(&s, None).unwrap_err();
        assert!(super::super::repro::lacks(&s, &why).contains("--run --kernel V"));
        let mut t = s.clone();
        t.faults[0].site = Site::GenericWriteSync;
        assert!(super::super::repro::lacks(&t, &why).contains("fail_function"));
    }

    #[test]
    fn other_sites_are_refused() {
        let mut s = bdev_faulted();
        s.faults[0] = Fault {
            site: Site::GenericWriteSync,
            nth: 0,
            errno: diofuzz::errno::EIO,
        };
        assert!(fault::plan_faulted(&s, None).is_err());
    }
}
#[cfg(test)]
mod scan_tmp {
    #[test]
    fn scan() {
        use diofuzz::scenario::FsKind;
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        for fs in [FsKind::Xfs, FsKind::Ext4, FsKind::Bdev] {
            for i in 0..200 {
                let Some(s) = diofuzz::generators::fault::generate_faulted(1, i, fs, None, v)
                else {
                    continue;
                };
                let x = super::fault::model_run(&s, v);
                let y = diofuzz::model::run(&s, v);
                let nb = diofuzz::generators::fault::completed_bios(&x).len();
                if nb >= 2 && s.request.nr_segs == 1 {
                    println!(
                        "cand {fs:?} {i} nth {} bios {nb} ret {} imm bios {} same {}",
                        s.faults[0].nth,
                        x.ret,
                        diofuzz::generators::fault::completed_bios(&y).len(),
                        x.after.cached == y.after.cached
                    );
                }
                if nb >= 2 && x.after.cached != y.after.cached && s.request.nr_segs == 1 {
                    println!(
                        "{fs:?} {i} bios {nb} ret {} {}",
                        x.ret,
                        serde_json::to_string(&s).unwrap()
                    );
                }
            }
        }
    }
}
