// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz repro FILE`: a standalone C program (libc only, `cc repro.c -o repro`) that builds the
//! scenario's world in a file of a directory the user names, issues the request with raw
//! pwritev2/preadv2 flags, and prints what happened: return value and errno, file position,
//! size, STATX_WRITE_ATOMIC units, and the data per sector (through the page cache and with
//! O_DIRECT) as letters. Made for mailing-list reports.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use super::exec::{landing, open_flags};
use super::plan::{plan, Step};
use diofuzz::errno;
use diofuzz::scenario::{FsKind, Scenario};
use diofuzz::variant::{self, Variant};

const PRELUDE: &str = r#"#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x40
#endif
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x80
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FICLONERANGE
struct file_clone_range { int64_t src_fd; uint64_t src_offset, src_length, dest_offset; };
#define FICLONERANGE _IOW(0x94, 13, struct file_clone_range)
#else
#include <linux/fs.h>
#endif
#define STATX_SIZE_ 0x200U
#define STATX_WRITE_ATOMIC_ 0x10000U
#define STATX_ATTR_WRITE_ATOMIC_ 0x400000ULL

/* Data pattern: every 512-byte sector starts with the tag byte, "DFZ", the sector number
 * (8 bytes) and a per-run nonce (4 bytes), then the tag byte. Tags: 0x11 old data, 0x22 newer data in a dirty page, 0x33 the request. */
static uint32_t nonce; /* per run: another file's old blocks then read as '?' */

static void pat(unsigned char *b, uint64_t off, size_t len, unsigned char tag)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i, s = pos / 512;
		unsigned k = pos % 512;
		b[i] = k == 1 ? 'D' : k == 2 ? 'F' : k == 3 ? 'Z' :
		       (k >= 4 && k < 12) ? (unsigned char)(s >> (8 * (k - 4))) :
		       (k >= 12 && k < 16) ? (unsigned char)(nonce >> (8 * (k - 12))) : tag;
	}
}

static char classify(const unsigned char *b, uint64_t sector, size_t n)
{
	static const unsigned char tags[] = { 0x11, 0x22, 0x33 };
	static const char names[] = "odn";
	unsigned char want[512];
	size_t i;
	for (i = 0; i < n && !b[i]; i++)
		;
	if (i == n)
		return '0';
	for (i = 0; i < n && b[i] == 0x55; i++)
		;
	if (i == n)
		return 's';
	for (int t = 0; t < 3; t++) {
		pat(want, sector * 512, n, tags[t]);
		if (!memcmp(want, b, n))
			return names[t];
	}
	return '?';
}

static void die(const char *what)
{
	fprintf(stderr, "setup: %s: %s\n", what, strerror(errno));
	printf("COULD NOT RUN (setup: %s)\n", what);
	exit(2);
}

static __attribute__((unused)) void wpat(int fd, uint64_t off, uint64_t len, unsigned char tag)
{
	unsigned char *b = malloc(len);
	if (!b)
		die("malloc");
	pat(b, off, len, tag);
	if (pwrite(fd, b, len, off) != (ssize_t)len)
		die("pwrite");
	free(b);
}

/* Fill free space with 0x55 ("stale") and free it again, so blocks handed out without being
 * zeroed show up as 's'. XFS frees an unlinked file's blocks later, in its background inode
 * inactivation (xfs_inodegc, which sync does not wait for): wait until statvfs counts them free
 * again, then sync, whose log force makes them allocatable (no longer busy extents). */
static __attribute__((unused)) void prefill_stale(const char *dir)
{
	char p[4096];
	static unsigned char b[1 << 20];
	struct statvfs sv;
	snprintf(p, sizeof(p), "%s/diofuzz-repro-stale-%d", dir, (int)getpid());
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		die("stale fill");
	memset(b, 0x55, sizeof(b));
	for (int i = 0; i < 4; i++)
		if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			die("stale fill write");
	fsync(fd);
	close(fd);
	if (statvfs(dir, &sv))
		die("statvfs");
	unsigned long long held = (unsigned long long)sv.f_bfree * sv.f_frsize;
	unlink(p);
	for (int i = 0; i < 300; i++) {
		if (statvfs(dir, &sv))
			die("statvfs");
		if ((unsigned long long)sv.f_bfree * sv.f_frsize >= held + 3 * sizeof(b))
			break;
		usleep(10000);
	}
	sync();
}

/* The page-cache letters of the read-back, for the verdict (4 MiB at most: 8192 sectors). */
static char seen[8193];
/* A scaled s_maxbytes built next to the real limit: every offset of the file is moved by
 * `shift`, and the read-back and the verdict look at the window from there (in whole
 * `shift_unit`s, the filesystem block, so that O_DIRECT does not cross the limit). */
static unsigned long long shift, shift_unit = 4096;

"#;

/// A loop device whose size is not whole logical blocks (plans with a `Step::WriteBacking`):
/// the edge from which the device cannot be read and the backing file that holds those bytes.
const TAIL_PRELUDE: &str = r#"/* A loop device whose size is not whole logical blocks: no read or write through the device
 * reaches its bytes from tail_edge on (the read of the block holding its end fails), so they are
 * set up and read back through the loop device's backing file. */
static unsigned long long tail_edge;

static int backing_fd(const char *dev, int flags)
{
	char r[4096], sys[4200], p[4096];
	if (!realpath(dev, r))
		die("realpath");
	const char *n = strrchr(r, '/');
	snprintf(sys, sizeof(sys), "/sys/block/%s/loop/backing_file", n ? n + 1 : r);
	FILE *f = fopen(sys, "r");
	if (!f || !fgets(p, sizeof(p), f)) {
		printf("COULD NOT RUN: %s is not a loop device (%s): its last block is set up through the backing file\n", dev, sys);
		exit(2);
	}
	fclose(f);
	p[strcspn(p, "\n")] = 0;
	int fd = open(p, flags);
	if (fd < 0)
		die("open the backing file");
	return fd;
}

"#;

/// The read-back, printed as one letter per sector; `@DN@` and `@TAIL@` are the tail device's
/// lines of [`TAIL_PRELUDE`] ([`show_fn`]).
const SHOW: &str = r#"static void show(const char *path, uint64_t size, int direct)
{
	size -= shift;
	uint64_t n = (size + shift_unit - 1) / shift_unit * shift_unit;
@DN@	unsigned char *b = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	ssize_t got = 0, r = 0;
	if (b == MAP_FAILED || fd < 0)
		die("read-back");
	while ((uint64_t)got < dn && (r = pread(fd, b + got, dn - got, shift + got)) > 0)
		got += r;
	if (r < 0)
		printf("read-back%s failed: %s\n", direct ? " (O_DIRECT)" : "", strerror(errno));
@TAIL@	close(fd);
	printf("%s", direct ? "data (O_DIRECT):    " : "data (page cache):  ");
	for (uint64_t s = 0; s * 512 < size; s++) {
		uint64_t len = size - s * 512 < 512 ? size - s * 512 : 512;
		char c = classify(b + s * 512, shift / 512 + s, len);
		putchar(c);
		if (!direct && s < sizeof(seen) - 1)
			seen[s] = c;
		if (s % 8 == 7)
			putchar(' ');
	}
	printf("\n");
	munmap(b, n + 4096);
}

"#;

/// `show()`: on a tail device it reads what the device cannot through the backing file; every
/// other reproducer reads the file or device only.
fn show_fn(tail: bool) -> String {
    let (dn, rest) = if tail {
        (
            "\tuint64_t dn = tail_edge && tail_edge < n ? tail_edge : n;\n",
            concat!(
                "\tif (tail_edge && (uint64_t)got == dn && dn < size) {\n",
                "\t\tint bf = backing_fd(path, O_RDONLY);\n",
                "\t\t/* buffers below the end buffer the call dirtied (1 or 2 KiB blocks): no read through\n",
                "\t\t   the device returns them (their folio is not uptodate), so write them back first */\n",
                "\t\tif (sync_file_range(fd, got, size - got, SYNC_FILE_RANGE_WAIT_BEFORE |\n",
                "\t\t\t\t    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER))\n",
                "\t\t\tprintf(\"sync_file_range of the tail failed: %s\\n\", strerror(errno));\n",
                "\t\tif (pread(bf, b + got, size - got, got) != (ssize_t)(size - got))\n",
                "\t\t\tprintf(\"read-back of the backing file failed: %s\\n\", strerror(errno));\n",
                "\t\tclose(bf);\n",
                "\t}\n",
            ),
        )
    } else {
        ("\tuint64_t dn = n;\n", "")
    };
    let mut o = String::new();
    if tail {
        o.push_str(TAIL_PRELUDE);
    }
    o.push_str(&SHOW.replace("@DN@", dn).replace("@TAIL@", rest));
    o
}

/// C, after the set-up of a file on a device of 1 or 2 KiB logical blocks (session 12, the
/// generator's `file-small-lbs`): the filesystem's device must have that logical block size
/// (its queue/logical_block_size in sysfs, from the file's st_dev), else the program could not
/// run the scenario (exit 2): O_DIRECT alignment is the device's logical block
/// (`iomap_dio_bio_iter`, `xfs_file_dio_write`), so another device takes another path.
fn c_lbs_check(s: &Scenario) -> String {
    if s.fs == FsKind::Bdev || !matches!(s.world.lbs_bits, 10 | 11) {
        return String::new();
    }
    let lbs = 1u32 << s.world.lbs_bits;
    format!(
        "\t{{\n\t\tstruct stat lst;\n\t\tchar q[128];\n\t\tunsigned int lbs = 0;\n\t\tFILE *lf;\n\t\tif (fstat(fd, &lst))\n\t\t\tdie(\"fstat\");\n\t\tunsigned long long d = lst.st_dev;\n\t\tsnprintf(q, sizeof(q), \"/sys/dev/block/%llu:%llu/queue/logical_block_size\", ((d >> 8) & 0xfff) | ((d >> 32) & ~0xfffULL), (d & 0xff) | ((d >> 12) & ~0xffULL));\n\t\tlf = fopen(q, \"r\");\n\t\tif (!lf || fscanf(lf, \"%u\", &lbs) != 1 || lbs != {lbs}) {{\n\t\t\tprintf(\"COULD NOT RUN: the filesystem's device has logical blocks of %u bytes; the scenario needs {lbs} (a loop device: losetup -b {lbs})\\n\", lbs);\n\t\t\tif (lf)\n\t\t\t\tfclose(lf);\n\t\t\tunlink(path);\n\t\t\treturn 2;\n\t\t}}\n\t\tfclose(lf);\n\t}}\n"
    )
}

/// The partition number `repro -p DISK` adds (as `live`'s scratch partition: sd disks have 15).
const BDEV_PART_NO: u32 = 15;

/// A block-device reproducer's helpers (after `dev_size`, `part_no`, `part_start`): the
/// device's size, the BLKPG partition `-p DISK` adds and removes (also on exit, through atexit),
/// zeroes.
const BDEV_PRELUDE: &str = r#"
#include <sys/sysmacros.h>
#define BLKGETSIZE64_ _IOR(0x12, 114, size_t)
#define BLKPG_ _IO(0x12, 105)
struct blkpg_ioctl_arg_ { int op, flags, datalen; void *data; };
struct blkpg_partition_ { long long start, length; int pno; char devname[64], volname[64]; };

static int bdev_fd = -1;          /* held open from the set-up to the end: the last close drops the cache */
static char part_disk[4096];      /* -p DISK: the disk the partition was added to */
static char part_dir[64], part_node[128];

static int blkpg(int op, long long start, long long len)
{
	struct blkpg_partition_ pt;
	struct blkpg_ioctl_arg_ a = { op, 0, sizeof(pt), &pt };
	int d = open(part_disk, O_RDONLY), r;
	if (d < 0)
		return -1;
	memset(&pt, 0, sizeof(pt));
	pt.start = start;
	pt.length = len;
	pt.pno = part_no;
	r = ioctl(d, BLKPG_, &a);
	close(d);
	return r;
}

static void bdev_release(void)
{
	if (bdev_fd >= 0) {
		fsync(bdev_fd);
		close(bdev_fd);
		bdev_fd = -1;
	}
	if (!part_disk[0])
		return;
	for (int i = 0; i < 20 && blkpg(2 /* BLKPG_DEL_PARTITION */, 0, 0) && errno == EBUSY; i++)
		usleep(50000);
	unlink(part_node);
	rmdir(part_dir);
	part_disk[0] = 0;
}

/* -p DISK: partition part_no of dev_size bytes at part_start, through a node of our own. */
static const char *bdev_partition(const char *disk)
{
	const char *name = strrchr(disk, '/') ? strrchr(disk, '/') + 1 : disk;
	char sys[4096], num[64] = "";
	unsigned ma, mi;
	FILE *f = NULL;
	snprintf(part_disk, sizeof(part_disk), "%s", disk);
	if (blkpg(1 /* BLKPG_ADD_PARTITION */, part_start, dev_size)) {
		part_disk[0] = 0;
		die("BLKPG add partition");
	}
	atexit(bdev_release);
	for (int i = 0; i < 2 && !f; i++) {
		snprintf(sys, sizeof(sys), "/sys/class/block/%s%s%d/dev", name, i ? "p" : "", part_no);
		f = fopen(sys, "r");
	}
	if (!f || !fgets(num, sizeof(num), f) || sscanf(num, "%u:%u", &ma, &mi) != 2)
		die("the partition's device number");
	fclose(f);
	snprintf(part_dir, sizeof(part_dir), "/tmp/diofuzz-repro-XXXXXX");
	if (!mkdtemp(part_dir))
		die("mkdtemp");
	snprintf(part_node, sizeof(part_node), "%s/part", part_dir);
	if (mknod(part_node, S_IFBLK | 0600, makedev(ma, mi)))
		die("mknod");
	return part_node;
}

static unsigned long long bdev_size(int fd)
{
	unsigned long long n = 0;
	if (ioctl(fd, BLKGETSIZE64_, &n))
		die("BLKGETSIZE64");
	return n;
}
"#;

/// Buffered zeroes (a block device's blocks without data, an inline inode's data).
const WZERO: &str = r#"
static void wzero(int fd, uint64_t off, uint64_t len)
{
	unsigned char *b = calloc(1, len);
	if (!b)
		die("calloc");
	if (pwrite(fd, b, len, off) != (ssize_t)len)
		die("pwrite zeroes");
	free(b);
}
"#;

/// The start of a block-device reproducer's main(): the device (given, or a partition of the
/// given disk), checked to be a block device of the scenario's size, held open with readahead
/// off as the live executor has it (a device has no EOF to stop readahead caching the range).
const BDEV_OPEN: &str = r#"	const char *path;
	if (argc == 3 && !strcmp(argv[1], "-p")) {
		path = bdev_partition(argv[2]);
	} else if (argc == 2 && argv[1][0] != '-') {
		path = argv[1];
	} else {
		fprintf(stderr, "usage: %s DEV | -p DISK   (root; everything on DEV is erased)\n", argv[0]);
		printf("COULD NOT RUN (usage)\n");
		return 2;
	}
	struct stat st;
	int fd = bdev_fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		die("open the block device");
	if (!S_ISBLK(st.st_mode)) {
		printf("COULD NOT RUN: %s is not a block device\n", path);
		return 2;
	}
	if (bdev_size(fd) != dev_size) {
		printf("COULD NOT RUN: %s has %llu bytes; the scenario's device has %llu (or use -p DISK)\n",
		       path, bdev_size(fd), dev_size);
		return 2;
	}
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM))
		die("posix_fadvise(RANDOM)");
"#;

/// The verdict function, after the expected outcome's constants.
/// io_submit for an aio scenario (tools/src/live/exec.rs aio_call).
const AIO_PRELUDE: &str = r#"
/* aio: one IOCB_CMD_PWRITEV/PREADV at pos with the RWF flags in aio_rw_flags, reaped with
 * io_getevents. Returns like pwritev2: the completion's result, or -1 with errno (io_submit's
 * error, or the completion's -res). */
/* struct iocb and struct io_event of linux/aio_abi.h (little endian), copied: that header
 * pulls in linux/fs.h. */
struct dfz_iocb { uint64_t data; uint32_t key; int32_t rw_flags; uint16_t opcode; int16_t reqprio;
	uint32_t fildes; uint64_t buf, nbytes; int64_t offset; uint64_t reserved2; uint32_t flags, resfd; };
struct dfz_io_event { uint64_t data, obj; int64_t res, res2; };
static ssize_t aio_rw(int fd, const struct iovec *iov, int n, long long pos, int write, int rwf)
{
	unsigned long ctx = 0;
	struct dfz_iocb cb, *list[1] = { &cb };
	struct dfz_io_event ev;
	long long res;
	if (syscall(SYS_io_setup, 1, &ctx))
		return -1;
	memset(&cb, 0, sizeof(cb));
	cb.opcode = write ? 8 /* IOCB_CMD_PWRITEV */ : 7 /* IOCB_CMD_PREADV */;
	cb.rw_flags = rwf;
	cb.fildes = fd;
	cb.buf = (uint64_t)(uintptr_t)iov;
	cb.nbytes = n;
	cb.offset = pos;
	long r = syscall(SYS_io_submit, ctx, 1, list);
	if (r != 1) {
		int e = r < 0 ? errno : EAGAIN;
		syscall(SYS_io_destroy, ctx);
		errno = e;
		return -1;
	}
	for (;;) {
		long g = syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL);
		if (g == 1) {
			res = ev.res;
			break;
		}
		if (g < 0 && errno != EINTR) {
			res = -errno;
			break;
		}
	}
	syscall(SYS_io_destroy, ctx);
	if (res < 0) {
		errno = (int)-res;
		return -1;
	}
	return res;
}
"#;

/// The CoW-fork helpers of an XFS program with a CoW fork to build (tools/src/live/cow.rs).
const COW_PRELUDE: &str = r#"
/* The XFS CoW fork: the cowextsize hint (FS_IOC_FSSETXATTR, FS_XFLAG_COWEXTSIZE) and the fork read
 * back with XFS_IOC_GETBMAPX (BMV_IF_COWFORK), one letter per block: N none, D delalloc,
 * U unwritten, W written. Local struct copies: the xfs headers need not be installed. */
struct dfz_fsxattr { uint32_t xflags, extsize, nextents, projid, cowextsize; unsigned char pad[8]; };
struct dfz_getbmapx { int64_t offset, block, length; int32_t count, entries, iflags, oflags, unused[2]; };

static __attribute__((unused)) void set_cowextsize(int fd, unsigned long long bytes)
{
	struct dfz_fsxattr a;
	memset(&a, 0, sizeof(a));
	if (ioctl(fd, 0x801C581FUL /* FS_IOC_FSGETXATTR */, &a))
		die("FS_IOC_FSGETXATTR");
	if (bytes)
		a.xflags |= 0x10000u; /* FS_XFLAG_COWEXTSIZE */
	else
		a.xflags &= ~0x10000u;
	a.cowextsize = (uint32_t)bytes;
	if (ioctl(fd, 0x401C5820UL /* FS_IOC_FSSETXATTR */, &a))
		die("FS_IOC_FSSETXATTR (cowextsize)");
}

static void cow_fork(int fd, unsigned bs, char *out, size_t n)
{
	struct dfz_getbmapx v[65];
	memset(v, 0, sizeof(v));
	memset(out, 'N', n - 1);
	out[n - 1] = 0;
	v[0].length = -1;
	v[0].count = 65;
	v[0].iflags = 0x20 | 0x4 | 0x8 | 0x10; /* COWFORK | PREALLOC | DELALLOC | NO_HOLES */
	if (ioctl(fd, 0xC0205838UL /* XFS_IOC_GETBMAPX */, v)) {
		if (errno != EINVAL)
			die("XFS_IOC_GETBMAPX");
		out[0] = '?'; /* not a DEBUG kernel */
		out[1] = 0;
		return;
	}
	for (int i = 1; i <= v[0].entries && i <= 64; i++) {
		char st = (v[i].oflags & 2) || v[i].block == -2 ? 'D' : (v[i].oflags & 1) ? 'U' : 'W';
		for (int64_t b = v[i].offset * 512 / bs;
		     b < (v[i].offset + v[i].length) * 512 / bs && b < (int64_t)n - 1; b++)
			out[b] = st;
	}
	size_t k = strlen(out);
	while (k && out[k - 1] == 'N')
		out[--k] = 0;
}

/* Without CONFIG_XFS_DEBUG, XFS_IOC_GETBMAPX refuses the CoW fork (EINVAL): count its blocks as
 * st_blocks (i_nblocks + i_delayed_blks, which holds every CoW-fork block until it is remapped)
 * minus what the data fork maps (FIEMAP). */
struct dfz_fiemap_extent { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; };
struct dfz_fiemap { uint64_t start, length; uint32_t flags, mapped, count, reserved; struct dfz_fiemap_extent ext[128]; };

static long long cow_count(int fd, unsigned bs)
{
	static struct dfz_fiemap m;
	struct stat st;
	unsigned long long data = 0;
	memset(&m, 0, sizeof(m));
	m.length = ~0ULL;
	m.count = 128;
	if (fstat(fd, &st) || ioctl(fd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m) || m.mapped >= 128)
		die("fstat/FIEMAP");
	for (unsigned i = 0; i < m.mapped; i++)
		data += m.ext[i].length;
	return ((long long)st.st_blocks * 512 - (long long)data) / bs;
}
"#;

const VERDICT: &str = r#"
/* The verdict: does the kernel do what the model predicts (expect_* above)? */
static int verdict(long long ret, int err, long long pos, unsigned long long size)
{
	int ok = 1;
	pos -= shift; /* (the model's offsets) */
	size -= shift;
	if (expect_ret < 0 ? !(ret == -1 && err == -expect_ret) : ret != expect_ret) {
		printf("differs: return value (expected %s)\n", expect_ret_text);
		ok = 0;
	}
	if (expect_pos >= 0 && ret >= 0 && pos != expect_pos) {
		printf("differs: file position %lld (expected %lld)\n", pos, expect_pos);
		ok = 0;
	}
	if (size != expect_size) {
		printf("differs: i_size %llu (expected %llu)\n", size, expect_size);
		ok = 0;
	}
	for (size_t i = 0; expect_data[i]; i++) {
		char e = expect_data[i], g = seen[i] ? seen[i] : '-';
		if (e == '.' || e == g || (e == 's' && g == '?'))
			continue;
		printf("differs: data of sector %zu (byte %zu): '%c' (expected '%c')\n", i, i * 512, g, e);
		ok = 0;
		break;
	}
	printf("%s\n", ok ? "REPRODUCED" : "NOT REPRODUCED");
	return ok ? 0 : 1;
}
"#;

/// The variant a reproducer states the expected outcome of when none is given: the one matching
/// the running kernel, else the newest.
pub fn default_variant() -> &'static Variant {
    super::variant_for_release(&super::kernel_release()).unwrap_or_else(variant::newest)
}

/// The C source reproducing `s`, expecting what [`default_variant`] predicts.
pub fn c_program(s: &Scenario) -> Result<String, String> {
    c_program_for(s, default_variant())
}

/// The scenario as far as the C program sets it up: the device's atomic units and DMA alignment
/// and the bigalloc cluster are properties of the filesystem it is run on, not of the program.
fn device_free(s: &Scenario) -> Scenario {
    let mut t = s.clone();
    t.world.device.awu_min = 0;
    t.world.device.awu_max = 0;
    t.world.device.dma_alignment = diofuzz::scenario::DEFAULT_DMA_ALIGNMENT;
    t.world.cluster_bits = 0;
    t
}

/// The plan the C program follows: a file's on a scratch filesystem, or a block device's own
/// (the device's atomic units are the device's, as for a file).
fn repro_plan(s: &Scenario) -> Result<super::plan::Plan, String> {
    let t = device_free(s);
    if super::dax::is_pmem_world(s) {
        return super::dax::repro_plan(s).map_err(|e| lacks(s, &e));
    }
    if !s.faults.is_empty() {
        super::fault::plan_faulted(&t, None)
    } else if super::nvme_stable::wanted(s) {
        // The nvme-tcp namespace's atomic units and DMA alignment are part of the world its
        // plan checks (super::nvme_stable::check).
        super::plan::plan_on(s, None)
    } else if s.fs == FsKind::Bdev {
        super::plan::plan_on(&t, None)
    } else {
        // (a scaled s_maxbytes: the plan's offsets are shifted next to the real limit, and
        // the program moves its read-back and verdict by the same `shift`)
        plan(&t)
    }
    .map_err(|e| lacks(s, &e))
}

/// Why a scenario cannot run on a scratch loop device, said as what the environment lacks.
pub fn lacks(s: &Scenario, why: &str) -> String {
    let d = s.world.device;
    if why.contains("atomic write units") {
        return format!(
            "this scenario needs a block device with atomic writes (atomic_write_unit_min/max_bytes {}/{}); a loop device has none. Give such a device with --device DEV --destroy-data (an NVMe or SCSI disk with atomic writes, or a VM disk that has them, e.g. scsi_debug atomic_wr=1), or write the C program (`diofuzz repro FILE -o repro.c`) and run it on a filesystem made on one",
            d.awu_min, d.awu_max
        );
    }
    let needs = match why {
        w if w.contains("mount option") => "a filesystem in the scenario's state (dax, inline crypto, XFS always_cow); the scratch filesystems have data=journal and no-extents ext4, and are shut down or made emergency read-only (ext4) by the program, not these",
        w if w.contains("inode flag") => "inode flags the harness does not set (inline data, encryption, verity, dax, immutable, ...; it sets +j, -e and +a)",
        w if w.contains("bigalloc") => "an ext4 filesystem made with bigalloc: give a scratch file or device with --device PATH --destroy-data (repro makes it), or write the C program with -o and run it on one made with mkfs.ext4 -O bigalloc -C CLUSTER",
        w if w.contains("injected faults") && super::fault::expressible(s).is_ok() => "a device that fails the faulted bio (a null_blk device with badblocks_once or the scsi_debug atomic disk; loop devices have none): run it in the lab with --run --kernel V, or write the program with -o and run it on a filesystem on such a device",
        w if w.contains("injected faults") => "an errno injected at a kernel call site (the model injects it; a real kernel needs fault injection such as fail_function set up by hand)",
        w if w.contains("raw block device") => "a block device of its own (the scenario writes the device, not a file)",
        w if w.contains("race") => "a reproducible race (reproduced: the fcntl toggle, the mmap writer, chattr +e/-e/+j/+i/+a/-a after open, and i_rwsem held by a userfaultfd-blocked writer for RWF_NOWAIT calls)",
        _ => "",
    };
    if needs.is_empty() {
        format!("cannot be set up by the reproducer: {why}")
    } else {
        format!("cannot be set up by the reproducer ({why}): the environment lacks {needs}")
    }
}

/// Letters of the model's page-cache picture after the call, per 512-byte sector up to i_size,
/// as the C program's `classify` prints them; '.' for sectors cut by a boundary (write range, old
/// and new EOF), where the model rounds to sectors and the kernel does not.
fn expected_letters(x: &diofuzz::model::Execution, len: u64) -> String {
    use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_OLD_DIRTY, TAG_STALE, TAG_ZERO};
    let sector = diofuzz::scenario::SECTOR;
    let bounds = [
        x.write_pos,
        x.write_pos + len,
        x.before.i_size,
        x.after.i_size,
    ];
    (0..x.after.i_size.div_ceil(sector))
        .map(|s| {
            let (lo, hi) = (s * sector, (s + 1) * sector);
            if bounds.iter().any(|&b| lo < b && b < hi) {
                return '.';
            }
            match x.after.cached.get(s as usize).copied().unwrap_or(TAG_ZERO) {
                TAG_ZERO => '0',
                TAG_OLD => 'o',
                TAG_OLD_DIRTY => 'd',
                TAG_NEW => 'n',
                TAG_STALE => 's',
                // A bio-based disk's misplaced data (kernel::drivers::nvdimm::pmem): '?'.
                diofuzz::model::TAG_MISPLACED => '?',
                _ => '.',
            }
        })
        .collect()
}

/// The model's outcome for one queue `virt_boundary_mask`, as the C program compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VbOutcome {
    pub mask: u64,
    pub ret: i64,
    /// The file position after the call (-1: not compared).
    pub pos: i64,
    pub size: u64,
    /// [`expected_letters`] ("" when not compared).
    pub data: String,
}

/// The masks a reproducer carries an outcome for: none (7.2+'s fabrics controllers, loop) and
/// `NVME_CTRL_PAGE_SIZE - 1` (an nvme-tcp namespace up to 6.18, an nvme-pci one without SGLs).
pub const VB_MASKS: [u64; 2] = [0, diofuzz::generators::nvme_gap::NVME_VIRT_BOUNDARY];

/// For an nvme namespace world (`nvme`) whose outcome on `v` depends on the queue's virt
/// boundary (a NOWAIT write whose scattered iovec gaps: src/generators/nvme_gap.rs), the model's
/// outcome for each of [`VB_MASKS`]; None when it does not depend on it.
pub fn virt_boundary_outcomes(
    s: &Scenario,
    v: &'static Variant,
    nvme: bool,
    racy: bool,
) -> Option<Vec<VbOutcome>> {
    if !nvme {
        return None;
    }
    let c = super::plan::plan_on(s, None).ok()?.call;
    let all: Vec<VbOutcome> = VB_MASKS
        .iter()
        .map(|&mask| {
            let x = diofuzz::model::run_opts(
                s,
                v,
                diofuzz::model::ModelOpts {
                    virt_boundary_mask: mask,
                    ..super::fault::live_opts()
                },
            );
            VbOutcome {
                mask,
                ret: x.ret,
                pos: if x.ret >= 0 && !c.read && !c.aio && !c.positioned {
                    x.ki_pos_after as i64
                } else {
                    -1
                },
                size: x.after.i_size,
                data: if c.read || racy {
                    String::new()
                } else {
                    expected_letters(&x, s.request.len)
                },
            }
        })
        .collect();
    let same = all.iter().all(|e| {
        (e.ret, e.pos, e.size, &e.data) == (all[0].ret, all[0].pos, all[0].size, &all[0].data)
    });
    (!same).then_some(all)
}

/// The expected outcome's variables and `vb_select(fd)`, which sets them from the outcome for
/// the device's queue/virt_boundary_mask (sysfs of the device, or of its disk for a partition)
/// and says which one it compares with; COULD NOT RUN (2) for a mask without an outcome.
fn virt_boundary_c(vb: &[VbOutcome]) -> String {
    let mut o = String::from(
        "\n#include <sys/sysmacros.h>\n/* The outcome depends on the device's queue/virt_boundary_mask: a REQ_NOWAIT bio whose bvecs\n * gap at it needs a split, and bio_split_rw_at / bio_split_io_at gives -EAGAIN (nvme-tcp:\n * 4095 up to 6.18, 0 from 7.2). vb_select() picks the model's outcome for the device's mask. */\nstatic long long expect_ret;\nstatic const char *expect_ret_text = \"\";\nstatic long long expect_pos;\nstatic unsigned long long expect_size;\nstatic const char *expect_data = \"\";\nstatic const struct { unsigned long long mask; long long ret; const char *ret_text; long long pos; unsigned long long size; const char *data; } vb_expect[] = {\n",
    );
    for e in vb {
        let _ = writeln!(
            o,
            "\t{{ {}ULL, {}LL, \"{}\", {}LL, {}ULL, \"{}\" }},",
            e.mask,
            e.ret,
            errno::fmt_ret(e.ret),
            e.pos,
            e.size,
            e.data
        );
    }
    o.push_str(VB_SELECT);
    o
}

/// See [`virt_boundary_c`].
const VB_SELECT: &str = r#"};

/* The model's outcome for `mask` (read from `where`) becomes the expected one; 2 when the program
 * has none for it. */
static int vb_pick(unsigned long long mask, const char *where)
{
	for (size_t i = 0; i < sizeof(vb_expect) / sizeof(vb_expect[0]); i++) {
		if (vb_expect[i].mask != mask)
			continue;
		expect_ret = vb_expect[i].ret;
		expect_ret_text = vb_expect[i].ret_text;
		expect_pos = vb_expect[i].pos;
		expect_size = vb_expect[i].size;
		expect_data = vb_expect[i].data;
		printf("virt_boundary_mask %llu (%s): comparing with the model's outcome for it (return %s)\n",
		       mask, where, expect_ret_text);
		return 0;
	}
	printf("COULD NOT RUN: the device's queue/virt_boundary_mask is %llu; the program has the model's outcome for", mask);
	for (size_t i = 0; i < sizeof(vb_expect) / sizeof(vb_expect[0]); i++)
		printf(" %llu", vb_expect[i].mask);
	printf(" only\n");
	return 2;
}

static int vb_select(int fd)
{
	struct stat st;
	char p[160], b[64] = "";
	unsigned long long mask;
	FILE *f = NULL;
	if (fstat(fd, &st) || !S_ISBLK(st.st_mode))
		die("fstat the block device");
	for (int i = 0; i < 2 && !f; i++) {
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/%squeue/virt_boundary_mask",
			 major(st.st_rdev), minor(st.st_rdev), i ? "../" : "");
		f = fopen(p, "r");
	}
	if (!f || !fgets(b, sizeof(b), f) || sscanf(b, "%llu", &mask) != 1) {
		printf("COULD NOT RUN: the device's queue/virt_boundary_mask cannot be read; the expected outcome depends on it\n");
		if (f)
			fclose(f);
		return 2;
	}
	fclose(f);
	return vb_pick(mask, p);
}
"#;

/// The C source reproducing `s`, with `v`'s predicted outcome built in: the program prints
/// REPRODUCED (exit 0) when the kernel does what the model predicts, NOT REPRODUCED (exit 1)
/// otherwise, and COULD NOT RUN (exit 2) when the set-up fails.
pub fn c_program_for(s: &Scenario, v: &'static Variant) -> Result<String, String> {
    let p = repro_plan(s)?;
    let bdev = s.fs == FsKind::Bdev;
    let c = &p.call;
    // A faulted scenario: the plugged completion order, as live compares (docs/lab.md).
    let x = super::fault::model_run(s, v);
    // The nvme namespace's virt boundary (4095 up to 6.18, 0 from 7.2: super::nvme_stable):
    // when the outcome depends on it, the program carries the model's outcome for each mask and
    // compares with the one its device has (queue/virt_boundary_mask, read at run time).
    let vb = virt_boundary_outcomes(s, v, p.key.nvme, p.racy);
    let fc = super::repro_fault::fault_c(s, &p, &x).map_err(|e| lacks(s, &e))?;
    let findings: Vec<String> = diofuzz::oracle::check(&x)
        .iter()
        .map(|f| format!("{} ({}): {}", f.property, f.property.title(), f.detail))
        .collect();
    // aio writes at aio_offset and leaves the file position alone: not compared.
    // (Nor a positioned call: super::limits::positioned.)
    let exp_pos = if x.ret >= 0 && !c.read && !c.aio && !c.positioned {
        x.ki_pos_after as i64
    } else {
        -1
    };
    let exp_data = if c.read || p.racy {
        String::new()
    } else {
        expected_letters(&x, s.request.len)
    };
    let json = serde_json::to_string(s).map_err(|e| e.to_string())?;
    let mut o = String::new();

    let fsdesc = match s.fs {
        FsKind::Xfs => format!(
            "XFS: mkfs.xfs -b size={}{} -m reflink={} IMAGE",
            1u32 << s.world.blkbits,
            // (1 or 2 KiB logical blocks: mkfs on the image defaults to 512-byte sectors, which
            // a device of larger ones refuses to mount; scratch::mkfs_argv.)
            if matches!(s.world.lbs_bits, 10 | 11) {
                format!(" -s size={}", 1u32 << s.world.lbs_bits)
            } else {
                String::new()
            },
            p.key.reflink as u8
        ),
        _ if s.world.cluster_bits > 0 => format!(
            "ext4: mkfs.ext4 -b {} -O bigalloc -C {} DEVICE",
            1u32 << s.world.blkbits,
            1u32 << (s.world.blkbits + s.world.cluster_bits)
        ),
        _ => format!(
            "ext4: mkfs.ext4 -b {}{}{} IMAGE{}",
            1u32 << s.world.blkbits,
            if p.key.no_extents {
                " -O ^extent,^64bit"
            } else {
                ""
            },
            p.key.inode_kind.mkfs_text(s.world.blkbits),
            match p.key.mount_data() {
                Some(o) if o.starts_with("dax") => "",
                Some("data=journal") => ", mounted with -o data=journal",
                Some("nodioread_nolock,noauto_da_alloc") => ", mounted with -o nodioread_nolock,noauto_da_alloc (a block writeback allocates is written at submission, not unwritten until completion; no flush at close after a truncate to 0)",
                Some("noauto_da_alloc") => ", mounted with -o noauto_da_alloc (no flush at close after a truncate to 0; the default dioread_nolock: a block writeback allocates is unwritten until completion)",
                Some(_) => ", mounted with -o nodelalloc (chattr +j takes effect only then)",
                None => "",
            }
        ),
    };
    let dev = s.world.device;
    let device = if p.key.nvme && p.key.layered {
        format!("{}; for the held page the namespace exports, instead of a file, a loop device of 4 KiB logical blocks over an image on a lower filesystem, which the program freezes (found from the namespace through the target's configfs device_path)", super::nvme_stable::C_DEVICE)
    } else if p.key.nvme {
        super::nvme_stable::C_DEVICE.to_string()
    } else if dev.awu_max != 0 {
        format!(
            "a block device with atomic writes (atomic_write_unit_min/max_bytes {}/{}; a loop device has none: an NVMe or SCSI disk, or a VM disk with atomic writes)",
            dev.awu_min, dev.awu_max
        )
    } else if super::dax::is_pmem_world(s) {
        "pmem device".to_string()
    } else if !s.faults.is_empty() {
        "a null_blk device of configfs with badblocks_once 1, or for -ENOSPC, -ETIMEDOUT, -EINVAL, -ENOMEM a ublk device of `diofuzz ublk-fault` (the injected fault below)".to_string()
    } else {
        super::bdev_state::c_device(bdev, p.key.stable).to_string()
    };
    let _ = writeln!(o, "// SPDX-License-Identifier: GPL-2.0-only");
    let _ = writeln!(
        o,
        "/*\n * diofuzz repro (generated). Scenario:\n *   {}",
        json.replace("*/", "* /")
    );
    if bdev {
        let _ = writeln!(
            o,
            " *\n * Run as root on a scratch block device ({device}) with logical block size {lbs}:\n *   cc -O2 -o repro repro.c && ./repro DEV      DEV of exactly {size} bytes, erased\n *   ./repro -p DISK   adds partition {pno} of {size} bytes at byte {start} of DISK with\n *                     BLKPG (the partition table is not written), writes only it, removes it",
            lbs = 1u32 << s.world.lbs_bits,
            size = p.i_size,
            pno = BDEV_PART_NO,
            start = super::scratch::PART_START
        );
    } else {
        let _ = writeln!(
            o,
            " *\n * Run on a scratch filesystem: {fsdesc}{}, {device} with logical block size {},\n * mounted on DIR; then: cc -O2 -o repro repro.c && ./repro DIR",
            super::dax::c_fsdesc(&p),
            1u32 << s.world.lbs_bits
        );
    }
    if let Some(d) = p.down {
        o.push_str(&super::shutdown::c_header(d));
    }
    let _ = writeln!(
        o,
        "{} * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,\n * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.\n * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.\n */",
        fc.as_ref().map(|f| format!("{}\n", f.about)).unwrap_or_default()
    );
    if let Some(vb) = &vb {
        let _ = writeln!(
            o,
            "/*\n * Expected on {} ({}), as the diofuzz model predicts it, for the device's\n * queue/virt_boundary_mask (read at run time; the program says which it compared with):",
            v.name, v.kernel
        );
        for e in vb {
            let _ = writeln!(
                o,
                " *   mask {}: return {}, file position {}, i_size {},\n *     data: {}",
                e.mask,
                errno::fmt_ret(e.ret),
                if e.pos >= 0 {
                    e.pos.to_string()
                } else {
                    "not compared".into()
                },
                e.size,
                if e.data.is_empty() {
                    "not compared"
                } else {
                    &e.data
                },
            );
        }
        let _ = writeln!(
            o,
            " * The model's findings there (mask {}): {}\n */",
            super::fault::live_opts().virt_boundary_mask,
            if findings.is_empty() {
                "none".to_string()
            } else {
                findings.join("; ").replace("*/", "* /")
            }
        );
    }
    if vb.is_none() {
        let _ = writeln!(
        o,
        "/*\n * Expected on {} ({}), as the diofuzz model predicts it:\n *   return {}, file position {}, i_size {},\n *   data (page cache, per 512-byte sector; . = not compared): {}\n * The model's findings there: {}\n */",
        v.name,
        v.kernel,
        errno::fmt_ret(x.ret),
        if exp_pos >= 0 { exp_pos.to_string() } else { "not compared".into() },
        x.after.i_size,
        if exp_data.is_empty() { "not compared" } else { &exp_data },
        if findings.is_empty() {
            "none".to_string()
        } else {
            findings.join("; ").replace("*/", "* /")
        }
    );
    }
    if p.shift != 0 {
        let _ = writeln!(
            o,
            "/*\n * The scaled limit is built next to the real one ({}): every file offset is the\n * model's plus {} bytes; the read-back and the verdict count from there.\n */",
            if s.world.inode.extents {
                "ext4_max_size"
            } else {
                "ext4_max_bitmap_size, a block-mapped inode"
            },
            p.shift
        );
    }
    o.push_str(PRELUDE);
    let tail = p
        .steps
        .iter()
        .any(|s| matches!(s, Step::WriteBacking { .. }));
    o.push_str(&show_fn(tail));
    match &vb {
        None => {
            let _ = writeln!(
                o,
                "\nstatic const long long expect_ret = {};\nstatic const char expect_ret_text[] = \"{}\";\nstatic const long long expect_pos = {exp_pos};\nstatic const unsigned long long expect_size = {};\nstatic const char expect_data[] = \"{exp_data}\";",
                x.ret,
                errno::fmt_ret(x.ret),
                x.after.i_size,
            );
        }
        Some(vb) => o.push_str(&virt_boundary_c(vb)),
    }
    o.push_str(VERDICT);
    if let Some(f) = &fc {
        o.push_str(&f.prelude);
    }
    if p.cow.is_some() {
        o.push_str(COW_PRELUDE);
    }
    if c.aio {
        o.push_str(AIO_PRELUDE);
    }
    if c.no_largefile {
        o.push_str(super::limits::C_OPEN_COMPAT);
    }
    if c.after_open.lock_holder {
        o.push_str(super::race::C_DECLS);
    }
    if c.pages.held() {
        o.push_str(super::disk_hold::C_SCSI);
        o.push_str(super::pages::C_PRELUDE);
        if !c.pages.unwritten.is_empty() {
            o.push_str(super::pages::C_UNWRITTEN);
        }
    }
    if p.steps.iter().any(|s| {
        matches!(
            s,
            Step::WriteZero { .. } | Step::WriteBacking { old: false, .. }
        )
    }) {
        o.push_str(WZERO);
    }
    let encrypted = p.key.inode_kind == super::inode_kind::InodeKind::Encrypted;
    if encrypted {
        o.push_str(super::inode_kind::C_PRELUDE);
    }
    let journalled = super::inode_kind::journalled_at_create(&p);
    if journalled {
        o.push_str(super::inode_kind::C_JD_PRELUDE);
    }
    if bdev {
        let _ = writeln!(
            o,
            "\nstatic const unsigned long long dev_size = {size}ULL;\nstatic const int part_no = {BDEV_PART_NO};\nstatic const long long part_start = {start}LL;",
            size = p.i_size,
            start = super::scratch::PART_START
        );
        o.push_str(BDEV_PRELUDE);
    }
    if super::swap::wanted(s) {
        o.push_str(super::swap::C_GLOBALS);
    }
    let probes = super::probes::any(&p);
    if probes {
        o.push_str(super::probes::C_FUNCS);
    }
    o.push_str("\nint main(int argc, char **argv)\n{\n");
    o.push_str("\tnonce = (uint32_t)getpid() * 2654435761u;\n");
    if p.shift != 0 {
        let _ = writeln!(
            o,
            "\tshift = {}ULL; /* every file offset below is the model's plus this */\n\tshift_unit = {};",
            p.shift,
            1u64 << p.key.blkbits
        );
    }
    if bdev {
        o.push_str(BDEV_OPEN);
        if vb.is_some() {
            o.push_str("\tif (vb_select(fd))\n\t\treturn 2;\n");
        }
        if super::bdev_geometry::wanted_set(p.key.blkbits, 1 << p.key.lbs_bits, p.i_size).is_some()
        {
            o.push_str(&super::bdev_geometry::c_blocksize(p.key.blkbits));
        }
    } else {
        // `mnt`: the filesystem's mount point (the file may be in a directory made in it).
        o.push_str("\tconst char *dir = argc > 1 ? argv[1] : \".\";\n\tconst char *mnt = dir;\n\t(void)mnt;\n");
        o.push_str("\tprefill_stale(dir);\n");
        if encrypted {
            // The file is created in an encrypted directory (removed with the key at exit).
            o.push_str("\tchar encname[64];\n\tsnprintf(encname, sizeof(encname), \"diofuzz-repro-enc-%d\", (int)getpid());\n\tdir = enc_setup(dir, encname);\n");
        }
        if journalled {
            // Created in a +j directory: the file inherits the flag (an encrypted directory
            // gets the flag itself).
            let _ = writeln!(o, "\tchar jdname[64];\n\tsnprintf(jdname, sizeof(jdname), \"diofuzz-repro-jd-%d\", (int)getpid());\n\tdir = jd_setup(dir, jdname, {});", !encrypted as u8);
        }
        o.push_str("\tchar path[4096], donor[4096];\n");
        o.push_str(
            "\tsnprintf(path, sizeof(path), \"%s/diofuzz-repro-%d\", dir, (int)getpid());\n",
        );
        o.push_str(
            "\tsnprintf(donor, sizeof(donor), \"%s/diofuzz-repro-donor-%d\", dir, (int)getpid());\n",
        );
        o.push_str("\tint fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);\n\tif (fd < 0)\n\t\tdie(\"create\");\n");
        o.push_str(super::dax::c_after_create(s));
    }
    let mut late = String::new();
    let early = super::limits::open_before_growth(&p);
    for (i, st) in p.steps.iter().enumerate() {
        if early == Some(i) {
            o.push_str(&super::limits::c_open_early(open_flags(c)));
        }
        if super::plan::after_times(st) {
            if *st == Step::SwapOn {
                late.push_str(super::swap::C_SWAPON);
                if bdev && super::hibernate::enabled() {
                    late.push_str(super::hibernate::C_SET_RESUME);
                }
            }
            if let Step::SetInodeFlags { set, clear } = st {
                let _ = writeln!(
                    late,
                    "\t{{\n\t\tint fl = 0;\n\t\tif (ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tfl = (fl | {set:#x}) & ~{clear:#x};\n\t\tif (ioctl(fd, 0x40086602UL /* FS_IOC_SETFLAGS */, &fl))\n\t\t\tdie(\"FS_IOC_SETFLAGS (chattr +a)\");\n\t}}"
                );
            }
            continue;
        }
        match st {
            Step::Truncate(n) => {
                let _ = writeln!(o, "\tif (ftruncate(fd, {n}))\n\t\tdie(\"ftruncate\");");
            }
            Step::WriteOld { off, len } => {
                let _ = writeln!(o, "\twpat(fd, {off}, {len}, 0x11);");
            }
            Step::Fallocate { off, len } => {
                let _ = writeln!(
                    o,
                    "\tif (fallocate(fd, FALLOC_FL_KEEP_SIZE, {off}, {len}))\n\t\tdie(\"fallocate\");"
                );
            }
            Step::CloneOld { off, len } => {
                let _ = writeln!(
                    o,
                    "\t{{\n\t\tint d = open(donor, O_RDWR | O_CREAT, 0600);\n\t\tif (d < 0)\n\t\t\tdie(\"donor\");\n\t\twpat(d, {off}, {len}, 0x11);\n\t\tfsync(d);\n\t\tstruct file_clone_range r = {{ .src_fd = d, .src_offset = {off}, .src_length = {len}, .dest_offset = {off} }};\n\t\tif (ioctl(fd, FICLONERANGE, &r))\n\t\t\tdie(\"FICLONERANGE\");\n\t\tclose(d);\n\t}}"
                );
            }
            Step::Fsync => o.push_str("\tif (fsync(fd))\n\t\tdie(\"fsync\");\n"),
            Step::DropCache => {
                o.push_str("\tfsync(fd);\n\tposix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);\n")
            }
            Step::ReadPage { off } => {
                let _ = writeln!(
                    o,
                    "\t{{\n\t\tchar pg[4096];\n\t\tif (pread(fd, pg, 4096, {off}) < 0)\n\t\t\tdie(\"read page\");\n\t}}"
                );
            }
            Step::WriteDirty { off, len } => {
                let _ = writeln!(o, "\twpat(fd, {off}, {len}, 0x22);");
            }
            // Block-device plans and inline inodes.
            Step::WriteZero { off, len } => {
                let _ = writeln!(o, "\twzero(fd, {off}, {len});");
            }
            Step::WriteBacking { off, len, old } => {
                let edge = super::bdev_geometry::edge(p.i_size, p.key.lbs_bits, p.key.blkbits);
                let _ = writeln!(
                    o,
                    "\ttail_edge = {};\n\t{{\n\t\tint bf = backing_fd(path, O_WRONLY);\n\t\t{}\n\t\tclose(bf);\n\t}}",
                    edge.unwrap_or(*off),
                    if *old {
                        format!("wpat(bf, {off}, {len}, 0x11);")
                    } else {
                        format!("wzero(bf, {off}, {len});")
                    }
                );
            }
            Step::SetCowExtsize(bytes) => {
                let _ = writeln!(o, "\tset_cowextsize(fd, {bytes});");
            }
            Step::ExpectInodeFlags(bits) => o.push_str(&super::inode_kind::c_expect_flags(*bits)),
            Step::SetMode(mode) => o.push_str(&super::inode_state::c_set_mode(*mode)),
            Step::SwapHeader => o.push_str(&super::swap::c_header(s)),
            Step::SwapAlignedPrefix { len, size } => {
                o.push_str(&super::swap::c_aligned_prefix(*len, *size))
            }
            Step::SwapOn => {}
            Step::SetInodeFlags { set, clear } => {
                let _ = writeln!(
                    o,
                    "\t{{\n\t\tint fl = 0;\n\t\tif (ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tfl = (fl | {set:#x}) & ~{clear:#x};\n\t\tif (ioctl(fd, 0x40086602UL /* FS_IOC_SETFLAGS */, &fl))\n\t\t\tdie(\"FS_IOC_SETFLAGS (chattr)\");\n\t}}"
                );
            }
        }
    }
    if let Some(t) = &p.cow {
        // The kernel must have built the scenario's CoW fork (else the program could not run
        // the scenario): its shape on a CONFIG_XFS_DEBUG kernel, else its number of blocks.
        let want = super::cow::letters(t);
        let want = want.trim_end_matches('N');
        let n = t
            .iter()
            .filter(|&&c| c != diofuzz::scenario::CowExtent::None)
            .count();
        let shown = if want.is_empty() { "empty" } else { want };
        let _ = writeln!(
            o,
            "\t{{\n\t\tchar got[4097];\n\t\tcow_fork(fd, {bs}, got, sizeof(got));\n\t\tif (strcmp(got, \"?\")) {{\n\t\t\tprintf(\"CoW fork (one letter per block): %s\\n\", *got ? got : \"empty\");\n\t\t\tif (strcmp(got, \"{want}\")) {{\n\t\t\t\tprintf(\"COULD NOT RUN: the kernel built the CoW fork %s, the scenario's is {shown}\\n\", *got ? got : \"empty\");\n\t\t\t\tunlink(path);\n\t\t\t\tunlink(donor);\n\t\t\t\treturn 2;\n\t\t\t}}\n\t\t}} else {{\n\t\t\tlong long k = cow_count(fd, {bs});\n\t\t\tprintf(\"CoW fork: %lld blocks (the scenario's {shown}: {n})\\n\", k);\n\t\t\tif (k != {n}) {{\n\t\t\t\tprintf(\"COULD NOT RUN: the kernel's CoW fork holds %lld blocks, the scenario's {n}\\n\", k);\n\t\t\t\tunlink(path);\n\t\t\t\tunlink(donor);\n\t\t\t\treturn 2;\n\t\t\t}}\n\t\t}}\n\t}}",
            bs = 1u32 << p.key.blkbits,
        );
    }
    // As the live executor: the file was last modified before this write (mtime an hour ago),
    // so an RWF_NOWAIT write meets kiocb_modified's -EAGAIN whatever the clock did.
    // A block device: the executor leaves the node's times alone (blkdev_write_iter has no
    // kiocb_modified).
    o.push_str(&super::dax::c_check(s));
    o.push_str(&c_lbs_check(s));
    if !bdev {
        o.push_str("\t{\n\t\tstruct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };\n\t\tfutimens(fd, ts);\n\t}\n");
    }
    // (On a block device only a swap device's swapon: super::bdev_state.)
    o.push_str(&late);
    if let Some(f) = &fc {
        o.push_str(&f.arm);
    }
    let flags = open_flags(c);
    let wpos = landing(&p);
    if early.is_some() {
        o.push_str("\t/* cfd: opened before the file grew past MAX_NON_LFS (above) */\n");
    } else {
        let _ = writeln!(
            o,
            "\tint cfd = {}(path, {flags:#x} /* O_RDWR{}{}{}{} */);\n\tif (cfd < 0)\n\t\tdie(\"open\");",
            if c.no_largefile { "open_compat" } else { "open" },
            if c.direct { "|O_DIRECT" } else { "" },
            if c.append { "|O_APPEND" } else { "" },
            if c.dsync { "|O_DSYNC" } else { "" },
            if c.sync { "|O_SYNC" } else { "" },
        );
    }
    if c.fcntl_toggle {
        o.push_str(
            "\tfcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) ^ O_DIRECT); /* toggled after open */\n",
        );
    }
    if super::inode_state::clear_append_before_unlink(c) {
        o.push_str(super::inode_state::C_CLEAR_APPEND_BEFORE_UNLINK);
    }
    if c.unlink {
        o.push_str(super::inode_state::C_UNLINK_AFTER_OPEN);
    }
    o.push_str(&super::race::c_after_open(&c.after_open));
    o.push_str(&super::jflag_pages::c_check(&p));
    if dev.awu_max != 0 && s.request.rwf.atomic {
        // The outcome depends on the atomic write unit the filesystem offers: check it first.
        let _ = writeln!(
            o,
            "\t{{\n\t\tunsigned char sx[256] __attribute__((aligned(8)));\n\t\tuint32_t umin = 0, umax = 0;\n\t\tuint64_t attr = 0;\n\t\tmemset(sx, 0, sizeof(sx));\n\t\tif (syscall(SYS_statx, cfd, \"\", AT_EMPTY_PATH, STATX_WRITE_ATOMIC_, sx) == 0) {{\n\t\t\tmemcpy(&attr, sx + 8, 8);\n\t\t\tmemcpy(&umin, sx + 168, 4);\n\t\t\tmemcpy(&umax, sx + 172, 4);\n\t\t}}\n\t\tif (!(attr & STATX_ATTR_WRITE_ATOMIC_) || umin != {m} || umax != {n}) {{\n\t\t\tprintf(\"COULD NOT RUN: the file offers atomic writes of [%u, %u] bytes; the scenario needs [{m}, {n}] (a device with atomic_write_unit_min/max_bytes {a}/{b})\\n\", umin, umax);\n\t\t\t{cleanup}return 2;\n\t\t}}\n\t}}",
            cleanup = if bdev { "" } else { "unlink(path);\n\t\t\t" },
            m = x.statx_unit_min,
            n = x.statx_unit_max,
            a = dev.awu_min,
            b = dev.awu_max
        );
    }
    if !c.positioned {
        let _ = writeln!(o, "\tlseek(cfd, {}, SEEK_SET);", c.pos);
    }
    // The user buffer (super::segs: contiguous or scattered iovecs, the executor's layout).
    let lay = c.layout();
    let _ = writeln!(
        o,
        "\tunsigned char *buf = mmap(NULL, {sz}, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n\tif (buf == MAP_FAILED)\n\t\tdie(\"mmap\");",
        sz = lay.map_len
    );
    if lay.scattered {
        let _ = writeln!(
            o,
            "\tmadvise(buf, {sz}, MADV_NOHUGEPAGE); /* no large folio: a bvec per page */",
            sz = lay.map_len
        );
    }
    let _ = writeln!(o, "\tstruct iovec iov[{}];", lay.iov.len());
    if lay.scattered {
        // Hundreds of iovecs: a loop, not a line each.
        let sc = (lay.iov.len(), c.seg_at.first().copied().unwrap_or(0));
        let stride = c.seg_at.get(1).map_or(4096, |&b| b - sc.1);
        let (seg, last) = (c.segs[0], *c.segs.last().unwrap_or(&0));
        let _ = writeln!(
            o,
            "\tfor (int i = 0; i < {n}; i++) {{ /* {n} iovecs, each in its own pages */\n\t\tiov[i].iov_base = buf + (size_t)i * {stride} + {off};\n\t\tiov[i].iov_len = i == {n} - 1 ? {last} : {seg};\n\t\tpat(iov[i].iov_base, {wpos} + (long long)i * {seg}, iov[i].iov_len, 0x33);\n\t}}",
            n = sc.0,
            off = sc.1
        );
    } else {
        let _ = writeln!(
            o,
            "\tunsigned char *ub = buf + {off}; /* user buffer alignment */\n\tpat(ub, {wpos}, {len}, 0x33);",
            off = c.buf_offset,
            len = c.len
        );
        let mut at = 0;
        for (i, l) in c.segs.iter().enumerate() {
            let _ = writeln!(
                o,
                "\tiov[{i}].iov_base = ub + {at};\n\tiov[{i}].iov_len = {l};"
            );
            at += l;
        }
    }
    if let Some(p) = lay.prot_none_from {
        // (a fault inside the buffer's first page unmaps from before `ub`: limits::fault_page)
        let (base, at) = if lay.scattered || p < c.buf_offset {
            ("buf", p)
        } else {
            ("ub", p - c.buf_offset)
        };
        let _ = writeln!(
            o,
            "\tmprotect({base} + {at}, {rest}, PROT_NONE); /* the buffer faults from byte {fa} */",
            rest = lay.map_len - p,
            fa = c.fault_at.unwrap_or(0)
        );
    }
    if c.mmap_writer {
        let _ = writeln!(
            o,
            "\t/* mmap writer: a child stores back what the pages hold while the call runs */\n\tpid_t w = fork();\n\tif (w == 0) {{\n\t\tint f = open(path, O_RDWR);\n\t\tunsigned char *m = mmap(NULL, {len}, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);\n{body}\t}}\n\tusleep(1000);",
            len = p.i_size.div_ceil(4096) * 4096,
            // No cached page: the writer maps the file and stores nothing (super::pages).
            body = if c.pages.idle_writer {
                "\t\t(void)m;\n\t\tfor (;;)\n\t\t\tpause(); /* no cached page: mapped, nothing stored */\n".to_string()
            } else {
                format!(
                    "\t\tunsigned char *snap = malloc({isz});\n\t\tmemcpy(snap, m, {isz});\n\t\tfor (;;)\n\t\t\tmemcpy(m, snap, {isz});\n",
                    // Not past a tail device's edge (super::bdev_geometry::mappable).
                    isz = if p.key.fs == diofuzz::scenario::FsKind::Bdev {
                        super::bdev_geometry::mappable(p.i_size, p.key.lbs_bits, p.key.blkbits)
                    } else {
                        p.i_size
                    }
                )
            }
        );
    }
    if let Some(d) = p.down {
        o.push_str(&super::shutdown::c_bring_down(d));
    }
    let call = match (c.aio, c.read) {
        (true, _) => "aio_rw",
        (false, true) => "preadv2",
        (false, false) => "pwritev2",
    };
    // aio: the call at its position (aio_offset), not at the file position.
    let at = if c.aio {
        format!("{}, {}", c.pos, !c.read as u8)
    } else if c.positioned {
        c.pos.to_string()
    } else {
        "-1".to_string()
    };
    o.push_str(&super::pages::c_hold_begin(&c.pages, bdev));
    let _ = writeln!(
        o,
        "\tssize_t ret;\n\tint err = 0;\n\toff_t after;\n\tint verdict_code = 2;"
    );
    match c.rlimit_fsize {
        Some(l) => {
            let _ = writeln!(
                o,
                "\tint pfd[2];\n\tif (pipe(pfd))\n\t\tdie(\"pipe\");\n\tpid_t ch = fork();\n\tif (ch == 0) {{\n\t\tstruct rlimit rl = {{ {l}, {l} }};\n\t\tsignal(SIGXFSZ, SIG_IGN);\n\t\tsetrlimit(RLIMIT_FSIZE, &rl);\n\t\tlong long res[3];\n\t\tres[0] = {call}(cfd, iov, {n}, {at}, {rwf:#x});\n\t\tres[1] = errno;\n\t\tres[2] = {after};\n\t\twrite(pfd[1], res, sizeof(res));\n\t\t_exit(0);\n\t}}\n\tlong long res[3] = {{ -1, 0, 0 }};\n\tread(pfd[0], res, sizeof(res));\n\twaitpid(ch, NULL, 0);\n\tret = res[0];\n\terr = (int)res[1];\n\tafter = res[2];\n\tprintf(\"call ran in a child with RLIMIT_FSIZE={l}\\n\");",
                n = c.segs.len(),
                rwf = c.rwf,
                after = after_call(c, "res[0]")
            );
        }
        None => {
            let _ = writeln!(
                o,
                "\tret = {call}(cfd, iov, {n}, {at}, {rwf:#x});\n\terr = errno;\n\tafter = {after};",
                n = c.segs.len(),
                rwf = c.rwf,
                after = after_call(c, "ret")
            );
        }
    }
    o.push_str(super::pages::c_hold_end(&c.pages));
    if c.mmap_writer {
        o.push_str("\tkill(w, SIGKILL);\n\twaitpid(w, NULL, 0);\n");
    }
    o.push_str(&super::race::c_after_call(&c.after_open));
    if super::swap::wanted(s) {
        if bdev
            && super::hibernate::enabled()
            && (p.steps.contains(&Step::SwapOn) || c.after_open.swap == Some(true))
        {
            o.push_str(super::hibernate::C_RELEASE);
        }
        o.push_str(super::swap::C_AFTER_CALL);
    }
    let _ = writeln!(
        o,
        "\tprintf(\"{call}(pos {pos}, len {len}, rwf {rwf:#x}) = %zd\", ret);\n\tif (ret < 0)\n\t\tprintf(\" errno %d (%s)\", err, strerror(err));\n\telse\n\t\tprintf(\" (%s; file position now %lld, data expected at {wpos})\", (size_t)ret == {len} ? \"full\" : \"SHORT\", (long long)after);\n\tprintf(\"\\n\");",
        pos = c.pos,
        len = c.len,
        rwf = c.rwf
    );
    if let Some(d) = p.down {
        o.push_str(&super::shutdown::c_after_call(d));
    }
    if let Some(f) = &fc {
        o.push_str(&f.after);
    }
    o.push_str(
        &"\tunsigned char stx[256] __attribute__((aligned(8)));\n\tmemset(stx, 0, sizeof(stx));\n\tif (syscall(SYS_statx, cfd, \"\", AT_EMPTY_PATH, STATX_SIZE_ | STATX_WRITE_ATOMIC_, stx) == 0) {\n\t\tuint64_t size, attr;\n\t\tuint32_t umin, umax;\n\t\tmemcpy(&attr, stx + 8, 8);\n\t\tmemcpy(&size, stx + 40, 8);\n\t\tmemcpy(&umin, stx + 168, 4);\n\t\tmemcpy(&umax, stx + 172, 4);\n{devsize}\t\tprintf(\"i_size %llu; STATX_WRITE_ATOMIC: %s [%u, %u]\\n\", (unsigned long long)size,\n\t\t       attr & STATX_ATTR_WRITE_ATOMIC_ ? \"supported\" : \"not supported\", umin, umax);\n\t\tclose(cfd);\n\t\tshow(path, size, 0);\n\t\tshow(path, size, 1);\n\t\tverdict_code = verdict(ret, err, after, size);\n\t} else {\n\t\tprintf(\"statx: %s\\nCOULD NOT RUN (statx)\\n\", strerror(errno));\n\t}\n"
            .replace(
                "{devsize}",
                if bdev {
                    "\t\tsize = bdev_size(cfd); /* statx gives a device node no size */\n"
                } else {
                    ""
                },
            ),
    );
    if fc.is_some() {
        o.push_str(super::repro_fault::FAULT_VERDICT);
    }
    if bdev {
        if probes {
            o.push_str(&super::probes::c_call(&p));
        }
        // bdev_release (atexit) closes the device and removes a -p partition.
        o.push_str("\treturn verdict_code;\n}\n");
    } else {
        if s.world.inode.append_only {
            // An append-only file cannot be unlinked: clear the flag first.
            o.push_str("\t{\n\t\tint fl = 0;\n\t\tioctl(fd, 0x80086601UL, &fl);\n\t\tfl &= ~0x20;\n\t\tioctl(fd, 0x40086602UL, &fl);\n\t}\n");
        }
        if probes {
            o.push_str(&super::probes::c_call(&p));
        }
        o.push_str(&super::race::c_cleanup(&c.after_open));
        o.push_str("\tclose(fd);\n\tunlink(path);\n\tunlink(donor);\n\treturn verdict_code;\n}\n");
    }
    Ok(o)
}

/// The C expression for the file position after the call whose result is `ret`: a positioned
/// call (aio's own position too) leaves the file position alone, and blkdev_llseek takes the
/// i_rwsem a lock holder keeps (super::bdev_state): no lseek then.
fn after_call(c: &super::plan::Call, ret: &str) -> String {
    if c.positioned {
        format!("{} + ({ret} > 0 ? {ret} : 0)", c.pos)
    } else {
        "lseek(cfd, 0, SEEK_CUR)".into()
    }
}

/// Build the scenario's scratch filesystem, compile `src` with cc and run it there; returns its
/// output and its exit status (0 reproduced, 1 not, 2 could not run). Everything is made and
/// removed like a `live` run's resources.
pub fn run_on_scratch(s: &Scenario, src: &str) -> Result<(String, i32), String> {
    run_on(s, src, None)
}

/// The atomic write units a device offers (0, 0 for none or a regular file).
fn device_units(dev: &std::path::Path) -> (u32, u32) {
    let Ok(md) = fs::metadata(dev) else {
        return (0, 0);
    };
    let Some(q) = super::scratch::device_queue(&md) else {
        return (0, 0);
    };
    let rd = |n: &str| {
        fs::read_to_string(q.join(n))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        rd("atomic_write_unit_min_bytes"),
        rd("atomic_write_unit_max_bytes"),
    )
}

/// [`run_on_scratch`], or on the scratch file or block device the user gave (`--device`): a
/// filesystem is made on it, mounted in a private folder, the program run there, and unmounted.
pub fn run_on(
    s: &Scenario,
    src: &str,
    device: Option<&std::path::Path>,
) -> Result<(String, i32), String> {
    if super::swap::wanted(s) && !super::swap::in_lab_guest() {
        // The program calls swapon(2): never on the machine running diofuzz.
        return Err(format!(
            "a swap-file scenario's program calls swapon(2): run it in the lab (repro --run --kernel VERSION) or by hand on a disposable machine ({})",
            super::swap::NEEDS_VM
        ));
    }
    let bdev = s.fs == FsKind::Bdev;
    let p = match device {
        // A block-device scenario on the host: a loop device of the scenario's size.
        None if bdev => super::plan::plan_on(s, None).map_err(|e| lacks(s, &e))?,
        None => plan(s).map_err(|e| lacks(s, &e))?,
        Some(dev) => {
            let d = s.world.device;
            let have = device_units(dev);
            if d.awu_max != 0 && have != (d.awu_min, d.awu_max) {
                return Err(format!(
                    "{} offers atomic write units {}/{} bytes (atomic_write_unit_min/max_bytes); the scenario needs {}/{}",
                    dev.display(),
                    have.0,
                    have.1,
                    d.awu_min,
                    d.awu_max
                ));
            }
            // What the filesystem must be made with: bigalloc clusters (ext4).
            let mut p = plan(&device_free(s)).map_err(|e| lacks(s, &e))?;
            super::limits::given_device_ok(&p, dev)?;
            p.key.cluster_bits = s.world.cluster_bits;
            p
        }
    };
    let pre = super::scratch::prereqs();
    let missing = pre.missing(&[s.fs]);
    if !missing.is_empty() {
        return Err(format!("cannot run: {}", missing.join("; ")));
    }
    let cc = super::scratch::which("cc").ok_or("no cc to compile the reproducer")?;
    let _ = super::scratch::remove_stale();
    super::scratch::install_signal_handlers()?;
    let mut sc = super::scratch::Scratch::new(false)?;
    let c = sc.dir.join("repro.c");
    let exe = sc.dir.join("repro");
    fs::write(&c, src).map_err(|e| format!("write {}: {e}", c.display()))?;
    let out = std::process::Command::new(cc)
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // The program's arguments: the folder of the scratch file, or for a block-device scenario
    // the device (a loop device of its size) or `-p DISK` (a partition it adds to the disk).
    let args: Vec<std::ffi::OsString> = match (device, bdev) {
        (None, false) => vec![sc.get(p.key, &pre)?.mnt.clone().into()],
        (Some(dev), false) => vec![sc.get_on(p.key, &pre, dev)?.mnt.clone().into()],
        (None, true) => vec![sc.bdev(p.key, p.i_size)?.into()],
        (Some(dev), true) => vec!["-p".into(), dev.into()],
    };
    let out = std::process::Command::new(&exe)
        .args(&args)
        .output()
        .map_err(|e| format!("run: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out
        .status
        .code()
        .filter(|c| (0..=2).contains(c))
        .unwrap_or(2);
    let errs = sc.cleanup();
    if !errs.is_empty() {
        return Err(format!("{text}\ncleanup: {}", errs.join("; ")));
    }
    Ok((text, code))
}

/// `diofuzz repro`: a standalone C reproducer for a scenario.
#[derive(clap::Args, Clone, Debug)]
pub struct ReproOpts {
    /// The scenario: readable JSON or corpus bytes
    pub file: PathBuf,
    /// Write the C source to OUT.c (default: stdout)
    #[arg(short = 'o', long = "out", value_name = "OUT.c")]
    pub out: Option<PathBuf>,
    /// Compile it and run it on a scratch filesystem (root); exit 0 REPRODUCED, 1 NOT
    /// REPRODUCED, 2 could not run
    #[arg(long)]
    pub run: bool,
    /// The model variant whose predicted outcome the program checks: a name, BASE+switch=value or
    /// a variant file [default: the one matching `uname -r`, else the newest]
    #[arg(long, value_name = "V", value_parser = crate::cli::one_variant)]
    pub variant: Option<&'static Variant>,
    /// A variant file (a patch described as data) whose predicted outcome the program checks
    #[arg(long, value_name = "FILE", value_parser = crate::cli::variant_file,
          conflicts_with = "variant")]
    pub variant_file: Option<&'static Variant>,
    /// Run it (implies --run) on a filesystem made on this scratch file or block device: a device
    /// with the atomic write units the scenario needs, for example. Everything on it is erased;
    /// only this is written (a block-device scenario: a BLKPG partition of it, `-p DEV`). Needs
    /// --destroy-data
    #[arg(long, value_name = "DEV|FILE")]
    pub device: Option<PathBuf>,
    /// Confirm that the --device may be erased
    #[arg(long, requires = "device")]
    pub destroy_data: bool,
    /// With --run: run it inside a lab kernel under QEMU instead (a Debian version such as 7.3,
    /// or your build's bzImage with --modules); scenarios with device atomic units run on the
    /// scsi_debug atomic disk. See docs/lab.md
    #[arg(
        long,
        value_name = "VERSION|PATH",
        requires = "run",
        conflicts_with = "device"
    )]
    pub kernel: Option<String>,
    /// With --kernel PATH: the build's installed modules folder
    #[arg(long, value_name = "DIR", requires = "kernel")]
    pub modules: Option<PathBuf>,
    /// With --run or --device: build and run this C program instead of the generated one (a
    /// reproducer you edited, e.g. one written with -o). The scenario still chooses the
    /// filesystem, the device and, with --kernel, the guest's set-up
    #[arg(long, value_name = "FILE.c", conflicts_with = "out")]
    pub source: Option<PathBuf>,
    /// A swap-device scenario's device is the hibernation resume device (`live
    /// --hibernate-resume`): the program makes it one through /dev/snapshot after swapon, and
    /// checks the model's outcome for it (a write, not -ETXTBSY)
    #[arg(long)]
    pub hibernate_resume: bool,
}

/// `diofuzz repro FILE [-o OUT] [--run]`.
pub fn main(o: &ReproOpts) -> i32 {
    let (file, out, run) = (o.file.clone(), o.out.clone(), o.run);
    if o.hibernate_resume {
        super::hibernate::enable();
    }
    if o.device.is_some() && !o.destroy_data {
        eprintln!(
            "diofuzz repro: --device {} erases everything on it: add --destroy-data to confirm",
            o.device
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
        return 2;
    }
    let s = match diofuzz::input::load_scenario(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("diofuzz repro: {e}");
            return 2;
        }
    };
    // In a lab kernel the program checks that kernel's variant, not the host's, with the stable
    // backports of that point release (6.17.13: v6.17+6.17.13) when a full release is named.
    let lab_variant = o.kernel.as_deref().and_then(|k| {
        let name = crate::lab::variant_for(k).0;
        let base = diofuzz::variant::by_name(&name)?;
        Some(crate::live::Stable::new(base, k).variant.unwrap_or(base))
    });
    let v = o
        .variant
        .or(o.variant_file)
        .or(lab_variant)
        .unwrap_or_else(default_variant);
    let src = match c_program_for(&s, v) {
        Ok(c) => c,
        Err(e) => {
            // Not a finding and not a bad input: this environment cannot run it.
            eprintln!("diofuzz repro: {}: {e}", file.display());
            return 2;
        }
    };
    let src = match &o.source {
        None => src,
        Some(_) if !run && o.device.is_none() => {
            eprintln!("diofuzz repro: --source runs a program: add --run (or --device)");
            return 2;
        }
        Some(p) => match std::fs::read_to_string(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("diofuzz repro: --source {}: {e}", p.display());
                return 2;
            }
        },
    };
    if let (true, Some(k)) = (run, &o.kernel) {
        return crate::lab::repro_in_kernel(&s, &src, k, o.modules.as_deref());
    }
    if run || o.device.is_some() {
        return match run_on(&s, &src, o.device.as_deref()) {
            Ok((t, code)) => {
                print!("{t}");
                code
            }
            Err(e) => {
                eprintln!("diofuzz repro --run: could not run: {e}");
                2
            }
        };
    }
    match out {
        None => {
            print!("{src}");
            0
        }
        Some(p) => match fs::File::create(&p).and_then(|mut f| f.write_all(src.as_bytes())) {
            Ok(()) => {
                eprintln!("diofuzz repro: wrote {}", p.display());
                0
            }
            Err(e) => {
                eprintln!("diofuzz repro: {}: {e}", p.display());
                3
            }
        },
    }
}

/// Test helper: compiles the generated C program `src` with `cc FLAGS` (adding `-o` unless a
/// flag is `-fsyntax-only`) in a temporary directory of its own and asserts that it builds,
/// showing the compiler's messages if not. Returns false, after printing SKIP, on a machine
/// with no C compiler (`.ci/run` installs one).
#[cfg(test)]
pub(crate) fn assert_c_compiles(name: &str, src: &str, flags: &[&str]) -> bool {
    let Some(cc) = super::scratch::which("cc") else {
        println!("SKIP {name}: no cc");
        return false;
    };
    let dir = std::env::temp_dir().join(format!("diofuzz-cc-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.c"));
    fs::write(&file, src).unwrap();
    let mut cmd = std::process::Command::new(cc);
    cmd.args(flags);
    if !flags.contains(&"-fsyntax-only") {
        cmd.arg("-o").arg(dir.join(name));
    }
    let out = cmd.arg(&file).output().unwrap();
    let _ = fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "cc {flags:?} failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{BlockState, Extent, PageState, Race, Rwf};

    fn sample() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.world.i_size = 16384;
        s.world.inode.reflink = true;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                shared: true,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Unwritten,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            },
        ];
        s.world.pages = vec![PageState::Clean, PageState::None, PageState::Dirty];
        s.world.rlimit_fsize = Some(8192);
        s.request.rwf = Rwf {
            atomic: true,
            ..Default::default()
        };
        s.request.len = 8192;
        s.request.fault_at = Some(4096);
        s.races.push(Race::MmapRedirty);
        s
    }

    /// Session 12: a file on a device of 1 or 2 KiB logical blocks checks the filesystem's
    /// device's logical block size before the call (COULD NOT RUN on another) and says mkfs.xfs
    /// -s size=; a file on 512-byte logical blocks has neither. The program compiles.
    #[test]
    fn small_logical_blocks_are_checked() {
        for (fs, lbs_bits) in [(FsKind::Xfs, 11), (FsKind::Ext4, 10), (FsKind::Xfs, 9)] {
            let mut s = Scenario {
                fs,
                ..Default::default()
            };
            s.world.blkbits = 12;
            s.world.lbs_bits = lbs_bits;
            s.world.i_size = 8192;
            s.request.open.direct = true;
            s.request.pos = 512;
            s.request.len = 1024;
            let c = c_program(&s).unwrap();
            let lbs = 1u32 << lbs_bits;
            let small = lbs_bits != 9;
            assert_eq!(
                c.contains(&format!(
                    "the scenario needs {lbs} (a loop device: losetup -b {lbs})"
                )),
                small,
                "{c}"
            );
            assert_eq!(c.contains("queue/logical_block_size"), small);
            if fs == FsKind::Xfs {
                assert_eq!(c.contains(&format!("-s size={lbs} ")), small, "{c}");
            }
            assert_c_compiles(&format!("lbs{lbs_bits}"), &c, &["-fsyntax-only", "-Wall"]);
        }
    }

    #[test]
    fn generates_c() {
        let c = c_program(&sample()).unwrap();
        assert!(c.contains("pwritev2(cfd, iov, 1, -1, 0x40)"));
        assert!(c.contains("FICLONERANGE"));
        assert!(c.contains("RLIMIT_FSIZE"));
        // aio: io_submit at the request's position.
        let mut s = Scenario::default();
        s.request.aio = true;
        s.request.pos = 8192;
        let a = c_program(&s).unwrap();
        assert!(a.contains("aio_rw(cfd, iov, 1, 8192, 1, 0x0)"), "{a}");
        assert!(a.contains("IOCB_CMD_PWRITEV"));
        assert!(!a.contains("#include <linux/aio_abi.h>"));
        assert!(a.contains("expect_pos = -1;"));
        // No O_LARGEFILE: the ia32 open.
        s.request.open.no_largefile = true;
        let n = c_program(&s).unwrap();
        assert!(n.contains("int cfd = open_compat(path,"), "{n}");
        assert!(n.contains("int $0x80"));
        assert!(!n.contains("opened before the file grew"));
        // With a scaled s_maxbytes the file grows past MAX_NON_LFS after the call's open: the
        // ia32 open comes before the shifted ftruncate, and no second open follows.
        s.world.s_maxbytes = 64 * 4096;
        let g = c_program(&s).unwrap();
        let open = g.find("int cfd = open_compat(path,").expect(&g);
        let grow = g.find("if (ftruncate(fd, ").expect(&g);
        assert!(open < grow, "{g}");
        assert_eq!(g.matches("int cfd =").count(), 1, "{g}");
        assert!(g.contains("opened before the file grew past MAX_NON_LFS"));
    }

    /// A scaled s_maxbytes (extent-mapped) or s_bitmap_maxbytes (block-mapped) is built next to
    /// the real limit as live builds it: shifted set-up and call, the read-back and the verdict
    /// counting from the shift.
    #[test]
    fn shifted_worlds_generate_c() {
        let mut s = super::super::limits::written_8k(true);
        s.world.s_maxbytes = 3 * 4096;
        let d = ((1u64 << 32) - 1 - 3) * 4096;
        let c = c_program(&s).unwrap();
        assert!(c.contains(&format!("\tshift = {d}ULL;")), "{c}");
        assert!(c.contains("shift_unit = 4096;"));
        assert!(c.contains(&format!("ftruncate(fd, {})", d + 8192)));
        assert!(c.contains(&format!("lseek(cfd, {}, SEEK_SET)", d + 8192)));
        assert!(c.contains("expect_size = 12288;"), "the model's size");
        assert!(c.contains("ext4_max_size"));
        let mut s = super::super::limits::written_8k(false);
        s.world.s_bitmap_maxbytes = 3 * 4096;
        let b = c_program(&s).unwrap();
        let d = (1_074_791_436u64 - 3) * 4096;
        assert!(b.contains(&format!("\tshift = {d}ULL;")), "{b}");
        assert!(b.contains("ext4_max_bitmap_size"));
        // Without a scaled limit nothing is shifted.
        s.world.s_bitmap_maxbytes = diofuzz::scenario::HUGE_MAXBYTES;
        assert!(!c_program(&s).unwrap().contains("\tshift ="));
    }

    fn k11() -> Scenario {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../corpus/regressions/live_k11_bdev_atomic_fault_short");
        diofuzz::input::load_scenario(&p).unwrap()
    }

    #[test]
    fn bdev_program_writes_only_the_given_device() {
        let s = k11();
        assert_eq!(s.fs, FsKind::Bdev);
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let c = c_program_for(&s, v).unwrap();
        // The device (or the -p partition) of the scenario's size, content and cache as live
        // sets them up, the atomic direct write, the verdict on the model's outcome.
        assert!(c.contains("static const unsigned long long dev_size = 57344ULL;"));
        assert!(c.contains("if (bdev_size(fd) != dev_size)"));
        assert!(c.contains("POSIX_FADV_RANDOM"));
        assert!(c.contains("wzero(fd, 0, 57344);"));
        assert!(c.contains("wpat(fd, 4096, 4096, 0x11);"));
        assert!(c.contains("pread(fd, pg, 4096, 28672)"));
        assert!(c.contains("open(path, 0x4002 /* O_RDWR|O_DIRECT */)"));
        assert!(c.contains("pwritev2(cfd, iov, 1, -1, 0x42)"));
        assert!(c.contains("mprotect(ub + 12288,"));
        assert!(c.contains("static const long long expect_ret = 12288;"));
        assert!(c.contains("size = bdev_size(cfd);"));
        // Never a file in a folder, never unlinking the device node it was given.
        assert!(!c.contains("prefill_stale(dir)"));
        assert!(!c.contains("futimens"));
        assert!(!c.contains("unlink(path)"));
        assert!(c.contains("part_start = 1048576LL"));
        // A file scenario's program is not a device's.
        let f = c_program(&Scenario::default()).unwrap();
        assert!(!f.contains("bdev_size(fd)"));
        assert!(f.contains("unlink(path)"));
    }

    /// `chattr -j` after open (mount -o remount,delalloc): its +j at open uses `jd_setup`, whose
    /// snprintf into a 4096-byte path gcc -Wall flags as possibly truncated; compiled as
    /// `repro --run` does (-O2).
    #[test]
    fn c_compiles_jflag_cleared_after_open() {
        let s = session6(|s| s.inode_at_open().journal_data && !s.world.inode.journal_data);
        let src = c_program(&s).unwrap();
        assert!(src.contains("MS_REMOUNT") && !src.contains("-O verity"));
        super::assert_c_compiles("jflag-cleared", &src, &["-O2"]);
    }

    /// The first scenario of the session-6 generators that `want` accepts.
    fn session6(want: impl Fn(&Scenario) -> bool) -> Scenario {
        use diofuzz::generators::flags::{generate_jflag, generate_swap};
        (0..2000)
            .flat_map(|i| {
                [
                    generate_swap(5, i, FsKind::Ext4),
                    generate_jflag(5, i),
                    diofuzz::generators::random::generate(5, i, FsKind::Xfs),
                ]
            })
            .find(|s| want(s) && super::super::plan::plan(s).is_ok())
            .expect("the generators draw it")
    }

    #[test]
    fn c_compiles() {
        for (i, s) in [
            sample(),
            Scenario::default(),
            diofuzz::generators::random::generate(3, 5, FsKind::Ext4),
            k11(),
            Scenario {
                request: diofuzz::scenario::Request {
                    aio: true,
                    ..Default::default()
                },
                ..Default::default()
            },
            // A CoW fork to build (cowextsize hint, the GETBMAPX check).
            Scenario::decode(
                &fs::read(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../corpus/regressions/cow_xfs_atomic_unwritten_prealloc"
                ))
                .unwrap(),
            )
            .unwrap(),
            // Injected bio errors (live/repro_fault.rs): a file's and a device's.
            super::super::repro_fault::tests::faulted(FsKind::Xfs),
            super::super::repro_fault::tests::faulted(FsKind::Bdev),
            // Session 6 (generators/flags.rs): swap files (at rest, swapon and swapoff after
            // open), +j and -j (remount) after open, IS_NOSEC cleared and unlink after open.
            session6(|s| s.world.inode.swapfile && s.races.is_empty()),
            session6(|s| s.world.inode.swapfile && !s.races.is_empty()),
            session6(|s| !s.world.inode.swapfile && s.inode_at_open().swapfile),
            session6(|s| s.inode_at_open().nosec && !s.world.inode.nosec),
            session6(|s| s.world.inode.unlinked && s.world.inode.append_only),
            // A shifted window (its probes read from the shift in file blocks).
            {
                let mut s = super::super::limits::written_8k(false);
                s.world.s_bitmap_maxbytes = 3 * 4096;
                s
            },
        ]
        .iter()
        // Pages held during the call and the idle mmap writer (live/pages.rs).
        .chain(super::super::pages::tests::c_scenarios().iter())
        .enumerate()
        {
            let src = c_program(s).unwrap();
            // The tail device's helpers come only with a plan that writes the backing file.
            let tail = repro_plan(s)
                .unwrap()
                .steps
                .iter()
                .any(|st| matches!(st, Step::WriteBacking { .. }));
            assert_eq!(src.contains("backing_fd"), tail, "r{i}");
            assert_eq!(src.contains("tail_edge"), tail, "r{i}");
            super::assert_c_compiles(&format!("r{i}"), &src, &["-Wall", "-Werror", "-O1"]);
        }
    }

    /// An nvme namespace world whose NOWAIT write gaps at the 4 KiB virt boundary (two 4 KiB
    /// segments at offset 8, 8192 bytes at 4096, nothing cached).
    fn gapping() -> Scenario {
        let mut s = super::super::bdev_state::tests::bdev();
        s.world.device.stable_writes = true;
        s.world.device.dma_alignment = super::super::nvme_stable::DMA_ALIGNMENT;
        s.world.device.awu_min = super::super::nvme_stable::ATOMIC_UNIT;
        s.world.device.awu_max = super::super::nvme_stable::ATOMIC_UNIT;
        s.world.pages.clear();
        s.request.pos = 4096;
        s.request.len = 8192;
        s.request.rwf.nowait = true;
        s.request.scatter = Some(diofuzz::scenario::Scatter { segs: 2, offset: 8 });
        s
    }

    /// Session 11: a reproducer whose outcome depends on the virt boundary carries the model's
    /// outcome for the masks 0 and 4095 (v6.12: 8192 and -EAGAIN) and picks the one of the
    /// device's queue/virt_boundary_mask at run time; run with each mask (`vb_pick`, the half
    /// of `vb_select` after the sysfs read) it expects that one, and a third mask is COULD NOT
    /// RUN. A layout that does not gap, and a world not on the namespace, carry one outcome.
    #[test]
    fn the_virt_boundary_outcome_is_picked_by_the_device_mask() {
        for name in ["v6.12", "v7.3"] {
            let v = variant::by_name(name).unwrap();
            let s = gapping();
            let vb = virt_boundary_outcomes(&s, v, true, false).expect("depends on the mask");
            assert_eq!(
                vb.iter().map(|e| (e.mask, e.ret)).collect::<Vec<_>>(),
                [(0, 8192), (4095, -11)],
                "{name}"
            );
            let src = c_program_for(&s, v).unwrap();
            assert!(src.contains("{ 0ULL, 8192LL, \"8192\""), "{name}");
            assert!(src.contains("{ 4095ULL, -11LL, \"-EAGAIN\""), "{name}");
            assert!(
                src.contains("\tif (vb_select(fd))\n\t\treturn 2;\n"),
                "{name}"
            );
            assert!(src.contains("queue/virt_boundary_mask"), "{name}");
            assert!(
                !src.contains("static const long long expect_ret ="),
                "{name}"
            );
            // The choice at run time: the program's own functions, with a main of the test's.
            let test_main = "\nint vb_test_main(void)\n{\n\tif (vb_pick(4095, \"t\") || expect_ret != -11 || strcmp(expect_ret_text, \"-EAGAIN\"))\n\t\treturn 1;\n\tif (vb_pick(0, \"t\") || expect_ret != 8192 || expect_pos != 12288)\n\t\treturn 1;\n\treturn vb_pick(511, \"t\") == 2 ? 0 : 1;\n}\n";
            let prog = format!(
                "{}{test_main}",
                src.replacen("int main(int argc", "int repro_main(int argc", 1)
            )
            .replace("int vb_test_main(void)", "int main(void)");
            let Some(cc) = super::super::scratch::which("cc") else {
                println!("SKIP: no cc");
                return;
            };
            let dir =
                std::env::temp_dir().join(format!("diofuzz-vb-{}-{name}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("t.c"), &prog).unwrap();
            let out = std::process::Command::new(cc)
                .args(["-O1", "-Wall", "-Wno-unused-function", "-o"])
                .arg(dir.join("t"))
                .arg(dir.join("t.c"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let run = std::process::Command::new(dir.join("t")).output().unwrap();
            let _ = fs::remove_dir_all(&dir);
            let text = String::from_utf8_lossy(&run.stdout);
            assert!(run.status.success(), "{name}: {text}");
            assert!(text.contains("virt_boundary_mask 4095 (t): comparing with the model's outcome for it (return -EAGAIN)"), "{text}");
            assert!(text.contains("virt_boundary_mask 0 (t): comparing with the model's outcome for it (return 8192)"), "{text}");
            assert!(text.contains("COULD NOT RUN: the device's queue/virt_boundary_mask is 511; the program has the model's outcome for 0 4095 only"), "{text}");
            super::assert_c_compiles(&format!("vb-{name}"), &src, &["-Wall", "-Werror", "-O1"]);
        }
        // Whole pages: no gap, one outcome.
        let v = variant::by_name("v6.12").unwrap();
        let mut whole = gapping();
        whole.request.scatter = Some(diofuzz::scenario::Scatter { segs: 2, offset: 0 });
        assert!(virt_boundary_outcomes(&whole, v, true, false).is_none());
        let src = c_program_for(&whole, v).unwrap();
        assert!(
            !src.contains("vb_select") && src.contains("static const long long expect_ret = 8192;")
        );
        // Not the namespace (no NOWAIT: zram's stable writes): one outcome.
        let mut z = gapping();
        z.request.rwf.nowait = false;
        assert!(virt_boundary_outcomes(&z, v, false, false).is_none());
    }
}
