// SPDX-License-Identifier: GPL-2.0-only
//! The guest's userspace, built from the host: an initramfs holding busybox-static, this diofuzz
//! binary, mkfs.ext4/mke2fs/mkfs.xfs with the libraries `ldd` names, the kernel modules the groups
//! need (with their dependencies, decompressed: busybox modprobe reads plain .ko only, and
//! indexed with `depmod -b`), and an init script that runs `diofuzz live` once per group and
//! streams every scenario's result to the second serial port.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The modules the lab needs (as modules or built in).
pub const REQUIRED_MODULES: [&str; 5] = ["loop", "ext4", "xfs", "scsi_debug", "sd_mod"];
/// Modules of the fault groups, packed when the kernel has them (a kernel without them runs the
/// other groups): null_blk and configfs, which makes its devices.
pub const FAULT_MODULES: [&str; 2] = ["configfs", "null_blk"];

/// brd, a bio-based driver that never splits like pmem and zram: packed so that programs run in
/// a guest (docs/live-findings/pmem-misaligned-dio-6.18/zram-brd.c) can `modprobe brd`; no live
/// world uses it (session 10).
pub const BRD_MODULES: [&str; 1] = ["brd"];
/// crc32c providers, loaded first when present (busybox modprobe ignores soft dependencies, and
/// libcrc32c needs a crc32c implementation registered).
pub const CRC32C_MODULES: [&str; 4] = [
    "crc32c-cryptoapi",
    "crc32c_generic",
    "crc32c-intel",
    "libcrc32c",
];

/// One group of the matrix: a `diofuzz live` run inside the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: &'static str,
    pub about: &'static str,
    /// live's arguments ($DEV is the scsi_debug disk).
    pub args: &'static str,
    /// Needs the scsi_debug atomic disk.
    pub disk: bool,
    /// Needs the fault device ($NDEV: a memory-backed null_blk disk with badblocks_once).
    pub fault: bool,
}

/// Every group, in the order they run (the seed thread's subject first).
pub const GROUPS: [Group; 47] = [
    Group {
        name: "ext4-disk",
        about: "ext4 (4 KiB blocks) on the scsi_debug atomic disk: the hardware atomic path",
        args: "--fs ext4 --device $DEV",
        disk: true,
        fault: false,
    },
    Group {
        name: "ext4-bigalloc-disk",
        about: "ext4 bigalloc (16 KiB clusters) on the disk: multi-block atomic writes (6.16+)",
        args: "--fs ext4 --device $DEV --bigalloc 16384",
        disk: true,
        fault: false,
    },
    Group {
        name: "xfs-disk",
        about: "XFS (reflink) on the disk: hardware atomic path, software fallback above the unit",
        args: "--fs xfs --device $DEV",
        disk: true,
        fault: false,
    },
    Group {
        name: "xfs-loop",
        about: "XFS (reflink) on a loop device: the software (CoW) atomic path",
        args: "--fs xfs",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-loop",
        about: "ext4 on a loop device: no atomic unit (atomic writes refused), the non-atomic DIO paths",
        args: "--fs ext4",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-disk",
        about: "the raw block device: a partition of the disk (BLKPG, 1 MiB in) per scenario, bdev atomic writes (REQ_ATOMIC)",
        args: "--fs bdev --device $DEV",
        disk: true,
        fault: false,
    },
    Group {
        name: "bdev-loop",
        about: "the raw block device: a loop device per scenario (no atomic unit)",
        args: "--fs bdev",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-fault",
        about: "the raw block device with a bio_endio -EIO fault: a partition of the null_blk fault device, the faulted bio's first sector bad (badblocks_once)",
        args: "--fs bdev --fault-device $NDEV",
        disk: false,
        fault: true,
    },
    Group {
        name: "xfs-fault",
        about: "XFS (reflink) on the null_blk fault device, a bio_endio -EIO fault on an overwrite bio (FIEMAP gives its sector)",
        args: "--fs xfs --fault-device $NDEV",
        disk: false,
        fault: true,
    },
    Group {
        name: "ext4-fault",
        about: "ext4 on the null_blk fault device, a bio_endio -EIO fault on an overwrite bio (FIEMAP gives its sector)",
        args: "--fs ext4 --fault-device $NDEV",
        disk: false,
        fault: true,
    },
    Group {
        name: "bdev-ublk-fault",
        about: "the raw block device on the ublk fault device (diofuzz ublk-fault), a bio_endio -EIO, -ENOSPC, -ETIMEDOUT, -EINVAL or -ENOMEM fault on a random bio: the server completes the request holding the armed sector with that errno",
        args: "--fs bdev --fault-device $UDEV",
        disk: false,
        fault: false,
    },
    Group {
        name: "xfs-ublk-fault",
        about: "XFS (reflink) on the ublk fault device, a bio_endio fault with any of the device's errnos on an overwrite bio (FIEMAP gives its sector)",
        args: "--fs xfs --fault-device $UDEV",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-ublk-fault",
        about: "ext4 on the ublk fault device, a bio_endio fault with any of the device's errnos on an overwrite bio (FIEMAP gives its sector)",
        args: "--fs ext4 --fault-device $UDEV",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-ublk-segs-fault",
        about: "the raw block device on the ublk fault device, a scattered O_DIRECT write of several bios (256 bvecs each) with the fault on a bio after the first (live --multi-bio-faults)",
        args: "--fs bdev --fault-device $UDEV --multi-bio-faults",
        disk: false,
        fault: false,
    },
    Group {
        name: "xfs-ublk-segs-fault",
        about: "XFS (reflink) on the ublk fault device, a scattered O_DIRECT write of several bios with the fault on a bio after the first",
        args: "--fs xfs --fault-device $UDEV --multi-bio-faults",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-ublk-segs-fault",
        about: "ext4 on the ublk fault device, a scattered O_DIRECT write of several bios with the fault on a bio after the first",
        args: "--fs ext4 --fault-device $UDEV --multi-bio-faults",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-disk-fault",
        about: "the raw block device on the atomic disk, a bio_endio -EIO fault on its REQ_ATOMIC bio (scsi_debug's WRITE ATOMIC(16) error rule)",
        args: "--fs bdev --device $DEV --atomic-faults",
        disk: true,
        fault: false,
    },
    Group {
        name: "xfs-disk-fault",
        about: "XFS on the atomic disk, a bio_endio -EIO fault on the hardware atomic write's bio",
        args: "--fs xfs --device $DEV --atomic-faults",
        disk: true,
        fault: false,
    },
    Group {
        name: "ext4-disk-fault",
        about: "ext4 on the atomic disk, a bio_endio -EIO fault on the hardware atomic write's bio",
        args: "--fs ext4 --device $DEV --atomic-faults",
        disk: true,
        fault: false,
    },
    Group {
        name: "ext4-jflag",
        about: "ext4 (-O verity: no large folios before 6.19) on a loop device, chattr +j through the call's open file (live --jflag-after-open)",
        args: "--fs ext4 --jflag-after-open",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-disk-jflag",
        about: "ext4 (-O verity) on the atomic disk, chattr +j or -j through the call's open file, the disk formatted for each -j scenario (live --device --jflag-after-open)",
        args: "--fs ext4 --device $DEV --jflag-after-open",
        disk: true,
        fault: false,
    },
    Group {
        name: "ext4-jflag-pages",
        about: "ext4 (-O verity) on a loop device, chattr -j after open with dirty, writeback or mmapped dirty pages at the write (live --worlds jflag-pages)",
        args: "--fs ext4 --worlds jflag-pages",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-settle",
        about: "ext4 on a loop device, inline data converted (fallocate) or the i_disksize lag written back (sync_file_range) after the call's open (live --settle-after-open)",
        args: "--fs ext4 --settle-after-open",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-inline-convert",
        about: "ext4 on a loop device, inline data converted after open into unwritten blocks, a dirty page, a delayed block, a setuid inode or past the inode's size by ftruncate (live --worlds inline-convert --sync-after-convert)",
        args: "--fs ext4 --worlds inline-convert --sync-after-convert",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-inline-held",
        about: "ext4 on a loop device, inline data converted after open with page 0 under writeback, mmapped dirty or busy at the write, a dirty page 0 with the ftruncate path, or block 0 delayed on a block-mapped inode (live --worlds inline-convert-held --sync-after-convert)",
        args: "--fs ext4 --worlds inline-convert-held --sync-after-convert",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-lag-held",
        about: "ext4 on a loop device mounted nodioread_nolock, the i_disksize lag written back after open with the page at EOF still under writeback at the write (live --worlds lag-writeback-held)",
        args: "--fs ext4 --worlds lag-writeback-held",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-inline-delalloc",
        about: "ext4 on a loop device, inline data converted by a delalloc write and not yet written back: INLINE_DATA with delayed blocks under dirty pages (live --worlds inline-delalloc)",
        args: "--fs ext4 --worlds inline-delalloc",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-swap",
        about: "ext4 on a loop device, swap-file worlds: swapon of the scenario's file (at rest or after the call's open), swapoff after open (live --swapon)",
        args: "--fs ext4 --swapon",
        disk: false,
        fault: false,
    },
    Group {
        name: "xfs-swap",
        about: "XFS (reflink) on a loop device, swap-file worlds: swapon at rest or after open, swapoff after open (live --swapon)",
        args: "--fs xfs --swapon",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-swap",
        about: "the raw block device (a loop device), swap-device worlds: swapon of the device (at rest or after the call's open), swapoff after open (live --swapon)",
        args: "--fs bdev --swapon",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-resume",
        about: "the raw block device (a loop device), swap devices (at rest, swapon or swapoff after the call's open; some with the i_rwsem holder) made the hibernation resume device (/dev/snapshot SNAPSHOT_SET_SWAP_AREA): blkdev_write_iter writes to them (live --swapon --hibernate-resume)",
        args: "--fs bdev --swapon --hibernate-resume",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-state",
        about: "the raw block device, only scenarios with stable writes (a zram device), the mmap writer or the i_rwsem holder (live --worlds bdev-state)",
        args: "--fs bdev --worlds bdev-state",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-nvme-stable",
        about: "the raw block device, only RWF_NOWAIT on stable writes: an nvme-tcp namespace connected with the data digest over a loopback nvmet target (live --worlds stable-nowait)",
        args: "--fs bdev --worlds stable-nowait",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-nvme-held",
        about: "the raw block device, RWF_NOWAIT on stable writes (the nvme-tcp namespace) with a page under writeback or mmapped dirty at the call (the target exports a loop device on a lower ext4 the hold freezes) or more than one iovec (live --worlds stable-nowait-held)",
        args: "--fs bdev --worlds stable-nowait-held",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-nvme-mpath",
        about: "the raw block device, RWF_NOWAIT on stable writes on nvme_core's multipath head (multipath=Y: the bio-based nvme_ns_head_submit_bio in front of the nvme-tcp namespace; live --worlds stable-nowait --nvme-multipath)",
        args: "--fs bdev --worlds stable-nowait --nvme-multipath",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-dax",
        about: "ext4 on the pmem device ($PDEV, a memmap= region), dax=always or FS_XFLAG_DAX files (dax=inode): ext4_dax_write_iter",
        args: "--fs ext4 --pmem $PDEV",
        disk: false,
        fault: false,
    },
    Group {
        name: "xfs-dax",
        about: "XFS (reflink) on the pmem device, dax=always or FS_XFLAG_DAX files (dax=inode): xfs_file_dax_write",
        args: "--fs xfs --pmem $PDEV",
        disk: false,
        fault: false,
    },
    Group {
        name: "held-disk",
        about: "ext4 and XFS on the atomic disk, only scenarios with a page held under writeback or an mmapped dirty page during the call (the disk's write commands held by scsi_debug's error file: live --worlds held)",
        args: "--fs both --device $DEV --worlds held",
        disk: true,
        fault: false,
    },
    Group {
        name: "bdev-held-disk",
        about: "the raw block device on the atomic disk, only scenarios with a held page (live --worlds held)",
        args: "--fs bdev --device $DEV --worlds held",
        disk: true,
        fault: false,
    },
    Group {
        name: "xfs-reflink-race",
        about: "XFS (reflink) on a loop device, only scenarios whose reflink flag is set by a clone or cleared by an unshare after open (live --worlds reflink-race)",
        args: "--fs xfs --worlds reflink-race",
        disk: false,
        fault: false,
    },
    Group {
        name: "limits-loop",
        about: "ext4 and XFS on loop devices, only the limits worlds: RLIMIT_FSIZE, stable writes, no O_LARGEFILE (ia32 open), scaled s_maxbytes, zero-length requests (live --worlds limits)",
        args: "--fs both --worlds limits",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-geometry",
        about: "the raw block device on loop devices, only devices of 1 or 2 KiB blocks (BLKBSZSET) or a size not whole pages (live --worlds bdev-geometry)",
        args: "--fs bdev --worlds bdev-geometry",
        disk: false,
        fault: false,
    },
    Group {
        name: "bdev-geometry-disk",
        about: "the raw block device on a partition of the atomic disk (BLKPG), only partitions of 1 or 2 KiB blocks (BLKBSZSET) or a size not whole pages (live --worlds bdev-geometry)",
        args: "--fs bdev --device $DEV --worlds bdev-geometry",
        disk: true,
        fault: false,
    },
    Group {
        name: "bdev-tail-small",
        about: "the raw block device on loop devices of 1 or 2 KiB logical blocks whose size is not whole logical blocks (session 11, live --worlds tail-small)",
        args: "--fs bdev --worlds tail-small",
        disk: false,
        fault: false,
    },
    Group {
        name: "ext4-writeback-unwritten",
        about: "ext4 on a layered loop device mounted by default (dioread_nolock), a page under writeback over an unwritten block at the write, converted when its I/O completes, the i_disksize lag variant among them (session 11; live --worlds writeback-unwritten)",
        args: "--fs ext4 --worlds writeback-unwritten",
        disk: false,
        fault: false,
    },
    // (One live run per filesystem: one run of both kept every scratch filesystem of both in
    // the guest's tmpfs, and --count 60 ran out of memory at the 103rd scenario.)
    Group {
        name: "ext4-file-small-lbs",
        about: "ext4 on loop devices of 1 or 2 KiB logical blocks (LOOP_CONFIGURE block_size), requests aligned to 512 bytes, the logical block or the filesystem block, atomic or not (session 12, live --worlds file-small-lbs)",
        args: "--fs ext4 --worlds file-small-lbs",
        disk: false,
        fault: false,
    },
    Group {
        name: "xfs-file-small-lbs",
        about: "XFS on loop devices of 1 or 2 KiB logical blocks (LOOP_CONFIGURE block_size; mkfs.xfs -s size=), requests aligned to 512 bytes, the logical block or the filesystem block, atomic or not: software atomic writes (session 12, live --worlds file-small-lbs)",
        args: "--fs xfs --worlds file-small-lbs",
        disk: false,
        fault: false,
    },
];

/// Resolve `--groups` ("all" or a comma list).
pub fn select_groups(want: &str) -> Result<Vec<Group>, String> {
    if want.trim() == "all" {
        return Ok(GROUPS.to_vec());
    }
    let mut out = Vec::new();
    for w in want.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match GROUPS.iter().find(|g| g.name == w) {
            Some(g) => out.push(*g),
            None => {
                return Err(format!(
                    "unknown group {w}; groups: {}",
                    GROUPS.iter().map(|g| g.name).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("no group named".into());
    }
    Ok(out)
}

/// What the initramfs takes from the host.
#[derive(Clone, Debug)]
pub struct HostTools {
    pub busybox: PathBuf,
    pub diofuzz: PathBuf,
    /// mkfs.ext4, mke2fs, mkfs.xfs
    pub mkfs: Vec<PathBuf>,
    /// /etc/mke2fs.conf when present.
    pub mke2fs_conf: Option<PathBuf>,
}

/// Find the host programs the guest needs; the error names the Debian packages to install.
pub fn host_tools() -> Result<HostTools, String> {
    let find = |n: &str| crate::live::scratch::which(n);
    let mut missing = Vec::new();
    // busybox-static's binary is /bin/busybox; a dynamic busybox would need its libraries.
    let busybox = find("busybox").filter(|p| is_static(p));
    if busybox.is_none() {
        missing.push("busybox-static (a static busybox)");
    }
    let mut mkfs = Vec::new();
    for (b, pkg) in [
        ("mkfs.ext4", "e2fsprogs"),
        ("mke2fs", "e2fsprogs"),
        ("mkfs.xfs", "xfsprogs"),
    ] {
        match find(b) {
            Some(p) => mkfs.push(p),
            None => missing.push(pkg),
        }
    }
    for (b, pkg) in [
        ("cpio", "cpio"),
        ("depmod", "kmod"),
        ("modinfo", "kmod"),
        ("gzip", "gzip"),
        ("ldd", "libc-bin"),
    ] {
        if find(b).is_none() {
            missing.push(pkg);
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        return Err(format!(
            "missing on the host: install {} (apt-get install {})",
            missing.join(", "),
            missing
                .iter()
                .map(|m| m.split(' ').next().unwrap_or(m))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    let diofuzz = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
    Ok(HostTools {
        busybox: busybox.unwrap_or_default(),
        diofuzz,
        mkfs,
        mke2fs_conf: Some(PathBuf::from("/etc/mke2fs.conf")).filter(|p| p.is_file()),
    })
}

fn is_static(p: &Path) -> bool {
    Command::new("ldd")
        .arg(p)
        .output()
        .map(|o| {
            let t = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            t.contains("not a dynamic executable") || t.contains("statically linked")
        })
        .unwrap_or(false)
}

/// Shared libraries (and the loader) that `ldd` lists for the binaries.
pub fn ldd_libs(bins: &[PathBuf]) -> Result<BTreeSet<PathBuf>, String> {
    let mut out = BTreeSet::new();
    for b in bins {
        let o = Command::new("ldd")
            .arg(b)
            .output()
            .map_err(|e| format!("ldd: {e}"))?;
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            if let Some(p) = l
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
            {
                out.insert(p);
            }
        }
    }
    Ok(out)
}

/// A kernel's modules folder indexed by module name ('-' and '_' are the same).
#[derive(Clone, Debug, Default)]
pub struct Modules {
    pub dir: PathBuf,
    /// name -> path relative to `dir`
    pub files: BTreeMap<String, PathBuf>,
    /// modules.builtin, when the folder has it.
    pub builtin: Option<BTreeSet<String>>,
}

pub fn mod_name(s: &str) -> String {
    s.replace('-', "_")
}

impl Modules {
    pub fn index(dir: &Path) -> Result<Modules, String> {
        if !dir.is_dir() {
            return Err(format!("modules folder {} does not exist", dir.display()));
        }
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(p);
                } else if let Some(n) = module_file_name(&p) {
                    if let Ok(rel) = p.strip_prefix(dir) {
                        files.insert(mod_name(&n), rel.to_path_buf());
                    }
                }
            }
        }
        let builtin = fs::read_to_string(dir.join("modules.builtin"))
            .ok()
            .map(|s| {
                s.lines()
                    .filter_map(|l| module_file_name(Path::new(l.trim())))
                    .map(|n| mod_name(&n))
                    .collect()
            });
        Ok(Modules {
            dir: dir.to_path_buf(),
            files,
            builtin,
        })
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin
            .as_ref()
            .is_some_and(|b| b.contains(&mod_name(name)))
    }

    /// Required modules that are neither a module file nor listed as built in.
    pub fn missing(&self) -> Vec<String> {
        REQUIRED_MODULES
            .iter()
            .filter(|m| !self.files.contains_key(&mod_name(m)) && !self.is_builtin(m))
            .map(|m| m.to_string())
            .collect()
    }

    /// The module files to pack: the required modules, the crc32c providers that exist, and
    /// their dependencies (`modinfo -F depends`), each once.
    pub fn closure(&self) -> Result<Vec<PathBuf>, String> {
        let mut todo: Vec<String> = CRC32C_MODULES
            .iter()
            .chain(REQUIRED_MODULES.iter())
            .chain(FAULT_MODULES.iter())
            .chain(crate::live::inode_kind::MODULES.iter())
            .chain(super::pmem::DAX_MODULES.iter())
            .chain(super::ublk::UBLK_MODULES.iter())
            .chain(crate::live::bdev_state::MODULES.iter())
            .chain(crate::live::nvme_stable::MODULES.iter())
            .chain(BRD_MODULES.iter())
            .map(|m| mod_name(m))
            .collect();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(m) = todo.pop() {
            if !seen.insert(m.clone()) {
                continue;
            }
            let Some(rel) = self.files.get(&m) else {
                continue; // built in, or an optional provider this kernel lacks
            };
            let o = Command::new("modinfo")
                .args(["-F", "depends"])
                .arg(self.dir.join(rel))
                .output()
                .map_err(|e| format!("modinfo: {e} (install kmod)"))?;
            for d in String::from_utf8_lossy(&o.stdout)
                .trim()
                .split(',')
                .filter(|d| !d.is_empty())
            {
                todo.push(mod_name(d));
            }
            out.push(rel.clone());
        }
        out.sort();
        Ok(out)
    }
}

/// "ext4" for ".../ext4.ko", ".../ext4.ko.xz", ".../ext4.ko.zst", ".../ext4.ko.gz".
fn module_file_name(p: &Path) -> Option<String> {
    let n = p.file_name()?.to_str()?;
    let stem = n
        .strip_suffix(".ko")
        .or_else(|| n.strip_suffix(".ko.xz"))
        .or_else(|| n.strip_suffix(".ko.zst"))
        .or_else(|| n.strip_suffix(".ko.gz"))?;
    Some(stem.to_string())
}

/// One file of the initramfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Src {
    Dir,
    Copy(PathBuf),
    /// A module, decompressed if it is .xz/.zst/.gz.
    Module(PathBuf),
    Text(String),
    Symlink(String),
}

/// The initramfs listing: (path inside, source), in creation order.
pub fn listing(
    tools: &HostTools,
    libs: &BTreeSet<PathBuf>,
    mods: &Modules,
    mod_files: &[PathBuf],
    release: &str,
    init: &str,
) -> Vec<(String, Src)> {
    let mut v: Vec<(String, Src)> = Vec::new();
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "mnt", "lib64", "usr", "usr/lib",
    ] {
        v.push((d.into(), Src::Dir));
    }
    // /lib -> usr/lib (merged /usr), so library paths of either form resolve.
    v.push(("lib".into(), Src::Symlink("usr/lib".into())));
    v.push(("bin/busybox".into(), Src::Copy(tools.busybox.clone())));
    for a in BUSYBOX_APPLETS {
        v.push((format!("bin/{a}"), Src::Symlink("busybox".into())));
    }
    v.push(("bin/diofuzz".into(), Src::Copy(tools.diofuzz.clone())));
    for m in &tools.mkfs {
        if let Some(n) = m.file_name() {
            v.push((
                format!("sbin/{}", n.to_string_lossy()),
                Src::Copy(m.clone()),
            ));
        }
    }
    if let Some(c) = &tools.mke2fs_conf {
        v.push(("etc/mke2fs.conf".into(), Src::Copy(c.clone())));
    }
    // The marker `live --swapon` requires (tools/src/live/swap.rs): this is a disposable guest.
    v.push((
        crate::live::swap::GUEST_MARKER
            .trim_start_matches('/')
            .into(),
        Src::Text("diofuzz lab guest: disposable VM\n".into()),
    ));
    for l in libs {
        let inside = l.to_string_lossy().trim_start_matches('/').to_string();
        // /lib/... is stored under usr/lib (the /lib symlink leads there).
        let inside = match inside.strip_prefix("lib/") {
            Some(r) => format!("usr/lib/{r}"),
            None => inside,
        };
        v.push((inside, Src::Copy(l.clone())));
    }
    for f in mod_files {
        let rel = f.to_string_lossy();
        let plain = rel
            .trim_end_matches(".xz")
            .trim_end_matches(".zst")
            .trim_end_matches(".gz")
            .to_string();
        v.push((
            format!("usr/lib/modules/{release}/{plain}"),
            Src::Module(mods.dir.join(f)),
        ));
    }
    v.push(("init".into(), Src::Text(init.to_string())));
    v
}

const BUSYBOX_APPLETS: [&str; 25] = [
    "sh", "mount", "umount", "modprobe", "insmod", "mkdir", "cat", "echo", "ls", "sleep",
    "poweroff", "dmesg", "stty", "uname", "grep", "tail", "tr", "sync", "cut", "head", "dd",
    "losetup", "sed", "ln", "ifconfig",
];

/// The init script: mount the pseudo filesystems, load the modules, find the scsi_debug disk,
/// say what is missing, then run every group, streaming to /dev/ttyS1.
/// `live_args` is `--stable` (the release's variant and its backports) or `--variant SPEC`.
pub fn init_script(
    groups: &[Group],
    count: u64,
    seed: u64,
    disk_mb: u32,
    live_args: &str,
) -> String {
    let mut s = init_prelude(disk_mb);
    for g in groups {
        let need = if super::pmem::is_dax_group(g.args) {
            super::pmem::NEED_PMEM
        } else if super::ublk::is_ublk_group(g.args) {
            super::ublk::NEED_UBLK
        } else if g.disk {
            "[ -n \"$DEV\" ] && "
        } else if g.fault {
            // No fault device (no null_blk, or no badblocks_once: 6.12): rc 2, said on the console.
            "{ [ -n \"$NDEV\" ] || { echo \"lab: no fault device: $NFAULT\"; (exit 2); }; } && "
        } else {
            ""
        };
        s.push_str(&format!(
            "say '{{\"group\":\"{name}\"}}'\n{need}diofuzz live {args} --count {count} --seed {seed} {live_args} --kmsg --stream $R > /dev/null 2> /tmp/err; rc=$?\n\
             tail -3 /tmp/err\nsay \"{{\\\"group_end\\\":\\\"{name}\\\",\\\"rc\\\":$rc}}\"\n",
            name = g.name,
            args = g.args,
        ));
        if super::pmem::is_dax_group(g.args) {
            s.push_str(super::pmem::AFTER_DAX_GROUP);
        }
    }
    s.push_str("say '{\"done\":true}'\nsync\npoweroff -f\n");
    s
}

/// The init script of `diofuzz repro --kernel --run`: make the scenario's filesystem (`mkfs`, a
/// shell command line ending before the target) on `device` (`$DEV`, the scsi_debug disk, or
/// `$PDEV`, the pmem device) or, with None, on a loop device over a sparse file in the guest's
/// tmpfs, mount it, run /bin/repro in it, and print its output and the kernel's WARN/BUG/Oops
/// lines between markers on the console.
pub fn repro_script(fstype: &str, mkfs: &str, device: Option<&str>, disk_mb: u32) -> String {
    let mut s = init_prelude(disk_mb);
    // Every sector of the target holds 0x55 before mkfs (mkfs runs with nodiscard, -K): a block
    // the kernel hands out without zeroing it reads as the C program's 's' (stale), whichever
    // block the allocator picks. A sparse image or a fresh scsi_debug disk reads zeroes, which
    // would hide stale-data exposure (the program's own free-space fill covers only part).
    s.push_str(&format!(
        "tr '\\000' '\\125' </dev/zero | head -c 1048576 >/tmp/stale\nfill() {{ i=0; while [ $i -lt {disk_mb} ]; do cat /tmp/stale; i=$((i+1)); done; }}\n"
    ));
    if let Some(d) = device {
        s.push_str(&format!("T={d}\n[ -n \"$T\" ] && fill >$T 2>/dev/null\n"));
    } else {
        s.push_str("fill >/tmp/img\nT=$(losetup -f)\nlosetup $T /tmp/img\n");
    }
    s.push_str("rm -f /tmp/stale\n");
    s.push_str(&format!(
        r#"echo "@@@REPRO-SETUP target=$T"
mkdir -p /mnt/s
if [ -n "$T" ] && {mkfs} $T && mount -t {fstype} $T /mnt/s; then
  echo "@@@REPRO-BEGIN"
  /bin/repro /mnt/s
  echo "@@@REPRO-END rc=$?"
else
  echo "@@@REPRO-FAILED could not make the {fstype} filesystem on $T"
fi
"#
    ));
    s.push_str(REPRO_END);
    s
}

/// The init script of `diofuzz repro --kernel --run` for a block-device scenario: /bin/repro
/// writes partition 15 of `size` bytes it adds to the scsi_debug disk with BLKPG (`-p $DEV`,
/// `disk`), or a loop device over a `size`-byte file in the guest's tmpfs.
pub fn repro_bdev_script(disk: bool, size: u64, disk_mb: u32) -> String {
    let mut s = init_prelude(disk_mb);
    if disk {
        s.push_str("T=$DEV\nA=\"-p $DEV\"\n");
    } else {
        s.push_str(&format!(
            "dd if=/dev/zero of=/tmp/img bs={size} count=0 seek=1 2>/dev/null\nT=$(losetup -f)\nlosetup $T /tmp/img\nA=$T\n"
        ));
    }
    s.push_str(
        r#"echo "@@@REPRO-SETUP target=$T"
if [ -n "$T" ]; then
  echo "@@@REPRO-BEGIN"
  /bin/repro $A
  echo "@@@REPRO-END rc=$?"
else
  echo "@@@REPRO-FAILED no block device"
fi
"#,
    );
    s.push_str(REPRO_END);
    s
}

/// A repro init script whose loop device ([`repro_script`] without a device,
/// [`repro_bdev_script`] without the disk) gets logical blocks of `lbs` bytes: busybox's losetup
/// sets no block size, so `/bin/loopbs` (LOOP_CONFIGURE, `live::nvme_stable::C_LOOP_BS`, built
/// with the reproducer) attaches the image instead. None when the script has no such loop device.
pub fn repro_on_loop_of(script: &str, lbs: u32) -> Option<String> {
    const ATTACH: &str = "T=$(losetup -f)\nlosetup $T /tmp/img\n";
    script.contains(ATTACH).then(|| {
        script.replacen(
            ATTACH,
            &format!(
                "T=$(/bin/loopbs /tmp/img {lbs})\necho \"@@@REPRO-SETUP $T: logical block $(cat /sys/block/${{T#/dev/}}/queue/logical_block_size 2>/dev/null)\"\n"
            ),
            1,
        )
    })
}

/// The end of both repro init scripts: the kernel's WARN/BUG/Oops lines, power off.
const REPRO_END: &str = r#"dmesg | grep -A12 -E 'WARNING:|BUG:|Oops|EXT4-fs (error|warning)|critical target error|Internal error|Corruption' | head -60 | sed 's/^/@@@KLOG /'
umount /mnt/s 2>/dev/null
sync
poweroff -f
"#;

/// Mount the pseudo filesystems, load the modules, find the scsi_debug disk ($DEV), say what is
/// missing on ttyS1 ($R).
fn init_prelude(disk_mb: u32) -> String {
    let mut s = String::from(
        r#"#!/bin/sh
# diofuzz lab guest init (generated by tools/src/lab/guest.rs)
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o size=1536m tmp /tmp
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t debugfs none /sys/kernel/debug 2>/dev/null
R=/dev/ttyS1
stty -F $R raw -echo 2>/dev/null
say() { echo "$1" > $R; }
say "{\"boot\":\"$(uname -r)\"}"
for m in crc32c-cryptoapi crc32c_generic crc32c-intel libcrc32c loop ext4 xfs sd_mod xts cts; do
  modprobe $m 2>/dev/null
done
"#,
    );
    s.push_str(&format!(
        "modprobe scsi_debug atomic_wr=1 dev_size_mb={disk_mb} 2>/dev/null\n"
    ));
    s.push_str(
        r#"DEV=
i=0
while [ -z "$DEV" ] && [ $i -lt 50 ]; do
  for d in /sys/block/sd*; do
    case "$(cat $d/device/model 2>/dev/null)" in scsi_debug*) DEV=/dev/${d##*/};; esac
  done
  [ -z "$DEV" ] && sleep 0.2
  i=$((i+1))
done
NDEV=
NFAULT=
modprobe configfs 2>/dev/null
modprobe null_blk nr_devices=0 2>/dev/null
mount -t configfs none /sys/kernel/config 2>/dev/null
N=/sys/kernel/config/nullb/dfznull
if [ ! -d /sys/kernel/config/nullb ]; then
  NFAULT="null_blk (configfs) not available"
elif mkdir $N 2>/dev/null; then
  echo 1 > $N/memory_backed; echo 512 > $N/size; echo 512 > $N/blocksize
  if [ -e $N/badblocks_once ]; then
    echo 1 > $N/badblocks_once
    echo 1 > $N/power && [ -b /dev/dfznull ] && NDEV=/dev/dfznull
    [ -n "$NDEV" ] || NFAULT="null_blk device did not come up"
  else
    NFAULT="null_blk without badblocks_once (added after 6.12)"
  fi
fi
"#,
    );
    s.push_str(super::pmem::INIT_PMEM);
    s.push_str(super::ublk::INIT_UBLK);
    s.push_str(
        r#"MISSING=
grep -qw ext4 /proc/filesystems || MISSING="$MISSING ext4"
grep -qw xfs /proc/filesystems || MISSING="$MISSING xfs"
[ -e /dev/loop-control ] || MISSING="$MISSING loop"
[ -n "$DEV" ] || MISSING="$MISSING scsi_debug/sd_mod"
grep -qw tracefs /proc/filesystems || MISSING="$MISSING tracefs"
say "{\"missing\":\"$MISSING\",\"disk\":\"$DEV\",\"fault_device\":\"$NDEV\",\"pmem\":\"$PDEV\"}"
"#,
    );
    s
}

/// Build the initramfs (gzip'd newc cpio) at `out` from a listing, in the staging folder
/// `stage` (created, left for the caller to remove).
pub fn build(
    listing: &[(String, Src)],
    release: &str,
    stage: &Path,
    out: &Path,
) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    fs::create_dir_all(stage).map_err(|e| io("create", stage, e))?;
    for (inside, src) in listing {
        let p = stage.join(inside);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        }
        match src {
            Src::Dir => fs::create_dir_all(&p).map_err(|e| io("create", &p, e))?,
            Src::Symlink(t) => symlink(t, &p).map_err(|e| io("symlink", &p, e))?,
            Src::Copy(from) => {
                fs::copy(from, &p).map_err(|e| io("copy", from, e))?;
            }
            Src::Text(t) => {
                fs::write(&p, t).map_err(|e| io("write", &p, e))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                    .map_err(|e| io("chmod", &p, e))?;
            }
            Src::Module(from) => decompress(from, &p)?,
        }
    }
    // depmod -b ROOT VERSION reads ROOT/lib/modules/VERSION (lib -> usr/lib).
    let st = Command::new("depmod")
        .arg("-b")
        .arg(stage)
        .arg(release)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("depmod: {e} (install kmod)"))?;
    if !st.success() {
        return Err(format!("depmod -b {} {release} failed", stage.display()));
    }
    pack(stage, out)
}

fn decompress(from: &Path, to: &Path) -> Result<(), String> {
    let n = from.to_string_lossy();
    let tool = if n.ends_with(".xz") {
        Some(("xz", "xz-utils"))
    } else if n.ends_with(".zst") {
        Some(("zstd", "zstd"))
    } else if n.ends_with(".gz") {
        Some(("gzip", "gzip"))
    } else {
        None
    };
    match tool {
        None => fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| format!("copy {}: {e}", from.display())),
        Some((t, pkg)) => {
            let f = fs::File::create(to).map_err(|e| format!("create {}: {e}", to.display()))?;
            let st = Command::new(t)
                .args(["-d", "-c"])
                .arg(from)
                .stdout(f)
                .status()
                .map_err(|e| format!("{t}: {e} (install {pkg})"))?;
            if !st.success() {
                return Err(format!("{t} -d {} failed", from.display()));
            }
            Ok(())
        }
    }
}

/// `find . | cpio -o -H newc | gzip -1` without a shell.
fn pack(stage: &Path, out: &Path) -> Result<(), String> {
    let mut names = Vec::new();
    let mut stack = vec![PathBuf::from(".")];
    while let Some(d) = stack.pop() {
        names.push(d.clone());
        let Ok(rd) = fs::read_dir(stage.join(&d)) else {
            continue;
        };
        for e in rd.flatten() {
            let rel = d.join(e.file_name());
            match e.file_type() {
                Ok(ft) if ft.is_dir() => stack.push(rel),
                _ => names.push(rel),
            }
        }
    }
    names.sort();
    let outf = fs::File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(outf)
        .spawn()
        .map_err(|e| format!("gzip: {e}"))?;
    let gz_in = gz.stdin.take().ok_or("gzip stdin")?;
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(stage)
        .stdin(Stdio::piped())
        .stdout(gz_in)
        .spawn()
        .map_err(|e| format!("cpio: {e} (install cpio)"))?;
    {
        let mut w = cpio.stdin.take().ok_or("cpio stdin")?;
        for n in &names {
            writeln!(w, "{}", n.display()).map_err(|e| format!("cpio: {e}"))?;
        }
    }
    let a = cpio.wait().map_err(|e| format!("cpio: {e}"))?;
    let b = gz.wait().map_err(|e| format!("gzip: {e}"))?;
    if !a.success() || !b.success() {
        return Err("cpio | gzip failed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> HostTools {
        HostTools {
            busybox: "/bin/busybox".into(),
            diofuzz: "/x/diofuzz".into(),
            mkfs: vec!["/sbin/mkfs.ext4".into(), "/sbin/mkfs.xfs".into()],
            mke2fs_conf: Some("/etc/mke2fs.conf".into()),
        }
    }

    #[test]
    fn initramfs_listing() {
        let libs: BTreeSet<PathBuf> = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mods = Modules {
            dir: "/k/mods".into(),
            ..Default::default()
        };
        let files = vec![PathBuf::from("kernel/fs/ext4/ext4.ko.xz")];
        let l = listing(
            &tools(),
            &libs,
            &mods,
            &files,
            "7.3.4+deb13-amd64",
            "#!/bin/sh\n",
        );
        let get = |p: &str| l.iter().find(|(i, _)| i == p).map(|x| x.1.clone());
        assert_eq!(get("bin/diofuzz"), Some(Src::Copy("/x/diofuzz".into())));
        assert_eq!(get("bin/sh"), Some(Src::Symlink("busybox".into())));
        assert_eq!(
            get("sbin/mkfs.xfs"),
            Some(Src::Copy("/sbin/mkfs.xfs".into()))
        );
        assert_eq!(get("lib"), Some(Src::Symlink("usr/lib".into())));
        // /lib/... libraries live under usr/lib; the loader keeps /lib64.
        assert!(get("usr/lib/x86_64-linux-gnu/libc.so.6").is_some());
        assert!(get("lib64/ld-linux-x86-64.so.2").is_some());
        // Modules are stored decompressed under the release.
        assert_eq!(
            get("usr/lib/modules/7.3.4+deb13-amd64/kernel/fs/ext4/ext4.ko"),
            Some(Src::Module("/k/mods/kernel/fs/ext4/ext4.ko.xz".into()))
        );
        assert_eq!(l.last().map(|x| x.0.as_str()), Some("init"));
    }

    #[test]
    fn modules_missing_and_builtin() {
        let mut m = Modules {
            dir: "/k".into(),
            ..Default::default()
        };
        for n in ["loop", "ext4", "xfs"] {
            m.files.insert(n.into(), format!("{n}.ko").into());
        }
        // Without modules.builtin, what has no file is missing.
        assert_eq!(m.missing(), ["scsi_debug", "sd_mod"]);
        m.builtin = Some(["sd_mod".to_string()].into_iter().collect());
        assert_eq!(m.missing(), ["scsi_debug"]);
        assert_eq!(
            module_file_name(Path::new("a/scsi_debug.ko.xz")).as_deref(),
            Some("scsi_debug")
        );
        assert_eq!(module_file_name(Path::new("a/modules.dep")), None);
        assert_eq!(mod_name("crc32c-intel"), "crc32c_intel");
    }

    #[test]
    fn init_runs_each_group_and_streams() {
        let g = select_groups("ext4-disk,xfs-loop").unwrap();
        let s = init_script(&g, 50, 7, 512, "--stable");
        let p = init_script(&g, 5, 7, 512, "--variant /variant.json");
        assert!(p.contains("--seed 7 --variant /variant.json --kmsg") && !p.contains("--stable"));
        assert!(s.contains("modprobe scsi_debug atomic_wr=1 dev_size_mb=512"));
        assert!(s.contains("[ -n \"$DEV\" ] && diofuzz live --fs ext4 --device $DEV --count 50 --seed 7 --stable --kmsg --stream $R"));
        assert!(s.contains("\ndiofuzz live --fs xfs --count 50"));
        // The disk group runs first, then the loop group, then the end marker and poweroff.
        let a = s.find("\"group\":\"ext4-disk\"").unwrap();
        let b = s.find("\"group\":\"xfs-loop\"").unwrap();
        let c = s.find("\"done\":true").unwrap();
        assert!(a < b && b < c);
        assert!(s.trim_end().ends_with("poweroff -f"));
        assert!(select_groups("nope").unwrap_err().contains("ext4-disk"));
        // The DAX groups need the pmem device (else rc 2 with the reason) and show the kernel's
        // DAX lines after them; the prelude loads nd_e820/nd_pmem only with a memmap= region.
        let d = init_script(&select_groups("xfs-dax").unwrap(), 5, 7, 512, "--stable");
        assert!(d.contains("lab: no DAX device: $NPMEM\"; (exit 2); }; } && diofuzz live --fs xfs --pmem $PDEV --count 5"), "{d}");
        assert!(d.contains("grep -q 'memmap=' /proc/cmdline") && d.contains("modprobe nd_pmem"));
        assert!(
            d.contains("dmesg | grep -i -E 'dax|pmem'")
                && !s.contains("dmesg | grep -i -E 'dax|pmem'")
        );
    }

    #[test]
    fn repro_scripts_write_only_their_target() {
        // A block-device scenario on the disk: the program adds its own partition (-p $DEV);
        // without atomic units, a loop device of the scenario's size; no mkfs, no mount.
        let d = repro_bdev_script(true, 57344, 512);
        assert!(d.contains("A=\"-p $DEV\"") && d.contains("/bin/repro $A"));
        assert!(!d.contains("mkfs") && !d.contains("losetup $T"));
        let l = repro_bdev_script(false, 57344, 512);
        assert!(l.contains("bs=57344 count=0 seek=1") && l.contains("losetup $T /tmp/img\nA=$T"));
        // A file scenario: the filesystem made on the target, the program run in it.
        let f = repro_script("ext4", "mkfs.ext4 -q", Some("$DEV"), 512);
        assert!(
            f.contains("mkfs.ext4 -q $T && mount -t ext4 $T /mnt/s")
                && f.contains("/bin/repro /mnt/s")
        );
        // A DAX scenario: on the pmem device, mounted with the dax option.
        let x = repro_script("xfs -o dax=always", "mkfs.xfs -q", Some("$PDEV"), 512);
        assert!(x.contains("T=$PDEV\n") && x.contains("mount -t xfs -o dax=always $T /mnt/s"));
        // A filesystem's target holds 0x55 before mkfs (stale blocks read as 's').
        let i = repro_script("ext4", "mkfs.ext4 -q", None, 512);
        for s in [&f, &x, &i] {
            let fill = s.find("fill >").expect("the target is filled");
            assert!(fill < s.find("mkfs").unwrap() && s.contains("'\\125'"));
        }
        assert!(i.contains("fill >/tmp/img\nT=$(losetup -f)"));
        // Session 12: a loop device of 1, 2 or 4 KiB logical blocks (LOOP_CONFIGURE); the disk
        // and the DAX device have their own geometry and are left alone.
        for (sc, prog) in [(&i, "/bin/repro /mnt/s"), (&l, "/bin/repro $A")] {
            let k = repro_on_loop_of(sc, 1024).expect("a loop device");
            assert!(k.contains("T=$(/bin/loopbs /tmp/img 1024)\n") && !k.contains("losetup"));
            assert!(k.find("loopbs").unwrap() < k.find(prog).unwrap());
        }
        assert!(k_none(&d) && k_none(&f) && k_none(&x));
        fn k_none(s: &str) -> bool {
            repro_on_loop_of(s, 2048).is_none()
        }
        for s in [d, l, f, x] {
            assert!(s.contains("@@@KLOG") && s.trim_end().ends_with("poweroff -f"));
        }
    }
}
