// SPDX-License-Identifier: GPL-2.0-only
//! honggfuzz harness for `dio_write` (the same function fuzz/ and harness/afl call).
fn main() {
    loop {
        honggfuzz::fuzz!(|data: &[u8]| { diofuzz::target::dio_write(data) });
    }
}
