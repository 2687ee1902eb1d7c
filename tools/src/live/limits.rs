// SPDX-License-Identifier: GPL-2.0-only
//! Limits of the live run (issue 13): the file span a scenario may touch (a guard no input
//! reaches), and stable-writes devices (world.device.stable_writes) on loop devices.
//!
//! A stable-writes world is a scratch filesystem of its own (the [`super::plan::FsKey`] field
//! `stable`) on a loop device whose `queue/stable_writes` is set after `LOOP_CONFIGURE` and
//! before the mount: the filesystem takes the flag from the block device then
//! (setup_bdev_super: SB_I_STABLE_WRITES, which inode_init_always turns into AS_STABLE_WRITES on
//! every ext4 inode; XFS reads bdev_stable_writes() of its data device for each inode,
//! xfs_update_stable_writes). The attribute is read back after the mount, and written back to 0
//! before the unmount (the loop device is reused by others once autoclear detaches it).
//!
//! Zero-length requests and RLIMIT_FSIZE of 0 need nothing here: the plan passes them on
//! (docs/live.md, "Limits").

use std::fs;
use std::path::Path;

use diofuzz::scenario::Scenario;

use super::plan::{Disk, Unsupported};

/// Largest file offset a live scenario may touch (the scratch images are 128 MiB ext4 and 512 MiB
/// XFS, and the read-back reads the whole file twice). No input reaches it: the format's sizes
/// and positions are at most 63 blocks + 1 byte ([`diofuzz::scenario::MAX_BLOCK_COUNT`]) of at
/// most 4 KiB, its layouts 32 blocks and 32 pages, so a scenario ends below 2 x (63 x 4 KiB + 1)
/// bytes = 504 KiB + 2 ([`tests::every_encodable_scenario_fits_the_span`]). A guard, not a limit.
pub const LIVE_SPAN: u64 = 4 << 20;

/// Largest block device a block-device scenario makes (a loop device or partition whose every
/// byte the set-up writes).
pub const BDEV_SPAN: u64 = 4 << 20;

/// The plan's refusal for a scenario past [`LIVE_SPAN`].
pub const SPAN_REFUSAL: &str = "touches more than 4 MiB";

/// Stable writes are built on the loop devices live binds; the disk of `live --device` (and a
/// pmem device) holds filesystems of every kind one after the other and is left as it is.
pub fn refuse_stable(s: &Scenario, disk: Option<&Disk>) -> Result<(), Unsupported> {
    use diofuzz::scenario::PageState;
    if s.world.device.stable_writes && disk.is_some() {
        return Err(
            "stable-writes device on the disk of live --device (built on loop devices only)"
                .to_string(),
        );
    }
    if s.world.device.stable_writes && s.world.pages.contains(&PageState::MappedDirty) {
        // The re-dirtying store (super::pages) is made by the watchdog while the writeback it
        // holds is in flight; on a stable-writes device page_mkwrite waits in
        // folio_wait_stable() (ext4_page_mkwrite, iomap_page_mkwrite) for that writeback, so
        // the watchdog would wait for itself. The world is real (the store lands after the
        // flush's writeback ends), but not with a held writeback. A page under writeback
        // (PageState::Writeback) is built: a buffered write into it waits in write_begin
        // (FGP_STABLE: folio_wait_stable) until the watchdog sees the call blocked and thaws.
        return Err("stable-writes device with an mmapped page re-dirtied during the call (page_mkwrite waits in folio_wait_stable for the writeback the harness holds: not built)".to_string());
    }
    Ok(())
}

/// ext4_max_size() (fs/ext4/super.c, 6.12-7.3) of an extent-mapped file on a filesystem with
/// huge_file (mkfs.ext4's default): 2^32 - 1 blocks (the 32-bit ee_block), below MAX_LFS_FILESIZE.
pub fn ext4_max_size(blkbits: u8) -> u64 {
    ((1u64 << 32) - 1) << blkbits
}

/// ext4_max_bitmap_size() (fs/ext4/super.c, identical in 6.12.117 and 7.3.4) with huge_file
/// (mkfs.ext4's default, also with `-O ^extent,^64bit`): the blocks a block-mapped file
/// addresses, 12 direct + ppb + ppb^2 + ppb^3 with ppb = block size / 4 (the 2^48 - 1 block
/// i_blocks limit is not reached at 1 or 4 KiB), shifted to bytes: always whole blocks (the
/// MAX_LFS_FILESIZE cap, which is not, is not reached on 64-bit). 4 KiB blocks: 1,074,791,436
/// blocks = 4,402,345,721,856 bytes (about 4 TiB); 1 KiB blocks: 16,843,020 blocks =
/// 17,247,252,480 bytes (about 16 GiB), a multiple of 4 KiB as well.
pub fn ext4_max_bitmap_size(blkbits: u8) -> u64 {
    let ppb = 1u64 << (blkbits - 2);
    (12 + ppb + ppb * ppb + ppb * ppb * ppb) << blkbits
}

/// A scaled s_maxbytes (world.s_maxbytes other than the real value) stands for writing just
/// below the real limit (docs/validity.md): the plan's every file offset (steps, i_size, the
/// call's position, RLIMIT_FSIZE) is moved by delta = real limit - scaled limit, where that keeps
/// every alignment that matters (page, block, the atomic write's length), and the observation
/// moves back ([`super::exec`]: `Plan::shift`). Built for ext4 on loop devices: extent-mapped
/// files next to ext4_max_size, block-mapped ones next to ext4_max_bitmap_size (their scaled
/// s_bitmap_maxbytes); the rest is refused with the reason.
pub fn shift(
    s: &Scenario,
    disk: Option<&Disk>,
    mut p: super::plan::Plan,
) -> Result<super::plan::Plan, Unsupported> {
    use super::plan::Step;
    use diofuzz::scenario::{FsKind, HUGE_MAXBYTES, PAGE_SIZE};
    let w = &s.world;
    let ext4_indirect = s.fs == FsKind::Ext4 && !w.inode.extents;
    let scaled_bitmap = ext4_indirect && w.s_bitmap_maxbytes != HUGE_MAXBYTES;
    if w.s_maxbytes == HUGE_MAXBYTES && !scaled_bitmap {
        // (a scaled bitmap limit on an extent-mapped or XFS file is never read)
        return Ok(p);
    }
    let why = if s.fs == FsKind::Xfs {
        Some("small s_maxbytes on XFS (its s_maxbytes, MAX_LFS_FILESIZE = 2^63 - 1, is not block aligned: no shift keeps the alignment)")
    } else if ext4_indirect && (!scaled_bitmap || w.s_bitmap_maxbytes > w.s_maxbytes) {
        // validity W24: the real bitmap limit lies far below the real s_maxbytes.
        Some("small s_maxbytes on an ext4 block-mapped inode without a smaller s_bitmap_maxbytes (validity W24)")
    } else if disk.is_some() {
        Some("small s_maxbytes on the disk of live --device (built on loop devices)")
    } else if p.call.mmap_writer
        || p.down.is_some()
        || (p.key.inode_kind != Default::default() && !w.inline_delalloc)
        || p.key.layered
    {
        Some("small s_maxbytes with an mmap writer, a filesystem brought down, a page held during the call, or an inline-data (other than a conversion pending) or encrypted inode (not built)")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(why.to_string());
    }
    // The limit the write meets first: s_maxbytes, or on a block-mapped inode
    // s_bitmap_maxbytes (ext4_generic_write_checks; W24 keeps it at or below s_maxbytes, and the
    // real s_maxbytes then lies terabytes past the window, where the model's limit, if scaled,
    // is never met first).
    let (real, scaled, name) = if ext4_indirect {
        (
            ext4_max_bitmap_size(w.blkbits),
            w.s_bitmap_maxbytes,
            "s_bitmap_maxbytes",
        )
    } else {
        (ext4_max_size(w.blkbits), w.s_maxbytes, "s_maxbytes")
    };
    if scaled > real {
        return Err(format!("small {name} {scaled} above the real {real}"));
    }
    if ext4_indirect && w.i_size > scaled {
        // ext4_setattr refuses a size past s_bitmap_maxbytes on a block-mapped inode (-EFBIG):
        // such a file was made larger before a chattr -e (ext4_ind_migrate), not built.
        return Err(format!(
            "i_size {} past the scaled s_bitmap_maxbytes {scaled} of a block-mapped inode (ftruncate gives -EFBIG; a file migrated by chattr -e after growing is not built)",
            w.i_size
        ));
    }
    let delta = real - scaled;
    let mut align = PAGE_SIZE.max(1 << w.blkbits);
    if s.request.rwf.atomic {
        align = align.max(s.request.len.next_power_of_two());
    }
    if delta % align != 0 {
        return Err(format!(
            "small {name}: the shift to the real limit ({delta} bytes) is not a multiple of {align} (page, block or atomic write length)"
        ));
    }
    // (An inline conversion pending keeps its one-byte inline write at 0: super::inline_delalloc.)
    let keep = super::inline_delalloc::unshifted_step(s, &p.steps);
    for (i, st) in p.steps.iter_mut().enumerate() {
        if Some(i) == keep {
            continue;
        }
        match st {
            Step::Truncate(x) => *x += delta,
            Step::WriteOld { off, .. }
            | Step::Fallocate { off, .. }
            | Step::CloneOld { off, .. }
            | Step::ReadPage { off }
            | Step::WriteDirty { off, .. }
            | Step::WriteZero { off, .. } => *off += delta,
            _ => {}
        }
    }
    p.i_size += delta;
    p.call.pos += delta;
    p.call.rlimit_fsize = p.call.rlimit_fsize.map(|l| l + delta);
    p.shift = delta;
    // Without O_LARGEFILE the call's file is opened before the set-up grows the file past
    // MAX_NON_LFS ([`open_before_growth`]); nothing ->open reads may change after that.
    if let Some(k) = open_before_growth(&p) {
        if let Some(st) = p.steps[k..].iter().find(|st| reads_at_open(st)) {
            return Err(format!(
                "no O_LARGEFILE with a scaled limit: {st:?} after the file grew past MAX_NON_LFS (the call's file is opened before that)"
            ));
        }
    }
    Ok(p)
}

/// MAX_NON_LFS (include/linux/fs.h, 6.12-7.3): the largest size a file opened without
/// O_LARGEFILE may have at open (generic_file_open: -EOVERFLOW past it), and the limit
/// generic_write_check_limits() puts on every write through it.
pub const MAX_NON_LFS: u64 = (1 << 31) - 1;

/// A call without O_LARGEFILE on a file the set-up takes past [`MAX_NON_LFS`] (a scaled
/// s_maxbytes or s_bitmap_maxbytes shifted next to the real one: 4 TiB or 16 TiB): the index in
/// `p.steps` of the first step that does. The executor and the C reproducer open the call's file
/// (the ia32 open) right before it, while generic_file_open() still accepts the file (ext4
/// through dquot_file_open, XFS directly; fs/open.c, 6.12-7.3), and the set-up then grows the
/// file through its own descriptor: a 32-bit process's open, then another writer's truncate.
/// None: the file never passes MAX_NON_LFS, the call's file is opened after the set-up as usual.
pub fn open_before_growth(p: &super::plan::Plan) -> Option<usize> {
    use super::plan::Step;
    if !p.call.no_largefile {
        return None;
    }
    let mut size = 0u64;
    for (i, st) in p.steps.iter().enumerate() {
        size = match st {
            Step::Truncate(n) => *n,
            Step::WriteOld { off, len }
            | Step::WriteDirty { off, len }
            | Step::WriteZero { off, len }
            | Step::CloneOld { off, len } => size.max(off + len),
            _ => size,
        };
        if size > MAX_NON_LFS {
            return Some(i);
        }
    }
    None
}

/// A set-up step whose effect ->open reads (ext4_file_open, xfs_file_open: the inode flags that
/// decide FMODE_CAN_ATOMIC_WRITE; the journal-data and inline/encryption checks): it must come
/// before an early open ([`open_before_growth`]). chattr +a is not one (may_open checks it
/// against O_APPEND, which the call's open has whenever the world is append-only).
fn reads_at_open(st: &super::plan::Step) -> bool {
    use super::plan::{Step, FS_APPEND_FL};
    match st {
        Step::SetInodeFlags { set, clear } => (set | clear) & !FS_APPEND_FL != 0,
        Step::ExpectInodeFlags(_) => true,
        _ => false,
    }
}

/// A scaled limit with the EXTENTS flag changed after open (`chattr -e` / `+e` on the open file):
/// the limit the write meets (s_maxbytes or the bitmap one) is not the set-up's, and
/// ext4_ind_migrate refuses a file with blocks near either real limit (an extent ending at or
/// past EXT4_NDIR_BLOCKS). Not built; called before the race split (plan.rs). Nor a swap file
/// made or dropped after open with a shifted limit.
pub fn refuse_scaled_migration(s: &Scenario) -> Result<(), Unsupported> {
    use diofuzz::scenario::{FsKind, HUGE_MAXBYTES};
    let w = &s.world;
    let scaled = w.s_maxbytes != HUGE_MAXBYTES || w.s_bitmap_maxbytes != HUGE_MAXBYTES;
    // (Not an inline conversion after open, whose EXTENTS flag comes from
    // ext4_destroy_inline_data_nolock: super::inline_scaled builds it, session 10.)
    if s.fs == FsKind::Ext4
        && scaled
        && s.inode_at_open().extents != w.inode.extents
        && !super::inline_scaled::wanted(s)
    {
        return Err("a scaled s_maxbytes or s_bitmap_maxbytes with the EXTENTS flag changed after open (the shift is chosen by the inode at the write; ext4_ind_migrate refuses blocks near the real limit): not built".to_string());
    }
    // A swap file made or dropped after open: the world at open, which the race split plans, has
    // none, so super::swap::refuse does not see it; the shifted file has terabytes of hole below
    // it, which swapon refuses (iomap_swapfile_iter: "has unallocated extents").
    let block_mapped = s.fs == FsKind::Ext4 && !w.inode.extents;
    let shifted =
        w.s_maxbytes != HUGE_MAXBYTES || (block_mapped && w.s_bitmap_maxbytes != HUGE_MAXBYTES);
    if shifted && super::swap::wanted(s) {
        return Err("swap file (swapon or swapoff after open) with a scaled s_maxbytes or s_bitmap_maxbytes (the shift to the real limit leaves terabytes of hole below the file, which swapon refuses: not built)".to_string());
    }
    Ok(())
}

/// Where the user buffer's mapping (page aligned; the buffer starts `buf_offset` bytes into it)
/// becomes PROT_NONE for a fault at byte `fault_at` of the request: the start of the page holding
/// that byte. Memory is unmapped in pages, so a fault "inside" a page is the fault at its start:
/// the model's IovIter::faultable (src/kernel/include/linux/fs.rs) stops there too, and a user copy
/// stops exactly there on x86 (copy_user_generic: `rep movsb`, or rep_movs_alternative, whose
/// fault fixups finish the tail byte by byte: the uncopied count is exact; lib/iov_iter.c
/// copy_from_user_iter returns it), as does a direct write's page pinning
/// (iov_iter_extract_pages pins whole pages). The page may be the buffer's first (a fault_at
/// below the first page boundary): then nothing of the buffer is readable, as in the model.
pub fn fault_page(buf_offset: u64, fault_at: u64) -> u64 {
    (buf_offset + fault_at) / diofuzz::scenario::PAGE_SIZE * diofuzz::scenario::PAGE_SIZE
}

/// Test fixture of the shifted-world tests (here, tools/src/live/repro.rs and
/// tools/src/live/probes.rs): ext4, 4 KiB blocks, an 8 KiB file of two written blocks, extent-
/// or block-mapped, and an 8 KiB O_DIRECT-less write at 8192; no limit scaled yet (a test sets
/// s_maxbytes or s_bitmap_maxbytes).
#[cfg(test)]
pub(crate) fn written_8k(extents: bool) -> Scenario {
    use diofuzz::scenario::{BlockState, Extent, FsKind};
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Default::default()
    };
    s.world.inode.extents = extents;
    s.world.i_size = 8192;
    s.world.blocks = vec![
        BlockState {
            kind: Extent::Written,
            ..Default::default()
        };
        2
    ];
    s.request.pos = 8192;
    s.request.len = 8192;
    s
}

/// A block-device call past the device's end (request.pos > i_size, not aio: aio has its own
/// position) is made at its position (pwritev2/preadv2's offset) instead of at the file position:
/// blkdev_llseek (fixed_size_llseek to bdev_nr_bytes, block/fops.c) refuses an lseek past the end
/// with -EINVAL, while a positioned call reaches blkdev_write_iter, which refuses the position
/// (-ENOSPC) after the zero-length check (6.12-7.3). The kernel's position after such a call is
/// not the file's: the executor reports pos + the return value (what vfs_writev leaves in
/// do_pwritev's position), compared only for a return >= 0, i.e. a zero-length request; the C
/// reproducer does not compare it.
///
/// A file's call past the limit its lseek has is positioned the same way: `ext4_llseek` refuses
/// an offset past s_bitmap_maxbytes on a block-mapped inode and past s_maxbytes otherwise,
/// `generic_file_llseek` (XFS) past s_maxbytes (`vfs_setpos`: -EINVAL; fs/ext4/file.c, fs/
/// read_write.c, 6.12-7.3), while pwritev2 at that offset reaches the write checks (-EFBIG, or 0
/// for a zero-length request; `ext4_get_maxbytes`, fs/ext4/file.c, fs/read_write.c, 6.12-7.3).
/// On a scaled limit ([`shift`]) the scenario's limit stands for the real one. An appending
/// write is not positioned: it moves to EOF whatever the position ([`seek_limit`]).
pub fn positioned(s: &Scenario) -> bool {
    match s.fs {
        diofuzz::scenario::FsKind::Bdev => !s.request.aio && s.request.pos > s.world.i_size,
        _ => !appends(s) && s.request.pos > seek_limit(s),
    }
}

/// The largest offset lseek gives a file ([`positioned`]): s_bitmap_maxbytes on an ext4
/// block-mapped inode, else s_maxbytes.
pub fn seek_limit(s: &Scenario) -> u64 {
    let w = &s.world;
    if s.fs == diofuzz::scenario::FsKind::Ext4 && !w.inode.extents {
        w.s_bitmap_maxbytes
    } else {
        w.s_maxbytes
    }
}

/// A write that generic_write_checks moves to EOF (O_APPEND or RWF_APPEND without
/// RWF_NOAPPEND, not zero-length): its position before the call changes nothing, so a position
/// past [`seek_limit`] is set at the limit instead.
pub fn appends(s: &Scenario) -> bool {
    let r = &s.request;
    !r.read && r.len > 0 && (r.open.append || r.rwf.append) && !r.rwf.noappend
}

/// The device line of the C reproducer's header for a loop scenario.
pub fn c_device(stable: bool) -> &'static str {
    if stable {
        "loop device whose queue/stable_writes is 1 before the mount (echo 1 > /sys/block/loopN/queue/stable_writes; set it back to 0 after)"
    } else {
        "loop device"
    }
}

/// The lab's `repro --run --kernel` init script for a stable-writes world (`stable`): the
/// guest's loop device gets queue/stable_writes 1 right after `losetup`, before mkfs and the
/// mount (the guest is thrown away afterwards).
pub fn stable_in_guest(stable: bool, script: String) -> String {
    const BIND: &str = "losetup $T /tmp/img\n";
    if !stable || !script.contains(BIND) {
        return script;
    }
    script.replacen(
        BIND,
        "losetup $T /tmp/img\necho 1 > /sys/block/${T#/dev/}/queue/stable_writes\necho \"@@@REPRO-SETUP stable_writes=$(cat /sys/block/${T#/dev/}/queue/stable_writes)\"\n",
        1,
    )
}

/// `repro --run --device PATH`: a stable-writes world is made on a scratch file given (through a
/// loop device live binds), never by changing a device the user gave.
pub fn given_device_ok(p: &super::plan::Plan, given: &Path) -> Result<(), String> {
    if p.key.stable && !given.is_file() {
        return Err(format!(
            "the scenario needs a stable-writes device: set {}'s queue/stable_writes to 1 yourself and mount a filesystem, or give a scratch file (live binds a loop device over it and sets the flag)",
            given.display()
        ));
    }
    Ok(())
}

/// open(2) through the ia32 compat entry (`int 0x80`, i386 `__NR_open` 5) from this 64-bit
/// process: `COMPAT_SYSCALL_DEFINE3(open)` calls do_sys_open() without `force_o_largefile()`,
/// so the file has no O_LARGEFILE (request.open.no_largefile: a 32-bit process's open) and
/// generic_write_check_limits() limits every later write through it at MAX_NON_LFS. The path is
/// copied below 4 GiB (MAP_32BIT): the compat entry reads 32-bit registers. The flag bits
/// (O_RDWR, O_DIRECT, O_APPEND, O_DSYNC, O_SYNC, O_CLOEXEC) have the same values on i386. The fd
/// is checked with F_GETFL. Needs CONFIG_IA32_EMULATION (on, and not disabled at boot): without
/// it the scenario is "not possible here".
#[cfg(target_arch = "x86_64")]
pub fn open_without_largefile(path: &std::ffi::CStr, flags: i32) -> Result<i32, String> {
    let bytes = path.to_bytes_with_nul();
    if bytes.len() > 4096 {
        return Err("path too long for the compat open".into());
    }
    // SAFETY: a fresh anonymous private mapping of one page, below 4 GiB.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    if m == libc::MAP_FAILED {
        return Err(format!(
            "mmap MAP_32BIT: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: copying the path (at most 4096 bytes with its NUL) into our mapping.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), m as *mut u8, bytes.len()) };
    let mut ret: i64 = 5;
    // SAFETY: the ia32 open system call reads the NUL-terminated path at `m` (below 4 GiB) and
    // returns an fd or -errno in eax; rbx (LLVM's) is swapped in and out around it, and the
    // registers the compat entry may clobber are declared.
    unsafe {
        std::arch::asm!(
            "xchg {p}, rbx",
            "int 0x80",
            "xchg {p}, rbx",
            p = inout(reg) m as u64 => _,
            inout("rax") ret,
            in("rcx") flags as u32 as u64,
            in("rdx") 0o600u64,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
        );
        libc::munmap(m, 4096);
    }
    let fd = ret as i32;
    if fd < 0 {
        let e = std::io::Error::from_raw_os_error(-fd);
        return Err(if fd == -libc::ENOSYS {
            format!("{}: no ia32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0): a file without O_LARGEFILE needs a 32-bit open", super::exec::UNAVAILABLE)
        } else {
            format!("compat open for the call: {e}")
        });
    }
    // SAFETY: F_GETFL on the fd we just got.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl & O_LARGEFILE != 0 {
        // SAFETY: closing our fd.
        unsafe { libc::close(fd) };
        return Err("the compat open gave a file with O_LARGEFILE".into());
    }
    Ok(fd)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn open_without_largefile(_: &std::ffi::CStr, _: i32) -> Result<i32, String> {
    Err(format!(
        "{}: a file without O_LARGEFILE is opened through the x86 ia32 entry",
        super::exec::UNAVAILABLE
    ))
}

/// The C reproducer's early open ([`open_before_growth`]): the call's file without O_LARGEFILE,
/// before the step that takes the file past MAX_NON_LFS (the set-up goes on through `fd`).
pub fn c_open_early(flags: i32) -> String {
    format!(
        "\t/* Opened without O_LARGEFILE while the file is still below MAX_NON_LFS (generic_file_open\n\t * refuses a larger one: EOVERFLOW); the set-up grows it through fd after this open. */\n\tint cfd = open_compat(path, {flags:#x});\n\tif (cfd < 0)\n\t\tdie(\"open\");\n"
    )
}

/// O_LARGEFILE as the kernel's f_flags carry it on x86 (userspace's x86-64 headers define it 0).
pub const O_LARGEFILE: i32 = 0o100000;

/// The C reproducer's open for the call without O_LARGEFILE: the same ia32 entry.
pub const C_OPEN_COMPAT: &str = r#"
/* open(2) through the ia32 compat entry: no force_o_largefile(), so no O_LARGEFILE (a 32-bit
 * process's file). The path must be below 4 GiB. */
static int open_compat(const char *p, int fl)
{
	char *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long r = 5;
	if (b == MAP_FAILED)
		die("mmap MAP_32BIT");
	strncpy(b, p, 4095);
	__asm__ volatile("int $0x80" : "+a"(r) : "b"(b), "c"((long)fl), "d"(0600L) : "r8", "r9", "r10", "r11", "memory", "cc");
	munmap(b, 4096);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	if (fcntl(r, F_GETFL) & 0100000)
		die("compat open: O_LARGEFILE set");
	printf("opened without O_LARGEFILE (ia32 open)\n");
	return r;
}
"#;

/// /sys/block/<loopN>/queue/stable_writes of a block device node (/dev/loopN).
fn attr(dev: &Path) -> Result<std::path::PathBuf, String> {
    let name = dev
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no device name", dev.display()))?;
    Ok(Path::new("/sys/block")
        .join(name)
        .join("queue")
        .join("stable_writes"))
}

/// Read queue/stable_writes of `dev`.
pub fn get(dev: &Path) -> Result<bool, String> {
    let p = attr(dev)?;
    let t = fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
    match t.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        o => Err(format!("{}: unexpected value {o:?}", p.display())),
    }
}

/// Write queue/stable_writes of `dev` (one of our loop devices) and read it back.
pub fn set(dev: &Path, on: bool) -> Result<(), String> {
    let p = attr(dev)?;
    fs::write(&p, if on { "1" } else { "0" }).map_err(|e| {
        format!(
            "write {}: {e} (a stable-writes world needs a writable queue/stable_writes)",
            p.display()
        )
    })?;
    if get(dev)? != on {
        return Err(format!(
            "{}: the kernel did not keep {}",
            p.display(),
            on as u8
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::FsKind;

    #[test]
    fn stable_writes_only_on_loop() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.device.stable_writes = true;
        assert!(refuse_stable(&s, None).is_ok());
        let d = Disk {
            awu_min: 0,
            awu_max: 0,
            lbs_bits: 9,
            dma_alignment: 511,
        };
        assert!(refuse_stable(&s, Some(&d)).unwrap_err().contains("loop"));
        s.world.device.stable_writes = false;
        assert!(refuse_stable(&s, Some(&d)).is_ok());
        // A page under writeback: built (the buffered write waits in folio_wait_stable until the
        // watchdog thaws); an mmapped dirty page: the watchdog's store would wait for itself.
        use diofuzz::scenario::PageState;
        s.world.device.stable_writes = true;
        s.world.pages = vec![PageState::Writeback];
        assert!(refuse_stable(&s, None).is_ok());
        s.world.pages = vec![PageState::MappedDirty];
        assert!(refuse_stable(&s, None)
            .unwrap_err()
            .contains("folio_wait_stable"));
    }

    /// The largest scenario the input format can hold, at the largest block size it has (4 KiB),
    /// fits in [`LIVE_SPAN`] with room: the span never refuses an input.
    #[test]
    fn every_encodable_scenario_fits_the_span() {
        use diofuzz::scenario::{
            BlockState, Extent, PageState, MAX_BLOCKS, MAX_BLOCK_COUNT, MAX_PAGES,
        };
        let bs = 1u64 << 12;
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.world.blkbits = 12;
        let top = (MAX_BLOCK_COUNT - 1) * bs + 1;
        s.world.i_size = top;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            };
            MAX_BLOCKS
        ];
        s.world.pages = vec![PageState::Clean; MAX_PAGES];
        s.request.pos = top;
        s.request.len = top;
        let back = Scenario::decode(&s.encode().unwrap()).unwrap();
        let r = &back.request;
        let end = [back.world.i_size, r.pos + r.len, back.world.i_size + r.len]
            .into_iter()
            .max()
            .unwrap();
        assert_eq!(end, 2 * top);
        assert_eq!(end, 504 * 1024 + 2);
        assert!(end <= LIVE_SPAN, "{end}");
        // (and a larger block size does not encode)
        s.world.blkbits = 13;
        assert!(s.encode().is_err());
        s.world.blkbits = 12;
        // One block more does not encode.
        s.request.pos = top - 1 + bs;
        assert!(s.encode().is_err());
    }

    /// The generator draws the three worlds (zero-length requests, stable-writes loop devices,
    /// RLIMIT_FSIZE 0), and the plan builds each: the stable key, the empty segments, the limit
    /// in the child.
    #[test]
    fn generated_limit_worlds_plan() {
        use diofuzz::generators::random::generate;
        let (mut zero, mut stable, mut rl0, mut nolfs, mut shifted) = (0, 0, 0, 0, 0);
        let (mut bitmap, mut stable_wb) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate(7, i, fs);
                let p = super::super::plan::plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                if s.request.len == 0 {
                    zero += 1;
                    assert_eq!(p.call.len, 0);
                    assert!(p.call.segs.iter().all(|&l| l == 0) && !p.call.segs.is_empty());
                }
                assert_eq!(p.key.stable, s.world.device.stable_writes);
                if p.key.stable {
                    stable += 1;
                    if s.world
                        .pages
                        .contains(&diofuzz::scenario::PageState::Writeback)
                    {
                        assert!(p.key.layered && p.call.pages.held());
                        stable_wb += 1;
                    }
                    assert!(p.key.label().contains("-stable"), "{}", p.key.label());
                }
                if s.world.rlimit_fsize == Some(0) {
                    rl0 += 1;
                    assert_eq!(p.call.rlimit_fsize, Some(p.shift));
                }
                assert_eq!(p.call.no_largefile, s.request.open.no_largefile);
                let scaled = if s.world.inode.extents {
                    s.world.s_maxbytes
                } else {
                    s.world.s_bitmap_maxbytes
                };
                assert_eq!(
                    p.shift != 0,
                    scaled != diofuzz::scenario::HUGE_MAXBYTES,
                    "{fs:?} {i}"
                );
                bitmap += (p.shift != 0 && !s.world.inode.extents) as u32;
                shifted += (p.shift != 0) as u32;
                nolfs += s.request.open.no_largefile as u32;
            }
        }
        assert!(
            zero > 100 && stable > 200 && rl0 > 60,
            "{zero} {stable} {rl0}"
        );
        assert!(nolfs > 120, "{nolfs}");
        assert!(shifted > 50, "{shifted}");
        assert!(bitmap > 3, "{bitmap}");
        assert!(stable_wb > 3, "{stable_wb}");
    }

    /// A scaled s_maxbytes on ext4 (extent-mapped, loop) is built by moving every offset by the
    /// distance to ext4_max_size; XFS, block-mapped inodes and a misaligned shift are refused.
    #[test]
    fn scaled_s_maxbytes_is_shifted_to_the_real_limit() {
        use super::super::plan::{plan, Step};
        let mut s = super::written_8k(true);
        s.request.pos = 61440;
        s.world.rlimit_fsize = Some(65536);
        assert_eq!(plan(&s).unwrap().shift, 0, "real limits: no shift");
        s.world.s_maxbytes = 16 * 4096;
        let p = plan(&s).unwrap();
        let delta = ((1u64 << 32) - 1 - 16) * 4096;
        assert_eq!(p.shift, delta);
        assert_eq!(ext4_max_size(12) - p.shift, 16 * 4096);
        assert_eq!((p.i_size, p.call.pos), (delta + 8192, delta + 61440));
        assert_eq!(p.call.rlimit_fsize, Some(delta + 65536));
        assert!(p.steps.contains(&Step::Truncate(delta + 8192)));
        assert!(p.steps.contains(&Step::WriteOld {
            off: delta,
            len: 4096
        }));
        // Without O_LARGEFILE: the call's file is opened before the truncate that takes the
        // file past MAX_NON_LFS (the first step here), then grown by the set-up.
        let mut n = s.clone();
        n.request.open.no_largefile = true;
        let np = plan(&n).unwrap();
        assert_eq!(np.shift, delta);
        let k = open_before_growth(&np).unwrap();
        assert_eq!(np.steps[k], Step::Truncate(delta + 8192));
        assert!(np.steps[..k]
            .iter()
            .all(|st| !matches!(st, Step::Truncate(_))));
        assert_eq!(open_before_growth(&plan(&s).unwrap()), None, "O_LARGEFILE");
        // 1 KiB blocks: the limit is 2^32 - 1 KiB-blocks, the shift must stay page aligned.
        let mut k = s.clone();
        k.world.blkbits = 10;
        k.world.s_maxbytes = 3 * 1024;
        k.world.i_size = 2048;
        k.request.pos = 2048;
        k.request.len = 2048;
        k.world.rlimit_fsize = None;
        assert_eq!(plan(&k).unwrap().shift % 4096, 0);
        k.world.s_maxbytes = 4 * 1024;
        assert!(plan(&k).unwrap_err().contains("not a multiple of 4096"));
        // Refused: XFS (2^63 - 1), a block-mapped inode.
        let mut x = s.clone();
        x.fs = FsKind::Xfs;
        assert!(plan(&x).unwrap_err().contains("XFS"));
        let mut b = s.clone();
        b.world.inode.extents = false;
        assert!(plan(&b).unwrap_err().contains("block-mapped"));
    }

    /// A scaled s_bitmap_maxbytes on an ext4 block-mapped inode is built next to
    /// ext4_max_bitmap_size (whole blocks: about 4 TiB at 4 KiB, 16 GiB at 1 KiB); a scaled
    /// s_maxbytes above it is W24, and a file already past the scaled bitmap limit is refused.
    #[test]
    fn scaled_bitmap_limit_is_shifted_to_ext4_max_bitmap_size() {
        use super::super::plan::{plan, Step};
        use diofuzz::scenario::HUGE_MAXBYTES;
        assert_eq!(ext4_max_bitmap_size(12), 1_074_791_436 << 12);
        assert_eq!(ext4_max_bitmap_size(12), 4_402_345_721_856);
        assert_eq!(ext4_max_bitmap_size(10), 17_247_252_480);
        assert_eq!(ext4_max_bitmap_size(10) % 4096, 0);
        let mut s = super::written_8k(false);
        assert_eq!(plan(&s).unwrap().shift, 0, "real limits: no shift");
        s.world.s_bitmap_maxbytes = 3 * 4096;
        let p = plan(&s).unwrap();
        let delta = (1_074_791_436 - 3) * 4096;
        assert_eq!(p.shift, delta);
        assert_eq!((p.i_size, p.call.pos), (delta + 8192, delta + 8192));
        assert!(p.steps.contains(&Step::Truncate(delta + 8192)));
        // chattr -e after open (the set-up's file is extent-mapped): refused, not unshifted.
        let mut r = s.clone();
        r.races
            .push(diofuzz::scenario::Race::InodeFlagChangedAfterOpen(0));
        assert!(r.inode_at_open().extents);
        assert!(plan(&r)
            .unwrap_err()
            .contains("EXTENTS flag changed after open"));
        // Without O_LARGEFILE: opened after the chattr -e (->open reads the flags), before the
        // truncate to 4 TiB.
        let mut n = s.clone();
        n.request.open.no_largefile = true;
        let np = plan(&n).unwrap();
        let k = open_before_growth(&np).unwrap();
        assert_eq!(np.steps[k], Step::Truncate(delta + 8192));
        assert!(np.steps[..k]
            .iter()
            .any(|st| matches!(st, Step::SetInodeFlags { clear, .. } if *clear == super::super::plan::FS_EXTENT_FL)));
        // With a scaled s_maxbytes at or above it (the bitmap limit is met first).
        s.world.s_maxbytes = 4 * 4096;
        assert_eq!(plan(&s).unwrap().shift, delta);
        // Below it: no window has both (W24).
        s.world.s_maxbytes = 2 * 4096;
        assert!(plan(&s).unwrap_err().contains("W24"));
        s.world.s_bitmap_maxbytes = HUGE_MAXBYTES;
        assert!(plan(&s).unwrap_err().contains("W24"));
        s.world.s_maxbytes = HUGE_MAXBYTES;
        // A file larger than the scaled bitmap limit: ftruncate would refuse it.
        s.world.s_bitmap_maxbytes = 4096;
        s.request.pos = 0;
        s.request.len = 4096;
        assert!(plan(&s).unwrap_err().contains("past the scaled"));
        // 1 KiB blocks: (16,843,020 - n) blocks must be a multiple of 4 (the page).
        let mut k = s.clone();
        k.world.blkbits = 10;
        k.world.i_size = 2048;
        k.world.s_bitmap_maxbytes = 4 * 1024;
        assert_eq!(plan(&k).unwrap().shift, (16_843_020 - 4) * 1024);
        k.world.s_bitmap_maxbytes = 3 * 1024;
        assert!(plan(&k).unwrap_err().contains("not a multiple of 4096"));
    }

    /// The ia32 open gives this process a file without O_LARGEFILE (where the kernel has ia32
    /// emulation; otherwise the error says "not possible here").
    #[test]
    fn compat_open_has_no_largefile() {
        let dir = std::env::temp_dir().join(format!("diofuzz-nolfs-{}", std::process::id()));
        fs::write(&dir, b"x").unwrap();
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        match open_without_largefile(&c, libc::O_RDWR | libc::O_CLOEXEC) {
            Ok(fd) => {
                // SAFETY: F_GETFL and close on the fd we got.
                let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                unsafe { libc::close(fd) };
                assert_eq!(fl & O_LARGEFILE, 0);
                assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
            }
            Err(e) => assert!(e.starts_with(super::super::exec::UNAVAILABLE), "{e}"),
        }
        let _ = fs::remove_file(&dir);
    }

    /// The lab's guest script sets the loop device's flag before mkfs and the mount, and only
    /// for a stable-writes world on a loop device.
    #[test]
    fn guest_script_sets_stable_writes_before_mkfs() {
        let loop_script = crate::lab::guest::repro_script("xfs", "mkfs.xfs -q", None, 512);
        let s = stable_in_guest(true, loop_script.clone());
        let set = s.find("queue/stable_writes").unwrap();
        assert!(set > s.find("losetup $T").unwrap() && set < s.find("mkfs.xfs").unwrap());
        assert_eq!(stable_in_guest(false, loop_script.clone()), loop_script);
        let disk = crate::lab::guest::repro_script("xfs", "mkfs.xfs -q", Some("$DEV"), 512);
        assert_eq!(stable_in_guest(true, disk.clone()), disk);
    }

    /// A fault_at inside a page unmaps from that page's start; the model's iterator stops at the
    /// same byte (IovIter::faultable), and the plan builds it (it used to refuse it).
    #[test]
    fn fault_inside_a_page_unmaps_its_page() {
        use diofuzz::kernel::include::linux::fs::IovIter;
        assert_eq!(fault_page(0, 4096), 4096);
        assert_eq!(fault_page(0, 512), 0);
        assert_eq!(fault_page(512, 3584), 4096);
        assert_eq!(fault_page(8, 8192 + 1024), 8192);
        for (off, fa) in [
            (0u64, 512u64),
            (512, 1024),
            (8, 4096),
            (1, 9216),
            (0, 12288),
        ] {
            let it = IovIter {
                count: 16384,
                nr_segs: 1,
                consumed: 0,
                total: 16384,
                addr: off,
                fault_at: Some(fa),
                scatter: None,
            };
            // The model's readable bytes end where live's mapping stops being readable.
            assert_eq!(
                it.faultable(),
                fault_page(off, fa).saturating_sub(off),
                "{off} {fa}"
            );
        }
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.request.len = 8192;
        s.request.buf_align = 512;
        s.request.fault_at = Some(1024);
        let p = super::super::plan::plan(&s).unwrap();
        assert_eq!(p.call.fault_at, Some(1024));
        assert_eq!(p.call.buf_offset, 512);
    }

    /// More segments than bytes: n - 1 empty iovecs and the last with every byte (the model's even
    /// split), planned, not refused.
    #[test]
    fn more_segments_than_bytes_are_planned() {
        let mut s = Scenario {
            fs: FsKind::Xfs,
            ..Default::default()
        };
        s.request.len = 3;
        s.request.nr_segs = 7;
        let p = super::super::plan::plan(&s).unwrap();
        assert_eq!(p.call.segs, vec![0, 0, 0, 0, 0, 0, 3]);
    }

    /// The format holds RLIMIT_FSIZE in whole sectors (the plan's "not a multiple of 512" is a
    /// guard no input reaches): every value of its byte decodes to n x 512, and a limit in the
    /// middle of a sector does not encode.
    #[test]
    fn rlimit_is_whole_sectors() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        let bytes = s.encode().unwrap();
        let at = (1..=255u64)
            .map(|n| {
                s.world.rlimit_fsize = Some(n * 512);
                let b = s.encode().unwrap();
                assert_eq!(
                    Scenario::decode(&b).unwrap().world.rlimit_fsize,
                    Some(n * 512)
                );
                b
            })
            .collect::<Vec<_>>();
        // The byte that differs is the limit's; every value of it decodes to whole sectors.
        let k = (0..bytes.len()).find(|&i| bytes[i] != at[0][i]).unwrap();
        for v in 0..=255u8 {
            let mut b = bytes.clone();
            b[k] = v;
            if let Ok(d) = Scenario::decode(&b) {
                assert!(d.world.rlimit_fsize.is_none_or(|l| l % 512 == 0), "{v}");
            }
        }
        s.world.rlimit_fsize = Some(513);
        assert!(s.encode().is_err());
    }

    /// A file call past its lseek limit (a scaled s_maxbytes; found as "lseek: EINVAL" errors in
    /// `live --seed 33`, gen-33-ext4-56) is made at its offset; an appending one is set at the
    /// limit, where its position changes nothing.
    #[test]
    fn file_past_its_lseek_limit_is_positioned() {
        use diofuzz::scenario::{BlockState, Extent};
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.i_size = 4096;
        s.world.blocks = vec![BlockState {
            kind: Extent::Written,
            ..Default::default()
        }];
        s.world.s_maxbytes = 77824;
        s.request.open.direct = true;
        s.request.pos = 81920;
        s.request.len = 0;
        assert!(positioned(&s));
        let p = super::super::plan::plan(&s).unwrap();
        assert!(p.call.positioned);
        assert!(p.shift > 0);
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(!c.contains("lseek(cfd, "), "{c}");
        assert!(
            c.contains(&format!("pwritev2(cfd, iov, 1, {}, ", 81920 + p.shift)),
            "{c}"
        );
        // At the limit lseek works.
        s.request.pos = 77824;
        assert!(!positioned(&s));
        // Appending: not positioned, the position clamped to the limit.
        s.request.pos = 81920;
        s.request.len = 4096;
        s.request.open.append = true;
        assert!(!positioned(&s) && appends(&s));
        let p = super::super::plan::plan(&s).unwrap();
        assert!(!p.call.positioned);
        assert_eq!(p.call.pos, 77824 + p.shift);
    }

    /// A block device written past its end is called at its position (lseek refuses it), with
    /// RLIMIT_FSIZE and a scaled s_maxbytes as they are (blkdev_write_iter reads neither).
    #[test]
    fn block_device_past_its_end_is_positioned() {
        use diofuzz::scenario::{PageState, HUGE_MAXBYTES};
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.i_size = 16384;
        s.world.pages = vec![PageState::None];
        s.request.pos = 16384 + 512;
        s.request.len = 4096;
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert!(p.call.positioned && positioned(&s));
        let c = super::super::repro::c_program(&s).unwrap();
        assert!(c.contains("pwritev2(cfd, iov, 1, 16896, "), "{c}");
        assert!(!c.contains("lseek(cfd, 16896"));
        assert!(c.contains("expect_pos = -1;"));
        s.request.pos = 16384;
        assert!(
            !super::super::plan::plan_on(&s, None)
                .unwrap()
                .call
                .positioned
        );
        s.request.pos = 20480;
        s.request.aio = true;
        assert!(
            !super::super::plan::plan_on(&s, None)
                .unwrap()
                .call
                .positioned,
            "aio"
        );
        s.world.rlimit_fsize = Some(8192);
        s.world.s_maxbytes = 4096;
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert_eq!(p.call.rlimit_fsize, Some(8192));
        assert_eq!(p.shift, 0);
        s.world.s_maxbytes = HUGE_MAXBYTES;
        // W33: never without O_LARGEFILE.
        s.request.open.no_largefile = true;
        assert!(super::super::plan::plan_on(&s, None)
            .unwrap_err()
            .contains("W33"));
    }

    #[test]
    fn attribute_path() {
        assert_eq!(
            attr(Path::new("/dev/loop7")).unwrap(),
            Path::new("/sys/block/loop7/queue/stable_writes")
        );
    }
}
