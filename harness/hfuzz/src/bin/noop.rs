// SPDX-License-Identifier: GPL-2.0-only
//! honggfuzz baseline harness: decodes nothing, runs nothing.
fn main() {
    loop {
        honggfuzz::fuzz!(|data: &[u8]| { diofuzz::target::noop(data) });
    }
}
