// SPDX-License-Identifier: GPL-2.0-only
//! Progress bars (indicatif) for long work: check, fuzz, bench, live, cmin. A bar draws on
//! stderr only when stderr is a terminal and the output is not JSON; otherwise it is hidden and
//! costs nothing. Messages that must stay (a new finding, a bench trial's result) go through
//! [`line`], which prints above a visible bar and plainly to stderr when the bar is hidden.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Draw progress? Only on a terminal, never with --json.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

fn make(len: Option<u64>, template: &str, show: bool) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
    };
    if show {
        pb.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        // The templates are constants of this file, checked by a test.
        if let Ok(st) = ProgressStyle::with_template(template) {
            pb.set_style(st.progress_chars("=> "));
        }
        pb.enable_steady_tick(Duration::from_millis(250));
    }
    pb
}

/// A bar over `len` items (inputs, scenarios, campaigns).
pub fn items(len: u64, unit: &str, show: bool) -> ProgressBar {
    make(Some(len), &items_template(unit), show)
}

fn items_template(unit: &str) -> String {
    format!(
        "  [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{percent}}%, {{per_sec}}, {{eta}} left) {{msg}}"
    )
}

const TIME_TEMPLATE: &str = "  [{elapsed_precise}] {bar:30} {pos}/{len} s {wide_msg}";
const SPIN_TEMPLATE: &str = "  {spinner} [{elapsed_precise}] {wide_msg}";

/// A bar over a time budget in seconds (a fuzzing session); set its position to the elapsed
/// seconds and its message to the engines' figures.
pub fn seconds(total: u64, show: bool) -> ProgressBar {
    make(Some(total), TIME_TEMPLATE, show)
}

/// A spinner with elapsed time for one long step of unknown length (a merge, a build).
pub fn spinner(msg: &str, show: bool) -> ProgressBar {
    let pb = make(None, SPIN_TEMPLATE, show);
    pb.set_message(msg.to_string());
    pb
}

/// Print a line that must stay: above the bar when it is drawn, else to stderr.
pub fn line(pb: &ProgressBar, text: &str) {
    if pb.is_hidden() {
        eprintln!("{text}");
    } else {
        pb.suspend(|| eprintln!("{text}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for t in [
            items_template("inputs").as_str(),
            TIME_TEMPLATE,
            SPIN_TEMPLATE,
        ] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn hidden_when_not_wanted() {
        let pb = items(10, "inputs", false);
        assert!(pb.is_hidden());
        pb.inc(3);
        assert_eq!(pb.position(), 3);
        assert!(!wanted(true));
    }
}
