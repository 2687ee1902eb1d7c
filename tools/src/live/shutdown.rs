// SPDX-License-Identifier: GPL-2.0-only
//! Shut-down and emergency read-only filesystems (`world.mount.shutdown`,
//! `world.mount.emergency_ro`) on the live kernel, in the lab and in the C reproducer.
//!
//! Each such scenario gets a filesystem of its own, made for it and never used again
//! ([`run`]: a scratch key of its own, `FsKey::own`, and [`Scratch::retire`] after the call). The set-up runs as usual; the file is opened
//! for the call (a shut-down filesystem refuses open: xfs_file_open and ext4_file_open check
//! xfs_is_shutdown / ext4_forced_shutdown, and from 6.15 ext4_file_open refuses FMODE_WRITE in an
//! emergency state); then, right before the call ([`bring_down`]):
//!
//! * **shut down**: `ioctl(fd, XFS_IOC_GOINGDOWN / EXT4_IOC_SHUTDOWN, NOLOGFLUSH)` (both
//!   `_IOR('X', 125, __u32)`). NOLOGFLUSH is the flag that leaves the scenario's world as it was
//!   built: xfs_fs_goingdown's DEFAULT freezes the block device first (bdev_freeze writes every
//!   dirty page back and allocates delalloc blocks), LOGFLUSH forces the log (ext4_force_shutdown
//!   calls ext4_force_commit, which in data=ordered writes data back); NOLOGFLUSH only sets the
//!   shutdown state (xfs_force_shutdown with SHUTDOWN_LOG_IO_ERROR; ext4: EXT4_FLAGS_SHUTDOWN and
//!   jbd2_journal_abort), as an I/O error would, and that is what the model's shut-down mount
//!   is: the world as described, with xfs_is_shutdown / ext4_forced_shutdown true.
//! * **emergency read-only** (ext4): remount with `errors=remount-ro`, then write to
//!   `/sys/fs/ext4/<dev>/trigger_fs_error` (ext4 sysfs trigger_test_error -> ext4_error ->
//!   ext4_handle_error). From 6.15 that sets EXT4_FLAGS_EMERGENCY_RO (8f984530c242); on 6.6-6.14
//!   it sets EXT4_FLAGS_SHUTDOWN: the model's `ext4_emergency_state` switch says which.
//!
//! What can be compared: the return value and errno, and the path the call took (the trace
//! events: none of the DIO or buffered events may fire). Nothing else can be read on the
//! filesystem afterwards (XFS refuses getattr, llseek and reads when shut down; ext4 reads when
//! shut down). After the call the filesystem is unmounted and its loop device released, and the
//! whole image is searched for sectors of the call's data (the NEW pattern with this scenario's
//! nonce): the filesystem is fresh, so any such sector was written by the call, whatever
//! metadata the unflushed log lost (a remount would show only what the log kept, so the file's
//! content after a remount says nothing about the call). The model's count is the NEW sectors of
//! its on-disk image after the call.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::compare::{model_findings, model_side, unmodelled, Outcome, Verdict};
use super::exec::Observation;
use super::plan::{tag_byte, Disk, Plan, Unsupported};
use super::scratch::{Prereqs, Scratch};
use super::tracefs::Tracer;
use diofuzz::model::{Execution, TAG_NEW};
use diofuzz::scenario::{FsKind, Scenario, SECTOR};

/// `_IOR('X', 125, __u32)`: XFS_IOC_GOINGDOWN (fs/xfs/libxfs/xfs_fs.h) and EXT4_IOC_SHUTDOWN
/// (include/uapi/linux/ext4.h) are the same number.
pub const IOC_GOINGDOWN: u64 = 0x8004_587d;
/// XFS_FSOP_GOING_FLAGS_NOLOGFLUSH / EXT4_GOING_FLAGS_NOLOGFLUSH.
pub const GOING_NOLOGFLUSH: u32 = 2;
/// What the kernel log says when the harness itself shuts a filesystem down or triggers an ext4
/// error: expected lines, not findings (`live --kmsg`).
const OWN_LOG: &[&str] = &[
    "trigger_test_error",
    "diofuzz emergency read-only",
    "Remounting filesystem read-only",
    "Detected aborted journal",
    "Aborting journal on device",
    "shut down requested",
    "User initiated shutdown",
    "Filesystem has been shut down",
    "Please unmount the filesystem",
    "xfs_do_force_shutdown",
    "Log I/O Error",
];

/// How the scenario's filesystem is brought down before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    /// ext4: errors=remount-ro and an ext4 error (first, when both).
    pub emergency_ro: bool,
    /// The shutdown ioctl with NOLOGFLUSH.
    pub shutdown: bool,
}

impl Down {
    pub fn label(&self) -> &'static str {
        match (self.emergency_ro, self.shutdown) {
            (true, true) => "emergency read-only, then shut down",
            (true, false) => "emergency read-only",
            _ => "shut down",
        }
    }
}

/// The plan's [`Down`], or why the scenario's state cannot be made: on loop devices only (each
/// scenario formats a filesystem of its own; the `--device` disk holds one at a time).
pub fn down_of(s: &Scenario, disk: Option<&Disk>) -> Result<Option<Down>, Unsupported> {
    let m = s.world.mount;
    if !m.shutdown && !m.emergency_ro {
        return Ok(None);
    }
    if disk.is_some() {
        return Err("mount option: filesystem shut down or emergency read-only on the --device disk (a filesystem of its own per scenario is made on loop devices only)".into());
    }
    if s.races.contains(&diofuzz::scenario::Race::MmapRedirty) {
        // The harness's writer thread would take SIGBUS on its next store (a write fault on a
        // shut-down or emergency read-only filesystem: ext4_page_mkwrite, XFS's write fault).
        return Err("race: mmap writer on a filesystem shut down or emergency read-only (the writer's page faults get SIGBUS)".into());
    }
    if m.emergency_ro && s.fs != FsKind::Ext4 {
        return Err("mount option: emergency read-only on a filesystem other than ext4".into());
    }
    Ok(Some(Down {
        emergency_ro: m.emergency_ro,
        shutdown: m.shutdown,
    }))
}

/// The name under /sys/block of the device holding `fd`'s filesystem (ext4's sysfs directory
/// /sys/fs/ext4/<s_id> has that name).
fn dev_name(fd: i32) -> Result<String, String> {
    // SAFETY: zeroed stat filled by fstat on our fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our fd.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!("fstat: {}", std::io::Error::last_os_error()));
    }
    let sys = format!(
        "/sys/dev/block/{}:{}",
        libc::major(st.st_dev),
        libc::minor(st.st_dev)
    );
    let real = fs::canonicalize(&sys).map_err(|e| format!("{sys}: {e}"))?;
    real.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| format!("{sys}: no device name"))
}

/// Bring the filesystem of `fd` (the call's open file; `mnt` its mount point) down as `d` says.
pub fn bring_down(fd: i32, d: Down, mnt: &Path) -> Result<(), String> {
    if d.emergency_ro {
        use nix::mount::{mount, MsFlags};
        mount(
            None::<&str>,
            mnt,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("errors=remount-ro"),
        )
        .map_err(|e| format!("remount {} errors=remount-ro: {e}", mnt.display()))?;
        let attr = format!("/sys/fs/ext4/{}/trigger_fs_error", dev_name(fd)?);
        fs::write(&attr, "diofuzz emergency read-only\n")
            .map_err(|e| format!("write {attr}: {e}"))?;
    }
    if d.shutdown {
        let flag: u32 = GOING_NOLOGFLUSH;
        // SAFETY: the ioctl reads one u32.
        if unsafe { libc::ioctl(fd, IOC_GOINGDOWN as _, &flag) } != 0 {
            return Err(format!(
                "shutdown ioctl (NOLOGFLUSH): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The observation of a call on a brought-down filesystem: the return value, the file position
/// the call left (-1 when llseek refuses, as XFS does), the trace events; nothing read back.
pub fn observation(
    plan: &Plan,
    ret: i64,
    pos_after: u64,
    events: Vec<super::tracefs::TraceEvent>,
    call_ns: u64,
    child_signal: Option<i32>,
) -> Observation {
    Observation {
        ret,
        write_pos: super::exec::landing(plan),
        ki_pos_after: pos_after,
        i_size: plan.i_size,
        events,
        call_ns,
        child_signal,
        ..Default::default()
    }
}

/// Run a brought-down plan on a filesystem of its own: make it, set up, open, bring down, call,
/// then unmount, release the loop device and search the image for the call's data. Returns the
/// observation and the number of NEW sectors found on the device.
pub fn run(
    sc: &mut Scratch,
    plan: &Plan,
    pre: &Prereqs,
    name: &str,
    tracer: &Tracer,
    before: super::exec::BeforeCall,
) -> Result<(Observation, u64), String> {
    // The key is this kind of scenario's alone (`own`); one left by an earlier error goes first.
    sc.retire(plan.key, |_| ())?;
    let mnt = sc.get(plan.key, pre)?.mnt.clone();
    let r = super::exec::execute_with(plan, &mnt, name, tracer, before);
    // Never used again: unmounted, released, searched and deleted, whatever the call did.
    let nonce = super::plan::nonce();
    let found = sc.retire(plan.key, |image| new_sectors(image, nonce))?;
    let obs = r?;
    let n = found.unwrap_or(Ok(0))?;
    Ok((obs, n))
}

/// Sectors of `image` that hold the NEW pattern with `nonce` (whatever their sector number: the
/// file offset is not the device offset).
pub fn new_sectors(image: &Path, nonce: u32) -> Result<u64, String> {
    let mut f = fs::File::open(image).map_err(|e| format!("open {}: {e}", image.display()))?;
    let tb = tag_byte(TAG_NEW);
    let nb = nonce.to_le_bytes();
    let is_new = |s: &[u8]| {
        s[0] == tb && &s[1..4] == b"DFZ" && s[12..16] == nb && s[16..].iter().all(|&b| b == tb)
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    let fd = f.as_raw_fd();
    let size = f.metadata().map_err(|e| e.to_string())?.len() as i64;
    let mut at: i64 = 0;
    while at < size {
        // SAFETY: lseek on our fd: skip the image's holes.
        let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if data < 0 {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) }.max(data);
        // SAFETY: as above.
        unsafe { libc::lseek(fd, data, libc::SEEK_SET) };
        let mut left = (hole - data) as usize;
        while left > 0 {
            let want = left.min(buf.len());
            f.read_exact(&mut buf[..want])
                .map_err(|e| format!("read {}: {e}", image.display()))?;
            n += buf[..want]
                .chunks_exact(SECTOR as usize)
                .filter(|s| is_new(s))
                .count() as u64;
            left -= want;
        }
        at = hole.max(at + 1);
    }
    Ok(n)
}

/// Kernel log lines the harness caused itself by bringing the filesystem down (dropped from the
/// scenario's O7 lines).
pub fn own_log_line(l: &str) -> bool {
    OWN_LOG.iter().any(|k| l.contains(k))
}

/// NEW sectors in the model's on-disk image after the call.
fn model_new(x: &Execution) -> u64 {
    x.after.on_disk.iter().filter(|&&t| t == TAG_NEW).count() as u64
}

/// The verdict of a brought-down scenario: return value (errno), the path taken (DIO, buffered,
/// XFS software atomic) and the call's data on the device.
pub fn outcome(
    id: String,
    s: &Scenario,
    plan: &Plan,
    x: &Execution,
    o: &Observation,
    on_device: u64,
) -> Outcome {
    // Only the return value, the path and the device are observable: the rest of the sides
    // (i_size, ki_pos, pages, statx) is not compared.
    let (m, k) = (model_side(x, s), super::compare::kernel_side(o, s));
    let mut mism = Vec::new();
    let mut add = |field, a, b| super::compare::differ(&mut mism, field, a, b);
    add("ret", m.ret.clone(), k.ret.clone());
    add("buffered", m.buffered.to_string(), k.buffered.to_string());
    add("dio", m.dio.to_string(), k.dio.to_string());
    if s.fs == FsKind::Xfs {
        add(
            "sw_atomic",
            m.sw_atomic.to_string(),
            k.sw_atomic.to_string(),
        );
    }
    if !s.request.read {
        add(
            "new_sectors_on_device",
            model_new(x).to_string(),
            on_device.to_string(),
        );
    }
    let down = plan.down.map_or("", |d| d.label());
    let (verdict, note) = if let Some(n) = unmodelled(x) {
        (Verdict::Unmodelled, n)
    } else if mism.is_empty() {
        (
            Verdict::Agree,
            format!("{down}: return value and path compared"),
        )
    } else if plan.racy {
        (
            Verdict::Racy,
            "mmap writer thread: outcome depends on timing".into(),
        )
    } else {
        (Verdict::Disagree, down.to_string())
    };
    // Nothing but the return value and the path is observable: the oracle over the kernel has
    // nothing to judge (no kernel findings).
    Outcome {
        mismatches: mism,
        model: Some(m),
        kernel: Some(k),
        model_findings: model_findings(x),
        ..super::compare::not_compared(id, s, note, verdict)
    }
}

/// C for the reproducer, right before the call: bring the filesystem of `cfd` (mounted on `mnt`)
/// down as `d` says.
pub fn c_bring_down(d: Down) -> String {
    let mut o = String::new();
    if d.emergency_ro {
        o.push_str(concat!(
            "\t/* ext4 emergency read-only: errors=remount-ro, then an ext4 error (ext4_handle_error) */\n",
            "\tif (syscall(SYS_mount, NULL, mnt, NULL, 32 /* MS_REMOUNT */ | 1024 /* MS_NOATIME */, \"errors=remount-ro\"))\n",
            "\t\tdie(\"remount errors=remount-ro\");\n",
            "\t{\n\t\tstruct stat st;\n\t\tchar sys[128], real[4096], attr[4200];\n",
            "\t\tif (fstat(cfd, &st))\n\t\t\tdie(\"fstat\");\n",
            "\t\tsnprintf(sys, sizeof(sys), \"/sys/dev/block/%u:%u\",\n\t\t\t (unsigned)(((st.st_dev >> 8) & 0xfff) | ((st.st_dev >> 32) & ~0xfffULL)),\n\t\t\t (unsigned)((st.st_dev & 0xff) | ((st.st_dev >> 12) & ~0xffULL)));\n",
            "\t\tif (!realpath(sys, real))\n\t\t\tdie(\"realpath /sys/dev/block\");\n",
            "\t\tsnprintf(attr, sizeof(attr), \"/sys/fs/ext4/%s/trigger_fs_error\", strrchr(real, '/') + 1);\n",
            "\t\tint t = open(attr, O_WRONLY);\n",
            "\t\tif (t < 0 || write(t, \"diofuzz emergency read-only\\n\", 28) != 28)\n\t\t\tdie(\"trigger_fs_error\");\n",
            "\t\tclose(t);\n\t}\n",
        ));
    }
    if d.shutdown {
        o.push_str(concat!(
            "\t/* shut down: XFS_IOC_GOINGDOWN / EXT4_IOC_SHUTDOWN with NOLOGFLUSH (nothing flushed) */\n",
            "\t{\n\t\tuint32_t going = 2;\n",
            "\t\tif (ioctl(cfd, _IOR('X', 125, uint32_t), &going))\n\t\t\tdie(\"shutdown ioctl\");\n\t}\n",
        ));
    }
    o
}

/// C for the reproducer, right after the call: only the return value can be compared on a
/// brought-down filesystem; the program ends there.
pub fn c_after_call(d: Down) -> String {
    format!(
        concat!(
            "\t/* The filesystem is {}: nothing can be read back (unmount it and do not reuse it). */\n",
            "\tif (expect_ret < 0 ? (ret == -1 && err == -expect_ret) : ret == expect_ret) {{\n",
            "\t\tprintf(\"REPRODUCED\\n\");\n\t\tverdict_code = 0;\n",
            "\t}} else {{\n",
            "\t\tprintf(\"differs: return value (expected %s)\\nNOT REPRODUCED\\n\", expect_ret_text);\n",
            "\t\tverdict_code = 1;\n\t}}\n",
            "\treturn verdict_code;\n",
        ),
        d.label()
    )
}

/// The reproducer's header line for a brought-down scenario.
pub fn c_header(d: Down) -> String {
    format!(
        " * The program makes the filesystem {} before the call (as root): run it on a\n * filesystem made for it, then unmount that filesystem; it cannot be used again.\n",
        d.label()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::Scenario;

    fn down(fs: FsKind, shutdown: bool, ro: bool) -> Scenario {
        let mut s = Scenario {
            fs,
            ..Default::default()
        };
        s.world.mount.shutdown = shutdown;
        s.world.mount.emergency_ro = ro;
        s
    }

    /// Shut-down worlds plan on both filesystems, emergency read-only on ext4, each with its
    /// [`Down`]; on the --device disk they are refused.
    #[test]
    fn plans_carry_the_down_state() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let p = super::super::plan::plan(&down(fs, true, false)).unwrap();
            assert_eq!(
                p.down,
                Some(Down {
                    emergency_ro: false,
                    shutdown: true
                })
            );
            assert!(p.key.own && p.key.label().ends_with("-own"));
            let p = super::super::plan::plan(&down(fs, false, false)).unwrap();
            assert_eq!(p.down, None);
            assert!(!p.key.own);
        }
        let p = super::super::plan::plan(&down(FsKind::Ext4, false, true)).unwrap();
        assert_eq!(p.down.unwrap().label(), "emergency read-only");
        let p = super::super::plan::plan(&down(FsKind::Ext4, true, true)).unwrap();
        assert_eq!(
            p.down.unwrap().label(),
            "emergency read-only, then shut down"
        );
        assert!(super::super::plan::plan(&down(FsKind::Xfs, false, true))
            .unwrap_err()
            .contains("other than ext4"));
        let d = Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 7,
        };
        let mut s = down(FsKind::Ext4, true, false);
        s.world.device.awu_min = 4096;
        s.world.device.awu_max = 65536;
        s.world.device.dma_alignment = 7;
        s.world.lbs_bits = 9;
        let e = super::super::plan::plan_on(&s, Some(&d)).unwrap_err();
        assert!(e.contains("--device disk"), "{e}");
    }

    /// The generator draws shut-down worlds on both filesystems and emergency read-only ext4
    /// worlds, each valid and planned with its [`Down`]; never on the --device disk.
    #[test]
    fn generated_down_worlds() {
        use diofuzz::generators::random::{generate, generate_on};
        let (mut sd, mut ro) = ([0u32; 2], 0u32);
        for (k, fs) in [FsKind::Ext4, FsKind::Xfs].into_iter().enumerate() {
            for i in 0..2000 {
                let s = generate(5, i, fs);
                let m = s.world.mount;
                if !(m.shutdown || m.emergency_ro) {
                    continue;
                }
                assert!(diofuzz::validity::violations(&s).is_empty(), "{i}");
                let p = super::super::plan::plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                let d = p.down.unwrap();
                assert_eq!((d.shutdown, d.emergency_ro), (m.shutdown, m.emergency_ro));
                sd[k] += m.shutdown as u32;
                ro += m.emergency_ro as u32;
            }
        }
        assert!(sd[0] > 20 && sd[1] > 20 && ro > 20, "{sd:?} {ro}");
        let disk = Disk {
            awu_min: 4096,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        assert!((0..500).all(|i| {
            let m = generate_on(5, i, FsKind::Ext4, Some(&disk), 0).world.mount;
            !m.shutdown && !m.emergency_ro
        }));
    }

    /// The image search finds the NEW sectors of this nonce only, at any offset, skipping holes.
    #[test]
    fn new_sectors_of_this_nonce() {
        use super::super::plan::{pattern, set_nonce};
        use std::io::{Seek, SeekFrom, Write};
        let dir =
            std::env::temp_dir().join(format!("diofuzz-shutdown-test-{}", std::process::id()));
        let _ = fs::remove_file(&dir);
        let mut f = fs::File::create(&dir).unwrap();
        f.set_len(8 << 20).unwrap();
        set_nonce(41);
        let mut b = vec![0u8; 3 * 512];
        pattern(TAG_NEW, 4096, &mut b);
        f.seek(SeekFrom::Start(5 << 20)).unwrap();
        f.write_all(&b).unwrap();
        // OLD data and another nonce's NEW data do not count.
        pattern(diofuzz::model::TAG_OLD, 0, &mut b);
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(&b).unwrap();
        set_nonce(42);
        pattern(TAG_NEW, 0, &mut b);
        f.seek(SeekFrom::Start(2 << 20)).unwrap();
        f.write_all(&b).unwrap();
        drop(f);
        assert_eq!(new_sectors(&dir, 41).unwrap(), 3);
        assert_eq!(new_sectors(&dir, 42).unwrap(), 3);
        assert_eq!(new_sectors(&dir, 43).unwrap(), 0);
        set_nonce(0);
        fs::remove_file(&dir).unwrap();
    }

    /// The comparison: the model's -EIO against the kernel's return value and the data found.
    #[test]
    fn outcome_compares_ret_path_and_device_data() {
        let s = down(FsKind::Xfs, true, false);
        let p = super::super::plan::plan(&s).unwrap();
        let v = diofuzz::variant::by_name("v6.18").unwrap();
        let x = diofuzz::model::run(&s, v);
        assert_eq!(x.ret, -5);
        let o = observation(&p, -5, 0, Vec::new(), 1, None);
        let oc = outcome("t".into(), &s, &p, &x, &o, 0);
        assert_eq!(oc.verdict, Verdict::Agree, "{:?}", oc.mismatches);
        // A write that went through, or data found on the device, disagrees.
        let o2 = observation(&p, 4096, 4096, Vec::new(), 1, None);
        let oc = outcome("t".into(), &s, &p, &x, &o2, 8);
        assert_eq!(oc.verdict, Verdict::Disagree);
        let fields: Vec<_> = oc.mismatches.iter().map(|m| m.field).collect();
        assert_eq!(fields, vec!["ret", "new_sectors_on_device"]);
    }

    /// The kernel log lines the harness causes (6.12.117 and 6.18.44 wording) are its own, a
    /// real ext4 error elsewhere is not.
    #[test]
    fn own_log_lines() {
        for l in [
            "[   46.264466] EXT4-fs error (device loop0): trigger_test_error:129: comm repro: diofuzz emergency read-only",
            "[   46.264466] Aborting journal on device loop0-8.",
            "[   46.276536] EXT4-fs (loop0): Remounting filesystem read-only",
            "XFS (loop0): User initiated shutdown received.",
            "XFS (loop0): Log I/O Error (0x6) detected at xfs_fs_goingdown+0x63/0xb0 (fs/xfs/xfs_fsops.c:475).  Shutting down filesystem.",
            "XFS (loop0): Please unmount the filesystem and rectify the problem(s)",
        ] {
            assert!(own_log_line(l), "{l}");
        }
        assert!(!own_log_line(
            "EXT4-fs error (device loop0): ext4_validate_block_bitmap:441: comm x: bg 0: bad block bitmap checksum"
        ));
        assert!(!own_log_line(
            "WARNING: CPU: 0 PID: 1 at fs/iomap/direct-io.c:123"
        ));
    }

    /// The C fragments: the ioctl with NOLOGFLUSH, the sysfs trigger after the remount.
    #[test]
    fn c_fragments() {
        let both = Down {
            emergency_ro: true,
            shutdown: true,
        };
        let c = c_bring_down(both);
        let r = c.find("errors=remount-ro").unwrap();
        let t = c.find("trigger_fs_error").unwrap();
        let i = c.find("_IOR('X', 125, uint32_t)").unwrap();
        assert!(r < t && t < i);
        assert!(c.contains("going = 2"));
        assert!(c_after_call(both).contains("return verdict_code"));
        assert_eq!(
            IOC_GOINGDOWN,
            (2 << 30) | (4 << 16) | ((b'X' as u64) << 8) | 125
        );
    }

    /// The reproducers of brought-down scenarios build with -Wall -Werror, bring the filesystem
    /// down after opening the file and before the call, and stop after the call.
    #[test]
    fn reproducers_compile() {
        for (i, s) in [
            down(FsKind::Xfs, true, false),
            down(FsKind::Ext4, false, true),
            down(FsKind::Ext4, true, true),
        ]
        .iter()
        .enumerate()
        {
            let c = super::super::repro::c_program(s).unwrap();
            let open = c.find("int cfd = open(path").unwrap();
            let bring = c
                .find("_IOR('X', 125")
                .or(c.find("trigger_fs_error"))
                .unwrap();
            let call = c.find("ret = pwritev2(cfd").unwrap();
            let after = c.find("nothing can be read back").unwrap();
            assert!(open < bring && bring < call && call < after, "{i}");
            assert!(c.contains("made for it, then unmount"));
            super::super::repro::assert_c_compiles(
                &format!("down{i}"),
                &c,
                &["-Wall", "-Werror", "-O1"],
            );
        }
    }
}
