// SPDX-License-Identifier: GPL-2.0-only
//! AFL++ baseline harness: decodes nothing, runs nothing.
fn main() {
    afl::fuzz!(|data: &[u8]| { diofuzz::target::noop(data) });
}
