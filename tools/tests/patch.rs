// SPDX-License-Identifier: GPL-2.0-only
//! The patch author's workflow from the command line: a patch described as a variant (inline or a
//! file) on replay/check, `--compare` with its verdict and exit status, and strict inputs: every
//! bad input exits 2 with a message that names the problem. BAD_INPUTS is counted in
//! BENCHMARKS.md.

use std::path::PathBuf;

mod common;
use common::diofuzz;

fn tmp(name: &str, body: &[u8]) -> String {
    // Cargo's scratch folder for integration tests (target/tmp): nothing left in /tmp.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patch-test");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

const S3: &str = "corpus/regressions/thread_s3_indirect_hole";
const PATCH: &str = "patches/ext4-atomic-hole-einval.json";

/// A domain small enough for a test: S3 (an atomic write into a hole of an indirect inode) and
/// its neighbours.
const SMALL_DOMAIN: &str = r#"{"slices": [{"inode": ["", "extents"], "blocks": ["HH", "WH"],
    "i_size": [8192], "rwf": ["atomic", ""], "pos": [0, 4096], "len": [4096]}]}"#;

#[test]
fn a_patch_as_a_variant_closes_s3_on_replay() {
    for spec in ["v6.15+ext4_atomic_hole_einval", PATCH] {
        let (code, out, err) = diofuzz(&["replay", S3, "--variant", spec, "--quiet"]);
        assert_eq!(code, 0, "{spec}: {out}{err}");
        assert!(
            out.contains("result: -EINVAL") && out.contains("verdict: pass"),
            "{out}"
        );
    }
    let (code, out, _) = diofuzz(&["replay", S3, "--variant-file", PATCH, "--variant", "v6.15"]);
    assert_eq!(code, 1, "v6.15 still has the finding: {out}");
    assert!(
        out.contains("on ext4-atomic-hole-einval (6.15 + patch)"),
        "{out}"
    );
    // The base's known finding stays known on the patch's base; the patch has none here.
    assert!(out.contains("[known]"), "{out}");
}

#[test]
fn check_compare_reports_closed_opened_and_exits_by_opened() {
    let d = tmp("small-domain.json", SMALL_DOMAIN.as_bytes());
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patch-cmp");
    let od = out_dir.display().to_string();
    let (code, out, err) = diofuzz(&[
        "check",
        "--domain",
        &d,
        "--compare",
        "v6.15,v6.15+ext4_atomic_hole_einval",
        "--out",
        &od,
        "--jobs",
        "1",
    ]);
    assert_eq!(code, 0, "nothing opens: {out}{err}");
    assert!(
        out.contains("closed (2)") && out.contains("opened (0)"),
        "{out}"
    );
    assert!(
        out.contains("S3: ext4_iomap_alloc: hole in an indirect inode"),
        "{out}"
    );
    // A change that opens the thread's fallback: exit 1, with a replayable counterexample.
    let (code, out, _) = diofuzz(&[
        "check",
        "--compare",
        "v6.13,v6.13+ext4_iomap_end=WriteOrDirect",
        "--out",
        &od,
        "--json",
        "--domain",
        &tmp(
            "append.json",
            br#"{"slices": [{"blocks": ["W", "WH"], "i_size": [4608],
            "open": ["direct|append"], "rwf": ["atomic"], "pos": [0], "len": [4096],
            "fault": ["none", "bio_iov_iter_get_pages:ENOMEM:0"]}]}"#,
        ),
    ]);
    assert_eq!(code, 1, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let opened = j["opened"].as_array().unwrap();
    assert!(!opened.is_empty());
    let small = opened[0]["smallest"].as_str().unwrap();
    let (code, rout, _) = diofuzz(&[
        "replay",
        small,
        "--variant",
        "v6.13+ext4_iomap_end=WriteOrDirect",
        "--quiet",
    ]);
    assert_eq!(code, 1, "the counterexample replays: {rout}");
    // A variant file alone compares with its base.
    let (code, out, _) = diofuzz(&["replay", "--compare", PATCH, S3]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("compare v6.15 -> ext4-atomic-hole-einval") && out.contains("closed (2)"));
    std::fs::remove_dir_all(&out_dir).ok();
}

#[test]
fn user_variants_never_become_the_default() {
    let (_, out, _) = diofuzz(&["replay", S3, "--quiet"]);
    assert!(
        out.contains(&format!(" on {} (", diofuzz::variant::NEWEST)),
        "{out}"
    );
    let (_, out, _) = diofuzz(&["variants", "--variant", "v7.1+ext4_atomic_hole_einval"]);
    assert!(
        out.contains("ext4_atomic_hole_einval: false -> true"),
        "{out}"
    );
}

#[test]
fn a_short_corpus_file_replays_with_a_warning() {
    let f = tmp("short", &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let (code, _, err) = diofuzz(&["replay", &f, "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("shorter than a full scenario") && err.contains("request.rwf"),
        "{err}"
    );
}

/// Every bad input: (what, command line, words the message must hold). Each must exit 2.
fn bad_inputs() -> Vec<(&'static str, Vec<String>, Vec<&'static str>)> {
    let j = |name: &str, body: &str| tmp(name, body.as_bytes());
    let dom = |name: &str, body: &str| {
        vec![
            "check".to_string(),
            "--domain".into(),
            j(name, body),
            "--jobs".into(),
            "1".into(),
        ]
    };
    let replay = |f: String| vec!["replay".to_string(), f];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (
            "misspelled world key",
            replay(j("k1.json", r#"{"world": {"i_sise": 4096}}"#)),
            vec!["unknown field `i_sise`", "i_size"],
        ),
        (
            "misspelled RWF key",
            replay(j("k2.json", r#"{"request": {"rwf": {"atomc": true}}}"#)),
            vec!["`atomc`", "atomic"],
        ),
        (
            "misspelled top-level key",
            replay(j("k3.json", r#"{"requests": {}}"#)),
            vec!["`requests`", "request"],
        ),
        (
            "unknown fault site",
            replay(j("k4.json", r#"{"faults": [{"site": "ext4_map_blockz"}]}"#)),
            vec![
                "unknown fault site 'ext4_map_blockz'",
                "ext4_map_blocks(create)",
            ],
        ),
        (
            "unknown errno",
            replay(j(
                "k5.json",
                r#"{"faults": [{"site": "bio_endio", "errno": "ENOSPACE"}]}"#,
            )),
            vec!["unknown errno 'ENOSPACE'", "ENOSPC"],
        ),
        (
            "errno the site cannot return",
            replay(j(
                "k6.json",
                r#"{"faults": [{"site": "bio_endio", "errno": "EPERM"}]}"#,
            )),
            vec!["bio_endio cannot return EPERM"],
        ),
        (
            "value the format cannot hold",
            replay(j("k7.json", r#"{"request": {"pos": 700}}"#)),
            vec!["pos 700"],
        ),
        (
            "live reads JSON through the same loader",
            s(&[
                "live",
                "--check",
                "--fs",
                "ext4",
                &j("k8.json", r#"{"fs": "zfs"}"#),
            ]),
            vec!["zfs"],
        ),
        (
            "second rwf value misspelled",
            dom("d1.json", r#"{"slices": [{"rwf": ["atomic", "atomik"]}]}"#),
            vec!["\"atomik\"", "unknown flag 'atomik'", "nowait"],
        ),
        (
            "empty slice list",
            dom("d2.json", r#"{"slices": []}"#),
            vec!["no slices"],
        ),
        (
            "empty value list",
            dom("d3.json", r#"{"slices": [{"pos": []}]}"#),
            vec!["'pos' is empty"],
        ),
        (
            "unknown dimension",
            dom("d4.json", r#"{"slices": [{"poss": [0]}]}"#),
            vec!["unknown dimension 'poss'", "pos"],
        ),
        (
            "unknown domain key",
            dom("d5.json", r#"{"slice": []}"#),
            vec!["unknown domain key 'slice'", "slices"],
        ),
        (
            "second block layout bad",
            dom("d6.json", r#"{"slices": [{"blocks": ["HW", "HQ"]}]}"#),
            vec!["\"HQ\"", "unknown block letter 'Q'"],
        ),
        (
            "fault site in a domain",
            dom(
                "d7.json",
                r#"{"slices": [{"fault": ["none", "bio_endio:EPERM:0"]}]}"#,
            ),
            vec!["bio_endio cannot return EPERM", "EIO"],
        ),
        (
            "race in a domain",
            dom(
                "d8.json",
                r#"{"slices": [{"race": ["none", "MmapRedirtied"]}]}"#,
            ),
            vec!["unknown race 'MmapRedirtied'", "MmapRedirty"],
        ),
        (
            "number out of range in a domain",
            dom("d9.json", r#"{"slices": [{"blkbits": [12, 300]}]}"#),
            vec!["300", "out of range"],
        ),
        (
            "value the format cannot hold in a domain",
            dom("d10.json", r#"{"slices": [{"len": [4096, 700]}]}"#),
            vec!["len 700"],
        ),
        (
            "no slice for --fs",
            s(&[
                "check",
                "--fs",
                "bdev",
                "--domain",
                &j("d11.json", r#"{"slices": [{"fs": ["xfs"]}]}"#),
            ]),
            vec!["nothing to check"],
        ),
        (
            "unknown switch inline",
            s(&["replay", S3, "--variant", "v6.15+ext4_atomic_hole_inval"]),
            vec![
                "unknown switch 'ext4_atomic_hole_inval'",
                "ext4_atomic_hole_einval",
            ],
        ),
        (
            "bad switch value inline",
            s(&["replay", S3, "--variant", "v6.15+iter_protocol=Sideways"]),
            vec!["Processed", "AdvanceStatus"],
        ),
        (
            "change that changes nothing",
            s(&["replay", S3, "--variant", "v6.15+ext4_atomic"]),
            vec!["already true on v6.15"],
        ),
        (
            "unknown base variant",
            s(&["replay", S3, "--variant", "v9.9+ext4_atomic"]),
            vec!["unknown base variant 'v9.9'", "v6.15"],
        ),
        (
            "variant file with a misspelled key",
            s(&[
                "replay",
                S3,
                "--variant-file",
                &j(
                    "p1.json",
                    r#"{"name": "p", "base": "v6.15", "description": "d", "switch": {}}"#,
                ),
            ]),
            vec!["unknown field `switch`", "switches"],
        ),
        (
            "variant file without the commit",
            s(&[
                "replay",
                S3,
                "--variant-file",
                &j(
                    "p2.json",
                    r#"{"name": "p", "base": "v6.15", "description": "d", "switches": {"ext4_atomic_hole_einval": {"value": true}}}"#,
                ),
            ]),
            vec!["missing field `commit`"],
        ),
        (
            "variant file named like a built-in",
            s(&[
                "replay",
                S3,
                "--variant-file",
                &j(
                    "p3.json",
                    r#"{"name": "v7.1", "base": "v6.15", "description": "d", "switches": {"ext4_atomic_hole_einval": {"value": true, "commit": "x"}}}"#,
                ),
            ]),
            vec!["built-in"],
        ),
        (
            "repro --device without the confirmation",
            s(&["repro", S3, "--device", "/nonexistent-scratch.img"]),
            vec!["erases everything on it", "--destroy-data"],
        ),
        (
            "repro --destroy-data without a device",
            s(&["repro", S3, "--destroy-data"]),
            vec!["--device"],
        ),
        (
            "compare with one built-in",
            s(&["check", "--compare", "v6.15"]),
            vec!["BASE,PATCHED"],
        ),
        (
            "compare a variant with itself",
            s(&["replay", S3, "--compare", "v6.15,v6.15"]),
            vec!["two different variants"],
        ),
    ]
}

#[test]
fn bad_inputs_exit_2_naming_the_problem() {
    let cases = bad_inputs();
    for (what, args, words) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = diofuzz(&a);
        assert_eq!(code, 2, "{what}: exit {code}\n{out}{err}");
        for w in words {
            assert!(err.contains(w), "{what}: '{w}' missing from: {err}");
        }
    }
    assert_eq!(
        cases.len(),
        BAD_INPUTS,
        "update BAD_INPUTS and BENCHMARKS.md"
    );
}

/// The number of bad-input cases above (reported in BENCHMARKS.md).
const BAD_INPUTS: usize = 30;

#[test]
fn traces_name_flags_and_say_why_ext4_should_use_dio_is_false() {
    for (f, why) in [
        (
            "corpus/regressions/thread_s1_journal_flag_after_open",
            "JOURNAL_DATA inode flag",
        ),
        (
            "corpus/regressions/thread_s1_data_journal",
            "data=journal mount",
        ),
    ] {
        let (_, out, _) = diofuzz(&["replay", f, "--variant", "v6.18"]);
        assert!(
            out.contains(&format!("/* ext4_should_journal_data(): {why} */")),
            "{out}"
        );
    }
    let (_, out, _) = diofuzz(&["replay", "corpus/regressions/live_k4_xfs_head_rezeroing"]);
    assert!(out.contains("dio_flags=IOMAP_DIO_FORCE_WAIT"), "{out}");
    assert!(out.contains("flags=IOMAP_DIO_UNWRITTEN"), "{out}");
}

#[test]
fn repro_states_the_expected_outcome_and_what_the_environment_lacks() {
    let (code, out, err) = diofuzz(&[
        "repro",
        "corpus/regressions/thread_s4_append_efault",
        "--variant",
        "v6.18",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Expected on v6.18 (6.18)") && out.contains("return -EFAULT"),
        "{out}"
    );
    assert!(
        out.contains("expect_ret = -14;") && out.contains("NOT REPRODUCED"),
        "{out}"
    );
    // The device's atomic unit is the environment's: checked before the call.
    assert!(
        out.contains("COULD NOT RUN: the file offers atomic writes"),
        "{out}"
    );
    // S3's block-mapped inode is made with chattr -e (ext4_ind_migrate on the empty file).
    let (code, out, err) = diofuzz(&["repro", S3]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("FS_IOC_SETFLAGS"), "{out}");
    // A DAX inode needs a DAX device: the program says so and checks STATX_ATTR_DAX first.
    let (code, out, err) = diofuzz(&["repro", "corpus/regressions/dax_atomic"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("on a DAX-capable device") && out.contains("STATX_ATTR_DAX */"),
        "{out}"
    );
}

#[test]
fn known_points_each_finding_to_the_committed_inputs() {
    let (code, out, _) = diofuzz(&["known"]);
    assert_eq!(code, 0);
    let s3 = out
        .split("\n\n")
        .find(|e| e.contains("S3: ext4_iomap_alloc: hole in an indirect inode"))
        .unwrap();
    assert!(
        s3.contains("inputs: corpus/")
            && s3.contains("corpus/regressions/thread_s3_indirect_hole (thread-v1"),
        "{s3}"
    );
}
