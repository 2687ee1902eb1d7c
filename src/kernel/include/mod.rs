// SPDX-License-Identifier: GPL-2.0-only
//! include/: inline helpers of kernel headers.
pub mod linux;
pub mod uapi;
