// SPDX-License-Identifier: GPL-2.0-only
//! mm/: page cache
pub mod filemap;
pub mod truncate;
