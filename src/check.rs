// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz check`: bounded exhaustive search (placeholder).
pub fn cli(_args: &[String]) -> i32 {
    eprintln!("diofuzz check: not built yet");
    2
}
