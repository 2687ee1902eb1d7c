// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz repro --hibernate-resume`: the C reproducer of a swap-device scenario makes the
//! device the hibernation resume device (SNAPSHOT_SET_SWAP_AREA on /dev/snapshot after swapon,
//! closed before swapoff) and expects the model's outcome for it, the write (blkdev_write_iter
//! with is_hibernate_resume_dev, block/fops.c), where without the flag it expects -ETXTBSY.
//! Runs in a process of its own: the flag is process-wide (tools/src/live/hibernate.rs).

mod common;

use diofuzz::scenario::{FsKind, PageState, Rwf, Scenario};

#[test]
fn the_c_reproducer_makes_the_resume_device_and_expects_the_write() {
    let mut s = Scenario {
        fs: FsKind::Bdev,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.world.lbs_bits = 9;
    s.world.i_size = 16384;
    s.world.inode.swapfile = true;
    s.world.pages = vec![PageState::Clean];
    s.request.rwf = Rwf::default();
    s.request.open.direct = true;
    s.request.pos = 4096;
    s.request.len = 8192;
    let dir = common::scenario_dir("hibernate-resume", &[("swap-device", s)]);
    let f = dir.join("swap-device.json");
    let f = f.to_str().unwrap();
    let (code, plain, err) = common::diofuzz(&["repro", f]);
    assert_eq!(code, 0, "{err}");
    let (code, resume, err) = common::diofuzz(&["repro", f, "--hibernate-resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plain.contains("expect_ret_text[] = \"-ETXTBSY\""),
        "{plain}"
    );
    assert!(!plain.contains("SNAPSHOT_SET_SWAP_AREA"));
    assert!(resume.contains("expect_ret_text[] = \"8192\""), "{resume}");
    let (set, close, off) = (
        resume.find("SNAPSHOT_SET_SWAP_AREA").unwrap(),
        resume.find("close(snap_fd)").unwrap(),
        resume.rfind("swapoff(path)").unwrap(),
    );
    assert!(resume.find("swapon(path, 0)").unwrap() < set && set < close && close < off);
    // (tools/src/live/hibernate.rs compiles these statements in a swap-device program)
    let _ = std::fs::remove_dir_all(&dir);
}
