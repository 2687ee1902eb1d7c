// SPDX-License-Identifier: GPL-2.0-only
//! A ublk fault device (`diofuzz ublk-fault`): a userspace block device whose server fails the
//! write request that touches an armed sector with the armed errno, once, and stores everything
//! else in memory. It gives the model's `bio_endio` errnos that no null_blk or SCSI completion
//! gives (-ETIMEDOUT, -EINVAL, -ENOMEM; also -EIO and -ENOSPC), on any bio that is not
//! REQ_ATOMIC (ublk sets no atomic write limits).
//!
//! Why the errno reaches the bio unchanged (drivers/block/ublk_drv.c, read in 7.3.4; the same
//! in 6.12.117's ublk_complete_rq): the server commits a negative result for the request
//! (UBLK_U_IO_COMMIT_AND_FETCH_REQ), `__ublk_complete_rq` ends it with
//! `errno_to_blk_status(res)` (block/blk-core.c: -ETIMEDOUT BLK_STS_TIMEOUT, -EINVAL
//! BLK_STS_INVAL, -ENOMEM BLK_STS_RESOURCE, -ENOSPC BLK_STS_NOSPC, -EIO BLK_STS_IOERR), and
//! `blk_update_request` ends every bio of the request with it; `blk_status_to_errno` gives the
//! errno back. Nothing of a failed request is stored (the server does not copy it), as with
//! null_blk's bad blocks without `badblocks_partial_io`. A real device does the same: ublk
//! servers (and loop in direct-I/O mode, `lo_complete_rq`, with its backing file's error, e.g.
//! an NFS `softerr` mount's -ETIMEDOUT) complete requests with any errno.
//!
//! The protocol (include/uapi/linux/ublk_cmd.h, Documentation/block/ublk.rst): control commands
//! ADD_DEV, SET_PARAMS, START_DEV, STOP_DEV, DEL_DEV as io_uring URING_CMDs (128-byte SQEs) on
//! /dev/ublk-control; one queue of [`DEPTH`] tags on /dev/ublkcN, each tag a FETCH_REQ then
//! COMMIT_AND_FETCH_REQ per request, its descriptor in the mmapped `ublksrv_io_desc` array and
//! its data in a buffer of ours (the driver copies write data in before the fetch completes and
//! read data out at the commit). The queue runs in its own thread: START_DEV adds the disk, whose
//! partition scan needs the queue served.
//!
//! Arming (`live --fault-device /dev/ublkbN`, [`super::fault`]): the file [`arm_file`] holds one
//! line "SECTOR ERRNO" per armed sector (written whole by rename); the server reads it for every
//! write request, fails the first request whose range holds an armed sector with -ERRNO, and
//! rewrites the file without that line (so it fires once, like null_blk's `badblocks_once`).

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// Tags (requests in flight) of the single queue.
pub const DEPTH: u16 = 8;
/// Buffer per tag, and so the largest request: max_sectors 2056 (1 MiB + 4 KiB). A bio of
/// BIO_MAX_VECS (256) page bvecs is at most 1 MiB, and `get_max_io_size` (block/blk-merge.c,
/// 7.3.4) ends a request on a physical-block (4 KiB) boundary counted from the bio's start: from
/// any start sector at least 2056 - 7 >= 2048 sectors fit, so every bio the model submits stays
/// one request (`bio_split_io_at` splits on max_sectors and max_segments only, and ublk sets
/// max_segments USHRT_MAX, max_segment_size UINT_MAX in `ublk_ctrl_start_dev` since 6.10).
/// Session 6 had 512 KiB (max_sectors 1024), which split a 256-page bio.
pub const BUF_BYTES: u32 = (1 << 20) + 4096;

const UBLK_CONTROL: &str = "/dev/ublk-control";

// _IOWR('u', nr, struct ublksrv_ctrl_cmd) and _IOWR('u', nr, struct ublksrv_io_cmd).
const fn iowr(nr: u32, size: u32) -> u32 {
    (3 << 30) | (size << 16) | ((b'u' as u32) << 8) | nr
}
const U_CMD_ADD_DEV: u32 = iowr(0x04, 32);
const U_CMD_DEL_DEV: u32 = iowr(0x05, 32);
const U_CMD_START_DEV: u32 = iowr(0x06, 32);
const U_CMD_STOP_DEV: u32 = iowr(0x07, 32);
const U_CMD_SET_PARAMS: u32 = iowr(0x08, 32);
const U_IO_FETCH_REQ: u32 = iowr(0x20, 16);
const U_IO_COMMIT_AND_FETCH_REQ: u32 = iowr(0x21, 16);

const IO_OP_READ: u32 = 0;
const IO_OP_WRITE: u32 = 1;
const IO_OP_FLUSH: u32 = 2;
const IO_RES_ABORT: i32 = -libc::ENODEV;

/// struct ublksrv_ctrl_cmd.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CtrlCmd {
    dev_id: u32,
    queue_id: u16,
    len: u16,
    addr: u64,
    data: u64,
    dev_path_len: u16,
    pad: u16,
    reserved: u32,
}

/// struct ublksrv_ctrl_dev_info.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DevInfo {
    nr_hw_queues: u16,
    queue_depth: u16,
    state: u16,
    io_desc_size: u16,
    max_io_buf_bytes: u32,
    dev_id: u32,
    ublksrv_pid: i32,
    pad1: u32,
    flags: u64,
    ublksrv_flags: u64,
    owner_uid: u32,
    owner_gid: u32,
    reserved1: u64,
    reserved2: u64,
}

/// struct ublk_params with only struct ublk_param_basic.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ParamsBasic {
    len: u32,
    types: u32,
    attrs: u32,
    logical_bs_shift: u8,
    physical_bs_shift: u8,
    io_opt_shift: u8,
    io_min_shift: u8,
    max_sectors: u32,
    chunk_sectors: u32,
    dev_sectors: u64,
    virt_boundary_mask: u64,
}

/// struct ublksrv_io_desc.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoDesc {
    op_flags: u32,
    nr_sectors: u32,
    start_sector: u64,
    addr: u64,
}

/// struct ublksrv_io_cmd.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoCmd {
    q_id: u16,
    tag: u16,
    result: i32,
    addr: u64,
}

fn bytes<T: Copy, const N: usize>(v: &T) -> [u8; N] {
    let mut out = [0u8; N];
    let n = std::mem::size_of::<T>().min(N);
    // SAFETY: copying the plain-old-data bytes of a repr(C) value.
    unsafe { std::ptr::copy_nonoverlapping(v as *const T as *const u8, out.as_mut_ptr(), n) };
    out
}

/// The arming folder of device `name` (`ublkbN`): `arm` (the armed sectors) and `pid`.
pub fn arm_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("diofuzz-{name}"))
}

/// The file of armed "SECTOR ERRNO" lines of device `name`.
pub fn arm_file(name: &str) -> PathBuf {
    arm_dir(name).join("arm")
}

/// Parse the armed lines (bad lines are ignored: the writer is ours).
pub fn parse_arm(t: &str) -> Vec<(u64, i64)> {
    t.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

/// The armed lines as the file holds them.
pub fn format_arm(v: &[(u64, i64)]) -> String {
    v.iter().map(|(s, e)| format!("{s} {e}\n")).collect()
}

/// Replace `p` whole (write a sibling, rename over it).
pub fn write_whole(p: &Path, text: &str) -> std::io::Result<()> {
    let tmp = p.with_extension("new");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, p)
}

/// The request [start, start+n) holds an armed sector: its errno, and the line is removed.
fn fire(arm: &Path, start: u64, n: u64) -> Option<i64> {
    let mut v = parse_arm(&fs::read_to_string(arm).ok()?);
    let i = v.iter().position(|(s, _)| start <= *s && *s < start + n)?;
    let (_, e) = v.remove(i);
    if write_whole(arm, &format_arm(&v)).is_err() {
        eprintln!("ublk-fault: cannot rewrite {}", arm.display());
    }
    Some(e)
}

/// The control ring (128-byte SQEs) and /dev/ublk-control.
struct Ctrl {
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
    fd: OwnedFd,
}

impl Ctrl {
    fn open() -> Result<Ctrl, String> {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(UBLK_CONTROL)
            .map_err(|e| format!("{UBLK_CONTROL}: {e} (modprobe ublk_drv)"))?;
        let ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder()
            .build(4)
            .map_err(|e| format!("io_uring: {e}"))?;
        Ok(Ctrl { ring, fd: f.into() })
    }

    fn cmd(&mut self, op: u32, c: &CtrlCmd) -> Result<i32, String> {
        let sqe = opcode::UringCmd80::new(types::Fd(self.fd.as_raw_fd()), op)
            .cmd(bytes::<CtrlCmd, 80>(c))
            .build()
            .user_data(op as u64);
        // SAFETY: the command's buffers (c.addr) outlive the synchronous wait below.
        unsafe { self.ring.submission().push(&sqe) }.map_err(|_| "ring full".to_string())?;
        self.ring
            .submit_and_wait(1)
            .map_err(|e| format!("io_uring_enter: {e}"))?;
        let cqe = self.ring.completion().next().ok_or("no completion")?;
        Ok(cqe.result())
    }
}

/// One running ublk fault device: `diofuzz ublk-fault` makes it, serves it until SIGINT or
/// SIGTERM, then stops and deletes it.
pub fn serve(size_mb: u64) -> Result<(), String> {
    let mut ctrl = Ctrl::open()?;
    let mut info = DevInfo {
        nr_hw_queues: 1,
        queue_depth: DEPTH,
        max_io_buf_bytes: BUF_BYTES,
        dev_id: u32::MAX,
        ..Default::default()
    };
    let r = ctrl.cmd(
        U_CMD_ADD_DEV,
        &CtrlCmd {
            dev_id: u32::MAX,
            queue_id: u16::MAX,
            len: std::mem::size_of::<DevInfo>() as u16,
            addr: &mut info as *mut DevInfo as u64,
            ..Default::default()
        },
    )?;
    if r < 0 {
        return Err(format!(
            "ADD_DEV: {}",
            std::io::Error::from_raw_os_error(-r)
        ));
    }
    let id = info.dev_id;
    let res = serve_dev(&mut ctrl, id, size_mb);
    let del = ctrl.cmd(
        U_CMD_DEL_DEV,
        &CtrlCmd {
            dev_id: id,
            queue_id: u16::MAX,
            ..Default::default()
        },
    );
    let _ = fs::remove_dir_all(arm_dir(&format!("ublkb{id}")));
    res?;
    match del {
        Ok(r) if r < 0 => Err(format!(
            "DEL_DEV: {}",
            std::io::Error::from_raw_os_error(-r)
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn serve_dev(ctrl: &mut Ctrl, id: u32, size_mb: u64) -> Result<(), String> {
    let params = ParamsBasic {
        len: std::mem::size_of::<ParamsBasic>() as u32,
        types: 1, // UBLK_PARAM_TYPE_BASIC
        attrs: 0,
        logical_bs_shift: 9,
        physical_bs_shift: 12,
        io_opt_shift: 12,
        io_min_shift: 9,
        max_sectors: BUF_BYTES >> 9,
        chunk_sectors: 0,
        dev_sectors: size_mb << 11,
        virt_boundary_mask: 0,
    };
    let r = ctrl.cmd(
        U_CMD_SET_PARAMS,
        &CtrlCmd {
            dev_id: id,
            queue_id: u16::MAX,
            len: params.len as u16,
            addr: &params as *const ParamsBasic as u64,
            ..Default::default()
        },
    )?;
    if r < 0 {
        return Err(format!(
            "SET_PARAMS: {}",
            std::io::Error::from_raw_os_error(-r)
        ));
    }
    let name = format!("ublkb{id}");
    let dir = arm_dir(&name);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let arm = arm_file(&name);
    write_whole(&arm, "").map_err(|e| format!("{}: {e}", arm.display()))?;
    // The character device appears through devtmpfs (or udev) after ADD_DEV.
    let cdev = PathBuf::from(format!("/dev/ublkc{id}"));
    let mut tries = 0;
    let cf = loop {
        match fs::OpenOptions::new().read(true).write(true).open(&cdev) {
            Ok(f) => break f,
            Err(e) if tries < 100 => {
                let _ = e;
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(format!("{}: {e}", cdev.display())),
        }
    };
    // Backing store: a sparse memfd of the device's size.
    // SAFETY: memfd_create with a NUL-terminated name.
    let mfd = unsafe { libc::memfd_create(c"diofuzz-ublk".as_ptr(), libc::MFD_CLOEXEC) };
    if mfd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: mfd is ours.
    let store = unsafe { fs::File::from_raw_fd(mfd) };
    store
        .set_len(size_mb << 20)
        .map_err(|e| format!("memfd: {e}"))?;
    let ready = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(std::sync::Mutex::new(None::<String>));
    let q = {
        let (ready, failed) = (ready.clone(), failed.clone());
        let arm = arm.clone();
        std::thread::spawn(move || {
            if let Err(e) = run_queue(&cf, &store, &arm, &ready) {
                *failed.lock().unwrap() = Some(e);
                ready.store(true, Ordering::SeqCst);
            }
        })
    };
    while !ready.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e);
    }
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        let h = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, h);
        libc::signal(libc::SIGTERM, h);
    }
    let started = ctrl.cmd(
        U_CMD_START_DEV,
        &CtrlCmd {
            dev_id: id,
            queue_id: u16::MAX,
            data: std::process::id() as u64,
            ..Default::default()
        },
    );
    match started {
        Ok(r) if r >= 0 => {
            println!("/dev/{name}");
            let _ = fs::write(dir.join("pid"), format!("{}\n", std::process::id()));
            while !STOP.load(Ordering::SeqCst) && !q.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        // Not started: STOP_DEV below still cancels the queue's fetch commands (ublk_stop_dev ->
        // ublk_cancel_dev: UBLK_IO_RES_ABORT), so the queue thread ends and DEL_DEV can run.
        Ok(r) => {
            *failed.lock().unwrap() = Some(format!(
                "START_DEV: {}",
                std::io::Error::from_raw_os_error(-r)
            ))
        }
        Err(e) => *failed.lock().unwrap() = Some(e),
    }
    let r = ctrl.cmd(
        U_CMD_STOP_DEV,
        &CtrlCmd {
            dev_id: id,
            queue_id: u16::MAX,
            ..Default::default()
        },
    )?;
    let _ = q.join();
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e);
    }
    if r < 0 {
        return Err(format!(
            "STOP_DEV: {}",
            std::io::Error::from_raw_os_error(-r)
        ));
    }
    Ok(())
}

/// The queue: fetch every tag, then serve requests until the driver aborts the queue.
fn run_queue(
    cf: &fs::File,
    store: &fs::File,
    arm: &Path,
    ready: &AtomicBool,
) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let depth = DEPTH as usize;
    let desc_len = (depth * std::mem::size_of::<IoDesc>()).next_multiple_of(4096);
    // SAFETY: mapping the driver's descriptor array of queue 0 read-only (UBLKSRV_CMD_BUF_OFFSET).
    let descs = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            desc_len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            cf.as_raw_fd(),
            0,
        )
    };
    if descs == libc::MAP_FAILED {
        return Err(format!(
            "mmap io descriptors: {}",
            std::io::Error::last_os_error()
        ));
    }
    let descs = descs as *const IoDesc;
    let mut bufs: Vec<Vec<u8>> = (0..depth).map(|_| vec![0u8; BUF_BYTES as usize]).collect();
    let mut ring: IoUring = IoUring::new(2 * DEPTH as u32).map_err(|e| format!("io_uring: {e}"))?;
    let fd = types::Fd(cf.as_raw_fd());
    let push = |ring: &mut IoUring, op: u32, tag: u16, result: i32, buf: &mut Vec<u8>| {
        let c = IoCmd {
            q_id: 0,
            tag,
            result,
            addr: buf.as_mut_ptr() as u64,
        };
        let sqe = opcode::UringCmd16::new(fd, op)
            .cmd(bytes::<IoCmd, 16>(&c))
            .build()
            .user_data(tag as u64);
        // SAFETY: the buffer lives as long as the queue (bufs outlives the ring's use).
        unsafe { ring.submission().push(&sqe) }.map_err(|_| "queue ring full".to_string())
    };
    for (tag, b) in bufs.iter_mut().enumerate() {
        push(&mut ring, U_IO_FETCH_REQ, tag as u16, 0, b)?;
    }
    ring.submit().map_err(|e| format!("io_uring_enter: {e}"))?;
    ready.store(true, Ordering::SeqCst);
    let mut live = depth;
    while live > 0 {
        ring.submit_and_wait(1)
            .map_err(|e| format!("io_uring_enter: {e}"))?;
        let done: Vec<(u16, i32)> = ring
            .completion()
            .map(|c| (c.user_data() as u16, c.result()))
            .collect();
        for (tag, res) in done {
            if res == IO_RES_ABORT {
                live -= 1;
                continue;
            }
            if res < 0 {
                return Err(format!(
                    "ublk fetch of tag {tag}: {}",
                    std::io::Error::from_raw_os_error(-res)
                ));
            }
            // SAFETY: tag < DEPTH indexes the mapped array; the driver wrote it before the CQE.
            let d = unsafe { std::ptr::read_volatile(descs.add(tag as usize)) };
            let (start, n) = (d.start_sector, d.nr_sectors as u64);
            let len = (n << 9) as usize;
            let buf = &mut bufs[tag as usize];
            let result = match d.op_flags & 0xff {
                IO_OP_READ if len <= buf.len() => {
                    match store.read_exact_at(&mut buf[..len], start << 9) {
                        Ok(()) => len as i32,
                        Err(_) => -libc::EIO,
                    }
                }
                IO_OP_WRITE if len <= buf.len() => match fire(arm, start, n) {
                    Some(e) => -(e as i32),
                    None => match store.write_all_at(&buf[..len], start << 9) {
                        Ok(()) => len as i32,
                        Err(_) => -libc::EIO,
                    },
                },
                IO_OP_FLUSH => 0,
                _ => -libc::EOPNOTSUPP,
            };
            push(&mut ring, U_IO_COMMIT_AND_FETCH_REQ, tag, result, buf)?;
        }
        ring.submit().map_err(|e| format!("io_uring_enter: {e}"))?;
    }
    // SAFETY: unmapping what we mapped above.
    unsafe { libc::munmap(descs as *mut libc::c_void, desc_len) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uapi_layouts_and_opcodes() {
        // include/uapi/linux/ublk_cmd.h (7.3.4): sizes the driver copies, ioctl-encoded opcodes.
        assert_eq!(std::mem::size_of::<CtrlCmd>(), 32);
        assert_eq!(std::mem::size_of::<DevInfo>(), 64);
        assert_eq!(std::mem::size_of::<ParamsBasic>(), 40);
        assert_eq!(std::mem::size_of::<IoDesc>(), 24);
        assert_eq!(std::mem::size_of::<IoCmd>(), 16);
        assert_eq!(U_CMD_ADD_DEV, 0xc020_7504);
        assert_eq!(U_IO_FETCH_REQ, 0xc010_7520);
        assert_eq!(U_IO_COMMIT_AND_FETCH_REQ, 0xc010_7521);
    }

    #[test]
    fn an_armed_sector_fails_one_request_once() {
        let d = std::env::temp_dir().join(format!("diofuzz-ublk-test-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let arm = d.join("arm");
        write_whole(&arm, &format_arm(&[(100, 110), (300, 22)])).unwrap();
        assert_eq!(
            fire(&arm, 0, 100),
            None,
            "sectors 0..100 hold no armed sector"
        );
        assert_eq!(fire(&arm, 96, 8), Some(110));
        assert_eq!(fire(&arm, 96, 8), None, "once");
        assert_eq!(parse_arm(&fs::read_to_string(&arm).unwrap()), [(300, 22)]);
        assert_eq!(fire(&arm, 300, 1), Some(22));
        assert_eq!(fs::read_to_string(&arm).unwrap(), "");
        fs::remove_dir_all(&d).unwrap();
    }
}
