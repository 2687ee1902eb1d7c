// SPDX-License-Identifier: GPL-2.0-only
//! World validity: the one place that decides whether a scenario can exist on a real system.
//!
//! A scenario the kernel cannot produce is not a finding. Every rule below names the kernel
//! function (or driver) that makes the combination impossible; docs/validity.md has the audit
//! (every pair of world dimensions, every fault site x errno x context) and what was read.
//!
//! Two entry points, one rule table:
//! - [`violations`]: the rules a scenario breaks (empty = a real world). `check` skips a domain
//!   input that breaks one (and counts it per rule), the JSON loaders reject it with the rule's
//!   text, and the fuzz target never reports a finding on it.
//! - [`normalise`]: the nearest real world, used by [`crate::scenario::Scenario::decode`] so that
//!   decoding stays total for the fuzzers (every byte string still decodes, and every decoded
//!   scenario is valid). Where the kernel itself resolves the combination (a DAX flag on an inode
//!   the kernel will not make DAX, an errno a bio cannot complete with), the fix is what the
//!   kernel would have done; elsewhere the impossible event is dropped. A valid scenario is a
//!   fixed point, so `encode` stays the exact inverse of `decode` on valid scenarios.
//!
//! Premise for races: the scenario's race list is the complete history between open() and the
//! write. A flag change after open is therefore checked against the world at write time (nothing
//! else happened in between). One exception (docs/validity.md): a file opened without O_LARGEFILE
//! whose i_size at the write is past MAX_NON_LFS (a scaled limit) grew after the open, before any
//! flag change (generic_file_open refuses a larger file: -EOVERFLOW).

mod flags;
mod inline_delalloc;
mod jflag;
mod swap_device;

use crate::errno::*;
use crate::scenario::*;

/// One validity rule: a stable id, what it forbids, and the kernel source that forbids it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Index in [`RULES`] (dispatch without string comparisons: the fuzz targets run the rules on
    /// every input).
    pub n: u8,
    pub id: &'static str,
    pub forbids: &'static str,
    pub source: &'static str,
}

macro_rules! rules {
    ($($name:ident = $n:literal, $id:literal, $forbids:literal, $source:literal;)*) => {
        $(pub const $name: Rule = Rule { n: $n, id: $id, forbids: $forbids, source: $source };)*
        /// Every rule, in the order [`normalise`] applies them.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    DAX_NO_ATOMIC_DEVICE = 0, "W1-dax-device",
        "a DAX inode or dax mount on a device with hardware atomic write units",
        "S_DAX needs a DAX-capable block device (ext4_should_enable_dax / xfs_inode_should_enable_dax test the sb's dax_device); the DAX drivers (drivers/nvdimm/pmem.c pmem_attach_disk, drivers/s390/block/dcssblk.c) set no atomic_write_hw_* queue limits, and dm stacks DAX and atomic limits only when every target supports both; so bdev_can_atomic_write() is false and FMODE_CAN_ATOMIC_WRITE is never set";
    DAX_PAGE_BLOCKS = 1, "W2-dax-blocksize",
        "a DAX inode on a filesystem whose block size is not PAGE_SIZE",
        "ext4_fill_super / ext4_should_enable_dax (EXT4_FLAGS_BDEV_IS_DAX only for blocksize == PAGE_SIZE); xfs_setup_dax_always / xfs_inode_should_enable_dax (sb_blocksize == PAGE_SIZE)";
    EXT4_DAX_EXCLUSIONS = 2, "W3-ext4-dax",
        "an ext4 DAX inode that journals data, is inline, encrypted or verity; dax together with data=journal",
        "fs/ext4/inode.c ext4_should_enable_dax (false for ext4_should_journal_data, inline data, encrypt, verity); fs/ext4/super.c refuses dax with data=journal; a journal flag change on a DAX inode (chattr +j/-j after open) fails: fs/ext4/ioctl.c ext4_ioctl_setflags returns -EBUSY for IS_DAX before ext4_change_inode_journal_flag, and ext4_set_inode_flags sets S_DAX only with init (inode load), so the inode stays DAX and unjournalled (read in 6.12.117, 7.2.12, 7.3.4)";
    DAX_NO_PAGE_CACHE = 3, "W4-dax-no-cache",
        "delalloc blocks, cached pages or an mmap re-dirty race on a DAX inode",
        "DAX inodes use ext4_dax_aops / xfs_dax_aops: no page cache, no delayed allocation (fs/dax.c maps the media directly)";
    VERITY_NO_WRITER = 4, "W5-verity-writer",
        "a write through a file descriptor on a verity inode (verity at open, or enabled after open)",
        "fs/verity/open.c __fsverity_file_open refuses FMODE_WRITE (-EPERM); fs/verity/enable.c fsverity_ioctl_enable calls deny_write_access() (-ETXTBSY while a writer exists); Documentation/filesystems/fsverity.rst: verity files are readonly";
    INLINE_DATA_ALONE = 5, "W6-inline",
        "inline data together with extent blocks, the EXTENTS flag, encryption, or more data than an inode holds (inode size - 128 bytes, an inode being at most a block); delayed blocks and a larger i_size only while a delalloc conversion is pending (world.inline_delalloc, rule W46)",
        "fs/ext4/inline.c ext4_create_inline_data clears EXT4_INODE_EXTENTS; a write past ext4_get_max_inline_size() converts the inode (ext4_convert_inline_data_nolock) and clears INLINE_DATA, so an inline inode owns no blocks and holds at most the inode's in-body xattr space plus i_block: inode size - 128 bytes (measured on 6.18: 3968 in a 4 KiB inode, 896 in a 1 KiB one; ext4_fill_super refuses an inode larger than a block); ext4_setattr converts on a truncate past i_inline_size (6.12.117, 7.2.12, 7.3.4); fs/ext4/ialloc.c __ext4_new_inode: encrypted inodes cannot have inline data (no EXT4_STATE_MAY_INLINE_DATA with EXT4_ENCRYPT_FL; ext4_set_context WARNs on it)";
    INDIRECT_LAYOUT = 6, "W7-indirect",
        "unwritten blocks or bigalloc on an indirect-mapped (non-extent) ext4 inode",
        "fs/ext4/extents.c ext4_fallocate is -EOPNOTSUPP without EXT4_INODE_EXTENTS and the indirect DIO allocation writes no unwritten extents; bigalloc needs the extents feature (ext4_fill_super) and ext4_ind_migrate refuses bigalloc (-EOPNOTSUPP)";
    EXTENTS_FEATURE = 7, "W8-extents-feature",
        "an extent-mapped ext4 inode on a filesystem without the extents feature",
        "ext4_new_inode sets EXT4_INODE_EXTENTS only with ext4_has_feature_extents; ext4_ext_migrate needs the feature (-EINVAL); the feature is never removed from a mounted filesystem";
    FLAG_CHANGE_AFTER_OPEN = 8, "W9-flag-race",
        "an inode flag change after open() that the kernel cannot make on an open file",
        "DAX: ext4_set_inode_flags / xfs_diflags_to_iflags keep S_DAX until the inode is reloaded (d_mark_dontcache); encryption is set only on new inodes (fscrypt_ioctl_set_policy: -ENOTDIR on a regular file); inline data is only ever converted away (ext4_convert_inline_data); chattr -e runs ext4_ind_migrate (fs/ext4/migrate.c), which refuses bigalloc, more than one extent (eh_entries > 1), an extent ending at or past EXT4_NDIR_BLOCKS and unwritten extents (their ee_len carries EXT_INIT_MAX_LEN, so end >= EXT4_NDIR_BLOCKS); chattr +e runs ext4_ext_migrate, which needs the extents feature and yields written extents only; ext4-only flags do not exist on XFS or a block device";
    WRITE_OPEN_FLAGS = 9, "W10-open-for-write",
        "a write through a file opened for writing while the inode was immutable, or append-only without O_APPEND",
        "fs/namei.c may_open (IS_APPEND without O_APPEND: -EPERM) and inode_permission (MAY_WRITE on IS_IMMUTABLE: -EPERM): such a file descriptor cannot exist; the flag can only have been set after open";
    FS_OPTIONS = 10, "W11-fs-options",
        "options and inode flags of another filesystem (ext4 features on XFS, reflink on ext4, inode flags on a block device)",
        "ext4 has no reflink; XFS has no bigalloc, data=journal, inline data, fscrypt or (in the modelled versions) fs-verity; a block device file has none of these";
    REFLINK_FEATURE = 11, "W12-reflink",
        "shared blocks or the reflink inode flag on an XFS filesystem without reflink",
        "fs/xfs/xfs_reflink.c xfs_reflink_remap_prep (-EOPNOTSUPP without xfs_has_reflink): no extent can become shared, and XFS_DIFLAG2_REFLINK is set only there";
    SHARED_WRITTEN_ONLY = 35, "W31-shared-written",
        "a shared block that is not a written extent (a hole, a delalloc reservation or an unwritten extent marked shared)",
        "fs/xfs/xfs_reflink.c xfs_reflink_remap_extent maps a source extent into the destination only when it is written (dmap_written; an unwritten or hole source leaves the destination a hole, 'if both extents are unwritten, leave them alone'), xfs_reflink_remap_blocks refuses a delalloc source (-EFSCORRUPTED, the range was flushed first), and xfs_reflink_trim_around_shared reports holes, unwritten and delalloc extents as never shared; an allocation (delalloc, fallocate) gets fresh blocks with refcount 1. Read in 7.3.4. Found in session 7 auditing live's refusals ('shared unwritten block'). Normalised: the block's shared bit cleared (the model CoWs only written shared blocks, block_needs_cow, so the write's outcome is the same)";
    DEVICE_UNITS = 12, "W13-device-units",
        "device atomic write units that are not a power-of-two pair min <= max, both set, min >= the logical block size",
        "block/blk-settings.c blk_validate_atomic_write_limits (non-power-of-two or min > max: atomic writes unsupported, all limits 0); drivers report unit_min in logical blocks (drivers/nvme/host/core.c, drivers/scsi/sd.c)";
    XFS_NO_BUSY_FOLIO = 13, "W14-xfs-release",
        "a clean page-cache folio that cannot be released on XFS",
        "XFS has no buffer heads: iomap_release_folio (fs/iomap/buffered-io.c) refuses only dirty folios, so a folio whose release fails (PageState::Busy) cannot exist after the flush";
    FAULT_SITE_FS = 14, "F1-site",
        "an injected fault at a call site the scenario's filesystem never calls, or one that cannot fail at the model's block sizes",
        "ext4_* and fscrypt sites are fs/ext4 only, xfs_* sites fs/xfs only, direct_write_fallback (FallbackFlush) runs for ext4 and the block device, sb_init_dio_done_wq only in iomap; iomap_dio_zero fails only above 64 KiB (WARN_ON_ONCE(len > IOMAP_ZERO_PAGE_SIZE))";
    BIO_EAGAIN_NOWAIT = 15, "F2-bio-eagain",
        "a bio completing with -EAGAIN (BLK_STS_AGAIN) that was not submitted REQ_NOWAIT",
        "include/linux/blk_types.h: BLK_STS_AGAIN is returned only for a REQ_NOWAIT bio that would block (bio_wouldblock_error); block/fops.c sets REQ_NOWAIT iff IOCB_NOWAIT; fs/iomap/direct-io.c sets it on a write bio at most through bio_set_polled() for an async IOCB_HIPRI|IOCB_NOWAIT request (a mainline snapshot between 6.19 and 7.1), and not at all in 6.12.117, 7.2.12 and 7.3.4 (REQ_POLLED only): the rule keeps what some kernel can produce";
    INVALIDATE_EIO_LAUNDER = 16, "F3-launder",
        "invalidate_inode_pages2_range failing with anything but -EBUSY on ext4, XFS or a block device",
        "mm/truncate.c folio_launder calls ->launder_folio, which ext4_aops, xfs_address_space_operations and def_blk_aops do not have; the only other failure is -EBUSY (invalidate_complete_folio2)";
    FILE_MODIFIED_PRIVS = 17, "F5-file-modified",
        "file_modified() failing where nothing in it can fail: on an IS_NOSEC inode (or a block device) only XFS's timestamp transaction can (-EIO)",
        "fs/inode.c file_modified_flags: file_remove_privs_flags returns 0 at once for IS_NOSEC or a non-regular file (the only source of -EPERM/-ENOMEM: __remove_privs); file_update_time_flags ignores a failed mnt_get_write_access_file and generic_update_time cannot fail without IOCB_NOWAIT (ext4 and the block device have no ->update_time); xfs_vn_update_time can fail its transaction (-EIO). Read in 7.3.4";
    BDEV_NO_QUOTA = 18, "F4-bdev-errno",
        "quota or allocation errnos (-EDQUOT; -ENOSPC from write_begin) on a block device",
        "a block device's page cache has no quota and no allocation: blkdev_write_begin maps blocks 1:1 (blkdev_get_block / blkdev_iomap_begin), so write_begin cannot run out of space and nothing charges quota";
    COW_FORK_REFLINK = 19, "W15-cow-fork",
        "XFS CoW-fork extents or a cowextsize hint anywhere but on an XFS filesystem with reflink",
        "fs/xfs: the CoW fork is created only by xfs_ifork_init_cow, called from xfs_reflink_allocate_cow and xfs_buffered_write_iomap_begin (both only for xfs_is_cow_inode, which needs xfs_has_reflink: the REFLINK flag is set only by a remap, always_cow only with reflink) and from 6.16 xfs_atomic_write_cow_iomap_begin (xfs_can_sw_atomic_write = xfs_has_reflink); XFS_DIFLAG2_COWEXTSIZE is refused without reflink (xfs_ioctl_setattr_check_cowextsize -EINVAL, xfs_inode_validate_cowextsize); ext4 and block devices have no CoW fork. Read in 7.3.4";
    COW_DELALLOC_COW_INODE = 20, "W16-cow-delalloc",
        "a delalloc CoW reservation on an inode that is not a CoW inode (no reflink flag, no shared block, no always_cow), or on a DAX inode",
        "fs/xfs/xfs_iomap.c xfs_buffered_write_iomap_begin is the only caller of xfs_bmapi_reserve_delalloc(XFS_COW_FORK), and only for xfs_is_cow_inode; a DAX inode never takes the buffered path (xfs_file_dax_write), and direct and atomic writes allocate real CoW blocks (xfs_reflink_fill_cow_hole, xfs_atomic_write_cow_iomap_begin: XFS_BMAPI_PREALLOC). Read in 7.3.4";
    COW_EXTSIZE_ONE = 21, "W17-cowextsize",
        "a CoW-fork block at rest (no dirty or writeback page over it) with a cowextsize hint of one block",
        "xfs_get_cowextsz_hint (fs/xfs/xfs_inode.c) is the alignment xfs_bmap_compute_alignments / xfs_bmap_extsize_align and xfs_buffered_write_iomap_begin apply to every CoW-fork allocation and reservation; with a hint of one block nothing beyond the blocks a write reserved or allocated enters the CoW fork, and those leave it when their I/O completes (xfs_reflink_end_cow) or when a direct write converts them (convert_now: written, never left unwritten); only a buffered write's blocks wait in the fork, under their dirty pages";
    COW_DELALLOC_DIRTY = 22, "W18-cow-delalloc-dirty",
        "a delalloc CoW reservation none of whose blocks lies under a dirty page",
        "a CoW-fork delalloc extent is reserved by a buffered write (xfs_buffered_write_iomap_begin) together with the dirty folios it covers, and the first writeback of any of them converts the whole extent (xfs_map_blocks -> xfs_bmapi_convert_delalloc(XFS_COW_FORK) allocates br_blockcount blocks); a failed buffered write punches its own range (xfs_buffered_write_iomap_end, both forks since 6.12). So a delalloc CoW extent still in the fork has a dirty folio over one of its blocks (the speculative cowextsize part has none of its own). Not taken as worlds (blind spots, not false alarms): a failed write's speculative tail, and the remainder a writeback leaves when fragmented free space gives xfs_bmapi_convert_delalloc less than the extent (the model's allocator never does). Read in 7.3.4";
    DMA_ALIGNMENT_MASK = 23, "W19-dma-alignment",
        "a device DMA alignment that is not a mask 2^k - 1 of 2 bytes to PAGE_SIZE",
        "block/blk-settings.c blk_validate_limits (6.11+, read in 6.12 and 7.3.4): a dma_alignment of 0 becomes SECTOR_SIZE - 1, one above PAGE_SIZE is refused (WARN_ON_ONCE, -EINVAL); drivers set masks (SCSI scsi_init_limits: max(shost->dma_alignment, dma_get_cache_alignment() - 1); NVMe 3; stacking takes the max), and blk_queue_dma_alignment takes a mask";
    JOURNAL_DATA_NO_DELALLOC = 24, "W20-journal-delalloc",
        "a delayed-allocation block on an ext4 inode whose data is journalled (data=journal mount or the journal-data inode flag in effect)",
        "fs/ext4/ext4_jbd2.c ext4_inode_journal_mode: data journalling holds for data=journal mounts and for the JOURNAL_DATA inode flag only when the filesystem is mounted without delalloc (\"We do not support data journalling with delayed allocation\"); fs/ext4/super.c refuses data=journal together with delalloc (\"both data=journal and delalloc\"), and ext4_change_inode_journal_flag flushes all dirty data before the mode changes. So no block of such an inode, nor of its filesystem, waits in delayed allocation. Read in 7.3.4; found by `live` (a +j inode on a delalloc mount is not journalled)";
    JOURNAL_FLAG_FLUSH = 25, "W21-journal-flag-flush",
        "chattr +j after open (the JOURNAL_DATA flag set) with dirty, writeback or mmapped dirty pages, or delalloc blocks, at the write",
        "fs/ext4/inode.c ext4_change_inode_journal_flag (the only way the flag changes, from ext4_ioctl_setflags) runs filemap_write_and_wait(inode->i_mapping) under filemap_invalidate_lock before switching the mode: every dirty page is written back and waited for, delayed blocks allocated. Under the race premise (the race list is the whole history between open and the write) nothing dirties the file after the change. Read in 6.12.117 (flush only when the flag is set), 7.2.12 and 7.3.4 (flush in both directions): chattr -j with dirty pages left is real on 6.12, so only +j is a rule. Found while building the race for live";
    DAX_ALWAYS_EVERY_FILE = 26, "W22-dax-always",
        "a dax mount (dax=always) with a regular file the kernel would have made DAX but the scenario does not: any XFS file; an ext4 file that neither journals data nor is encrypted or verity (an inline one included: the option is refused on a filesystem with inline data)",
        "fs/xfs/xfs_iops.c xfs_inode_should_enable_dax: with xfs_has_dax_always, true for every inode xfs_inode_supports_dax accepts (a regular file, sb_blocksize == PAGE_SIZE, a DAX device), and xfs_setup_dax_always (fs/xfs/xfs_super.c) turns the option off on a device without DAX or with other block sizes; fs/ext4/inode.c ext4_should_enable_dax: with DAX_ALWAYS true unless the inode journals data, has inline data, is encrypted or verity (EXT4_FLAGS_BDEV_IS_DAX: a DAX device with PAGE_SIZE blocks). Read in 7.3.4; found while building DAX worlds for the lab (session 5). fs/ext4/super.c __ext4_fill_super refuses DAX_ALWAYS on a filesystem with the inline_data feature ('Cannot use DAX on a filesystem that may contain inline data', read in 7.3.4; seen in the lab in session 6), so no inline inode is under dax=always. Normalised: the mount without the option (dax=inode), which the model treats alike";
    EXT4_BITMAP_BELOW_MAXBYTES = 28, "W24-bitmap-maxbytes",
        "a scaled s_maxbytes with an ext4 block-mapped inode (no EXTENTS flag at the write) whose s_bitmap_maxbytes is not scaled at or below it",
        "fs/ext4/super.c __ext4_fill_super sets s_bitmap_maxbytes = ext4_max_bitmap_size() and s_maxbytes = ext4_max_size(): with huge_file 1,074,791,436 blocks (about 4 TiB) against 2^32 - 1 blocks (16 TiB) at 4 KiB, 16,843,020 blocks (about 16 GiB) against 4 TiB at 1 KiB, and without huge_file both are held under 2^32 - 1 sectors with the bitmap one also counting its indirect blocks: the bitmap limit is always terabytes (or gigabytes) below s_maxbytes. ext4_generic_write_checks (fs/ext4/file.c) applies it to every inode without EXT4_INODE_EXTENTS after generic_write_checks, so a block-mapped file near s_maxbytes is past its bitmap limit (-EFBIG), and a scaled s_bitmap_maxbytes above a scaled s_maxbytes has no real window. Read in 6.12.117 and 7.3.4. Normalised: s_bitmap_maxbytes = s_maxbytes (the same outcome: the write meets the limit at the same byte, -EFBIG past it)";
    EXT4_NO_BUSY_FOLIO = 29, "W25-ext4-release",
        "a clean page-cache folio that cannot be released on an ext4 inode whose data is not journalled",
        "fs/ext4/inode.c ext4_release_folio fails only for a folio with the checked flag (set only by ext4_journalled_dirty_folio, journalled aops) or when jbd2_journal_try_to_free_buffers (fs/jbd2/transaction.c) finds a buffer still on a transaction (buffer_jbd) or try_to_free_buffers (fs/buffer.c drop_buffers: buffer_busy) finds one referenced, dirty or locked. Data buffers of an inode in ordered or writeback mode never get a journal head (ordered data is tracked per inode, jbd2_journal_inode_ranged_write), and ext4_change_inode_journal_flag flushes the mapping and the journal (jbd2_journal_flush checkpoints every buffer) before the mode changes; a data buffer is referenced or locked only under the folio lock or while the folio is under writeback, and invalidate_inode_pages2_range holds the lock and has waited for writeback (folio_wait_writeback). So release fails on such a folio only because it is dirty (PageState::Dirty or MappedDirty). Journalled data (data=journal, or the flag in effect) keeps its buffers on the running or committing transaction: real there (and never on the direct path: ext4_dio_alignment is 0). Read in 7.3.4; found in session 6 building page states for live";
    IMMUTABLE_FLUSH = 30, "W26-immutable-flush",
        "chattr +i after open on ext4 (the IMMUTABLE flag set at the write) with a dirty, writeback or mmapped dirty page, or a delalloc block, at the write",
        "fs/ext4/ioctl.c ext4_ioctl_setflags: setting EXT4_IMMUTABLE_FL on a regular file runs inode_dio_wait and filemap_write_and_wait(inode->i_mapping) before the flag changes (\"flush all the dirty pages for this file. The flush marks all the pages readonly\", since 5.2: \"ext4: enforce the immutable flag on open files\"; read in 7.2.12 and 7.3.4): every dirty page is written back and waited for, delayed blocks allocated, mapped pages write-protected. Under the race premise nothing dirties the file after the change (a store through a mapping faults into ext4_page_mkwrite, which refuses an immutable inode). Found in session 6 by live: a page the harness held under writeback had been written back by the race's chattr +i. XFS (xfs_fileattr_set) is not covered";
    SWAPFILE_LAYOUT = 31, "W27-swapfile",
        "an active swap file (IS_SWAPFILE at open or at the write) that swapon would have refused or that has been dirtied since: i_size under two pages, a hole or delalloc block below i_size rounded down to a page, a shared block, page 0 not written (the swap header), inline data, encryption, an unlinked inode, a dirty, writeback or mmapped dirty page, or an mmap writer",
        "mm/swapfile.c SYSCALL swapon: -ENOENT for d_unlinked, -EINVAL for IS_ENCRYPTED, read_mapping_folio(0) must find the SWAPSPACE2 header, 'Empty swap-file' without a usable page after the header; fs/iomap/swapfile.c iomap_swapfile_activate (ext4 ext4_iomap_swap_activate, XFS xfs_vm_swap_activate): vfs_fsync first, then only IOMAP_MAPPED/IOMAP_UNWRITTEN extents ('has unallocated extents', 'is inline'), no IOMAP_F_SHARED, over ALIGN_DOWN(i_size, PAGE_SIZE), and at least one page ('Cannot find a single usable page'); swapon sets S_SWAPFILE and runs inode_drain_writes; afterwards writes (generic_write_checks), fallocate (vfs_fallocate), truncate (fs/attr.c), remap (remap_range.c) give -ETXTBSY, a shared writable mmap -ETXTBSY (mm/mmap.c do_mmap), a store through an older mapping SIGBUS (mm/memory.c do_page_mkwrite), unlink -EPERM (fs/namei.c may_delete). Read in 7.3.4";
    FLAG_CHANGE_NO_CALL = 32, "W28-flag-no-call",
        "an inode state change after open that only a write or an O_TMPFILE file makes: IS_NOSEC set (false -> true), an unlinked inode linked again (unlinked true -> false), i_disksize falling behind i_size (disksize_lag false -> true)",
        "fs/inode.c file_remove_privs_flags is the only place S_NOSEC is set on an open inode (inode_has_no_xattr, on a write or fallocate that finds nothing to strip; ext4/XFS set it otherwise only when the inode is loaded); fs/namei.c vfs_link refuses an inode with i_nlink 0 unless I_LINKABLE (O_TMPFILE) with -ENOENT; ext4_da_do_write_end moves i_size past i_disksize only on a buffered write. Under the race premise (the race list is the whole history between open and the write) none of these happened. Read in 7.3.4";
    BIO_TIMEOUT_ATOMIC_DEVICE = 33, "W29-bio-timeout",
        "a bio completing with -ETIMEDOUT (BLK_STS_TIMEOUT) on a device with hardware atomic write units",
        "BLK_STS_TIMEOUT is set only by null_blk (null_timeout_rq), mtip32xx (mtip_cmd_timeout), nbd (nbd_xmit_timeout, config already gone), the s390 DASD/EADM/SCM drivers, and as errno_to_blk_status() of a backing file's or server's -ETIMEDOUT by loop (lo_complete_rq) and ublk (__ublk_complete_rq); none sets atomic write limits. The devices that do (BLK_FEAT_ATOMIC_WRITES / atomic_write_hw_*: drivers/scsi/sd.c, drivers/nvme/host/core.c and multipath.c, md raid0/1/10/linear, dm linear/stripe/raid1/mpath/crypt stacking only such devices) never complete with it: scsi_result_to_blk_status (drivers/scsi/scsi_lib.c) has no timeout status (a timed-out command ends DID_TIME_OUT -> BLK_STS_IOERR) and nvme_error_status (drivers/nvme/host/core.c) maps an aborted command to BLK_STS_IOERR. Read in 7.3.4 (every drivers/ and block/ source) and 6.12.117. Normalised to -EIO, what those devices give a timed-out write";
    SWAP_CHANGE_WRITE_OPEN = 36, "W32-swap-open",
        "swapon or swapoff after open (the swap flag changed after open) of an inode that is append-only or immutable at open and at the write",
        "mm/swapfile.c: SYSCALL swapon opens the file with file_open_name(name, O_RDWR | O_LARGEFILE | O_EXCL, 0) and SYSCALL swapoff with file_open_name(pathname, O_RDWR | O_LARGEFILE, 0); fs/namei.c may_open refuses an IS_APPEND inode opened for writing without O_APPEND (-EPERM), and inode_permission (MAY_WRITE) an IS_IMMUTABLE one (-EPERM). So neither runs while the flag is set (an append-only swap file at rest is real: swapon, then chattr +a, which ext4_ioctl_setflags and xfs_fileattr_set allow on an active swap file). Read in 7.3.4; found in session 7 by the lab's swap groups (swapoff: Operation not permitted on an append-only swap file). Normalised: the swap flag as it was at open";
    BDEV_OPEN_SIZE = 37, "W33-bdev",
        "a block device whose size is not a multiple of 512 bytes, or opened without O_LARGEFILE",
        "block/bdev.c bdev_open, which blkdev_open (block/fops.c) calls for every open of a block device node, sets O_LARGEFILE in f_flags (to preserve backwards compatibility, its comment says; moved there from blkdev_open in 6.9; read in 7.3.4, measured on 6.18.44: the ia32 open of a loop device node, which gives a regular file no O_LARGEFILE, gives the device one); block/bdev.c bdev_set_nr_sectors (called by set_capacity, block/genhd.c, and for partitions by add_partition / bdev_resize_partition, block/partitions/core.c) is the only writer of a block device inode's i_size: i_size_write(BD_INODE(bdev), sectors << SECTOR_SHIFT); bdev_nr_bytes() (include/linux/blkdev.h), the size blkdev_write_iter and blkdev_llseek use, is the same shift. Read in 7.3.4 (identical in 6.12.117). Found in session 7 auditing live's block-device refusals. Normalised: the size rounded down to a sector (what the block layer would have made of a device of that many bytes), O_LARGEFILE set (which the block-device write path never reads: blkdev_write_iter calls no generic_write_checks)";
    DISKSIZE_LAG_DELALLOC = 41, "W37-disksize-delalloc",
        "an ext4 i_disksize behind i_size (disksize_lag) at the write on an inode without delayed allocation: data=journal, the journal-data flag, DAX or inline data",
        "only ext4_da_do_write_end (fs/ext4/inode.c, the delalloc aops) leaves i_disksize behind i_size after a buffered write (ext4_da_should_update_i_disksize is false for a delayed buffer). Every other path moves both: ext4_write_end (nodelalloc) and ext4_journalled_write_end call ext4_update_inode_size (fs/ext4/ext4.h: i_size_write, then ext4_update_i_disksize), ext4_write_inline_data_end the same for an inline write, a DAX write ends in ext4_handle_inode_extension, ext4_setattr sets i_disksize = ia_size, fallocate ext4_update_inode_size. The delalloc lag cannot survive a switch to those paths: ext4_change_inode_journal_flag runs filemap_write_and_wait(inode->i_mapping) first (writeback moves i_disksize: mpage_map_and_submit_extent), the data mode cannot change on remount (ext4_check_opt_consistency: 'Cannot change data mode on remount'), S_DAX changes only when the inode is loaded (a dirty inode is not evicted), and inline data is never set on an inode with blocks (ext4_create_inline_data on a new, empty inode). Read in 6.12.117, 7.2.12 and 7.3.4. The transient inline state after a delalloc conversion (ext4_da_convert_inline_data_to_extent: INLINE_DATA kept with delayed blocks until writeback) does have a lag: with world.inline_delalloc (rule W46, session 9) the inode counts as the delalloc inode it is. Found in session 8 deciding whether live should build such a lag. The same holds at open (a lag cleared after open, flag 11, on such an inode), but the rule judges only the world at the write: the model reads i_disksize only there, and a committed regression input decodes with such a race (live refuses to build it). Normalised: no lag";
    SWAP_DEVICE = 39, "W35-swap-device",
        "an active swap device (IS_SWAPFILE on a block device, at open or at the write) that swapon would have refused or that has been dirtied since: under two pages, a dirty, writeback or mmapped dirty page, or an mmap writer",
        "mm/swapfile.c SYSCALL swapon (7.3.4): claim_swapfile takes an S_ISBLK inode as the device itself (SWP_BLKDEV), read_swap_header / setup_swap_map need a usable page after the header ('Empty swap-file' for last_page 0), then S_SWAPFILE is set and inode_drain_writes (include/linux/pagemap.h: inode_dio_wait + filemap_write_and_wait) writes back every dirty page of the device's mapping; afterwards blkdev_write_iter (block/fops.c, 6.12.117 - 7.3.4) gives -ETXTBSY unless the device is the hibernation resume device, and do_mmap (mm/mmap.c) refuses a shared writable mapping with -ETXTBSY, so nothing dirties its page cache; swapoff clears S_SWAPFILE. Session 8, building swap devices in the lab. Normalised: the device is not a swap device";
    JFLAG_CLEARED_BLOCKS = 49, "W45-jflag-cleared",
        "ext4 chattr -j after open (the journal-data flag in effect at open, cleared at the write, no data=journal mount) with a delayed block at the write, or an unwritten block under a dirty, writeback or mmapped dirty page inside EOF",
        "fs/ext4/ext4_jbd2.h ext4_inode_journal_mode: the flag in effect at open means the mount had no delalloc then (rule W20), and the file's buffered writes and page faults went through the journalled paths: ext4_write_begin -> ext4_block_write_begin with ext4_get_block (ext4_should_dioread_nolock is false for journalled data, so never ext4_get_block_unwritten), ext4_page_mkwrite the same, and ext4_get_block with EXT4_GET_BLOCKS_CREATE converts an unwritten extent it writes into (ext4_ext_map_blocks -> ext4_ext_handle_unwritten_extents -> ext4_ext_convert_to_initialized): no delayed block and no unwritten block under a page they dirtied. ext4_change_inode_journal_flag then clears the flag (after jbd2_journal_flush; 7.2+ after filemap_write_and_wait and truncate_pagecache too) without allocating or dirtying anything, and under the race premise nothing writes after it. Read in 6.12.117 and 7.3.4. Found in session 9 building dirty pages at the write after -j for live. Normalised: such blocks written (what the journalled write made of them)";
    BDEV_TAIL_UNCACHED = 45, "W41-bdev-tail",
        "a page-cache page over the block (of the device's block size) that holds the end of a block device whose size is not whole logical blocks",
        "a loop device of 4 KiB logical blocks over a file of 512 n bytes has a size that is not whole logical blocks (drivers/block/loop.c lo_calculate_size, 6.12: get_size, counts sectors, loop_set_size -> set_capacity_and_notify rounds nothing). Every way into the page over its end reads the buffer head that holds it first: filemap_read / filemap_fault -> blkdev_read_folio (block_read_full_folio), and a buffered or mmap write that covers it only in part (__block_write_begin_int; blkdev_write_iter truncates every write at bdev_nr_bytes, so none covers it whole). That read's bio is cut at the device end by guard_bio_eod (block/bio.c) to a length that is not whole logical blocks, and blk_mq_submit_bio fails it (bio_unaligned, block/blk-mq.c): -EIO, and the folio never becomes uptodate or dirty (an mmap access there: filemap_fault -> filemap_read_folio -EIO -> VM_FAULT_SIGBUS). Read in 6.12.117 and 7.3.4 (the same); measured on 6.18.44 (a buffered read of a 6 KiB loop device with 4 KiB logical blocks stops at 4 KiB, 'Buffer I/O error on dev loop0, logical block 1', a 2 KiB pwrite at 4096 gives -EIO; a load from a MAP_SHARED mapping at 4096: SIGBUS). Found in session 8 building such devices for live. Session 11, 1 and 2 KiB logical blocks (buffers smaller than a page): the rule is a blind spot there, not an impossible world. block_read_full_folio (fs/buffer.c) reads the buffers below the end buffer, zero-fills those past i_size (iblock >= lblock) and fails only the end buffer, so the folio stays cached but not uptodate (a later write re-reads the buffers it covers in part and fails at the same one: what an uncached page gives); a buffered write that ends before the end buffer dirties the buffers it covers (__block_write_begin_int reads only the buffers covered in part; __block_commit_write leaves the folio not uptodate), and block_write_full_folio writes back only dirty buffers, so that folio can be dirty, under writeback or clean, never uptodate: no write covers the end buffer whole (blkdev_write_iter truncates at bdev_nr_bytes) and an mmap access faults into the failing read (SIGBUS). PageState's cached states are uptodate pages (a Dirty page over the end buffer would let a write through it that the kernel fails with -EIO), so the reachable not-uptodate folio would need a per-page uptodate state the format does not have: every cached state stays out. Read in 6.12.117 and 7.3.4. Normalised: the page is not cached";
    MAX_BIO_LAYOUT = 34, "W30-max-bio",
        "a bio size limit (request.max_bio) given as a number instead of by the user memory layout",
        "a direct-I/O bio is cut short by the user memory only when its BIO_MAX_VECS (256) bvecs are used up: bio_iov_iter_get_pages (block/bio.c) fills a bvec per pinned user page (6.12: __bio_iov_iter_get_pages -> bio_iov_add_folio, merging only a physically contiguous continuation, bvec_try_merge_page; 7.2+: iov_iter_extract_bvecs (lib/iov_iter.c), a bvec per page of each extraction, i.e. per iovec segment). So a bio's size is what 256 bvecs hold of the layout, never a free number: 15 contiguous segments cannot use them up in fewer than 242 pages (more than 900 KiB, the cut the model makes at 256 pages), and a layout that fills them with little data (hundreds of iovecs each in its own page, IOV_MAX 1024) is described by the scattered-iovec section (request.scatter, SEGS_SECTION), where the model derives every bio's size from the bvecs (IovIter::bvec_cap). Read in 6.12.117 and 7.3.4. Normalised: no limit";
    BIO_BASED_DEVICE = 46, "W42-bio-based-device",
        "a bio-based disk that never splits (world.device.no_bio_split: pmem, brd, zram) with a DMA alignment other than 511 or with hardware atomic write units",
        "the bio-based drivers that never call bio_split_to_limits (drivers/nvdimm/pmem.c pmem_attach_disk, drivers/block/brd.c brd_alloc, drivers/block/zram/zram_drv.c zram_add; also btt, dcssblk, ps3vram, n64cart) set no dma_alignment and no atomic_write_hw_* limits, so blk_validate_limits (block/blk-settings.c) gives them dma_alignment SECTOR_SIZE - 1 = 511 and bdev_can_atomic_write() is false; the bio-based drivers that do have such limits stack them (md, dm, nvme multipath, drbd) and call bio_split_to_limits. Read in 7.3.4 (every ->submit_bio of drivers/); measured: /sys/block/pmem0/queue/dma_alignment 511 on 6.18.15 and 7.3.4 in the lab. Session 9 (pmem618). Normalised: a blk-mq disk (no_bio_split cleared)";
    INLINE_DELALLOC = 50, "W46-inline-delalloc",
        "an ext4 inode whose inline data a delalloc write converted and writeback has not yet destroyed (world.inline_delalloc) other than the one ext4_da_convert_inline_data_to_extent leaves: not ext4, without INLINE_DATA (at open or at the write), on an inode without delayed allocation (data=journal, the journal-data flag, DAX), without block 0 delayed under a dirty page 0, with a written, unwritten or shared block, with a page under writeback, mmapped dirty or busy, or with an i_size below EXT4_MIN_INLINE_DATA_SIZE (60)",
        "fs/ext4/inline.c ext4_da_write_inline_data_begin (6.12.117; 7.3.4: ext4_generic_write_inline_data with da = true), from ext4_da_write_begin while EXT4_STATE_MAY_INLINE_DATA is set, calls ext4_da_convert_inline_data_to_extent when ext4_prepare_inline_data gives -ENOSPC (pos + len past ext4_get_max_inline_size(), at least EXT4_MIN_INLINE_DATA_SIZE): it reads the inline data into folio 0, maps [0, inline size) with ext4_da_get_block_prep (block 0 delayed: the inline size is under a block, rule W6), marks folio 0 dirty and uptodate and clears EXT4_STATE_MAY_INLINE_DATA, keeping INLINE_DATA and every flag (no EXTENTS); ext4_da_write_begin then takes the delalloc path for the rest of the write and every later one. Only the delalloc aops get there (ext4_write_begin and the journalled aops convert at once through ext4_convert_inline_data_to_extent; a DAX inode is never inline). Nothing allocates a block before writeback: ext4_do_writepages destroys the inline data first (ext4_destroy_inline_data, BUG_ON MAY_INLINE_DATA set), and every path that could allocate (ext4_fallocate, ext4_page_mkwrite, a truncate past i_inline_size, all through ext4_convert_inline_data) flushes first when MAY_INLINE_DATA is clear (filemap_flush); O_DIRECT stays buffered (ext4_dio_alignment() is 0 with inline data), so no page is under writeback or mmapped dirty while the state lasts, and no ext4 folio is busy outside data=journal (W25). A truncate below the inline size (ext4_inline_data_truncate) drops every delayed extent from the extent status tree while folio 0 stays dirty (a block map the model cannot hold), so i_size stays at or above 60: a truncate to exactly i_inline_size (60, or the end of the largest inline write up to ext4_get_max_inline_size()) keeps the state (ext4_setattr converts only past i_inline_size, ext4_inline_data_truncate drops only below the inline size; session 10, 7.3.4 and 6.12.117's ext4_setattr/ext4_truncate). Read in 6.12.117 (fs/ext4/inline.c, inode.c) and 7.3.4; session 9. Normalised: no conversion pending (the plain inline inode of rule W6)";
    SMALL_LBS_DEVICE = 51, "W47-small-lbs",
        "1 or 2 KiB logical blocks (world.lbs_bits 10 or 11) on a device that has only 512-byte or 4 KiB ones: a DAX device (a dax mount or a DAX inode, at open or at the write) or a bio-based disk that never splits (world.device.no_bio_split)",
        "the DAX drivers: drivers/nvdimm/pmem.c pmem_attach_disk sets logical_block_size = pmem_sector_size() (drivers/nvdimm/namespace_devs.c: 512 unless the namespace's lbasize is 4096; pmem_lbasize_supported = {512, 4096}), drivers/s390/block/dcssblk.c 4096. The bio-based drivers that never split (rule W42): pmem as said, drivers/block/brd.c sets none (blk_validate_limits gives SECTOR_SIZE), zram ZRAM_LOGICAL_BLOCK_SIZE (4096), dcssblk and n64cart 4096, btt a sector size of btt_lbasize_supported (512, 520, 528, 4096, 4104, 4160, 4224: none 1 or 2 KiB). 1 and 2 KiB logical blocks come from loop (LOOP_CONFIGURE block_size / LOOP_SET_BLOCK_SIZE: loop_update_limits takes any valid block size), SCSI disks (sd_read_capacity: 1024 and 2048 accepted in 6.12.117, any blk_validate_block_size in 7.3.4) and what stacks on them. Read in 6.12.117 and 7.3.4; session 11 (tail devices of 1 and 2 KiB logical blocks). Normalised: 512-byte logical blocks";
    WRITEBACK_CONVERTED = 52, "W48-writeback-unwritten",
        "an ext4 page under writeback inside EOF over a delayed block, or over an unwritten block on an inode whose writeback converts it at submission (data=journal, the journal-data flag)",
        "fs/ext4/inode.c (6.12.117 and 7.3.4): writeback maps a folio's delayed and unwritten dirty buffers (mpage_add_bh_to_extent, mpage_process_page_bufs) and mpage_map_and_submit_buffers submits a folio for I/O (ext4_bio_write_folio, which sets PG_writeback) only once every buffer of it is mapped (mpage_process_folio: a buffer past the mapped extent makes the next extent to map, the folio is not submitted), so no folio under writeback has a delayed buffer inside EOF. mpage_map_one_extent asks EXT4_GET_BLOCKS_CREATE, and only with ext4_should_dioread_nolock (fs/ext4/ext4_jbd2.h: the DIOREAD_NOLOCK mount option, the default, on an extent-mapped regular file on a delalloc mount without journalled data) also EXT4_GET_BLOCKS_IO_CREATE_EXT (6.12.117) / EXT4_GET_BLOCKS_UNWRIT_EXT (7.3.4): then an unwritten extent stays unwritten through the I/O and ext4_end_io_end -> ext4_convert_unwritten_io_end_vec converts it at completion (ext4_end_bio defers ext4_finish_bio, which ends the folio's writeback, until then: ext4_io_end_defer_completion, fs/ext4/page-io.c); otherwise ext4_ext_map_blocks converts it at submission (ext4_ext_handle_unwritten_extents -> ext4_ext_convert_to_initialized). Journalled data (data=journal or the flag in effect) writes its buffers through ext4_get_block, which converts too. The nodioread_nolock mount is not a world field (live builds it with written blocks: the model's page under writeback over a written block). Session 11. Normalised: such blocks written";
}

/// The detail text of a broken rule, built only when it is wanted (the fuzz targets check every
/// input, so the fast path allocates nothing).
macro_rules! msg {
    ($detail:expr, $($arg:tt)*) => {
        if $detail {
            format!($($arg)*)
        } else {
            String::new()
        }
    };
}

/// A broken rule, with what in this scenario breaks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}; forbidden by {}",
            self.rule.id, self.rule.forbids, self.detail, self.rule.source
        )
    }
}

/// The index of each inode flag in INODE_FLAG_NAMES (the race argument).
mod flag {
    pub const EXTENTS: u8 = 0;
    pub const JOURNAL_DATA: u8 = 1;
    pub const INLINE_DATA: u8 = 2;
    pub const ENCRYPTED: u8 = 3;
    pub const VERITY: u8 = 4;
    pub const DAX: u8 = 5;
    pub const IMMUTABLE: u8 = 6;
    pub const APPEND_ONLY: u8 = 7;
    pub const SWAPFILE: u8 = 9;
    pub const REFLINK: u8 = 12;
}

fn get(f: &InodeFlags, i: u8) -> bool {
    ((f.to_bits() & (1 << i)) != 0) != matches!(i, 0 | 8)
}

/// EXT4_NDIR_BLOCKS: the direct block pointers of an indirect inode.
const EXT4_NDIR_BLOCKS: usize = 12;

fn has_units(d: &Device) -> bool {
    d.awu_min != 0 || d.awu_max != 0
}

fn flag_races(s: &Scenario) -> impl Iterator<Item = u8> + '_ {
    s.races.iter().filter_map(|r| match r {
        Race::InodeFlagChangedAfterOpen(i) => Some(*i),
        _ => None,
    })
}

/// Did flag `i` change between open and the write?
fn changed(s: &Scenario, i: u8) -> bool {
    flag_races(s).filter(|&j| j == i).count() % 2 == 1
}

fn drop_flag_races(s: &mut Scenario, i: u8) {
    s.races
        .retain(|r| !matches!(r, Race::InodeFlagChangedAfterOpen(j) if *j == i));
}

/// Is the inode DAX at open or at the write (an open file pins S_DAX, rule W9, so both agree in a
/// valid scenario; before normalisation either counts).
fn dax_any(s: &Scenario) -> bool {
    s.world.inode.dax || (!s.races.is_empty() && s.inode_at_open().dax)
}

/// Blocks that hold data (written, unwritten, delalloc).
/// The most data an ext4 inode of the largest size (a block) holds inline:
/// ext4_get_max_inline_size() = in-body xattr space + EXT4_MIN_INLINE_DATA_SIZE = inode size - 128.
pub fn max_inline(bs: u64) -> u64 {
    bs - 128
}

fn allocated(b: &BlockState) -> bool {
    b.kind != Extent::Hole
}

/// A delayed block (no disk block, not shared).
fn delayed(b: &BlockState) -> bool {
    b.kind == Extent::Delalloc && !b.shared
}

/// Would ext4_ind_migrate() accept the layout (the world at write time, see the module premise)?
fn ind_migrate_accepts(s: &Scenario) -> Result<(), String> {
    let w = &s.world;
    if !w.mount.extents_feature {
        return Err("no extents feature (-EINVAL)".into());
    }
    if w.cluster_bits != 0 {
        return Err("bigalloc (-EOPNOTSUPP)".into());
    }
    let blocks = &w.blocks;
    if let Some(i) = blocks
        .iter()
        .position(|b| matches!(b.kind, Extent::Unwritten | Extent::Delalloc))
    {
        return Err(format!(
            "block {i} is {:?} (an unwritten extent's ee_len puts its end past EXT4_NDIR_BLOCKS; delalloc is allocated first by ext4_alloc_da_blocks)",
            blocks[i].kind
        ));
    }
    let used: Vec<usize> = (0..blocks.len())
        .filter(|&i| allocated(&blocks[i]))
        .collect();
    if let (Some(&a), Some(&b)) = (used.first(), used.last()) {
        if b >= EXT4_NDIR_BLOCKS {
            return Err(format!(
                "the extent ends at block {b}, past EXT4_NDIR_BLOCKS (-EOPNOTSUPP)"
            ));
        }
        let one_run =
            (a..=b).all(|i| allocated(&blocks[i])) && (a + 1..=b).all(|i| !blocks[i].new_extent);
        if !one_run {
            return Err("more than one extent (eh_entries > 1, -EOPNOTSUPP)".into());
        }
    }
    Ok(())
}

/// Inline data at open, converted away by the write (the conversion set EXTENTS itself).
fn inline_converted(s: &Scenario) -> bool {
    s.inode_at_open().inline_data && !s.world.inode.inline_data
}

/// Why flag `i`'s change from `from` (at open) to `to` (at the write) cannot happen, if it cannot.
fn bad_transition(s: &Scenario, i: u8, from: bool, to: bool) -> Option<String> {
    let ext4_only = matches!(
        i,
        flag::EXTENTS | flag::JOURNAL_DATA | flag::INLINE_DATA | flag::ENCRYPTED | flag::VERITY
    );
    let name = INODE_FLAG_NAMES[i as usize];
    match s.fs {
        FsKind::Xfs if ext4_only => return Some(format!("{name} is an ext4 flag")),
        FsKind::Ext4 if i == flag::REFLINK => return Some("ext4 has no reflink".into()),
        FsKind::Bdev if i != flag::SWAPFILE => {
            return Some(format!("a block device file has no {name} flag"))
        }
        _ => {}
    }
    match (i, from, to) {
        (flag::DAX, _, _) => Some("S_DAX does not change while the inode is open".into()),
        (flag::ENCRYPTED, _, _) => Some("encryption is set only on a new inode".into()),
        (flag::VERITY, true, false) => Some("fs-verity cannot be disabled".into()),
        (flag::VERITY, false, true) if !s.request.read => {
            Some("fs-verity cannot be enabled while a writer exists (-ETXTBSY)".into())
        }
        (flag::INLINE_DATA, false, true) => {
            Some("inline data is only converted away, never back".into())
        }
        (flag::EXTENTS, true, false) => ind_migrate_accepts(s)
            .err()
            .map(|e| format!("chattr -e: ext4_ind_migrate refuses: {e}")),
        (flag::EXTENTS, false, true) => {
            if !s.world.mount.extents_feature {
                Some("chattr +e: ext4_ext_migrate needs the extents feature".into())
            } else if s.world.blocks.iter().any(|b| b.kind == Extent::Unwritten)
                && !inline_converted(s)
            {
                // Not after an inline conversion: ext4_destroy_inline_data_nolock sets EXTENTS
                // (ext4_ext_tree_init) and the fallocate that converted may allocate unwritten
                // blocks after block 0 (ext4_fallocate -> ext4_do_fallocate; session 8).
                Some("chattr +e: ext4_ext_migrate makes written extents only".into())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// ext4 `chattr -j` after open: the journal-data flag in effect at open, cleared at the write
/// (rule W45's premise).
pub fn jflag_cleared_after_open(s: &Scenario) -> bool {
    jflag::cleared_after_open(s)
}

/// The rules a scenario breaks; empty for a real world.
pub fn violations(s: &Scenario) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in RULES {
        if let Some(detail) = check_rule(s, rule, true) {
            out.push(Violation {
                rule: *rule,
                detail,
            });
        }
    }
    out
}

/// The first broken rule (cheaper than [`violations`] when only validity matters).
pub fn first_violation(s: &Scenario) -> Option<Violation> {
    RULES.iter().find_map(|rule| {
        check_rule(s, rule, true).map(|detail| Violation {
            rule: *rule,
            detail,
        })
    })
}

/// How far a scenario is from a real world: 0 for a valid one, else one per broken rule, and for
/// F2 one per missing condition of a REQ_NOWAIT bio (O_DIRECT at I/O, RWF_NOWAIT, and for iomap
/// aio and RWF_HIPRI), so a search can approach validity one dimension at a time
/// (crate::pairwise).
pub fn distance(s: &Scenario) -> u32 {
    RULES
        .iter()
        .filter(|r| check_rule(s, r, false).is_some())
        .map(|r| {
            if r.id != BIO_EAGAIN_NOWAIT.id {
                return 1;
            }
            let q = &s.request;
            let mut missing = (!s.direct_at_io()) as u32 + (!q.rwf.nowait) as u32;
            if s.fs != FsKind::Bdev {
                missing += (!q.aio) as u32 + (!q.rwf.hipri) as u32;
            }
            missing.max(1)
        })
        .sum()
}

/// For loaders of hand-written (JSON) scenarios: Err names the first rule the scenario breaks.
/// (Decoded bytes never need it: decode normalises.)
pub fn require_real_world(s: &Scenario) -> Result<(), String> {
    match first_violation(s) {
        None => Ok(()),
        Some(v) => Err(format!("not a world a real system can have: {v}")),
    }
}

pub fn is_valid(s: &Scenario) -> bool {
    RULES.iter().all(|r| check_rule(s, r, false).is_none())
}

fn check_rule(s: &Scenario, rule: &Rule, detail: bool) -> Option<String> {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    // No flag race: the inode at open is the inode at the write (skips the fold).
    let at_open = if s.races.is_empty() {
        w.inode
    } else {
        s.inode_at_open()
    };
    let fs_file = s.fs != FsKind::Bdev;
    match rule.n {
        // W1-dax-device
        0 => (fs_file && (dax_any(s) || w.mount.dax) && has_units(&w.device)).then(|| {
            msg!(
                detail,
                "DAX with device atomic units {}..{}",
                w.device.awu_min,
                w.device.awu_max
            )
        }),
        // W2-dax-blocksize
        1 => (fs_file && (dax_any(s) || w.mount.dax) && w.blkbits != 12)
            .then(|| msg!(detail, "DAX with {bs}-byte blocks")),
        // W3-ext4-dax
        2 => {
            if s.fs != FsKind::Ext4 {
                return None;
            }
            if w.mount.dax && w.mount.data_journal {
                return Some(msg!(detail, "dax mount with data=journal"));
            }
            [w.inode, at_open]
                .iter()
                .find(|f| {
                    f.dax
                        && (f.journal_data
                            || w.mount.data_journal
                            || f.inline_data
                            || f.encrypted
                            || f.verity)
                })
                .map(|_| {
                    msg!(
                        detail,
                        "a DAX inode that journals data, is inline, encrypted or verity"
                    )
                })
        }
        // W4-dax-no-cache
        3 => {
            if !fs_file || !dax_any(s) {
                return None;
            }
            if w.blocks.iter().any(|b| b.kind == Extent::Delalloc) {
                Some(msg!(detail, "delalloc block on a DAX inode"))
            } else if w.pages.iter().any(|p| *p != PageState::None) {
                Some(msg!(detail, "cached page on a DAX inode"))
            } else if s.has_race(Race::MmapRedirty) {
                Some(msg!(detail, "page-cache re-dirty race on a DAX inode"))
            } else {
                None
            }
        }
        // W5-verity-writer
        4 => (s.fs == FsKind::Ext4 && !s.request.read && (w.inode.verity || at_open.verity))
            .then(|| msg!(detail, "write on a verity inode")),
        // W6-inline
        5 => {
            if s.fs != FsKind::Ext4 {
                return None;
            }
            for (when, f) in [("at the write", w.inode), ("at open", at_open)] {
                if f.inline_data && f.extents {
                    return Some(msg!(detail, "inline data with the EXTENTS flag {when}"));
                }
            }
            if w.inode.inline_data {
                // A delalloc conversion pending (rule W46) keeps INLINE_DATA over delayed blocks.
                let held = |b: &BlockState| allocated(b) && !(w.inline_delalloc && delayed(b));
                if let Some(i) = w.blocks.iter().position(held) {
                    return Some(msg!(detail, "inline data with block {i} allocated"));
                }
                if w.i_size > max_inline(bs) && !w.inline_delalloc {
                    return Some(msg!(detail, "inline data of {} bytes", w.i_size));
                }
                if w.inode.encrypted || at_open.encrypted {
                    return Some(msg!(detail, "inline data on an encrypted inode"));
                }
            }
            None
        }
        // W7-indirect
        6 => {
            if s.fs != FsKind::Ext4 {
                return None;
            }
            let indirect = [w.inode, at_open]
                .iter()
                .any(|f| !f.extents && !f.inline_data);
            if !w.inode.extents && !w.inode.inline_data {
                if let Some(i) = w.blocks.iter().position(|b| b.kind == Extent::Unwritten) {
                    return Some(msg!(detail, "unwritten block {i} on an indirect inode"));
                }
            }
            (indirect && w.cluster_bits != 0)
                .then(|| msg!(detail, "bigalloc with an indirect inode"))
        }
        // W8-extents-feature
        7 => (s.fs == FsKind::Ext4
            && !w.mount.extents_feature
            && (w.inode.extents || at_open.extents))
            .then(|| msg!(detail, "extent-mapped inode without the extents feature")),
        // W9-flag-race
        8 => {
            if s.races.is_empty() {
                return None;
            }
            for i in 0..13u8 {
                if changed(s, i) {
                    let (from, to) = (get(&at_open, i), get(&w.inode, i));
                    if let Some(why) = bad_transition(s, i, from, to) {
                        return Some(msg!(
                            detail,
                            "{} {from} -> {to}: {why}",
                            INODE_FLAG_NAMES[i as usize]
                        ));
                    }
                }
            }
            None
        }
        // W10-open-for-write
        9 => {
            if s.request.read || !fs_file {
                return None;
            }
            if at_open.immutable {
                Some(msg!(detail, "opened for writing while immutable"))
            } else if at_open.append_only && !s.request.open.append {
                Some(msg!(
                    detail,
                    "opened for writing without O_APPEND while append-only"
                ))
            } else {
                None
            }
        }
        // W11-fs-options
        10 => fs_options(s),
        // W12-reflink
        11 => (s.fs == FsKind::Xfs
            && !w.mount.xfs_reflink
            && (w.inode.reflink || at_open.reflink || w.blocks.iter().any(|b| b.shared)))
        .then(|| msg!(detail, "reflink state without the reflink feature")),
        // W31-shared-written
        35 => w
            .blocks
            .iter()
            .position(|b| b.shared && b.kind != Extent::Written)
            .map(|i| msg!(detail, "block {i} is shared but {:?}", w.blocks[i].kind)),
        // W13-device-units
        12 => {
            let d = &w.device;
            if !has_units(d) {
                return None;
            }
            let lbs = 1u32 << w.lbs_bits;
            let ok = d.awu_min != 0
                && d.awu_max != 0
                && d.awu_min.is_power_of_two()
                && d.awu_max.is_power_of_two()
                && d.awu_min <= d.awu_max
                && d.awu_min >= lbs;
            (!ok).then(|| {
                msg!(
                    detail,
                    "units {}..{} with {lbs}-byte logical blocks",
                    d.awu_min,
                    d.awu_max
                )
            })
        }
        // W14-xfs-release
        13 => (s.fs == FsKind::Xfs && w.pages.contains(&PageState::Busy))
            .then(|| msg!(detail, "a busy (unreleasable) clean folio on XFS")),
        // W25-ext4-release
        29 => (s.fs == FsKind::Ext4
            && !w.mount.data_journal
            && !w.inode.journal_data
            && w.pages.contains(&PageState::Busy))
        .then(|| {
            msg!(
                detail,
                "a busy (unreleasable) clean folio on an ext4 inode without journalled data"
            )
        }),
        // W26-immutable-flush
        30 => (s.fs == FsKind::Ext4 && changed(s, flag::IMMUTABLE) && w.inode.immutable)
            .then(|| unflushed(w))
            .flatten()
            .map(|what| msg!(detail, "chattr +i after open with {what} at the write")),
        // F1-site
        14 => s
            .faults
            .iter()
            .find(|f| !site_reachable(s.fs, f.site))
            .map(|f| msg!(detail, "{} on {}", f.site.function(), s.fs.name())),
        // F2-bio-eagain
        15 => {
            let nowait_bio = bio_may_be_nowait(s);
            s.faults
                .iter()
                .find(|f| f.site == Site::BioEndIo && f.errno == EAGAIN && !nowait_bio)
                .map(|_| msg!(detail, "bio completion -EAGAIN without REQ_NOWAIT"))
        }
        // F3-launder
        16 => s
            .faults
            .iter()
            .find(|f| f.site == Site::InvalidateFolio && f.errno != EBUSY)
            .map(|f| msg!(detail, "invalidation {}", name(f.errno))),
        // F5-file-modified
        17 => s
            .faults
            .iter()
            .find(|f| file_modified_impossible(s, f))
            .map(|f| {
                msg!(
                    detail,
                    "file_modified {} with IS_NOSEC on {}",
                    name(f.errno),
                    s.fs.name()
                )
            }),
        // W15-cow-fork
        19 => ((!w.cow.is_empty() || w.cowextsize != 0)
            && (s.fs != FsKind::Xfs || !w.mount.xfs_reflink))
            .then(|| {
                msg!(
                    detail,
                    "CoW-fork state on {} without XFS reflink",
                    s.fs.name()
                )
            }),
        // W16-cow-delalloc
        20 => {
            if !w.cow.contains(&CowExtent::Delalloc) {
                return None;
            }
            if dax_any(s) {
                return Some(msg!(detail, "a delalloc CoW reservation on a DAX inode"));
            }
            let cow_inode = w.inode.reflink
                || at_open.reflink
                || w.mount.xfs_always_cow
                || w.blocks.iter().any(|b| b.shared);
            (!cow_inode).then(|| msg!(detail, "a delalloc CoW reservation on a non-CoW inode"))
        }
        // W22-dax-always
        26 => {
            if !fs_file || !w.mount.dax {
                return None;
            }
            // Not inline: ext4 refuses dax=always on a filesystem with the inline_data feature
            // (__ext4_fill_super, 7.3.4: "Cannot use DAX on a filesystem that may contain
            // inline data"), so an inline inode never sees the option (found in session 6).
            // S_DAX is decided when the inode is loaded (ext4_set_inode_flags with init, from
            // __ext4_iget / __ext4_new_inode; xfs_setup_inode -> xfs_diflags_to_iflags with init)
            // and kept by later flag changes (ext4_set_inode_flags(inode, false) preserves it), so
            // the exclusions are judged on the inode at open: a +j file made non-DAX that loses
            // +j after open stays non-DAX (session 7, found by dax2; read in 7.3.4).
            let excluded =
                |f: &InodeFlags| f.journal_data || w.mount.data_journal || f.encrypted || f.verity;
            (w.inode.inline_data
                || at_open.inline_data
                || (!at_open.dax && (s.fs == FsKind::Xfs || !excluded(&at_open))))
            .then(|| msg!(detail, "dax=always mount with a non-DAX or inline file"))
        }
        // W20-journal-delalloc
        24 => (s.fs == FsKind::Ext4
            && (w.mount.data_journal || w.inode.journal_data)
            && w.blocks.iter().any(|b| b.kind == Extent::Delalloc))
        .then(|| {
            msg!(
                detail,
                "delalloc block on an inode whose data is journalled"
            )
        }),
        // W17-cowextsize
        21 => {
            if w.cowextsize != 1 {
                return None;
            }
            cow_at_rest(s).next().map(|b| {
                msg!(
                    detail,
                    "CoW-fork block {b} at rest with a one-block cowextsize hint"
                )
            })
        }
        // W18-cow-delalloc-dirty
        22 => cow_delalloc_unheld(s).next().map(|(a, e)| {
            msg!(
                detail,
                "delalloc CoW extent {a}..{e} with no dirty page over it"
            )
        }),
        // F4-bdev-errno
        18 => {
            if s.fs != FsKind::Bdev {
                return None;
            }
            s.faults.iter().find(|f| bdev_errno_impossible(f)).map(|f| {
                msg!(
                    detail,
                    "{} {} on a block device",
                    f.site.function(),
                    name(f.errno)
                )
            })
        }
        // W21-journal-flag-flush
        25 => (s.fs == FsKind::Ext4 && changed(s, flag::JOURNAL_DATA) && w.inode.journal_data)
            .then(|| unflushed(w))
            .flatten()
            .map(|what| {
                msg!(
                    detail,
                    "chattr {}j after open with {what} at the write",
                    if w.inode.journal_data { "+" } else { "-" }
                )
            }),
        // W45-jflag-cleared
        49 => jflag::impossible_blocks(s).next().map(|b| {
            msg!(
                detail,
                "chattr -j after open with block {b} {:?} at the write",
                w.blocks[b].kind
            )
        }),
        // W24-bitmap-maxbytes
        28 => (s.fs == FsKind::Ext4
            && !w.inode.extents
            && w.s_maxbytes != HUGE_MAXBYTES
            && w.s_bitmap_maxbytes > w.s_maxbytes)
            .then(|| {
                msg!(
                    detail,
                    "block-mapped inode with s_maxbytes {} and s_bitmap_maxbytes {}",
                    w.s_maxbytes,
                    w.s_bitmap_maxbytes
                )
            }),
        // W27-swapfile
        31 => {
            if !fs_file || !(w.inode.swapfile || at_open.swapfile) {
                return None;
            }
            flags::swapfile_refused(s, &at_open).map(|why| msg!(detail, "{why}"))
        }
        // W28-flag-no-call
        32 => flags::no_call_change(s, &at_open).map(|why| msg!(detail, "{why}")),
        // W19-dma-alignment
        23 => {
            let m = w.device.dma_alignment;
            (m == 0 || m > 4095 || !(m + 1).is_power_of_two())
                .then(|| msg!(detail, "dma_alignment {m}"))
        }
        // W29-bio-timeout
        33 => (has_units(&w.device))
            .then(|| {
                s.faults
                    .iter()
                    .find(|f| f.site == Site::BioEndIo && f.errno == ETIMEDOUT)
            })
            .flatten()
            .map(|_| {
                msg!(
                    detail,
                    "bio completion -ETIMEDOUT on a device with atomic units"
                )
            }),
        // W32-swap-open
        36 => (fs_file
            && changed(s, flag::SWAPFILE)
            && ((at_open.append_only && w.inode.append_only)
                || (at_open.immutable && w.inode.immutable)))
            .then(|| {
                msg!(
                    detail,
                    "swapon/swapoff after open of an append-only or immutable inode"
                )
            }),
        // W33-bdev
        37 if s.fs != FsKind::Bdev => None,
        37 if w.i_size % SECTOR != 0 => Some(msg!(detail, "block device of {} bytes", w.i_size)),
        37 => s
            .request
            .open
            .no_largefile
            .then(|| msg!(detail, "block device opened without O_LARGEFILE")),
        // W37-disksize-delalloc
        41 => {
            if s.fs != FsKind::Ext4 {
                return None;
            }
            // The world at the write only: a lag at open cleared after open (flag 11) on such
            // an inode is as impossible, but the model reads i_disksize only at the write, and
            // a committed regression input (soak_ext4_inline_crypt_atomic_warn) decodes with
            // one; live refuses to build it (settle_race).
            let f = w.inode;
            // A delalloc conversion pending (W46) is a delalloc inode with INLINE_DATA.
            let inline = f.inline_data && !w.inline_delalloc;
            (f.disksize_lag && (w.mount.data_journal || f.journal_data || f.dax || inline))
                .then(|| msg!(detail, "i_disksize lag without delalloc at the write"))
        }
        // W35-swap-device
        39 if s.fs != FsKind::Bdev || !(w.inode.swapfile || at_open.swapfile) => None,
        39 => swap_device::refused(s).map(|why| msg!(detail, "{why}")),
        // W42-bio-based-device
        46 => (w.device.no_bio_split
            && (w.device.dma_alignment != DEFAULT_DMA_ALIGNMENT || has_units(&w.device)))
        .then(|| {
            msg!(
                detail,
                "bio-based disk with DMA alignment {} and atomic units {}..{}",
                w.device.dma_alignment,
                w.device.awu_min,
                w.device.awu_max
            )
        }),
        // W41-bdev-tail
        45 => bdev_tail_page(w).filter(|_| !fs_file).map(|p| {
            msg!(
                detail,
                "page {p} cached over the end of a {}-byte device with {}-byte logical blocks",
                w.i_size,
                1u32 << w.lbs_bits
            )
        }),
        // W47-small-lbs
        51 if !matches!(w.lbs_bits, 10 | 11) => None,
        51 => ((dax_any(s) || w.mount.dax) || w.device.no_bio_split).then(|| {
            msg!(
                detail,
                "{}-byte logical blocks on a {}",
                1u32 << w.lbs_bits,
                if w.device.no_bio_split {
                    "bio-based disk that never splits"
                } else {
                    "DAX device"
                }
            )
        }),
        // W48-writeback-unwritten
        52 => writeback_converted(s).next().map(|b| {
            msg!(
                detail,
                "a page under writeback over block {b} {:?}{}",
                w.blocks[b].kind,
                if w.blocks[b].kind == Extent::Unwritten {
                    " with journalled data"
                } else {
                    ""
                }
            )
        }),
        // W46-inline-delalloc
        50 if !w.inline_delalloc => None,
        50 => inline_delalloc::refused(s).map(|why| msg!(detail, "{why}")),
        // W30-max-bio
        34 => s.request.max_bio.map(|b| {
            msg!(
                detail,
                "bio size limit {b} bytes with {} segments",
                s.request.nr_segs
            )
        }),
        _ => None,
    }
}

/// W41: on a device whose size is not whole logical blocks, the index of the page over the block
/// (of the device's block size, at least a logical block) that holds the device end, when the
/// scenario has it cached.
fn bdev_tail_page(w: &World) -> Option<usize> {
    let lbs = 1u64 << w.lbs_bits;
    if w.i_size % lbs == 0 {
        return None;
    }
    let bs = (1u64 << w.blkbits).max(lbs);
    let p = ((w.i_size & !(bs - 1)) / PAGE_SIZE) as usize;
    w.pages
        .get(p)
        .is_some_and(|&st| st != PageState::None)
        .then_some(p)
}

/// W48: the ext4 blocks inside EOF under a page under writeback that are delayed, or unwritten
/// on an inode with journalled data.
fn writeback_converted(s: &Scenario) -> impl Iterator<Item = usize> + '_ {
    let w = &s.world;
    let bs = 1u64 << w.blkbits;
    let journalled = w.mount.data_journal || w.inode.journal_data;
    let eof_pages = w.i_size.div_ceil(PAGE_SIZE) as usize;
    w.blocks
        .iter()
        .enumerate()
        .filter(move |(b, k)| {
            let p = (*b as u64 * bs / PAGE_SIZE) as usize;
            s.fs == FsKind::Ext4
                && p < eof_pages
                && (*b as u64) * bs < w.i_size
                && w.pages.get(p) == Some(&PageState::Writeback)
                && (k.kind == Extent::Delalloc || k.kind == Extent::Unwritten && journalled)
        })
        .map(|(b, _)| b)
}

/// Does a dirty (or, with `writeback`, writeback) page inside EOF lie over block `b`?
fn page_held(w: &World, b: usize, writeback: bool) -> bool {
    let bs = 1u64 << w.blkbits;
    let (a, e) = (
        (b as u64 * bs / PAGE_SIZE) as usize,
        (((b as u64 + 1) * bs - 1) / PAGE_SIZE) as usize,
    );
    // Pages past EOF are not cached (crate::model::Cx::new drops them).
    let eof_pages = w.i_size.div_ceil(PAGE_SIZE) as usize;
    (a..=e.min(eof_pages.saturating_sub(1))).any(|p| match w.pages.get(p) {
        Some(PageState::Dirty | PageState::MappedDirty) => true,
        Some(PageState::Writeback) => writeback,
        _ => false,
    })
}

/// Maximal delalloc runs of the CoW fork with no dirty page over any block (rule W18).
fn cow_delalloc_unheld(s: &Scenario) -> impl Iterator<Item = (usize, usize)> + '_ {
    let w = &s.world;
    let mut runs = Vec::new();
    let mut i = 0;
    while i < w.cow.len() {
        if w.cow[i] != CowExtent::Delalloc {
            i += 1;
            continue;
        }
        let a = i;
        while i < w.cow.len() && w.cow[i] == CowExtent::Delalloc {
            i += 1;
        }
        if !(a..i).any(|b| page_held(w, b, false)) {
            runs.push((a, i));
        }
    }
    runs.into_iter()
}

/// CoW-fork blocks with no dirty or writeback page over them (rule W17).
fn cow_at_rest(s: &Scenario) -> impl Iterator<Item = usize> + '_ {
    let w = &s.world;
    w.cow
        .iter()
        .enumerate()
        .filter(move |(b, c)| **c != CowExtent::None && !page_held(w, *b, true))
        .map(|(b, _)| b)
}

/// Can the scenario's bios carry REQ_NOWAIT? (rule F2)
fn bio_may_be_nowait(s: &Scenario) -> bool {
    let r = &s.request;
    if !s.direct_at_io() || !r.rwf.nowait {
        return false;
    }
    match s.fs {
        // block/fops.c: REQ_NOWAIT for every IOCB_NOWAIT bio.
        FsKind::Bdev => true,
        // fs/iomap/direct-io.c: only bio_set_polled() for an async IOCB_HIPRI request.
        FsKind::Ext4 | FsKind::Xfs => r.aio && r.rwf.hipri,
    }
}

/// Rule F5: a file_modified() error with nothing that can produce it.
fn file_modified_impossible(s: &Scenario, f: &Fault) -> bool {
    file_modified_impossible_for(s.fs, s.world.inode.nosec, f)
}

fn file_modified_impossible_for(fs: FsKind, nosec: bool, f: &Fault) -> bool {
    if f.site != Site::FileModified {
        return false;
    }
    match fs {
        // S_ISREG is false for a block device node: no privilege stripping, no ->update_time.
        FsKind::Bdev => true,
        FsKind::Ext4 => nosec,
        FsKind::Xfs => nosec && f.errno != EIO,
    }
}

fn bdev_errno_impossible(f: &Fault) -> bool {
    f.errno == EDQUOT || (f.site == Site::GenericPerformWrite && f.errno == ENOSPC)
}

/// Does the filesystem's write path ever call this injection site? (rule F1)
pub fn site_reachable(fs: FsKind, site: Site) -> bool {
    use Site::*;
    match site {
        DioZero | Reserved21 => false,
        FilemapWriteAndWait | InvalidateFolio | DioGetPages | BioEndIo | GenericWriteSync
        | GenericPerformWrite | FileModified => true,
        InitDioDoneWq => fs != FsKind::Bdev,
        FallbackFlush => fs != FsKind::Xfs,
        Ext4ExtendJournalStart
        | Ext4OrphanAdd
        | Ext4MapBlocksQuery
        | Ext4MapBlocksCreate
        | Ext4IomapAllocJournalStart
        | Ext4ForceCommit
        | Ext4ConvertUnwritten
        | Ext4InodeExtension
        | FscryptLimitIoBlocks => fs == FsKind::Ext4,
        XfsIomapBegin | XfsEndIo => fs == FsKind::Xfs,
    }
}

fn fs_options(s: &Scenario) -> Option<String> {
    let w = &s.world;
    let (m, f) = (&w.mount, &w.inode);
    let dm = Mount::default();
    match s.fs {
        FsKind::Ext4 => {
            if w.blocks.iter().any(|b| b.shared) || f.reflink {
                Some("reflink state on ext4".into())
            } else if m.xfs_reflink != dm.xfs_reflink || m.xfs_always_cow {
                Some("XFS mount options on ext4".into())
            } else {
                None
            }
        }
        FsKind::Xfs => {
            if !f.extents || f.journal_data || f.inline_data || f.encrypted || f.verity {
                Some("ext4 inode flags on XFS".into())
            } else if !m.extents_feature || m.data_journal || m.inline_crypt || m.emergency_ro {
                Some("ext4 mount options on XFS".into())
            } else if w.cluster_bits != 0 {
                Some("bigalloc on XFS".into())
            } else {
                None
            }
        }
        FsKind::Bdev => {
            let plain = InodeFlags {
                swapfile: f.swapfile,
                ..InodeFlags::default()
            };
            if *f != plain {
                Some("filesystem inode flags on a block device".into())
            } else if *m != dm || w.cluster_bits != 0 {
                Some("filesystem mount options on a block device".into())
            } else {
                None
            }
        }
    }
}

/// Change `s` into the nearest real world (see the module comment); returns the ids of the rules
/// that changed something. A valid scenario is returned unchanged.
pub fn normalise(s: &mut Scenario) -> Vec<&'static str> {
    let mut applied = Vec::new();
    // Fixes can enable other rules (clearing DAX re-enables page-cache state...): a few passes.
    for _ in 0..4 {
        let mut any = false;
        for rule in RULES {
            if check_rule(s, rule, false).is_some() {
                fix(s, rule);
                any = true;
                if !applied.contains(&rule.id) {
                    applied.push(rule.id);
                }
            }
        }
        if !any {
            break;
        }
    }
    applied
}

fn fix(s: &mut Scenario, rule: &Rule) {
    let bs = 1u64 << s.world.blkbits;
    match rule.n {
        // W1-dax-device, W2-dax-blocksize: the kernel does not make the inode DAX on such a
        // device / filesystem.
        0 | 1 => clear_dax(s),
        // W3-ext4-dax
        2 => {
            if s.world.mount.dax && s.world.mount.data_journal {
                s.world.mount.dax = false;
            }
            clear_dax(s);
        }
        // W4-dax-no-cache
        3 => {
            for b in s.world.blocks.iter_mut() {
                if b.kind == Extent::Delalloc {
                    b.kind = Extent::Hole;
                }
            }
            s.world.pages.clear();
            s.races.retain(|r| *r != Race::MmapRedirty);
        }
        // W5-verity-writer
        4 => {
            s.world.inode.verity = false;
            drop_flag_races(s, flag::VERITY);
        }
        // W6-inline
        5 => {
            // An inline inode: no EXTENTS flag, no blocks, less than a block of data.
            drop_flag_races(s, flag::EXTENTS);
            drop_flag_races(s, flag::INLINE_DATA);
            if s.world.inode.inline_data && (s.world.inode.encrypted || s.inode_at_open().encrypted)
            {
                // The encryption was there first (set when the inode was made).
                s.world.inode.inline_data = false;
            }
            if s.world.inode.inline_data {
                s.world.inode.extents = false;
                let keep = s.world.inline_delalloc;
                s.world
                    .blocks
                    .iter_mut()
                    .filter(|b| !(keep && delayed(b)))
                    .for_each(|b| *b = BlockState::default());
                if s.world.i_size > max_inline(bs) && !keep {
                    s.world.i_size = bs - SECTOR;
                }
            }
        }
        // W7-indirect
        6 => {
            if !s.world.inode.extents {
                for b in s.world.blocks.iter_mut() {
                    if b.kind == Extent::Unwritten {
                        // reads as zeroes, like the unwritten block did
                        b.kind = Extent::Hole;
                    }
                }
            }
            s.world.cluster_bits = 0;
        }
        // W8-extents-feature
        7 => s.world.mount.extents_feature = true,
        // W9-flag-race
        8 => {
            let at_open = s.inode_at_open();
            let bad: Vec<u8> = (0..13u8)
                .filter(|&i| {
                    changed(s, i)
                        && bad_transition(s, i, get(&at_open, i), get(&s.world.inode, i)).is_some()
                })
                .collect();
            for i in bad {
                drop_flag_races(s, i);
            }
        }
        // W10-open-for-write
        9 => {
            // The flag can only have been set after the file was opened for writing.
            for (i, bad) in [
                (flag::IMMUTABLE, s.inode_at_open().immutable),
                (
                    flag::APPEND_ONLY,
                    s.inode_at_open().append_only && !s.request.open.append,
                ),
            ] {
                if !bad {
                    continue;
                }
                drop_flag_races(s, i);
                let now = get(&s.world.inode, i);
                if now && s.races.len() < MAX_RACES {
                    s.races.push(Race::InodeFlagChangedAfterOpen(i));
                } else if now {
                    // No room for the race: the flag is not set at all.
                    s.world.inode = s.world.inode.toggled(i);
                }
            }
        }
        // W11-fs-options
        10 => {
            let w = &mut s.world;
            let dm = Mount::default();
            match s.fs {
                FsKind::Ext4 => {
                    w.blocks.iter_mut().for_each(|b| b.shared = false);
                    w.inode.reflink = false;
                    w.mount.xfs_reflink = dm.xfs_reflink;
                    w.mount.xfs_always_cow = false;
                }
                FsKind::Xfs => {
                    let d = InodeFlags::default();
                    w.inode.extents = d.extents;
                    w.inode.journal_data = false;
                    w.inode.inline_data = false;
                    w.inode.encrypted = false;
                    w.inode.verity = false;
                    w.mount.extents_feature = dm.extents_feature;
                    w.mount.data_journal = false;
                    w.mount.inline_crypt = false;
                    w.mount.emergency_ro = false;
                    w.cluster_bits = 0;
                }
                FsKind::Bdev => {
                    w.inode = InodeFlags {
                        swapfile: w.inode.swapfile,
                        ..InodeFlags::default()
                    };
                    w.mount = dm;
                    w.cluster_bits = 0;
                }
            }
            // Races on flags the filesystem does not have go with them (W9 drops them).
        }
        // W12-reflink
        11 => {
            s.world.inode.reflink = false;
            s.world.blocks.iter_mut().for_each(|b| b.shared = false);
            drop_flag_races(s, flag::REFLINK);
        }
        // W42-bio-based-device: the device is a blk-mq one.
        46 => s.world.device.no_bio_split = false,
        // W31-shared-written
        35 => s
            .world
            .blocks
            .iter_mut()
            .filter(|b| b.kind != Extent::Written)
            .for_each(|b| b.shared = false),
        // W13-device-units
        12 => {
            let lbs = 1u32 << s.world.lbs_bits;
            let d = &mut s.world.device;
            let ok_pair = d.awu_min != 0
                && d.awu_max != 0
                && d.awu_min.is_power_of_two()
                && d.awu_max.is_power_of_two()
                && d.awu_min <= d.awu_max;
            if ok_pair && lbs <= d.awu_max {
                d.awu_min = d.awu_min.max(lbs);
            } else {
                d.awu_min = 0;
                d.awu_max = 0;
            }
        }
        // W14-xfs-release
        13 => {
            for p in s.world.pages.iter_mut() {
                if *p == PageState::Busy {
                    *p = PageState::Clean;
                }
            }
        }
        // W25-ext4-release: the folio releases (clean).
        29 => {
            for p in s.world.pages.iter_mut() {
                if *p == PageState::Busy {
                    *p = PageState::Clean;
                }
            }
        }
        // W26-immutable-flush: what the flush leaves: clean pages, allocated blocks.
        30 => {
            for p in s.world.pages.iter_mut() {
                if matches!(
                    p,
                    PageState::Dirty | PageState::Writeback | PageState::MappedDirty
                ) {
                    *p = PageState::Clean;
                }
            }
            for b in s.world.blocks.iter_mut() {
                if b.kind == Extent::Delalloc {
                    b.kind = Extent::Written;
                }
            }
        }
        // F1-site
        14 => {
            let fs = s.fs;
            s.faults.retain(|f| site_reachable(fs, f.site));
        }
        // Only called when the bios cannot be REQ_NOWAIT (check_rule).
        // F2-bio-eagain
        15 => {
            for f in s.faults.iter_mut() {
                if f.site == Site::BioEndIo && f.errno == EAGAIN {
                    f.errno = EIO;
                }
            }
        }
        // F3-launder
        16 => {
            for f in s.faults.iter_mut() {
                if f.site == Site::InvalidateFolio {
                    f.errno = EBUSY;
                }
            }
        }
        // F5-file-modified
        17 => {
            let (fs, nosec) = (s.fs, s.world.inode.nosec);
            s.faults
                .retain(|f| !file_modified_impossible_for(fs, nosec, f));
        }
        // W15-cow-fork: nothing made a CoW fork.
        19 => {
            s.world.cow.clear();
            s.world.cowextsize = 0;
        }
        // W16-cow-delalloc: no buffered write reserved anything in the CoW fork.
        20 => {
            for c in s.world.cow.iter_mut() {
                if *c == CowExtent::Delalloc {
                    *c = CowExtent::None;
                }
            }
        }
        // W17-cowextsize: blocks no write holds are not in the fork.
        21 => {
            let rest: Vec<usize> = cow_at_rest(s).collect();
            for b in rest {
                s.world.cow[b] = CowExtent::None;
            }
        }
        // W18-cow-delalloc-dirty: no buffered write holds the reservation.
        22 => {
            let runs: Vec<(usize, usize)> = cow_delalloc_unheld(s).collect();
            for (a, e) in runs {
                for c in &mut s.world.cow[a..e] {
                    *c = CowExtent::None;
                }
            }
        }
        // F4-bdev-errno
        18 => {
            for f in s.faults.iter_mut() {
                if bdev_errno_impossible(f) {
                    f.errno = EIO;
                }
            }
        }
        // W19-dma-alignment: what the block layer would make of it (0 -> 511), else the next
        // mask up, at most PAGE_SIZE - 1.
        23 => {
            let d = &mut s.world.device;
            d.dma_alignment = match d.dma_alignment {
                0 => DEFAULT_DMA_ALIGNMENT,
                m if m >= 4095 => 4095,
                m => (m + 1).next_power_of_two() - 1,
            };
        }
        // W24-bitmap-maxbytes: the bitmap limit at s_maxbytes (the write stops at the same byte).
        28 => s.world.s_bitmap_maxbytes = s.world.s_maxbytes,
        // W27-swapfile: the file is not a swap file (swapon refused it).
        31 => {
            s.world.inode.swapfile = false;
            drop_flag_races(s, flag::SWAPFILE);
        }
        // W28-flag-no-call: the change did not happen (the flag at open is the flag at the write).
        32 => {
            for i in flags::NO_CALL_FLAGS {
                if flags::no_call_flag(s, i) {
                    drop_flag_races(s, i);
                }
            }
        }
        // W21-journal-flag-flush: the impossible event is the flag change: dropped (the inode
        // had the flag it has at the write since open).
        25 => drop_flag_races(s, flag::JOURNAL_DATA),
        // W45-jflag-cleared: the journalled write allocated (and converted) the block.
        49 => {
            let bad: Vec<usize> = jflag::impossible_blocks(s).collect();
            for b in bad {
                s.world.blocks[b].kind = Extent::Written;
            }
        }
        // W22-dax-always: the same file on a dax=inode mount.
        26 => s.world.mount.dax = false,
        // W20-journal-delalloc: without delalloc the buffered write that made the block
        // allocated it at write_begin (ext4_get_block: journalled data never uses the unwritten
        // dioread_nolock path), so the nearest real world has the block written.
        24 => {
            for b in s.world.blocks.iter_mut() {
                if b.kind == Extent::Delalloc {
                    b.kind = Extent::Written;
                }
            }
        }
        // W29-bio-timeout: what sd and NVMe give a timed-out write (BLK_STS_IOERR).
        33 => {
            for f in s.faults.iter_mut() {
                if f.site == Site::BioEndIo && f.errno == ETIMEDOUT {
                    f.errno = EIO;
                }
            }
        }
        // W37-disksize-delalloc: the write that made the lag moved i_disksize too.
        41 => s.world.inode.disksize_lag = false,
        // W41-bdev-tail: the read that would have cached it failed.
        45 => {
            if let Some(p) = bdev_tail_page(&s.world) {
                s.world.pages[p] = PageState::None;
            }
        }
        // W30-max-bio
        34 => s.request.max_bio = None,
        // W46-inline-delalloc: no conversion pending (W6 then makes the plain inline inode).
        50 => s.world.inline_delalloc = false,
        // W47-small-lbs: the device's logical blocks are 512 bytes.
        51 => s.world.lbs_bits = 9,
        // W48-writeback-unwritten: what writeback allocated or converted at submission.
        52 => {
            let bad: Vec<usize> = writeback_converted(s).collect();
            for b in bad {
                s.world.blocks[b].kind = Extent::Written;
            }
        }
        // W32-swap-open: swapon/swapoff failed (-EPERM): the swap flag stays as it was at open.
        36 => {
            s.world.inode.swapfile = s.inode_at_open().swapfile;
            drop_flag_races(s, flag::SWAPFILE);
        }
        // W35-swap-device: swapon refused the device (or it was never a swap device).
        39 => {
            s.world.inode.swapfile = false;
            drop_flag_races(s, flag::SWAPFILE);
        }
        // W33-bdev
        37 => {
            s.world.i_size -= s.world.i_size % SECTOR;
            s.request.open.no_largefile = false;
        }
        _ => {}
    }
}

/// What ext4_change_inode_journal_flag's (or ext4_ioctl_setflags' +i) flush would have cleaned:
/// the first dirty, writeback or mmapped dirty page, or delalloc block.
fn unflushed(w: &World) -> Option<&'static str> {
    if w.pages.iter().any(|p| {
        matches!(
            p,
            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
        )
    }) {
        Some("a dirty or writeback page")
    } else if w.blocks.iter().any(|b| b.kind == Extent::Delalloc) {
        Some("a delalloc block")
    } else {
        None
    }
}

fn clear_dax(s: &mut Scenario) {
    s.world.inode.dax = false;
    s.world.mount.dax = false;
    drop_flag_races(s, flag::DAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// __ext4_fill_super: no dax=always on a filesystem with inline data.
    #[test]
    fn w22_no_inline_inode_under_dax_always() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.i_size = 100;
        s.request.len = 512;
        s.world.mount.dax = true;
        s.world.inode.extents = false;
        s.world.inode.inline_data = true;
        assert!(violations(&s).iter().any(|v| v.rule.id == "W22-dax-always"));
        // Journalled or not.
        let mut t = s.clone();
        t.world.inode.journal_data = true;
        assert!(violations(&t).iter().any(|v| v.rule.id == "W22-dax-always"));
        normalise(&mut s);
        assert!(!s.world.mount.dax && s.world.inode.inline_data);
        // A journalled-data file is the one non-DAX file there.
        let mut j = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        j.world.i_size = 8192;
        j.request.len = 4096;
        j.world.mount.dax = true;
        j.world.inode.journal_data = true;
        assert!(is_valid(&j), "{:?}", violations(&j));
    }

    /// W24: ext4_generic_write_checks' bitmap limit (ext4_max_bitmap_size) lies below
    /// ext4_max_size, so a scaled s_maxbytes on a block-mapped inode needs a scaled
    /// s_bitmap_maxbytes at or below it; normalised to s_maxbytes with the same outcome.
    #[test]
    fn bitmap_limit_at_or_below_s_maxbytes() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.i_size = 8192;
        s.request.pos = 8192;
        s.request.len = 8192;
        s.world.s_maxbytes = 3 * 4096;
        assert!(
            is_valid(&s),
            "extent-mapped: the bitmap limit is never read"
        );
        s.world.inode.extents = false;
        let v = violations(&s);
        assert!(
            v.iter().any(|v| v.rule.id == "W24-bitmap-maxbytes"),
            "{v:?}"
        );
        let v73 = crate::variant::by_name("7.3").unwrap();
        let before = crate::model::run(&s, v73);
        let mut n = s.clone();
        assert!(normalise(&mut n).contains(&"W24-bitmap-maxbytes"));
        assert_eq!(n.world.s_bitmap_maxbytes, 3 * 4096);
        assert!(is_valid(&n));
        let after = crate::model::run(&n, v73);
        assert_eq!(
            (before.ret, before.ki_pos_after, &before.after),
            (after.ret, after.ki_pos_after, &after.after)
        );
        assert_eq!(after.ret, 4096, "truncated at the limit");
        // A scaled bitmap limit above the scaled s_maxbytes: no window has both.
        s.world.s_bitmap_maxbytes = 4 * 4096;
        assert!(!is_valid(&s));
        // At or below it, or with the real s_maxbytes: real.
        s.world.s_bitmap_maxbytes = 2 * 4096;
        assert!(is_valid(&s), "{:?}", violations(&s));
        s.world.s_maxbytes = HUGE_MAXBYTES;
        assert!(is_valid(&s), "{:?}", violations(&s));
    }

    #[test]
    fn rule_ids_are_unique_and_cited() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|q| q.id != r.id), "{}", r.id);
            assert!(!r.source.is_empty() && !r.forbids.is_empty());
        }
    }
}
