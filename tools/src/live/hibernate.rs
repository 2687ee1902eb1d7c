// SPDX-License-Identifier: GPL-2.0-only
//! The hibernation resume device (`live --swapon --hibernate-resume`, only in the lab's guests):
//! a swap device that `blkdev_write_iter` (block/fops.c, 6.12.117 - 7.3.4) writes to instead of
//! giving -ETXTBSY, because `is_hibernate_resume_dev(bd_inode->i_rdev)` is true.
//!
//! What makes it so (kernel/power/user.c, read in 6.12.117 and 7.3.4): `is_hibernate_resume_dev`
//! is `hibernation_available() && snapshot_state.dev == dev`, and `snapshot_state.dev` is set
//! only by `snapshot_set_swap_area`, the `SNAPSHOT_SET_SWAP_AREA` ioctl of the snapshot device
//! (/dev/snapshot, misc minor 231, `CONFIG_HIBERNATION_SNAPSHOT_DEV`), what uswsusp's `resume`
//! and `s2disk` do. The swap area must be active (`swap_type_of` in 6.12,
//! `pin_hibernation_swap_type` in 7.3, mm/swapfile.c: a `SWP_WRITEOK` swap device whose first
//! extent starts at the given offset, 0 for a device; -ENODEV otherwise), and
//! `snapshot_open` / `snapshot_release` clear it (`data->dev = 0`). So: swapon, open the
//! snapshot device O_WRONLY (the resume side: `PM_RESTORE_PREPARE` and the basic memory
//! bitmaps, no image is read), `SNAPSHOT_SET_SWAP_AREA` {offset 0, the device's number}, keep it
//! open through the call, close it before swapoff (7.3 pins the area: `SWP_HIBERNATION` makes
//! swapoff fail until `snapshot_release` unpins it). Killing the process closes it too.
//!
//! Not /sys/power/resume: `resume_store` (kernel/power/hibernate.c, 6.12.117 and 7.3.4) sets
//! `swsusp_resume_device` and runs `software_resume`, which looks for an image there
//! (`swsusp_check`) and finds none on a fresh swap header; `is_hibernate_resume_dev` never reads
//! `swsusp_resume_device`. The model reads the state from [`diofuzz::model::ModelOpts`]'s
//! `hibernate_resume` (the input format has no field for it): every swap device of such a run
//! is the resume device.

use super::exec::UNAVAILABLE;
use diofuzz::scenario::Scenario;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The open snapshot device while a resume device is set.
static SNAPSHOT: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// include/uapi/linux/suspend_ioctls.h: `_IOW('3', 13, struct resume_swap_area)` (12 bytes,
/// packed: `__kernel_loff_t offset; __u32 dev;`).
const SNAPSHOT_SET_SWAP_AREA: libc::c_ulong = 0x400C_330D;
const SYS_SNAPSHOT: &str = "/sys/class/misc/snapshot/dev";

/// `live --hibernate-resume`: every swap device is made the hibernation resume device.
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst) || test_enabled()
}

#[cfg(test)]
thread_local! {
    /// [`enable_in_this_thread`]: a test's own thread (the test harness runs each test on one),
    /// so the other tests of the process keep the process-wide state.
    static THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn test_enabled() -> bool {
    THIS_THREAD.with(|c| c.get())
}

#[cfg(not(test))]
fn test_enabled() -> bool {
    false
}

/// Tests: [`enable`] for the calling thread only.
#[cfg(test)]
pub fn enable_in_this_thread() {
    THIS_THREAD.with(|c| c.set(true));
}

/// Generated scenarios a resume run keeps: the swap devices, at rest or with swapon or swapoff
/// after the call's open (session 10). The ioctl needs an active area, so after a swapon after
/// open it follows that swapon, before the call ([`super::race::arm`]); a swapoff after open
/// closes the snapshot device first (7.3's pin would make it -EBUSY), and the device at the
/// write is then no swap device: `blkdev_write_iter` never asks `is_hibernate_resume_dev`.
pub fn wanted(s: &Scenario) -> bool {
    s.fs == diofuzz::scenario::FsKind::Bdev && super::swap::wanted(s)
}

/// The kernel's `new_encode_dev` (include/linux/kdev_t.h): what `new_decode_dev` in
/// `snapshot_set_swap_area` turns back into the device number.
pub fn new_encode_dev(rdev: u64) -> u32 {
    let (ma, mi) = (libc::major(rdev), libc::minor(rdev));
    (mi & 0xff) | (ma << 8) | ((mi & !0xff) << 12)
}

/// Make the active swap device `dev` the hibernation resume device until [`release`].
pub fn set_resume(dev: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dev).map_err(|e| format!("stat {}: {e}", dev.display()))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{}: not a block device", dev.display()));
    }
    let rdev = std::os::unix::fs::MetadataExt::rdev(&meta);
    let num = std::fs::read_to_string(SYS_SNAPSHOT).map_err(|e| {
        format!("{UNAVAILABLE}: no snapshot device ({SYS_SNAPSHOT}: {e}; CONFIG_HIBERNATION_SNAPSHOT_DEV)")
    })?;
    let (ma, mi) = num
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("{SYS_SNAPSHOT}: {num:?}"))?;
    // A node of our own beside the device's (the scenario's private folder), removed once open.
    let node = dev.with_file_name("snapshot");
    let _ = std::fs::remove_file(&node);
    let c = super::scratch::cpath(&node);
    // SAFETY: mknod with a valid C path in our private folder.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(ma, mi)) } != 0 {
        return Err(format!(
            "mknod {}: {}",
            node.display(),
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: open with a valid C path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    let open_err = std::io::Error::last_os_error();
    let _ = std::fs::remove_file(&node);
    if fd < 0 {
        // -EPERM: hibernation_available() is false (nohibernate, lockdown, secretmem);
        // -EBUSY: another snapshot user (hibernate_acquire).
        return Err(format!(
            "{UNAVAILABLE}: open of the snapshot device: {open_err}"
        ));
    }
    // SAFETY: a new fd of ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut area = [0u8; 12];
    area[8..].copy_from_slice(&new_encode_dev(rdev).to_ne_bytes());
    // SAFETY: SNAPSHOT_SET_SWAP_AREA reads 12 bytes.
    if unsafe { libc::ioctl(fd.as_raw_fd(), SNAPSHOT_SET_SWAP_AREA as _, area.as_ptr()) } != 0 {
        return Err(format!(
            "SNAPSHOT_SET_SWAP_AREA {}: {}",
            dev.display(),
            std::io::Error::last_os_error()
        ));
    }
    *SNAPSHOT.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd);
    Ok(())
}

/// Close the snapshot device (`snapshot_release`: the device is no longer the resume device,
/// 7.3's pin is dropped), before swapoff.
pub fn release() {
    SNAPSHOT.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// The C reproducer's statements after the swap device's swapon (a block-device program, which
/// includes <sys/sysmacros.h>): the device made the resume device through /dev/snapshot, kept
/// open in `snap_fd` until [`C_RELEASE`].
pub const C_SET_RESUME: &str = "\t/* the hibernation resume device: SNAPSHOT_SET_SWAP_AREA on the snapshot device\n\t * (is_hibernate_resume_dev, kernel/power/user.c), kept open through the call */\n\tint snap_fd = -1;\n\t{\n\t\tstruct stat rst;\n\t\tstruct { long long offset; unsigned int dev; } __attribute__((packed)) area = { 0, 0 };\n\t\tif (stat(path, &rst))\n\t\t\tdie(\"stat the swap device\");\n\t\tarea.dev = (minor(rst.st_rdev) & 0xff) | (major(rst.st_rdev) << 8) | ((minor(rst.st_rdev) & ~0xffu) << 12);\n\t\tsnap_fd = open(\"/dev/snapshot\", O_WRONLY);\n\t\tif (snap_fd < 0 || ioctl(snap_fd, 0x400C330DUL /* SNAPSHOT_SET_SWAP_AREA */, &area)) {\n\t\t\tprintf(\"COULD NOT RUN: the snapshot device: %s\\n\", strerror(errno));\n\t\t\tswapoff(path);\n\t\t\treturn 2;\n\t\t}\n\t}\n";

/// The C statements after the call, before swapoff: close the snapshot device.
pub const C_RELEASE: &str = "\tif (snap_fd >= 0) {\n\t\tclose(snap_fd); /* snapshot_release: no longer the resume device; 7.3 unpins the area */\n\t\tsnap_fd = -1;\n\t}\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// The C reproducer's statements (what `repro --hibernate-resume` puts after swapon and
    /// before swapoff) compile in a swap-device program.
    #[test]
    fn the_c_statements_compile_in_a_swap_device_program() {
        use super::super::swap::{C_AFTER_CALL, C_SWAPON};
        use diofuzz::scenario::{FsKind, PageState};
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.i_size = 16384;
        s.world.inode.swapfile = true;
        s.world.pages = vec![PageState::Clean];
        s.request.len = 4096;
        s.request.open.direct = true;
        let prog = super::super::repro::c_program(&s).unwrap();
        assert!(prog.contains(C_SWAPON) && prog.contains(C_AFTER_CALL));
        let with = prog
            .replacen(C_SWAPON, &format!("{C_SWAPON}{C_SET_RESUME}"), 1)
            .replacen(C_AFTER_CALL, &format!("{C_RELEASE}{C_AFTER_CALL}"), 1);
        super::super::repro::assert_c_compiles("hibernate", &with, &["-O2", "-fsyntax-only"]);
    }

    /// The i_rwsem holder on a swap device (session 10): blkdev_write_iter's IS_SWAPFILE check
    /// comes before inode_lock_shared (block/fops.c 6.12.117, 7.3.4), so on a swap device that is
    /// not the resume device the holder's own write gives -ETXTBSY and nothing is held (built
    /// without it); on the resume device it passes and blocks in its fault with i_rwsem held:
    /// built, positioned, and in the C program released before the snapshot device is closed
    /// (which comes before swapoff).
    #[test]
    fn the_lock_holder_on_the_resume_device() {
        use super::super::plan::plan_on;
        use diofuzz::generators::flags::generate_swap;
        use diofuzz::scenario::{FsKind, Race};
        let (mut rest, mut off_after) = (0, 0);
        let mut at_rest = None;
        for i in 0..200 {
            let s = generate_swap(1, i, FsKind::Bdev);
            if !s.has_race(Race::LockContended) {
                continue;
            }
            // (The refusals of any loop device: atomic units, etc.)
            let Ok(p) = plan_on(&s, None) else { continue };
            if s.world.inode.swapfile {
                // Not the resume device: -ETXTBSY before the lock, built without the holder.
                assert!(!p.call.after_open.lock_holder, "{i}");
                if s.inode_at_open().swapfile {
                    rest += 1;
                    at_rest.get_or_insert(s.clone());
                }
            } else {
                // swapoff after open: a plain device at the write.
                assert!(p.call.after_open.lock_holder && p.call.positioned, "{i}");
                off_after += 1;
            }
        }
        assert!(rest > 20 && off_after > 0, "{rest} {off_after}");
        let s = at_rest.unwrap();
        let plain = super::super::repro::c_program(&s).unwrap();
        assert!(!plain.contains("UFFDIO_REGISTER") && !plain.contains("SNAPSHOT_SET_SWAP_AREA"));
        enable_in_this_thread();
        let p = plan_on(&s, None).unwrap();
        assert!(p.call.after_open.lock_holder && p.call.positioned);
        let c = super::super::repro::c_program(&s).unwrap();
        let at = |what: &str| c.find(what).unwrap_or_else(|| panic!("{what}: {c}"));
        assert!(at("SNAPSHOT_SET_SWAP_AREA") < at("UFFDIO_REGISTER"));
        assert!(
            at("UFFDIO_WAKE") < at("snapshot_release")
                && at("snapshot_release") < at("swap_on && swapoff(path)")
        );
        super::super::repro::assert_c_compiles("resume-holder", &c, &["-O2", "-fsyntax-only"]);
        // swapon after open: SNAPSHOT_SET_SWAP_AREA after the swapon, after the call's open and
        // before the holder; the snapshot device closed after the call.
        let mut on = s.clone();
        on.world.inode.swapfile = true;
        on.races.push(Race::InodeFlagChangedAfterOpen(9));
        assert!(!on.inode_at_open().swapfile && wanted(&on), "{on:?}");
        let p = plan_on(&on, None).unwrap();
        assert_eq!(p.call.after_open.swap, Some(true));
        assert!(p.call.after_open.resume && p.call.after_open.lock_holder);
        assert!(!p.steps.contains(&super::super::plan::Step::SwapOn));
        let c = super::super::repro::c_program(&on).unwrap();
        let at = |what: &str| c.find(what).unwrap_or_else(|| panic!("{what}: {c}"));
        assert!(at("int cfd") < at(super::super::swap::C_SWAPON));
        assert!(at(super::super::swap::C_SWAPON) < at("SNAPSHOT_SET_SWAP_AREA"));
        assert!(at("SNAPSHOT_SET_SWAP_AREA") < at("UFFDIO_REGISTER"));
        assert!(at("UFFDIO_WAKE") < at("snapshot_release"));
        super::super::repro::assert_c_compiles("resume-swapon", &c, &["-O2", "-fsyntax-only"]);
        // swapoff after open: the resume device at rest, the snapshot device closed before the
        // swapoff (7.3's pin), a plain device at the write.
        let mut off = on.clone();
        off.world.inode.swapfile = false;
        off.world.pages = vec![diofuzz::scenario::PageState::Clean];
        assert!(off.inode_at_open().swapfile && wanted(&off));
        let p = plan_on(&off, None).unwrap();
        assert_eq!(p.call.after_open.swap, Some(false));
        assert!(p.call.after_open.resume && p.steps.contains(&super::super::plan::Step::SwapOn));
        let c = super::super::repro::c_program(&off).unwrap();
        let at = |what: &str| c.find(what).unwrap_or_else(|| panic!("{what}: {c}"));
        assert!(at("SNAPSHOT_SET_SWAP_AREA") < at("int cfd"));
        assert!(at("int cfd") < at("snapshot_release"));
        assert!(at("snapshot_release") < at(super::super::swap::C_SWAPOFF));
        super::super::repro::assert_c_compiles("resume-swapoff", &c, &["-O2", "-fsyntax-only"]);
    }

    /// include/linux/kdev_t.h new_encode_dev: minor's low byte, major, minor's high bits.
    #[test]
    fn device_numbers_are_encoded_as_the_kernel_decodes_them() {
        assert_eq!(new_encode_dev(libc::makedev(7, 3)), 0x703);
        assert_eq!(new_encode_dev(libc::makedev(259, 0x1234)), 0x121_0334);
    }
}
