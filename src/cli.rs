// SPDX-License-Identifier: GPL-2.0-only
//! The diofuzz command line.
pub fn main(_args: Vec<String>) -> i32 {
    0
}
