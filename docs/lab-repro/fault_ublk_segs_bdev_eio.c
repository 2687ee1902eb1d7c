// SPDX-License-Identifier: GPL-2.0-only
/*
 * diofuzz repro (generated). Scenario:
 *   {"fs":"bdev","world":{"blkbits":12,"lbs_bits":9,"cluster_bits":0,"device":{"awu_min":0,"awu_max":0,"stable_writes":false,"dma_alignment":3},"mount":{"extents_feature":true,"data_journal":false,"dax":false,"shutdown":false,"emergency_ro":false,"inline_crypt":false,"xfs_reflink":true,"xfs_always_cow":false},"inode":{"extents":true,"journal_data":false,"inline_data":false,"encrypted":false,"verity":false,"dax":false,"immutable":false,"append_only":false,"nosec":true,"swapfile":false,"unlinked":false,"disksize_lag":false,"reflink":false},"i_size":176128,"rlimit_fsize":null,"s_maxbytes":17592186040320,"s_bitmap_maxbytes":17592186040320,"blocks":[{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false}],"pages":["none","none","none","none","none","dirty","dirty","clean"]},"request":{"open":{"direct":true,"append":false,"dsync":false,"sync":true,"no_largefile":false},"read":false,"aio":false,"rwf":{"hipri":false,"dsync":false,"sync":false,"nowait":false,"append":false,"noappend":true,"atomic":false,"dontcache":false},"pos":10240,"len":163840,"nr_segs":1,"buf_align":4096,"fault_at":null,"max_bio":null,"scatter":{"segs":320,"offset":1024}},"faults":[{"site":"bio_endio","nth":1,"errno":"EIO"}],"races":[]}
 *
 * Run as root on a scratch block device (a null_blk device of configfs with badblocks_once 1, or for -ENOSPC, -ETIMEDOUT, -EINVAL, -ENOMEM a ublk device of `diofuzz ublk-fault` (the injected fault below)) with logical block size 512:
 *   cc -O2 -o repro repro.c && ./repro DEV      DEV of exactly 176128 bytes, erased
 *   ./repro -p DISK   adds partition 15 of 176128 bytes at byte 1048576 of DISK with
 *                     BLKPG (the partition table is not written), writes only it, removes it
 * Injected fault: the bio at 141312 (32768 bytes) completes with -EIO (bio_endio). The program
 *   makes it on the device under the filesystem (or the device it writes): a null_blk
 *   device of configfs with badblocks_once (-EIO only; the bio's first sector is marked bad),
 *   a scsi_debug disk (debugfs error rule "2 -1 0x9c 0x0 0x0 0x2 0x5 0x0 0x0"
 *   on WRITE ATOMIC(16); not usable here: the faulted bio is not the first REQ_ATOMIC one),
 *   or a ublk device served by `diofuzz ublk-fault` (the sector armed in its arm file; any
 *   of -EIO, -ENOSPC, -ETIMEDOUT, -EINVAL, -ENOMEM), turns queue merging off, and removes
 *   the fault at exit.
 * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,
 * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.
 * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.
 */
/*
 * Expected on v6.18 (6.18), as the diofuzz model predicts it:
 *   return -EIO, file position not compared, i_size 176128,
 *   data (page cache, per 512-byte sector; . = not compared): 00000000000000000000nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn00000000000000000000000000000000000000000000000000000000000000000000
 * The model's findings there: none
 */
#define _GNU_SOURCE
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
 * zeroed show up as 's'. */
static __attribute__((unused)) void prefill_stale(const char *dir)
{
	char p[4096];
	static unsigned char b[1 << 20];
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
	unlink(p);
	sync();
}

/* The page-cache letters of the read-back, for the verdict (4 MiB at most: 8192 sectors). */
static char seen[8193];
/* A scaled s_maxbytes built next to the real limit: every offset of the file is moved by
 * `shift`, and the read-back and the verdict look at the window from there (in whole
 * `shift_unit`s, the filesystem block, so that O_DIRECT does not cross the limit). */
static unsigned long long shift, shift_unit = 4096;

static void show(const char *path, uint64_t size, int direct)
{
	size -= shift;
	uint64_t n = (size + shift_unit - 1) / shift_unit * shift_unit;
	unsigned char *b = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	ssize_t got = 0, r = 0;
	if (b == MAP_FAILED || fd < 0)
		die("read-back");
	while ((uint64_t)got < n && (r = pread(fd, b + got, n - got, shift + got)) > 0)
		got += r;
	if (r < 0)
		printf("read-back%s failed: %s\n", direct ? " (O_DIRECT)" : "", strerror(errno));
	close(fd);
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


static const long long expect_ret = -5;
static const char expect_ret_text[] = "-EIO";
static const long long expect_pos = -1;
static const unsigned long long expect_size = 176128;
static const char expect_data[] = "00000000000000000000nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn00000000000000000000000000000000000000000000000000000000000000000000";

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

static const uint64_t fault_pos = 141312ULL, fault_len = 32768ULL, fault_segs = 64ULL;
static const int fault_errno = 5; /* EIO */
static const int fault_first_atomic = 0;
static const char fault_rule[] = "2 -1 0x9c 0x0 0x0 0x2 0x5 0x0 0x0";
static const char fault_rule_remove[] = "- 2 0x9c";

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

static void wzero(int fd, uint64_t off, uint64_t len)
{
	unsigned char *b = calloc(1, len);
	if (!b)
		die("calloc");
	if (pwrite(fd, b, len, off) != (ssize_t)len)
		die("pwrite zeroes");
	free(b);
}

static const unsigned long long dev_size = 176128ULL;
static const int part_no = 15;
static const long long part_start = 1048576LL;

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

int main(int argc, char **argv)
{
	nonce = (uint32_t)getpid() * 2654435761u;
	const char *path;
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
	wzero(fd, 0, 176128);
	wpat(fd, 20480, 4096, 0x11);
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	wpat(fd, 20480, 4096, 0x22);
	wpat(fd, 24576, 4096, 0x22);
	{
		char pg[4096];
		if (pread(fd, pg, 4096, 28672) < 0)
			die("read page");
	}
	if (fault_arm(fd, 1)) {
		return 2;
	}
	int cfd = open(path, 0x105002 /* O_RDWR|O_DIRECT|O_SYNC */);
	if (cfd < 0)
		die("open");
	lseek(cfd, 10240, SEEK_SET);
	unsigned char *buf = mmap(NULL, 2621440, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	madvise(buf, 2621440, MADV_NOHUGEPAGE); /* no large folio: a bvec per page */
	struct iovec iov[320];
	for (int i = 0; i < 320; i++) { /* 320 iovecs, each in its own pages */
		iov[i].iov_base = buf + (size_t)i * 8192 + 1024;
		iov[i].iov_len = i == 320 - 1 ? 512 : 512;
		pat(iov[i].iov_base, 10240 + (long long)i * 512, iov[i].iov_len, 0x33);
	}
	ssize_t ret;
	int err = 0;
	off_t after;
	int verdict_code = 2;
	ret = pwritev2(cfd, iov, 320, -1, 0x20);
	err = errno;
	after = lseek(cfd, 0, SEEK_CUR);
	printf("pwritev2(pos 10240, len 163840, rwf 0x20) = %zd", ret);
	if (ret < 0)
		printf(" errno %d (%s)", err, strerror(err));
	else
		printf(" (%s; file position now %lld, data expected at 10240)", (size_t)ret == 163840 ? "full" : "SHORT", (long long)after);
	printf("\n");
	int fault_ok = fault_fired();
	unsigned char stx[256] __attribute__((aligned(8)));
	memset(stx, 0, sizeof(stx));
	if (syscall(SYS_statx, cfd, "", AT_EMPTY_PATH, STATX_SIZE_ | STATX_WRITE_ATOMIC_, stx) == 0) {
		uint64_t size, attr;
		uint32_t umin, umax;
		memcpy(&attr, stx + 8, 8);
		memcpy(&size, stx + 40, 8);
		memcpy(&umin, stx + 168, 4);
		memcpy(&umax, stx + 172, 4);
		size = bdev_size(cfd); /* statx gives a device node no size */
		printf("i_size %llu; STATX_WRITE_ATOMIC: %s [%u, %u]\n", (unsigned long long)size,
		       attr & STATX_ATTR_WRITE_ATOMIC_ ? "supported" : "not supported", umin, umax);
		close(cfd);
		show(path, size, 0);
		show(path, size, 1);
		verdict_code = verdict(ret, err, after, size);
	} else {
		printf("statx: %s\nCOULD NOT RUN (statx)\n", strerror(errno));
	}
	if (!fault_ok) {
		printf("COULD NOT RUN: the injected fault did not fire\n");
		verdict_code = 2;
	}
	return verdict_code;
}
