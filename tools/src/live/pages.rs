// SPDX-License-Identifier: GPL-2.0-only
//! Page states that need the call itself to be held: a page under writeback
//! (`PageState::Writeback`) and an mmapped page re-dirtied after the call's flush
//! (`PageState::MappedDirty`), plus an mmap writer with no cached page to store into.
//!
//! The model (src/kernel/mm/filemap.rs, truncate.rs) reads these states in
//! `filemap_write_and_wait_range` (a writeback folio is waited for; a mapped dirty folio is
//! written and dirty again afterwards), `kiocb_invalidate_pages` (IOCB_NOWAIT with a cached folio:
//! -EAGAIN) and `invalidate_inode_pages2_range` (a folio dirty again: -EBUSY, the DIO falls back).
//!
//! How live builds them, deterministically and with bounded waits:
//! * The scenario's filesystem is **layered** ([`super::plan::FsKey::layered`]): its loop device
//!   is backed by an image file on a second, lower ext4 filesystem (a loop device over an image
//!   in the private folder). The loop worker writes to the lower file through `lo_rw_aio`, which
//!   takes `kiocb_start_write` (sb_start_write): while the lower filesystem is frozen
//!   (FIFREEZE), every write bio of the upper filesystem stays in flight.
//! * **Writeback**: the set-up writes the page (buffered, the OLD pattern the disk already
//!   holds); right before the call the lower filesystem is frozen and
//!   `sync_file_range(SYNC_FILE_RANGE_WRITE)` starts its writeback, which cannot complete. The
//!   folio's PG_writeback is checked in /proc/kpageflags (pfn from /proc/self/pagemap).
//! * **MappedDirty**: right before the call the page is stored to through a MAP_SHARED mapping
//!   (page_mkwrite), which is kept; the lower filesystem is frozen. The call's flush writes the
//!   folio back (clean, write-protected) and waits; once the calling thread is seen blocked, a
//!   watchdog writes each page's first byte back as it is through the mapping (a write fault:
//!   dirty again, while still under writeback, with the content unchanged: a buffered call's
//!   copied data stays), then thaws. The invalidation that follows finds the folio
//!   dirty: the model's "mapped folio re-dirtied by a racing store".
//! * A watchdog thread always thaws: when the calling thread has been in D state for a few
//!   polls (blocked on the held I/O), or after [`DEADLINE`]. [`Hold`]'s Drop thaws too, and
//!   scratch's cleanup thaws every lower filesystem before unmounting anything.
//! * On the lab's scsi_debug atomic disk (`live --device`) there is no lower filesystem: the
//!   disk's write commands are held instead ([`super::disk_hold`]: scsi_debug's error file
//!   requeues them as host-busy), with the same watchdog, Drop and checks.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diofuzz::model::TAG_OLD_DIRTY;
use diofuzz::scenario::{CowExtent, Extent, Scenario, World, PAGE_SIZE};

use super::plan::{pattern, Step};
use super::tracefs::TraceEvent;

/// What the call needs held around it (in [`super::plan::Call`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallPages {
    /// Byte ranges (page start, length inside EOF) put under writeback right before the call.
    pub writeback: Vec<(u64, u64)>,
    /// Byte ranges stored to through a kept MAP_SHARED mapping before the call, and again once
    /// the call's flush has made them clean.
    pub mapped: Vec<(u64, u64)>,
    /// Race::MmapRedirty with no cached page: the writer maps the file and stores nothing (the
    /// model's race re-dirties only folios in the cache; a store would fault a new one in).
    pub idle_writer: bool,
    /// Byte ranges (whole blocks, inside `writeback`) that the held writeback keeps unwritten
    /// until its I/O completes (session 11: the model's writeback page over an unwritten block,
    /// `Cx::converts_at_completion`); FIEMAP must show them unwritten during the hold, and
    /// every other block under a held page written.
    pub unwritten: Vec<(u64, u64)>,
}

impl CallPages {
    /// The call must run on a layered filesystem with a hold.
    pub fn held(&self) -> bool {
        !self.writeback.is_empty() || !self.mapped.is_empty()
    }
}

/// Why a busy-buffers page is not built on a block device (see docs/live.md "Page states").
pub const BUSY_BDEV: &str = "busy page buffers on a block device (held by a filesystem mounted on it or the per-CPU bh LRU: real, not deterministic here; docs/live.md \"On a block device\")";

/// Set-up of a page under writeback, or with busy buffers on journalled data, at `off`: its
/// written part (inside EOF) is rewritten buffered with the OLD pattern the disk already holds.
/// The writeback [`hold`] starts then changes nothing on disk (the model's writeback or busy
/// folio holds what the disk holds: `Cx::new` fills it from the disk); on journalled data the
/// write puts the folio's buffers on the running transaction (ext4_journalled_write_end ->
/// jbd2_journal_dirty_metadata), so ext4_release_folio fails until they are checkpointed.
/// Every block under it must be plain written: writeback of a hole, delalloc, unwritten or
/// shared block would change the block map.
pub fn rewrite_page(
    w: &World,
    off: u64,
    i_size: u64,
    steps: &mut Vec<Step>,
) -> Result<(), super::plan::Unsupported> {
    if off >= i_size {
        return Err("page under writeback or with busy buffers beyond EOF".into());
    }
    let bs = 1u64 << w.blkbits;
    let end = (off + PAGE_SIZE).min(i_size);
    let plain = (off / bs..end.div_ceil(bs)).all(|b| {
        w.blocks
            .get(b as usize)
            .is_some_and(|x| x.kind == Extent::Written && !x.shared)
    });
    if !plain {
        return Err(
            "page under writeback or with busy buffers over a block that is not plain written"
                .into(),
        );
    }
    steps.push(Step::WriteOld {
        off,
        len: end - off,
    });
    Ok(())
}

/// Set-up of a page under writeback (`PageState::Writeback`) at `off`, recorded in `held`: as
/// [`rewrite_page`], but the blocks under it inside EOF may also be unwritten (session 11).
/// The set-up's fallocate leaves them unwritten, the buffered rewrite puts the OLD pattern in
/// the page over them (ext4: `ext4_da_get_block_prep` maps the buffer unwritten; XFS:
/// `xfs_buffered_write_iomap_begin` maps the unwritten extent), and the writeback the hold
/// starts writes it but converts only at completion: ext4 on the default (`dioread_nolock`)
/// mount, `mpage_map_one_extent` with `EXT4_GET_BLOCKS_IO_CREATE_EXT` (6.12.117) /
/// `EXT4_GET_BLOCKS_UNWRIT_EXT` (7.3.4), `ext4_end_io_end` -> `ext4_convert_unwritten_io_end_vec`;
/// XFS `xfs_end_ioend` -> `xfs_iomap_write_unwritten`. (On a `nodioread_nolock` mount the
/// extent would be converted at submission: refused.)
pub fn rewrite_writeback_page(
    s: &Scenario,
    off: u64,
    i_size: u64,
    dioread_lock: bool,
    steps: &mut Vec<Step>,
    held: &mut CallPages,
) -> Result<(), super::plan::Unsupported> {
    let w = &s.world;
    if off >= i_size {
        return Err("page under writeback or with busy buffers beyond EOF".into());
    }
    let bs = 1u64 << w.blkbits;
    let end = (off + PAGE_SIZE).min(i_size);
    let blocks = off / bs..end.div_ceil(bs);
    let kind = |b: u64| w.blocks.get(b as usize).map(|x| (x.kind, x.shared));
    let unwritten: Vec<u64> = blocks
        .clone()
        .filter(|&b| kind(b) == Some((Extent::Unwritten, false)))
        .collect();
    if unwritten.is_empty() {
        rewrite_page(w, off, i_size, steps)?;
    } else {
        if !blocks
            .clone()
            .all(|b| matches!(kind(b), Some((Extent::Written | Extent::Unwritten, false))))
        {
            return Err("page under writeback over an unwritten block and a block that is neither plain written nor unwritten".into());
        }
        if s.fs == diofuzz::scenario::FsKind::Bdev {
            return Err("page under writeback over an unwritten block of a block device".into());
        }
        if dioread_lock {
            return Err("page under writeback over an unwritten block on a nodioread_nolock mount (mpage_map_one_extent converts it at submission)".into());
        }
        steps.push(Step::WriteOld {
            off,
            len: end - off,
        });
        for b in unwritten {
            match held.unwritten.last_mut() {
                Some((a, n)) if *a + *n == b * bs => *n += bs,
                _ => held.unwritten.push((b * bs, bs)),
            }
        }
    }
    held.writeback.push((off, end - off));
    Ok(())
}

/// Worlds a held page cannot be combined with here.
pub fn check_held(s: &Scenario, c: &CallPages, down: bool) -> Result<(), super::plan::Unsupported> {
    let w = &s.world;
    let why = if !c.mapped.is_empty() && (w.inode.append_only || w.inode.immutable) {
        // The hold maps the file after the race's chattr: do_mmap refuses a shared writable
        // mapping of an append-only inode (EACCES), ext4_page_mkwrite an immutable one.
        "mmapped dirty page on an append-only or immutable inode (live maps after the flag)"
    } else if down {
        "held page on a filesystem brought down"
    } else if !s.faults.is_empty() {
        "held page with an injected fault"
    } else if w.inode.disksize_lag {
        "held page with an i_disksize lag (its dirty page is written by the lag's own write)"
    } else if !c.unwritten.is_empty()
        && s.has_race(diofuzz::scenario::Race::LockContended)
        && s.request.rwf.nowait
    {
        // Session 11: the i_rwsem holder (built for RWF_NOWAIT, super::race) keeps the inode
        // lock until after the call, and the hold's FIEMAP check of the unwritten blocks would
        // wait for it (xfs_vn_fiemap takes XFS_IOLOCK_SHARED in 6.12.117 and 7.3.4,
        // ext4_fiemap inode_lock_shared in 7.3.4 and 6.18).
        "page under writeback over an unwritten block with the i_rwsem holder (the hold's FIEMAP check takes the inode lock the holder keeps)"
    } else if w.rlimit_fsize.is_some() {
        "held page with RLIMIT_FSIZE (the call runs in a child the watchdog does not watch)"
    } else if w.mount.data_journal || w.inode.journal_data {
        "held page on journalled data"
    } else if w.cow.iter().any(|c| *c != CowExtent::None) {
        // The CoW recipe reserves through the dirty pages' buffered writes (super::cow), and
        // writeback over a CoW-fork block remaps it.
        "held page with an XFS CoW fork"
    } else {
        return Ok(());
    };
    Err(why.into())
}

/// The longest the lower filesystem stays frozen once the call has started.
pub const DEADLINE: Duration = Duration::from_millis(1500);
/// The longest the lower filesystem stays frozen before the call starts.
const SETUP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the calling thread must be seen in D state before the hold is released.
const BLOCKED_POLLS: u32 = 3;
const POLL: Duration = Duration::from_millis(3);

// include/uapi/linux/fs.h: _IOWR('X', 119, int) and _IOWR('X', 120, int).
const FIFREEZE: libc::c_ulong = 0xC004_5877;
const FITHAW: libc::c_ulong = 0xC004_5878;
/// include/uapi/linux/kernel-page-flags.h
const KPF_WRITEBACK: u32 = 8;
/// include/uapi/linux/kernel-page-flags.h: KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL.
const KPF_COMPOUND: u64 = 1 << 15 | 1 << 16;

/// Name of a lower filesystem's mount point in the private folder.
pub fn lower_dir_name(label: &str) -> String {
    format!("lower-{label}")
}

/// Thaw the filesystem mounted at `mnt` if it is frozen (EINVAL: it was not). Never fails:
/// used by every cleanup path.
pub fn thaw(mnt: &Path) {
    if let Ok(d) = fs::File::open(mnt) {
        // SAFETY: FITHAW on a directory fd of ours; the argument is ignored.
        unsafe { libc::ioctl(d.as_raw_fd(), FITHAW as _, 0) };
    }
}

fn freeze(d: &fs::File) -> Result<(), String> {
    // SAFETY: FIFREEZE on a directory fd of ours; the argument is ignored.
    if unsafe { libc::ioctl(d.as_raw_fd(), FIFREEZE as _, 0) } != 0 {
        return Err(format!("FIFREEZE: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The lower filesystem's directory holding the loop image under the file `path`.
fn lower_of(path: &Path) -> Result<PathBuf, String> {
    let md = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dev = backing_dev(&md);
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    let b = fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/loop/backing_file"))
        .map_err(|e| format!("the scenario file is not on a loop device ({maj}:{min}): {e}"))?;
    let b = PathBuf::from(b.trim());
    b.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "loop backing file has no folder".to_string())
}

/// The loop device whose backing file lies on the lower filesystem: the one holding the scenario
/// file, or the scenario's block device itself (`--fs bdev`: its own device number), or the
/// one the scenario's nvme namespace exports (super::nvme_stable::exported_by).
fn backing_dev(md: &fs::Metadata) -> u64 {
    use std::os::unix::fs::FileTypeExt;
    if md.file_type().is_block_device() {
        super::nvme_stable::exported_by(md.rdev()).unwrap_or(md.rdev())
    } else {
        md.dev()
    }
}

/// Keep the events of the filesystem holding `path` (a layered plan's loop worker writes to
/// the lower filesystem from the calling thread: lo_rw_aio's NOWAIT submission, 6.18). Events
/// name their device as "dev MAJ,MIN" (ext4) or "dev MAJ:MIN" (iomap, XFS); one without a
/// device is kept.
///
/// A block device (`--fs bdev`) is no filesystem: there the lower filesystem's events are dropped
/// instead (the device's own, iomap_iter of its buffered write, name the bdev pseudo-filesystem).
pub fn upper_events(events: Vec<TraceEvent>, path: &Path) -> Vec<TraceEvent> {
    let Ok(md) = fs::metadata(path) else {
        return events;
    };
    let name = |d: u64| format!("{}:{}", libc::major(d), libc::minor(d));
    use std::os::unix::fs::FileTypeExt;
    if md.file_type().is_block_device() {
        let Some(lower) = lower_of(path).ok().and_then(|l| fs::metadata(l).ok()) else {
            return events;
        };
        let drop = name(lower.dev());
        return keep_dev(events, |d| d != drop);
    }
    let want = name(md.dev());
    keep_dev(events, |d| d == want)
}

/// The events without a device or whose device ("MAJ,MIN" or "MAJ:MIN") `keep` accepts.
fn keep_dev(events: Vec<TraceEvent>, keep: impl Fn(&str) -> bool) -> Vec<TraceEvent> {
    events
        .into_iter()
        .filter(|e| e.field("dev").map_or(true, |d| keep(&d.replace(',', ":"))))
        .collect()
}

/// A mapping of whole pages of the scenario file (MAP_SHARED to store to them, MAP_PRIVATE to
/// look at them).
struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, off: u64, len: u64, prot: i32, flags: i32) -> Result<Mapping, String> {
        let len = len.div_ceil(PAGE_SIZE) as usize * PAGE_SIZE as usize;
        // SAFETY: a new mapping of our file, page aligned.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                fd,
                off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        // No read-around on the fault (do_sync_mmap_readahead: VM_RAND_READ): only the page
        // asked for is cached (a device has no EOF to stop the read-around).
        // SAFETY: advice on our mapping.
        unsafe { libc::madvise(p, len, libc::MADV_RANDOM) };
        Ok(Mapping {
            addr: p as usize,
            len,
        })
    }
    /// Store `data` at the start of the mapping (volatile: every byte is a store).
    fn store(&self, data: &[u8]) {
        for (i, b) in data.iter().enumerate().take(self.len) {
            // SAFETY: inside our live mapping.
            unsafe { std::ptr::write_volatile((self.addr + i) as *mut u8, *b) };
        }
    }

    /// A racing store that changes nothing: each page's first byte written back as it is now.
    /// A write fault dirties the folio again, and whatever the call has copied into it by then
    /// stays (re-storing the set-up's bytes would overwrite a buffered write's data with them:
    /// the model's re-dirty keeps the cached content).
    fn touch(&self) {
        for off in (0..self.len).step_by(PAGE_SIZE as usize) {
            let p = (self.addr + off) as *mut u8;
            // SAFETY: inside our live mapping.
            unsafe { std::ptr::write_volatile(p, std::ptr::read_volatile(p)) };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our mapping.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

/// Is the page at file offset `off` of `fd` under writeback? (/proc/kpageflags KPF_WRITEBACK of
/// the pfn a read-only mapping of it shows in /proc/self/pagemap.)
pub fn under_writeback(fd: i32, off: u64) -> Result<bool, String> {
    Ok(kpageflags(fd, off)? >> KPF_WRITEBACK & 1 == 1)
}

/// A held page must be a folio of its own: the model's page states are per 4 KiB page, and a
/// large folio shares one dirty, writeback and mapped state with its neighbours (measured on
/// 6.16.12: a clean page read next to a page then written buffered became the head of an
/// order-1 folio with it, so the held page's re-dirtying made the clean page's folio dirty and
/// the atomic write's invalidation failed, -EAGAIN; 7.3.4 kept two folios). Such a world is
/// not the scenario's: "not possible here".
fn own_folio(fd: i32, off: u64) -> Result<(), String> {
    if kpageflags(fd, off)? & KPF_COMPOUND != 0 {
        return Err(format!(
            "{}: the held page at {off} is part of a large folio (KPF_COMPOUND_HEAD/TAIL): it shares its state with its neighbours, which the scenario's pages do not",
            super::exec::UNAVAILABLE
        ));
    }
    Ok(())
}

/// /proc/kpageflags of the page at file offset `off` of `fd` (the pfn a read-only mapping of it
/// shows in /proc/self/pagemap). The mapping is private: a read fault maps the page-cache page
/// itself, and do_mmap refuses any MAP_SHARED mapping of an append-only inode through a
/// descriptor open for writing (EACCES), which is what `fd` is.
fn kpageflags(fd: i32, off: u64) -> Result<u64, String> {
    let m = Mapping::new(fd, off, PAGE_SIZE, libc::PROT_READ, libc::MAP_PRIVATE)?;
    // SAFETY: reading one byte of our mapping faults the cached page in.
    let _ = unsafe { std::ptr::read_volatile(m.addr as *const u8) };
    let mut e = [0u8; 8];
    let pm = fs::File::open("/proc/self/pagemap").map_err(|e| format!("pagemap: {e}"))?;
    use std::os::unix::fs::FileExt;
    pm.read_exact_at(&mut e, (m.addr as u64 / PAGE_SIZE) * 8)
        .map_err(|e| format!("pagemap: {e}"))?;
    let ent = u64::from_le_bytes(e);
    let pfn = ent & ((1 << 55) - 1);
    if ent >> 63 == 0 || pfn == 0 {
        return Err("pagemap: page not present or pfn hidden (needs CAP_SYS_ADMIN)".into());
    }
    let kf = fs::File::open("/proc/kpageflags").map_err(|e| format!("kpageflags: {e}"))?;
    kf.read_exact_at(&mut e, pfn * 8)
        .map_err(|e| format!("kpageflags: {e}"))?;
    Ok(u64::from_le_bytes(e))
}

/// What the watchdog saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The calling thread was seen blocked (D state) before the thaw.
    pub blocked: bool,
    /// Its /proc wchan then.
    pub wchan: String,
    /// The mapped pages were stored to again while it was blocked.
    pub restored: bool,
}

/// What holds the writes: a frozen lower filesystem (a layered loop device) or the scsi_debug
/// disk's host-busy rules ([`super::disk_hold`]).
#[derive(Clone, Debug)]
enum Gate {
    Freeze(PathBuf),
    Scsi(PathBuf),
}

impl Gate {
    /// The gate of the device under `path`: its loop device's lower filesystem, else its
    /// scsi_debug disk.
    fn of(path: &Path) -> Result<Gate, String> {
        match lower_of(path) {
            Ok(l) => Ok(Gate::Freeze(l)),
            Err(e) => fs::metadata(path)
                .ok()
                .and_then(|md| super::disk_hold::error_file(backing_dev(&md)))
                .map(Gate::Scsi)
                .ok_or_else(|| {
                    format!(
                        "{}: {e}; nor on a scsi_debug disk with a debugfs error file (mount debugfs; scsi_debug 6.8+) to hold its writes",
                        super::exec::UNAVAILABLE
                    )
                }),
        }
    }

    fn close(&self) -> Result<(), String> {
        match self {
            Gate::Freeze(l) => {
                let d = fs::File::open(l).map_err(|e| format!("{}: {e}", l.display()))?;
                freeze(&d)
            }
            Gate::Scsi(f) => super::disk_hold::close(f),
        }
    }

    /// Never fails: used by every release path.
    fn open(&self) {
        match self {
            Gate::Freeze(l) => thaw(l),
            Gate::Scsi(f) => super::disk_hold::open(f),
        }
    }
}

/// The held writes and their watchdog; released after the call.
pub struct Hold {
    gate: Gate,
    done: Arc<AtomicBool>,
    go: Arc<AtomicBool>,
    watchdog: Option<std::thread::JoinHandle<Held>>,
}

impl Hold {
    /// The call starts now: from here the watchdog reads a blocked thread as blocked by the
    /// held I/O (before, e.g. the tracer's synchronize_rcu also shows D state).
    pub fn go(&self) {
        self.go.store(true, Ordering::SeqCst);
    }

    /// Thaw (if the watchdog has not) and report what it saw.
    pub fn release(mut self) -> Held {
        self.done.store(true, Ordering::SeqCst);
        let h = self
            .watchdog
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        self.gate.open();
        h
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.gate.open();
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
    }
}

/// State letter of thread `tid` of this process (/proc/self/task/TID/stat, after the comm).
fn thread_state(tid: i32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// Set up the hold right before the call on `fd` (the scenario file at `path`): the mapped
/// stores, the freeze (or the disk's rules), the writeback, its check, and the watchdog
/// watching this thread. None when the plan needs no hold.
pub fn hold(
    c: &CallPages,
    fd: i32,
    path: &Path,
    lock_holder: bool,
) -> Result<Option<Hold>, String> {
    if !c.held() {
        return Ok(None);
    }
    let gate = Gate::of(path)?;
    // The stores through the kept mapping (page_mkwrite), before the freeze.
    let mut maps = Vec::new();
    for &(off, len) in &c.mapped {
        let m = Mapping::new(
            fd,
            off,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        )?;
        let mut data = vec![0u8; len as usize];
        pattern(TAG_OLD_DIRTY, off, &mut data);
        m.store(&data);
        maps.push((m, data));
    }
    for &(off, len) in c.mapped.iter().chain(&c.writeback) {
        for p in (off..off + len).step_by(PAGE_SIZE as usize) {
            own_folio(fd, p)?;
        }
    }
    gate.close()?;
    let done = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let mut h = Hold {
        gate: gate.clone(),
        done: done.clone(),
        go: go.clone(),
        watchdog: None,
    };
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    h.watchdog = Some(std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut started = None;
        let mut seen = 0;
        let mut held = Held::default();
        while !done.load(Ordering::SeqCst)
            && t0.elapsed() < SETUP_DEADLINE
            && started.map_or(true, |t: Instant| t.elapsed() < DEADLINE)
        {
            std::thread::sleep(POLL);
            if started.is_none() {
                if go.load(Ordering::SeqCst) {
                    started = Some(Instant::now());
                }
                continue;
            }
            if thread_state(tid) == Some('D') {
                seen += 1;
                if seen >= BLOCKED_POLLS {
                    held.blocked = true;
                    held.wchan = fs::read_to_string(format!("/proc/self/task/{tid}/wchan"))
                        .unwrap_or_default();
                    break;
                }
            } else {
                seen = 0;
            }
        }
        if held.blocked && !maps.is_empty() {
            // Dirty again while the flush waits: in a thread of its own, so that a store that
            // blocks cannot keep the filesystem frozen.
            let st = std::thread::spawn(move || {
                for (m, _) in &maps {
                    m.touch();
                }
                maps
            });
            let t1 = Instant::now();
            while !st.is_finished() && t1.elapsed() < Duration::from_millis(500) {
                std::thread::sleep(POLL);
            }
            held.restored = st.is_finished();
            gate.open();
            let _ = st.join();
        } else {
            gate.open();
            drop(maps);
        }
        held
    }));
    // The writeback starts after the watchdog does (session 10): with the writes held, the
    // flusher of a concurrent sync(2) may hold the folio lock, blocked on the journal whose
    // commit waits for held ordered data (a delayed block allocated written on a
    // nodioread_nolock mount), and sync_file_range then waits on the folio lock. The watchdog
    // opens the gate at its set-up deadline; a writeback started only then is not held.
    for &(off, len) in &c.writeback {
        // SAFETY: sync_file_range on our fd.
        let r = unsafe {
            libc::sync_file_range(fd, off as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE)
        };
        if r != 0 {
            return Err(format!(
                "sync_file_range: {}",
                std::io::Error::last_os_error()
            ));
        }
        if !under_writeback(fd, off)? {
            return Err(format!(
                "not possible here: the page at {off} is not under writeback after sync_file_range with the writes held ({:?})",
                h.gate
            ));
        }
    }
    // Not with the i_rwsem holder (`lock_holder`): FIEMAP takes the inode lock it keeps
    // (xfs_vn_fiemap: XFS_IOLOCK_SHARED; ext4_fiemap: inode_lock_shared since 6.x, 7.3.4) and
    // the set-up deadlocked (session 11, `live --fs xfs --worlds held --seed 2`, and ext4 on
    // 6.18.44); its held pages are over written blocks only ([`check_held`]).
    if !lock_holder {
        written_under_writeback(fd, &c.writeback, &c.unwritten)?;
    }
    if h.watchdog.as_ref().is_some_and(|w| w.is_finished()) {
        return Err(format!(
            "not possible here: the writeback could not be started with the writes held before the set-up deadline (a concurrent sync?) ({:?})",
            h.gate
        ));
    }
    Ok(Some(h))
}

/// The model's page under writeback is over written blocks (`rewrite_page`; session 10: also
/// a delayed block the writeback just allocated, on a `nodioread_nolock` mount,
/// [`super::settle_race`]) or, since session 11, over the unwritten blocks `unwritten` that
/// its writeback converts at completion ([`rewrite_writeback_page`]): FIEMAP (no sync) once
/// the writeback started must show exactly those unwritten under the held ranges, every other
/// block there written and none delayed (a harness error otherwise, never a comparison: on
/// the default ext4 mount a block that writeback *allocates* is unwritten until
/// `ext4_end_io_end` converts it). A file without FIEMAP (a block device) has nothing to check.
fn written_under_writeback(
    fd: i32,
    ranges: &[(u64, u64)],
    unwritten: &[(u64, u64)],
) -> Result<(), String> {
    use super::fiemap::{FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_UNWRITTEN};
    if ranges.is_empty() {
        return Ok(());
    }
    let Ok(ext) = super::fiemap::fiemap(fd) else {
        return Ok(());
    };
    let inside = |a: u64, e: u64| unwritten.iter().any(|&(u, n)| u <= a && e <= u + n);
    for &(off, len) in ranges {
        for &(l, _, n, f) in &ext {
            let (a, e) = (l.max(off), (l + n).min(off + len));
            if a >= e {
                continue;
            }
            let uw = f & FIEMAP_EXTENT_UNWRITTEN != 0;
            if f & FIEMAP_EXTENT_DELALLOC != 0 || uw && !inside(a, e) {
                return Err(format!(
                    "the page at {off} is under writeback over an {} extent at [{l}, {}) (the model's writeback page is over written blocks there; an ext4 delayed block written back on a dioread_nolock mount stays unwritten until the I/O completes)",
                    if uw { "unwritten" } else { "delayed" },
                    l + n
                ));
            }
            if !uw && unwritten.iter().any(|&(u, m)| u < e && a < u + m) {
                return Err(format!(
                    "the page at {off} is under writeback over a written extent at [{l}, {}) where the world has an unwritten block (converted at submission: a nodioread_nolock mount, or the writeback completed?)",
                    l + n
                ));
            }
        }
    }
    for &(u, m) in unwritten {
        let covered: u64 = ext
            .iter()
            .filter(|x| x.3 & FIEMAP_EXTENT_UNWRITTEN != 0)
            .map(|&(l, _, n, _)| (l + n).min(u + m).saturating_sub(l.max(u)))
            .sum();
        if covered != m {
            return Err(format!(
                "FIEMAP during the hold: [{u}, {}) is not all unwritten under the held writeback ({covered} of {m} bytes)",
                u + m
            ));
        }
    }
    Ok(())
}

/// C: FIEMAP during the hold must show [off, off+len) unwritten (the world's unwritten blocks
/// under a held writeback page, converted only when the I/O completes); else the program
/// cannot build the world (exit 2). Session 11.
pub const C_UNWRITTEN: &str = r#"
struct hold_fm_ext { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; };
struct hold_fm { uint64_t start, length; uint32_t flags, mapped, count, reserved; struct hold_fm_ext ext[64]; };

static void hold_unwritten(int fd, off_t off, off_t len)
{
	static struct hold_fm m;
	unsigned long long got = 0;
	memset(&m, 0, sizeof(m));
	m.start = off;
	m.length = len;
	m.count = 64;
	if (ioctl(fd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m) == 0)
		for (unsigned i = 0; i < m.mapped; i++) {
			uint64_t a = m.ext[i].logical, e = a + m.ext[i].length;
			if (!(m.ext[i].flags & 0x800 /* FIEMAP_EXTENT_UNWRITTEN */))
				continue;
			a = a < (uint64_t)off ? (uint64_t)off : a;
			e = e > (uint64_t)(off + len) ? (uint64_t)(off + len) : e;
			if (e > a)
				got += e - a;
		}
	printf("FIEMAP during the hold: [%lld, %lld) unwritten: %s\n", (long long)off, (long long)(off + len), got == (unsigned long long)len ? "yes" : "NO");
	if (got != (unsigned long long)len) {
		printf("COULD NOT RUN: the block under the held writeback is not unwritten (a nodioread_nolock mount converts it at submission)\n");
		exit(2);
	}
}
"#;

/// C for the reproducer (tools/src/live/repro.rs): the same hold, with a pthread watchdog.
/// The program must run on a layered filesystem (`diofuzz repro --run` makes one); elsewhere it
/// says so and exits 2.
pub const C_PRELUDE: &str = r#"
#include <pthread.h>
#include <sys/sysmacros.h>
#define FIFREEZE_ 0xC0045877UL
#define FITHAW_ 0xC0045878UL
/* The hold (diofuzz tools/src/live/pages.rs): the file's loop device is backed by a file on a
 * lower filesystem; freezing that one keeps every write bio of this filesystem in flight. A
 * watchdog thread always thaws: once the call is blocked (D state), or 1.5 s after it started,
 * or 5 s after the freeze. */
static int hold_lower = -1;
static volatile int hold_go, hold_done, hold_restored, hold_blocked;
static pid_t hold_tid;
static pthread_t hold_thr;
static struct { unsigned char *m; unsigned char *d; size_t len; } hold_maps[64];
static int hold_nmaps;

static void hold_thaw(void)
{
	if (hold_lower >= 0)
		ioctl(hold_lower, FITHAW_, 0);
	if (hold_scsi[0])
		hold_scsi_open();
}

/* The first line of file `p` in `b` (without its newline); 0, or -1. */
static int hold_read(const char *p, char *b, size_t n)
{
	int f = open(p, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t k = read(f, b, n - 1);
	close(f);
	if (k <= 0)
		return -1;
	b[k] = 0;
	b[strcspn(b, "\n")] = 0;
	return 0;
}

static int hold_lower_fd(const char *path)
{
	struct stat st;
	char sys[640], b[4096], nqn[256], nsid[32];
	if (stat(path, &st))
		return -1;
	/* A block device (diofuzz live --fs bdev) is the loop device itself. */
	dev_t d = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	/* An nvme namespace of an nvmet target of ours (the lab's repro guest): the loop device its
	 * configfs namespace exports (diofuzz tools/src/live/nvme_stable.rs exported_by). */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/device/subsysnqn", major(d), minor(d));
	if (S_ISBLK(st.st_mode) && !hold_read(sys, nqn, sizeof(nqn))) {
		struct stat bs;
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/nsid", major(d), minor(d));
		if (!hold_read(sys, nsid, sizeof(nsid))) {
			snprintf(sys, sizeof(sys), "/sys/kernel/config/nvmet/subsystems/%s/namespaces/%s/device_path", nqn, nsid);
			if (!hold_read(sys, b, sizeof(b)) && !stat(b, &bs) && S_ISBLK(bs.st_mode)) {
				d = bs.st_rdev;
				printf("hold: the nvme namespace exports %s\n", b);
			}
		}
	}
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file", major(d), minor(d));
	int f = open(sys, O_RDONLY);
	if (f < 0)
		return -1;
	ssize_t n = read(f, b, sizeof(b) - 1);
	close(f);
	if (n <= 0)
		return -1;
	b[n] = 0;
	if (b[n - 1] == '\n')
		b[n - 1] = 0;
	char *slash = strrchr(b, '/');
	if (!slash)
		return -1;
	*slash = 0;
	return open(b, O_RDONLY | O_DIRECTORY);
}

static uint64_t hold_kpf(int fd, off_t off)
{
	/* private: the page-cache page itself, also on an append-only inode (no MAP_SHARED there) */
	unsigned char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, off);
	uint64_t e = 0, fl = 0;
	if (m == MAP_FAILED)
		return 0;
	madvise(m, 4096, MADV_RANDOM);
	(void)*(volatile unsigned char *)m;
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	if (pm >= 0 && pread(pm, &e, 8, (uintptr_t)m / 4096 * 8) == 8 && (e >> 63) && kf >= 0)
		pread(kf, &fl, 8, (e & ((1ULL << 55) - 1)) * 8);
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	munmap(m, 4096);
	return fl;
}

static int hold_under_writeback(int fd, off_t off)
{
	return (hold_kpf(fd, off) >> 8) & 1; /* KPF_WRITEBACK */
}

/* A held page must be a folio of its own (the scenario's states are per 4 KiB page). */
static void hold_own_folio(int fd, off_t off)
{
	if (hold_kpf(fd, off) & (3ULL << 15)) { /* KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL */
		printf("COULD NOT RUN: the held page at %lld is part of a large folio: it shares its state with its neighbours\n", (long long)off);
		exit(2);
	}
}

static char hold_state(void)
{
	char p[64], b[512];
	snprintf(p, sizeof(p), "/proc/self/task/%d/stat", (int)hold_tid);
	int f = open(p, O_RDONLY);
	if (f < 0)
		return 0;
	ssize_t n = read(f, b, sizeof(b) - 1);
	close(f);
	if (n <= 0)
		return 0;
	b[n] = 0;
	char *c = strrchr(b, ')');
	return c && c[1] == ' ' ? c[2] : 0;
}

static void *hold_restore(void *a)
{
	(void)a;
	/* A store that changes nothing: the folio is dirty again, and what the call copied into
	 * it by now stays. */
	for (int i = 0; i < hold_nmaps; i++)
		for (size_t j = 0; j < hold_maps[i].len; j += 4096) {
			volatile unsigned char *p = hold_maps[i].m + j;
			*p = *p;
		}
	hold_restored = 1;
	return NULL;
}

static long long hold_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void *hold_watch(void *a)
{
	(void)a;
	long long t0 = hold_ms(), started = -1;
	int seen = 0;
	while (!hold_done && hold_ms() - t0 < 5000 && (started < 0 || hold_ms() - started < 1500)) {
		usleep(3000);
		if (started < 0) {
			if (hold_go)
				started = hold_ms();
			continue;
		}
		if (hold_state() == 'D') {
			if (++seen >= 3) {
				hold_blocked = 1;
				break;
			}
		} else {
			seen = 0;
		}
	}
	if (hold_blocked && hold_nmaps) {
		/* Dirty again while the flush waits, in a thread of its own. */
		pthread_t r;
		pthread_create(&r, NULL, hold_restore, NULL);
		long long t1 = hold_ms();
		while (!hold_restored && hold_ms() - t1 < 500)
			usleep(3000);
		hold_thaw();
		pthread_join(r, NULL);
	} else {
		hold_thaw();
	}
	return NULL;
}

/* Store `tag` data through a kept shared mapping of [off, off+len) (page_mkwrite). */
static __attribute__((unused)) void hold_map(int fd, off_t off, size_t len, unsigned char tag)
{
	unsigned char *m = mmap(NULL, (len + 4095) & ~4095UL, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (m == MAP_FAILED)
		die("mmap shared");
	madvise(m, (len + 4095) & ~4095UL, MADV_RANDOM); /* no read-around on the fault */
	unsigned char *d = malloc(len);
	pat(d, off, len, tag);
	memcpy(m, d, len);
	for (size_t j = 0; j < len; j += 4096)
		hold_own_folio(fd, off + j);
	hold_maps[hold_nmaps].m = m;
	hold_maps[hold_nmaps].d = d;
	hold_maps[hold_nmaps++].len = len;
}

/* Freeze the lower filesystem of `path` (or hold the writes of its scsi_debug disk); 0, or 2
 * when the file is on neither. */
static int hold_freeze(const char *path)
{
	hold_lower = hold_lower_fd(path);
	if (hold_lower < 0 && hold_scsi_find(path) == 0) {
		atexit(hold_thaw);
		if (hold_scsi_close())
			die("scsi_debug error file");
		printf("hold: the write commands of the scsi_debug disk are held (%s)\n", hold_scsi);
		return 0;
	}
	if (hold_lower < 0) {
		printf("COULD NOT RUN: the file is neither on a loop device whose backing file lies on a filesystem that can be frozen nor on a scsi_debug disk with a debugfs error file (run it with `diofuzz repro --run`)\n");
		return 2;
	}
	atexit(hold_thaw);
	if (ioctl(hold_lower, FIFREEZE_, 0))
		die("FIFREEZE");
	return 0;
}

static __attribute__((unused)) void hold_writeback(int fd, off_t off, off_t len)
{
	for (off_t j = 0; j < len; j += 4096)
		hold_own_folio(fd, off + j);
	if (sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE))
		die("sync_file_range");
	int w = hold_under_writeback(fd, off);
	printf("page at %lld under writeback: %s\n", (long long)off, w > 0 ? "yes" : w == 0 ? "NO" : "unknown");
}

static void hold_start(void)
{
	hold_tid = (pid_t)syscall(SYS_gettid);
	pthread_create(&hold_thr, NULL, hold_watch, NULL);
}

static void hold_end(void)
{
	hold_done = 1;
	pthread_join(hold_thr, NULL);
	hold_thaw();
	printf("hold: the call was %sblocked on the held I/O%s\n", hold_blocked ? "" : "not ", hold_restored ? "; the mapped pages were stored to again" : "");
}
"#;

/// C that sets up the hold right before the call (the file is `path`, the set-up fd `fd`; a
/// block device's node is not removed on failure).
pub fn c_hold_begin(c: &CallPages, bdev: bool) -> String {
    let mut o = String::new();
    if !c.held() {
        return o;
    }
    for &(off, len) in &c.mapped {
        o.push_str(&format!("\thold_map(fd, {off}, {len}, 0x22);\n"));
    }
    let unlink = if bdev { "" } else { "\t\tunlink(path);\n" };
    o.push_str(&format!(
        "\tif (hold_freeze(path)) {{\n{unlink}\t\treturn 2;\n\t}}\n"
    ));
    for &(off, len) in &c.writeback {
        o.push_str(&format!("\thold_writeback(fd, {off}, {len});\n"));
    }
    for &(off, len) in &c.unwritten {
        o.push_str(&format!("\thold_unwritten(fd, {off}, {len});\n"));
    }
    o.push_str("\thold_start();\n\thold_go = 1;\n");
    o
}

/// C after the call.
pub fn c_hold_end(c: &CallPages) -> &'static str {
    if c.held() {
        "\thold_end();\n"
    } else {
        ""
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn held_only_with_ranges() {
        assert!(!CallPages::default().held());
        let c = CallPages {
            idle_writer: true,
            ..Default::default()
        };
        assert!(!c.held());
        let c = CallPages {
            writeback: vec![(0, 4096)],
            ..Default::default()
        };
        assert!(c.held());
    }

    use super::super::plan::{plan, Step};
    use diofuzz::generators::random::generate;
    use diofuzz::scenario::{BlockState, FsKind, PageState, Race};

    /// 16 KiB of written blocks, a 4096-byte non-atomic direct write at 0, `pages`.
    pub fn world(fs: FsKind, pages: Vec<PageState>) -> Scenario {
        let mut s = generate(1, 0, fs);
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            };
            4
        ];
        s.world.cow.clear();
        s.world.pages = pages;
        s.world.rlimit_fsize = None;
        s.world.mount.data_journal = false;
        s.world.mount.shutdown = false;
        s.world.mount.emergency_ro = false;
        s.world.inode = Default::default();
        s.world.inode.extents = true;
        s.world.inode.nosec = true;
        s.races.clear();
        s.faults.clear();
        s.request = Default::default();
        s.request.open.direct = true;
        s.request.len = 4096;
        s.request.nr_segs = 1;
        s.request.buf_align = 4096;
        s
    }

    #[test]
    fn writeback_page_is_rewritten_and_held() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let s = world(fs, vec![PageState::None, PageState::Writeback]);
            let p = plan(&s).unwrap();
            assert!(p.key.layered && !p.racy);
            assert_eq!(p.call.pages.writeback, vec![(4096, 4096)]);
            assert!(p.steps.contains(&Step::WriteOld {
                off: 4096,
                len: 4096
            }));
            // Nothing buffered-dirty: the hold starts the writeback of the rewritten page.
            assert!(!p.steps.iter().any(|s| matches!(s, Step::WriteDirty { .. })));
        }
        // Over a hole or a shared block, writeback would change the block map.
        let mut s = world(FsKind::Ext4, vec![PageState::Writeback]);
        s.world.blocks[0].kind = Extent::Hole;
        assert!(plan(&s).is_err());
        // Over an unwritten block (session 11): built, the block checked unwritten in the hold.
        s.world.blocks[0].kind = Extent::Unwritten;
        let p = plan(&s).unwrap();
        assert!(!p.call.pages.unwritten.is_empty());
        assert_eq!(p.call.pages.unwritten[0].0, 0);
        // Beyond EOF there is nothing to write back.
        let mut s = world(FsKind::Ext4, vec![PageState::None; 4]);
        s.world.pages.push(PageState::Writeback);
        s.world.i_size = 16384;
        assert!(plan(&s).is_err());
    }

    #[test]
    fn mapped_dirty_page_is_stored_at_the_hold() {
        let s = world(FsKind::Xfs, vec![PageState::MappedDirty]);
        let p = plan(&s).unwrap();
        assert!(p.key.layered && !p.racy && !p.call.mmap_writer);
        assert_eq!(p.call.pages.mapped, vec![(0, 4096)]);
        assert!(!p.steps.iter().any(|s| matches!(s, Step::WriteDirty { .. })));
        // Not with RLIMIT_FSIZE (the call runs in a child) or journalled data.
        let mut r = s.clone();
        r.world.rlimit_fsize = Some(1 << 20);
        assert!(plan(&r).unwrap_err().contains("RLIMIT_FSIZE"));
        let mut j = world(FsKind::Ext4, vec![PageState::MappedDirty]);
        j.world.mount.data_journal = true;
        assert!(plan(&j).unwrap_err().contains("journalled"));
    }

    #[test]
    fn mmap_writer_without_cached_pages_is_idle_and_not_racy() {
        let mut s = world(FsKind::Ext4, vec![]);
        s.races.push(Race::MmapRedirty);
        let p = plan(&s).unwrap();
        assert!(p.call.mmap_writer && p.call.pages.idle_writer && !p.racy);
        assert!(!p.key.layered);
        let mut c = world(FsKind::Ext4, vec![PageState::Clean]);
        c.races.push(Race::MmapRedirty);
        let p = plan(&c).unwrap();
        assert!(p.racy && !p.call.pages.idle_writer);
    }

    #[test]
    fn busy_buffers_only_on_journalled_data() {
        let mut s = world(FsKind::Ext4, vec![PageState::Busy]);
        s.world.mount.data_journal = true;
        let p = plan(&s).unwrap();
        assert!(!p.key.layered);
        assert!(p.steps.contains(&Step::WriteOld { off: 0, len: 4096 }));
    }

    #[test]
    fn the_generator_draws_held_pages() {
        let (mut wb, mut md) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate(7, i, fs);
                let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                wb += s.world.pages.contains(&PageState::Writeback) as u32;
                md += s.world.pages.contains(&PageState::MappedDirty) as u32;
                assert_eq!(p.key.layered, p.call.pages.held());
            }
        }
        assert!(wb > 20 && md > 20, "writeback {wb}, mapped dirty {md}");
    }

    /// Held and idle-writer scenarios for the C reproducer's compile test (repro::tests).
    pub fn c_scenarios() -> Vec<Scenario> {
        let mut idle = world(FsKind::Ext4, vec![]);
        idle.races.push(Race::MmapRedirty);
        vec![
            world(
                FsKind::Ext4,
                vec![PageState::Writeback, PageState::MappedDirty],
            ),
            world(FsKind::Xfs, vec![PageState::MappedDirty]),
            idle,
        ]
    }

    #[test]
    fn c_program_holds_and_idles() {
        for (i, s) in c_scenarios().iter().enumerate() {
            let c = super::super::repro::c_program(s).unwrap();
            assert_eq!(c.contains("hold_freeze(path)"), i < 2, "{i}");
            // The same program holds a scsi_debug disk's writes when there is no lower
            // filesystem (super::disk_hold).
            assert_eq!(c.contains("hold_scsi_find(path) == 0"), i < 2, "{i}");
            // A held page in a large folio is refused (its neighbours share its state).
            assert_eq!(c.contains("hold_own_folio(fd, off + j)"), i < 2, "{i}");
            assert_eq!(c.contains("hold_writeback(fd, 0, 4096)"), i == 0, "{i}");
            assert_eq!(c.contains("hold_map(fd, "), i < 2, "{i}");
            assert_eq!(c.contains("pause();"), i == 2, "{i}");
        }
    }

    /// A block device's page under writeback is rewritten with what the device holds (the old
    /// pattern over a written block, zeroes over a hole: bdev_normalize), a mapped dirty page is
    /// read in and stored to at the hold; both on a layered loop device, not on the disk.
    #[test]
    fn bdev_pages_are_held_on_a_layered_loop_device() {
        let mut s = generate(9, 0, FsKind::Bdev);
        s.races.clear();
        s.request.pos = 0;
        s.world.i_size = 4 * PAGE_SIZE;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            },
            BlockState::default(),
        ];
        s.world.pages = vec![
            PageState::Writeback,
            PageState::Writeback,
            PageState::MappedDirty,
        ];
        let p = plan(&s).unwrap_err();
        assert!(p.contains("raw block device"), "{p}");
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert!(p.key.layered && p.key.label().ends_with("-layered"));
        assert_eq!(p.call.pages.writeback, vec![(0, 4096), (4096, 4096)]);
        assert_eq!(p.call.pages.mapped, vec![(8192, 4096)]);
        let after: Vec<_> = p
            .steps
            .iter()
            .skip_while(|st| **st != Step::DropCache)
            .skip(1)
            .cloned()
            .collect();
        assert_eq!(
            after,
            vec![
                Step::WriteOld { off: 0, len: 4096 },
                Step::WriteZero {
                    off: 4096,
                    len: 4096
                },
                Step::ReadPage { off: 8192 },
            ]
        );
        // On the --device disk the same pages are held by the disk's rules (super::disk_hold),
        // not on a layered loop device.
        let d = diofuzz::generators::random::Disk {
            awu_min: 0,
            awu_max: 0,
            lbs_bits: s.world.lbs_bits,
            dma_alignment: s.world.device.dma_alignment,
        };
        let p = super::super::plan::plan_on(&s, Some(&d)).unwrap();
        assert!(!p.key.layered && p.key.disk);
        assert_eq!(p.call.pages.writeback, vec![(0, 4096), (4096, 4096)]);
        // Busy buffers stay refused, with the reason.
        s.world.pages = vec![PageState::Busy];
        let e = super::super::plan::plan_on(&s, None).unwrap_err();
        assert_eq!(e, BUSY_BDEV);
    }

    #[test]
    fn the_generator_draws_held_bdev_pages() {
        let (mut wb, mut md) = (0, 0);
        for i in 0..3000 {
            let s = generate(7, i, FsKind::Bdev);
            let p = super::super::plan::plan_on(&s, None).unwrap_or_else(|e| panic!("{i}: {e}"));
            wb += s.world.pages.contains(&PageState::Writeback) as u32;
            md += s.world.pages.contains(&PageState::MappedDirty) as u32;
            assert_eq!(p.key.layered, p.call.pages.held());
        }
        assert!(wb > 20 && md > 20, "writeback {wb}, mapped dirty {md}");
    }

    /// The atomic disk's groups (`live --device`) draw held pages too, from a stream of their
    /// own, and plan them on the disk (held by super::disk_hold), never on a layered loop device.
    #[test]
    fn the_generator_draws_held_pages_on_the_disk() {
        use diofuzz::generators::random::{generate_on, Disk};
        let d = Disk {
            awu_min: 1024,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 3,
        };
        for fs in [FsKind::Ext4, FsKind::Xfs, FsKind::Bdev] {
            let (mut drawn, mut planned) = (0, 0);
            for i in 0..1500 {
                let s = generate_on(7, i, fs, Some(&d), 0);
                if !s
                    .world
                    .pages
                    .iter()
                    .any(|p| matches!(p, PageState::Writeback | PageState::MappedDirty))
                {
                    continue;
                }
                drawn += 1;
                if let Ok(p) = super::super::plan::plan_on(&s, Some(&d)) {
                    planned += 1;
                    assert!(p.call.pages.held() && !p.key.layered && p.key.disk, "{i}");
                }
            }
            assert!(
                drawn > 20 && planned * 10 >= drawn * 8,
                "{fs:?}: {planned} of {drawn}"
            );
        }
        // A loop scenario is what it was: the disk stream is not drawn without a disk.
        assert_eq!(
            generate(7, 3, FsKind::Ext4),
            generate_on(7, 3, FsKind::Ext4, None, 0)
        );
    }

    /// The reproducer of a held bdev page freezes the device's own lower filesystem and never
    /// removes the device node.
    #[test]
    fn c_program_holds_a_bdev_page_without_unlinking_the_device() {
        let mut s = generate(9, 0, FsKind::Bdev);
        s.races.clear();
        s.request.pos = 0;
        s.world.pages = vec![PageState::MappedDirty];
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(c.contains("hold_freeze(path)") && c.contains("hold_map(fd, 0, 4096"));
        assert!(c.contains("S_ISBLK(st.st_mode) ? st.st_rdev"));
        let begin = c_hold_begin(&p_pages(&s), true);
        assert!(!begin.contains("unlink"), "{begin}");
        assert!(c_hold_begin(&p_pages(&s), false).contains("unlink(path)"));
    }

    fn p_pages(s: &Scenario) -> CallPages {
        super::super::plan::plan_on(s, None).unwrap().call.pages
    }

    #[test]
    fn events_of_the_device_are_kept() {
        let e = |d: &str| TraceEvent {
            pid: 1,
            name: "iomap_iter".into(),
            args: format!("dev {d} ino 0x1"),
        };
        let ev = vec![e("7:3"), e("254,1")];
        let kept = keep_dev(ev.clone(), |d| d != "254:1");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].field("dev"), Some("7:3"));
    }

    #[test]
    fn thread_state_of_this_thread_is_running() {
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::gettid() };
        assert_eq!(thread_state(tid), Some('R'));
        assert_eq!(thread_state(-1), None);
    }
}
