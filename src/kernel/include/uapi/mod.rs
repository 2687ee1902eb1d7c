// SPDX-License-Identifier: GPL-2.0-only
//! include/uapi/: the user-space ABI headers.
pub mod linux;
