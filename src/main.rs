// SPDX-License-Identifier: GPL-2.0-only
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(diofuzz::cli::main(args));
}
