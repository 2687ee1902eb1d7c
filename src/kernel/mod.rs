// SPDX-License-Identifier: GPL-2.0-only
//! The kernel mirror: one module per kernel source file, at the kernel's own path
//! (`kernel/fs/iomap/direct_io.rs` is fs/iomap/direct-io.c), with the kernel's function names.

pub mod block;
pub mod drivers;
pub mod fs;
pub mod include;
pub mod mm;
