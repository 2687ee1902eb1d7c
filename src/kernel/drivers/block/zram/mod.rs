// SPDX-License-Identifier: GPL-2.0-only
//! drivers/block/zram/.

pub mod zram_drv;
