// SPDX-License-Identifier: GPL-2.0-only
//! Model executions per second over a corpus folder (no fuzzing engine):
//!   cargo run --release --example throughput [DIR] [SECONDS] [VARIANT]
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .map(String::as_str)
        .unwrap_or("corpus/dio_write");
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let v = diofuzz::variant::by_name(args.get(2).map(String::as_str).unwrap_or("v7.3"))
        .expect("variant");
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(dir).expect("corpus dir") {
        let p = e.expect("entry").path();
        if let Ok(d) = std::fs::read(&p) {
            inputs.push(d);
        }
    }
    let (t0, mut n) = (Instant::now(), 0u64);
    while t0.elapsed() < Duration::from_secs_f64(secs) {
        for d in &inputs {
            if let Ok(s) = diofuzz::scenario::Scenario::decode(d) {
                let x = diofuzz::model::run_quiet(&s, v);
                std::hint::black_box(diofuzz::oracle::check(&x));
            }
            n += 1;
        }
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "{n} executions in {el:.2}s: {:.0} exec/s ({} inputs, {})",
        n as f64 / el,
        inputs.len(),
        v.name
    );
}
