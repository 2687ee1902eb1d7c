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

/// Why the live-kernel tests cannot run here on filesystems `fss` (missing prerequisites, or no
/// model variant for the running release), or None.
pub fn live_skip_reason(fss: &[diofuzz::scenario::FsKind]) -> Option<String> {
    let m = diofuzz_tools::live::scratch::prereqs().missing(fss);
    if !m.is_empty() {
        return Some(m.join("; "));
    }
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    if diofuzz_tools::live::variant_for_release(&rel).is_none() {
        return Some(format!("kernel {rel}: no matching model variant"));
    }
    None
}
