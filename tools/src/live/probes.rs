// SPDX-License-Identifier: GPL-2.0-only
//! Post-call probes: kernel checks that look past the read-back right after the call (issue 13,
//! "some defects have no property"). They judge the kernel against POSIX and against itself, not
//! against the model, so what they find is a kernel finding of its own class (P1, P2), reported
//! apart from disagreements.
//!
//! - **P1 persistence**: syncfs, unmount and mount the scratch filesystem again (only the loop
//!   filesystem live made), read the file back with O_DIRECT: it must equal the read-back taken
//!   right before (what the call and the set-up left must survive a clean unmount), and i_size too.
//!   Catches docs/live-findings/inline-convert-checkpoint: a write into a block that
//!   `ext4_convert_inline_data_nolock` journalled as metadata is reverted when jbd2 checkpoints it.
//! - **P2 truncate-up**: ftruncate the file up over every block FIEMAP maps past EOF (at least
//!   to the end of the EOF block) and read the new part, through the page cache and with O_DIRECT
//!   after the cache is dropped: it must be zeroes (POSIX ftruncate). What the kernels do, read in
//!   6.12.117 and 7.3.4: ext4_setattr zeroes only the tail of the old EOF block
//!   (ext4_block_truncate_page up to 7.2, ext4_block_zero_eof in 7.3) and relies on whole blocks
//!   past EOF being holes or unwritten; xfs_setattr_size zeroes [old, new) with xfs_zero_range
//!   (iomap_zero_range: written extents are zeroed, holes and unwritten ones read zeroes). Catches
//!   docs/live-findings/ext4-prealloc-dio-stale: a failed O_DIRECT write past EOF into
//!   preallocated blocks leaves written extents holding the device's stale bytes.
//!
//! User documentation: docs/live.md "Post-call probes".

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::plan::{classify_file_at, Plan, STALE_BYTE, TAG_OTHER};
use super::scratch::Scratch;
use diofuzz::scenario::{FsKind, PAGE_SIZE};

/// The finding classes, as they open a kernel-finding line.
pub const P1: &str = "P1 (changed by syncfs, umount and mount)";
pub const P2: &str = "P2 (truncate up reads non-zero bytes past the old EOF)";

/// At most this much past EOF is truncated up and read (the probe's cost stays bounded).
const P2_MAX: u64 = 16 << 20;

/// What the probes did on one scenario (JSON: `probes`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Probes {
    /// "ok", "finding", or "not run: why".
    pub p1: String,
    pub p2: String,
    /// Wall time of both probes, nanoseconds.
    pub ns: u64,
}

/// Why the probes cannot run on this plan's file (None: they can). Only a file on a loop
/// filesystem of live's own that survives the scenario's set-up as a named, readable file.
pub fn refused(plan: &Plan) -> Option<&'static str> {
    let k = &plan.key;
    if k.fs == FsKind::Bdev {
        Some("a block device")
    } else if k.disk || k.layered || k.own || plan.down.is_some() {
        Some("not on a loop filesystem of live's own")
    } else if plan.call.unlink {
        Some("an unlinked inode")
    } else if k.inode_kind == super::inode_kind::InodeKind::Encrypted {
        Some("an encrypted inode (its key goes with the unmount)")
    } else if plan.shift > 0 {
        Some("a shifted window near s_maxbytes")
    } else if plan.steps.contains(&super::plan::Step::SwapOn) {
        Some("a swap file")
    } else {
        None
    }
}

/// P2's set-up, between the scenario's set-up and the call: write the stale byte over the device
/// blocks of the file's unwritten extents (FIEMAP_EXTENT_UNWRITTEN) on `dev`, the scratch loop
/// device. They read as zeroes while unwritten; a kernel that converts them without writing them
/// (ext4-prealloc-dio-stale) then exposes 0x55 whatever the image held there (a sparse image
/// holds zeroes where the mount's stale fill did not reach). Only the file's own blocks are
/// written, with O_DIRECT (the filesystem caches no data of them on the device).
pub fn seed_unwritten(path: &Path, dev: &Path) -> Result<(), String> {
    const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
    let f = fs::File::open(path).map_err(|e| format!("open: {e}"))?;
    let ext = super::fiemap::fiemap(f.as_raw_fd())?;
    let d = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .map_err(|e| format!("open {}: {e}", dev.display()))?;
    for &(_, phys, len, _) in ext.iter().filter(|e| e.3 & FIEMAP_EXTENT_UNWRITTEN != 0) {
        let mut m = super::exec::AlignedBuf::new(len as usize)?;
        m.bytes().fill(STALE_BYTE);
        d.write_all_at(m.bytes(), phys)
            .map_err(|e| format!("stale seed at {phys}: {e}"))?;
    }
    Ok(())
}

/// Run P2 then P1 on the scenario's file `path` (the call and the read-back done). Returns what
/// ran and the kernel findings.
pub fn run(sc: &mut Scratch, plan: &Plan, path: &Path) -> (Probes, Vec<String>) {
    let t0 = Instant::now();
    let mut found = Vec::new();
    let mut pr = Probes::default();
    if let Some(why) = refused(plan) {
        pr.p1 = format!("not run: {why}");
        pr.p2 = pr.p1.clone();
        return (pr, found);
    }
    // P1's first read-back: the file right after the call (P2 then changes only what lies past
    // its EOF).
    let before =
        size_of(path).and_then(|n| super::exec::read_direct(path, 0, n, PAGE_SIZE).map(|b| (n, b)));
    pr.p2 = match truncate_up(plan, path) {
        Ok(Some(f)) if f.is_empty() => "not run: nothing past EOF".into(),
        Ok(None) => "ok".into(),
        Ok(Some(f)) => {
            found.push(format!("{P2}: {f}"));
            "finding".into()
        }
        Err(e) => format!("not run: {e}"),
    };
    pr.p1 = match before.and_then(|b| persistence(sc, plan, path, b)) {
        Ok(None) => "ok".into(),
        Ok(Some(f)) => {
            found.push(format!("{P1}: {f}"));
            "finding".into()
        }
        Err(e) => format!("not run: {e}"),
    };
    pr.ns = t0.elapsed().as_nanos() as u64;
    (pr, found)
}

fn size_of(path: &Path) -> Result<u64, String> {
    fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("stat: {e}"))
}

/// What a sector holds, for messages.
fn describe(b: &[u8], off: u64) -> String {
    if b.iter().all(|&x| x == STALE_BYTE) {
        return "the device's stale fill (0x55)".into();
    }
    let t = classify_file_at(b, None, off).first().copied();
    let name = match t {
        Some(diofuzz::model::TAG_ZERO) => "zeroes",
        Some(diofuzz::model::TAG_OLD) => "the set-up's data (OLD)",
        Some(diofuzz::model::TAG_OLD_DIRTY) => "the set-up's dirty data (OLD_DIRTY)",
        Some(diofuzz::model::TAG_NEW) => "the call's data (NEW)",
        Some(diofuzz::model::TAG_STALE) => "stale data",
        Some(TAG_OTHER) | None | Some(_) => "unrecognised data",
    };
    let hex: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    format!("{name} ({hex}...)")
}

/// The first 512-byte sector where `a` and `b` differ (byte offset), with both described.
fn first_difference(a: &[u8], b: &[u8]) -> Option<String> {
    let n = a.len().max(b.len());
    let s = (0..n.div_ceil(512)).find(|&s| {
        let r = |v: &[u8]| v[(s * 512).min(v.len())..((s + 1) * 512).min(v.len())].to_vec();
        r(a) != r(b)
    })?;
    let r = |v: &[u8]| v[(s * 512).min(v.len())..((s + 1) * 512).min(v.len())].to_vec();
    let count = (0..n.div_ceil(512))
        .filter(|&t| {
            let q = |v: &[u8]| v[(t * 512).min(v.len())..((t + 1) * 512).min(v.len())].to_vec();
            q(a) != q(b)
        })
        .count();
    let off = (s * 512) as u64;
    Some(format!(
        "{count} sector(s) differ, first at byte {off}: before {}, after {}",
        describe(&r(a), off),
        describe(&r(b), off)
    ))
}

/// P1: syncfs, umount + mount, the O_DIRECT read-back of the first `before.0` bytes again: Some(why)
/// if it differs from `before.1` (taken right after the call), or if i_size changed.
fn persistence(
    sc: &mut Scratch,
    plan: &Plan,
    path: &Path,
    (size0, before): (u64, Vec<u8>),
) -> Result<Option<String>, String> {
    let size1 = size_of(path)?;
    {
        let f = fs::File::open(path).map_err(|e| format!("open: {e}"))?;
        // SAFETY: syncfs on our fd.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(format!("syncfs: {}", std::io::Error::last_os_error()));
        }
    }
    sc.cycle_mount(plan.key)?;
    let size2 = size_of(path)?;
    if size1 != size2 {
        return Ok(Some(format!("i_size {size1} before, {size2} after")));
    }
    let after = super::exec::read_direct(path, 0, size0.min(size2), PAGE_SIZE)?;
    Ok(first_difference(&before, &after))
}

/// P2: truncate up over what is mapped past EOF, read the new part. Some("") if nothing is past
/// EOF, Some(why) if it is not all zeroes.
fn truncate_up(plan: &Plan, path: &Path) -> Result<Option<String>, String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open: {e}"))?;
    let size = f.metadata().map_err(|e| format!("fstat: {e}"))?.len();
    let bs = 1u64 << plan.key.blkbits;
    let mapped = super::fiemap::fiemap(f.as_raw_fd())?
        .iter()
        .map(|e| e.0 + e.2)
        .max()
        .unwrap_or(0);
    let end = mapped.max(size.div_ceil(bs) * bs).min(size + P2_MAX);
    if end <= size {
        return Ok(Some(String::new()));
    }
    f.set_len(end)
        .map_err(|e| format!("ftruncate {end}: {e}"))?;
    let mut cached = vec![0u8; (end - size) as usize];
    f.read_exact_at(&mut cached, size)
        .map_err(|e| format!("read after ftruncate: {e}"))?;
    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    // SAFETY: advisory call on our fd.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    drop(f);
    let from = size / PAGE_SIZE * PAGE_SIZE;
    let direct = super::exec::read_direct(path, from, end, PAGE_SIZE)?;
    let direct = &direct[(size - from) as usize..];
    for (how, b) in [("the page cache", &cached[..]), ("O_DIRECT", direct)] {
        if let Some(i) = b.iter().position(|&x| x != 0) {
            let at = size + i as u64;
            let s = at / 512 * 512;
            let sect = &b[(s.max(size) - size) as usize..((s + 512 - size) as usize).min(b.len())];
            let bad = b.chunks(512).filter(|c| c.iter().any(|&x| x != 0)).count();
            return Ok(Some(format!(
                "ftruncate {size} -> {end} (mapped to {mapped}): byte {at} reads {} through {how} ({bad} of {} 512-byte pieces not zero)",
                describe(sect, s),
                b.len().div_ceil(512)
            )));
        }
    }
    Ok(None)
}

/// C for the reproducer (tools/src/live/repro.rs), run after the read-back: P1 without the
/// unmount (the reproducer runs in a directory the user names, whose filesystem it does not
/// own): syncfs and drop_caches (root), then the O_DIRECT read-back again, byte for byte; P2 as
/// live does it. Prints "PROBE P1 ..." and "PROBE P2 ..." lines.
pub const C_FUNCS: &str = r#"
/* Post-call probes (docs/live.md "Post-call probes"). */
struct probe_fiemap_extent { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; };
struct probe_fiemap { uint64_t start, length; uint32_t flags, mapped, count, reserved; struct probe_fiemap_extent ext[128]; };

static unsigned char *probe_read(const char *path, uint64_t from, uint64_t len)
{
	uint64_t n = (len + 4095) / 4096 * 4096 + 4096;
	unsigned char *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open(path, O_RDONLY | O_DIRECT);
	ssize_t got = 0, r;
	if (b == MAP_FAILED || fd < 0)
		die("probe read");
	while ((uint64_t)got < len && (r = pread(fd, b + got, n - got, from + got)) > 0)
		got += r;
	close(fd);
	return b;
}

static void probe_p1(const char *path)
{
	struct stat st0, st1;
	if (stat(path, &st0))
		die("probe stat");
	unsigned char *a = probe_read(path, 0, st0.st_size);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || syncfs(fd))
		die("probe syncfs");
	close(fd);
	int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (dc < 0 || write(dc, "3", 1) != 1)
		printf("PROBE P1: drop_caches failed (not root?): %s\n", strerror(errno));
	if (dc >= 0)
		close(dc);
	if (stat(path, &st1))
		die("probe stat");
	unsigned char *b = probe_read(path, 0, st1.st_size);
	if (st0.st_size != st1.st_size) {
		printf("PROBE P1 FINDING: i_size %lld before syncfs + drop_caches, %lld after\n",
		       (long long)st0.st_size, (long long)st1.st_size);
		return;
	}
	for (uint64_t s = 0; s * 512 < (uint64_t)st0.st_size; s++) {
		uint64_t len = st0.st_size - s * 512 < 512 ? st0.st_size - s * 512 : 512;
		if (memcmp(a + s * 512, b + s * 512, len)) {
			printf("PROBE P1 FINDING: after syncfs + drop_caches sector %llu (byte %llu) reads '%c', before '%c'\n",
			       (unsigned long long)s, (unsigned long long)s * 512,
			       classify(b + s * 512, s, len), classify(a + s * 512, s, len));
			return;
		}
	}
	printf("PROBE P1 ok: the O_DIRECT read-back is unchanged by syncfs + drop_caches\n");
}

static void probe_p2(const char *path, unsigned bs)
{
	static struct probe_fiemap m;
	struct stat st;
	int fd = open(path, O_RDWR);
	memset(&m, 0, sizeof(m));
	m.length = ~0ULL;
	m.count = 128;
	if (fd < 0 || fstat(fd, &st) || ioctl(fd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m) || m.mapped >= 128) {
		printf("PROBE P2 not run: %s\n", strerror(errno));
		return;
	}
	uint64_t size = st.st_size, end = (size + bs - 1) / bs * bs;
	for (unsigned i = 0; i < m.mapped; i++)
		if (m.ext[i].logical + m.ext[i].length > end)
			end = m.ext[i].logical + m.ext[i].length;
	if (end > size + (16 << 20))
		end = size + (16 << 20);
	if (end <= size) {
		printf("PROBE P2 not run: nothing past EOF\n");
		close(fd);
		return;
	}
	if (ftruncate(fd, end)) {
		printf("PROBE P2 not run: ftruncate: %s\n", strerror(errno));
		close(fd);
		return;
	}
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	uint64_t from = size / 4096 * 4096;
	unsigned char *b = probe_read(path, from, end - from);
	for (uint64_t i = size - from; i < end - from; i++)
		if (b[i]) {
			printf("PROBE P2 FINDING: ftruncate %llu -> %llu: byte %llu reads 0x%02x (0x55: the device's stale fill)\n",
			       (unsigned long long)size, (unsigned long long)end, (unsigned long long)(from + i), b[i]);
			return;
		}
	printf("PROBE P2 ok: ftruncate %llu -> %llu reads zeroes\n", (unsigned long long)size, (unsigned long long)end);
}
"#;

/// The C statements that run both probes on `path` (block size `bs`).
pub fn c_call(bs: u64) -> String {
    format!("\tprobe_p1(path);\n\tprobe_p2(path, {bs});\n")
}

/// The text output's line: how often each probe ran and found something, and its cost.
pub fn summary_line(outs: &[super::compare::Outcome], bench: &super::Bench) -> String {
    let count = |f: &dyn Fn(&Probes) -> &str, what: &str| {
        outs.iter()
            .filter_map(|o| o.probes.as_ref())
            .filter(|p| f(p) == what)
            .count()
    };
    let (p1f, p2f) = (count(&|p| &p.p1, "finding"), count(&|p| &p.p2, "finding"));
    let (p1, p2) = (p1f + count(&|p| &p.p1, "ok"), p2f + count(&|p| &p.p2, "ok"));
    if outs.iter().all(|o| o.probes.is_none()) {
        return "probes: not run".into();
    }
    format!(
        "probes: P1 (persistence) ran {p1}, found {p1f}; P2 (truncate-up) ran {p2}, found {p2f}; {:.1} ms per probed scenario ({:.2}s in all)",
        bench.probe_seconds * 1e3 / (bench.probed.max(1) as f64),
        bench.probe_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_names_the_first_sector_and_counts() {
        let a = vec![0u8; 2048];
        let mut b = a.clone();
        b[1024..1536].fill(STALE_BYTE);
        let d = first_difference(&a, &b).unwrap();
        assert!(
            d.starts_with("1 sector(s) differ, first at byte 1024"),
            "{d}"
        );
        assert!(
            d.contains("before zeroes") && d.contains("stale fill"),
            "{d}"
        );
        assert!(first_difference(&a, &a).is_none());
        // A shorter read-back differs from the first missing sector.
        assert!(first_difference(&a, &a[..1024])
            .unwrap()
            .contains("at byte 1024"));
    }
}
