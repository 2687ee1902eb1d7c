// SPDX-License-Identifier: GPL-2.0-only
//! The XFS CoW fork at rest on the live kernel: which recipe of real system calls builds a
//! scenario's `World::cow` and `World::cowextsize` exactly ([`recipe`], pure, unit-tested and
//! shared by the executor and the C reproducer), and the two ioctls that set the cowextsize hint
//! and read the CoW fork back ([`set_cowextsize`], [`read_cow_fork`]). docs/live.md, "The XFS
//! CoW fork", explains the recipe and what it cannot build.
//!
//! The kernel behaviour the recipe relies on (read in 7.3.4; the same functions in 6.18):
//!
//! * A buffered write to a *shared* block (`xfs_buffered_write_iomap_begin` ->
//!   `xfs_bmap_trim_cow`, `allocfork = XFS_COW_FORK`) reserves delalloc blocks in the CoW fork
//!   from the write offset to the end of the shared extent inside the write, extended by
//!   `xfs_bmapi_reserve_delalloc` (`use_cowextszhint`: no post-EOF prealloc on a shared block) to
//!   the cowextsize hint with `xfs_bmap_extsize_align`: the reservation is the union of the
//!   hint-aligned chunks the shared blocks fall in (bounded by CoW extents already there, which
//!   the recipe never lets a chunk touch). A later write to a block whose CoW fork already has an
//!   extent uses it (`found_cow`).
//! * Writeback of such a page (`xfs_map_blocks` -> `xfs_bmapi_convert_delalloc` on the CoW fork)
//!   turns the *whole* delalloc extent into real unwritten blocks (`XFS_BMAPI_PREALLOC`), converts
//!   the ioend's range to written (`xfs_reflink_convert_cow`), and at completion
//!   `xfs_reflink_end_cow` remaps only written CoW blocks: the rest of the chunk stays in the
//!   fork as an unwritten preallocation, and the written block leaves it (the file's block is now
//!   a new, unshared one holding what was written).
//! * The hint is `FS_IOC_FSSETXATTR` with `FS_XFLAG_COWEXTSIZE` and `fsx_cowextsize` in bytes
//!   (`xfs_ioctl_setattr_check_cowextsize`: a multiple of the block size, reflink needed); it can
//!   be changed at any time (no "file has extents" restriction as for the data extsize hint) and
//!   applies to later reservations only, so the recipe sets the hint it needs per phase and then
//!   the scenario's own (0: the flag cleared, `xfs_get_cowextsz_hint` then gives 32 blocks).

use diofuzz::scenario::{CowExtent, Extent, PageState, Scenario, PAGE_SIZE};

/// The largest cowextsize hint (in blocks) the recipe tries.
pub const MAX_HINT: u64 = 32;

/// How to build a scenario's CoW fork.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Recipe {
    /// The CoW fork the set-up must leave, per block from block 0 (blocks past it: none): the
    /// scenario's `cow`, plus the reservation a dirty page over a shared block implies (the
    /// model's rule: such a block always has a delalloc CoW extent, listed or not).
    pub target: Vec<CowExtent>,
    /// Unwritten preallocations: the hint (blocks) and the seed blocks (written, unshared in the
    /// world) that are cloned, rewritten with a buffered write and fsynced, leaving the rest of
    /// their hint-aligned chunks unwritten in the fork. Empty = none.
    pub seed_hint: u64,
    pub seeds: Vec<u64>,
    /// Delalloc reservations: the hint (blocks) in force while the dirty pages are written
    /// (their shared blocks reserve hint-aligned chunks); 0 = no delalloc CoW extent.
    pub dirty_hint: u64,
    /// The scenario's own hint in blocks (0 = none), set last.
    pub final_hint: u64,
}

/// Blocks a dirty page of `s` covers below EOF (a buffered write of the page's part below EOF).
fn dirty_blocks(s: &Scenario) -> Vec<u64> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let mut v = Vec::new();
    for (p, st) in w.pages.iter().enumerate() {
        if *st != PageState::Dirty {
            continue;
        }
        let off = p as u64 * PAGE_SIZE;
        let wend = (off + PAGE_SIZE).min(w.i_size);
        let mut b = off / bs;
        while b * bs < wend {
            v.push(b);
            b += 1;
        }
    }
    v
}

fn at(t: &[CowExtent], i: u64) -> CowExtent {
    t.get(i as usize).copied().unwrap_or_default()
}

/// The hint-`h` chunks holding a block of `state` in `t`.
fn chunks(t: &[CowExtent], state: CowExtent, h: u64) -> Vec<u64> {
    let mut c: Vec<u64> = (0..t.len() as u64)
        .filter(|&i| t[i as usize] == state)
        .map(|i| i / h)
        .collect();
    c.dedup();
    c
}

/// The recipe that builds `s`'s CoW fork on an XFS filesystem with reflink, or why none does.
/// Which shapes are buildable (the rest are refused with these reasons):
///
/// * unwritten runs: every hint-aligned chunk (for one hint h of 2..=32 blocks) that holds an
///   unwritten block must consist of unwritten blocks and at least one *seed*: a written block,
///   unshared in the world, wholly below EOF, with no CoW extent (it is cloned, rewritten and
///   remapped, and so leaves the fork);
/// * delalloc runs: every hint-aligned chunk (one hint h of 1..=32) that holds a delalloc block
///   must consist of delalloc blocks and hold a shared block under a dirty page (the buffered
///   write that reserves it); every shared block under a dirty page is delalloc (implied when
///   the scenario leaves it out) or unwritten (the write then finds that extent);
/// * a CoW extent *written* at rest is not an input (docs/model-state.md).
pub fn recipe(s: &Scenario) -> Result<Recipe, String> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let mut target = w.cow.clone();
    let dirty = dirty_blocks(s);
    let shared = |b: u64| w.blocks.get(b as usize).is_some_and(|x| x.shared);
    // A dirty page over a shared block: the buffered write that made it reserved that block.
    let dirty_shared: Vec<u64> = dirty.iter().copied().filter(|&b| shared(b)).collect();
    for &b in &dirty_shared {
        if at(&target, b) == CowExtent::None {
            if target.len() <= b as usize {
                target.resize(b as usize + 1, CowExtent::None);
            }
            target[b as usize] = CowExtent::Delalloc;
        }
    }
    while target.last() == Some(&CowExtent::None) {
        target.pop();
    }
    let mut r = Recipe {
        final_hint: w.cowextsize as u64,
        ..Default::default()
    };
    // Unwritten: a hint and seeds.
    if target.contains(&CowExtent::Unwritten) {
        let seed_ok = |b: u64| {
            w.blocks
                .get(b as usize)
                .is_some_and(|x| x.kind == Extent::Written && !x.shared && (b + 1) * bs <= w.i_size)
                && at(&target, b) == CowExtent::None
        };
        let found = (2..=MAX_HINT).find_map(|h| {
            let mut seeds = Vec::new();
            for c in chunks(&target, CowExtent::Unwritten, h) {
                let mut any = false;
                for b in c * h..(c + 1) * h {
                    if at(&target, b) == CowExtent::Unwritten {
                        continue;
                    }
                    if !seed_ok(b) {
                        return None;
                    }
                    seeds.push(b);
                    any = true;
                }
                if !any {
                    return None;
                }
            }
            Some((h, seeds))
        });
        let Some((h, seeds)) = found else {
            return Err(
                "CoW fork: unwritten blocks whose hint-aligned chunks hold no written, \
                        unshared block to seed them"
                    .into(),
            );
        };
        r.seed_hint = h;
        r.seeds = seeds;
    }
    // Delalloc: a hint under which the dirty pages' shared blocks reserve exactly the runs.
    if target.contains(&CowExtent::Delalloc) {
        let seeds: Vec<u64> = dirty_shared
            .iter()
            .copied()
            .filter(|&b| at(&target, b) == CowExtent::Delalloc)
            .collect();
        let found = (1..=MAX_HINT).find(|&h| {
            let mut cs = chunks(&target, CowExtent::Delalloc, h);
            cs.extend(seeds.iter().map(|b| b / h));
            cs.sort_unstable();
            cs.dedup();
            cs.iter().all(|&c| {
                (c * h..(c + 1) * h).all(|b| at(&target, b) == CowExtent::Delalloc)
                    && seeds.iter().any(|b| b / h == c)
            })
        });
        let Some(h) = found else {
            return Err(
                "CoW fork: delalloc blocks that no dirty page over a shared block \
                        reserves as one hint-aligned chunk"
                    .into(),
            );
        };
        r.dirty_hint = h;
    }
    r.target = target;
    Ok(r)
}

/// Render a CoW fork as letters, one per block: N none, D delalloc, U unwritten, W written.
pub fn letters(t: &[CowExtent]) -> String {
    t.iter()
        .map(|c| match c {
            CowExtent::None => 'N',
            CowExtent::Delalloc => 'D',
            CowExtent::Unwritten => 'U',
        })
        .collect()
}

/// The prefix of an executor error that means "the kernel built another CoW fork than the
/// scenario's": the scenario is skipped as not buildable here, not counted as an error.
pub const UNBUILT: &str = "CoW fork not built exactly";

// --- ioctls -------------------------------------------------------------------------------

/// struct fsxattr (include/uapi/linux/fs.h).
#[repr(C)]
#[derive(Default)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}
/// _IOR('X', 31, struct fsxattr), _IOW('X', 32, struct fsxattr).
const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801C_581F;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401C_5820;
const FS_XFLAG_COWEXTSIZE: u32 = 0x0001_0000;

/// Set (bytes > 0) or clear (0) the inode's cowextsize hint.
pub fn set_cowextsize(fd: i32, bytes: u64) -> Result<(), String> {
    update_fsxattr(fd, &format!("cowextsize {bytes}"), |a| {
        if bytes == 0 {
            a.xflags &= !FS_XFLAG_COWEXTSIZE;
            a.cowextsize = 0;
        } else {
            a.xflags |= FS_XFLAG_COWEXTSIZE;
            a.cowextsize = bytes as u32;
        }
    })
}

/// Add `flags` to the inode's fsxattr flags (e.g. FS_XFLAG_DAX, [`super::dax`]).
pub fn set_xflags(fd: i32, flags: u32) -> Result<(), String> {
    update_fsxattr(fd, &format!("xflags |= {flags:#x}"), |a| a.xflags |= flags)
}

/// FS_IOC_FSGETXATTR, change, FS_IOC_FSSETXATTR.
fn update_fsxattr(fd: i32, what: &str, f: impl FnOnce(&mut FsXattr)) -> Result<(), String> {
    let mut a = FsXattr::default();
    // SAFETY: FS_IOC_FSGETXATTR fills one struct fsxattr.
    if unsafe { libc::ioctl(fd, FS_IOC_FSGETXATTR as _, &mut a) } != 0 {
        return Err(format!(
            "FS_IOC_FSGETXATTR: {}",
            std::io::Error::last_os_error()
        ));
    }
    f(&mut a);
    // SAFETY: FS_IOC_FSSETXATTR reads one struct fsxattr.
    if unsafe { libc::ioctl(fd, FS_IOC_FSSETXATTR as _, &a) } != 0 {
        return Err(format!(
            "FS_IOC_FSSETXATTR {what}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// struct getbmapx (fs/xfs/libxfs/xfs_fs.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct GetBmapX {
    offset: i64,
    block: i64,
    length: i64,
    count: i32,
    entries: i32,
    iflags: i32,
    oflags: i32,
    unused: [i32; 2],
}
/// _IOWR('X', 56, struct getbmap): the size in the number is struct getbmap's (32 bytes).
const XFS_IOC_GETBMAPX: libc::c_ulong = 0xC020_5838;
const BMV_IF_PREALLOC: i32 = 0x4;
const BMV_IF_DELALLOC: i32 = 0x8;
const BMV_IF_NO_HOLES: i32 = 0x10;
const BMV_IF_COWFORK: i32 = 0x20;
const BMV_OF_PREALLOC: i32 = 0x1;
const BMV_OF_DELALLOC: i32 = 0x2;

/// One CoW-fork extent as XFS_IOC_GETBMAPX reports it: first block, blocks, state ('D', 'U' or
/// 'W' for written).
pub type CowRun = (u64, u64, char);

/// Read the CoW fork of the open XFS file `fd` (block size `bs`) with XFS_IOC_GETBMAPX
/// (BMV_IF_COWFORK; `xfs_getbmap` does not flush for the CoW fork, so delalloc reservations are
/// reported as they are). Only CONFIG_XFS_DEBUG kernels answer ([`cow_fork_readable`]).
pub fn read_cow_fork(fd: i32, bs: u64) -> Result<Vec<CowRun>, String> {
    const N: usize = 64;
    let mut v = [GetBmapX::default(); N + 1];
    v[0].offset = 0;
    v[0].length = -1;
    v[0].count = (N + 1) as i32;
    v[0].iflags = BMV_IF_COWFORK | BMV_IF_PREALLOC | BMV_IF_DELALLOC | BMV_IF_NO_HOLES;
    // SAFETY: the array has count entries of struct getbmapx.
    if unsafe { libc::ioctl(fd, XFS_IOC_GETBMAPX as _, v.as_mut_ptr()) } != 0 {
        return Err(format!(
            "XFS_IOC_GETBMAPX (CoW fork): {}",
            std::io::Error::last_os_error()
        ));
    }
    let n = (v[0].entries.max(0) as usize).min(N);
    Ok(v[1..=n]
        .iter()
        .filter(|e| e.block != -1)
        .map(|e| {
            let st = if e.oflags & BMV_OF_DELALLOC != 0 || e.block == -2 {
                'D'
            } else if e.oflags & BMV_OF_PREALLOC != 0 {
                'U'
            } else {
                'W'
            };
            (
                (e.offset as u64 * 512) / bs,
                (e.length as u64 * 512) / bs,
                st,
            )
        })
        .collect())
}

/// XFS_IOC_GETBMAPX refuses BMV_IF_COWFORK unless the kernel has CONFIG_XFS_DEBUG
/// (`xfs_getbmap`: "Only allow CoW fork queries if we're debugging"): Debian's kernels and this
/// host's do not. Then the fork is checked by counting ([`count_cow_fork`]).
pub fn cow_fork_readable(e: &str) -> bool {
    !e.contains("os error 22")
}

/// Bytes the data fork maps (written, unwritten and delalloc extents).
fn data_fork_bytes(fd: i32) -> Result<u64, String> {
    Ok(super::fiemap::fiemap(fd)?.iter().map(|e| e.2).sum())
}

/// Blocks in the CoW fork, counted without CONFIG_XFS_DEBUG: `st_blocks` (`xfs_vn_getattr`:
/// i_nblocks + i_delayed_blks, and i_delayed_blks holds every CoW-fork block, delalloc or
/// allocated, until it is remapped: `xfs_bmap_btalloc_accounting`) minus what the data fork maps
/// (FIEMAP). Which of them are delalloc and which unwritten, and where they lie, no interface of a
/// non-DEBUG kernel shows (GETFSMAP tells CoW staging extents only with the rmap btree, which
/// changes the atomic write unit XFS offers, so live's filesystems do not have it).
pub fn count_cow_fork(fd: i32, bs: u64) -> Result<u64, String> {
    // SAFETY: zeroed stat filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our fd.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!("fstat: {}", std::io::Error::last_os_error()));
    }
    Ok((st.st_blocks as u64 * 512).saturating_sub(data_fork_bytes(fd)?) / bs)
}

/// Compare the counted CoW-fork blocks with the target's; Err (with [`UNBUILT`]) when they
/// differ.
pub fn check_count(got: u64, target: &[CowExtent]) -> Result<(), String> {
    let want = target.iter().filter(|&&c| c != CowExtent::None).count() as u64;
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{UNBUILT}: the kernel's CoW fork holds {got} blocks, the scenario's {} holds {want}",
            or_empty(letters(target).trim_end_matches('N').to_string()),
        ))
    }
}

/// Compare the fork read back with the target; Err with both shapes when they differ.
pub fn check(runs: &[CowRun], target: &[CowExtent]) -> Result<(), String> {
    let end = runs
        .iter()
        .map(|r| r.0 + r.1)
        .chain([target.len() as u64])
        .max()
        .unwrap_or(0)
        .min(4096);
    let mut got = vec!['N'; end as usize];
    for &(o, l, st) in runs {
        for b in o..(o + l).min(end) {
            got[b as usize] = st;
        }
    }
    let mut want: Vec<char> = letters(target).chars().collect();
    want.resize(end as usize, 'N');
    if got == want {
        Ok(())
    } else {
        let trim = |v: &[char]| {
            v.iter()
                .collect::<String>()
                .trim_end_matches('N')
                .to_string()
        };
        Err(format!(
            "{UNBUILT}: the kernel built {} for {}",
            or_empty(trim(&got)),
            or_empty(trim(&want))
        ))
    }
}

fn or_empty(s: String) -> String {
    if s.is_empty() {
        "an empty fork".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::scenario::BlockState;

    fn xfs(blocks: &str, pages: &str, cow: &str, i_size_blocks: u64) -> Scenario {
        let mut s = Scenario {
            fs: diofuzz::scenario::FsKind::Xfs,
            ..Default::default()
        };
        let w = &mut s.world;
        w.i_size = i_size_blocks * 4096;
        w.blocks = blocks
            .chars()
            .map(|c| BlockState {
                kind: match c {
                    'W' | 'S' => Extent::Written,
                    'U' => Extent::Unwritten,
                    'D' => Extent::Delalloc,
                    _ => Extent::Hole,
                },
                shared: c == 'S',
                ..Default::default()
            })
            .collect();
        w.pages = pages
            .chars()
            .map(|c| match c {
                'd' => PageState::Dirty,
                'c' => PageState::Clean,
                _ => PageState::None,
            })
            .collect();
        w.cow = diofuzz::generators::cow_fork(cow).unwrap();
        w.inode.reflink = true;
        s
    }

    #[test]
    fn delalloc_runs_get_the_smallest_hint_that_makes_them() {
        // cow_xfs_atomic_delalloc_eio: block 0 shared under a dirty page, D over 0-1.
        let r = recipe(&xfs("SWWW", "d", "DDNN", 4)).unwrap();
        assert_eq!(r.dirty_hint, 2);
        assert_eq!(letters(&r.target), "DD");
        assert!(r.seeds.is_empty());
        // Implied: a dirty page over a shared block and an empty fork is one block (hint 1),
        // not the default 32-block reservation.
        let r = recipe(&xfs("SWWW", "d", "", 4)).unwrap();
        assert_eq!((r.dirty_hint, letters(&r.target).as_str()), (1, "D"));
        // A run not aligned to any hint that its seed's chunk fills: D over 1-2 from block 1.
        assert!(recipe(&xfs("WSWW", "nd", "NDD", 4)).is_err());
        // D over 2-3 from a seed at 3: hint 2, chunk [2, 4).
        let r = recipe(&xfs("WWWS", "nnnd", "NNDD", 4)).unwrap();
        assert_eq!(r.dirty_hint, 2);
        // No dirty shared block: nothing reserves it.
        assert!(recipe(&xfs("SWWW", "c", "DD", 4)).is_err());
    }

    #[test]
    fn unwritten_runs_need_seeds() {
        // cow_xfs_atomic_unwritten_prealloc: U over 0-1, block 0 shared under a dirty page (its
        // write then finds the U extent): hint 3 and seed 2 make the chunk [0, 3).
        let r = recipe(&xfs("SWWW", "d", "UUNN", 4)).unwrap();
        assert_eq!(
            (r.seed_hint, r.seeds.clone(), r.dirty_hint),
            (3, vec![2], 0)
        );
        // No seed anywhere: every block is shared or has a CoW extent.
        assert!(recipe(&xfs("SSSS", "", "UUNN", 4)).is_err());
        // U over 1-3 with block 0 written unshared: hint 4, seed 0.
        let r = recipe(&xfs("WWWW", "", "NUUU", 4)).unwrap();
        assert_eq!((r.seed_hint, r.seeds.clone()), (4, vec![0]));
        // U past EOF (the speculative tail): blocks 5-7 from seed 4 with hint 4.
        let r = recipe(&xfs("WWWWW", "", "NNNNNUUU", 5)).unwrap();
        assert_eq!((r.seed_hint, r.seeds.clone()), (4, vec![4]));
        // A seed must lie wholly below EOF.
        let mut s = xfs("WWWWW", "", "NNNNNUUU", 5);
        s.world.i_size -= 512;
        assert!(recipe(&s).is_err());
        // Both kinds at once.
        // (hint 3: chunks [0, 3) and [3, 6) with seeds 0, 4 and 5; hint 2 leaves [2, 4) seedless)
        let r = recipe(&xfs("WUUUWWWS", "nnnnnnnd", "NUUUNNDD", 8)).unwrap();
        assert_eq!(
            (r.seed_hint, r.seeds.clone(), r.dirty_hint),
            (3, vec![0, 4, 5], 2)
        );
    }

    #[test]
    fn check_compares_the_fork() {
        let t = diofuzz::generators::cow_fork("NDDU").unwrap();
        assert!(check(&[(1, 2, 'D'), (3, 1, 'U')], &t).is_ok());
        let e = check(&[(0, 32, 'D')], &t).unwrap_err();
        assert!(e.starts_with(UNBUILT), "{e}");
        assert!(e.contains("NDDU"), "{e}");
        assert!(check(&[], &[]).is_ok());
        assert!(check(&[(3, 1, 'W')], &t).is_err());
        assert!(check_count(3, &t).is_ok());
        let e = check_count(32, &t).unwrap_err();
        assert!(e.starts_with(UNBUILT) && e.contains("NDDU holds 3"), "{e}");
    }
}
