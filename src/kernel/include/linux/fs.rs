// SPDX-License-Identifier: GPL-2.0-only
//! include/linux/fs.h: struct kiocb, the iov_iter the model needs, iocb_flags(),
//! kiocb_set_rw_flags(), generic_write_sync().

use crate::errno::*;
use crate::kernel::include::uapi::linux::fs::{
    RWF_APPEND, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC, RWF_HIPRI, RWF_NOAPPEND, RWF_NOWAIT, RWF_SYNC,
};
use crate::model::*;
use crate::scenario::Site;

// IOCB_* (include/linux/fs.h): the kiocb flags. The RWF_-derived ones share RWF_*'s values
// (kiocb_set_rw_flags maps them one to one); IOCB_ATOMIC is RWF_ATOMIC.
pub const IOCB_HIPRI: u32 = 0x01;
pub const IOCB_DSYNC: u32 = 0x02;
pub const IOCB_SYNC: u32 = 0x04;
pub const IOCB_NOWAIT: u32 = 0x08;
pub const IOCB_APPEND: u32 = 0x10;
pub const IOCB_ATOMIC: u32 = 0x40;
pub const IOCB_DONTCACHE: u32 = 0x80;
pub const IOCB_DIRECT: u32 = 1 << 17;
pub const IOCB_WRITE: u32 = 1 << 18;

/// struct file, the parts the write path reads. f_mode bits are decided at open().
#[derive(Clone, Copy, Debug)]
pub struct File {
    pub o_append: bool,
    pub o_direct: bool,
    pub o_dsync: bool,
    pub o_sync: bool,
    pub o_largefile: bool,
    pub fmode_can_atomic_write: bool,
    pub fmode_nowait: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Kiocb {
    pub ki_pos: u64,
    pub ki_flags: u32,
    /// is_sync_kiocb(): no ki_complete (pwritev2), false for aio.
    pub is_sync: bool,
}

impl Kiocb {
    pub fn has(&self, f: u32) -> bool {
        self.ki_flags & f != 0
    }
}

/// The user buffer as an iov_iter: ITER_UBUF for one segment, ITER_IOVEC otherwise.
#[derive(Clone, Copy, Debug)]
pub struct IovIter {
    pub count: u64,
    pub nr_segs: u8,
    /// Bytes already consumed from the start of the user buffer.
    pub consumed: u64,
    /// Total length the caller passed (segments are split evenly over it).
    pub total: u64,
    /// Low bits of the buffer address.
    pub addr: u64,
    pub fault_at: Option<u64>,
    /// A scattered iovec (Request::scatter): `nr_segs` and `addr` are then not read; segment i
    /// lies at address i * stride + offset (its own pages, see Scatter).
    pub scatter: Option<crate::scenario::Scatter>,
}

const PAGE: u64 = crate::scenario::PAGE_SIZE;

/// Pages a user range [addr, addr + len) touches.
fn pages_of(addr: u64, len: u64) -> u64 {
    if len == 0 {
        0
    } else {
        (addr + len).div_ceil(PAGE) - addr / PAGE
    }
}

impl IovIter {
    /// User pages the next `n` bytes span (what bio_iov_iter_get_pages pins for them; the
    /// segments are taken as one contiguous buffer).
    pub fn pages_spanned(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        if self.scatter.is_some() {
            // Each segment in its own pages: the pieces never share one.
            return self
                .pieces(self.consumed, self.consumed + n)
                .map(|(_, a, l)| pages_of(a, l))
                .sum();
        }
        let start = self.addr + self.consumed;
        (start + n).div_ceil(crate::scenario::PAGE_SIZE) - start / crate::scenario::PAGE_SIZE
    }
    pub fn iter_is_ubuf(&self) -> bool {
        self.segs_n() == 1
    }
    /// The number of iovec segments.
    pub fn segs_n(&self) -> u64 {
        match self.scatter {
            Some(sc) => sc.segs.max(1) as u64,
            None => self.nr_segs.max(1) as u64,
        }
    }
    /// Every segment as (data offset, length, user address): `nr_segs` splitting `total` evenly
    /// (the last takes the remainder) contiguously from `addr`, or the scattered layout.
    pub fn segments(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        let n = self.segs_n();
        let seg = self.total / n;
        let stride = self.scatter.map(|sc| sc.stride(self.total)).unwrap_or(0);
        (0..n).map(move |i| {
            let len = if i == n - 1 {
                self.total - seg * (n - 1)
            } else {
                seg
            };
            let addr = match self.scatter {
                Some(sc) => i * stride + sc.offset as u64,
                None => self.addr + seg * i,
            };
            (seg * i, len, addr)
        })
    }
    /// The parts of the segments inside the data range [a, b), as (data offset, address, len).
    pub fn pieces(&self, a: u64, b: u64) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.segments().filter_map(move |(s, l, addr)| {
            let (x, y) = (s.max(a), (s + l).min(b));
            (y > x).then(|| (x, addr + (x - s), y - x))
        })
    }
    /// The bvecs a bio built from data range [a, b) holds, as (page offset, length): one per
    /// page a piece touches. Scattered segments never merge into the previous segment's bvec
    /// (their own pages, never physically adjacent to the previous piece's end: Scatter).
    fn bvecs(&self, a: u64, b: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.pieces(a, b).flat_map(|(_, addr, len)| {
            let end = addr + len;
            let first = addr / PAGE;
            (first..end.div_ceil(PAGE)).map(move |p| {
                let s = addr.max(p * PAGE);
                let e = end.min((p + 1) * PAGE);
                (s % PAGE, e - s)
            })
        })
    }
    /// The single-page segments bio_for_each_segment() yields for a bio built from the next `n`
    /// bytes, as lengths: the contiguous buffer split at page boundaries (contiguous iovecs merge
    /// into one bvec, bvec_try_merge_page), a scattered iovec's pieces each split at theirs.
    pub fn page_segments(&self, n: u64) -> Vec<u64> {
        if self.scatter.is_some() {
            return self
                .bvecs(self.consumed, self.consumed + n)
                .map(|(_, l)| l)
                .collect();
        }
        let (mut s, end) = (self.addr + self.consumed, self.addr + self.consumed + n);
        let mut v = Vec::new();
        while s < end {
            let e = ((s / PAGE + 1) * PAGE).min(end);
            v.push(e - s);
            s = e;
        }
        v
    }
    /// How many bytes from the current position fit in a bio of `max_vecs` bvecs
    /// (BIO_MAX_VECS): bio_iov_iter_get_pages() fills bvecs until bio_full() or the iter ends
    /// (6.12: __bio_iov_iter_get_pages -> bio_iov_add_folio, a bvec per page; 7.2+:
    /// iov_iter_extract_bvecs, a bvec per page of each extraction; read in 6.12.117 and 7.3.4
    /// block/bio.c, lib/iov_iter.c). The contiguous buffer takes a vec per page.
    pub fn bvec_cap(&self, max_vecs: u64) -> u64 {
        if self.scatter.is_none() {
            return max_vecs * PAGE - (self.addr + self.consumed) % PAGE;
        }
        let mut bytes = 0;
        for (vecs, (_, len)) in self
            .bvecs(self.consumed, self.consumed + self.count)
            .enumerate()
        {
            if vecs as u64 == max_vecs {
                return bytes;
            }
            bytes += len;
        }
        u64::MAX
    }
    /// iov_iter_npages(): the pages the remaining iter touches (bio_iov_vecs_to_alloc).
    pub fn npages(&self) -> u64 {
        if self.scatter.is_some() {
            return self.pages_spanned(self.count);
        }
        ((self.addr % PAGE) + self.count).div_ceil(PAGE) + self.nr_segs as u64 - 1
    }
    /// iov_iter_alignment(): OR of the remaining segments' base addresses and lengths.
    pub fn alignment(&self) -> u64 {
        self.pieces(self.consumed, self.consumed + self.count)
            .fold(0, |acc, (_, addr, len)| acc | addr | len)
    }
    /// bdev_iter_is_aligned() = iov_iter_is_aligned(iter, bdev_dma_alignment(), lbs - 1), 6.12-6.17
    /// (read in 6.12 include/linux/blkdev.h and 6.13.7 lib/iov_iter.c): every remaining segment's
    /// address clears the device's DMA alignment mask `dma_mask` (Cx::dma_align: 511 on loop, 7 on
    /// a SCSI disk) and its length is a multiple of the logical block size. 6.18 dropped its
    /// callers in iomap and block/fops.c (see bio_rejected_at_split for the 6.18 rule).
    pub fn is_dma_aligned(&self, dma_mask: u64, lbs: u64) -> bool {
        self.pieces(self.consumed, self.consumed + self.count)
            .all(|(_, addr, len)| addr & dma_mask == 0 && len & (lbs - 1) == 0)
    }
    /// The bvec of a bio built from the next `n` bytes at which `bio_split_rw_at` (6.12) /
    /// `bio_split_io_at` (6.18+, block/blk-merge.c) would split it for the queue's virt boundary
    /// `mask` (`bvec_gap_to_prev`: the previous bvec ends, or this one starts, off the
    /// boundary), as its index; None when none gaps. Contiguous segments never gap: their bvecs
    /// merge inside a page (`bvec_try_merge_page`) and meet at page boundaries. Scattered ones
    /// (their own pages) gap at a segment start whose offset, or the previous segment's end, is
    /// off the boundary.
    pub fn virt_boundary_gap(&self, n: u64, mask: u64) -> Option<usize> {
        if mask == 0 || self.scatter.is_none() {
            return None;
        }
        let v: Vec<(u64, u64)> = self.bvecs(self.consumed, self.consumed + n).collect();
        (1..v.len()).find(|&i| (v[i - 1].0 + v[i - 1].1) & mask != 0 || v[i].0 & mask != 0)
    }
    /// The first bvec of a scattered bio built from the next `n` bytes whose offset has a bit of
    /// `dma_mask` or whose length one of `len_mask` (`bio_split_io_at`'s check, 6.18+, which it
    /// makes on each bvec before the gap check against the previous one).
    pub fn first_misaligned_bvec(&self, n: u64, dma_mask: u64, len_mask: u64) -> Option<usize> {
        self.bvecs(self.consumed, self.consumed + n)
            .position(|(off, len)| off & dma_mask != 0 || len & len_mask != 0)
    }
    /// Block layer, 6.18+ (read in 6.18.2 and 7.1.5 block/blk-merge.c, block/blk.h): would a bio
    /// built from the next `n` bytes of this iter be failed with BLK_STS_INVAL at submission?
    ///
    /// bio_iov_iter_get_pages() no longer checks the user memory; the bio's bvecs are the
    /// page-sized pieces of the user range (the model's segments are contiguous in memory, so pieces
    /// of neighbouring segments in one page merge into one bvec). __bio_split_to_limits() only looks
    /// at the bio when bio_may_need_split(): more than one bvec, or one bvec whose offset + length
    /// passes min_segment_size (PAGE_SIZE). bio_split_io_at() then fails it with -EINVAL if any
    /// bvec's offset has a bit of `dma_mask` (queue dma_alignment, 511 on loop) or its length a bit
    /// of `len_mask` (bio_split_rw_at passes dma_alignment too). So a misaligned buffer is accepted
    /// while each bio stays inside one page, and rejected when a bio crosses a page. Physically
    /// contiguous pages would merge into one bvec that is checked the same way, with the same
    /// outcome for the lbs-aligned bio sizes the model builds.
    pub fn bio_rejected_at_split(&self, n: u64, dma_mask: u64, len_mask: u64) -> bool {
        if n == 0 {
            return false;
        }
        if self.scatter.is_some() {
            let v: Vec<(u64, u64)> = self.bvecs(self.consumed, self.consumed + n).collect();
            if let [(off, len)] = v[..] {
                if off + len <= PAGE {
                    return false;
                }
            }
            return v
                .iter()
                .any(|(off, len)| off & dma_mask != 0 || len & len_mask != 0);
        }
        let start = self.addr + self.consumed;
        let end = start + n;
        if start % PAGE + n <= PAGE {
            // bio_may_need_split(): one bvec within min_segment_size -> never checked.
            return false;
        }
        let mut s = start;
        while s < end {
            let e = ((s / PAGE + 1) * PAGE).min(end);
            if (s % PAGE) & dma_mask != 0 || (e - s) & len_mask != 0 {
                return true;
            }
            s = e;
        }
        false
    }
    /// Block layer, 14b007e17881 (7.3-rc1, 7.2.y; read in 7.2.12/7.3.4 block/bio.c and
    /// lib/iov_iter.c): bio_iov_iter_get_pages(bio, iter, mem_align_mask, ...) extracts the user
    /// buffer one iovec segment at a time, and iov_iter_extract_bvecs() first checks the current
    /// segment: its address and its remaining length (ITER_UBUF: the remaining, possibly
    /// truncated, count; ITER_IOVEC: the rest of the segment, which iov_iter_truncate() does not
    /// shorten) against `mask`. A failed check releases the whole bio and returns -EINVAL; the iter
    /// is not reverted over the segments already extracted.
    ///
    /// The bio built from the next `n` bytes (`n` before the alignment down) checks every segment
    /// it touches; when the extraction stopped at an unfaultable page (`stopped_by_fault`), the
    /// segment at that point is checked too before pinning fails (-EINVAL before -EFAULT).
    /// Returns Some(bytes extracted before the failing check), or None when every check passes.
    pub fn extract_misaligned(&self, n: u64, mask: u64, stopped_by_fault: bool) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let start = self.consumed;
        let end = start + n;
        if self.iter_is_ubuf() {
            let base = self.segments().next().map_or(self.addr, |(_, _, a)| a);
            let bad = ((base + start) | self.count) & mask != 0;
            return bad.then_some(0);
        }
        for (s0, len, addr) in self.segments() {
            if s0 > end {
                break;
            }
            let s1 = s0 + len;
            let overlaps = s1 > start && s0 < end;
            let at_fault = stopped_by_fault && s0 <= end && end < s1 && end < start + self.count;
            if overlaps || at_fault {
                let cur = s0.max(start);
                if ((addr + (cur - s0)) | (s1 - cur)) & mask != 0 {
                    return Some(cur - start);
                }
            }
        }
        None
    }
    pub fn truncate(&mut self, n: u64) {
        self.count = self.count.min(n);
    }
    pub fn advance(&mut self, n: u64) {
        let n = n.min(self.count);
        self.consumed += n;
        self.count -= n;
    }
    pub fn revert(&mut self, n: u64) {
        let n = n.min(self.consumed);
        self.consumed -= n;
        self.count += n;
    }
    /// Bytes that can be faulted in from the current position.
    /// Bytes that can be faulted in from the current position. Memory is mapped in pages, so
    /// the first unfaultable byte is the start of the page holding buffer offset `fault_at`.
    pub fn faultable(&self) -> u64 {
        if let (Some(f), Some(_)) = (self.fault_at, self.scatter) {
            // The page holding data byte f, and every later segment's pages, are unfaultable:
            // from the segment's start, or from the start of its page that holds f.
            let first_bad = self
                .segments()
                .find(|&(s, l, _)| f < s + l)
                .map_or(self.total, |(s, _, addr)| {
                    s + ((addr + (f.max(s) - s)) & !(PAGE - 1)).saturating_sub(addr)
                });
            return first_bad.saturating_sub(self.consumed).min(self.count);
        }
        match self.fault_at {
            Some(f) => {
                let page = crate::scenario::PAGE_SIZE;
                let first_bad = ((self.addr + f) & !(page - 1)).saturating_sub(self.addr);
                first_bad.saturating_sub(self.consumed).min(self.count)
            }
            None => self.count,
        }
    }
}

/// iocb_flags(): IOCB_* from the file's f_flags at I/O time.
pub fn iocb_flags(f: &File) -> u32 {
    let mut r = 0;
    if f.o_append {
        r |= IOCB_APPEND;
    }
    if f.o_direct {
        r |= IOCB_DIRECT;
    }
    if f.o_dsync {
        r |= IOCB_DSYNC;
    }
    if f.o_sync {
        r |= IOCB_SYNC | IOCB_DSYNC;
    }
    r
}

/// kiocb_modified() (fs/inode.c): file_modified() with the kiocb's IOCB_NOWAIT. With IOCB_NOWAIT,
/// a write whose inode timestamps differ from now (a file last modified before this write: always
/// so in the model) is -EAGAIN before any I/O (file_update_time_flags). Confirmed by `diofuzz
/// live` on 6.18 for XFS (no iomap_dio_rw_begin event for NOWAIT writes). XFS calls it in every
/// version; ext4 from 7.3 (ext4_kiocb_modified), file_modified() before, which blocks instead.
pub fn kiocb_modified(cx: &mut Cx, ki: &Kiocb) -> i64 {
    if ki.has(IOCB_NOWAIT) {
        cx.decide("kiocb_modified: NOWAIT and the timestamps need an update -> -EAGAIN");
        return -EAGAIN;
    }
    cx.fault(Site::FileModified).unwrap_or(0)
}

/// kiocb_set_rw_flags() (include/linux/fs.h; all versions, RWF_DONTCACHE from 6.14).
pub fn kiocb_set_rw_flags(
    cx: &mut Cx,
    ki: &mut Kiocb,
    file: &File,
    rwf: u32,
    write: bool,
    is_append_inode: bool,
) -> i64 {
    cx.enter("kiocb_set_rw_flags", &[("rwf", rwf as i64)]);
    if rwf == 0 {
        return cx.ret("kiocb_set_rw_flags", 0);
    }
    let supported = RWF_HIPRI
        | RWF_DSYNC
        | RWF_SYNC
        | RWF_NOWAIT
        | RWF_APPEND
        | RWF_NOAPPEND
        | RWF_ATOMIC
        | if cx.v.rwf_dontcache_known {
            RWF_DONTCACHE
        } else {
            0
        };
    if rwf & !supported != 0 {
        cx.decide("kiocb_set_rw_flags: unknown RWF bit");
        return cx.ret("kiocb_set_rw_flags", -EOPNOTSUPP);
    }
    if rwf & RWF_APPEND != 0 && rwf & RWF_NOAPPEND != 0 {
        return cx.ret("kiocb_set_rw_flags", -EINVAL);
    }
    let mut kf = 0;
    if rwf & RWF_NOWAIT != 0 {
        if !file.fmode_nowait {
            return cx.ret("kiocb_set_rw_flags", -EOPNOTSUPP);
        }
        kf |= IOCB_NOWAIT;
    }
    if rwf & RWF_ATOMIC != 0 {
        if !write {
            cx.decide("kiocb_set_rw_flags: RWF_ATOMIC on a read");
            return cx.ret("kiocb_set_rw_flags", -EOPNOTSUPP);
        }
        if !file.fmode_can_atomic_write {
            cx.decide("kiocb_set_rw_flags: no FMODE_CAN_ATOMIC_WRITE");
            return cx.ret("kiocb_set_rw_flags", -EOPNOTSUPP);
        }
    }
    if rwf & RWF_DONTCACHE != 0 {
        // 6.14+: needs FOP_DONTCACHE (ext4/XFS from 6.17 as read; the block device from 7.3) and a
        // non-DAX inode. For O_DIRECT the flag changes nothing the model tracks; for a buffered
        // write the folios are dropped after writeback, which the model does not model.
        // The block device has FOP_DONTCACHE from 8b5ffb43ae9d (7.3).
        // XFS has it one release before ext4 (xfs_dontcache, 6.16, measured by the lab).
        let fop = match cx.fs {
            crate::scenario::FsKind::Bdev => cx.v.bdev_dontcache,
            crate::scenario::FsKind::Xfs => cx.v.fs_dontcache || cx.v.xfs_dontcache,
            _ => cx.v.fs_dontcache,
        };
        if !fop || cx.inode.flags.dax {
            return cx.ret("kiocb_set_rw_flags", -EOPNOTSUPP);
        }
        kf |= IOCB_DONTCACHE;
    }
    kf |= rwf & (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_APPEND | RWF_ATOMIC);
    if rwf & RWF_SYNC != 0 {
        kf |= IOCB_DSYNC;
    }
    if rwf & RWF_NOAPPEND != 0 && ki.has(IOCB_APPEND) {
        if is_append_inode {
            return cx.ret("kiocb_set_rw_flags", -EPERM);
        }
        ki.ki_flags &= !IOCB_APPEND;
    }
    ki.ki_flags |= kf;
    cx.ret("kiocb_set_rw_flags", 0)
}

/// generic_write_sync() (include/linux/fs.h): after a successful write with IOCB_DSYNC, fsync the
/// range; an error replaces the byte count (ki_pos has already moved).
pub fn generic_write_sync(cx: &mut Cx, ki: &Kiocb, count: i64) -> i64 {
    if ki.has(IOCB_DSYNC) && count > 0 {
        cx.enter("generic_write_sync", &[("count", count)]);
        if let Some(e) = cx.fault(Site::GenericWriteSync) {
            cx.decide("generic_write_sync failed after the data was written");
            return cx.ret("generic_write_sync", e);
        }
        return cx.ret("generic_write_sync", count);
    }
    count
}
