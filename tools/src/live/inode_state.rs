// SPDX-License-Identifier: GPL-2.0-only
//! Inode states of the model that are not chattr flags, built on the scratch filesystem
//! (docs/live.md, "Unlinked and not-IS_NOSEC inodes"):
//!
//! * `unlinked`: the file is unlinked after the call's open (the open file keeps the inode). The
//!   model reads it in ext4_handle_inode_extension (an unlinked inode stays on the orphan list).
//!   What stays observable: the call's return and file position, statx on the open fd, and the
//!   content through `/proc/self/fd/N` of a descriptor opened before the unlink (the set-up's,
//!   kept open), buffered and O_DIRECT, exactly as for a linked file. An append-only one gets
//!   `chattr +a` through the call's open file after the unlink ([`adjust_call`]); on a
//!   filesystem brought down the unlink comes before the shutdown (super::shutdown).
//! * not `nosec` (IS_NOSEC clear): the set-up ends with fchmod(04600), a setuid bit.
//!   notify_change (fs/attr.c) clears S_NOSEC for an ATTR_MODE with is_sxid(); nothing sets it
//!   again while the bit stays: inode_has_no_xattr (include/linux/fs.h) refuses an is_sxid mode,
//!   and file_remove_privs_flags (fs/inode.c) strips the bit only without CAP_FSETID
//!   (setattr_should_drop_suidgid, fs/attr.c): live and the C reproducer run as root, so the bit
//!   and !IS_NOSEC last through the set-up's writes and the call. Without CAP_FSETID the write
//!   would strip the bit under the exclusive lock, IS_NOSEC still clear when the lock is chosen
//!   (ext4_dio_write_checks, xfs_file_write_checks): the same world either way. A security.*
//!   xattr would do too (__vfs_setxattr_noperm clears S_NOSEC), but only security.capability is
//!   stripped (cap_inode_need_killpriv), and the mode bit needs no LSM.
//! * ext4 `disksize_lag` (i_disksize = i_size rounded down to a block): the file is truncated to
//!   that size and the dirty page over EOF is written with a buffered write that extends i_size
//!   into a hole block: ext4_da_do_write_end moves i_size and leaves i_disksize (the block at the
//!   new EOF is delayed: ext4_da_should_update_i_disksize is false) until writeback. Built only
//!   where the world has that block (delalloc, under a dirty page) on a delalloc mount; XFS not.

use super::plan::{Step, Unsupported};
use diofuzz::scenario::{FsKind, Scenario};

/// The mode the set-up gives a not-IS_NOSEC file (setuid, owner read/write).
pub const SETUID_MODE: u32 = 0o4600;

/// Worlds of these inode states live does not build.
pub fn refuse(s: &Scenario) -> Result<(), Unsupported> {
    let f = s.world.inode;
    if f.unlinked && f.append_only && s.inode_at_open().append_only != f.append_only {
        return Err(
            "unlinked inode whose append-only flag changed after open (the unlink needs the flag clear: may_delete; not built)"
                .into(),
        );
    }
    if f.disksize_lag
        && lag_truncate(s).is_none()
        && s.world.i_size % (1u64 << s.world.blkbits) != 0
    {
        return Err(if s.fs == FsKind::Ext4 {
            "i_disksize behind i_size without a delalloc block at EOF under a dirty page on a delalloc mount (not built)"
        } else {
            "i_disksize behind i_size on XFS (not built)"
        }
        .into());
    }
    Ok(())
}

/// The size the set-up truncates the new file to: i_size, or for ext4's `disksize_lag` the
/// model's i_disksize (i_size rounded down to a block), the rest of i_size coming from the
/// buffered write of the dirty page over EOF.
pub fn truncate_to(s: &Scenario) -> u64 {
    lag_truncate(s).unwrap_or(s.world.i_size)
}

/// `Some(i_disksize)` when the world's i_disksize lag is built
/// ([`diofuzz::generators::random::disksize_lag_buildable`]).
fn lag_truncate(s: &Scenario) -> Option<u64> {
    let w = &s.world;
    (w.inode.disksize_lag && diofuzz::generators::random::disksize_lag_buildable(s))
        .then_some(w.i_size & !((1u64 << w.blkbits) - 1))
}

/// The set-up step of a not-IS_NOSEC inode, after every write of the set-up (each of which
/// would set S_NOSEC on a file without the bit: file_remove_privs_flags -> inode_has_no_xattr).
pub fn add_steps(s: &Scenario, steps: &mut Vec<Step>) {
    if !s.world.inode.nosec {
        steps.push(Step::SetMode(SETUID_MODE));
    }
}

/// An unlinked append-only inode: the unlink comes first (may_delete refuses to unlink an
/// append-only inode: -EPERM), so `chattr +a` goes through the call's open file after the unlink
/// ([`super::race::AfterOpen`]) instead of ending the set-up. The call's open had O_APPEND
/// (rule W10), so may_open would have let it open the append-only inode as well: the same world
/// at the write.
pub fn adjust_call(s: &Scenario, call: &mut super::plan::Call) {
    let f = s.world.inode;
    if f.unlinked && f.append_only {
        call.after_open.set |= super::plan::FS_APPEND_FL;
    }
}

/// fchmod of the set-up's file.
pub fn set_mode(fd: i32, mode: u32) -> Result<(), String> {
    // SAFETY: fchmod on our fd.
    if unsafe { libc::fchmod(fd, mode as libc::mode_t) } != 0 {
        return Err(format!(
            "fchmod {mode:o}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Unlink `path` once the call's file is open, and return the path the read-back opens instead:
/// `/proc/self/fd/N` of `keep`, a descriptor of the file that stays open until the read-back
/// is done.
pub fn unlink_after_open(path: &std::path::Path, keep: i32) -> Result<std::path::PathBuf, String> {
    std::fs::remove_file(path).map_err(|e| format!("unlink after open: {e}"))?;
    Ok(std::path::PathBuf::from(format!("/proc/self/fd/{keep}")))
}

/// Does the call clear `FS_APPEND_FL` after open on an inode it also unlinks after open? Then
/// the `chattr -a` comes first: `may_delete` refuses to unlink an append-only inode (EPERM),
/// and the world at the write (not append-only, unlinked) is the same in either order. Found
/// by session 12's live run (gen-2-xfs-192: races 7 and 10 after open, an error on every
/// logical block size).
pub fn clear_append_before_unlink(c: &super::plan::Call) -> bool {
    c.unlink && c.after_open.clear & super::plan::FS_APPEND_FL != 0
}

/// The C reproducer's `chattr -a` before the unlink ([`clear_append_before_unlink`]).
pub const C_CLEAR_APPEND_BEFORE_UNLINK: &str = "\t{\n\t\tint fl = 0; /* chattr -a before the unlink (may_delete: EPERM on an append-only inode) */\n\t\tif (ioctl(cfd, 0x80086601UL, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tfl &= ~0x20;\n\t\tif (ioctl(cfd, 0x40086602UL, &fl))\n\t\t\tdie(\"FS_IOC_SETFLAGS\");\n\t}\n";

/// The C reproducer's unlink after the call's open: `path` (char[4096]) then names the set-up's
/// descriptor `fd`, open until the end, for the read-back.
pub const C_UNLINK_AFTER_OPEN: &str = "\t/* the inode is unlinked after open (the open files keep it) */\n\tif (unlink(path))\n\t\tdie(\"unlink\");\n\tsnprintf(path, sizeof(path), \"/proc/self/fd/%d\", fd);\n";

/// The C reproducer's set-up step for [`Step::SetMode`].
pub fn c_set_mode(mode: u32) -> String {
    format!("\tif (fchmod(fd, 0{mode:o}))\n\t\tdie(\"fchmod\"); /* setuid: IS_NOSEC clear */\n")
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, Step};
    use diofuzz::scenario::{FsKind, Race, Scenario};

    fn base(fs: FsKind) -> Scenario {
        let mut s = Scenario {
            fs,
            ..Default::default()
        };
        s.world.i_size = 8192;
        s.request.open.direct = true;
        s.request.pos = 0;
        s.request.len = 4096;
        s
    }

    /// An inode append-only at open, made not append-only and unlinked after open (races 7 and
    /// 10): the `chattr -a` comes before the unlink, in live and in the C reproducer (session
    /// 12's live run: "unlink after open: Operation not permitted" without it).
    #[test]
    fn append_cleared_after_open_before_the_unlink() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let mut s = base(fs);
            s.request.open.append = true;
            s.world.inode.unlinked = true;
            s.races = vec![
                Race::InodeFlagChangedAfterOpen(7),
                Race::InodeFlagChangedAfterOpen(10),
            ];
            assert!(s.inode_at_open().append_only && !s.inode_at_open().unlinked);
            assert!(diofuzz::validity::violations(&s).is_empty());
            let p = plan(&s).unwrap();
            assert!(super::clear_append_before_unlink(&p.call));
            let c = super::super::repro::c_program(&s).unwrap();
            let (a, u) = (
                c.find("chattr -a before the unlink").unwrap(),
                c.find("unlinked after open").unwrap(),
            );
            assert!(a < u);
            // Not when the inode stays append-only, nor without the unlink.
            s.races.retain(|r| *r != Race::InodeFlagChangedAfterOpen(7));
            s.world.inode.append_only = true;
            let p = plan(&s).unwrap();
            assert!(!super::clear_append_before_unlink(&p.call));
        }
    }

    #[test]
    fn not_nosec_ends_the_setup_with_a_setuid_chmod() {
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            let mut s = base(fs);
            s.world.inode.nosec = false;
            let p = plan(&s).expect("a not-IS_NOSEC inode is expressible");
            assert_eq!(p.steps.last(), Some(&Step::SetMode(super::SETUID_MODE)));
            assert!(!p.call.unlink);
            s.world.inode.nosec = true;
            let p = plan(&s).unwrap();
            assert!(!p.steps.iter().any(|st| matches!(st, Step::SetMode(_))));
        }
    }

    #[test]
    fn unlinked_unlinks_after_open_then_sets_append_only() {
        let mut s = base(FsKind::Ext4);
        s.world.inode.unlinked = true;
        let p = plan(&s).expect("an unlinked inode is expressible");
        assert!(p.call.unlink);
        s.request.open.append = true;
        s.world.inode.append_only = true;
        // Unlinked first, then +a through the open file (may_delete refuses the other order).
        let p = plan(&s).expect("an unlinked append-only inode is expressible");
        assert!(p.call.unlink);
        assert_eq!(p.call.after_open.set, super::super::plan::FS_APPEND_FL);
        assert!(!p
            .steps
            .iter()
            .any(|st| matches!(st, Step::SetInodeFlags { .. })));
        let c = super::super::repro::c_program(&s).unwrap();
        let unlink = c.find("if (unlink(path))").unwrap();
        let chattr = c.find("fl = (fl | 0x20)").unwrap();
        assert!(unlink < chattr, "{c}");
    }

    #[test]
    fn disksize_lag_truncates_to_i_disksize_and_extends_with_the_dirty_page() {
        use diofuzz::scenario::{BlockState, Extent, PageState};
        let mut s = base(FsKind::Ext4);
        s.world.blkbits = 10;
        s.world.i_size = 5000;
        let blk = |kind| BlockState {
            kind,
            ..Default::default()
        };
        s.world.blocks = vec![blk(Extent::Written); 4];
        s.world.blocks.push(blk(Extent::Delalloc));
        s.world.pages = vec![PageState::None, PageState::Dirty];
        s.world.inode.disksize_lag = true;
        let p = plan(&s).expect("an ext4 i_disksize lag over a delalloc EOF block is built");
        assert_eq!(p.steps[0], Step::Truncate(4096));
        assert_eq!(p.i_size, 5000);
        assert!(p.steps.contains(&Step::WriteDirty {
            off: 4096,
            len: 904
        }));
        // Without the delalloc block at EOF: refused, never built as a plain file.
        s.world.blocks[4] = blk(Extent::Written);
        s.world.pages = vec![];
        let e = plan(&s).unwrap_err();
        assert!(e.contains("i_disksize"), "{e}");
        // On XFS: refused.
        let mut x = base(FsKind::Xfs);
        x.world.i_size = 5000;
        x.world.inode.disksize_lag = true;
        assert!(plan(&x).unwrap_err().contains("XFS"));
    }

    #[test]
    fn c_program_unlinks_after_open_and_chmods() {
        let mut s = base(FsKind::Xfs);
        s.world.inode.unlinked = true;
        s.world.inode.nosec = false;
        let c = super::super::repro::c_program(&s).unwrap();
        let open = c.find("int cfd = open(path").unwrap();
        let unlink = c.find("if (unlink(path))").unwrap();
        let chmod = c.find("fchmod(fd, 04600)").unwrap();
        assert!(chmod < open && open < unlink, "{c}");
    }
}
