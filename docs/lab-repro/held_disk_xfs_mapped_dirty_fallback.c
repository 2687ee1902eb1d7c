// SPDX-License-Identifier: GPL-2.0-only
/*
 * diofuzz repro (generated). Scenario:
 *   {"fs":"xfs","world":{"blkbits":12,"lbs_bits":9,"cluster_bits":0,"device":{"awu_min":1024,"awu_max":65536,"stable_writes":false,"dma_alignment":3},"mount":{"extents_feature":true,"data_journal":false,"dax":false,"shutdown":false,"emergency_ro":false,"inline_crypt":false,"xfs_reflink":true,"xfs_always_cow":false},"inode":{"extents":true,"journal_data":false,"inline_data":false,"encrypted":false,"verity":false,"dax":false,"immutable":false,"append_only":false,"nosec":true,"swapfile":false,"unlinked":false,"disksize_lag":false,"reflink":false},"i_size":20480,"rlimit_fsize":null,"s_maxbytes":17592186040320,"s_bitmap_maxbytes":17592186040320,"blocks":[{"kind":"hole","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false}],"pages":["clean","none","clean","mapped_dirty"]},"request":{"open":{"direct":true,"append":false,"dsync":false,"sync":false,"no_largefile":false},"read":false,"aio":false,"rwf":{"hipri":false,"dsync":false,"sync":false,"nowait":false,"append":false,"noappend":false,"atomic":false,"dontcache":false},"pos":12288,"len":20480,"nr_segs":2,"buf_align":4096,"fault_at":null,"max_bio":null},"faults":[],"races":[]}
 *
 * Run on a scratch filesystem: XFS: mkfs.xfs -b size=4096 -m reflink=1 IMAGE, a block device with atomic writes (atomic_write_unit_min/max_bytes 1024/65536; a loop device has none: an NVMe or SCSI disk, or a VM disk with atomic writes) with logical block size 512,
 * mounted on DIR; then: cc -O2 -o repro repro.c && ./repro DIR
 * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,
 * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.
 * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.
 */
/*
 * Expected on v6.18 (6.18), as the diofuzz model predicts it:
 *   return 20480, file position 32768, i_size 32768,
 *   data (page cache, per 512-byte sector; . = not compared): 000000000000000000000000nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn
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


static const long long expect_ret = 20480;
static const char expect_ret_text[] = "20480";
static const long long expect_pos = 32768;
static const unsigned long long expect_size = 32768;
static const char expect_data[] = "000000000000000000000000nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

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

#include <pthread.h>
#include <sys/sysmacros.h>
#define FIFREEZE_ 0xC0045877UL
#define FITHAW_ 0xC0045878UL
/* The hold (diofuzz tools/src/live/pages.rs): the file's loop device is backed by a file on a
 * lower filesystem; freezing that one keeps every write bio of this filesystem in flight. A
 * watchdog thread always thaws: once the call is blocked (D state), or 1.5 s after it started,
 * or 5 s after the freeze. */
static int hold_lower = -1;
static volatile int hold_go, hold_done, hold_restored, hold_blocked;
static pid_t hold_tid;
static pthread_t hold_thr;
static struct { unsigned char *m; unsigned char *d; size_t len; } hold_maps[64];
static int hold_nmaps;

static void hold_thaw(void)
{
	if (hold_lower >= 0)
		ioctl(hold_lower, FITHAW_, 0);
	if (hold_scsi[0])
		hold_scsi_open();
}

static int hold_lower_fd(const char *path)
{
	struct stat st;
	char sys[128], b[4096];
	if (stat(path, &st))
		return -1;
	/* A block device (diofuzz live --fs bdev) is the loop device itself. */
	dev_t d = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file", major(d), minor(d));
	int f = open(sys, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t n = read(f, b, sizeof(b) - 1);
	close(f);
	if (n <= 0)
		return -1;
	b[n] = 0;
	if (b[n - 1] == '\n')
		b[n - 1] = 0;
	char *slash = strrchr(b, '/');
	if (!slash)
		return -1;
	*slash = 0;
	return open(b, O_RDONLY | O_DIRECTORY);
}

static uint64_t hold_kpf(int fd, off_t off)
{
	unsigned char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, off);
	uint64_t e = 0, fl = 0;
	if (m == MAP_FAILED)
		return 0;
	madvise(m, 4096, MADV_RANDOM);
	(void)*(volatile unsigned char *)m;
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	if (pm >= 0 && pread(pm, &e, 8, (uintptr_t)m / 4096 * 8) == 8 && (e >> 63) && kf >= 0)
		pread(kf, &fl, 8, (e & ((1ULL << 55) - 1)) * 8);
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	munmap(m, 4096);
	return fl;
}

static int hold_under_writeback(int fd, off_t off)
{
	return (hold_kpf(fd, off) >> 8) & 1; /* KPF_WRITEBACK */
}

/* A held page must be a folio of its own (the scenario's states are per 4 KiB page). */
static void hold_own_folio(int fd, off_t off)
{
	if (hold_kpf(fd, off) & (3ULL << 15)) { /* KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL */
		printf("COULD NOT RUN: the held page at %lld is part of a large folio: it shares its state with its neighbours\n", (long long)off);
		exit(2);
	}
}

static char hold_state(void)
{
	char p[64], b[512];
	snprintf(p, sizeof(p), "/proc/self/task/%d/stat", (int)hold_tid);
	int f = open(p, O_RDONLY);
	if (f < 0)
		return 0;
	ssize_t n = read(f, b, sizeof(b) - 1);
	close(f);
	if (n <= 0)
		return 0;
	b[n] = 0;
	char *c = strrchr(b, ')');
	return c && c[1] == ' ' ? c[2] : 0;
}

static void *hold_restore(void *a)
{
	(void)a;
	/* A store that changes nothing: the folio is dirty again, and what the call copied into
	 * it by now stays. */
	for (int i = 0; i < hold_nmaps; i++)
		for (size_t j = 0; j < hold_maps[i].len; j += 4096) {
			volatile unsigned char *p = hold_maps[i].m + j;
			*p = *p;
		}
	hold_restored = 1;
	return NULL;
}

static long long hold_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void *hold_watch(void *a)
{
	(void)a;
	long long t0 = hold_ms(), started = -1;
	int seen = 0;
	while (!hold_done && hold_ms() - t0 < 5000 && (started < 0 || hold_ms() - started < 1500)) {
		usleep(3000);
		if (started < 0) {
			if (hold_go)
				started = hold_ms();
			continue;
		}
		if (hold_state() == 'D') {
			if (++seen >= 3) {
				hold_blocked = 1;
				break;
			}
		} else {
			seen = 0;
		}
	}
	if (hold_blocked && hold_nmaps) {
		/* Dirty again while the flush waits, in a thread of its own. */
		pthread_t r;
		pthread_create(&r, NULL, hold_restore, NULL);
		long long t1 = hold_ms();
		while (!hold_restored && hold_ms() - t1 < 500)
			usleep(3000);
		hold_thaw();
		pthread_join(r, NULL);
	} else {
		hold_thaw();
	}
	return NULL;
}

/* Store `tag` data through a kept shared mapping of [off, off+len) (page_mkwrite). */
static __attribute__((unused)) void hold_map(int fd, off_t off, size_t len, unsigned char tag)
{
	unsigned char *m = mmap(NULL, (len + 4095) & ~4095UL, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (m == MAP_FAILED)
		die("mmap shared");
	madvise(m, (len + 4095) & ~4095UL, MADV_RANDOM); /* no read-around on the fault */
	unsigned char *d = malloc(len);
	pat(d, off, len, tag);
	memcpy(m, d, len);
	for (size_t j = 0; j < len; j += 4096)
		hold_own_folio(fd, off + j);
	hold_maps[hold_nmaps].m = m;
	hold_maps[hold_nmaps].d = d;
	hold_maps[hold_nmaps++].len = len;
}

/* Freeze the lower filesystem of `path` (or hold the writes of its scsi_debug disk); 0, or 2
 * when the file is on neither. */
static int hold_freeze(const char *path)
{
	hold_lower = hold_lower_fd(path);
	if (hold_lower < 0 && hold_scsi_find(path) == 0) {
		atexit(hold_thaw);
		if (hold_scsi_close())
			die("scsi_debug error file");
		printf("hold: the write commands of the scsi_debug disk are held (%s)\n", hold_scsi);
		return 0;
	}
	if (hold_lower < 0) {
		printf("COULD NOT RUN: the file is neither on a loop device whose backing file lies on a filesystem that can be frozen nor on a scsi_debug disk with a debugfs error file (run it with `diofuzz repro --run`)\n");
		return 2;
	}
	atexit(hold_thaw);
	if (ioctl(hold_lower, FIFREEZE_, 0))
		die("FIFREEZE");
	return 0;
}

static __attribute__((unused)) void hold_writeback(int fd, off_t off, off_t len)
{
	for (off_t j = 0; j < len; j += 4096)
		hold_own_folio(fd, off + j);
	if (sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE))
		die("sync_file_range");
	int w = hold_under_writeback(fd, off);
	printf("page at %lld under writeback: %s\n", (long long)off, w > 0 ? "yes" : w == 0 ? "NO" : "unknown");
}

static void hold_start(void)
{
	hold_tid = (pid_t)syscall(SYS_gettid);
	pthread_create(&hold_thr, NULL, hold_watch, NULL);
}

static void hold_end(void)
{
	hold_done = 1;
	pthread_join(hold_thr, NULL);
	hold_thaw();
	printf("hold: the call was %sblocked on the held I/O%s\n", hold_blocked ? "" : "not ", hold_restored ? "; the mapped pages were stored to again" : "");
}

int main(int argc, char **argv)
{
	nonce = (uint32_t)getpid() * 2654435761u;
	const char *dir = argc > 1 ? argv[1] : ".";
	const char *mnt = dir;
	(void)mnt;
	prefill_stale(dir);
	char path[4096], donor[4096];
	snprintf(path, sizeof(path), "%s/diofuzz-repro-%d", dir, (int)getpid());
	snprintf(donor, sizeof(donor), "%s/diofuzz-repro-donor-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		die("create");
	if (ftruncate(fd, 20480))
		die("ftruncate");
	wpat(fd, 16384, 4096, 0x11);
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 4096, 4096))
		die("fallocate");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 12288, 4096))
		die("fallocate");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 20480, 8192))
		die("fallocate");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 32768, 4096))
		die("fallocate");
	if (fsync(fd))
		die("fsync");
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	{
		char pg[4096];
		if (pread(fd, pg, 4096, 0) < 0)
			die("read page");
	}
	{
		char pg[4096];
		if (pread(fd, pg, 4096, 8192) < 0)
			die("read page");
	}
	{
		char got[4097];
		cow_fork(fd, 4096, got, sizeof(got));
		if (strcmp(got, "?")) {
			printf("CoW fork (one letter per block): %s\n", *got ? got : "empty");
			if (strcmp(got, "")) {
				printf("COULD NOT RUN: the kernel built the CoW fork %s, the scenario's is empty\n", *got ? got : "empty");
				unlink(path);
				unlink(donor);
				return 2;
			}
		} else {
			long long k = cow_count(fd, 4096);
			printf("CoW fork: %lld blocks (the scenario's empty: 0)\n", k);
			if (k != 0) {
				printf("COULD NOT RUN: the kernel's CoW fork holds %lld blocks, the scenario's 0\n", k);
				unlink(path);
				unlink(donor);
				return 2;
			}
		}
	}
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };
		futimens(fd, ts);
	}
	int cfd = open(path, 0x4002 /* O_RDWR|O_DIRECT */);
	if (cfd < 0)
		die("open");
	lseek(cfd, 12288, SEEK_SET);
	unsigned char *buf = mmap(NULL, 24576, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	unsigned char *ub = buf + 0; /* user buffer alignment */
	pat(ub, 12288, 20480, 0x33);
	struct iovec iov[2];
	iov[0].iov_base = ub + 0;
	iov[0].iov_len = 10240;
	iov[1].iov_base = ub + 10240;
	iov[1].iov_len = 10240;
	hold_map(fd, 12288, 4096, 0x22);
	if (hold_freeze(path)) {
		unlink(path);
		return 2;
	}
	hold_start();
	hold_go = 1;
	ssize_t ret;
	int err = 0;
	off_t after;
	int verdict_code = 2;
	ret = pwritev2(cfd, iov, 2, -1, 0x0);
	err = errno;
	after = lseek(cfd, 0, SEEK_CUR);
	hold_end();
	printf("pwritev2(pos 12288, len 20480, rwf 0x0) = %zd", ret);
	if (ret < 0)
		printf(" errno %d (%s)", err, strerror(err));
	else
		printf(" (%s; file position now %lld, data expected at 12288)", (size_t)ret == 20480 ? "full" : "SHORT", (long long)after);
	printf("\n");
	unsigned char stx[256] __attribute__((aligned(8)));
	memset(stx, 0, sizeof(stx));
	if (syscall(SYS_statx, cfd, "", AT_EMPTY_PATH, STATX_SIZE_ | STATX_WRITE_ATOMIC_, stx) == 0) {
		uint64_t size, attr;
		uint32_t umin, umax;
		memcpy(&attr, stx + 8, 8);
		memcpy(&size, stx + 40, 8);
		memcpy(&umin, stx + 168, 4);
		memcpy(&umax, stx + 172, 4);
		printf("i_size %llu; STATX_WRITE_ATOMIC: %s [%u, %u]\n", (unsigned long long)size,
		       attr & STATX_ATTR_WRITE_ATOMIC_ ? "supported" : "not supported", umin, umax);
		close(cfd);
		show(path, size, 0);
		show(path, size, 1);
		verdict_code = verdict(ret, err, after, size);
	} else {
		printf("statx: %s\nCOULD NOT RUN (statx)\n", strerror(errno));
	}
	close(fd);
	unlink(path);
	unlink(donor);
	return verdict_code;
}
