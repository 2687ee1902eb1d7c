// SPDX-License-Identifier: GPL-2.0-only
//! Session 12: `diofuzz live` with ext4 and XFS files on loop devices of 1 and 2 KiB logical
//! blocks (`LOOP_CONFIGURE` block_size 1024 / 2048; mkfs.xfs `-s size=` the logical block). An
//! O_DIRECT write aligned to 512 bytes but not to the logical block is -EINVAL (ext4:
//! `iomap_dio_bio_iter`'s `bdev_logical_block_size` test; XFS: `xfs_file_dio_write`'s
//! `bt_logical_sectormask`, the device's logical block size, 6.12 and 7.3); one aligned to the
//! logical block but not the filesystem block takes the unaligned paths and is written; RWF_ATOMIC
//! is -EOPNOTSUPP on ext4 (no atomic unit on loop), written out of place on XFS from one
//! filesystem block up (`xfs_get_atomic_write_min`), -EINVAL below it. The same requests on a
//! device of 512-byte logical blocks are written (the first two). The model agrees on each.
//! Needs root, loop devices and tracefs; otherwise it prints "SKIP live: <reason>".

mod common;

use diofuzz::scenario::{BlockState, Extent, FsKind, Rwf, Scenario};

/// A file of four written blocks of 2^`blkbits` bytes on a device of 2^`lbs_bits`-byte logical
/// blocks, an O_DIRECT write of `len` bytes at `pos`.
fn file(fs: FsKind, lbs_bits: u8, blkbits: u8, pos: u64, len: u64) -> Scenario {
    let mut s = Scenario {
        fs,
        ..Scenario::default()
    };
    s.world.blkbits = blkbits;
    s.world.lbs_bits = lbs_bits;
    s.world.i_size = 4 << blkbits;
    s.world.blocks = vec![
        BlockState {
            kind: Extent::Written,
            ..BlockState::default()
        };
        4
    ];
    s.request.rwf = Rwf::default();
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = len;
    s
}

fn atomic(mut s: Scenario) -> Scenario {
    s.request.rwf.atomic = true;
    s
}

#[test]
fn files_on_small_logical_blocks_agree() {
    let fss = [FsKind::Ext4, FsKind::Xfs];
    if let Some(why) = common::live_skip_reason(&fss) {
        println!("SKIP live: {why}");
        return;
    }
    use FsKind::{Ext4, Xfs};
    // (name, scenario, the kernel's return, did it go through direct I/O)
    let scenarios = [
        ("e-k1-sector", file(Ext4, 10, 12, 512, 1024), "-EINVAL"),
        ("e-l512-sector", file(Ext4, 9, 12, 512, 1024), "1024"),
        ("x-k1-sector", file(Xfs, 10, 12, 512, 1024), "-EINVAL"),
        ("x-l512-sector", file(Xfs, 9, 12, 512, 1024), "1024"),
        ("x-k2-len", file(Xfs, 11, 11, 2048, 2560), "-EINVAL"),
        ("e-k2-lbs", file(Ext4, 11, 12, 2048, 2048), "2048"),
        ("x-k2-lbs", file(Xfs, 11, 12, 6144, 4096), "4096"),
        ("e-k1-bs1k", file(Ext4, 10, 10, 1024, 2048), "2048"),
        (
            "e-k2-atomic",
            atomic(file(Ext4, 11, 11, 2048, 2048)),
            "-EOPNOTSUPP",
        ),
        ("x-k2-atomic", atomic(file(Xfs, 11, 11, 2048, 2048)), "2048"),
        (
            "x-k1-atomic-lbs",
            atomic(file(Xfs, 10, 12, 1024, 1024)),
            "-EINVAL",
        ),
        ("x-k1-atomic", atomic(file(Xfs, 10, 12, 8192, 8192)), "8192"),
    ];
    for (id, s, _) in &scenarios {
        let mut n = s.clone();
        assert!(
            diofuzz::validity::normalise(&mut n).is_empty() && n == *s,
            "{id}: {:?}",
            diofuzz::validity::violations(s)
        );
    }
    for fs in fss {
        let plain: Vec<(&str, Scenario)> = scenarios
            .iter()
            .filter(|(_, s, _)| s.fs == fs)
            .map(|(n, s, _)| (*n, s.clone()))
            .collect();
        let dir = common::scenario_dir(&format!("live-file-small-lbs-{}", fs.name()), &plain);
        let (code, out, err) =
            common::diofuzz(&["live", "--fs", fs.name(), "--json", dir.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), plain.len(), "{out}");
        for r in results {
            let id = r["id"].as_str().unwrap();
            let (_, _, ret) = scenarios
                .iter()
                .find(|(n, _, _)| id.ends_with(&format!("/{n}.json")))
                .unwrap_or_else(|| panic!("{id}"));
            assert_eq!(r["verdict"], "agree", "{r}");
            assert_eq!(r["kernel"]["ret"].as_str(), Some(*ret), "{r}");
            assert_eq!(r["probes"]["p1"], "ok", "{r}");
        }
    }
}
