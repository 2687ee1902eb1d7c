// SPDX-License-Identifier: GPL-2.0-only
/*
 * ext4 inline data converted by fallocate: until the jbd2 checkpoint, the file's block 0 reads
 * the device's old content (stale data of a freed block), not the inline bytes.
 * ext4_convert_inline_data_nolock copies the inline bytes into a bdev buffer_head of the new
 * block 0 and journals it as metadata (ext4_handle_dirty_metadata); the block's home location
 * is written only at the checkpoint, while a read of the file goes to the home location
 * (O_DIRECT, or the page cache's ext4_mpage_readpages for a folio not cached).
 *
 * Usage (root): repro DIR   -- DIR on an ext4 made with mkfs.ext4 -O inline_data -I 1024 whose
 * free blocks hold something other than zeroes (run.sh: a device full of 0x55, -E nodiscard).
 * Exit 1: stale data read; 0: not reproduced; 2: could not run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

static int show(int fd, int direct, const char *when)
{
	char *b;
	int bad = 0;
	if (posix_memalign((void **)&b, 4096, 4096))
		exit(2);
	memset(b, 0, 4096);
	if (!direct)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	ssize_t n = pread(fd, b, 4096, 0);
	printf("%-34s %s read: %zd bytes, byte 0 0x%02x, byte 499 0x%02x\n", when,
	       direct ? "O_DIRECT" : "buffered", n, (unsigned char)b[0], (unsigned char)b[499]);
	for (int i = 0; i < 500 && i < n; i++)
		bad |= b[i] != 'O';
	free(b);
	return bad;
}

int main(int argc, char **argv)
{
	char path[4096];
	unsigned int fl = 0;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/inline-stale-%d", argv[1], (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	char old[500];
	memset(old, 'O', sizeof(old));
	if (fd < 0 || write(fd, old, sizeof(old)) != sizeof(old) || fsync(fd))
		return perror("create"), 2;
	ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl);
	if (!(fl & 0x10000000)) {
		printf("COULD NOT RUN: the file is not inline (flags %#x): mkfs.ext4 -O inline_data -I 1024\n", fl);
		unlink(path);
		return 2;
	}
	int dfd = open(path, O_RDONLY | O_DIRECT);
	if (dfd < 0)
		return perror("open O_DIRECT"), 2;
	int bad = show(fd, 0, "inline, 500 bytes 'O':");
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1))
		return perror("fallocate"), 2;
	ioctl(fd, 0x80086601UL, &fl);
	printf("after fallocate(KEEP_SIZE, 0, 1): flags %#x (inline data converted to block 0)\n", fl);
	bad |= show(dfd, 1, "right after the conversion:");
	bad |= show(fd, 0, "right after the conversion:");
	syncfs(fd);
	int after = show(dfd, 1, "after syncfs:");
	after |= show(fd, 0, "after syncfs:");
	close(fd);
	close(dfd);
	unlink(path);
	if (bad && !after) {
		printf("REPRODUCED: block 0 read the device's old content until syncfs wrote the journalled buffer home\n");
		return 1;
	}
	printf("not reproduced%s\n", after ? " (wrong data even after syncfs)" : "");
	return 0;
}
