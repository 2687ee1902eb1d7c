// SPDX-License-Identifier: GPL-2.0-only
//! Print the pair coverage of a `check` domain's pairwise slices and how long generating them
//! takes (BENCHMARKS.md).
//!
//!     cargo run --release -p diofuzz-tools --example pair_coverage [DOMAIN.json]

use diofuzz_tools::check::{print_pair_coverage, Domain, DEFAULT_DOMAIN};

fn main() {
    let text = match std::env::args().nth(1) {
        Some(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| {
            eprintln!("pair_coverage: cannot read {p}: {e}");
            std::process::exit(2)
        }),
        None => DEFAULT_DOMAIN.to_string(),
    };
    let t = std::time::Instant::now();
    let d = Domain::parse(&text).unwrap_or_else(|e| {
        eprintln!("pair_coverage: {e}");
        std::process::exit(2)
    });
    let secs = t.elapsed().as_secs_f64();
    print_pair_coverage(&d.coverage);
    println!(
        "domain parsed (pairwise rows generated) in {secs:.2}s; {} inputs",
        d.size()
    );
    for c in &d.coverage {
        for (p, r) in &c.infeasible {
            println!("  infeasible: {p}: {r}");
        }
    }
}
