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
//! Where they run (docs/live.md "Post-call probes", "Where the probes run"): [`applies`] decides
//! per plan. P1 has two ways: [`P1Way::Remount`] on every scratch filesystem live made (loop,
//! the `--device` and `--pmem` disks, the fault disks, a filesystem of one scenario's own; an
//! encrypted inode's too, its key added again to the new superblock), and
//! [`P1Way::Flush`] where no unmount can keep the file readable: an unlinked inode (freed at its
//! last close) and a block device (no filesystem):
//! fsync/syncfs, the page cache dropped, and the O_DIRECT read-back again through the same name.
//! P2 runs wherever there is an ftruncate: not on a block device. Neither runs on a filesystem
//! brought down before the call (super::shutdown: writeback and ftruncate fail by design there,
//! and shutdown checks the device itself).
//!
//! User documentation: docs/live.md "Post-call probes".

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::exec::Observation;
use super::plan::{classify_file_at, Plan, Step, STALE_BYTE, TAG_OTHER};
use super::scratch::Scratch;
use diofuzz::scenario::FsKind;

/// The finding classes, as they open a kernel-finding line.
pub const P1: &str = "P1 (changed by syncfs, umount and mount)";
/// P1 where the file or device stays open ([`P1Way::Flush`]).
pub const P1_FLUSH: &str = "P1 (changed by a flush and a re-read with the page cache dropped)";
pub const P2: &str = "P2 (truncate up reads non-zero bytes past the old EOF)";

/// At most this much past EOF is truncated up and read (the probe's cost stays bounded).
const P2_MAX: u64 = 16 << 20;

/// What the probes did on one scenario (JSON: `probes`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Probes {
    /// The world kind ([`world`]): what the per-world counts group by.
    pub world: &'static str,
    /// "ok", "finding", or "not run: why".
    pub p1: String,
    /// How P1 ran: "remount" or "flush" (empty when it did not run).
    pub p1_way: &'static str,
    pub p2: String,
    /// Wall time of both probes, nanoseconds.
    pub ns: u64,
}

/// How P1 runs on a plan's world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P1Way {
    /// syncfs, umount and mount of the scratch filesystem, then the O_DIRECT read-back again.
    Remount,
    /// The file (or device) stays open: syncfs (a device: fsync and BLKFLSBUF), its page cache
    /// dropped, then the O_DIRECT read-back again.
    Flush,
}

impl P1Way {
    fn name(self) -> &'static str {
        match self {
            P1Way::Remount => "remount",
            P1Way::Flush => "flush",
        }
    }
}

/// Which probes apply to a plan's world, and why not where one does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applies {
    pub p1: Result<P1Way, &'static str>,
    pub p2: Result<(), &'static str>,
}

/// Why neither probe runs on a brought-down filesystem.
pub const NOT_DOWN: &str = "a filesystem shut down or read-only before the call (writeback and ftruncate fail by design; shutdown checks the device itself)";
/// Why P2 does not run on a block device.
/// (`do_ftruncate`, fs/open.c, read in 7.3: -EINVAL unless S_ISREG.)
pub const NOT_BDEV_P2: &str = "a block device has no ftruncate (its size is the device's)";

/// The probes for `plan`'s world (docs/live.md "Where the probes run").
pub fn applies(plan: &Plan) -> Applies {
    let k = &plan.key;
    if plan.down.is_some() {
        return Applies {
            p1: Err(NOT_DOWN),
            p2: Err(NOT_DOWN),
        };
    }
    let flush = k.fs == FsKind::Bdev || plan.call.unlink;
    Applies {
        p1: Ok(if flush { P1Way::Flush } else { P1Way::Remount }),
        p2: if k.fs == FsKind::Bdev {
            Err(NOT_BDEV_P2)
        } else {
            Ok(())
        },
    }
}

/// Whether any probe runs on `plan`.
pub fn any(plan: &Plan) -> bool {
    let a = applies(plan);
    a.p1.is_ok() || a.p2.is_ok()
}

/// The world kind of a plan, for the per-world counts (`fault`: on a fault disk).
pub fn world(plan: &Plan, fault: bool) -> &'static str {
    let k = &plan.key;
    let swap = plan.steps.contains(&Step::SwapOn) || plan.call.after_open.swap.is_some();
    if k.fs == FsKind::Bdev {
        "bdev"
    } else if plan.down.is_some() {
        "shut-down"
    } else if plan.call.unlink {
        "unlinked"
    } else if k.inode_kind == super::inode_kind::InodeKind::Encrypted {
        "encrypted"
    } else if plan.shift > 0 {
        "shifted"
    } else if swap {
        "swap"
    } else if k.own {
        "own-fs"
    } else if fault {
        "fault-disk"
    } else if k.dax != super::dax::DaxMount::Off {
        "pmem"
    } else if k.disk {
        "disk"
    } else if k.layered {
        "layered"
    } else {
        "loop"
    }
}

/// P2's set-up, between the scenario's set-up and the call: write the stale byte over the device
/// blocks of the file's unwritten extents (FIEMAP_EXTENT_UNWRITTEN) on the device the file's
/// filesystem is mounted from ([`device_of`]: the loop device, the `--device`, `--pmem` or fault
/// disk, the loop device of a filesystem of the scenario's own). They read
/// as zeroes while unwritten; a kernel that converts them without writing them
/// (ext4-prealloc-dio-stale) then exposes 0x55 whatever the image held there (a sparse image
/// holds zeroes where the mount's stale fill did not reach). Only the file's own blocks are
/// written, with O_DIRECT (the filesystem caches no data of them on the device).
///
/// Writeback the kernel started on its own during the set-up (e.g. `ext4_alloc_da_blocks` at the
/// close of a file truncated to 0, EXT4_STATE_DA_ALLOC_CLOSE) is waited for first: until its
/// end_io converts them, the blocks it writes are unwritten extents in FIEMAP, and the seed
/// would land over the data after it (seen: `live --seed 21` gen-21-ext4-485, a false O2 and
/// P1). ext4 (`ext4_end_io_end` -> `ext4_release_io_end`) and XFS (`xfs_end_ioend`) end the
/// folios' writeback only after the conversion; SYNC_FILE_RANGE_WAIT_BEFORE waits for that
/// and starts no writeback (dirty pages stay dirty).
pub fn seed_unwritten(path: &Path) -> Result<(), String> {
    const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
    let f = fs::File::open(path).map_err(|e| format!("open: {e}"))?;
    // SAFETY: sync_file_range on our descriptor.
    if unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WAIT_BEFORE) } != 0
    {
        return Err(format!(
            "sync_file_range(WAIT_BEFORE) before the stale seed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let ext = super::fiemap::fiemap(f.as_raw_fd())?;
    if !ext.iter().any(|e| e.3 & FIEMAP_EXTENT_UNWRITTEN != 0) {
        return Ok(());
    }
    let dev = device_of(&f)?;
    let d = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&dev)
        .map_err(|e| format!("open {}: {e}", dev.display()))?;
    for &(_, phys, len, _) in ext.iter().filter(|e| e.3 & FIEMAP_EXTENT_UNWRITTEN != 0) {
        let mut m = super::exec::AlignedBuf::new(len as usize)?;
        m.bytes().fill(STALE_BYTE);
        d.write_all_at(m.bytes(), phys)
            .map_err(|e| format!("stale seed at {phys}: {e}"))?;
    }
    Ok(())
}

/// The block device node a file's filesystem is mounted from: st_dev, named by the
/// DEVNAME of /sys/dev/block/MAJ:MIN/uevent (a single-device filesystem: ext4, XFS without a
/// realtime or log device, which live never makes).
pub fn device_of(f: &fs::File) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let d = f.metadata().map_err(|e| format!("fstat: {e}"))?.dev();
    let (maj, min) = (libc::major(d), libc::minor(d));
    let u = fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/uevent"))
        .map_err(|e| format!("device {maj}:{min}: {e}"))?;
    let name = u
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .ok_or(format!("device {maj}:{min}: no DEVNAME"))?;
    Ok(Path::new("/dev").join(name))
}

/// Run P2 then P1 on the scenario's file or device `path` (the call and the read-back done:
/// `obs`); `fault`: on a fault disk (only for [`world`]). Returns what ran and the kernel
/// findings.
pub fn run(
    sc: &mut Scratch,
    plan: &Plan,
    path: &Path,
    obs: &Observation,
    fault: bool,
) -> (Probes, Vec<String>) {
    let t0 = Instant::now();
    let mut found = Vec::new();
    let a = applies(plan);
    let mut pr = Probes {
        world: world(plan, fault),
        ..Probes::default()
    };
    // P1's first read-back is the executor's (taken right after the call; P2 then changes
    // only what lies past EOF).
    let before = before(plan, path, obs);
    pr.p2 = match a
        .p2
        .map_err(|e| e.to_string())
        .and_then(|()| truncate_up(plan, path))
    {
        Ok(Truncated::NothingPastEof) => "not run: nothing past EOF".into(),
        Ok(Truncated::Zeroes) => "ok".into(),
        Ok(Truncated::NonZero(f)) => {
            found.push(format!("{P2}: {f}"));
            "finding".into()
        }
        Err(e) => format!("not run: {e}"),
    };
    let p1 = a.p1.map_err(|e| e.to_string());
    pr.p1_way = p1.as_ref().map_or("", |w| w.name());
    pr.p1 = match p1.and_then(|w| before.and_then(|b| persistence(sc, plan, path, w, b))) {
        Ok(None) => "ok".into(),
        Ok(Some(f)) => {
            let label = if pr.p1_way == "flush" { P1_FLUSH } else { P1 };
            found.push(format!("{label}: {f}"));
            "finding".into()
        }
        Err(e) => format!("not run: {e}"),
    };
    pr.ns = t0.elapsed().as_nanos() as u64;
    (pr, found)
}

/// Both probes "not run: why" (`--no-probes` leaves `probes` out instead).
pub fn not_run(plan: &Plan, fault: bool, why: &str) -> Probes {
    Probes {
        world: world(plan, fault),
        p1: format!("not run: {why}"),
        p2: format!("not run: {why}"),
        ..Probes::default()
    }
}

/// The unit of every O_DIRECT read of the probes: the filesystem block (a shifted plan's window
/// ends at s_maxbytes, which a page past the end could cross; a page is a whole number of
/// blocks, so the unit is the block everywhere).
fn unit(plan: &Plan) -> u64 {
    1 << plan.key.blkbits
}

/// The window P1 compares: the executor's O_DIRECT read-back over [shift, i_size), raw (before
/// the swap header is unmasked). Shared rather than read again: nothing changes the file
/// between that read and here except swapoff (no data). Read here only if the executor's read
/// failed.
fn before(plan: &Plan, path: &Path, obs: &Observation) -> Result<(u64, Vec<u8>), String> {
    let size = obs.i_size + plan.shift;
    if obs.readback_error.is_none() {
        return Ok((size, obs.direct_bytes.clone()));
    }
    super::bdev_geometry::read_direct(&plan.key, path, plan.shift, size, unit(plan))
        .map(|b| (size, b))
}

fn size_of(plan: &Plan, path: &Path) -> Result<u64, String> {
    let f = fs::File::open(path).map_err(|e| format!("open: {e}"))?;
    if plan.key.fs == FsKind::Bdev {
        return super::exec::device_size(f.as_raw_fd());
    }
    f.metadata()
        .map(|m| m.len())
        .map_err(|e| format!("fstat: {e}"))
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

/// The first 512-byte sector where `a` and `b` (read from file offset `base`) differ (byte
/// offset), with both described.
fn first_difference(a: &[u8], b: &[u8], base: u64) -> Option<String> {
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
    let off = base + (s * 512) as u64;
    Some(format!(
        "{count} sector(s) differ, first at byte {off}: before {}, after {}",
        describe(&r(a), off),
        describe(&r(b), off)
    ))
}

/// P1: sync, then umount + mount ([`P1Way::Remount`]) or drop the page cache
/// ([`P1Way::Flush`]), then the O_DIRECT read-back of [shift, `before.0`) again: Some(why) if it
/// differs from `before.1` (taken right after the call), or if the size changed.
fn persistence(
    sc: &mut Scratch,
    plan: &Plan,
    path: &Path,
    way: P1Way,
    (size0, before): (u64, Vec<u8>),
) -> Result<Option<String>, String> {
    let size1 = size_of(plan, path)?;
    {
        let f = fs::File::open(path).map_err(|e| format!("open: {e}"))?;
        let fd = f.as_raw_fd();
        if plan.key.fs == FsKind::Bdev {
            // A block device: write its page cache back and drop it (blkdev_fsync;
            // BLKFLSBUF: sync_blockdev and invalidate_bdev).
            const BLKFLSBUF: libc::c_ulong = 0x1261;
            f.sync_all().map_err(|e| format!("fsync: {e}"))?;
            // SAFETY: BLKFLSBUF takes no argument.
            if unsafe { libc::ioctl(fd, BLKFLSBUF as _, 0) } != 0 {
                return Err(format!("BLKFLSBUF: {}", std::io::Error::last_os_error()));
            }
        // SAFETY: syncfs on our fd.
        } else if unsafe { libc::syncfs(fd) } != 0 {
            return Err(format!("syncfs: {}", std::io::Error::last_os_error()));
        }
        if way == P1Way::Flush {
            // SAFETY: advisory call on our fd.
            unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
        }
    }
    if way == P1Way::Remount {
        sc.cycle_mount(plan.key)?;
        if plan.key.inode_kind == super::inode_kind::InodeKind::Encrypted {
            // The key went with the old superblock's keyring: add it to the new one, or the
            // file cannot be opened (-ENOKEY).
            super::inode_kind::add_key(super::inode_kind::mount_of(plan, path))?;
        }
    }
    let size2 = size_of(plan, path)?;
    let what = match way {
        P1Way::Remount => "i_size",
        P1Way::Flush if plan.key.fs == FsKind::Bdev => "the device size",
        P1Way::Flush => "i_size",
    };
    if size1 != size2 {
        return Ok(Some(format!("{what} {size1} before, {size2} after")));
    }
    // A tail device: the bytes past its last readable block from the backing file.
    let after = super::bdev_geometry::read_direct(
        &plan.key,
        path,
        plan.shift,
        size0.min(size2),
        unit(plan),
    )?;
    Ok(first_difference(&before, &after, plan.shift))
}

/// What P2 saw.
#[derive(Debug, PartialEq, Eq)]
enum Truncated {
    /// EOF is the end of a block and nothing is mapped past it: nothing to truncate up over.
    NothingPastEof,
    /// The new part reads zeroes, through the page cache and with O_DIRECT.
    Zeroes,
    /// It does not: what was read where.
    NonZero(String),
}

/// P2: truncate up over what is mapped past EOF, read the new part.
fn truncate_up(plan: &Plan, path: &Path) -> Result<Truncated, String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open: {e}"))?;
    let size = f.metadata().map_err(|e| format!("fstat: {e}"))?.len();
    let bs = unit(plan);
    let mapped = super::fiemap::fiemap(f.as_raw_fd())?
        .iter()
        .map(|e| e.0 + e.2)
        .max()
        .unwrap_or(0);
    let end = mapped.max(size.div_ceil(bs) * bs).min(size + P2_MAX);
    if end <= size {
        return Ok(Truncated::NothingPastEof);
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
    let from = size / bs * bs;
    let direct = super::exec::read_direct(path, from, end, bs)?;
    let direct = &direct[(size - from) as usize..];
    for (how, b) in [("the page cache", &cached[..]), ("O_DIRECT", direct)] {
        if let Some(i) = b.iter().position(|&x| x != 0) {
            let at = size + i as u64;
            let s = at / 512 * 512;
            let sect = &b[(s.max(size) - size) as usize..((s + 512 - size) as usize).min(b.len())];
            let bad = b.chunks(512).filter(|c| c.iter().any(|&x| x != 0)).count();
            return Ok(Truncated::NonZero(format!(
                "ftruncate {size} -> {end} (mapped to {mapped}): byte {at} reads {} through {how} ({bad} of {} 512-byte pieces not zero)",
                describe(sect, s),
                b.len().div_ceil(512)
            )));
        }
    }
    Ok(Truncated::Zeroes)
}

/// C for the reproducer (tools/src/live/repro.rs), run after the read-back: P1 without the
/// unmount (the reproducer runs in a directory the user names, whose filesystem it does not
/// own): syncfs (a block device: fsync and BLKFLSBUF), the file's cache dropped and
/// `drop_caches` (root), then the O_DIRECT read-back of the window [shift, size) again, byte for
/// byte; P2 as live does it. Prints "PROBE P1 ..." and "PROBE P2 ..." lines ([`c_call`]).
pub const C_FUNCS: &str = r#"
/* Post-call probes (docs/live.md "Post-call probes"). */
struct probe_fiemap_extent { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; };
struct probe_fiemap { uint64_t start, length; uint32_t flags, mapped, count, reserved; struct probe_fiemap_extent ext[128]; };

/* [from, from + len) with O_DIRECT, in whole shift_units (the filesystem block of a shifted
 * window, else a page). */
static unsigned char *probe_read(const char *path, uint64_t from, uint64_t len)
{
	uint64_t n = (len + shift_unit - 1) / shift_unit * shift_unit + 4096;
	unsigned char *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	ssize_t got = 0, r;
	if (b == MAP_FAILED || pfd < 0)
		die("probe read");
	while ((uint64_t)got < len && (r = pread(pfd, b + got, n - 4096 - got, from + got)) > 0)
		got += r;
	close(pfd);
	return b;
}

/* i_size, or a block device's size (BLKGETSIZE64). */
static uint64_t probe_size(const char *path, int bdev)
{
	struct stat st;
	uint64_t n = 0;
	int pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) || (bdev && ioctl(pfd, 0x80081272UL, &n)))
		die("probe size");
	close(pfd);
	return bdev ? n : (uint64_t)st.st_size;
}

/* P1's first read, right after the read-back and before P2 (as live takes it). */
struct probe_before { uint64_t size; unsigned char *b; };

static struct probe_before probe_p1_before(const char *path, int bdev)
{
	struct probe_before a;
	a.size = probe_size(path, bdev);
	a.b = probe_read(path, shift, a.size - shift);
	return a;
}

static void probe_p1(const char *path, int bdev, struct probe_before a)
{
	uint64_t s1 = probe_size(path, bdev), s2, n;
	int pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0 || (bdev ? fsync(pfd) || ioctl(pfd, 0x1261UL /* BLKFLSBUF */, 0) : syncfs(pfd)))
		die("probe sync");
	posix_fadvise(pfd, 0, 0, POSIX_FADV_DONTNEED);
	close(pfd);
	int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (dc < 0 || write(dc, "3", 1) != 1)
		printf("PROBE P1: drop_caches failed (not root?): %s\n", strerror(errno));
	if (dc >= 0)
		close(dc);
	s2 = probe_size(path, bdev);
	if (s1 != s2) {
		printf("PROBE P1 FINDING: size %llu before the flush and drop_caches, %llu after\n",
		       (unsigned long long)s1, (unsigned long long)s2);
		return;
	}
	n = a.size < s2 ? a.size : s2;
	unsigned char *b = probe_read(path, shift, n - shift);
	for (uint64_t s = 0; shift + s * 512 < n; s++) {
		uint64_t len = n - shift - s * 512 < 512 ? n - shift - s * 512 : 512;
		if (memcmp(a.b + s * 512, b + s * 512, len)) {
			printf("PROBE P1 FINDING: after the flush and drop_caches sector %llu (byte %llu) reads '%c', before '%c'\n",
			       (unsigned long long)(shift / 512 + s), (unsigned long long)(shift + s * 512),
			       classify(b + s * 512, shift / 512 + s, len), classify(a.b + s * 512, shift / 512 + s, len));
			return;
		}
	}
	printf("PROBE P1 ok: the O_DIRECT read-back is unchanged by the flush and drop_caches\n");
}

/* unused where P2 does not apply (a block device) */
static void __attribute__((unused)) probe_p2(const char *path, unsigned bs)
{
	static struct probe_fiemap m;
	struct stat st;
	int pfd = open(path, O_RDWR | O_CLOEXEC);
	memset(&m, 0, sizeof(m));
	m.length = ~0ULL;
	m.count = 128;
	if (pfd < 0 || fstat(pfd, &st) || ioctl(pfd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m) || m.mapped >= 128) {
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
		close(pfd);
		return;
	}
	if (ftruncate(pfd, end)) {
		printf("PROBE P2 not run: ftruncate: %s\n", strerror(errno));
		close(pfd);
		return;
	}
	fsync(pfd);
	posix_fadvise(pfd, 0, 0, POSIX_FADV_DONTNEED);
	close(pfd);
	uint64_t from = size / bs * bs;
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

/// The C statements that run the probes that apply to `plan` on `path` (a block device's
/// `path` is the device; an unlinked inode's is `/proc/self/fd/N` by then), and print why the
/// others do not run.
pub fn c_call(plan: &Plan) -> String {
    let a = applies(plan);
    let bdev = (plan.key.fs == FsKind::Bdev) as u8;
    let not = |p: &str, why: &str| format!("\tprintf(\"PROBE {p} not run: %s\\n\", {why:?});\n");
    // As live: P1's first read, then P2, then the rest of P1.
    let mut o = match a.p1 {
        Ok(_) => format!("\tstruct probe_before p1b = probe_p1_before(path, {bdev});\n"),
        Err(_) => String::new(),
    };
    o.push_str(&match a.p2 {
        Ok(()) => format!("\tprobe_p2(path, {});\n", unit(plan)),
        Err(why) => not("P2", why),
    });
    o.push_str(&match a.p1 {
        Ok(_) => format!("\tprobe_p1(path, {bdev}, p1b);\n"),
        Err(why) => not("P1", why),
    });
    o
}

/// Per world kind ([`world`]): P1 runs, P1 findings, P2 runs, P2 findings ("ok" or "finding").
pub fn per_world(outs: &[super::compare::Outcome]) -> Vec<(&'static str, [u64; 4])> {
    let mut m: std::collections::BTreeMap<&'static str, [u64; 4]> = Default::default();
    for p in outs.iter().filter_map(|o| o.probes.as_ref()) {
        let e = m.entry(p.world).or_default();
        for (i, v) in [&p.p1, &p.p2].into_iter().enumerate() {
            e[2 * i] += (v == "ok" || v == "finding") as u64;
            e[2 * i + 1] += (v == "finding") as u64;
        }
    }
    m.into_iter().collect()
}

/// The text output's line: how often each probe ran and found something, per world kind, and
/// the cost.
pub fn summary_line(outs: &[super::compare::Outcome], bench: &super::Bench) -> String {
    if outs.iter().all(|o| o.probes.is_none()) {
        return "probes: not run".into();
    }
    let w = per_world(outs);
    let sum = |i: usize| w.iter().map(|(_, c)| c[i]).sum::<u64>();
    let worlds: Vec<String> = w
        .iter()
        .map(|(k, c)| format!("{k} {}/{} {}/{}", c[0], c[1], c[2], c[3]))
        .collect();
    format!(
        "probes: P1 (persistence) ran {}, found {}; P2 (truncate-up) ran {}, found {}; per world (P1 ran/found P2 ran/found): {}; {:.1} ms per probed scenario ({:.2}s in all)",
        sum(0),
        sum(1),
        sum(2),
        sum(3),
        worlds.join(", "),
        bench.probe_seconds * 1e3 / (bench.probed.max(1) as f64),
        bench.probe_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, plan_on};
    use super::*;
    use diofuzz::scenario::Scenario;

    fn ext4() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        s.world.device = Default::default();
        s.request.rwf = Default::default();
        s.world.i_size = 8192;
        s.request.open.direct = true;
        s.request.len = 4096;
        s
    }

    /// Every world live builds gets the probes that mean something there: P1 by unmount where
    /// the file survives one, by a flush where it stays open (unlinked, encrypted, a block
    /// device), P2 wherever there is an ftruncate (docs/live.md "Where the probes run").
    #[test]
    fn probes_apply_to_every_world_they_mean_something_in() {
        let remount = Applies {
            p1: Ok(P1Way::Remount),
            p2: Ok(()),
        };
        let p = plan(&ext4()).unwrap();
        assert_eq!((applies(&p), world(&p, false)), (remount, "loop"));
        // A fault disk is a disk plan with the fault device armed around the call.
        assert_eq!(world(&p, true), "fault-disk");
        let mut u = ext4();
        u.world.inode.unlinked = true;
        let p = plan(&u).unwrap();
        assert!(p.call.unlink);
        assert_eq!(applies(&p).p1, Ok(P1Way::Flush), "freed at the last close");
        assert_eq!(applies(&p).p2, Ok(()), "ftruncate through the open fd");
        assert_eq!(world(&p, false), "unlinked");
        let mut e = ext4();
        e.world.inode.encrypted = true;
        let p = plan(&e).unwrap();
        assert_eq!(
            applies(&p).p1,
            Ok(P1Way::Remount),
            "the key is added again after the mount"
        );
        assert_eq!((applies(&p).p2, world(&p, false)), (Ok(()), "encrypted"));
        let mut sh = super::super::limits::written_8k(true);
        sh.world.s_maxbytes = 3 * 4096;
        let p = plan(&sh).unwrap();
        assert!(p.shift > 0);
        assert_eq!((applies(&p), world(&p, false)), (remount, "shifted"));
        let mut b = ext4();
        b.fs = FsKind::Bdev;
        let p = plan_on(&b, None).unwrap();
        assert_eq!(applies(&p).p1, Ok(P1Way::Flush));
        assert_eq!(applies(&p).p2, Err(NOT_BDEV_P2));
        assert_eq!(world(&p, false), "bdev");
        let mut d = plan(&ext4()).unwrap();
        d.key.disk = true;
        assert_eq!((applies(&d), world(&d, false)), (remount, "disk"));
        d.key.own = true;
        d.key.disk = false;
        assert_eq!((applies(&d), world(&d, false)), (remount, "own-fs"));
        d.steps.push(Step::SwapOn);
        assert_eq!((applies(&d), world(&d, false)), (remount, "swap"));
        d.down = Some(super::super::shutdown::Down {
            emergency_ro: false,
            shutdown: true,
        });
        assert!(!any(&d));
        assert_eq!(world(&d, false), "shut-down");
    }

    /// The reproducer prints the probes that apply and why the others do not: a block device
    /// runs P1 with fsync and BLKFLSBUF and says P2 has no ftruncate there; a shifted window
    /// truncates up in file blocks.
    #[test]
    fn c_probes_follow_the_world() {
        let p = plan(&ext4()).unwrap();
        assert_eq!(
            c_call(&p),
            "\tstruct probe_before p1b = probe_p1_before(path, 0);\n\tprobe_p2(path, 4096);\n\tprobe_p1(path, 0, p1b);\n"
        );
        let mut b = ext4();
        b.fs = FsKind::Bdev;
        let p = plan_on(&b, None).unwrap();
        let c = c_call(&p);
        assert!(
            c.starts_with("\tstruct probe_before p1b = probe_p1_before(path, 1);\n"),
            "{c}"
        );
        assert!(c.ends_with("\tprobe_p1(path, 1, p1b);\n"), "{c}");
        assert!(
            c.contains("PROBE P2 not run: %s\\n\", \"a block device has no ftruncate"),
            "{c}"
        );
        let mut k = ext4();
        k.world.blkbits = 10;
        k.world.i_size = 2048;
        k.request.len = 1024;
        assert!(c_call(&plan(&k).unwrap()).contains("probe_p2(path, 1024)"));
        assert!(
            C_FUNCS.contains("BLKFLSBUF")
                && C_FUNCS.contains("pread(pfd, b + got, n - 4096 - got, from + got)")
        );
    }

    #[test]
    fn difference_names_the_first_sector_and_counts() {
        let a = vec![0u8; 2048];
        let mut b = a.clone();
        b[1024..1536].fill(STALE_BYTE);
        let d = first_difference(&a, &b, 0).unwrap();
        assert!(
            d.starts_with("1 sector(s) differ, first at byte 1024"),
            "{d}"
        );
        assert!(
            d.contains("before zeroes") && d.contains("stale fill"),
            "{d}"
        );
        assert!(first_difference(&a, &a, 0).is_none());
        // A shorter read-back differs from the first missing sector.
        assert!(first_difference(&a, &a[..1024], 0)
            .unwrap()
            .contains("at byte 1024"));
    }
}
