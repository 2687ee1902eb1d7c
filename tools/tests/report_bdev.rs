// SPDX-License-Identifier: GPL-2.0-only
//! The fstests test `diofuzz report` writes for a block-device finding (tools/src/report_bdev.rs)
//! runs on this host: under a minimal stand-in for fstests' common/ files (the functions the
//! test calls), on loop devices of 4 KiB logical blocks whose size is not whole logical blocks
//! (the bytes past the edge through the image file) and one of whole blocks, it prints only
//! "Silence is golden" (the kernel keeps the contract), and with a wrong expectation it names
//! the difference. Needs root and loop devices; otherwise it prints "SKIP live: <reason>". Run
//! it as the live tests are: `flock /work/live.lock nice -n 19 cargo test --test report_bdev`.

mod common;

use diofuzz::oracle::{Finding, Prop};
use diofuzz::scenario::FsKind;
use std::path::Path;

const SHIM: &str = r#"_begin_fstest() {
	seq=$(basename $0)
	seqres=$RESULT_DIR/$seq
	tmp=/tmp/diofuzz-fstests-$$
	status=1
	mkdir -p $RESULT_DIR
	: > $seqres.full
	trap "_cleanup; exit \$status" 0 1 2 3 15
}
_cleanup() { cd /; rm -rf $tmp.*; }
_require_test() { test -d "$TEST_DIR" || _notrun "no TEST_DIR"; }
_require_loop() { command -v losetup > /dev/null || _notrun "no losetup"; }
_require_xfs_io_command() { :; }
_require_odirect() { :; }
_fail() { echo "FAIL: $*"; status=1; exit 1; }
_notrun() { echo "NOTRUN: $*"; status=0; exit 0; }
_destroy_loop_device() { losetup -d $1; }
"#;

/// Run the fstests test `t` in the stand-in; its standard output.
fn run(dir: &Path, name: &str, t: &str) -> String {
    let tests = dir.join("tests/generic");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::create_dir_all(dir.join("common")).unwrap();
    std::fs::write(dir.join("common/preamble"), SHIM).unwrap();
    std::fs::write(dir.join("common/filter"), "").unwrap();
    let f = tests.join(name);
    std::fs::write(&f, t).unwrap();
    let out = std::process::Command::new("bash")
        .arg(&f)
        .current_dir(dir)
        .env("TEST_DIR", dir)
        .env("RESULT_DIR", dir.join("results"))
        .env("XFS_IO_PROG", "xfs_io")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn block_device_fstests_tests_run_here() {
    if let Some(why) = common::live_skip_reason(&[FsKind::Bdev]) {
        println!("SKIP live: {why}");
        return;
    }
    if std::process::Command::new("xfs_io")
        .arg("-V")
        .output()
        .is_err()
    {
        println!("SKIP live: no xfs_io");
        return;
    }
    let f = Finding {
        property: Prop::O1,
        variant: "v7.3",
        fs: "bdev",
        path: vec![],
        signature: String::new(),
        detail: "test".into(),
    };
    let dir = std::env::temp_dir().join(format!("diofuzz-report-bdev-{}", std::process::id()));
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/live-bdev-tail");
    let mut whole = None;
    for (i, name) in [
        "tail-buffered-into-eio",
        "tail-buffered-across-short",
        "tail-direct-einval",
        "tail-direct-head-ok",
    ]
    .iter()
    .enumerate()
    {
        let s = diofuzz::input::load_scenario(&docs.join(format!("{name}.json"))).unwrap();
        let (t, out, helper) =
            diofuzz_tools::report::fstests_test(&s, &f, 900 + i as u32, name, name, &[]).unwrap();
        assert!(
            helper.is_none() && out.ends_with("Silence is golden\n"),
            "{name}"
        );
        assert!(t.contains("$img"), "{name}: {t}");
        assert_eq!(
            run(&dir, &(900 + i).to_string(), &t),
            "Silence is golden\n",
            "{name}:\n{t}"
        );
        if i == 0 {
            let mut w = s.clone();
            w.world.i_size = 8192;
            w.world.blocks.truncate(2);
            whole = Some(w);
        }
    }
    // Session 11: 1 and 2 KiB logical blocks (`losetup -b 1024/2048`), a write before the end
    // buffer in the last page (written: its dirty buffers reach the image at the last close),
    // one at the end buffer (-EIO), one across the last page (short), O_DIRECT to the end.
    for (i, name) in [
        "small-1k-before-end-written",
        "small-1k-end-buffer-eio",
        "small-1k-across-short",
        "small-2k-before-end-written",
        "small-2k-direct-einval",
    ]
    .iter()
    .enumerate()
    {
        let s = diofuzz::input::load_scenario(&docs.join(format!("{name}.json"))).unwrap();
        assert!(matches!(s.world.lbs_bits, 10 | 11), "{name}");
        let (t, out, helper) =
            diofuzz_tools::report::fstests_test(&s, &f, 920 + i as u32, name, name, &[]).unwrap();
        assert!(
            helper.is_none() && out.ends_with("Silence is golden\n"),
            "{name}"
        );
        assert!(
            t.contains(&format!(
                "losetup -f --show -b {}",
                1u32 << s.world.lbs_bits
            )),
            "{name}: {t}"
        );
        assert_eq!(
            run(&dir, &(920 + i).to_string(), &t),
            "Silence is golden\n",
            "{name}:\n{t}"
        );
    }
    // A device of whole logical blocks: no bytes past an edge.
    let w = whole.unwrap();
    let (t, _, _) =
        diofuzz_tools::report::fstests_test(&w, &f, 910, "whole", "whole", &[]).unwrap();
    assert!(
        !t.contains("$img >> $seqres.full\n$XFS_IO_PROG -c \"fadvise"),
        "{t}"
    );
    assert_eq!(run(&dir, "910", &t), "Silence is golden\n", "{t}");
    // The check can fail: an expectation with other bytes than the call wrote.
    let (t, _, _) = diofuzz_tools::report::fstests_test(
        &diofuzz::input::load_scenario(&docs.join("tail-direct-head-ok.json")).unwrap(),
        &f,
        911,
        "wrong",
        "wrong",
        &[],
    )
    .unwrap();
    let wrong = t.replace("-S 0x33 $landing $ret", "-S 0x44 $landing $ret");
    assert_ne!(wrong, t);
    let out = run(&dir, "911", &wrong);
    assert!(
        out.contains("device data differs from the old data plus the 4096 bytes written at 0"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The block-device tests for a run under real fstests (`scripts/fstests-run.sh`): with
/// `DIOFUZZ_FSTESTS_OUT=DIR`, writes the test of every docs/live-bdev-tail and
/// docs/live-bdev-geometry world the export takes as `DIR/<name>/fstests/tests/generic/NNN`
/// (the layout of a `diofuzz report` folder). These worlds keep the contract on Linux 6.18
/// (live), so each test should pass there. Without the variable it only checks which worlds
/// the export refuses (atomic-disk worlds, devices held under writeback) and that the race
/// worlds (a lock holder, an mmap writer) go to the C helper.
#[test]
fn block_device_fstests_tests_export() {
    let f = Finding {
        property: Prop::O1,
        variant: "v6.18",
        fs: "bdev",
        path: vec![],
        signature: String::new(),
        detail: "test".into(),
    };
    let out = std::env::var_os("DIOFUZZ_FSTESTS_OUT").map(std::path::PathBuf::from);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut n = 0;
    for dir in ["live-bdev-tail", "live-bdev-geometry"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for p in names {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let s = diofuzz::input::load_scenario(&p).unwrap();
            let seq = 920 + n;
            let (t, golden, helper) =
                match diofuzz_tools::report::fstests_test(&s, &f, seq, &name, &name, &[]) {
                    Ok(x) => x,
                    Err(e) => {
                        // An atomic-disk world (no loop device has its units) and a device held
                        // under writeback (live's own layered device) have no fstests test.
                        println!("{name}: {e}");
                        assert!(
                            (name.starts_with("disk-") && e.contains("atomic write units"))
                                || e.contains("held under writeback"),
                            "{name}: {e}"
                        );
                        continue;
                    }
                };
            if name.contains("lock-holder") || name.contains("mmap") {
                assert!(helper.is_some(), "{name}: {t}");
            }
            n += 1;
            let Some(out) = &out else { continue };
            let g = out.join(&name).join("fstests/tests/generic");
            std::fs::create_dir_all(&g).unwrap();
            std::fs::write(g.join(seq.to_string()), &t).unwrap();
            std::fs::write(g.join(format!("{seq}.out")), &golden).unwrap();
            if let Some(c) = helper {
                let src = out.join(&name).join("fstests/src");
                std::fs::create_dir_all(&src).unwrap();
                std::fs::write(src.join(format!("diofuzz-{seq}.c")), c).unwrap();
            }
        }
    }
    assert!(n >= 8, "{n} block-device worlds exported");
}
