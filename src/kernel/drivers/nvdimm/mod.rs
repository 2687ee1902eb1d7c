// SPDX-License-Identifier: GPL-2.0-only
//! drivers/nvdimm/.

pub mod pmem;
