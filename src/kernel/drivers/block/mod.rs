// SPDX-License-Identifier: GPL-2.0-only
//! drivers/block/.

pub mod zram;
