// SPDX-License-Identifier: GPL-2.0-only
//! DAX worlds for the lab's pmem groups (`live --pmem`, tools/src/live/dax.rs): scenario `i` of
//! seed `s` is the random generator's scenario on the pmem device's geometry
//! ([`super::random::generate_on`]: 4 KiB blocks, the device's logical block and DMA alignment,
//! no atomic unit), made a DAX world from a random stream of its own:
//!
//! * 45 %: `mount.dax` and a DAX inode (`-o dax=always`);
//! * 40 %: a DAX inode without the mount option (`-o dax=inode`, FS_XFLAG_DAX);
//! * 15 %: a plain file on the pmem device (direct and buffered I/O on a DAX-capable disk).
//!
//! A DAX inode has no page cache and no delayed allocation (validity rule W4), no journalled
//! data (W3; none on the pmem device at all here) and, here, no XFS CoW fork at rest (the live recipes build it through the page
//! cache); two thirds of the random generator's atomic requests become plain ones (on pmem an
//! atomic write can only be refused at open: no FMODE_CAN_ATOMIC_WRITE without device units).
//! The result is normalised (src/validity.rs), so every scenario is a valid world. Two
//! streams of their own then draw non-DAX ext4 files on the device: journalled data
//! ([`super::flags::journalled_on_pmem`]) and, where that drew none, encrypted files under
//! `dax=always` and `chattr +j` after open on a non-DAX file ([`super::flags::non_dax_on_pmem`]).

use super::random::{generate_unheld, Disk, Rng};
use crate::scenario::{FsKind, Scenario};

/// What the lab's pmem device reports (a `memmap=` region, measured on 7.3.4 and 6.12.117): no
/// atomic write unit, 512-byte logical blocks, DMA alignment mask 511.
pub const LAB_PMEM: Disk = Disk {
    awu_min: 0,
    awu_max: 0,
    lbs_bits: 9,
    dma_alignment: 511,
};

/// Scenario number `index` of `seed` for `fs` on the pmem device `dev`.
pub fn generate_dax(seed: u64, index: u64, fs: FsKind, dev: &Disk) -> Scenario {
    let mut s = generate_unheld(seed, index, fs, Some(dev), 0);
    let mut r = Rng::stream(seed, index, 0x2545_F491_4F6C_DD1D, 0xDA << 48 ^ fs as u64);
    if s.request.rwf.atomic && r.pct(65) {
        s.request.rwf.atomic = false;
        s.request.read = false;
    }
    // No journalled data on the pmem device (W3 for a DAX inode; the pmem filesystem is mounted
    // with the dax option alone).
    s.world.mount.data_journal = false;
    s.world.inode.journal_data = false;
    let k = r.below(100);
    if k < 85 {
        let w = &mut s.world;
        w.inode.dax = true;
        w.mount.dax = k < 45;
        // No CoW fork at rest on a DAX inode; the reflink flag then comes from shared blocks
        // alone (the fork's seeds had set it).
        w.cow.clear();
        w.cowextsize = 0;
        w.inode.reflink = w.blocks.iter().any(|b| b.shared);
    }
    crate::validity::normalise(&mut s);
    // Journalled data on the pmem device (ext4), from a stream of its own: every other
    // scenario is what it was before (src/generators/flags.rs).
    let mut j = Rng::stream(seed, index, 0xB5AD_4ECE_DA1C_E2A9, 0xDA7 << 48 ^ fs as u64);
    super::flags::journalled_on_pmem(&mut j, &mut s);
    // Encrypted files under dax=always and chattr +j after open on a non-DAX file (session 7),
    // from a stream of its own.
    let mut e = Rng::stream(seed, index, 0x94D0_49BB_1331_11EB, 0xDA8 << 48 ^ fs as u64);
    let drawn = s.clone();
    super::flags::non_dax_on_pmem(&mut e, &mut s);
    if s == drawn {
        // chattr -j after open under dax=always (session 8), from a stream of its own.
        let mut c = Rng::stream(seed, index, 0xC2B2_AE3D_27D4_EB4F, 0xDA9 << 48 ^ fs as u64);
        jflag_cleared_under_dax(&mut c, &mut s);
    }
    // The pmem device is bio-based and never splits (pmem_submit_bio, no bio_split_to_limits):
    // on 6.18-7.1 a misaligned buffer reaches it (kernel::drivers::nvdimm::pmem). No draw.
    s.world.device.no_bio_split = true;
    s
}

/// 8 %: an ext4 file made with +j under `dax=always,nodelalloc` (so not DAX:
/// `ext4_should_enable_dax` at `__ext4_new_inode`'s `ext4_set_inode_flags(inode, true)`), whose
/// +j is cleared after the call's open (`ext4_ioctl_setflags` refuses a journal-flag change only
/// for an IS_DAX inode; S_DAX is not set again until the inode is next loaded, so the file is
/// still not DAX at the write: rule W22 judges the inode at open). The mount has delalloc again
/// at the write (`mount -o remount,delalloc` after open). No other race after open, no dirty,
/// writeback or mmapped page (clean ones are kept), no delayed block (none on the nodelalloc
/// mount before the remount), not unlinked. Left unchanged when the
/// result would not be a valid world.
pub fn jflag_cleared_under_dax(r: &mut Rng, s: &mut Scenario) {
    let w = &s.world;
    if s.fs != FsKind::Ext4
        || w.cluster_bits != 0
        || w.mount.data_journal
        || w.inode.journal_data
        || s.inode_at_open().journal_data
        || !r.pct(8)
    {
        return;
    }
    let before = s.clone();
    super::flags::only_toggle_races(s);
    s.races.retain(|x| *x != crate::scenario::Race::MmapRedirty);
    let w = &mut s.world;
    w.mount.dax = true;
    w.inode.dax = false;
    w.inode.unlinked = false;
    w.inode.inline_data = false;
    use crate::scenario::{Extent, PageState};
    if w.pages
        .iter()
        .any(|p| !matches!(p, PageState::None | PageState::Clean))
    {
        w.pages.clear();
    }
    // Nothing was delayed on the nodelalloc mount before the remount.
    for b in w.blocks.iter_mut().filter(|b| b.kind == Extent::Delalloc) {
        b.kind = Extent::Written;
    }
    s.races
        .push(crate::scenario::Race::InodeFlagChangedAfterOpen(1));
    if !crate::validity::violations(s).is_empty() {
        *s = before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pmem() -> Disk {
        LAB_PMEM
    }

    #[test]
    fn dax_worlds_include_encrypted_files_and_jflag_after_open() {
        use crate::scenario::Race;
        let (mut enc_always, mut jflag_enc, mut jflag_plain) = (0, 0, 0);
        for i in 0..600 {
            let s = generate_dax(11, i, FsKind::Ext4, &pmem());
            assert!(crate::validity::is_valid(&s), "{i}: {s:?}");
            let w = &s.world;
            // +j after open (the random generator's -j after open stays as it was).
            let jrace =
                s.has_race(Race::InodeFlagChangedAfterOpen(1)) && !s.inode_at_open().journal_data;
            if w.mount.dax && w.inode.encrypted {
                assert!(!w.inode.dax, "{i}: an encrypted inode is never DAX");
                enc_always += 1;
            }
            if jrace {
                // +j after open: the flag in effect at the write, never on a DAX inode.
                assert!(w.inode.journal_data, "{i}: {s:?}");
                assert!(!w.inode.dax && w.pages.is_empty(), "{i}: {s:?}");
                if w.inode.encrypted {
                    assert!(w.mount.dax, "{i}");
                    jflag_enc += 1;
                } else {
                    jflag_plain += 1;
                }
            }
        }
        assert!(
            enc_always > 40 && jflag_enc > 15 && jflag_plain > 15,
            "{enc_always} {jflag_enc} {jflag_plain}"
        );
    }

    #[test]
    fn dax_worlds_are_valid_and_varied() {
        let (mut always, mut inode, mut plain, mut atomic, mut shared) = (0, 0, 0, 0, 0);
        for fs in [FsKind::Ext4, FsKind::Xfs] {
            for i in 0..400 {
                let s = generate_dax(7, i, fs, &pmem());
                assert!(crate::validity::is_valid(&s), "{i}: {s:?}");
                assert_eq!(s, generate_dax(7, i, fs, &pmem()), "deterministic");
                let w = &s.world;
                assert_eq!((w.blkbits, w.lbs_bits), (12, 9));
                assert_eq!((w.device.awu_min, w.device.awu_max), (0, 0));
                // A dax mount's non-DAX file journals data (flags::journalled_on_pmem).
                // ... or is encrypted (flags::non_dax_on_pmem), or was +j at open
                // (jflag_cleared_under_dax).
                let jopen = s.inode_at_open().journal_data;
                assert!(
                    !w.mount.dax
                        || w.inode.dax
                        || w.inode.journal_data
                        || w.inode.encrypted
                        || jopen,
                    "{i}"
                );
                if w.inode.dax {
                    assert!(w.pages.is_empty() && w.cow.is_empty());
                    assert_eq!(w.inode.reflink, w.blocks.iter().any(|b| b.shared), "{i}");
                }
                match (w.mount.dax, w.inode.dax) {
                    (true, true) => always += 1,
                    (false, true) => inode += 1,
                    _ => plain += 1,
                }
                atomic += s.request.rwf.atomic as u32;
                shared += w.blocks.iter().any(|b| b.shared) as u32;
            }
        }
        assert!(
            always > 250 && inode > 220 && plain > 60 && atomic > 60 && shared > 20,
            "{always} {inode} {plain} {atomic} {shared}"
        );
    }
}
