// SPDX-License-Identifier: GPL-2.0-only
//! Injected bio completion errors on a real kernel (`live --fault-device`, the lab's fault
//! groups): the model's `bio_endio` fault ([`Site::BioEndIo`], "the nth bio of the execution
//! fails") made by a memory-backed null_blk device with bad blocks (-EIO), by the scsi_debug
//! atomic disk's error rule (-EIO, -ENOSPC on the REQ_ATOMIC bio), or by the ublk fault device
//! of [`super::ublk`] (-EIO, -ENOSPC, -ETIMEDOUT, -EINVAL, -ENOMEM; armed like null_blk).
//!
//! null_blk (drivers/block/null_blk/main.c, read in 7.3.4): a request that touches a sector of
//! the configfs `badblocks` list completes with BLK_STS_IOERR (null_handle_badblocks), which
//! blk_status_to_errno() turns into -EIO for every bio of the request; with `badblocks_partial_io`
//! off nothing of the request is transferred, and with `badblocks_once` (6.16.12 and 7.x have it,
//! 6.12.117's module does not) the bad range is cleared when it fails a request, so it fails once.
//! null_blk has no retry path. So the nth bio is failed by marking its first sector bad, when:
//! - that sector is known before the call: a block device's offset (the scenario's partition
//!   starts at [`PART_START`]), or a file block allocated by the set-up (written or unwritten, not
//!   shared: FIEMAP after the set-up; a hole, a delalloc block or a CoW write gets its sectors
//!   during the call);
//! - nothing else touches it during the call before that bio: the bios before it write other
//!   file ranges, a dirty page over it would be flushed there first (refused), journal and log
//!   writes go elsewhere, and the queue does not merge (queue/nomerges = 2, set while the device is
//!   ours: a merged request would fail its neighbours too);
//! - the bio is one request (not split): not larger than queue/max_sectors_kb and
//!   queue/max_segments.
//!
//! null_blk's bad blocks give BLK_STS_IOERR only; the other errnos need the scsi_debug rule or
//! the ublk device (super::bioerr). -EAGAIN (validity rule F2) and every other site stay
//! inexpressible (see docs/lab.md).

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::fiemap::{
    fiemap, Extent4, FIEMAP_EXTENT_DATA_INLINE, FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_ENCODED,
    FIEMAP_EXTENT_NOT_ALIGNED, FIEMAP_EXTENT_SHARED, FIEMAP_EXTENT_UNKNOWN,
};
use super::plan::{Plan, Step, Unsupported};
use super::scratch::PART_START;
use diofuzz::errno::EIO;
use diofuzz::model::{BioCompletion, Execution, ModelOpts};
use diofuzz::scenario::{Extent, FsKind, Scenario, Site, PAGE_SIZE, SECTOR};

pub use diofuzz::generators::fault::faulted_bios;

/// The null_blk configfs folder of the lab's fault device.
pub const CONFIGFS_NULLB: &str = "/sys/kernel/config/nullb";

/// Can a real kernel get this scenario's faults from a fault device? Only `bio_endio`, with an
/// errno one of the devices gives ([`super::bioerr`]: -EIO on both, -ENOSPC on the scsi_debug
/// disk; which device is checked when it is armed), the same for every fault.
pub fn expressible(s: &Scenario) -> Result<(), Unsupported> {
    for f in &s.faults {
        if f.site != Site::BioEndIo {
            return Err(format!(
                "injected fault at {} (only bio_endio errors have a device-level injection)",
                f.site.function()
            ));
        }
        if !super::bioerr::UBLK_ERRNOS.contains(&f.errno) {
            return Err(format!(
                "bio_endio -{} (the fault devices give -EIO (null_blk bad blocks, a SCSI ILLEGAL REQUEST), -ENOSPC (a SCSI DATA PROTECT 27/07) and, on the ublk fault device, -ETIMEDOUT, -EINVAL, -ENOMEM only)",
                super::compare::errno_name(f.errno)
            ));
        }
    }
    if super::bioerr::fault_errno(s).is_none() {
        return Err("bio_endio faults with different errnos (a device rule has one sense)".into());
    }
    Ok(())
}

/// The plan of a scenario whose faults are bio_endio -EIO on the fault device: the world and call
/// of the scenario without its faults (the faults are the device's, set by [`Armed`]).
pub fn plan_faulted(s: &Scenario, disk: Option<&super::plan::Disk>) -> Result<Plan, Unsupported> {
    expressible(s)?;
    let mut bare = s.clone();
    bare.faults.clear();
    super::plan::plan_on(&bare, disk)
}

/// Where a faulted bio starts: its file (or device) position and what the set-up put there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// File or device offset of the faulted bio (the model's bio position).
    pub pos: u64,
    pub len: u64,
    /// The errno the bio must fail with (positive).
    pub errno: i64,
    /// The bio writes XFS CoW-fork blocks the call allocates (a shared block, a software atomic
    /// write): its sector is not known before the call, so only a device that fails a bio by its
    /// command can hit it — the scsi_debug disk's rule on WRITE(10), when the bio is the call's
    /// first write ([`first_write_only`]).
    pub cow: bool,
}

/// The armed "sector" of a [`Target::cow`] bio: not known before the call (the block trace
/// finds it).
pub const COW_SECTOR: u64 = u64::MAX;

/// WRITE(10), the opcode sd gives every write that is not REQ_ATOMIC on the lab's disk
/// (`sd_setup_read_write_cmnd`, drivers/scsi/sd.c, 6.12.117 and 7.3.4: WRITE(16) only with
/// `use_16_for_rw`, set for a capacity beyond 2^32 sectors or scsi_debug's `cdb_len` 16/32, or
/// for more than 0xffff blocks; WRITE(6) only without `use_10_for_rw`, which `scsi_add_lun` and
/// scsi_debug's default `cdb_len` 10 set — and the midlayer clears only on ILLEGAL REQUEST ASC
/// 0x20, not the ASCs of [`super::bioerr::scsi_sense`]). A 512 MB disk, at most 4 MiB a write.
pub const WRITE_10: u8 = 0x2a;

/// A scenario's CoW bio can be failed by a rule on the write command when nothing writes the
/// device between the arming and that bio: it is the first bio the call submits, and no dirty
/// page in the write's range is flushed before it (`kiocb_write_and_wait`: the flush's write
/// would meet the rule first). Background writeback and log writes are not ruled out: the
/// block trace says if another request failed.
pub fn first_write_only(s: &Scenario, plan: &Plan, x: &Execution) -> Result<(), Unsupported> {
    let bios = diofuzz::generators::fault::completed_bios(x);
    if !bios.first().is_some_and(|b| b.faulted) || bios.iter().filter(|b| b.faulted).count() != 1 {
        return Err("faulted CoW bio not the first bio of the call (its sector is allocated in the call; the scsi_debug rule on WRITE(10) fails the first write command)".into());
    }
    let start = diofuzz::generators::fault::landing(s) / PAGE_SIZE * PAGE_SIZE;
    let end = diofuzz::generators::fault::landing(s) + s.request.len;
    if plan
        .steps
        .iter()
        .any(|st| matches!(st, Step::WriteDirty { off, .. } if *off >= start && *off < end))
    {
        return Err("faulted CoW bio after the flush of a dirty page in the write's range (the flush's write command would meet the rule first)".into());
    }
    Ok(())
}

/// The device's limits a faulted bio must fit in to stay one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_segments: u64,
}

/// The faulted bios of `x` as targets, or why they cannot be hit exactly on a device (from the
/// scenario's layout and page cache, the plan's set-up, the queue limits, and the current
/// scenario's measured placement, [`super::placement::current`], which `x` must have been run
/// with).
pub fn targets(
    s: &Scenario,
    plan: &Plan,
    x: &Execution,
    lim: Limits,
    atomic_only: bool,
) -> Result<Vec<Target>, Unsupported> {
    let mut out = Vec::new();
    if !faulted_bios(x).is_empty() {
        let mut bare = s.clone();
        bare.faults.clear();
        // The same placement as `x` (the measured one after the set-up, [`replan`]).
        let opts = ModelOpts {
            placement: super::placement::current(),
            ..ModelOpts::default()
        };
        if !diofuzz::generators::fault::faults_reach_the_device(
            x,
            &diofuzz::model::run_opts(&bare, x.variant, opts),
        ) {
            return Err("faulted bio that the block layer fails before the device (a device error cannot happen there; the model takes the fault first)".into());
        }
    }
    // xfs_direct_write_iomap_begin / xfs_atomic_write_cow_iomap_begin (7.3.4): a CoW write
    // (shared block, software atomic write) goes to blocks allocated in the call.
    let cow = !faulted_bios(x).is_empty()
        && diofuzz::generators::fault::COW_PATHS
            .iter()
            .any(|f| x.trace.entered(f));
    if cow && !atomic_only {
        return Err(
            "faulted XFS write through the CoW fork (its bios go to blocks allocated in the call)"
                .into(),
        );
    }
    if cow {
        // The scsi_debug disk fails by command: the CoW bio is a plain write (no REQ_ATOMIC:
        // IOMAP_F_SHARED without IOMAP_F_ATOMIC_BIO), failed by a rule on WRITE(10).
        first_write_only(s, plan, x)?;
    } else if atomic_only
        && !faulted_bios(x).is_empty()
        && !diofuzz::generators::fault::fault_on_first_atomic_bio(x)
    {
        // The scsi_debug rule matches the WRITE ATOMIC(16) opcode, not an LBA or a count of
        // earlier commands: it fails the first REQ_ATOMIC command after arming.
        return Err(
            "faulted bio not the first REQ_ATOMIC bio (the scsi_debug rule fails the first WRITE ATOMIC command)"
                .into(),
        );
    }
    for (pos, len) in faulted_bios(x) {
        if len > lim.max_bytes {
            return Err(
                "faulted bio larger than one request of the device (it would be split)".into(),
            );
        }
        let segs = bio_segments(s, plan, pos, len);
        if segs > lim.max_segments {
            return Err(format!(
                "faulted bio of {segs} bvecs, more segments than one request of the device holds ({}: it would be split)",
                lim.max_segments
            ));
        }
        if s.fs != FsKind::Bdev && !cow {
            let bs = 1u64 << s.world.blkbits;
            let b = s
                .world
                .blocks
                .get((pos / bs) as usize)
                .copied()
                .unwrap_or_default();
            if b.shared {
                return Err("faulted bio into a shared block (the CoW write goes to a block allocated in the call)".into());
            }
            if !matches!(b.kind, Extent::Written | Extent::Unwritten) {
                return Err("faulted bio into a block allocated during the call (its sectors are not known before)".into());
            }
        }
        let page = pos / PAGE_SIZE * PAGE_SIZE;
        if plan
            .steps
            .iter()
            .any(|st| matches!(st, Step::WriteDirty { off, .. } if *off == page))
        {
            return Err(
                "faulted bio over a dirty page (its flush would reach the bad sector first)".into(),
            );
        }
        out.push(Target {
            pos,
            len,
            errno: super::bioerr::fault_errno(s).unwrap_or(EIO),
            cow,
        });
    }
    Ok(out)
}

/// The targets planned again after the set-up (from the step between set-up and call, after
/// [`super::placement::measure`]): which bio the fault hits depends on where XFS put the blocks
/// of an atomic write (`xfs_bmap_hw_atomic_write_possible`: the hardware path with its
/// REQ_ATOMIC bio, or the CoW path with plain bios into blocks allocated in the call), which is
/// known only now. With a measured placement the model runs again with it and the targets are
/// its faulted bios, whatever path they take; without one (`pre`: the targets of the model run
/// before the set-up) nothing changes. A refusal is a skip ([`SKIP`]).
pub fn replan(
    s: &Scenario,
    plan: &Plan,
    v: &'static diofuzz::variant::Variant,
    dev: &FaultDisk,
    pre: Result<Vec<Target>, Unsupported>,
) -> Result<Vec<Target>, String> {
    let Some(p) = super::placement::current() else {
        return pre.map_err(|why| format!("{SKIP}{why}"));
    };
    let x = std::panic::catch_unwind(|| model_run(s, v))
        .map_err(|_| "the model panicked with the measured placement".to_string())?;
    targets(s, plan, &x, dev.limits, dev.atomic_only()).map_err(|why| {
        format!(
            "{SKIP}{why} (with the placement measured after the set-up: disk blocks {})",
            super::placement::describe(&p)
        )
    })
}

/// The bvecs of the bio at `pos` (file or device position) of `len` bytes: one per user page
/// of each iovec piece it carries (`bio_iov_iter_get_pages`: a bvec per page, scattered
/// segments never merging; the model's `IovIter::bvec_cap`), from the buffer the call builds
/// ([`super::plan::Call::layout`]). An upper bound of the request's physical segments
/// (`bio_split_io_at` counts one per bvec of at most a page; physically adjacent pages of a
/// contiguous buffer may merge into fewer). A bio outside the data (iomap's zeroing of a
/// sub-block write) is one bvec of the zero page.
pub fn bio_segments(s: &Scenario, plan: &Plan, pos: u64, len: u64) -> u64 {
    let start = diofuzz::generators::fault::landing(s);
    if pos < start || pos >= start + s.request.len {
        return 1;
    }
    let (a, b) = (pos - start, pos - start + len);
    let mut d = 0;
    let mut n = 0;
    for (addr, l) in plan.call.layout().iov {
        let (x, y) = (d.max(a), (d + l).min(b));
        if y > x {
            let (u0, u1) = (addr + (x - d), addr + (y - d));
            n += u1.div_ceil(PAGE_SIZE) - u0 / PAGE_SIZE;
        }
        d += l;
    }
    n.max(1)
}

/// Marks an executor error that means "this world could not be set up as the model has it":
/// the scenario is skipped, not counted as a harness error.
pub const SKIP: &str = "not expressible here: ";

/// The verdict of an executor error (see [`SKIP`]).
pub fn error_verdict(e: &str) -> super::compare::Verdict {
    if e.starts_with(SKIP) {
        super::compare::Verdict::Skipped
    } else {
        super::compare::Verdict::Error
    }
}

/// The device sector holding file byte `pos`, from the file's extents.
pub fn sector_of(extents: &[Extent4], pos: u64) -> Result<u64, String> {
    let (l, p, _, fl) = extents
        .iter()
        .find(|(l, _, n, _)| *l <= pos && pos < l + n)
        .copied()
        .ok_or_else(|| format!("FIEMAP: byte {pos} is not mapped after the set-up"))?;
    let bad = FIEMAP_EXTENT_UNKNOWN
        | FIEMAP_EXTENT_DELALLOC
        | FIEMAP_EXTENT_ENCODED
        | FIEMAP_EXTENT_NOT_ALIGNED
        | FIEMAP_EXTENT_DATA_INLINE
        | FIEMAP_EXTENT_SHARED;
    if fl & bad != 0 {
        return Err(format!(
            "FIEMAP: byte {pos} is in an extent with flags {fl:#x} (not a plain allocated one)"
        ));
    }
    Ok((p + (pos - l)) / SECTOR)
}

/// How a fault device fails a bio.
#[derive(Debug)]
enum Kind {
    /// A null_blk device: its configfs folder (`/sys/kernel/config/nullb/NAME`), whose
    /// `badblocks` list gets the faulted bio's first sector.
    BadBlocks { cfg: PathBuf },
    /// The atomic-capable scsi_debug disk: its debugfs `error` file
    /// (`/sys/kernel/debug/scsi_debug/H:C:T:L/error`) gets one `ERR_FAIL_CMD` rule on the WRITE
    /// ATOMIC(16) opcode with count -1: the next REQ_ATOMIC command fails, once.
    ScsiAtomic { error: PathBuf },
    /// A ublk fault device of `diofuzz ublk-fault` ([`super::ublk`]): its arm file gets
    /// "SECTOR ERRNO" per target; the server fails the first write request holding the sector
    /// with -ERRNO and drops the line.
    Ublk { arm: PathBuf },
}

/// scsi_debug's `ERR_FAIL_CMD` rule (drivers/scsi/scsi_debug.c `sdebug_error_write`, 7.3.4):
/// type 2, count -1 (fail the next matching command, then count 0: off), opcode 0x9c (WRITE
/// ATOMIC(16), `sd_setup_atomic_cmnd`), host byte 0, driver byte 0, status 0x2 (CHECK CONDITION),
/// sense key 0x5 (ILLEGAL REQUEST), asc 0x0, ascq 0x0: `scsi_check_sense` returns SUCCESS for an
/// ILLEGAL REQUEST whose asc is not 0x20-0x27 (no retry, no target-failure byte), and
/// `scsi_io_completion_action` fails it with `BLK_STS_IOERR` (`scsi_result_to_blk_status`:
/// DID_OK, status not good) → -EIO.
/// Other errnos: the same rule with other sense data ([`super::bioerr::scsi_rule`]).
pub const SCSI_ATOMIC_RULE: &str = "2 -1 0x9c 0x0 0x0 0x2 0x5 0x0 0x0";
/// The opcodes of our rules: WRITE ATOMIC(16) for a REQ_ATOMIC bio, WRITE(10) for a CoW bio
/// ([`Target::cow`]); each is removed with "- 2 OPCODE".
const SCSI_RULE_OPCODES: [u8; 2] = [super::bioerr::WRITE_ATOMIC_16, WRITE_10];

/// The device a fault run writes: the lab's null_blk fault device (`live --fault-device`) or the
/// scsi_debug atomic disk (`live --device --atomic-faults`), taken for a run (it is reformatted
/// per filesystem, like `--device`).
#[derive(Debug)]
pub struct FaultDisk {
    pub dev: PathBuf,
    kind: Kind,
    pub disk: super::plan::Disk,
    pub limits: Limits,
    /// queue/nomerges before we set 2 (restored on drop).
    nomerges: Option<(PathBuf, String)>,
}

/// A number from the sysfs folder `sys` of block device `dev` (`f`: a path inside it).
fn sysfs_num(sys: &Path, dev: &Path, f: &str) -> Result<u64, String> {
    read_trim(&sys.join(f))
        .map_err(|e| format!("{}: {f}: {e}", dev.display()))?
        .parse()
        .map_err(|_| format!("{}: {f} is not a number", dev.display()))
}

/// A fault device without atomic units (null_blk, ublk) that is not mounted: its geometry from
/// sysfs (`sys`: /sys/class/block/NAME).
fn unmounted_geometry(sys: &Path, dev: &Path) -> Result<super::plan::Disk, String> {
    let devnum = read_trim(&sys.join("dev")).map_err(|e| format!("{}: dev: {e}", dev.display()))?;
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mi
        .lines()
        .any(|l| l.split(' ').nth(2) == Some(devnum.as_str()))
    {
        return Err(format!("{}: mounted; unmount it first", dev.display()));
    }
    let num = |f: &str| sysfs_num(sys, dev, f);
    Ok(super::plan::Disk {
        awu_min: 0,
        awu_max: 0,
        lbs_bits: num("queue/logical_block_size")?.trailing_zeros() as u8,
        dma_alignment: num("queue/dma_alignment")? as u32,
    })
}

fn read_trim(p: &Path) -> std::io::Result<String> {
    fs::read_to_string(p).map(|s| s.trim().to_string())
}

/// The queue limits of `/sys/class/block/NAME` and merging turned off (nomerges 2), returning
/// the old nomerges value.
fn queue_setup(sys: &Path, dev: &Path) -> Result<(Limits, (PathBuf, String)), String> {
    let num = |f: &str| sysfs_num(sys, dev, f);
    let limits = Limits {
        max_bytes: num("queue/max_sectors_kb")? * 1024,
        max_segments: num("queue/max_segments")?,
    };
    let nm = sys.join("queue/nomerges");
    let before = read_trim(&nm).map_err(|e| format!("{}: {e}", nm.display()))?;
    fs::write(&nm, "2").map_err(|e| format!("{}: {e}", nm.display()))?;
    Ok((limits, (nm, before)))
}

impl FaultDisk {
    /// Take `dev` as the fault device: a powered, memory-backed null_blk device of configfs with
    /// `badblocks_once` 1 and `badblocks_partial_io` 0, not mounted. Its bad-block list is emptied
    /// and merging is turned off.
    pub fn open(dev: &Path) -> Result<FaultDisk, String> {
        let name = dev
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with("ublkb") {
            return FaultDisk::open_ublk(dev, &name);
        }
        let cfg = Path::new(CONFIGFS_NULLB).join(&name);
        let sys = PathBuf::from(format!("/sys/class/block/{name}"));
        if !sys.exists() || !cfg.is_dir() {
            return Err(format!(
                "{}: not a null_blk device made through configfs ({} missing): modprobe null_blk nr_devices=0, mount configfs, mkdir {}, set memory_backed=1 badblocks_once=1 size=512, power=1",
                dev.display(),
                cfg.display(),
                cfg.display()
            ));
        }
        let want = |attr: &str, v: &str| -> Result<(), String> {
            match read_trim(&cfg.join(attr)) {
                Ok(x) if x == v => Ok(()),
                Ok(x) => Err(format!("{}: {attr} is {x}, want {v}", cfg.display())),
                Err(e) => Err(format!(
                    "{}: no {attr} ({e}){}",
                    cfg.display(),
                    if attr == "badblocks_once" {
                        " — this null_blk has no badblocks_once (it came after 6.12): a fault could fire twice"
                    } else {
                        ""
                    }
                )),
            }
        };
        want("power", "1")?;
        want("memory_backed", "1")?;
        want("badblocks_once", "1")?;
        if cfg.join("badblocks_partial_io").exists() {
            want("badblocks_partial_io", "0")?;
        }
        let disk = unmounted_geometry(&sys, dev)?;
        let (limits, nm) = queue_setup(&sys, dev)?;
        let fd = FaultDisk {
            dev: dev.to_path_buf(),
            kind: Kind::BadBlocks { cfg },
            disk,
            limits,
            nomerges: Some(nm),
        };
        fd.reset()?;
        Ok(fd)
    }

    /// Take the ublk fault device `dev` (`/dev/ublkbN`, served by `diofuzz ublk-fault`, whose arm
    /// file must exist), not mounted: its arm file is emptied and merging turned off.
    fn open_ublk(dev: &Path, name: &str) -> Result<FaultDisk, String> {
        let sys = PathBuf::from(format!("/sys/class/block/{name}"));
        let arm = super::ublk::arm_file(name);
        if !sys.exists() || !arm.exists() {
            return Err(format!(
                "{}: not a ublk fault device ({} missing): run `diofuzz ublk-fault &` (modprobe ublk_drv) and pass the device it prints",
                dev.display(),
                arm.display()
            ));
        }
        let disk = unmounted_geometry(&sys, dev)?;
        let (limits, nm) = queue_setup(&sys, dev)?;
        // The server completes requests in its own thread: after the submission (model order
        // Deferred; the lab measured it, docs/lab.md "The ublk fault device").
        let _ = DEVICE_ORDER.set(BioCompletion::Deferred);
        let fd = FaultDisk {
            dev: dev.to_path_buf(),
            kind: Kind::Ublk { arm },
            disk,
            limits,
            nomerges: Some(nm),
        };
        fd.reset()?;
        Ok(fd)
    }

    /// The errnos this device gives a faulted bio (the generator draws from them).
    pub fn errnos(&self) -> &'static [i64] {
        match self.kind {
            Kind::BadBlocks { .. } => super::bioerr::NULLBLK_ERRNOS,
            Kind::ScsiAtomic { .. } => super::bioerr::SCSI_ERRNOS,
            Kind::Ublk { .. } => super::bioerr::UBLK_ERRNOS,
        }
    }

    /// Take the scsi_debug disk `dev` (checked by `scratch::disk_info` as `disk`) for faults on
    /// its REQ_ATOMIC commands: its debugfs `error` file must exist (debugfs mounted at
    /// /sys/kernel/debug). Our rule is removed and merging turned off.
    pub fn open_scsi_atomic(dev: &Path, disk: super::plan::Disk) -> Result<FaultDisk, String> {
        let name = dev
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let sys = PathBuf::from(format!("/sys/class/block/{name}"));
        let hctl = fs::canonicalize(sys.join("device"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .ok_or_else(|| format!("{}: no SCSI device in sysfs", dev.display()))?;
        let error = Path::new("/sys/kernel/debug/scsi_debug")
            .join(&hctl)
            .join("error");
        if !error.exists() {
            return Err(format!(
                "{}: no scsi_debug error file {} (mount -t debugfs none /sys/kernel/debug; scsi_debug 6.8+)",
                dev.display(),
                error.display()
            ));
        }
        let (limits, nm) = queue_setup(&sys, dev)?;
        let fd = FaultDisk {
            dev: dev.to_path_buf(),
            kind: Kind::ScsiAtomic { error },
            disk,
            limits,
            nomerges: Some(nm),
        };
        fd.reset()?;
        Ok(fd)
    }

    /// Fails by command, not by sector: the first REQ_ATOMIC command after arming (the opcode
    /// rule), or for a CoW bio the first WRITE(10) ([`first_write_only`]).
    pub fn atomic_only(&self) -> bool {
        matches!(self.kind, Kind::ScsiAtomic { .. })
    }

    /// The armed state: null_blk's bad ranges (first sector, sectors), or for scsi_debug our
    /// rule as (0, its count) while its count is not 0.
    pub fn bad(&self) -> Result<Vec<(u64, u64)>, String> {
        let p = match &self.kind {
            Kind::BadBlocks { cfg } => cfg.join("badblocks"),
            Kind::ScsiAtomic { error } => error.clone(),
            Kind::Ublk { arm } => arm.clone(),
        };
        let t = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(match self.kind {
            Kind::BadBlocks { .. } => parse_badblocks(&t),
            Kind::Ublk { .. } => super::ublk::parse_arm(&t)
                .into_iter()
                .map(|(s, _)| (s, 1))
                .collect(),
            Kind::ScsiAtomic { .. } => SCSI_RULE_OPCODES
                .iter()
                .filter_map(|&op| parse_scsi_rule(&t, op).filter(|&c| c != 0))
                .map(|c| (0, c.unsigned_abs()))
                .collect(),
        })
    }

    fn write_to(&self, line: &str) -> Result<(), String> {
        let p = match &self.kind {
            Kind::BadBlocks { cfg } => cfg.join("badblocks"),
            Kind::ScsiAtomic { error } => error.clone(),
            Kind::Ublk { arm } => {
                return super::ublk::write_whole(arm, line)
                    .map_err(|e| format!("{} <- {line:?}: {e}", arm.display()))
            }
        };
        fs::write(&p, line).map_err(|e| format!("{} <- {line:?}: {e}", p.display()))
    }

    /// Empty the armed state.
    fn reset(&self) -> Result<(), String> {
        match self.kind {
            Kind::Ublk { .. } => self.write_to(""),
            Kind::BadBlocks { .. } => {
                for (s, n) in self.bad()? {
                    self.write_to(&format!("-{s}-{}", s + n.max(1) - 1))?;
                }
                Ok(())
            }
            Kind::ScsiAtomic { ref error } => {
                let t =
                    fs::read_to_string(error).map_err(|e| format!("{}: {e}", error.display()))?;
                for op in SCSI_RULE_OPCODES {
                    if parse_scsi_rule(&t, op).is_some() {
                        self.write_to(&format!("- 2 {op:#x}"))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The scenario's targets armed on `path` (its file, or the scenario's partition of this
    /// device), after the set-up: wait for the set-up's writeback over each target, find its
    /// first sector, then mark it bad (null_blk) or add the WRITE ATOMIC rule (scsi_debug, one
    /// target; the WRITE(10) rule for a CoW bio, whose sector is [`COW_SECTOR`]). Returns the
    /// sectors (what the block trace must see fail).
    pub fn arm(&self, sc: &Scenario, targets: &[Target], path: &Path) -> Result<Vec<u64>, String> {
        let fs = sc.fs;
        if targets.iter().any(|t| t.cow) && !self.atomic_only() {
            return Err(format!(
                "{SKIP}a CoW bio on a device that fails bios by sector (its sector is allocated in the call)"
            ));
        }
        let f = fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let extents = if fs == FsKind::Bdev {
            Vec::new()
        } else {
            fiemap(f.as_raw_fd())?
        };
        // Where XFS placed an atomic write's blocks chose its path: the targets are the model's
        // with that placement ([`replan`]), so a CoW bio is armed by its command.
        let mut sectors = Vec::new();
        for t in targets {
            // SAFETY: sync_file_range on our fd; WAIT_BEFORE starts no writeback of its own.
            let r = unsafe {
                libc::sync_file_range(
                    f.as_raw_fd(),
                    (t.pos / PAGE_SIZE * PAGE_SIZE) as i64,
                    PAGE_SIZE as i64,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE,
                )
            };
            if r != 0 {
                return Err(format!(
                    "sync_file_range: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let s = if t.cow {
                COW_SECTOR
            } else if fs == FsKind::Bdev {
                (PART_START + t.pos) / SECTOR
            } else {
                sector_of(&extents, t.pos)?
            };
            sectors.push(s);
        }
        let errno = targets.first().map_or(EIO, |t| t.errno);
        match self.kind {
            Kind::BadBlocks { .. } if errno != EIO => {
                return Err(format!(
                    "{SKIP}bio_endio -{} on the null_blk device (its bad blocks give -EIO only)",
                    super::compare::errno_name(errno)
                ))
            }
            Kind::BadBlocks { .. } => {
                for &s in &sectors {
                    self.write_to(&format!("+{s}-{s}"))?;
                }
            }
            Kind::ScsiAtomic { .. } if !sectors.is_empty() => {
                let op = match targets.iter().all(|t| t.cow) {
                    true => WRITE_10,
                    false => super::bioerr::WRITE_ATOMIC_16,
                };
                let rule = super::bioerr::scsi_rule(op, errno).ok_or_else(|| {
                    format!(
                        "{SKIP}no SCSI sense gives -{}",
                        super::compare::errno_name(errno)
                    )
                })?;
                self.write_to(&rule)?
            }
            Kind::ScsiAtomic { .. } => {}
            Kind::Ublk { .. } => {
                let v: Vec<(u64, i64)> = sectors.iter().map(|&s| (s, errno)).collect();
                self.write_to(&super::ublk::format_arm(&v))?
            }
        }
        Ok(sectors)
    }

    /// After the call: the armed sectors that no request reached (the fault did not fire on the
    /// kernel), and the armed state emptied.
    pub fn disarm(&self, sectors: &[u64]) -> Result<Vec<u64>, String> {
        let left = self.bad()?;
        let missed = match self.kind {
            Kind::BadBlocks { .. } | Kind::Ublk { .. } => sectors
                .iter()
                .copied()
                .filter(|s| left.iter().any(|(a, n)| *a <= *s && *s < a + n))
                .collect(),
            Kind::ScsiAtomic { .. } if !left.is_empty() => sectors.to_vec(),
            Kind::ScsiAtomic { .. } => Vec::new(),
        };
        self.reset()?;
        Ok(missed)
    }
}

impl Drop for FaultDisk {
    fn drop(&mut self) {
        let _ = self.reset();
        if let Some((p, v)) = self.nomerges.take() {
            let _ = fs::write(p, v);
        }
    }
}

/// The count of our `ERR_FAIL_CMD` rule on `opcode` in scsi_debug's `error` file
/// (`sdebug_error_show`: a header, then "TYPE\tCOUNT\t0xOPCODE\t..." per rule), if it is there.
pub fn parse_scsi_rule(t: &str, opcode: u8) -> Option<i64> {
    let op = format!("{opcode:#x}");
    t.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 3 && w[0] == "2" && w[2] == op).then(|| w[1].parse().ok())?
    })
}

/// A trace instance of ours with `block:block_rq_complete` for failed requests only (filter
/// `error != 0`): after each call it tells which requests of the device failed, at which
/// sector, how long, with which errno, so every fault is checked to have failed exactly the
/// faulted bio (one request starting at its first sector, its length: not merged, not split).
pub struct BlockTrace {
    inst: PathBuf,
    /// MAJOR,MINOR of the fault device as the event prints it.
    dev: String,
}

/// One failed request: (sector, sectors, errno).
pub type Failed = (u64, u64, i64);

impl BlockTrace {
    /// Under the tracefs root `root` (the live tracer's), for the device `fd`.
    pub fn new(root: &Path, fd: &FaultDisk) -> Result<BlockTrace, String> {
        use std::os::unix::fs::MetadataExt;
        let md = fs::metadata(&fd.dev).map_err(|e| format!("{}: {e}", fd.dev.display()))?;
        let r = md.rdev();
        let inst = root.join("instances").join(format!(
            "{}{}-blk",
            super::scratch::PREFIX,
            std::process::id()
        ));
        let _ = fs::remove_dir(&inst);
        fs::create_dir(&inst).map_err(|e| format!("create {}: {e}", inst.display()))?;
        let t = BlockTrace {
            inst,
            dev: format!("{},{}", libc::major(r), libc::minor(r)),
        };
        let ev = t.inst.join("events/block/block_rq_complete");
        let w = |f: &str, v: &str| {
            fs::write(ev.join(f), v).map_err(|e| format!("{}/{f} <- {v}: {e}", ev.display()))
        };
        w("filter", "error != 0")?;
        w("enable", "1")?;
        Ok(t)
    }

    pub fn clear(&self) -> Result<(), String> {
        fs::write(self.inst.join("trace"), "").map_err(|e| format!("clear block trace: {e}"))
    }

    /// The failed requests of the fault device since [`BlockTrace::clear`].
    pub fn failed(&self) -> Result<Vec<Failed>, String> {
        let t = fs::read_to_string(self.inst.join("trace"))
            .map_err(|e| format!("read block trace: {e}"))?;
        Ok(super::tracefs::parse(&t)
            .iter()
            .filter(|e| e.name == "block_rq_complete")
            .filter_map(|e| parse_rq_complete(&e.args, &self.dev))
            .collect())
    }
}

impl Drop for BlockTrace {
    fn drop(&mut self) {
        let _ = fs::write(self.inst.join("events/block/block_rq_complete/enable"), "0");
        let _ = fs::remove_dir(&self.inst);
    }
}

/// block_rq_complete's text, "MAJ,MIN RWBS (CMD) SECTOR + NR ... [ERRNO]", on device `dev`.
pub fn parse_rq_complete(args: &str, dev: &str) -> Option<Failed> {
    let mut w = args.split_whitespace();
    if w.next()? != dev {
        return None;
    }
    let (pre, post) = args.split_once(" + ")?;
    let sector = pre.split_whitespace().last()?.parse().ok()?;
    let nr = post.split_whitespace().next()?.parse().ok()?;
    let err = args
        .rsplit_once('[')?
        .1
        .trim_end()
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some((sector, nr, err))
}

/// Did the kernel fail exactly the armed bios: one request per armed sector failing with the
/// target's errno, starting
/// there, as long as the model's bio, and no other failed request? None when exact, else what
/// differed.
/// A CoW target ([`COW_SECTOR`]) was armed by its command: its request is the one failed request
/// at no other armed sector (its sector was allocated in the call).
pub fn check_exact(armed: &[u64], targets: &[Target], failed: &[Failed]) -> Option<String> {
    let mut problems = Vec::new();
    let known = |f: &Failed| armed.contains(&f.0);
    let mut cow_hit = Vec::new();
    for (s, t) in armed.iter().zip(targets) {
        let cow = *s == COW_SECTOR;
        let hits: Vec<&Failed> = failed
            .iter()
            .filter(|f| if cow { !known(f) } else { f.0 == *s })
            .collect();
        let at = match cow {
            true => "a block the call allocated (CoW)".to_string(),
            false => format!("sector {s}"),
        };
        match hits.as_slice() {
            [f @ (_, nr, err)] if *nr * SECTOR == t.len && *err == -t.errno => cow_hit.push(**f),
            [] => problems.push(format!("no failed request at {at}")),
            h => problems.push(format!(
                "failed request(s) at {at}: {:?} (the model's bio: {} sectors)",
                h,
                t.len / SECTOR
            )),
        }
    }
    let other: Vec<&Failed> = failed
        .iter()
        .filter(|f| !known(f) && !cow_hit.contains(f))
        .collect();
    if !other.is_empty() {
        problems.push(format!("other failed requests {other:?}"));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Say in the outcome which sectors were armed and whether each fired on the kernel (a bad
/// sector that no request reached: the kernel did not submit the model's faulted bio there).
/// The model as live and the lab compare it: the plugged completion order (docs/lab.md
/// "Completion order"), which a call whose submitter does not sleep realises. Without a device
/// completion error both orders give the same execution.
pub const LIVE_OPTS: ModelOpts = ModelOpts {
    completion: BioCompletion::Plugged,
    placement: None,
    hibernate_resume: false,
    virt_boundary_mask: 0,
};

/// The completion order of this run's fault device when it is not [`LIVE_OPTS`]'s: the ublk
/// fault device completes requests in its server's thread, after the submission
/// (`BioCompletion::Deferred`). Set once, when `live` opens the device.
static DEVICE_ORDER: std::sync::OnceLock<BioCompletion> = std::sync::OnceLock::new();

/// The model options live and the lab compare with: [`LIVE_OPTS`], or the fault device's order,
/// and the current scenario's measured placement ([`super::placement`]).
pub fn live_opts() -> ModelOpts {
    ModelOpts {
        completion: DEVICE_ORDER.get().copied().unwrap_or(LIVE_OPTS.completion),
        placement: super::placement::current(),
        hibernate_resume: super::hibernate::enabled(),
        virt_boundary_mask: super::nvme_stable::virt_boundary_mask(),
    }
}

fn order_name(c: BioCompletion) -> &'static str {
    match c {
        BioCompletion::Immediate => "immediate",
        BioCompletion::Plugged => "plugged",
        BioCompletion::Deferred => "deferred",
    }
}

/// A device whose completions may come before or after the submitter records its own error
/// (the ublk server: usually after, the deferred order; when the wakeup preempts the submitter
/// at blk_finish_plug, before, the plugged order — seen once on 7.3.4 under load): both are real
/// worlds of that device, so a disagreement with the deferred model that the plugged model does
/// not have is the plugged world, said in the note. `outcome` compares one model execution with
/// the kernel's observation. Other devices have one real order: nothing changes.
pub fn other_real_order(
    oc: &mut super::compare::Outcome,
    s: &Scenario,
    v: &'static diofuzz::variant::Variant,
    outcome: impl Fn(&Execution) -> super::compare::Outcome,
) {
    use super::compare::Verdict;
    if live_opts().completion != BioCompletion::Deferred || oc.verdict != Verdict::Disagree {
        return;
    }
    let opts = ModelOpts {
        completion: BioCompletion::Plugged,
        ..live_opts()
    };
    let Ok(x) = std::panic::catch_unwind(|| diofuzz::model::run_opts(s, v, opts)) else {
        return;
    };
    let mut alt = outcome(&x);
    if alt.verdict == Verdict::Agree {
        if !alt.note.is_empty() {
            alt.note.push_str("; ");
        }
        alt.note.push_str("completion order: the kernel matched the plugged order (the device completed before __iomap_dio_rw recorded its own error), not the deferred one");
        *oc = alt;
    }
}

/// [`diofuzz::model::run`] with [`live_opts`].
pub fn model_run(s: &Scenario, v: &'static diofuzz::variant::Variant) -> Execution {
    diofuzz::model::run_opts(s, v, live_opts())
}

/// A faulted scenario whose verdict depends on the completion order: say which order the kernel
/// matched (`verdict` compares one model execution with the kernel's observation).
pub fn annotate_order(
    oc: &mut super::compare::Outcome,
    s: &Scenario,
    v: &'static diofuzz::variant::Variant,
    verdict: impl Fn(&Execution) -> super::compare::Verdict,
) {
    use super::compare::Verdict;
    // The immediate order with the same placement: only the order differs (without it an XFS
    // atomic write placed unaligned would differ by its path and be called an order here).
    let opts = ModelOpts {
        completion: BioCompletion::Immediate,
        ..live_opts()
    };
    let Ok(imm) = std::panic::catch_unwind(|| diofuzz::model::run_opts(s, v, opts)) else {
        return;
    };
    let imm = verdict(&imm);
    if imm == oc.verdict || !matches!(imm, Verdict::Agree | Verdict::Disagree) {
        return;
    }
    if !oc.note.is_empty() {
        oc.note.push_str("; ");
    }
    let ours = order_name(live_opts().completion);
    oc.note.push_str(&if imm == Verdict::Agree {
        format!("completion order: the kernel matched the immediate order, not the {ours} one")
    } else {
        format!("completion order: the kernel matched the {ours} order, not the immediate one")
    });
}

pub fn annotate(
    oc: &mut super::compare::Outcome,
    targets: &[Target],
    armed: &[u64],
    missed: Option<Result<Vec<u64>, String>>,
    inexact: Option<String>,
) {
    let mut parts = Vec::new();
    if !armed.is_empty() {
        let cow = armed.contains(&COW_SECTOR);
        let known: Vec<u64> = armed.iter().copied().filter(|&a| a != COW_SECTOR).collect();
        parts.push(format!(
            "fault: {} {}",
            match cow {
                true => "CoW bio (in blocks the call allocates: the scsi_debug rule on the first WRITE(10))".to_string(),
                false => format!("bad sector {known:?}"),
            },
            match &inexact {
                None => format!(
                    "(block trace: exactly the faulted bio failed, -{})",
                    super::compare::errno_name(targets.first().map_or(EIO, |t| t.errno))
                ),
                Some(p) => format!("(block trace: NOT EXACT: {p})"),
            }
        ));
    }
    match missed {
        Some(Ok(m)) if m.contains(&COW_SECTOR) => {
            parts.push("not reached on the kernel (no WRITE(10) command after arming)".into())
        }
        Some(Ok(m)) if !m.is_empty() => {
            parts.push(format!("not reached on the kernel (sectors {m:?})"))
        }
        Some(Err(e)) => parts.push(format!("fault device: {e}")),
        _ => {}
    }
    if parts.is_empty() {
        return;
    }
    if !oc.note.is_empty() {
        oc.note.push_str("; ");
    }
    oc.note.push_str(&parts.join(", "));
}

/// badblocks_show(): one "SECTOR LENGTH" line per range.
pub fn parse_badblocks(t: &str) -> Vec<(u64, u64)> {
    t.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use diofuzz::scenario::Fault;

    const LIM: Limits = Limits {
        max_bytes: 128 << 10,
        max_segments: 128,
    };

    /// A 4 KiB O_DIRECT overwrite of block 1 of a 16 KiB XFS file of written blocks.
    fn xfs_scenario() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.mount.xfs_reflink = true;
        s.world.blocks = diofuzz::generators::layout("WWWW").unwrap();
        s.request.pos = 4096;
        s.request.len = 4096;
        s.request.open.direct = true;
        s
    }

    /// Why `targets` refuses `s` (with the fault device's limits `LIM`, any bio).
    fn refusal(s: &Scenario) -> String {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let x = diofuzz::model::run(s, v);
        let p = plan_faulted(s, None).unwrap();
        targets(s, &p, &x, LIM, false).unwrap_err()
    }

    fn bdev_scenario() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.blkbits = 12;
        s.world.i_size = 32768;
        s.request.pos = 8192;
        s.request.len = 8192;
        s.request.open.direct = true;
        s
    }

    #[test]
    fn live_compares_against_the_plugged_order() {
        // Four blocks, each its own extent (four bios); the first bio fails.
        let mut s = xfs_scenario();
        s.world.blocks = diofuzz::generators::layout("W|W|W|W").unwrap();
        s.request.pos = 0;
        s.request.len = 16384;
        s.faults.push(Fault::default());
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let (imm, plug) = (diofuzz::model::run(&s, v), model_run(&s, v));
        assert_eq!((imm.ret, plug.ret), (-EIO, -EIO));
        assert_eq!((imm.bios.len(), plug.bios.len()), (1, 4));
        // Both orders fail the same (first) bio: the fault's target does not depend on the order.
        assert_eq!(faulted_bios(&imm), faulted_bios(&plug));
    }

    #[test]
    fn only_bio_errnos_of_the_devices_are_expressible() {
        let mut s = bdev_scenario();
        assert!(expressible(&s).is_ok());
        s.faults.push(Fault::default());
        assert!(expressible(&s).is_ok());
        assert!(plan_faulted(&s, None).is_ok());
        s.faults[0].errno = diofuzz::errno::ENOSPC;
        assert!(expressible(&s).is_ok());
        // The ublk fault device gives -ETIMEDOUT, -EINVAL and -ENOMEM (which device: at arming).
        for e in [
            diofuzz::errno::ETIMEDOUT,
            diofuzz::errno::EINVAL,
            diofuzz::errno::ENOMEM,
        ] {
            s.faults[0].errno = e;
            assert!(expressible(&s).is_ok());
        }
        // -EAGAIN: no device completes a bio that was not REQ_NOWAIT with it (validity F2).
        s.faults[0].errno = diofuzz::errno::EAGAIN;
        assert!(expressible(&s).unwrap_err().contains("EAGAIN"));
        s.faults[0] = Fault {
            site: Site::Ext4MapBlocksCreate,
            nth: 0,
            errno: EIO,
        };
        assert!(expressible(&s).unwrap_err().contains("ext4_map_blocks"));
        // Without a fault device live keeps refusing every fault.
        assert!(super::super::plan::plan_on(&s, None).is_err());
    }

    #[test]
    fn the_nth_bio_is_the_target() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = bdev_scenario();
        // A two-segment write whose bios are one per segment? Whatever the model submits: the
        // fault on bio n names bio n's position.
        s.faults.push(Fault::default());
        let x = diofuzz::model::run(&s, v);
        let p = plan_faulted(&s, None).unwrap();
        let t = targets(&s, &p, &x, LIM, false).unwrap();
        assert_eq!(
            t,
            vec![Target {
                pos: 8192,
                len: 8192,
                errno: EIO,
                cow: false,
            }]
        );
        assert_eq!(x.ret, -EIO);
        // Limits: a bio larger than a request is refused.
        let small = Limits {
            max_bytes: 4096,
            max_segments: 128,
        };
        assert!(targets(&s, &p, &x, small, false)
            .unwrap_err()
            .contains("split"));
        // A dirty page over the faulted bio is refused.
        s.world.pages = vec![
            diofuzz::scenario::PageState::None,
            diofuzz::scenario::PageState::None,
            diofuzz::scenario::PageState::Dirty,
        ];
        assert!(!faulted_bios(&diofuzz::model::run(&s, v)).is_empty());
        assert!(refusal(&s).contains("dirty page"));
    }

    #[test]
    fn scattered_bios_count_a_bvec_per_segment_page() {
        // 504 sector-sized iovecs, each in its own page (252 KiB): the model's bios hold 256
        // bvecs (IovIter::bvec_cap): 128 KiB, then 124 KiB; the fault on the second.
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = bdev_scenario();
        s.world.i_size = 1 << 20;
        s.request.pos = 0;
        s.request.len = 504 * 512;
        s.request.scatter = Some(diofuzz::scenario::Scatter {
            segs: 504,
            offset: 0,
        });
        s.faults.push(Fault {
            site: Site::BioEndIo,
            nth: 1,
            errno: EIO,
        });
        let x = model_run(&s, v);
        assert_eq!(faulted_bios(&x), vec![(131072, 126976)]);
        let p = plan_faulted(&s, None).unwrap();
        assert_eq!(bio_segments(&s, &p, 0, 131072), 256);
        assert_eq!(bio_segments(&s, &p, 131072, 126976), 248);
        // null_blk: max_segments is BLK_MAX_SEGMENTS (128; null_add_dev sets none and configfs
        // has no attribute), max_sectors_kb 127 (BLK_SAFE_MAX_SECTORS): bio_split_io_at would
        // split the bio after 128 bvecs, so only its first request would fail.
        let nullb = Limits {
            max_bytes: 127 << 10,
            max_segments: 128,
        };
        let e = targets(&s, &p, &x, nullb, false).unwrap_err();
        assert!(e.contains("248 bvecs"), "{e}");
        // The ublk fault device (max_segments USHRT_MAX, max_sectors 2056): one request.
        let ublk = Limits {
            max_bytes: 1028 << 10,
            max_segments: 65535,
        };
        assert_eq!(
            targets(&s, &p, &x, ublk, false).unwrap(),
            vec![Target {
                pos: 131072,
                len: 126976,
                errno: EIO,
                cow: false,
            }]
        );
        // A contiguous buffer: a bvec per page the bio's data touches.
        let c = bdev_scenario();
        let pc = plan_faulted(&c, None).unwrap();
        assert_eq!(bio_segments(&c, &pc, 8192, 8192), 2);
        // Outside the data (a zeroing bio): the zero page.
        assert_eq!(bio_segments(&c, &pc, 0, 4096), 1);
    }

    #[test]
    fn file_targets_need_allocated_blocks() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = xfs_scenario();
        s.faults.push(Fault::default());
        let x = diofuzz::model::run(&s, v);
        let p = plan_faulted(&s, None).unwrap();
        assert_eq!(
            targets(&s, &p, &x, LIM, false).unwrap(),
            vec![Target {
                pos: 4096,
                len: 4096,
                errno: EIO,
                cow: false,
            }]
        );
        s.world.blocks = diofuzz::generators::layout("WHWW").unwrap();
        assert!(refusal(&s).contains("allocated during the call"));
    }

    #[test]
    fn xfs_cow_writes_are_refused() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = xfs_scenario();
        // An atomic write without a hardware unit: XFS's software (CoW) atomic write.
        s.request.rwf.atomic = true;
        s.faults.push(Fault::default());
        assert!(!faulted_bios(&diofuzz::model::run(&s, v)).is_empty());
        assert!(refusal(&s).contains("CoW fork"));
    }

    /// An XFS file of 8 blocks, 6-7 unwritten, on the scsi_debug atomic disk; an 8 KiB
    /// RWF_ATOMIC write at block 6 whose first bio fails (the shape of the xfs-disk-fault
    /// scenarios session 9 skipped).
    pub(crate) fn xfs_atomic_disk() -> (Scenario, Plan) {
        let mut s = xfs_scenario();
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        s.world.device.dma_alignment = 3;
        s.world.lbs_bits = 9;
        s.world.i_size = 8 * 4096;
        s.world.blocks = diofuzz::generators::layout("WWWWWWUU").unwrap();
        s.request.rwf.atomic = true;
        s.request.pos = 6 * 4096;
        s.request.len = 8192;
        s.faults.push(Fault::default());
        let d = diofuzz::generators::random::Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        let p = plan_faulted(&s, Some(&d)).unwrap();
        (s, p)
    }

    /// The targets of `s` with `placement` measured (as `replan` computes them after FIEMAP).
    fn placed_targets(
        s: &Scenario,
        p: &Plan,
        placement: Option<diofuzz::model::Placement>,
    ) -> Result<Vec<Target>, Unsupported> {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        super::super::placement::set(placement);
        let x = model_run(s, v);
        let t = targets(s, p, &x, LIM, true);
        super::super::placement::clear();
        t
    }

    #[test]
    fn targets_follow_the_measured_placement() {
        use diofuzz::model::Placement;
        let (s, p) = xfs_atomic_disk();
        let hw = Target {
            pos: 6 * 4096,
            len: 8192,
            errno: EIO,
            cow: false,
        };
        // The model's assumption (disk block 6, aligned to 2 blocks): the REQ_ATOMIC bio.
        assert_eq!(placed_targets(&s, &p, None).unwrap(), vec![hw]);
        let mut aligned = Placement::unknown();
        aligned.place(6, 40, 2);
        assert_eq!(placed_targets(&s, &p, Some(aligned)).unwrap(), vec![hw]);
        // Placed at an odd disk block: xfs_bmap_hw_atomic_write_possible says no, the write
        // takes the CoW path and its first (plain) bio goes to blocks allocated in the call: the
        // same bio position, armed by its command (WRITE(10)), not by a sector.
        let mut odd = Placement::unknown();
        odd.place(6, 41, 2);
        assert_eq!(
            placed_targets(&s, &p, Some(odd)).unwrap(),
            vec![Target { cow: true, ..hw }]
        );
        // A device failing by sector cannot hit it.
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        super::super::placement::set(Some(odd));
        let x = model_run(&s, v);
        let e = targets(&s, &p, &x, LIM, false).unwrap_err();
        super::super::placement::clear();
        assert!(e.contains("CoW fork"), "{e}");
    }

    #[test]
    fn cow_targets_must_be_the_first_write() {
        use diofuzz::model::Placement;
        let (s, _) = xfs_atomic_disk();
        let mut odd = Placement::unknown();
        odd.place(6, 41, 2);
        // A dirty page in the write's range: the call's flush writes first.
        let mut d = s.clone();
        d.world.pages = vec![diofuzz::scenario::PageState::None; 8];
        d.world.pages[7] = diofuzz::scenario::PageState::Dirty;
        let pd = plan_faulted(
            &d,
            Some(&diofuzz::generators::random::Disk {
                awu_min: 4096,
                awu_max: 65536,
                lbs_bits: 9,
                dma_alignment: 3,
            }),
        )
        .unwrap();
        let e = placed_targets(&d, &pd, Some(odd)).unwrap_err();
        assert!(e.contains("dirty page"), "{e}");
        // first_write_only: a fault on a later bio is refused.
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut two = xfs_scenario();
        two.world.blocks = diofuzz::generators::layout("W|W|W|W").unwrap();
        two.request.pos = 0;
        two.request.len = 16384;
        two.faults.push(Fault {
            site: Site::BioEndIo,
            nth: 1,
            errno: EIO,
        });
        let x = model_run(&two, v);
        assert_eq!(diofuzz::generators::fault::completed_bios(&x).len(), 4);
        let pt = plan_faulted(&two, None).unwrap();
        assert!(first_write_only(&two, &pt, &x)
            .unwrap_err()
            .contains("not the first bio"));
        two.faults[0].nth = 0;
        let x = model_run(&two, v);
        assert!(first_write_only(&two, &pt, &x).is_ok());
    }

    fn outcome() -> super::super::compare::Outcome {
        let s = Scenario::default();
        let agree = super::super::compare::Verdict::Agree;
        super::super::compare::not_compared(String::new(), &s, String::new(), agree)
    }

    #[test]
    fn cow_targets_are_found_in_the_block_trace() {
        let t = [Target {
            pos: 24576,
            len: 8192,
            errno: EIO,
            cow: true,
        }];
        // One failed request of the bio's length, anywhere: exact.
        assert_eq!(check_exact(&[COW_SECTOR], &t, &[(90112, 16, -5)]), None);
        // None, two, or another length: not.
        assert!(check_exact(&[COW_SECTOR], &t, &[]).is_some());
        assert!(check_exact(&[COW_SECTOR], &t, &[(90112, 16, -5), (8, 8, -5)]).is_some());
        assert!(check_exact(&[COW_SECTOR], &t, &[(90112, 8, -5)]).is_some());
        assert!(check_exact(&[COW_SECTOR], &t, &[(90112, 16, -28)]).is_some());
        let mut oc = outcome();
        annotate(&mut oc, &t, &[COW_SECTOR], Some(Ok(vec![])), None);
        assert!(
            oc.note.contains("CoW bio") && oc.note.contains("exactly"),
            "{}",
            oc.note
        );
        assert!(!oc.note.contains(&COW_SECTOR.to_string()));
        let mut oc = outcome();
        annotate(
            &mut oc,
            &t,
            &[COW_SECTOR],
            Some(Ok(vec![COW_SECTOR])),
            Some("x".into()),
        );
        assert!(oc.note.contains("no WRITE(10)"), "{}", oc.note);
    }

    #[test]
    fn fiemap_sectors() {
        let ext = vec![(0, 1 << 20, 8192, 0), (8192, 4 << 20, 4096, 0x800 | 1)];
        assert_eq!(sector_of(&ext, 4096).unwrap(), ((1 << 20) + 4096) / 512);
        // Unwritten extents are allocated: fine.
        assert_eq!(sector_of(&ext, 8192).unwrap(), (4 << 20) / 512);
        assert!(sector_of(&ext, 12288).is_err());
        let del = vec![(0, 0, 4096, FIEMAP_EXTENT_DELALLOC)];
        assert!(sector_of(&del, 0).is_err());
        let shared = vec![(0, 1 << 20, 4096, FIEMAP_EXTENT_SHARED)];
        assert!(sector_of(&shared, 0).is_err());
    }

    #[test]
    fn block_trace_lines() {
        let a = "252,0 W () 2080 + 16 none,0,0 [-5]";
        assert_eq!(parse_rq_complete(a, "252,0"), Some((2080, 16, -5)));
        assert_eq!(parse_rq_complete(a, "8,0"), None);
        // 6.12's format has no ioprio.
        assert_eq!(
            parse_rq_complete("252,0 WS () 96 + 8 [-5]", "252,0"),
            Some((96, 8, -5))
        );
        let t = [Target {
            pos: 16384,
            len: 8192,
            errno: EIO,
            cow: false,
        }];
        assert_eq!(check_exact(&[2080], &t, &[(2080, 16, -5)]), None);
        // Split (a shorter request), merged (starting earlier), missed, or another failure.
        assert!(check_exact(&[2080], &t, &[(2080, 8, -5)]).is_some());
        assert!(check_exact(&[2080], &t, &[(2072, 24, -5)]).is_some());
        assert!(check_exact(&[2080], &t, &[]).is_some());
        assert!(check_exact(&[2080], &t, &[(2080, 16, -5), (9, 1, -5)]).is_some());
        // An -ENOSPC fault must fail with -28: -EIO there is not the injected error.
        let n = [Target {
            errno: diofuzz::errno::ENOSPC,
            ..t[0]
        }];
        assert_eq!(check_exact(&[2080], &n, &[(2080, 16, -28)]), None);
        assert!(check_exact(&[2080], &n, &[(2080, 16, -5)]).is_some());
    }

    #[test]
    fn faults_on_bios_the_block_layer_rejects_are_refused() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        // gen-1-bdev-4 of the lab: a 512-byte RWF_ATOMIC write on a disk whose atomic unit
        // minimum is 1024: blk_validate_atomic_write_op_size fails the bio (-EINVAL) before the
        // device, so no device error can happen to it.
        let mut s = bdev_scenario();
        s.world.device.awu_min = 1024;
        s.world.device.awu_max = 65536;
        s.world.device.dma_alignment = 3;
        s.world.lbs_bits = 9;
        s.request.rwf.atomic = true;
        s.request.pos = 4096;
        s.request.len = 512;
        s.faults.push(Fault::default());
        let x = diofuzz::model::run(&s, v);
        assert!(!faulted_bios(&x).is_empty());
        let d = diofuzz::generators::random::Disk {
            awu_min: 1024,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        let p = plan_faulted(&s, Some(&d)).unwrap();
        assert!(targets(&s, &p, &x, LIM, true)
            .unwrap_err()
            .contains("before the device"));
    }

    #[test]
    fn skips_are_skips() {
        assert_eq!(
            error_verdict(&format!("{SKIP}x")),
            super::super::compare::Verdict::Skipped
        );
        assert_eq!(error_verdict("EIO"), super::super::compare::Verdict::Error);
    }

    #[test]
    fn scsi_rule() {
        let t = "Type\tCount\tCommand\n2\t-1\t0x9c\t0x0 0x0 0x2 0x5 0x0 0x0\n";
        assert_eq!(parse_scsi_rule(t, 0x9c), Some(-1));
        assert_eq!(
            parse_scsi_rule(
                "Type\tCount\tCommand\n2\t0\t0x9c\t0x0 0x0 0x2 0x5 0x0 0x0\n",
                0x9c
            ),
            Some(0)
        );
        let w10 = "Type\tCount\tCommand\n2\t-1\t0x2a\t0x0\n";
        assert_eq!(parse_scsi_rule(w10, 0x9c), None);
        // The CoW bio's rule, on WRITE(10).
        assert_eq!(parse_scsi_rule(w10, WRITE_10), Some(-1));
        assert!(SCSI_RULE_OPCODES.contains(&WRITE_10));
        // What we write parses as that rule (type, count -1, the WRITE ATOMIC(16) opcode).
        let w: Vec<&str> = SCSI_ATOMIC_RULE.split(' ').collect();
        assert_eq!((w[0], w[1], w[2], w.len()), ("2", "-1", "0x9c", 9));
    }

    #[test]
    fn atomic_only_needs_the_first_atomic_bio() {
        let v = diofuzz::variant::by_name("v7.3").unwrap();
        let mut s = bdev_scenario();
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        s.world.lbs_bits = 9;
        s.request.rwf.atomic = true;
        s.faults.push(Fault::default());
        let x = diofuzz::model::run(&s, v);
        let d = diofuzz::generators::random::Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 511,
        };
        let p = plan_faulted(&s, Some(&d)).unwrap();
        assert_eq!(targets(&s, &p, &x, LIM, true).unwrap().len(), 1);
        // A non-atomic write's bio: the opcode rule cannot fail it.
        s.request.rwf.atomic = false;
        let x = diofuzz::model::run(&s, v);
        let p = plan_faulted(&s, Some(&d)).unwrap();
        assert!(targets(&s, &p, &x, LIM, true)
            .unwrap_err()
            .contains("REQ_ATOMIC"));
        assert!(targets(&s, &p, &x, LIM, false).is_ok());
    }

    #[test]
    fn badblocks_list() {
        assert_eq!(
            parse_badblocks("2056 1\n4096 8\n"),
            vec![(2056, 1), (4096, 8)]
        );
        assert!(parse_badblocks("").is_empty());
    }
}
