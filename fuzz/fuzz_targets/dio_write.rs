// SPDX-License-Identifier: GPL-2.0-only
//! The whole DIO write path under every oracle property. Raw bytes, one library decoder: the
//! corpus is shared with the AFL++ and honggfuzz harnesses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| diofuzz::target::dio_write(data));
