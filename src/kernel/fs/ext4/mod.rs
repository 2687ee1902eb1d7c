// SPDX-License-Identifier: GPL-2.0-only
//! fs/ext4
pub mod extents;
pub mod file;
pub mod inode;
pub mod super_;
