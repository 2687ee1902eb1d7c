// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz repro FILE`: a standalone C program (libc only, `cc repro.c -o repro`) that builds the
//! scenario's world in a file of a directory the user names, issues the request with raw
//! pwritev2/preadv2 flags, and prints what happened: return value and errno, file position,
//! size, STATX_WRITE_ATOMIC units, and the data per sector (through the page cache and with
//! O_DIRECT) as letters. Made for mailing-list reports.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use super::exec::{landing, open_flags};
use super::plan::{plan, Step};
use diofuzz::errno;
use diofuzz::scenario::{FsKind, Scenario};
use diofuzz::variant::{self, Variant};

const PRELUDE: &str = r#"#define _GNU_SOURCE
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
static void prefill_stale(const char *dir)
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

static void show(const char *path, uint64_t size, int direct)
{
	uint64_t n = (size + 4095) / 4096 * 4096;
	unsigned char *b = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	ssize_t got = 0, r = 0;
	if (b == MAP_FAILED || fd < 0)
		die("read-back");
	while ((uint64_t)got < n && (r = pread(fd, b + got, n - got, got)) > 0)
		got += r;
	if (r < 0)
		printf("read-back%s failed: %s\n", direct ? " (O_DIRECT)" : "", strerror(errno));
	close(fd);
	printf("%s", direct ? "data (O_DIRECT):    " : "data (page cache):  ");
	for (uint64_t s = 0; s * 512 < size; s++) {
		uint64_t len = size - s * 512 < 512 ? size - s * 512 : 512;
		char c = classify(b + s * 512, s, len);
		putchar(c);
		if (!direct && s < sizeof(seen) - 1)
			seen[s] = c;
		if (s % 8 == 7)
			putchar(' ');
	}
	printf("\n");
	munmap(b, n + 4096);
}

"#;

/// The verdict function, after the expected outcome's constants.
const VERDICT: &str = r#"
/* The verdict: does the kernel do what the model predicts (expect_* above)? */
static int verdict(long long ret, int err, long long pos, unsigned long long size)
{
	int ok = 1;
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
"#;

/// The variant a reproducer states the expected outcome of when none is given: the one matching
/// the running kernel, else the newest.
pub fn default_variant() -> &'static Variant {
    super::variant_for_release(&super::kernel_release()).unwrap_or_else(variant::newest)
}

/// The C source reproducing `s`, expecting what [`default_variant`] predicts.
pub fn c_program(s: &Scenario) -> Result<String, String> {
    c_program_for(s, default_variant())
}

/// The scenario as far as the C program sets it up: the device's atomic units and DMA alignment
/// and the bigalloc cluster are properties of the filesystem it is run on, not of the program.
fn device_free(s: &Scenario) -> Scenario {
    let mut t = s.clone();
    t.world.device.awu_min = 0;
    t.world.device.awu_max = 0;
    t.world.device.dma_alignment = diofuzz::scenario::DEFAULT_DMA_ALIGNMENT;
    t.world.cluster_bits = 0;
    t
}

/// Why a scenario cannot run on a scratch loop device, said as what the environment lacks.
pub fn lacks(s: &Scenario, why: &str) -> String {
    let d = s.world.device;
    if why.contains("atomic write units") {
        return format!(
            "this scenario needs a block device with atomic writes (atomic_write_unit_min/max_bytes {}/{}); a loop device has none. Give such a device with --device DEV --destroy-data (an NVMe or SCSI disk with atomic writes, or a VM disk that has them, e.g. scsi_debug atomic_wr=1), or write the C program (`diofuzz repro FILE -o repro.c`) and run it on a filesystem made on one",
            d.awu_min, d.awu_max
        );
    }
    let needs = match why {
        w if w.contains("mount option") => "a filesystem mounted with the scenario's options (data=journal, dax, shutdown, inline crypto, XFS always_cow); the scratch filesystems use default mounts",
        w if w.contains("inode flags") => "inode flags the harness does not set (indirect mapping, journal_data, inline data, encryption, verity, dax, immutable, ...)",
        w if w.contains("bigalloc") => "an ext4 filesystem made with bigalloc: give a scratch file or device with --device PATH --destroy-data (repro makes it), or write the C program with -o and run it on one made with mkfs.ext4 -O bigalloc -C CLUSTER",
        w if w.contains("injected faults") => "an errno injected at a kernel call site (the model injects it; a real kernel needs fault injection such as fail_function set up by hand)",
        w if w.contains("raw block device") => "a block device of its own (the scenario writes the device, not a file)",
        w if w.contains("aio") => "io_submit (the C program uses pwritev2)",
        w if w.contains("race") => "a reproducible race (only the fcntl toggle and the mmap writer are reproduced)",
        _ => "",
    };
    if needs.is_empty() {
        format!("cannot be set up by the reproducer: {why}")
    } else {
        format!("cannot be set up by the reproducer ({why}): the environment lacks {needs}")
    }
}

/// Letters of the model's page-cache picture after the call, per 512-byte sector up to i_size,
/// as the C program's `classify` prints them; '.' for sectors cut by a boundary (write range, old
/// and new EOF), where the model rounds to sectors and the kernel does not.
fn expected_letters(x: &diofuzz::model::Execution, len: u64) -> String {
    use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_OLD_DIRTY, TAG_STALE, TAG_ZERO};
    let sector = diofuzz::scenario::SECTOR;
    let bounds = [
        x.write_pos,
        x.write_pos + len,
        x.before.i_size,
        x.after.i_size,
    ];
    (0..x.after.i_size.div_ceil(sector))
        .map(|s| {
            let (lo, hi) = (s * sector, (s + 1) * sector);
            if bounds.iter().any(|&b| lo < b && b < hi) {
                return '.';
            }
            match x.after.cached.get(s as usize).copied().unwrap_or(TAG_ZERO) {
                TAG_ZERO => '0',
                TAG_OLD => 'o',
                TAG_OLD_DIRTY => 'd',
                TAG_NEW => 'n',
                TAG_STALE => 's',
                _ => '.',
            }
        })
        .collect()
}

/// The C source reproducing `s`, with `v`'s predicted outcome built in: the program prints
/// REPRODUCED (exit 0) when the kernel does what the model predicts, NOT REPRODUCED (exit 1)
/// otherwise, and COULD NOT RUN (exit 2) when the set-up fails.
pub fn c_program_for(s: &Scenario, v: &'static Variant) -> Result<String, String> {
    let p = plan(&device_free(s)).map_err(|e| lacks(s, &e))?;
    let c = &p.call;
    let x = diofuzz::model::run(s, v);
    let findings: Vec<String> = diofuzz::oracle::check(&x)
        .iter()
        .map(|f| format!("{} ({}): {}", f.property, f.property.title(), f.detail))
        .collect();
    let exp_pos = if x.ret >= 0 && !c.read {
        x.ki_pos_after as i64
    } else {
        -1
    };
    let exp_data = if c.read || p.racy {
        String::new()
    } else {
        expected_letters(&x, s.request.len)
    };
    let json = serde_json::to_string(s).map_err(|e| e.to_string())?;
    let mut o = String::new();

    let fsdesc = match s.fs {
        FsKind::Xfs => format!(
            "XFS: mkfs.xfs -b size={} -m reflink={} IMAGE",
            1u32 << s.world.blkbits,
            p.key.reflink as u8
        ),
        _ if s.world.cluster_bits > 0 => format!(
            "ext4: mkfs.ext4 -b {} -O bigalloc -C {} DEVICE",
            1u32 << s.world.blkbits,
            1u32 << (s.world.blkbits + s.world.cluster_bits)
        ),
        _ => format!("ext4: mkfs.ext4 -b {} IMAGE", 1u32 << s.world.blkbits),
    };
    let dev = s.world.device;
    let device = if dev.awu_max != 0 {
        format!(
            "a block device with atomic writes (atomic_write_unit_min/max_bytes {}/{}; a loop device has none: an NVMe or SCSI disk, or a VM disk with atomic writes)",
            dev.awu_min, dev.awu_max
        )
    } else {
        "loop device".to_string()
    };
    let _ = writeln!(o, "// SPDX-License-Identifier: GPL-2.0-only");
    let _ = writeln!(
        o,
        "/*\n * diofuzz repro (generated). Scenario:\n *   {}",
        json.replace("*/", "* /")
    );
    let _ = writeln!(
        o,
        " *\n * Run on a scratch filesystem: {fsdesc}, {device} with logical block size {},\n * mounted on DIR; then: cc -O2 -o repro repro.c && ./repro DIR",
        1u32 << s.world.lbs_bits
    );
    let _ = writeln!(
        o,
        " * To see the path taken, enable iomap:iomap_dio_rw_begin, xfs:xfs_file_buffered_write,\n * xfs:xfs_iomap_atomic_write_cow, ext4:ext4_da_write_begin in tracefs while it runs.\n * Data letters per 512-byte sector: 0 zero, o old, d dirty-page data, n new,
 * s stale (free space is filled with 0x55 first), ? other.\n */"
    );
    let _ = writeln!(
        o,
        "/*\n * Expected on {} ({}), as the diofuzz model predicts it:\n *   return {}, file position {}, i_size {},\n *   data (page cache, per 512-byte sector; . = not compared): {}\n * The model's findings there: {}\n */",
        v.name,
        v.kernel,
        errno::fmt_ret(x.ret),
        if exp_pos >= 0 { exp_pos.to_string() } else { "not compared".into() },
        x.after.i_size,
        if exp_data.is_empty() { "not compared" } else { &exp_data },
        if findings.is_empty() {
            "none".to_string()
        } else {
            findings.join("; ").replace("*/", "* /")
        }
    );
    o.push_str(PRELUDE);
    let _ = writeln!(
        o,
        "\nstatic const long long expect_ret = {};\nstatic const char expect_ret_text[] = \"{}\";\nstatic const long long expect_pos = {exp_pos};\nstatic const unsigned long long expect_size = {};\nstatic const char expect_data[] = \"{exp_data}\";",
        x.ret,
        errno::fmt_ret(x.ret),
        x.after.i_size,
    );
    o.push_str(VERDICT);
    o.push_str("\nint main(int argc, char **argv)\n{\n");

    o.push_str("\tconst char *dir = argc > 1 ? argv[1] : \".\";\n");
    o.push_str("\tnonce = (uint32_t)getpid() * 2654435761u;\n");
    o.push_str("\tprefill_stale(dir);\n");
    o.push_str("\tchar path[4096], donor[4096];\n");
    o.push_str("\tsnprintf(path, sizeof(path), \"%s/diofuzz-repro-%d\", dir, (int)getpid());\n");
    o.push_str(
        "\tsnprintf(donor, sizeof(donor), \"%s/diofuzz-repro-donor-%d\", dir, (int)getpid());\n",
    );
    o.push_str("\tint fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);\n\tif (fd < 0)\n\t\tdie(\"create\");\n");
    for st in &p.steps {
        match st {
            Step::Truncate(n) => {
                let _ = writeln!(o, "\tif (ftruncate(fd, {n}))\n\t\tdie(\"ftruncate\");");
            }
            Step::WriteOld { off, len } => {
                let _ = writeln!(o, "\twpat(fd, {off}, {len}, 0x11);");
            }
            Step::Fallocate { off, len } => {
                let _ = writeln!(
                    o,
                    "\tif (fallocate(fd, FALLOC_FL_KEEP_SIZE, {off}, {len}))\n\t\tdie(\"fallocate\");"
                );
            }
            Step::CloneOld { off, len } => {
                let _ = writeln!(
                    o,
                    "\t{{\n\t\tint d = open(donor, O_RDWR | O_CREAT, 0600);\n\t\tif (d < 0)\n\t\t\tdie(\"donor\");\n\t\twpat(d, {off}, {len}, 0x11);\n\t\tfsync(d);\n\t\tstruct file_clone_range r = {{ .src_fd = d, .src_offset = {off}, .src_length = {len}, .dest_offset = {off} }};\n\t\tif (ioctl(fd, FICLONERANGE, &r))\n\t\t\tdie(\"FICLONERANGE\");\n\t\tclose(d);\n\t}}"
                );
            }
            Step::Fsync => o.push_str("\tif (fsync(fd))\n\t\tdie(\"fsync\");\n"),
            Step::DropCache => {
                o.push_str("\tfsync(fd);\n\tposix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);\n")
            }
            Step::ReadPage { off } => {
                let _ = writeln!(
                    o,
                    "\t{{\n\t\tchar pg[4096];\n\t\tif (pread(fd, pg, 4096, {off}) < 0)\n\t\t\tdie(\"read page\");\n\t}}"
                );
            }
            Step::WriteDirty { off, len } => {
                let _ = writeln!(o, "\twpat(fd, {off}, {len}, 0x22);");
            }
            // Block-device plans only, which plan() refuses for the reproducer.
            Step::WriteZero { .. } => {}
        }
    }
    // As the live executor: the file was last modified before this write (mtime an hour ago),
    // so an RWF_NOWAIT write meets kiocb_modified's -EAGAIN whatever the clock did.
    o.push_str("\t{\n\t\tstruct timespec ts[2] = { { 0, UTIME_OMIT }, { time(NULL) - 3600, 0 } };\n\t\tfutimens(fd, ts);\n\t}\n");
    let flags = open_flags(c);
    let wpos = landing(&p);
    let _ = writeln!(
        o,
        "\tint cfd = open(path, {flags:#x} /* O_RDWR{}{}{}{} */);\n\tif (cfd < 0)\n\t\tdie(\"open\");",
        if c.direct { "|O_DIRECT" } else { "" },
        if c.append { "|O_APPEND" } else { "" },
        if c.dsync { "|O_DSYNC" } else { "" },
        if c.sync { "|O_SYNC" } else { "" },
    );
    if c.fcntl_toggle {
        o.push_str(
            "\tfcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) ^ O_DIRECT); /* toggled after open */\n",
        );
    }
    if dev.awu_max != 0 && s.request.rwf.atomic {
        // The outcome depends on the atomic write unit the filesystem offers: check it first.
        let _ = writeln!(
            o,
            "\t{{\n\t\tunsigned char sx[256] __attribute__((aligned(8)));\n\t\tuint32_t umin = 0, umax = 0;\n\t\tuint64_t attr = 0;\n\t\tmemset(sx, 0, sizeof(sx));\n\t\tif (syscall(SYS_statx, cfd, \"\", AT_EMPTY_PATH, STATX_WRITE_ATOMIC_, sx) == 0) {{\n\t\t\tmemcpy(&attr, sx + 8, 8);\n\t\t\tmemcpy(&umin, sx + 168, 4);\n\t\t\tmemcpy(&umax, sx + 172, 4);\n\t\t}}\n\t\tif (!(attr & STATX_ATTR_WRITE_ATOMIC_) || umin != {m} || umax != {n}) {{\n\t\t\tprintf(\"COULD NOT RUN: the file offers atomic writes of [%u, %u] bytes; the scenario needs [{m}, {n}] (a device with atomic_write_unit_min/max_bytes {a}/{b})\\n\", umin, umax);\n\t\t\tunlink(path);\n\t\t\treturn 2;\n\t\t}}\n\t}}",
            m = x.statx_unit_min,
            n = x.statx_unit_max,
            a = dev.awu_min,
            b = dev.awu_max
        );
    }
    let _ = writeln!(o, "\tlseek(cfd, {}, SEEK_SET);", c.pos);
    let pages = (c.buf_offset + c.len).div_ceil(4096) + 1;
    let _ = writeln!(
        o,
        "\tunsigned char *buf = mmap(NULL, {sz}, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n\tif (buf == MAP_FAILED)\n\t\tdie(\"mmap\");\n\tunsigned char *ub = buf + {off}; /* user buffer alignment */\n\tpat(ub, {wpos}, {len}, 0x33);",
        sz = pages * 4096,
        off = c.buf_offset,
        len = c.len
    );
    if let Some(fa) = c.fault_at {
        let _ = writeln!(
            o,
            "\tmprotect(ub + {fa}, {rest}, PROT_NONE); /* the buffer faults from byte {fa} */",
            rest = pages * 4096 - c.buf_offset - fa
        );
    }
    let _ = writeln!(o, "\tstruct iovec iov[{}];", c.segs.len());
    let mut at = 0;
    for (i, l) in c.segs.iter().enumerate() {
        let _ = writeln!(
            o,
            "\tiov[{i}].iov_base = ub + {at};\n\tiov[{i}].iov_len = {l};"
        );
        at += l;
    }
    if c.mmap_writer {
        let _ = writeln!(
            o,
            "\t/* mmap writer: a child stores back what the pages hold while the call runs */\n\tpid_t w = fork();\n\tif (w == 0) {{\n\t\tint f = open(path, O_RDWR);\n\t\tunsigned char *m = mmap(NULL, {len}, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);\n\t\tunsigned char *snap = malloc({isz});\n\t\tmemcpy(snap, m, {isz});\n\t\tfor (;;)\n\t\t\tmemcpy(m, snap, {isz});\n\t}}\n\tusleep(1000);",
            len = p.i_size.div_ceil(4096) * 4096,
            isz = p.i_size
        );
    }
    let call = if c.read { "preadv2" } else { "pwritev2" };
    let _ = writeln!(
        o,
        "\tssize_t ret;\n\tint err = 0;\n\toff_t after;\n\tint verdict_code = 2;"
    );
    match c.rlimit_fsize {
        Some(l) => {
            let _ = writeln!(
                o,
                "\tint pfd[2];\n\tif (pipe(pfd))\n\t\tdie(\"pipe\");\n\tpid_t ch = fork();\n\tif (ch == 0) {{\n\t\tstruct rlimit rl = {{ {l}, {l} }};\n\t\tsignal(SIGXFSZ, SIG_IGN);\n\t\tsetrlimit(RLIMIT_FSIZE, &rl);\n\t\tlong long res[3];\n\t\tres[0] = {call}(cfd, iov, {n}, -1, {rwf:#x});\n\t\tres[1] = errno;\n\t\tres[2] = lseek(cfd, 0, SEEK_CUR);\n\t\twrite(pfd[1], res, sizeof(res));\n\t\t_exit(0);\n\t}}\n\tlong long res[3] = {{ -1, 0, 0 }};\n\tread(pfd[0], res, sizeof(res));\n\twaitpid(ch, NULL, 0);\n\tret = res[0];\n\terr = (int)res[1];\n\tafter = res[2];\n\tprintf(\"call ran in a child with RLIMIT_FSIZE={l}\\n\");",
                n = c.segs.len(),
                rwf = c.rwf
            );
        }
        None => {
            let _ = writeln!(
                o,
                "\tret = {call}(cfd, iov, {n}, -1, {rwf:#x});\n\terr = errno;\n\tafter = lseek(cfd, 0, SEEK_CUR);",
                n = c.segs.len(),
                rwf = c.rwf
            );
        }
    }
    if c.mmap_writer {
        o.push_str("\tkill(w, SIGKILL);\n\twaitpid(w, NULL, 0);\n");
    }
    let _ = writeln!(
        o,
        "\tprintf(\"{call}(pos {pos}, len {len}, rwf {rwf:#x}) = %zd\", ret);\n\tif (ret < 0)\n\t\tprintf(\" errno %d (%s)\", err, strerror(err));\n\telse\n\t\tprintf(\" (%s; file position now %lld, data expected at {wpos})\", (size_t)ret == {len} ? \"full\" : \"SHORT\", (long long)after);\n\tprintf(\"\\n\");",
        pos = c.pos,
        len = c.len,
        rwf = c.rwf
    );
    o.push_str(
        "\tunsigned char stx[256] __attribute__((aligned(8)));\n\tmemset(stx, 0, sizeof(stx));\n\tif (syscall(SYS_statx, cfd, \"\", AT_EMPTY_PATH, STATX_SIZE_ | STATX_WRITE_ATOMIC_, stx) == 0) {\n\t\tuint64_t size, attr;\n\t\tuint32_t umin, umax;\n\t\tmemcpy(&attr, stx + 8, 8);\n\t\tmemcpy(&size, stx + 40, 8);\n\t\tmemcpy(&umin, stx + 168, 4);\n\t\tmemcpy(&umax, stx + 172, 4);\n\t\tprintf(\"i_size %llu; STATX_WRITE_ATOMIC: %s [%u, %u]\\n\", (unsigned long long)size,\n\t\t       attr & STATX_ATTR_WRITE_ATOMIC_ ? \"supported\" : \"not supported\", umin, umax);\n\t\tclose(cfd);\n\t\tshow(path, size, 0);\n\t\tshow(path, size, 1);\n\t\tverdict_code = verdict(ret, err, after, size);\n\t} else {\n\t\tprintf(\"statx: %s\\nCOULD NOT RUN (statx)\\n\", strerror(errno));\n\t}\n",
    );
    o.push_str("\tclose(fd);\n\tunlink(path);\n\tunlink(donor);\n\treturn verdict_code;\n}\n");
    Ok(o)
}

/// Build the scenario's scratch filesystem, compile `src` with cc and run it there; returns its
/// output and its exit status (0 reproduced, 1 not, 2 could not run). Everything is made and
/// removed like a `live` run's resources.
pub fn run_on_scratch(s: &Scenario, src: &str) -> Result<(String, i32), String> {
    run_on(s, src, None)
}

/// The atomic write units a device offers (0, 0 for none or a regular file).
fn device_units(dev: &std::path::Path) -> (u32, u32) {
    let Ok(md) = fs::metadata(dev) else {
        return (0, 0);
    };
    let Some(q) = super::scratch::device_queue(&md) else {
        return (0, 0);
    };
    let rd = |n: &str| {
        fs::read_to_string(q.join(n))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        rd("atomic_write_unit_min_bytes"),
        rd("atomic_write_unit_max_bytes"),
    )
}

/// [`run_on_scratch`], or on the scratch file or block device the user gave (`--device`): a
/// filesystem is made on it, mounted in a private folder, the program run there, and unmounted.
pub fn run_on(
    s: &Scenario,
    src: &str,
    device: Option<&std::path::Path>,
) -> Result<(String, i32), String> {
    let p = match device {
        None => plan(s).map_err(|e| lacks(s, &e))?,
        Some(dev) => {
            let d = s.world.device;
            let have = device_units(dev);
            if d.awu_max != 0 && have != (d.awu_min, d.awu_max) {
                return Err(format!(
                    "{} offers atomic write units {}/{} bytes (atomic_write_unit_min/max_bytes); the scenario needs {}/{}",
                    dev.display(),
                    have.0,
                    have.1,
                    d.awu_min,
                    d.awu_max
                ));
            }
            // What the filesystem must be made with: bigalloc clusters (ext4).
            let mut p = plan(&device_free(s)).map_err(|e| lacks(s, &e))?;
            p.key.cluster_bits = s.world.cluster_bits;
            p
        }
    };
    let pre = super::scratch::prereqs();
    let missing = pre.missing(&[s.fs]);
    if !missing.is_empty() {
        return Err(format!("cannot run: {}", missing.join("; ")));
    }
    let cc = super::scratch::which("cc").ok_or("no cc to compile the reproducer")?;
    let _ = super::scratch::remove_stale();
    super::scratch::install_signal_handlers()?;
    let mut sc = super::scratch::Scratch::new(false)?;
    let c = sc.dir.join("repro.c");
    let exe = sc.dir.join("repro");
    fs::write(&c, src).map_err(|e| format!("write {}: {e}", c.display()))?;
    let out = std::process::Command::new(cc)
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mnt = match device {
        None => sc.get(p.key, &pre)?.mnt.clone(),
        Some(dev) => sc.get_on(p.key, &pre, dev)?.mnt.clone(),
    };
    let out = std::process::Command::new(&exe)
        .arg(&mnt)
        .output()
        .map_err(|e| format!("run: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out
        .status
        .code()
        .filter(|c| (0..=2).contains(c))
        .unwrap_or(2);
    let errs = sc.cleanup();
    if !errs.is_empty() {
        return Err(format!("{text}\ncleanup: {}", errs.join("; ")));
    }
    Ok((text, code))
}

/// `diofuzz repro`: a standalone C reproducer for a scenario.
#[derive(clap::Args, Clone, Debug)]
pub struct ReproOpts {
    /// The scenario: readable JSON or corpus bytes
    pub file: PathBuf,
    /// Write the C source to OUT.c (default: stdout)
    #[arg(short = 'o', long = "out", value_name = "OUT.c")]
    pub out: Option<PathBuf>,
    /// Compile it and run it on a scratch filesystem (root); exit 0 REPRODUCED, 1 NOT
    /// REPRODUCED, 2 could not run
    #[arg(long)]
    pub run: bool,
    /// The model variant whose predicted outcome the program checks: a name, BASE+switch=value or
    /// a variant file [default: the one matching `uname -r`, else the newest]
    #[arg(long, value_name = "V", value_parser = crate::cli::one_variant)]
    pub variant: Option<&'static Variant>,
    /// A variant file (a patch described as data) whose predicted outcome the program checks
    #[arg(long, value_name = "FILE", value_parser = crate::cli::variant_file,
          conflicts_with = "variant")]
    pub variant_file: Option<&'static Variant>,
    /// Run it (implies --run) on a filesystem made on this scratch file or block device: a device
    /// with the atomic write units the scenario needs, for example. Everything on it is erased;
    /// only this is written. Needs --destroy-data
    #[arg(long, value_name = "DEV|FILE")]
    pub device: Option<PathBuf>,
    /// Confirm that the --device may be erased
    #[arg(long, requires = "device")]
    pub destroy_data: bool,
    /// With --run: run it inside a lab kernel under QEMU instead (a Debian version such as 7.3,
    /// or your build's bzImage with --modules); scenarios with device atomic units run on the
    /// scsi_debug atomic disk. See docs/lab.md
    #[arg(
        long,
        value_name = "VERSION|PATH",
        requires = "run",
        conflicts_with = "device"
    )]
    pub kernel: Option<String>,
    /// With --kernel PATH: the build's installed modules folder
    #[arg(long, value_name = "DIR", requires = "kernel")]
    pub modules: Option<PathBuf>,
}

/// `diofuzz repro FILE [-o OUT] [--run]`.
pub fn main(o: &ReproOpts) -> i32 {
    let (file, out, run) = (o.file.clone(), o.out.clone(), o.run);
    if o.device.is_some() && !o.destroy_data {
        eprintln!(
            "diofuzz repro: --device {} erases everything on it: add --destroy-data to confirm",
            o.device
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
        return 2;
    }
    let s = match diofuzz::input::load_scenario(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("diofuzz repro: {e}");
            return 2;
        }
    };
    // In a lab kernel the program checks that kernel's variant, not the host's.
    let lab_variant = o.kernel.as_deref().and_then(|k| {
        let name = crate::lab::variant_for(k).0;
        diofuzz::variant::by_name(&name)
    });
    let v = o
        .variant
        .or(o.variant_file)
        .or(lab_variant)
        .unwrap_or_else(default_variant);
    let src = match c_program_for(&s, v) {
        Ok(c) => c,
        Err(e) => {
            // Not a finding and not a bad input: this environment cannot run it.
            eprintln!("diofuzz repro: {}: {e}", file.display());
            return 2;
        }
    };
    if let (true, Some(k)) = (run, &o.kernel) {
        return crate::lab::repro_in_kernel(&s, &src, k, o.modules.as_deref());
    }
    if run || o.device.is_some() {
        return match run_on(&s, &src, o.device.as_deref()) {
            Ok((t, code)) => {
                print!("{t}");
                code
            }
            Err(e) => {
                eprintln!("diofuzz repro --run: could not run: {e}");
                2
            }
        };
    }
    match out {
        None => {
            print!("{src}");
            0
        }
        Some(p) => match fs::File::create(&p).and_then(|mut f| f.write_all(src.as_bytes())) {
            Ok(()) => {
                eprintln!("diofuzz repro: wrote {}", p.display());
                0
            }
            Err(e) => {
                eprintln!("diofuzz repro: {}: {e}", p.display());
                3
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{BlockState, Extent, PageState, Race, Rwf};

    fn sample() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.world.i_size = 16384;
        s.world.inode.reflink = true;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                shared: true,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Unwritten,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            },
        ];
        s.world.pages = vec![PageState::Clean, PageState::None, PageState::Dirty];
        s.world.rlimit_fsize = Some(8192);
        s.request.rwf = Rwf {
            atomic: true,
            ..Default::default()
        };
        s.request.len = 8192;
        s.request.fault_at = Some(4096);
        s.races.push(Race::MmapRedirty);
        s
    }

    #[test]
    fn generates_c() {
        let c = c_program(&sample()).unwrap();
        assert!(c.contains("pwritev2(cfd, iov, 1, -1, 0x40)"));
        assert!(c.contains("FICLONERANGE"));
        assert!(c.contains("RLIMIT_FSIZE"));
        let mut s = Scenario::default();
        s.request.aio = true;
        assert!(c_program(&s).is_err());
    }

    #[test]
    fn c_compiles() {
        let Some(cc) = super::super::scratch::which("cc") else {
            println!("SKIP c_compiles: no cc");
            return;
        };
        let dir = std::env::temp_dir().join(format!("diofuzz-repro-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for (i, s) in [
            sample(),
            Scenario::default(),
            diofuzz::generators::random::generate(3, 5, FsKind::Ext4),
        ]
        .iter()
        .enumerate()
        {
            let src = dir.join(format!("r{i}.c"));
            fs::write(&src, c_program(s).unwrap()).unwrap();
            let out = std::process::Command::new(&cc)
                .args(["-Wall", "-Werror", "-O1", "-o"])
                .arg(dir.join(format!("r{i}")))
                .arg(&src)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cc failed on scenario {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
