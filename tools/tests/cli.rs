// SPDX-License-Identifier: GPL-2.0-only
//! The command line: clear errors and exit status 2 on bad input, 1 on findings, 0 otherwise.

use std::process::Command;

mod common;
use common::diofuzz;

#[test]
fn missing_file_is_an_error() {
    let (code, _, err) = diofuzz(&["replay", "no/such/file"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open no/such/file"), "{err}");
}

#[test]
fn unknown_variant_is_an_error_naming_the_known_ones() {
    let (code, _, err) = diofuzz(&[
        "replay",
        "corpus/dio_write/a1_statx_one_block",
        "--variant",
        "v9.9",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown variant 'v9.9'") && err.contains("thread-v1"),
        "{err}"
    );
}

#[test]
fn undecodable_input_is_an_error() {
    let dir = std::env::temp_dir().join(format!("diofuzz-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("reserved-fs");
    std::fs::write(&bad, [3u8, 0, 0]).unwrap();
    let (code, _, err) = diofuzz(&["replay", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("undecodable input") && err.contains("reserved"),
        "{err}"
    );
    let json = dir.join("bad.json");
    std::fs::write(&json, "{\"fs\": \"zfs\"}").unwrap();
    let (code, _, err) = diofuzz(&["show", json.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a scenario"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_command_and_option() {
    assert_eq!(diofuzz(&["frobnicate"]).0, 2);
    assert_eq!(diofuzz(&["replay", "corpus/dio_write", "--bogus"]).0, 2);
    assert_eq!(diofuzz(&[]).0, 2);
}

#[test]
fn replay_prints_trace_verdict_and_signature() {
    let (code, out, _) = diofuzz(&[
        "replay",
        "corpus/regressions/thread_s4_append_zero_progress",
        "--variant",
        "thread-v1",
    ]);
    assert_eq!(code, 1, "a finding exits 1");
    assert!(out.contains("ext4_iomap_end(written=0"), "{out}");
    assert!(out.contains("} = -ENOTBLK"), "{out}");
    assert!(out.contains("verdict: O1"), "{out}");
    assert!(out.contains("signature: O1:ext4:"), "{out}");
    let (code, out, _) = diofuzz(&[
        "replay",
        "corpus/dio_write/a1_statx_one_block",
        "--variant",
        "v6.18",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("verdict: pass") && out.contains("submit_bio(WRITE|REQ_ATOMIC"),
        "{out}"
    );
}

#[test]
fn replay_json_and_all_variants() {
    let (code, out, _) = diofuzz(&[
        "replay",
        "corpus/dio_write/a1_statx_one_block",
        "--variant",
        "all",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        diofuzz::variant::VARIANTS.len()
    );
}

#[test]
fn show_and_encode_round_trip() {
    let (code, json, _) = diofuzz(&["show", "corpus/dio_write/e3_bigalloc_mixed"]);
    assert_eq!(code, 0);
    let dir = std::env::temp_dir().join(format!("diofuzz-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let j = dir.join("s.json");
    std::fs::write(&j, json).unwrap();
    let out = dir.join("s.bin");
    assert_eq!(
        diofuzz(&["encode", j.to_str().unwrap(), "-o", out.to_str().unwrap()]).0,
        0
    );
    let orig = std::fs::read(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .join("corpus/dio_write/e3_bigalloc_mixed"),
    )
    .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), orig);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn variants_lists_switches_with_commits() {
    let (code, out, _) = diofuzz(&["variants"]);
    assert_eq!(code, 0);
    for needle in [
        "thread-v1",
        "thread-v3",
        "v6.13",
        "v6.18",
        "bc264fea0f6f",
        "963845748fe6",
        "ext4_iomap_end",
    ] {
        assert!(out.contains(needle), "missing {needle}");
    }
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_diofuzz"))
        .args(["replay", "corpus/dio_write", "--variant", "all"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    out.read_exact(&mut first).unwrap();
    drop(out); // the reader goes away, like `| head`
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn every_subcommand_has_its_own_help() {
    for sub in [
        "replay",
        "variants",
        "show",
        "encode",
        "triage",
        "known",
        "keep",
        "seeds",
        "dict",
        "check",
        "fuzz",
        "cmin",
        "tmin",
        "bench",
        "live",
        "repro",
        "coverage",
        "report",
        "plot",
        "completions",
    ] {
        let (code, out, err) = diofuzz(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(
            out.contains(&format!("Usage: diofuzz {sub}")),
            "{sub}: {out}"
        );
    }
    // No command: the help, as a usage error.
    let (code, _, err) = diofuzz(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("Commands:") && err.contains("replay"), "{err}");
}

#[test]
fn variant_takes_both_spellings_everywhere() {
    let f = "corpus/dio_write/a1_statx_one_block";
    for args in [
        &["replay", f, "--variant=v7.0", "--quiet"][..],
        &["replay", f, "--variant", "v7.0", "--quiet"],
        &["triage", f, "--variant=v7.0"],
        &["triage", f, "--variant", "v7.0"],
    ] {
        let (code, _, err) = diofuzz(args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    // Option parsing of every other command that takes --variant, with a bad one: clap names it.
    for sub in ["check", "fuzz", "cmin", "live", "bench"] {
        let opt = if sub == "bench" {
            "--variants"
        } else {
            "--variant"
        };
        let (code, _, err) = diofuzz(&[sub, &format!("{opt}=v9.9")]);
        assert_eq!(code, 2, "{sub}");
        assert!(err.contains("unknown variant 'v9.9'"), "{sub}: {err}");
        let (code, _, err) = diofuzz(&[sub, opt, "v9.9"]);
        assert_eq!(code, 2, "{sub}");
        assert!(err.contains("unknown variant 'v9.9'"), "{sub}: {err}");
    }
}

#[test]
fn usage_errors_name_the_bad_value() {
    for (args, want) in [
        (
            &["fuzz", "--engine", "jazzer"][..],
            "unknown engine 'jazzer'",
        ),
        (&["fuzz", "--time", "soon"], "bad duration 'soon'"),
        (&["fuzz", "--target", "nope"], "unknown target 'nope'"),
        (&["check", "--fs", "zfs"], "'zfs'"),
        (&["live", "--fs", "btrfs"], "'btrfs'"),
        (&["cmin", "--engine", "honggfuzz"], "libfuzzer or afl"),
        (&["tmin", "x", "--engine", "hf"], "unknown tmin engine 'hf'"),
        (&["replay", "corpus/dio_write", "--bogus"], "'--bogus'"),
        (&["completions", "tcsh"], "'tcsh'"),
    ] {
        let (code, _, err) = diofuzz(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn completions_cover_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = diofuzz(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for sub in ["replay", "check", "fuzz", "live", "variant"] {
            assert!(out.contains(sub), "{shell}: {sub}");
        }
    }
}

#[test]
fn dict_regenerates_the_committed_dictionary() {
    let (code, out, err) = diofuzz(&["dict", "--out", "-"]);
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/dio_write.dict"
    ))
    .unwrap();
    assert_eq!(
        out, committed,
        "fuzz/dio_write.dict is stale: run `cargo run -- dict`"
    );
    let (code, _, err) = diofuzz(&["dict", "--out", "/nonexistent-dir/x.dict"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot write /nonexistent-dir/x.dict"),
        "{err}"
    );
}

#[test]
fn bad_mutator_is_an_error() {
    let (code, _, err) = diofuzz(&["fuzz", "--mutator", "afl", "--no-install"]);
    assert_eq!(code, 2);
    assert!(err.contains("afl"), "{err}");
    let (code, _, err) = diofuzz(&["bench", "--mutator", "sometimes"]);
    assert_eq!(code, 2);
    assert!(err.contains("sometimes"), "{err}");
}

#[test]
fn coverage_reports_reached_and_never_reached_decisions() {
    let dir = std::env::temp_dir().join(format!("diofuzz-cov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("cov.html");
    let (code, out, err) = diofuzz(&[
        "coverage",
        "corpus/regressions/thread_s4_append_zero_progress",
        "--variant=thread-v1",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["executions"], 1);
    let item = |label: &str| {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["functions"].as_array().unwrap())
            .flat_map(|f| f["items"].as_array().unwrap())
            .find(|i| i["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("no item {label}"))
    };
    // The path of this regression (README) is reached; the block device's branches are not.
    assert_eq!(item("O_APPEND moved ki_pos to i_size")["executions"], 1);
    assert_eq!(
        item("blkdev_write_iter: truncated at the device end")["executions"],
        0
    );
    let reached = v["decisions_reached"].as_u64().unwrap();
    assert!(reached > 0 && reached < v["decisions"].as_u64().unwrap());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("class=\"miss\"") && page.contains("fs/iomap/direct-io.c"));
    // The table names kernel files and lists what was never reached.
    let (code, out, _) = diofuzz(&["coverage", "corpus/dio_write/a1_statx_one_block"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("fs/ext4/file.c") && out.contains("never reached:"),
        "{out}"
    );
    // A report that is not coverage JSON is an input error.
    let (code, _, err) = diofuzz(&["plot", "coverage", html.to_str().unwrap(), "-o", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("not JSON"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn report_classifies_lab_runs_by_what_the_model_predicts_for_that_release() {
    // K4's reproducer matched the model on Debian 6.16.12 (which has the bug) and on 7.3.4
    // (which has dio_zero_keeps_error: no finding, the write fails with -EFAULT).
    let dir = std::env::temp_dir().join(format!("diofuzz-report-lab-{}", std::process::id()));
    let out = dir.join("K4");
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/regressions/live_k4_xfs_head_rezeroing",
        "--id",
        "K4",
        "--variant=v6.18",
        "--lab-output",
        "docs/findings/K4/lab-6.16.12.txt",
        "--lab-output",
        "docs/findings/K4/lab-7.3.4.txt",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        report.contains("Reproduced on: Linux 6.16.12 (Debian, in QEMU)."),
        "{report}"
    );
    assert!(
        report.contains("Not present on: Linux 7.3.4 (Debian, in QEMU)"),
        "{report}"
    );
    assert!(report.contains("Output on Linux 7.3.4 (Debian's kernel package"));
    assert!(out.join("lab-7.3.4.txt").exists() && out.join("lab-6.16.12.txt").exists());
    // A file that is not a lab run's output is an input error, before anything is written.
    let bad = dir.join("bad");
    let not_lab = dir.join("not-lab.txt");
    std::fs::write(&not_lab, "REPRODUCED\n").unwrap();
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/regressions/live_k4_xfs_head_rezeroing",
        "--lab-output",
        not_lab.to_str().unwrap(),
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not the output of `diofuzz repro --run --kernel V`"),
        "{err}"
    );
    assert!(!bad.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_classifies_a_lab_run_by_the_release_with_its_stable_backports() {
    // K14 is on v6.17, but 6.17.8+ carry the stable backport of 963845748fe6 (-EINVAL, no
    // buffered fallback): its REPRODUCED run on 6.17.13 is the fixed behaviour, not the bug.
    let dir = std::env::temp_dir().join(format!("diofuzz-report-bp-{}", std::process::id()));
    let out = dir.join("K14");
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/regressions/k14_ext4_prealloc_misaligned_dio_stale",
        "--id",
        "K14",
        "--property",
        "O6",
        "--variant=v6.16",
        "--lab-output",
        "docs/findings/K14/lab-6.16.12.txt",
        "--lab-output",
        "docs/findings/K14/lab-6.17.13.txt",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        report.contains("Reproduced on: Linux 6.16.12 (Debian, in QEMU)."),
        "{report}"
    );
    assert!(
        report.contains("Not present on: Linux 6.17.13 (Debian, in QEMU)"),
        "{report}"
    );
    assert!(report.contains("v6.15, v6.16, v6.17"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_writes_a_folder_with_an_fstests_test() {
    let dir = std::env::temp_dir().join(format!("diofuzz-report-{}", std::process::id()));
    let out = dir.join("K1");
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/regressions/live_k1_xfs_atomic_short_rlimit",
        "--id",
        "K1",
        "--seq",
        "950",
        "--kernel",
        "6.18.44",
        "--variant=v6.18",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
    let report = read("report.txt");
    for want in [
        "Subject: [BUG]",
        "returned 16384 for a 32768-byte atomic write",
        "Linux 6.18.44",
        "Why this breaks the contract",
        "all or nothing",
        "generic_write_checks truncated the write",
    ] {
        assert!(report.contains(want), "missing {want}:\n{report}");
    }
    assert!(read("repro.c").contains("pwritev2"));
    assert!(read("path.txt").contains("xfs_atomic_write_cow_iomap_begin"));
    let test = read("fstests/tests/generic/950");
    for want in [
        ". ./common/preamble",
        "_begin_fstest auto quick rw atomicwrites",
        ". ./common/atomicwrites",
        "_require_scratch_write_atomic_multi_fsblock",
        "pwrite -A",
        "ulimit -f 16",
        "_scratch_cycle_mount",
    ] {
        assert!(test.contains(want), "missing {want}:\n{test}");
    }
    assert_eq!(
        read("fstests/tests/generic/950.out"),
        "QA output created by 950\nSilence is golden\n"
    );
    let st = Command::new("bash")
        .arg("-n")
        .arg(out.join("fstests/tests/generic/950"))
        .status()
        .unwrap();
    assert!(st.success());
    // An input with no finding, or a property it does not have, is an input error.
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/dio_write/a1_statx_one_block",
        "--variant",
        "v6.18",
        "-o",
        dir.join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no finding on v6.18"), "{err}");
    let (code, _, err) = diofuzz(&[
        "report",
        "corpus/regressions/live_k1_xfs_atomic_short_rlimit",
        "--variant=v6.18",
        "--property",
        "O5",
        "-o",
        dir.join("y").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no O5 finding") && err.contains("O2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A hand-written scenario no real system can have is refused with the validity rule (exit 2).
#[test]
fn impossible_world_is_refused_with_the_rule() {
    let dir = std::env::temp_dir().join(format!("diofuzz-validity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("verity_write.json");
    std::fs::write(&f, r#"{"fs":"ext4","world":{"inode":{"verity":true}}}"#).unwrap();
    let (code, _, err) = diofuzz(&["replay", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("W5-verity-writer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn repro_source_needs_a_run_and_a_readable_file() {
    let scen = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/live-findings/ext4-encrypted-dax/scenario.json"
    );
    let (code, _, err) = diofuzz(&["repro", scen, "--source", "x.c"]);
    assert_eq!(code, 2);
    assert!(err.contains("--source runs a program: add --run"), "{err}");
    let (code, _, err) = diofuzz(&["repro", scen, "--run", "--source", "/nonexistent/x.c"]);
    assert_eq!(code, 2);
    assert!(err.contains("--source /nonexistent/x.c:"), "{err}");
    let (code, _, err) = diofuzz(&["repro", scen, "-o", "y.c", "--source", "x.c"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}
