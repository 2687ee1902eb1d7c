// SPDX-License-Identifier: GPL-2.0-only
//! Scenario -> syscall plan: which real syscalls build the scenario's world on a scratch
//! filesystem and issue its request. Pure (no system calls), so it is unit-tested and shared by
//! the executor ([`super::exec`]) and the C reproducer ([`super::repro`]).
//!
//! Data is written as per-sector patterns so that a read-back can be classified into the model's
//! tags (see [`pattern`] and [`classify`]).

use diofuzz::model::{TAG_NEW, TAG_OLD, TAG_OLD_DIRTY, TAG_ZERO};
use diofuzz::scenario::{
    Extent, FsKind, PageState, Race, Scenario, DEFAULT_DMA_ALIGNMENT, PAGE_SIZE, SECTOR,
};

/// A sector that matches no pattern (torn, misplaced or garbage data). The model never uses it.
pub const TAG_OTHER: u32 = 5;
/// Largest file offset a live scenario may touch (a guard no input reaches: [`super::limits`]).
pub const LIVE_SPAN: u64 = super::limits::LIVE_SPAN;

/// Which scratch filesystem a plan needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsKey {
    pub fs: FsKind,
    pub blkbits: u8,
    pub lbs_bits: u8,
    /// XFS only: mkfs -m reflink=1.
    pub reflink: bool,
    /// ext4 only: mkfs -O bigalloc with 2^cluster_bits blocks per cluster (on the atomic disk of
    /// `live --device`, or a device the user gives, `diofuzz repro --device`; not on loop).
    pub cluster_bits: u8,
    /// On the given atomic-capable disk ([`Disk`], `live --device`) instead of a loop device.
    pub disk: bool,
    /// ext4 only: mounted with `-o data=journal` (world.mount.data_journal).
    pub data_journal: bool,
    /// ext4 only: made without the extents feature (`mkfs.ext4 -O ^extent,^64bit`:
    /// world.mount.extents_feature false; every file is block-mapped).
    pub no_extents: bool,
    /// ext4 only: mounted with `-o nodelalloc`, for `chattr +j` inodes: the model's
    /// `inode.journal_data` is the flag *taking effect*, and `ext4_inode_journal_mode` honours
    /// the inode flag only without delalloc (measured: on a default mount, 7.3.4 writes a +j
    /// file with O_DIRECT as direct I/O).
    pub nodelalloc: bool,
    /// ext4 only: mounted with `-o nodioread_nolock` (session 10, [`super::settle_race`]'s page
    /// held under writeback right after its delayed block was allocated): without
    /// `EXT4_MOUNT_DIOREAD_NOLOCK` `ext4_should_dioread_nolock` is false and
    /// `mpage_map_one_extent` allocates the block written at submission, where the default
    /// mount allocates it unwritten and converts it only at completion (a state the model has
    /// no page state for). Nothing else the model reads depends on it on a delalloc mount.
    /// With `noauto_da_alloc` too: a lag at open with `i_disksize` 0 is built by a truncate to
    /// 0 (`ext4_truncate` sets `EXT4_STATE_DA_ALLOC_CLOSE`), and the set-up descriptor's close
    /// would then start the writeback (`ext4_release_file` -> `ext4_alloc_da_blocks`) before
    /// the hold; the model reads neither.
    pub dioread_lock: bool,
    /// ext4 only: mounted with `-o noauto_da_alloc` alone (session 11: the same lag held under
    /// writeback on the default `dioread_nolock` mount, its delayed block allocated unwritten
    /// and converted at completion, [`super::settle_race`]); why: [`FsKey::dioread_lock`].
    pub noauto_da_alloc: bool,
    /// ext4 only: made for inline-data or encrypted inodes ([`super::inode_kind`]).
    pub inode_kind: super::inode_kind::InodeKind,
    /// On the pmem device of `live --pmem` (the disk), mounted with `-o dax=always` or
    /// `-o dax=inode` ([`super::dax`]).
    pub dax: super::dax::DaxMount,
    /// A filesystem of its own for one scenario, never shared or reused (shut down or emergency
    /// read-only: [`super::shutdown`]).
    pub own: bool,
    /// On a loop device whose queue/stable_writes is set before the mount
    /// (world.device.stable_writes: [`super::limits`]).
    pub stable: bool,
    /// On a loop device backed by a file on a lower ext4 filesystem that can be frozen to hold
    /// the upper filesystem's writes in flight ([`super::pages`]).
    pub layered: bool,
    /// Block device only: an nvme-tcp namespace with the data digest (stable writes and
    /// BLK_FEAT_NOWAIT, for RWF_NOWAIT calls: [`super::nvme_stable`]) instead of zram.
    pub nvme: bool,
}

/// The atomic-capable disk a run may format (defined with the generator, which fits scenarios to it).
pub use diofuzz::generators::random::Disk;

impl FsKey {
    pub fn label(&self) -> String {
        format!(
            "{}-b{}-l{}{}{}",
            self.fs.name(),
            1u32 << self.blkbits,
            1u32 << self.lbs_bits,
            if self.fs == FsKind::Xfs && !self.reflink {
                "-noreflink".to_string()
            } else if self.cluster_bits > 0 {
                format!("-c{}", 1u32 << (self.blkbits + self.cluster_bits))
            } else {
                String::new()
            },
            if self.disk { "-disk" } else { "" }
        ) + if self.data_journal { "-journal" } else { "" }
            + if self.no_extents { "-noextent" } else { "" }
            + if self.nodelalloc { "-nodelalloc" } else { "" }
            + if self.dioread_lock {
                "-dioreadlock"
            } else {
                ""
            }
            + if self.noauto_da_alloc && !self.dioread_lock {
                "-noautoda"
            } else {
                ""
            }
            + self.inode_kind.label()
            + self.dax.label()
            + if self.own { "-own" } else { "" }
            + if self.stable { "-stable" } else { "" }
            + if self.nvme { "-nvme" } else { "" }
            + if self.layered { "-layered" } else { "" }
    }

    /// The mount options (`mount -o`) of the scratch filesystem, if any besides the defaults.
    pub fn mount_data(&self) -> Option<&'static str> {
        if self.dax != super::dax::DaxMount::Off {
            // The dax option, with data=journal or nodelalloc for a non-DAX journalled-data
            // ext4 file (a DAX inode journals nothing: validity rule W3).
            self.dax.mount_data_with(self.data_journal, self.nodelalloc)
        } else if self.data_journal {
            Some("data=journal")
        } else if self.nodelalloc {
            Some("nodelalloc")
        } else if self.dioread_lock {
            Some("nodioread_nolock,noauto_da_alloc")
        } else if self.noauto_da_alloc {
            Some("noauto_da_alloc")
        } else {
            None
        }
    }
}

/// One set-up step, in order, on the scenario's file (and the donor file for clones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// ftruncate(fd, size).
    Truncate(u64),
    /// Buffered pwrite of the OLD pattern over [off, off+len).
    WriteOld { off: u64, len: u64 },
    /// fallocate(FALLOC_FL_KEEP_SIZE) over [off, off+len): unwritten blocks.
    Fallocate { off: u64, len: u64 },
    /// Write the OLD pattern over [off, off+len) of a donor file, fsync it, and FICLONERANGE it
    /// to the same offset of the file: shared (reflinked) blocks.
    CloneOld { off: u64, len: u64 },
    /// fsync(fd).
    Fsync,
    /// posix_fadvise(POSIX_FADV_DONTNEED) over the whole file: empty page cache.
    DropCache,
    /// Buffered pread of one page: a clean cached page.
    ReadPage { off: u64 },
    /// Buffered pwrite of the OLD_DIRTY pattern: a dirty page (delalloc over holes).
    WriteDirty { off: u64, len: u64 },
    /// Buffered pwrite of zeroes over [off, off+len) (a block device's blocks without data).
    WriteZero { off: u64, len: u64 },
    /// XFS: set the cowextsize hint to this many bytes (FS_IOC_FSSETXATTR with
    /// FS_XFLAG_COWEXTSIZE), or clear it (0). See [`super::cow`].
    SetCowExtsize(u64),
    /// FS_IOC_GETFLAGS, then FS_IOC_SETFLAGS with `set` added and `clear` removed (chattr):
    /// -e ([`FS_EXTENT_FL`], ext4_ind_migrate on the empty file) first, +a ([`FS_APPEND_FL`])
    /// after the rest of the set-up. (+j is inherited from the scenario's directory:
    /// [`super::inode_kind::ScenarioDir`].)
    SetInodeFlags { set: u32, clear: u32 },
    /// FS_IOC_GETFLAGS must show these bits (the kernel built an inline-data, encrypted or
    /// journalled-data inode: [`super::inode_kind`]); else the scenario is skipped. A
    /// [`FS_JOURNAL_DATA_FL`] check also makes [`super::inode_kind::ScenarioDir`] create the file
    /// in a directory with that flag, which the new inode inherits.
    ExpectInodeFlags(u32),
    /// fchmod(fd, mode): a setuid bit makes IS_NOSEC clear ([`super::inode_state`]).
    SetMode(u32),
    /// A swap header over page 0 ([`super::swap`], lab guests only).
    SwapHeader,
    /// A swap file on blocks smaller than a page: its first `len` bytes allocated as one
    /// physically page-aligned run, then the size set back to `size`
    /// ([`super::swap::aligned_prefix`]).
    SwapAlignedPrefix { len: u64, size: u64 },
    /// swapon(2) of the file, after its times are set ([`super::swap`]).
    SwapOn,
    /// pwrite of the OLD pattern (`old`) or zeroes over [off, off+len) of a loop device's backing
    /// file: the bytes past the last readable block of a device whose size is not whole logical
    /// blocks, which no write through the device reaches ([`super::bdev_geometry::edge`]).
    WriteBacking { off: u64, len: u64, old: bool },
}

/// A step the executor and the C program run after setting the file's times (an append-only
/// inode refuses utimensat with a time of the caller's choosing: setattr_prepare -> IS_APPEND).
pub fn after_times(st: &Step) -> bool {
    matches!(st, Step::SetInodeFlags { set, .. } if set & FS_APPEND_FL != 0) || *st == Step::SwapOn
}

/// include/uapi/linux/fs.h inode flags (FS_IOC_SETFLAGS).
pub const FS_APPEND_FL: u32 = 0x0000_0020;
pub const FS_JOURNAL_DATA_FL: u32 = 0x0000_4000;
pub const FS_EXTENT_FL: u32 = 0x0008_0000;

/// The measured call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub direct: bool,
    pub append: bool,
    pub dsync: bool,
    pub sync: bool,
    /// fcntl(F_SETFL) toggles O_DIRECT after open (Race::FcntlToggleDirect, odd count).
    pub fcntl_toggle: bool,
    pub read: bool,
    pub rwf: u32,
    pub pos: u64,
    pub len: u64,
    /// Segment lengths (sum = len); the model splits evenly, the last takes the rest.
    pub segs: Vec<u64>,
    /// Offset of the buffer start from a page boundary (0 = page aligned).
    pub buf_offset: u64,
    /// A scattered iovec: each segment's offset in the buffer mapping (super::segs); empty =
    /// contiguous from `buf_offset`.
    pub seg_at: Vec<u64>,
    /// The buffer is PROT_NONE from this byte of the request on.
    pub fault_at: Option<u64>,
    /// RLIMIT_FSIZE set in a forked child that issues the call.
    pub rlimit_fsize: Option<u64>,
    /// An mmap writer thread stores into the cached pages of the range while the call runs.
    pub mmap_writer: bool,
    /// Submitted with io_submit (IOCB_CMD_PWRITEV / PREADV at `pos`, RWF flags in
    /// `aio_rw_flags`) and reaped with io_getevents, instead of pwritev2 at the file position.
    pub aio: bool,
    /// Flag changes and a lock holder between open and the call ([`super::race`]).
    pub after_open: super::race::AfterOpen,
    /// The file is unlinked after the call's open (world.inode.unlinked: [`super::inode_state`]).
    pub unlink: bool,
    /// The call's file is opened without O_LARGEFILE (request.open.no_largefile: the ia32 open,
    /// [`super::limits::open_without_largefile`]).
    pub no_largefile: bool,
    /// Pages held under writeback or re-dirtied through a mapping during the call, and the idle
    /// mmap writer ([`super::pages`]).
    pub pages: super::pages::CallPages,
    /// pwritev2/preadv2 at `pos` instead of at the file position: a block device past its end,
    /// where blkdev_llseek or a file's llseek refuses the lseek ([`super::limits::positioned`]).
    pub positioned: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub key: FsKey,
    pub i_size: u64,
    pub steps: Vec<Step>,
    pub call: Call,
    /// The outcome may depend on timing (racing thread): reported, not counted as a disagreement.
    pub racy: bool,
    /// XFS with reflink: the CoW fork the set-up must leave, per block from block 0, read back
    /// with XFS_IOC_GETBMAPX after the set-up (a scenario whose fork the kernel builds otherwise
    /// is skipped, [`super::cow::UNBUILT`]). None: no CoW fork to check.
    pub cow: Option<Vec<diofuzz::scenario::CowExtent>>,
    /// The filesystem is shut down or made emergency read-only between the open and the call,
    /// on a filesystem of its own ([`super::shutdown`]).
    pub down: Option<super::shutdown::Down>,
    /// Every file offset of the plan (steps, i_size, the call's position, RLIMIT_FSIZE) is the
    /// model's plus this: a scaled s_maxbytes built near the real one ([`super::limits::shift`]);
    /// the observation subtracts it again. 0: none.
    pub shift: u64,
}

/// Why a scenario cannot run on the live kernel (short, stable text: the summary groups by it).
pub type Unsupported = String;

fn unsup<T>(s: &str) -> Result<T, Unsupported> {
    Err(s.to_string())
}

/// Map a scenario to a plan on a file of a scratch filesystem over a loop device, or say why it is
/// not expressible there (the C reproducer and the fstests export write a file: a block-device
/// scenario needs a device of its own, [`plan_on`]).
pub fn plan(s: &Scenario) -> Result<Plan, Unsupported> {
    if s.fs == FsKind::Bdev {
        return unsup(
            "raw block device scenario: it writes a device of its own (live --fs bdev), not a file",
        );
    }
    plan_on(s, None)
}

/// Map a scenario to a plan on a loop device (`disk` None) or on the given atomic-capable disk:
/// there the scenario's device atomic units and logical block size must be the disk's, and
/// ext4 bigalloc clusters are made by mkfs. A block-device scenario gets a device of its own
/// (a loop device, or a partition of the disk).
pub fn plan_on(s: &Scenario, disk: Option<&Disk>) -> Result<Plan, Unsupported> {
    let w = &s.world;
    let r = &s.request;
    if w.device.no_bio_split && !super::bdev_state::on_zram(s) {
        // pmem is the bio-based disk live has for files (dax::plan_pmem clears the flag for
        // this plan); zram for a block device with stable writes (super::bdev_state).
        return unsup("a bio-based disk that never splits (world.device.no_bio_split): only on pmem (--pmem; the lab's ext4-dax and xfs-dax groups) and, for a block device with stable writes, zram");
    }
    if s.fs == FsKind::Bdev {
        return plan_bdev(s, disk);
    }
    // Races after open (flag changes, a lock holder): the world at open, then super::race.
    super::limits::refuse_scaled_migration(s)?;
    if let Some((open, after)) = super::race::split(s)? {
        return super::race::plan_after_open(s, &open, after, |o| plan_on(o, disk));
    }
    // (1, 2 and 4 KiB: every size the format has; mkfs takes it: scratch::mkfs_argv)
    if !(10..=12).contains(&w.blkbits) {
        return unsup("block size other than 1, 2 or 4 KiB");
    }
    match disk {
        None => {
            if w.cluster_bits != 0 {
                return unsup("bigalloc clusters");
            }
            if w.device.awu_min != 0 || w.device.awu_max != 0 {
                return unsup("device atomic write units (loop has none)");
            }
            if w.device.dma_alignment != DEFAULT_DMA_ALIGNMENT {
                return unsup("DMA alignment other than a loop device's (511)");
            }
        }
        Some(d) => {
            if w.device.awu_min != d.awu_min || w.device.awu_max != d.awu_max {
                return unsup("device atomic write units other than the disk's");
            }
            if w.lbs_bits != d.lbs_bits {
                return unsup("logical block size other than the disk's");
            }
            if w.device.dma_alignment != d.dma_alignment {
                return unsup("DMA alignment other than the disk's");
            }
            if w.cluster_bits != 0 && s.fs != FsKind::Ext4 {
                return unsup("bigalloc clusters on XFS");
            }
        }
    }
    super::limits::refuse_stable(s, disk)?;
    let m = w.mount;
    let ext4 = s.fs == FsKind::Ext4;
    // Mount options: which a scratch filesystem can have, and why the rest cannot.
    if m.dax {
        return unsup(super::dax::NEEDS_PMEM);
    }
    // Shut down / emergency read-only: a filesystem of its own, brought down before the call.
    let down = super::shutdown::down_of(s, disk)?;
    if m.inline_crypt {
        return unsup(
            "mount option inlinecrypt (needs fscrypt keys and a blk-crypto device or fallback)",
        );
    }
    if m.xfs_always_cow {
        return unsup("mount option XFS always_cow (needs /sys/fs/xfs/debug/always_cow: CONFIG_XFS_DEBUG kernels only)");
    }
    if !ext4 && (m.data_journal || !m.extents_feature) {
        return unsup("ext4 mount options on another filesystem");
    }
    if !m.extents_feature && w.cluster_bits != 0 {
        return unsup("bigalloc without extents");
    }
    // Inode flags: journal_data (+j), extents (-e, or a filesystem without extents) and
    // append_only (+a) are set with FS_IOC_SETFLAGS; the others cannot be.
    let f = w.inode;
    let others = [
        (f.verity, "verity (a verity file cannot be opened for writing)"),
        (f.dax, "dax (needs a DAX-capable device: live --pmem, lab groups ext4-dax, xfs-dax)"),
        (f.immutable, "immutable (open for writing fails with EPERM; only a flag changed after open, a race, would reach the write)"),
    ];
    if let Some((_, why)) = others.iter().find(|(on, _)| *on) {
        return Err(format!("inode flag not reproduced: {why}"));
    }
    if !ext4 && (f.journal_data || !f.extents) {
        return unsup("ext4 inode flags on another filesystem");
    }
    super::inode_kind::refuse(s)?;
    super::inode_state::refuse(s)?;
    super::swap::refuse(s)?;
    if ext4 && !m.extents_feature && f.extents {
        return unsup("extent-mapped inode without the extents feature");
    }
    if f.append_only && !r.open.append {
        return unsup(
            "append-only inode opened without O_APPEND (open(2) fails with EPERM: may_open)",
        );
    }
    let indirect = ext4 && !f.extents && !f.inline_data;
    let journalled = ext4 && (m.data_journal || f.journal_data);
    if indirect && w.blocks.iter().any(|b| b.kind == Extent::Unwritten) {
        return unsup("unwritten block on a block-mapped inode (fallocate: EOPNOTSUPP)");
    }
    if journalled && w.blocks.iter().any(|b| b.kind == Extent::Delalloc) {
        return unsup("delalloc block on a journalled-data inode (ext4_journalled_aops allocate at write_begin)");
    }
    if !s.faults.is_empty() {
        return unsup("injected faults");
    }
    let mut toggles = 0;
    let mut mmap_writer = false;
    for race in &s.races {
        match race {
            Race::FcntlToggleDirect => toggles += 1,
            Race::MmapRedirty => mmap_writer = true,
            _ => return unsup("race after open not split off (super::race)"),
        }
    }
    let bs = 1u64 << w.blkbits;
    let end = [
        w.i_size,
        r.pos.saturating_add(r.len),
        w.i_size.saturating_add(r.len),
        w.blocks.len() as u64 * bs,
        w.pages.len() as u64 * PAGE_SIZE,
        w.cow.len() as u64 * bs,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    if end > LIVE_SPAN {
        return unsup(super::limits::SPAN_REFUSAL);
    }
    let reflink = s.fs == FsKind::Xfs && m.xfs_reflink;
    let any_shared = w.blocks.iter().any(|b| b.shared);
    if any_shared && !reflink {
        return unsup("shared blocks without reflink");
    }
    if !reflink && (!w.cow.is_empty() || w.cowextsize != 0) {
        return unsup("CoW-fork state without XFS reflink (rule W15: no such world)");
    }
    // The CoW fork at rest and the hints that build it (docs/live.md, "The XFS CoW fork").
    let recipe = if reflink {
        Some(super::cow::recipe(s)?)
    } else {
        None
    };
    let seeds: Vec<u64> = recipe.as_ref().map_or(Vec::new(), |r| r.seeds.clone());
    // The reflink inode flag comes with the first clone (shared blocks, or the seeds of unwritten
    // CoW extents, cloned and then rewritten).
    if s.fs == FsKind::Xfs && w.inode.reflink != (any_shared || !seeds.is_empty()) {
        return unsup(if seeds.is_empty() {
            "XFS reflink inode flag not matching shared blocks"
        } else {
            "unwritten CoW extents on an inode without the reflink flag (a software atomic write's leftover: not built)"
        });
    }
    if s.fs == FsKind::Ext4 && w.inode.reflink {
        return unsup("reflink flag on ext4");
    }
    let i_size = w.i_size;
    let mut steps = Vec::new();
    // +j is inherited at creation from the scenario's directory (super::inode_kind::ScenarioDir:
    // a chattr +j on the created file does not take effect on 6.16 - 6.18), checked first.
    if ext4 && f.journal_data {
        steps.push(Step::ExpectInodeFlags(FS_JOURNAL_DATA_FL));
    }
    // On the empty file: -e on a filesystem with extents (ext4_ind_migrate).
    if indirect && m.extents_feature {
        steps.push(Step::SetInodeFlags {
            set: 0,
            clear: FS_EXTENT_FL,
        });
    }
    // (ext4 disksize_lag: to i_disksize; the dirty page over EOF extends it: super::inode_state)
    steps.push(Step::Truncate(super::inode_state::truncate_to(s)));
    super::swap::contiguous_prefix(s, &mut steps);
    let mut need_fsync = false;
    // Written blocks below EOF: OLD data (the part below i_size; truncate zeroes the rest).
    let mut falloc = Vec::new();
    let mut clones = Vec::new();
    for (i, b) in w.blocks.iter().enumerate() {
        let off = i as u64 * bs;
        match b.kind {
            Extent::Hole => {
                if b.shared {
                    return unsup("shared hole");
                }
            }
            Extent::Written => {
                if off >= i_size {
                    return unsup("written block beyond EOF");
                }
                if b.shared || seeds.contains(&(i as u64)) {
                    // (the EOF block cloned up to EOF: super::partial)
                    let seed = seeds.contains(&(i as u64));
                    clones.push(super::partial::clone_range(off, bs, i_size, seed)?);
                } else {
                    steps.push(Step::WriteOld {
                        off,
                        len: bs.min(i_size - off),
                    });
                    need_fsync = true;
                }
            }
            Extent::Unwritten => {
                if b.shared {
                    return unsup("shared unwritten block");
                }
                falloc.push((off, bs));
            }
            Extent::Delalloc => {
                if b.shared {
                    return unsup("shared delalloc block");
                }
                // Must be produced by a dirty page over a hole below EOF.
                let p = (off / PAGE_SIZE) as usize;
                if off >= i_size
                    || !matches!(
                        w.pages.get(p),
                        Some(PageState::Dirty | PageState::MappedDirty)
                    )
                {
                    return unsup("delalloc block without a dirty page below EOF");
                }
            }
        }
    }
    for (off, len) in merge(falloc) {
        steps.push(Step::Fallocate { off, len });
    }
    if need_fsync {
        steps.push(Step::Fsync);
    }
    for (off, len) in merge(clones) {
        steps.push(Step::CloneOld { off, len });
    }
    let mut hint = 0;
    if let Some(r) = recipe.as_ref().filter(|r| !r.seeds.is_empty()) {
        // Unwritten CoW extents: the seeds' buffered rewrite reserves their hint-aligned chunks,
        // writeback allocates them unwritten and remaps only the seeds.
        hint = r.seed_hint * bs;
        steps.push(Step::SetCowExtsize(hint));
        for (off, len) in merge(r.seeds.iter().map(|&b| (b * bs, bs)).collect()) {
            steps.push(Step::WriteOld { off, len });
        }
        steps.push(Step::Fsync);
    }
    steps.push(Step::DropCache);
    if let Some(r) = recipe.as_ref().filter(|r| r.dirty_hint > 0) {
        // Delalloc CoW extents: reserved by the dirty pages' buffered writes to shared blocks.
        hint = r.dirty_hint * bs;
        steps.push(Step::SetCowExtsize(hint));
    }
    let mut held = super::pages::CallPages::default();
    for (p, st) in w.pages.iter().enumerate() {
        let off = p as u64 * PAGE_SIZE;
        match st {
            PageState::None => {}
            PageState::Clean => {
                if off >= i_size {
                    return unsup("clean page beyond EOF");
                }
                steps.push(Step::ReadPage { off });
            }
            PageState::Dirty | PageState::MappedDirty => {
                if off >= i_size {
                    return unsup("dirty page beyond EOF");
                }
                // Every hole block under the written part of the page becomes delalloc; with
                // blocks smaller than a page, holes the write leaves out (super::partial).
                let wend = (off + PAGE_SIZE).min(i_size);
                let runs = super::partial::dirty_ranges(w, p as u64, *st, i_size)?;
                if *st == PageState::MappedDirty {
                    // Stored through a kept mapping right before the call (super::pages).
                    held.mapped.push((off, wend - off));
                } else {
                    for (off, len) in runs {
                        steps.push(Step::WriteDirty { off, len });
                    }
                }
            }
            PageState::Writeback => {
                // Over written blocks, or (session 11) unwritten ones its writeback converts at
                // completion (the default mount; this plan's key is never nodioread_nolock).
                super::pages::rewrite_writeback_page(s, off, i_size, false, &mut steps, &mut held)?;
            }
            // Journalled data only (rule W25): the buffers stay on the transaction.
            PageState::Busy => super::pages::rewrite_page(w, off, i_size, &mut steps)?,
        }
    }
    // Race::MmapRedirty re-dirties cached folios only: with none, the writer stores nothing.
    held.idle_writer = mmap_writer && !w.pages.iter().any(|p| *p != PageState::None);
    if held.held() {
        super::pages::check_held(s, &held, down.is_some())?;
    }
    if mmap_writer && f.append_only {
        return unsup("mmap writer on an append-only inode (do_mmap refuses a shared writable mapping: EACCES)");
    }
    if let Some(r) = &recipe {
        if r.final_hint * bs != hint {
            steps.push(Step::SetCowExtsize(r.final_hint * bs));
        }
    }
    // A swap header (and swapon, after the times), then a setuid bit (IS_NOSEC clear), after
    // every write of the set-up.
    super::swap::add_steps(s, &mut steps);
    super::inode_state::add_steps(s, &mut steps);
    if f.append_only && !f.unlinked {
        // Last: an append-only inode forces every later write of the set-up to EOF.
        steps.push(Step::SetInodeFlags {
            set: FS_APPEND_FL,
            clear: 0,
        });
    }
    let inode_kind = super::inode_kind::InodeKind::of(s);
    super::inline_delalloc::adjust(s, &mut steps);
    super::inode_kind::adjust_steps(inode_kind, i_size, &mut steps);
    let mut call = call_of(s, toggles, w.rlimit_fsize, mmap_writer)?;
    let racy = mmap_writer && !held.idle_writer;
    call.pages = held.clone();
    call.positioned = super::limits::positioned(s);
    if super::limits::appends(s) {
        // (the position does not matter, and lseek cannot go past the limit)
        call.pos = call.pos.min(super::limits::seek_limit(s));
    }
    super::inode_state::adjust_call(s, &mut call);
    Ok(Plan {
        key: FsKey {
            fs: s.fs,
            blkbits: w.blkbits,
            lbs_bits: w.lbs_bits,
            reflink,
            cluster_bits: w.cluster_bits,
            disk: disk.is_some(),
            data_journal: ext4 && m.data_journal,
            no_extents: ext4 && !m.extents_feature,
            nodelalloc: ext4 && f.journal_data && !m.data_journal,
            dioread_lock: false,
            noauto_da_alloc: false,
            inode_kind,
            dax: super::dax::DaxMount::Off,
            own: down.is_some(),
            stable: w.device.stable_writes,
            // On the --device disk the disk's writes are held instead (super::disk_hold).
            layered: held.held() && disk.is_none(),
            nvme: false,
        },
        i_size,
        steps,
        call,
        racy,
        cow: recipe.map(|r| r.target),
        down,
        shift: 0,
    })
    .and_then(|p| super::limits::shift(s, disk, p))
}

/// A block-device scenario (the model's blkdev_write_iter path): the device is made for the
/// scenario with exactly `i_size` bytes (a loop device over an image file, or a partition of the
/// atomic disk added with BLKPG), its blocks hold the OLD pattern where the layout has written
/// blocks and zeroes elsewhere (the model reads holes, unwritten and delalloc blocks of a device as
/// zeroes), and the page cache is set up as for a file.
fn plan_bdev(s: &Scenario, disk: Option<&Disk>) -> Result<Plan, Unsupported> {
    let w = &s.world;
    // RWF_NOWAIT on stable writes: an nvme-tcp namespace with its own atomic units and DMA
    // alignment (super::nvme_stable::check).
    let nvme = super::nvme_stable::wanted(s);
    let lbs_bits = match disk {
        None => {
            if (w.device.awu_min != 0 || w.device.awu_max != 0) && !nvme {
                return unsup("device atomic write units (loop has none)");
            }
            if w.device.dma_alignment != DEFAULT_DMA_ALIGNMENT && !nvme {
                return unsup("DMA alignment other than a loop device's (511)");
            }
            w.lbs_bits
        }
        Some(d) => {
            if (w.device.awu_min, w.device.awu_max) != (d.awu_min, d.awu_max) {
                return unsup("device atomic write units other than the disk's");
            }
            if w.lbs_bits != d.lbs_bits {
                return unsup("logical block size other than the disk's");
            }
            if w.device.dma_alignment != d.dma_alignment {
                return unsup("DMA alignment other than the disk's");
            }
            d.lbs_bits
        }
    };
    // The device's size and block size (super::bdev_geometry: BLKBSZSET where
    // set_init_blocksize does not give the scenario's).
    super::bdev_geometry::check(s, lbs_bits, disk.is_some())?;
    if w.cluster_bits != 0 {
        return unsup("bigalloc on a block device");
    }
    // Only the swap flag (rule W11): an active swap device (super::bdev_state).
    super::bdev_state::check_inode(s)?;
    // RLIMIT_FSIZE and a scaled s_maxbytes are built as they are: blkdev_write_iter calls no
    // generic_write_checks (block/fops.c, 6.12-7.3), and neither it nor the model reads them
    // (docs/live.md, "Refusals audited"). The child sets the limit as for a file.
    if s.request.open.no_largefile {
        // (measured: the ia32 open of a loop device node has O_LARGEFILE)
        return unsup("no O_LARGEFILE on a block device (rule W33: bdev_open sets it)");
    }
    if !s.faults.is_empty() {
        return unsup("injected faults without a fault device (live --fault-device; the lab's bdev-fault, bdev-ublk-fault and bdev-disk-fault groups build them)");
    }
    // The mmap writer, the i_rwsem holder, swapon/swapoff after open (super::bdev_state).
    let races = super::bdev_state::races(s)?;
    let bs = 1u64 << w.blkbits;
    let size = w.i_size;
    // (An empty device, a loop device over an empty file, has nothing to write.)
    let mut steps = Vec::new();
    if size > 0 {
        steps.push(Step::WriteZero { off: 0, len: size });
    }
    for (i, b) in w.blocks.iter().enumerate() {
        let off = i as u64 * bs;
        if b.shared {
            return unsup("shared block on a block device");
        }
        if b.kind == Extent::Written {
            if off >= size {
                return unsup("written block beyond the device end");
            }
            steps.push(Step::WriteOld {
                off,
                len: bs.min(size - off),
            });
        }
    }
    // The bytes the device cannot reach (super::bdev_geometry::edge) go to its backing file.
    super::bdev_geometry::split_tail(w, lbs_bits, &mut steps);
    steps.push(Step::DropCache);
    let mut held = super::pages::CallPages::default();
    for (p, st) in w.pages.iter().enumerate() {
        let off = p as u64 * PAGE_SIZE;
        match st {
            PageState::None => {}
            _ if off >= size => return unsup("cached page beyond the device end"),
            PageState::Clean => steps.push(Step::ReadPage { off }),
            PageState::Dirty => steps.push(Step::WriteDirty {
                off,
                len: PAGE_SIZE.min(size - off),
            }),
            // Held during the call on a layered loop device (super::pages): the page rewritten
            // with what the device holds (super::bdev_geometry::content).
            PageState::Writeback => {
                super::bdev_geometry::content(w, off, PAGE_SIZE, &mut steps);
                held.writeback.push((off, PAGE_SIZE));
            }
            PageState::MappedDirty => {
                steps.push(Step::ReadPage { off });
                held.mapped.push((off, PAGE_SIZE));
            }
            PageState::Busy => return unsup(super::pages::BUSY_BDEV),
        }
    }
    if held.held() {
        super::pages::check_held(s, &held, false)?;
    }
    super::bdev_state::check_stable(s, disk.is_some(), held.held())?;
    super::bdev_state::swap_steps(s, &mut steps);
    held.idle_writer = races.mmap_writer && !w.pages.iter().any(|p| *p != PageState::None);
    let mut call = call_of(s, races.toggles, w.rlimit_fsize, races.mmap_writer)?;
    call.pages = held.clone();
    call.positioned = super::limits::positioned(s);
    if super::limits::appends(s) {
        // (the position does not matter, and lseek cannot go past the limit)
        call.pos = call.pos.min(super::limits::seek_limit(s));
    }
    call.after_open.lock_holder = super::bdev_state::holder_built(s, &races);
    // No lseek while the holder keeps i_rwsem (blkdev_llseek takes it): a positioned call.
    call.positioned |= call.after_open.lock_holder;
    call.after_open.swap = races.swap;
    call.after_open.resume = races.swap.is_some() && super::hibernate::enabled();
    Ok(Plan {
        key: FsKey {
            fs: FsKind::Bdev,
            blkbits: w.blkbits,
            lbs_bits,
            reflink: false,
            cluster_bits: 0,
            disk: disk.is_some(),
            data_journal: false,
            no_extents: false,
            nodelalloc: false,
            dioread_lock: false,
            noauto_da_alloc: false,
            inode_kind: Default::default(),
            dax: super::dax::DaxMount::Off,
            own: false,
            // A zram device (super::bdev_state).
            stable: w.device.stable_writes,
            // On the --device disk the disk's writes are held instead (super::disk_hold).
            layered: held.held() && disk.is_none(),
            nvme,
        },
        i_size: size,
        steps,
        call,
        racy: races.mmap_writer && !held.idle_writer,
        cow: None,
        down: None,
        shift: 0,
    })
}

/// The measured call of `s`: its flags, position and user buffer ([`segments`]); `toggles`
/// fcntl O_DIRECT toggles, the RLIMIT_FSIZE and mmap writer the plan keeps.
fn call_of(
    s: &Scenario,
    toggles: u32,
    rlimit_fsize: Option<u64>,
    mmap_writer: bool,
) -> Result<Call, Unsupported> {
    let r = &s.request;
    let (segs, buf_offset) = segments(s)?;
    let seg_at = super::segs::scatter_at(s).unwrap_or_default();
    if rlimit_fsize.is_some_and(|l| l % SECTOR != 0) {
        return unsup("RLIMIT_FSIZE not a multiple of 512");
    }
    Ok(Call {
        direct: r.open.direct,
        append: r.open.append,
        dsync: r.open.dsync,
        sync: r.open.sync,
        fcntl_toggle: toggles % 2 == 1,
        read: r.read,
        rwf: r.rwf.bits(),
        pos: r.pos,
        len: r.len,
        segs,
        buf_offset,
        seg_at,
        fault_at: r.fault_at,
        rlimit_fsize,
        mmap_writer,
        aio: r.aio,
        after_open: Default::default(),
        unlink: s.world.inode.unlinked,
        no_largefile: r.open.no_largefile,
        pages: Default::default(),
        positioned: false,
    })
}

/// The iovec segment lengths (the model splits evenly, the last takes the rest) and the buffer's
/// offset from a page boundary.
fn segments(s: &Scenario) -> Result<(Vec<u64>, u64), Unsupported> {
    let r = &s.request;
    if let Some(sc) = r.scatter {
        // super::segs lays them out; the PROT_NONE page is the one holding fault_at.
        let n = sc.segs.max(1) as u64;
        return Ok(((0..n).map(|i| sc.seg_len(r.len, i)).collect(), 0));
    }
    let n = r.nr_segs.max(1) as u64;
    // (A zero-length request: n empty segments, import_iovec accepts them. More segments than
    // bytes: the first n - 1 are empty, as the model splits; docs/live.md, "Refusals audited".)
    let seg = r.len / n;
    let mut segs = vec![seg; n as usize];
    if let Some(last) = segs.last_mut() {
        *last = r.len - seg * (n - 1);
    }
    let buf_offset = if r.buf_align >= 4096 {
        0
    } else {
        r.buf_align as u64
    };
    // A fault_at inside a page: the buffer is unmapped from the start of the page holding that
    // byte (super::limits::fault_page), as the model's IovIter::faultable has it.
    Ok((segs, buf_offset))
}

/// Merge adjacent (off, len) ranges.
fn merge(v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (o, l) in v {
        match out.last_mut() {
            Some(last) if last.0 + last.1 == o => last.1 += l,
            _ => out.push((o, l)),
        }
    }
    out
}

/// Free space of every scratch filesystem is filled with this byte before use (a file written
/// and deleted), so a block handed out without being zeroed reads as TAG_STALE.
pub const STALE_BYTE: u8 = 0x55;

/// The fill byte of a tag's pattern.
pub fn tag_byte(tag: u32) -> u8 {
    match tag {
        TAG_OLD => 0x11,
        TAG_OLD_DIRTY => 0x22,
        TAG_NEW => 0x33,
        _ => 0x44,
    }
}

/// Fill `buf` (which starts at file offset `off`) with `tag`'s pattern: every sector starts with
/// the tag byte, "DFZ", the sector number (little endian, 8 bytes) and the scenario nonce (4
/// bytes), then the tag byte again. The first
/// byte alone tells the tag, so a one-byte tail at EOF still classifies.
pub fn pattern(tag: u32, off: u64, buf: &mut [u8]) {
    let tb = tag_byte(tag);
    let nonce = NONCE.with(|n| n.get()).to_le_bytes();
    for (i, b) in buf.iter_mut().enumerate() {
        let pos = off + i as u64;
        let s = pos / SECTOR;
        let k = (pos % SECTOR) as usize;
        *b = match k {
            1 => b'D',
            2 => b'F',
            3 => b'Z',
            4..=11 => s.to_le_bytes()[k - 4],
            12..=15 => nonce[k - 12],
            _ => tb,
        };
    }
}

thread_local! {
    /// The current scenario's nonce, part of every pattern: data another scenario's file left
    /// in a block (freed and handed out again) then classifies as "other", not as this file's.
    static NONCE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Set the pattern nonce for this thread (the executor does, once per scenario).
pub fn set_nonce(n: u32) {
    NONCE.with(|c| c.set(n));
}

/// This thread's pattern nonce.
pub fn nonce() -> u32 {
    NONCE.with(|c| c.get())
}

/// Classify the bytes of sector `sector` that were read (a prefix of the sector when the file
/// ends inside it): TAG_ZERO, TAG_OLD, TAG_OLD_DIRTY, TAG_NEW, or TAG_OTHER.
pub fn classify(sector: u64, bytes: &[u8]) -> u32 {
    if bytes.iter().all(|&b| b == 0) {
        return TAG_ZERO;
    }
    if bytes.iter().all(|&b| b == STALE_BYTE) {
        return diofuzz::model::TAG_STALE;
    }
    let mut want = vec![0u8; bytes.len()];
    for tag in [TAG_OLD, TAG_OLD_DIRTY, TAG_NEW] {
        pattern(tag, sector * SECTOR, &mut want);
        if want == bytes {
            return tag;
        }
    }
    TAG_OTHER
}

/// Classify a whole file content (from offset 0) into per-sector tags. `old_eof`: the size
/// before the call; a sector it cuts is classified by the part below it when the part above is
/// zero (what the kernel leaves past an old EOF), as the model tags whole sectors.
pub fn classify_file(data: &[u8], old_eof: Option<u64>) -> Vec<u32> {
    classify_file_at(data, old_eof, 0)
}

/// [`classify_file`] of file content read from byte `base` (a multiple of 512: a shifted plan's
/// window), its patterns those of the real offsets; `old_eof` counts from `base`.
pub fn classify_file_at(data: &[u8], old_eof: Option<u64>, base: u64) -> Vec<u32> {
    let first = base / SECTOR;
    data.chunks(SECTOR as usize)
        .enumerate()
        .map(|(i, c)| {
            let lo = i as u64 * SECTOR;
            if let Some(e) = old_eof {
                if lo < e && e < lo + c.len() as u64 {
                    let cut = (e - lo) as usize;
                    if c[cut..].iter().all(|&b| b == 0) {
                        return classify(first + i as u64, &c[..cut]);
                    }
                }
            }
            classify(first + i as u64, c)
        })
        .collect()
}

/// Number of syscalls the plan issues (set-up, call and observation), for the throughput figure.
pub fn syscall_count(p: &Plan) -> u64 {
    let setup: u64 = p
        .steps
        .iter()
        .map(|s| match s {
            Step::CloneOld { .. } => 6,
            _ => 1,
        })
        .sum();
    // open x3, fcntl, lseek x2, pwritev2, statx x2, reads, close x3, unlink
    setup + 14 + p.call.fault_at.is_some() as u64 * 2 + p.call.rlimit_fsize.is_some() as u64 * 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use diofuzz::generators::random::generate;
    use diofuzz::scenario::{BlockState, Rwf};

    /// The generator gives XFS scenarios CoW forks of both kinds and hints, all buildable.
    #[test]
    fn generated_cow_forks() {
        use diofuzz::scenario::CowExtent;
        let (mut d, mut u, mut hint, mut seeded) = (0, 0, 0, 0);
        for i in 0..2000 {
            let s = generate(7, i, FsKind::Xfs);
            let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
            d += s.world.cow.contains(&CowExtent::Delalloc) as u32;
            u += s.world.cow.contains(&CowExtent::Unwritten) as u32;
            hint += (s.world.cowextsize != 0) as u32;
            seeded += p
                .steps
                .iter()
                .any(|st| matches!(st, Step::SetCowExtsize(_))) as u32;
            assert!(diofuzz::validity::violations(&s).is_empty(), "{i}");
        }
        assert!(d > 100 && u > 100 && hint > 100, "{d} {u} {hint}");
        assert!(seeded >= d.max(u), "{seeded}");
        // ext4 scenarios have none.
        assert!((0..500).all(|i| generate(7, i, FsKind::Ext4).world.cow.is_empty()));
    }

    /// Mount options and inode flags: the generator makes each, the plan sets each up with the
    /// step that makes it, and refuses the ones no scratch filesystem can have, saying why.
    #[test]
    fn mount_options_and_inode_flags() {
        let (mut dj, mut j, mut ind, mut noext, mut app, mut aio) = (0, 0, 0, 0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..3000 {
                let s = generate(7, i, fs);
                let p = plan(&s).unwrap_or_else(|e| panic!("{i}: {e}"));
                let w = &s.world;
                assert_eq!(p.key.data_journal, w.mount.data_journal);
                assert_eq!(p.key.no_extents, !w.mount.extents_feature);
                let flags = |bit| {
                    p.steps.iter().any(|st| {
                        matches!(st, Step::SetInodeFlags { set, clear } if (set | clear) & bit != 0)
                    })
                };
                // The set-up builds the inode as it was at open; flags changed after open are
                // chattr'd through the open file (super::race).
                let o = s.inode_at_open();
                // +j at open: inherited from the directory and checked, never chattr'd.
                assert!(!flags(FS_JOURNAL_DATA_FL), "{i}");
                assert_eq!(
                    p.steps
                        .contains(&Step::ExpectInodeFlags(FS_JOURNAL_DATA_FL)),
                    o.journal_data && fs == FsKind::Ext4,
                    "{i}"
                );
                assert_eq!(
                    super::super::inode_kind::journalled_at_create(&p),
                    o.journal_data
                );
                // (Session 11: the lag held on the default mount gets -o noauto_da_alloc.)
                assert_eq!(
                    p.key.mount_data().is_some(),
                    w.mount.data_journal || w.inode.journal_data || p.key.noauto_da_alloc
                );
                assert_eq!(
                    flags(FS_EXTENT_FL),
                    !o.extents && !o.inline_data && w.mount.extents_feature
                );
                // +j after open runs on a verity filesystem (small folios: super::race).
                let jrace = !o.journal_data && w.inode.journal_data && !w.mount.data_journal;
                // The filesystem is made for the inode at open (an inline one converted after
                // open: super::settle_race).
                let kind = super::super::inode_kind::InodeKind::of(&Scenario {
                    world: diofuzz::scenario::World {
                        inode: o,
                        ..w.clone()
                    },
                    ..s.clone()
                });
                assert_eq!(
                    p.key.inode_kind,
                    match kind {
                        super::super::inode_kind::InodeKind::Plain if jrace => {
                            super::super::inode_kind::InodeKind::SmallFolios
                        }
                        k => k,
                    }
                );
                // An unlinked append-only inode gets +a after the unlink (inode_state).
                let at_rest = o.append_only && !w.inode.unlinked;
                assert_eq!(flags(FS_APPEND_FL), at_rest);
                if at_rest {
                    assert!(after_times(p.steps.last().unwrap()));
                }
                let a = &p.call.after_open;
                for (bit, at_open, now) in [
                    (FS_JOURNAL_DATA_FL, o.journal_data, w.inode.journal_data),
                    (FS_EXTENT_FL, o.extents, w.inode.extents),
                    (FS_APPEND_FL, o.append_only, w.inode.append_only),
                    (
                        super::super::race::FS_IMMUTABLE_FL,
                        o.immutable,
                        w.inode.immutable,
                    ),
                ] {
                    // +a after the unlink of an append-only inode (inode_state::adjust_call).
                    let moved = bit == FS_APPEND_FL && w.inode.unlinked && now && !flags(bit);
                    // An inline conversion sets EXTENTS itself; a block-mapped inode after it is
                    // chattr -e (super::settle_race).
                    let converted =
                        match &a.settle {
                            Some(super::super::settle_race::Settle::ConvertInline {
                                ops, ..
                            }) if bit == FS_EXTENT_FL => Some(ops),
                            _ => None,
                        };
                    let want = if let Some(ops) = converted {
                        super::super::settle_race::clears_extents_late(&s, ops)
                    } else {
                        at_open != now || moved
                    };
                    assert_eq!((a.set | a.clear) & bit != 0, want, "{i}");
                }
                assert_eq!(p.call.aio, s.request.aio);
                dj += w.mount.data_journal as u32;
                j += w.inode.journal_data as u32;
                ind += !w.inode.extents as u32;
                noext += !w.mount.extents_feature as u32;
                app += w.inode.append_only as u32;
                aio += s.request.aio as u32;
            }
        }
        assert!(
            dj > 50 && j > 50 && ind > 50 && noext > 20 && app > 20 && aio > 300,
            "{dj} {j} {ind} {noext} {app} {aio}"
        );
        // What no scratch filesystem has, refused with the reason.
        let refuse = |f: &dyn Fn(&mut Scenario), why: &str| {
            let mut s = Scenario::default();
            f(&mut s);
            let e = plan(&s).unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refuse(&|s| s.world.mount.dax = true, "DAX-capable device");
        refuse(&|s| s.world.mount.inline_crypt = true, "fscrypt");
        refuse(
            &|s| {
                s.fs = FsKind::Xfs;
                s.world.mount.xfs_always_cow = true
            },
            "CONFIG_XFS_DEBUG",
        );
        refuse(&|s| s.world.inode.immutable = true, "EPERM");
        refuse(&|s| s.world.inode.append_only = true, "without O_APPEND");
        refuse(
            &|s| {
                s.world.inode.append_only = true;
                s.request.open.append = true;
                s.world.i_size = 4096;
                s.world.blocks = vec![BlockState {
                    kind: Extent::Written,
                    ..Default::default()
                }];
                s.world.pages = vec![PageState::Clean];
                s.races = vec![Race::MmapRedirty];
            },
            "EACCES",
        );
        refuse(
            &|s| {
                s.world.inode.extents = false;
                s.world.i_size = 4096;
                s.world.blocks = vec![BlockState {
                    kind: Extent::Unwritten,
                    ..Default::default()
                }];
            },
            "block-mapped",
        );
        refuse(
            &|s| {
                s.world.mount.data_journal = true;
                s.world.i_size = 4096;
                s.world.blocks = vec![BlockState {
                    kind: Extent::Delalloc,
                    ..Default::default()
                }];
                s.world.pages = vec![PageState::Dirty];
            },
            "journalled-data",
        );
    }

    /// Every scenario the random generator makes is expressible on a real kernel.
    #[test]
    fn generated_scenarios_are_expressible() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..2000 {
                let a = generate(7, i, fs);
                if let Err(e) = plan(&a) {
                    panic!("scenario {i} ({fs:?}) not expressible: {e}\n{a:?}");
                }
            }
        }
    }

    /// Every scenario generated for an atomic disk is expressible on that disk, and not on a loop.
    #[test]
    fn disk_scenarios_are_expressible_on_the_disk() {
        let d = Disk {
            awu_min: 1024,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 7,
        };
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..500 {
                let s = diofuzz::generators::random::generate_on(3, i, fs, Some(&d), 2);
                let p = plan_on(&s, Some(&d)).unwrap_or_else(|e| panic!("{i} {fs:?}: {e}"));
                assert!(p.key.disk);
                assert_eq!(p.key.cluster_bits, if fs == FsKind::Ext4 { 2 } else { 0 });
                assert!(plan(&s).is_err(), "a loop device cannot express it");
                assert_eq!(s.world.device.dma_alignment, 7, "the disk's DMA alignment");
                // Another DMA alignment is not the disk's.
                let mut t = s.clone();
                t.world.device.dma_alignment = diofuzz::scenario::DEFAULT_DMA_ALIGNMENT;
                assert_eq!(
                    plan_on(&t, Some(&d)).unwrap_err(),
                    "DMA alignment other than the disk's"
                );
            }
        }
        // A loop device has the default DMA alignment only.
        let mut s = generate(7, 1, FsKind::Xfs);
        assert!(plan(&s).is_ok());
        s.world.device.dma_alignment = 7;
        assert_eq!(
            plan(&s).unwrap_err(),
            "DMA alignment other than a loop device's (511)"
        );
    }

    /// Block-device scenarios: expressible on a loop device or the disk (a device of their own),
    /// refused by `plan` (the file set-up of the reproducer), set up by zeroing the device.
    #[test]
    fn bdev_scenarios_get_a_device_of_their_own() {
        let d = Disk {
            awu_min: 1024,
            awu_max: 65536,
            lbs_bits: 9,
            dma_alignment: 7,
        };
        for i in 0..500 {
            for disk in [None, Some(&d)] {
                let s = diofuzz::generators::random::generate_on(9, i, FsKind::Bdev, disk, 0);
                let p = plan_on(&s, disk).unwrap_or_else(|e| panic!("{i}: {e}"));
                assert_eq!(p.key.fs, FsKind::Bdev);
                assert_eq!(p.key.disk, disk.is_some());
                assert_eq!(p.i_size, s.world.i_size);
                // (An empty device has nothing to zero: super::bdev_geometry.)
                let first = if s.world.i_size == 0 {
                    Step::DropCache
                } else {
                    Step::WriteZero {
                        off: 0,
                        // A tail device: the device up to its edge (the rest through the
                        // backing file, super::bdev_geometry::split_tail).
                        len: super::super::bdev_geometry::edge(
                            s.world.i_size,
                            s.world.lbs_bits,
                            s.world.blkbits,
                        )
                        .unwrap_or(s.world.i_size),
                    }
                };
                assert_eq!(p.steps[0], first);
                // (A page under writeback is rewritten after the DropCache: super::pages.)
                let old = p
                    .steps
                    .iter()
                    .take_while(|st| **st != Step::DropCache)
                    .filter(|st| {
                        matches!(
                            st,
                            Step::WriteOld { .. } | Step::WriteBacking { old: true, .. }
                        )
                    })
                    .count();
                let written = s
                    .world
                    .blocks
                    .iter()
                    .filter(|b| b.kind == Extent::Written)
                    .count();
                assert_eq!(old, written);
                assert!(plan(&s).unwrap_err().contains("raw block device"));
                // A loop scenario does not fit the disk and the reverse.
                let other = if disk.is_some() { None } else { Some(&d) };
                assert!(plan_on(&s, other).is_err());
            }
        }
        // Sizes a device made here cannot have.
        let mut s = diofuzz::generators::random::generate_on(9, 0, FsKind::Bdev, None, 0);
        s.world.i_size = 5000;
        assert!(plan_on(&s, None).is_err());
        // An empty one (a loop device over an empty file) is built.
        s.world.i_size = 0;
        s.world.blocks.clear();
        s.world.pages.clear();
        assert!(plan_on(&s, None).is_ok());
    }

    /// A block device's buffered write is seen as iomap_iter from iomap_file_buffered_write
    /// (the ops pointer is an address on kernels without data symbols); zeroing and direct
    /// iterations are not.
    #[test]
    fn bdev_buffered_write_event() {
        use super::super::exec::is_bdev_buffered_write;
        use super::super::tracefs::parse_line;
        let l = "              dd-9092    [000] ..... 10982.014465: iomap_iter: dev 0:3 ino 0x700000 pos 0x1000 length 0x1000 status 0 flags WRITE (0x1) ops 0xffffffff82488680 caller iomap_file_buffered_write+0xa8/0x440";
        let e = parse_line(l).unwrap();
        assert!(is_bdev_buffered_write(&e));
        let d = parse_line(&l.replace("flags WRITE (0x1)", "flags WRITE|DIRECT (0x11)")).unwrap();
        assert!(!is_bdev_buffered_write(&d));
        let z = parse_line(&l.replace(
            "iomap_file_buffered_write+0xa8/0x440",
            "iomap_zero_range+0x5c/0x1a0",
        ))
        .unwrap();
        assert!(!is_bdev_buffered_write(&z));
    }

    #[test]
    fn pattern_roundtrip() {
        let mut b = vec![0u8; 2048];
        pattern(TAG_NEW, 4096, &mut b);
        let tags = (0..4)
            .map(|i| classify(8 + i, &b[i as usize * 512..(i as usize + 1) * 512]))
            .collect::<Vec<_>>();
        assert_eq!(tags, vec![TAG_NEW; 4]);
        // At the wrong offset it is not NEW.
        assert_eq!(classify(9, &b[..512]), TAG_OTHER);
        assert_eq!(classify(3, &[0u8; 100]), TAG_ZERO);
        assert_eq!(classify(3, &[STALE_BYTE; 512]), diofuzz::model::TAG_STALE);
        // A prefix of a sector classifies.
        assert_eq!(classify(8, &b[..7]), TAG_NEW);
        // One byte tells the tag.
        assert_eq!(classify(8, &b[..1]), TAG_NEW);
        // A sector cut by the old EOF: data below, zeroes above.
        let mut f = vec![0u8; 1024];
        pattern(TAG_OLD_DIRTY, 0, &mut f[..513]);
        assert_eq!(
            classify_file(&f, Some(513)),
            vec![TAG_OLD_DIRTY, TAG_OLD_DIRTY]
        );
        assert_eq!(classify_file(&f, None), vec![TAG_OLD_DIRTY, TAG_OTHER]);
        // Another scenario's data (another nonce) is "other".
        set_nonce(7);
        let mut g = vec![0u8; 512];
        pattern(TAG_OLD, 0, &mut g);
        set_nonce(8);
        assert_eq!(classify(0, &g), TAG_OTHER);
        set_nonce(7);
        assert_eq!(classify(0, &g), TAG_OLD);
        set_nonce(0);
    }

    #[test]
    fn default_scenario_maps() {
        let s = Scenario::default();
        let p = plan(&s).unwrap();
        assert_eq!(p.steps, vec![Step::Truncate(0), Step::DropCache]);
        assert!(p.call.direct);
        assert_eq!(p.call.segs, vec![4096]);
    }

    #[test]
    fn layout_maps_to_steps() {
        let mut s = Scenario::default();
        s.world.i_size = 3 * 4096;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Unwritten,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Unwritten,
                ..Default::default()
            },
            BlockState {
                kind: Extent::Delalloc,
                ..Default::default()
            },
        ];
        s.world.pages = vec![
            PageState::Clean,
            PageState::None,
            PageState::None,
            PageState::Dirty,
        ];
        // Delalloc needs the dirty page below EOF.
        assert!(plan(&s).is_err());
        s.world.i_size = 4 * 4096;
        s.request.rwf = Rwf {
            atomic: true,
            ..Default::default()
        };
        s.request.nr_segs = 3;
        let p = plan(&s).unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Truncate(16384),
                Step::WriteOld { off: 0, len: 4096 },
                Step::Fallocate {
                    off: 4096,
                    len: 8192
                },
                Step::Fsync,
                Step::DropCache,
                Step::ReadPage { off: 0 },
                Step::WriteDirty {
                    off: 12288,
                    len: 4096
                },
            ]
        );
        assert_eq!(p.call.rwf, diofuzz::scenario::RWF_ATOMIC);
        assert_eq!(p.call.segs, vec![1365, 1365, 1366]);
    }

    #[test]
    fn inexpressible_is_refused() {
        // No O_LARGEFILE is expressible: the ia32 open (super::limits).
        let mut s = Scenario::default();
        s.request.open.no_largefile = true;
        assert!(plan(&s).unwrap().call.no_largefile);
        // aio is expressible: io_submit.
        let mut s = Scenario::default();
        s.request.aio = true;
        assert!(plan(&s).unwrap().call.aio);
        let s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        assert!(plan(&s).is_err());
        let mut s = Scenario::default();
        s.world.blocks = vec![BlockState {
            kind: Extent::Written,
            ..Default::default()
        }];
        assert_eq!(plan(&s).unwrap_err(), "written block beyond EOF");
    }
}
