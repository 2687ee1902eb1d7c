// SPDX-License-Identifier: GPL-2.0-only
//! Swap-file worlds (`world.inode.swapfile`, and `swapon`/`swapoff` after the call's open:
//! `Race::InodeFlagChangedAfterOpen(9)`), built only inside a disposable VM: `live --swapon`,
//! which the lab's `ext4-swap` and `xfs-swap` groups pass (docs/lab.md "Swap files"). On any
//! other machine the scenario is skipped as "not possible here": `swapon` would hand the host's
//! memory manager a swap area on a shared machine.
//!
//! The set-up builds the file as usual (validity rule W27 keeps the layouts swapon accepts:
//! fs/iomap/swapfile.c iomap_swapfile_activate takes only mapped or unwritten extents below
//! i_size rounded down to a page, none shared, and needs a usable page after the header), then
//! writes a swap header into page 0 over the set-up's data (mm/swapfile.c read_swap_header:
//! `version` 1 and `last_page` at byte 1024, "SWAPSPACE2" in the page's last 10 bytes; every
//! other byte stays the set-up's) and calls swapon(2), which fsyncs the file and sets
//! S_SWAPFILE. After open: swapon (the flag set) or swapoff (cleared). The model's outcome is
//! -ETXTBSY for a write to a swap file (generic_write_checks, fs/read_write.c; mm/swapfile.c
//! sets S_SWAPFILE for the swapon's life). The read-back puts the set-up's bytes back into page 0
//! when page 0 is exactly the header page the set-up wrote ([`unmask`]), so every other change
//! to it is still seen. swapoff runs before the file is removed ([`release`]).

use super::exec::UNAVAILABLE;
use super::plan::Step;
use diofuzz::scenario::{FsKind, Race, Scenario, HUGE_MAXBYTES};
use std::io::Seek;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const PAGE: usize = 4096;
/// INODE_FLAG_NAMES index of `swapfile`.
pub const SWAPFILE: u8 = 9;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The swap file in use and page 0 before and after its header was written.
struct Active {
    path: Option<PathBuf>,
    before: Vec<u8>,
    header: Vec<u8>,
}

static ACTIVE: Mutex<Active> = Mutex::new(Active {
    path: None,
    before: Vec::new(),
    header: Vec::new(),
});

/// `live --swapon`: allow swapon of scratch files (only in a disposable VM).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// A file only the lab's guest initramfs has (tools/src/lab/guest.rs): `live --swapon` refuses
/// to run anywhere else.
pub const GUEST_MARKER: &str = "/etc/diofuzz-lab-guest";

/// Whether this machine is a lab guest ([`GUEST_MARKER`]).
pub fn in_lab_guest() -> bool {
    Path::new(GUEST_MARKER).is_file()
}

/// Why the host does not build swap files.
pub const NEEDS_VM: &str = "swapon of a scratch file (a swap-file world) runs only in a disposable VM: diofuzz lab --groups ext4-swap,xfs-swap,bdev-swap (live --swapon)";

fn allowed() -> Result<(), String> {
    if ENABLED.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(format!("{UNAVAILABLE}: {NEEDS_VM}"))
    }
}

/// Does the scenario's file get a swap header (a swap file at open or at the write)?
pub fn wanted(s: &Scenario) -> bool {
    s.world.inode.swapfile || s.inode_at_open().swapfile
}

/// Swap-file worlds live does not build (the rest of W27's rules make them invalid anyway).
pub fn refuse(s: &Scenario) -> Result<(), String> {
    if !wanted(s) {
        return Ok(());
    }
    let m = s.world.mount;
    if m.shutdown || m.emergency_ro {
        return Err(
            "swap file on a filesystem brought down (swapoff and unmount: not built)".into(),
        );
    }
    let w = &s.world;
    let block_mapped = s.fs == FsKind::Ext4 && !w.inode.extents;
    if w.s_maxbytes != HUGE_MAXBYTES || (block_mapped && w.s_bitmap_maxbytes != HUGE_MAXBYTES) {
        // super::limits::shift moves the file next to the real limit (terabytes in), leaving a
        // hole below it: swapon refuses that ("has unallocated extents",
        // iomap_swapfile_iter); the real world would need the whole file allocated.
        return Err("swap file with a scaled s_maxbytes or s_bitmap_maxbytes (the shift to the real limit leaves terabytes of hole below the file, which swapon refuses: not built)".into());
    }
    if s.races.iter().any(|r| {
        !matches!(
            r,
            Race::FcntlToggleDirect | Race::InodeFlagChangedAfterOpen(SWAPFILE)
        )
    }) {
        return Err("swap file with races after open other than swapon/swapoff (not built)".into());
    }
    Ok(())
}

/// The set-up steps: the header (after every data write, before a setuid chmod), and swapon at
/// the end when the file is a swap file at open.
pub fn add_steps(s: &Scenario, steps: &mut Vec<Step>) {
    if !wanted(s) {
        return;
    }
    steps.push(Step::SwapHeader);
    if s.inode_at_open().swapfile {
        steps.push(Step::SwapOn);
    }
}

/// Swap files on blocks smaller than a page (1 KiB): the page-aligned part of the file,
/// `[0, i_size rounded down to a page)`, allocated in one piece right after the set-up's
/// truncate — one physically page-aligned run ([`aligned_prefix`], unwritten; the set-up's
/// writes then convert the world's written blocks in place; session 8) or, for a block-mapped
/// ext4 inode (no fallocate, no unwritten blocks: W7, no collapse), one buffered write of the
/// old data and an fsync. swapon counts only whole pages inside
/// physically contiguous runs (fs/iomap/swapfile.c `iomap_swapfile_add_extent` rounds each
/// run's start up and its end down to a page) and needs two of them (`iomap_swapfile_activate`:
/// "Cannot find a single usable page in file" for none; mm/swapfile.c
/// `swap_cluster_setup_bad_slot`: "Empty swap-file" when only the header's is left). Built
/// block by block, a 1 KiB-block file's runs were short and fragmented (the world's unwritten
/// blocks allocated before the written ones' writeback), and ext4's buddy allocations start one
/// block past a page on 1 KiB blocks (`ext4_group_first_block_no` adds `s_first_data_block`,
/// which is 1 there). A contiguous run of `4p` blocks holds `p - 1` whole pages wherever it
/// starts, so a block-mapped file of three pages or more is accepted; a page-aligned run holds
/// `p`, so two pages are enough for the others (the generator's 1 KiB swap files).
/// The world is unchanged: every block below the rounded i_size is written or unwritten (W27).
pub fn contiguous_prefix(s: &Scenario, steps: &mut Vec<Step>) {
    if !wanted(s) {
        return;
    }
    let len = s.world.i_size / PAGE as u64 * PAGE as u64;
    if s.world.blkbits >= 12 || len == 0 {
        return;
    }
    let f = s.world.inode;
    let block_mapped = s.fs == FsKind::Ext4 && !f.extents && !f.inline_data;
    if block_mapped {
        steps.push(Step::WriteOld { off: 0, len });
        steps.push(Step::Fsync);
    } else {
        steps.push(Step::SwapAlignedPrefix {
            len,
            size: s.world.i_size,
        });
    }
}

/// The physically contiguous run of `extents` from file offset 0: (its physical start, bytes).
pub fn first_run(extents: &[super::fiemap::Extent4]) -> Option<(u64, u64)> {
    let &(l0, p0, _, _) = extents.first()?;
    if l0 != 0 {
        return None;
    }
    let mut run = 0;
    for &(l, p, n, _) in extents {
        if l != run || p != p0 + run {
            break;
        }
        run += n;
    }
    Some((p0, run))
}

/// Bytes to collapse from the front of a run starting at physical byte `p0` so that it starts
/// on a page.
pub fn misalignment(p0: u64) -> u64 {
    (PAGE as u64 - p0 % PAGE as u64) % PAGE as u64
}

/// [`Step::SwapAlignedPrefix`]: the first `len` bytes (whole pages) of a swap file on blocks
/// smaller than a page as one physically page-aligned run, whatever the allocator does. swapon
/// uses only the whole pages of each physically contiguous run, rounding its start up to a page
/// (`iomap_swapfile_add_extent`), and needs two of them (`iomap_swapfile_activate`: none is
/// "Cannot find a single usable page in file", mm/swapfile.c: only the header's is "Empty
/// swap-file"): a 2-page file on 1 KiB blocks is accepted only when its 8 blocks start on a
/// page, which ext4's buddy allocator never gives on its own (allocations are aligned from
/// `s_first_data_block`, 1 on 1 KiB blocks) and XFS only by chance. So: allocate `len` plus a
/// page (one fallocate, unwritten blocks, which swapon takes as it takes written ones), find the
/// run's physical start (FIEMAP), collapse the blocks before the next page boundary out of the
/// file's front (`FALLOC_FL_COLLAPSE_RANGE`, ext4 extent files and XFS; the file's offsets, not
/// its blocks, move), drop the tail (`ftruncate(len)`) and set the size back. A run shorter than
/// that (a fragmented free space) is left as it is: swapon may then refuse it and the scenario
/// is skipped, as before. The world is unchanged: unwritten blocks below the rounded i_size.
pub fn aligned_prefix(f: &std::fs::File, len: u64, size: u64) -> Result<(), String> {
    let fd = f.as_raw_fd();
    let want = len + PAGE as u64;
    // SAFETY: fallocate on our fd.
    if unsafe { libc::fallocate(fd, 0, 0, want as i64) } != 0 {
        return Err(format!("fallocate: {}", std::io::Error::last_os_error()));
    }
    if let Some((p0, run)) = first_run(&super::fiemap::fiemap(fd)?) {
        let d = misalignment(p0);
        if d > 0 && run >= d + len {
            // SAFETY: fallocate on our fd.
            let r = unsafe { libc::fallocate(fd, libc::FALLOC_FL_COLLAPSE_RANGE, 0, d as i64) };
            if r != 0 {
                return Err(format!(
                    "fallocate(FALLOC_FL_COLLAPSE_RANGE, 0, {d}): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    f.set_len(len)
        .and_then(|_| f.set_len(size))
        .map_err(|e| format!("ftruncate: {e}"))
}

/// The C reproducer's [`Step::SwapAlignedPrefix`] (set-up descriptor `fd`).
pub fn c_aligned_prefix(len: u64, size: u64) -> String {
    let want = len + PAGE as u64;
    [
        format!("\t/* a swap file on blocks smaller than a page: its first {len} bytes as one physically page-aligned"),
        "\t * run (swapon uses the whole pages of contiguous runs only: iomap_swapfile_add_extent) */".into(),
        "\t{".into(),
        "\t\tstruct { uint64_t start, length; uint32_t flags, mapped, count, reserved;".into(),
        "\t\t\tstruct { uint64_t logical, physical, length, r64[2]; uint32_t flags, r32[3]; } ext[32]; } m;".into(),
        "\t\tunsigned long long run = 0, p0, d;".into(),
        format!("\t\tif (fallocate(fd, 0, 0, {want}))\n\t\t\tdie(\"fallocate\");"),
        "\t\tmemset(&m, 0, sizeof(m));\n\t\tm.length = ~0ULL;\n\t\tm.count = 32;".into(),
        "\t\tif (ioctl(fd, 0xC020660BUL /* FS_IOC_FIEMAP */, &m))\n\t\t\tdie(\"FIEMAP\");".into(),
        "\t\tp0 = m.mapped ? m.ext[0].physical : 0;".into(),
        "\t\tfor (unsigned i = 0; i < m.mapped && m.ext[i].logical == run && m.ext[i].physical == p0 + run; i++)\n\t\t\trun += m.ext[i].length;".into(),
        "\t\td = (4096 - p0 % 4096) % 4096;".into(),
        format!("\t\tif (d && run >= d + {len}ULL && fallocate(fd, 0x08 /* FALLOC_FL_COLLAPSE_RANGE */, 0, d))\n\t\t\tdie(\"fallocate(FALLOC_FL_COLLAPSE_RANGE)\");"),
        format!("\t\tif (ftruncate(fd, {len}) || ftruncate(fd, {size}))\n\t\t\tdie(\"ftruncate\");"),
        "\t}\n".into(),
    ]
    .join("\n")
}

/// swapon after open: the plan of the world at open (a plain file) gets the header too, where
/// [`add_steps`] puts it (before a setuid chmod and the steps after the times), and on 1 KiB
/// blocks the one-piece allocation of [`contiguous_prefix`] after its truncate.
pub fn add_header_after_open(s: &Scenario, steps: &mut Vec<Step>) {
    if steps.contains(&Step::SwapHeader) {
        return;
    }
    if let Some(t) = steps.iter().position(|st| matches!(st, Step::Truncate(_))) {
        let mut prefix = Vec::new();
        contiguous_prefix(s, &mut prefix);
        steps.splice(t + 1..t + 1, prefix);
    }
    let at = steps
        .iter()
        .position(|st| matches!(st, Step::SetMode(_)) || super::plan::after_times(st))
        .unwrap_or(steps.len());
    steps.insert(at, Step::SwapHeader);
}

/// The swap header page: `before` with version 1, last_page and the signature written in.
pub fn header_page(before: &[u8], i_size: u64) -> Vec<u8> {
    let mut p = before.to_vec();
    p.resize(PAGE, 0);
    let last = (i_size / PAGE as u64).saturating_sub(1) as u32;
    p[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    p[1028..1032].copy_from_slice(&last.to_le_bytes());
    p[1032..1036].copy_from_slice(&0u32.to_le_bytes());
    p[PAGE - 10..].copy_from_slice(b"SWAPSPACE2");
    p
}

/// [`Step::SwapHeader`]: remember page 0 and write the header over it.
pub fn write_header(f: &std::fs::File) -> Result<(), String> {
    allowed()?;
    // The end, not st_size: a block device node (super::bdev_state) has st_size 0.
    let size = (&*f)
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| format!("lseek(SEEK_END): {e}"))?;
    let mut before = vec![0u8; PAGE];
    f.read_exact_at(&mut before, 0)
        .map_err(|e| format!("read page 0 before the swap header: {e}"))?;
    let header = header_page(&before, size);
    f.write_all_at(&header, 0)
        .map_err(|e| format!("write the swap header: {e}"))?;
    let mut a = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    a.before = before;
    a.header = header;
    Ok(())
}

/// swapon(2) of `path` (priority 0, no flags).
pub fn swapon(path: &Path) -> Result<(), String> {
    allowed()?;
    let c = super::scratch::cpath(path);
    // SAFETY: swapon with a valid C path.
    if unsafe { libc::swapon(c.as_ptr(), 0) } != 0 {
        let e = std::io::Error::last_os_error();
        // EINVAL: the kernel found no usable page (a 1 KiB-block layout whose physical extents
        // hold no aligned page) or refused the file: the world was not built.
        return Err(format!("{UNAVAILABLE}: swapon refused the file: {e}"));
    }
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).path = Some(path.to_path_buf());
    Ok(())
}

/// swapoff(2) of the swap file in use, if any.
pub fn swapoff() -> Result<(), String> {
    let mut a = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = a.path.take() {
        let c = super::scratch::cpath(&p);
        // SAFETY: swapoff with a valid C path.
        let off = || unsafe { libc::syscall(libc::SYS_swapoff, c.as_ptr()) } == 0;
        let mut ok = off();
        let mut e = std::io::Error::last_os_error();
        if !ok && e.raw_os_error() == Some(libc::EPERM) {
            // swapoff opens the file O_RDWR (mm/swapfile.c), which may_open refuses on an
            // append-only inode (an append-only swap file at rest: swapon, then chattr +a):
            // clear the flag, then swapoff.
            if let Ok(f) = std::fs::File::open(&p) {
                let _ = super::exec::set_inode_flags(f.as_raw_fd(), 0, super::plan::FS_APPEND_FL);
            }
            ok = off();
            e = std::io::Error::last_os_error();
        }
        if !ok {
            a.path = Some(p);
            return Err(format!("swapoff: {e}"));
        }
    }
    Ok(())
}

/// After the scenario: swapoff and forget page 0 (the file can be removed then).
pub fn release() -> Result<(), String> {
    // The snapshot device first: 7.3 pins its swap area against swapoff (super::hibernate).
    super::hibernate::release();
    let r = swapoff();
    let mut a = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    a.before.clear();
    a.header.clear();
    r
}

/// The read-back's page 0: the set-up's bytes when it is exactly the header page written.
pub fn unmask(bytes: &mut [u8]) {
    let a = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if a.header.is_empty() || bytes.len() < PAGE {
        return;
    }
    if bytes[..PAGE] == a.header[..] {
        bytes[..PAGE].copy_from_slice(&a.before);
    }
}

/// The C reproducer's [`Step::SwapHeader`] (set-up descriptor `fd`): page 0 kept in
/// swap_before, the header written over it.
pub fn c_header(s: &Scenario) -> String {
    format!(
        "\t/* a swap file: the header over page 0 (the set-up's page 0 kept for the read-back) */\n\tif (pread(fd, swap_before, 4096, 0) != 4096)\n\t\tdie(\"read page 0\");\n\tmemcpy(swap_header, swap_before, 4096);\n\t{{\n\t\tuint32_t h[3] = {{ 1, {last}, 0 }};\n\t\tmemcpy(swap_header + 1024, h, sizeof(h));\n\t\tmemcpy(swap_header + 4086, \"SWAPSPACE2\", 10);\n\t}}\n\tif (pwrite(fd, swap_header, 4096, 0) != 4096)\n\t\tdie(\"write the swap header\");\n\tswap_written = 1;\n",
        last = (s.world.i_size / PAGE as u64).saturating_sub(1)
    )
}

/// The C statements of swapon of `path`.
/// (A block device's node is never unlinked: super::bdev_state.)
pub const C_SWAPON: &str = "\tif (swapon(path, 0)) {\n\t\tstruct stat sst;\n\t\tprintf(\"COULD NOT RUN: swapon: %s\\n\", strerror(errno));\n\t\tif (!stat(path, &sst) && S_ISREG(sst.st_mode))\n\t\t\tunlink(path);\n\t\treturn 2;\n\t}\n\tswap_on = 1;\n";

/// The C statements of swapoff.
pub const C_SWAPOFF: &str = "\tif (swap_on && swapoff(path) == 0)\n\t\tswap_on = 0;\n";

/// The C program's globals and the read-back fix-up of page 0 (after swapoff, before the
/// read-back: the set-up's page 0 is written back when the file holds exactly the header).
pub const C_GLOBALS: &str = "#include <sys/swap.h>\nstatic unsigned char swap_before[4096], swap_header[4096], swap_check[4096];\nstatic int swap_written, swap_on;\n";

/// After the call: swapoff, and page 0 as the set-up left it when it holds exactly the header
/// (written back and synced, so both read-backs see it).
pub const C_AFTER_CALL: &str = "\tif (swap_written) {\n\t\tif (swap_on && swapoff(path)) {\n\t\t\tint fl = 0;\n\t\t\t/* swapoff opens the file O_RDWR: an append-only one needs chattr -a first */\n\t\t\tif (errno == EPERM && !ioctl(fd, 0x80086601UL, &fl)) {\n\t\t\t\tfl &= ~0x20;\n\t\t\t\tioctl(fd, 0x40086602UL, &fl);\n\t\t\t}\n\t\t\tif (swapoff(path))\n\t\t\t\tprintf(\"swapoff: %s\\n\", strerror(errno));\n\t\t}\n\t\tswap_on = 0;\n\t\tif (pread(fd, swap_check, 4096, 0) == 4096 && !memcmp(swap_check, swap_header, 4096)) {\n\t\t\tpwrite(fd, swap_before, 4096, 0);\n\t\t\tfsync(fd);\n\t\t\tprintf(\"page 0 held exactly the swap header the set-up wrote: the set-up's data put back for the read-back\\n\");\n\t\t}\n\t}\n";

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, Step};
    use diofuzz::generators::flags::generate_swap;
    use diofuzz::scenario::FsKind;

    #[test]
    fn header_page_has_version_last_page_and_signature() {
        let before = vec![0x11u8; 4096];
        let h = super::header_page(&before, 16384);
        assert_eq!(&h[1024..1036], &[1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&h[4086..], b"SWAPSPACE2");
        assert_eq!(&h[..1024], &before[..1024]);
        assert_eq!(&h[1036..4086], &before[1036..4086]);
    }

    #[test]
    fn swap_worlds_plan_header_and_swapon_or_the_race() {
        let (mut at_rest, mut on_after, mut off_after) = (0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..80 {
                let s = generate_swap(5, i, fs);
                let p = match plan(&s) {
                    Ok(p) => p,
                    Err(e) => panic!("{i}: {e}"),
                };
                let steps = &p.steps;
                assert!(
                    steps.contains(&Step::SwapHeader),
                    "{i}: {steps:?} {:?}",
                    s.world
                );
                let on = steps.contains(&Step::SwapOn);
                assert_eq!(on, s.inode_at_open().swapfile);
                match (on, p.call.after_open.swap) {
                    (true, None) => at_rest += 1,
                    (false, Some(true)) => on_after += 1,
                    (true, Some(false)) => off_after += 1,
                    other => panic!("{i}: {other:?}"),
                }
                assert!(!p.call.unlink);
            }
        }
        assert!(
            at_rest > 20 && on_after > 10 && off_after > 3,
            "{at_rest} {on_after} {off_after}"
        );
    }

    #[test]
    fn the_first_run_is_collapsed_to_a_page_boundary() {
        // ext4 on 1 KiB blocks (lab, session 8): an 8 KiB + 4 KiB fallocate at block 16385,
        // which buddy alignment from s_first_data_block (1) puts one block past a page: three
        // blocks collapse out of the front, the file then starts at block 16388.
        let kib = 1024;
        let e = vec![(0, 16385 * kib, 12 * kib, 0x800)];
        assert_eq!(super::first_run(&e), Some((16385 * kib, 12 * kib)));
        assert_eq!(super::misalignment(16385 * kib), 3 * kib);
        assert_eq!(super::misalignment(16388 * kib), 0);
        // FIEMAP may cut a run into extents that touch: still one run.
        let two = vec![(0, 100 * kib, 4 * kib, 0), (4 * kib, 104 * kib, 8 * kib, 0)];
        assert_eq!(super::first_run(&two), Some((100 * kib, 12 * kib)));
        // Not contiguous: the run ends at the gap (too short: left as it is).
        let gap = vec![(0, 101 * kib, 4 * kib, 0), (4 * kib, 300 * kib, 8 * kib, 0)];
        assert_eq!(super::first_run(&gap), Some((101 * kib, 4 * kib)));
        assert_eq!(super::first_run(&[]), None);
        // The C program does the same.
        let c = super::c_aligned_prefix(8192, 9000);
        assert!(c.contains("fallocate(fd, 0, 0, 12288)"), "{c}");
        assert!(c.contains("0x08 /* FALLOC_FL_COLLAPSE_RANGE */"), "{c}");
        assert!(
            c.contains("ftruncate(fd, 8192) || ftruncate(fd, 9000)"),
            "{c}"
        );
    }

    #[test]
    fn one_kib_swap_files_allocate_their_pages_in_one_piece() {
        let (mut one_kib, mut four_kib) = (0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..120 {
                let s = generate_swap(5, i, fs);
                let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                let len = s.world.i_size / 4096 * 4096;
                // Right after the truncate: the page-aligned part in one allocation.
                let at = p
                    .steps
                    .iter()
                    .position(|st| matches!(st, Step::Truncate(_)))
                    .unwrap();
                let next = p.steps.get(at + 1);
                let aligned = next
                    == Some(&Step::SwapAlignedPrefix {
                        len,
                        size: s.world.i_size,
                    });
                let whole = aligned || next == Some(&Step::WriteOld { off: 0, len });
                if s.world.blkbits == 10 {
                    // Page-aligned (two pages suffice), or, block-mapped, three pages at least:
                    // a contiguous run of 12 blocks holds two whole pages wherever it starts
                    // (iomap_swapfile_add_extent).
                    let block_mapped = fs == FsKind::Ext4 && !s.world.inode.extents;
                    assert_eq!(aligned, !block_mapped, "{i}: {:?}", p.steps);
                    assert!(s.world.i_size >= 2 * 4096, "{i}: {}", s.world.i_size);
                    assert!(whole, "{i}: {:?}", p.steps);
                    one_kib += 1;
                } else {
                    assert!(!whole, "{i}: {:?}", p.steps);
                    four_kib += 1;
                }
            }
        }
        assert!(one_kib > 15 && four_kib > 60, "{one_kib} {four_kib}");
    }

    /// A scaled limit is built terabytes into the file (super::limits::shift), past a hole that
    /// swapon refuses ("has unallocated extents": gen-3-ext4-24 of the lab's ext4-swap group,
    /// 7.3.4 and 6.12.117): refused at plan time, and the swap groups never draw one.
    #[test]
    fn swap_files_with_a_scaled_limit_are_refused() {
        use diofuzz::scenario::HUGE_MAXBYTES;
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..300 {
                let s = generate_swap(3, i, fs);
                assert_eq!(s.world.s_maxbytes, HUGE_MAXBYTES);
                assert_eq!(s.world.s_bitmap_maxbytes, HUGE_MAXBYTES);
            }
        }
        let mut s = generate_swap(5, 0, FsKind::Ext4);
        assert!(plan(&s).is_ok());
        s.world.s_maxbytes = 64 * 4096;
        s.world.s_bitmap_maxbytes = 64 * 4096;
        assert!(plan(&s).unwrap_err().contains("scaled s_maxbytes"));
    }

    #[test]
    fn repro_run_refuses_swap_files_outside_a_guest() {
        if super::in_lab_guest() {
            return;
        }
        let s = generate_swap(5, 0, FsKind::Xfs);
        let e = super::super::repro::run_on(&s, "int main(void) { return 0; }", None).unwrap_err();
        assert!(e.contains("swapon"), "{e}");
    }

    #[test]
    fn unmask_restores_only_the_exact_header() {
        let before = vec![0x11u8; 4096];
        let h = super::header_page(&before, 8192);
        {
            let mut a = super::ACTIVE.lock().unwrap();
            a.before = before.clone();
            a.header = h.clone();
        }
        let mut got = h.clone();
        got.extend_from_slice(&[0x22; 4096]);
        super::unmask(&mut got);
        assert_eq!(&got[..4096], &before[..]);
        let mut other = h.clone();
        other[5] ^= 1;
        super::unmask(&mut other);
        assert_ne!(&other[..4096], &before[..]);
        super::release().unwrap();
    }
}
