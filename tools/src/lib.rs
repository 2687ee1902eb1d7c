// SPDX-License-Identifier: GPL-2.0-only
//! diofuzz-tools: the `diofuzz` command and what it drives, on top of the `diofuzz` model crate:
//! the CLI, `check` (exhaustive bounded domains), the engine supervisor (libFuzzer, AFL++,
//! honggfuzz, cmin/tmin, bench) and the live-kernel differential.

pub mod check;
pub mod cli;
pub mod compare;
pub mod coverage;
pub mod engines;
pub mod lab;
pub mod live;
pub mod plot;
pub mod plot_cmd;
pub mod progress;
pub mod report;
pub mod report_bdev;
