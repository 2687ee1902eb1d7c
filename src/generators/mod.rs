// SPDX-License-Identifier: GPL-2.0-only
//! Scenario generators, one of each: the layout and page-cache languages, the base worlds every
//! builder starts from (ext4, XFS, block device), and the random generator of the live
//! differential ([`random`]). The seeds, the tests, `check`'s domains, `live` and the lab all build
//! their scenarios here.
//!
//! Layout language, one letter per file block: `H` hole, `U` unwritten, `W` written, `S` shared
//! (written, reflinked), `D` delalloc; `|` before a block starts a new physical extent (blocks are
//! otherwise physically contiguous with the one before). Page-cache language, one letter per page:
//! `N` none, `C` clean, `D` dirty, `W` writeback, `M` mmapped and re-dirtied, `B` busy.

pub mod bdev_geometry;
pub mod bdev_state;
pub mod dax;
pub mod fault;
pub mod fault_segs;
pub mod file_small_lbs;
pub mod flags;
pub mod inline_delalloc;
pub mod lfs;
pub mod nvme_gap;
pub mod partial;
pub mod random;
pub mod reflink;
pub mod scatter;
pub mod settle;
pub mod stable_nowait;
pub mod writeback_unwritten;

use crate::scenario::*;

pub const KIB: u64 = 1024;

/// Blocks from the layout language (see the module doc).
pub fn layout(spec: &str) -> Result<Vec<BlockState>, String> {
    let mut out = Vec::new();
    let mut brk = false;
    for c in spec.chars() {
        let kind = match c {
            '|' => {
                brk = true;
                continue;
            }
            'H' => Extent::Hole,
            'U' => Extent::Unwritten,
            'W' | 'S' => Extent::Written,
            'D' => Extent::Delalloc,
            _ => {
                return Err(format!(
                    "unknown block letter '{c}' in \"{spec}\" (valid: H U W S D, '|' for an extent break)"
                ))
            }
        };
        out.push(BlockState {
            kind,
            new_extent: brk,
            shared: c == 'S',
        });
        brk = false;
    }
    Ok(out)
}

/// Pages from the page-cache language (see the module doc).
pub fn pages(spec: &str) -> Result<Vec<PageState>, String> {
    spec.chars()
        .map(|c| match c {
            'N' => Ok(PageState::None),
            'C' => Ok(PageState::Clean),
            'D' => Ok(PageState::Dirty),
            'W' => Ok(PageState::Writeback),
            'M' => Ok(PageState::MappedDirty),
            'B' => Ok(PageState::Busy),
            _ => Err(format!(
                "unknown page letter '{c}' in \"{spec}\" (valid: N C D W M B)"
            )),
        })
        .collect()
}

/// An XFS CoW fork at rest from letters, one per block: N none, D delalloc reservation, U
/// unwritten preallocation.
pub fn cow_fork(spec: &str) -> Result<Vec<CowExtent>, String> {
    spec.chars()
        .map(|c| match c {
            'N' => Ok(CowExtent::None),
            'D' => Ok(CowExtent::Delalloc),
            'U' => Ok(CowExtent::Unwritten),
            _ => Err(format!(
                "unknown CoW-fork letter '{c}' in \"{spec}\" (valid: N D U)"
            )),
        })
        .collect()
}

pub fn written() -> BlockState {
    BlockState {
        kind: Extent::Written,
        ..BlockState::default()
    }
}
pub fn unwritten() -> BlockState {
    BlockState {
        kind: Extent::Unwritten,
        ..BlockState::default()
    }
}
pub fn hole() -> BlockState {
    BlockState::default()
}

/// An O_DIRECT RWF_ATOMIC write of `len` at `pos` on `fs`, on a device with 4 KiB..64 KiB atomic
/// units; the world is otherwise the default.
pub fn atomic_write(
    fs: FsKind,
    i_size: u64,
    blocks: Vec<BlockState>,
    pos: u64,
    len: u64,
) -> Scenario {
    Scenario {
        fs,
        world: World {
            device: Device {
                awu_min: 4096,
                awu_max: 65536,
                stable_writes: false,
                ..Device::default()
            },
            i_size,
            blocks,
            ..World::default()
        },
        request: Request {
            rwf: Rwf {
                atomic: true,
                ..Rwf::default()
            },
            pos,
            len,
            ..Request::default()
        },
        faults: vec![],
        races: vec![],
    }
}

/// ext4, 4 KiB blocks, a 16 KiB file of written blocks (one extent), RWF_ATOMIC 4 KiB at 0.
pub fn base() -> Scenario {
    atomic_write(FsKind::Ext4, 16 * KIB, vec![written(); 4], 0, 4096)
}

/// XFS (reflink), 4 KiB blocks, a 32 KiB file laid out as `spec`, RWF_ATOMIC `len` at `pos`.
/// Panics on a bad layout: for builders in code and tests; user input goes through [`layout`].
pub fn xfs(spec: &str, pos: u64, len: u64) -> Scenario {
    let blocks = layout(spec).unwrap_or_else(|e| panic!("{e}"));
    atomic_write(FsKind::Xfs, 32 * KIB, blocks, pos, len)
}

/// A 64 KiB block device; RWF_ATOMIC `len` at `pos`.
pub fn bdev(pos: u64, len: u64) -> Scenario {
    atomic_write(FsKind::Bdev, 64 * KIB, vec![], pos, len)
}

/// base() changed by `f`.
pub fn with(f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = base();
    f(&mut s);
    s
}

/// ext4 with bigalloc (16 KiB clusters): multi-block atomic writes from 6.16.
pub fn bigalloc(f: impl FnOnce(&mut Scenario)) -> Scenario {
    with(|s| {
        s.world.cluster_bits = 2;
        s.world.i_size = 64 * KIB;
        s.world.blocks = vec![written(); 16];
        s.request.len = 16 * KIB;
        f(s)
    })
}

/// The same scenario as a plain (non-atomic) O_DIRECT write.
pub fn non_atomic(s: &Scenario) -> Scenario {
    let mut s = s.clone();
    s.request.rwf.atomic = false;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_language() {
        let b = layout("WU|SHD").unwrap();
        let kinds: Vec<Extent> = b.iter().map(|b| b.kind).collect();
        use Extent::*;
        assert_eq!(kinds, [Written, Unwritten, Written, Hole, Delalloc]);
        assert!(b[2].new_extent && b[2].shared && !b[1].new_extent && !b[0].shared);
        let e = layout("WX").unwrap_err();
        assert!(e.contains("'X'") && e.contains("valid"), "{e}");
        assert_eq!(pages("NCDWMB").unwrap().len(), 6);
        assert!(pages("CZ").unwrap_err().contains("'Z'"));
    }

    #[test]
    fn builders_agree_with_their_docs() {
        let x = xfs("WW|W", 4096, 8192);
        assert_eq!(
            (x.fs, x.world.i_size, x.request.pos, x.request.len),
            (FsKind::Xfs, 32 * KIB, 4096, 8192)
        );
        assert!(x.request.rwf.atomic && x.world.blocks[2].new_extent);
        assert_eq!(bdev(0, 4096).world.i_size, 64 * KIB);
        assert!(!non_atomic(&base()).request.rwf.atomic);
        assert_eq!(bigalloc(|_| {}).world.cluster_bits, 2);
    }
}
