// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz bench`: time to exposure per known finding and engine, and exec/s per engine.
pub fn cli(_args: &[String]) -> Result<i32, String> {
    Err("not built yet".into())
}
