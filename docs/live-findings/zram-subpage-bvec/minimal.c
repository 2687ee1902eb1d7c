// SPDX-License-Identifier: GPL-2.0-only
/* zram (4 KiB pages) and an O_DIRECT write of eight 512-byte iovecs, each at byte 512 of its own
 * page: 6.18+ accept it (blkdev_dio_invalid checks only the position and the total length;
 * the bvecs need only the DMA alignment, 511 on zram), and zram_bio_write hands every 512-byte
 * bvec to zram_bvec_write, whose is_partial_io() is constant false when PAGE_SIZE == 4096, so it
 * stores the whole user page of each bvec (zram_write_page(bvec->bv_page)) as the device page.
 * Usage (root): ./minimal /dev/zramN   (N from cat /sys/class/zram-control/hot_add; set
 * /sys/block/zramN/disksize first). Prints what device page 0 holds. */
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
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0) {
		perror("open");
		return 2;
	}
	unsigned char *m = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov[8];
	for (int i = 0; i < 8; i++) {
		memset(m + i * 4096, 0xA0 + i, 4096);  /* user memory outside the iovec */
		memset(m + i * 4096 + 512, i, 512);     /* the iovec: sector i of the write */
		iov[i].iov_base = m + i * 4096 + 512;
		iov[i].iov_len = 512;
	}
	ssize_t r = pwritev(fd, iov, 8, 0);
	printf("pwritev(8 x 512 bytes at 0) = %zd\n", r);
	unsigned char *b;
	if (posix_memalign((void **)&b, 4096, 4096) || pread(fd, b, 4096, 0) != 4096) {
		perror("pread");
		return 2;
	}
	int bad = 0;
	for (int s = 0; s < 8; s++) {
		printf("sector %d: first byte %#04x (expected %#04x)\n", s, b[s * 512], s);
		bad |= b[s * 512] != s;
	}
	printf(bad ? "BUG: the device page is not the iovecs' data\n" : "ok\n");
	return bad;
}
