// SPDX-License-Identifier: GPL-2.0-only
//! Kernel variants as data: each variant is the set of switches that differ between kernel versions
//! (and the patch versions of the seed thread), each switch named after the commit that changed it.
//! The model's branches read these switches; no function is copied per version.
//!
//! Commit ids are the upstream commits that changed each behaviour, as read in the kernel trees
//! and patch mails listed in docs/model.md §0 (the table of docs/model.md §9 gives every switch,
//! its commit and its value per variant). Where no single commit is known, only the release that
//! changed it, the switch names the release ("(release)") rather than invent an id.

use serde::{Deserialize, Serialize};

/// How iomap_iter() passes the actor's result on (fs/iomap/iter.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IterProtocol {
    /// 6.12-6.14: the actor returns bytes processed / 0 / -errno; ->iomap_end's error is used only
    /// when processed == 0.
    Processed,
    /// 6.15+ (bc264fea0f6f): the actor advances the iterator and sets status; ->iomap_end's error is
    /// used whenever nothing was advanced, also over the actor's own error.
    AdvanceStatus,
}

/// The atomic length rule in iomap_dio_bio_iter (fs/iomap/direct-io.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AtomicLenRule {
    /// 6.12: iomap knows nothing of atomic writes; no REQ_ATOMIC.
    None,
    /// 6.13-6.14: IOMAP_ATOMIC and length != fs block size -> -EINVAL; REQ_ATOMIC from IOMAP_ATOMIC.
    FsBlock,
    /// 6.15+ (786e3080cbe9 + 370a6de7651b): a mapping with IOMAP_F_ATOMIC_BIO must cover iter.len,
    /// REQ_ATOMIC from that mapping flag.
    CoversIter,
}

/// ext4_iomap_end() (fs/ext4/inode.c): when it returns -ENOTBLK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ext4IomapEnd {
    /// 6.12 and thread v1/v2: `flags & (IOMAP_WRITE | IOMAP_DIRECT) && written == 0` (reads too).
    WriteOrDirect,
    /// thread v3 (Ritesh, Oct 30 2024): as above but not for IOMAP_ATOMIC.
    NotAtomicWriteOrDirect,
    /// 6.13-6.17 (299537e9dfac): ext4_want_directio_fallback(): WRITE and DIRECT, not ATOMIC, written == 0.
    WantDirectioFallback,
    /// 6.18+ (963845748fe6): ext4 has no ->iomap_end.
    None,
}

/// What ext4_dio_write_iter() does with -ENOTBLK returned by iomap_dio_rw().
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ext4Enotblk {
    /// Merged kernels: ret = 0, fall back for everything.
    Zero,
    /// thread v1 (Oct 25 2024): ret = 0; if WARN_ON_ONCE(IOCB_ATOMIC) ret = -EIO.
    WarnEio,
    /// thread v2 (Oct 27 2024): ret = 0; if IOCB_ATOMIC ret = -EIO (no WARN).
    Eio,
}

/// XFS atomic write support (fs/xfs/xfs_file.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum XfsAtomic {
    /// 6.12: no atomic writes (no FMODE_CAN_ATOMIC_WRITE).
    None,
    /// 6.13-6.15: one fs block, hardware (REQ_ATOMIC) only.
    OneBlock,
    /// 6.16+: hardware path, -ENOPROTOOPT -> retry through the software CoW ops.
    HwSw,
}

/// How iomap_iter() gets the next mapping (fs/iomap/iter.c, include/linux/iomap.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IomapNext {
    /// 6.12-7.1: iomap_iter() calls ->iomap_end for the previous mapping and ->iomap_begin for the
    /// next one itself.
    BeginEnd,
    /// 7.2.y (Debian 7.2.12: "iomap: split iomap_iter() logic into iomap_iter_next()" and "iomap:
    /// add ->iomap_next()", mainline 7.3-rc1, taken into linux-7.2.y with the ntfs fixes):
    /// iomap_iter() calls the filesystem's ->iomap_next when it has one, else the inline helper
    /// iomap_iter_next(begin, end) = end, iomap_iter_continue(), begin. ext4, XFS and the block
    /// device still provide ->iomap_begin/->iomap_end.
    IterNext,
    /// 7.3 ("xfs/ext4/block: convert iomap ops to ->iomap_next()"): ext4, XFS and the block
    /// device provide ->iomap_next only (DEFINE_IOMAP_ITER_NEXT[_END] around their begin/end
    /// functions). Same decisions as IterNext; the table no longer has ->iomap_begin/->iomap_end.
    FsNext,
}

/// Declares `struct Variant` and [`SWITCHES`] from one list: each switch field carries
/// `#[commit = "..."]`, the commit (or release) that changed it, stated once, next to its doc.
macro_rules! variant_switches {
    ($( #[commit = $commit:literal] $(#[$m:meta])* pub $f:ident : $t:ty, )*) => {
        /// Deserialize reads the switches only (a variant file's overrides, `crate::variant_file`); the
        /// name, kernel and about text are set by whoever builds the variant.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Variant {
            #[serde(skip_deserializing)]
            pub name: &'static str,
            #[serde(skip_deserializing)]
            pub kernel: &'static str,
            #[serde(skip_deserializing)]
            pub about: &'static str,
            $( $(#[$m])* pub $f: $t, )*
        }

        /// Every switch of [`Variant`], in declaration order, with the commit (or release) that
        /// changed it.
        pub const SWITCHES: &[(&str, &str)] = &[$( (stringify!($f), $commit), )*];
    };
}

variant_switches! {
    // ---- VFS (fs/read_write.c, include/linux/fs.h)
    #[commit = "c3be7ebbbce5"]
    /// c3be7ebbbce5: generic_atomic_write_valid() takes the iocb and checks IOCB_DIRECT (6.13; 6.12.y stable).
    pub atomic_valid_checks_direct: bool,
    #[commit = "6.14 (release)"]
    /// 6.14 (release): RWF_DONTCACHE is a known flag (before: an unknown bit, -EOPNOTSUPP).
    pub rwf_dontcache_known: bool,
    #[commit = "6.14 (release)"]
    /// 6.14 (release), "filemap: move prefaulting out of hot write path": generic_perform_write
    /// calls ->write_begin and ->write_end (after a zero-byte atomic copy) before it faults the
    /// user buffer in; ext4's write_end (ext4_da_do_write_end, ext4_write_end) then sets i_size
    /// to pos for a write past EOF that copied nothing, and the write returns -EFAULT. Read in
    /// 6.12.117 (fault-in first) and 7.2.12, 7.3.4; found by `live` on 6.18.44, also in the lab on
    /// 6.16.12 and 7.3.4 (docs/live-bench.md, session 5). XFS faults in before iomap_write_begin.
    pub write_begin_before_prefault: bool,

    // ---- iomap (fs/iomap/iter.c, fs/iomap/direct-io.c)
    #[commit = "bc264fea0f6f"]
    /// bc264fea0f6f (6.15): incremental advance + status protocol.
    pub iter_protocol: IterProtocol,
    #[commit = "9e0933c21c12"]
    /// 9e0933c21c12 (6.13): invalidation failure gives -EAGAIN instead of -ENOTBLK for IOCB_ATOMIC.
    pub invalidate_atomic_eagain: bool,
    #[commit = "786e3080cbe9 370a6de7651b"]
    /// The atomic length rule and where REQ_ATOMIC comes from.
    pub atomic_len: AtomicLenRule,
    #[commit = "7eac33186957 5ff3f74e145a fec2e705729d"]
    /// 6.18-rc1, Keith Busch's "simplify direct io validity check" series: 7eac33186957 (iomap)
    /// and 5ff3f74e145a (block) drop the user-memory check, fec2e705729d "block: check for valid
    /// bio while splitting" adds the one in bio_split_io_at. So 6.18 has no user-memory check in iomap_dio_bio_iter or blkdev_direct_IO;
    /// bio_iov_iter_get_pages only aligns the bio size down to the logical block size;
    /// bio_split_io_at fails a page-crossing bio whose bvecs are off the DMA alignment (-EINVAL at
    /// submission). (Correction to an earlier summary, docs/model.md §4.3 and §10; read in
    /// 6.18.2 and 7.1.5; confirmed live.) That check runs only on the blk-mq path
    /// (__bio_split_to_limits): a bio-based disk that never splits (world.device.no_bio_split,
    /// pmem) gets the misaligned bio (kernel::drivers::nvdimm::pmem; lab 6.18.15,
    /// docs/live-findings/pmem-misaligned-dio-6.18) until 14b007e17881 checks at extraction.
    pub dma_align_at_bio_split: bool,
    #[commit = "4ad357e39b2e"]
    /// 4ad357e39b2e "iomap: fix submission side handling of completion side errors" (7.0; also in
    /// 6.18.y stable, Feb 2026): the dio->error early exit keeps `copied` instead of reverting to 0.
    pub dio_error_keeps_copied: bool,
    #[commit = "001397f5ef49"]
    /// 001397f5ef49 "iomap: add IOMAP_DIO_FSBLOCK_ALIGNED flag" (6.19-rc1, with 8caec6c9fef7 "xfs:
    /// support sub-block aligned vectors in always COW mode"): the flag exists and XFS always-CoW
    /// inodes use it.
    pub dio_fsblock_aligned: bool,
    #[commit = "7.0 (release)"]
    /// 7.0 (release): IOMAP_DIO_BOUNCE for stable-writes devices (XFS).
    pub dio_bounce: bool,
    #[commit = "7.0 (release)"]
    /// 7.0 (release): iomap_dio_complete() reports a DIO error other than -EAGAIN/-ENOTBLK with
    /// fserror_report_io(FSERR_DIRECTIO_WRITE) (fsnotify; no effect on the result). Read in
    /// 7.2.12 and 7.3.4 fs/iomap/direct-io.c.
    pub dio_fserror: bool,
    #[commit = "14b007e17881 (7.3-rc1; 7.2.y)"]
    /// 14b007e17881 "block: validate user space vectors during extraction" (mainline 7.3-rc1,
    /// Cc stable, in Debian 7.2.12): bio_iov_iter_get_pages(bio, iter, dma_alignment,
    /// lbs - 1) rejects with -EINVAL, as each iovec segment is extracted, a segment whose address
    /// or remaining length has a bit of the DMA alignment (511 on loop), and drops the whole bio.
    /// Read in 7.2.12 and 7.3.4 block/bio.c and lib/iov_iter.c.
    pub bio_validates_user_vectors: bool,
    #[commit = "7.3.4 (stable)"]
    /// 7.3.4 (stable, "iomap: don't lose a failed direct I/O bio's error when zeroing the tail";
    /// mainline id not found): iomap_dio_zero() returns nothing, so the tail zeroing no longer
    /// overwrites the bio iterator's error with 0. Read in 7.3.4 (7.2.12 still overwrites).
    pub dio_zero_keeps_error: bool,
    #[commit = "7.1 (release)"]
    /// 7.1 (release; docs/model.md §4.3; read as `out_bio_release_pages` in 7.2.12 and 7.3.4):
    /// iomap_dio_bio_iter's atomic short-bio WARN path releases the user pages the bio pinned.
    /// Before (read in a mainline 7.0-era snapshot and the 6.13-6.16 code the spec quotes),
    /// bio_put() alone left them pinned: a page-pin leak.
    pub dio_atomic_short_releases_pages: bool,
    #[commit = "7.2.y / 7.3 (->iomap_next)"]
    /// How iomap_iter() reaches the filesystem (->iomap_next, 7.2.y / 7.3).
    pub iomap_next: IomapNext,

    // ---- ext4 (fs/ext4/file.c, fs/ext4/inode.c, fs/ext4/super.c)
    #[commit = "6.13 (release)"]
    /// 6.13 (release, Ritesh's atomic series): ext4 sets FMODE_CAN_ATOMIC_WRITE and validates atomic writes.
    pub ext4_atomic: bool,
    #[commit = "6.16 (release)"]
    /// 6.16 (release, multi-fsblock atomic writes): s_awu_max = min(cluster size, device max).
    pub ext4_awu_max_cluster: bool,
    #[commit = "1c972b1d13dd"]
    /// 1c972b1d13dd (6.16): ext4_inode_can_atomic_write() requires the EXTENTS flag.
    pub ext4_atomic_needs_extents: bool,
    #[commit = "299537e9dfac 963845748fe6"]
    pub ext4_iomap_end: Ext4IomapEnd,
    #[commit = "seed thread v1/v2"]
    pub ext4_enotblk: Ext4Enotblk,
    #[commit = "299537e9dfac"]
    /// thread v3 / 299537e9dfac (6.13): WARN_ON_ONCE(IOCB_ATOMIC) before the buffered fallback.
    pub ext4_fallback_warn: bool,
    #[commit = "6.13 (release)"]
    /// 6.12: ext4_dio_write_end_io returns `size` (positive) for non-extending writes; 6.13+ returns 0.
    pub ext4_end_io_returns_size: bool,
    #[commit = "6.16 (release)"]
    /// 6.16 (release): ext4_iomap_begin demands full coverage for IOMAP_ATOMIC, the atomic allocation
    /// slow path (ext4_map_blocks_atomic_write + force commit), atomic unwritten conversion.
    pub ext4_multi_fsblock_atomic: bool,
    #[commit = "370a6de7651b"]
    /// 6.15 (370a6de7651b): ext4_set_iomap sets IOMAP_F_ATOMIC_BIO for IOMAP_ATOMIC.
    pub ext4_sets_atomic_bio: bool,
    #[commit = "0a1b2f5ea987 8f984530c242"]
    /// 6.15-rc1 (0a1b2f5ea987 "ext4: add ext4_emergency_state() helper function" with
    /// 8f984530c242 "ext4: correct behavior under errors=remount-ro mode", one series):
    /// ext4_handle_error() under errors=remount-ro sets EXT4_FLAGS_EMERGENCY_RO, and
    /// ext4_file_write_iter() checks ext4_emergency_state() (-EIO shut down, -EROFS emergency
    /// read-only). Before (6.6-6.14, since 95257987a638), the error set EXT4_FLAGS_SHUTDOWN: the
    /// emergency read-only state *is* the shut-down state and write_iter's
    /// ext4_forced_shutdown() gives -EIO (read in Debian 6.12.117 super.c and file.c).
    pub ext4_emergency_state: bool,
    #[commit = "7.0 (release)"]
    /// ext4_iomap_overwrite_ops exist (removed in 7.0, "ext4: remove useless ext4_iomap_overwrite_ops").
    pub ext4_overwrite_ops: bool,
    #[commit = "7.0 (release)"]
    /// 7.0 (release): ext4_iomap_begin returns an UNWRITTEN mapping without allocating (non-DAX).
    pub ext4_begin_accepts_unwritten: bool,
    #[commit = "7.1 (release)"]
    /// 7.1 (release): ext4_write_checks zeroes the EOF gap (NOWAIT -> -EAGAIN).
    pub ext4_eof_zero_in_write_checks: bool,
    #[commit = "7.3 (Debian 7.3.4)"]
    /// 7.3 (Debian 7.3.4; mainline id not found): ext4_dio_write_checks() decides the lock with
    /// ext4_dio_needs_zeroing() (an unaligned write whose head or tail block is not a written
    /// mapping, or past i_size) instead of ext4_overwrite_io(): aligned writes into holes and
    /// unwritten extents inside i_size keep the shared lock, and ext4_iomap_alloc() returns
    /// -EAGAIN for IOMAP_NOWAIT. Read in 7.2.12 (old rule) and 7.3.4.
    pub ext4_dio_needs_zeroing: bool,
    #[commit = "7.3 (Debian 7.3.4)"]
    /// 7.3 (Debian 7.3.4; mainline id not found): ext4_write_checks() and ext4_dio_write_checks()
    /// call kiocb_modified() instead of file_modified(), so an IOCB_NOWAIT write that must update
    /// the timestamps returns -EAGAIN before any I/O (as XFS always did). Read in 7.2.12 and 7.3.4.
    pub ext4_kiocb_modified: bool,
    #[commit = "7.3 (release)"]
    /// 7.3 (release): fscrypt does all file contents en/decryption through blk-crypto, with the
    /// crypto API fallback (FS_ENCRYPTION selects BLK_INLINE_ENCRYPTION and its FALLBACK;
    /// fs/crypto/inline_crypt.c became fs/crypto/block.c), so ext4_dio_alignment() returns the
    /// fs block size for every encrypted inode: fscrypt_dio_supported() and the `-o inlinecrypt`
    /// condition are gone (Documentation/filesystems/fscrypt.rst "Direct I/O support": "Before
    /// Linux v7.3, the filesystem also needed to be mounted with -o inlinecrypt"). Read in
    /// 6.12.117 and 7.2.12 (fscrypt_dio_supported) and 7.3.4 (gone); mainline id not found.
    pub ext4_encrypted_dio_always: bool,
    #[commit = "7.3 (Debian 7.3.4)"]
    /// 7.3 (Debian 7.3.4; mainline id not found): ext4_dax_write_iter() returns -EAGAIN for an
    /// IOCB_NOWAIT write that extends i_disksize (it would start a journal handle and add the
    /// inode to the orphan list). Read in 6.12.117 and 7.2.12 (absent) and 7.3.4.
    pub ext4_dax_nowait_extend_eagain: bool,
    #[commit = "e7fb9b71326f"]
    /// e7fb9b71326f (6.17): dax_iomap_rw rejects IOCB_ATOMIC with a WARN and -EIO.
    pub dax_rejects_atomic: bool,
    #[commit = "hypothetical (README worked example)"]
    /// Hypothetical patch, the README's worked example (no kernel has it): ext4_iomap_alloc()
    /// returns -EINVAL instead of -ENOTBLK for an IOMAP_ATOMIC write into a hole of an indirect
    /// inode, so the atomic write fails instead of falling back to buffered IO (S3).
    pub ext4_atomic_hole_einval: bool,

    // ---- XFS (fs/xfs/xfs_file.c, fs/xfs/xfs_iomap.c)
    #[commit = "6.13/6.16 (release)"]
    pub xfs_atomic: XfsAtomic,
    #[commit = "68456d05eb57"]
    /// 68456d05eb57 (6.17-rc2): atomic checks before the DAX dispatch, and DAX inodes excluded from
    /// atomic capability. false = DAX first (the DAX escape).
    pub xfs_atomic_before_dax: bool,
    #[commit = "6.15-6.18 (release); 8caec6c9fef7"]
    /// 6.15-6.18 (zoned-XFS work): always-CoW inodes with an unaligned user buffer take the
    /// unaligned path (removed in 6.19 in favour of IOMAP_DIO_FSBLOCK_ALIGNED).
    pub xfs_always_cow_iov_reroute: bool,
    #[commit = "8d54eacd82a0"]
    /// 8d54eacd82a0 "xfs: fix delalloc write failures in software-provided atomic writes"
    /// (6.18-rc5, xfs-fixes-6.18-rc5; in 6.17.8 stable): xfs_atomic_write_cow_iomap_begin turns a
    /// delalloc CoW reservation at the offset into real blocks (xfs_bmapi_convert_delalloc on
    /// the CoW fork, `convert_delay`, then `retry`). false = the delalloc extent is returned as the
    /// mapping and iomap_dio_iter fails it with -EIO ("Direct I/O collision with buffered
    /// writes"). Read in 7.2.12 and 7.3.4 (present) and in the 6.17.y backport mail (absent before).
    pub xfs_atomic_cow_convert_delay: bool,
    #[commit = "8d7bba1e8314"]
    /// 8d7bba1e8314 "xfs: fix various problems in xfs_atomic_write_cow_iomap_begin" (6.18-rc5; in
    /// 6.17.8 stable): the allocated cmap is trimmed to the write range and exactly cmap is
    /// converted (xfs_reflink_convert_cow_locked(cmap)). false = the unwritten CoW extents of the
    /// whole remaining write range are converted although only cmap is returned (over-conversion
    /// that leaves "write in progress" CoW extents no I/O wrote when the write stops early).
    pub xfs_atomic_cow_trim: bool,

    // ---- block device (block/fops.c)
    #[commit = "6.13 (release)"]
    /// 6.13 (release; John Garry, "block: Don't allow an atomic write be truncated in
    /// blkdev_write_iter()", Fixes caf336f81b3a; also in 6.12.y): an atomic write past the device
    /// end is -EINVAL instead of being truncated.
    pub bdev_atomic_no_truncate: bool,
    #[commit = "75ae18ca9426"]
    /// 75ae18ca9426 "block: use blkdev_iov_iter_get_pages status for errors" (7.3-rc1): when
    /// __blkdev_direct_IO cannot pin a bio's pages, the bio ends with errno_to_blk_status(ret)
    /// instead of BLK_STS_IOERR, so an async write completes with -EINVAL (say) instead of -EIO.
    pub bdev_get_pages_errno: bool,
    #[commit = "8b5ffb43ae9d"]
    /// 8b5ffb43ae9d "block: enable RWF_DONTCACHE for block devices" (7.3-rc1): def_blk_fops has
    /// FOP_DONTCACHE. Read in 7.3.4 block/fops.c (not in 7.2.12).
    pub bdev_dontcache: bool,

    // ---- FOP_DONTCACHE (include/linux/fs.h flag set by ext4 and XFS)
    #[commit = "6.17 (release, read)"]
    /// ext4 and XFS set FOP_DONTCACHE, so RWF_DONTCACHE is accepted on them (read in 6.17 and
    /// 6.18; no filesystem sets it in 6.14; 6.15/6.16 not read). Confirmed on the live 6.18 kernel.
    pub fs_dontcache: bool,
    #[commit = "6.16 (release, live 6.16.3 and 6.16.12)"]
    /// XFS sets FOP_DONTCACHE a release before ext4: `diofuzz lab` on Debian's 6.16.3 and 6.16.12
    /// shows XFS accepting RWF_DONTCACHE where ext4 returns -EOPNOTSUPP (docs/lab-bench.md class
    /// F). 6.15 was neither read nor booted, so v6.15 keeps it off.
    pub xfs_dontcache: bool,
}

const V6_12: Variant = Variant {
    name: "v6.12",
    kernel: "6.12",
    about: "v6.12 as released: no ext4/XFS atomic writes; ext4_iomap_end -ENOTBLK for WRITE|DIRECT with nothing written",
    atomic_valid_checks_direct: false,
    rwf_dontcache_known: false,
    write_begin_before_prefault: false,
    iter_protocol: IterProtocol::Processed,
    invalidate_atomic_eagain: false,
    atomic_len: AtomicLenRule::None,
    dma_align_at_bio_split: false,
    dio_error_keeps_copied: false,
    dio_fsblock_aligned: false,
    dio_bounce: false,
    dio_fserror: false,
    bio_validates_user_vectors: false,
    dio_zero_keeps_error: false,
    dio_atomic_short_releases_pages: false,
    iomap_next: IomapNext::BeginEnd,
    ext4_atomic: false,
    ext4_awu_max_cluster: false,
    ext4_atomic_needs_extents: false,
    ext4_iomap_end: Ext4IomapEnd::WriteOrDirect,
    ext4_enotblk: Ext4Enotblk::Zero,
    ext4_fallback_warn: false,
    ext4_end_io_returns_size: true,
    ext4_multi_fsblock_atomic: false,
    ext4_sets_atomic_bio: false,
    ext4_emergency_state: false,
    ext4_overwrite_ops: true,
    ext4_begin_accepts_unwritten: false,
    ext4_eof_zero_in_write_checks: false,
    ext4_dio_needs_zeroing: false,
    ext4_kiocb_modified: false,
    ext4_encrypted_dio_always: false,
    ext4_dax_nowait_extend_eagain: false,
    dax_rejects_atomic: false,
    ext4_atomic_hole_einval: false,
    xfs_atomic: XfsAtomic::None,
    xfs_atomic_before_dax: false,
    xfs_always_cow_iov_reroute: false,
    bdev_atomic_no_truncate: false,
    bdev_get_pages_errno: false,
    bdev_dontcache: false,
    fs_dontcache: false,
    xfs_dontcache: false,
    xfs_atomic_cow_convert_delay: false,
    xfs_atomic_cow_trim: false,
};

/// thread v1: Ritesh's PATCH 4/6 of Oct 25 2024 on John Garry's iomap atomic series (6.13 iomap).
const THREAD_V1: Variant = Variant {
    name: "thread-v1",
    kernel: "6.13-rc (patch)",
    about: "seed thread PATCH 4/6 v1 (Oct 25 2024): WARN_ON_ONCE + -EIO only on -ENOTBLK returned by iomap_dio_rw",
    atomic_valid_checks_direct: true,
    invalidate_atomic_eagain: true,
    atomic_len: AtomicLenRule::FsBlock,
    ext4_atomic: true,
    ext4_end_io_returns_size: false,
    ext4_enotblk: Ext4Enotblk::WarnEio,
    ..V6_12
};

const THREAD_V2: Variant = Variant {
    name: "thread-v2",
    kernel: "6.13-rc (patch)",
    about:
        "seed thread v2 4/4 (Oct 27 2024): -EIO without WARN on -ENOTBLK returned by iomap_dio_rw",
    ext4_enotblk: Ext4Enotblk::Eio,
    ..THREAD_V1
};

const THREAD_V3: Variant = Variant {
    name: "thread-v3",
    kernel: "6.13-rc (patch)",
    about: "Ritesh's Oct 30 2024 proposal (posted v3 4/4): WARN before the fallback; ext4_iomap_end skips IOMAP_ATOMIC",
    ext4_enotblk: Ext4Enotblk::Zero,
    ext4_iomap_end: Ext4IomapEnd::NotAtomicWriteOrDirect,
    ext4_fallback_warn: true,
    ..THREAD_V1
};

const V6_13: Variant = Variant {
    name: "v6.13",
    kernel: "6.13",
    about: "merged (299537e9dfac + 9e0933c21c12): ext4_want_directio_fallback(), WARN before fallback, one-block atomics",
    ext4_iomap_end: Ext4IomapEnd::WantDirectioFallback,
    // XFS atomic writes (one fs block, REQ_ATOMIC) were merged in 6.13 (xfs_inode_can_atomicwrite,
    // the ocount != sb_blocksize check in xfs_file_write_iter; read in the 6.13.7 tree).
    xfs_atomic: XfsAtomic::OneBlock,
    bdev_atomic_no_truncate: true,
    ..THREAD_V3
};

const V6_14: Variant = Variant {
    name: "v6.14",
    kernel: "6.14",
    about: "6.14: as 6.13 for ext4/iomap; RWF_DONTCACHE known",
    rwf_dontcache_known: true,
    write_begin_before_prefault: true,
    xfs_atomic: XfsAtomic::OneBlock,
    ..V6_13
};

const V6_15: Variant = Variant {
    name: "v6.15",
    kernel: "6.15",
    about: "6.15: iomap_iter advance+status (bc264fea0f6f, ->iomap_end error wins), atomic rule lifted to one mapping/one bio, ext4 emergency read-only apart from shutdown (0a1b2f5ea987)",
    iter_protocol: IterProtocol::AdvanceStatus,
    atomic_len: AtomicLenRule::CoversIter,
    ext4_sets_atomic_bio: true,
    xfs_always_cow_iov_reroute: true,
    ext4_emergency_state: true,
    ..V6_14
};

const V6_16: Variant = Variant {
    name: "v6.16",
    kernel: "6.16",
    about: "6.16: ext4 multi-fsblock atomics with bigalloc, EXTENTS needed at open (1c972b1d13dd); XFS HW->SW atomics (DAX escape), XFS RWF_DONTCACHE",
    ext4_awu_max_cluster: true,
    ext4_atomic_needs_extents: true,
    ext4_multi_fsblock_atomic: true,
    xfs_atomic: XfsAtomic::HwSw,
    xfs_dontcache: true,
    ..V6_15
};

const V6_17: Variant = Variant {
    name: "v6.17",
    kernel: "6.17",
    about: "6.17: DAX rejects atomics (e7fb9b71326f), XFS atomic checks before DAX (68456d05eb57)",
    dax_rejects_atomic: true,
    xfs_atomic_before_dax: true,
    fs_dontcache: true,
    ..V6_16
};

const V6_18: Variant = Variant {
    name: "v6.18",
    kernel: "6.18",
    about: "6.18 (this machine): ext4 has no ->iomap_end (963845748fe6); user-memory alignment checked only when the bio is split (bio_split_io_at)",
    ext4_iomap_end: Ext4IomapEnd::None,
    dma_align_at_bio_split: true,
    xfs_atomic_cow_convert_delay: true,
    xfs_atomic_cow_trim: true,
    ..V6_17
};

/// 6.19: read from the mainline tree's history (no 6.19 tree or module package here): the two
/// commits below are in the 6.19 merge (vfs-6.19.iomap); nothing else in the modelled write path
/// changed between 6.18 and 6.19 as far as the patches between the versions we have show.
const V6_19: Variant = Variant {
    name: "v6.19",
    kernel: "6.19",
    about: "6.19: IOMAP_DIO_FSBLOCK_ALIGNED (001397f5ef49) for XFS always-CoW inodes replaces the unaligned reroute (8caec6c9fef7)",
    dio_fsblock_aligned: true,
    xfs_always_cow_iov_reroute: false,
    ..V6_18
};

const V7_0: Variant = Variant {
    name: "v7.0",
    kernel: "7.0",
    about: "7.0: ext4 overwrite ops removed and UNWRITTEN mapped without allocation (ext4 7.0-rc1 pull), dio->error keeps copied, IOMAP_DIO_BOUNCE, fserror reports",
    ext4_overwrite_ops: false,
    ext4_begin_accepts_unwritten: true,
    dio_error_keeps_copied: true,
    dio_bounce: true,
    dio_fserror: true,
    ..V6_19
};

const V7_1: Variant = Variant {
    name: "v7.1",
    kernel: "7.1",
    about: "7.1: ext4_write_checks zeroes the EOF gap; the atomic short-bio WARN path releases its pinned pages",
    ext4_eof_zero_in_write_checks: true,
    dio_atomic_short_releases_pages: true,
    ..V7_0
};

/// Debian's 7.2.12 (linux-source-7.2, read): 7.2 plus the stable backports that reach the model.
const V7_2: Variant = Variant {
    name: "v7.2",
    kernel: "7.2",
    about: "7.2 (Debian 7.2.12): user vectors validated as bios are built (14b007e17881, -EINVAL for misaligned segments), iomap_iter_next()/->iomap_next in the core",
    bio_validates_user_vectors: true,
    iomap_next: IomapNext::IterNext,
    ..V7_1
};

/// Debian's 7.3.4 (linux-source-7.3, read).
const V7_3: Variant = Variant {
    name: "v7.3",
    kernel: "7.3",
    about: "7.3 (Debian 7.3.4): ext4/XFS/bdev ->iomap_next, tail zeroing keeps the error, ext4_dio_needs_zeroing locking and kiocb_modified, ext4 DAX NOWAIT extension -EAGAIN, bdev RWF_DONTCACHE and errno from get_pages",
    dio_zero_keeps_error: true,
    iomap_next: IomapNext::FsNext,
    ext4_dio_needs_zeroing: true,
    ext4_kiocb_modified: true,
    ext4_encrypted_dio_always: true,
    ext4_dax_nowait_extend_eagain: true,
    bdev_get_pages_errno: true,
    bdev_dontcache: true,
    ..V7_2
};

pub static VARIANTS: [Variant; 15] = [
    V6_12, THREAD_V1, THREAD_V2, THREAD_V3, V6_13, V6_14, V6_15, V6_16, V6_17, V6_18, V6_19, V7_0,
    V7_1, V7_2, V7_3,
];

/// The default variant of every command and fuzz target, named explicitly: adding a variant to
/// [`VARIANTS`] does not change it, and a user variant (a variant file or `BASE+switch`) never
/// becomes it.
pub const NEWEST: &str = "v7.3";

/// The default variant: [`NEWEST`].
pub fn newest() -> &'static Variant {
    builtin(NEWEST).expect("variant::NEWEST names a built-in variant")
}

/// A built-in variant by name ("v6.18" or "6.18").
pub fn builtin(name: &str) -> Option<&'static Variant> {
    let n = name.trim();
    VARIANTS
        .iter()
        .find(|v| v.name == n || v.name.trim_start_matches('v') == n.trim_start_matches('v'))
}

/// A built-in variant, or a user variant loaded earlier in this process, by name.
pub fn by_name(name: &str) -> Option<&'static Variant> {
    builtin(name).or_else(|| crate::variant_file::find(name.trim()).map(|u| u.variant))
}

/// The variant whose known findings label `name`'s: the base of a user variant, else itself.
pub fn known_as(name: &str) -> &str {
    crate::variant_file::find(name).map_or(name, |u| u.base.name)
}

/// Resolve a comma list of variant specs, or "all" (every built-in variant), with an error naming
/// the known ones. A spec is a built-in name, `BASE+switch[=value]+...` (an inline patch), or the
/// path of a variant file (`.json`); see [`crate::variant_file`].
pub fn resolve(name: &str) -> Result<Vec<&'static Variant>, String> {
    if name.trim() == "all" {
        return Ok(VARIANTS.iter().collect());
    }
    name.split(',').map(resolve_one).collect()
}

/// Resolve one spec (no commas): see [`resolve`].
pub fn resolve_one(spec: &str) -> Result<&'static Variant, String> {
    let spec = spec.trim();
    if spec.contains('+') {
        return crate::variant_file::inline(spec);
    }
    if crate::variant_file::looks_like_file(spec) {
        return crate::variant_file::load(std::path::Path::new(spec));
    }
    by_name(spec).ok_or_else(|| {
        format!(
            "unknown variant '{spec}'; known: {} (or 'all', BASE+switch=value, or a variant file; \
             `diofuzz variants` lists the switches)",
            VARIANTS
                .iter()
                .map(|v| v.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl Variant {
    /// The switches as (name, value, commit that changed it) rows, for `diofuzz variants`:
    /// derived from [`SWITCHES`] and the variant's own serialisation, nothing listed twice.
    pub fn switches(&self) -> Vec<(&'static str, String, &'static str)> {
        let v = serde_json::to_value(self).expect("a variant serialises");
        SWITCHES
            .iter()
            .map(|&(name, commit)| {
                let value = match &v[name] {
                    serde_json::Value::Bool(true) => "yes".to_string(),
                    serde_json::Value::Bool(false) => "no".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (name, value, commit)
            })
            .collect()
    }
}

#[cfg(test)]
mod switch_table_tests {
    use super::*;

    /// SWITCHES names every serialised switch exactly once, in declaration order, each with a
    /// commit or release, and every variant renders a value for each.
    #[test]
    fn switches_cover_the_struct() {
        let mut names: Vec<String> = SWITCHES.iter().map(|s| s.0.to_string()).collect();
        names.sort();
        let mut fields = crate::variant_file::switch_names();
        fields.sort();
        assert_eq!(names, fields, "SWITCHES and the serialised fields disagree");
        assert!(SWITCHES.iter().all(|s| !s.1.trim().is_empty()));
        for v in VARIANTS.iter() {
            let rows = v.switches();
            assert_eq!(rows.len(), SWITCHES.len());
            assert!(rows.iter().all(|r| !r.1.is_empty()), "{}", v.name);
        }
        let v612 = by_name("v6.12").unwrap().switches();
        assert_eq!(
            v612[0],
            ("atomic_valid_checks_direct", "no".into(), "c3be7ebbbce5")
        );
    }
}
