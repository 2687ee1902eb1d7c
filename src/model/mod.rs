// SPDX-License-Identifier: GPL-2.0-only
//! The execution context shared by every modelled kernel function: the world (inode, block map,
//! disk and page-cache contents), the variant's switches, the fault plan, and the trace.
//!
//! Data is tracked per 512-byte sector as a tag: [`TAG_ZERO`] (zeroes), [`TAG_OLD`] (what the file
//! held before), [`TAG_OLD_DIRTY`] (newer data in a dirty page), [`TAG_STALE`] (garbage in a freshly
//! allocated block) and [`TAG_NEW`] (the request's data). Blocks are the filesystem's, pages are 4 KiB.

pub mod trace;

use crate::scenario::{Extent, FsKind, PageState, Race, Scenario, Site, PAGE_SIZE, SECTOR};
use crate::variant::Variant;
pub use trace::{Ev, Trace};

pub const TAG_ZERO: u32 = 0;
pub const TAG_OLD: u32 = 1;
pub const TAG_OLD_DIRTY: u32 = 2;
pub const TAG_NEW: u32 = 3;
pub const TAG_STALE: u32 = 4;
/// Data of the request at the wrong place (a torn or shifted sector): what a bio-based driver
/// writes for a bio whose segments are not whole sectors (kernel::drivers::nvdimm::pmem). The
/// same number as live's "other (torn/misplaced)" read-back tag.
pub const TAG_MISPLACED: u32 = 5;

// IOCB_* live with struct kiocb in the include/linux/fs.h mirror; re-exported for the model.
pub use crate::kernel::include::linux::fs::{
    IOCB_APPEND, IOCB_ATOMIC, IOCB_DIRECT, IOCB_DONTCACHE, IOCB_DSYNC, IOCB_HIPRI, IOCB_NOWAIT,
    IOCB_SYNC, IOCB_WRITE,
};

/// One filesystem block of the file's block map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blk {
    pub kind: Extent,
    /// Physical extent number: blocks are physically contiguous iff they have the same number
    /// and are logically adjacent.
    pub extent: u32,
    pub shared: bool,
    /// The block does not follow the previous one physically (a bigalloc cluster is contiguous
    /// within itself; this marks a jump).
    pub phys_break: bool,
}

impl Blk {
    pub const HOLE: Blk = Blk {
        kind: Extent::Hole,
        extent: 0,
        shared: false,
        phys_break: false,
    };
    /// A freshly allocated block of extent `extent`.
    pub fn new(kind: Extent, extent: u32) -> Blk {
        Blk {
            kind,
            extent,
            shared: false,
            phys_break: false,
        }
    }
}

/// The inode: size, flags, block map.
#[derive(Clone, Debug)]
pub struct Inode {
    pub i_size: u64,
    pub i_disksize: u64,
    pub flags: crate::scenario::InodeFlags,
    pub blocks: Vec<Blk>,
    pub orphan: bool,
}

/// What a reader sees: per sector, from the page cache if cached, else from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileImage {
    pub i_size: u64,
    /// What read() returns now (page cache over disk).
    pub cached: Vec<u32>,
    /// What read() returns after the caches are dropped (written blocks' disk content, else zero).
    pub on_disk: Vec<u32>,
}

/// A bio the model submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bio {
    pub pos: u64,
    pub len: u64,
    pub atomic: bool,
    /// A zeroing bio (iomap_dio_zero), not user data.
    pub zero: bool,
    /// 0, or the -errno it completed with.
    pub status: i64,
}

/// When a bio's completion status reaches its submitter's `dio->error` (fs/iomap/direct-io.c).
/// Both are real: __iomap_dio_rw() submits inside blk_start_plug()/blk_finish_plug()
/// (block/blk-core.c), so a request is dispatched to the driver only when the plug is flushed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BioCompletion {
    /// A bio completes when it is submitted: the next iomap_dio_bio_iter() loop iteration sees
    /// a failed bio in `dio->error` and stops (the adversarial order; the plug was flushed early
    /// because the submitter slept: schedule() -> sched_submit_work() -> blk_flush_plug()). What
    /// the fuzzers, `check` and every committed output use.
    #[default]
    Immediate,
    /// The plug holds the requests: a device completion error (the `bio_endio` fault) becomes
    /// `dio->error` only when the plug is flushed — at blk_finish_plug() after __iomap_dio_rw()'s
    /// iomap_iter() loop, or when blk_add_rq_to_plug() (block/blk-mq.c) finds
    /// BLK_MAX_REQUEST_COUNT (32) requests already plugged. Errors the block layer gives at
    /// submission (bio_split_io_at, blk_validate_atomic_write_op_size) stay immediate. What a run
    /// whose submitter does not sleep realises (the lab's fault groups).
    Plugged,
    /// As `Plugged`, and the dispatched requests complete asynchronously, after the submission:
    /// __iomap_dio_rw() records its own loop error (iomap_dio_set_error after blk_finish_plug,
    /// e.g. -EFAULT from bio_iov_iter_get_pages) before any device completion error arrives
    /// (the first error wins). What a device completed by another task realises when the
    /// submitter does not sleep before it waits for the DIO: the lab's ublk fault device (its
    /// server thread usually runs only when the submitter waits, on the one-CPU guest; when its
    /// wakeup preempts the submitter the order is `Plugged`). Measured on 7.3.4: the kernel
    /// returned -EFAULT where `Plugged` says the bio's errno.
    Deferred,
}

/// Runtime options of one model execution (not part of the scenario or the variant).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelOpts {
    pub completion: BioCompletion,
    /// Where the allocator put the scenario's blocks, when a real run measured it (None: the
    /// model's assumption, each extent at the disk block of its file block).
    pub placement: Option<Placement>,
    /// A swap device (`inode.swapfile` on a block device) is the hibernation resume device:
    /// `is_hibernate_resume_dev` (kernel/power/user.c, 6.12.117 - 7.3.4) is true for the device
    /// a uswsusp tool gave /dev/snapshot with SNAPSHOT_SET_SWAP_AREA while it keeps it open, and
    /// `blkdev_write_iter` then writes to it instead of giving -ETXTBSY. Not a scenario field
    /// (the input format is closed to this change): live's `--hibernate-resume` sets it for the
    /// worlds it builds so (tools/src/live/hibernate.rs).
    pub hibernate_resume: bool,
    /// The block device's queue `virt_boundary_mask` (0: none, as on loop, zram, scsi_debug and
    /// null_blk): a bio whose bvecs gap at it must be split (`bvec_gap_to_prev`,
    /// block/blk-merge.c), and `bio_split_rw_at` (6.12; `bio_split_io_at` 6.18+) fails a
    /// REQ_NOWAIT bio that needs a split with -EAGAIN. An nvme-tcp namespace has
    /// `NVME_CTRL_PAGE_SIZE - 1` up to 6.18 (`nvme_set_ctrl_limits`, 6.12) and 0 from 7.2 (the
    /// fabrics controllers' `nvmf_get_virt_boundary`, 7.3.4; measured: 4095 on 6.12.117 to
    /// 6.18.15, 0 on 7.2.12 and 7.3.4). Not a scenario field (the input format is closed to this
    /// change): live sets it from the device it made (tools/src/live/nvme_stable.rs).
    pub virt_boundary_mask: u64,
}

/// The physical (disk) block of each file block of the world at rest, as live reads it with
/// FIEMAP after the set-up: up to [`Placement::MAX_EXTENTS`] extents of (first file block, first
/// disk block, blocks), a block in none of them unknown (a hole, a delayed block, an
/// unwritten-past-EOF block FIEMAP did not report). Extents, not a block table: the fault
/// groups' worlds have more blocks than the input format's 32 (their request's blocks are
/// allocated before the call, `generators::fault::allocate_request_range`), and a table of the
/// format's size left their atomic writes past block 31 at the model's assumption (session 10).
/// Only extents of the world at rest read it: the allocator's choice for blocks the call
/// allocates is not known before the call, and the model keeps its assumption for them. Read by
/// `xfs_bmap_hw_atomic_write_possible` (src/kernel/fs/xfs/xfs_iomap.rs), the one place where
/// the kernel reads a physical block on the paths modelled (docs/lab.md "Class C").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// (first file block, first disk block, blocks); slots of 0 blocks are unused.
    pub extents: [(u64, u64, u64); Placement::MAX_EXTENTS],
}

impl Placement {
    /// More extents than the world's blocks could have after FIEMAP joins its neighbours.
    pub const MAX_EXTENTS: usize = 64;

    /// No block placed.
    pub fn unknown() -> Placement {
        Placement {
            extents: [(0, 0, 0); Self::MAX_EXTENTS],
        }
    }

    /// Place `count` file blocks from `file` at the disk blocks from `disk`. False (nothing
    /// placed) when every slot is taken: those blocks stay unknown.
    pub fn place(&mut self, file: u64, disk: u64, count: u64) -> bool {
        match self.extents.iter_mut().find(|e| e.2 == 0) {
            Some(e) if count > 0 => {
                *e = (file, disk, count);
                true
            }
            _ => false,
        }
    }

    /// The disk block of file block `b`, if measured.
    pub fn of(&self, b: u64) -> Option<u64> {
        self.extents
            .iter()
            .find(|&&(f, _, n)| f <= b && b < f + n)
            .map(|&(f, d, _)| d + (b - f))
    }
}

/// Fault-plan cursor and the whole mutable state of one execution.
pub struct Cx<'a> {
    pub v: &'static Variant,
    /// Runtime options (default: the adversarial completion order).
    pub opts: ModelOpts,
    pub s: &'a Scenario,
    pub fs: FsKind,
    pub bs: u64,
    pub blkbits: u32,
    pub lbs: u64,
    /// bdev_dma_alignment(): the queue's dma_alignment mask (world.device.dma_alignment; 511 on
    /// loop, 3 on the lab's scsi_debug disk), which user memory of a direct I/O must clear.
    pub dma_align: u64,
    pub inode: Inode,
    /// Device content per sector (meaningful for allocated blocks).
    pub disk: Vec<u32>,
    /// XFS CoW staging content per sector (made visible by a remap at end_io).
    pub cow: Vec<u32>,
    /// XFS CoW fork per fs block: Hole = no CoW extent, Delalloc = a reservation, Unwritten = a
    /// preallocated staging extent, Written = staging blocks a write is in progress on.
    pub cow_kind: Vec<Extent>,
    /// CoW mappings handed to iomap that the CoW fork does not back with written blocks: O10.
    pub cow_errors: Vec<&'static str>,
    pub pages: Vec<PageState>,
    /// Hole blocks (by logical block) whose buffers are dirty under a dirty page: written back
    /// (allocated) by [`crate::kernel::mm::filemap`]'s writeback. Any other hole block under a
    /// dirty page is clean (ext4 dirty buffers, iomap per-block dirty state): writeback skips it
    /// and it stays a hole ([`partial_dirty_holes`]).
    pub dirty_holes: Vec<bool>,
    /// Page-cache content per sector (meaningful where the page is cached).
    pub cache: Vec<u32>,
    pub trace: Trace,
    site_calls: [u8; 32],
    pub bios: Vec<Bio>,
    pub warns: Vec<&'static str>,
    /// Bytes copied through a non-DIO data path (buffered write, DAX copy).
    pub buffered_bytes: u64,
    pub buffered_calls: u32,
    pub dax_calls: u32,
    /// Atomic remaps (XFS software atomic writes) that made data visible in one step.
    pub atomic_remaps: u32,
    /// The first error the DIO path itself produced that was replaced before it reached the
    /// DIO's caller (by ->iomap_end's -ENOTBLK in iomap_iter, or by the tail zeroing's 0): O8.
    pub dio_error_masked: Option<i64>,
    /// User pages pinned by bio_iov_iter_get_pages and not yet released (bio_release_pages).
    pub pinned_pages: u64,
    /// Page-pin accounting errors (a release of pages that were not pinned): O9.
    pub pin_errors: Vec<&'static str>,
    pub dio_done_wq: bool,
    /// The last physical extent id handed out (new_extent_id); allocations get fresh ids so a
    /// physical break between blocks stays visible.
    pub next_extent: u32,
    /// The last extent number of the world at rest (the call's new extents are numbered above
    /// it): [`Placement`] applies to extents up to it.
    pub rest_extents: u32,
    /// Decision path, newest last: short labels with no sizes or offsets.
    pub path: Vec<&'static str>,
    /// ki_pos after the first generic_write_checks (where the write lands).
    pub write_pos: Option<u64>,
    /// aio: the result the completion reported (iomap_dio_complete run from the last bio).
    pub aio_result: Option<i64>,
    /// aio: ki_pos after the completion.
    pub aio_ki_pos: Option<u64>,
}

/// The model's size limit: positions beyond this many bytes are not tracked sector by sector.
pub const MODEL_SPAN: u64 = 4 << 20;

/// The dirty state of the hole blocks under the world's dirty pages (issue 13, session 8).
///
/// With blocks smaller than a page, a page written only in part is dirty over the blocks the
/// write covered, and its other blocks stay holes with clean, not up-to-date buffers:
/// `__block_write_begin_int` (fs/buffer.c) maps (`ext4_da_get_block_prep`: delalloc) only the
/// buffers inside the write and `__block_commit_write` dirties only those (the folio is marked
/// up to date only when no buffer is left partial); iomap keeps a per-block dirty bitmap
/// (`ifs_set_range_dirty`, fs/iomap/buffered-io.c) and `xfs_buffered_write_iomap_begin` reserves
/// delalloc for the written range only. Writeback writes only dirty blocks
/// (`mpage_prepare_extent_to_map` / `mpage_process_page_bufs`, fs/ext4/inode.c: delayed or
/// unwritten dirty buffers; `iomap_writeback_folio` walks `iomap_find_dirty_range`; 6.12's
/// `iomap_writepage_map` tests `ifs_block_is_dirty` per block), so the holes
/// stay holes, and a read of them gives zeroes. Read in 6.12.117 and 7.3.4. So such a hole block
/// of a `PageState::Dirty` page inside EOF is clean: cache zero, skipped by writeback.
///
/// Worlds that are not real keep the reading the model gave them before (every block of a dirty
/// page dirty, allocated by writeback, the page's cache all OLD_DIRTY): a dirty page over a hole
/// with page-sized blocks (a write reserves or allocates every block under it), a dirty page
/// with no block but holes (a buffered write dirties at least one block and reserves it), and an
/// mmapped dirty page over a hole (`ext4_page_mkwrite` -> `block_page_mkwrite` and
/// `iomap_page_mkwrite` reserve and dirty every block of the folio).
fn partial_dirty_holes(cx: &mut Cx) {
    // A block device has no holes: its "hole" blocks are device blocks holding zeroes, and the
    // set-up dirties whole pages there (every buffer of the page dirty, written back by
    // block_write_full_folio), so nothing here applies.
    if cx.fs == crate::scenario::FsKind::Bdev {
        return;
    }
    let bs = cx.bs;
    let i_size = cx.inode.i_size;
    for p in 0..cx.pages.len() {
        let st = cx.pages[p];
        if !matches!(st, PageState::Dirty | PageState::MappedDirty) {
            continue;
        }
        let (a, e) = (
            p as u64 * PAGE_SIZE,
            ((p as u64 + 1) * PAGE_SIZE).min(i_size),
        );
        if a >= e {
            continue;
        }
        let blocks = a / bs..e.div_ceil(bs);
        let partial = st == PageState::Dirty
            && bs < PAGE_SIZE
            && blocks.clone().any(|b| cx.blk(b).kind != Extent::Hole);
        for b in blocks {
            if cx.blk(b).kind != Extent::Hole {
                continue;
            }
            if partial {
                let (s0, s1) = ((b * bs / SECTOR) as usize, ((b + 1) * bs / SECTOR) as usize);
                let n = cx.cache.len();
                cx.cache[s0.min(n)..s1.min(n)].fill(TAG_ZERO);
            } else {
                cx.dirty_hole_set(b);
            }
        }
    }
}

impl<'a> Cx<'a> {
    pub fn new(s: &'a Scenario, v: &'static Variant) -> Cx<'a> {
        let w = &s.world;
        let bs = 1u64 << w.blkbits;
        // Normalise the world to states a real inode can be in (the decoder can describe others):
        // past EOF, written blocks are preallocated (unwritten, as fallocate KEEP_SIZE leaves
        // them) and delalloc cannot exist; pages past EOF are not cached; a DAX inode has no
        // page cache.
        let eof_blocks = w.i_size.div_ceil(bs) as usize;
        let mut blocks = Vec::with_capacity(w.blocks.len());
        let mut ext = 0u32;
        let mut prev: Option<Extent> = None;
        for (i, b) in w.blocks.iter().enumerate() {
            let kind = match b.kind {
                Extent::Written if i >= eof_blocks => Extent::Unwritten,
                Extent::Delalloc if i >= eof_blocks => Extent::Hole,
                k => k,
            };
            if b.new_extent || prev != Some(kind) {
                ext += 1;
            }
            prev = Some(kind);
            // Only allocated blocks inside EOF can be shared with another file (reflink).
            let shared =
                b.shared && i < eof_blocks && matches!(kind, Extent::Written | Extent::Unwritten);
            blocks.push(Blk {
                kind,
                extent: ext,
                shared,
                phys_break: b.new_extent,
            });
        }
        let i_size = w.i_size;
        let i_disksize = if w.inode.disksize_lag {
            i_size & !(bs - 1)
        } else {
            i_size
        };
        // Span of tracked data: everything the scenario can touch.
        let r = &s.request;
        let end = [
            i_size.saturating_add(r.len),
            r.pos.saturating_add(r.len),
            blocks.len() as u64 * bs,
            w.pages.len() as u64 * PAGE_SIZE,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .min(MODEL_SPAN);
        let nsect = end.div_ceil(PAGE_SIZE) as usize * (PAGE_SIZE / SECTOR) as usize + 8;
        let spb = (bs / SECTOR) as usize;
        let eof_sect = w.i_size.div_ceil(SECTOR) as usize;
        let mut disk = vec![TAG_ZERO; nsect];
        // Slice operations, not element loops: the fuzz build instruments every comparison.
        for (i, b) in blocks.iter().enumerate() {
            let (a, e) = ((i * spb).min(nsect), ((i + 1) * spb).min(nsect));
            match b.kind {
                // the tail of the EOF block was zeroed when it was written back
                Extent::Written => disk[a..e.min(eof_sect).max(a)].fill(TAG_OLD),
                Extent::Unwritten => disk[a..e].fill(TAG_STALE),
                _ => {}
            }
        }
        let eof_pages = w.i_size.div_ceil(PAGE_SIZE) as usize;
        let mut pages: Vec<PageState> = if w.inode.dax {
            Vec::new()
        } else {
            w.pages.iter().take(eof_pages).copied().collect()
        };
        pages.resize(nsect / 8, PageState::None);
        // An unwritten block inside EOF under a page under writeback (session 11): that
        // writeback's I/O carries the page's data (the OLD pattern, zeroes past EOF: the EOF
        // block's tail is zeroed before submission) and the extent is converted only when it
        // completes (see [`Cx::end_writeback`]).
        for (i, b) in blocks.iter().enumerate() {
            let p = i * spb / 8;
            if b.kind == Extent::Unwritten
                && i < eof_blocks
                && pages.get(p) == Some(&PageState::Writeback)
            {
                let (a, e) = ((i * spb).min(nsect), ((i + 1) * spb).min(nsect));
                disk[a..e].fill(TAG_ZERO);
                disk[a..e.min(eof_sect).max(a)].fill(TAG_OLD);
            }
        }
        let mut cx = Cx {
            v,
            opts: ModelOpts::default(),
            s,
            fs: s.fs,
            bs,
            blkbits: w.blkbits as u32,
            lbs: 1u64 << w.lbs_bits,
            dma_align: w.device.dma_alignment as u64,
            inode: Inode {
                i_size,
                i_disksize,
                flags: w.inode,
                blocks,
                orphan: false,
            },
            cow: vec![TAG_ZERO; nsect],
            cow_kind: Vec::new(),
            cow_errors: Vec::new(),
            disk,
            cache: vec![TAG_ZERO; nsect],
            pages,
            dirty_holes: Vec::new(),
            trace: Trace::off(),
            site_calls: [0; 32],
            bios: Vec::new(),
            warns: Vec::new(),
            buffered_bytes: 0,
            buffered_calls: 0,
            dax_calls: 0,
            atomic_remaps: 0,
            dio_error_masked: None,
            pinned_pages: 0,
            pin_errors: Vec::new(),
            dio_done_wq: false,
            next_extent: ext + 1,
            rest_extents: ext,
            path: Vec::new(),
            write_pos: None,
            aio_result: None,
            aio_ki_pos: None,
        };
        // A block device has no extent map: its layout's holes and unwritten blocks are device
        // blocks reading zeroes (session 12: an "unwritten" block under a page under writeback
        // read as converted before the call and as zeroes after it, a false O2).
        if s.fs == crate::scenario::FsKind::Bdev {
            crate::kernel::block::fops::bdev_normalize(&mut cx);
        }
        // Page-cache content: clean pages mirror what is visible on disk, dirty ones hold newer data;
        // nothing past EOF.
        let on_disk = cx.image_masked().on_disk;
        for p in 0..cx.pages.len() {
            let (a, e) = (p * 8, (p * 8 + 8).min(eof_sect).max(p * 8));
            match cx.pages[p] {
                PageState::None => {}
                PageState::Dirty | PageState::MappedDirty => cx.cache[a..e].fill(TAG_OLD_DIRTY),
                _ => cx.cache[a..e].copy_from_slice(&on_disk[a..e]),
            }
        }
        partial_dirty_holes(&mut cx);
        cx
    }

    /// Is block `lblk` an unwritten block inside EOF under a page under writeback? That
    /// writeback converts it when its I/O completes, before the folio leaves writeback (ext4 on
    /// a dioread_nolock mount: `mpage_map_one_extent` keeps the extent unwritten
    /// (`EXT4_GET_BLOCKS_IO_CREATE_EXT` in 6.12.117, `EXT4_GET_BLOCKS_UNWRIT_EXT` in 7.3.4) and
    /// `ext4_end_bio` defers `ext4_finish_bio` until `ext4_end_io_end` ->
    /// `ext4_convert_unwritten_io_end_vec` has run; XFS: `xfs_end_ioend` ->
    /// `xfs_iomap_write_unwritten` before `iomap_finish_ioends`). Until then the block map reads
    /// it unwritten; a reader after the completion sees the page's data. The file image shows
    /// that data (the disk once every writeback in flight has completed: what live reads back
    /// after the hold is released).
    pub fn converts_at_completion(&self, lblk: u64) -> bool {
        // Inside the EOF of the world at the write (the writeback was submitted before the
        // call; an extending call does not widen it). (Never on a block device: `Cx::new`
        // makes every block of it written.)
        let p = (lblk * self.bs / PAGE_SIZE) as usize;
        self.blk(lblk).kind == Extent::Unwritten
            && lblk * self.bs < self.s.world.i_size
            && self.page(p) == PageState::Writeback
    }

    /// The writeback of page `p` (a `PageState::Writeback` one) completes: its unwritten blocks
    /// inside EOF are converted ([`Cx::converts_at_completion`]). Called where the model's page
    /// leaves writeback: the wait of `filemap_write_and_wait_range` and
    /// `invalidate_inode_pages2_range` (`folio_wait_writeback`), and a buffered write that
    /// dirties the folio again (the I/O in flight still completes and converts; the model
    /// settles it there, the final state being the same).
    pub fn end_writeback(&mut self, p: usize) {
        if self.page(p) != PageState::Writeback {
            return;
        }
        let (first, last) = (
            p as u64 * PAGE_SIZE / self.bs,
            (p as u64 + 1) * PAGE_SIZE / self.bs,
        );
        let mut any = false;
        for b in first..last {
            if self.converts_at_completion(b) {
                let k = self.blk(b);
                self.set_blk(
                    b,
                    Blk {
                        kind: Extent::Written,
                        ..k
                    },
                );
                any = true;
            }
        }
        if any {
            self.note("writeback completion: unwritten blocks under the folio converted (ext4_end_io_end / xfs_end_ioend)");
        }
    }

    /// Is hole block `lblk` dirty under its page (written back, allocated, by writeback)?
    pub fn dirty_hole(&self, lblk: u64) -> bool {
        self.dirty_holes
            .get(lblk as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The buffers of hole block `lblk` are dirtied (a buffered write without delalloc). A store
    /// through a mapping dirties the whole folio (->page_mkwrite): writeback of a
    /// `PageState::MappedDirty` page writes every block.
    pub fn dirty_hole_set(&mut self, lblk: u64) {
        let i = lblk as usize;
        if i as u64 * self.bs >= MODEL_SPAN {
            return;
        }
        if i >= self.dirty_holes.len() {
            self.dirty_holes.resize(i + 1, false);
        }
        self.dirty_holes[i] = true;
    }

    // ---------------------------------------------------------------- geometry helpers
    pub fn blk(&self, lblk: u64) -> Blk {
        self.inode
            .blocks
            .get(lblk as usize)
            .copied()
            .unwrap_or(Blk::HOLE)
    }
    pub fn set_blk(&mut self, lblk: u64, b: Blk) {
        let i = lblk as usize;
        if i >= self.inode.blocks.len() {
            if (i as u64) * self.bs >= MODEL_SPAN {
                return;
            }
            self.inode.blocks.resize(i + 1, Blk::HOLE);
        }
        self.inode.blocks[i] = b;
    }
    pub fn new_extent_id(&mut self) -> u32 {
        self.next_extent += 1;
        self.next_extent
    }
    pub fn nsect(&self) -> usize {
        self.disk.len()
    }
    /// What a read sees from disk for a sector: data of written blocks, zero elsewhere.
    pub fn disk_visible(&self, sct: usize) -> u32 {
        let lblk = (sct as u64 * SECTOR) >> self.blkbits;
        match self.blk(lblk).kind {
            Extent::Written => self.disk.get(sct).copied().unwrap_or(TAG_ZERO),
            _ => TAG_ZERO,
        }
    }
    pub fn page_of(pos: u64) -> usize {
        (pos / PAGE_SIZE) as usize
    }
    pub fn page(&self, idx: usize) -> PageState {
        self.pages.get(idx).copied().unwrap_or(PageState::None)
    }

    /// Write `tag` to device sectors [pos, pos+len) (rounded out to sectors).
    pub fn disk_write(&mut self, pos: u64, len: u64, tag: u32) {
        let (a, b) = (pos / SECTOR, (pos + len).div_ceil(SECTOR));
        let n = self.disk.len() as u64;
        self.disk[a.min(n) as usize..b.min(n) as usize].fill(tag);
    }
    pub fn cow_write(&mut self, pos: u64, len: u64, tag: u32) {
        let (a, b) = (pos / SECTOR, (pos + len).div_ceil(SECTOR));
        let n = self.cow.len() as u64;
        self.cow[a.min(n) as usize..b.min(n) as usize].fill(tag);
    }

    // ---------------------------------------------------------------- fault plan
    /// Called at an injection site: returns the injected -errno if the plan fires here.
    pub fn fault(&mut self, site: Site) -> Option<i64> {
        let n = self.site_calls[site as usize];
        self.site_calls[site as usize] = n.saturating_add(1);
        let f = self
            .s
            .faults
            .iter()
            .find(|f| f.site == site && f.nth == n)?;
        self.trace.push(Ev::Fault(site, -f.errno));
        Some(-f.errno)
    }
    /// The DIO path's own error `e` was replaced before it reached the DIO's caller.
    pub fn mask_dio_error(&mut self, e: i64) {
        if self.dio_error_masked.is_none() {
            self.dio_error_masked = Some(e);
        }
    }
    /// bio_iov_iter_get_pages() pinned `pages` user pages (FOLL_PIN) into a bio.
    pub fn pin_user_pages(&mut self, pages: u64) {
        self.pinned_pages += pages;
    }
    /// bio_release_pages(): unpin `pages` user pages; more than are pinned is a double release.
    pub fn release_user_pages(&mut self, pages: u64) {
        if pages > self.pinned_pages {
            self.decide("bio_release_pages: released user pages that were not pinned");
            self.pin_errors.push("double release");
            self.pinned_pages = 0;
        } else {
            self.pinned_pages -= pages;
        }
    }
    pub fn race(&self, r: Race) -> bool {
        self.s.has_race(r)
    }

    // ---------------------------------------------------------------- trace
    pub fn enter(&mut self, f: &'static str, args: &[(&'static str, i64)]) {
        self.trace.enter(f, args);
    }
    pub fn ret(&mut self, f: &'static str, r: i64) -> i64 {
        self.trace.ret(f, r);
        r
    }
    pub fn note(&mut self, s: &'static str) {
        self.trace.push(Ev::Note(s));
    }
    /// A decision that belongs in the finding's path (and signature).
    pub fn decide(&mut self, s: &'static str) {
        self.trace.push(Ev::Decide(s));
        if self.path.last() != Some(&s) {
            self.path.push(s);
        }
    }
    /// WARN_ON / WARN_ON_ONCE hit: `site` is "function: condition".
    pub fn warn(&mut self, site: &'static str) {
        self.trace.push(Ev::Warn(site));
        self.warns.push(site);
        self.decide(site);
    }
}

/// Everything the oracle needs from one execution.
#[derive(Clone, Debug)]
pub struct Execution {
    pub variant: &'static Variant,
    pub fs: FsKind,
    /// The caller asked for RWF_ATOMIC on a write.
    pub atomic: bool,
    pub read: bool,
    pub aio: bool,
    /// What the caller finally sees: the syscall's return, or the aio completion's result.
    pub ret: i64,
    /// What ->write_iter returned (-EIOCBQUEUED when an aio write was queued).
    pub submit_ret: i64,
    /// The length the caller passed.
    pub req_len: u64,
    pub nr_segs: u8,
    pub direct_at_io: bool,
    /// Where the write landed (ki_pos after the first generic_write_checks, i.e. after O_APPEND).
    pub write_pos: u64,
    pub ki_pos_after: u64,
    /// STATX_WRITE_ATOMIC unit min/max of the file at the time of the write (0 = unsupported).
    pub statx_unit_min: u32,
    pub statx_unit_max: u32,
    pub before: FileImage,
    pub after: FileImage,
    /// A clean cached page whose content differs from the disk after the call.
    pub stale_page: Option<usize>,
    /// The first block wholly past the EOF block that is a written extent holding stale device
    /// content after the call (O12: a later truncate up or extension exposes it on ext4).
    pub stale_past_eof: Option<u64>,
    pub trace: Trace,
    pub bios: Vec<Bio>,
    pub warns: Vec<&'static str>,
    pub buffered_bytes: u64,
    pub buffered_calls: u32,
    pub dax_calls: u32,
    pub atomic_remaps: u32,
    /// See [`Cx::dio_error_masked`].
    pub dio_error_masked: Option<i64>,
    /// User pages still pinned when the call returned (a leak if not 0): O9.
    pub pinned_left: u64,
    /// See [`Cx::pin_errors`].
    pub pin_errors: Vec<&'static str>,
    /// See [`Cx::cow_errors`].
    pub cow_errors: Vec<&'static str>,
    pub path: Vec<&'static str>,
}

/// What the syscall layer reports back to [`run`].
pub struct SysResult {
    pub ret: i64,
    pub submit_ret: i64,
    pub write_pos: u64,
    pub ki_pos: u64,
}

impl<'a> Cx<'a> {
    /// The file as a reader sees it, with everything past EOF read as zeroes: through the page
    /// cache, and from disk after the caches are dropped.
    pub fn image_masked(&self) -> FileImage {
        let n = self.nsect();
        let lim = (self.inode.i_size.div_ceil(SECTOR) as usize).min(n);
        let spb = (self.bs / SECTOR) as usize;
        let mut on_disk = vec![TAG_ZERO; n];
        for (i, b) in self.inode.blocks.iter().enumerate() {
            let (a, e) = (i * spb, ((i + 1) * spb).min(lim));
            if (b.kind == Extent::Written || self.converts_at_completion(i as u64)) && a < e {
                on_disk[a..e].copy_from_slice(&self.disk[a..e]);
            }
        }
        let mut cached = on_disk.clone();
        for (p, st) in self.pages.iter().enumerate() {
            let (a, e) = (p * 8, (p * 8 + 8).min(lim));
            if *st != PageState::None && a < e {
                cached[a..e].copy_from_slice(&self.cache[a..e]);
            }
        }
        FileImage {
            i_size: self.inode.i_size,
            cached,
            on_disk,
        }
    }
    /// First block wholly past the EOF block whose extent is written and whose disk content
    /// holds [`TAG_STALE`] (device content the file never had).
    pub fn stale_past_eof(&self) -> Option<u64> {
        let spb = (self.bs / SECTOR) as usize;
        let first = self.inode.i_size.div_ceil(self.bs) as usize;
        let n = self.disk.len();
        self.inode
            .blocks
            .iter()
            .enumerate()
            .skip(first)
            .find(|(i, b)| {
                let (a, e) = ((i * spb).min(n), ((i + 1) * spb).min(n));
                b.kind == Extent::Written && self.disk[a..e].contains(&TAG_STALE)
            })
            .map(|(i, _)| i as u64)
    }
    /// First clean cached page whose content differs from what is on disk.
    pub fn stale_page(&self, img: &FileImage) -> Option<usize> {
        let lim = self.inode.i_size.div_ceil(SECTOR) as usize;
        (0..self.pages.len()).find(|&p| {
            let (a, e) = (p * 8, (p * 8 + 8).min(lim).max(p * 8));
            matches!(self.pages[p], PageState::Clean | PageState::Writeback)
                && self.cache[a..e] != img.on_disk[a..e]
        })
    }
}

/// Run one scenario through one variant, recording the full trace.
pub fn run(s: &Scenario, v: &'static Variant) -> Execution {
    run_with(s, v, true, ModelOpts::default())
}

/// [`run`] with runtime options (e.g. the plugged completion order `live` compares against).
pub fn run_opts(s: &Scenario, v: &'static Variant, opts: ModelOpts) -> Execution {
    run_with(s, v, true, opts)
}

/// Run without recording the function trace (the decision path, bios and findings are kept):
/// what the fuzz targets and `check` use.
pub fn run_quiet(s: &Scenario, v: &'static Variant) -> Execution {
    run_with(s, v, false, ModelOpts::default())
}

fn run_with(s: &Scenario, v: &'static Variant, trace: bool, opts: ModelOpts) -> Execution {
    let mut cx = Cx::new(s, v);
    cx.opts = opts;
    if trace {
        cx.trace = Trace::default();
    }
    let before = cx.image_masked();
    let r = crate::kernel::fs::read_write::sys_pwritev2(&mut cx);
    let (statx_unit_min, statx_unit_max) = crate::kernel::fs::statx_atomic(&cx);
    let after = cx.image_masked();
    let stale_page = cx.stale_page(&after);
    let stale_past_eof = cx.stale_past_eof();
    Execution {
        variant: v,
        fs: s.fs,
        atomic: s.request.rwf.atomic && !s.request.read,
        read: s.request.read,
        aio: s.request.aio,
        ret: r.ret,
        submit_ret: r.submit_ret,
        req_len: s.request.len,
        nr_segs: s.request.nr_segs,
        direct_at_io: s.direct_at_io(),
        write_pos: r.write_pos,
        ki_pos_after: r.ki_pos,
        statx_unit_min,
        statx_unit_max,
        before,
        after,
        stale_page,
        stale_past_eof,
        trace: cx.trace,
        bios: cx.bios,
        warns: cx.warns,
        buffered_bytes: cx.buffered_bytes,
        buffered_calls: cx.buffered_calls,
        dax_calls: cx.dax_calls,
        atomic_remaps: cx.atomic_remaps,
        dio_error_masked: cx.dio_error_masked,
        pinned_left: cx.pinned_pages,
        pin_errors: cx.pin_errors,
        cow_errors: cx.cow_errors,
        path: cx.path,
    }
}
