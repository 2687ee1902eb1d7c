// SPDX-License-Identifier: GPL-2.0-only
//! drivers/: the block drivers whose own behaviour reaches the model.

pub mod nvdimm;
