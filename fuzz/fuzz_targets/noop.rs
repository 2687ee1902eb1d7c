// SPDX-License-Identifier: GPL-2.0-only
//! Baseline for BENCHMARKS.md: built like dio_write, does nothing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| diofuzz::target::noop(data));
