// SPDX-License-Identifier: GPL-2.0-only
//! The syscall executor: builds a plan's world in a fresh file on a scratch filesystem, issues
//! the request (pwritev2/preadv2 with the RWF flags, in a forked child under RLIMIT_FSIZE when
//! asked), and observes the result, the file and the trace events of the call.

use std::ffi::c_void;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::plan::{classify_file_at, pattern, Call, Plan, Step};
use super::tracefs::{TraceEvent, Tracer};
use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_OLD_DIRTY};
use diofuzz::scenario::{PAGE_SIZE, RWF_APPEND, RWF_NOAPPEND};

const STATX_ATTR_WRITE_ATOMIC: u64 = 0x0040_0000;

/// What the real kernel did.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Bytes, or -errno.
    pub ret: i64,
    /// Where the data should land (i_size for appends, else pos).
    pub write_pos: u64,
    /// File position after the call (pwritev2 with offset -1 moves it by the result).
    pub ki_pos_after: u64,
    pub i_size: u64,
    /// Per sector, read through the page cache.
    pub cached: Vec<u32>,
    /// Per sector, read with O_DIRECT (dirty pages are flushed first by the DIO read).
    pub direct: Vec<u32>,
    /// STATX_WRITE_ATOMIC: attribute set, unit min, unit max.
    pub statx_atomic: bool,
    pub statx_unit_min: u32,
    pub statx_unit_max: u32,
    pub events: Vec<TraceEvent>,
    /// Sectors that match no pattern: (byte offset, first 16 bytes in hex), at most 4, to tell
    /// stale data from torn or misplaced data.
    pub other_samples: Vec<(u64, String)>,
    /// The O_DIRECT read-back after the call failed (the stale-page check is then skipped).
    pub readback_error: Option<String>,
    /// The O_DIRECT read-back's bytes over [shift, i_size), raw (a swap header not unmasked):
    /// the post-call probe P1's "before" ([`super::probes`]).
    pub direct_bytes: Vec<u8>,
    /// Wall time of the measured call alone (pwritev2/preadv2), in nanoseconds.
    pub call_ns: u64,
    /// The call ran in a child killed by a signal (should not happen: SIGXFSZ is ignored).
    pub child_signal: Option<i32>,
    /// A mapped dirty page (`PageState::MappedDirty`) was not stored to again while the call's
    /// flush waited: the watchdog did not see the calling thread blocked on the held I/O in
    /// time (a loaded machine), so the write met a clean page, not the scenario's world.
    pub hold_missed: Option<String>,
}

impl Observation {
    pub fn saw(&self, ev: &str) -> bool {
        self.events.iter().any(|e| e.name == ev)
    }
    /// A buffered write ran inside the call.
    pub fn buffered(&self) -> bool {
        self.saw("xfs_file_buffered_write")
            || self.saw("ext4_da_write_begin")
            || self.saw("ext4_write_begin")
            || self.events.iter().any(is_bdev_buffered_write)
    }
    pub fn dio(&self) -> bool {
        self.saw("iomap_dio_rw_begin")
    }
    pub fn sw_atomic(&self) -> bool {
        self.saw("xfs_iomap_atomic_write_cow")
    }
    /// A clean page-cache page differs from the disk after the call.
    pub fn stale(&self) -> Option<usize> {
        let n = self.cached.len().min(self.direct.len());
        (0..n)
            .find(|&s| self.cached[s] != self.direct[s])
            .map(|s| s / (PAGE_SIZE as usize / 512))
    }
}

/// An iomap_iter event of a buffered write through iomap (a block device's blkdev_buffered_write
/// -> iomap_file_buffered_write(blkdev_iomap_ops); XFS's has its own event): "flags WRITE (0x1)
/// ops 0x... caller iomap_file_buffered_write+0x..". The ops pointer is printed as an address on
/// kernels without kallsyms for data, so the caller tells.
pub fn is_bdev_buffered_write(e: &TraceEvent) -> bool {
    e.name == "iomap_iter"
        && e.field("caller")
            .is_some_and(|c| c.starts_with("iomap_file_buffered_write+"))
        && e.field("flags").is_some_and(|f| {
            let mut it = f.split('|');
            it.clone().any(|x| x == "WRITE") && !it.any(|x| x == "DIRECT")
        })
}

fn errno() -> i64 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64
}

fn io<T>(what: &str, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// An anonymous mapping (freed on drop): page-aligned, for O_DIRECT.
pub struct AlignedBuf(Map);
impl AlignedBuf {
    pub fn new(len: usize) -> Result<AlignedBuf, String> {
        Map::anon(len).map(AlignedBuf)
    }
    pub fn bytes(&mut self) -> &mut [u8] {
        self.0.bytes()
    }
}

/// An anonymous mapping (freed on drop).
struct Map {
    ptr: *mut c_void,
    len: usize,
}
impl Map {
    fn anon(len: usize) -> Result<Map, String> {
        // SAFETY: a fresh anonymous private mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap {len}: {}", std::io::Error::last_os_error()));
        }
        Ok(Map { ptr: p, len })
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is len bytes, readable and writable until protect().
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len) }
    }
}
impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// An aligned buffer for O_DIRECT reads.
/// The file from `from` to `end`, read with O_DIRECT in whole `unit`s (a page; a shifted plan's
/// window in fs blocks: a page past the end could cross s_maxbytes).
pub fn read_direct(path: &Path, from: u64, end: u64, unit: u64) -> Result<Vec<u8>, String> {
    let size = end.saturating_sub(from);
    let f = io(
        "open O_DIRECT for read-back",
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path),
    )?;
    let n = (size.div_ceil(unit) * unit) as usize;
    let mut m = Map::anon(n.max(PAGE_SIZE as usize))?;
    let mut got = 0usize;
    while got < n {
        // SAFETY: reading into our mapping within its bounds.
        let r = unsafe {
            libc::pread(
                f.as_raw_fd(),
                (m.ptr as *mut u8).add(got) as *mut c_void,
                n - got,
                (from + got as u64) as i64,
            )
        };
        if r < 0 {
            return Err(format!(
                "O_DIRECT read-back: {}",
                std::io::Error::last_os_error()
            ));
        }
        if r == 0 {
            break;
        }
        got += r as usize;
    }
    let mut v = m.bytes()[..got.min(size as usize)].to_vec();
    v.truncate(size as usize);
    Ok(v)
}

fn read_cached(path: &Path, from: u64, end: u64) -> Result<Vec<u8>, String> {
    let size = end.saturating_sub(from);
    let f = io("open for read-back", fs::File::open(path))?;
    let mut v = vec![0u8; size as usize];
    let mut got = 0;
    while got < v.len() {
        let r = io(
            "buffered read-back",
            f.read_at(&mut v[got..], from + got as u64),
        )?;
        if r == 0 {
            break;
        }
        got += r;
    }
    v.truncate(got);
    Ok(v)
}

fn fill(tag: u32, off: u64, len: u64) -> Vec<u8> {
    let mut b = vec![0u8; len as usize];
    pattern(tag, off, &mut b);
    b
}

/// Build the world: create `path` and run the set-up steps on it (donor files next to it). The
/// call's file if it had to be opened during the set-up ([`super::limits::open_before_growth`]).
fn setup(plan: &Plan, path: &Path, donor: &Path) -> Result<Option<OwnedFd>, String> {
    let f = io(
        "create scenario file",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path),
    )?;
    let early = run_steps(plan, &f, donor, path)?;
    // The model's world: a file last modified before this write (kiocb_modified: with
    // IOCB_NOWAIT, timestamps that need an update give -EAGAIN). The set-up has just written
    // the file, so whether its mtime still equals "now" at the call would depend on the clock
    // ticking in between (lab class G): put mtime an hour into the past.
    let past = libc::timespec {
        tv_sec: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(3600)) as libc::time_t,
        tv_nsec: 0,
    };
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        past,
    ];
    // SAFETY: futimens on our fd with two valid timespecs.
    if unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) } != 0 {
        return Err(format!("futimens: {}", std::io::Error::last_os_error()));
    }
    // chattr +a after the times (an append-only inode refuses setting them).
    for st in plan.steps.iter().filter(|s| super::plan::after_times(s)) {
        match st {
            Step::SetInodeFlags { set, clear } => set_inode_flags(f.as_raw_fd(), *set, *clear)?,
            Step::SwapOn => super::swap::swapon(path)?,
            _ => {}
        }
    }
    // The CoW fork the kernel built must be the scenario's (else the scenario is not buildable
    // here: skipped with super::cow::UNBUILT).
    if let Some(t) = &plan.cow {
        let bs = 1 << plan.key.blkbits;
        match super::cow::read_cow_fork(f.as_raw_fd(), bs) {
            Ok(runs) => super::cow::check(&runs, t)?,
            Err(e) if !super::cow::cow_fork_readable(&e) => {
                super::cow::check_count(super::cow::count_cow_fork(f.as_raw_fd(), bs)?, t)?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(early)
}

/// Write the OLD pattern over [off, off+len) of `donor` (created if missing), fsync it and
/// FICLONERANGE it to the same offset of the file `fd`: shared (reflinked) blocks.
pub fn clone_old(fd: i32, donor: &Path, off: u64, len: u64) -> Result<(), String> {
    let d = io(
        "create donor",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(donor),
    )?;
    io(
        "pwrite donor",
        d.write_all_at(&fill(TAG_OLD, off, len), off),
    )?;
    io("fsync donor", d.sync_all())?;
    let arg = libc::file_clone_range {
        src_fd: d.as_raw_fd() as i64,
        src_offset: off,
        src_length: len,
        dest_offset: off,
    };
    // SAFETY: FICLONERANGE with a valid struct.
    let r = unsafe { libc::ioctl(fd, libc::FICLONERANGE, &arg) };
    if r != 0 {
        return Err(format!("FICLONERANGE: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Run the set-up steps on `f` (a scenario file, or a block device made for the scenario); the
/// call's file opened on `path` before the step that takes the file past MAX_NON_LFS, if one
/// must be ([`super::limits::open_before_growth`]).
fn run_steps(
    plan: &Plan,
    f: &fs::File,
    donor: &Path,
    path: &Path,
) -> Result<Option<OwnedFd>, String> {
    let early_at = super::limits::open_before_growth(plan);
    let mut early = None;
    for (i, st) in plan.steps.iter().enumerate() {
        if super::plan::after_times(st) {
            continue;
        }
        if early_at == Some(i) {
            let cpath = super::scratch::cpath(path);
            let fl = open_flags(&plan.call) | libc::O_CLOEXEC;
            let fd = super::limits::open_without_largefile(&cpath, fl)?;
            // SAFETY: the fd is ours.
            early = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        match st {
            Step::Truncate(n) => io("ftruncate", f.set_len(*n))?,
            Step::WriteOld { off, len } => io(
                "pwrite old data",
                f.write_all_at(&fill(TAG_OLD, *off, *len), *off),
            )?,
            Step::Fallocate { off, len } => {
                // SAFETY: plain fallocate on our fd.
                let r = unsafe {
                    libc::fallocate(
                        f.as_raw_fd(),
                        libc::FALLOC_FL_KEEP_SIZE,
                        *off as i64,
                        *len as i64,
                    )
                };
                if r != 0 {
                    return Err(format!("fallocate: {}", std::io::Error::last_os_error()));
                }
            }
            Step::CloneOld { off, len } => clone_old(f.as_raw_fd(), donor, *off, *len)?,
            Step::Fsync => io("fsync", f.sync_all())?,
            Step::DropCache => {
                io("fsync", f.sync_all())?;
                // SAFETY: advisory call on our fd.
                let r =
                    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
                if r != 0 {
                    return Err(format!("posix_fadvise: errno {r}"));
                }
            }
            Step::ReadPage { off } => {
                let mut b = vec![0u8; PAGE_SIZE as usize];
                io("read page", f.read_at(&mut b, *off))?;
            }
            Step::WriteDirty { off, len } => io(
                "pwrite dirty data",
                f.write_all_at(&fill(TAG_OLD_DIRTY, *off, *len), *off),
            )?,
            Step::WriteZero { off, len } => io(
                "pwrite zeroes",
                f.write_all_at(&vec![0u8; *len as usize], *off),
            )?,
            Step::WriteBacking { off, len, old } => {
                let b = if *old {
                    fill(TAG_OLD, *off, *len)
                } else {
                    vec![0u8; *len as usize]
                };
                super::bdev_geometry::write_backing(path, *off, &b)?
            }
            Step::SetCowExtsize(bytes) => super::cow::set_cowextsize(f.as_raw_fd(), *bytes)?,
            Step::SetInodeFlags { set, clear } => set_inode_flags(f.as_raw_fd(), *set, *clear)?,
            Step::ExpectInodeFlags(bits) => super::inode_kind::expect_flags(f.as_raw_fd(), *bits)?,
            Step::SetMode(mode) => super::inode_state::set_mode(f.as_raw_fd(), *mode)?,
            Step::SwapHeader => super::swap::write_header(f)?,
            Step::SwapAlignedPrefix { len, size } => super::swap::aligned_prefix(f, *len, *size)?,
            // After the times (setup).
            Step::SwapOn => {}
        }
    }
    Ok(early)
}

/// The prefix of an executor error that means "this environment cannot set the world up"
/// (e.g. chattr +j without CAP_SYS_RESOURCE in a container): the scenario is skipped.
pub const UNAVAILABLE: &str = "not possible here";

/// chattr: FS_IOC_GETFLAGS, then FS_IOC_SETFLAGS with `set` added and `clear` removed.
pub fn set_inode_flags(fd: i32, set: u32, clear: u32) -> Result<(), String> {
    // _IOR('f', 1, long) and _IOW('f', 2, long); the kernel reads and writes an int.
    const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
    const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
    let mut fl: libc::c_int = 0;
    // SAFETY: the ioctl writes one int.
    if unsafe { libc::ioctl(fd, FS_IOC_GETFLAGS as _, &mut fl) } != 0 {
        return Err(format!(
            "FS_IOC_GETFLAGS: {}",
            std::io::Error::last_os_error()
        ));
    }
    let new = ((fl as u32 | set) & !clear) as libc::c_int;
    // SAFETY: the ioctl reads one int.
    if unsafe { libc::ioctl(fd, FS_IOC_SETFLAGS as _, &new) } != 0 {
        if errno() == libc::EPERM as i64 && (set | clear) & super::plan::FS_JOURNAL_DATA_FL != 0 {
            // ext4_ioctl_setflags: the journal_data flag needs CAP_SYS_RESOURCE.
            return Err(format!("{UNAVAILABLE}: chattr +j needs CAP_SYS_RESOURCE"));
        }
        return Err(format!(
            "FS_IOC_SETFLAGS {:#x} -> {new:#x}: {}",
            fl,
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Where the request lands: i_size for appends, else pos.
pub fn landing(plan: &Plan) -> u64 {
    let c = &plan.call;
    // A block device has no append: blkdev_write_iter() runs no generic_write_checks().
    if plan.key.fs == diofuzz::scenario::FsKind::Bdev {
        return c.pos;
    }
    let append = (c.append || c.rwf & RWF_APPEND != 0) && c.rwf & RWF_NOAPPEND == 0;
    // A zero-length write never moves to EOF: vfs_writev returns before ->write_iter, and
    // generic_write_checks_count returns 0 before the O_APPEND move (io_submit).
    if append && c.len > 0 {
        plan.i_size
    } else {
        c.pos
    }
}

pub fn open_flags(c: &Call) -> i32 {
    let mut fl = libc::O_RDWR;
    if c.direct {
        fl |= libc::O_DIRECT;
    }
    if c.append {
        fl |= libc::O_APPEND;
    }
    if c.dsync {
        fl |= libc::O_DSYNC;
    }
    if c.sync {
        fl |= libc::O_SYNC;
    }
    fl
}

/// Result of the call itself.
struct CallResult {
    ret: i64,
    pos_after: u64,
    child: Option<i32>,
    child_signal: Option<i32>,
}

/// struct iocb (include/uapi/linux/aio_abi.h, little endian: aio_key before aio_rw_flags).
#[repr(C)]
#[derive(Default)]
struct Iocb {
    data: u64,
    key: u32,
    rw_flags: i32,
    opcode: u16,
    reqprio: i16,
    fildes: u32,
    buf: u64,
    nbytes: u64,
    offset: i64,
    reserved2: u64,
    flags: u32,
    resfd: u32,
}
/// struct io_event.
#[repr(C)]
#[derive(Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}
const IOCB_CMD_PREADV: u16 = 7;
const IOCB_CMD_PWRITEV: u16 = 8;

/// The call through aio (the model's `request.aio`: `io_submit` -> `aio_write`/`aio_read` ->
/// `->write_iter` with a kiocb that is not sync): one IOCB_CMD_PWRITEV (PREADV) at `c.pos` with
/// the RWF flags in `aio_rw_flags` (`aio_prep_rw` -> `kiocb_set_rw_flags`), reaped with
/// io_getevents. The result is io_submit's error when the submission fails, else the completion's
/// `res`. Only async-signal-safe system calls (it runs in the RLIMIT_FSIZE child too).
fn aio_call(fd: i32, c: &Call, iov: &[libc::iovec]) -> i64 {
    let mut ctx: libc::c_ulong = 0;
    // SAFETY: io_setup writes the context id.
    if unsafe { libc::syscall(libc::SYS_io_setup, 1, &mut ctx) } != 0 {
        return -errno();
    }
    let cb = Iocb {
        rw_flags: c.rwf as i32,
        opcode: if c.read {
            IOCB_CMD_PREADV
        } else {
            IOCB_CMD_PWRITEV
        },
        fildes: fd as u32,
        buf: iov.as_ptr() as u64,
        nbytes: iov.len() as u64,
        offset: c.pos as i64,
        ..Default::default()
    };
    let mut list = [&cb as *const Iocb];
    // SAFETY: one valid iocb whose iovecs point into our live mapping.
    let n = unsafe { libc::syscall(libc::SYS_io_submit, ctx, 1, list.as_mut_ptr()) };
    let ret = if n != 1 {
        if n < 0 {
            -errno()
        } else {
            -(libc::EAGAIN as i64)
        }
    } else {
        let mut ev = IoEvent::default();
        loop {
            // SAFETY: room for one event; no timeout.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    ctx,
                    1,
                    1,
                    &mut ev,
                    std::ptr::null_mut::<libc::timespec>(),
                )
            };
            if r == 1 {
                break ev.res;
            }
            if r < 0 && errno() != libc::EINTR as i64 {
                break -errno();
            }
        }
    };
    // SAFETY: our context.
    unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
    ret
}

fn do_call(fd: i32, c: &Call, iov: &[libc::iovec]) -> (i64, u64) {
    if c.aio {
        let ret = aio_call(fd, c, iov);
        if c.positioned {
            // No lseek while a block device's i_rwsem holder runs (super::bdev_state); aio's
            // position is not compared.
            return (ret, c.pos + ret.max(0) as u64);
        }
        // SAFETY: lseek on our fd.
        let p = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
        return (ret, p.max(0) as u64);
    }
    // (-1: the file position; a positioned call: super::limits::positioned)
    let at = if c.positioned { c.pos as i64 } else { -1 };
    // SAFETY: iovecs point into our live mapping.
    let r = unsafe {
        if c.read {
            libc::preadv2(fd, iov.as_ptr(), iov.len() as i32, at, c.rwf as i32)
        } else {
            libc::pwritev2(fd, iov.as_ptr(), iov.len() as i32, at, c.rwf as i32)
        }
    };
    let ret = if r < 0 { -errno() } else { r as i64 };
    if c.positioned {
        return (ret, c.pos + ret.max(0) as u64);
    }
    // SAFETY: lseek on our fd.
    let p = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    (ret, p.max(0) as u64)
}

fn call_in_child(fd: i32, c: &Call, iov: &[libc::iovec], limit: u64) -> Result<CallResult, String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the child only makes async-signal-safe calls (setrlimit, signal, pwritev2, lseek,
    // write, _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        unsafe {
            libc::close(fds[0]);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &rl);
            let (ret, pos) = do_call(fd, c, iov);
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&ret.to_le_bytes());
            out[8..].copy_from_slice(&pos.to_le_bytes());
            libc::write(fds[1], out.as_ptr() as *const c_void, 16);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is ours.
    let rd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 16 {
        // SAFETY: reading into a local buffer.
        let r = unsafe {
            libc::read(
                rd.as_raw_fd(),
                buf[got..].as_mut_ptr() as *mut c_void,
                16 - got,
            )
        };
        if r <= 0 {
            if r < 0 && errno() == libc::EINTR as i64 {
                continue;
            }
            break;
        }
        got += r as usize;
    }
    let mut status = 0;
    // SAFETY: reaping our child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR as i64 {}
    let child_signal = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
    if got < 16 {
        return Ok(CallResult {
            ret: 0,
            pos_after: 0,
            child: Some(pid),
            child_signal: child_signal.or(Some(0)),
        });
    }
    Ok(CallResult {
        ret: i64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8])),
        pos_after: u64::from_le_bytes(buf[8..].try_into().unwrap_or([0; 8])),
        child: Some(pid),
        child_signal,
    })
}

/// Run one plan in directory `dir` (a scratch mount), naming its files with `name`.
pub fn execute(
    plan: &Plan,
    dir: &Path,
    name: &str,
    tracer: &Tracer,
) -> Result<Observation, String> {
    execute_with(plan, dir, name, tracer, &mut |_| Ok(()))
}

/// A step between the set-up and the call, given the scenario's file or device (the fault
/// groups set their bad sectors there: [`super::fault`]).
pub type BeforeCall<'a> = &'a mut dyn FnMut(&Path) -> Result<(), String>;

/// [`execute`] with `before` run between the set-up and the call.
pub fn execute_with(
    plan: &Plan,
    dir: &Path,
    name: &str,
    tracer: &Tracer,
    before: BeforeCall,
) -> Result<Observation, String> {
    execute_then(plan, dir, name, tracer, before, &mut |_, _| ())
}

/// A step once the call is observed, given the scenario's file or device and the observation
/// (the post-call probes: [`super::probes`]).
pub type AfterCall<'a> = &'a mut dyn FnMut(&Path, &Observation);

/// [`execute_with`] with `after` run on the scenario's file once the call is observed, before
/// the file is removed; an unlinked inode's is run before its last descriptor closes, on
/// `/proc/self/fd/N`.
pub fn execute_then(
    plan: &Plan,
    dir: &Path,
    name: &str,
    tracer: &Tracer,
    before: BeforeCall,
    after: AfterCall,
) -> Result<Observation, String> {
    // An encrypted inode's file lives in an encrypted directory made for it (removed with its
    // key when `sdir` drops, after the files).
    let sdir = super::inode_kind::ScenarioDir::new(plan, dir, name)?;
    let dir = sdir.path();
    let path = dir.join(format!("f-{name}"));
    let donor = dir.join(format!("d-{name}"));
    let seq: u32 = name.parse().unwrap_or(0);
    super::plan::set_nonce((std::process::id() << 16) ^ seq.wrapping_add(1));
    let r = execute_in(plan, &path, &donor, tracer, before, after);
    // A swap file (super::swap): swapoff before the file can go.
    let r = match (r, super::swap::release()) {
        (Ok(_), Err(e)) => Err(e),
        (r, _) => r,
    };
    if let (Ok(o), false) = (&r, plan.call.unlink) {
        after(&path, o);
    }
    if plan.steps.iter().any(
        |s| matches!(s, Step::SetInodeFlags { set, .. } if set & super::plan::FS_APPEND_FL != 0),
    ) {
        // An append-only file cannot be unlinked: clear the flag first.
        if let Ok(f) = fs::File::open(&path) {
            let _ = set_inode_flags(f.as_raw_fd(), 0, super::plan::FS_APPEND_FL);
        }
    }
    let _ = fs::remove_file(&path);
    let _ = fs::remove_file(&donor);
    r
}

/// Run one block-device plan on `dev`, a device of exactly `plan.i_size` bytes made for this
/// scenario (the scratch's loop device or disk partition): its content is set up by the plan's
/// steps, and it is observed like a file (its size from BLKGETSIZE64: statx gives a device node
/// no size).
pub fn execute_bdev(
    plan: &Plan,
    dev: &Path,
    name: &str,
    tracer: &Tracer,
) -> Result<Observation, String> {
    execute_bdev_then(plan, dev, name, tracer, &mut |_| Ok(()), &mut |_, _| ())
}

/// [`execute_bdev`] with `before` run between the set-up and the call.
pub fn execute_bdev_with(
    plan: &Plan,
    dev: &Path,
    name: &str,
    tracer: &Tracer,
    before: BeforeCall,
) -> Result<Observation, String> {
    execute_bdev_then(plan, dev, name, tracer, before, &mut |_, _| ())
}

/// [`execute_bdev`] with `before` run between the set-up and the call and `after` once the
/// call is observed.
pub fn execute_bdev_then(
    plan: &Plan,
    dev: &Path,
    name: &str,
    tracer: &Tracer,
    before: BeforeCall,
    after: AfterCall,
) -> Result<Observation, String> {
    let seq: u32 = name.parse().unwrap_or(0);
    super::plan::set_nonce((std::process::id() << 16) ^ seq.wrapping_add(1));
    let early = {
        let f = io(
            "open the block device",
            fs::OpenOptions::new().read(true).write(true).open(dev),
        )?;
        // No readahead: a page the plan reads must be the only one cached (a device has no EOF
        // to stop readahead, which would cache the request's range and turn a NOWAIT direct
        // write into -EAGAIN).
        // SAFETY: advisory call on our fd.
        let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
        if r != 0 {
            return Err(format!("posix_fadvise(RANDOM): errno {r}"));
        }
        let early = run_steps(plan, &f, dev, dev)?;
        super::bdev_state::after_steps(plan, dev)?;
        before(dev)?;
        early
    };
    let r = call_and_observe(plan, dev, tracer, true, early, &mut |_, _| ());
    // A swap device (super::bdev_state): swapoff before the device goes (and before the
    // probes).
    let o = match (r, super::swap::release()) {
        (Ok(_), Err(e)) => Err(e),
        (r, _) => r,
    }?;
    after(dev, &o);
    Ok(o)
}

/// BLKGETSIZE64 of an open block device.
pub fn device_size(fd: i32) -> Result<u64, String> {
    // _IOR(0x12, 114, size_t)
    const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
    let mut n: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64.
    if unsafe { libc::ioctl(fd, BLKGETSIZE64 as _, &mut n) } != 0 {
        return Err(format!("BLKGETSIZE64: {}", std::io::Error::last_os_error()));
    }
    Ok(n)
}

fn execute_in(
    plan: &Plan,
    path: &Path,
    donor: &Path,
    tracer: &Tracer,
    before: BeforeCall,
    after: AfterCall,
) -> Result<Observation, String> {
    let early = setup(plan, path, donor)?;
    before(path)?;
    call_and_observe(plan, path, tracer, false, early, after)
}

/// Issue the plan's call on `path` (set up already) and observe the result, the content and the
/// trace events. `bdev`: `path` is a block device. `early`: the call's file, opened during the
/// set-up. `after` runs here only for an unlinked inode (its descriptor still open).
fn call_and_observe(
    plan: &Plan,
    path: &Path,
    tracer: &Tracer,
    bdev: bool,
    early: Option<OwnedFd>,
    after: AfterCall,
) -> Result<Observation, String> {
    let c = &plan.call;
    let cpath = super::scratch::cpath(path);
    let fd = if let Some(e) = early {
        e.into_raw_fd()
    } else if c.no_largefile {
        super::limits::open_without_largefile(&cpath, open_flags(c) | libc::O_CLOEXEC)?
    } else {
        // SAFETY: open with a valid C path.
        unsafe { libc::open(cpath.as_ptr(), open_flags(c) | libc::O_CLOEXEC) }
    };
    if fd < 0 {
        return Err(format!(
            "open for the call: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is ours.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    super::inline_delalloc::check_at_open(plan, fd)?;
    if c.fcntl_toggle {
        // SAFETY: fcntl on our fd.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            if libc::fcntl(fd, libc::F_SETFL, fl ^ libc::O_DIRECT) != 0 {
                return Err(format!(
                    "fcntl F_SETFL: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    // An unlinked inode (super::inode_state): unlinked now, read back through this open fd
    // (the mount is found from the name it had).
    let named = path;
    let proc_path;
    if super::inode_state::clear_append_before_unlink(c) {
        set_inode_flags(fd, 0, super::plan::FS_APPEND_FL)?;
    }
    let path = if c.unlink {
        proc_path = super::inode_state::unlink_after_open(path, fd)?;
        proc_path.as_path()
    } else {
        path
    };
    // Flag changes after open and the i_rwsem holder (super::race); released after the call.
    let mut race = super::race::arm(plan, fd, path)?;
    // SAFETY: lseek on our fd.
    if !c.positioned && unsafe { libc::lseek(fd, c.pos as i64, libc::SEEK_SET) } < 0 {
        return Err(format!("lseek: {}", std::io::Error::last_os_error()));
    }
    let wpos = landing(plan);
    // The user buffer: the NEW pattern for where it lands, at the requested alignment.
    // The user buffer (super::segs: contiguous or scattered iovecs): the NEW pattern for where
    // each byte lands.
    let lay = c.layout();
    let mut buf = Map::anon(lay.map_len as usize)?;
    if lay.scattered {
        // SAFETY: advice on our own mapping.
        unsafe { libc::madvise(buf.ptr, buf.len, libc::MADV_NOHUGEPAGE) };
    }
    let mut data = 0;
    for &(a, l) in &lay.iov {
        pattern(
            TAG_NEW,
            wpos + data,
            &mut buf.bytes()[a as usize..(a + l) as usize],
        );
        data += l;
    }
    if let Some(start) = lay.prot_none_from.map(|p| p as usize) {
        // SAFETY: protecting a page-aligned tail of our own mapping.
        let r = unsafe {
            libc::mprotect(
                (buf.ptr as *mut u8).add(start) as *mut c_void,
                buf.len - start,
                libc::PROT_NONE,
            )
        };
        if r != 0 {
            return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
        }
    }
    let iov: Vec<libc::iovec> = lay
        .iov
        .iter()
        .map(|&(a, l)| libc::iovec {
            // SAFETY: within the mapping.
            iov_base: unsafe { (buf.ptr as *mut u8).add(a as usize) } as *mut c_void,
            iov_len: l as usize,
        })
        .collect();
    // The mmap writer (Race::MmapRedirty): stores the OLD_DIRTY pattern into the cached pages
    // while the call runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = if c.mmap_writer && plan.i_size > 0 {
        let f2 = io(
            "open for mmap",
            fs::OpenOptions::new().read(true).write(true).open(path),
        )?;
        let len = plan.i_size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        // SAFETY: a shared mapping of our scenario file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f2.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap shared: {}", std::io::Error::last_os_error()));
        }
        let addr = p as usize;
        let stop2 = stop.clone();
        // A device whose size is not whole logical blocks: nothing from its edge on, whose
        // fault would be SIGBUS (super::bdev_geometry::mappable).
        let isz = if bdev {
            super::bdev_geometry::mappable(plan.i_size, plan.key.lbs_bits, plan.key.blkbits)
        } else {
            plan.i_size
        } as usize;
        let idle = c.pages.idle_writer;
        Some((
            std::thread::spawn(move || {
                // No cached page: the mapping is held, nothing is touched (super::pages).
                while idle && !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                // Store back what the pages hold: re-dirty them without changing the data.
                let dirty = if idle {
                    Vec::new()
                } else {
                    // SAFETY: reading the shared mapping (i_size bytes are backed).
                    unsafe { std::slice::from_raw_parts(addr as *const u8, isz) }.to_vec()
                };
                let mut n = 0u64;
                while !idle && !stop2.load(Ordering::Relaxed) && n < 2_000_000 {
                    // SAFETY: inside the shared mapping (i_size bytes are backed).
                    unsafe { std::ptr::copy_nonoverlapping(dirty.as_ptr(), addr as *mut u8, isz) };
                    n += 1;
                }
                // SAFETY: our mapping.
                unsafe { libc::munmap(addr as *mut c_void, len as usize) };
                drop(f2);
            }),
            (),
        ))
    } else {
        None
    };
    if let Some(d) = plan.down {
        super::shutdown::bring_down(fd, d, super::inode_kind::mount_of(plan, named))?;
    }
    // Pages under writeback or mapped and dirty: the lower filesystem frozen (super::pages).
    let hold = super::pages::hold(&c.pages, fd, path, c.after_open.lock_holder)?;
    tracer.clear()?;
    if let Some(h) = &hold {
        h.go();
    }
    let t0 = std::time::Instant::now();
    let cr = match c.rlimit_fsize {
        Some(l) => call_in_child(fd, c, &iov, l)?,
        None => {
            let (ret, pos_after) = do_call(fd, c, &iov);
            CallResult {
                ret,
                pos_after,
                child: None,
                child_signal: None,
            }
        }
    };
    let call_ns = t0.elapsed().as_nanos() as u64;
    let held = hold.map(|h| h.release());
    let hold_missed = held
        .as_ref()
        .filter(|h| !c.pages.mapped.is_empty() && !h.restored)
        .map(|h| {
            format!(
                "the mapped page was not stored to again during the call's flush (the calling thread was {}seen blocked on the held I/O)",
                if h.blocked { "" } else { "not " }
            )
        });
    stop.store(true, Ordering::Relaxed);
    if let Some((h, ())) = writer {
        let _ = h.join();
    }
    race.after_call()?;
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    let events: Vec<TraceEvent> = tracer
        .read()?
        .into_iter()
        .filter(|e| e.pid == tid || Some(e.pid) == cr.child)
        .collect();
    // Printed only now: writing stderr to a file is a traced write of this thread.
    if let Some(held) = held.filter(|_| std::env::var_os("DIOFUZZ_LIVE_VERBOSE").is_some()) {
        eprintln!("live: held pages {:?}: {held:?}", c.pages);
    }
    let events = if plan.key.layered {
        super::pages::upper_events(events, path)
    } else {
        events
    };
    if plan.down.is_some() {
        let (ret, pos) = (cr.ret, cr.pos_after);
        let o = super::shutdown::observation(plan, ret, pos, events, call_ns, cr.child_signal);
        return Ok(o);
    }
    // statx: size and atomic-write units.
    // SAFETY: zeroed statx buffer filled by the kernel.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: statx on our fd with AT_EMPTY_PATH.
    let r = unsafe {
        libc::statx(
            file.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_SIZE | libc::STATX_WRITE_ATOMIC,
            &mut stx,
        )
    };
    if r != 0 {
        return Err(format!("statx: {}", std::io::Error::last_os_error()));
    }
    let i_size = if bdev {
        device_size(file.as_raw_fd())?
    } else {
        stx.stx_size
    };
    if !c.unlink {
        drop(file);
    }
    // A shifted plan (super::limits::shift): the window from the shift, in the model's offsets.
    let sh = plan.shift;
    let old = Some(plan.i_size - sh);
    // A device whose size is not whole logical blocks: its last block read through the backing
    // file (super::bdev_geometry::edge).
    let tail = if bdev {
        super::bdev_geometry::edge(i_size, plan.key.lbs_bits, plan.key.blkbits)
    } else {
        None
    };
    // With buffers smaller than a page the call may have dirtied buffers of the page from the
    // edge on (below the end buffer); no read through the device returns them (the folio is
    // not uptodate, its read fails at the end buffer), so they are written back first
    // (super::bdev_geometry::flush_tail), as the O_DIRECT read-back writes back the range it
    // reads (kiocb_write_and_wait).
    let (dev_end, tail_bytes) = match tail {
        Some(e) => {
            super::bdev_geometry::flush_tail(path, e, i_size)?;
            (e, super::bdev_geometry::read_backing(path, e, i_size)?)
        }
        None => (i_size, Vec::new()),
    };
    let mut cached_bytes = read_cached(path, sh, dev_end)?;
    cached_bytes.extend_from_slice(&tail_bytes);
    // A swap file's header page (super::swap) reads as the set-up's page 0.
    super::swap::unmask(&mut cached_bytes);
    let cached = classify_file_at(&cached_bytes, old, sh);
    let other_samples = cached
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == super::plan::TAG_OTHER)
        .take(4)
        .map(|(i, _)| {
            let b = &cached_bytes[i * 512..(i * 512 + 16).min(cached_bytes.len())];
            (
                i as u64 * 512,
                b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
            )
        })
        .collect();
    // An O_DIRECT read-back can fail on its own (seen: EIO with "Direct I/O collision with
    // buffered writes!" after a short buffered write on 1 KiB-block ext4): keep the
    // observation, compare without the O_DIRECT view, and say so.
    let unit = if sh > 0 {
        1 << plan.key.blkbits
    } else {
        PAGE_SIZE
    };
    let (direct, readback_error, direct_bytes) =
        match super::bdev_geometry::read_direct(&plan.key, path, sh, i_size, unit) {
            Ok(raw) => {
                let mut b = raw.clone();
                super::swap::unmask(&mut b);
                (classify_file_at(&b, old, sh), None, raw)
            }
            Err(e) => (cached.clone(), Some(e), Vec::new()),
        };
    let o = Observation {
        ret: cr.ret,
        write_pos: wpos - sh,
        ki_pos_after: cr.pos_after.saturating_sub(sh),
        i_size: i_size.saturating_sub(sh),
        cached,
        direct,
        statx_atomic: stx.stx_attributes & STATX_ATTR_WRITE_ATOMIC != 0,
        statx_unit_min: stx.stx_atomic_write_unit_min,
        statx_unit_max: stx.stx_atomic_write_unit_max,
        events,
        other_samples,
        call_ns,
        readback_error,
        direct_bytes,
        child_signal: cr.child_signal,
        hold_missed,
    };
    // A pending inline conversion destroyed before the call (a writeback another process's
    // sync() started): the kernel wrote directly (super::inline_delalloc).
    super::inline_delalloc::check_after_call(plan, &o)?;
    if c.unlink {
        // Freed at the last close: `file` still holds it.
        after(path, &o);
    }
    Ok(o)
}
