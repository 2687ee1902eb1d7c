// SPDX-License-Identifier: GPL-2.0-only
//! AFL++ custom mutator (AFL_CUSTOM_MUTATOR_LIBRARY): the library's field-aware mutator and
//! cross-over (`diofuzz::mutate`). `diofuzz fuzz` and `diofuzz bench` run it alone
//! (AFL_CUSTOM_MUTATOR_ONLY=1, CmpLog, trimming and FrameShift off: docs/engines.md), so every
//! execution is one of its mutations; 3 in 16 of them are plain byte mutations, so byte-level
//! mutation stays. Loaded without AFL_CUSTOM_MUTATOR_ONLY, AFL++ runs its own havoc and splicing
//! stages beside it. With DIOFUZZ_MUTATOR=bytes this library only makes plain byte mutations
//! (`diofuzz fuzz` does not load it at all then).
//!
//! The C interface (AFL++ docs/custom_mutators.md): afl_custom_init, afl_custom_fuzz,
//! afl_custom_fuzz_count, afl_custom_describe, afl_custom_deinit.

use diofuzz::mutate::{self, Mode, Rng};
use diofuzz::scenario::MAX_INPUT;
use std::os::raw::{c_char, c_uint, c_void};

struct State {
    seed: u64,
    calls: u64,
    out: Vec<u8>,
}

/// # Safety
/// Called by AFL++ once; the returned pointer is passed back to the other functions.
#[no_mangle]
pub unsafe extern "C" fn afl_custom_init(_afl: *mut c_void, seed: c_uint) -> *mut c_void {
    let _ = Mode::from_env(); // a bad DIOFUZZ_MUTATOR value stops here, with its message
    Box::into_raw(Box::new(State {
        seed: seed as u64,
        calls: 0,
        out: Vec::with_capacity(MAX_INPUT),
    })) as *mut c_void
}

/// # Safety
/// `data` comes from afl_custom_init; `buf` holds `buf_size` bytes, `add_buf` (may be null)
/// `add_buf_size`; `*out_buf` is set to a buffer this library owns until the next call.
#[no_mangle]
pub unsafe extern "C" fn afl_custom_fuzz(
    data: *mut c_void,
    buf: *mut u8,
    buf_size: usize,
    out_buf: *mut *mut u8,
    add_buf: *mut u8,
    add_buf_size: usize,
    max_size: usize,
) -> usize {
    let st = &mut *(data as *mut State);
    let input = if buf.is_null() {
        &[][..]
    } else {
        std::slice::from_raw_parts(buf, buf_size)
    };
    let other = (!add_buf.is_null() && add_buf_size > 0)
        .then(|| std::slice::from_raw_parts(add_buf, add_buf_size));
    st.calls += 1;
    let seed = st.seed.wrapping_mul(0x1000_0000_01b3) ^ st.calls;
    let v = fuzz(input, other, max_size, seed);
    // One buffer for the library's whole life, never moved once it is big enough: AFL++ may
    // still read the previous output while it asks for the next one, so a fresh Vec each call
    // (freeing the last) corrupted afl-fuzz's heap.
    if st.out.capacity() < v.len().max(MAX_INPUT) {
        st.out.reserve(v.len().max(MAX_INPUT));
    }
    st.out.clear();
    st.out.extend_from_slice(&v);
    *out_buf = st.out.as_mut_ptr();
    st.out.len()
}

/// One AFL++ mutation: a cross-over with the splice input one time in four, else a mutation.
fn fuzz(input: &[u8], other: Option<&[u8]>, max_size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    if Mode::from_env() == Mode::Bytes {
        let mut v = input.to_vec();
        mutate::mutate_bytes(&mut v, max_size, &mut rng);
        return v;
    }
    match other {
        Some(b) if rng.chance(1, 4) => mutate::crossover(input, b, max_size, seed),
        _ => mutate::mutate(input, max_size, seed),
    }
}

/// How many custom mutations per queue entry and round: a fixed, modest number, so that AFL++
/// cycles through its queue often (256 was no better in an interleaved A/B, session 4). Beside
/// AFL++'s own havoc stage (without AFL_CUSTOM_MUTATOR_ONLY), havoc keeps most executions.
pub const FUZZ_COUNT: u32 = 64;

/// # Safety
/// Called by AFL++ before the custom stage of a queue entry; reads nothing.
#[no_mangle]
pub unsafe extern "C" fn afl_custom_fuzz_count(
    _data: *mut c_void,
    _buf: *const u8,
    _buf_size: usize,
) -> u32 {
    FUZZ_COUNT
}

/// # Safety
/// Called by AFL++ to name queue entries; returns a static string.
#[no_mangle]
pub unsafe extern "C" fn afl_custom_describe(
    _data: *mut c_void,
    _max_description_len: usize,
) -> *const c_char {
    c"diofuzz-field".as_ptr()
}

/// # Safety
/// `data` comes from afl_custom_init and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn afl_custom_deinit(data: *mut c_void) {
    if !data.is_null() {
        drop(Box::from_raw(data as *mut State));
    }
}
