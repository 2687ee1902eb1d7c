// SPDX-License-Identifier: GPL-2.0-only
//! Engine orchestration (`diofuzz fuzz`, `cmin`, `tmin`, `bench`): libFuzzer, AFL++, honggfuzz.

/// Entry point for the engine subcommands; returns the process exit code.
pub fn cli(cmd: &str, _args: &[String]) -> i32 {
    eprintln!("diofuzz {cmd}: not built yet");
    2
}
