// SPDX-License-Identifier: GPL-2.0-only
//! The field-aware mutator for honggfuzz, which has no in-process custom-mutator hook: honggfuzz's
//! `--ffmutate_cmd PROG` picks a corpus input by its own coverage feedback, writes it to a file,
//! runs `PROG FILE` and fuzzes whatever PROG left in the file (honggfuzz input.c
//! input_postProcessFile). This program rewrites FILE with one `diofuzz::mutate::mutate` of its
//! contents (a field mutation, a domain step or a plain byte mutation, as for the other engines).
//! The seed comes from the clock and the pid: every call is a fresh draw.
//!
//!   diofuzz-hfuzz-mutate FILE

use diofuzz::scenario::MAX_INPUT;
use std::io::{Read, Seek, SeekFrom, Write};

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: diofuzz-hfuzz-mutate FILE (honggfuzz --ffmutate_cmd)");
        std::process::exit(2);
    };
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("diofuzz-hfuzz-mutate: {}: {e}", path.to_string_lossy());
            std::process::exit(2);
        }
    };
    let mut data = Vec::new();
    if let Err(e) = f.read_to_end(&mut data) {
        eprintln!("diofuzz-hfuzz-mutate: read: {e}");
        std::process::exit(2);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = nanos ^ ((std::process::id() as u64) << 32);
    let out = diofuzz::mutate::mutate(&data, MAX_INPUT, seed);
    let r = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.set_len(0))
        .and_then(|_| f.write_all(&out));
    if let Err(e) = r {
        eprintln!("diofuzz-hfuzz-mutate: write: {e}");
        std::process::exit(2);
    }
}
