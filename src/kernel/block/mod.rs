// SPDX-License-Identifier: GPL-2.0-only
//! block/
pub mod blk_core;
pub mod fops;
