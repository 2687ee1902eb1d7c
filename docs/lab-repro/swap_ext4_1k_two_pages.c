// SPDX-License-Identifier: GPL-2.0-only
/*
 * diofuzz repro (generated). Scenario:
 *   {"fs":"ext4","world":{"blkbits":10,"lbs_bits":9,"cluster_bits":0,"device":{"awu_min":0,"awu_max":0,"stable_writes":false},"mount":{"extents_feature":true,"data_journal":false,"dax":false,"shutdown":false,"emergency_ro":false,"inline_crypt":false,"xfs_reflink":true,"xfs_always_cow":false},"inode":{"extents":true,"journal_data":false,"inline_data":false,"encrypted":false,"verity":false,"dax":false,"immutable":false,"append_only":false,"nosec":true,"swapfile":true,"unlinked":false,"disksize_lag":false,"reflink":false},"i_size":8192,"rlimit_fsize":null,"s_maxbytes":17592186040320,"s_bitmap_maxbytes":17592186040320,"blocks":[{"kind":"written","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false},{"kind":"written","new_extent":false,"shared":false},{"kind":"unwritten","new_extent":false,"shared":false}],"pages":["clean"]},"request":{"open":{"direct":true,"append":false,"dsync":false,"sync":false,"no_largefile":false},"read":false,"aio":false,"rwf":{"hipri":true,"dsync":false,"sync":false,"nowait":false,"append":false,"noappend":false,"atomic":false,"dontcache":false},"pos":9216,"len":2048,"nr_segs":1,"buf_align":4096,"fault_at":null,"max_bio":null},"faults":[],"races":[]}
 *
 * Run on a scratch filesystem: ext4: mkfs.ext4 -b 1024 IMAGE, loop device with logical block size 512,
 * mounted on DIR; then: cc -O2 -o repro repro.c && ./repro DIR
 * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,
 * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.
 * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.
 */
/*
 * Expected on v6.18 (6.18), as the diofuzz model predicts it:
 *   return -ETXTBSY, file position not compared, i_size 8192,
 *   data (page cache, per 512-byte sector; . = not compared): oooooooo00oo00oo
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


static const long long expect_ret = -26;
static const char expect_ret_text[] = "-ETXTBSY";
static const long long expect_pos = -1;
static const unsigned long long expect_size = 8192;
static const char expect_data[] = "oooooooo00oo00oo";

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
#include <sys/swap.h>
static unsigned char swap_before[4096], swap_header[4096], swap_check[4096];
static int swap_written, swap_on;

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
	if (ftruncate(fd, 8192))
		die("ftruncate");
	/* a swap file on blocks smaller than a page: its first 8192 bytes as one physically page-aligned
	 * run (swapon uses the whole pages of contiguous runs only: iomap_swapfile_add_extent) */
	{
		struct { uint64_t start, length; uint32_t flags, mapped, count, reserved;
			struct { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; } ext[32]; } m;
		unsigned long long run = 0, p0, d;
		if (fallocate(fd, 0, 0, 12288))
			die("fallocate");
		memset(&m, 0, sizeof(m));
		m.length = ~0ULL;
		m.count = 32;
		if (ioctl(fd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m))
			die("FIEMAP");
		p0 = m.mapped ? m.ext[0].physical : 0;
		for (unsigned i = 0; i < m.mapped && m.ext[i].logical == run && m.ext[i].physical == p0 + run; i++)
			run += m.ext[i].length;
		d = (4096 - p0 % 4096) % 4096;
		if (d && run >= d + 8192ULL && fallocate(fd, 0x08 /* FALLOC_FL_COLLAPSE_RANGE */, 0, d))
			die("fallocate(FALLOC_FL_COLLAPSE_RANGE)");
		if (ftruncate(fd, 8192) || ftruncate(fd, 8192))
			die("ftruncate");
	}
	wpat(fd, 0, 1024, 0x11);
	wpat(fd, 1024, 1024, 0x11);
	wpat(fd, 2048, 1024, 0x11);
	wpat(fd, 3072, 1024, 0x11);
	wpat(fd, 5120, 1024, 0x11);
	wpat(fd, 7168, 1024, 0x11);
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 4096, 1024))
		die("fallocate");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 6144, 1024))
		die("fallocate");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 1024))
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
	/* a swap file: the header over page 0 (the set-up's page 0 kept for the read-back) */
	if (pread(fd, swap_before, 4096, 0) != 4096)
		die("read page 0");
	memcpy(swap_header, swap_before, 4096);
	{
		uint32_t h[3] = { 1, 1, 0 };
		memcpy(swap_header + 1024, h, sizeof(h));
		memcpy(swap_header + 4086, "SWAPSPACE2", 10);
	}
	if (pwrite(fd, swap_header, 4096, 0) != 4096)
		die("write the swap header");
	swap_written = 1;
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };
		futimens(fd, ts);
	}
	if (swapon(path, 0)) {
		printf("COULD NOT RUN: swapon: %s\n", strerror(errno));
		unlink(path);
		return 2;
	}
	swap_on = 1;
	int cfd = open(path, 0x4002 /* O_RDWR|O_DIRECT */);
	if (cfd < 0)
		die("open");
	lseek(cfd, 9216, SEEK_SET);
	unsigned char *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	struct iovec iov[1];
	unsigned char *ub = buf + 0; /* user buffer alignment */
	pat(ub, 9216, 2048, 0x33);
	iov[0].iov_base = ub + 0;
	iov[0].iov_len = 2048;
	ssize_t ret;
	int err = 0;
	off_t after;
	int verdict_code = 2;
	ret = pwritev2(cfd, iov, 1, -1, 0x1);
	err = errno;
	after = lseek(cfd, 0, SEEK_CUR);
	if (swap_written) {
		if (swap_on && swapoff(path)) {
			int fl = 0;
			/* swapoff opens the file O_RDWR: an append-only one needs chattr -a first */
			if (errno == EPERM && !ioctl(fd, 0x80086601UL, &fl)) {
				fl &= ~0x20;
				ioctl(fd, 0x40086602UL, &fl);
			}
			if (swapoff(path))
				printf("swapoff: %s\n", strerror(errno));
		}
		swap_on = 0;
		if (pread(fd, swap_check, 4096, 0) == 4096 && !memcmp(swap_check, swap_header, 4096)) {
			pwrite(fd, swap_before, 4096, 0);
			fsync(fd);
			printf("page 0 held exactly the swap header the set-up wrote: the set-up's data put back for the read-back\n");
		}
	}
	printf("pwritev2(pos 9216, len 2048, rwf 0x1) = %zd", ret);
	if (ret < 0)
		printf(" errno %d (%s)", err, strerror(err));
	else
		printf(" (%s; file position now %lld, data expected at 9216)", (size_t)ret == 2048 ? "full" : "SHORT", (long long)after);
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
