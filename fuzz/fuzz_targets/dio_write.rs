// SPDX-License-Identifier: GPL-2.0-only
//! The whole DIO write path under every oracle property. Raw bytes, one library decoder: the
//! corpus is shared with the AFL++ and honggfuzz harnesses. Mutation is the library's field-aware
//! mutator (src/mutate.rs); DIOFUZZ_MUTATOR=bytes switches back to libFuzzer's byte mutations.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| diofuzz::target::dio_write(data));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    diofuzz::mutate::libfuzzer_mutate(data, size, max_size, seed, libfuzzer_sys::fuzzer_mutate)
});

libfuzzer_sys::fuzz_crossover!(|a: &[u8], b: &[u8], out: &mut [u8], seed: u32| {
    diofuzz::mutate::libfuzzer_crossover(a, b, out, seed)
});
