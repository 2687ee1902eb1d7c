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

/// Write each named scenario (valid, asserted) as `NAME.json` into a fresh temporary folder
/// `dfz-TAG-PID`, for `diofuzz live FOLDER`; the caller removes it.
#[allow(dead_code)]
pub fn scenario_dir(tag: &str, scenarios: &[(&str, diofuzz::scenario::Scenario)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, s) in scenarios {
        assert!(diofuzz::validity::is_valid(s), "{name}");
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string(s).unwrap(),
        )
        .unwrap();
    }
    dir
}

/// Whether `text` names a resource of a `diofuzz live` run (its scratch folder
/// `diofuzz-live-PID-N`) whose process is no longer running. A concurrent run (alive) is not a
/// test's business: tests that look at the whole machine's mounts or loop devices count only
/// these.
#[allow(dead_code)]
pub fn dead_live_owner(text: &str) -> bool {
    let prefix = diofuzz_tools::live::scratch::PREFIX;
    let Some(i) = text.find(prefix) else {
        return false;
    };
    let pid: String = text[i + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}
