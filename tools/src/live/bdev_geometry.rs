// SPDX-License-Identifier: GPL-2.0-only
//! Block devices of another geometry (`--fs bdev`, issue 13, session 8): a block size other than
//! 4 KiB, and a size that is not a multiple of 4 KiB (whole sectors).
//!
//! The block size of a block device is its inode's `i_blkbits`. `bdev_open` (block/bdev.c, 6.12.117
//! and 7.3.4) sets it with `set_init_blocksize` at the first open: the largest power of two from
//! the logical block size up to `PAGE_SIZE` that divides the device size. A loop device's first
//! open is usually before `LOOP_CONFIGURE` (size 0, so 4096: live's own hold is that opener), so
//! the executor does not rely on it: it reads `BLKBSZGET` on the descriptor it holds from the
//! device's creation to the end of the scenario and, when that is not the scenario's block size,
//! sets it with `BLKBSZSET` (`blkdev_bszset` -> `set_blocksize`: any power of two from the logical
//! block size to the page size, 7.3 also above; `sync_blockdev` + `kill_bdev` before the change,
//! so before the set-up writes anything; kept while an opener holds the device, the next first
//! open runs `set_init_blocksize` again). The C reproducer does the same on its held descriptor.
//!
//! What the model reads of it: nothing on the block-device path. `blkdev_dio_invalid` checks the
//! logical block size; the buffered path (`blkdev_buffered_write` = `iomap_file_buffered_write`
//! with `IOMAP_F_BUFFER_HEAD`, so `__block_write_begin_int` over buffer heads of `i_blkbits`)
//! reads only the partly written blocks of a folio, and a short copy into a folio that is not
//! uptodate (`block_write_end` gives 0) is retried with the copied length by `iomap_write_iter`
//! (read in 7.3.4): the same bytes end up in the page cache. So these runs check that nothing
//! changes with the block size, and the device end's truncation (`blkdev_write_iter`,
//! `iov_iter_truncate` to `bdev_nr_bytes`) at sizes that end inside a page.

use super::plan::{Step, Unsupported};
use diofuzz::scenario::{Extent, Scenario, World, PAGE_SIZE, SECTOR};

/// `set_init_blocksize` (block/bdev.c): the block size a device of `size` bytes and logical block
/// size `lbs` gets at its first open.
pub fn init_blocksize(lbs: u64, size: u64) -> u64 {
    let mut bs = lbs;
    while bs < PAGE_SIZE {
        if size & bs != 0 {
            break;
        }
        bs <<= 1;
    }
    bs
}

/// The device geometry live can build for `s` on a device of logical block size `1 << lbs_bits`
/// (`disk`: a partition of the atomic disk, whose BLKPG length must be whole logical blocks).
pub fn check(s: &Scenario, lbs_bits: u8, disk: bool) -> Result<(), Unsupported> {
    let w = &s.world;
    let lbs = 1u64 << lbs_bits;
    let why = if disk && w.i_size == 0 {
        // blkpg_do_ioctl: a partition's length must be positive (-EINVAL).
        "an empty partition (BLKPG refuses a length of 0)"
    } else if w.i_size % SECTOR != 0 {
        "block device size not whole sectors (rule W33)"
    } else if w.i_size > super::limits::BDEV_SPAN {
        "block device larger than 4 MiB"
    } else if w.blkbits < lbs_bits {
        // set_blocksize: -EINVAL below the logical block size (the format never has it).
        "block size below the logical block size"
    } else if disk && w.i_size % lbs != 0 {
        // blkpg_do_ioctl: start and length must be whole logical blocks (-EINVAL).
        "partition size not a multiple of the disk's logical block size (BLKPG refuses it)"
    } else if w.device.stable_writes && w.i_size % PAGE_SIZE != 0 {
        // drivers/block/zram/zram_drv.c disksize_store: PAGE_ALIGN(disksize).
        "stable writes on a block device whose size is not whole pages (the zram device's size is page aligned: disksize_store)"
    } else {
        // A loop device whose size is not whole logical blocks (lo_calculate_size, 6.12:
        // get_size, counts sectors) is built: its last block is set up and read back through the
        // backing file ([`edge`]). Held pages and races too: the mmap writer stores only below
        // the edge ([`mappable`]); session 8's SIGBUS was its fault on the page past it, and the
        // hang in bdev_release that process's exit with the lower filesystem still frozen.
        return Ok(());
    };
    Err(why.to_string())
}

/// Where the part of a device of `size` bytes that no I/O through the device reaches begins,
/// when its size is not whole logical blocks (`1 << lbs_bits`; a loop device, lo_calculate_size):
/// the page over the block (of the block size `1 << blkbits`, at least a logical block) that
/// holds the device end. Reading that block fails (guard_bio_eod cuts its bio at the device end
/// to a length blk_mq_submit_bio refuses, bio_unaligned: -EIO), so a buffered read stops there
/// and a buffered write into it is -EIO; a direct one is -EINVAL (blkdev_dio_invalid after the
/// truncation at the device end). Read in 7.3.4, measured on 6.18.44; the model
/// (blkdev_buffered_write) and rule W41 say the same.
pub fn edge(size: u64, lbs_bits: u8, blkbits: u8) -> Option<u64> {
    let lbs = 1u64 << lbs_bits;
    if size % lbs == 0 {
        return None;
    }
    let bs = (1u64 << blkbits).max(lbs);
    Some(size & !(bs - 1) & !(PAGE_SIZE - 1))
}

/// How many bytes from 0 of a device of `size` bytes a shared mapping may touch: up to [`edge`]
/// when its size is not whole logical blocks, else all of them. A fault on the page from the
/// edge on reads the unreadable block: filemap_fault (mm/filemap.c) -> filemap_read_folio ->
/// blkdev_read_folio fails (-EIO, [`edge`]) -> VM_FAULT_SIGBUS (6.12.117 and 7.3.4). The model
/// never stores there either: its mmap writer (Race::MmapRedirty) re-dirties cached folios only,
/// and rule W41 keeps that page out of the cache.
pub fn mappable(size: u64, lbs_bits: u8, blkbits: u8) -> u64 {
    edge(size, lbs_bits, blkbits).unwrap_or(size)
}

/// Move the part of the content steps (WriteZero, WriteOld) at or past [`edge`] to the backing
/// file (Step::WriteBacking), which the loop device reads through.
pub fn split_tail(w: &World, lbs_bits: u8, steps: &mut Vec<Step>) {
    let Some(e) = edge(w.i_size, lbs_bits, w.blkbits) else {
        return;
    };
    let mut out = Vec::with_capacity(steps.len() + 2);
    for st in steps.drain(..) {
        let (off, len, old) = match st {
            Step::WriteZero { off, len } => (off, len, false),
            Step::WriteOld { off, len } => (off, len, true),
            other => {
                out.push(other);
                continue;
            }
        };
        if off < e {
            let n = len.min(e - off);
            out.push(if old {
                Step::WriteOld { off, len: n }
            } else {
                Step::WriteZero { off, len: n }
            });
        }
        if off + len > e {
            let from = off.max(e);
            out.push(Step::WriteBacking {
                off: from,
                len: off + len - from,
                old,
            });
        }
    }
    *steps = out;
}

/// The backing file of the loop device `dev` (/sys/block/NAME/loop/backing_file).
pub fn backing_file(dev: &std::path::Path) -> Result<std::path::PathBuf, String> {
    let real = std::fs::canonicalize(dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let sys = format!("/sys/block/{name}/loop/backing_file");
    let p = std::fs::read_to_string(&sys).map_err(|e| format!("read {sys}: {e}"))?;
    Ok(std::path::PathBuf::from(p.trim_end_matches('\n')))
}

/// Write `data` at `off` of the backing file of the loop device `dev` (Step::WriteBacking).
pub fn write_backing(dev: &std::path::Path, off: u64, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let p = backing_file(dev)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(|e| format!("open {}: {e}", p.display()))?;
    f.write_all_at(data, off)
        .map_err(|e| format!("pwrite {}: {e}", p.display()))
}

/// [from, end) of the backing file of the loop device `dev`: the device's bytes there, which no
/// read through the device returns ([`edge`]).
pub fn read_backing(dev: &std::path::Path, from: u64, end: u64) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::FileExt;
    let p = backing_file(dev)?;
    let f = std::fs::File::open(&p).map_err(|e| format!("open {}: {e}", p.display()))?;
    let mut v = vec![0u8; end.saturating_sub(from) as usize];
    f.read_exact_at(&mut v, from)
        .map_err(|e| format!("read {}: {e}", p.display()))?;
    Ok(v)
}

/// Write back [edge, end) of the loop device `dev` (session 11), before its bytes there are read
/// through the backing file: with buffers smaller than a page a buffered write that ends before
/// the end buffer dirties buffers of the page over it (`__block_write_begin_int` reads only the
/// buffers it covers in part), and that folio never becomes uptodate (its read fails at the end
/// buffer, [`edge`]), so no read through the device returns them (a buffered read is -EIO) and
/// the backing file has them only once they are written back. `sync_file_range` (WAIT_BEFORE |
/// WRITE | WAIT_AFTER) writes only the dirty buffers (`block_write_full_folio`, fs/buffer.c
/// 6.12.117 and 7.3.4; never the end buffer, which nothing dirties), as the O_DIRECT read-back
/// of the rest of the device writes back the range it reads first (`kiocb_write_and_wait`).
/// With 4 KiB logical blocks nothing there can be dirty.
pub fn flush_tail(dev: &std::path::Path, edge: u64, end: u64) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dev).map_err(|e| format!("open {}: {e}", dev.display()))?;
    // SAFETY: sync_file_range on our descriptor.
    let r = unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            edge as i64,
            (end - edge) as i64,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
    };
    if r != 0 {
        return Err(format!(
            "sync_file_range of the device's tail: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The O_DIRECT read-back of [from, end) of the scenario file or device at `path`
/// ([`super::exec::read_direct`]); on a device whose size (`end`) is not whole logical blocks,
/// the bytes from [`edge`] on come from the backing file: an O_DIRECT read there is -EINVAL
/// (blkdev_read_iter truncates it at the device end, then blkdev_dio_invalid, block/fops.c
/// 6.12.117 and 7.3.4). Used by the executor's read-back and probe P1.
pub fn read_direct(
    key: &super::plan::FsKey,
    path: &std::path::Path,
    from: u64,
    end: u64,
    unit: u64,
) -> Result<Vec<u8>, String> {
    let e = (key.fs == diofuzz::scenario::FsKind::Bdev)
        .then(|| edge(end, key.lbs_bits, key.blkbits))
        .flatten();
    let Some(e) = e else {
        return super::exec::read_direct(path, from, end, unit);
    };
    let mut v = super::exec::read_direct(path, from, e, unit)?;
    flush_tail(path, e, end)?;
    v.extend_from_slice(&read_backing(path, e, end)?);
    Ok(v)
}

/// The set-up steps that give `[off, off + len)` of the device what the model says it holds: the
/// OLD pattern over written blocks of the scenario's block size, zeroes elsewhere (the model reads
/// a device's other blocks as zeroes, `bdev_normalize`), clamped to the device's size.
pub fn content(w: &World, off: u64, len: u64, steps: &mut Vec<Step>) {
    let bs = 1u64 << w.blkbits;
    let end = (off + len).min(w.i_size);
    let mut p = off;
    while p < end {
        let b = p / bs;
        let n = ((b + 1) * bs).min(end) - p;
        let written = w
            .blocks
            .get(b as usize)
            .is_some_and(|k| k.kind == Extent::Written);
        steps.push(if written {
            Step::WriteOld { off: p, len: n }
        } else {
            Step::WriteZero { off: p, len: n }
        });
        p += n;
    }
}

/// The block size the executor must set with BLKBSZSET on a device of `size` bytes and logical
/// block size `lbs` for the scenario's `blkbits`, if `set_init_blocksize` would not give it.
pub fn wanted_set(blkbits: u8, lbs: u64, size: u64) -> Option<u64> {
    let bs = 1u64 << blkbits;
    (init_blocksize(lbs, size) != bs).then_some(bs)
}

// _IO(0x12, 112) BLKBSZGET = _IOR(0x12, 112, size_t), BLKBSZSET = _IOW(0x12, 113, size_t); the
// kernel reads and writes an int (blkdev_common_ioctl).
const BLKBSZGET: libc::c_ulong = 0x8008_1270;
const BLKBSZSET: libc::c_ulong = 0x4008_1271;

/// BLKBSZGET on an open block device.
fn get(fd: i32) -> Result<u64, String> {
    let mut n: libc::c_int = 0;
    // SAFETY: BLKBSZGET writes one int.
    if unsafe { libc::ioctl(fd, BLKBSZGET as _, &mut n) } != 0 {
        return Err(format!("BLKBSZGET: {}", std::io::Error::last_os_error()));
    }
    Ok(n as u64)
}

/// Give the device held open by `fd` the block size `1 << blkbits` (BLKBSZSET when it has
/// another), before anything is written or cached on it; `fd` must stay open until the scenario
/// ends (the next first open would run `set_init_blocksize` again).
pub fn apply(fd: i32, blkbits: u8) -> Result<(), String> {
    let want = 1u64 << blkbits;
    if get(fd)? == want {
        return Ok(());
    }
    let n = want as libc::c_int;
    // SAFETY: BLKBSZSET reads one int.
    if unsafe { libc::ioctl(fd, BLKBSZSET as _, &n) } != 0 {
        return Err(format!(
            "BLKBSZSET {want}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let got = get(fd)?;
    if got != want {
        return Err(format!("BLKBSZSET {want}: the device has {got}"));
    }
    Ok(())
}

/// The C reproducer's block size set-up, after `fd` (held to the end) is open: the same
/// BLKBSZGET / BLKBSZSET as [`apply`].
pub fn c_blocksize(blkbits: u8) -> String {
    format!(
        "\t{{\t/* the device's block size (i_blkbits): set_init_blocksize gave it at the first open;\n\t\t   BLKBSZSET sets it while this descriptor holds the device */\n\t\tint bs = 0, want = {};\n\t\tif (ioctl(fd, _IOR(0x12, 112, size_t), &bs))\n\t\t\tdie(\"BLKBSZGET\");\n\t\tif (bs != want && ioctl(fd, _IOW(0x12, 113, size_t), &want))\n\t\t\tdie(\"BLKBSZSET\");\n\t\tif (ioctl(fd, _IOR(0x12, 112, size_t), &bs) || bs != want) {{\n\t\t\tprintf(\"COULD NOT RUN: block size %d, the scenario's is %d\\n\", bs, want);\n\t\t\treturn 2;\n\t\t}}\n\t}}\n",
        1u32 << blkbits
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::{BlockState, FsKind};

    /// set_init_blocksize: the largest power of two up to the page dividing the size, from the
    /// logical block size.
    #[test]
    fn init_blocksize_is_the_largest_dividing_block() {
        assert_eq!(init_blocksize(512, 64 << 10), 4096);
        assert_eq!(init_blocksize(512, 6 << 10), 2048);
        assert_eq!(init_blocksize(512, 5 << 10), 1024);
        assert_eq!(init_blocksize(512, 5 * 512), 512);
        assert_eq!(init_blocksize(4096, 6 << 10), 4096);
        assert_eq!(init_blocksize(512, 0), 4096);
        assert_eq!(wanted_set(12, 512, 64 << 10), None);
        assert_eq!(wanted_set(10, 512, 64 << 10), Some(1024));
        assert_eq!(wanted_set(12, 512, 6 << 10), Some(4096));
        assert_eq!(wanted_set(11, 512, 6 << 10), None);
    }

    fn dev(blkbits: u8, size: u64, written: &[bool]) -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.blkbits = blkbits;
        s.world.lbs_bits = 9;
        s.world.i_size = size;
        s.world.blocks = written
            .iter()
            .map(|&w| BlockState {
                kind: if w { Extent::Written } else { Extent::Hole },
                ..BlockState::default()
            })
            .collect();
        s
    }

    /// The content steps follow the scenario's blocks and stop at the device end.
    #[test]
    fn content_is_in_the_block_size_and_clamped() {
        let s = dev(
            10,
            6 * 1024 + 512,
            &[false, true, true, false, false, false, true],
        );
        let mut v = Vec::new();
        content(&s.world, 4096, PAGE_SIZE, &mut v);
        assert_eq!(
            v,
            vec![
                Step::WriteZero {
                    off: 4096,
                    len: 1024
                },
                Step::WriteZero {
                    off: 5120,
                    len: 1024
                },
                Step::WriteOld {
                    off: 6144,
                    len: 512
                },
            ]
        );
        let mut v = Vec::new();
        content(&s.world, 0, 4096, &mut v);
        assert_eq!(
            v[1],
            Step::WriteOld {
                off: 1024,
                len: 1024
            }
        );
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn refusals_say_why() {
        let ok = dev(10, 6 * 1024 + 512, &[]);
        assert!(check(&ok, 9, false).is_ok());
        assert!(check(&ok, 9, true).is_ok());
        let mut big = dev(12, 6 * 1024, &[]);
        big.world.lbs_bits = 12;
        // A loop device whose size is not whole logical blocks is built (its tail through the
        // backing file); a partition of one is not (BLKPG).
        assert!(check(&big, 12, false).is_ok());
        assert!(check(&big, 12, true).unwrap_err().contains("BLKPG"));
        let mut z = big.clone();
        z.world.device.stable_writes = true;
        assert!(check(&z, 12, false).unwrap_err().contains("zram"));
        // A loop device over an empty file (0 sectors) is built.
        assert!(check(&dev(12, 0, &[]), 9, false).is_ok());
        assert!(check(&dev(12, 0, &[]), 9, true)
            .unwrap_err()
            .contains("BLKPG"));
    }

    /// Held pages and races on a tail device are built (session 9): the mmap writer of live and
    /// of the C program stores only below the edge (`mappable`: a fault from there is SIGBUS,
    /// filemap_fault), so neither the SIGBUS nor the exit with the lower filesystem frozen that
    /// session 8 saw can happen.
    #[test]
    fn held_pages_and_races_on_a_tail_device_are_built() {
        use diofuzz::scenario::{PageState, Race};
        let mut s = diofuzz::generators::bdev(0, 4096);
        s.request.rwf.atomic = false;
        s.request.open.direct = false;
        s.world.device = Default::default();
        s.world.i_size = 12 * SECTOR + 4096;
        s.world.lbs_bits = 12;
        s.world.pages = vec![PageState::Writeback, PageState::MappedDirty];
        s.races = vec![Race::MmapRedirty];
        assert!(diofuzz::validity::violations(&s).is_empty());
        assert!(check(&s, 12, false).is_ok());
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert!(p.call.mmap_writer);
        assert_eq!(p.call.pages.writeback, vec![(0, 4096)]);
        assert_eq!(mappable(p.i_size, 12, 12), 8192);
        assert_eq!(mappable(8192, 12, 12), 8192);
        assert_eq!(mappable(6144, 9, 12), 6144);
        let src = super::super::repro::c_program(&s).unwrap();
        assert!(src.contains("memcpy(m, snap, 8192);"), "{src}");
        assert!(!src.contains("memcpy(m, snap, 10240);"), "{src}");
        // A file of the same size: the whole of it.
        let mut f = s.clone();
        f.fs = FsKind::Ext4;
        f.world.lbs_bits = 9;
        if let Ok(src) = super::super::repro::c_program(&f) {
            assert!(!src.contains("memcpy(m, snap, 8192);"), "{src}");
        }
    }

    /// Where the device stops being reachable: the page over the block holding the end, only
    /// when the size is not whole logical blocks.
    #[test]
    fn edge_is_the_page_over_the_block_holding_the_end() {
        assert_eq!(edge(6144, 12, 12), Some(4096));
        assert_eq!(edge(2048, 12, 12), Some(0));
        assert_eq!(edge(8192, 12, 12), None);
        assert_eq!(edge(6144, 9, 12), None);
        assert_eq!(edge(3 * 1024, 11, 11), Some(0));
        assert_eq!(edge(9 * 1024, 11, 11), Some(8192));
    }

    /// A 6 KiB loop device of 4 KiB logical blocks with its second block written: the device
    /// gets zeroes over [0, 4 KiB), the backing file zeroes and then OLD over [4, 6 KiB); the C
    /// program writes and reads the tail through the backing file (and compiles).
    #[test]
    fn the_tail_goes_through_the_backing_file() {
        let mut s = diofuzz::generators::bdev(0, 4096);
        s.request.rwf.atomic = false;
        s.world.device = Default::default();
        s.world.i_size = 12 * SECTOR;
        s.world.blkbits = 12;
        s.world.lbs_bits = 12;
        s.world.blocks = dev(12, 0, &[false, true]).world.blocks;
        s.world.pages = vec![diofuzz::scenario::PageState::Dirty];
        assert!(diofuzz::validity::violations(&s).is_empty());
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert_eq!(p.steps[0], Step::WriteZero { off: 0, len: 4096 });
        assert_eq!(
            p.steps[1],
            Step::WriteBacking {
                off: 4096,
                len: 2048,
                old: false
            }
        );
        assert_eq!(
            p.steps[2],
            Step::WriteBacking {
                off: 4096,
                len: 2048,
                old: true
            }
        );
        assert!(p.steps.contains(&Step::WriteDirty { off: 0, len: 4096 }));
        let src = super::super::repro::c_program(&s).unwrap();
        assert!(src.contains("tail_edge = 4096;"), "{src}");
        assert!(src.contains("static int backing_fd("), "{src}");
        assert!(src.contains("wpat(bf, 4096, 2048, 0x11);"), "{src}");
        let Some(cc) = super::super::scratch::which("cc") else {
            println!("SKIP: no cc");
            return;
        };
        let dir = std::env::temp_dir().join(format!("diofuzz-bdevtail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.c"), &src).unwrap();
        let out = std::process::Command::new(&cc)
            .args(["-O2", "-Wall", "-o"])
            .arg(dir.join("t"))
            .arg(dir.join("t.c"))
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A 6.5 KiB device of 1 KiB blocks: the plan's key has the block size, its content steps
    /// stop at the device end, and the C program sets the block size on its held descriptor (and
    /// compiles); a 4 KiB-block device of whole pages gets no BLKBSZSET.
    #[test]
    fn plan_and_program_build_the_geometry() {
        let mut s = diofuzz::generators::bdev(4096, 4096);
        s.request.rwf.atomic = false;
        s.world.device = Default::default();
        s.world.i_size = 13 * SECTOR;
        s.world.blkbits = 10;
        s.world.blocks = dev(10, 0, &[false, true, false, false, false, false, true])
            .world
            .blocks;
        s.world.pages = vec![
            diofuzz::scenario::PageState::None,
            diofuzz::scenario::PageState::Dirty,
        ];
        let p = super::super::plan::plan_on(&s, None).unwrap();
        assert_eq!(p.key.blkbits, 10);
        assert_eq!(p.steps[0], Step::WriteZero { off: 0, len: 6656 });
        assert!(p.steps.contains(&Step::WriteOld {
            off: 1024,
            len: 1024
        }));
        assert!(p.steps.contains(&Step::WriteOld {
            off: 6144,
            len: 512
        }));
        assert!(p.steps.contains(&Step::WriteDirty {
            off: 4096,
            len: 2560
        }));
        let src = super::super::repro::c_program(&s).unwrap();
        assert!(src.contains("want = 1024;"), "{src}");
        assert!(src.contains("die(\"BLKBSZSET\")"));
        let plain = super::super::repro::c_program(&diofuzz::generators::bdev(4096, 4096)).unwrap();
        assert!(!plain.contains("BLKBSZSET"));
        super::super::repro::assert_c_compiles("bdevgeo", &src, &["-O2", "-Wall"]);
    }
}
