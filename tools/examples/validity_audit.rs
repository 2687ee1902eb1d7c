// SPDX-License-Identifier: GPL-2.0-only
//! The validity audit of a `check` domain (BENCHMARKS.md, docs/validity.md): run every input of
//! the domain as built -- impossible worlds included, as `check` did before src/validity.rs --
//! through every variant, and count the failing inputs that no real system can produce, per
//! validity rule, and the (variant, signature) pairs only such inputs produce.
//!
//!     cargo run --release -p diofuzz-tools --example validity_audit [DOMAIN.json]

use diofuzz::oracle;
use diofuzz::validity;
use diofuzz::variant::VARIANTS;
use diofuzz_tools::check::{Domain, DEFAULT_DOMAIN};
use std::collections::{BTreeMap, BTreeSet};

fn main() {
    // `--files DIR`: how many of the corpus files in DIR (e.g. check's counterexamples, --out)
    // decode, as raw bytes, to impossible worlds.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--files") {
        let dir = args.get(2).map(String::as_str).unwrap_or("check-out");
        let (mut n, mut bad) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| {
            eprintln!("validity_audit: {dir}: {e}");
            std::process::exit(2)
        }) {
            let path = e.map(|e| e.path()).unwrap_or_default();
            if !diofuzz::input::is_scenario_name(&path) {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let Ok(s) = diofuzz::scenario::Scenario::decode_raw(&data) else {
                continue;
            };
            n += 1;
            if let Some(v) = validity::first_violation(&s) {
                bad += 1;
                println!("  {v}");
            }
        }
        println!("{dir}: {n} counterexamples, {bad} of them impossible worlds");
        return;
    }
    let text = match std::env::args().nth(1) {
        Some(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| {
            eprintln!("validity_audit: cannot read {p}: {e}");
            std::process::exit(2)
        }),
        None => DEFAULT_DOMAIN.to_string(),
    };
    let domain = Domain::parse(&text).unwrap_or_else(|e| {
        eprintln!("validity_audit: {e}");
        std::process::exit(2)
    });
    let (mut failing, mut failing_invalid, mut invalid) = (0u64, 0u64, 0u64);
    let mut per_rule: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sig_valid: BTreeSet<(String, String)> = BTreeSet::new();
    let mut sig_invalid: BTreeSet<(String, String)> = BTreeSet::new();
    for i in 0..domain.size() {
        let Ok(s) = domain.get(i) else { continue };
        if s.encode().is_err() {
            continue;
        }
        let bad = validity::first_violation(&s);
        invalid += bad.is_some() as u64;
        let mut fails = false;
        for v in VARIANTS.iter() {
            for f in oracle::check(&diofuzz::model::run_quiet(&s, v)) {
                fails = true;
                let k = (v.name.to_string(), f.signature.clone());
                if bad.is_some() {
                    sig_invalid.insert(k);
                } else {
                    sig_valid.insert(k);
                }
            }
        }
        if fails {
            failing += 1;
            if let Some(b) = &bad {
                failing_invalid += 1;
                *per_rule.entry(b.rule.id).or_default() += 1;
            }
        }
    }
    let only_invalid: Vec<_> = sig_invalid.difference(&sig_valid).collect();
    println!(
        "{} inputs, {invalid} of them impossible worlds; {failing} failing inputs, {failing_invalid} of them impossible worlds",
        domain.size()
    );
    for (r, n) in &per_rule {
        println!("  {r}: {n} failing inputs");
    }
    println!(
        "{} (variant, signature) pairs produced only by impossible worlds:",
        only_invalid.len()
    );
    for (v, s) in only_invalid {
        println!("  {v}  {s}");
    }
}
