// SPDX-License-Identifier: GPL-2.0-only
//! Validity rule W35 (an active swap device): the check behind [`super::SWAP_DEVICE`] (kernel
//! citation there and in docs/validity.md). The block-device twin of W27 (swap files): a device
//! has no block map, so only its size and its page cache matter.

use crate::scenario::*;

const PAGE: u64 = 4096;

/// Why swapon would have refused this swap device, or what cannot have happened to it since
/// (mm/swapfile.c SYSCALL swapon, 7.3.4: the header page and one usable page; S_SWAPFILE, then
/// inode_drain_writes writes back the device's dirty pages; afterwards blkdev_write_iter and a
/// shared writable mmap give -ETXTBSY).
pub fn refused(s: &Scenario) -> Option<String> {
    let w = &s.world;
    if w.i_size < 2 * PAGE {
        return Some(format!(
            "a swap device of {} bytes (no usable page after the header)",
            w.i_size
        ));
    }
    if w.pages.iter().any(|p| {
        matches!(
            p,
            PageState::Dirty | PageState::Writeback | PageState::MappedDirty
        )
    }) {
        return Some("a dirty or writeback page on a swap device (inode_drain_writes)".into());
    }
    if s.has_race(Race::MmapRedirty) {
        return Some("an mmap writer on a swap device (do_mmap: -ETXTBSY)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn swap_device() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Bdev,
            ..Default::default()
        };
        s.world.i_size = 4 * 4096;
        s.world.inode.swapfile = true;
        s.world.pages = vec![PageState::Clean, PageState::None];
        s.request.len = 4096;
        s
    }

    /// mm/swapfile.c SYSCALL swapon: a usable page after the header, and inode_drain_writes
    /// after S_SWAPFILE; block/fops.c blkdev_write_iter then refuses every write (-ETXTBSY).
    #[test]
    fn w35_swap_device_is_two_pages_and_clean() {
        let s = swap_device();
        assert!(is_valid(&s), "{:?}", violations(&s));
        let mut small = s.clone();
        small.world.i_size = 4096;
        let v = violations(&small);
        assert!(v.iter().any(|v| v.rule.id == "W35-swap-device"), "{v:?}");
        for st in [
            PageState::Dirty,
            PageState::Writeback,
            PageState::MappedDirty,
        ] {
            let mut d = s.clone();
            d.world.pages[1] = st;
            assert!(
                violations(&d)
                    .iter()
                    .any(|v| v.rule.id == "W35-swap-device"),
                "{st:?}"
            );
            // Normalised: not a swap device (swapon refused it), the page kept.
            let applied = normalise(&mut d);
            assert!(applied.contains(&"W35-swap-device"));
            assert!(!d.world.inode.swapfile && d.world.pages[1] == st);
        }
        let mut m = s.clone();
        m.races.push(Race::MmapRedirty);
        assert!(!is_valid(&m));
        // swapon after open: the device at open is plain, the rule still applies (the flag is
        // set at the write).
        let mut after = s.clone();
        after.races.push(Race::InodeFlagChangedAfterOpen(9));
        assert!(is_valid(&after), "{:?}", violations(&after));
        after.world.i_size = 4096;
        normalise(&mut after);
        assert!(after.races.is_empty() && !after.world.inode.swapfile);
        // Files are W27's.
        let mut f = small.clone();
        f.fs = FsKind::Ext4;
        assert!(!violations(&f)
            .iter()
            .any(|v| v.rule.id == "W35-swap-device"));
    }
}
