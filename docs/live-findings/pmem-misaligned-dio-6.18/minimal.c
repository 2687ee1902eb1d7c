// SPDX-License-Identifier: GPL-2.0-only
/*
 * Minimal reproducer for docs/live-findings/pmem-misaligned-dio-6.18: an O_DIRECT write from a
 * user buffer 1 byte off alignment to a regular (not DAX) ext4 file on a pmem device (bio-based,
 * queue/dma_alignment 511). Usage: ./minimal DIR (DIR on ext4 on /dev/pmem0, mounted without
 * dax or with dax=inode). Each case makes its own file, fills it with known "old" bytes by an
 * aligned O_DIRECT write, issues the misaligned write, reads the file back with an aligned
 * O_DIRECT read and prints, per run of 512-byte sectors, what each sector holds: the new data
 * from source offset S (found by searching the sector's first 16 bytes in the source), the old
 * bytes, or something else. Expected on a correct kernel: -EINVAL, or all new data in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/stat.h>

#define PAGE 4096

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = x >> 24;
	}
}

static long where(const unsigned char *src, size_t n, const unsigned char *sec)
{
	unsigned char *m = memmem(src, n, sec, 16);
	return m ? (long)(m - src) : -1;
}

/* old: the file's bytes before the write; src: the new data. */
static int run(const char *dir, const char *name, long pos, long len, long bufoff,
	       long fsize, long unwritten_from, long unwritten_to)
{
	char path[512];
	unsigned char *old, *src, *buf, *back;
	long fend = pos + len > fsize ? pos + len : fsize;
	long span = (fend + PAGE - 1) / PAGE * PAGE;
	int fd, bad = 0;
	ssize_t r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd < 0) { perror("open"); return 2; }
	if (posix_memalign((void **)&old, PAGE, span) || posix_memalign((void **)&buf, PAGE, len + 2 * PAGE) ||
	    posix_memalign((void **)&back, PAGE, span) || !(src = malloc(len)))
		return 2;
	memset(old, 0, span);
	fill(old, unwritten_from, 0x5a5a1234);
	if (pwrite(fd, old, (unwritten_from + PAGE - 1) / PAGE * PAGE, 0) < 0) { perror("prefill"); return 2; }
	if (ftruncate(fd, fsize)) { perror("ftruncate"); return 2; }
	if (unwritten_to > unwritten_from &&
	    fallocate(fd, 1 /* KEEP_SIZE */, unwritten_from, unwritten_to - unwritten_from)) {
		perror("fallocate"); return 2;
	}
	fsync(fd);
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes & STATX_ATTR_DAX)) {
		printf("%s: the file is DAX (not the world this checks)\n", name);
		return 2;
	}
	fill(src, len, 0xc0ffee11);
	memcpy(buf + bufoff, src, len);
	r = pwrite(fd, buf + bufoff, len, pos);
	printf("%s: pwrite(O_DIRECT, buf %% 4096 = %ld, len %ld, pos %ld) = %zd%s%s\n", name, bufoff,
	       len, pos, r, r < 0 ? " errno " : "", r < 0 ? strerror(errno) : "");
	struct stat st;
	fstat(fd, &st);
	printf("%s: i_size %lld\n", name, (long long)st.st_size);
	if (r < 0) { close(fd); return 0; }
	memset(back, 0xee, span);
	if (pread(fd, back, span, 0) < 0) { perror("pread"); return 2; }
	/* Runs of sectors in [pos & ~511, end): "new S..", "old", "zero", "other". */
	long s0 = pos & ~511L, s1 = (pos + len + 511) & ~511L, run_start = s0;
	char prev[64] = "";
	for (long s = s0; s <= s1; s += 512) {
		char what[64];
		if (s == s1) {
			strcpy(what, "end");
		} else {
			long off = s < pos ? pos : s; /* the sector's first byte the write covers */
			long w = where(src, len, back + off);
			static const unsigned char z[16];
			if (off + 16 > pos + len)
				w = -2;
			if (w >= 0)
				snprintf(what, sizeof(what), "new, source offset %ld (want %ld)", w, off - pos);
			else if (!memcmp(back + off, old + off, 16))
				strcpy(what, "OLD bytes (the write never reached them)");
			else if (!memcmp(back + off, z, 16))
				strcpy(what, "zeroes");
			else
				strcpy(what, "other bytes");
			if (w != off - pos)
				bad = 1;
		}
		/* collapse runs: print when the kind changes (new with a constant shift is one run) */
		char kind[64];
		if (!strncmp(what, "new", 3)) {
			long w, want;
			sscanf(what, "new, source offset %ld (want %ld)", &w, &want);
			snprintf(kind, sizeof(kind), "new data shifted by %ld bytes", w - want);
		} else {
			snprintf(kind, sizeof(kind), "%s", what);
		}
		if (strcmp(kind, prev)) {
			if (prev[0])
				printf("%s:   file [%ld, %ld): %s\n", name, run_start, s, prev);
			snprintf(prev, sizeof(prev), "%s", kind);
			run_start = s;
		}
	}
	/* byte-exact check of the whole range */
	long first = -1, nbad = 0;
	for (long i = 0; i < len; i++)
		if (back[pos + i] != src[i]) { if (first < 0) first = pos + i; nbad++; }
	printf("%s: %ld of %ld bytes in [%ld, %ld) differ from the data written (first at %ld)\n",
	       name, nbad, len, pos, pos + len, first);
	close(fd);
	return bad || nbad;
}

int main(int argc, char **argv)
{
	char dir[512];
	int wrong = 0;
	struct fsxattr fa;
	int dfd;

	/* A directory without FS_XFLAG_DAX: its new files are not DAX on a dax=inode mount. */
	snprintf(dir, sizeof(dir), "%s/nodax", argc > 1 ? argv[1] : ".");
	mkdir(dir, 0700);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0 && ioctl(dfd, FS_IOC_FSGETXATTR, &fa) == 0 && (fa.fsx_xflags & FS_XFLAG_DAX)) {
		fa.fsx_xflags &= ~FS_XFLAG_DAX;
		ioctl(dfd, FS_IOC_FSSETXATTR, &fa);
	}
	if (dfd >= 0)
		close(dfd);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "echo kernel: $(uname -r); echo file system on: $(df %s | tail -1); "
	       "echo pmem0 queue/dma_alignment: $(cat /sys/block/pmem0/queue/dma_alignment 2>/dev/null); "
	       "echo -n 'kallsyms (iov_iter_is_aligned, bio_split_io_at, iov_iter_extract_bvecs): '; "
	       "for s in iov_iter_is_aligned bio_split_io_at iov_iter_extract_bvecs; do "
	       "grep -qw $s /proc/kallsyms && echo -n \"$s \"; done; echo", dir);
	system(cmd);
	/* control: the same write from an aligned buffer */
	wrong |= run(dir, "aligned", 8192, 24576, 0, 40960, 40960, 0) ? 1 : 0;
	/* all blocks written before: the data's placement */
	wrong |= run(dir, "off1", 8192, 24576, 1, 40960, 40960, 0) ? 2 : 0;
	/* the lab scenario gen-22-ext4-18: pos 6656, 24576 bytes, i_size 8192, blocks 2-5
	 * unwritten (fallocate KEEP_SIZE), nothing allocated past them */
	wrong |= run(dir, "gen22", 6656, 24576, 1, 8192, 8192, 24576) ? 4 : 0;
	printf(wrong & 6 ? "REPRODUCED: a misaligned O_DIRECT write succeeded with its data misplaced\n"
			 : "NOT REPRODUCED\n");
	return 0;
}
