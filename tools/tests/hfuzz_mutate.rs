// SPDX-License-Identifier: GPL-2.0-only
//! diofuzz-hfuzz-mutate, honggfuzz's --ffmutate_cmd: rewrites its file with one mutation of the
//! library's mutator, whose output decodes; bad usage exits 2.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_diofuzz-hfuzz-mutate");

#[test]
fn rewrites_the_file_with_a_decodable_mutation() {
    let dir = std::env::temp_dir().join(format!("diofuzz-hfm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/dio_write"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .unwrap();
    let orig = std::fs::read(&seed).unwrap();
    let f = dir.join("input");
    let mut changed = 0;
    for _ in 0..20 {
        std::fs::write(&f, &orig).unwrap();
        let st = Command::new(BIN).arg(&f).status().unwrap();
        assert!(st.success());
        let out = std::fs::read(&f).unwrap();
        assert!(out.len() <= diofuzz::scenario::MAX_INPUT);
        assert!(
            diofuzz::scenario::Scenario::decode(&out).is_ok(),
            "{out:?} does not decode"
        );
        if out != orig {
            changed += 1;
        }
    }
    // A mutation may leave an input as it was now and then, never (almost) always.
    assert!(
        changed >= 10,
        "only {changed} of 20 calls changed the input"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(Command::new(BIN).status().unwrap().code(), Some(2));
    let st = Command::new(BIN)
        .arg("/nonexistent/diofuzz-hfm")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
}
