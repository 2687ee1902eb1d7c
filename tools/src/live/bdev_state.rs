// SPDX-License-Identifier: GPL-2.0-only
//! Block-device states (`--fs bdev`; docs/live.md "Block-device states"): the races after open
//! and device properties of a raw block device that a loop device over an image cannot give.
//!
//! * **The mmap writer** (`Race::MmapRedirty`): the executor's writer thread maps the device
//!   node `MAP_SHARED` (`blkdev_mmap` -> `generic_file_mmap`, block/fops.c) and stores back what
//!   the pages hold while the call runs, as for a file; the outcome depends on timing, so it is
//!   reported and not counted (`Plan::racy`), except for the idle writer (no cached page).
//! * **The i_rwsem holder** (`Race::LockContended`): the file's holder (super::race) works on
//!   the device node unchanged: its one-byte buffered `pwrite` at the node's `st_size`, 0, i.e.
//!   inside the device, blocks in the userfaultfd fault of `iomap_write_iter`
//!   (`fault_in_iov_iter_readable`, before `iomap_write_begin`: no folio) after
//!   `blkdev_write_iter` took `inode_lock_shared` (block/fops.c, 6.12.117, 7.2.12 and 7.3.4: the
//!   buffered branch only). A direct write never takes i_rwsem there, and a buffered one takes
//!   it shared, so the holder blocks neither: built for every scenario with the race, NOWAIT or
//!   not (the model's block-device path does not read the race: outcome unchanged).
//! * **An active swap device** (`inode.swapfile`, and swapon/swapoff after open): the swap
//!   header over page 0 of the device (super::swap), `swapon(2)` of the device node
//!   (mm/swapfile.c `claim_swapfile`: SWP_BLKDEV; S_SWAPFILE on the device inode), only inside
//!   a disposable VM (`live --swapon`). blkdev_write_iter gives -ETXTBSY unless the device is
//!   the hibernation resume device (`live --hibernate-resume`, super::hibernate). Validity rule
//!   W35 keeps the devices swapon accepts. The holder on a swap device: [`holder_built`].
//! * **Stable writes** (`world.device.stable_writes`): a zram device (`/sys/class/zram-control/
//!   hot_add`, `disksize` = the scenario's size). `zram_add` (drivers/block/zram/zram_drv.c,
//!   7.3.4; 6.12.117 the same, read in the torvalds/linux v6.12 tree) declares
//!   `BLK_FEAT_STABLE_WRITES` in the queue limits it allocates the disk with, so `bdev_add`
//!   (block/bdev.c) sets `AS_STABLE_WRITES` on the device's page cache: what a loop device's
//!   `queue/stable_writes`, written after `bdev_add`, cannot do. zram's logical block is 4 KiB
//!   (`ZRAM_LOGICAL_BLOCK_SIZE`), its DMA alignment 511, and its I/O synchronous
//!   (`BLK_FEAT_SYNCHRONOUS`): no write can be held there, so held pages are refused.

use super::plan::{Step, Unsupported};
use diofuzz::scenario::{FsKind, InodeFlags, PageState, Race, Scenario};
use std::fs;
use std::path::{Path, PathBuf};

/// The zram module (packed into the lab's guests; built into this host's 6.18.44).
pub const MODULES: [&str; 1] = ["zram"];
const CONTROL: &str = "/sys/class/zram-control";

/// What happens around the call of a block-device scenario besides its set-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BdevRaces {
    /// fcntl(F_SETFL) O_DIRECT toggles.
    pub toggles: u32,
    pub mmap_writer: bool,
    pub lock_holder: bool,
    /// swapon (true) or swapoff (false) of the device after the call's open.
    pub swap: Option<bool>,
}

/// The races of a block-device scenario, or why one is not built.
pub fn races(s: &Scenario) -> Result<BdevRaces, Unsupported> {
    let mut r = BdevRaces::default();
    let mut swap_changes = 0;
    for race in &s.races {
        match race {
            Race::FcntlToggleDirect => r.toggles += 1,
            Race::MmapRedirty => r.mmap_writer = true,
            Race::LockContended => r.lock_holder = true,
            Race::InodeFlagChangedAfterOpen(super::swap::SWAPFILE) => swap_changes += 1,
            // Validity rules W9/W11 leave a block device no other flag.
            Race::InodeFlagChangedAfterOpen(_) => return Err(
                "inode flag changed after open on a block device (no such world: rules W9, W11)"
                    .into(),
            ),
        }
    }
    if swap_changes % 2 == 1 {
        r.swap = Some(s.world.inode.swapfile);
    }
    if r.swap == Some(false) && s.world.pages.first() != Some(&PageState::Clean) {
        // swapon reads the header page into the device's page cache (read_mapping_folio,
        // mm/swapfile.c): after a swapoff it is still there.
        return Err("swapoff after open of a swap device whose page 0 is not cached (swapon caches the header page)".into());
    }
    // With aio or RLIMIT_FSIZE the holder needs no refusal: the call is positioned (plan_bdev)
    // and neither path lseeks then (aio: the iocb's aio_offset, and the file position is not
    // compared; RLIMIT_FSIZE: the child's pwritev2 at pos). blkdev_llseek (block/fops.c,
    // 6.12.117 - 7.3.4) takes the i_rwsem the holder keeps, so no lseek may run while it holds.
    // With the hibernation resume device, swapon after open is followed by SNAPSHOT_SET_SWAP_AREA
    // and swapoff after open preceded by the snapshot device's close (super::race::arm).
    // The holder on a swap device: see holder_built (built on the resume device only).
    if super::swap::wanted(s) && r.mmap_writer {
        return Err("swap device with the mmap writer (rule W35: do_mmap gives -ETXTBSY)".into());
    }
    Ok(r)
}

/// Whether the i_rwsem holder is built for a block-device scenario with `Race::LockContended`:
/// not on an empty device. There every write returns before `inode_lock_shared`
/// (`blkdev_write_iter`, block/fops.c, 6.12.117 - 7.3.4: 0 for an empty request, -ENOSPC for
/// `ki_pos >= bdev_nr_bytes`), the holder's own one-byte write at 0 included (it returned
/// -ENOSPC without faulting: the 5 s "never faulted" error of gen-41-bdev-266 and gen-1-bdev-95,
/// session 9), and so does the scenario's call, direct or buffered, whatever its flags; a read
/// returns 0 before its `inode_lock_shared` (`blkdev_read_iter`: `pos >= size`). The other
/// takers, `blkdev_llseek`, `set_blocksize` and the discard/zeroout ioctls, hold it for a moment
/// (`blkdev_fallocate` gives -EINVAL before it). So the race cannot be held across the call there and
/// would change nothing: the scenario is built without it (as a file's holder without RWF_NOWAIT,
/// super::race::split).
///
/// Nor on a swap device at the write that is not the hibernation resume device (session 10):
/// `blkdev_write_iter` checks `IS_SWAPFILE && !is_hibernate_resume_dev` before everything else
/// (-ETXTBSY, block/fops.c 6.12.117 and 7.3.4), the holder's write included, so nothing can hold
/// i_rwsem across the call there either. On the resume device (`live --hibernate-resume`) the
/// holder's write passes that check and blocks in its fault with i_rwsem held shared, as on any
/// device: built.
pub fn holder_built(s: &Scenario, r: &BdevRaces) -> bool {
    holder_built_on(s, r, super::hibernate::enabled())
}

/// [`holder_built`] with the resume state given (`resume`: every swap device is the
/// hibernation resume device).
pub fn holder_built_on(s: &Scenario, r: &BdevRaces, resume: bool) -> bool {
    r.lock_holder && s.world.i_size > 0 && (!s.world.inode.swapfile || resume)
}

/// The inode of a block device: only the swap flag (rule W11).
pub fn check_inode(s: &Scenario) -> Result<(), Unsupported> {
    let plain = |f: InodeFlags| {
        f == InodeFlags {
            swapfile: f.swapfile,
            ..InodeFlags::default()
        }
    };
    if s.world.mount != diofuzz::scenario::Mount::default()
        || !plain(s.world.inode)
        || !plain(s.inode_at_open())
    {
        return Err("mount options or inode flags on a block device".into());
    }
    Ok(())
}

/// Whether live builds `s` on a zram device: a block device with stable writes, bio-based
/// (`world.device.no_bio_split`; the model's kernel::drivers::is_zram, whose 4 KiB logical
/// block [`check_stable`] asks for).
pub fn on_zram(s: &Scenario) -> bool {
    s.fs == FsKind::Bdev && s.world.device.stable_writes && s.world.device.no_bio_split
}

/// Stable writes: on a zram device only (loop devices take the sysfs flag too late, the
/// `--device` disk has its own), with its 4 KiB logical block and nothing held.
pub fn check_stable(s: &Scenario, on_disk: bool, held: bool) -> Result<(), Unsupported> {
    if !s.world.device.stable_writes {
        return Ok(());
    }
    if on_disk {
        return Err(
            "stable writes on a block device of the --device disk (built on zram devices only)"
                .into(),
        );
    }
    if s.world.lbs_bits != 12 {
        return Err("stable writes on a block device with a logical block other than 4 KiB (the zram device's is 4 KiB)".into());
    }
    if held && !s.request.rwf.nowait {
        return Err("held page on a stable-writes block device without RWF_NOWAIT (zram's I/O is synchronous: nothing to freeze; the nvme-tcp namespace is made for RWF_NOWAIT only)".into());
    }
    if s.request.rwf.nowait && s.world.device.no_bio_split {
        return Err("RWF_NOWAIT on a bio-based stable-writes block device (zram has no BLK_FEAT_NOWAIT; the nvme-tcp namespace is blk-mq)".into());
    }
    if !s.request.rwf.nowait && !s.world.device.no_bio_split {
        // Session 10: the zram device is bio-based and never splits (zram_submit_bio), which
        // the model must know (kernel::drivers::block::zram): 6.18's misaligned and sub-page
        // bvecs reach zram_bio_write, which stores whole user pages.
        return Err("stable writes on a blk-mq block device with DMA alignment 511 (live's stable-writes devices: zram, bio-based: world.device.no_bio_split; an nvme-tcp namespace, DMA alignment 3, for RWF_NOWAIT)".into());
    }
    if s.request.rwf.nowait {
        // Not on zram (measured on 6.18.44, the first bdev-state run: -EOPNOTSUPP where the
        // model said -EAGAIN): zram is bio-based and declares no BLK_FEAT_NOWAIT (zram_add), so
        // bdev_open (block/bdev.c 7.3.4) gives the file no FMODE_NOWAIT and kiocb_set_rw_flags
        // (include/linux/fs.h) refuses RWF_NOWAIT. A blk-mq stable-writes
        // device instead: an nvme-tcp namespace with the data digest (super::nvme_stable).
        return super::nvme_stable::check(s);
    }
    Ok(())
}

/// The set-up's swap steps: the header over page 0 after the content, and swapon when the
/// device is a swap device at open (after open: super::race::arm runs it).
pub fn swap_steps(s: &Scenario, steps: &mut Vec<Step>) {
    if !super::swap::wanted(s) {
        return;
    }
    // Before the cached pages are made (the header write would leave page 0 dirty otherwise):
    // right after the content and its fsync, before DropCache.
    let at = steps
        .iter()
        .position(|st| *st == Step::DropCache)
        .unwrap_or(steps.len());
    steps.insert(at, Step::SwapHeader);
    steps.insert(at + 1, Step::Fsync);
    if s.inode_at_open().swapfile {
        steps.push(Step::SwapOn);
    }
}

/// The device the C reproducer asks for (its header comment).
pub fn c_device(bdev: bool, stable: bool) -> &'static str {
    if bdev && stable {
        "a zram device (BLK_FEAT_STABLE_WRITES from zram_add, so the page cache has AS_STABLE_WRITES: echo $SIZE > /sys/block/zramN/disksize after cat /sys/class/zram-control/hot_add; a loop device's queue/stable_writes does not reach its page cache)"
    } else {
        super::limits::c_device(stable)
    }
}

/// The set-up's last step on a block device: swapon of a swap device at rest (a file gets it
/// after its times, which a device node's are not: exec::setup).
pub fn after_steps(plan: &super::plan::Plan, dev: &Path) -> Result<(), String> {
    if plan.steps.contains(&Step::SwapOn) {
        super::swap::swapon(dev)?;
        if super::hibernate::enabled() {
            if let Err(e) = super::hibernate::set_resume(dev) {
                let _ = super::swap::release();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A block device node `node` (in the private folder) for the device whose sysfs `dev` file
/// (MAJOR:MINOR) is `sys_dev`.
pub fn mknod_block(sys_dev: &Path, node: &Path) -> Result<(), String> {
    let devnum =
        fs::read_to_string(sys_dev).map_err(|e| format!("read {}: {e}", sys_dev.display()))?;
    let (ma, mi) = devnum
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("{}: {devnum:?} is not MAJOR:MINOR", sys_dev.display()))?;
    let _ = fs::remove_file(node);
    let c = super::scratch::cpath(node);
    // SAFETY: mknod with a valid C path in our private folder.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi)) } != 0 {
        return Err(format!(
            "mknod {}: {}",
            node.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A zram device made for one scenario: `hot_add`, `disksize`, a node in the private folder;
/// removed with `hot_remove` (which resets it).
#[derive(Debug)]
pub struct Zram {
    pub id: u32,
    pub node: PathBuf,
    /// Held open from the set-up to the removal (session 9): the last close of a block device
    /// drops its page cache (`blkdev_put_whole` -> `blkdev_flush_mapping` -> `kill_bdev`,
    /// block/bdev.c 7.3.4), and the executor closes its set-up descriptor before the call.
    hold: Option<fs::File>,
}

/// Why zram cannot be used here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(CONTROL).is_dir() {
        // A guest kernel with zram as a module (the lab's Debian kernels).
        let _ = std::process::Command::new("modprobe")
            .args(["zram", "num_devices=0"])
            .stderr(std::process::Stdio::null())
            .status();
    }
    (!Path::new(CONTROL).is_dir()).then(|| {
        format!(
            "{}: no zram ({CONTROL} missing): a stable-writes block device needs a driver that declares BLK_FEAT_STABLE_WRITES when it adds the disk",
            super::exec::UNAVAILABLE
        )
    })
}

impl Zram {
    /// A zram device of `size` bytes with its node `dir/zram`.
    pub fn add(size: u64, dir: &Path) -> Result<Zram, String> {
        if let Some(why) = unavailable() {
            return Err(why);
        }
        let hot = format!("{CONTROL}/hot_add");
        let id: u32 = fs::read_to_string(&hot)
            .map_err(|e| format!("read {hot}: {e}"))?
            .trim()
            .parse()
            .map_err(|e| format!("{hot}: {e}"))?;
        let node = dir.join("zram");
        let mut z = Zram {
            id,
            node,
            hold: None,
        };
        if let Err(e) = z.setup(size) {
            let _ = z.remove();
            return Err(e);
        }
        z.hold =
            Some(fs::File::open(&z.node).map_err(|e| format!("open {}: {e}", z.node.display()))?);
        Ok(z)
    }

    fn sys(&self, f: &str) -> String {
        format!("/sys/block/zram{}/{f}", self.id)
    }

    fn setup(&self, size: u64) -> Result<(), String> {
        let ds = self.sys("disksize");
        fs::write(&ds, size.to_string()).map_err(|e| format!("write {ds}: {e}"))?;
        let stable = fs::read_to_string(self.sys("queue/stable_writes")).unwrap_or_default();
        if stable.trim() != "1" {
            return Err(format!(
                "zram{}: queue/stable_writes is {:?}, not 1",
                self.id,
                stable.trim()
            ));
        }
        mknod_block(Path::new(&self.sys("dev")), &self.node)
    }

    /// hot_remove (resets the device and frees its memory); retried while the last close
    /// settles.
    pub fn remove(mut self) -> Result<(), String> {
        drop(self.hold.take());
        let _ = fs::remove_file(&self.node);
        let hot = format!("{CONTROL}/hot_remove");
        let mut last = String::new();
        for _ in 0..20 {
            match fs::write(&hot, self.id.to_string()) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(format!("hot_remove zram{}: {last}", self.id))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::plan::{plan_on, Step};
    use super::*;
    use diofuzz::scenario::{FsKind, Rwf};

    /// A 16 KiB block device of 4 KiB logical blocks, page 0 clean, page 1 dirty; a 4 KiB
    /// O_DIRECT write at 0.
    pub(in super::super) fn bdev() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.i_size = 4 * 4096;
        s.world.lbs_bits = 12;
        s.world.pages = vec![PageState::Clean, PageState::Dirty];
        s.request.len = 4096;
        s.request.open.direct = true;
        s
    }

    #[test]
    fn mmap_writer_and_lock_holder_on_a_block_device() {
        let mut s = bdev();
        s.races = vec![Race::MmapRedirty];
        let p = plan_on(&s, None).unwrap();
        assert!(p.call.mmap_writer && p.racy && !p.call.pages.idle_writer);
        // No cached page: the writer maps the device and stores nothing (not racy).
        s.world.pages.clear();
        let p = plan_on(&s, None).unwrap();
        assert!(p.call.mmap_writer && p.call.pages.idle_writer && !p.racy);
        // The holder, with or without RWF_NOWAIT (the device's i_rwsem is taken shared).
        for nowait in [false, true] {
            let mut s = bdev();
            s.races = vec![Race::LockContended];
            s.request.rwf = Rwf {
                nowait,
                ..Default::default()
            };
            let p = plan_on(&s, None).unwrap();
            assert!(p.call.after_open.lock_holder && !p.racy);
            // blkdev_llseek takes i_rwsem: the call is positioned, no lseek while it is held.
            assert!(p.call.positioned);
        }
    }

    /// blkdev_llseek takes i_rwsem exclusively: with the holder, aio and RLIMIT_FSIZE calls are
    /// positioned too (no lseek before or after, in the executor and the C reproducer); on an
    /// empty device blkdev_write_iter returns before inode_lock_shared (-ENOSPC at ki_pos >= size),
    /// the holder's write too, so no holder is built there (gen-41-bdev-266, gen-1-bdev-95).
    #[test]
    fn lock_holder_with_aio_rlimit_and_on_an_empty_device() {
        let mut s = bdev();
        s.races = vec![Race::LockContended];
        let mut aio = s.clone();
        aio.request.aio = true;
        let mut rl = s.clone();
        rl.world.rlimit_fsize = Some(8192);
        for t in [&aio, &rl] {
            let p = plan_on(t, None).unwrap();
            assert!(p.call.after_open.lock_holder && p.call.positioned, "{t:?}");
            let c = super::super::repro::c_program(t).unwrap();
            assert!(c.contains("UFFDIO_REGISTER"));
            assert!(!c.contains("SEEK_CUR") && !c.contains("SEEK_SET"), "{c}");
        }
        let mut empty = s.clone();
        empty.world.i_size = 0;
        empty.world.blocks.clear();
        empty.world.pages.clear();
        empty.request.pos = 0;
        let p = plan_on(&empty, None).unwrap();
        assert!(!p.call.after_open.lock_holder && !p.call.positioned);
        assert!(!super::super::repro::c_program(&empty)
            .unwrap()
            .contains("UFFDIO_REGISTER"));
    }

    #[test]
    fn swap_devices_get_a_header_and_swapon() {
        let mut s = bdev();
        s.world.pages = vec![PageState::Clean];
        s.world.inode.swapfile = true;
        let p = plan_on(&s, None).unwrap();
        let h = p
            .steps
            .iter()
            .position(|st| *st == Step::SwapHeader)
            .unwrap();
        let d = p
            .steps
            .iter()
            .position(|st| *st == Step::DropCache)
            .unwrap();
        assert!(h < d, "{:?}", p.steps);
        assert_eq!(p.steps.last(), Some(&Step::SwapOn));
        // swapon after open: no swapon in the set-up, the race runs it.
        s.races = vec![Race::InodeFlagChangedAfterOpen(9)];
        let p = plan_on(&s, None).unwrap();
        assert!(!p.steps.contains(&Step::SwapOn) && p.steps.contains(&Step::SwapHeader));
        assert_eq!(p.call.after_open.swap, Some(true));
        // swapoff after open.
        s.world.inode.swapfile = false;
        let p = plan_on(&s, None).unwrap();
        assert!(p.steps.contains(&Step::SwapOn));
        assert_eq!(p.call.after_open.swap, Some(false));
        // Other inode flags stay refused (rule W11).
        let mut j = bdev();
        j.world.inode.append_only = true;
        assert!(plan_on(&j, None).unwrap_err().contains("inode flags"));
    }

    #[test]
    fn stable_writes_are_a_zram_device() {
        let mut s = bdev();
        s.world.device.stable_writes = true;
        // Session 10: zram is bio-based; a world that says blk-mq is not what zram is.
        let e = plan_on(&s, None).unwrap_err();
        assert!(e.contains("blk-mq") && e.contains("no_bio_split"), "{e}");
        s.world.device.no_bio_split = true;
        assert!(on_zram(&s) && diofuzz::kernel::drivers::is_zram(&s.world));
        let p = plan_on(&s, None).unwrap();
        assert!(p.key.stable && !p.key.layered);
        let mut small = s.clone();
        small.world.lbs_bits = 9;
        assert!(plan_on(&small, None).unwrap_err().contains("4 KiB"));
        let mut held = s.clone();
        held.world.pages = vec![PageState::Writeback];
        assert!(plan_on(&held, None).unwrap_err().contains("synchronous"));
        // RWF_NOWAIT: not on zram (no BLK_FEAT_NOWAIT) but an nvme-tcp namespace, whose DMA
        // alignment and atomic units the world must have (super::nvme_stable).
        let mut nowait = s.clone();
        nowait.request.rwf.nowait = true;
        assert!(plan_on(&nowait, None)
            .unwrap_err()
            .contains("BLK_FEAT_NOWAIT"));
        nowait.world.device.no_bio_split = false;
        assert!(plan_on(&nowait, None).unwrap_err().contains("nvme-tcp"));
        nowait.world.device.dma_alignment = super::super::nvme_stable::DMA_ALIGNMENT;
        nowait.world.device.awu_min = super::super::nvme_stable::ATOMIC_UNIT;
        nowait.world.device.awu_max = super::super::nvme_stable::ATOMIC_UNIT;
        let p = plan_on(&nowait, None).unwrap();
        assert!(p.key.stable && p.key.nvme);
    }

    /// The C reproducer builds each state on the device it is given: the writer maps the
    /// device, the holder writes at the node's st_size (0: inside the device), the swap device
    /// gets its header and swapon (never an unlink of the node), a stable world asks for zram.
    #[test]
    fn c_reproducer_builds_them_and_compiles() {
        let mut w = bdev();
        w.races = vec![Race::MmapRedirty];
        let mut h = bdev();
        h.races = vec![Race::LockContended];
        h.request.rwf.nowait = true;
        let mut sw = bdev();
        sw.world.pages = vec![PageState::Clean];
        sw.world.inode.swapfile = true;
        let mut on = sw.clone();
        on.races = vec![Race::InodeFlagChangedAfterOpen(9)];
        let mut st = bdev();
        st.world.device.stable_writes = true;
        st.world.device.no_bio_split = true;
        // The holder with RLIMIT_FSIZE and aio (positioned: no lseek in the child or after).
        let mut hr = h.clone();
        hr.world.rlimit_fsize = Some(8192);
        let mut ha = h.clone();
        ha.request.aio = true;
        let progs: Vec<String> = [&w, &h, &sw, &on, &st, &hr, &ha]
            .iter()
            .map(|s| super::super::repro::c_program(s).unwrap())
            .collect();
        assert!(progs[0].contains("MAP_SHARED, f, 0"));
        assert!(
            progs[1].contains("UFFDIO_REGISTER") && progs[1].contains("hold_pos = hst.st_size")
        );
        for p in &progs[2..4] {
            assert!(p.contains("SWAPSPACE2") && p.contains("swapon(path, 0)"));
            assert!(
                p.contains("S_ISREG(sst.st_mode)"),
                "the node is never unlinked"
            );
        }
        assert!(progs[4].contains("zram"));
        for (i, p) in progs.iter().enumerate() {
            super::super::repro::assert_c_compiles(
                &format!("bdev-state{i}"),
                p,
                &["-O2", "-fsyntax-only"],
            );
        }
    }

    /// The generator's block-device state stream: every world it draws is planned.
    #[test]
    fn generated_bdev_states_are_built() {
        use diofuzz::generators::random::generate;
        let (mut stable, mut writer, mut holder) = (0, 0, 0);
        for i in 0..3000 {
            let s = generate(13, i, FsKind::Bdev);
            let p = match plan_on(&s, None) {
                Ok(p) => p,
                Err(e) => {
                    // The few refusals that are not this module's (device end, etc.).
                    assert!(!e.contains("stable") && !e.contains("race"), "{i}: {e}");
                    continue;
                }
            };
            stable += p.key.stable as u32;
            writer += p.call.mmap_writer as u32;
            holder += p.call.after_open.lock_holder as u32;
        }
        assert!(
            stable > 50 && writer > 50 && holder > 50,
            "{stable} {writer} {holder}"
        );
    }
}
