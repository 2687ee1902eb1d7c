// SPDX-License-Identifier: GPL-2.0-only
fn main() {
    // Like any command-line tool: a closed stdout (`diofuzz replay DIR | head`) ends the process
    // quietly instead of a panic on the next print.
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(diofuzz_tools::cli::main(args));
}
