// SPDX-License-Identifier: GPL-2.0-only
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
int main(int argc, char **argv) {
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0) { perror("open"); return 2; }
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 40960)) { perror("fallocate"); return 2; }
	char *buf = mmap(NULL, 32768, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 0x33, 16384);
	mprotect(buf + 16384, 16384, PROT_NONE);
	ssize_t r = pwrite(fd, buf, 28672, 15872);
	int e = errno; struct stat st; fstat(fd, &st);
	printf("pwrite(O_DIRECT, pos 15872, len 28672, fault at 16384) = %zd (%s); st_size %lld\n", r, r < 0 ? strerror(e) : "", (long long)st.st_size);
	if (ftruncate(fd, 49152)) perror("ftruncate");
	close(fd);
	fd = open(argv[1], O_RDONLY);
	static unsigned char rb[49152];
	pread(fd, rb, 49152, 0);
	for (int b = 0; b < 12; b++) printf("block %d: bytes 0x%02x 0x%02x\n", b, rb[b * 4096], rb[b * 4096 + 4095]);
	return 0;
}
