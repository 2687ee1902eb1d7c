// SPDX-License-Identifier: GPL-2.0-only
/* plaintext.c: repro.c plus a check whether the encrypted file's data reaches /dev/pmem0 in plaintext
 *
 * diofuzz repro (generated). Scenario:
 *   {"fs":"ext4","world":{"blkbits":12,"lbs_bits":9,"cluster_bits":0,"device":{"awu_min":0,"awu_max":0,"stable_writes":false},"mount":{"extents_feature":true,"data_journal":false,"dax":true,"shutdown":false,"emergency_ro":false,"inline_crypt":false,"xfs_reflink":true,"xfs_always_cow":false},"inode":{"extents":true,"journal_data":false,"inline_data":false,"encrypted":true,"verity":false,"dax":false,"immutable":false,"append_only":false,"nosec":true,"swapfile":false,"unlinked":false,"disksize_lag":false,"reflink":false},"i_size":24576,"rlimit_fsize":null,"s_maxbytes":17592186040320,"s_bitmap_maxbytes":17592186040320,"blocks":[{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false},{"kind":"hole","new_extent":false,"shared":false}],"pages":[]},"request":{"open":{"direct":true,"append":false,"dsync":false,"sync":false,"no_largefile":false},"read":false,"aio":false,"rwf":{"hipri":false,"dsync":true,"sync":false,"nowait":false,"append":false,"noappend":false,"atomic":false,"dontcache":false},"pos":12288,"len":8192,"nr_segs":1,"buf_align":4096,"fault_at":null,"max_bio":null},"faults":[],"races":[]}
 *
 * Run on a scratch filesystem: ext4: mkfs.ext4 -b 4096 -O encrypt IMAGE, on a DAX-capable device (pmem: /sys/block/pmemN/queue/dax = 1), mounted with -o dax=always, pmem device with logical block size 512,
 * mounted on DIR; then: cc -O2 -o repro repro.c && ./repro DIR
 * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,
 * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.
 * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.
 */
/*
 * Expected on v6.18 (6.18), as the diofuzz model predicts it:
 *   return 8192, file position 20480, i_size 24576,
 *   data (page cache, per 512-byte sector; . = not compared): 000000000000000000000000nnnnnnnnnnnnnnnn00000000
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


static const long long expect_ret = 8192;
static const char expect_ret_text[] = "8192";
static const long long expect_pos = 20480;
static const unsigned long long expect_size = 24576;
static const char expect_data[] = "000000000000000000000000nnnnnnnnnnnnnnnn00000000";

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

#include <linux/fscrypt.h>
static char enc_dir[4096];
static int enc_dfd = -1;
static struct fscrypt_key_specifier enc_spec;
static void enc_teardown(void)
{
	if (enc_dfd < 0)
		return;
	rmdir(enc_dir);
	struct fscrypt_remove_key_arg r;
	memset(&r, 0, sizeof(r));
	r.key_spec = enc_spec;
	if (ioctl(enc_dfd, FS_IOC_REMOVE_ENCRYPTION_KEY, &r))
		perror("FS_IOC_REMOVE_ENCRYPTION_KEY");
	close(enc_dfd);
	enc_dfd = -1;
}
static const char *enc_setup(const char *dir, const char *name)
{
	struct { struct fscrypt_add_key_arg a; unsigned char raw[64]; } k;
	memset(&k, 0, sizeof(k));
	k.a.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
	k.a.raw_size = 64;
	for (int i = 0; i < 64; i++)
		k.raw[i] = (unsigned char)(0xd1 + 7 * i);
	enc_dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (enc_dfd < 0)
		die("open dir for the key");
	if (ioctl(enc_dfd, FS_IOC_ADD_ENCRYPTION_KEY, &k))
		die("FS_IOC_ADD_ENCRYPTION_KEY (needs mkfs.ext4 -O encrypt and CONFIG_FS_ENCRYPTION)");
	enc_spec = k.a.key_spec;
	atexit(enc_teardown);
	snprintf(enc_dir, sizeof(enc_dir), "%s/%s", dir, name);
	if (mkdir(enc_dir, 0700))
		die("mkdir encrypted dir");
	int d = open(enc_dir, O_RDONLY | O_DIRECTORY);
	if (d < 0)
		die("open encrypted dir");
	struct fscrypt_policy_v2 p;
	memset(&p, 0, sizeof(p));
	p.version = FSCRYPT_POLICY_V2;
	p.contents_encryption_mode = FSCRYPT_MODE_AES_256_XTS;
	p.filenames_encryption_mode = FSCRYPT_MODE_AES_256_CTS;
	memcpy(p.master_key_identifier, enc_spec.u.identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
	if (ioctl(d, FS_IOC_SET_ENCRYPTION_POLICY, &p))
		die("FS_IOC_SET_ENCRYPTION_POLICY");
	close(d);
	return enc_dir;
}

int main(int argc, char **argv)
{
	nonce = (uint32_t)getpid() * 2654435761u;
	const char *dir = argc > 1 ? argv[1] : ".";
	const char *mnt = dir;
	(void)mnt;
	prefill_stale(dir);
	char encname[64];
	snprintf(encname, sizeof(encname), "diofuzz-repro-enc-%d", (int)getpid());
	dir = enc_setup(dir, encname);
	char path[4096], donor[4096];
	snprintf(path, sizeof(path), "%s/diofuzz-repro-%d", dir, (int)getpid());
	snprintf(donor, sizeof(donor), "%s/diofuzz-repro-donor-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		die("create");
	if (ftruncate(fd, 24576))
		die("ftruncate");
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	{
		int fl = 0;
		if (ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl))
			die("FS_IOC_GETFLAGS");
		if ((fl & 0x800) != 0x800) {
			printf("COULD NOT RUN: the kernel did not build the inode (flags %#x, wanted 0x800)\n", fl);
			close(fd);
			unlink(path);
			return 2;
		}
	}
	{
		unsigned char sx[256] __attribute__((aligned(8)));
		uint64_t attr = 0, mask = 0;
		memset(sx, 0, sizeof(sx));
		if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, 0x7ffU /* STATX_BASIC_STATS */, sx) == 0) {
			memcpy(&attr, sx + 8, 8);
			memcpy(&mask, sx + 56, 8); /* stx_attributes_mask */
		}
		int dax = !!(attr & 0x200000ULL /* STATX_ATTR_DAX */);
		printf("STATX_ATTR_DAX: %s\n", dax ? "set" : "clear");
		{
			/* Experiment: does the encrypted file's data reach the media in plaintext? */
			static char mark[8192];
			const char *m = "DIOFUZZ-PLAINTEXT-MARKER-0123456789abcdef-";
			size_t ml = strlen(m);
			for (size_t i = 0; i + ml <= sizeof(mark); i += ml)
				memcpy(mark + i, m, ml);
			ssize_t w = pwrite(fd, mark, sizeof(mark), 0);
			printf("pwrite(encrypted file, 8192 marker bytes) = %zd\n", w);
			if (fsync(fd))
				printf("fsync: %s\n", strerror(errno));
			sync();
			char rb[64] = {0};
			ssize_t r = pread(fd, rb, 42, 0);
			printf("read back through the file: %zd bytes, \"%.42s\"\n", r, rb);
			int dfd = open("/dev/pmem0", O_RDONLY | O_DIRECT);
			if (dfd < 0) {
				printf("open /dev/pmem0: %s\n", strerror(errno));
			} else {
				void *buf;
				if (posix_memalign(&buf, 4096, 1 << 20))
					die("posix_memalign");
				long long off = 0, hits = 0, first = -1;
				for (;;) {
					ssize_t n = pread(dfd, buf, 1 << 20, off);
					if (n <= 0)
						break;
					for (ssize_t i = 0; i + (ssize_t)ml <= n; i++)
						if (((char *)buf)[i] == 'D' && !memcmp((char *)buf + i, m, ml)) {
							if (first < 0)
								first = off + i;
							hits++;
						}
					off += n;
				}
				printf("/dev/pmem0: scanned %lld bytes (O_DIRECT): the marker appears %lld times, first at byte %lld\n", off, hits, first);
				printf("%s\n", hits ? "PLAINTEXT ON THE MEDIA" : "no plaintext on the media");
				close(dfd);
			}
		}
		if (!(mask & 0x200000ULL) || dax != 0) {
			printf("COULD NOT RUN: the file is %sDAX; the scenario's inode is not (run it on a filesystem on a DAX-capable device, mounted as the header says)\n", dax ? "" : "not ");
			unlink(path);
			unlink(donor);
			return 2;
		}
	}
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };
		futimens(fd, ts);
	}
	int cfd = open(path, 0x4002 /* O_RDWR|O_DIRECT */);
	if (cfd < 0)
		die("open");
	lseek(cfd, 12288, SEEK_SET);
	unsigned char *buf = mmap(NULL, 12288, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	unsigned char *ub = buf + 0; /* user buffer alignment */
	pat(ub, 12288, 8192, 0x33);
	struct iovec iov[1];
	iov[0].iov_base = ub + 0;
	iov[0].iov_len = 8192;
	ssize_t ret;
	int err = 0;
	off_t after;
	int verdict_code = 2;
	ret = pwritev2(cfd, iov, 1, -1, 0x2);
	err = errno;
	after = lseek(cfd, 0, SEEK_CUR);
	printf("pwritev2(pos 12288, len 8192, rwf 0x2) = %zd", ret);
	if (ret < 0)
		printf(" errno %d (%s)", err, strerror(err));
	else
		printf(" (%s; file position now %lld, data expected at 12288)", (size_t)ret == 8192 ? "full" : "SHORT", (long long)after);
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
