// SPDX-License-Identifier: GPL-2.0-only
//! What the binary tests share: run `diofuzz` from the repository root.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root (the tools crate is tools/).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `diofuzz ARGS` in the repository root with DIOFUZZ_VARIANT unset: (exit code, stdout,
/// stderr).
pub fn diofuzz(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_diofuzz"))
        .args(args)
        .current_dir(root())
        .env_remove("DIOFUZZ_VARIANT")
        .output()
        .expect("run diofuzz");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}
