// SPDX-License-Identifier: GPL-2.0-only
//! RWF_NOWAIT on a stable-writes block device (docs/live.md "Block-device states"): an
//! nvme-tcp namespace connected with the data digest over a loopback nvmet target, made for
//! one `--fs bdev` scenario whose device has stable writes and whose call has RWF_NOWAIT.
//!
//! zram, the stable-writes device of the other block-device worlds (super::bdev_state), is
//! bio-based and declares no `BLK_FEAT_NOWAIT`, so `bdev_open` gives its file no `FMODE_NOWAIT`
//! and RWF_NOWAIT is -EOPNOTSUPP there. An nvme namespace is a blk-mq disk:
//! `blk_mq_alloc_disk` -> `blk_mq_init_queue`'s limits get `BLK_FEAT_NOWAIT` (block/blk-mq.c,
//! 6.12 and 7.3.4), and `nvme_alloc_ns` (drivers/nvme/host/core.c, 6.12 and 7.3.4) adds
//! `BLK_FEAT_STABLE_WRITES` when the fabrics controller was connected with `data_digest`
//! (the digest is computed over the pages while they are in flight). `bdev_add` (block/bdev.c)
//! then sets `AS_STABLE_WRITES` on the namespace's page cache and `bdev_open` sets
//! `FMODE_NOWAIT` (`bdev_nowait`). Only nvme-tcp accepts the option (`nvme_tcp_transport`'s
//! allowed_opts; nvme-loop's are `NVMF_OPT_TRADDR` only), hence a TCP target on 127.0.0.1.
//!
//! The target (nvmet, configfs): a subsystem of its own with one namespace over a file of the
//! scenario's size in the private folder (`buffered_io`; a file namespace's logical block is
//! `min(i_blkbits, 12)`, io-cmd-file.c: 4 KiB on tmpfs), a TCP port on 127.0.0.1. The host:
//! `nvme_core` loaded with `multipath=N`, so the namespace is the blk-mq disk itself
//! (`nvme%dn%d` of the controller instance), not a bio-based multipath head in front of it.
//! The connect string goes to /dev/nvme-fabrics as `nvme connect --data-digest` would write
//! it. Its queue is checked: stable_writes 1, logical block 4096, dma_alignment 3
//! (`nvme_set_ctrl_limits`); sysfs shows no NOWAIT feature (blk-sysfs.c 7.3.4 has no such
//! attribute), blk-mq gives it to every queue. Removed with `delete_controller` and the configfs entries undone
//! (also by the clean-up). The lab's Debian kernels have the modules (`CONFIG_NVME_TCP=m`,
//! `CONFIG_NVME_TARGET_TCP=m`, 6.12.117 - 7.3.4); the host's 6.18.44 has none, so there the
//! world is "not possible here".
//!
//! What the model predicts (docs/live.md): the same as without stable writes. A NOWAIT write
//! to a block device is direct only (`blkdev_write_iter`: -EOPNOTSUPP for NOWAIT without
//! IOCB_DIRECT); the direct path (`kiocb_invalidate_pages`: -EAGAIN on a cached page,
//! `__blkdev_direct_IO`: -EAGAIN for a second bio) never waits for a stable page; the buffered
//! fallback's `__filemap_get_folio` (FGP_WRITEBEGIN has FGP_STABLE: `folio_wait_stable`, which
//! ignores FGP_NOWAIT) waits only for a folio under writeback, and a NOWAIT direct write to a
//! block device leaves no remainder for that fallback (and its range had no page).
//!
//! Session 10: held pages (the target then exports a loop device on a lower filesystem that
//! super::pages freezes: [`NvmeTcp::add`]'s `backing`, [`exported_by`]), more than one iovec
//! (the model reads the namespace's `queue/virt_boundary_mask`: [`virt_boundary_mask`],
//! `ModelOpts::virt_boundary_mask`), and nvme_core's multipath head ([`use_multipath`]).

use super::plan::{Plan, Unsupported};
use diofuzz::scenario::{FsKind, Scenario};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The modules, host and target side (packed into the lab's guests).
pub const MODULES: [&str; 5] = [
    "nvme_core",
    "nvme_fabrics",
    "nvme_tcp",
    "nvmet",
    "nvmet_tcp",
];
/// `nvme_set_ctrl_limits` (drivers/nvme/host/core.c, 6.12 and 7.3.4): an I/O queue's
/// dma_alignment is 3.
pub const DMA_ALIGNMENT: u32 = diofuzz::generators::stable_nowait::NVME_DMA_ALIGNMENT;
/// The namespace's atomic write unit, min and max: `nvme_configure_atomic_write`
/// (drivers/nvme/host/core.c, 6.12 and 7.3.4) gives unit_min the logical block and unit_max
/// `(1 + awupf) * bs` rounded down to a power of two; nvmet reports AWUPF 0 and no per-namespace
/// NAWUPF, so both are 4096 (measured on 7.3.4: statx 4096/4096).
pub const ATOMIC_UNIT: u32 = diofuzz::generators::stable_nowait::NVME_ATOMIC_UNIT;
const CFG: &str = "/sys/kernel/config/nvmet";
const FABRICS: &str = "/dev/nvme-fabrics";

/// Is `s` this world: a block device with stable writes, called with RWF_NOWAIT?
pub fn wanted(s: &Scenario) -> bool {
    s.fs == FsKind::Bdev && s.world.device.stable_writes && s.request.rwf.nowait
}

/// What the nvme-tcp namespace cannot give a scenario of this world (checked by
/// super::bdev_state::check_stable after its zram conditions: 4 KiB logical blocks, not on
/// the disk, nothing held).
pub fn check(s: &Scenario) -> Result<(), Unsupported> {
    if s.world.device.dma_alignment != DMA_ALIGNMENT {
        return Err(format!(
            "RWF_NOWAIT on a stable-writes block device with a DMA alignment other than the nvme-tcp namespace's ({DMA_ALIGNMENT})"
        ));
    }
    if (s.world.device.awu_min, s.world.device.awu_max) != (ATOMIC_UNIT, ATOMIC_UNIT) {
        return Err(format!(
            "RWF_NOWAIT on a stable-writes block device with atomic write units other than the nvme-tcp namespace's ({ATOMIC_UNIT}/{ATOMIC_UNIT})"
        ));
    }
    if s.world.i_size == 0 || s.world.i_size % 4096 != 0 {
        // An nvmet file namespace has whole 4 KiB blocks (ns->size >> blksize_shift), and an
        // empty one is no namespace.
        return Err("RWF_NOWAIT on a stable-writes block device of a size not whole 4 KiB blocks (the nvme-tcp namespace's)".into());
    }
    // Scattered segments starting inside a page gap at the virt boundary of 6.12 - 6.18
    // (nvme_set_ctrl_limits: NVME_CTRL_PAGE_SIZE - 1; 7.3.4's fabrics ops: 0) and a REQ_NOWAIT
    // bio that must be split gets -EAGAIN: the model reads the namespace's
    // queue/virt_boundary_mask (ModelOpts::virt_boundary_mask, set by NvmeTcp::add).
    Ok(())
}

/// Why the plan cannot run here (no nvme-tcp or nvmet-tcp: the host's 6.18.44).
pub fn refuse_here(p: &Plan) -> Result<(), Unsupported> {
    match p.key.nvme {
        true => unavailable().map_or(Ok(()), Err),
        false => Ok(()),
    }
}

fn modprobe(args: &[&str]) {
    let _ = std::process::Command::new("modprobe")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// The queue `virt_boundary_mask` of the namespace live made for the current scenario (0 when
/// there is none): what the model reads as `ModelOpts::virt_boundary_mask`.
static VIRT_BOUNDARY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`VIRT_BOUNDARY`] (super::fault::live_opts). Kept after the namespace's removal until
/// the next scenario's [`clear_virt_boundary`]: live compares after the device is gone.
pub fn virt_boundary_mask() -> u64 {
    VIRT_BOUNDARY.load(std::sync::atomic::Ordering::Relaxed)
}

/// No namespace yet (before each scenario's set-up).
pub fn clear_virt_boundary() {
    VIRT_BOUNDARY.store(0, std::sync::atomic::Ordering::Relaxed);
}

static MULTIPATH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `live --nvme-multipath`: the namespace's node is nvme_core's multipath head (session 10).
/// nvmet reports a multi-controller subsystem (`NVME_CTRL_CMIC_MULTI_CTRL`,
/// drivers/nvme/target/admin-cmd.c), so with `multipath=Y` `nvme_mpath_alloc_disk`
/// (drivers/nvme/host/multipath.c, 6.12 and 7.3.4) gives it a bio-based head disk in front of
/// the controller's (hidden) namespace: `BLK_FEAT_NOWAIT` declared there, dma_alignment 3,
/// `BLK_FEAT_STABLE_WRITES` stacked from the path (`queue_limits_stack_bdev` in
/// `nvme_update_ns_info`; `BLK_FEAT_INHERIT_MASK`) before `nvme_mpath_set_live` adds the disk;
/// `nvme_ns_head_submit_bio` splits a bio to the head's limits (`bio_split_to_limits`) and
/// resubmits it to the path.
pub fn use_multipath() {
    MULTIPATH.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn multipath() -> bool {
    MULTIPATH.load(std::sync::atomic::Ordering::Relaxed)
}

/// Why the nvme-tcp namespace cannot be made here, if it cannot (loads the modules first:
/// nvme_core with multipath=N, or Y with [`use_multipath`], before anything else loads it; a
/// nvme_core loaded the other way without a controller is unloaded first).
pub fn unavailable() -> Option<String> {
    let not = |why: String| {
        Some(format!(
            "{}: {why}: RWF_NOWAIT on a stable-writes block device needs an nvme-tcp namespace with the data digest (the lab's bdev-nvme-stable group)",
            super::exec::UNAVAILABLE
        ))
    };
    const MP: &str = "/sys/module/nvme_core/parameters/multipath";
    let want = if multipath() { "Y" } else { "N" };
    let no_ctrl = fs::read_dir("/sys/class/nvme").map_or(true, |mut d| d.next().is_none());
    let mut unloaded = Vec::new();
    if fs::read_to_string(MP).is_ok_and(|v| v.trim() != want) && no_ctrl {
        // (The parameter is read-only once loaded.) delete_module(2) itself: the guests'
        // busybox modprobe removes nothing.
        // nvmet uses nvme_core too: the target's modules go first (nothing of ours is left on
        // them between scenarios).
        for m in [
            "nvmet_tcp",
            "nvmet",
            "nvme_tcp",
            "nvme_fabrics",
            "nvme_core",
        ] {
            let name = std::ffi::CString::new(m).unwrap_or_default();
            // SAFETY: delete_module with a NUL-terminated module name.
            let r =
                unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
            if r != 0 {
                unloaded.push(format!("{m}: {}", std::io::Error::last_os_error()));
            }
        }
    }
    if !Path::new(MP).exists() {
        modprobe(&["nvme_core", &format!("multipath={want}")]);
    }
    for m in ["nvme_tcp", "nvmet", "nvmet_tcp"] {
        modprobe(&[m]);
    }
    if !Path::new("/sys/module/nvme_tcp").exists() || !Path::new("/sys/module/nvmet_tcp").exists() {
        return not("no nvme_tcp or nvmet_tcp module".into());
    }
    if !Path::new(FABRICS).exists() {
        return not(format!("no nvme-fabrics ({FABRICS} missing)"));
    }
    if !Path::new(CFG).is_dir() {
        // (The lab's init mounts it; nvmet's directory appears with the module.)
        let _ = std::process::Command::new("mount")
            .args(["-t", "configfs", "none", "/sys/kernel/config"])
            .stderr(std::process::Stdio::null())
            .status();
    }
    if !Path::new(CFG).is_dir() {
        return not(format!("no nvmet configfs ({CFG} missing)"));
    }
    match fs::read_to_string(MP) {
        Ok(v) if v.trim() == want => None,
        Ok(v) => {
            let holders: Vec<String> = fs::read_dir("/sys/module/nvme_core/holders")
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let why = format!(
                "nvme_core was loaded with multipath={}, this run wants {want} (the namespace would {} a bio-based multipath head; not unloaded: controllers {}, holders {holders:?}, {unloaded:?})",
                v.trim(),
                if want == "N" { "be" } else { "not be" },
                if no_ctrl { "none" } else { "present" },
            );
            // (Skips are not streamed: the lab's console.log says why, once.)
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("live: {why}"));
            not(why)
        }
        Err(e) => not(format!("{MP}: {e}")),
    }
}

/// The loopback interface up (SIOCSIFFLAGS IFF_UP): the lab's guests do not configure it.
fn loopback_up() -> Result<(), String> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        pad: [u8; 22],
    }
    let mut r = IfReq {
        name: [0; 16],
        flags: 0,
        pad: [0; 22],
    };
    r.name[..2].copy_from_slice(b"lo");
    // SAFETY: plain socket and interface-flag ioctls on a struct ifreq-sized buffer we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut r) == 0;
        if ok && r.flags & libc::IFF_UP as libc::c_short == 0 {
            r.flags |= libc::IFF_UP as libc::c_short;
            ok = libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut r) == 0;
        }
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if !ok {
            return Err(format!("lo up: {e}"));
        }
    }
    Ok(())
}

fn write(p: &Path, v: &str) -> Result<(), String> {
    fs::write(p, v).map_err(|e| format!("write {v:?} to {}: {e}", p.display()))
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Result<(), String> {
    let t0 = Instant::now();
    while !f() {
        if t0.elapsed() > Duration::from_secs(secs) {
            return Err(format!("{what}: not after {secs} s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// An nvme-tcp namespace with the data digest, over a loopback nvmet target of its own, made
/// for one scenario.
#[derive(Debug)]
pub struct NvmeTcp {
    nqn: String,
    port: PathBuf,
    subsys: PathBuf,
    /// The namespace's file (None: it exports a block device, [`NvmeTcp::add`]'s `backing`).
    file: Option<PathBuf>,
    ctrl: Option<u32>,
    pub node: PathBuf,
    /// The namespace held open from its creation to its removal: the last close of a block
    /// device drops its page cache (`blkdev_put_whole` -> `blkdev_flush_mapping` -> `kill_bdev`,
    /// block/bdev.c 7.3.4), which would undo the set-up's cached pages before the call
    /// (measured: the first lab runs wrote where the model said -EAGAIN for a cached page).
    hold: Option<fs::File>,
}

impl NvmeTcp {
    /// A namespace of `size` bytes with its node `dir/nvme`: over a file of its own, or over the
    /// block device `backing` (a loop device of `size` bytes with 4 KiB logical blocks whose
    /// image lies on a lower filesystem: a held page's writeback, [`super::pages`], waits for
    /// nvmet's bio to that loop device while the lower filesystem is frozen).
    pub fn add(size: u64, dir: &Path, backing: Option<&Path>) -> Result<NvmeTcp, String> {
        if let Some(why) = unavailable() {
            return Err(why);
        }
        loopback_up()?;
        let pid = std::process::id();
        let nqn = format!("nqn.2026-11.org.diofuzz:stable-{pid}");
        let mut n = NvmeTcp {
            port: Path::new(CFG)
                .join("ports")
                .join(format!("{}", 1000 + pid % 60000)),
            subsys: Path::new(CFG).join("subsystems").join(&nqn),
            file: backing.is_none().then(|| dir.join("nvme.img")),
            nqn,
            ctrl: None,
            node: dir.join("nvme"),
            hold: None,
        };
        let device = backing.map_or_else(|| dir.join("nvme.img"), Path::to_path_buf);
        match n.setup(size, pid, &device) {
            Ok(()) => Ok(n),
            Err(e) => {
                let _ = n.remove();
                Err(e)
            }
        }
    }

    fn setup(&mut self, size: u64, pid: u32, device: &Path) -> Result<(), String> {
        if let Some(file) = &self.file {
            let f =
                fs::File::create(file).map_err(|e| format!("create {}: {e}", file.display()))?;
            f.set_len(size)
                .map_err(|e| format!("size {}: {e}", file.display()))?;
        }
        let mk = |p: &Path| fs::create_dir(p).map_err(|e| format!("mkdir {}: {e}", p.display()));
        mk(&self.subsys)?;
        write(&self.subsys.join("attr_allow_any_host"), "1")?;
        let ns = self.subsys.join("namespaces/1");
        mk(&ns)?;
        write(&ns.join("device_path"), &device.to_string_lossy())?;
        if self.file.is_some() {
            // (nvmet_bdev_ns_enable takes a block device first; buffered_io is the file's.)
            write(&ns.join("buffered_io"), "1")?;
        }
        write(&ns.join("enable"), "1")?;
        mk(&self.port)?;
        let svc = (20000 + pid % 20000).to_string();
        for (a, v) in [
            ("addr_trtype", "tcp"),
            ("addr_adrfam", "ipv4"),
            ("addr_traddr", "127.0.0.1"),
            ("addr_trsvcid", svc.as_str()),
        ] {
            write(&self.port.join(a), v)?;
        }
        let link = self.port.join("subsystems").join(&self.nqn);
        std::os::unix::fs::symlink(&self.subsys, &link)
            .map_err(|e| format!("link {}: {e}", link.display()))?;
        // `nvme connect -t tcp -a 127.0.0.1 -s SVC -n NQN --data-digest` (nvmf_dev_write; the
        // reply is "instance=N,cntlid=M").
        let mut fab = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(FABRICS)
            .map_err(|e| format!("open {FABRICS}: {e}"))?;
        let opts = format!(
            "transport=tcp,traddr=127.0.0.1,trsvcid={svc},nqn={},data_digest,nr_io_queues=1",
            self.nqn
        );
        fab.write_all(opts.as_bytes())
            .map_err(|e| format!("nvme connect ({opts}): {e}"))?;
        let mut reply = String::new();
        fab.read_to_string(&mut reply)
            .map_err(|e| format!("read {FABRICS}: {e}"))?;
        let inst: u32 = reply
            .trim()
            .strip_prefix("instance=")
            .and_then(|r| r.split(',').next())
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| format!("{FABRICS} replied {reply:?}"))?;
        self.ctrl = Some(inst);
        // The namespace is scanned asynchronously (nvme_scan_work). Its disk's sysfs entry
        // appears in device_add_disk before add_disk_final's partition scan, which invalidates
        // the device's page cache (measured: the first lab run's set-up pages were gone at the
        // call); nvme_alloc_ns adds the generic char device ng%dn%d after device_add_disk
        // returns (drivers/nvme/host/core.c, 6.12 and 7.3.4), so its entry means the scan is over.
        let (disk, sys) = match multipath() {
            false => {
                let disk = format!("nvme{inst}n1");
                let sys = PathBuf::from(format!("/sys/block/{disk}"));
                let ng = PathBuf::from(format!("/sys/class/nvme-generic/ng{inst}n1"));
                wait_for(
                    &format!("/sys/block/{disk} and {}", ng.display()),
                    60,
                    || sys.join("dev").exists() && ng.exists(),
                )?;
                (disk, sys)
            }
            true => self.head()?,
        };
        let q = |a: &str| {
            fs::read_to_string(sys.join("queue").join(a))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        for (a, want) in [
            ("stable_writes", "1".to_string()),
            ("logical_block_size", "4096".to_string()),
            ("dma_alignment", DMA_ALIGNMENT.to_string()),
            ("atomic_write_unit_min_bytes", ATOMIC_UNIT.to_string()),
            ("atomic_write_unit_max_bytes", ATOMIC_UNIT.to_string()),
        ] {
            if q(a) != want {
                // 6.12's blk_stack_limits stacks no atomic write limits (7.3.4's head declares
                // BLK_FEAT_ATOMIC_WRITES and blk_stack_atomic_writes_limits does): a head without
                // the namespace's units is another world, not an error of the run.
                let here = match multipath() && a.starts_with("atomic") {
                    true => format!("{}: the multipath head ", super::exec::UNAVAILABLE),
                    false => String::new(),
                };
                return Err(format!("{here}{disk}: queue/{a} is {:?}, not {want}", q(a)));
            }
        }
        // The virt boundary (6.12's nvme_set_ctrl_limits: NVME_CTRL_PAGE_SIZE - 1; 7.3.4
        // nvmf_get_virt_boundary: 0) for the model (ModelOpts::virt_boundary_mask), and said once
        // per run (the lab's console.log).
        let vb = q("virt_boundary_mask");
        VIRT_BOUNDARY.store(
            vb.parse()
                .map_err(|e| format!("{disk}: queue/virt_boundary_mask {vb:?}: {e}"))?,
            std::sync::atomic::Ordering::Relaxed,
        );
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            eprintln!(
                "live: nvme-tcp namespace {disk}: virt_boundary_mask {} max_segments {} max_hw_sectors_kb {}",
                q("virt_boundary_mask"),
                q("max_segments"),
                q("max_hw_sectors_kb")
            )
        });
        let bytes: u64 = fs::read_to_string(sys.join("size"))
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|sectors| sectors * 512)
            .unwrap_or(0);
        if bytes != size {
            return Err(format!("{disk}: {bytes} bytes, not {size}"));
        }
        super::bdev_state::mknod_block(&sys.join("dev"), &self.node)?;
        self.hold = Some(
            fs::File::open(&self.node).map_err(|e| format!("open {}: {e}", self.node.display()))?,
        );
        Ok(())
    }

    /// The multipath head's disk and sysfs folder, once its partition scan has begun.
    /// `nvme_mpath_set_live` adds the disk and queues `nvme_partition_scan_work`, whose
    /// `bdev_disk_changed` invalidates the head's page cache (block/partitions/core.c) under the
    /// disk's open_mutex: once the head has read (the scan's reads; nothing else reads it), the
    /// set-up's open of the node waits for the scan to end.
    fn head(&self) -> Result<(String, PathBuf), String> {
        let find = || -> Option<String> {
            fs::read_dir("/sys/class/nvme-subsystem")
                .ok()?
                .flatten()
                .find(|e| {
                    fs::read_to_string(e.path().join("subsysnqn"))
                        .is_ok_and(|v| v.trim() == self.nqn)
                })
                .and_then(|e| {
                    fs::read_dir(e.path()).ok()?.flatten().find_map(|f| {
                        let n = f.file_name().to_string_lossy().to_string();
                        let rest = n.strip_prefix("nvme")?;
                        let (a, b) = rest.split_once('n')?;
                        let digits =
                            |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
                        (digits(a) && digits(b)).then_some(n)
                    })
                })
        };
        let reads = |d: &str| -> u64 {
            fs::read_to_string(format!("/sys/block/{d}/stat"))
                .ok()
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let mut disk = String::new();
        wait_for(
            &format!("the multipath head of {} and its partition scan", self.nqn),
            60,
            || match find() {
                Some(d) => {
                    let ok = reads(&d) > 0;
                    disk = d;
                    ok
                }
                None => false,
            },
        )?;
        let sys = PathBuf::from(format!("/sys/block/{disk}"));
        Ok((disk, sys))
    }

    /// Disconnect (delete_controller) and undo the target; what failed, joined.
    pub fn remove(mut self) -> Result<(), String> {
        let mut errs = Vec::new();
        drop(self.hold.take());
        let _ = fs::remove_file(&self.node);
        if let Some(i) = self.ctrl.take() {
            let c = PathBuf::from(format!("/sys/class/nvme/nvme{i}"));
            if let Err(e) = write(&c.join("delete_controller"), "1") {
                errs.push(e);
            }
            if let Err(e) = wait_for(&format!("{} gone", c.display()), 30, || !c.exists()) {
                errs.push(e);
            }
        }
        let link = self.port.join("subsystems").join(&self.nqn);
        if fs::symlink_metadata(&link).is_ok() {
            if let Err(e) = fs::remove_file(&link) {
                errs.push(format!("unlink {}: {e}", link.display()));
            }
        }
        let ns = self.subsys.join("namespaces/1");
        if ns.exists() {
            let _ = write(&ns.join("enable"), "0");
        }
        for d in [&self.port, &ns, &self.subsys] {
            if d.exists() {
                if let Err(e) = fs::remove_dir(d) {
                    errs.push(format!("rmdir {}: {e}", d.display()));
                }
            }
        }
        if let Some(file) = self.file.take().filter(|f| f.exists()) {
            if let Err(e) = fs::remove_file(&file) {
                errs.push(format!("remove {}: {e}", file.display()));
            }
        }
        match errs.is_empty() {
            true => Ok(()),
            false => Err(errs.join("; ")),
        }
    }
}

/// The block device an nvme namespace's target exports, if it is a namespace of live's nvmet
/// target over one (held pages: a loop device on a lower filesystem, [`NvmeTcp::add`]): `dev`'s
/// controller (its sysfs `device`, with `nvme_core` loaded multipath=N) names the subsystem
/// (`subsysnqn`), whose configfs namespace `nsid` has the `device_path`.
pub fn exported_by(dev: u64) -> Option<u64> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let sys = format!("/sys/dev/block/{}:{}", libc::major(dev), libc::minor(dev));
    let read = |p: String| fs::read_to_string(p).ok().map(|v| v.trim().to_string());
    let nqn = read(format!("{sys}/device/subsysnqn"))?;
    let nsid = read(format!("{sys}/nsid"))?;
    let path = read(format!(
        "{CFG}/subsystems/{nqn}/namespaces/{nsid}/device_path"
    ))?;
    let md = fs::metadata(path).ok()?;
    md.file_type().is_block_device().then(|| md.rdev())
}

/// The device the C reproducer asks for (its header comment).
pub const C_DEVICE: &str = "an nvme-tcp namespace connected with the data digest (BLK_FEAT_STABLE_WRITES from nvme_alloc_ns, BLK_FEAT_NOWAIT from blk-mq): an nvmet file namespace of the scenario's size (4 KiB blocks) on a TCP port of 127.0.0.1, nvme_core loaded with multipath=N, `nvme connect -t tcp -a 127.0.0.1 -s PORT -n NQN --data-digest`";

/// The lab's `repro --run --kernel` init script for this world: the guest's loop device of
/// `repro_bdev_script` replaced by the nvme-tcp namespace, made by the shell as
/// [`NvmeTcp::add`] makes it (the guest is thrown away afterwards). The script's first nvme
/// controller is instance 0: the device is /dev/nvme0n1.
///
/// With `held` (a page under writeback or mmapped dirty at the call, session 11) the target
/// exports, as live's does, a loop device of 4 KiB logical blocks (`/bin/loopbs`, [`C_LOOP_BS`]:
/// busybox's losetup sets no block size) over an image on a lower ext4 that the program's hold
/// freezes (super::pages::C_PRELUDE's `hold_lower_fd` follows the namespace to it through the
/// target's configfs `device_path`).
pub fn in_guest(script: String, size: u64, held: bool) -> String {
    let bind = format!(
        "dd if=/dev/zero of=/tmp/img bs={size} count=0 seek=1 2>/dev/null\nT=$(losetup -f)\nlosetup $T /tmp/img\nA=$T\n"
    );
    if !script.contains(&bind) {
        return script;
    }
    let backing = match held {
        false => format!(
            r#"dd if=/dev/zero of=/tmp/img bs={size} count=0 seek=1 2>/dev/null
DP=/tmp/img
"#
        ),
        true => format!(
            r#"dd if=/dev/zero of=/tmp/lower.img bs=1048576 count=64 2>/dev/null
L=$(losetup -f)
losetup $L /tmp/lower.img
mkdir -p /mnt/lower
mkfs.ext4 -q -F $L >/dev/null 2>&1 && mount -t ext4 $L /mnt/lower
dd if=/dev/zero of=/mnt/lower/bdev.img bs={size} count=0 seek=1 2>/dev/null
DP=$(/bin/loopbs /mnt/lower/bdev.img 4096)
echo "@@@REPRO-SETUP lower ext4 on $L at /mnt/lower, the namespace's backing $DP (logical block $(cat /sys/block/${{DP#/dev/}}/queue/logical_block_size 2>/dev/null))"
"#
        ),
    };
    let buffered = match held {
        false => "echo 1 > $C/subsystems/$Q/namespaces/1/buffered_io\n",
        true => "",
    };
    let nvme = format!(
        r#"{backing}modprobe nvme_core multipath=N 2>/dev/null
for m in nvme_tcp nvmet nvmet_tcp; do modprobe $m 2>/dev/null; done
mount -t configfs none /sys/kernel/config 2>/dev/null
ifconfig lo 127.0.0.1 up
C=/sys/kernel/config/nvmet; Q=nqn.2026-11.org.diofuzz:repro
mkdir $C/subsystems/$Q $C/subsystems/$Q/namespaces/1 $C/ports/1
echo 1 > $C/subsystems/$Q/attr_allow_any_host
echo $DP > $C/subsystems/$Q/namespaces/1/device_path
{buffered}echo 1 > $C/subsystems/$Q/namespaces/1/enable
echo tcp > $C/ports/1/addr_trtype; echo ipv4 > $C/ports/1/addr_adrfam
echo 127.0.0.1 > $C/ports/1/addr_traddr; echo 4420 > $C/ports/1/addr_trsvcid
ln -s $C/subsystems/$Q $C/ports/1/subsystems/$Q
echo "transport=tcp,traddr=127.0.0.1,trsvcid=4420,nqn=$Q,data_digest,nr_io_queues=1" > /dev/nvme-fabrics
i=0
while [ ! -e /sys/class/nvme-generic/ng0n1 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
T=
[ -b /dev/nvme0n1 ] && T=/dev/nvme0n1
echo "@@@REPRO-SETUP nvme-tcp data_digest stable_writes=$(cat /sys/block/nvme0n1/queue/stable_writes 2>/dev/null) dma_alignment=$(cat /sys/block/nvme0n1/queue/dma_alignment 2>/dev/null) atomic=$(cat /sys/block/nvme0n1/queue/atomic_write_unit_max_bytes 2>/dev/null) logical_block=$(cat /sys/block/nvme0n1/queue/logical_block_size 2>/dev/null) virt_boundary_mask=$(cat /sys/block/nvme0n1/queue/virt_boundary_mask 2>/dev/null)"
A=$T
"#
    );
    script.replacen(&bind, &nvme, 1)
}

/// `/bin/loopbs FILE BYTES` of the lab's held-page nvme repro guest ([`in_guest`]): attaches
/// FILE to a free loop device with that logical block size (LOOP_CONFIGURE, as live's
/// `loop_attach`) and prints the device's path. Built statically on the host with the
/// reproducer.
pub const C_LOOP_BS: &str = r#"// SPDX-License-Identifier: GPL-2.0-only
/* diofuzz lab: attach FILE to a free loop device of BYTES logical blocks; print its path. */
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct loop_config c;
	char dev[64];
	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE BYTES\n", argv[0]);
		return 2;
	}
	int ctl = open("/dev/loop-control", O_RDWR);
	int n = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0) {
		perror("loop-control");
		return 1;
	}
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	int d = -1;
	for (int i = 0; i < 100 && d < 0; i++) {
		d = open(dev, O_RDWR);
		if (d < 0)
			usleep(20000);
	}
	int f = open(argv[1], O_RDWR);
	if (d < 0 || f < 0) {
		perror(d < 0 ? dev : argv[1]);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.fd = f;
	c.block_size = (unsigned)atoi(argv[2]);
	if (ioctl(d, LOOP_CONFIGURE, &c)) {
		perror("LOOP_CONFIGURE");
		return 1;
	}
	printf("%s\n", dev);
	return 0;
}
"#;

#[cfg(test)]
mod tests {
    use super::super::plan::plan_on;
    use super::*;
    use diofuzz::scenario::{PageState, Rwf};

    /// bdev_state's block device with stable writes, the namespace's geometry and RWF_NOWAIT:
    /// a 4 KiB write at 4096 over the dirty page 1.
    fn world() -> Scenario {
        let mut s = super::super::bdev_state::tests::bdev();
        s.world.device.stable_writes = true;
        s.world.device.dma_alignment = DMA_ALIGNMENT;
        s.world.device.awu_min = ATOMIC_UNIT;
        s.world.device.awu_max = ATOMIC_UNIT;
        s.request.pos = 4096;
        s.request.rwf = Rwf {
            nowait: true,
            ..Default::default()
        };
        s
    }

    /// Stable writes with RWF_NOWAIT on a block device: an nvme-tcp namespace (not zram), with
    /// its DMA alignment 3; zram keeps the stable worlds without NOWAIT.
    #[test]
    fn stable_nowait_is_an_nvme_tcp_namespace() {
        let s = world();
        assert!(wanted(&s));
        let p = plan_on(&s, None).unwrap();
        assert!(p.key.nvme && p.key.stable, "{:?}", p.key);
        assert!(p.key.label().ends_with("-nvme"), "{}", p.key.label());
        // Without NOWAIT: zram, with a loop device's 511.
        let mut z = world();
        z.request.rwf.nowait = false;
        z.world.device = diofuzz::scenario::Device {
            stable_writes: true,
            no_bio_split: true,
            ..Default::default()
        };
        let p = plan_on(&z, None).unwrap();
        assert!(p.key.stable && !p.key.nvme);
        // A NOWAIT world without stable writes stays on a loop device.
        let mut l = world();
        l.world.device = Default::default();
        assert!(!plan_on(&l, None).unwrap().key.nvme);
    }

    /// A page under writeback or mmapped dirty at the call (session 10): the namespace over a
    /// loop device on a lower filesystem (a layered key), the page held as on a loop device.
    #[test]
    fn held_pages_are_a_layered_namespace() {
        for st in [PageState::Writeback, PageState::MappedDirty] {
            let mut s = world();
            s.world.pages = vec![PageState::None, st];
            let p = plan_on(&s, None).unwrap();
            assert!(p.key.nvme && p.key.layered, "{st:?} {:?}", p.key);
            assert!(p.call.pages.held());
            // The C reproducer holds as on a loop device (it finds none under the namespace: COULD
            // NOT RUN there; docs/live.md).
            let prog = super::super::repro::c_program(&s).unwrap();
            assert!(prog.contains("hold_lower_fd("), "{st:?}");
            // Without RWF_NOWAIT the stable world is zram's, where nothing can be held.
            s.request.rwf.nowait = false;
            s.world.device.dma_alignment = diofuzz::scenario::DEFAULT_DMA_ALIGNMENT;
            s.world.device.awu_min = 0;
            s.world.device.awu_max = 0;
            let e = plan_on(&s, None).unwrap_err();
            assert!(e.contains("without RWF_NOWAIT"), "{e}");
        }
    }

    /// The model reads the namespace's virt boundary (ModelOpts::virt_boundary_mask): a
    /// RWF_NOWAIT write of two scattered 4 KiB segments at offset 8 gaps at the second segment
    /// (bvec_gap_to_prev) and bio_split_rw_at gives -EAGAIN (6.12: 4095); without a boundary
    /// (7.2+: 0), on whole pages, or with contiguous segments it is written; without NOWAIT
    /// the bio is split and written.
    #[test]
    fn the_virt_boundary_splits_a_nowait_bio_at_a_gap() {
        use diofuzz::model::{run_opts, ModelOpts};
        use diofuzz::scenario::Scatter;
        let v = diofuzz::variant::by_name("v6.12").unwrap();
        let mut s = world();
        s.world.pages = vec![];
        s.request.len = 8192;
        s.request.scatter = Some(Scatter { segs: 2, offset: 8 });
        let opts = |m| ModelOpts {
            virt_boundary_mask: m,
            ..super::super::fault::live_opts()
        };
        assert_eq!(run_opts(&s, v, opts(4095)).ret, -11);
        assert_eq!(run_opts(&s, v, opts(0)).ret, 8192);
        let mut whole = s.clone();
        whole.request.scatter = Some(Scatter { segs: 2, offset: 0 });
        assert_eq!(run_opts(&whole, v, opts(4095)).ret, 8192);
        let mut contiguous = s.clone();
        contiguous.request.scatter = None;
        contiguous.request.nr_segs = 2;
        contiguous.request.buf_align = 8;
        assert_eq!(run_opts(&contiguous, v, opts(4095)).ret, 8192);
        let mut wait = s.clone();
        wait.request.rwf.nowait = false;
        assert_eq!(run_opts(&wait, v, opts(4095)).ret, 8192);
        // 7.3.4 checks the DMA alignment of each bvec first: an offset of 2 is -EINVAL there.
        let v73 = diofuzz::variant::by_name("v7.3").unwrap();
        assert_eq!(run_opts(&s, v73, opts(4095)).ret, -11);
        let mut odd = s.clone();
        odd.request.scatter = Some(Scatter { segs: 2, offset: 2 });
        assert_eq!(run_opts(&odd, v73, opts(4095)).ret, -22);
    }

    #[test]
    fn what_the_namespace_cannot_give_is_refused() {
        let mut s = world();
        s.world.device.dma_alignment = diofuzz::scenario::DEFAULT_DMA_ALIGNMENT;
        let e = plan_on(&s, None).unwrap_err();
        assert!(e.contains("DMA alignment"), "{e}");
        let mut s = world();
        s.world.device.awu_max = 0;
        let e = plan_on(&s, None).unwrap_err();
        assert!(e.contains("atomic write units"), "{e}");
        // Scattered segments (the model reads the namespace's virt boundary) and contiguous ones
        // are built.
        let mut s = world();
        s.request.scatter = Some(diofuzz::scenario::Scatter { segs: 2, offset: 8 });
        assert!(plan_on(&s, None).unwrap().key.nvme);
        s.request.scatter = Some(diofuzz::scenario::Scatter { segs: 2, offset: 0 });
        assert!(plan_on(&s, None).unwrap().key.nvme);
        let mut s = world();
        s.request.nr_segs = 2;
        assert!(plan_on(&s, None).unwrap().key.nvme);
        // zram's conditions still hold: 4 KiB logical blocks.
        let mut s = world();
        s.world.lbs_bits = 9;
        assert!(plan_on(&s, None).is_err());
    }

    /// The C reproducer asks for the namespace, and the lab's `repro --run --kernel` script
    /// makes it (configfs target, lo up, connect with the data digest) where the loop device was.
    #[test]
    fn the_reproducer_names_and_the_guest_makes_the_namespace() {
        let s = world();
        let prog = super::super::repro::c_program(&s).unwrap();
        assert!(prog.contains("nvme-tcp namespace connected with the data digest"));
        let plain = crate::lab::guest::repro_bdev_script(false, s.world.i_size, 512);
        assert!(plain.contains("losetup $T /tmp/img"));
        let g = in_guest(plain.clone(), s.world.i_size, false);
        assert!(!g.contains("losetup"), "{g}");
        for want in [
            "modprobe nvme_core multipath=N",
            "ifconfig lo 127.0.0.1 up",
            "data_digest",
            "> /dev/nvme-fabrics",
            "/sys/class/nvme-generic/ng0n1",
            "T=/dev/nvme0n1",
            "/bin/repro $A",
            "echo 1 > $C/subsystems/$Q/namespaces/1/buffered_io",
        ] {
            assert!(g.contains(want), "{want}: {g}");
        }
        // A held page: the namespace exports a loop device of 4 KiB blocks over an image on a
        // lower ext4 (session 11), as live's NvmeTcp::add with a backing device.
        let h = in_guest(plain, s.world.i_size, true);
        for want in [
            "mkfs.ext4 -q -F $L >/dev/null 2>&1 && mount -t ext4 $L /mnt/lower",
            "bs=16384 count=0 seek=1",
            "DP=$(/bin/loopbs /mnt/lower/bdev.img 4096)",
            "echo $DP > $C/subsystems/$Q/namespaces/1/device_path",
            "T=/dev/nvme0n1",
        ] {
            assert!(h.contains(want), "{want}: {h}");
        }
        assert!(!h.contains("buffered_io"), "{h}");
        super::super::repro::assert_c_compiles("loopbs", C_LOOP_BS, &["-Wall", "-Werror", "-O1"]);
    }

    /// Session 11: the C reproducer of a held page on the namespace freezes the lower
    /// filesystem of the loop device the namespace exports, found through the target's configfs
    /// `device_path` (as [`exported_by`]), and says so in its header.
    #[test]
    fn the_reproducer_holds_a_page_on_the_namespace() {
        let mut s = world();
        s.world.pages = vec![PageState::Writeback];
        let p = plan_on(&s, None).unwrap();
        assert!(p.key.nvme && p.key.layered, "{:?}", p.key);
        let prog = super::super::repro::c_program(&s).unwrap();
        for want in [
            "/sys/kernel/config/nvmet/subsystems/%s/namespaces/%s/device_path",
            "hold: the nvme namespace exports %s",
            "hold_freeze(path)",
            "hold_writeback(fd, 0, 4096)",
            "a loop device of 4 KiB logical blocks over an image on a lower filesystem",
        ] {
            assert!(prog.contains(want), "{want}");
        }
        super::super::repro::assert_c_compiles("nvme-held", &prog, &["-Wall", "-Werror", "-O1"]);
    }

    /// The host's 6.18.44 has no nvme modules: the plan is "not possible here" (skipped), never
    /// an error of the run. (Where the modules exist the check passes.)
    #[test]
    fn refused_here_without_the_modules() {
        let p = plan_on(&world(), None).unwrap();
        match refuse_here(&p) {
            Ok(()) => assert!(Path::new(FABRICS).exists()),
            Err(e) => assert!(e.starts_with(super::super::exec::UNAVAILABLE), "{e}"),
        }
    }
}
