// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz live` runs the block-device states of tools/src/live/bdev_state.rs on the running
//! kernel and agrees with the model: stable writes on a zram device (direct and buffered over a
//! dirty page), the i_rwsem holder (RWF_NOWAIT direct and buffered: the device's i_rwsem is taken
//! shared, so neither waits; with aio and with RLIMIT_FSIZE, which the kernel ignores on a block
//! device; on an empty device, -ENOSPC, where none is built), the idle mmap writer on the device node; a swap device is refused
//! outside a lab guest ("not possible here"). No zram device of the run is left behind. Needs
//! root, loop devices and tracefs; otherwise it prints "SKIP live: <reason>".

mod common;

use diofuzz::scenario::{FsKind, PageState, Race, Rwf, Scenario};

/// A 16 KiB device with 4 KiB logical blocks, O_DIRECT 8192 at 4096, changed by `f`.
fn device(f: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Bdev,
        ..Scenario::default()
    };
    s.world.device = Default::default();
    s.world.lbs_bits = 12;
    s.world.i_size = 16384;
    s.request.rwf = Rwf::default();
    s.request.open.direct = true;
    s.request.pos = 4096;
    s.request.len = 8192;
    f(&mut s);
    s
}

fn zram_devices() -> Vec<String> {
    std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("zram"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn block_device_states_agree() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Bdev]) {
        println!("SKIP live: {why}");
        return;
    }
    let scenarios = [
        // (a zram device: bio-based, world.device.no_bio_split since session 10)
        (
            "stable-direct",
            device(|s| {
                s.world.device.stable_writes = true;
                s.world.device.no_bio_split = true;
            }),
        ),
        // A buffer 512 bytes into a page: zram stores whole user pages (zram_bio_write), torn
        // on the kernel and in the model alike (docs/live-findings/zram-subpage-bvec).
        (
            "stable-direct-torn",
            device(|s| {
                s.world.device.stable_writes = true;
                s.world.device.no_bio_split = true;
                s.request.buf_align = 512;
            }),
        ),
        (
            "stable-buffered-dirty",
            device(|s| {
                s.world.device.stable_writes = true;
                s.world.device.no_bio_split = true;
                s.world.pages = vec![PageState::None, PageState::Dirty];
                s.request.open.direct = false;
            }),
        ),
        (
            "holder-nowait",
            device(|s| {
                s.races = vec![Race::LockContended];
                s.request.rwf.nowait = true;
            }),
        ),
        (
            "holder-buffered",
            device(|s| {
                s.races = vec![Race::LockContended];
                s.request.open.direct = false;
            }),
        ),
        // (blkdev_llseek takes i_rwsem exclusively: positioned calls, no lseek while held)
        (
            "holder-aio",
            device(|s| {
                s.races = vec![Race::LockContended];
                s.request.aio = true;
            }),
        ),
        (
            "holder-rlimit",
            device(|s| {
                s.races = vec![Race::LockContended];
                s.request.open.direct = false;
                s.world.rlimit_fsize = Some(512);
            }),
        ),
        // An empty device: -ENOSPC before i_rwsem, the holder's write too (none is built).
        (
            "holder-empty",
            device(|s| {
                s.races = vec![Race::LockContended];
                s.world.i_size = 0;
                s.request.pos = 0;
            }),
        ),
        ("writer-idle", device(|s| s.races = vec![Race::MmapRedirty])),
        (
            "swap-device",
            device(|s| {
                s.world.inode.swapfile = true;
                s.world.pages = vec![PageState::Clean];
            }),
        ),
    ];
    let before = zram_devices();
    let dir = common::scenario_dir("live-bdev-state", &scenarios);
    let (code, out, err) = common::diofuzz(&["live", "--json", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), scenarios.len());
    for r in results {
        let id = r["id"].as_str().unwrap();
        let note = r["note"].as_str().unwrap();
        if note.starts_with("not possible here") {
            println!("SKIP live: {id}: {note}");
            continue;
        }
        assert!(
            !id.contains("swap-device"),
            "swapon outside a lab guest: {r}"
        );
        assert_eq!(r["verdict"], "agree", "{r}");
        let want = if id.contains("holder-empty") {
            "-ENOSPC"
        } else {
            "8192"
        };
        assert_eq!(r["kernel"]["ret"].as_str(), Some(want), "{r}");
        // The torn zram write: O6 on both sides (what the model now predicts).
        let torn = id.contains("torn");
        for side in ["kernel_findings", "model_findings"] {
            let n = r[side].as_array().map_or(0, |a| a.len());
            assert_eq!(n > 0, torn, "{side}: {r}");
        }
    }
    let left: Vec<String> = zram_devices()
        .into_iter()
        .filter(|z| !before.contains(z))
        .collect();
    assert!(left.is_empty(), "zram devices left: {left:?}");
}
