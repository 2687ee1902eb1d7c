// SPDX-License-Identifier: GPL-2.0-only
//! A swap device that is the hibernation resume device (`ModelOpts::hibernate_resume`):
//! blkdev_write_iter (block/fops.c, 6.12.117 - 7.3.4) gives -ETXTBSY for a write to an active
//! swap device unless is_hibernate_resume_dev (kernel/power/user.c: the device the snapshot
//! device's SNAPSHOT_SET_SWAP_AREA named) says it is the resume device; then the write runs as
//! on any device. Measured in the lab (group bdev-resume, docs/lab-bench.md).

use diofuzz::errno::ETXTBSY;
use diofuzz::model::{run_opts, ModelOpts, TAG_NEW};
use diofuzz::scenario::*;

const ALL: [&str; 11] = [
    "v6.12", "v6.13", "v6.14", "v6.16", "v6.17", "v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3",
];

/// A 16 KiB swap device (page 0 its header, clean in the page cache), `len` bytes at 4096.
fn swap_device(direct: bool, len: u64) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Bdev,
        ..Default::default()
    };
    s.world.device = Default::default();
    s.world.lbs_bits = 9;
    s.world.i_size = 16384;
    s.world.inode.swapfile = true;
    s.world.pages = vec![PageState::Clean];
    s.request.rwf = Rwf::default();
    s.request.open.direct = direct;
    s.request.pos = 4096;
    s.request.len = len;
    s
}

#[test]
fn blkdev_write_iter_writes_to_the_hibernation_resume_device() {
    let resume = ModelOpts {
        hibernate_resume: true,
        ..ModelOpts::default()
    };
    for var in ALL {
        let v = diofuzz::variant::by_name(var).unwrap();
        for direct in [true, false] {
            let s = swap_device(direct, 8192);
            assert!(diofuzz::validity::is_valid(&s), "{var}");
            // Any other swap device: -ETXTBSY, nothing written.
            let x = run_opts(&s, v, ModelOpts::default());
            assert_eq!(x.ret, -ETXTBSY, "{var} direct {direct}");
            // The resume device: the write runs, and lands.
            let x = run_opts(&s, v, resume);
            assert_eq!(x.ret, 8192, "{var} direct {direct}");
            let (a, b) = ((4096 / SECTOR) as usize, (12288 / SECTOR) as usize);
            assert!(
                x.after.cached[a..b].iter().all(|&t| t == TAG_NEW),
                "{var} direct {direct}"
            );
            assert!(x.path.iter().any(|p| p.contains("hibernation resume")));
            // Past the device end: the checks after the swap test still apply (-ENOSPC).
            let mut end = s.clone();
            end.request.pos = 16384;
            assert_eq!(
                run_opts(&end, v, resume).ret,
                -diofuzz::errno::ENOSPC,
                "{var}"
            );
        }
    }
}
