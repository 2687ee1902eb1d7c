// SPDX-License-Identifier: GPL-2.0-only
//! diofuzz: a model of the Linux direct-IO write path (VFS, mm, iomap, ext4, XFS, block device)
//! and its buffered fallback, for several kernel versions and the patch versions of the seed thread;
//! an oracle over its traces; and the target functions every fuzzing engine calls.
//!
//! The kernel mirror is `kernel/`, laid out like the kernel tree: `kernel/fs/read_write.rs` is
//! fs/read_write.c, `kernel/fs/iomap/direct_io.rs` is fs/iomap/direct-io.c, and so on; kernel
//! function names are kept. The tools (CLI, `check`, engine supervisor, live differential) are the
//! `diofuzz-tools` crate in tools/, which depends on this one; this crate never uses them.

pub mod backports;
pub mod check_domain;
pub mod domain;
pub mod errno;
pub mod generators;
pub mod input;
pub mod known;
pub mod model;
pub mod mutate;
pub mod oracle;
pub mod pairwise;
pub mod regress;
pub mod scenario;
pub mod seeds;
pub mod suppress;
pub mod target;
pub mod validity;
pub mod variant;
pub mod variant_file;

pub mod kernel;
