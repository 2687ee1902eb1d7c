// SPDX-License-Identifier: GPL-2.0-only
/* The read side of docs/live-findings/zram-subpage-bvec: an O_DIRECT preadv of eight 512-byte
 * iovecs at byte 512 of their own pages copies the whole device page over each user page
 * (zram_bio_read -> zram_bvec_read with is_partial_io() false): user memory outside the iovecs
 * is overwritten. Usage (root): ./read /dev/zramN (disksize set first). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDWR | O_DIRECT);
	unsigned char *w;
	posix_memalign((void **)&w, 4096, 4096);
	for (int s = 0; s < 8; s++)
		memset(w + s * 512, 0x10 + s, 512);
	if (pwrite(fd, w, 4096, 0) != 4096) { perror("pwrite"); return 2; }
	unsigned char *m = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov[8];
	for (int i = 0; i < 8; i++) {
		memset(m + i * 4096, 0xEE, 4096);
		iov[i].iov_base = m + i * 4096 + 512;
		iov[i].iov_len = 512;
	}
	ssize_t r = preadv(fd, iov, 8, 0);
	printf("preadv(8 x 512 at 0) = %zd\n", r);
	int bad = 0;
	for (int i = 0; i < 8; i++) {
		printf("iovec %d: first byte %#04x (expected %#04x); user byte 0 of its page %#04x (expected 0xee)\n", i, m[i * 4096 + 512], 0x10 + i, m[i * 4096]);
		bad |= m[i * 4096 + 512] != 0x10 + i || m[i * 4096] != 0xEE;
	}
	printf(bad ? "BUG\n" : "ok\n");
	return bad;
}
