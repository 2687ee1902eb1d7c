// SPDX-License-Identifier: GPL-2.0-only
//! The oracle: properties O1-O12 of docs/oracle.md §2 (O8: docs/oracle-o8.md, O9 and O10:
//! docs/model-state.md, O11: docs/oracle.md §2), evaluated over one [`Execution`].
//! A finding is a value; the fuzz targets turn it into a panic.

use crate::errno;
use crate::model::{Bio, Execution, FileImage, TAG_NEW};
use crate::scenario::SECTOR;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Prop {
    /// never buffered
    O1,
    /// all or nothing
    O2,
    /// the atomic-write contract
    O3,
    /// one unit (one REQ_ATOMIC bio or one atomic remap)
    O4,
    /// no internal errno reaches the caller
    O5,
    /// accounting (ki_pos, data, i_size, stale page cache)
    O6,
    /// a WARN was hit
    O7,
    /// non-atomic DIO error contract: an error the DIO path produced (other than the fallback
    /// signal -ENOTBLK) never becomes a buffered success
    O8,
    /// user pages pinned for a bio are released exactly once
    O9,
    /// an XFS CoW mapping handed to iomap is backed by written CoW-fork blocks
    O10,
    /// size accounting of failed and short writes: i_size grows only by the bytes reported
    O11,
    /// no written ext4 block past EOF holds stale device content (a truncate up would expose it)
    O12,
}

impl Prop {
    pub const ALL: [Prop; 12] = [
        Prop::O1,
        Prop::O2,
        Prop::O3,
        Prop::O4,
        Prop::O5,
        Prop::O6,
        Prop::O7,
        Prop::O8,
        Prop::O9,
        Prop::O10,
        Prop::O11,
        Prop::O12,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Prop::O1 => "atomic write reached a non-DIO data path",
            Prop::O2 => "atomic write was not all-or-nothing",
            Prop::O3 => "atomic write accepted outside its contract",
            Prop::O4 => "atomic write not issued as one unit",
            Prop::O5 => "internal errno reached the caller",
            Prop::O6 => "accounting is wrong",
            Prop::O7 => "WARN hit",
            Prop::O8 => "DIO error became a buffered success",
            Prop::O9 => "pinned user pages not released exactly once",
            Prop::O10 => "CoW mapping not backed by written CoW-fork blocks",
            Prop::O11 => "i_size moved past the bytes the write reported",
            Prop::O12 => "written block past EOF holds stale device data",
        }
    }
}

impl fmt::Display for Prop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub property: Prop,
    pub variant: &'static str,
    pub fs: &'static str,
    /// The decisions that led here, oldest first.
    pub path: Vec<&'static str>,
    /// Independent of sizes and offsets: property, filesystem and decision path.
    pub signature: String,
    /// What exactly was wrong in this execution (with sizes).
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) on {} [{}]: {}\n  path: {}\n  signature: {}",
            self.property,
            self.property.title(),
            self.variant,
            self.fs,
            self.detail,
            self.path.join(" -> "),
            self.signature
        )
    }
}

/// The signature of a finding: property, filesystem, decision path. No numbers.
pub fn signature(p: Prop, fs: &str, path: &[&str]) -> String {
    format!("{p}:{fs}:{}", path.join(">"))
}

/// Evaluate every property. Returns all findings (possibly several properties for one execution).
pub fn check(x: &Execution) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |p: Prop, detail: String| {
        out.push(Finding {
            property: p,
            variant: x.variant.name,
            fs: x.fs.name(),
            path: x.path.clone(),
            signature: signature(p, x.fs.name(), &x.path),
            detail,
        })
    };
    let req = x.req_len;
    if x.atomic {
        // O1: no buffered / DAX copy of user data.
        if x.buffered_calls > 0 || x.dax_calls > 0 {
            add(
                Prop::O1,
                format!(
                    "{} buffered write call(s) ({} bytes), {} DAX copy call(s) for an RWF_ATOMIC request",
                    x.buffered_calls, x.buffered_bytes, x.dax_calls
                ),
            );
        }
        // O2: full length or -errno; on -errno nothing changed.
        if x.ret >= 0 && x.ret as u64 != req {
            add(
                Prop::O2,
                format!("returned {} for a {req}-byte atomic write (short)", x.ret),
            );
        } else if x.ret < 0 {
            if let Some(what) = changed(&x.before, &x.after) {
                add(
                    Prop::O2,
                    format!("returned {} but {what}", errno::fmt_ret(x.ret)),
                );
            }
        }
        // O3: accepted only within the contract at the position actually written.
        if x.ret > 0 {
            let pos = x.write_pos;
            let (umin, umax) = (x.statx_unit_min as u64, x.statx_unit_max as u64);
            let mut why = Vec::new();
            if x.nr_segs != 1 {
                why.push(format!("{} iovec segments", x.nr_segs));
            }
            if !x.direct_at_io {
                why.push("no O_DIRECT".to_string());
            }
            if umin == 0 {
                why.push("statx reports no atomic write support".to_string());
            } else if !req.is_power_of_two() || req < umin || req > umax {
                why.push(format!(
                    "length {req} outside power-of-two [{umin}, {umax}]"
                ));
            }
            if req > 0 && pos % req != 0 {
                why.push(format!("position {pos} not aligned to the length {req}"));
            }
            if !why.is_empty() {
                add(
                    Prop::O3,
                    format!("accepted ({} bytes) although {}", x.ret, why.join(", ")),
                );
            }
        }
        // O4: one REQ_ATOMIC bio over the whole range, or one atomic remap.
        if x.ret > 0 && x.ret as u64 == req {
            let data: Vec<&Bio> = x.bios.iter().filter(|b| !b.zero && b.status == 0).collect();
            let one_bio = data.len() == 1
                && data[0].atomic
                && data[0].pos == x.write_pos
                && data[0].len == req;
            let one_remap = x.atomic_remaps == 1 && data.iter().all(|b| !b.atomic);
            if !one_bio && !one_remap && x.buffered_calls == 0 && x.dax_calls == 0 {
                add(
                    Prop::O4,
                    format!(
                        "{} data bio(s) ({} with REQ_ATOMIC), {} atomic remap(s)",
                        data.len(),
                        data.iter().filter(|b| b.atomic).count(),
                        x.atomic_remaps
                    ),
                );
            }
        }
    }
    // O5: internal errnos.
    if x.ret < 0
        && (!errno::is_user_visible_write_errno(x.ret) || (x.ret == -errno::EIOCBQUEUED && !x.aio))
    {
        add(
            Prop::O5,
            format!("the caller got {}", errno::fmt_ret(x.ret)),
        );
    }
    // O6: accounting.
    if x.ret >= 0 && !x.read {
        let mut why = Vec::new();
        let moved = x.ki_pos_after as i64 - x.write_pos as i64;
        if moved != x.ret {
            why.push(format!(
                "ki_pos moved by {moved} for a return value of {}",
                x.ret
            ));
        }
        let r = x.ret as u64;
        if let Some(s) = bad_data(&x.before, &x.after, x.write_pos, r, req) {
            why.push(s);
        }
        if r > 0 && x.after.i_size < x.write_pos + r {
            why.push(format!(
                "i_size {} does not cover the {r} bytes written at {}",
                x.after.i_size, x.write_pos
            ));
        }
        if let Some(p) = x.stale_page {
            why.push(format!(
                "page {p} in the page cache is clean but differs from the disk (stale)"
            ));
        }
        if !why.is_empty() {
            add(Prop::O6, why.join("; "));
        }
    }
    // O8: the non-atomic DIO error contract (docs/oracle-o8.md). A direct write that the DIO path
    // rejected -- an error of its own (alignment -EINVAL, pinning -EFAULT/-ENOMEM, a failed
    // ->iomap_begin or bio) before any data reached the device -- must return that error. Only
    // the filesystem's own fallback signal (-ENOTBLK: page-cache invalidation failure, indirect
    // hole, XFS CoW bounce; or ext4_should_use_dio() false, which never enters the DIO path) may
    // send it to the page cache. Here the error was replaced on the way (->iomap_end's -ENOTBLK
    // over the actor's error, or the tail zeroing's 0) and the page cache completed the write.
    if !x.atomic && !x.read && x.direct_at_io && x.ret > 0 && x.buffered_calls > 0 {
        if let Some(e) = x.dio_error_masked {
            let dio_wrote = x.bios.iter().any(|b| !b.zero && b.status == 0);
            if !dio_wrote {
                add(
                    Prop::O8,
                    format!(
                        "the DIO path failed with {} before writing anything, and the write returned {} through the page cache ({} buffered bytes)",
                        errno::fmt_ret(e),
                        x.ret,
                        x.buffered_bytes
                    ),
                );
            }
        }
    }
    // O9: every user page pinned into a bio (bio_iov_iter_get_pages, FOLL_PIN) is released once
    // (bio_release_pages), on every path; a leak keeps user memory pinned for good.
    if x.pinned_left > 0 || !x.pin_errors.is_empty() {
        let mut why = Vec::new();
        if x.pinned_left > 0 {
            why.push(format!(
                "{} user page(s) still pinned after the call",
                x.pinned_left
            ));
        }
        for e in &x.pin_errors {
            why.push(e.to_string());
        }
        add(Prop::O9, why.join("; "));
    }
    // O10: every mapping XFS hands iomap with IOMAP_F_SHARED for a direct write is written
    // CoW-fork blocks over its whole length (docs/model-state.md): iomap writes through it into
    // staging blocks and end_io remaps only written CoW extents, so a delalloc mapping fails the
    // write (-EIO, 8d54eacd82a0) and an unwritten one loses its data.
    if !x.cow_errors.is_empty() {
        add(Prop::O10, x.cow_errors.join("; "));
    }
    // O11: size accounting of failed and short writes (docs/oracle.md §2). A write may extend
    // the file only over the bytes it reports: after the call i_size is at most the larger of
    // the old i_size and write_pos + ret when ret > 0, and the old i_size when the call returned
    // 0 or an error. The kernel means it: ext4_inode_extension_cleanup() and
    // ext4_truncate_failed_write() undo a failed extension, iomap and XFS update the size at I/O
    // completion by the bytes written. O6 judges the lower bound (i_size covers ret).
    if !x.read && x.after.i_size > x.before.i_size {
        let reported = if x.ret > 0 {
            x.write_pos + x.ret as u64
        } else {
            0
        };
        if x.after.i_size > reported.max(x.before.i_size) {
            add(
                Prop::O11,
                format!(
                    "returned {} at {} but i_size moved from {} to {}",
                    errno::fmt_ret(x.ret),
                    x.write_pos,
                    x.before.i_size,
                    x.after.i_size
                ),
            );
        }
    }
    // O12: stale data past EOF (docs/oracle.md §2). ext4 zeroes only the tail of the old EOF
    // block when the file grows (ext4_setattr -> ext4_block_truncate_page / 7.3's
    // ext4_block_zero_eof; a write past EOF zeroes nothing in between) and relies on every block
    // wholly past it being a hole or unwritten: a written one holding device content the file
    // never had is exposed by the next truncate up or extending write. XFS zeroes the whole
    // range it exposes (xfs_setattr_size and xfs_file_write_zero_eof -> iomap_zero_range), so
    // there stale blocks past EOF stay unreadable: ext4 only.
    if x.fs == crate::scenario::FsKind::Ext4 {
        if let Some(b) = x.stale_past_eof {
            add(
                Prop::O12,
                format!(
                    "block {b} (past EOF at {}) is a written extent holding stale device data after {} at {}",
                    x.after.i_size,
                    errno::fmt_ret(x.ret),
                    x.write_pos
                ),
            );
        }
    }
    // O7: WARN sites.
    if !x.warns.is_empty() {
        add(Prop::O7, format!("WARN at {}", x.warns.join(", ")));
    }
    out
}

/// Compare the whole file before and after; describe the first change a reader could see.
/// Writeback of data that was already in the page cache (a flush before invalidation) is not a
/// change: only the cached view must be identical, and the disk may only have taken what the
/// cache held. (Slice comparisons first: the fuzz build instruments element comparisons.)
pub fn changed(a: &FileImage, b: &FileImage) -> Option<String> {
    if a.i_size != b.i_size {
        return Some(format!("i_size changed from {} to {}", a.i_size, b.i_size));
    }
    let n = a
        .cached
        .len()
        .min(b.cached.len())
        .min(a.i_size.div_ceil(SECTOR) as usize);
    if a.cached[..n] == b.cached[..n] && a.on_disk[..n] == b.on_disk[..n] {
        return None;
    }
    for s in 0..n {
        if a.cached[s] != b.cached[s] {
            return Some(format!(
                "the data at byte {} changed (read through the page cache)",
                s as u64 * SECTOR
            ));
        }
        if b.on_disk[s] != a.on_disk[s] && b.on_disk[s] != a.cached[s] {
            return Some(format!(
                "the data at byte {} changed on disk",
                s as u64 * SECTOR
            ));
        }
    }
    None
}

/// O6 data rule: whole sectors in [pos, pos+ret) hold the new data, whole sectors in
/// [pos+ret, pos+req) and everything outside the range hold what they held (zero beyond the old EOF).
fn bad_data(a: &FileImage, b: &FileImage, pos: u64, ret: u64, req: u64) -> Option<String> {
    let n = b.cached.len().min(b.i_size.div_ceil(SECTOR) as usize);
    let old_lim = (a.i_size.div_ceil(SECTOR) as usize).min(n);
    // Whole sectors written: [w0, w1); whole sectors of the range not written: [u0, u1).
    let clamp = |x: u64| (x as usize).min(n);
    let (w0, w1) = (clamp(pos.div_ceil(SECTOR)), clamp((pos + ret) / SECTOR));
    let (u0, u1) = (
        clamp((pos + ret).div_ceil(SECTOR)),
        clamp((pos + req) / SECTOR),
    );
    let (r0, r1) = (clamp(pos / SECTOR), clamp((pos + req).div_ceil(SECTOR)));
    if w0 < w1 {
        if let Some(i) = b.cached[w0..w1].iter().position(|&t| t != TAG_NEW) {
            let s = w0 + i;
            return Some(format!(
                "byte {} should hold the new data but holds tag {}",
                s as u64 * SECTOR,
                b.cached[s]
            ));
        }
    }
    // Unchanged: before the range, the unwritten tail of the range, after the range.
    for (x, y) in [(0, r0), (u0.max(r0), u1), (r1, n)] {
        if x >= y {
            continue;
        }
        let same = y <= old_lim && a.cached[x..y] == b.cached[x..y];
        if same {
            continue;
        }
        for s in x..y {
            let old = if s < old_lim { a.cached[s] } else { 0 };
            let now = b.cached[s];
            // Beyond the old EOF only zeroes may appear (stale data exposure otherwise).
            if now != old && !(s >= old_lim && now == 0) {
                return Some(format!(
                    "byte {} outside the {ret} bytes written changed (tag {old} -> {now})",
                    s as u64 * SECTOR
                ));
            }
        }
    }
    None
}
