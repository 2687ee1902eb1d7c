// SPDX-License-Identifier: GPL-2.0-only
//! Races after open, built deterministically on the live kernel (docs/live.md, "Races after
//! open"): [`Race::InodeFlagChangedAfterOpen`] and [`Race::LockContended`].
//!
//! * **An inode flag changed after open.** The world is set up with the flags the inode had at
//!   open ([`Scenario::inode_at_open`]); right after the call's `open(2)` (and its fcntl toggle)
//!   the flag is changed through the open file with `FS_IOC_SETFLAGS` (chattr): `+e`/`-e`
//!   (ext4_ext_migrate / ext4_ind_migrate), `+j` (ext4_change_inode_journal_flag), `+i`,
//!   `+a`/`-a`. Nothing races: the change is complete before the write starts, which is the
//!   model's premise (the race list is the whole history between open and the write). Flags
//!   that cannot be changed here are refused with the reason ([`flag_change`]).
//! * **i_rwsem held by another task.** A second thread of ours makes a buffered `pwrite(2)` of
//!   one byte at the file's EOF from a page registered with userfaultfd
//!   (`UFFDIO_REGISTER_MODE_MISSING`). The kernel takes the inode lock first and faults the user
//!   page in with the lock held (ext4: `ext4_buffered_write_iter` -> `inode_lock`, then
//!   `generic_perform_write` -> `fault_in_iov_iter_readable` after a zero-byte atomic copy;
//!   XFS: `xfs_file_buffered_write` -> `xfs_ilock_iocb_for_write(XFS_IOLOCK_EXCL)`, then
//!   `iomap_write_iter` -> `fault_in_iov_iter_readable` before `iomap_write_begin`; read in
//!   6.12.117, 7.2.12 and 7.3.4), so the fault blocks in `handle_userfault` while the lock is
//!   held. The executor waits for the fault's `UFFD_EVENT_PAGEFAULT` message (deterministic: the
//!   lock is held from then on), makes the scenario's call, checks the holder is still blocked,
//!   then unmaps the page and wakes the fault: the retried fault finds no mapping, so the
//!   holder's write fails with `-EFAULT` having copied nothing (checked). Its position is EOF,
//!   so neither `xfs_file_write_zero_eof` nor ext4's `i_size_write` of a zero-byte write past
//!   EOF touches the file; what it may leave is beyond EOF (a delalloc reservation the failed
//!   write did not punch) or a clean page-cache folio over the EOF block, neither of which the
//!   comparison reads. Only `RWF_NOWAIT` calls meet a trylock; a call without it would sleep on
//!   the lock until the holder left, which the model treats as uncontended (only the NOWAIT
//!   trylocks read the race): such scenarios are built without the holder.

use super::plan::{Plan, Unsupported, FS_APPEND_FL, FS_EXTENT_FL, FS_JOURNAL_DATA_FL};
use diofuzz::scenario::{FsKind, InodeFlags, Race, Scenario, INODE_FLAG_NAMES};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// include/uapi/linux/fs.h FS_IMMUTABLE_FL.
pub const FS_IMMUTABLE_FL: u32 = 0x0000_0010;

/// What happens between the call's open(2) and the call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfterOpen {
    /// chattr through the call's file: flags added ...
    pub set: u32,
    /// ... and removed (FS_IOC_GETFLAGS, FS_IOC_SETFLAGS).
    pub clear: u32,
    /// A second thread holds i_rwsem (blocked in a userfaultfd fault inside its buffered write)
    /// while the call runs.
    pub lock_holder: bool,
    /// fchmod through the call's file: a setuid mode clears IS_NOSEC (notify_change).
    pub chmod: Option<u32>,
    /// swapon (true) or swapoff (false) of the file ([`super::swap`], lab guests only).
    pub swap: Option<bool>,
    /// With `swap` on a block device of a `--hibernate-resume` run: the swapon is followed by
    /// SNAPSHOT_SET_SWAP_AREA, the swapoff preceded by the snapshot device's close
    /// ([`super::hibernate`]).
    pub resume: bool,
    /// The file is unlinked after open (the inode's `unlinked` set after open).
    pub unlink: bool,
    /// `mount -o remount,delalloc` of the scenario's own filesystem after the chattr -j (the
    /// +j at open needed nodelalloc; the world at the write is a delalloc mount).
    pub remount_delalloc: bool,
    /// The filesystem gives no file large folios before 6.19 (verity or encrypt feature), so
    /// a +j after open takes effect on 6.16 - 6.18 as well ([`small_folios`]).
    pub small_folios: bool,
    /// XFS reflink flag set by a clone or cleared by an unshare ([`super::reflink_race`]), run
    /// first after open.
    pub reflink: Option<super::reflink_race::Change>,
    /// ext4 inline data converted or the i_disksize lag written back ([`super::settle_race`]),
    /// run first after open.
    pub settle: Option<super::settle_race::Settle>,
    /// Buffered steps after the chattr -j (the rewrite of a page the call finds under
    /// writeback: [`super::jflag_pages`]).
    pub jflag_ops: Vec<super::settle_race::Op>,
}

impl AfterOpen {
    pub fn is_empty(&self) -> bool {
        *self == AfterOpen::default()
    }
}

fn flag(f: &InodeFlags, i: u8) -> bool {
    let b = f.to_bits() & (1 << i) != 0;
    // extents and nosec are stored inverted (scenario.rs InodeFlags::to_bits).
    b != matches!(i, 0 | 8)
}

/// The chattr bits that turn flag `i` from `from` to `to` after open, or why that is not built.
pub fn flag_change(s: &Scenario, i: u8, to: bool) -> Result<(u32, u32), Unsupported> {
    let name = INODE_FLAG_NAMES[i as usize % INODE_FLAG_NAMES.len()];
    let bits = |b: u32| Ok(if to { (b, 0) } else { (0, b) });
    match (i, to) {
        // ext4_ioctl_setflags -> ext4_ext_migrate (+e) / ext4_ind_migrate (-e); validity rule
        // W9 keeps only the layouts they accept.
        (0, _) if s.fs == FsKind::Ext4 => bits(FS_EXTENT_FL),
        // ext4_change_inode_journal_flag; +j takes effect only on a nodelalloc mount
        // (ext4_inode_journal_mode), which the plan then asks for.
        (1, true) if s.fs == FsKind::Ext4 => bits(FS_JOURNAL_DATA_FL),
        (1, false) if s.fs == FsKind::Ext4 && s.world.mount.data_journal => bits(FS_JOURNAL_DATA_FL),
        // The +j at open took effect on a nodelalloc mount; at the write the mount has delalloc
        // again: `mount -o remount,delalloc` after open (ext4 allows enabling delalloc on
        // remount and refuses disabling it: ext4_check_opt_consistency), on a filesystem of
        // its own (FsKey::own), then chattr -j ([`AfterOpen::remount_delalloc`]).
        (1, false) if s.fs == FsKind::Ext4 => bits(FS_JOURNAL_DATA_FL),
        (6, true) => bits(FS_IMMUTABLE_FL),
        (6, false) => Err("inode flag changed after open: immutable cleared (an immutable inode is only opened for reading: the read side is not modelled)".into()),
        (7, _) => bits(FS_APPEND_FL),
        // Converted away or written back after open (super::settle_race); set: rules W9, W28.
        (2 | 11, false) if s.fs == FsKind::Ext4 => Ok((0, 0)),
        (2, _) => Err("inode flag changed after open: inline data set (it is only converted away: rule W9)".into()),
        (4, _) => Err("inode flag changed after open: fs-verity enabled for a reader (read side not modelled; needs mkfs -O verity)".into()),
        // notify_change (fs/attr.c) clears S_NOSEC for a mode with is_sxid: fchmod through the
        // open file (super::after_open). Setting it needs a write (rule W28).
        (8, false) => Ok((0, 0)),
        (8, true) => Err("inode flag changed after open: IS_NOSEC set (only a write sets S_NOSEC: rule W28)".into()),
        // swapon / swapoff after open (super::swap; lab guests only).
        (9, _) => Ok((0, 0)),
        // unlink after open; linking an unlinked inode again needs O_TMPFILE (rule W28).
        (10, true) => Ok((0, 0)),
        (10, false) => Err("inode flag changed after open: unlinked inode linked again (vfs_link: -ENOENT without O_TMPFILE: rule W28)".into()),
        (11, _) => Err("inode flag changed after open: i_disksize fell behind i_size (only a buffered write does that: rule W28)".into()),
        // A clone or an unshare after open (super::reflink_race::split).
        (12, _) => Ok((0, 0)),
        _ => Err(format!("inode flag changed after open: {name} (no such world: rule W9)")),
    }
}

/// The scenario as it was at open: its flag races undone and LockContended dropped (the set-up
/// builds this one), and what to do after the call's open to reach `s` at the write. None when
/// `s` has neither race.
pub fn split(s: &Scenario) -> Result<Option<(Scenario, AfterOpen)>, Unsupported> {
    let flag_races = s
        .races
        .iter()
        .any(|r| matches!(r, Race::InodeFlagChangedAfterOpen(_)));
    let lock = s.has_race(Race::LockContended);
    if !flag_races && !lock {
        return Ok(None);
    }
    if s.fs == FsKind::Bdev {
        return Err("race other than fcntl toggle on a block device".into());
    }
    let mut open = s.clone();
    open.world.inode = s.inode_at_open();
    open.races
        .retain(|r| !matches!(r, Race::InodeFlagChangedAfterOpen(_) | Race::LockContended));
    let mut after = AfterOpen {
        lock_holder: lock && s.request.rwf.nowait,
        ..Default::default()
    };
    for i in 0..INODE_FLAG_NAMES.len() as u8 {
        let (from, to) = (flag(&open.world.inode, i), flag(&s.world.inode, i));
        if from == to {
            continue;
        }
        let (set, clear) = flag_change(s, i, to)?;
        after.set |= set;
        after.clear |= clear;
        match i {
            1 if !to && !s.world.mount.data_journal => after.remount_delalloc = true,
            8 => after.chmod = Some(super::inode_state::SETUID_MODE),
            9 => after.swap = Some(to),
            10 => after.unlink = true,
            12 => after.reflink = Some(super::reflink_race::split(s, &mut open, to)?),
            2 | 11 => after.settle = super::settle_race::split(s, &mut open, i)?,
            _ => {}
        }
    }
    Ok(Some((open, after)))
}

/// The plan of a scenario with races after open: the plan of the world at open, then the
/// after-open steps ([`split`]). `plan_at_open` is the ordinary planner.
pub fn plan_after_open(
    s: &Scenario,
    open: &Scenario,
    after: AfterOpen,
    plan_at_open: impl FnOnce(&Scenario) -> Result<Plan, Unsupported>,
) -> Result<Plan, Unsupported> {
    // chattr -j with dirty, writeback or mmapped pages at the write: the pages the set-up
    // makes before open, those held at the call (super::jflag_pages).
    let mut open = open.clone();
    let (held, jflag_ops) = if after.remount_delalloc {
        super::jflag_pages::prepare(s, &mut open)?
    } else {
        Default::default()
    };
    let open = &open;
    let mut p = plan_at_open(open)?;
    let settle = after.settle.clone();
    if after.set & FS_APPEND_FL != 0 && p.call.mmap_writer {
        return Err("mmap writer on an append-only inode (do_mmap refuses a shared writable mapping: EACCES)".into());
    }
    if after.set & FS_JOURNAL_DATA_FL != 0 && !s.world.mount.data_journal {
        // The flag takes effect only without delalloc (ext4_inode_journal_mode).
        p.key.nodelalloc = true;
        // ... and on 6.16 - 6.18 only on a file without large folios: a filesystem with the
        // verity feature gives none (ext4_should_enable_large_folio before 6.19; an encrypted
        // filesystem neither).
        use super::inode_kind::InodeKind;
        if p.key.inode_kind == InodeKind::Plain {
            p.key.inode_kind = InodeKind::SmallFolios;
        }
    }
    if after.remount_delalloc {
        // On a disk (pmem: super::dax::plan_pmem; the atomic scsi_debug disk since session 9)
        // the disk is formatted for the scenario and retired after it (Scratch::retire).
        if s.world.inode.unlinked {
            return Err(
                "chattr -j after open on a delalloc mount of an unlinked inode (not built)".into(),
            );
        }
        // The remount changes the filesystem: one of its own, never reused.
        p.key.own = true;
        if held.held() {
            // Held by a frozen lower filesystem on a loop device, by scsi_debug's error rules on
            // the atomic disk (super::disk_hold); pmem has neither.
            if p.key.dax != super::dax::DaxMount::Off {
                return Err("chattr -j after open with a page under writeback or mmapped on pmem (nothing holds its writes: not built)".into());
            }
            p.key.layered = !p.key.disk;
            p.call.pages = held;
        }
    }
    // The plan at open may already chattr +a after open (an unlinked append-only inode).
    let (set, clear) = (p.call.after_open.set, p.call.after_open.clear);
    if (set | clear) & (after.set | after.clear) != 0 {
        return Err("the same flag changed twice after open (not built)".into());
    }
    p.call.unlink |= after.unlink;
    if after.swap == Some(true) {
        super::swap::add_header_after_open(s, &mut p.steps);
    }
    p.call.after_open = AfterOpen {
        set: set | after.set,
        clear: clear | after.clear,
        jflag_ops,
        ..after
    };
    p.call.after_open.small_folios =
        small_folios(&p) && p.call.after_open.set & FS_JOURNAL_DATA_FL != 0;
    if let Some(st) = &settle {
        super::settle_race::adjust(s, st, &mut p);
    }
    if p.shift != 0 && p.call.pages.held() {
        // super::limits::shift refuses a held page; the pages held after open are not moved.
        return Err("small s_maxbytes with a page held during the call (not built)".into());
    }
    if p.call.after_open.unlink && s.world.inode.append_only && !s.inode_at_open().unlinked {
        // unlink after open, then +a (may_delete): the plan at open set +a at rest.
        if p.steps.iter().any(|st| {
            matches!(st, super::plan::Step::SetInodeFlags { set, .. } if set & FS_APPEND_FL != 0)
        }) {
            p.steps.retain(|st| {
                !matches!(st, super::plan::Step::SetInodeFlags { set, .. } if set & FS_APPEND_FL != 0)
            });
            p.call.after_open.set |= FS_APPEND_FL;
        }
    }
    Ok(p)
}

/// Kernels on which a `chattr +j` after open does not make the file's data journalled
/// (major, minor from, minor to): `__ext4_new_inode` gives a regular file large folios
/// (`ext4_should_enable_large_folio`, 6.16: "ext4: enable large folio for regular file"),
/// `ext4_change_inode_journal_flag` leaves them, and `ext4_inode_journal_mode` ignores the inode
/// flag while the mapping supports large folios; 6.19 ("ext4: make data=journal support large
/// block size") dropped that condition and resets the mapping order when the flag changes (read
/// in the 7.2 and 7.3 sources). The at-open +j is inherited from a +j directory instead
/// ([`super::inode_kind::ScenarioDir`]), which works on every kernel.
pub const JFLAG_AFTER_OPEN_NO_EFFECT: (u32, u32, u32) = (6, 16, 18);

/// Whether kernel `rel` is one of [`JFLAG_AFTER_OPEN_NO_EFFECT`].
pub fn jflag_after_open_no_effect(rel: &str) -> bool {
    let (a, lo, hi) = JFLAG_AFTER_OPEN_NO_EFFECT;
    diofuzz::backports::parse_release(rel).is_some_and(|(x, y, _)| x == a && (lo..=hi).contains(&y))
}

/// A plan that kernel `rel` cannot build: +j after open where the flag does not take effect
/// ([`JFLAG_AFTER_OPEN_NO_EFFECT`]; the model's `journal_data` is the flag in effect).
pub fn refuse_on_release(plan: &Plan, rel: &str) -> Result<(), Unsupported> {
    let a = &plan.call.after_open;
    if a.set & FS_JOURNAL_DATA_FL != 0
        && !plan.key.data_journal
        && !small_folios(plan)
        && jflag_after_open_no_effect(rel)
    {
        return Err("inode flag changed after open: chattr +j on 6.16 - 6.18 (the file already has large folios: ext4_inode_journal_mode ignores the flag)".into());
    }
    Ok(())
}

/// What this process cannot build, found before the filesystem is made: chattr +j after open
/// without CAP_SYS_RESOURCE (the verity filesystem it would run on need not even mount here).
pub fn refuse_here(plan: &Plan) -> Result<(), Unsupported> {
    let a = &plan.call.after_open;
    if a.set & FS_JOURNAL_DATA_FL != 0 && !plan.key.data_journal && !has_cap_sys_resource() {
        return Err(format!(
            "{}: chattr +j needs CAP_SYS_RESOURCE",
            super::exec::UNAVAILABLE
        ));
    }
    Ok(())
}

/// Does the plan's filesystem give its files no large folios before 6.19 (verity or encrypt
/// feature: `ext4_should_enable_large_folio`)?
pub fn small_folios(plan: &Plan) -> bool {
    use super::inode_kind::InodeKind;
    matches!(
        plan.key.inode_kind,
        InodeKind::SmallFolios | InodeKind::Encrypted
    )
}

/// CAP_SYS_RESOURCE (bit 24) in this process's effective set (/proc/self/status CapEff), which
/// `chattr +j` needs (ext4_ioctl_setflags).
pub fn has_cap_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|c| c & (1 << 24) != 0)
}

/// Run a plan whose filesystem the scenario changes (`FsKey::own` without a shutdown: the
/// remount of [`AfterOpen::remount_delalloc`]) on a filesystem made for it, retired after it;
/// `after` runs on the file once the call is observed (the post-call probes).
pub fn run_own(
    sc: &mut super::scratch::Scratch,
    plan: &Plan,
    pre: &super::scratch::Prereqs,
    name: &str,
    tracer: &super::tracefs::Tracer,
    before: super::exec::BeforeCall,
    after: &mut dyn FnMut(
        &mut super::scratch::Scratch,
        &std::path::Path,
        &super::exec::Observation,
    ),
) -> Result<super::exec::Observation, String> {
    sc.retire(plan.key, |_| ())?;
    let mnt = sc.get(plan.key, pre)?.mnt.clone();
    let r = super::exec::execute_then(plan, &mnt, name, tracer, before, &mut |p, o| {
        after(sc, p, o)
    });
    sc.retire(plan.key, |_| ())?;
    r
}

/// Run after the call's open: the flag changes and the lock holder. The guard ends the holder
/// ([`Armed::after_call`], or on drop) and clears the flags it set that would stop the file from
/// being removed (+i, +a).
pub struct Armed {
    /// A duplicate of the call's descriptor (closed before the read-back) for the clean-up.
    cleanup: Option<(OwnedFd, u32)>,
    holder: Option<Holder>,
}

/// chattr through `fd`; an EPERM for +j is "not possible here" (exec::set_inode_flags).
pub fn arm(plan: &Plan, fd: i32, path: &std::path::Path) -> Result<Armed, String> {
    let a = &plan.call.after_open;
    let mut armed = Armed {
        cleanup: None,
        holder: None,
    };
    if let Some(st) = &a.settle {
        super::settle_race::run(st, fd)?;
    }
    if let Some(c) = &a.reflink {
        super::reflink_race::run(c, fd, path)?;
    }
    if let Some(mode) = a.chmod {
        super::inode_state::set_mode(fd, mode)?;
    }
    if a.remount_delalloc {
        // The remount first: chattr -j then ends in ext4_set_aops, which picks the delalloc
        // aops only when the mount has delalloc (the inode is the model's delalloc inode).
        let mnt = super::inode_kind::mount_of(plan, path);
        nix::mount::mount(
            None::<&str>,
            mnt,
            None::<&str>,
            nix::mount::MsFlags::MS_REMOUNT,
            Some("delalloc"),
        )
        .map_err(|e| format!("remount {} delalloc: {e}", mnt.display()))?;
        super::exec::set_inode_flags(fd, a.set, a.clear)?;
        // 7.2+ evict the page cache here: the world's pages must still be cached (and its
        // dirty pages dirty); then the rewrite of the pages held under writeback.
        super::jflag_pages::check_kept(plan, fd)?;
        for op in &a.jflag_ops {
            super::settle_more::run_op(op, fd)?;
        }
    }
    match a.swap {
        Some(true) => {
            super::swap::swapon(path)?;
            // The resume device needs an active area (snapshot_set_swap_area): after the swapon.
            if a.resume {
                super::hibernate::set_resume(path)?;
            }
        }
        Some(false) => {
            // 7.3's pin (SWP_HIBERNATION) makes swapoff -EBUSY until snapshot_release.
            if a.resume {
                super::hibernate::release();
            }
            super::swap::swapoff()?
        }
        None => {}
    }
    if a.set | a.clear != 0 && !a.remount_delalloc {
        let clear = a.set & (FS_IMMUTABLE_FL | FS_APPEND_FL);
        if clear != 0 {
            // SAFETY: dup of the caller's open descriptor.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if d < 0 {
                return Err(os_err("dup"));
            }
            // SAFETY: a new fd of ours.
            armed.cleanup = Some((unsafe { OwnedFd::from_raw_fd(d) }, clear));
        }
        super::exec::set_inode_flags(fd, a.set, a.clear)?;
    }
    if a.lock_holder {
        armed.holder = Some(Holder::start(path)?);
    }
    Ok(armed)
}

impl Armed {
    /// Right after the call: the holder must still be blocked (it held the lock throughout the
    /// call); then it is released and must have written nothing.
    pub fn after_call(&mut self) -> Result<(), String> {
        match self.holder.take() {
            None => Ok(()),
            Some(h) => {
                let still = !h.thread.as_ref().is_some_and(|t| t.is_finished());
                let ret = h.release()?;
                if !still {
                    return Err(format!(
                        "the lock holder's write returned ({ret}) before the call ended: i_rwsem was not held throughout"
                    ));
                }
                if ret != -(libc::EFAULT as i64) {
                    return Err(format!(
                        "the lock holder's write returned {ret}, not -EFAULT: it may have changed the file"
                    ));
                }
                Ok(())
            }
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(h) = self.holder.take() {
            let _ = h.release();
        }
        if let Some((fd, clear)) = self.cleanup.take() {
            let _ = super::exec::set_inode_flags(fd.as_raw_fd(), 0, clear);
        }
    }
}

// include/uapi/linux/userfaultfd.h (ioctl numbers: _IOWR/_IOR/_IO of type 0xAA).
const UFFD_API: u64 = 0xAA;
const UFFDIO_API: libc::c_ulong = 0xC018_AA3F;
const UFFDIO_REGISTER: libc::c_ulong = 0xC020_AA00;
const UFFDIO_WAKE: libc::c_ulong = 0x8010_AA02;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
/// include/uapi/linux/userfaultfd.h USERFAULTFD_IOC_NEW (/dev/userfaultfd, 6.1+).
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;
const PAGE: usize = 4096;

/// The thread that holds i_rwsem: blocked in the userfaultfd fault of its buffered write.
struct Holder {
    uffd: Option<OwnedFd>,
    page: usize,
    thread: Option<std::thread::JoinHandle<i64>>,
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A userfaultfd that also handles faults taken in the kernel (no UFFD_USER_MODE_ONLY: needs
/// CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1).
fn new_uffd() -> Result<OwnedFd, String> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: plain system call.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) } as i32;
    if fd >= 0 {
        // SAFETY: a new fd of ours.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let first = std::io::Error::last_os_error();
    // The device node (when the system call is filtered).
    let dev = c"/dev/userfaultfd";
    // SAFETY: open with a valid C string.
    let d = unsafe { libc::open(dev.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if d >= 0 {
        // SAFETY: our fd.
        let d = unsafe { OwnedFd::from_raw_fd(d) };
        // SAFETY: the ioctl takes the flags by value.
        let fd = unsafe { libc::ioctl(d.as_raw_fd(), USERFAULTFD_IOC_NEW as _, flags) };
        if fd >= 0 {
            // SAFETY: a new fd of ours.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(format!(
        "{}: userfaultfd for kernel faults: {first}",
        super::exec::UNAVAILABLE
    ))
}

impl Holder {
    fn start(path: &std::path::Path) -> Result<Holder, String> {
        let uffd = new_uffd()?;
        let mut api = [UFFD_API, 0u64, 0u64];
        // SAFETY: struct uffdio_api is three u64.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API as _, api.as_mut_ptr()) } != 0 {
            return Err(os_err("UFFDIO_API"));
        }
        // SAFETY: a fresh anonymous private page.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap"));
        }
        let mut h = Holder {
            uffd: Some(uffd),
            page: p as usize,
            thread: None,
        };
        let mut reg = [h.page as u64, PAGE as u64, UFFDIO_REGISTER_MODE_MISSING, 0];
        let ufd = h.uffd.as_ref().map_or(-1, |f| f.as_raw_fd());
        // SAFETY: struct uffdio_register is four u64.
        if unsafe { libc::ioctl(ufd, UFFDIO_REGISTER as _, reg.as_mut_ptr()) } != 0 {
            return Err(os_err("UFFDIO_REGISTER"));
        }
        // Another open file of the same inode (another task's write), buffered, at the last
        // byte: a write at EOF of a file at its size limit (a scaled s_maxbytes) fails in
        // generic_write_checks (-EFBIG) before it faults. An append-only inode refuses a write
        // open without O_APPEND (may_open: -EPERM): there the write goes to EOF.
        let open = |append: bool| {
            std::fs::OpenOptions::new()
                .write(true)
                .append(append)
                .open(path)
        };
        let f = match open(false) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(true),
            r => r,
        }
        .map_err(|e| format!("open for the lock holder: {e}"))?;
        let eof = f
            .metadata()
            .map_err(|e| format!("stat for the lock holder: {e}"))?
            .len()
            .saturating_sub(1);
        let page = h.page;
        h.thread = Some(std::thread::spawn(move || {
            // SAFETY: one byte of our registered page; the fault blocks until released.
            let r =
                unsafe { libc::pwrite(f.as_raw_fd(), page as *const libc::c_void, 1, eof as i64) };
            if r < 0 {
                -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
            } else {
                r as i64
            }
        }));
        // Wait for the fault: from then on the holder is inside the write, lock held.
        let mut pfd = libc::pollfd {
            fd: ufd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
        if n != 1 {
            return Err(
                "the lock holder's write never faulted on its userfaultfd page (5 s)".into(),
            );
        }
        let mut msg = [0u8; 32];
        // SAFETY: struct uffd_msg is 32 bytes.
        let r = unsafe { libc::read(ufd, msg.as_mut_ptr() as *mut libc::c_void, 32) };
        let addr = u64::from_ne_bytes(msg[16..24].try_into().unwrap_or([0; 8])) as usize;
        if r != 32 || msg[0] != UFFD_EVENT_PAGEFAULT || addr & !(PAGE - 1) != h.page {
            return Err(format!(
                "unexpected userfaultfd message (read {r}, event {:#x}, address {addr:#x})",
                msg[0]
            ));
        }
        Ok(h)
    }

    /// Unmap the page, wake the fault and join: the retried fault finds no mapping, so the write
    /// copies nothing and returns -EFAULT (the holder's result).
    fn release(mut self) -> Result<i64, String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<i64, String> {
        let Some(t) = self.thread.take() else {
            return Ok(0);
        };
        // SAFETY: our page; the faulting thread dropped mmap_lock while it waits.
        let unmapped = unsafe { libc::munmap(self.page as *mut libc::c_void, PAGE) } == 0;
        if let Some(u) = self.uffd.take() {
            let mut range = [self.page as u64, PAGE as u64];
            // SAFETY: struct uffdio_range is two u64.
            unsafe { libc::ioctl(u.as_raw_fd(), UFFDIO_WAKE as _, range.as_mut_ptr()) };
            drop(u);
        }
        let ret = t
            .join()
            .map_err(|_| "lock holder thread panicked".to_string())?;
        if !unmapped {
            return Err(os_err("munmap of the lock holder's page"));
        }
        Ok(ret)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The C reproducer's part: declarations before main.
pub const C_DECLS: &str = "#include <poll.h>\n#include <pthread.h>\n#include <linux/userfaultfd.h>\n\
/* The lock holder: a buffered write of one byte at EOF from a userfaultfd page; it blocks in the\n * fault with i_rwsem held until the page is unmapped and the fault woken (then -EFAULT). */\n\
static int hold_fd = -1;\nstatic unsigned char *hold_page;\nstatic off_t hold_pos;\nstatic long long hold_ret;\n\
static void *holder(void *a)\n{\n\t(void)a;\n\tssize_t r = pwrite(hold_fd, hold_page, 1, hold_pos);\n\thold_ret = r < 0 ? -errno : r;\n\treturn 0;\n}\n";

/// The C reproducer's statements after the call's open (the file descriptor `cfd`).
pub fn c_after_open(a: &AfterOpen) -> String {
    let mut o = a
        .settle
        .as_ref()
        .map_or(String::new(), super::settle_race::c_code);
    o.push_str(
        &a.reflink
            .as_ref()
            .map_or(String::new(), super::reflink_race::c_code),
    );
    if a.set & FS_JOURNAL_DATA_FL != 0 && !a.small_folios {
        // The kernels where the flag would not take effect (refuse_on_release).
        let (maj, lo, hi) = JFLAG_AFTER_OPEN_NO_EFFECT;
        o.push_str(&format!(
            "\t{{\n\t\tunsigned ka = 0, kb = 0;\n\t\tFILE *kf = fopen(\"/proc/sys/kernel/osrelease\", \"r\");\n\t\tif (kf && fscanf(kf, \"%u.%u\", &ka, &kb) == 2 && ka == {maj} && kb >= {lo} && kb <= {hi}) {{\n\t\t\tprintf(\"COULD NOT RUN: chattr +j after open does not take effect on {maj}.{lo} - {maj}.{hi} (large folios: ext4_inode_journal_mode)\\n\");\n\t\t\treturn 2;\n\t\t}}\n\t\tif (kf)\n\t\t\tfclose(kf);\n\t}}\n"
        ));
    }
    if let Some(mode) = a.chmod {
        o.push_str(&format!(
            "\tif (fchmod(cfd, 0{mode:o}))\n\t\tdie(\"fchmod after open\"); /* setuid: IS_NOSEC cleared after open */\n"
        ));
    }
    // (The resume device: the C set-up's swapon is followed by super::hibernate::C_SET_RESUME,
    // which declares snap_fd, so a swapoff after open closes it first; a swapon after open is
    // followed by it here.)
    let resume = a.resume;
    match a.swap {
        Some(true) => {
            o.push_str(super::swap::C_SWAPON);
            if resume {
                o.push_str(super::hibernate::C_SET_RESUME);
            }
        }
        Some(false) => {
            if resume {
                o.push_str(super::hibernate::C_RELEASE);
            }
            o.push_str(super::swap::C_SWAPOFF);
        }
        None => {}
    }
    if a.remount_delalloc {
        o.push_str("\tif (syscall(SYS_mount, NULL, mnt, NULL, 32 /* MS_REMOUNT */, \"delalloc\")) {\n\t\tprintf(\"COULD NOT RUN: mount -o remount,delalloc: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}\n\tprintf(\"after open: mount -o remount,delalloc, then chattr -j (the filesystem is not usable for a +j inode afterwards)\\n\");\n");
    }
    if a.set | a.clear != 0 {
        o.push_str(&format!(
            "\t{{\n\t\tint fl = 0; /* chattr after open: FS_IOC_GETFLAGS, FS_IOC_SETFLAGS */\n\t\tif (ioctl(cfd, 0x80086601UL, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tfl = (fl | {:#x}) & ~{:#x};\n\t\tif (ioctl(cfd, 0x40086602UL, &fl)) {{\n\t\t\tprintf(\"COULD NOT RUN: FS_IOC_SETFLAGS after open: %s\\n\", strerror(errno));\n\t\t\treturn 2;\n\t\t}}\n\t}}\n",
            a.set, a.clear
        ));
    }
    if a.lock_holder {
        o.push_str("\tint uffd = syscall(SYS_userfaultfd, O_CLOEXEC);\n\tstruct uffdio_api api = { .api = UFFD_API };\n\tif (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {\n\t\tprintf(\"COULD NOT RUN: userfaultfd: %s\\n\", strerror(errno));\n\t\treturn 2;\n\t}\n\thold_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n\tstruct uffdio_register reg = { .range = { (unsigned long)hold_page, 4096 }, .mode = UFFDIO_REGISTER_MODE_MISSING };\n\tif (ioctl(uffd, UFFDIO_REGISTER, &reg))\n\t\tdie(\"UFFDIO_REGISTER\");\n\thold_fd = open(path, O_WRONLY);\n\tif (hold_fd < 0 && errno == EPERM)\n\t\thold_fd = open(path, O_WRONLY | O_APPEND); /* an append-only inode */\n\tstruct stat hst;\n\tif (hold_fd < 0 || fstat(hold_fd, &hst))\n\t\tdie(\"open for the lock holder\");\n\thold_pos = hst.st_size ? hst.st_size - 1 : 0; /* at its size limit, a write at EOF fails before it faults */\n\tpthread_t hth;\n\tpthread_create(&hth, NULL, holder, NULL);\n\tstruct pollfd hpf = { uffd, POLLIN, 0 };\n\tstruct uffd_msg hmsg;\n\tif (poll(&hpf, 1, 5000) != 1 || read(uffd, &hmsg, sizeof(hmsg)) != sizeof(hmsg) || hmsg.event != UFFD_EVENT_PAGEFAULT) {\n\t\tprintf(\"COULD NOT RUN: the lock holder's write did not fault\\n\");\n\t\treturn 2;\n\t}\n\tprintf(\"lock holder: a write of 1 byte at %lld (the last byte, or EOF of an append-only inode) is blocked in its page fault, i_rwsem held\\n\", (long long)hold_pos);\n");
    }
    o
}

/// The C reproducer's statements right after the call: release the holder.
pub fn c_after_call(a: &AfterOpen) -> String {
    if !a.lock_holder {
        return String::new();
    }
    "\t{\n\t\tstruct uffdio_range rg = { (unsigned long)hold_page, 4096 };\n\t\tmunmap(hold_page, 4096);\n\t\tioctl(uffd, UFFDIO_WAKE, &rg);\n\t\tclose(uffd);\n\t\tpthread_join(hth, NULL);\n\t\tclose(hold_fd);\n\t\tprintf(\"after the call the lock holder was released: its write returned %lld (-EFAULT expected: nothing written)\\n\", hold_ret);\n\t}\n".into()
}

/// The C reproducer's clean-up before the file is unlinked (set-up descriptor `fd`).
pub fn c_cleanup(a: &AfterOpen) -> String {
    let m = a.set & (FS_IMMUTABLE_FL | FS_APPEND_FL);
    if m == 0 {
        return String::new();
    }
    format!("\t{{\n\t\tint fl = 0; /* +i/+a set after open: cleared so that the file can be removed */\n\t\tioctl(fd, 0x80086601UL, &fl);\n\t\tfl &= ~{m:#x};\n\t\tioctl(fd, 0x40086602UL, &fl);\n\t}}\n")
}

#[cfg(test)]
mod tests {
    use super::super::plan::plan;
    use super::*;
    use diofuzz::scenario::{Extent, PageState, Rwf};

    fn ext4() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.i_size = 8192;
        s.world.blocks = vec![Default::default(); 2];
        s.world.blocks[0].kind = Extent::Written;
        s.request.len = 4096;
        s
    }

    #[test]
    fn immutable_after_open_is_chattr_i_on_the_open_file() {
        let mut s = ext4();
        s.world.inode.immutable = true;
        s.races = vec![Race::InodeFlagChangedAfterOpen(6)];
        let p = plan(&s).unwrap();
        assert_eq!(p.call.after_open.set, FS_IMMUTABLE_FL);
        assert!(!p.call.after_open.lock_holder);
        // The set-up builds the inode as it was at open: no +i step before open.
        assert!(!p.steps.iter().any(|st| matches!(st,
            super::super::plan::Step::SetInodeFlags { set, .. } if set & FS_IMMUTABLE_FL != 0)));
    }

    #[test]
    fn extents_and_journal_and_append_transitions() {
        // -e after open: the file is extent-mapped at open.
        let mut s = ext4();
        s.world.inode.extents = false;
        s.races = vec![Race::InodeFlagChangedAfterOpen(0)];
        let p = plan(&s).unwrap();
        assert_eq!(
            (p.call.after_open.set, p.call.after_open.clear),
            (0, FS_EXTENT_FL)
        );
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, super::super::plan::Step::SetInodeFlags { .. })));
        // +e after open: block-mapped at open (chattr -e in the set-up).
        let mut s = ext4();
        s.races = vec![Race::InodeFlagChangedAfterOpen(0)];
        let p = plan(&s).unwrap();
        assert_eq!(
            (p.call.after_open.set, p.call.after_open.clear),
            (FS_EXTENT_FL, 0)
        );
        assert!(p.steps.iter().any(|st| matches!(st,
            super::super::plan::Step::SetInodeFlags { clear, .. } if *clear == FS_EXTENT_FL)));
        // +j after open: a nodelalloc mount so that the flag takes effect.
        let mut s = ext4();
        s.world.inode.journal_data = true;
        s.races = vec![Race::InodeFlagChangedAfterOpen(1)];
        let p = plan(&s).unwrap();
        assert_eq!(p.call.after_open.set, FS_JOURNAL_DATA_FL);
        assert!(p.key.nodelalloc);
        // ... on a filesystem made with -O verity, whose files have no large folios before
        // 6.19 (ext4_should_enable_large_folio), so the flag takes effect on 6.16 - 6.18 too;
        // the file is not made in a +j directory (it has no +j at open).
        assert!(!crate::live::inode_kind::journalled_at_create(&p));
        assert_eq!(
            p.key.inode_kind,
            crate::live::inode_kind::InodeKind::SmallFolios
        );
        assert!(p.key.label().ends_with("-verity"), "{}", p.key.label());
        assert!(p.call.after_open.small_folios);
        let mut big = p.clone();
        big.key.inode_kind = crate::live::inode_kind::InodeKind::Inline;
        big.call.after_open.small_folios = false;
        for (rel, ok) in [
            ("6.12.57+deb13-amd64", true),
            ("6.15.0", true),
            ("6.16.12+deb14-amd64", false),
            ("6.18.15", false),
            ("6.19.1", true),
            ("7.3.4+deb13-amd64", true),
        ] {
            assert!(refuse_on_release(&p, rel).is_ok(), "{rel}");
            // A filesystem with large folios (here: inline_data) is still refused there.
            assert_eq!(refuse_on_release(&big, rel).is_ok(), ok, "{rel}");
        }
        assert!(!c_after_open(&p.call.after_open).contains("kb >= 16 && kb <= 18"));
        assert!(c_after_open(&big.call.after_open).contains("kb >= 16 && kb <= 18"));
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(
            c.contains("-O verity"),
            "the header asks for the verity filesystem"
        );
        // A +j inode at open is fine on every kernel (inherited from its directory).
        let mut s = ext4();
        s.world.inode.journal_data = true;
        let p = plan(&s).unwrap();
        assert!(refuse_on_release(&p, "6.16.12").is_ok());
        // -j after open on a delalloc mount: +j at open on nodelalloc, then after open
        // `mount -o remount,delalloc` and chattr -j, on a filesystem of its own.
        let mut s = ext4();
        s.races = vec![Race::InodeFlagChangedAfterOpen(1)];
        let p = plan(&s).unwrap();
        assert!(p.key.own && p.key.nodelalloc && p.call.after_open.remount_delalloc);
        assert_eq!(p.call.after_open.clear, FS_JOURNAL_DATA_FL);
        let c = c_after_open(&p.call.after_open);
        let (remount, chattr) = (
            c.find("MS_REMOUNT").unwrap(),
            c.find("FS_IOC_SETFLAGS").unwrap(),
        );
        assert!(
            remount < chattr,
            "remount first, so chattr -j picks the delalloc aops: {c}"
        );
        // ... with clean cached pages, checked after the chattr -j (7.2+ evict them:
        // super::jflag_pages), and dirty ones (session 9: more in super::jflag_pages).
        s.world.pages = vec![PageState::Clean];
        assert_eq!(
            super::super::jflag_pages::clean_pages(&plan(&s).unwrap()),
            vec![0]
        );
        s.world.pages = vec![PageState::Busy];
        assert!(plan(&s).unwrap_err().contains("rule W25"));
        // -a after open: +a in the set-up (O_APPEND), cleared after open.
        let mut s = ext4();
        s.request.open.append = true;
        s.races = vec![Race::InodeFlagChangedAfterOpen(7)];
        let p = plan(&s).unwrap();
        assert_eq!(p.call.after_open.clear, FS_APPEND_FL);
        assert!(p.steps.iter().any(|st| matches!(st,
            super::super::plan::Step::SetInodeFlags { set, .. } if *set == FS_APPEND_FL)));
    }

    #[test]
    fn unbuildable_flags_say_why() {
        // IS_NOSEC set and an unlinked inode linked again after open (rule W28): the world at
        // the write is the default inode (IS_NOSEC, linked), the race makes the one at open.
        for (i, word) in [(8u8, "S_NOSEC"), (10, "unlinked"), (12, "reflink")] {
            let mut s = ext4();
            if i == 12 {
                s.fs = FsKind::Xfs;
                s.world.inode = s.world.inode.toggled(i);
            }
            s.races = vec![Race::InodeFlagChangedAfterOpen(i)];
            let e = plan(&s).unwrap_err();
            assert!(e.contains(word), "{i}: {e}");
        }
    }

    #[test]
    fn lock_holder_only_for_nowait() {
        let mut s = ext4();
        s.races = vec![Race::LockContended];
        let p = plan(&s).unwrap();
        assert!(
            p.call.after_open.is_empty(),
            "a sleeping lock waits: uncontended"
        );
        s.request.rwf = Rwf {
            nowait: true,
            ..Default::default()
        };
        let p = plan(&s).unwrap();
        assert!(p.call.after_open.lock_holder);
        let c = c_after_open(&p.call.after_open);
        assert!(c.contains("UFFDIO_REGISTER_MODE_MISSING"));
        assert!(c_after_call(&p.call.after_open).contains("UFFDIO_WAKE"));
        // Not with the mmap writer on an inode made append-only after open.
        let mut s = ext4();
        s.world.pages = vec![PageState::Clean];
        s.request.open.append = true;
        s.world.inode.append_only = true;
        s.races = vec![Race::InodeFlagChangedAfterOpen(7), Race::MmapRedirty];
        assert!(plan(&s).unwrap_err().contains("mmap writer"));
    }

    /// The generator draws every race live builds, and live builds each one it draws.
    #[test]
    fn generated_races_are_built() {
        use diofuzz::generators::random::generate;
        let (mut held, mut waits, mut flags) = (0, 0, [0u32; 13]);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..2000 {
                let s = generate(11, i, fs);
                let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                if s.has_race(Race::LockContended) {
                    assert_eq!(p.call.after_open.lock_holder, s.request.rwf.nowait);
                    held += s.request.rwf.nowait as u32;
                    waits += !s.request.rwf.nowait as u32;
                }
                for r in &s.races {
                    if let Race::InodeFlagChangedAfterOpen(f) = r {
                        flags[*f as usize] += 1;
                        assert!(!p.call.after_open.is_empty(), "{i}");
                    }
                }
            }
        }
        assert!(held > 100 && waits > 20, "{held} {waits}");
        for f in [0, 1, 6, 7, 8, 10] {
            assert!(flags[f] > 10, "{f}: {flags:?}");
        }
        // The XFS reflink flag set by a clone or cleared by an unshare (super::reflink_race).
        assert!(flags[12] > 5, "{flags:?}");
        // ext4 inline data converted and the i_disksize lag written back after open
        // (super::settle_race).
        assert!(flags[2] > 5 && flags[11] > 5, "{flags:?}");
        // swapon after open (9) is drawn too (built in the lab's guests: super::swap).
        assert_eq!(
            flags.iter().sum::<u32>(),
            [0, 1, 2, 6, 7, 8, 9, 10, 11, 12]
                .iter()
                .map(|&f| flags[f])
                .sum::<u32>()
        );
    }

    #[test]
    fn block_devices_refuse_them() {
        let mut s = ext4();
        s.fs = FsKind::Bdev;
        s.races = vec![Race::LockContended];
        assert!(split(&s).is_err());
    }
}
