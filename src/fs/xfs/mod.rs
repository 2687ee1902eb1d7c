// SPDX-License-Identifier: GPL-2.0-only
//! fs/xfs
pub mod xfs_file;
pub mod xfs_iomap;
