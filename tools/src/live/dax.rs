// SPDX-License-Identifier: GPL-2.0-only
//! DAX worlds on a real kernel (`live --pmem DEV`, the lab's `ext4-dax` and `xfs-dax` groups):
//! the scenario's filesystem is made on a DAX-capable pmem device and mounted with
//! `-o dax=always` (world.mount.dax with a DAX inode) or `-o dax=inode` (a DAX inode without the
//! mount option: the file is created in a directory carrying `FS_XFLAG_DAX`, which new inodes
//! inherit, so S_DAX is set when the inode is made — ext4_set_inode_flags(init) /
//! xfs_diflags_to_iflags(init); a flag set on an existing inode takes effect only when the inode
//! is next loaded). A non-DAX file on the pmem device lives beside that directory.
//!
//! Before the call, `statx` must report `STATX_ATTR_DAX` exactly when the scenario's inode is DAX
//! (else the scenario is skipped: the world was not built), and after it the path the kernel took
//! is compared with the model's: a DAX write shows as an `iomap_iter` event with the `DAX` flag
//! (`dax_iomap_rw`: `IOMAP_DAX | IOMAP_WRITE`), the model's as `dax_calls`.
//!
//! Geometry (read in 7.3.4 drivers/nvdimm/pmem.c `pmem_attach_disk`): no atomic write unit,
//! logical block 512, physical block PAGE_SIZE, so a DAX world has no device atomic units
//! (validity rule W1) and RWF_ATOMIC is refused at open (no FMODE_CAN_ATOMIC_WRITE: -EOPNOTSUPP).

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::compare::{Mismatch, Outcome, Verdict};
use super::exec::Observation;
use super::plan::{Disk, Plan, Unsupported};
use diofuzz::model::Execution;
use diofuzz::scenario::Scenario;

/// The reason a DAX world is refused without `--pmem`.
pub const NEEDS_PMEM: &str = "mount option dax (needs a DAX-capable device: live --pmem, lab groups ext4-dax and xfs-dax; not a loop device or the scsi_debug disk)";

/// The directory (under the mount) whose FS_XFLAG_DAX new files inherit (`dax=inode`).
pub const DAX_DIR: &str = "dax-inherit";

/// The note of a scenario whose write went through dax_iomap_rw on both sides.
pub const DAX_NOTE: &str = "DAX write (dax_iomap_rw) on both";

/// include/uapi/linux/fs.h FS_XFLAG_DAX; include/uapi/linux/stat.h STATX_ATTR_DAX.
const FS_XFLAG_DAX: u32 = 0x0000_8000;
const STATX_ATTR_DAX: u64 = 0x0020_0000;

/// How the pmem filesystem is mounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DaxMount {
    /// Not on the pmem device.
    #[default]
    Off,
    /// `-o dax=inode`: S_DAX from the inode's FS_XFLAG_DAX.
    Inode,
    /// `-o dax=always`: every regular file DAX.
    Always,
}

impl DaxMount {
    pub fn label(self) -> &'static str {
        match self {
            DaxMount::Off => "",
            DaxMount::Inode => "-daxinode",
            DaxMount::Always => "-dax",
        }
    }
    pub fn mount_data(self) -> Option<&'static str> {
        self.mount_data_with(false, false)
    }
    /// With the journalling options of a non-DAX ext4 file on the pmem device: data=journal
    /// (dax=inode only: ext4 refuses "both data=journal and dax" for dax=always) or nodelalloc
    /// (a +j inode: ext4_inode_journal_mode honours the flag only without delalloc).
    pub fn mount_data_with(self, data_journal: bool, nodelalloc: bool) -> Option<&'static str> {
        match (self, data_journal, nodelalloc) {
            (DaxMount::Off, _, _) => None,
            (DaxMount::Inode, true, _) => Some("dax=inode,data=journal"),
            (DaxMount::Inode, false, true) => Some("dax=inode,nodelalloc"),
            (DaxMount::Inode, false, false) => Some("dax=inode"),
            (DaxMount::Always, _, true) => Some("dax=always,nodelalloc"),
            (DaxMount::Always, _, false) => Some("dax=always"),
        }
    }
}

/// Check that `dev` is a pmem disk with DAX that is not mounted or held, and read its geometry
/// (`live --pmem` formats it).
pub fn pmem_info(dev: &Path) -> Result<Disk, String> {
    let name = fs::canonicalize(dev)
        .map_err(|e| format!("{}: {e}", dev.display()))?
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let whole = name.len() > 4 && name[4..].chars().all(|c| c.is_ascii_digit());
    if !name.starts_with("pmem") || !whole {
        return Err(format!(
            "{}: not a whole pmem disk (`live --pmem` formats it: give /dev/pmemN)",
            dev.display()
        ));
    }
    let sys = PathBuf::from(format!("/sys/class/block/{name}"));
    let rd = |f: &str| {
        fs::read_to_string(sys.join(f))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{}: read {f}: {e}", dev.display()))
    };
    if rd("queue/dax")? != "1" {
        return Err(format!(
            "{}: queue/dax is not 1 (no DAX support on this device)",
            dev.display()
        ));
    }
    let devnum = rd("dev")?;
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mi
        .lines()
        .any(|l| l.split(' ').nth(2) == Some(devnum.as_str()))
    {
        return Err(format!("{}: mounted; unmount it first", dev.display()));
    }
    if fs::read_dir(sys.join("holders")).map_or(0, |d| d.count()) > 0 {
        return Err(format!(
            "{}: held by another device (dm, md): refusing to touch it",
            dev.display()
        ));
    }
    let num = |f: &str| -> Result<u32, String> {
        rd(f)?
            .parse()
            .map_err(|_| format!("{}: {f} is not a number", dev.display()))
    };
    let lbs = num("queue/logical_block_size")?;
    if !lbs.is_power_of_two() {
        return Err(format!("{}: logical block {lbs}", dev.display()));
    }
    Ok(Disk {
        awu_min: num("queue/atomic_write_unit_min_bytes").unwrap_or(0),
        awu_max: num("queue/atomic_write_unit_max_bytes").unwrap_or(0),
        lbs_bits: lbs.trailing_zeros() as u8,
        dma_alignment: num("queue/dma_alignment")?,
    })
}

/// The mount a scenario needs on the pmem device: dax=always for a dax mount (its inode DAX),
/// dax=inode for a DAX inode without the mount option and for a non-DAX file.
pub fn mount_of(s: &Scenario) -> Result<DaxMount, Unsupported> {
    let (m, f) = (s.world.mount.dax, s.world.inode.dax);
    match (m, f) {
        (true, true) => Ok(DaxMount::Always),
        (false, _) => Ok(DaxMount::Inode),
        // ext4_should_enable_dax: a file whose data is journalled is not DAX under dax=always.
        (true, false) if s.fs == diofuzz::scenario::FsKind::Ext4 && f_journal(s) => {
            Ok(DaxMount::Always)
        }
        // ... nor an encrypted one: __ext4_new_inode sets EXT4_ENCRYPT_FL (inherited from the
        // encrypted directory) before ext4_set_inode_flags(inode, true), the only call that
        // sets S_DAX (read in 6.12.117, 7.2.12 and 7.3.4).
        (true, false) if s.fs == diofuzz::scenario::FsKind::Ext4 && f_encrypted(s) => {
            Ok(DaxMount::Always)
        }
        (true, false) if s.world.inode.verity => Err("dax mount with a verity inode (not built: live builds no verity inode on any device, and only reads are valid worlds there, W5)".into()),
        // A +j file (not DAX) whose +j goes after open stays not DAX: S_DAX is decided when
        // the inode is loaded (ext4_set_inode_flags with init), and ext4_ioctl_setflags refuses
        // a journal-flag change (-EBUSY) only for an IS_DAX inode, so `chattr -j` goes through
        // and leaves S_DAX clear (rule W22 judges the inode at open). Built on a filesystem of
        // its own: `dax=always,nodelalloc`, then `mount -o remount,delalloc` and `chattr -j`
        // after open (race::plan_after_open).
        (true, false) if s.fs == diofuzz::scenario::FsKind::Ext4 && s.inode_at_open().journal_data => {
            Ok(DaxMount::Always)
        }
        (true, false) => Err("dax mount with a non-DAX inode other than a journalled-data or encrypted one (dax=always makes every regular file DAX, validity rule W22, but ext4's journalled-data, inline, encrypted and verity ones)".into()),
    }
}

/// The +j inode flag in effect at open and at the write (a +j after open is on an inode that
/// was not DAX at open for another reason: encrypted under dax=always, or on dax=inode).
fn f_journal(s: &Scenario) -> bool {
    s.world.inode.journal_data && s.inode_at_open().journal_data
}

/// An encrypted inode at open and at the write (encryption cannot change after open: W9).
fn f_encrypted(s: &Scenario) -> bool {
    s.world.inode.encrypted && s.inode_at_open().encrypted
}

/// Plan a scenario on the pmem device `disk` (its geometry, from [`pmem_info`]): the plan of the
/// same world without the DAX flags on that disk (set-up steps are plain writes, fallocate and
/// clones, which a DAX file takes as they come), mounted as [`mount_of`] says.
pub fn plan_pmem(s: &Scenario, disk: Option<&Disk>) -> Result<Plan, Unsupported> {
    let d = disk.ok_or("a pmem scenario without the pmem device")?;
    let mode = mount_of(s)?;
    if s.world.inode.dax && s.inode_at_open().dax != s.world.inode.dax {
        return Err("DAX flag changed after open (no such world: W9)".into());
    }
    if let Some((open, after)) = super::race::split(s)? {
        if after.remount_delalloc {
            // chattr -j after open: the world at open on pmem (its +j file not DAX, on a
            // nodelalloc mount), then the remount and the chattr (race::plan_after_open).
            return super::race::plan_after_open(s, &open, after, |o| plan_pmem(o, disk));
        }
    }
    let mut plain = s.clone();
    plain.world.mount.dax = false;
    plain.world.inode.dax = false;
    plain.world.device.no_bio_split = false;
    let mut p = super::plan::plan_on(&plain, Some(d))?;
    if (p.key.data_journal || p.key.nodelalloc) && s.world.inode.dax {
        // A DAX inode cannot journal data (W3).
        return Err("journalled data on a DAX inode (no such world: W3)".into());
    }
    if p.key.data_journal && mode == DaxMount::Always {
        return Err("data=journal with dax=always (ext4 refuses the mount: W3)".into());
    }
    // chattr +j after open: only on an inode that is not DAX (the check above: a DAX inode
    // never journals, rule W3 — ext4_ioctl_setflags returns -EBUSY for IS_DAX before
    // ext4_change_inode_journal_flag, and S_DAX is set only when the inode is loaded); the race
    // plan asked for nodelalloc and a small-folio filesystem (super::race::plan_after_open).
    p.key.dax = mode;
    Ok(p)
}

/// The directory the scenario's file is made in under the pmem filesystem mounted at `mnt`: the
/// [`DAX_DIR`] (made once, with FS_XFLAG_DAX) for a DAX inode on a dax=inode mount, else `mnt`.
pub fn file_dir(mnt: &Path, s: &Scenario) -> Result<PathBuf, String> {
    if s.world.mount.dax || !s.world.inode.dax {
        return Ok(mnt.to_path_buf());
    }
    let d = mnt.join(DAX_DIR);
    if !d.is_dir() {
        fs::create_dir(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
        let f = fs::File::open(&d).map_err(|e| format!("open {}: {e}", d.display()))?;
        super::cow::set_xflags(f.as_raw_fd(), FS_XFLAG_DAX)
            .map_err(|e| format!("{}: FS_XFLAG_DAX: {e}", d.display()))?;
    }
    Ok(d)
}

/// Is the file at `path` DAX (statx STATX_ATTR_DAX)?
pub fn is_dax_file(path: &Path) -> Result<bool, String> {
    let c = super::scratch::cpath(path);
    // SAFETY: a zeroed statx buffer filled by the call.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if r != 0 {
        return Err(format!(
            "statx {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if stx.stx_attributes_mask & STATX_ATTR_DAX == 0 {
        return Err(format!(
            "{}: the kernel does not report STATX_ATTR_DAX",
            path.display()
        ));
    }
    Ok(stx.stx_attributes & STATX_ATTR_DAX != 0)
}

/// Between the set-up and the call: the file must be DAX exactly when the scenario says so.
pub fn check_file(path: &Path, s: &Scenario) -> Result<(), String> {
    let dax = is_dax_file(path)?;
    if dax != s.world.inode.dax {
        return Err(format!(
            "{}: the file is {}DAX, the scenario's inode {}",
            super::exec::UNAVAILABLE,
            if dax { "" } else { "not " },
            if s.world.inode.dax { "is" } else { "is not" }
        ));
    }
    Ok(())
}

/// Did the call copy data through `dax_iomap_rw`: an iomap_iter event with the WRITE flag whose
/// caller is dax_iomap_rw, or whose flags name DAX? The caller tells on every kernel: 6.12.117's
/// trace strings have no name for IOMAP_DAX (its flags print as `WRITE|0x100`, measured), and
/// the bit itself is not the same in every version.
pub fn kernel_dax_write(obs: &Observation) -> bool {
    obs.events.iter().any(|e| {
        let Some(f) = e.field("flags").filter(|_| e.name == "iomap_iter") else {
            return false;
        };
        let mut it = f.split('|');
        it.clone().any(|x| x == "WRITE")
            && (it.any(|x| x == "DAX")
                || e.field("caller")
                    .is_some_and(|c| c.starts_with("dax_iomap_rw+")))
    })
}

/// Compare the DAX path: the model's `dax_iomap_rw` calls against the kernel's DAX iomap_iter.
/// A difference is a disagreement (field `dax`).
pub fn annotate(oc: &mut Outcome, x: &Execution, obs: &Observation) {
    let (m, k) = (x.dax_calls > 0, kernel_dax_write(obs));
    if m == k {
        if k {
            let sep = if oc.note.is_empty() { "" } else { "; " };
            oc.note = format!("{}{sep}{DAX_NOTE}", oc.note);
        }
        return;
    }
    oc.mismatches.push(Mismatch {
        field: "dax",
        model: m.to_string(),
        kernel: k.to_string(),
    });
    if oc.verdict == Verdict::Agree {
        oc.verdict = Verdict::Disagree;
    }
}

// --- the C reproducer (tools/src/live/repro.rs) ------------------------------------------------

/// Is `s` a DAX world (the C program then needs the pmem filesystem)?
pub fn is_dax_world(s: &Scenario) -> bool {
    s.world.mount.dax || s.world.inode.dax
}

/// Does the scenario run on the pmem device: a DAX world, or a file on a bio-based disk that
/// never splits (`world.device.no_bio_split`: pmem is the one live and the lab have for files;
/// a block device with stable writes is a zram device, super::bdev_state::on_zram).
pub fn is_pmem_world(s: &Scenario) -> bool {
    is_dax_world(s) || (s.world.device.no_bio_split && !super::bdev_state::on_zram(s))
}

/// The plan the C program follows for a DAX world: [`plan_pmem`] on a pmem device of the
/// scenario's own geometry (the program is run on whatever DAX filesystem the user made).
pub fn repro_plan(s: &Scenario) -> Result<Plan, Unsupported> {
    let d = Disk {
        awu_min: 0,
        awu_max: 0,
        lbs_bits: s.world.lbs_bits,
        dma_alignment: s.world.device.dma_alignment,
    };
    plan_pmem(s, Some(&d))
}

/// What the C program's header says of the filesystem it needs.
pub fn c_fsdesc(p: &Plan) -> String {
    match p.key.mount_data() {
        Some(o) if p.key.dax != DaxMount::Off => format!(
            ", on a DAX-capable device (pmem: /sys/block/pmemN/queue/dax = 1), mounted with -o {o}"
        ),
        _ => String::new(),
    }
}

/// C, right after the program created its (empty) file `fd` at `path`: on a dax=inode mount a
/// DAX inode gets FS_XFLAG_DAX, and the file is closed and opened again — the flag change marks
/// the inode I_DONTCACHE (d_mark_dontcache), so the last close evicts it and the next open loads
/// it with S_DAX (ext4_set_inode_flags / xfs_diflags_to_iflags with init).
pub fn c_after_create(s: &Scenario) -> &'static str {
    if s.world.inode.dax && !s.world.mount.dax {
        concat!(
            "\t{\n",
            "\t\tunsigned int fa[7] = { 0 }; /* struct fsxattr: fsx_xflags first */\n",
            "\t\tif (ioctl(fd, 0x801C581FUL /* FS_IOC_FSGETXATTR */, fa))\n",
            "\t\t\tdie(\"FS_IOC_FSGETXATTR\");\n",
            "\t\tfa[0] |= 0x8000; /* FS_XFLAG_DAX */\n",
            "\t\tif (ioctl(fd, 0x401C5820UL /* FS_IOC_FSSETXATTR */, fa))\n",
            "\t\t\tdie(\"FS_IOC_FSSETXATTR (FS_XFLAG_DAX)\");\n",
            "\t\tclose(fd);\n",
            "\t\tfd = open(path, O_RDWR);\n",
            "\t\tif (fd < 0)\n",
            "\t\t\tdie(\"reopen\");\n",
            "\t}\n",
        )
    } else {
        ""
    }
}

/// C, after the set-up: the file must be DAX exactly when the scenario's inode is (statx
/// STATX_ATTR_DAX), else the program could not run the scenario (exit 2).
pub fn c_check(s: &Scenario) -> String {
    if !is_pmem_world(s) {
        return String::new();
    }
    let want = s.world.inode.dax as u8;
    let not = if want == 1 { "" } else { " not" };
    [
        "\t{\n".to_string(),
        "\t\tunsigned char sx[256] __attribute__((aligned(8)));\n".into(),
        "\t\tuint64_t attr = 0, mask = 0;\n".into(),
        "\t\tmemset(sx, 0, sizeof(sx));\n".into(),
        "\t\tif (syscall(SYS_statx, fd, \"\", AT_EMPTY_PATH, 0x7ffU /* STATX_BASIC_STATS */, sx) == 0) {\n".into(),
        "\t\t\tmemcpy(&attr, sx + 8, 8);\n".into(),
        "\t\t\tmemcpy(&mask, sx + 56, 8); /* stx_attributes_mask */\n".into(),
        "\t\t}\n".into(),
        "\t\tint dax = !!(attr & 0x200000ULL /* STATX_ATTR_DAX */);\n".into(),
        "\t\tprintf(\"STATX_ATTR_DAX: %s\\n\", dax ? \"set\" : \"clear\");\n".into(),
        format!("\t\tif (!(mask & 0x200000ULL) || dax != {want}) {{\n"),
        format!("\t\t\tprintf(\"COULD NOT RUN: the file is %sDAX; the scenario's inode is{not} (run it on a filesystem on a DAX-capable device, mounted as the header says)\\n\", dax ? \"\" : \"not \");\n"),
        "\t\t\tunlink(path);\n".into(),
        "\t\t\tunlink(donor);\n".into(),
        "\t\t\treturn 2;\n".into(),
        "\t\t}\n".into(),
        "\t}\n".into(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::tracefs::TraceEvent;
    use diofuzz::scenario::FsKind;

    fn pmem() -> Disk {
        diofuzz::generators::dax::LAB_PMEM
    }

    #[test]
    fn mounts_and_refusals() {
        let mut s = Scenario::default();
        s.world.lbs_bits = 9;
        s.request.len = 4096;
        // A plain file on pmem: dax=inode mount, file outside the DAX directory.
        let p = plan_pmem(&s, Some(&pmem())).unwrap();
        assert_eq!(p.key.dax, DaxMount::Inode);
        assert!(p.key.disk);
        assert_eq!(p.key.mount_data(), Some("dax=inode"));
        assert_eq!(file_dir(Path::new("/m"), &s).unwrap(), Path::new("/m"));
        s.world.inode.dax = true;
        let p = plan_pmem(&s, Some(&pmem())).unwrap();
        assert_eq!(p.key.dax, DaxMount::Inode);
        s.world.mount.dax = true;
        let p = plan_pmem(&s, Some(&pmem())).unwrap();
        assert_eq!(p.key.dax, DaxMount::Always);
        assert_eq!(p.key.mount_data(), Some("dax=always"));
        assert!(p.key.label().ends_with("-disk-dax"), "{}", p.key.label());
        assert_eq!(file_dir(Path::new("/m"), &s).unwrap(), Path::new("/m"));
        // Without the device, and a dax mount whose inode is not DAX: refused with the reason.
        assert!(super::super::plan::plan_on(&s, None)
            .unwrap_err()
            .contains("DAX-capable device"));
        assert!(plan_pmem(&s, None).unwrap_err().contains("pmem device"));
        s.world.inode.dax = false;
        assert!(plan_pmem(&s, Some(&pmem()))
            .unwrap_err()
            .contains("non-DAX inode"));
        // ... but an encrypted ext4 file is not DAX under dax=always (__ext4_new_inode,
        // ext4_should_enable_dax): made with -O encrypt, mounted dax=always.
        s.world.inode.encrypted = true;
        let p = plan_pmem(&s, Some(&pmem())).unwrap();
        assert_eq!(p.key.mount_data(), Some("dax=always"));
        assert!(p.key.label().ends_with("-encrypt-dax"), "{}", p.key.label());
        s.world.inode.encrypted = false;
        // The pmem's geometry must be the scenario's (no atomic units: W1 anyway).
        let mut t = Scenario::default();
        t.world.inode.dax = true;
        t.world.lbs_bits = 12;
        t.request.len = 4096;
        assert!(plan_pmem(&t, Some(&pmem()))
            .unwrap_err()
            .contains("logical block size"));
        t.fs = FsKind::Xfs;
        t.world.lbs_bits = 9;
        assert_eq!(plan_pmem(&t, Some(&pmem())).unwrap().key.fs, FsKind::Xfs);
    }

    #[test]
    fn generated_dax_worlds_are_expressible_on_pmem() {
        let mut why = std::collections::BTreeMap::new();
        let (mut ok, mut dax, mut always, mut journalled, mut jalways) = (0, 0, 0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..300 {
                let s = diofuzz::generators::dax::generate_dax(1, i, fs, &pmem());
                match plan_pmem(&s, Some(&pmem())) {
                    Ok(p) => {
                        ok += 1;
                        dax += s.world.inode.dax as u32;
                        always += (p.key.dax == DaxMount::Always) as u32;
                        assert_eq!(p.key.dax == DaxMount::Always, s.world.mount.dax);
                        assert!(p.key.disk);
                        // Journalled data only on a non-DAX ext4 file (flags::journalled_on_pmem).
                        let j = p.key.data_journal || p.key.nodelalloc;
                        // (+j at open and cleared after it: nodelalloc, remounted delalloc)
                        let jopen = s.inode_at_open().journal_data;
                        assert_eq!(
                            j,
                            s.world.mount.data_journal || s.world.inode.journal_data || jopen
                        );
                        assert!(!j || !s.world.inode.dax);
                        journalled += j as u32;
                        jalways += (j && p.key.dax == DaxMount::Always) as u32;
                    }
                    Err(e) => *why.entry(e).or_insert(0) += 1,
                }
            }
        }
        // Every generated DAX world is built (shared blocks by cloning; no CoW fork at rest),
        // DAX files dominate (fewer since session 8 draws chattr -j after open under dax=always).
        assert!(
            ok > 590 && dax > 360 && always > 200 && journalled > 30 && jalways > 10,
            "{ok} {dax} {always} {journalled} {jalways} {why:?}"
        );
    }

    #[test]
    fn encrypted_files_under_dax_always_and_jflag_after_open_are_planned() {
        use crate::live::inode_kind::InodeKind;
        use crate::live::plan::FS_JOURNAL_DATA_FL;
        use diofuzz::scenario::Race;
        let (mut enc, mut jenc, mut jplain) = (0, 0, 0);
        for i in 0..600 {
            let s = diofuzz::generators::dax::generate_dax(11, i, FsKind::Ext4, &pmem());
            let j = s.has_race(Race::InodeFlagChangedAfterOpen(1)) && s.world.inode.journal_data;
            let enc_always = s.world.mount.dax && s.world.inode.encrypted;
            if !enc_always && !j {
                continue;
            }
            let p = plan_pmem(&s, Some(&pmem())).unwrap_or_else(|e| panic!("{i}: {e}"));
            if s.world.inode.encrypted {
                // Made with -O encrypt, mounted dax=always; the file is not DAX (checked by
                // statx before the call: check_file).
                assert_eq!(p.key.inode_kind, InodeKind::Encrypted, "{i}");
                assert_eq!(p.key.dax, DaxMount::Always, "{i}");
                assert!(!s.world.inode.dax);
                enc += 1;
            }
            if j {
                // chattr +j through the call's file, on a nodelalloc mount.
                assert_ne!(p.call.after_open.set & FS_JOURNAL_DATA_FL, 0, "{i}");
                let want = if s.world.inode.encrypted {
                    jenc += 1;
                    "dax=always,nodelalloc"
                } else {
                    jplain += 1;
                    "dax=inode,nodelalloc"
                };
                assert_eq!(p.key.mount_data(), Some(want), "{i}");
                // No large folios before 6.19 (an inline-data filesystem's +j after open is
                // refused on 6.16 - 6.18: race::refuse_on_release).
                let inline = p.key.inode_kind == InodeKind::Inline;
                assert!(crate::live::race::small_folios(&p) || inline, "{i}");
            }
        }
        assert!(
            enc > 40 && jenc > 15 && jplain > 15,
            "{enc} {jenc} {jplain}"
        );
        // A DAX inode never gets +j after open (ext4_ioctl_setflags: -EBUSY; rule W3).
        let mut s = Scenario::default();
        s.world.lbs_bits = 9;
        s.request.len = 4096;
        s.world.inode.dax = true;
        s.world.inode.journal_data = true;
        s.races.push(Race::InodeFlagChangedAfterOpen(1));
        assert!(!diofuzz::validity::is_valid(&s));
        assert!(plan_pmem(&s, Some(&pmem())).unwrap_err().contains("W3"));
    }

    /// `chattr -j` after open under `dax=always`: the +j file is made not DAX on a
    /// `dax=always,nodelalloc` filesystem of its own (the pmem is formatted for it and retired
    /// after it), remounted with delalloc and `chattr -j` after open; the file stays not DAX
    /// (ext4_ioctl_setflags: -EBUSY only for IS_DAX; S_DAX set only at inode load).
    #[test]
    fn jflag_cleared_after_open_under_dax_always_is_planned() {
        use crate::live::plan::FS_JOURNAL_DATA_FL;
        use diofuzz::scenario::{Extent, PageState, Race};
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.lbs_bits = 9;
        s.world.i_size = 8192;
        s.world.blocks = vec![Default::default(); 2];
        s.world.blocks[0].kind = Extent::Written;
        s.request.len = 4096;
        s.world.mount.dax = true;
        s.races.push(Race::InodeFlagChangedAfterOpen(1));
        assert!(s.inode_at_open().journal_data && !s.world.inode.journal_data);
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        assert_eq!(mount_of(&s), Ok(DaxMount::Always));
        let p = plan_pmem(&s, Some(&pmem())).unwrap();
        assert_eq!(p.key.mount_data(), Some("dax=always,nodelalloc"));
        assert!(p.key.disk && p.key.own && p.key.nodelalloc);
        let a = &p.call.after_open;
        assert!(a.remount_delalloc);
        assert_eq!((a.set, a.clear), (0, FS_JOURNAL_DATA_FL));
        // The set-up makes the file +j (inherited from its directory) at open.
        assert!(p.key.label().contains("-dax"), "{}", p.key.label());
        // Clean and dirty pages are built (as on a loop device: super::jflag_pages), a held
        // one is not (nothing holds pmem's writes).
        s.world.pages = vec![PageState::Clean];
        assert!(plan_pmem(&s, Some(&pmem())).is_ok());
        s.world.pages = vec![PageState::Dirty];
        assert!(plan_pmem(&s, Some(&pmem())).is_ok());
        s.world.pages = vec![PageState::MappedDirty];
        assert!(plan_pmem(&s, Some(&pmem()))
            .unwrap_err()
            .contains("on pmem"));
        s.world.pages.clear();
        // On the atomic (scsi_debug) disk too since session 9: Scratch::retire formats it
        // again for the next scenario.
        s.world.mount.dax = false;
        let p = super::super::plan::plan_on(&s, Some(&pmem())).unwrap();
        assert!(p.key.disk && p.key.own && p.call.after_open.remount_delalloc);
        // The C reproducer remounts and clears the flag after open, on a dax=always mount.
        s.world.mount.dax = true;
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(c.contains("mounted with -o dax=always,nodelalloc"), "{c}");
        let remount = c.find("\"delalloc\"").unwrap();
        let clear = c.find("FS_IOC_SETFLAGS after open").unwrap();
        assert!(remount < clear, "{c}");
        assert!(c.contains("STATX_ATTR_DAX"), "{c}");
        crate::live::repro::assert_c_compiles("djdax", &c, &["-O2", "-fsyntax-only"]);
        // The pmem generator draws it (a stream of its own).
        let n = (0..600)
            .map(|i| diofuzz::generators::dax::generate_dax(3, i, FsKind::Ext4, &pmem()))
            .filter(|g| {
                g.world.mount.dax
                    && !g.world.inode.dax
                    && g.has_race(Race::InodeFlagChangedAfterOpen(1))
                    && g.inode_at_open().journal_data
                    && !g.world.inode.journal_data
            })
            .inspect(|g| {
                let p = plan_pmem(g, Some(&pmem())).unwrap_or_else(|e| panic!("{e}: {g:?}"));
                assert!(p.call.after_open.remount_delalloc && p.key.own);
            })
            .count();
        assert!(n > 10, "{n}");
    }

    /// pmem is bio-based and never splits (pmem_submit_bio): every generated pmem world says so,
    /// plan_pmem builds it, loop devices refuse it, and its C program runs on pmem with a file
    /// that is not DAX, expecting the misplaced sectors ('?') where the model puts them.
    #[test]
    fn pmem_worlds_are_bio_based_disks_that_never_split() {
        for i in 0..50 {
            let s = diofuzz::generators::dax::generate_dax(22, i, FsKind::Ext4, &pmem());
            assert!(s.world.device.no_bio_split);
            assert!(diofuzz::validity::is_valid(&s));
        }
        let mut s = Scenario::default();
        s.world.lbs_bits = 9;
        s.request.len = 4096;
        s.world.device.no_bio_split = true;
        assert!(is_pmem_world(&s) && !is_dax_world(&s));
        assert_eq!(
            plan_pmem(&s, Some(&pmem())).unwrap().key.dax,
            DaxMount::Inode
        );
        assert!(super::super::plan::plan_on(&s, None)
            .unwrap_err()
            .contains("only on pmem"));
        // The lab's gen-22-ext4-18 on pmem: 6.18 writes the data 511 bytes early.
        let j = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../docs/live-findings/pmem-misaligned-dio-6.18/scenario.json"),
        )
        .unwrap();
        let mut g: Scenario = serde_json::from_str(&j).unwrap();
        g.world.device.no_bio_split = true;
        let v = diofuzz::variant::by_name("v6.18").unwrap();
        let c = crate::live::repro::c_program_for(&g, v).unwrap();
        assert!(c.contains("mounted with -o dax=inode") && c.contains("pmem device"));
        assert!(c.contains("dax != 0"), "the file must not be DAX");
        assert!(c.contains("expect_ret = 24576"));
        assert!(c.contains("nnnnnnn????????????????????????????nnnn"), "{c}");
    }

    #[test]
    fn c_program_builds_and_checks_the_dax_file() {
        let mut s = Scenario::default();
        s.world.lbs_bits = 9;
        s.world.inode.dax = true;
        s.request.len = 4096;
        // dax=inode: the program sets FS_XFLAG_DAX on the new file and opens it again, then
        // checks STATX_ATTR_DAX before the call.
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(
            c.contains("mounted with -o dax=inode") && c.contains("pmem device"),
            "{c}"
        );
        let set = c.find("FS_XFLAG_DAX */").unwrap();
        let reopen = c.find("fd = open(path, O_RDWR);").unwrap();
        let check = c.find("STATX_ATTR_DAX */").unwrap();
        let call = c.find("int cfd = open(path").unwrap();
        assert!(set < reopen && reopen < check && check < call);
        assert!(c.contains("dax != 1"));
        // dax=always: no flag to set; the check stays.
        s.world.mount.dax = true;
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(c.contains("mounted with -o dax=always") && !c.contains("FS_XFLAG_DAX */"));
        assert!(c.contains("STATX_ATTR_DAX */"));
        // An encrypted file under dax=always: made with -O encrypt in an encrypted directory,
        // the encrypt flag checked, then STATX_ATTR_DAX must be clear (6.16 - 6.18 set it:
        // docs/live-findings/ext4-encrypted-dax).
        s.world.inode.dax = false;
        s.world.inode.encrypted = true;
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(
            c.contains("-O encrypt") && c.contains("mounted with -o dax=always"),
            "{c}"
        );
        let enc = c.find("(fl & 0x800) != 0x800").unwrap();
        let check = c.find("dax != 0").unwrap();
        assert!(c.find("FS_IOC_SET_ENCRYPTION_POLICY").unwrap() < enc && enc < check);
        // A plain scenario has neither.
        let c = crate::live::repro::c_program(&Scenario::default()).unwrap();
        assert!(!c.contains("STATX_ATTR_DAX") && !c.contains("dax="));
    }

    #[test]
    fn dax_write_from_the_iomap_trace() {
        let ev = |flags: &str| {
            TraceEvent {
            pid: 1,
            name: "iomap_iter".into(),
            args: format!("dev 259:0 ino 0xc pos 0x0 length 0x1000 status 0 flags {flags} (0x101) ops ext4_iomap_ops caller dax_iomap_rw+0x5d/0x110"),
        }
        };
        let mut o = Observation {
            events: vec![ev("DAX")],
            ..Default::default()
        };
        assert!(!kernel_dax_write(&o), "a DAX read is not a write");
        o.events.push(ev("WRITE|DAX"));
        assert!(kernel_dax_write(&o));
        // 6.12.117: no name for IOMAP_DAX; the caller tells.
        o.events = vec![ev("WRITE|0x100")];
        assert!(kernel_dax_write(&o));
        let dio = TraceEvent {
            pid: 1,
            name: "iomap_iter".into(),
            args: "dev 259:0 ino 0xc pos 0x0 length 0x1000 processed 0 flags WRITE|DIRECT (0x11) ops ext4_iomap_ops caller __iomap_dio_rw+0x1a0/0x8f0".into(),
        };
        o.events = vec![dio];
        assert!(!kernel_dax_write(&o));
    }
}
