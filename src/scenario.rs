// SPDX-License-Identifier: GPL-2.0-only
//! A scenario: the world before the write (geometry, device, mount, inode, per-block layout, page
//! cache, process limits), the request (open flags, RWF flags, position, length, iovec shape), and
//! the fault plan (errnos injected at named call sites, race events).
//!
//! # Encoding (format 1)
//! Fuzz bytes decode through [`arbitrary::Unstructured`] reading one `u8` at a time, so every field is
//! one byte (or a fixed group of bytes) at a fixed place and the encoding has an exact inverse:
//! [`Scenario::encode`]. Missing bytes read as zero (`arbitrary`'s rule), trailing bytes are ignored,
//! so every byte string up to [`MAX_INPUT`] bytes decodes; longer ones and the reserved
//! filesystem kind 3 are rejected with a [`DecodeError`]. Readable scenarios are the JSON form of
//! [`Scenario`] (serde); `diofuzz encode` turns one into corpus bytes, `diofuzz show` the reverse.
//! Layout, byte by byte:
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | bits 0-1 fs (0 ext4, 1 xfs, 2 bdev, 3 rejected); bits 2-3 block size (0,3: 4096, 1: 1024, 2: 2048); bit 4 logical block size 4096 (else 512, never above the block size); bits 5-6 bigalloc cluster_bits; bit 7 device has stable writes |
//! | 1 | device atomic unit: low nibble min, high nibble max; 0 = none, n = 2^(8+n) bytes |
//! | 2 | mount: 0 no extents feature, 1 data=journal, 2 dax, 3 shutdown, 4 emergency ro, 5 inline crypto, 6 XFS without reflink, 7 XFS always_cow |
//! | 3-4 | inode flags at write time, little endian: see [`InodeFlags`] |
//! | 5, 6 | i_size: count; bit 0 of byte 6 = count in blocks modulo 64 (else 512-byte sectors), bit 1 = plus one byte |
//! | 7 | RLIMIT_FSIZE: 0 unlimited, else n x 512 bytes |
//! | 8, 9 | s_maxbytes, s_bitmap_maxbytes: 0 = the real (huge) value, else n blocks |
//! | 10, ... | number of layout blocks (at most 32), then one byte each: see [`BlockState`] |
//! | next, ... | number of page-cache pages (at most 32), then one byte each: see [`PageState`] |
//! | next | open/call flags: 0 O_DIRECT, 1 O_APPEND, 2 O_DSYNC, 3 O_SYNC, 4 no O_LARGEFILE, 5 read, 6 async (aio) |
//! | next | RWF_* flags, the raw uapi bits |
//! | next 3 | position count, length count, unit byte: 0 pos in blocks (count modulo 64), 1 pos +1 byte, 2 len in blocks (modulo 64), 3 len +1 byte, 4-5 buffer alignment (4096, 512, 8, 1) |
//! | next | number of iovec segments (0 = 1) |
//! | next | user buffer faults from byte (n-1) x 512 on; 0 = never |
//! | next | reserved (was: bio capacity), n x 512; 0 = none |
//! | next, ... | number of faults (at most 8), then 3 bytes each: site, nth call (0 = first), errno number |
//! | next, ... | number of races (at most 8), then 2 bytes each: kind, argument |
//! | next (optional) | [`COW_SECTION`] (0xC0) opens the XFS CoW-fork section; any other byte, or none, means an empty CoW fork and no cowextsize hint (every input written before the section existed decodes as before) |
//! | next, ... | number of CoW-fork blocks (at most 32), then one byte each: see [`CowExtent`] |
//! | next | cowextsize hint: 0 = none (the default 32 blocks), k = 2^((k-1) mod 6) blocks |
//! | next (optional) | [`DMA_SECTION`] (0xD0) opens the device DMA-alignment section (after the CoW-fork section when there is one); any other byte, or none, means the default 511 |
//! | next | `world.device.dma_alignment`: 0 = 511, k = 1..12: 2^k - 1, other values modulo 16, 13-15 as 12 |
//! | next (optional) | [`LIMITS_SECTION`] (0xA7) opens the process-limits section (after the DMA-alignment section when there is one); any other byte, or none, means none of its limits |
//! | next | bit 0: `world.rlimit_fsize` is 0 (overrides byte 7) |
//! | next (optional) | [`SEGS_SECTION`] (0x5E) opens the scattered-iovec section (after the limits section when there is one); any other byte, or none, means no scattered iovec ([`Request::scatter`] None) |
//! | next 2 | little endian: bits 0-9 = `request.scatter.segs` - 1 (1..=1024 iovecs, IOV_MAX); bits 10-15 ignored |
//! | next 2 | little endian: bits 0-11 = `request.scatter.offset` (the offset of every segment in its first page); bits 12-15 ignored |
//! | next (optional) | [`DEVICE_SECTION`] (0xB0) opens the device-kind section (after the scattered-iovec section when there is one); any other byte, or none, means a blk-mq disk |
//! | next | bit 0: `world.device.no_bio_split` (a bio-based driver that never splits: pmem, brd, zram); bits 1-7 ignored |
//! | next (optional) | [`INLINE_SECTION`] (0x1D) opens the inline-conversion section (after the device-kind section, else the scattered-iovec section, when there is one; session 9); any other byte, or none, means no conversion pending |
//! | next | bit 0: `world.inline_delalloc` (ext4 inline data converted by a delalloc write, not yet written back: validity rule W46) |
//! | next (optional) | [`LBS_SECTION`] (0x1B) opens the logical-block-size section (after the inline-conversion section, else the sections before it, when there is one; session 11); any other byte, or none, means the logical block size of byte 0 bit 4 |
//! | next | `world.lbs_bits` when it is 10 (1 KiB) or 11 (2 KiB) and not above the block size (byte 0 bits 2-3); any other value is ignored (byte 0 bit 4 stands). Written only for 1 or 2 KiB logical blocks (then byte 0 bit 4 is 0) |
//!
//! The optional sections came after format 1: an input written before them decodes as before,
//! and [`Scenario::encode`] writes a section only when it is not empty / not the default.

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest input that decodes; longer ones are rejected (fuzzers are told via `.options`).
pub const MAX_INPUT: usize = 4096;
pub const MAX_BLOCKS: usize = 32;
pub const MAX_PAGES: usize = 32;
pub const MAX_FAULTS: usize = 8;
pub const MAX_RACES: usize = 8;
pub const SECTOR: u64 = 512;
pub const PAGE_SIZE: u64 = 4096;
/// The "huge" default for s_maxbytes / s_bitmap_maxbytes (ext4 with 4k blocks: 16 TiB - 4 KiB).
pub const HUGE_MAXBYTES: u64 = (1 << 44) - 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    #[default]
    Ext4,
    Xfs,
    Bdev,
}

impl FsKind {
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Bdev => "bdev",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub fs: FsKind,
    pub world: World,
    pub request: Request,
    pub faults: Vec<Fault>,
    pub races: Vec<Race>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct World {
    /// log2 of the filesystem block size: 10, 11 or 12.
    pub blkbits: u8,
    /// log2 of the device logical block size: 9, 10, 11 or 12, never above blkbits
    /// (`set_blocksize` and `set_init_blocksize`, block/bdev.c, never give a block size below
    /// it). 10 and 11 (a loop device with `LOOP_SET_BLOCK_SIZE` 1024 or 2048, a SCSI disk of
    /// such sectors) are encoded in the optional [`LBS_SECTION`] (session 11).
    pub lbs_bits: u8,
    /// bigalloc: log2 of blocks per cluster (0 = no bigalloc).
    pub cluster_bits: u8,
    pub device: Device,
    pub mount: Mount,
    pub inode: InodeFlags,
    pub i_size: u64,
    pub rlimit_fsize: Option<u64>,
    pub s_maxbytes: u64,
    pub s_bitmap_maxbytes: u64,
    /// Per filesystem block from block 0; blocks past the end of the list are holes.
    pub blocks: Vec<BlockState>,
    /// Per 4 KiB page from page 0; pages past the end of the list are not cached.
    pub pages: Vec<PageState>,
    /// XFS: the CoW fork at rest, per filesystem block from block 0 (blocks past the list have no
    /// CoW extent). Left by earlier writes: delalloc reservations of buffered writes to shared
    /// ranges, unwritten preallocations (the cowextsize hint's speculative part). Empty = an empty
    /// CoW fork (docs/model-state.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cow: Vec<CowExtent>,
    /// XFS: the inode's cowextsize hint in blocks (XFS_DIFLAG2_COWEXTSIZE); 0 = none set, so
    /// xfs_get_cowextsz_hint() returns XFS_DEFAULT_COWEXTSZ_HINT (32 blocks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cowextsize: u8,
    /// ext4: the inline data was converted by a delayed-allocation write and not yet written back
    /// (`ext4_da_convert_inline_data_to_extent` clears EXT4_STATE_MAY_INLINE_DATA and leaves
    /// page 0 dirty over a delayed block 0; INLINE_DATA stays until `ext4_do_writepages` calls
    /// `ext4_destroy_inline_data`). Only with `inode.inline_data` (validity rule W46).
    /// Encoded in the optional [`INLINE_SECTION`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub inline_delalloc: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// The byte that opens the optional CoW-fork section of the encoding.
pub const COW_SECTION: u8 = 0xC0;

/// xfs_get_cowextsz_hint() without a hint set: XFS_DEFAULT_COWEXTSZ_HINT.
pub const DEFAULT_COWEXTSZ: u64 = 32;

/// One block of the XFS CoW fork at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CowExtent {
    /// No CoW-fork extent over the block.
    #[default]
    None,
    /// A delayed-allocation CoW reservation (xfs_bmapi_reserve_delalloc on XFS_COW_FORK).
    Delalloc,
    /// A real, unwritten CoW staging extent (a preallocation; its blocks hold stale data).
    Unwritten,
}

impl CowExtent {
    pub fn to_byte(self) -> u8 {
        match self {
            CowExtent::None => 0,
            CowExtent::Delalloc => 1,
            CowExtent::Unwritten => 2,
        }
    }
    pub fn from_byte(b: u8) -> Self {
        match b % 3 {
            1 => CowExtent::Delalloc,
            2 => CowExtent::Unwritten,
            _ => CowExtent::None,
        }
    }
}

impl Default for World {
    fn default() -> Self {
        World {
            blkbits: 12,
            lbs_bits: 9,
            cluster_bits: 0,
            device: Device::default(),
            mount: Mount::default(),
            inode: InodeFlags::default(),
            i_size: 0,
            rlimit_fsize: None,
            s_maxbytes: HUGE_MAXBYTES,
            s_bitmap_maxbytes: HUGE_MAXBYTES,
            blocks: Vec::new(),
            pages: Vec::new(),
            cow: Vec::new(),
            cowextsize: 0,
            inline_delalloc: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Device {
    /// Atomic write unit min/max in bytes (0 = the device has no atomic write support).
    pub awu_min: u32,
    pub awu_max: u32,
    /// The device needs stable pages during writeback (XFS bounces from 7.0).
    pub stable_writes: bool,
    /// queue_limits.dma_alignment: the mask user memory of a direct I/O must clear (sysfs
    /// `queue/dma_alignment`). 511 ([`DEFAULT_DMA_ALIGNMENT`], blk_validate_limits()'s default
    /// and a loop device's) when absent; a SCSI disk has 3 on x86 (scsi_init_limits: the larger of
    /// the host's 3 and dma_get_cache_alignment() - 1; sysfs shows 3 for scsi_debug in the lab,
    /// 6.12-7.3). Valid values are 2^k - 1, k = 1..12 (rule W19).
    #[serde(skip_serializing_if = "is_default_dma_alignment")]
    pub dma_alignment: u32,
    /// The disk's driver is bio-based and never splits (pmem, brd, zram: `->submit_bio` without
    /// `bio_split_to_limits`), so no `bio_split_io_at` runs on the way to it (the optional
    /// [`DEVICE_SECTION`]). False (absent): a blk-mq disk (loop, scsi_debug, null_blk, ublk).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_bio_split: bool,
}

/// blk_validate_limits() (block/blk-settings.c, 6.11+; read in 6.12 and 7.3.4): a driver that
/// leaves dma_alignment 0 gets SECTOR_SIZE - 1. Loop does not set it.
pub const DEFAULT_DMA_ALIGNMENT: u32 = 511;

fn is_default_dma_alignment(v: &u32) -> bool {
    *v == DEFAULT_DMA_ALIGNMENT
}

impl Default for Device {
    fn default() -> Self {
        Device {
            awu_min: 0,
            awu_max: 0,
            stable_writes: false,
            dma_alignment: DEFAULT_DMA_ALIGNMENT,
            no_bio_split: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mount {
    pub extents_feature: bool,
    pub data_journal: bool,
    pub dax: bool,
    pub shutdown: bool,
    pub emergency_ro: bool,
    pub inline_crypt: bool,
    pub xfs_reflink: bool,
    pub xfs_always_cow: bool,
}

impl Default for Mount {
    fn default() -> Self {
        Mount {
            extents_feature: true,
            data_journal: false,
            dax: false,
            shutdown: false,
            emergency_ro: false,
            inline_crypt: false,
            xfs_reflink: true,
            xfs_always_cow: false,
        }
    }
}

/// Inode state at the time of the write. What the inode looked like at open() differs only by the
/// [`Race::InodeFlagChangedAfterOpen`] events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InodeFlags {
    pub extents: bool,
    pub journal_data: bool,
    pub inline_data: bool,
    pub encrypted: bool,
    pub verity: bool,
    pub dax: bool,
    pub immutable: bool,
    pub append_only: bool,
    /// IS_NOSEC: no setuid bits to strip, so ext4 may keep the shared lock.
    pub nosec: bool,
    pub swapfile: bool,
    pub unlinked: bool,
    /// i_disksize lags i_size (delalloc not yet written back): i_disksize = i_size rounded down to a block.
    pub disksize_lag: bool,
    /// XFS reflink inode flag (the file has or had shared extents).
    pub reflink: bool,
}

impl Default for InodeFlags {
    fn default() -> Self {
        InodeFlags {
            extents: true,
            journal_data: false,
            inline_data: false,
            encrypted: false,
            verity: false,
            dax: false,
            immutable: false,
            append_only: false,
            nosec: true,
            swapfile: false,
            unlinked: false,
            disksize_lag: false,
            reflink: false,
        }
    }
}

/// Names of the inode flag bits, in encoding order (bit i of bytes 3-4).
pub const INODE_FLAG_NAMES: [&str; 13] = [
    "extents",
    "journal_data",
    "inline_data",
    "encrypted",
    "verity",
    "dax",
    "immutable",
    "append_only",
    "nosec",
    "swapfile",
    "unlinked",
    "disksize_lag",
    "reflink",
];

impl InodeFlags {
    /// Bits as encoded: bit i is flag INODE_FLAG_NAMES[i], except that `extents` and `nosec` are
    /// stored inverted (so that all-zero bytes give an ordinary extent-mapped, IS_NOSEC file).
    pub fn to_bits(self) -> u16 {
        let v = [
            !self.extents,
            self.journal_data,
            self.inline_data,
            self.encrypted,
            self.verity,
            self.dax,
            self.immutable,
            self.append_only,
            !self.nosec,
            self.swapfile,
            self.unlinked,
            self.disksize_lag,
            self.reflink,
        ];
        v.iter()
            .enumerate()
            .fold(0u16, |acc, (i, &b)| acc | ((b as u16) << i))
    }
    pub fn from_bits(b: u16) -> Self {
        let f = |i: u32| b & (1 << i) != 0;
        InodeFlags {
            extents: !f(0),
            journal_data: f(1),
            inline_data: f(2),
            encrypted: f(3),
            verity: f(4),
            dax: f(5),
            immutable: f(6),
            append_only: f(7),
            nosec: !f(8),
            swapfile: f(9),
            unlinked: f(10),
            disksize_lag: f(11),
            reflink: f(12),
        }
    }
    /// Toggle flag number `i` (INODE_FLAG_NAMES order).
    pub fn toggled(self, i: u8) -> Self {
        Self::from_bits(self.to_bits() ^ (1u16 << (i as u32 % 13)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Extent {
    #[default]
    Hole,
    Unwritten,
    Written,
    Delalloc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BlockState {
    pub kind: Extent,
    /// This block starts a new physical extent (is not contiguous with the block before it).
    pub new_extent: bool,
    /// XFS: the block is shared with another file (reflink), so a write must CoW it.
    pub shared: bool,
}

impl BlockState {
    pub fn to_byte(self) -> u8 {
        let k = match self.kind {
            Extent::Hole => 0,
            Extent::Unwritten => 1,
            Extent::Written => 2,
            Extent::Delalloc => 3,
        };
        k | (self.new_extent as u8) << 2 | (self.shared as u8) << 3
    }
    pub fn from_byte(b: u8) -> Self {
        let kind = match b & 3 {
            0 => Extent::Hole,
            1 => Extent::Unwritten,
            2 => Extent::Written,
            _ => Extent::Delalloc,
        };
        BlockState {
            kind,
            new_extent: b & 4 != 0,
            shared: b & 8 != 0,
        }
    }
}

/// Page-cache state of one 4 KiB page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    #[default]
    None,
    /// Up to date, same as disk.
    Clean,
    /// Holds data newer than the disk (a buffered write not yet written back).
    Dirty,
    /// Under writeback (flush waits for it).
    Writeback,
    /// mmapped: a racing store re-dirties it after the flush, so invalidation fails with -EBUSY.
    MappedDirty,
    /// Its buffer heads are busy: filemap_release_folio() fails, invalidation gives -EBUSY.
    Busy,
}

impl PageState {
    /// A page live holds during the call itself (under writeback, or mmapped and re-dirtied
    /// while the call's flush waits: tools/src/live/pages.rs).
    pub fn held(self) -> bool {
        matches!(self, PageState::Writeback | PageState::MappedDirty)
    }

    pub fn to_byte(self) -> u8 {
        match self {
            PageState::None => 0,
            PageState::Clean => 1,
            PageState::Dirty => 2,
            PageState::Writeback => 3,
            PageState::MappedDirty => 4,
            PageState::Busy => 5,
        }
    }
    pub fn from_byte(b: u8) -> Self {
        match b & 7 {
            1 => PageState::Clean,
            2 => PageState::Dirty,
            3 => PageState::Writeback,
            4 => PageState::MappedDirty,
            5 => PageState::Busy,
            _ => PageState::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OpenFlags {
    pub direct: bool,
    pub append: bool,
    pub dsync: bool,
    pub sync: bool,
    pub no_largefile: bool,
}

/// RWF_* flags of pwritev2 (include/uapi/linux/fs.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Rwf {
    pub hipri: bool,
    pub dsync: bool,
    pub sync: bool,
    pub nowait: bool,
    pub append: bool,
    pub noappend: bool,
    pub atomic: bool,
    pub dontcache: bool,
}

// RWF_* are uapi (include/uapi/linux/fs.h); re-exported here because the request carries them.
pub use crate::kernel::include::uapi::linux::fs::{
    RWF_APPEND, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC, RWF_HIPRI, RWF_NOAPPEND, RWF_NOWAIT, RWF_SYNC,
};

impl Rwf {
    pub fn bits(self) -> u32 {
        [
            (self.hipri, RWF_HIPRI),
            (self.dsync, RWF_DSYNC),
            (self.sync, RWF_SYNC),
            (self.nowait, RWF_NOWAIT),
            (self.append, RWF_APPEND),
            (self.noappend, RWF_NOAPPEND),
            (self.atomic, RWF_ATOMIC),
            (self.dontcache, RWF_DONTCACHE),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |a, (_, b)| a | b)
    }
    pub fn from_bits(b: u32) -> Self {
        Rwf {
            hipri: b & RWF_HIPRI != 0,
            dsync: b & RWF_DSYNC != 0,
            sync: b & RWF_SYNC != 0,
            nowait: b & RWF_NOWAIT != 0,
            append: b & RWF_APPEND != 0,
            noappend: b & RWF_NOAPPEND != 0,
            atomic: b & RWF_ATOMIC != 0,
            dontcache: b & RWF_DONTCACHE != 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    pub open: OpenFlags,
    /// A read (pread2) instead of a write: only the flag checks are modelled (A7).
    pub read: bool,
    /// Submitted asynchronously (io_submit): the result may be queued (-EIOCBQUEUED) and reported
    /// at completion.
    pub aio: bool,
    pub rwf: Rwf,
    pub pos: u64,
    pub len: u64,
    /// Number of iovec segments; 1 is imported as ITER_UBUF.
    pub nr_segs: u8,
    /// Alignment of the user buffer address: 4096, 512, 8 or 1.
    pub buf_align: u32,
    /// The user buffer cannot be faulted in from the page holding this byte offset on (munmapped /
    /// PROT_NONE): faults happen at page boundaries of the buffer's address.
    pub fault_at: Option<u64>,
    /// Kept for a stable encoding, always None in a real world (validity rule W30): a bio's size
    /// is not a number of its own but what its BIO_MAX_VECS (256) bvecs hold of the user memory
    /// layout; a layout that fills them with few bytes is [`Request::scatter`].
    pub max_bio: Option<u64>,
    /// A scattered iovec (the optional [`SEGS_SECTION`]): replaces `nr_segs` and `buf_align`
    /// (the decoder sets them to 1 and 4096; `encode` refuses other values with a scatter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scatter: Option<Scatter>,
}

/// IOV_MAX (include/uapi/linux/uio.h UIO_MAXIOV): the most iovecs a call takes.
pub const IOV_MAX: u16 = 1024;

/// A scattered iovec: `segs` iovecs splitting the request length evenly (the last takes the
/// remainder, as for `nr_segs`), each in its own run of pages at `offset` into its first page,
/// with an unmapped-for-I/O gap page between runs (so no two segments share a page and no bvec
/// can merge with the previous segment's: docs/model.md "Scattered iovecs"). Each segment then
/// costs a bio one bvec per page it touches, so 256 bvecs (BIO_MAX_VECS) may hold a few KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scatter {
    /// Number of iovecs, 1..=[`IOV_MAX`].
    pub segs: u16,
    /// Offset of each segment in its first page, 0..4095.
    pub offset: u16,
}

impl Scatter {
    /// The length of segment `i` of a request of `len` bytes.
    pub fn seg_len(&self, len: u64, i: u64) -> u64 {
        let n = self.segs.max(1) as u64;
        let seg = len / n;
        if i + 1 == n {
            len - seg * (n - 1)
        } else {
            seg
        }
    }
    /// Bytes between the starts of two neighbouring segments' page runs: the pages the longest
    /// (last) segment touches plus one gap page.
    pub fn stride(&self, len: u64) -> u64 {
        let longest = self.seg_len(len, self.segs.max(1) as u64 - 1);
        ((self.offset as u64 + longest).div_ceil(PAGE_SIZE) + 1) * PAGE_SIZE
    }
}

impl Default for Request {
    fn default() -> Self {
        Request {
            open: OpenFlags {
                direct: true,
                ..Default::default()
            },
            read: false,
            aio: false,
            rwf: Rwf::default(),
            pos: 0,
            len: 4096,
            nr_segs: 1,
            buf_align: 4096,
            fault_at: None,
            max_bio: None,
            scatter: None,
        }
    }
}

/// A call site where the model can inject an error. The number is the encoding (stable; new sites
/// take new numbers). `errnos()` lists what the real function can return there.
/// In JSON, domains and traces a site is spelled as its kernel function ([`Site::function`], e.g.
/// `"ext4_map_blocks(create)"`); the Rust name (`"Ext4MapBlocksCreate"`) is accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    /// filemap_write_and_wait_range() inside kiocb_invalidate_pages (mm/filemap.c): writeback errors.
    FilemapWriteAndWait = 0,
    /// invalidate_inode_pages2_range() on one folio: -EBUSY (release failed) or a launder error.
    InvalidateFolio = 1,
    /// sb_init_dio_done_wq() for async DIO (fs/super.c).
    InitDioDoneWq = 2,
    /// bio_iov_iter_get_pages() in iomap_dio_bio_iter (pinning user pages).
    DioGetPages = 3,
    /// iomap_dio_zero() sub-block zeroing: fails only for a zeroing length over 64 KiB, which the
    /// model's block sizes never reach (kept for a stable encoding).
    DioZero = 4,
    /// bio completion status (blk_status_to_errno), per submitted bio.
    BioEndIo = 5,
    /// generic_write_sync() after a completed O_DSYNC write.
    GenericWriteSync = 6,
    /// generic_perform_write() / iomap buffered write: ->write_begin failing (ENOSPC, EDQUOT, ...).
    GenericPerformWrite = 7,
    /// filemap_write_and_wait_range() of the buffered-fallback range in ext4_dio_write_iter.
    FallbackFlush = 8,
    /// ext4_journal_start() for the extending-write orphan handle (ext4_dio_write_iter).
    Ext4ExtendJournalStart = 9,
    /// ext4_orphan_add() for an extending DIO write.
    Ext4OrphanAdd = 10,
    /// ext4_map_blocks() lookup (no create) in ext4_iomap_begin / ext4_overwrite_io.
    Ext4MapBlocksQuery = 11,
    /// ext4_map_blocks() with create flags in ext4_iomap_alloc (after journal start).
    Ext4MapBlocksCreate = 12,
    /// ext4_journal_start() in ext4_iomap_alloc.
    Ext4IomapAllocJournalStart = 13,
    /// ext4_force_commit() after an atomic mixed-mapping allocation (6.16+).
    Ext4ForceCommit = 14,
    /// ext4_convert_unwritten_extents[_atomic]() in ext4_dio_write_end_io.
    Ext4ConvertUnwritten = 15,
    /// ext4_handle_inode_extension() in ext4_dio_write_end_io (journal start / mark dirty).
    Ext4InodeExtension = 16,
    /// fscrypt_limit_io_blocks() shortening the mapping to one block (inline-crypt files). No errno.
    FscryptLimitIoBlocks = 17,
    /// xfs_direct_write_iomap_begin / xfs_atomic_write_cow_iomap_begin allocation (xfs_iomap.c).
    XfsIomapBegin = 18,
    /// xfs_dio_write_end_io: unwritten conversion / CoW remap (xfs_reflink_end_[atomic_]cow).
    XfsEndIo = 19,
    /// file_modified() (suid strip / timestamp update) in the write checks.
    FileModified = 20,
    /// The page cache fill (a buffered read/write_begin) for the page-cache state set-up. Reserved.
    Reserved21 = 21,
}

pub const ALL_SITES: [Site; 21] = [
    Site::FilemapWriteAndWait,
    Site::InvalidateFolio,
    Site::InitDioDoneWq,
    Site::DioGetPages,
    Site::DioZero,
    Site::BioEndIo,
    Site::GenericWriteSync,
    Site::GenericPerformWrite,
    Site::FallbackFlush,
    Site::Ext4ExtendJournalStart,
    Site::Ext4OrphanAdd,
    Site::Ext4MapBlocksQuery,
    Site::Ext4MapBlocksCreate,
    Site::Ext4IomapAllocJournalStart,
    Site::Ext4ForceCommit,
    Site::Ext4ConvertUnwritten,
    Site::Ext4InodeExtension,
    Site::FscryptLimitIoBlocks,
    Site::XfsIomapBegin,
    Site::XfsEndIo,
    Site::FileModified,
];

impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.function())
    }
}

impl<'de> Deserialize<'de> for Site {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = String::deserialize(d)?;
        Site::parse(&t).map_err(serde::de::Error::custom)
    }
}

impl Site {
    /// A site by its kernel function name ([`Site::function`]) or its Rust name; the error lists
    /// the valid ones.
    pub fn parse(name: &str) -> Result<Site, String> {
        let n = name.trim();
        ALL_SITES
            .iter()
            .copied()
            .find(|s| s.function() == n || format!("{s:?}") == n)
            .ok_or_else(|| {
                format!(
                    "unknown fault site '{n}'; valid sites: {}",
                    ALL_SITES.map(|s| s.function()).join(", ")
                )
            })
    }
    pub fn from_byte(b: u8) -> Option<Site> {
        ALL_SITES.iter().copied().find(|s| *s as u8 == b)
    }
    /// The kernel function this site stands for.
    pub fn function(self) -> &'static str {
        match self {
            Site::FilemapWriteAndWait => "filemap_write_and_wait_range",
            Site::InvalidateFolio => "invalidate_inode_pages2_range",
            Site::InitDioDoneWq => "sb_init_dio_done_wq",
            Site::DioGetPages => "bio_iov_iter_get_pages",
            Site::DioZero => "iomap_dio_zero",
            Site::BioEndIo => "bio_endio",
            Site::GenericWriteSync => "generic_write_sync",
            Site::GenericPerformWrite => "generic_perform_write",
            Site::FallbackFlush => "filemap_write_and_wait_range(fallback)",
            Site::Ext4ExtendJournalStart => "ext4_journal_start(extend)",
            Site::Ext4OrphanAdd => "ext4_orphan_add",
            Site::Ext4MapBlocksQuery => "ext4_map_blocks(query)",
            Site::Ext4MapBlocksCreate => "ext4_map_blocks(create)",
            Site::Ext4IomapAllocJournalStart => "ext4_journal_start(iomap_alloc)",
            Site::Ext4ForceCommit => "ext4_force_commit",
            Site::Ext4ConvertUnwritten => "ext4_convert_unwritten_extents",
            Site::Ext4InodeExtension => "ext4_handle_inode_extension",
            Site::FscryptLimitIoBlocks => "fscrypt_limit_io_blocks",
            Site::XfsIomapBegin => "xfs_iomap_begin",
            Site::XfsEndIo => "xfs_dio_write_end_io",
            Site::FileModified => "file_modified",
            Site::Reserved21 => "reserved",
        }
    }
    /// The errnos the real function can return at this site (docs/model.md §8). The first is the
    /// default used when an encoded errno is not one of them.
    pub fn errnos(self) -> &'static [i64] {
        use crate::errno::*;
        match self {
            Site::FilemapWriteAndWait | Site::FallbackFlush => &[EIO, ENOSPC, EDQUOT],
            Site::InvalidateFolio => &[EBUSY, EIO],
            Site::InitDioDoneWq => &[ENOMEM],
            Site::DioGetPages => &[EFAULT, ENOMEM, EINVAL],
            Site::DioZero => &[EINVAL],
            Site::BioEndIo => &[EIO, ENOSPC, ETIMEDOUT, EAGAIN, EINVAL, ENOMEM],
            Site::GenericWriteSync => &[EIO, ENOSPC, EDQUOT],
            Site::GenericPerformWrite => &[ENOSPC, EDQUOT, EIO, ENOMEM, EFAULT],
            Site::Ext4ExtendJournalStart | Site::Ext4IomapAllocJournalStart => {
                &[ENOMEM, EIO, EROFS]
            }
            Site::Ext4OrphanAdd => &[EIO, ENOMEM, ENOSPC],
            Site::Ext4MapBlocksQuery => &[EIO, EFSCORRUPTED, ENOMEM],
            Site::Ext4MapBlocksCreate => &[ENOSPC, EDQUOT, EIO, ENOMEM, EFSCORRUPTED],
            Site::Ext4ForceCommit => &[EIO, EROFS],
            Site::Ext4ConvertUnwritten => &[EIO, ENOSPC, ENOMEM, EDQUOT],
            Site::Ext4InodeExtension => &[EIO, ENOMEM, EROFS],
            Site::FscryptLimitIoBlocks => &[0],
            Site::XfsIomapBegin => &[ENOSPC, EDQUOT, EIO, ENOMEM],
            Site::XfsEndIo => &[EIO, ENOSPC, ENOMEM],
            Site::FileModified => &[EPERM, ENOMEM, EIO],
            Site::Reserved21 => &[0],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    pub site: Site,
    /// Fire on the nth call of the site in this execution (0 = the first).
    pub nth: u8,
    /// Positive errno (one of `site.errnos()`); in JSON its name ("ENOSPC"; a number is accepted).
    #[serde(with = "crate::errno::serde_name")]
    pub errno: i64,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            site: Site::BioEndIo,
            nth: 0,
            errno: crate::errno::EIO,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Race {
    /// A store through a shared mapping re-dirties the pages between the flush and the invalidation
    /// in kiocb_invalidate_pages (invalidate_inode_pages2_range gives -EBUSY).
    MmapRedirty,
    /// fcntl(F_SETFL) toggled O_DIRECT after open().
    FcntlToggleDirect,
    /// An inode flag (INODE_FLAG_NAMES index) changed after open() (chattr +j, migration to
    /// indirect, inline conversion, DAX toggle...): open-time capabilities were computed on the
    /// other value.
    InodeFlagChangedAfterOpen(u8),
    /// Another task holds i_rwsem: NOWAIT trylocks fail.
    LockContended,
}

impl Race {
    fn encode(self) -> [u8; 2] {
        match self {
            Race::MmapRedirty => [0, 0],
            Race::FcntlToggleDirect => [1, 0],
            Race::InodeFlagChangedAfterOpen(i) => [2, i],
            Race::LockContended => [3, 0],
        }
    }
    fn decode(k: u8, a: u8) -> Option<Race> {
        match k & 15 {
            0 => Some(Race::MmapRedirty),
            1 => Some(Race::FcntlToggleDirect),
            2 => Some(Race::InodeFlagChangedAfterOpen(a % 13)),
            3 => Some(Race::LockContended),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooLong(usize),
    ReservedFs,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLong(n) => {
                write!(f, "input of {n} bytes is longer than the {MAX_INPUT}-byte limit of the scenario format")
            }
            DecodeError::ReservedFs => {
                write!(f, "byte 0 names filesystem kind 3, which is reserved")
            }
        }
    }
}
impl std::error::Error for DecodeError {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);
impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scenario cannot be encoded: {}", self.0)
    }
}
impl std::error::Error for EncodeError {}

/// The decoder's byte source: one byte per field, 0 once the input is used up. With `short` set
/// it records the fields that were read past the end (they took the value of a zero byte).
struct Reader<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    short: Option<Vec<&'static str>>,
}

impl Reader<'_, '_> {
    fn byte(&mut self, field: &'static str) -> u8 {
        if let Some(v) = &mut self.short {
            if self.u.is_empty() && v.last() != Some(&field) {
                v.push(field);
            }
        }
        u8::arbitrary(self.u).unwrap_or(0)
    }
    /// An optional field: absent is its ordinary value, so it is not reported as read past the
    /// end.
    fn appended(&mut self) -> u8 {
        u8::arbitrary(self.u).unwrap_or(0)
    }
    /// The input is used up (an optional section that is absent is not a short field).
    fn at_end(&self) -> bool {
        self.u.is_empty()
    }
}

fn nibble_unit(n: u8) -> u32 {
    if n == 0 {
        0
    } else {
        1u32 << (8 + n as u32)
    }
}
fn unit_nibble(v: u32) -> Result<u8, EncodeError> {
    if v == 0 {
        return Ok(0);
    }
    if !v.is_power_of_two() || !(512..=(1 << 23)).contains(&v) {
        return Err(EncodeError(format!(
            "atomic unit {v} is not a power of two in 512..8M"
        )));
    }
    Ok((v.trailing_zeros() - 8) as u8)
}

const BUF_ALIGNS: [u32; 4] = [4096, 512, 8, 1];

/// The marker byte of the optional device DMA-alignment section (after the races and the
/// optional CoW-fork section).
pub const DMA_SECTION: u8 = 0xD0;

/// The marker byte of the optional process-limits section (after the optional DMA-alignment
/// section): one byte, bit 0 = RLIMIT_FSIZE of 0 (byte 7 says "unlimited" for 0).
pub const LIMITS_SECTION: u8 = 0xA7;

/// The marker byte of the optional scattered-iovec section (after the optional limits section):
/// two little-endian u16, the iovec count - 1 (bits 0-9) and the in-page offset (bits 0-11).
pub const SEGS_SECTION: u8 = 0x5E;

/// The marker byte of the optional device-kind section (after the optional scattered-iovec
/// section): one byte, bit 0 = `world.device.no_bio_split`.
pub const DEVICE_SECTION: u8 = 0xB0;

/// The marker byte of the optional inline-conversion section (after the optional device-kind
/// section, session 9): one byte, bit 0 = [`World::inline_delalloc`].
pub const INLINE_SECTION: u8 = 0x1D;

/// The marker byte of the optional logical-block-size section (after the optional
/// inline-conversion section, session 11): one byte, [`World::lbs_bits`] 10 or 11 (1 or 2 KiB
/// logical blocks, at most the block size); other values are ignored on decode.
pub const LBS_SECTION: u8 = 0x1B;

/// The DMA-alignment section's byte: 0 = the default 511, k = 2^k - 1 (k above 12 as 12: the
/// block layer refuses a dma_alignment above PAGE_SIZE).
fn dma_alignment_from_byte(b: u8) -> u32 {
    match b & 15 {
        0 => DEFAULT_DMA_ALIGNMENT,
        k => (1u32 << k.min(12)) - 1,
    }
}
fn dma_alignment_byte(v: u32) -> Result<u8, EncodeError> {
    if v == DEFAULT_DMA_ALIGNMENT {
        return Ok(0);
    }
    let k = (v + 1).trailing_zeros();
    if v == 0 || !(v + 1).is_power_of_two() || k > 12 {
        return Err(EncodeError(format!(
            "dma_alignment {v} is not 2^k - 1 for k in 1..12"
        )));
    }
    Ok(k as u8)
}

impl<'a> Arbitrary<'a> for Scenario {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut s = Scenario::decode_from(&mut Reader { u, short: None })
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
        crate::validity::normalise(&mut s);
        Ok(s)
    }
}

impl Scenario {
    /// Decode fuzz bytes into a real world: the raw decoding ([`Scenario::decode_raw`]) moved to
    /// the nearest scenario a real system can produce ([`crate::validity::normalise`]), so every
    /// byte string still decodes and no fuzzer input describes an impossible world. Never panics.
    pub fn decode(data: &[u8]) -> Result<Scenario, DecodeError> {
        let mut s = Scenario::decode_raw(data)?;
        crate::validity::normalise(&mut s);
        Ok(s)
    }

    /// Decode fuzz bytes field by field, without the validity normalisation (the byte layout
    /// above, exactly). Never panics.
    pub fn decode_raw(data: &[u8]) -> Result<Scenario, DecodeError> {
        if data.len() > MAX_INPUT {
            return Err(DecodeError::TooLong(data.len()));
        }
        let u = &mut Unstructured::new(data);
        Scenario::decode_from(&mut Reader { u, short: None })
    }

    /// [`Scenario::decode`], also naming the fields the input was too short to hold (they took
    /// their zero-byte values), for a warning when a corpus file is replayed. Empty for a full
    /// encoding.
    pub fn decode_reporting_defaults(
        data: &[u8],
    ) -> Result<(Scenario, Vec<&'static str>), DecodeError> {
        if data.len() > MAX_INPUT {
            return Err(DecodeError::TooLong(data.len()));
        }
        let u = &mut Unstructured::new(data);
        let mut r = Reader {
            u,
            short: Some(Vec::new()),
        };
        let mut s = Scenario::decode_from(&mut r)?;
        crate::validity::normalise(&mut s);
        let mut names = r.short.unwrap_or_default();
        names.dedup();
        Ok((s, names))
    }

    fn decode_from(u: &mut Reader) -> Result<Scenario, DecodeError> {
        let b0 = u.byte(
            "fs, world.blkbits, world.lbs_bits, world.cluster_bits, world.device.stable_writes",
        );
        let fs = match b0 & 3 {
            0 => FsKind::Ext4,
            1 => FsKind::Xfs,
            2 => FsKind::Bdev,
            _ => return Err(DecodeError::ReservedFs),
        };
        let blkbits = match (b0 >> 2) & 3 {
            1 => 10,
            2 => 11,
            _ => 12,
        };
        let lbs_bits = if b0 & 0x10 != 0 && blkbits == 12 {
            12
        } else {
            9
        };
        let cluster_bits = (b0 >> 5) & 3;
        let bs = 1u64 << blkbits;
        let b1 = u.byte("world.device.awu_min, world.device.awu_max");
        let device = Device {
            awu_min: nibble_unit(b1 & 15),
            awu_max: nibble_unit(b1 >> 4),
            stable_writes: b0 & 0x80 != 0,
            dma_alignment: DEFAULT_DMA_ALIGNMENT,
            no_bio_split: false,
        };
        let m = u.byte("world.mount");
        let mount = Mount {
            extents_feature: m & 1 == 0,
            data_journal: m & 2 != 0,
            dax: m & 4 != 0,
            shutdown: m & 8 != 0,
            emergency_ro: m & 16 != 0,
            inline_crypt: m & 32 != 0,
            xfs_reflink: m & 64 == 0,
            xfs_always_cow: m & 128 != 0,
        };
        let lo = u.byte("world.inode") as u16;
        let hi = u.byte("world.inode") as u16;
        let inode = InodeFlags::from_bits(lo | hi << 8);
        let sz = u.byte("world.i_size") as u64;
        let szf = u.byte("world.i_size");
        let i_size = count(sz, szf & 1 != 0, bs) + (szf >> 1 & 1) as u64;
        let rl = u.byte("world.rlimit_fsize") as u64;
        let rlimit_fsize = if rl == 0 { None } else { Some(rl * SECTOR) };
        let mb = u.byte("world.s_maxbytes") as u64;
        let s_maxbytes = if mb == 0 { HUGE_MAXBYTES } else { mb * bs };
        let bmb = u.byte("world.s_bitmap_maxbytes") as u64;
        let s_bitmap_maxbytes = if bmb == 0 { HUGE_MAXBYTES } else { bmb * bs };
        let nb = (u.byte("world.blocks") as usize) % (MAX_BLOCKS + 1);
        let blocks = (0..nb)
            .map(|_| BlockState::from_byte(u.byte("world.blocks")))
            .collect();
        let np = (u.byte("world.pages") as usize) % (MAX_PAGES + 1);
        let pages = (0..np)
            .map(|_| PageState::from_byte(u.byte("world.pages")))
            .collect();
        let mut world = World {
            blkbits,
            lbs_bits,
            cluster_bits,
            device,
            mount,
            inode,
            i_size,
            rlimit_fsize,
            s_maxbytes,
            s_bitmap_maxbytes,
            blocks,
            pages,
            cow: Vec::new(),
            cowextsize: 0,
            inline_delalloc: false,
        };
        let of = u.byte("request.open, request.read, request.aio");
        let open = OpenFlags {
            direct: of & 1 != 0,
            append: of & 2 != 0,
            dsync: of & 4 != 0,
            sync: of & 8 != 0,
            no_largefile: of & 16 != 0,
        };
        let rwf = Rwf::from_bits(u.byte("request.rwf") as u32);
        let p = u.byte("request.pos") as u64;
        let l = u.byte("request.len") as u64;
        let unit = u.byte("request.pos, request.len (units), request.buf_align");
        let pos = count(p, unit & 1 != 0, bs) + (unit >> 1 & 1) as u64;
        let len = count(l, unit & 4 != 0, bs) + (unit >> 3 & 1) as u64;
        let buf_align = BUF_ALIGNS[(unit >> 4 & 3) as usize];
        let nr_segs = (u.byte("request.nr_segs") & 15).max(1);
        let fa = u.byte("request.fault_at") as u64;
        let fault_at = if fa == 0 {
            None
        } else {
            Some((fa - 1) * SECTOR)
        };
        let mx = u.byte("request.max_bio") as u64;
        let max_bio = if mx == 0 { None } else { Some(mx * SECTOR) };
        let mut request = Request {
            open,
            read: of & 32 != 0,
            aio: of & 64 != 0,
            rwf,
            pos,
            len,
            nr_segs,
            buf_align,
            fault_at,
            max_bio,
            scatter: None,
        };
        let nf = (u.byte("faults") as usize) % (MAX_FAULTS + 1);
        let mut faults = Vec::with_capacity(nf);
        for _ in 0..nf {
            let (s, nth, e) = (u.byte("faults"), u.byte("faults"), u.byte("faults") as i64);
            if let Some(site) = Site::from_byte(s & 63) {
                let errs = site.errnos();
                let errno = if errs.contains(&e) { e } else { errs[0] };
                faults.push(Fault { site, nth, errno });
            }
        }
        let nr = (u.byte("races") as usize) % (MAX_RACES + 1);
        let mut races = Vec::with_capacity(nr);
        for _ in 0..nr {
            let (k, a) = (u.byte("races"), u.byte("races"));
            if let Some(r) = Race::decode(k, a) {
                races.push(r);
            }
        }
        // Optional sections, in this order: the CoW fork (COW_SECTION), the device's DMA
        // alignment (DMA_SECTION).
        let mut next = (!u.at_end()).then(|| u.appended());
        if next == Some(COW_SECTION) {
            let n = (u.byte("world.cow") as usize) % (MAX_BLOCKS + 1);
            world.cow = (0..n)
                .map(|_| CowExtent::from_byte(u.byte("world.cow")))
                .collect();
            let k = u.byte("world.cowextsize");
            world.cowextsize = if k == 0 { 0 } else { 1 << ((k - 1) % 6) };
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(DMA_SECTION) {
            world.device.dma_alignment = dma_alignment_from_byte(u.appended());
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(LIMITS_SECTION) {
            if u.appended() & 1 != 0 {
                world.rlimit_fsize = Some(0);
            }
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(SEGS_SECTION) {
            let le = |u: &mut Reader| {
                u.byte("request.scatter") as u16 | (u.byte("request.scatter") as u16) << 8
            };
            let segs = (le(u) & (IOV_MAX - 1)) + 1;
            let offset = le(u) & (PAGE_SIZE as u16 - 1);
            request.scatter = Some(Scatter { segs, offset });
            request.nr_segs = 1;
            request.buf_align = PAGE_SIZE as u32;
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(DEVICE_SECTION) {
            world.device.no_bio_split = u.appended() & 1 != 0;
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(INLINE_SECTION) {
            world.inline_delalloc = u.appended() & 1 != 0;
            next = (!u.at_end()).then(|| u.appended());
        }
        if next == Some(LBS_SECTION) {
            // 1 or 2 KiB logical blocks, never above the block size (the byte-0 rule for 4 KiB);
            // anything else leaves byte 0's logical block size.
            let b = u.appended();
            if (b == 10 || b == 11) && b <= world.blkbits {
                world.lbs_bits = b;
            }
        }
        Ok(Scenario {
            fs,
            world,
            request,
            faults,
            races,
        })
    }

    /// The inverse of [`Scenario::decode`]: bytes that decode to exactly this scenario.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let w = &self.world;
        let r = &self.request;
        let mut out = Vec::with_capacity(64);
        let fs = match self.fs {
            FsKind::Ext4 => 0,
            FsKind::Xfs => 1,
            FsKind::Bdev => 2,
        };
        let bsel = match w.blkbits {
            12 => 0,
            10 => 1,
            11 => 2,
            b => return Err(EncodeError(format!("blkbits {b} (want 10, 11 or 12)"))),
        };
        let lbs = match w.lbs_bits {
            // (10, 11: in the logical-block-size section)
            9 => 0,
            10 | 11 if w.lbs_bits <= w.blkbits => 0,
            12 if w.blkbits >= 12 => 1,
            b => {
                return Err(EncodeError(format!(
                    "lbs_bits {b} (want 9, 10 or 11 up to the block size, or 12 with 4k blocks)"
                )))
            }
        };
        if w.cluster_bits > 3 {
            return Err(EncodeError("cluster_bits above 3".into()));
        }
        out.push(
            fs | bsel << 2 | lbs << 4 | w.cluster_bits << 5 | (w.device.stable_writes as u8) << 7,
        );
        out.push(unit_nibble(w.device.awu_min)? | unit_nibble(w.device.awu_max)? << 4);
        let m = &w.mount;
        out.push(
            (!m.extents_feature as u8)
                | (m.data_journal as u8) << 1
                | (m.dax as u8) << 2
                | (m.shutdown as u8) << 3
                | (m.emergency_ro as u8) << 4
                | (m.inline_crypt as u8) << 5
                | (!m.xfs_reflink as u8) << 6
                | (m.xfs_always_cow as u8) << 7,
        );
        let ib = w.inode.to_bits();
        out.extend_from_slice(&[ib as u8, (ib >> 8) as u8]);
        let bs = 1u64 << w.blkbits;
        let (cnt, unit, odd) = count_unit(w.i_size, bs, "i_size")?;
        out.extend_from_slice(&[cnt, unit | odd << 1]);
        out.push(match w.rlimit_fsize {
            // (0: in the limits section)
            None | Some(0) => 0,
            Some(v) if v % SECTOR == 0 && (1..=255).contains(&(v / SECTOR)) => (v / SECTOR) as u8,
            Some(v) => {
                return Err(EncodeError(format!(
                    "rlimit_fsize {v} is not 1..255 sectors"
                )))
            }
        });
        for (v, what) in [
            (w.s_maxbytes, "s_maxbytes"),
            (w.s_bitmap_maxbytes, "s_bitmap_maxbytes"),
        ] {
            out.push(if v == HUGE_MAXBYTES {
                0
            } else if v % bs == 0 && (1..=255).contains(&(v / bs)) {
                (v / bs) as u8
            } else {
                return Err(EncodeError(format!("{what} {v} is not 1..255 blocks")));
            });
        }
        if w.blocks.len() > MAX_BLOCKS || w.pages.len() > MAX_PAGES {
            return Err(EncodeError("more than 32 blocks or pages".into()));
        }
        out.push(w.blocks.len() as u8);
        out.extend(w.blocks.iter().map(|b| b.to_byte()));
        out.push(w.pages.len() as u8);
        out.extend(w.pages.iter().map(|p| p.to_byte()));
        let o = &r.open;
        out.push(
            o.direct as u8
                | (o.append as u8) << 1
                | (o.dsync as u8) << 2
                | (o.sync as u8) << 3
                | (o.no_largefile as u8) << 4
                | (r.read as u8) << 5
                | (r.aio as u8) << 6,
        );
        out.push(r.rwf.bits() as u8);
        let (pc, pu, po) = count_unit(r.pos, bs, "pos")?;
        let (lc, lu, lo) = count_unit(r.len, bs, "len")?;
        let ba = BUF_ALIGNS
            .iter()
            .position(|&a| a == r.buf_align)
            .ok_or_else(|| {
                EncodeError(format!(
                    "buf_align {} (want 4096, 512, 8 or 1)",
                    r.buf_align
                ))
            })? as u8;
        out.extend_from_slice(&[pc, lc, pu | po << 1 | lu << 2 | lo << 3 | ba << 4]);
        if !(1..=15).contains(&r.nr_segs) {
            return Err(EncodeError("nr_segs must be 1..15".into()));
        }
        out.push(r.nr_segs);
        out.push(match r.fault_at {
            None => 0,
            Some(v) if v % SECTOR == 0 && v / SECTOR < 255 => (v / SECTOR + 1) as u8,
            Some(v) => return Err(EncodeError(format!("fault_at {v} is not 0..254 sectors"))),
        });
        out.push(match r.max_bio {
            None => 0,
            Some(v) if v % SECTOR == 0 && (1..=255).contains(&(v / SECTOR)) => (v / SECTOR) as u8,
            Some(v) => return Err(EncodeError(format!("max_bio {v} is not 1..255 sectors"))),
        });
        if self.faults.len() > MAX_FAULTS || self.races.len() > MAX_RACES {
            return Err(EncodeError("more than 8 faults or races".into()));
        }
        out.push(self.faults.len() as u8);
        for f in &self.faults {
            if !f.site.errnos().contains(&f.errno) || !ALL_SITES.contains(&f.site) {
                return Err(EncodeError(format!(
                    "{} cannot return {} at {:?}",
                    f.site.function(),
                    crate::errno::name(f.errno),
                    f.site
                )));
            }
            out.extend_from_slice(&[f.site as u8, f.nth, f.errno as u8]);
        }
        out.push(self.races.len() as u8);
        for r in &self.races {
            if let Race::InodeFlagChangedAfterOpen(i) = r {
                if *i >= 13 {
                    return Err(EncodeError("inode flag index above 12".into()));
                }
            }
            out.extend_from_slice(&r.encode());
        }
        if !w.cow.is_empty() || w.cowextsize != 0 {
            if w.cow.len() > MAX_BLOCKS {
                return Err(EncodeError("more than 32 CoW-fork blocks".into()));
            }
            let k = match w.cowextsize {
                0 => 0,
                v if v.is_power_of_two() && v <= 32 => v.trailing_zeros() as u8 + 1,
                v => {
                    return Err(EncodeError(format!(
                        "cowextsize {v} (want 0 or 1, 2, 4, 8, 16, 32 blocks)"
                    )))
                }
            };
            out.push(COW_SECTION);
            out.push(w.cow.len() as u8);
            out.extend(w.cow.iter().map(|c| c.to_byte()));
            out.push(k);
        }
        // The DMA-alignment section only when it is not the default.
        let dma = dma_alignment_byte(w.device.dma_alignment)?;
        if dma != 0 {
            out.extend_from_slice(&[DMA_SECTION, dma]);
        }
        // The limits section only for a limit byte 7 cannot say.
        if w.rlimit_fsize == Some(0) {
            out.extend_from_slice(&[LIMITS_SECTION, 1]);
        }
        if let Some(sc) = r.scatter {
            if !(1..=IOV_MAX).contains(&sc.segs) || sc.offset as u64 >= PAGE_SIZE {
                return Err(EncodeError(format!(
                    "scatter of {} segments at offset {} (want 1..=1024 segments, offset 0..4095)",
                    sc.segs, sc.offset
                )));
            }
            if r.nr_segs != 1 || r.buf_align != PAGE_SIZE as u32 {
                return Err(EncodeError(
                    "a scattered iovec replaces nr_segs and buf_align: set them to 1 and 4096"
                        .into(),
                ));
            }
            let n = sc.segs - 1;
            out.extend_from_slice(&[
                SEGS_SECTION,
                n as u8,
                (n >> 8) as u8,
                sc.offset as u8,
                (sc.offset >> 8) as u8,
            ]);
        }
        if w.device.no_bio_split {
            out.extend_from_slice(&[DEVICE_SECTION, 1]);
        }
        if w.inline_delalloc {
            out.extend_from_slice(&[INLINE_SECTION, 1]);
        }
        // The logical-block-size section only for 1 or 2 KiB logical blocks.
        if matches!(w.lbs_bits, 10 | 11) {
            out.extend_from_slice(&[LBS_SECTION, w.lbs_bits]);
        }
        Ok(out)
    }

    /// Inode flags as they were when the file was opened (the races undone).
    pub fn inode_at_open(&self) -> InodeFlags {
        self.races.iter().fold(self.world.inode, |f, r| match r {
            Race::InodeFlagChangedAfterOpen(i) => f.toggled(*i),
            _ => f,
        })
    }
    pub fn has_race(&self, r: Race) -> bool {
        self.races.contains(&r)
    }
    /// O_DIRECT as seen at I/O time (after any fcntl toggle).
    pub fn direct_at_io(&self) -> bool {
        let toggles = self
            .races
            .iter()
            .filter(|r| **r == Race::FcntlToggleDirect)
            .count();
        self.request.open.direct ^ (toggles % 2 == 1)
    }
}

/// A size field: `n` 512-byte sectors, or `n % 64` blocks (so a file spans at most 63 blocks past
/// 127.5 KiB: the model's per-sector arrays stay small).
fn count(n: u64, in_blocks: bool, bs: u64) -> u64 {
    if in_blocks {
        (n % MAX_BLOCK_COUNT) * bs
    } else {
        n * SECTOR
    }
}

/// Sizes counted in blocks go up to 63 blocks.
pub const MAX_BLOCK_COUNT: u64 = 64;

/// Split a byte value into (count, in-blocks unit bit, +1 odd bit).
fn count_unit(v: u64, bs: u64, what: &str) -> Result<(u8, u8, u8), EncodeError> {
    let odd = (v % SECTOR == 1) as u64;
    let base = v - odd;
    if base % SECTOR != 0 {
        return Err(EncodeError(format!(
            "{what} {v} is not a multiple of 512 (or one more)"
        )));
    }
    if base / SECTOR <= 255 {
        return Ok(((base / SECTOR) as u8, 0, odd as u8));
    }
    if base % bs == 0 && base / bs < MAX_BLOCK_COUNT {
        return Ok(((base / bs) as u8, 1, odd as u8));
    }
    Err(EncodeError(format!(
        "{what} {v} is out of range (255 sectors or 63 blocks)"
    )))
}
