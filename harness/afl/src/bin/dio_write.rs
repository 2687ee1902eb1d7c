// SPDX-License-Identifier: GPL-2.0-only
//! AFL++ harness for `dio_write` (the same function fuzz/ and harness/hfuzz call).
fn main() {
    afl::fuzz!(|data: &[u8]| { diofuzz::target::dio_write(data) });
}
