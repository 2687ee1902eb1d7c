// SPDX-License-Identifier: GPL-2.0-only
pub mod fs;
