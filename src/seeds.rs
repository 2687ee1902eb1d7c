// SPDX-License-Identifier: GPL-2.0-only
//! Named, readable seed scenarios (filled in below).
