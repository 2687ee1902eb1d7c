// SPDX-License-Identifier: GPL-2.0-only
/*
 * docs/live-findings/pmem-misaligned-dio-6.18, the other bio-based drivers: an O_DIRECT write
 * from a user buffer OFF bytes into a page, straight to a block device, and where each 512-byte
 * sector of the written range ends up coming from.
 *
 * Usage: ./zram-brd [BLOCKDEV]
 *   BLOCKDEV (optional): a device to test as well, e.g. a loop device (blk-mq: the control).
 *   The program then makes a zram device of its own (hot_add, 4 MiB, hot_remove at the end) and,
 *   when the brd module is not loaded yet and `modprobe brd` works, a brd ram disk (rmmod at the
 *   end). Root. Nothing else is touched.
 *
 * Each case fills a page-aligned area with pseudo-random bytes, zeroes the device range, writes
 * LEN bytes from area + OFF at POS with O_DIRECT, reads the range back with an aligned O_DIRECT
 * read and prints one line per 4 KiB of the range: for each sector, where in the area its first
 * 64 bytes are found, relative to where its own data starts in the area ("=" its own data,
 * "+N" / "-N" the data N bytes later / earlier in the area, "z" zeroes, "?" found nowhere).
 * A correct kernel gives -EINVAL or "=" everywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PG 4096
#define LEN (4 * PG)
#define POS PG
static unsigned char *area;
static const size_t area_len = LEN + 3 * PG;

static void fill(void)
{
	uint32_t x = 0x12345678;
	for (size_t i = 0; i < area_len; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		area[i] = x >> 24;
	}
}

static int case_(const char *dev, long off)
{
	unsigned char *z, *rb;
	int fd = open(dev, O_RDWR | O_DIRECT), bad = 0;
	ssize_t r;

	if (fd < 0) { perror(dev); return 2; }
	if (posix_memalign((void **)&z, PG, POS + LEN + PG) || posix_memalign((void **)&rb, PG, LEN))
		return 2;
	memset(z, 0, POS + LEN + PG);
	if (pwrite(fd, z, POS + LEN + PG, 0) != POS + LEN + PG) { perror("zero"); return 2; }
	fill();
	r = pwrite(fd, area + off, LEN, POS);
	printf("  buffer %ld bytes into a page: pwrite(O_DIRECT, %d bytes at %d) = %zd%s%s\n", off, LEN, POS, r,
	       r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
	if (pread(fd, rb, LEN, POS) != LEN) { perror("pread"); return 2; }
	for (long p = 0; p < LEN; p += PG) {
		printf("    device page %ld:", (POS + p) / PG);
		for (long s = p; s < p + PG; s += 512) {
			static const unsigned char zero[64];
			unsigned char *m = memmem(area, area_len, rb + s, 64);
			long own = off + s;
			if (!memcmp(rb + s, zero, 64)) printf(" z");
			else if (!m) printf(" ?");
			else if (m - area == own) printf(" =");
			else printf(" %+ld", (long)(m - area) - own);
			bad |= !m || m - area != own || memcmp(rb + s, area + own, 512);
		}
		printf("\n");
	}
	close(fd);
	free(z);
	free(rb);
	return bad;
}

static int all(const char *what, const char *dev)
{
	static const long offs[] = { 0, 1, 8, 512, 1537 };
	char q[256];
	int bad = 0;
	snprintf(q, sizeof(q), "%s/queue/dma_alignment", what);
	printf("%s (%s):\n", dev, what);
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		bad |= case_(dev, offs[i]) == 1;
	return bad;
}

static int sysnode(const char *sys, const char *node)
{
	char p[256], b[64];
	unsigned ma, mi;
	FILE *f;
	snprintf(p, sizeof(p), "%s/dev", sys);
	if (!(f = fopen(p, "r")) || !fgets(b, sizeof(b), f) || sscanf(b, "%u:%u", &ma, &mi) != 2) return -1;
	fclose(f);
	unlink(node);
	return mknod(node, S_IFBLK | 0600, makedev(ma, mi));
}

static void show(const char *sys)
{
	char p[256], b[64];
	const char *attr[] = { "queue/logical_block_size", "queue/dma_alignment", "queue/stable_writes" };
	for (int i = 0; i < 3; i++) {
		FILE *f;
		snprintf(p, sizeof(p), "%s/%s", sys, attr[i]);
		if ((f = fopen(p, "r")) && fgets(b, sizeof(b), f)) printf("  %s %s", attr[i], b);
		if (f) fclose(f);
	}
}

int main(int argc, char **argv)
{
	char sys[128], cmd[256];
	int bad = 0, id = -1;
	FILE *f;

	if (posix_memalign((void **)&area, PG, area_len)) return 2;
	if (argc > 1) {
		const char *b = strrchr(argv[1], '/');
		snprintf(sys, sizeof(sys), "/sys/class/block/%s", b ? b + 1 : argv[1]);
		show(sys);
		all(sys, argv[1]);
	}
	/* zram: a device of our own. */
	if (access("/sys/class/zram-control", F_OK)) system("modprobe zram num_devices=0 2>/dev/null");
	if ((f = fopen("/sys/class/zram-control/hot_add", "r")) && fscanf(f, "%d", &id) == 1) {
		fclose(f);
		snprintf(cmd, sizeof(cmd), "echo 4M > /sys/block/zram%d/disksize", id);
		snprintf(sys, sizeof(sys), "/sys/block/zram%d", id);
		if (system(cmd) == 0 && sysnode(sys, "/tmp/zram-brd-zram") == 0) {
			show(sys);
			bad |= all(sys, "/tmp/zram-brd-zram");
		}
		unlink("/tmp/zram-brd-zram");
		snprintf(cmd, sizeof(cmd), "echo %d > /sys/class/zram-control/hot_remove", id);
		system(cmd);
	} else {
		printf("no zram\n");
	}
	/* brd: only when we load it (a loaded brd's disks are someone else's). */
	if (access("/sys/module/brd", F_OK) && system("modprobe brd rd_nr=1 rd_size=1024 max_part=0 2>/dev/null") == 0) {
		if (sysnode("/sys/block/ram0", "/tmp/zram-brd-ram0") == 0) {
			show("/sys/block/ram0");
			bad |= all("/sys/block/ram0", "/tmp/zram-brd-ram0");
		}
		unlink("/tmp/zram-brd-ram0");
		system("rmmod brd");
	} else {
		printf("no brd (not built, or already loaded)\n");
	}
	printf("%s\n", bad ? "MISPLACED DATA" : "all in place or refused");
	return bad;
}
