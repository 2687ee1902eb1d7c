// SPDX-License-Identifier: GPL-2.0-only
//! Scratch filesystems: a private temporary folder, image files, loop devices and mounts that
//! this process created and marked as its own.
//!
//! Marking: the folder is `$TMPDIR/diofuzz-live-<pid>-<n>` and holds a marker file
//! [`MARKER`] with "pid starttime"; loop devices are bound with `lo_file_name`
//! "diofuzz-live-<pid>" and back only onto image files inside such a folder. Stale resources
//! (left by a killed run) are removed only when the marker's process is gone.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::plan::FsKey;
use diofuzz::scenario::{FsKind, DEFAULT_DMA_ALIGNMENT};

pub const PREFIX: &str = "diofuzz-live-";
pub const MARKER: &str = ".diofuzz-live-owner";

static SEQ: AtomicU32 = AtomicU32::new(0);
/// Set by the SIGINT/SIGTERM handler; the run loop checks it and cleans up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Install SIGINT/SIGTERM handlers that only set [`INTERRUPTED`] (no SA_RESTART, so a blocking
/// call returns EINTR and the loop unwinds through the normal cleanup).
pub fn install_signal_handlers() -> Result<(), String> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(s, &sa) }.map_err(|e| format!("sigaction({s}): {e}"))?;
    }
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Process start time (field 22 of /proc/PID/stat), to tell a live owner from a reused pid.
pub fn start_time(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn owner_alive(pid: i32, start: u64) -> bool {
    if start == 0 {
        // The owner could not read its start time: any process with that pid counts as alive.
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    start_time(pid) == Some(start)
}

/// What the host offers; `check` says what is missing.
#[derive(Debug, Clone)]
pub struct Prereqs {
    pub root: bool,
    pub loop_control: bool,
    pub tracefs: bool,
    pub xfs_kernel: bool,
    pub ext4_kernel: bool,
    pub mkfs_xfs: Option<PathBuf>,
    pub mkfs_ext4: Option<PathBuf>,
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

pub fn prereqs() -> Prereqs {
    let fss = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let has = |n: &str| fss.lines().any(|l| l.split_whitespace().last() == Some(n));
    Prereqs {
        root: nix::unistd::geteuid().is_root(),
        loop_control: Path::new("/dev/loop-control").exists(),
        tracefs: has("tracefs"),
        xfs_kernel: has("xfs"),
        ext4_kernel: has("ext4"),
        mkfs_xfs: which("mkfs.xfs"),
        mkfs_ext4: which("mkfs.ext4"),
    }
}

impl Prereqs {
    /// Problems that forbid running on `fss`; empty when everything is there.
    pub fn missing(&self, fss: &[FsKind]) -> Vec<String> {
        let mut v = Vec::new();
        if !self.root {
            v.push("not root (loop devices and mounts need CAP_SYS_ADMIN)".to_string());
        }
        if !self.loop_control {
            v.push("no loop devices (/dev/loop-control missing; modprobe loop)".to_string());
        }
        if !self.tracefs {
            v.push("no tracefs in /proc/filesystems (kernel without tracing)".to_string());
        }
        if fss.contains(&FsKind::Xfs) {
            if !self.xfs_kernel {
                v.push("kernel has no XFS (modprobe xfs)".to_string());
            }
            if self.mkfs_xfs.is_none() {
                v.push(
                    "mkfs.xfs not found: install the xfsprogs package (apt-get install xfsprogs)"
                        .to_string(),
                );
            }
        }
        if fss.contains(&FsKind::Ext4) {
            if !self.ext4_kernel {
                v.push("kernel has no ext4".to_string());
            }
            if self.mkfs_ext4.is_none() {
                v.push("mkfs.ext4 not found: install the e2fsprogs package (apt-get install e2fsprogs)".to_string());
            }
        }
        v
    }
}

// ---------------------------------------------------------------- loop ioctls (linux/loop.h)
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// Bind `image` to a free loop device with logical block size `lbs`; returns /dev/loopN.
/// The device stays open (the returned File) until it is mounted: with LO_FLAGS_AUTOCLEAR the
/// kernel detaches it when the last opener goes, so after umount it detaches by itself.
fn loop_attach(image: &Path, lbs: u32, tag: &str) -> Result<(PathBuf, fs::File), String> {
    let ctl = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .map_err(|e| format!("open /dev/loop-control: {e}"))?;
    let img = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|e| format!("open {}: {e}", image.display()))?;
    for _ in 0..16 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
        if n < 0 {
            return Err(format!(
                "LOOP_CTL_GET_FREE: {}",
                std::io::Error::last_os_error()
            ));
        }
        let dev = PathBuf::from(format!("/dev/loop{n}"));
        let f = match fs::OpenOptions::new().read(true).write(true).open(&dev) {
            Ok(f) => f,
            Err(e) => return Err(format!("open {}: {e}", dev.display())),
        };
        let mut name = [0u8; 64];
        let t = tag.as_bytes();
        name[..t.len().min(63)].copy_from_slice(&t[..t.len().min(63)]);
        let cfg = LoopConfig {
            fd: img.as_raw_fd() as u32,
            block_size: lbs,
            info: LoopInfo64 {
                lo_device: 0,
                lo_inode: 0,
                lo_rdevice: 0,
                lo_offset: 0,
                lo_sizelimit: 0,
                lo_number: 0,
                lo_encrypt_type: 0,
                lo_encrypt_key_size: 0,
                lo_flags: LO_FLAGS_AUTOCLEAR,
                lo_file_name: name,
                lo_crypt_name: [0; 64],
                lo_encrypt_key: [0; 32],
                lo_init: [0; 2],
            },
            reserved: [0; 8],
        };
        // SAFETY: cfg is a valid struct loop_config for the duration of the call.
        let r = unsafe {
            libc::ioctl(
                f.as_raw_fd(),
                LOOP_CONFIGURE as _,
                &cfg as *const LoopConfig,
            )
        };
        if r == 0 {
            return Ok((dev, f));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(format!("LOOP_CONFIGURE {}: {e}", dev.display()));
        }
        // Another process took it between GET_FREE and CONFIGURE: try the next one.
    }
    Err("no free loop device after 16 tries".to_string())
}

/// queue/dma_alignment of a loop device (/dev/loopN), from sysfs; None when unreadable.
fn loop_dma_alignment(dev: &Path) -> Option<u32> {
    let name = dev.file_name()?.to_str()?;
    fs::read_to_string(format!("/sys/block/{name}/queue/dma_alignment"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The backing file of loop device `name` (e.g. "loop3"), from sysfs.
fn loop_backing(name: &str) -> Option<PathBuf> {
    let s = fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(PathBuf::from(s.trim().trim_end_matches(" (deleted)")))
}

/// Detach a loop device, but only if it is backed by a file under `dir` (one of ours).
fn loop_detach_if_ours(dev: &Path, dir: &Path) -> Result<(), String> {
    let name = dev
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("bad loop name")?;
    match loop_backing(name) {
        Some(b) if b.starts_with(dir) => {}
        _ => return Ok(()), // already detached (autoclear) or not ours: leave it
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .open(dev)
        .map_err(|e| format!("open {}: {e}", dev.display()))?;
    // SAFETY: LOOP_CLR_FD takes no argument.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), LOOP_CLR_FD as _) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENXIO) {
            return Err(format!("LOOP_CLR_FD {}: {e}", dev.display()));
        }
    }
    Ok(())
}

/// Mount points (from /proc/self/mountinfo) under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// tracefs mount points under `dir`.
fn tracefs_mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            if post.split(' ').next() != Some("tracefs") {
                return None;
            }
            Some(PathBuf::from(unescape_mount(pre.split(' ').nth(4)?)))
        })
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn unescape_mount(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Create a sparse image file of `size` bytes (mode 0600; it must not exist).
fn new_image(image: &Path, size: u64) -> Result<(), String> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(image)
        .map_err(|e| format!("create {}: {e}", image.display()))?;
    f.set_len(size)
        .map_err(|e| format!("size {}: {e}", image.display()))
}

/// The size of a scratch image: XFS needs at least 300 MiB since xfsprogs 5.19.
fn image_size(key: FsKey) -> u64 {
    if key.fs == FsKind::Xfs {
        512 << 20
    } else {
        128 << 20
    }
}

/// /sys/dev/block/MAJ:MIN of a block device.
fn sys_dev(md: &fs::Metadata) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let r = md.rdev();
    PathBuf::from(format!(
        "/sys/dev/block/{}:{}",
        libc::major(r),
        libc::minor(r)
    ))
}

/// The request queue folder of a block device (a partition's is its disk's).
pub fn device_queue(md: &fs::Metadata) -> Option<PathBuf> {
    let d = fs::canonicalize(sys_dev(md)).ok()?;
    [d.join("queue"), d.parent()?.join("queue")]
        .into_iter()
        .find(|q| q.is_dir())
}

/// One mounted scratch filesystem.
pub struct ScratchFs {
    pub key: FsKey,
    pub image: PathBuf,
    pub loopdev: PathBuf,
    pub mnt: PathBuf,
    pub mounted: bool,
}

/// The private folder and everything made in it.
pub struct Scratch {
    pub dir: PathBuf,
    pub tag: String,
    pub fss: Vec<ScratchFs>,
    pub verbose: bool,
    /// An atomic-capable disk the run may format (checked by [`disk_info`]); it holds one
    /// filesystem at a time.
    pub disk: Option<PathBuf>,
    /// The block device of the running block-device scenario ([`Scratch::bdev`]).
    bdev: Option<ScenarioBdev>,
    /// Lower filesystems of layered keys ([`super::pages`]), unmounted after `fss`.
    lowers: Vec<ScratchFs>,
    cleaned: bool,
}

/// A block device made for one block-device scenario.
enum ScenarioBdev {
    /// A zram device: stable writes from `bdev_add` on (super::bdev_state).
    Zram(super::bdev_state::Zram),
    /// An nvme-tcp namespace with the data digest: stable writes and NOWAIT
    /// (super::nvme_stable); with a held page its target exports a loop device (dev, image,
    /// hold) over an image on the lower filesystem.
    Nvme(
        super::nvme_stable::NvmeTcp,
        Option<(PathBuf, PathBuf, fs::File)>,
    ),
    /// A loop device (autoclear) over an image in the private folder; `hold` keeps it bound.
    Loop {
        dev: PathBuf,
        image: PathBuf,
        hold: Option<fs::File>,
    },
    /// Partition `pno` of the disk, added with BLKPG (nothing is written to the disk's
    /// partition table), reached through a device node in the private folder. `hold` keeps it
    /// open between the set-up and the call: the last close of a block device drops its page
    /// cache (blkdev_put -> kill_bdev), which would undo the set-up's cached pages.
    Part {
        disk: PathBuf,
        pno: i32,
        node: PathBuf,
        hold: Option<fs::File>,
    },
}

// ---------------------------------------------------------------- BLKPG (linux/blkpg.h)
const BLKPG: libc::c_ulong = 0x1269;
const BLKPG_ADD_PARTITION: i32 = 1;
const BLKPG_DEL_PARTITION: i32 = 2;
/// Where the scenario partition starts on the disk: 1 MiB, aligned to every atomic write unit
/// and boundary the disk can have (bdev_can_atomic_write() refuses a misaligned partition).
pub const PART_START: u64 = 1 << 20;
/// The partition number used (sd disks have 15).
const PART_NO: i32 = 15;

#[repr(C)]
struct BlkpgPartition {
    start: i64,
    length: i64,
    pno: i32,
    devname: [u8; 64],
    volname: [u8; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: i32,
    flags: i32,
    datalen: i32,
    data: *mut libc::c_void,
}

/// Add (`length` Some) or delete partition `pno` of `disk` with the BLKPG ioctl.
fn blkpg(disk: &Path, pno: i32, range: Option<(u64, u64)>) -> Result<(), String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .open(disk)
        .map_err(|e| format!("open {}: {e}", disk.display()))?;
    let (start, length) = range.unwrap_or((0, 0));
    let mut p = BlkpgPartition {
        start: start as i64,
        length: length as i64,
        pno,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut a = BlkpgIoctlArg {
        op: if range.is_some() {
            BLKPG_ADD_PARTITION
        } else {
            BLKPG_DEL_PARTITION
        },
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as i32,
        data: &mut p as *mut BlkpgPartition as *mut libc::c_void,
    };
    // SAFETY: a valid blkpg_ioctl_arg pointing at a valid blkpg_partition for the call.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKPG as _, &mut a as *mut BlkpgIoctlArg) };
    if r != 0 {
        return Err(format!(
            "BLKPG {} partition {pno} of {}: {}",
            if range.is_some() { "add" } else { "delete" },
            disk.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Read a disk's atomic write units and logical block size from sysfs, refusing anything but a
/// scsi_debug disk that is not mounted: `live --device` reformats it.
pub fn disk_info(dev: &Path) -> Result<super::plan::Disk, String> {
    let name = dev
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let sys = PathBuf::from(format!("/sys/class/block/{name}"));
    if !sys.exists() {
        return Err(format!(
            "{}: not a block device (no {})",
            dev.display(),
            sys.display()
        ));
    }
    let rd = |f: &str| {
        fs::read_to_string(sys.join(f))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{}: read {f}: {e}", dev.display()))
    };
    let model = rd("device/model").unwrap_or_default();
    if model != "scsi_debug" {
        return Err(format!(
            "{}: model {model:?} is not scsi_debug: `live --device` formats the disk, so it only takes a scsi_debug disk (modprobe scsi_debug atomic_wr=1 dev_size_mb=512)",
            dev.display()
        ));
    }
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let devnum = rd("dev")?;
    if mi
        .lines()
        .any(|l| l.split(' ').nth(2) == Some(devnum.as_str()))
    {
        return Err(format!("{}: mounted; unmount it first", dev.display()));
    }
    let num = |f: &str| -> Result<u32, String> {
        rd(f)?
            .parse()
            .map_err(|_| format!("{}: {f} is not a number", dev.display()))
    };
    let awu_min = num("queue/atomic_write_unit_min_bytes").unwrap_or(0);
    let awu_max = num("queue/atomic_write_unit_max_bytes").unwrap_or(0);
    if awu_max == 0 {
        return Err(format!(
            "{}: no atomic write unit (load scsi_debug with atomic_wr=1)",
            dev.display()
        ));
    }
    let lbs = num("queue/logical_block_size")?;
    if !(awu_min.is_power_of_two() && awu_max.is_power_of_two() && lbs.is_power_of_two()) {
        return Err(format!(
            "{}: atomic units {awu_min}..{awu_max} / logical block {lbs} are not powers of two",
            dev.display()
        ));
    }
    let dma_alignment = num("queue/dma_alignment")?;
    Ok(super::plan::Disk {
        awu_min,
        awu_max,
        lbs_bits: lbs.trailing_zeros() as u8,
        dma_alignment,
    })
}

impl Scratch {
    /// Create `$TMPDIR/diofuzz-live-<pid>-<n>` (mode 0700) with its marker.
    pub fn new(verbose: bool) -> Result<Scratch, String> {
        let pid = std::process::id();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir();
        let dir = base.join(format!("{PREFIX}{pid}-{n}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("create {}: {e}", dir.display()))?;
        let st = start_time(pid as i32).unwrap_or(0);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(MARKER))
            .map_err(|e| format!("create marker: {e}"))?;
        writeln!(f, "{pid} {st}").map_err(|e| format!("write marker: {e}"))?;
        Ok(Scratch {
            dir,
            tag: format!("{PREFIX}{pid}"),
            fss: Vec::new(),
            verbose,
            disk: None,
            bdev: None,
            lowers: Vec::new(),
            cleaned: false,
        })
    }

    /// The mounted filesystem for `key`, made on first use.
    pub fn get(&mut self, key: FsKey, prereqs: &Prereqs) -> Result<&ScratchFs, String> {
        if let Some(i) = self.fss.iter().position(|f| f.key == key) {
            return Ok(&self.fss[i]);
        }
        if key.disk {
            return self.get_disk(key, prereqs);
        }
        let label = key.label();
        let image = if key.layered {
            self.make_lower(key, prereqs)?.join("upper.img")
        } else {
            self.dir.join(format!("{label}.img"))
        };
        new_image(&image, image_size(key))?;
        self.make_on_file(key, prereqs, &image)
    }

    /// The lower ext4 filesystem of a layered `key` ([`super::pages`]): an image in the private
    /// folder on a loop device, mounted at `lower-<label>`; returns the mount point.
    fn make_lower(&mut self, key: FsKey, prereqs: &Prereqs) -> Result<PathBuf, String> {
        let name = super::pages::lower_dir_name(&key.label());
        // Block-device scenarios make a device per scenario on the same lower filesystem.
        if let Some(l) = self.lowers.iter().find(|l| l.key == key && l.mounted) {
            return Ok(l.mnt.clone());
        }
        let image = self.dir.join(format!("{name}.img"));
        new_image(&image, image_size(key) + (64 << 20))?;
        let mkfs = prereqs
            .mkfs_ext4
            .as_ref()
            .ok_or("mkfs.ext4 missing (install e2fsprogs)")?;
        let out = Command::new(mkfs)
            .args(["-q", "-F"])
            .arg(&image)
            .output()
            .map_err(|e| format!("run mkfs for {name}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mkfs for {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mnt = self.dir.join(&name);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&mnt)
            .map_err(|e| format!("create {}: {e}", mnt.display()))?;
        let (dev, hold) = loop_attach(&image, 512, &self.tag)?;
        self.lowers.push(ScratchFs {
            key,
            image,
            loopdev: dev.clone(),
            mnt: mnt.clone(),
            mounted: false,
        });
        mount(
            Some(&dev),
            &mnt,
            Some("ext4"),
            MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .map_err(|e| format!("mount {} on {}: {e}", dev.display(), mnt.display()))?;
        drop(hold);
        if let Some(l) = self.lowers.last_mut() {
            l.mounted = true;
        }
        Ok(mnt)
    }

    /// A filesystem for `key` on a scratch file or block device the user named (`diofuzz repro
    /// --device`, after its confirmation flag): only that is written. A file grows to the size a
    /// scratch image has and is used through a loop device; a device is used as it is, and must
    /// not be mounted or held, and must have the scenario's logical block size.
    pub fn get_on(
        &mut self,
        key: FsKey,
        prereqs: &Prereqs,
        given: &Path,
    ) -> Result<&ScratchFs, String> {
        let md = fs::metadata(given).map_err(|e| format!("{}: {e}", given.display()))?;
        if md.is_file() {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(given)
                .map_err(|e| format!("open {}: {e}", given.display()))?;
            if f.metadata().map_or(0, |m| m.len()) < image_size(key) {
                f.set_len(image_size(key))
                    .map_err(|e| format!("size {}: {e}", given.display()))?;
            }
            drop(f);
            return self.make_on_file(key, prereqs, given);
        }
        use std::os::unix::fs::FileTypeExt;
        if !md.file_type().is_block_device() {
            return Err(format!(
                "{} is neither a regular file nor a block device",
                given.display()
            ));
        }
        let dev = fs::canonicalize(given).map_err(|e| format!("{}: {e}", given.display()))?;
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if info.lines().any(|l| {
            l.split(" - ").nth(1).and_then(|r| r.split(' ').nth(1)) == Some(&*dev.to_string_lossy())
        }) {
            return Err(format!(
                "{} is mounted: refusing to touch it",
                dev.display()
            ));
        }
        let q = device_queue(&md);
        let holders = q
            .as_ref()
            .and_then(|_| fs::read_dir(sys_dev(&md).join("holders")).ok())
            .map_or(0, |d| d.count());
        if holders > 0 {
            return Err(format!(
                "{} is held by another device (LVM, RAID, dm): refusing to touch it",
                dev.display()
            ));
        }
        let lbs = q
            .as_ref()
            .and_then(|q| fs::read_to_string(q.join("logical_block_size")).ok())
            .and_then(|t| t.trim().parse::<u32>().ok())
            .unwrap_or(512);
        if lbs != 1u32 << key.lbs_bits {
            return Err(format!(
                "{} has a logical block size of {lbs}; the scenario needs {}",
                dev.display(),
                1u32 << key.lbs_bits
            ));
        }
        let label = key.label();
        self.mkfs(key, prereqs, &dev)?;
        let mnt = self.dir.join(format!("mnt-{label}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&mnt)
            .map_err(|e| format!("create {}: {e}", mnt.display()))?;
        self.fss.push(ScratchFs {
            key,
            image: dev.clone(),
            loopdev: dev.clone(),
            mnt: mnt.clone(),
            mounted: false,
        });
        self.mount_last(&dev, &mnt)
    }

    /// The disk's filesystem for `key` (`live --device`, inside `diofuzz lab`): whatever other
    /// filesystem the disk holds is unmounted, the disk is formatted and mounted.
    fn get_disk(&mut self, key: FsKey, prereqs: &Prereqs) -> Result<&ScratchFs, String> {
        let dev = self
            .disk
            .clone()
            .ok_or("a disk scenario but no --device given")?;
        for f in self.fss.iter_mut().filter(|f| f.key.disk && f.mounted) {
            umount_retry(&f.mnt).map_err(|e| format!("umount {}: {e}", f.mnt.display()))?;
            f.mounted = false;
        }
        self.fss.retain(|f| !f.key.disk);
        let mnt = self.dir.join(format!("mnt-{}", key.label()));
        if !mnt.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&mnt)
                .map_err(|e| format!("create {}: {e}", mnt.display()))?;
        }
        self.mkfs(key, prereqs, &dev)?;
        self.fss.push(ScratchFs {
            key,
            image: dev.clone(),
            loopdev: dev.clone(),
            mnt: mnt.clone(),
            mounted: false,
        });
        self.mount_last(&dev, &mnt)
    }

    /// Run mkfs for `key` on `target` (an image file, or the device the user gave).
    fn mkfs(&self, key: FsKey, prereqs: &Prereqs, target: &Path) -> Result<(), String> {
        let label = key.label();
        let (prog, args) = mkfs_argv(key)?;
        let path = match key.fs {
            FsKind::Xfs => prereqs
                .mkfs_xfs
                .as_ref()
                .ok_or("mkfs.xfs missing (install xfsprogs)")?,
            _ => prereqs
                .mkfs_ext4
                .as_ref()
                .ok_or("mkfs.ext4 missing (install e2fsprogs)")?,
        };
        debug_assert!(path.ends_with(prog));
        let mut cmd = Command::new(path);
        cmd.args(args);
        cmd.arg(target);
        let out = cmd
            .output()
            .map_err(|e| format!("run mkfs for {label}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mkfs for {label} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// mkfs on an image file, a loop device over it, mounted in the private folder.
    fn make_on_file(
        &mut self,
        key: FsKey,
        prereqs: &Prereqs,
        image: &Path,
    ) -> Result<&ScratchFs, String> {
        let label = key.label();
        let mnt = self.dir.join(format!("mnt-{label}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&mnt)
            .map_err(|e| format!("create {}: {e}", mnt.display()))?;
        // mkfs runs on the image FILE (never on a device).
        self.mkfs(key, prereqs, image)?;
        let (loopdev, hold) = loop_attach(image, 1u32 << key.lbs_bits, &self.tag)?;
        // The plan gives loop scenarios the default DMA alignment (loop sets none, so
        // blk_validate_limits makes it 511): check that this kernel agrees.
        let dma = loop_dma_alignment(&loopdev);
        // Record it before mounting, so cleanup detaches it whatever happens next.
        self.fss.push(ScratchFs {
            key,
            image: image.to_path_buf(),
            loopdev: loopdev.clone(),
            mnt: mnt.clone(),
            mounted: false,
        });
        if let Some(d) = dma.filter(|&d| d != DEFAULT_DMA_ALIGNMENT) {
            drop(hold);
            return Err(format!(
                "{}: queue/dma_alignment is {d}; live's loop scenarios assume {DEFAULT_DMA_ALIGNMENT}",
                loopdev.display()
            ));
        }
        if key.stable {
            // Before the mount: the filesystem takes it from the block device then.
            if let Err(e) = super::limits::set(&loopdev, true) {
                drop(hold);
                return Err(e);
            }
        }
        let r = self.mount_last(&loopdev, &mnt);
        if key.stable && r.is_err() {
            // Not mounted: autoclear detaches it when `hold` closes; give the flag back first.
            let _ = super::limits::set(&loopdev, false);
        }
        drop(hold);
        r
    }

    /// Mount the last recorded filesystem and fill its free space with the stale pattern.
    fn mount_last(&mut self, dev: &Path, mnt: &Path) -> Result<&ScratchFs, String> {
        let last = self.fss.len() - 1;
        let key = self.fss[last].key;
        let fstype = key.fs.name();
        mount(
            Some(dev),
            mnt,
            Some(fstype),
            MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            key.mount_data(),
        )
        .map_err(|e| {
            format!(
                "mount {} ({fstype}) on {}: {e}",
                dev.display(),
                mnt.display()
            )
        })?;
        self.fss[last].mounted = true;
        if key.stable && !super::limits::get(dev)? {
            return Err(format!(
                "{}: queue/stable_writes was cleared under the mount",
                dev.display()
            ));
        }
        prefill_stale(mnt)?;
        if self.verbose {
            eprintln!(
                "live: {}: {} on {} ({})",
                key.label(),
                dev.display(),
                mnt.display(),
                self.fss[last].image.display()
            );
        }
        Ok(&self.fss[last])
    }

    /// A block device of exactly `size` bytes for one block-device scenario (`key.fs` Bdev): a
    /// partition of the disk at [`PART_START`] when `key.disk` (the disk checked by
    /// [`disk_info`]; only the partition is written), else a loop device with logical block size
    /// 2^`key.lbs_bits` over a fresh image in the private folder. One at a time:
    /// [`Scratch::release_bdev`] removes it, [`Scratch::cleanup`] too.
    pub fn bdev(&mut self, key: FsKey, size: u64) -> Result<PathBuf, String> {
        let errs = self.release_bdev();
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        if key.disk {
            let disk = self
                .disk
                .clone()
                .ok_or("a disk scenario but no --device given")?;
            for f in self.fss.iter_mut().filter(|f| f.key.disk && f.mounted) {
                umount_retry(&f.mnt).map_err(|e| format!("umount {}: {e}", f.mnt.display()))?;
                f.mounted = false;
            }
            blkpg(&disk, PART_NO, Some((PART_START, size)))?;
            let node = self.dir.join("part");
            self.bdev = Some(ScenarioBdev::Part {
                disk: disk.clone(),
                pno: PART_NO,
                node: node.clone(),
                hold: None,
            });
            let name = disk
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            // block/partitions/core.c add_partition -> dev_set_name: "p" between a disk name
            // ending in a digit (ublkb0) and the partition number.
            let sep = if name.ends_with(|c: char| c.is_ascii_digit()) {
                "p"
            } else {
                ""
            };
            let sys = format!("/sys/block/{name}/{name}{sep}{PART_NO}/dev");
            let devnum = fs::read_to_string(&sys).map_err(|e| format!("read {sys}: {e}"))?;
            let (ma, mi) = devnum
                .trim()
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
                .ok_or_else(|| format!("{sys}: {devnum:?} is not MAJOR:MINOR"))?;
            let c = cpath(&node);
            // SAFETY: mknod with a valid C path in our private folder.
            let r =
                unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi)) };
            if r != 0 {
                return Err(format!(
                    "mknod {}: {}",
                    node.display(),
                    std::io::Error::last_os_error()
                ));
            }
            let f = fs::OpenOptions::new()
                .read(true)
                .open(&node)
                .map_err(|e| format!("open {}: {e}", node.display()))?;
            // The scenario's block size, while `f` holds the partition (super::bdev_geometry).
            super::bdev_geometry::apply(f.as_raw_fd(), key.blkbits)?;
            if let Some(ScenarioBdev::Part { hold, .. }) = self.bdev.as_mut() {
                *hold = Some(f);
            }
            return Ok(node);
        }
        if key.nvme {
            // A held page (super::pages): the target exports a loop device over an image on the
            // lower filesystem that the hold freezes.
            let backing = match key.layered {
                true => {
                    let image = self.make_lower(key, &prereqs())?.join("bdev.img");
                    new_image(&image, size)?;
                    match loop_attach(&image, 4096, &self.tag) {
                        Ok((dev, hold)) => Some((dev, image, hold)),
                        Err(e) => {
                            let _ = fs::remove_file(&image);
                            return Err(e);
                        }
                    }
                }
                false => None,
            };
            match super::nvme_stable::NvmeTcp::add(
                size,
                &self.dir,
                backing.as_ref().map(|b| b.0.as_path()),
            ) {
                Ok(n) => {
                    let node = n.node.clone();
                    self.bdev = Some(ScenarioBdev::Nvme(n, backing));
                    return Ok(node);
                }
                Err(e) => {
                    if let Some((dev, image, hold)) = backing {
                        let _ = self.release_loop(dev, image, Some(hold));
                    }
                    return Err(e);
                }
            }
        }
        if key.stable {
            let z = super::bdev_state::Zram::add(size, &self.dir)?;
            let node = z.node.clone();
            self.bdev = Some(ScenarioBdev::Zram(z));
            return Ok(node);
        }
        // A held page (super::pages): the image lies on a lower filesystem that the hold freezes.
        let image = if key.layered {
            self.make_lower(key, &prereqs())?.join("bdev.img")
        } else {
            self.dir.join("bdev.img")
        };
        new_image(&image, size)?;
        let (dev, hold) = match loop_attach(&image, 1u32 << key.lbs_bits, &self.tag) {
            Ok(x) => x,
            Err(e) => {
                let _ = fs::remove_file(&image);
                return Err(e);
            }
        };
        let dma = loop_dma_alignment(&dev);
        // The scenario's block size, while `hold` holds the device (super::bdev_geometry).
        let bs = super::bdev_geometry::apply(hold.as_raw_fd(), key.blkbits);
        self.bdev = Some(ScenarioBdev::Loop {
            dev: dev.clone(),
            image,
            hold: Some(hold),
        });
        if let Some(d) = dma.filter(|&d| d != DEFAULT_DMA_ALIGNMENT) {
            return Err(format!(
                "{}: queue/dma_alignment is {d}; live's loop scenarios assume {DEFAULT_DMA_ALIGNMENT}",
                dev.display()
            ));
        }
        bs?;
        Ok(dev)
    }

    /// Remove the block device of the last block-device scenario (detach the loop device and
    /// delete its image, or delete the disk partition and its node). Returns the problems.
    pub fn release_bdev(&mut self) -> Vec<String> {
        let mut errs = Vec::new();
        match self.bdev.take() {
            None => {}
            Some(ScenarioBdev::Zram(z)) => {
                if let Err(e) = z.remove() {
                    errs.push(e);
                }
            }
            Some(ScenarioBdev::Nvme(n, backing)) => {
                if let Err(e) = n.remove() {
                    errs.push(e);
                }
                if let Some((dev, image, hold)) = backing {
                    errs.extend(self.release_loop(dev, image, Some(hold)));
                }
            }
            Some(ScenarioBdev::Loop { dev, image, hold }) => {
                errs.extend(self.release_loop(dev, image, hold));
            }
            Some(ScenarioBdev::Part {
                disk,
                pno,
                node,
                hold,
            }) => {
                if let Some(f) = hold {
                    let _ = f.sync_all();
                }
                // The partition may still be held for a moment after the last close.
                let mut r = blkpg(&disk, pno, None);
                for _ in 0..20 {
                    if r.is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    r = blkpg(&disk, pno, None);
                }
                if let Err(e) = r {
                    if !e.contains("No such device") {
                        errs.push(e);
                    }
                }
                let _ = fs::remove_file(&node);
            }
        }
        errs
    }

    /// Detach a scenario's loop device (if still ours) and remove its image; the problems.
    fn release_loop(&self, dev: PathBuf, image: PathBuf, hold: Option<fs::File>) -> Vec<String> {
        let mut errs = Vec::new();
        drop(hold);
        if let Err(e) = loop_detach_if_ours(&dev, &self.dir) {
            errs.push(e);
        }
        if let Err(e) = fs::remove_file(&image) {
            errs.push(format!("remove {}: {e}", image.display()));
        }
        errs
    }

    /// Unmount the loop filesystem of `key` and mount it again with the same options (the
    /// post-call persistence probe, [`super::probes`]): what a clean unmount leaves on the device
    /// is what the next mount reads. Any filesystem live made: a loop one (a layered key's upper
    /// one too: its loop device sits on a file of the lower filesystem, which stays mounted and
    /// thawed), or the `--device`, `--pmem` or fault disk's (the device node held open is then
    /// just the disk). While it is unmounted the entry says so, so
    /// an interrupt's [`Scratch::cleanup`] still releases everything; a mount that fails
    /// retires the filesystem (the next [`Scratch::get`] makes a new one).
    pub fn cycle_mount(&mut self, key: FsKey) -> Result<(), String> {
        let Some(i) = self.fss.iter().position(|f| f.key == key && f.mounted) else {
            return Err(format!("{}: no mounted scratch filesystem", key.label()));
        };
        let f = &mut self.fss[i];
        // The loop device is autoclear: held open, it stays bound while nothing mounts it.
        let hold =
            fs::File::open(&f.loopdev).map_err(|e| format!("open {}: {e}", f.loopdev.display()))?;
        umount_retry(&f.mnt).map_err(|e| format!("umount {}: {e}", f.mnt.display()))?;
        f.mounted = false;
        let r = mount(
            Some(&f.loopdev),
            &f.mnt,
            Some(key.fs.name()),
            MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            key.mount_data(),
        );
        drop(hold);
        match r {
            Ok(()) => {
                f.mounted = true;
                Ok(())
            }
            Err(e) => {
                let msg = format!("mount {} again: {e}", f.loopdev.display());
                if key.stable {
                    // unset_stable skips an unmounted filesystem: give the flag back here.
                    let _ = super::limits::set(&f.loopdev, false);
                }
                let _ = self.retire(key, |_| ());
                Err(msg)
            }
        }
    }

    /// Unmount the loop filesystem of `key` (if one was made), release its loop device, let
    /// `inspect` read its image, and delete the image and the mount point (on the disk: unmount
    /// it and let `inspect` read the device, which stays): the next
    /// [`Scratch::get`] of `key` makes a new filesystem. For scenarios that need a filesystem of
    /// their own and leave it unusable ([`super::shutdown`]). None: there was none.
    pub fn retire<R>(
        &mut self,
        key: FsKey,
        inspect: impl FnOnce(&Path) -> R,
    ) -> Result<Option<R>, String> {
        let Some(i) = self.fss.iter().position(|f| f.key == key) else {
            return Ok(None);
        };
        let f = &mut self.fss[i];
        if key.disk {
            // The disk (`--device`, `--pmem`) is formatted again by the next get_disk: only
            // unmount it; `inspect` reads the device itself, which is never removed.
            if f.mounted {
                umount_retry(&f.mnt).map_err(|e| format!("umount {}: {e}", f.mnt.display()))?;
                f.mounted = false;
            }
            let f = self.fss.remove(i);
            return Ok(Some(inspect(&f.image)));
        }
        unset_stable(f)?;
        if f.mounted {
            umount_retry(&f.mnt).map_err(|e| format!("umount {}: {e}", f.mnt.display()))?;
            f.mounted = false;
        }
        loop_detach_if_ours(&f.loopdev, &self.dir)?;
        let f = self.fss.remove(i);
        let r = inspect(&f.image);
        fs::remove_file(&f.image).map_err(|e| format!("remove {}: {e}", f.image.display()))?;
        fs::remove_dir(&f.mnt).map_err(|e| format!("remove {}: {e}", f.mnt.display()))?;
        Ok(Some(r))
    }

    /// Unmount, detach, remove; idempotent. Returns the problems it could not fix.
    pub fn cleanup(&mut self) -> Vec<String> {
        if self.cleaned {
            return Vec::new();
        }
        self.cleaned = true;
        // A frozen lower filesystem would hang every unmount above it.
        for l in &self.lowers {
            super::pages::thaw(&l.mnt);
        }
        let mut errs = self.release_bdev();
        for f in self.fss.iter_mut().chain(self.lowers.iter_mut()) {
            if let Err(e) = unset_stable(f) {
                errs.push(e);
            }
            if f.mounted {
                if let Err(e) = umount_retry(&f.mnt) {
                    errs.push(format!("umount {}: {e}", f.mnt.display()));
                    continue;
                }
                f.mounted = false;
            }
            if let Err(e) = loop_detach_if_ours(&f.loopdev, &self.dir) {
                errs.push(e);
            }
        }
        errs.extend(remove_dir_of_ours(&self.dir));
        errs
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for e in self.cleanup() {
            eprintln!("live: cleanup: {e}");
        }
    }
}

/// Give a stable-writes loop device back as loop devices come (queue/stable_writes 0) while it is
/// still ours: autoclear detaches it at the unmount, and the next user would inherit the flag.
fn unset_stable(f: &ScratchFs) -> Result<(), String> {
    if f.key.stable && !f.key.disk && f.loopdev.starts_with("/dev") && f.mounted {
        super::limits::set(&f.loopdev, false)?;
    }
    Ok(())
}

/// The mkfs program ("mkfs.xfs" / "mkfs.ext4") and its arguments for a scratch filesystem (the
/// target, image or disk, is appended). Shared with `diofuzz repro --kernel` (run in the guest).
pub fn mkfs_argv(key: FsKey) -> Result<(&'static str, Vec<String>), String> {
    let bs = (1u32 << key.blkbits).to_string();
    let lbs = 1u32 << key.lbs_bits;
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match key.fs {
        FsKind::Xfs => Ok((
            "mkfs.xfs",
            v(&[
                "-q",
                "-f",
                "-K",
                "-b",
                &format!("size={bs}"),
                "-s",
                &format!("size={lbs}"),
                "-m",
                if key.reflink {
                    "reflink=1"
                } else {
                    "reflink=0"
                },
            ]),
        )),
        FsKind::Ext4 => {
            let mut a = v(&[
                "-q",
                "-F",
                "-b",
                &bs,
                "-E",
                "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
            ]);
            if key.cluster_bits > 0 {
                let cluster = 1u32 << (key.blkbits + key.cluster_bits);
                a.extend(v(&["-O", "bigalloc", "-C", &cluster.to_string()]));
            }
            if key.no_extents {
                // Block-mapped files only (64bit needs extents).
                a.extend(v(&["-O", "^extent,^64bit"]));
            }
            a.extend(key.inode_kind.mkfs_args(key.blkbits));
            Ok(("mkfs.ext4", a))
        }
        FsKind::Bdev => Err("bdev has no scratch filesystem".into()),
    }
}

/// Write 32 MiB of [`super::plan::STALE_BYTE`] into a file, sync it, delete it and wait until it is freed: blocks the
/// filesystem later hands out hold that byte, so exposing unzeroed blocks is visible. Done in a
/// forked child: the dirtied pages count against the child's dirty throttle, not ours (an
/// over-limit task gets -EAGAIN from RWF_NOWAIT buffered writes, which would skew them).
pub fn prefill_stale(mnt: &Path) -> Result<(), String> {
    let p = super::scratch::cpath(&mnt.join("stale-fill"));
    let dir = super::scratch::cpath(mnt);
    let buf = vec![super::plan::STALE_BYTE; 1 << 20];
    // SAFETY: the child only calls open/write/fsync/close/statvfs/unlink/usleep/sync/_exit on prepared data.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        unsafe {
            let fd = libc::open(
                p.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            );
            if fd < 0 {
                libc::_exit(1);
            }
            for _ in 0..32 {
                if libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len())
                    != buf.len() as isize
                {
                    libc::_exit(2);
                }
            }
            libc::fsync(fd);
            libc::close(fd);
            // XFS frees an unlinked file's blocks later, in its background inode inactivation
            // (xfs_inodegc; sync does not wait for it): wait until statvfs counts them free
            // again, then sync, whose log force makes them allocatable (no longer busy).
            let free = |m: &std::ffi::CStr| {
                let mut sv: libc::statvfs = std::mem::zeroed();
                if libc::statvfs(m.as_ptr(), &mut sv) != 0 {
                    libc::_exit(3);
                }
                sv.f_bfree as u64 * sv.f_frsize as u64
            };
            let held = free(&dir);
            libc::unlink(p.as_ptr());
            for _ in 0..300 {
                if free(&dir) >= held + 24 * buf.len() as u64 {
                    break;
                }
                libc::usleep(10_000);
            }
            libc::sync();
            libc::_exit(0);
        }
    }
    let mut st = 0;
    // SAFETY: reaping our child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err("waitpid for the stale fill".into());
        }
    }
    if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
        return Err(format!(
            "stale fill of {} failed (status {st})",
            mnt.display()
        ));
    }
    Ok(())
}

fn umount_retry(p: &Path) -> Result<(), String> {
    let mut last = String::new();
    for i in 0..10 {
        match umount2(p, MntFlags::empty()) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) => return Ok(()), // not mounted
            Err(nix::errno::Errno::EBUSY) => {
                last = "busy".into();
                std::thread::sleep(std::time::Duration::from_millis(50 * (i + 1)));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    // Last resort for our own mount only: lazy detach.
    umount2(p, MntFlags::MNT_DETACH).map_err(|e| format!("{last}; lazy: {e}"))
}

/// Unmount whatever is mounted under `dir`, detach loop devices backed by files in it, delete it.
/// Only called on folders that carry our marker.
fn remove_dir_of_ours(dir: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    if !dir.join(MARKER).is_file() {
        errs.push(format!("{} has no marker: left alone", dir.display()));
        return errs;
    }
    // A tracefs mounted here may hold a dead run's trace instance: remove it first (instances
    // outlive the mount).
    for m in tracefs_mounts_under(dir) {
        super::tracefs::remove_stale_instances(&m);
    }
    // Thaw first (a frozen lower filesystem of super::pages hangs the unmounts above it), then
    // unmount the lower filesystems last (their files back the loop devices of the others).
    let mut ms = mounts_under(dir);
    for m in &ms {
        super::pages::thaw(m);
    }
    ms.sort_by_key(|m| {
        m.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("lower-"))
    });
    for m in ms {
        if let Err(e) = umount_retry(&m) {
            errs.push(format!("umount {}: {e}", m.display()));
        }
    }
    if !mounts_under(dir).is_empty() {
        errs.push(format!("{} still has mounts: not removed", dir.display()));
        return errs;
    }
    for dev in loops_backed_under(dir) {
        if let Err(e) = loop_detach_if_ours(&dev, dir) {
            errs.push(e);
        }
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        errs.push(format!("remove {}: {e}", dir.display()));
    }
    errs
}

/// Loop devices whose backing file is under `dir`.
fn loops_backed_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("loop") {
                continue;
            }
            if loop_backing(&name).is_some_and(|b| b.starts_with(dir)) {
                v.push(PathBuf::from(format!("/dev/{name}")));
            }
        }
    }
    v
}

/// Remove resources left by killed runs: folders `$TMPDIR/diofuzz-live-*` whose marker names a
/// process that no longer exists (and the tracefs instances named after such a pid). Returns
/// what was removed, and problems.
pub fn remove_stale() -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut errs = Vec::new();
    let base = std::env::temp_dir();
    let Ok(rd) = fs::read_dir(&base) else {
        return (done, errs);
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(PREFIX) {
            continue;
        }
        let dir = e.path();
        // Never follow symlinks: only real folders we could have made.
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            _ => continue,
        }
        let Ok(marker) = fs::read_to_string(dir.join(MARKER)) else {
            continue;
        };
        let mut it = marker.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(st))) = (
            it.next().map(|x| x.parse::<i32>()),
            it.next().map(|x| x.parse::<u64>()),
        ) else {
            continue;
        };
        if owner_alive(pid, st) {
            continue;
        }
        let problems = remove_dir_of_ours(&dir);
        if problems.is_empty() {
            done.push(format!(
                "removed stale {} (pid {pid} is gone)",
                dir.display()
            ));
        }
        errs.extend(problems);
    }
    (done, errs)
}

/// A path as a C string (paths we build never hold NUL).
pub fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_liveness() {
        let me = std::process::id() as i32;
        let st = start_time(me).expect("own start time");
        assert!(owner_alive(me, st));
        // Same pid, other start time: a reused pid, so the owner is gone.
        assert!(!owner_alive(me, st + 1));
        assert!(owner_alive(me, 0));
        assert!(!owner_alive(i32::MAX, 0));
    }

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mount("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
    }

    #[test]
    fn refusal_lists_what_is_missing() {
        let p = Prereqs {
            root: false,
            loop_control: false,
            tracefs: true,
            xfs_kernel: true,
            ext4_kernel: true,
            mkfs_xfs: None,
            mkfs_ext4: Some(PathBuf::from("/sbin/mkfs.ext4")),
        };
        let m = p.missing(&[FsKind::Ext4, FsKind::Xfs]);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m.iter().any(|x| x.contains("xfsprogs")));
        assert!(p.missing(&[FsKind::Ext4]).len() == 2);
    }
}
