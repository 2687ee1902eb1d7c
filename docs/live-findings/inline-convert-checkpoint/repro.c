// SPDX-License-Identifier: GPL-2.0-only
/*
 * ext4 inline data converted by fallocate: a later write to block 0, even fsynced, is reverted
 * when jbd2 checkpoints the converted block (ext4_convert_inline_data_nolock writes the inline
 * bytes to the new block as journalled metadata: ext4_handle_dirty_metadata).
 *
 * Usage (root): repro DIR   -- DIR on an ext4 made with mkfs.ext4 -O inline_data -b 1024 -I 1024
 * Exit 1: the data was lost; 0: not reproduced; 2: could not run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#define BS 1024

static void drop_caches(void)
{
	int d = open("/proc/sys/vm/drop_caches", O_WRONLY);
	sync();
	if (d < 0 || write(d, "3", 1) != 1) {
		printf("COULD NOT RUN: drop_caches (root needed)\n");
		exit(2);
	}
	close(d);
}

static void show(const char *path, const char *when, char *first)
{
	char *b;
	int fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&b, 4096, 4096)) {
		perror("open for reading");
		exit(2);
	}
	ssize_t n = pread(fd, b, 4096, 0);
	printf("%-28s O_DIRECT read: %zd bytes, byte 0 '%c', byte 600 0x%02x\n", when, n,
	       b[0] ? b[0] : '0', (unsigned char)b[600]);
	*first = b[0];
	close(fd);
	free(b);
}

int main(int argc, char **argv)
{
	char path[4096], *buf, c;
	unsigned int fl = 0;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/inline-convert-%d", argv[1], (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	char old[500];
	memset(old, 'O', sizeof(old));
	if (fd < 0 || write(fd, old, sizeof(old)) != sizeof(old) || fsync(fd))
		return perror("create"), 2;
	ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl);
	close(fd);
	if (!(fl & 0x10000000)) {
		printf("COULD NOT RUN: the file is not inline (flags %#x): mkfs.ext4 -O inline_data -I 1024\n", fl);
		unlink(path);
		return 2;
	}
	drop_caches();
	fd = open(path, O_RDWR | O_DIRECT);
	if (fd < 0 || fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, BS))
		return perror("fallocate"), 2;
	ioctl(fd, 0x80086601UL, &fl);
	printf("after fallocate(KEEP_SIZE, 0, %d): flags %#x (inline data converted to block 0)\n", BS, fl);
	if (posix_memalign((void **)&buf, 4096, BS))
		return 2;
	memset(buf, 'N', BS);
	ssize_t w = pwrite(fd, buf, BS, 0);
	int s = fsync(fd);
	printf("O_DIRECT pwrite of %d bytes 'N' at 0 = %zd, fsync = %d\n", BS, w, s);
	close(fd);
	show(path, "right after the write:", &c);
	drop_caches();
	show(path, "after sync + drop_caches:", &c);
	unlink(path);
	if (c == 'O') {
		printf("REPRODUCED: the fsynced write was reverted to the inline bytes (jbd2 checkpoint of the converted block)\n");
		return 1;
	}
	printf("not reproduced\n");
	return 0;
}
