// SPDX-License-Identifier: GPL-2.0-only
/*
 * diofuzz repro (generated). Scenario:
 *   {"fs":"bdev","world":{"blkbits":12,"lbs_bits":12,"cluster_bits":0,"device":{"awu_min":0,"awu_max":0,"stable_writes":true,"no_bio_split":true},"mount":{"extents_feature":true,"data_journal":false,"dax":false,"shutdown":false,"emergency_ro":false,"inline_crypt":false,"xfs_reflink":true,"xfs_always_cow":false},"inode":{"extents":true,"journal_data":false,"inline_data":false,"encrypted":false,"verity":false,"dax":false,"immutable":false,"append_only":false,"nosec":true,"swapfile":false,"unlinked":false,"disksize_lag":false,"reflink":false},"i_size":24576,"rlimit_fsize":null,"s_maxbytes":17592186040320,"s_bitmap_maxbytes":17592186040320,"blocks":[{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false}],"pages":["none","none","none","none","dirty"]},"request":{"open":{"direct":true,"append":false,"dsync":false,"sync":false,"no_largefile":false},"read":false,"aio":false,"rwf":{"hipri":false,"dsync":false,"sync":false,"nowait":false,"append":false,"noappend":false,"atomic":false,"dontcache":false},"pos":16384,"len":16384,"nr_segs":1,"buf_align":4096,"fault_at":null,"max_bio":null,"scatter":{"segs":32,"offset":512}},"faults":[],"races":[]}
 *
 * Run as root on a scratch block device (a zram device (BLK_FEAT_STABLE_WRITES from zram_add, so the page cache has AS_STABLE_WRITES: echo $SIZE > /sys/block/zramN/disksize after cat /sys/class/zram-control/hot_add; a loop device's queue/stable_writes does not reach its page cache)) with logical block size 4096:
 *   cc -O2 -o repro repro.c && ./repro DEV      DEV of exactly 24576 bytes, erased
 *   ./repro -p DISK   adds partition 15 of 24576 bytes at byte 1048576 of DISK with
 *                     BLKPG (the partition table is not written), writes only it, removes it
 * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,
 * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.
 * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.
 */
/*
 * Expected on v6.18 (6.18), as the diofuzz model predicts it:
 *   return 8192, file position 24576, i_size 24576,
 *   data (page cache, per 512-byte sector; . = not compared): 0000000000000000oooooooo000000000?0000000?000000
 * The model's findings there: O6 (accounting is wrong): byte 16384 should hold the new data but holds tag 0
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
	uint64_t dn = n;
	unsigned char *b = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	ssize_t got = 0, r = 0;
	if (b == MAP_FAILED || fd < 0)
		die("read-back");
	while ((uint64_t)got < dn && (r = pread(fd, b + got, dn - got, shift + got)) > 0)
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


static const long long expect_ret = 8192;
static const char expect_ret_text[] = "8192";
static const long long expect_pos = 24576;
static const unsigned long long expect_size = 24576;
static const char expect_data[] = "0000000000000000oooooooo000000000?0000000?000000";

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

static void wzero(int fd, uint64_t off, uint64_t len)
{
	unsigned char *b = calloc(1, len);
	if (!b)
		die("calloc");
	if (pwrite(fd, b, len, off) != (ssize_t)len)
		die("pwrite zeroes");
	free(b);
}

static const unsigned long long dev_size = 24576ULL;
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

/* Post-call probes (docs/live.md "Post-call probes"). */
struct probe_fiemap_extent { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; };
struct probe_fiemap { uint64_t start, length; uint32_t flags, mapped, count, reserved; struct probe_fiemap_extent ext[128]; };

/* [from, from + len) with O_DIRECT, in whole shift_units (the filesystem block of a shifted
 * window, else a page). */
static unsigned char *probe_read(const char *path, uint64_t from, uint64_t len)
{
	uint64_t n = (len + shift_unit - 1) / shift_unit * shift_unit + 4096;
	unsigned char *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	ssize_t got = 0, r;
	if (b == MAP_FAILED || pfd < 0)
		die("probe read");
	while ((uint64_t)got < len && (r = pread(pfd, b + got, n - 4096 - got, from + got)) > 0)
		got += r;
	close(pfd);
	return b;
}

/* i_size, or a block device's size (BLKGETSIZE64). */
static uint64_t probe_size(const char *path, int bdev)
{
	struct stat st;
	uint64_t n = 0;
	int pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) || (bdev && ioctl(pfd, 0x80081272UL, &n)))
		die("probe size");
	close(pfd);
	return bdev ? n : (uint64_t)st.st_size;
}

/* P1's first read, right after the read-back and before P2 (as live takes it). */
struct probe_before { uint64_t size; unsigned char *b; };

static struct probe_before probe_p1_before(const char *path, int bdev)
{
	struct probe_before a;
	a.size = probe_size(path, bdev);
	a.b = probe_read(path, shift, a.size - shift);
	return a;
}

static void probe_p1(const char *path, int bdev, struct probe_before a)
{
	uint64_t s1 = probe_size(path, bdev), s2, n;
	int pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0 || (bdev ? fsync(pfd) || ioctl(pfd, 0x1261UL /* BLKFLSBUF */, 0) : syncfs(pfd)))
		die("probe sync");
	posix_fadvise(pfd, 0, 0, POSIX_FADV_DONTNEED);
	close(pfd);
	int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (dc < 0 || write(dc, "3", 1) != 1)
		printf("PROBE P1: drop_caches failed (not root?): %s\n", strerror(errno));
	if (dc >= 0)
		close(dc);
	s2 = probe_size(path, bdev);
	if (s1 != s2) {
		printf("PROBE P1 FINDING: size %llu before the flush and drop_caches, %llu after\n",
		       (unsigned long long)s1, (unsigned long long)s2);
		return;
	}
	n = a.size < s2 ? a.size : s2;
	unsigned char *b = probe_read(path, shift, n - shift);
	for (uint64_t s = 0; shift + s * 512 < n; s++) {
		uint64_t len = n - shift - s * 512 < 512 ? n - shift - s * 512 : 512;
		if (memcmp(a.b + s * 512, b + s * 512, len)) {
			printf("PROBE P1 FINDING: after the flush and drop_caches sector %llu (byte %llu) reads '%c', before '%c'\n",
			       (unsigned long long)(shift / 512 + s), (unsigned long long)(shift + s * 512),
			       classify(b + s * 512, shift / 512 + s, len), classify(a.b + s * 512, shift / 512 + s, len));
			return;
		}
	}
	printf("PROBE P1 ok: the O_DIRECT read-back is unchanged by the flush and drop_caches\n");
}

/* unused where P2 does not apply (a block device) */
static void __attribute__((unused)) probe_p2(const char *path, unsigned bs)
{
	static struct probe_fiemap m;
	struct stat st;
	int pfd = open(path, O_RDWR | O_CLOEXEC);
	memset(&m, 0, sizeof(m));
	m.length = ~0ULL;
	m.count = 128;
	if (pfd < 0 || fstat(pfd, &st) || ioctl(pfd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m) || m.mapped >= 128) {
		printf("PROBE P2 not run: %s\n", strerror(errno));
		return;
	}
	uint64_t size = st.st_size, end = (size + bs - 1) / bs * bs;
	for (unsigned i = 0; i < m.mapped; i++)
		if (m.ext[i].logical + m.ext[i].length > end)
			end = m.ext[i].logical + m.ext[i].length;
	if (end > size + (16 << 20))
		end = size + (16 << 20);
	if (end <= size) {
		printf("PROBE P2 not run: nothing past EOF\n");
		close(pfd);
		return;
	}
	if (ftruncate(pfd, end)) {
		printf("PROBE P2 not run: ftruncate: %s\n", strerror(errno));
		close(pfd);
		return;
	}
	fsync(pfd);
	posix_fadvise(pfd, 0, 0, POSIX_FADV_DONTNEED);
	close(pfd);
	uint64_t from = size / bs * bs;
	unsigned char *b = probe_read(path, from, end - from);
	for (uint64_t i = size - from; i < end - from; i++)
		if (b[i]) {
			printf("PROBE P2 FINDING: ftruncate %llu -> %llu: byte %llu reads 0x%02x (0x55: the device's stale fill)\n",
			       (unsigned long long)size, (unsigned long long)end, (unsigned long long)(from + i), b[i]);
			return;
		}
	printf("PROBE P2 ok: ftruncate %llu -> %llu reads zeroes\n", (unsigned long long)size, (unsigned long long)end);
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
	wzero(fd, 0, 24576);
	wpat(fd, 8192, 4096, 0x11);
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	wpat(fd, 16384, 4096, 0x22);
	int cfd = open(path, 0x4002 /* O_RDWR|O_DIRECT */);
	if (cfd < 0)
		die("open");
	lseek(cfd, 16384, SEEK_SET);
	unsigned char *buf = mmap(NULL, 262144, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	madvise(buf, 262144, MADV_NOHUGEPAGE); /* no large folio: a bvec per page */
	struct iovec iov[32];
	for (int i = 0; i < 32; i++) { /* 32 iovecs, each in its own pages */
		iov[i].iov_base = buf + (size_t)i * 8192 + 512;
		iov[i].iov_len = i == 32 - 1 ? 512 : 512;
		pat(iov[i].iov_base, 16384 + (long long)i * 512, iov[i].iov_len, 0x33);
	}
	ssize_t ret;
	int err = 0;
	off_t after;
	int verdict_code = 2;
	ret = pwritev2(cfd, iov, 32, -1, 0x0);
	err = errno;
	after = lseek(cfd, 0, SEEK_CUR);
	printf("pwritev2(pos 16384, len 16384, rwf 0x0) = %zd", ret);
	if (ret < 0)
		printf(" errno %d (%s)", err, strerror(err));
	else
		printf(" (%s; file position now %lld, data expected at 16384)", (size_t)ret == 16384 ? "full" : "SHORT", (long long)after);
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
	struct probe_before p1b = probe_p1_before(path, 1);
	printf("PROBE P2 not run: %s\n", "a block device has no ftruncate (its size is the device's)");
	probe_p1(path, 1, p1b);
	return verdict_code;
}
