// SPDX-License-Identifier: GPL-2.0-only
/*
 * ext4 inline data, block size < PAGE_SIZE: a buffered write past the first page of an inline
 * file, then a buffered read of the whole file, zeroes the blocks just written (in the page cache,
 * and on disk after writeback). Found by `diofuzz live` (tools/src/live/inode_kind.rs).
 *
 * Run as root on a scratch ext4 made with 1 KiB blocks and inline data:
 *   truncate -s 64M img && mkfs.ext4 -q -b 1024 -O inline_data img && mount -o loop img DIR
 *   cc -O2 -o repro repro.c && ./repro DIR
 * Exit 1: reproduced (data lost), 0: not, 2: could not run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static long wrong(int fd, long off, long len)
{
	char *all = calloc(1, off + len);
	long bad = 0;

	if (!all || pread(fd, all, off + len, 0) != off + len) {
		perror("pread");
		exit(2);
	}
	for (long i = off; i < off + len; i++)
		bad += all[i] != 'N';
	free(all);
	return bad;
}

int main(int argc, char **argv)
{
	const long off = 10240, len = 2048; /* blocks 10-11 of page 2; blocks 8-9 stay holes */
	char path[4096], small[60], *buf;
	int fd, fl = 0;

	snprintf(path, sizeof(path), "%s/inline-read-zeroes-%d", argc > 1 ? argv[1] : ".", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		perror("create");
		return 2;
	}
	memset(small, 'o', sizeof(small));
	if (pwrite(fd, small, sizeof(small), 0) != sizeof(small) || ioctl(fd, FS_IOC_GETFLAGS, &fl)) {
		perror("small write / FS_IOC_GETFLAGS");
		unlink(path);
		return 2;
	}
	if (!(fl & FS_INLINE_DATA_FL)) {
		printf("COULD NOT RUN: the file is not inline (flags %#x): mkfs.ext4 -O inline_data?\n", fl);
		unlink(path);
		return 2;
	}
	buf = malloc(len);
	memset(buf, 'N', len);
	printf("inline file of %zu bytes; pwrite(%ld, %ld) = %zd\n", sizeof(small), off, len,
	       pwrite(fd, buf, len, off));
	ioctl(fd, FS_IOC_GETFLAGS, &fl);
	printf("after the write: FS_INLINE_DATA_FL %s (cleared only at writeback)\n",
	       fl & FS_INLINE_DATA_FL ? "still set" : "clear");
	long bad = wrong(fd, off, len);
	printf("buffered read of [0, %ld): %ld of the %ld bytes just written read back wrong\n",
	       off + len, bad, len);
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	long disk = wrong(fd, off, len);
	printf("after fsync and dropping the cache: %ld bytes wrong on disk\n", disk);
	close(fd);
	unlink(path);
	printf(bad || disk ? "REPRODUCED\n" : "NOT REPRODUCED\n");
	return bad || disk ? 1 : 0;
}
